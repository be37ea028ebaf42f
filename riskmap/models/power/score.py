"""Scores of meter users (0–100) with reasons a person can check; vectorised over users.

The score of a user combines, all on ``log(kWh + 30)`` (the 30 kWh offset damps
near-empty meters):

* **level** — the robust z (median/MAD) of the user's recent level against the
  peers of the same category in the same village (else township, else the
  district; at least :data:`PEER_MIN` users);
* **jump** — the largest step between the user's own median before and after a
  month (the onset), as a robust z against the category's month-to-month
  noise, times the **persistence** (share of the months after the onset that
  stay above the old level);
* **magnitude** — the extra kWh per month (a hoist, a pump and a fan draw
  hundreds to thousands of kWh a month; a vacant house that is lived in again
  does not), which scales the score down when the excess is small;
* **night load** (optional) — the robust z of the share of night (谷段) energy
  against the category, which adds to users that already show level or jump.

Known legitimate patterns are not anomalies by themselves: each category's
typical seasonal shape is removed (and what the users of a category in one
village share beyond it: a whole village's electric heating), and in the months of :data:`SEASONS`
(winter electric heating of 居民, summer irrigation of 农业) a user's excess is
not counted as evidence; growth of a 动力 user on the declared expansion list
is taken out from the declared month on. Estimated readings (估抄) are merged
with the next real reading (their mean), so a catch-up reading is no jump.
The shape of each series is kept for :mod:`.evidence`: ``steady`` (a step
that then stays flat, like a new machine) and ``ended`` (the month a step fell
back to the old level). Loops run over months only.
"""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pandas as pd

from riskmap.errors import LayerError
from riskmap.load.sources.meters import PowerTable
from riskmap.models.power.reasons import excused_text, onset_text, reasons

__all__ = ["LEVEL_MONTHS", "LOG_OFFSET", "MAGNITUDE_KWH", "MIN_SCALE", "PEER_MIN", "SEASONS",
           "STEADY_SPREAD", "VILLAGE_MIN",
           "naive_jump", "peer_groups", "reconcile_estimates", "robust_z", "score_users",
           "table_until"]

#: months (1–12) in which a category's excess is legitimate and not counted
SEASONS = {"居民": (11, 12, 1, 2, 3), "农业": (5, 6, 7, 8, 9)}
#: kWh added before the log: damps the log ratios of near-empty meters
LOG_OFFSET = 30.0
#: fewest users of a peer group (category × village, township or district)
PEER_MIN = 15
#: how many of the latest valid months make a user's level
LEVEL_MONTHS = 4
#: extra kWh per month at which the magnitude factor reaches 1
MAGNITUDE_KWH = 600.0
#: smallest robust scale (log units) of a peer group, against tiny MADs
MIN_SCALE = 0.15
#: users of a category in a village sharing a seasonal pattern for it to be taken out
VILLAGE_MIN, VILLAGE_SHRINK = 4, 5.0
#: robust spread (log) of the months after a step under which the step is "flat"
STEADY_SPREAD = 0.12


# --------------------------------------------------------------------------- statistics
def robust_z(values, groups=None, *, min_scale: float = 0.0) -> np.ndarray:
    """Robust z: ``(v - median) / (1.4826 * MAD)`` within groups.

    Parameters
    ----------
    values : array_like
        Numbers (NaN ignored and kept).
    groups : array_like, optional
        Group label per value (default: one group).
    min_scale : float
        Lower bound of the scale ``1.4826 * MAD`` (a group of equal values
        would otherwise divide by zero).

    Returns
    -------
    numpy.ndarray
        float64; NaN where the value is NaN or the scale is 0.
    """
    v = pd.Series(np.asarray(values, dtype=float))
    g = pd.Series(np.zeros(len(v), dtype=int) if groups is None else np.asarray(groups))
    med = v.groupby(g).transform("median")
    mad = (v - med).abs().groupby(g).transform("median")
    scale = np.maximum(1.4826 * mad.to_numpy(), min_scale)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(scale > 0, (v - med).to_numpy() / scale, np.nan)


def reconcile_estimates(kwh: np.ndarray, estimated: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Spread each run of estimated readings and the real reading after it evenly.

    A clerk's estimate (估抄) is followed by a real reading that carries the
    difference; the total over the run is right, the months are not. Each run
    and the real reading that closes it get their mean. Estimates that no real
    reading closes (at the end of the table) become blank.

    Parameters
    ----------
    kwh : numpy.ndarray
        ``(users, months)`` readings, NaN blank.
    estimated : numpy.ndarray
        Same shape, True for estimated readings.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Reconciled readings, and a mask of the estimates left unclosed.
    """
    k = np.asarray(kwh, dtype=float)
    e = np.asarray(estimated, dtype=bool) & ~np.isnan(k)
    real = ~e & ~np.isnan(k)
    # block = estimates + the next real reading: count real readings from the right
    block = np.cumsum(real[:, ::-1], axis=1)[:, ::-1]
    unclosed = e & (block == 0)
    use = (e | real) & ~unclosed
    u, j = np.nonzero(use)
    s = pd.DataFrame({"u": u, "b": block[u, j], "v": k[u, j], "e": e[u, j]})
    g = s.groupby(["u", "b"])
    has_est = g["e"].transform("any").to_numpy()
    mean = g["v"].transform("mean").to_numpy()
    out = k.copy()
    out[u[has_est], j[has_est]] = mean[has_est]
    out[unclosed] = np.nan
    return out, unclosed


def _nanmedian(a: np.ndarray, axis: int = 1) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(a, axis=axis)


def peer_groups(category, village, township, min_size: int = PEER_MIN
                ) -> tuple[np.ndarray, np.ndarray]:
    """Peer group of each user: category × village, else × township, else category.

    Parameters
    ----------
    category, village, township : array_like
        Per user (village/township may be None).
    min_size : int
        Fewest users of a group.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Group key (text) and level (``村``, ``乡镇`` or ``全区``) per user.
    """
    cat = pd.Series(np.asarray(category, dtype=object)).fillna("未知").astype(str)
    vil = pd.Series(np.asarray(village, dtype=object)).fillna("").astype(str)
    town = pd.Series(np.asarray(township, dtype=object)).fillna("").astype(str)
    kv, kt = cat + "|村|" + vil, cat + "|镇|" + town
    nv = kv.map(kv.value_counts()).where(vil != "", 0)
    nt = kt.map(kt.value_counts()).where(town != "", 0)
    key = np.where(nv >= min_size, kv, np.where(nt >= min_size, kt, cat + "|全区"))
    level = np.where(nv >= min_size, "村", np.where(nt >= min_size, "乡镇", "全区"))
    return key, level


# --------------------------------------------------------------------------- steps of a score
def _deseasonalise(y: np.ndarray, cat: np.ndarray, village=None) -> np.ndarray:
    """``y`` less its category's seasonal shape, then less its village peers' own one.

    The category's shape is the median user's deviation per month; what the
    users of one category in one village share beyond it (electric heating of
    a whole village, a new irrigation scheme) is their median, shrunk by
    ``n / (n + VILLAGE_SHRINK)`` and taken out where at least
    :data:`VILLAGE_MIN` users share it.
    """
    dev = y - _nanmedian(y)[:, None]
    shape = pd.DataFrame(dev).groupby(cat).median()
    counts = pd.Series(cat).value_counts()
    small = counts.index[counts < PEER_MIN]
    shape.loc[shape.index.isin(small)] = pd.DataFrame(dev).median().to_numpy()
    s = shape.reindex(cat).fillna(0.0).to_numpy()
    if village is None:
        return y - s
    key = pd.Series(cat).astype(str) + "|" + pd.Series(np.asarray(village, dtype=object)
                                                      ).fillna("").astype(str).to_numpy()
    n = key.map(key.value_counts()).to_numpy()
    resid = pd.DataFrame(dev - s)
    vshape = resid.groupby(key.to_numpy()).transform("median").to_numpy()
    w = np.where((n >= VILLAGE_MIN) & (pd.Series(np.asarray(village, dtype=object)).notna()
                                       .to_numpy()), n / (n + VILLAGE_SHRINK), 0.0)
    return y - s - np.nan_to_num(vshape) * w[:, None]


def _season_mask(cat: np.ndarray, calendar: np.ndarray) -> np.ndarray:
    """``(users, months)``: True in the months where a category's excess is legitimate."""
    season = np.zeros((len(cat), len(calendar)), dtype=bool)
    for c, mons in SEASONS.items():
        season |= (cat == c)[:, None] & np.isin(calendar, mons)[None, :]
    return season


def _rebase_expansions(ze: np.ndarray, user_ids: np.ndarray, expansions: pd.DataFrame | None
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Take a declared expansion's growth out from its month on (``ze`` changed in place).

    Returns which users were excused and the declared month of each (``""``).
    """
    n, m = ze.shape
    excused = np.zeros(n, dtype=bool)
    label = np.full(n, "", dtype=object)
    if expansions is None or not len(expansions):
        return excused, label
    e = expansions[expansions["j"] >= 0].drop_duplicates("user_id", keep="last")
    pos = pd.Series(np.arange(n), index=user_ids)
    pos = pos[~pos.index.duplicated()]
    hit = e[e["user_id"].isin(pos.index)]
    ui = pos.loc[hit["user_id"]].to_numpy()
    if len(ui):
        after = np.arange(m)[None, :] >= hit["j"].to_numpy()[:, None]
        rows = ze[ui]
        before_med = _nanmedian(np.where(~after, rows, np.nan))
        after_med = _nanmedian(np.where(after, rows, np.nan))
        lift = np.nan_to_num(np.maximum(after_med - before_med, 0.0))
        ze[ui] = np.where(after, rows - lift[:, None], rows)
        excused[ui] = True
        label[ui] = hit["month"].to_numpy()
    return excused, label


def _noise(ze: np.ndarray, cat: np.ndarray) -> np.ndarray:
    """Per user, its category's robust spread of month-to-month changes (log units)."""
    m = ze.shape[1]
    diff = np.diff(ze, axis=1)
    dlong = pd.DataFrame({"c": np.repeat(cat, m - 1), "d": diff.ravel()}).dropna()
    noise = dlong.groupby("c")["d"].agg(lambda d: 1.4826 * np.median(np.abs(d - np.median(d))))
    return np.maximum(noise.reindex(cat).fillna(0.3).to_numpy() / np.sqrt(2), 0.05)


def _jump(ze: np.ndarray, sigma: np.ndarray) -> dict[str, np.ndarray]:
    """The change point of each user: the split with the largest balanced step of medians."""
    n, m = ze.shape
    valid = ~np.isnan(ze)
    best_t = np.full(n, -np.inf)
    onset = np.full(n, -1)
    step = np.zeros(n)
    for j in range(2, m - 1):
        nb, na = valid[:, :j].sum(1), valid[:, j:].sum(1)
        ok = (nb >= 2) & (na >= 2)
        d = _nanmedian(ze[:, j:]) - _nanmedian(ze[:, :j])
        t = np.where(ok, d * np.sqrt(nb * na / np.maximum(nb + na, 1)), -np.inf)
        better = t > best_t
        best_t[better], onset[better], step[better] = t[better], j, d[better]
    has = onset >= 0
    oj = np.where(has, onset, m)
    after_mask = np.arange(m)[None, :] >= oj[:, None]
    before = _nanmedian(np.where(~after_mask, ze, np.nan))
    after = _nanmedian(np.where(after_mask, ze, np.nan))
    months_after = (valid & after_mask).sum(1)
    months_above = (valid & after_mask & (ze > (before + np.maximum(step, 0) / 2)[:, None])).sum(1)
    # onset for the report: between the last month at or below the midpoint and
    # the first month above it after the split; a range when months between
    # are blank or in a legitimate season (the rise may have started there)
    cols = np.arange(m)[None, :]
    mid = (before + np.maximum(step, 0) / 2)[:, None]
    late = np.where(valid & (ze > mid) & (cols >= oj[:, None]), cols, m).min(1)
    early = np.where(valid & (ze <= mid) & (cols < late[:, None]), cols, -1).max(1) + 1
    early = np.minimum(early, late)
    late = np.where(valid & (ze > mid) & (cols >= early[:, None]), cols, m).min(1)
    post = np.where(valid & after_mask, ze, np.nan)
    spread = 1.4826 * _nanmedian(np.abs(post - _nanmedian(post)[:, None]))
    # a step that ended: its last months (two at least) back at or below the midpoint
    low = valid & (ze <= mid) & (cols >= late[:, None])
    high_then = valid & (ze > mid) & (cols >= oj[:, None])
    last_high = np.where(high_then, cols, -1).max(1)
    tail_low = (low & (cols > last_high[:, None])).sum(1)
    tail_valid = (valid & (cols > last_high[:, None])).sum(1)
    ended = np.where(has & (months_above >= 2) & (tail_low >= 2) & (tail_low == tail_valid),
                     last_high + 1, -1)
    return {
        "spread": spread, "ended": ended,
        "has": has, "step": step, "early": early, "late": late,
        "months_after": months_after, "months_above": months_above,
        "persist": np.where(months_after > 0, months_above / np.maximum(months_after, 1), 0.0),
        "jump_z": np.where(has, np.maximum(best_t, 0) / (1.25 * sigma), 0.0),
        # deseasonalised log level -> (kWh + offset)
        "step_kwh": np.where(has, np.exp(after) - np.exp(before), 0.0),
        "step_ratio": np.where(has, np.exp(after - before), 1.0),
    }


def _level(ze: np.ndarray, cat: np.ndarray, users: pd.DataFrame) -> dict[str, np.ndarray]:
    """The latest valid months of each user against its peers."""
    valid = ~np.isnan(ze)
    from_right = np.cumsum(valid[:, ::-1], axis=1)[:, ::-1]
    recent = valid & (from_right <= LEVEL_MONTHS)
    level = _nanmedian(np.where(recent, ze, np.nan))
    key, peer_level = peer_groups(cat, users["village"], users["township"])
    peer_med = pd.Series(level).groupby(key).transform("median").to_numpy()
    return {
        "level_z": robust_z(level, key, min_scale=MIN_SCALE),
        "level_kwh": np.exp(level) - LOG_OFFSET,
        "peer_kwh": np.exp(peer_med) - LOG_OFFSET,
        "level_ratio": np.exp(level - peer_med),
        "peer_level": peer_level,
    }


def _combine(lev: dict, jmp_: dict, night_z: np.ndarray):
    """Score (0–100) and the parts that made it: level, jump and night, each 0–1."""
    lvl = np.clip((np.nan_to_num(lev["level_z"]) - 2.0) / 4.0, 0, 1)
    jmp = np.clip((jmp_["jump_z"] - 2.0) / 4.0, 0, 1) * jmp_["persist"] * (jmp_["step"] > 0)
    core = np.maximum(lvl, jmp) * 0.8 + np.minimum(lvl, jmp) * 0.2 + np.where(
        (lvl > 0) & (jmp > 0), 0.2, 0.0)
    nig = np.clip((np.nan_to_num(night_z) - 2.0) / 4.0, 0, 1) * (core > 0)
    extra = np.maximum(np.nan_to_num(lev["level_kwh"] - lev["peer_kwh"]),
                       np.nan_to_num(jmp_["step_kwh"]) * (jmp > 0))
    mag = np.clip(extra / MAGNITUDE_KWH, 0, 1)
    score = 100.0 * mag * np.minimum(1.0, core + 0.15 * nig)
    return np.round(np.nan_to_num(score), 1), lvl, jmp, nig


# --------------------------------------------------------------------------- scoring
def score_users(table: PowerTable, expansions: pd.DataFrame | None = None) -> pd.DataFrame:
    """Score every user of a meter table (vectorised over users).

    Parameters
    ----------
    table : PowerTable
        From :func:`riskmap.load.sources.meters.read_power_table` (``township``
        may have been filled from the village polygons).
    expansions : pandas.DataFrame, optional
        From :func:`riskmap.load.sources.meters.read_expansions`: the growth of
        these users from their declared month on is not counted.

    Returns
    -------
    pandas.DataFrame
        One row per user, in table order: ``user_id``, ``category``, ``village``,
        ``township``, ``score`` (0–100), ``level_z``, ``level_ratio``,
        ``level_kwh`` (recent kWh/month), ``peer_kwh`` (peers' median),
        ``peer_level`` (村/乡镇/全区), ``jump_z``, ``step_kwh`` (extra kWh/month
        after the onset), ``step_ratio``, ``onset`` (month label or None),
        ``months_above``, ``months_after``, ``night_share``, ``night_z``,
        ``estimated``, ``blank``, ``excused`` and ``reasons`` (Chinese text).
    """
    users = table.users
    n = len(users)
    cat = users["category"].astype(str).to_numpy()
    k, unclosed = reconcile_estimates(table.kwh, table.estimated)
    z = _deseasonalise(np.log(k + LOG_OFFSET), cat, users["village"].to_numpy())
    # legitimate seasons: excess there is no evidence
    season = _season_mask(cat, table.calendar)
    ze = np.where(season, np.nan, z)
    season_excess = _nanmedian(np.where(season, z, np.nan)) - _nanmedian(ze)
    excused_exp, exp_label = _rebase_expansions(ze, users["user_id"].to_numpy(), expansions)
    jmp_ = _jump(ze, _noise(ze, cat))
    lev = _level(ze, cat, users)
    night = table.night_share
    night_z = np.full(n, np.nan) if night is None else robust_z(night, cat, min_scale=0.03)
    score, lvl, jmp, nig = _combine(lev, jmp_, night_z)

    out = pd.DataFrame({
        "user_id": users["user_id"].to_numpy(),
        "category": cat,
        "village": users["village"].to_numpy(),
        "township": users["township"].to_numpy(),
        "score": score,
        "level_z": np.round(lev["level_z"], 2),
        "level_ratio": np.round(lev["level_ratio"], 2),
        "level_kwh": np.round(lev["level_kwh"], 0),
        "peer_kwh": np.round(lev["peer_kwh"], 0),
        "peer_level": lev["peer_level"],
        "jump_z": np.round(jmp_["jump_z"], 2),
        "step_kwh": np.round(jmp_["step_kwh"], 0),
        "step_ratio": np.round(jmp_["step_ratio"], 2),
        "onset": onset_text(table.months, jmp_["early"], jmp_["late"], jmp_["has"] & (jmp > 0)),
        "months_above": jmp_["months_above"],
        "months_after": jmp_["months_after"],
        "night_share": np.nan if night is None else np.round(night, 3),
        "night_z": np.round(night_z, 2),
        "estimated": table.estimated.sum(1),
        "unclosed": unclosed.sum(1),
        "blank": (np.isnan(table.kwh) & ~table.estimated).sum(1),
        "steady": ((jmp > 0) & (jmp_["months_after"] >= 3)
                   & (jmp_["months_above"] == jmp_["months_after"])
                   & (np.nan_to_num(jmp_["spread"], nan=1.0) < STEADY_SPREAD)),
        "ended": jmp_["ended"],
    })
    out["excused"] = excused_text(cat, season_excess, excused_exp, exp_label)
    out["reasons"] = reasons(out, lvl, jmp, nig, night)
    return out


def naive_jump(table: PowerTable) -> np.ndarray:
    """The naive list's key: each user's biggest month-over-month rise in kWh.

    Parameters
    ----------
    table : PowerTable

    Returns
    -------
    numpy.ndarray
        float64 per user (raw readings, estimates as written, blanks skipped).
    """
    d = np.diff(table.kwh, axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nan_to_num(np.nanmax(d, axis=1), nan=-np.inf)


def table_until(table: PowerTable, until) -> PowerTable:
    """The meter table without the months from ``until``'s month on (for backtests).

    Months without a year (``1月``) cannot be placed in time and are kept.

    Parameters
    ----------
    table : PowerTable
    until : datetime.date
        First day left out (its whole month is left out).

    Returns
    -------
    PowerTable
        ``table`` itself when no month is left out, else a copy.

    Raises
    ------
    LayerError
        No month before ``until``.
    """
    cut = f"{until.year:04d}-{until.month:02d}"
    keep = np.array([not (len(m) == 7 and m[4] == "-" and m >= cut) for m in table.months])
    if keep.all():
        return table
    if not keep.any():
        raise LayerError(f"the meter table has no month before {cut}: nothing to score "
                         "before that date")
    return replace(table, kwh=table.kwh[:, keep], estimated=table.estimated[:, keep],
                   months=[m for m, k in zip(table.months, keep, strict=True) if k],
                   calendar=table.calendar[keep],
                   notes=[*table.notes, f"months from {cut} left out (data before {until})"])
