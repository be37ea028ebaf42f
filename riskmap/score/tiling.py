"""The same engine, tile by tile: bounded memory and any dask scheduler.

Every factor kind already sees features beyond the edge of the grid it is
given (a halo as large as its reach, or points stamped from outside), so a tile
of the district grid computed on its own gets exactly the values the whole grid
would — provided the choices that depend on the whole grid are made once for
the whole grid: the point method (stamping or distance transform) and the
density normaliser (the district-wide maximum, found in a first pass).
Quantile class breaks come from the patrol-cell scores of every tile, which
are kept in memory (4 bytes per patrol cell: 16 M patrol cells for a province
at 100 m are 64 MB), so the breaks are exact, not approximate.

Tiles run as ``dask.delayed`` tasks on the default scheduler (threads), a local
process pool, or a ``dask.distributed`` cluster given by address.

The same choices let one window of the district grid be scored whole, with
every factor's explain raster and the patrol-cell labels (:func:`window_surface`):
the tiled build writes each township's package from such a window (its
patrol-cell bounding box, :func:`area_window`), so its memory is bounded by the
largest township, not the district.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np

from riskmap.grid import Grid, burn
from riskmap.grid.blocks import block_max_mean
from riskmap.load.inputs import Inputs
from riskmap.load.project import Project
from riskmap.score.engine import (
    Surface,
    _near,
    _patrol_labels,
    compute_window,
    district_grid,
    factor_on_grid,
    point_methods,
)
from riskmap.score.overlay import accumulate_score, class_thresholds, classify, score_coefficients

log = logging.getLogger(__name__)


@dataclass
class TiledResult:
    """What a tiled run keeps: patrol-cell arrays (small) and where the score went."""

    grid: Grid
    patrol_grid: Grid
    p_max: np.ndarray
    p_mean: np.ndarray
    p_score: np.ndarray
    thresholds: np.ndarray
    p_class: np.ndarray
    tiles: int
    chunk: int
    score: np.ndarray | None = None  # the analysis-cell score, when asked to keep it
    timings: dict = field(default_factory=dict)
    #: per factor: the point method and density normaliser fixed for the whole grid
    #: (what :func:`window_surface` needs to score a window exactly as the tiles did)
    plan: dict = field(default_factory=dict)


def tile_windows(grid: Grid, chunk: int, k: int) -> list[tuple[int, int, int, int]]:
    """``(row0, col0, nrows, ncols)`` of tiles of about ``chunk`` cells a side.

    Tile edges fall on patrol-cell edges (multiples of ``k``).
    """
    chunk = max(k, (chunk // k) * k)
    out = []
    for r0 in range(0, grid.nrows, chunk):
        for c0 in range(0, grid.ncols, chunk):
            out.append((r0, c0, min(chunk, grid.nrows - r0), min(chunk, grid.ncols - c0)))
    return out


def _needs_top(spec) -> bool:
    p = spec.params
    return spec.is_density and p.get("normalize", "max") == "max"


def _tile_density_max(project, inputs, g, plan, names):
    out = {}
    for spec in project.factors:
        if spec.name in names:
            gdf = _near(inputs.factors[spec.name], g, spec.reach)
            f = factor_on_grid(spec, gdf, g, project.as_of, top=1.0,
                               splat_points=plan[spec.name]["splat_points"])
            out[spec.name] = float(f.explain.max()) if f.explain.size else 0.0
    return out


def _tile_score(project, inputs, g, plan, coefs, baseline, k):
    values = {}
    for spec in project.factors:
        gdf = _near(inputs.factors[spec.name], g, spec.reach)
        f = factor_on_grid(spec, gdf, g, project.as_of, **plan[spec.name])
        values[spec.name] = f.value
    score = accumulate_score(values, coefs, baseline)
    score[~burn.mask([inputs.district], g)] = np.nan
    pmax, pmean = block_max_mean(score, k)
    return score, pmax, pmean


def compute_tiled(project: Project, inputs: Inputs, *, chunk: int = 1024, scheduler=None,
                  keep_score: bool = False, on_tile=None, progress=None) -> TiledResult:
    """Score the district tile by tile.

    Parameters
    ----------
    chunk : int
        Tile side in analysis cells (rounded down to whole patrol cells).
    scheduler : str, optional
        ``None``/"threads" (default), "processes", "synchronous", or the address
        of a ``dask.distributed`` scheduler (``tcp://host:8786``).
    keep_score : bool
        Assemble the analysis-cell score in memory (only where it fits).
    on_tile : callable, optional
        ``on_tile(window, score_block)`` for each finished tile, e.g. to write a
        GeoTIFF window by window.
    progress : callable, optional
        Called with a message per batch of tiles.
    """
    try:
        import dask
    except ImportError as e:  # pragma: no cover
        from riskmap.errors import RiskmapError

        raise RiskmapError("tiled builds need dask: pip install 'riskmap[dask]'") from e
    t0 = time.perf_counter()
    grid = district_grid(project, inputs.district)
    k = round(project.patrol_cell_size / project.cell_size)
    pgrid = grid.coarsen(k)
    wins = tile_windows(grid, chunk, k)
    plan = {n: {"splat_points": m, "top": None}
            for n, m in point_methods(project, inputs, grid).items()}
    coefs, baseline = score_coefficients({f.name: f.weight for f in project.factors})
    client = _client(scheduler)
    get = {} if client is not None else {"scheduler": scheduler or "threads"}

    tops = [s.name for s in project.factors if _needs_top(s)]
    if tops:  # pass 1: district-wide maxima of max-normalised densities
        tasks = [dask.delayed(_tile_density_max)(project, inputs, grid.window(*w), plan, tops)
                 for w in wins]
        maxima = dask.compute(*tasks, **get)
        for name in tops:
            plan[name]["top"] = max(m[name] for m in maxima)

    p_max = np.full(pgrid.shape, np.nan, np.float32)
    p_mean = np.full(pgrid.shape, np.nan, np.float32)
    score = np.full(grid.shape, np.nan, np.float32) if keep_score else None
    batch = max(2, 2 * _workers(client))
    for b in range(0, len(wins), batch):  # bounded memory: a few tiles in flight
        part = wins[b:b + batch]
        tasks = [dask.delayed(_tile_score)(project, inputs, grid.window(*w), plan, coefs,
                                           baseline, k) for w in part]
        for w, (s, pmx, pmn) in zip(part, dask.compute(*tasks, **get), strict=True):
            r0, c0, nr, nc = w
            pr, pc = r0 // k, c0 // k
            p_max[pr:pr + nr // k, pc:pc + nc // k] = pmx
            p_mean[pr:pr + nr // k, pc:pc + nc // k] = pmn
            if score is not None:
                score[r0:r0 + nr, c0:c0 + nc] = s
            if on_tile:
                on_tile(w, s)
        if progress:
            progress(f"tiles {min(b + batch, len(wins))}/{len(wins)}")
    p_score = p_max if project.patrol_score == "max" else p_mean
    thr = class_thresholds(p_score, project.class_method, project.class_breaks)
    return TiledResult(grid, pgrid, p_max, p_mean, p_score, thr, classify(p_score, thr),
                       len(wins), min(chunk, max(grid.shape)), score,
                       {"compute_s": time.perf_counter() - t0}, plan)


def area_window(grid: Grid, k: int, geom) -> tuple[int, int, int, int]:
    """``(row0, col0, nrows, ncols)`` of ``geom``'s bounding box on ``grid``, in whole patrol cells.

    Every patrol cell a polygon can be labelled with (its centre inside, or
    touched on the district edge) lies within it, so the window holds the area;
    one patrol cell more on each side (within the grid) covers a polygon edge
    that falls exactly on a cell edge.
    """
    x0, y0, x1, y1 = geom.bounds
    p = grid.cell * k
    c0 = max(0, math.floor((x0 - grid.x0) / p) - 1)
    c1 = min(grid.ncols // k, math.ceil((x1 - grid.x0) / p) + 1)
    r0 = max(0, math.floor((grid.y0 - y1) / p) - 1)
    r1 = min(grid.nrows // k, math.ceil((grid.y0 - y0) / p) + 1)
    if c1 <= c0 or r1 <= r0:  # outside the grid: one patrol cell, empty of the area
        return 0, 0, k, k
    return r0 * k, c0 * k, (r1 - r0) * k, (c1 - c0) * k


def window_halo(project: Project, cell: float) -> int:
    """Analysis cells beyond a window's edge that its factors read (the largest reach)."""
    from riskmap.factors import halo_cells

    return max((halo_cells(s.reach, cell) for s in project.factors), default=0)


def window_surface(project: Project, inputs: Inputs, grid: Grid, win, plan: dict,
                   thresholds: np.ndarray) -> Surface:
    """Score one window of the district grid as a :class:`Surface` of its own.

    The window's cells get exactly the scores the whole grid (or the tiles)
    would: each factor reads only the features within its reach of the window
    (its halo) and uses ``plan``, the point method and density normaliser fixed
    for the whole district (:attr:`TiledResult.plan`). Classes use the
    district's ``thresholds``, so classes agree across windows. Township and
    village labels are those of the whole grid (per-cell rules).

    Parameters
    ----------
    project, inputs
    grid : Grid
        The district's analysis grid.
    win : tuple of int
        ``(row0, col0, nrows, ncols)`` on ``grid``, whole patrol cells.
    plan : dict
        Per factor ``{"splat_points": ..., "top": ...}``.
    thresholds : numpy.ndarray
        The district's class thresholds.

    Returns
    -------
    Surface
        On the window's grid (cells keep their coordinates, hence their ids).
    """
    if grid != district_grid(project, inputs.district):
        raise ValueError("window_surface: grid is not the district grid of the project")
    r0, c0, nr, nc = win
    return compute_window(project, inputs, slice(r0, r0 + nr), slice(c0, c0 + nc),
                          thresholds=np.asarray(thresholds, float), plan=plan)


def _client(scheduler):
    if scheduler and str(scheduler).startswith(("tcp://", "tls://", "inproc://")):
        try:
            from distributed import Client
        except ImportError as e:
            from riskmap.errors import RiskmapError

            raise RiskmapError("a scheduler address needs dask.distributed: "
                               "pip install 'riskmap[dask]'") from e
        return Client(scheduler)
    return None


def _workers(client) -> int:
    if client is None:
        import os

        return max(1, os.cpu_count() or 1)
    return max(1, len(client.scheduler_info().get("workers", {})))


def chunk_for_memory(memory_limit_mib: float, n_factors: int) -> int:
    """A tile side whose working set stays under ``memory_limit_mib`` per worker.

    A tile holds about (2 × factors + 8) float32 arrays of its size at once.
    """
    per_cell = 4 * (2 * n_factors + 8)
    return max(64, int(math.sqrt(memory_limit_mib * 2**20 / per_cell)))


def patrol_townships(inputs: Inputs, pgrid: Grid, p_area: np.ndarray) -> np.ndarray:
    """Township number (1-based, 0 = none) of every patrol cell of ``pgrid`` in the area.

    The same rule as the one-grid engine (centre inside, else a touching polygon),
    on the patrol grid alone: what the district's zones need, without the
    analysis grid.
    """
    return _patrol_labels(inputs.townships.geometry.values, pgrid, np.asarray(p_area, bool))
