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
  (a gap, not a zero), and without any return neither checked nor found;
- the **provenance** of the week's inspections and finds (planned, random,
  unplanned, tip, satellite, power, other: :mod:`riskmap.field.provenance`), as
  cells and shares;
- the **overdue** cells (class ≥ ``plan.min_class`` never checked or not for
  ``plan.overdue_weeks`` weeks, up to this week) per village, when the caller
  gives them (:func:`riskmap.field.effort.overdue_cells`: they need the scored
  surface).

The tables are written by :mod:`riskmap.export.weekly`. Cadres come from the
project's roster as it is now (``roster``, :class:`riskmap.load.roster.Roster`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from riskmap.field.history import History
from riskmap.field.provenance import LABELS, PROVENANCES
from riskmap.field.rules import NO_VILLAGE
from riskmap.field.week import Week
from riskmap.load.privacy import scrub_series

__all__ = ["CADRE_COLUMNS", "COLUMNS", "NO_CADRE", "OVERDUE_CELL_COLUMNS", "OVERDUE_COLUMNS",
           "PROVENANCE_COLUMNS", "WeeklySummary", "visit_numbers", "weekly_summary"]

COLUMNS = ["乡镇", "村", "计划网格", "计划内已查", "计划外排查", "发现网格", "完成率", "未上报"]
CADRE_COLUMNS = ["责任人", "乡镇", "村", "计划网格", "计划内已查", "发现网格", "完成率", "未上报村"]
PROVENANCE_COLUMNS = ["provenance", "checked", "share", "found", "share_found"]
OVERDUE_COLUMNS = ["乡镇", "村", "久未巡查", "从未排查", "最需补查"]
OVERDUE_CELL_COLUMNS = ["乡镇", "村", "网格编号", "等级", "风险分", "最近排查", "未查周数"]
#: overdue cells named per village in the HTML (the xlsx lists them all)
OVERDUE_SHOWN = 5
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
        ``village``, ``responsible``, ``date``, ``result``, ``provenance`` (its
        label), ``note`` (scrubbed).
    cadres : pandas.DataFrame
        :data:`CADRE_COLUMNS`, one row per responsible cadre.
    provenance : pandas.DataFrame
        :data:`PROVENANCE_COLUMNS`: per provenance (its label), the cells checked
        this week and their share, the find cells and their share; empty
        without inspections.
    overdue : pandas.DataFrame or None
        :data:`OVERDUE_COLUMNS` per village: overdue cells (never or not for
        ``overdue_weeks`` weeks), never checked, the best few by score; None
        when the caller could not give the overdue cells (said in ``notes``).
    overdue_cells : pandas.DataFrame
        :data:`OVERDUE_CELL_COLUMNS`, every overdue cell.
    overdue_weeks : int or None
        The ``plan.overdue_weeks`` they were counted with.
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
    overdue: pd.DataFrame | None = None
    overdue_cells: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=OVERDUE_CELL_COLUMNS))
    overdue_weeks: int | None = None


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
    name = df["cell_id"].astype(str).map(by_cell).astype(object)
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
                   roster=None, overdue: pd.DataFrame | None = None,
                   overdue_weeks: int | None = None) -> WeeklySummary:
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
    overdue : pandas.DataFrame, optional
        The overdue cells up to ``week`` (:func:`riskmap.field.effort.overdue_cells`:
        ``id``, ``township``, ``village``, ``class``, ``score``, ``last_week``,
        ``weeks_since``); without them the summary says they are not listed.
    overdue_weeks : int, optional
        The weeks they were counted with (``plan.overdue_weeks``), for the text.

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
    if overdue is not None:
        if townships:
            overdue = overdue[overdue["township"].isin(townships)]
        s.overdue, s.overdue_cells = _overdue(overdue)
        s.overdue_weeks = overdue_weeks
    outside = int(vdf["计划外排查"].sum()) if len(vdf) else 0
    if outside:
        s.notes.append(f"计划外排查 {outside} 个网格 (cells checked outside the plan)")
    if not len(plan):
        s.notes.append(f"{week} 没有巡查计划 (no plan this week): 完成率与未上报无从统计")
    return s


def _finds(plan: pd.DataFrame, insp: pd.DataFrame, roster) -> pd.DataFrame:
    """The week's find cells: number, id, place, cadre, date, result, provenance, note."""
    cols = ["cell_id", "township", "village", "date", "result", "note"]
    f = insp.loc[insp["found"], cols + (["provenance"] if "provenance" in insp else [])]
    prov = f["provenance"] if "provenance" in f else pd.Series(None, index=f.index, dtype=object)
    f = f.assign(provenance=prov.map({k: v for k, v in LABELS.items() if k}).fillna(""))
    no = plan.drop_duplicates(["township", "cell_id"]).set_index(["township", "cell_id"])["no"]
    idx = pd.MultiIndex.from_frame(f[["township", "cell_id"]])
    f = f.assign(no=pd.array(no.reindex(idx).to_numpy(), dtype="Int64"),
                 responsible=_cadres(f, roster).replace(NO_CADRE, ""))
    # field teams type names, phones and ID numbers into 备注: the summary is shared
    f = f.assign(note=scrub_series(f["note"].astype(object)))
    cols = ["no", "cell_id", "township", "village", "responsible", "date", "result", "provenance",
            "note"]
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
    """Checked and find cells of the week per provenance, and their shares.

    A cell checked twice in a week by different provenances counts for each.
    """
    if not len(insp):
        return pd.DataFrame(columns=PROVENANCE_COLUMNS)
    prov = insp["provenance"] if "provenance" in insp.columns else pd.Series(
        None, index=insp.index, dtype=object)
    df = insp.assign(_p=prov.astype(object).where(prov.notna(), "").astype(str))
    checked = df.drop_duplicates(["township", "cell_id", "_p"]).groupby("_p").size()
    found = df[df["found"]].drop_duplicates(["township", "cell_id", "_p"]).groupby("_p").size()
    order = [p for p in (*PROVENANCES, "") if p in checked.index]
    checked = checked.reindex(order)
    found = found.reindex(order).fillna(0).astype(int)
    nf = int(found.sum())
    return pd.DataFrame({
        "provenance": [LABELS.get(p or None, p) for p in order],
        "checked": checked.to_numpy(int),
        "share": (checked / checked.sum()).round(3).to_numpy(),
        "found": found.to_numpy(int),
        "share_found": (found / nf).round(3).to_numpy() if nf else np.full(len(order), np.nan),
    })[PROVENANCE_COLUMNS]


def _overdue(cells: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Overdue cells per village (counts and the best few by score), and the full list."""
    listed = pd.DataFrame({
        "乡镇": cells["township"].to_numpy(object), "村": cells["village"].to_numpy(object),
        "网格编号": cells["id"].to_numpy(object), "等级": cells["class"].to_numpy(int),
        "风险分": cells["score"].to_numpy(float),
        "最近排查": cells["last_week"].to_numpy(object),
        "未查周数": pd.array(cells["weeks_since"], dtype="Int64")})
    listed = listed.sort_values(["乡镇", "村", "风险分", "网格编号"],
                                ascending=[True, True, False, True]).reset_index(drop=True)
    if not len(listed):
        return pd.DataFrame(columns=OVERDUE_COLUMNS), listed[OVERDUE_CELL_COLUMNS]
    g = listed.groupby(["乡镇", "村"], sort=True)
    per = pd.DataFrame({
        "久未巡查": g.size(),
        "从未排查": g["未查周数"].apply(lambda w: int(w.isna().sum())),
        "最需补查": g["网格编号"].apply(lambda ids: "、".join(ids.iloc[:OVERDUE_SHOWN])
                                     + (" …" if len(ids) > OVERDUE_SHOWN else "")),
    }).reset_index()
    return per[OVERDUE_COLUMNS], listed[OVERDUE_CELL_COLUMNS]


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
