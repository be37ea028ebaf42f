"""``proximity``: closeness to points, lines or polygon edges (or areas) within a range."""

from __future__ import annotations

import numpy as np
import shapely

from riskmap.factors.base import (
    POINT,
    Factor,
    Kind,
    Params,
    boxes,
    decay,
    halo_cells,
    use_splat,
)
from riskmap.grid import Grid, splat
from riskmap.grid.burn import feature_mask, point_xy
from riskmap.grid.distance import distance_to_cells, distance_to_points


def proximity(geoms, grid: Grid, reach: float, decay_kind: str = "linear",
              target: str = "edges", splat_points: bool | None = None) -> Factor:
    """Closeness to points, lines or polygon edges (or areas) within ``reach`` m.

    Parameters
    ----------
    geoms : array_like of shapely geometries
    grid : Grid
    reach : float
        Influence range in metres; the value is 0 beyond it.
    decay_kind : str
        See :func:`riskmap.factors.base.decay`.
    target : {"edges", "area"}
        For polygons: distance to the outline, or 0 inside the polygon.
    splat_points : bool, optional
        Force stamping (True) or the grid transform (False) for points.

    Returns
    -------
    Factor
        ``explain`` is the distance in metres (``inf`` beyond reach).
    """
    geoms = np.asarray(geoms)
    tid = shapely.get_type_id(geoms)
    support = []  # boxes outside which the distance is inf
    if np.isin(tid, POINT).all():
        x, y = point_xy(geoms)
        if use_splat(splat_points, len(x), reach, grid):
            d = splat.nearest_distance(x, y, grid, reach)
            support = splat.window_boxes(x, y, grid, reach)
        else:
            d = distance_to_points(x, y, grid, reach, halo_cells(reach, grid.cell), support)
    else:
        h = halo_cells(reach, grid.cell)  # features up to the reach beyond the edge count
        d = distance_to_cells(feature_mask(geoms, grid.expand(h), target), grid.cell, reach, h,
                              support)
    return Factor(None, d, "m", lambda e: decay(e, reach, decay_kind), boxes(support))


class Proximity(Kind):
    """Distance decay from points, lines or polygon edges."""

    name = "proximity"
    keys = frozenset({"range", "decay", "target"})

    def check(self, p: Params) -> dict:
        out = {"range": p.distance("range"), "decay": p.decay("linear"),
               "target": p.raw.get("target", "edges")}
        if out["target"] not in ("edges", "area"):
            p.fail("target", "must be 'edges' or 'area' (for polygons)")
        return out

    def reach(self, params: dict) -> float:
        return float(params["range"])

    def range_param(self, params: dict) -> str:
        return "range"

    def point_mask(self, gdf, params: dict):
        return np.isin(shapely.get_type_id(gdf.geometry.values), POINT)

    def compute(self, gdf, grid, params, as_of, *, splat_points=None, top=None) -> Factor:
        return proximity(gdf.geometry.values, grid, params["range"], params["decay"],
                         params["target"], splat_points)


KIND = Proximity()
