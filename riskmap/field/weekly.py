"""The weekly summary for leaders: this week's finds, planned against checked, who did not report.

From the history database (plans and ingested ledgers) for one ISO week:

- **finds**: the cells found this week (发现疑似 / 发现非法采矿 / 已取缔), with the plan's
  visit number when the cell was planned and the responsible cadre; the teams'
  notes scrubbed of names, phones and ID numbers;
- **planned vs checked**, per township, per village and per responsible cadre:
  cells planned (latest plan run), planned cells checked, cells checked outside
  the plan, cells with a find, the share done, and the villages that returned
  nothing (未上报). The plan counts "not reported" as "nothing found", but those
  villages are listed so that leaders can follow up;
- the **trend** of the last weeks: a week without a plan has no planned count
  (a gap, not a zero), and without any return neither checked nor found.

The tables are written by :mod:`riskmap.export.weekly`. Cadres come from the
project's roster as it is now (``roster``, :class:`riskmap.load.roster.Roster`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from riskmap.field.history import History
from riskmap.field.rules import NO_VILLAGE
from riskmap.field.week import Week
from riskmap.load.privacy import scrub_series

__all__ = ["CADRE_COLUMNS", "COLUMNS", "NO_CADRE", "WeeklySummary", "visit_numbers",
           "weekly_summary"]

COLUMNS = ["乡镇", "村", "计划网格", "计划内已查", "计划外排查", "发现网格", "完成率", "未上报"]
CADRE_COLUMNS = ["责任人", "乡镇", "村", "计划网格", "计划内已查", "发现网格", "完成率", "未上报村"]
#: the cadre of cells nobody in the roster answers for
NO_CADRE = "(未指定)"
_SEP = "\x1f"


@dataclass
class WeeklySummary:
    """One week's numbers.

    Attributes
    ----------
    week : Week
    villages : pandas.DataFrame
        :data:`COLUMNS`, one row per village with a plan or a return.
    townships : pandas.DataFrame
        Same columns, 村 = "合计".
    not_reported : list of (str, str)
        (township, village) planned with nothing returned.
    trend : pandas.DataFrame
        ``week``, ``planned``, ``checked``, ``found`` (NaN for a week without a plan,
        resp. without any return) and ``has_plan``.
    finds : pandas.DataFrame
        ``no`` (visit number, NA when unplanned), ``cell_id``, ``township``,
        ``village``, ``responsible``, ``date``, ``result``, ``note`` (scrubbed).
    cadres : pandas.DataFrame
        :data:`CADRE_COLUMNS`, one row per responsible cadre.
    provenance : pandas.DataFrame
        ``provenance``, ``cells``, ``share`` of this week's finds, when the history
        records where a find came from; else empty.
    """

    week: Week
    villages: pd.DataFrame
    townships: pd.DataFrame
    not_reported: list[tuple[str, str]]
    trend: pd.DataFrame
    finds: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    cadres: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=CADRE_COLUMNS))
    provenance: pd.DataFrame = field(default_factory=pd.DataFrame)


def visit_numbers(plan: pd.DataFrame) -> pd.Series:
    """The plan's visit numbers (:attr:`riskmap.field.plan.PlanCell.no`) of planned cells.

    The plan numbers a township's cells village after village (villages by name,
    the unassigned ones last) in each village's visiting order (``seq``), so the
    stored rows give them back.
    """
    if not len(plan):
        return pd.Series([], dtype="Int64", index=plan.index)
    last = plan["village"].eq(NO_VILLAGE) | plan["village"].eq(plan["township"])
    order = plan.assign(_last=last).sort_values(["township", "_last", "village", "seq"])
    return (order.groupby("township", sort=False).cumcount() + 1).reindex(plan.index)


def _cadres(df: pd.DataFrame, roster) -> pd.Series:
    """The responsible cadre of each row (``township``, ``village``, ``cell_id``)."""
    if roster is None or not len(df):
        return pd.Series(NO_CADRE, index=df.index, dtype=object)
    by_cell = {k: v[0] for k, v in roster.by_cell.items() if v[0]}
    both = {f"{t}{_SEP}{v}": n[0] for (t, v), n in roster.by_village.items() if t and n[0]}
    only = {v: n[0] for (t, v), n in roster.by_village.items() if t is None and n[0]}
    name = df["cell_id"].astype(str).map(by_cell)
    key = df["township"].astype(str) + _SEP + df["village"].astype(str)
    name = name.fillna(key.map(both)).fillna(df["village"].astype(str).map(only))
    return name.fillna(NO_CADRE)


def _counts(plan: pd.DataFrame, insp: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Planned, checked in and outside the plan, found, per group of ``keys`` (vectorised).

    A checked cell is "in the plan" when the same group planned it.
    """
    ident = list(dict.fromkeys(["township", *keys, "cell_id"]))
    p = plan.drop_duplicates(ident)
    checked = insp.drop_duplicates(ident)
    in_plan = pd.MultiIndex.from_frame(checked[ident]).isin(pd.MultiIndex.from_frame(p[ident]))
    found = insp[insp["found"]].drop_duplicates(ident)
    out = pd.DataFrame({
        "计划网格": p.groupby(keys).size(),
        "计划内已查": checked[in_plan].groupby(keys).size(),
        "计划外排查": checked[~in_plan].groupby(keys).size(),
        "发现网格": found.groupby(keys).size(),
        "返回": checked.groupby(keys).size(),
    })
    return out.fillna(0).astype(int)


def _rate(done, planned) -> pd.Series:
    planned = pd.Series(planned, dtype=float)
    return (pd.Series(done, dtype=float) / planned.where(planned > 0)).round(3)


def weekly_summary(history: History, week, *, weeks: int = 8, townships=None,
                   roster=None) -> WeeklySummary:
    """Count one week from the history database.

    Parameters
    ----------
    history : History
    week : Week or str
    weeks : int
        Weeks in the trend (ending with ``week``).
    townships : list of str, optional
        Only these townships (default: all with a plan or an inspection).
    roster : riskmap.load.roster.Roster, optional
        Who answers for which village or cell (the per-cadre table).

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
    plan = plan.reset_index(drop=True)
    insp = insp.fillna({"township": "(区外)", "village": NO_VILLAGE}).reset_index(drop=True)
    plan = plan.assign(no=visit_numbers(plan), cadre=_cadres(plan, roster))
    vc = _counts(plan, insp, ["township", "village"])
    vdf = vc.reset_index().rename(columns={"township": "乡镇", "village": "村"})
    vdf["未上报"] = (vdf["计划网格"] > 0) & (vdf["返回"] == 0)
    vdf["完成率"] = _rate(vdf["计划内已查"], vdf["计划网格"])
    vdf = vdf.sort_values(["乡镇", "村"]).reset_index(drop=True)[COLUMNS]
    if len(vdf):
        tdf = vdf.groupby("乡镇", sort=True).agg(
            {"计划网格": "sum", "计划内已查": "sum", "计划外排查": "sum", "发现网格": "sum",
             "未上报": "sum"}).reset_index()
        tdf.insert(1, "村", "合计")
        tdf.insert(6, "完成率", _rate(tdf["计划内已查"], tdf["计划网格"]))
        tdf["未上报"] = tdf["未上报"].astype(int)
    else:
        tdf = pd.DataFrame(columns=COLUMNS)
    not_rep = list(zip(vdf.loc[vdf["未上报"], "乡镇"], vdf.loc[vdf["未上报"], "村"],
                       strict=True))
    s = WeeklySummary(week, vdf, tdf, not_rep, _trend(history, week, weeks, townships),
                      _finds(plan, insp, roster), cadres=_cadre_table(plan, insp, vdf),
                      provenance=_provenance(insp))
    outside = int(vdf["计划外排查"].sum()) if len(vdf) else 0
    if outside:
        s.notes.append(f"计划外排查 {outside} 个网格 (cells checked outside the plan)")
    if not len(plan):
        s.notes.append(f"{week} 没有巡查计划 (no plan this week): 完成率与未上报无从统计")
    return s


def _finds(plan: pd.DataFrame, insp: pd.DataFrame, roster) -> pd.DataFrame:
    """The week's find cells: number, id, place, cadre, date, result, note (scrubbed)."""
    f = insp.loc[insp["found"], ["cell_id", "township", "village", "date", "result", "note"]]
    no = plan.drop_duplicates(["township", "cell_id"]).set_index(["township", "cell_id"])["no"]
    idx = pd.MultiIndex.from_frame(f[["township", "cell_id"]])
    f = f.assign(no=pd.array(no.reindex(idx).to_numpy(), dtype="Int64"),
                 responsible=_cadres(f, roster).replace(NO_CADRE, ""))
    # field teams type names, phones and ID numbers into 备注: the summary is shared
    f = f.assign(note=scrub_series(f["note"].astype(object)))
    cols = ["no", "cell_id", "township", "village", "responsible", "date", "result", "note"]
    return f.sort_values(["township", "no", "cell_id"], na_position="last")[cols].reset_index(
        drop=True)


def _cadre_table(plan: pd.DataFrame, insp: pd.DataFrame, vdf: pd.DataFrame) -> pd.DataFrame:
    """Planned against checked per responsible cadre (the cadres of the planned cells)."""
    if not len(plan):
        return pd.DataFrame(columns=CADRE_COLUMNS)
    who = plan.drop_duplicates(["township", "cell_id"])[["township", "cell_id", "cadre"]]
    i = insp.merge(who, on=["township", "cell_id"], how="inner")
    c = _counts(plan, i, ["cadre"])
    villages = plan.groupby("cadre")[["township", "village"]].apply(
        lambda g: "、".join(dict.fromkeys(g["village"])))
    late = vdf[vdf["未上报"]]
    late_of = plan.merge(late.rename(columns={"乡镇": "township", "村": "village"})[
        ["township", "village"]], on=["township", "village"]).drop_duplicates(
        ["cadre", "township", "village"]).groupby("cadre").size()
    towns = plan.groupby("cadre")["township"].agg(lambda t: "、".join(dict.fromkeys(t)))
    out = pd.DataFrame({"责任人": c.index, "乡镇": towns.reindex(c.index).to_numpy(),
                        "村": villages.reindex(c.index).to_numpy(),
                        "计划网格": c["计划网格"].to_numpy(),
                        "计划内已查": c["计划内已查"].to_numpy(),
                        "发现网格": c["发现网格"].to_numpy()})
    out["完成率"] = _rate(out["计划内已查"], out["计划网格"])
    out["未上报村"] = late_of.reindex(c.index).fillna(0).astype(int).to_numpy()
    # the least done first: that is whom a leader calls
    out = out.sort_values(["完成率", "责任人"], na_position="first").reset_index(drop=True)
    return out[CADRE_COLUMNS]


def _provenance(insp: pd.DataFrame) -> pd.DataFrame:
    """Shares of this week's find cells by where they came from (if the history says)."""
    if "provenance" not in insp.columns or not insp["found"].any():
        return pd.DataFrame(columns=["provenance", "cells", "share"])
    f = insp[insp["found"]].drop_duplicates(["township", "cell_id"])
    n = f["provenance"].fillna("(未记录)").value_counts()
    return pd.DataFrame({"provenance": n.index, "cells": n.to_numpy(),
                         "share": (n / n.sum()).round(3).to_numpy()})


def _trend(history: History, week: Week, weeks: int, townships) -> pd.DataFrame:
    """Planned / checked / found per week; NaN where a week had no plan (resp. no return)."""
    rows = []
    for k in range(weeks - 1, -1, -1):
        w = week.shift(-k)
        pw = history.planned(w)
        iw = history.inspections(w, w)
        if townships:
            pw = pw[pw["township"].isin(townships)]
            iw = iw[iw["township"].isin(townships)]
        has_plan, returned = bool(len(pw)), bool(len(iw))
        rows.append({"week": str(w), "planned": len(pw) if has_plan else np.nan,
                     "checked": iw["cell_id"].nunique() if has_plan or returned else np.nan,
                     "found": (iw.loc[iw["found"], "cell_id"].nunique()
                               if has_plan or returned else np.nan),
                     "has_plan": has_plan})
    return pd.DataFrame(rows, columns=["week", "planned", "checked", "found", "has_plan"])
