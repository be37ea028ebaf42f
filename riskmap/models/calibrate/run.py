"""Calibration of a project: read, build the design, select, add terms, report per factor."""

from __future__ import annotations

import datetime as dt
import math
import os
import time

from riskmap.errors import LayerError, ProjectFileError
from riskmap.load.project import Project
from riskmap.load.values import date_of
from riskmap.models.calibrate.candidates import cand_params
from riskmap.models.calibrate.design import factor_columns, patrol_design, range_param
from riskmap.models.calibrate.events import read_events
from riskmap.models.calibrate.options import (
    DEFAULT_PENALTIES,
    PRIOR_PENALTIES,
    options_from_project,
)
from riskmap.models.calibrate.periods import time_split
from riskmap.models.calibrate.residual import residual_term
from riskmap.models.calibrate.result import CalibrationResult, FactorResult
from riskmap.models.calibrate.select import select

__all__ = ["calibrate", "cpu_note"]


def calibrate(project: Project, *, until=None, seed: int | None = None,
              progress=None) -> CalibrationResult:
    """Calibrate the project's factor weights, shapes and ranges from its incidents.

    Parameters
    ----------
    project : Project
        Needs ``incidents`` (points, or polygons with ``judgement_field``).
    until : datetime.date or str, optional
        Use incidents dated strictly before this day (needs ``incidents.date_field``);
        text is read as every command reads dates (:func:`riskmap.load.values.date_of`).
    seed : int, optional
        Seed of the fold assignment (default: ``calibration.seed``, else 0).
    progress : callable, optional
        Called with a short message per step.

    Returns
    -------
    CalibrationResult

    Raises
    ------
    ProjectFileError
        No incidents section, bad ``calibration`` or ``ahp`` options.
    LayerError
        Unreadable dates, too few events inside the district.
    """
    from riskmap.load.inputs import load_inputs
    from riskmap.load.layers import read_source

    t0 = time.perf_counter()
    timings = {}
    opts = options_from_project(project, seed)
    if not project.incidents:
        raise ProjectFileError(f"{project.path}: incidents: calibration needs a dated "
                               "incidents layer (incidents.source, incidents.date_field)")
    until = _as_date(until, project)
    ahp_res, prior = _ahp_prior(project)

    from riskmap.load.sources import DERIVED
    from riskmap.models.power.anomalies import shared_reader

    power_reader, meters = shared_reader(progress)
    inputs = load_inputs(project, progress=progress, derived={**DERIVED, "power": power_reader})
    inc, _ = read_source(project.incidents["source"], project.crs)
    events = read_events(project, inc, inputs.district, until, opts)
    timings["read_s"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    _, period = time_split(project, events.geoms, events.dates, until, opts.period)
    period.repeats = events.repeats
    design = patrol_design(project, inputs.district, events, opts, until, period.periods)
    history = _history_rows(project, design, opts, progress)
    timings["grid_s"] = time.perf_counter() - t1

    t1 = time.perf_counter()
    names = factor_columns(project, inputs, design, period, until, opts, progress,
                           _events_gdf(project, events), meters)
    timings["factors_s"] = time.perf_counter() - t1
    if not names:
        raise LayerError("no factor varies inside the district; nothing to calibrate")

    t1 = time.perf_counter()
    penalties = opts.penalty or (PRIOR_PENALTIES if prior else DEFAULT_PENALTIES)
    added = [n for n in names if n not in {f.name for f in project.factors}]
    sel = select(design, names, folds=opts.folds, penalties=penalties,
                 prior=({n: prior[n] for n in names if n in prior} if prior else None),
                 signs={**opts.signs, **dict.fromkeys(added, 1)}, progress=progress,
                 design_seed=opts.seed)
    resid = residual_term(design, sel, progress) if opts.residual else None
    timings["fit_s"] = time.perf_counter() - t1

    out, pos = _factor_results(project, design, sel, period.skip, resid)
    notes = events.notes + period.notes + _design_notes(design, period, events)
    if history and history.get("note"):
        notes.append(history["note"])
    if pos <= 0:
        notes.append("no kept factor raises risk: the data do not support a map from these "
                     "factors")
    res = CalibrationResult(
        project=project, factors=out, intercept=sel["intercept"], penalty=sel["penalty"],
        penalty_cv=sel["penalty_cv"],
        cv_deviance=resid.cv if resid is not None else sel["cv"],
        null_cv_deviance=sel["null_cv"], n_events=round(design.n_events),
        n_cells=len(design.cells), options=opts, until=until, split=None, ahp=ahp_res,
        prior_scale=sel["prior_scale"], notes=notes, timings=timings,
        periods=design.periods.labels() if design.periods else [],
        weighted_events=float(design.y.sum()), provenance=events.provenance, history=history,
        levels=sel["levels"], residual=resid, design_grid=design.grid,
        specs={n: f for n, f in design.specs.items()
               if n not in {g.name for g in project.factors}})
    res._design, res._sel = design, sel  # for the interval (drawn on demand)
    if opts.bootstrap:
        from riskmap.models.calibrate.interval import draw_interval

        t1 = time.perf_counter()
        res.interval = draw_interval(res, until or project.as_of, opts.bootstrap, opts.seed)
        timings["interval_s"] = time.perf_counter() - t1
    timings["total_s"] = time.perf_counter() - t0
    return res


def _events_gdf(project: Project, events):
    """The dated events as a point layer (the near-repeat term's rows), or None."""
    if events.dates is None or not len(events):
        return None
    import geopandas as gpd
    import shapely

    fld = project.incidents["date_field"]
    return gpd.GeoDataFrame({fld: events.dates.astype("datetime64[D]").astype(str)},
                            geometry=shapely.point_on_surface(events.geoms), crs=project.crs)


def _history_rows(project: Project, design, opts, progress):
    """The field history's inspections as extra rows of the design (when there are any)."""
    if not opts.history or design.periods is None:
        return None
    from riskmap.models.calibrate.effort import history_rows

    return history_rows(project, design, progress)


def _design_notes(design, period, events) -> list[str]:
    if design.periods is None:
        return ["one undated period: the incidents have no dates, so no factor is computed "
                "from data before the cases it is scored on"]
    lab = design.periods.labels()
    dated = sorted(n for n, c in design.columns.items() if c.dated)
    text = (f"rolling origin: {len(lab)} periods ({lab[0]}–{lab[-1]}), every one of the "
            f"{round(design.n_events)} events counted in its period")
    if dated:
        text += (f"; dated factors ({', '.join(dated)}) computed for each period from data "
                 "before its first day; one Poisson fit over cell × period with period levels")
    return [text]


def _ahp_prior(project: Project):
    """The project's AHP result and its signed weights (the ridge centre), or ``(None, None)``."""
    if not project.ahp:
        return None, None
    from riskmap.models.ahp import ahp_from_project

    ahp_res = ahp_from_project(project)
    sign = {f.name: (-1.0 if f.weight < 0 else 1.0) for f in project.factors}
    return ahp_res, {n: sign[n] * w for n, w in ahp_res.weight_of().items()}


def _shape_cv(col, tot) -> dict:
    out = {}
    for c, v in zip(col.cands, tot, strict=True):
        out[c.shape or "as is"] = min(out.get(c.shape or "as is", math.inf), float(v))
    return out


def _range_cv(col, tot, shape) -> dict:
    out = {}
    for c, v in zip(col.cands, tot, strict=True):
        if c.range is not None and c.shape == shape:
            out[c.range] = min(out.get(c.range, math.inf), float(v))
    return out


def _one(design, sel, f, pos) -> FactorResult:
    key = range_param(f)
    fr = FactorResult(f.name, f.label, f.kind, key,
                      None if key is None else float(f.params.get(key)), f.weight)
    col = design.columns[f.name]
    c = col.cands[sel["choice"][f.name]]
    fr.shape, fr.form, fr.dated = c.shape, c.text(), col.dated
    fr.changes = cand_params(f, c)
    from riskmap.models.calibrate.candidates import cand_spec

    fr.param = range_param(cand_spec(f, c))
    fr.range = c.range
    tot = sel["cv_by_cand"].get(f.name)
    if tot is not None:
        fr.cv_by_shape = _shape_cv(col, tot)
        fr.cv_by_range = _range_cv(col, tot, c.shape)
    fr.cv_without = sel["cv_without"].get(f.name, math.nan)
    fr.periods = "; ".join(col.notes)
    fr.prior_beta = sel["prior_beta"].get(f.name)
    fr.data_beta = sel["data_beta"].get(f.name)
    if f.name in sel["coef"]:
        fr.beta, fr.se, fr.kept = sel["coef"][f.name], sel["se"][f.name], True
        fr.weight = round(100.0 * fr.beta / pos, 2) if pos > 0 else 0.0
        fr.reason = "RR 95 % CI excludes 1"
    else:
        fr.reason, fr.beta, fr.se = sel["dropped"][f.name]
    return fr


def _factor_results(project: Project, design, sel: dict, skip: dict, resid
                    ) -> tuple[list[FactorResult], float]:
    """One result per project factor (project order), the added terms, and Σ positive β."""
    out = []
    pos = sum(b for b in sel["coef"].values() if b > 0)
    if resid is not None:
        pos += resid.beta_value
    for f in project.factors:
        if f.name in skip or f.name not in design.columns:
            key = range_param(f)
            fr = FactorResult(f.name, f.label, f.kind, key,
                              None if key is None else float(f.params.get(key)), f.weight)
            fr.reason = skip.get(f.name, "no variation inside the district")
            out.append(fr)
            continue
        out.append(_one(design, sel, f, pos))
    for name, f in design.specs.items():
        if name in {g.name for g in project.factors} or name not in design.columns:
            continue
        fr = _one(design, sel, f, pos)
        fr.added, fr.source = True, f.source
        if not fr.kept:
            fr.reason = "not kept: " + fr.reason
        out.append(fr)
    if resid is not None:
        fr = FactorResult("residual", "未解释的空间风险 (residual)", "raster", None, None, 0.0)
        fr.beta, fr.se, fr.kept, fr.added = resid.beta_value, math.nan, True, True
        fr.weight = round(100.0 * fr.beta / pos, 2) if pos > 0 else 0.0
        fr.shape, fr.form = "raster", f"kernel-smoothed residuals, h {resid.bandwidth:g} m"
        fr.cv_without = resid.cv_without
        fr.reason = (f"held-out deviance {resid.cv_without:.1f} → {resid.cv:.1f} "
                     f"(bandwidth {resid.bandwidth:g} m, κ {resid.prior:g})")
        out.append(fr)
    return out, pos


def _as_date(v, project) -> dt.date | None:
    """``--until`` as a date, read by the one date parser."""
    try:
        return date_of(v, "--until")
    except ValueError:
        raise ProjectFileError(f"{project.path}: --until {v!r} is not a date like "
                               "2025-12-01") from None


def cpu_note() -> str:
    """Cores available to this process (for timing reports)."""
    try:
        return f"{len(os.sched_getaffinity(0))} cores"
    except AttributeError:  # pragma: no cover - not Linux
        return f"{os.cpu_count()} cores"


def kept_beta(res: CalibrationResult) -> dict:
    """β of every kept factor and term (the map ranks cells by ``Σ β x``)."""
    return {f.name: f.beta for f in res.factors if f.kept}

