"""Factor kinds: pure functions ``(geometries, grid, params) -> Factor``.

Each returns a float32 value in [0, 1] per cell and a float32 "explain" raster
in physical units (distance in m, or density per km²) so that a cell's score can
be told in words: "关闭矿井 340 m (+28)". Distances come from a range-limited
Euclidean distance transform and densities from a count raster smoothed by a
Gaussian kernel: no per-cell Python loop and no per-cell shapely call.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import shapely
from scipy import ndimage

from riskmap.errors import LayerError
from riskmap.grid import Grid, splat
from riskmap.grid.burn import feature_mask, mask, point_cells, point_xy
from riskmap.grid.distance import distance_to_cells, distance_to_points

_POINT, _LINE, _POLY = (0, 4), (1, 2, 5), (3, 6)
TRUNCATE = 4.0  # Gaussian kernels are cut at 4 sigma


class Factor:
    """One factor on a grid: values in [0, 1] and what they mean.

    ``explain`` is kept in physical units (distance in m, or density per km²).
    Where the value is a function of it (a decay of the distance, a scaled
    density), only ``explain`` is stored and the value is made when asked:
    half the memory per factor, which is what bounds a 10 m district build.
    """

    __slots__ = ("_to_value", "_value", "explain", "unit")

    def __init__(self, value, explain, unit: str, to_value=None):
        self._value = value
        self.explain = explain
        self.unit = unit  # "m" (distance to nearest), "/km²" (density) or ""
        self._to_value = to_value

    @property
    def value(self) -> np.ndarray:
        """float32 values in [0, 1] on the grid."""
        return self._value if self._value is not None else self._to_value(self.explain)

    @property
    def lazy(self) -> bool:
        """True when ``value`` makes a new array on every call."""
        return self._value is None

    def value_at(self, flat) -> np.ndarray:
        """Values at flat cell indices (without making the whole grid)."""
        if self._value is not None:
            return self._value.ravel()[flat]
        return self._to_value(self.explain.ravel()[flat])

    def crop(self, rows: slice, cols: slice) -> Factor:
        """The factor on a window of its grid."""
        v = None if self._value is None else self._value[rows, cols]
        return Factor(v, self.explain[rows, cols], self.unit, self._to_value)


# --- decays -------------------------------------------------------------------
def decay(d: np.ndarray, reach: float, kind: str = "linear") -> np.ndarray:
    """Turn distances into closeness in [0, 1], zero beyond ``reach``.

    Parameters
    ----------
    d : numpy.ndarray
        Distances in metres (``inf`` = no feature within reach).
    reach : float
        Influence range in metres.
    kind : {"linear", "exponential", "gaussian", "step"}
        ``linear`` 1 − d/R; ``exponential`` e^(−3d/R); ``gaussian``
        e^(−½(3d/R)²); ``step`` 1 within R. All are 0 beyond R.
    """
    d = np.asarray(d, dtype=np.float32)
    r = np.float32(reach)
    # in-place passes over one float32 buffer: this runs on every cell
    if kind == "linear":
        v = d * (-1 / r)
        v += 1
        np.maximum(v, 0, out=v)  # beyond reach (and inf) -> 0
        return v
    if kind == "step":
        return (d <= r).astype(np.float32)
    if kind == "exponential":
        v = d * (-3 / r)
    elif kind == "gaussian":
        v = d * (3 / r)
        v *= v
        v *= np.float32(-0.5)
    else:
        raise ValueError(f"unknown decay {kind!r}")
    np.exp(v, out=v)
    v[d > r] = 0
    return v


# --- kinds ----------------------------------------------------------------------
def proximity(geoms, grid: Grid, reach: float, decay_kind: str = "linear",
              target: str = "edges", splat_points: bool | None = None) -> Factor:
    """Closeness to points, lines or polygon edges (or areas) within ``reach`` m."""
    geoms = np.asarray(geoms)
    tid = shapely.get_type_id(geoms)
    if np.isin(tid, _POINT).all():
        x, y = point_xy(geoms)
        if _use_splat(splat_points, len(x), reach, grid):
            d = splat.nearest_distance(x, y, grid, reach)
        else:
            d = with_halo(grid, reach, lambda g: distance_to_points(x, y, g, reach))
    else:
        d = with_halo(grid, reach,
                      lambda g: distance_to_cells(feature_mask(geoms, g, target), g.cell, reach))
    return Factor(None, d, "m", lambda e: decay(e, reach, decay_kind))


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
    if _use_splat(splat_points, len(xs), TRUNCATE * bandwidth, grid):
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
    x, y = _points_only(geoms)
    per_cell = kernel_density(x, y, grid, bandwidth, weights, splat_points)
    per_km2 = per_cell * np.float32(1e6 / grid.cell**2)
    if top is None:
        top = float(per_km2.max()) if normalize == "max" else float(normalize)
    scale = np.float32(1.0 / top) if top > 0 else np.float32(0.0)

    def to_value(e):
        v = e * scale
        return np.clip(v, 0, 1, out=v)

    return Factor(None, per_km2, "/km²", to_value)


def ring(geoms, grid: Grid, distance: float, decay_kind: str = "step") -> Factor:
    """The band of ``distance`` m just outside polygons (zero inside them)."""
    polys = _polygons_only(geoms)

    def dist(g):
        inside = mask(polys, g)
        d = distance_to_cells(inside, g.cell, distance)
        d[inside] = np.inf
        return d

    d = with_halo(grid, distance, dist)
    return Factor(None, d, "m", lambda e: decay(e, distance, decay_kind))


def inside(geoms, grid: Grid) -> Factor:
    """1 in cells whose centre lies inside the polygons, else 0."""
    m = mask(_polygons_only(geoms), grid)  # kept as bool: a quarter of the memory
    return Factor(None, m, "", lambda e: e.astype(np.float32))


def age_weights(dates, as_of: dt.date, half_life_days: float) -> np.ndarray:
    """0.5 ** (age / half-life); future or missing dates are errors upstream."""
    d = pd.to_datetime(pd.Series(dates), errors="coerce")
    age = (pd.Timestamp(as_of) - d).dt.days.to_numpy(dtype=float)
    return np.where(age >= 0, 0.5 ** (age / half_life_days), 0.0)


def typed(geoms, types, grid: Grid, weights: dict, method: str = "proximity",
          reach: float | None = None, decay_kind: str = "linear", bandwidth: float | None = None,
          normalize="max", splat_points: bool | None = None, top: float | None = None) -> Factor:
    """Points of several types, each with its own weight in [0, 1].

    ``proximity``: per cell the largest ``weight(type) * decay(distance)`` over
    types (types that share a weight share one distance transform); the
    explain raster is the distance to the type that gave that value.
    ``density``: a kernel density with each point weighted by its type.
    """
    types = np.asarray(types, dtype=object).astype(str)
    w = np.array([weights.get(t, 0.0) for t in types], dtype=float)
    geoms = np.asarray(geoms)
    if method == "density":
        return density(geoms, grid, bandwidth, weights=w, normalize=normalize,
                       splat_points=splat_points, top=top)
    x, y = _points_only(geoms)
    if len(x) != len(w):
        raise LayerError("typed factors need single points (no multipoints)")
    if _use_splat(splat_points, int((w > 0).sum()), reach, grid):
        pos = w > 0
        best, dist = splat.best_weighted(x[pos], y[pos], w[pos], grid, reach,
                                         lambda d: decay(d, reach, decay_kind))
        return Factor(best, dist, "m")
    best = np.zeros(grid.shape, dtype=np.float32)
    dist = np.full(grid.shape, np.inf, dtype=np.float32)
    for wt in sorted({v for v in w if v > 0}, reverse=True):
        sel = w == wt
        d = with_halo(grid, reach, lambda g, sel=sel: distance_to_points(x[sel], y[sel], g, reach))
        v = np.float32(wt) * decay(d, reach, decay_kind)
        better = v > best
        best[better] = v[better]
        dist[better] = d[better]
    return Factor(best, dist, "m")


def _points_only(geoms):
    geoms = np.asarray(geoms)
    if len(geoms) and not np.isin(shapely.get_type_id(geoms), _POINT).all():
        raise LayerError("this factor needs points but the layer has lines or polygons")
    return point_xy(geoms)


def _polygons_only(geoms):
    geoms = np.asarray(geoms)
    if len(geoms) and not np.isin(shapely.get_type_id(geoms), _POLY).all():
        raise LayerError("this factor needs polygons but the layer has points or lines")
    return geoms


def with_halo(grid: Grid, reach: float, fn) -> np.ndarray:
    """``fn(g)`` on ``grid`` grown by ``reach``, cropped back: features beyond the edge count."""
    h = halo_cells(reach, grid.cell)
    a = fn(grid.expand(h))
    # a copy, not a view: the view would keep the larger halo array alive
    return a[h:h + grid.nrows, h:h + grid.ncols].copy()


def _use_splat(forced: bool | None, n_points: int, reach: float, grid: Grid) -> bool:
    return _splat_is_cheaper(n_points, reach, grid) if forced is None else forced


def _splat_is_cheaper(n_points: int, reach: float, grid: Grid) -> bool:
    # measured on 2 cores: a stamped window cell costs about half a cell of
    # whole-grid EDT or Gaussian filter (grid grown by the halo)
    h = halo_cells(reach, grid.cell)
    cells = (grid.nrows + 2 * h) * (grid.ncols + 2 * h)
    return splat.splat_cost(n_points, reach, grid.cell) < 2.0 * cells


def halo_cells(reach: float, cell: float) -> int:
    """Cells of halo needed so that features up to ``reach`` m away are seen."""
    return math.ceil(reach / cell) + 1
