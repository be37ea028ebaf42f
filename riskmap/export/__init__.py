"""Exporters (the output edge). Each writes one kind of file into a folder."""
