"""The incidents as ``calibrate`` and ``evaluate`` read them: judged, dated, merged, counted.

The layer itself is read with the other layers (:mod:`.layers`); here the same
functions as the two commands run on it: the backtest's
:func:`~riskmap.models.evaluate.read_incidents` and
:func:`~riskmap.models.evaluate.backtest.event_span`, calibration's
:func:`~riskmap.models.calibrate.design.incident_events`,
:func:`~riskmap.models.calibrate.design.time_split` and
:func:`~riskmap.models.calibrate.design.enough_events`, and the options of both.
"""

from __future__ import annotations

from riskmap.models.calibrate.design import (
    MIN_EVENTS,
    counted_events,
    enough_events,
    incident_events,
    time_split,
)
from riskmap.models.calibrate.options import options_from_project
from riskmap.models.evaluate import read_incidents
from riskmap.models.evaluate.backtest import event_span
from riskmap.models.evaluate.incidents import case_column
from riskmap.pipeline.checks import Run

__all__ = ["check_incidents"]


def check_incidents(run: Run) -> None:
    """Judge, date, merge and count the incidents as the two commands do."""
    p = run.project
    row = run.find("incidents")
    if not p.incidents:
        for cmd in ("calibrate", "evaluate"):
            run.skip(cmd, "no incidents section (the past cases)")
        return
    run.attempt(row, options_from_project, p, None, commands=("calibrate",))
    layer = run.cache.get(p.incidents["source"].key)
    if row is None or layer is None or run.district is None:
        return  # refused when read (or the district is): named there
    gdf = layer[0]
    _case_numbers(run, row, gdf)
    if not p.incidents.get("date_field"):
        run.skip("evaluate", "incidents.date_field is missing (a backtest splits by date)")
        run.note(row, "evaluate 需要 incidents.date_field (a backtest splits the cases by "
                      "date); calibrate uses every case, undated")
    else:
        _as_evaluate(run, row, gdf)
    _as_calibrate(run, row, gdf)


def _case_numbers(run: Run, row, gdf) -> None:
    """Which column tells one case from another (the same case twice counts once)."""
    inc = run.project.incidents
    col = run.attempt(row, case_column, gdf.columns, inc.get("case_field"), inc["source"],
                      commands=("calibrate", "evaluate"))
    if row.problems:
        return
    if col is None:
        run.note(row, "未找到案件编号列 (no case-number column such as 案件编号): a case "
                      "entered twice counts twice; name it with incidents.case_field")
    else:
        how = "incidents.case_field" if inc.get("case_field") else "detected by its header"
        run.note(row, f"识别 (detected): 案件编号列 {col!r} ({how}): the same number and date "
                      "count once")


def _as_evaluate(run: Run, row, gdf) -> None:
    inc = run.attempt(row, read_incidents, run.project, run.district, layer=gdf,
                      commands=("evaluate",))
    if inc is None:
        return
    span = run.attempt(row, event_span, run.project, inc, commands=("evaluate",))
    n = int((inc.event & inc.inside).sum())
    text = f"evaluate: {n} 个区内事件 (events inside the district)"
    if inc.negative.any():
        text += f", {int((inc.negative & inc.inside).sum())} 个伪变化 (verified negatives)"
    if span is not None:
        first, last, end = span
        text += (f"; 日期 {first} … {last}: --split 须在 {first} 之后、"
                 f"{min(last, end)} 及之前 (the split must fall after the first event and on "
                 "or before the last)")
    run.note(row, text)


def _as_calibrate(run: Run, row, gdf) -> None:
    p = run.project
    got = run.attempt(row, incident_events, p, gdf, run.district, None,
                      commands=("calibrate",))
    if got is None:
        return
    events, dates, _, _ = got
    events, period = time_split(p, events, dates, None)
    n = counted_events(p, run.district, events)
    run.attempt(row, enough_events, p, n, None, commands=("calibrate",))
    if n < MIN_EVENTS:
        return
    since = f" (from {period.split}, the cases before it feed the dated factors)" \
        if period.split else ""
    run.note(row, f"calibrate: {n:g} 个事件计入 (events counted){since}")
