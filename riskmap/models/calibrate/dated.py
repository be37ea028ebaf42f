"""Dated factors of the rolling-origin design: each period from the data before it.

A factor whose rows carry dates (past cases, tips, the meter table's anomalies,
returned finds) is computed for every period of the design as of the period's
first day, from its rows dated before that day only. Where the data do not
reach back to a period (a meter table of the last 12 months), the factor is
*not covered* there: its column is 0 in that period, so its weight is fitted
on the periods it covers and the other factors' weights on all.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import numpy as np
import pandas as pd

from riskmap import factors
from riskmap.load.columns import column_dates
from riskmap.load.project import FactorSpec, Project
from riskmap.models.calibrate.candidates import (
    Cand,
    Column,
    cand_spec,
    own_shape,
    saturation_levels,
)
from riskmap.models.calibrate.periods import Periods, same_source
from riskmap.models.evaluate.incidents import drop_same_cases
from riskmap.score.engine import factor_on_grid

__all__ = ["NEAR_REPEAT", "RowsAt", "dated_cands", "dated_column", "dated_rows",
           "near_repeat_cands", "value_at"]

#: a function giving a factor's rows usable on a day (None: the data do not reach it)
RowsAt = Callable[[dt.date], object]
#: the rows' dates as read once (datetime64), carried with the rows of a dated factor
DAY = "_riskmap_day"
#: the near-repeat term: reaches (m, four bandwidths) and half-lives (days) tried
NEAR_REPEAT = {"ranges": (200.0, 400.0, 800.0), "half_lives": (15.0, 30.0, 60.0, 120.0)}


def _iso(dates: np.ndarray) -> pd.Series:
    """Dates as ISO text (NaT blank): the factor kinds read them fast and alike."""
    return pd.Series(np.where(np.isnat(dates), "", dates.astype("datetime64[D]").astype(str)),
                     dtype=object)


def dated_rows(project: Project, spec: FactorSpec, gdf, repeats: frozenset) -> RowsAt:
    """Rows of ``spec``'s layer dated before a day (for a factor with dates).

    The factor's ``date_field`` dates its rows, else the incidents'
    ``date_field`` when the factor is built on the incidents; the same case
    entered twice counts once. A row without a readable date is never used.
    """
    inc = project.incidents or {}
    from_inc = bool(inc) and same_source(spec.source, inc["source"])
    fld = spec.params.get("date_field") or (inc.get("date_field") if from_inc else None)
    if from_inc:
        gdf = drop_same_cases(gdf, fld, inc.get("case_field"), spec.source, repeats)[0]
    if not fld or fld not in gdf.columns:
        return lambda day: gdf
    d = column_dates(gdf[fld], str(fld))
    gdf = gdf.copy()
    gdf[fld] = _iso(d).to_numpy()
    gdf[DAY] = d
    ok = ~np.isnat(d)

    def rows(day):
        sel = ok & (d < np.datetime64(day, "D"))
        return gdf[sel] if sel.any() else None

    return rows


def dated_cands(spec: FactorSpec, ranges) -> list[Cand]:
    """Candidates of a dated factor: its own shape at each range."""
    kind = factors.kind_of(spec)
    if kind.range_param(spec.params) is None:
        return [Cand("")]
    own = own_shape(spec)
    if own == "density":
        return [Cand("density", float(r), spec.params.get("normalize", "max"),
                     spec.params.get("half_life_days")) for r in ranges]
    return [Cand(own, float(r)) for r in ranges]


def near_repeat_cands() -> list[Cand]:
    """Candidates of the near-repeat term (a density of recent cases)."""
    return [Cand("density", r, "max", h) for r in NEAR_REPEAT["ranges"]
            for h in NEAR_REPEAT["half_lives"]]


def _aged_name(half_life: float, day) -> str:
    return f"_riskmap_aged_{float(half_life):g}_{np.datetime64(day, 'D')}"


def with_ages(spec: FactorSpec, rows, day, half_lives) -> object:
    """``rows`` with the half-life weights of ``day`` as columns (one per half-life).

    The density kind ages its rows by re-reading their text dates on every
    call (:func:`riskmap.factors.age_weights`); a dated factor is computed for
    every period and candidate, so the weights are made here once per period
    from the dates read once (:data:`DAY`), by the same formula, times the
    factor's ``weight_field`` as the kind does.
    """
    if rows is None or DAY not in getattr(rows, "columns", ()) or spec.kind != "density":
        return rows
    need = [h for h in sorted({float(h) for h in half_lives if h})
            if _aged_name(h, day) not in rows.columns]
    if not need:
        return rows
    d = rows[DAY].to_numpy("datetime64[D]")
    age = (np.datetime64(day, "D") - d).astype("timedelta64[D]").astype(float)
    age[np.isnat(d)] = np.nan
    wf = spec.params.get("weight_field")
    w = rows[wf].astype(float).to_numpy() if wf else None
    cols = {}
    for h in need:
        with np.errstate(invalid="ignore"):
            a = np.where(age >= 0, 0.5 ** (age / h), 0.0)
        cols[_aged_name(h, day)] = a if w is None else w * a
    return rows.assign(**cols)


def value_at(spec: FactorSpec, c: Cand, rows, grid, cells, day, explain: bool = False):
    """Candidate ``c`` of ``spec`` on the cells as of ``day`` from ``rows`` (float32).

    With ``explain``, also the factor's explain values on the cells (a
    density's points per km², from which its saturated forms are made).
    """
    if rows is None or len(rows) == 0:
        z = np.zeros(len(cells), np.float32)
        return (z, z.copy()) if explain else z
    cs = cand_spec(spec, c)
    h = cs.params.get("half_life_days") if cs.kind == "density" else None
    if h and DAY in rows.columns:  # aged by the weights of with_ages (the same values)
        rows = with_ages(cs, rows, day, [h])
        cs = factors.with_params(cs, weight_field=_aged_name(h, day), half_life_days=None)
    f = factor_on_grid(cs, rows, grid, day)
    v = np.asarray(f.value.reshape(-1)[cells], np.float32)
    if explain:
        return v, np.asarray(np.asarray(f.explain).reshape(-1)[cells], np.float32)
    return v


def _saturated(cands: list[Cand], dens: dict, covered: np.ndarray):
    """Saturated forms of the density candidates, levels from the latest covered period.

    A density that stops rising at a level (``normalize`` in points per km², as
    for static densities: :data:`.candidates.SATURATIONS`) ranks the cells far
    from the cases by their distance to them, and holds the hot spots level: a
    concave form the linear predictor cannot make from the density itself. The
    levels are quantiles of the positive densities on the cells as of the last
    period's start (data before it only), fixed across periods (an absolute
    level, as the written project reads it). The CV chooses among them.
    """
    last = np.flatnonzero(covered)
    if not len(last):
        return [], []
    out_c, out_v = [], []
    for k, d in dens.items():
        c = cands[k]
        for s in saturation_levels(d[last[-1]])[1:]:
            out_c.append(Cand(c.shape, c.range, s, c.half_life))
            out_v.append(np.clip(d / np.float32(s), 0, 1).astype(np.float32))  # 0 where not covered
    return out_c, out_v


def dated_column(spec: FactorSpec, rows_at: RowsAt, grid, cells, periods: Periods,
                 cands: list[Cand], progress=None, saturations: bool = False) -> Column:
    """A dated factor per period: ``values[k][p]`` is candidate k as of period p's start.

    Periods the data do not reach (``rows_at`` None or no rows) are not covered:
    the column is 0 there. With ``saturations``, a density's candidates (at
    ``normalize: max``) are also tried saturated (:func:`_saturated`).
    """
    P, n = len(periods), len(cells)
    vals = [np.zeros((P, n), np.float32) for _ in cands]
    sat = saturations and spec.kind == "density"
    dens = {k: np.zeros((P, n), np.float32) for k, c in enumerate(cands)
            if sat and c.shape == "density" and c.norm in (None, "max")}
    covered = np.zeros(P, bool)
    for p, start in enumerate(periods.starts):
        rows = rows_at(start)
        if rows is None or len(rows) == 0:
            continue
        covered[p] = True
        if progress:
            progress(f"因子 {spec.label} {periods.labels()[p]}")
        rows = with_ages(spec, rows, start,
                         [cand_spec(spec, c).params.get("half_life_days") for c in cands])
        for k, c in enumerate(cands):
            if k in dens:
                vals[k][p], dens[k][p] = value_at(spec, c, rows, grid, cells, start, True)
            else:
                vals[k][p] = value_at(spec, c, rows, grid, cells, start)
    more_c, more_v = _saturated(cands, dens, covered)
    col = Column(spec.name, list(cands) + more_c, vals + more_v, dated=True,
                 own=frozenset(range(len(cands))), covered=covered)
    col.drop_flat()
    return col
