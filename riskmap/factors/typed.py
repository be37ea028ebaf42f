"""``typed``: one point layer with a type column and a weight per type (premises)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from riskmap.errors import LayerError
from riskmap.factors.base import (
    POINT,
    POINTS,
    TRUNCATE,
    Factor,
    Kind,
    Params,
    boxes,
    decay,
    halo_cells,
    points_only,
    use_splat,
)
from riskmap.factors.density import check_density_params, density, describe_density
from riskmap.grid import Grid, splat
from riskmap.grid.distance import distance_to_points


def typed(geoms, types, grid: Grid, weights: dict, method: str = "proximity",
          reach: float | None = None, decay_kind: str = "linear", bandwidth: float | None = None,
          normalize="max", splat_points: bool | None = None, top: float | None = None) -> Factor:
    """Points of several types, each with its own weight in [0, 1].

    ``proximity``: per cell the largest ``weight(type) * decay(distance)`` over
    types (types that share a weight share one distance transform); the
    explain raster is the distance to the type that gave that value.
    ``density``: a kernel density with each point weighted by its type.
    """
    types = pd.Series(np.asarray(types, dtype=object)).astype(str)
    w = types.map(weights).fillna(0.0).to_numpy(dtype=float)
    geoms = np.asarray(geoms)
    if method == "density":
        return density(geoms, grid, bandwidth, weights=w, normalize=normalize,
                       splat_points=splat_points, top=top)
    x, y = points_only(geoms)
    if len(x) != len(w):
        raise LayerError("typed factors need single points (no multipoints)")
    if use_splat(splat_points, int((w > 0).sum()), reach, grid):
        pos = w > 0
        best, dist = splat.best_weighted(x[pos], y[pos], w[pos], grid, reach,
                                         lambda d: decay(d, reach, decay_kind))
        return Factor(best, dist, "m", support=splat.window_boxes(x[pos], y[pos], grid, reach))
    best = np.zeros(grid.shape, dtype=np.float32)
    dist = np.full(grid.shape, np.inf, dtype=np.float32)
    support = []
    for wt in sorted({v for v in w if v > 0}, reverse=True):
        sel = w == wt
        d = distance_to_points(x[sel], y[sel], grid, reach, halo_cells(reach, grid.cell),
                               support)
        v = np.float32(wt) * decay(d, reach, decay_kind)
        better = v > best
        best[better] = v[better]
        dist[better] = d[better]
    return Factor(best, dist, "m", support=boxes(support))


class Typed(Kind):
    """Typed points: proximity (or density) with a weight per type."""

    name = "typed"
    keys = frozenset({"type_field", "types", "method", "range", "decay", "bandwidth",
                      "normalize"})
    geometries = POINTS
    needs = "points"

    def check(self, p: Params) -> dict:
        out = {k: p.raw[k] for k in self.keys if k in p.raw}
        method = p.raw.get("method", "proximity")
        if method == "proximity":
            out["range"] = p.distance("range")
            out["decay"] = p.decay("linear")
        elif "decay" in out:
            out["decay"] = p.decay("linear")
        if method == "density":
            check_density_params(p, out)
        out["type_field"] = str(p.require("type_field"))
        out["method"] = p.choice("method", ("proximity", "density"), "proximity",
                                 "must be 'proximity' or 'density'")
        types = p.require("types")
        if not isinstance(types, dict) or not types:
            p.fail("types", "must map each type value to a weight in [0, 1]")
        for t, w in types.items():
            w = p.number(f"types.{t}", w)
            if not 0 <= w <= 1:
                p.fail(f"types.{t}", f"type weights lie in [0, 1], got {w}")
        out["types"] = {str(t): float(w) for t, w in types.items()}
        return out

    def reach(self, params: dict) -> float:
        if self.is_density(params):
            return TRUNCATE * float(params["bandwidth"])
        return float(params["range"])

    def is_density(self, params: dict) -> bool:
        return params.get("method") == "density"

    def range_param(self, params: dict) -> str:
        return "bandwidth" if self.is_density(params) else "range"

    def with_range(self, params: dict, r: float) -> dict:
        if self.is_density(params):
            return {**params, "bandwidth": float(r) / TRUNCATE}
        return {**params, "range": float(r)}

    def columns(self, params: dict) -> set[str]:
        return {params["type_field"]}

    def point_mask(self, gdf, params: dict):
        w = gdf[params["type_field"]].astype(str).map(params["types"]).fillna(0).to_numpy()
        return np.isin(shapely.get_type_id(gdf.geometry.values), POINT) & (w > 0)

    def compute(self, gdf, grid, params, as_of, *, splat_points=None, top=None) -> Factor:
        return typed(gdf.geometry.values, gdf[params["type_field"]].to_numpy(), grid,
                     params["types"], method=params["method"], reach=params.get("range"),
                     decay_kind=params.get("decay", "linear"),
                     bandwidth=params.get("bandwidth"), normalize=params.get("normalize", "max"),
                     splat_points=splat_points, top=top)

    def describe(self, label, points, explain, params):
        if self.is_density(params):
            return describe_density(label, points, explain)
        return super().describe(label, points, explain, params)

    def map_layers(self, label, gdf, params):
        tf = params["type_field"]
        return [(f"{label}: {t}", sub, False)
                for t, sub in gdf.groupby(gdf[tf].astype(str), sort=True)]


KIND = Typed()
