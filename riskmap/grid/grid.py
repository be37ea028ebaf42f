"""The one grid a district's arithmetic lives on.

A :class:`Grid` is a frozen value: CRS, north-west origin, square cell size and
shape. The district grid is defined once (origin snapped outward to a multiple of
the patrol cell size), so every township build is a window of it and every cell
keeps its place, its id and its value across builds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from affine import Affine
from pyproj import CRS

from riskmap.errors import GridError


@dataclass(frozen=True)
class Grid:
    """A north-up raster grid of square cells.

    Parameters
    ----------
    crs : str
        Working CRS as a string pyproj understands (``"EPSG:4547"``, WKT).
    x0, y0 : float
        West and north edges of the grid, in CRS units (metres).
    cell : float
        Cell size in metres.
    nrows, ncols : int
        Shape of the grid.
    """

    crs: str
    x0: float
    y0: float
    cell: float
    nrows: int
    ncols: int

    def __post_init__(self):
        if not (self.cell > 0 and math.isfinite(self.cell)):
            raise GridError(f"cell size must be a positive number of metres, got {self.cell!r}")
        if self.nrows <= 0 or self.ncols <= 0:
            raise GridError(f"grid shape must be positive, got {self.nrows} x {self.ncols}")

    @classmethod
    def from_bounds(cls, bounds, cell: float, crs, snap: float | None = None) -> Grid:
        """Grid covering ``bounds`` with its edges snapped outward to ``snap``.

        Parameters
        ----------
        bounds : tuple of float
            ``(xmin, ymin, xmax, ymax)`` in the working CRS.
        cell : float
            Cell size in metres.
        crs : str or pyproj.CRS
            Working CRS.
        snap : float, optional
            Edges are multiples of this (default: ``cell``). Must be a whole
            multiple of ``cell`` so that the grid divides evenly.
        """
        snap = cell if snap is None else snap
        ratio = snap / cell
        if abs(ratio - round(ratio)) > 1e-9 or ratio < 1:
            raise GridError(f"snap {snap} m must be a whole multiple of the cell size {cell} m")
        xmin, ymin, xmax, ymax = (float(v) for v in bounds)
        if not all(map(math.isfinite, (xmin, ymin, xmax, ymax))) or xmax <= xmin or ymax <= ymin:
            raise GridError(f"cannot make a grid over empty or invalid bounds {bounds}")
        x0 = math.floor(xmin / snap) * snap
        y0 = math.ceil(ymax / snap) * snap
        x1 = math.ceil(xmax / snap) * snap
        y1 = math.floor(ymin / snap) * snap
        return cls(
            crs=_crs_string(crs),
            x0=x0,
            y0=y0,
            cell=float(cell),
            nrows=round((y0 - y1) / cell),
            ncols=round((x1 - x0) / cell),
        )

    # --- georeferencing ---------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        """``(nrows, ncols)``."""
        return (self.nrows, self.ncols)

    @property
    def size(self) -> int:
        """Number of cells."""
        return self.nrows * self.ncols

    @property
    def transform(self) -> Affine:
        """Affine transform from (col, row) to (x, y) of cell corners."""
        return Affine(self.cell, 0.0, self.x0, 0.0, -self.cell, self.y0)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(xmin, ymin, xmax, ymax)``."""
        return (
            self.x0,
            self.y0 - self.nrows * self.cell,
            self.x0 + self.ncols * self.cell,
            self.y0,
        )

    def x_centres(self) -> np.ndarray:
        """X of the cell centres of each column (float64)."""
        return self.x0 + (np.arange(self.ncols) + 0.5) * self.cell

    def y_centres(self) -> np.ndarray:
        """Y of the cell centres of each row (float64)."""
        return self.y0 - (np.arange(self.nrows) + 0.5) * self.cell

    def rowcol(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """Row and column (int64, may fall outside the grid) of points ``x, y``."""
        col = np.floor((np.asarray(x, dtype=float) - self.x0) / self.cell).astype(np.int64)
        row = np.floor((self.y0 - np.asarray(y, dtype=float)) / self.cell).astype(np.int64)
        return row, col

    def xy(self, row, col) -> tuple[np.ndarray, np.ndarray]:
        """Centre coordinates of cells ``row, col``."""
        x = self.x0 + (np.asarray(col, dtype=float) + 0.5) * self.cell
        y = self.y0 - (np.asarray(row, dtype=float) + 0.5) * self.cell
        return x, y

    # --- derived grids ----------------------------------------------------
    def window(self, row0: int, col0: int, nrows: int, ncols: int) -> Grid:
        """The sub-grid starting at ``(row0, col0)``; cells keep their coordinates."""
        if row0 < 0 or col0 < 0 or row0 + nrows > self.nrows or col0 + ncols > self.ncols:
            raise GridError(
                f"window rows {row0}:{row0 + nrows}, cols {col0}:{col0 + ncols} "
                f"is outside the {self.nrows} x {self.ncols} grid"
            )
        return Grid(
            self.crs,
            self.x0 + col0 * self.cell,
            self.y0 - row0 * self.cell,
            self.cell,
            nrows,
            ncols,
        )

    def expand(self, n: int) -> Grid:
        """Grow the grid by ``n`` cells on every side (a halo)."""
        return Grid(
            self.crs,
            self.x0 - n * self.cell,
            self.y0 + n * self.cell,
            self.cell,
            self.nrows + 2 * n,
            self.ncols + 2 * n,
        )

    def coarsen(self, factor: int) -> Grid:
        """The grid of blocks of ``factor`` x ``factor`` cells (e.g. patrol cells)."""
        if factor < 1 or self.nrows % factor or self.ncols % factor:
            raise GridError(
                f"a {self.nrows} x {self.ncols} grid does not divide into blocks of {factor}"
            )
        return Grid(
            self.crs,
            self.x0,
            self.y0,
            self.cell * factor,
            self.nrows // factor,
            self.ncols // factor,
        )

    def to_dict(self) -> dict:
        """Plain-data description for ``summary.json`` and GeoPackage metadata."""
        return {
            "crs": self.crs,
            "cell_size_m": self.cell,
            "shape": [self.nrows, self.ncols],
            "bounds": list(self.bounds),
            "transform": list(self.transform)[:6],
        }


def _crs_string(crs) -> str:
    crs = CRS.from_user_input(crs)
    auth = crs.to_authority()
    return f"{auth[0]}:{auth[1]}" if auth else crs.to_wkt()
