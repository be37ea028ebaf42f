"""The scoring core: from loaded layers to scored analysis and patrol cells.

Everything here is arrays on one :class:`~riskmap.grid.Grid`; no I/O.
"""

from __future__ import annotations

import logging
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import shapely

from riskmap import factors
from riskmap.grid import Grid, burn
from riskmap.grid.blocks import (
    argmax_in_blocks,
    block_any,
    block_max_mean,
    boxes_any,
)
from riskmap.load.inputs import Inputs
from riskmap.load.project import FactorSpec, Project
from riskmap.score.memory import grid_budget, require_fits
from riskmap.score.overlay import class_thresholds, classify, score_coefficients

log = logging.getLogger(__name__)

#: threads for factors and score bands: numpy, scipy and GDAL release the GIL in their
#: loops, and one thread more than the CPUs keeps them busy while another waits for it
#: (measured on 2 CPUs: 3 threads beat 2 and 4); more would only add temporaries
WORKERS = 1 if (os.cpu_count() or 1) == 1 else min(4, (os.cpu_count() or 1) + 1)
#: side (analysis cells) of the tiles the score skips where a factor is 0 or outside
#: the district (measured on 2 cores: smaller tiles cost more in calls and threads)
TILE = 128


@dataclass
class Surface:
    """A scored district: analysis rasters, patrol cells and their labels."""

    grid: Grid
    patrol_grid: Grid
    k: int
    area: np.ndarray  # bool, analysis cells inside the district
    township_names: list[str]  # index i+1 in the label rasters
    township: np.ndarray  # int32 patrol-cell township index (0 = none / outside)
    village_names: list[str]
    village: np.ndarray  # int32 patrol-cell village index
    factors: dict[str, factors.Factor]
    coefs: dict[str, np.float32]  # points of score per unit of factor value
    score: np.ndarray  # float32 analysis score, NaN outside the district
    baseline: float
    p_max: np.ndarray
    p_mean: np.ndarray
    p_score: np.ndarray  # the one that ranks (max or mean)
    thresholds: np.ndarray | None  # None: a window whose classes the caller sets
    p_class: np.ndarray | None  # uint8, 0 outside
    timings: dict[str, float] = field(default_factory=dict)
    #: (row, col) of the surface's first analysis cell on the district grid
    origin: tuple[int, int] = (0, 0)

    @property
    def p_area(self) -> np.ndarray:
        """Patrol cells holding at least one analysis cell of the district."""
        return np.isfinite(self.p_score)

    def contribution(self, name: str, flat: np.ndarray) -> np.ndarray:
        """Points of score from factor ``name`` at analysis cells ``flat``."""
        return self.factors[name].value_at(flat) * self.coefs[name]

    def argmax(self, flat_patrol: np.ndarray) -> np.ndarray:
        """Analysis cell (flat index) holding the max of each patrol cell."""
        return argmax_in_blocks(self.score, self.k, flat_patrol)


def district_grid(project: Project, district) -> Grid:
    """The district's analysis grid, edges snapped to the patrol cell size."""
    return Grid.from_bounds(district.bounds, project.cell_size, project.crs,
                            snap=project.patrol_cell_size)


def factor_on_grid(spec: FactorSpec, gdf, grid: Grid, as_of, *, splat_points=None,
                   top=None) -> factors.Factor:
    """Compute one factor on ``grid`` with its kind (see :func:`riskmap.factors.compute`)."""
    return factors.compute(spec, gdf, grid, as_of, splat_points=splat_points, top=top)


def point_methods(project: Project, inputs: Inputs, grid: Grid) -> dict[str, bool | None]:
    """Per factor: stamp points (True) or use a grid transform (False); None if no points.

    Decided once for the whole district grid, so that tiles make the same choice.
    """
    out = {}
    for spec in project.factors:
        pts = factors.kind_of(spec).point_mask(inputs.factors[spec.name], spec.params)
        if pts is None or not pts.any():
            out[spec.name] = None
            continue
        out[spec.name] = factors.splat_is_cheaper(int(pts.sum()), spec.reach, grid)
    return out


def compute(project: Project, inputs: Inputs, progress=None) -> Surface:
    """Score the whole district.

    Parameters
    ----------
    project : Project
    inputs : Inputs
        Layers from :func:`riskmap.load.inputs.load_inputs`.
    progress : callable, optional
        Called with a short message per step.

    Returns
    -------
    Surface
    """
    grid = district_grid(project, inputs.district)
    plan = {n: {"splat_points": m, "top": None}
            for n, m in point_methods(project, inputs, grid).items()}
    return _surface(project, inputs, grid, (0, 0, *grid.shape), plan, None, progress)


def compute_window(project: Project, inputs: Inputs, rows: slice, cols: slice, *,
                   thresholds=None, plan: dict | None = None, progress=None) -> Surface:
    """Score one window of the district grid, with the values the whole district gets.

    Each factor reads the features within its reach of the window (its halo),
    and the choices that depend on the whole district are made for the whole
    district (the point method and the density normaliser, see
    :func:`district_plan`), so every cell of the window gets the score,
    factor values and labels that :func:`compute` gives it. Memory and time
    follow the window, not the district (the density normalisers excepted:
    one pass per max-normalised density over its points' reach).

    Parameters
    ----------
    project, inputs
    rows, cols : slice
        Analysis-cell rows and columns of the district grid
        (:func:`district_grid`); grown outward to whole patrol cells and cut
        to the grid.
    thresholds : array_like of 4 floats, optional
        The district's class thresholds (e.g. ``compute(...).thresholds``, a
        tiled run's, or the last district build's ``summary.json``). A window
        cannot know the district's quantiles, so without them a ``quantile``
        project's window is left unclassified: ``thresholds`` and ``p_class``
        are None and the caller classifies (:func:`with_classes`); ``fixed``
        breaks need nothing.
    plan : dict, optional
        Per factor ``{"splat_points": ..., "top": ...}`` from :func:`district_plan`
        (pass it when scoring several windows, to make it once).
    progress : callable, optional

    Returns
    -------
    Surface
        On the window's grid: cells keep their coordinates, hence their ids;
        ``origin`` is the window's first cell on the district grid.
    """
    grid = district_grid(project, inputs.district)
    k = round(project.patrol_cell_size / project.cell_size)
    win = _patrol_window(grid, k, rows, cols)
    plan = district_plan(project, inputs, grid) if plan is None else plan
    if thresholds is None and project.class_method == "fixed":
        thresholds = project.class_breaks
    return _surface(project, inputs, grid, win, plan,
                    "window" if thresholds is None else np.asarray(thresholds, float), progress)


def with_classes(surface: Surface, thresholds) -> Surface:
    """``surface`` with patrol-cell classes from ``thresholds`` (lower bounds of classes 2–5)."""
    surface.thresholds = np.asarray(thresholds, float)
    surface.p_class = classify(surface.p_score, surface.thresholds)
    return surface


def township_window(project: Project, inputs: Inputs, name: str) -> tuple[slice, slice]:
    """Rows and columns of the district grid holding township ``name``'s patrol cells."""
    grid = district_grid(project, inputs.district)
    k = round(project.patrol_cell_size / project.cell_size)
    t = inputs.townships
    hit = t.geometry.values[(t["name"] == name).to_numpy()]
    if not len(hit):
        raise KeyError(name)
    x0, y0, x1, y1 = shapely.total_bounds(hit)
    p = grid.cell * k
    # one patrol cell more on each side: a cell touched on the district edge takes the label
    c0, c1 = math.floor((x0 - grid.x0) / p) - 1, math.ceil((x1 - grid.x0) / p) + 1
    r0, r1 = math.floor((grid.y0 - y1) / p) - 1, math.ceil((grid.y0 - y0) / p) + 1
    return slice(r0 * k, r1 * k), slice(c0 * k, c1 * k)


def district_plan(project: Project, inputs: Inputs, grid: Grid | None = None) -> dict:
    """Per factor the choices made for the whole district grid, so a window or tile agrees.

    ``splat_points``: stamp points or use a grid transform (:func:`point_methods`);
    ``top``: the district-wide maximum of a density normalised by its maximum
    (None for other factors), computed on the part of the grid its points reach.
    """
    grid = district_grid(project, inputs.district) if grid is None else grid
    plan = {n: {"splat_points": m, "top": None}
            for n, m in point_methods(project, inputs, grid).items()}
    for spec in project.factors:
        if not (spec.is_density and spec.params.get("normalize", "max") == "max"):
            continue
        gdf = inputs.factors[spec.name]
        g = _reach_window(grid, gdf, spec.reach)
        if g is None:
            plan[spec.name]["top"] = 0.0
            continue
        f = factor_on_grid(spec, gdf, g, project.as_of, top=1.0,
                           splat_points=plan[spec.name]["splat_points"])
        plan[spec.name]["top"] = float(f.explain.max())  # density is 0 beyond the reach
    return plan


def _reach_window(grid: Grid, gdf, reach: float) -> Grid | None:
    """The part of ``grid`` within ``reach`` (and two cells) of ``gdf``'s features."""
    if not len(gdf):
        return None
    x0, y0, x1, y1 = gdf.total_bounds
    m = reach + 2 * grid.cell
    c0 = max(0, math.floor((x0 - m - grid.x0) / grid.cell))
    c1 = min(grid.ncols, math.ceil((x1 + m - grid.x0) / grid.cell))
    r0 = max(0, math.floor((grid.y0 - y1 - m) / grid.cell))
    r1 = min(grid.nrows, math.ceil((grid.y0 - y0 + m) / grid.cell))
    if r1 <= r0 or c1 <= c0:
        return None
    return grid.window(r0, c0, r1 - r0, c1 - c0)


def _patrol_window(grid: Grid, k: int, rows: slice, cols: slice):
    """``(row0, col0, nrows, ncols)``: the slices grown to whole patrol cells, cut to the grid."""
    def span(s: slice, n: int):
        a = 0 if s.start is None else s.start
        b = n if s.stop is None else s.stop
        a, b = max(0, a // k * k), min(n, -(-b // k) * k)
        if b <= a:
            raise ValueError(f"window {s.start}:{s.stop} lies outside the grid's 0:{n}")
        return a, b - a

    (r0, nr), (c0, nc) = span(rows, grid.nrows), span(cols, grid.ncols)
    return r0, c0, nr, nc


def _near(gdf, g: Grid, reach: float):
    """The features that can reach window ``g`` (a spatial-index query on its halo).

    A layer mixing points with other geometries is kept whole: its kind
    chooses its method by the geometry types, which a subset might change.
    """
    tid = shapely.get_type_id(gdf.geometry.values)
    pts = np.isin(tid, (0, 4))
    if len(gdf) == 0 or (pts.any() and not pts.all()):
        return gdf
    x0, y0, x1, y1 = g.bounds
    m = reach + 2 * g.cell  # a stamp reaches its cell's radius, a point lies within its cell
    idx = gdf.sindex.query(shapely.box(x0 - m, y0 - m, x1 + m, y1 + m))
    return gdf.iloc[np.sort(idx)]


def _surface(project, inputs, grid, win, plan, thresholds, progress) -> Surface:
    """Score window ``win`` = ``(row0, col0, nrows, ncols)`` of ``grid``.

    ``thresholds``: None (the window's own quantiles: the whole district),
    an array, or ``"window"`` (unknown: left unclassified).
    """
    t = {}
    t0 = time.perf_counter()
    whole = tuple(win) == (0, 0, *grid.shape)
    g = grid if whole else grid.window(*win)
    require_fits(grid_budget(g, len(project.factors)), project.path)  # before any array
    k = round(project.patrol_cell_size / project.cell_size)
    pgrid = g.coarsen(k)

    def grid_labels():
        t1 = time.perf_counter()
        area = burn.mask([inputs.district], g)
        # townships and villages are assigned per patrol cell (centre rule), so a
        # patrol cell always belongs wholly to one township and one village
        live = block_any(area, k)
        township = _patrol_labels(inputs.townships.geometry.values, pgrid, live)
        village = np.zeros(pgrid.shape, np.int32)
        if inputs.villages is not None:
            village = _patrol_labels(inputs.villages.geometry.values, pgrid, live)
        t["grid_s"] = time.perf_counter() - t1
        return area, township, village

    tnames = list(inputs.townships["name"])
    vnames = [] if inputs.villages is None else list(inputs.villages["name"])
    layers = {s.name: inputs.factors[s.name] if whole else _near(inputs.factors[s.name], g,
                                                                  s.reach)
              for s in project.factors}
    with _pool() as pool:  # the labels beside the factors
        labels = pool.submit(grid_labels) if pool else None
        fs = factor_rasters(project, layers, g, plan, progress, t, pool)
        area, township, village = labels.result() if labels else grid_labels()

    t1 = time.perf_counter()
    coefs, baseline = score_coefficients({f.name: f.weight for f in project.factors})
    score, p_max, p_mean = score_bands(fs, coefs, baseline, area, k)
    p_score = p_max if project.patrol_score == "max" else p_mean
    if isinstance(thresholds, str):
        thr = p_class = None
    else:
        thr = (class_thresholds(p_score, project.class_method, project.class_breaks)
               if thresholds is None else thresholds)
        p_class = classify(p_score, thr)
    t["score_s"] = time.perf_counter() - t1
    t["compute_s"] = time.perf_counter() - t0
    return Surface(g, pgrid, k, area, tnames, township, vnames, village, fs, coefs, score,
                   baseline, p_max, p_mean, p_score, thr, p_class, t, (win[0], win[1]))


def factor_rasters(project: Project, layers: dict, grid: Grid, plan: dict, progress=None,
                   timings: dict | None = None, pool=None) -> dict[str, factors.Factor]:
    """Every factor of ``project`` on ``grid``, a few at a time on threads.

    ``layers`` maps factor names to their features, ``plan`` to the keyword
    arguments of :func:`factor_on_grid`; ``timings`` gets ``factor_<name>_s``;
    ``pool`` is an executor to use (default: one of :data:`WORKERS` threads).
    Each factor is computed on its own, so the result does not depend on the
    threads' order.
    """
    def one(spec):
        t1 = time.perf_counter()
        f = factor_on_grid(spec, layers[spec.name], grid, project.as_of, **plan[spec.name])
        return f, time.perf_counter() - t1

    if pool is None:
        with _pool() as own:
            return _collect(project, own, one, progress, timings)
    return _collect(project, pool, one, progress, timings)


def _collect(project, pool, one, progress, timings) -> dict:
    jobs = [(spec, pool.submit(one, spec) if pool else None) for spec in project.factors]
    out = {}
    for spec, job in jobs:
        if progress:
            progress(f"计算因子 {spec.label}")
        out[spec.name], s = job.result() if job else one(spec)
        if timings is not None:
            timings[f"factor_{spec.name}_s"] = s
    return out


class _pool:
    """A thread pool of :data:`WORKERS` threads, or None when there is one worker."""

    def __enter__(self):
        self.pool = ThreadPoolExecutor(WORKERS) if WORKERS > 1 else None
        return self.pool

    def __exit__(self, *exc):
        if self.pool:
            self.pool.shutdown(cancel_futures=True)


def score_bands(fs: dict, coefs: dict, baseline: float, area: np.ndarray, k: int):
    """Score (NaN outside ``area``) and its patrol-cell max and mean, band by band.

    The grid is cut into tiles of about ``TILE`` cells a side (whole patrol
    cells) and scored a band of tiles at a time: each factor's values are made
    only for the tiles of the band that lie in the district and in the
    factor's support (:attr:`~riskmap.factors.Factor.support`; elsewhere its
    value is 0 and adding it would change nothing), so no full-grid temporary
    exists and a band stays in cache; bands run on threads. The sum is the
    one :func:`~riskmap.score.overlay.accumulate_score` makes, term by term.
    """
    n, m = area.shape
    tile = k * max(1, round(TILE / k))
    live = block_any(area, tile)
    every = _runs(live)
    runs = [(f, coefs[name], every if f.support is None else
             _runs(live & boxes_any(f.support, tile, (n, m)))) for name, f in fs.items()]
    score = np.empty((n, m), np.float32)
    p_max = np.empty((n // k, m // k), np.float32)
    p_mean = np.empty((n // k, m // k), np.float32)
    base = np.float32(baseline)

    def band(i):
        rows = slice(i * tile, min((i + 1) * tile, n))
        s = score[rows]
        pr = slice(rows.start // k, rows.stop // k)
        if not live[i].any():
            s[...] = np.nan
            p_max[pr] = p_mean[pr] = np.nan
            return
        s[...] = 0
        for f, coef, spans in runs:
            for c0, c1 in spans[i]:
                cols = slice(c0 * tile, min(c1 * tile, m))
                v, fresh = f.value_block(rows, cols)
                if fresh and v.dtype == np.float32:
                    v *= coef
                else:
                    v = np.multiply(v, coef, dtype=np.float32)
                s[:, cols] += v
        s += base
        np.clip(s, 0, 100, out=s)  # float rounding only
        s[~area[rows]] = np.nan
        p_max[pr], p_mean[pr] = block_max_mean(s, k)

    with _pool() as pool:
        list(pool.map(band, range(live.shape[0])) if pool else map(band, range(live.shape[0])))
    return score, p_max, p_mean


def _runs(mask: np.ndarray) -> list[list[tuple[int, int]]]:
    """Per row of a 2-d bool array, ``[start, stop)`` of each run of True."""
    pad = np.zeros((mask.shape[0], mask.shape[1] + 2), np.int8)
    pad[:, 1:-1] = mask
    d = np.diff(pad, axis=1)
    r, start = np.nonzero(d == 1)
    stop = np.nonzero(d == -1)[1]  # row-major order: the stops pair with the starts
    out = [[] for _ in range(mask.shape[0])]
    for row, a, b in zip(r.tolist(), start.tolist(), stop.tolist(), strict=True):
        out[row].append((a, b))
    return out


def _patrol_labels(geoms, pgrid, live):
    """Polygon index (1-based) of each patrol cell; 0 where ``live`` (in the district) is False."""
    pairs = burn.shapes(geoms, np.arange(1, len(geoms) + 1))  # made once for both burns
    centre = burn.labels_of(pairs, pgrid)
    # patrol cells on the district edge whose centre misses every polygon take
    # the label of a polygon that touches them
    touched = burn.labels_of(pairs, pgrid, all_touched=True)
    out = np.where(centre > 0, centre, touched).astype(np.int32)
    out[~live] = 0
    return out

