"""The weekly summary for leaders: planned, checked, found; who did not report.

From the history database (plans and ingested ledgers) for one ISO week, per
township and village: cells planned (latest plan run), planned cells checked,
cells checked outside the plan, cells with a find, and the villages that
returned nothing (未上报). The plan counts "not reported" as "nothing found", but
those villages are listed so that leaders can follow up. The trend covers the
last weeks (planned / checked / found). The tables are written by
:mod:`riskmap.export.weekly`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from riskmap.field.history import History
from riskmap.field.week import Week
from riskmap.load.privacy import scrub_series

__all__ = ["COLUMNS", "WeeklySummary", "weekly_summary"]

COLUMNS = ["乡镇", "村", "计划网格", "计划内已查", "计划外排查", "发现网格", "完成率", "未上报"]


@dataclass
class WeeklySummary:
    """One week's numbers."""

    week: Week
    villages: pd.DataFrame  # COLUMNS, one row per village
    townships: pd.DataFrame  # same columns, 村 = "合计"
    not_reported: list[tuple[str, str]]
    trend: pd.DataFrame  # week, planned, checked, found
    finds: pd.DataFrame  # cell_id, township, village, date, result, note
    notes: list[str] = field(default_factory=list)


def weekly_summary(history: History, week, *, weeks: int = 8, townships=None) -> WeeklySummary:
    """Count one week from the history database.

    Parameters
    ----------
    history : History
    week : Week or str
    weeks : int
        Weeks in the trend (ending with ``week``).
    townships : list of str, optional
        Only these townships (default: all with a plan or an inspection).

    Returns
    -------
    WeeklySummary
    """
    week = Week.parse(week)
    plan = history.planned(week)
    insp = history.inspections(week, week)
    if townships:
        plan = plan[plan["township"].isin(townships)]
        insp = insp[insp["township"].isin(townships)]
    insp = insp.fillna({"township": "(区外)", "village": "(未划村)"})
    keys = sorted(set(zip(plan["township"], plan["village"], strict=True))
                  | set(zip(insp["township"], insp["village"], strict=True)))
    planned_ids = set(zip(plan["township"], plan["cell_id"], strict=True))
    rows = []
    for t, v in keys:
        p = plan[(plan["township"] == t) & (plan["village"] == v)]
        i = insp[(insp["township"] == t) & (insp["village"] == v)]
        ids = set(i["cell_id"])
        pids = set(p["cell_id"])
        in_plan = len(ids & pids)
        rows.append({"乡镇": t, "村": v, "计划网格": len(pids), "计划内已查": in_plan,
                     "计划外排查": len(ids - pids),
                     "发现网格": i.loc[i["found"], "cell_id"].nunique(),
                     "未上报": bool(len(pids) and not len(i))})
    vdf = pd.DataFrame(rows, columns=[c for c in COLUMNS if c != "完成率"])
    vdf.insert(6, "完成率", _rate(vdf["计划内已查"], vdf["计划网格"]))
    if len(vdf):
        tdf = vdf.groupby("乡镇", sort=True).agg(
            {"计划网格": "sum", "计划内已查": "sum", "计划外排查": "sum", "发现网格": "sum",
             "未上报": "sum"}).reset_index()
        tdf.insert(1, "村", "合计")
        tdf.insert(6, "完成率", _rate(tdf["计划内已查"], tdf["计划网格"]))
        tdf["未上报"] = tdf["未上报"].astype(int)
    else:
        tdf = pd.DataFrame(columns=COLUMNS)
    not_rep = [(r["乡镇"], r["村"]) for _, r in vdf.iterrows() if r["未上报"]]
    trend = []
    for k in range(weeks - 1, -1, -1):
        w = week.shift(-k)
        pw = history.planned(w)
        iw = history.inspections(w, w)
        if townships:
            pw = pw[pw["township"].isin(townships)]
            iw = iw[iw["township"].isin(townships)]
        trend.append({"week": str(w), "planned": len(pw), "checked": iw["cell_id"].nunique(),
                      "found": iw.loc[iw["found"], "cell_id"].nunique()})
    finds = insp.loc[insp["found"], ["cell_id", "township", "village", "date", "result", "note"]]
    # field teams type names, phones and ID numbers into 备注: the summary is shared
    finds = finds.assign(note=scrub_series(finds["note"].astype(object)))
    s = WeeklySummary(week, vdf, tdf, not_rep, pd.DataFrame(trend), finds.reset_index(drop=True))
    outside = {(t, c) for t, c in zip(insp["township"], insp["cell_id"], strict=True)}
    if len(outside - planned_ids):
        s.notes.append(f"计划外排查 {len(outside - planned_ids)} 个网格 (cells checked outside the "
                       "plan)")
    return s


def _rate(done, planned) -> pd.Series:
    planned = pd.Series(planned, dtype=float)
    return (pd.Series(done, dtype=float) / planned.where(planned > 0)).round(3)
