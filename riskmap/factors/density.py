"""``density``: kernel density of points (optionally weighted, optionally aged)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import shapely
from scipy import ndimage

from riskmap.factors.base import (
    MAX_BANDWIDTH_M,
    POINT,
    POINTS,
    TRUNCATE,
    Factor,
    Kind,
    Params,
    points_only,
    use_splat,
    with_halo,
)
from riskmap.grid import Grid, splat
from riskmap.grid.burn import point_cells
from riskmap.load.values import parse_dates


def kernel_density(xs, ys, grid: Grid, bandwidth: float, weights=None,
                   splat_points: bool | None = None) -> np.ndarray:
    """Gaussian kernel density: expected number of points per cell.

    Parameters
    ----------
    xs, ys : array_like
        Point coordinates in the grid's CRS.
    bandwidth : float
        Kernel standard deviation in metres.
    weights : array_like, optional
        Weight of each point (default 1).

    Returns
    -------
    numpy.ndarray of float32
        Per-cell mass; sums to ``sum(weights)`` when the points lie well inside
        the grid (mass beyond the grid edge is lost, not folded back).
    """
    xs, ys = np.asarray(xs, float), np.asarray(ys, float)
    w = np.ones(len(xs)) if weights is None else np.asarray(weights, float)
    if use_splat(splat_points, len(xs), TRUNCATE * bandwidth, grid):
        return splat.gaussian_mass(xs, ys, grid, bandwidth, w, TRUNCATE)

    def filtered(g):
        row, col, ok = point_cells(xs, ys, g)
        counts = np.bincount(row[ok] * g.ncols + col[ok], weights=w[ok], minlength=g.size)
        counts = counts.reshape(g.shape).astype(np.float32)
        return ndimage.gaussian_filter(counts, sigma=bandwidth / g.cell, mode="constant",
                                       cval=0.0, truncate=TRUNCATE)

    return with_halo(grid, TRUNCATE * bandwidth, filtered)


def density(geoms, grid: Grid, bandwidth: float, weights=None, normalize="max",
            splat_points: bool | None = None, top: float | None = None) -> Factor:
    """Kernel density of points, scaled to [0, 1].

    ``normalize="max"`` divides by the largest density on the grid (or by
    ``top`` when given: the district-wide maximum, for tiles); a number is a
    saturation density in points per km² (values above it are 1).
    """
    x, y = points_only(geoms)
    per_km2 = kernel_density(x, y, grid, bandwidth, weights, splat_points)  # a fresh array
    support = None  # a filtered count raster: anywhere
    if use_splat(splat_points, len(x), TRUNCATE * bandwidth, grid):
        support = splat.window_boxes(x, y, grid, TRUNCATE * bandwidth)
    per_km2 *= np.float32(1e6 / grid.cell**2)
    if top is None:
        top = float(per_km2.max()) if normalize == "max" else float(normalize)
    scale = np.float32(1.0 / top) if top > 0 else np.float32(0.0)

    def to_value(e):
        v = e * scale
        return np.clip(v, 0, 1, out=v)

    return Factor(None, per_km2, "/km²", to_value, support)


def age_weights(dates, as_of: dt.date, half_life_days: float) -> np.ndarray:
    """0.5 ** (age / half-life); future, missing or unreadable dates weigh 0."""
    d, _, _ = parse_dates(pd.Series(dates, dtype=object))
    age = (np.datetime64(as_of, "D") - d).astype("timedelta64[D]").astype(float)
    age[np.isnat(d)] = np.nan
    with np.errstate(invalid="ignore"):
        return np.where(age >= 0, 0.5 ** (age / half_life_days), 0.0)


def check_density_params(p: Params, out: dict) -> dict:
    """Bandwidth and normalisation, shared by ``density`` and ``typed`` (method density)."""
    out["bandwidth"] = p.distance("bandwidth", MAX_BANDWIDTH_M)
    norm = p.raw.get("normalize", "max")
    out["normalize"] = norm if norm == "max" else p.number("normalize", positive=True)
    return out


def describe_density(label: str, points, explain):
    """'露头密度 2.1/km² (+5)'."""
    return (label + " 密度 " + pd.Series(explain).map("{:.1f}/km²".format) + " ("
            + points + ")").to_numpy(dtype=object)


class Density(Kind):
    """Kernel density of points, weighted by a column and aged by a half-life."""

    name = "density"
    keys = frozenset({"bandwidth", "weight_field", "date_field", "half_life_days", "normalize"})
    geometries = POINTS
    needs = "points"

    def check(self, p: Params) -> dict:
        out = {k: p.raw[k] for k in ("weight_field", "date_field") if p.raw.get(k) is not None}
        check_density_params(p, out)
        if "half_life_days" in p.raw:
            out["half_life_days"] = p.raw["half_life_days"]
            p.number("half_life_days", positive=True)
            if not p.raw.get("date_field"):
                p.fail("date_field", "half_life_days needs the date column name")
        return out

    def reach(self, params: dict) -> float:
        return TRUNCATE * float(params["bandwidth"])

    def is_density(self, params: dict) -> bool:
        return True

    def range_param(self, params: dict) -> str:
        return "bandwidth"

    def with_range(self, params: dict, r: float) -> dict:
        return {**params, "bandwidth": float(r) / TRUNCATE}  # r is the kernel's reach

    def columns(self, params: dict) -> set[str]:
        return {params[k] for k in ("weight_field", "date_field") if params.get(k)}

    def date_columns(self, params: dict) -> set[str]:
        return {params["date_field"]} if params.get("date_field") else set()

    def point_mask(self, gdf, params: dict):
        return np.isin(shapely.get_type_id(gdf.geometry.values), POINT)

    def compute(self, gdf, grid, params, as_of, *, splat_points=None, top=None) -> Factor:
        w = None
        if params.get("weight_field"):
            w = gdf[params["weight_field"]].astype(float).to_numpy()
        if params.get("half_life_days"):
            a = age_weights(gdf[params["date_field"]], as_of, float(params["half_life_days"]))
            w = a if w is None else w * a
        return density(gdf.geometry.values, grid, params["bandwidth"], w, params["normalize"],
                       splat_points, top)

    def describe(self, label, points, explain, params):
        return describe_density(label, points, explain)


KIND = Density()
