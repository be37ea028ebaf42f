"""Calibration of a project: read, build the design, select, report per factor."""

from __future__ import annotations

import datetime as dt
import math
import os
import time

from riskmap.errors import LayerError, ProjectFileError
from riskmap.load.project import Project
from riskmap.load.values import date_of
from riskmap.models.calibrate.design import (
    factor_columns,
    incident_events,
    patrol_design,
    range_param,
    time_split,
)
from riskmap.models.calibrate.options import (
    DEFAULT_PENALTIES,
    PRIOR_PENALTIES,
    options_from_project,
)
from riskmap.models.calibrate.result import CalibrationResult, FactorResult
from riskmap.models.calibrate.select import select

__all__ = ["calibrate", "cpu_note"]


def calibrate(project: Project, *, until=None, seed: int | None = None,
              progress=None) -> CalibrationResult:
    """Calibrate the project's factor weights and ranges from its incidents.

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

    inputs = load_inputs(project, progress=progress)
    inc, _ = read_source(project.incidents["source"], project.crs)
    events, dates, read_notes, repeats = incident_events(project, inc, inputs.district, until)
    timings["read_s"] = time.perf_counter() - t0

    # grids: patrol cells, their share inside the district (from analysis cells)
    t1 = time.perf_counter()
    events, period = time_split(project, events, dates, until)
    period.repeats = repeats
    design = patrol_design(project, inputs.district, events, opts, until)
    timings["grid_s"] = time.perf_counter() - t1

    # candidate columns, one factor raster per (factor, range)
    t1 = time.perf_counter()
    names = factor_columns(project, inputs, design, period, until, opts.ranges, progress)
    timings["factors_s"] = time.perf_counter() - t1
    if not names:
        raise LayerError("no factor varies inside the district; nothing to calibrate")

    t1 = time.perf_counter()
    penalties = opts.penalty or (PRIOR_PENALTIES if prior else DEFAULT_PENALTIES)
    sel = select(design, names, folds=opts.folds, penalties=penalties,
                 prior=({n: prior[n] for n in names if n in prior} if prior else None),
                 progress=progress)
    timings["fit_s"] = time.perf_counter() - t1

    out, pos = _factor_results(project, sel, period.skip)
    timings["total_s"] = time.perf_counter() - t0
    notes = read_notes + period.notes
    if pos <= 0:
        notes.append("no kept factor raises risk: the data do not support a map from these "
                     "factors")
    return CalibrationResult(
        project=project, factors=out, intercept=sel["intercept"], penalty=sel["penalty"],
        penalty_cv=sel["penalty_cv"], cv_deviance=sel["cv"], null_cv_deviance=sel["null_cv"],
        n_events=int(design.y.sum()), n_cells=len(design.cells), options=opts, until=until,
        split=period.split, ahp=ahp_res, prior_scale=sel["prior_scale"], notes=notes,
        timings=timings)


def _ahp_prior(project: Project):
    """The project's AHP result and its signed weights (the ridge centre), or ``(None, None)``."""
    if not project.ahp:
        return None, None
    from riskmap.models.ahp import ahp_from_project

    ahp_res = ahp_from_project(project)
    sign = {f.name: (-1.0 if f.weight < 0 else 1.0) for f in project.factors}
    return ahp_res, {n: sign[n] * w for n, w in ahp_res.weight_of().items()}


def _factor_results(project: Project, sel: dict, skip: dict) -> tuple[list[FactorResult], float]:
    """One result per project factor (in project order), and the sum of positive β."""
    out = []
    pos = sum(b for b in sel["coef"].values() if b > 0)
    for f in project.factors:
        key = range_param(f)
        fr = FactorResult(f.name, f.label, f.kind, key,
                          None if key is None else float(f.params.get(key)), f.weight)
        if f.name in skip:
            fr.reason = skip[f.name]
            out.append(fr)
            continue
        fr.range = sel["ranges"][f.name]
        fr.cv_by_range = sel["cv_by_range"].get(f.name, {})
        fr.cv_without = sel["cv_without"].get(f.name, math.nan)
        fr.prior_beta = sel["prior_beta"].get(f.name)
        fr.data_beta = sel["data_beta"].get(f.name)
        if f.name in sel["coef"]:
            fr.beta, fr.se, fr.kept = sel["coef"][f.name], sel["se"][f.name], True
            fr.weight = round(100.0 * fr.beta / pos, 2) if pos > 0 else 0.0
            fr.reason = "RR 95 % CI excludes 1"
        else:
            fr.reason, fr.beta, fr.se = sel["dropped"][f.name]
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
