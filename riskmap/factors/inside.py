"""``inside``: inside polygons (a licence can lower risk with a negative weight)."""

from __future__ import annotations

import numpy as np
import shapely

from riskmap.factors.base import POLYGONS, Factor, Kind, Params, polygons_only
from riskmap.grid import Grid
from riskmap.grid.burn import mask


def inside(geoms, grid: Grid) -> Factor:
    """1 in cells whose centre lies inside the polygons, else 0."""
    geoms = polygons_only(geoms)
    m = mask(geoms, grid)  # kept as bool: a quarter of the memory
    support = None
    if len(geoms):  # each polygon's bounds in cells (a cell more each side): 0 beyond
        b = shapely.bounds(geoms)
        ok = np.isfinite(b).all(axis=1)
        b = b[ok]
        r0 = np.floor((grid.y0 - b[:, 3]) / grid.cell) - 1
        r1 = np.ceil((grid.y0 - b[:, 1]) / grid.cell) + 1
        c0 = np.floor((b[:, 0] - grid.x0) / grid.cell) - 1
        c1 = np.ceil((b[:, 2] - grid.x0) / grid.cell) + 1
        support = np.stack([np.clip(r0, 0, grid.nrows), np.clip(r1, 0, grid.nrows),
                            np.clip(c0, 0, grid.ncols), np.clip(c1, 0, grid.ncols)],
                           axis=1).astype(np.int64)
    return Factor(None, m, "", lambda e: e.astype(np.float32), support)


class Inside(Kind):
    """Inside polygons."""

    name = "inside"
    geometries = POLYGONS
    needs = "polygons"
    outline = True

    def check(self, p: Params) -> dict:
        return {}

    def compute(self, gdf, grid, params, as_of, *, splat_points=None, top=None) -> Factor:
        return inside(gdf.geometry.values, grid)

    def describe(self, label, points, explain, params):
        return (label + "范围内 (" + points + ")").to_numpy(dtype=object)


KIND = Inside()
