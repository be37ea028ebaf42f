"""Coordinate systems of Chinese data: web-map datums and Gauss-Krüger zones."""
