"""``ring``: the band just outside polygons (over-boundary mining next to a licence)."""

from __future__ import annotations

import numpy as np

from riskmap.factors.base import (
    POLYGONS,
    Factor,
    Kind,
    Params,
    boxes,
    decay,
    halo_cells,
    polygons_only,
)
from riskmap.grid import Grid
from riskmap.grid.burn import mask
from riskmap.grid.distance import distance_to_cells


def ring(geoms, grid: Grid, distance: float, decay_kind: str = "step") -> Factor:
    """The band of ``distance`` m just outside polygons (zero inside them).

    Returns
    -------
    Factor
        ``explain`` is the distance in metres to the nearest polygon (``inf``
        inside the polygons and beyond ``distance``).
    """
    h = halo_cells(distance, grid.cell)  # polygons up to the distance beyond the edge count
    inside = mask(polygons_only(geoms), grid.expand(h))
    support = []
    d = distance_to_cells(inside, grid.cell, distance, h, support)
    d[inside[h:h + grid.nrows, h:h + grid.ncols]] = np.inf
    return Factor(None, d, "m", lambda e: decay(e, distance, decay_kind), boxes(support))


class Ring(Kind):
    """A band of ``distance`` m outside polygons."""

    name = "ring"
    keys = frozenset({"distance", "decay"})
    geometries = POLYGONS
    needs = "polygons"
    outline = True

    def check(self, p: Params) -> dict:
        return {"distance": p.distance("distance"), "decay": p.decay("step")}

    def reach(self, params: dict) -> float:
        return float(params["distance"])

    def range_param(self, params: dict) -> str:
        return "distance"

    def compute(self, gdf, grid, params, as_of, *, splat_points=None, top=None) -> Factor:
        return ring(gdf.geometry.values, grid, params["distance"], params["decay"])


KIND = Ring()
