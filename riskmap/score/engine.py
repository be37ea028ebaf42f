"""The scoring core: from loaded layers to scored analysis and patrol cells.

Everything here is arrays on one :class:`~riskmap.grid.Grid`; no I/O.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np

from riskmap import factors
from riskmap.grid import Grid, burn
from riskmap.grid.blocks import argmax_in_blocks, block_max_mean, blocks
from riskmap.load.inputs import Inputs
from riskmap.load.project import FactorSpec, Project
from riskmap.score.memory import grid_budget, require_fits
from riskmap.score.overlay import accumulate_score, class_thresholds, classify, score_coefficients

log = logging.getLogger(__name__)


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
    thresholds: np.ndarray
    p_class: np.ndarray  # uint8, 0 outside
    timings: dict[str, float] = field(default_factory=dict)

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
    t = {}
    t0 = time.perf_counter()
    grid = district_grid(project, inputs.district)
    require_fits(grid_budget(grid, len(project.factors)), project.path)  # before any array
    k = round(project.patrol_cell_size / project.cell_size)
    pgrid = grid.coarsen(k)
    area = burn.mask([inputs.district], grid)

    # townships and villages are assigned per patrol cell (centre rule), so a
    # patrol cell always belongs wholly to one township and one village
    tnames = list(inputs.townships["name"])
    township = _patrol_labels(inputs.townships.geometry.values, grid, pgrid, k, area)
    vnames, village = [], np.zeros(pgrid.shape, np.int32)
    if inputs.villages is not None:
        v = inputs.villages
        vnames = list(v["name"])
        village = _patrol_labels(v.geometry.values, grid, pgrid, k, area)
    t["grid_s"] = time.perf_counter() - t0

    fs = {}
    methods = point_methods(project, inputs, grid)
    for spec in project.factors:
        if progress:
            progress(f"计算因子 {spec.label}")
        t1 = time.perf_counter()
        fs[spec.name] = factor_on_grid(spec, inputs.factors[spec.name], grid, project.as_of,
                                       splat_points=methods[spec.name])
        t[f"factor_{spec.name}_s"] = time.perf_counter() - t1

    t1 = time.perf_counter()
    coefs, baseline = score_coefficients({f.name: f.weight for f in project.factors})
    score = accumulate_score(((n, f.value, f.lazy) for n, f in fs.items()), coefs, baseline)
    score[~area] = np.nan
    p_max, p_mean = block_max_mean(score, k)
    p_score = p_max if project.patrol_score == "max" else p_mean
    thr = class_thresholds(p_score, project.class_method, project.class_breaks)
    p_class = classify(p_score, thr)
    t["score_s"] = time.perf_counter() - t1
    t["compute_s"] = time.perf_counter() - t0
    return Surface(grid, pgrid, k, area, tnames, township, vnames, village, fs, coefs, score,
                   baseline, p_max, p_mean, p_score, thr, p_class, t)


def _patrol_labels(geoms, grid, pgrid, k, area):
    idx = np.arange(1, len(geoms) + 1)
    centre = burn.labels(geoms, idx, pgrid)
    # patrol cells on the district edge whose centre misses every polygon take
    # the label of a polygon that touches them
    touched = burn.labels(geoms, idx, pgrid, all_touched=True)
    out = np.where(centre > 0, centre, touched).astype(np.int32)
    inside = blocks(area, k).any(axis=2)
    out[~inside] = 0
    return out

