"""The Chinese text of a score: reasons a person can check, and what was excused."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["SEASON_TEXT", "excused_text", "join_texts", "onset_text", "reasons"]

SEASON_TEXT = {"居民": "冬季采暖（11–3月）", "农业": "灌溉季（5–9月）"}


def onset_text(months: list[str], early, late, show) -> np.ndarray:
    """``2026-05``, or ``2026-05～2026-10`` when the months between say nothing."""
    lab = np.array([*months, ""], dtype=object)
    m = len(months)
    e, la = lab[np.minimum(early, m)], lab[np.minimum(late, m)]
    text = np.where((early == late) | (la == ""), e, e + "～" + la)
    return np.where(show, text, None)


def _fmt(fmt: str, values) -> np.ndarray:
    return np.char.mod(fmt, np.asarray(values, dtype=float))


def join_texts(parts: list[np.ndarray], sep: str = "；") -> np.ndarray:
    """Join per-user text arrays element-wise with ``sep``, skipping empty parts.

    Parameters
    ----------
    parts : list of numpy.ndarray
        Object arrays of the same length (``""`` where a part says nothing).
    sep : str
        Separator between non-empty parts.

    Returns
    -------
    numpy.ndarray
        Object array of text.
    """
    out = np.asarray(parts[0], dtype=object)
    for p in parts[1:]:
        p = np.asarray(p, dtype=object)
        glue = np.where((out != "") & (p != ""), sep, "")
        out = out + glue + p
    return out


def excused_text(cat, season_excess, excused_exp, exp_label) -> np.ndarray:
    """What was not counted: a legitimate season's excess, a declared expansion.

    Parameters
    ----------
    cat : numpy.ndarray
        Category per user.
    season_excess : numpy.ndarray
        Log excess of the user's legitimate-season months over the others.
    excused_exp : numpy.ndarray
        bool, True for users on the expansion list.
    exp_label : numpy.ndarray
        Declared month per user (``""`` when none).

    Returns
    -------
    numpy.ndarray
        Object array of Chinese text (``""`` when nothing was excused).
    """
    parts = []
    for c, text in SEASON_TEXT.items():
        big = (cat == c) & (np.nan_to_num(season_excess) > np.log(1.5))
        ratio = _fmt("%.1f", np.exp(np.nan_to_num(season_excess)))
        parts.append(np.where(big, text + "用电为平时的" + ratio.astype(object)
                              + "倍，按季节性用电不计", ""))
    parts.append(np.where(excused_exp, "已报装增容（" + exp_label.astype(str).astype(object)
                          + "），此后增长不计", ""))
    return join_texts(parts)


def reasons(o: pd.DataFrame, lvl, jmp, nig, night) -> np.ndarray:
    """The reasons of each user's score, in Chinese, with the figures behind them.

    Parameters
    ----------
    o : pandas.DataFrame
        The score columns (see :func:`riskmap.models.power.score.score_users`)
        with ``excused``.
    lvl, jmp, nig : numpy.ndarray
        Level, jump and night parts of the score (0–1; a reason is written
        where its part is above 0).
    night : numpy.ndarray or None
        Night share per user, when the table has one.

    Returns
    -------
    numpy.ndarray
        Object array of text, parts joined with ``；``.
    """
    peer = o["peer_level"].map({"村": "同村", "乡镇": "同乡镇", "全区": "全区"}).to_numpy(object)
    level = np.where(
        lvl > 0,
        "近期用电约" + _fmt("%.0f", o["level_kwh"]).astype(object) + " kWh/月，为" + peer
        + o["category"].to_numpy(object) + "用户中位数（"
        + _fmt("%.0f", o["peer_kwh"]).astype(object)
        + " kWh）的" + _fmt("%.1f", o["level_ratio"]).astype(object) + "倍（稳健z "
        + _fmt("%.1f", o["level_z"].fillna(0)).astype(object) + "）", "")
    onset = o["onset"].fillna("").to_numpy(object)
    jump = np.where(
        jmp > 0,
        onset + "起比本户此前中位数每月多" + _fmt("%.0f", o["step_kwh"]).astype(object) + " kWh（×"
        + _fmt("%.1f", o["step_ratio"]).astype(object) + "），此后" + _fmt(
            "%d", o["months_after"]).astype(object) + "个月中" + _fmt(
            "%d", o["months_above"]).astype(object) + "个月持续偏高", "")
    if night is not None:
        med = pd.Series(np.asarray(night)).groupby(o["category"].to_numpy()).transform("median")
        nt = np.where(nig > 0, "谷段（夜间）用电占" + _fmt("%.0f", 100 * np.nan_to_num(
            o["night_share"])).astype(object) + "%（同类中位" + _fmt(
            "%.0f", 100 * med.fillna(0)).astype(object) + "%）", "")
    else:
        nt = np.full(len(o), "", dtype=object)
    est = np.where(o["estimated"] > 0, "估抄" + _fmt("%d", o["estimated"]).astype(object)
                   + "个月（已与下次实抄合并平均）", "")
    unc = np.where(o["unclosed"] > 0, "其中" + _fmt("%d", o["unclosed"]).astype(object)
                   + "个月估抄未经实抄核实（不计）", "")
    blank = np.where(o["blank"] > 0, "缺抄" + _fmt("%d", o["blank"]).astype(object) + "个月", "")
    return join_texts([level, jump, nt, o["excused"].to_numpy(object), est, unc, blank])
