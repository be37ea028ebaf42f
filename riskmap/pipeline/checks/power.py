"""The meter table and the expansion list, read and scored as ``power-check`` does.

The table is scored once (:func:`riskmap.models.power.check_power`: read,
placed, scored; no grid) and the result kept on the :class:`~.Run`, so that a
factor reading ``power:anomalies`` reuses it instead of reading the table again.
"""

from __future__ import annotations

import time

import shapely

from riskmap.models.power import AMBIGUOUS, UNPLACED, check_power, read_expansions
from riskmap.pipeline.checks import LAYER_COMMANDS, Run

__all__ = ["check_meters", "meter_commands"]


def meter_commands(run: Run) -> tuple[str, ...]:
    """The commands that read the meter table: power-check, and all if a factor reads it."""
    from riskmap.models.power import is_anomaly_source

    uses = any(is_anomaly_source(f.source) for f in run.project.factors)
    return ("power-check",) + (LAYER_COMMANDS if uses else ())


def check_meters(run: Run) -> None:
    """Score the meter table (kept on ``run``) and describe it and the expansion list."""
    p = run.project
    if not p.power:
        run.skip("power-check", "no power section (the meter table)")
        return
    used_by = meter_commands(run)
    row = run.row("power (电表台账)", p.power["source"], used_by)

    def score():
        try:
            run.power = check_power(p)
        except Exception as e:  # kept: a factor reading power:anomalies raises it again
            run.power_error = e
            raise

    t0 = time.perf_counter()
    run.attempt(row, score)
    run.timings["power_s"] = seconds = time.perf_counter() - t0
    if run.power is not None:
        _describe(run, row, seconds)
    expansions = p.power.get("expansions")
    if expansions is not None:
        _expansions(run, expansions, used_by)


def _describe(run: Run, row, seconds: float) -> None:
    r = run.power
    u, t = r.users, r.table
    s = r.summary()
    row.features = len(u)
    row.geom_types = "Point"
    row.crs = run.project.crs
    row.encoding = t.users.attrs.get("encoding") or ""
    placed = ~u["placed_by"].isin([UNPLACED, AMBIGUOUS]).to_numpy()
    if run.district is not None and placed.any():
        inside = shapely.intersects(u.geometry.values[placed], run.district).mean()
        row.extent = f"{inside:.0%} 在区内"
    run.note(row, f"{s['users']} 户 × {s['months']} 个月 ({s['first_month']} … "
                  f"{s['last_month']}); 定位 (placed by) "
                  + ", ".join(f"{k} {v}" for k, v in s["placed_by"].items())
                  + f"; {s['flagged']} 户 ≥ {s['min_score']:g} 分; 评分用时 (scored in) "
                    f"{seconds:.1f} s")
    run.note(row, *t.notes, *r.notes)


def _expansions(run: Run, source, used_by) -> None:
    row = run.row("power expansions (增容清单)", source, used_by)
    if run.power is None:
        return  # the meter table is refused (its months date the expansions)
    exp = run.attempt(row, read_expansions, source, run.power.table.months)
    if exp is None:
        return
    row.features = len(exp)
    known = exp["user_id"].isin(run.power.users["user_id"])
    run.note(row, f"{int(known.sum())} 个户号在电表台账中 (ids in the meter table), "
                  f"{int((~known).sum())} 个不在 (not in it)")
