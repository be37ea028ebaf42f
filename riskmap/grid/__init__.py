"""One grid per district: the frozen Grid, cell ids, rasterising, stamping, distances."""

from riskmap.grid.grid import Grid

__all__ = ["Grid"]
