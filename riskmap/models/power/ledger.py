"""The 供电台账 for the power company as a table: user ids, scores, reasons, advice.

Only the columns of :data:`LEDGER_COLUMNS` are built, from the scores (never
from the meter table's other columns), so the account holders' names, phones
and ID numbers cannot reach it. :mod:`riskmap.export.power` writes it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskmap.load.roster import Roster
from riskmap.models.power.anomalies import PowerResult
from riskmap.models.power.locate import AMBIGUOUS
from riskmap.models.power.reasons import join_texts

__all__ = ["LEDGER_COLUMNS", "ledger_frame"]

LEDGER_COLUMNS = ["序号", "户号", "类别", "乡镇", "村", "风险分", "异常起始", "定位", "异常说明",
                  "建议", "责任人", "核查结果"]


def _advice(users: pd.DataFrame) -> np.ndarray:
    """What to do about each user (建议), from its score, category and reasons."""
    hi = users["score"].to_numpy() >= 70
    dong = (users["category"] == "动力").to_numpy()
    night = users["reasons"].str.contains("谷段").to_numpy()
    vil = users["placed_by"].isin(["村委会", "村范围"]).to_numpy()
    est = users["reasons"].str.contains("估抄").to_numpy()
    twice = (users["placed_by"] == AMBIGUOUS).to_numpy()
    first = np.where(hi, "优先现场核查用电设备与实际用途（提升机、水泵、风机、照明）",
                     "安排现场核对用电性质与设备")
    parts = [first,
             np.where(dong, "核实是否办理报装增容", ""),
             np.where(night, "夜间突击查看", ""),
             np.where(vil, "台账无坐标：核实表箱位置并补录坐标", ""),
             np.where(twice, "村名在两个乡镇重复、台账无坐标和乡镇：核实所属乡镇并补录坐标", ""),
             np.where(est, "安排实抄核对", ""),
             np.where(hi, "发现非法采矿用电的，会同打非办依法中止供电", "")]
    return join_texts(parts)


def ledger_frame(result: PowerResult, *, min_score: float | None = None,
                 roster: Roster | None = None) -> pd.DataFrame:
    """The 供电台账 for the power company: user ids, no personal names.

    Only the columns of :data:`LEDGER_COLUMNS` are built (from scores, never
    from the meter table's other columns), so the account holders' names,
    phones and ID numbers cannot reach it.

    Parameters
    ----------
    result : PowerResult
    min_score : float, optional
        Default: ``power.min_score``.
    roster : Roster, optional
        The project's roster (:func:`riskmap.load.roster.read_roster`): the
        responsible cadre (责任人) of each user's (township, village); blank without.

    Returns
    -------
    pandas.DataFrame
    """
    ms = result.config.min_score if min_score is None else min_score
    u = result.users[result.users["score"] >= ms].reset_index(drop=True)
    if roster is None:
        resp = pd.Series([""] * len(u))
    else:  # one lookup per (township, village) pair, not per user
        pairs = pd.MultiIndex.from_arrays([u["township"].fillna(""), u["village"].fillna("")])
        names = {p: roster.lookup(p[0], p[1], None)[0] for p in pairs.unique()}
        resp = pd.Series([names[p] for p in pairs], dtype=object)
    return pd.DataFrame({
        "序号": np.arange(1, len(u) + 1),
        "户号": u["user_id"].astype(str).to_numpy(),
        "类别": u["category"].to_numpy(),
        "乡镇": u["township"].fillna("").to_numpy(),
        "村": u["village"].fillna("").to_numpy(),
        "风险分": u["score"].to_numpy(),
        "异常起始": u["onset"].fillna("").to_numpy(),
        "定位": u["placed_by"].to_numpy(),
        "异常说明": u["reasons"].to_numpy(),
        "建议": _advice(u),
        "责任人": resp.fillna("").to_numpy(),
        "核查结果": "",
    })[LEDGER_COLUMNS]
