"""The calibration design: patrol cells, events per cell, block folds and candidate columns.

:func:`patrol_design` counts the events on the patrol grid and deals the cells
into spatial folds; :func:`factor_columns` computes each factor at each
candidate range on the cells used. Both return plain arrays that
:func:`riskmap.models.calibrate.select.select` works on.
"""

from __future__ import annotations

import datetime as dt
import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import shapely

from riskmap import factors
from riskmap.errors import LayerError, ProjectFileError, RiskmapWarning
from riskmap.grid import Grid, burn
from riskmap.grid.blocks import blocks
from riskmap.load.columns import column_dates, required_dates
from riskmap.load.project import FactorSpec, Project, Source
from riskmap.models.calibrate.options import Options
from riskmap.models.evaluate.incidents import (
    case_column,
    drop_same_cases,
    repeated_rows,
    same_cases,
)
from riskmap.models.power import is_anomaly_source, read_anomaly_source
from riskmap.score.engine import factor_on_grid

__all__ = ["MIN_EVENTS", "Design", "Period", "block_folds", "count_per_cell", "counted_events",
           "enough_events", "factor_columns", "incident_events", "patrol_design", "range_param",
           "spec_with_range", "time_split"]

#: the fewest events (in the counted period) a calibration runs on
MIN_EVENTS = 10

@dataclass
class Design:
    """Cells inside the district on the patrol grid, with counts, folds and columns."""

    grid: Grid
    cells: np.ndarray  # flat indices (patrol grid) of the cells used
    offset: np.ndarray  # log of the cell's share inside the district
    y: np.ndarray  # events per cell
    fold: np.ndarray  # fold id per cell
    columns: dict  # factor name -> {R (float) or None: values per cell (float64)}


@dataclass
class Period:
    """The counted period, and the factors that must not see it."""

    dated: set[str]  # factors that see dates (a half-life, or the incidents themselves)
    split: dt.date | None = None  # first counted day; dated factors are computed as of it
    skip: dict[str, str] = field(default_factory=dict)  # factor -> why it is left out
    notes: list[str] = field(default_factory=list)
    repeats: frozenset = frozenset()  # table rows of incidents that repeat a case


def block_folds(grid: Grid, cells: np.ndarray, block_size: float, folds: int,
                seed: int) -> np.ndarray:
    """Fold id per cell: square blocks of ``block_size`` m dealt round-robin in seeded order."""
    bs = max(1, math.ceil(block_size / grid.cell - 1e-9))
    row, col = np.divmod(cells, grid.ncols)
    nbc = math.ceil(grid.ncols / bs)
    block = (row // bs) * nbc + (col // bs)
    ids = np.unique(block)
    order = np.random.default_rng(seed).permutation(len(ids))
    fold_of = np.empty(len(ids), np.int64)
    fold_of[order] = np.arange(len(ids)) % folds
    return fold_of[np.searchsorted(ids, block)]


def range_param(spec: FactorSpec) -> str | None:
    """The project key an influence range sets for this factor (None: no range, 'inside').

    Told by the factor's kind (:data:`riskmap.factors.KINDS`).
    """
    return factors.kind_of(spec).range_param(spec.params)


def spec_with_range(spec: FactorSpec, r: float | None) -> FactorSpec:
    """Copy of ``spec`` with influence range ``r`` (a density's bandwidth is ``r / 4``)."""
    return factors.with_range(spec, r)


def _same_source(a: Source, b: Source) -> bool:
    return (a.path, a.layer, a.where) == (b.path, b.layer, b.where)


# --- events ------------------------------------------------------------------------
def incident_events(project: Project, inc, district, until: dt.date | None):
    """Event geometries inside the district (and before ``until``) with their dates.

    A row with the same case number and date as an earlier one (the same case
    entered twice, :func:`riskmap.models.evaluate.incidents.same_cases`) counts once.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray or None, list of str, frozenset of int)
        Geometries, their ``datetime64[D]`` dates (None without
        ``incidents.date_field``), notes (the merged rows, named) and the table
        rows that repeat a case (for the factors built on the incidents).

    Raises
    ------
    LayerError
        A missing field, or event rows without a readable date (all named).
    """
    cfg = project.incidents
    src = cfg["source"]
    jf = cfg.get("judgement_field")
    if jf:
        if jf not in inc.columns:
            raise LayerError(f"{src}: no field {jf!r} (incidents.judgement_field)")
        j = inc[jf].astype(str).str.strip()
        inc = inc[j.str.startswith("违法").to_numpy()]
    df = cfg.get("date_field")
    dates, notes, repeats = None, [], set()
    if df:
        if df not in inc.columns:
            raise LayerError(f"{src}: no field {df!r} (incidents.date_field); fields: "
                             f"{', '.join(map(str, inc.columns[:-1]))}")
        dates = required_dates(inc, df, src)
        same = same_cases(inc, dates, case_column(inc.columns, cfg.get("case_field"), src))
        if same.groups:
            notes.append(same.note(src))
            warnings.warn(notes[-1], RiskmapWarning, stacklevel=2)
            repeats.update(repeated_rows(inc, same))
            inc, dates = inc[~same.repeat], dates[~same.repeat]
        if until is not None:
            keep = dates < np.datetime64(until, "D")
            inc, dates = inc[keep], dates[keep]
    elif until is not None:
        raise ProjectFileError(f"{project.path}: incidents.date_field: --until needs the "
                               "incidents' date column")
    geoms = inc.geometry.values
    pt = shapely.point_on_surface(geoms)
    inside = shapely.contains(district, pt) | shapely.touches(district, pt)
    geoms = np.asarray(geoms)[inside]
    if dates is not None:
        dates = dates[inside]
    return geoms, dates, notes, frozenset(repeats)


def count_per_cell(geoms, grid: Grid, events_as: str) -> np.ndarray:
    """Events per patrol cell (flat): centroids, or polygons spread by area share."""
    y = np.zeros(grid.size)
    if len(geoms) == 0:
        return y
    tid = shapely.get_type_id(geoms)
    poly = np.isin(tid, (3, 6))
    if events_as == "area" and poly.any():
        for g in geoms[poly]:
            x0, y0, x1, y1 = g.bounds
            r0, c0 = grid.rowcol(x0, y1)
            r1, c1 = grid.rowcol(x1, y0)
            rr, cc = np.meshgrid(np.arange(max(r0, 0), min(r1, grid.nrows - 1) + 1),
                                 np.arange(max(c0, 0), min(c1, grid.ncols - 1) + 1),
                                 indexing="ij")
            rr, cc = rr.ravel(), cc.ravel()
            xs = grid.x0 + cc * grid.cell
            ys = grid.y0 - rr * grid.cell
            boxes = shapely.box(xs, ys - grid.cell, xs + grid.cell, ys)
            a = shapely.area(shapely.intersection(boxes, g))
            if a.sum() > 0:
                np.add.at(y, rr * grid.ncols + cc, a / a.sum())
        geoms = geoms[~poly]
    if len(geoms):
        pts = shapely.point_on_surface(geoms)
        xy = shapely.get_coordinates(pts)
        r, c = grid.rowcol(xy[:, 0], xy[:, 1])
        ok = (r >= 0) & (r < grid.nrows) & (c >= 0) & (c < grid.ncols)
        y += np.bincount(r[ok] * grid.ncols + c[ok], minlength=grid.size)
    return y


def time_split(project: Project, events, dates, until: dt.date | None):
    """Split time at the median event date when dated factors would see their own cases.

    Returns
    -------
    (numpy.ndarray, Period)
        The events of the counted period, and the period.
    """
    inc_src = project.incidents["source"]
    period = Period({f.name for f in project.factors
                     if _same_source(f.source, inc_src)
                     or (f.kind == "density" and f.params.get("half_life_days"))})
    if not period.dated:
        return events, period
    if dates is None:
        for f in project.factors:
            if _same_source(f.source, inc_src):
                period.skip[f.name] = "built from the incidents themselves and they have no dates"
    elif len(events):
        median = float(np.median(dates.astype(np.int64)))
        period.split = np.datetime64(math.floor(median), "D").item()
        events = events[dates >= np.datetime64(period.split, "D")]
        period.notes.append(
            f"dated factors ({', '.join(sorted(period.dated - set(period.skip)))}) computed as "
            f"of {period.split} from data before it; events counted from {period.split} to "
            f"{until or 'the end'} (forecast design, no self-prediction)")
    return events, period


def patrol_design(project: Project, district, events, opts: Options,
                  until: dt.date | None) -> Design:
    """Patrol cells of the district (or holding an event), their counts and folds.

    The design's ``columns`` are left empty (see :func:`factor_columns`).

    Raises
    ------
    LayerError
        Fewer than 10 events inside the district.
    """
    fine, k, pgrid = _grids(project, district)
    share = blocks(burn.mask([district], fine), k).mean(axis=2).reshape(-1)
    y_all = count_per_cell(events, pgrid, project.incidents.get("events_as", "centroid"))
    cells = np.flatnonzero((share > 0) | (y_all > 0))
    y = y_all[cells]
    offset = np.log(np.maximum(share[cells], 1.0 / (k * k)))
    fold = block_folds(pgrid, cells, max(opts.block_size, pgrid.cell), opts.folds, opts.seed)
    enough_events(project, float(y.sum()), until)
    return Design(pgrid, cells, offset, y.astype(np.float64), fold, {})


def _grids(project: Project, district) -> tuple[Grid, int, Grid]:
    """The analysis grid over the district, cells per patrol cell, the patrol grid."""
    fine = Grid.from_bounds(district.bounds, project.cell_size, project.crs,
                            snap=project.patrol_cell_size)
    k = round(project.patrol_cell_size / project.cell_size)
    return fine, k, fine.coarsen(k)


def counted_events(project: Project, district, events) -> float:
    """The events the design counts (on the district's patrol grid), without burning it."""
    pgrid = _grids(project, district)[2]
    return float(count_per_cell(events, pgrid,
                                project.incidents.get("events_as", "centroid")).sum())


def enough_events(project: Project, n: float, until: dt.date | None) -> None:
    """Refuse a calibration on fewer than :data:`MIN_EVENTS` counted events.

    Raises
    ------
    LayerError
        Naming the incidents source and the count.
    """
    if n < MIN_EVENTS:
        raise LayerError(f"{project.incidents['source']}: only {int(n)} incident(s) "
                         f"inside the district {'before ' + str(until) if until else ''} for "
                         f"calibration; need ≥ {MIN_EVENTS}")


def _factor_rows(project: Project, spec: FactorSpec, gdf, period: Period,
                 until: dt.date | None):
    """The rows a factor may use: meter readings and incidents before the counted period."""
    cut = period.split or until
    if is_anomaly_source(spec.source) and cut is not None:
        # meter readings from the counted period on would predict its own cases
        try:
            gdf = read_anomaly_source(project, spec.source, until=cut)[0]
        except LayerError:
            gdf = gdf.iloc[:0]
        period.notes.append(f"{spec.name}: the meter table re-scored from readings before {cut}")
    if _same_source(spec.source, project.incidents["source"]):
        fld = spec.params.get("date_field") or project.incidents.get("date_field")
        # the same case entered twice counts once in the factor built on the cases too
        gdf = drop_same_cases(gdf, fld, project.incidents.get("case_field"), spec.source,
                              period.repeats)[0]
        if spec.name in period.dated and period.split is not None:
            gdf = gdf[column_dates(gdf[fld], str(fld)) < np.datetime64(period.split, "D")]
    return gdf


def factor_columns(project: Project, inputs, design: Design, period: Period,
                   until: dt.date | None, ranges, progress=None) -> list[str]:
    """Fill ``design.columns``: each factor at each candidate range, on the design's cells.

    Factors without variation inside the district at any range go to
    ``period.skip``.

    Returns
    -------
    list of str
        The factors that have columns, in project order.
    """
    as_of = until or project.as_of
    names = []
    for f in project.factors:
        if f.name in period.skip:
            continue
        gdf = _factor_rows(project, f, inputs.factors[f.name], period, until)
        f_as_of = period.split if f.name in period.dated and period.split is not None else as_of
        cols = {}
        for r in list(ranges) if range_param(f) else [None]:
            if progress:
                progress(f"因子 {f.label} R = {r:g} m" if r else f"因子 {f.label}")
            if len(gdf) == 0:
                v = np.zeros(design.grid.size)
            else:
                v = factor_on_grid(spec_with_range(f, r), gdf, design.grid,
                                   f_as_of).value.reshape(-1)
            col = np.asarray(v[design.cells], dtype=np.float64)
            if np.ptp(col) > 0:
                cols[r] = col
        if not cols:
            period.skip[f.name] = "no variation inside the district at any range"
            continue
        design.columns[f.name] = cols
        names.append(f.name)
    return names
