"""``inside``: inside polygons (a licence can lower risk with a negative weight)."""

from __future__ import annotations

import numpy as np

from riskmap.factors.base import POLYGONS, Factor, Kind, Params, polygons_only
from riskmap.grid import Grid
from riskmap.grid.burn import mask


def inside(geoms, grid: Grid) -> Factor:
    """1 in cells whose centre lies inside the polygons, else 0."""
    m = mask(polygons_only(geoms), grid)  # kept as bool: a quarter of the memory
    return Factor(None, m, "", lambda e: e.astype(np.float32))


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
