"""The calibration design: patrol cells × periods, events per row, folds, candidate columns.

:func:`patrol_design` counts the events per patrol cell and period and deals
the cells into spatial folds; :func:`factor_columns` computes each factor's
candidates on the cells used — once for a static factor, per period for a
dated one. Both return plain arrays that
:func:`riskmap.models.calibrate.select.select` works on.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from riskmap import factors
from riskmap.grid import Grid, burn
from riskmap.grid.blocks import blocks
from riskmap.load.project import FactorSpec, Project
from riskmap.models.calibrate.candidates import Column, static_column
from riskmap.models.calibrate.dated import (
    dated_cands,
    dated_column,
    dated_rows,
    near_repeat_cands,
)
from riskmap.models.calibrate.events import (
    MIN_EVENTS,
    Events,
    _grids,
    count_per_cell,
    counted_events,
    enough_events,
    incident_events,
)
from riskmap.models.calibrate.options import Options
from riskmap.models.calibrate.panel import Extra
from riskmap.models.calibrate.periods import Period, Periods, time_split
from riskmap.models.evaluate.cells import block_folds
from riskmap.models.power import is_anomaly_source

__all__ = ["MIN_EVENTS", "NEAR_REPEAT_NAME", "Design", "Period", "block_folds",
           "count_per_cell", "counted_events", "enough_events", "factor_columns",
           "incident_events", "near_repeat_spec", "patrol_design", "range_param",
           "spec_with_range", "time_split"]

#: the name of the near-repeat term calibration adds
NEAR_REPEAT_NAME = "near_repeat"


@dataclass
class Design:
    """Cells inside the district on the patrol grid, per period, with folds and columns."""

    grid: Grid
    cells: np.ndarray  # flat indices (patrol grid) of the cells used
    offset: np.ndarray  # log of the cell's share inside the district
    y: np.ndarray  # (P, n) events per period and cell (weighted by provenance)
    fold: np.ndarray  # fold id per cell
    columns: dict  # factor name -> Column
    periods: Periods | None = None  # None: one undated period
    extra: Extra | None = None  # the field history's inspections (cells checked)
    n_events: float = 0.0  # events counted (unweighted)
    specs: dict = field(default_factory=dict)  # name -> FactorSpec (with the added terms)
    rows_at: dict = field(default_factory=dict)  # dated factor -> rows before a day

    w: np.ndarray | None = None  # weight per cell (a sample of the cells without events)

    @property
    def P(self) -> int:
        """Number of periods."""
        return self.y.shape[0]

    def sample(self, max_cells: int, seed: int) -> Design:
        """Every cell with an event and a seeded sample of the others, weighted to stand for all.

        The search for shapes and ranges runs on it; the fits that report run
        on every cell. The sample is drawn per fold (each keeps its share).
        """
        has = self.y.sum(0) > 0
        n_zero = int((~has).sum())
        room = max_cells - int(has.sum())
        if room >= n_zero or room <= 0:
            return self
        rng = np.random.default_rng(seed)
        keep = has.copy()
        w = np.ones(len(self.cells))
        for k in np.unique(self.fold):
            zk = np.flatnonzero(~has & (self.fold == k))
            m = max(1, round(room * len(zk) / n_zero))
            pick = rng.choice(zk, size=min(m, len(zk)), replace=False)
            keep[pick] = True
            w[pick] = len(zk) / len(pick)
        idx = np.flatnonzero(keep)
        cols = {}
        for n, c in self.columns.items():
            vals = [v[:, idx] if c.dated else v[idx] for v in c.values]
            cols[n] = Column(c.name, c.cands, vals, c.dated, c.own, c.covered, c.notes)
        ex = None if self.extra is None else self.extra.subset(idx)
        return Design(self.grid, self.cells[idx], self.offset[idx], self.y[:, idx],
                      self.fold[idx], cols, self.periods, ex, self.n_events, self.specs,
                      self.rows_at, w[idx])


def range_param(spec: FactorSpec) -> str | None:
    """The project key an influence range sets for this factor (None: no range, 'inside').

    Told by the factor's kind (:data:`riskmap.factors.KINDS`).
    """
    return factors.kind_of(spec).range_param(spec.params)


def spec_with_range(spec: FactorSpec, r: float | None) -> FactorSpec:
    """Copy of ``spec`` with influence range ``r`` (a density's bandwidth is ``r / 4``)."""
    return factors.with_range(spec, r)


def patrol_design(project: Project, district, events: Events, opts: Options,
                  until: dt.date | None, periods: Periods | None = None) -> Design:
    """Patrol cells of the district (or holding an event), their counts per period and folds.

    The design's ``columns`` are left empty (see :func:`factor_columns`).

    Raises
    ------
    LayerError
        Fewer than 10 events inside the district.
    """
    fine, k, pgrid = _grids(project, district)
    share = blocks(burn.mask([district], fine), k).mean(axis=2).reshape(-1)
    how = project.incidents.get("events_as", "centroid")
    n_all = count_per_cell(events.geoms, pgrid, how)
    enough_events(project, float(n_all.sum()), until)
    if periods is None:
        y_all = count_per_cell(events.geoms, pgrid, how, events.weight)[None, :]
    else:
        pi = periods.of(events.dates)
        y_all = np.stack([count_per_cell(events.geoms[pi == p], pgrid, how,
                                         events.weight[pi == p]) for p in range(len(periods))])
    cells = np.flatnonzero((share > 0) | (y_all.sum(0) > 0))
    offset = np.log(np.maximum(share[cells], 1.0 / (k * k)))
    fold = block_folds(pgrid, cells, max(opts.block_size, pgrid.cell), opts.folds, opts.seed)
    return Design(pgrid, cells, offset, y_all[:, cells].astype(np.float64), fold, {},
                  periods, n_events=float(n_all.sum()))


def near_repeat_spec(project: Project, name: str = NEAR_REPEAT_NAME) -> FactorSpec:
    """The near-repeat term: a density of the recent cases (the incidents layer itself)."""
    spec = FactorSpec(name=name, label="近期案件 (near repeat)",
                      source=project.incidents["source"], kind="density", weight=0.0,
                      params={"bandwidth": 100.0, "date_field": project.incidents["date_field"],
                              "half_life_days": 30.0})
    return factors.check_spec(spec, project.path)


def _rows_at(project: Project, spec: FactorSpec, gdf, period: Period, opts: Options,
             progress, meters: dict | None = None):
    """How the dated factor's rows are had for a day (None: the data do not reach it)."""
    if is_anomaly_source(spec.source):
        from riskmap.models.power.anomalies import anomalies_before

        return anomalies_before(project, opts.min_months, progress,
                                (meters or {}).get("inputs"))
    return dated_rows(project, spec, gdf, period.repeats)


def _coverage_note(col: Column, periods: Periods) -> str:
    if col.covered is None or col.covered.all():
        return ""
    lab = periods.labels()
    got = [lab[i] for i in np.flatnonzero(col.covered)]
    if not got:
        return "its data reach no period of the design"
    return (f"fitted on the {len(got)} of {len(lab)} periods its data cover ({got[0]}–{got[-1]});"
            " the other factors on all")


def factor_columns(project: Project, inputs, design: Design, period: Period,
                   until: dt.date | None, opts: Options, progress=None,
                   events_gdf=None, meters: dict | None = None) -> list[str]:
    """Fill ``design.columns``: each factor's candidates on the design's cells.

    Static factors are computed once (as of ``until``, else the project's
    ``as_of``); dated ones per period (:mod:`.dated`). Factors without variation
    inside the district go to ``period.skip``. With ``events_gdf`` (the dated
    events) and ``opts.near_repeat``, the near-repeat term is added.

    Returns
    -------
    list of str
        The factors that have columns, in project order (the near-repeat term last).
    """
    as_of = until or project.as_of
    names = []
    specs = [(f, inputs.factors.get(f.name)) for f in project.factors]
    nr = None
    if (opts.near_repeat and events_gdf is not None and design.periods is not None
            and len(design.periods) > 1):
        taken = {f.name for f in project.factors}
        nr_name = next(n for n in (NEAR_REPEAT_NAME, *(f"{NEAR_REPEAT_NAME}_{i}"
                                                       for i in range(2, 99))) if n not in taken)
        nr = near_repeat_spec(project, nr_name)
        specs.append((nr, events_gdf))
    for f, gdf in specs:
        if f.name in period.skip or gdf is None:
            continue
        design.specs[f.name] = f
        if progress:
            progress(f"因子 {f.label}")
        if design.periods is not None and (f.name in period.dated or f is nr):
            rows_at = _rows_at(project, f, gdf, period, opts, progress, meters)
            cands = near_repeat_cands() if f is nr else dated_cands(f, opts.ranges)
            col = dated_column(f, rows_at, design.grid, design.cells, design.periods, cands,
                               saturations=opts.shapes)
            design.rows_at[f.name] = rows_at
            note = _coverage_note(col, design.periods)
            if note:
                col.notes.append(note)
        else:
            col = static_column(f, gdf, design.grid, design.cells, as_of, opts.ranges,
                                opts.shapes)
        if not col.cands:
            period.skip[f.name] = ("no variation inside the district at any range"
                                   if not col.notes else col.notes[0])
            continue
        design.columns[f.name] = col
        names.append(f.name)
    return names
