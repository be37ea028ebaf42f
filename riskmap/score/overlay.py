"""Weighted overlay and priority classes (pure functions on arrays)."""

from __future__ import annotations

import numpy as np


def weighted_score(values: dict[str, np.ndarray], weights: dict[str, float]):
    """Score 0–100 as a weighted sum, with each factor's contribution kept.

    Positive weights raise risk, negative ones (e.g. inside a licence) lower it.
    With P the sum of positive and N of the absolute negative weights,
    ``score = baseline + Σ contribution_i`` where
    ``contribution_i = 100 * w_i * v_i / (P + N)`` and ``baseline = 100 N / (P + N)``,
    so the score spans exactly 0–100 and every point of it is explained.

    Parameters
    ----------
    values : dict of str to numpy.ndarray
        Factor values in [0, 1], all the same shape.
    weights : dict of str to float
        Weight per factor name.

    Returns
    -------
    score : numpy.ndarray of float32
    contributions : dict of str to numpy.ndarray of float32
    baseline : float
    """
    coefs, baseline = score_coefficients(weights)
    contributions = {n: (v * coefs[n]).astype(np.float32) for n, v in values.items()}
    return accumulate_score(values, coefs, baseline), contributions, baseline


def score_coefficients(weights: dict[str, float]) -> tuple[dict[str, np.float32], float]:
    """Points of score per unit of each factor, and the baseline (see weighted_score)."""
    pos = sum(w for w in weights.values() if w > 0)
    neg = -sum(w for w in weights.values() if w < 0)
    if pos <= 0:
        raise ValueError("at least one factor needs a positive weight")
    total = pos + neg
    return {n: np.float32(100.0 * w / total) for n, w in weights.items()}, 100.0 * neg / total


def accumulate_score(values, coefs: dict, baseline: float, out: np.ndarray | None = None
                     ) -> np.ndarray:
    """``baseline + Σ coef_i * v_i`` in one float32 buffer (no per-factor copies).

    ``values`` is a mapping or an iterable of ``(name, array)`` pairs, or of
    ``(name, array, fresh)`` where a fresh array (made for this sum) may be
    overwritten; with a generator each factor's values exist only while they
    are added. The arithmetic is the same either way. ``out`` (float32, the
    arrays' shape) receives the score when given: a band of a larger score
    array can be filled in place.
    """
    score = None
    for item in (values.items() if hasattr(values, "items") else values):
        name, v = item[0], item[1]
        fresh = len(item) > 2 and item[2]  # an array made for this sum: reuse it
        if score is None and out is not None:
            score = np.multiply(v, coefs[name], out=out, dtype=np.float32)
            continue
        if fresh and v.dtype == np.float32:
            v *= coefs[name]
            c = v
        else:
            c = np.multiply(v, coefs[name], dtype=np.float32)
        if score is None:
            score = c
        else:
            score += c
    if score is None:  # no factor: the baseline alone
        score = np.zeros((), np.float32) if out is None else out
        score[...] = 0
    score += np.float32(baseline)
    np.clip(score, 0, 100, out=score)  # float rounding only
    return score


def class_thresholds(scores: np.ndarray, method: str, breaks) -> np.ndarray:
    """Lower score bounds of classes 2–5.

    Parameters
    ----------
    scores : numpy.ndarray
        Scores of the cells that define the distribution (NaN ignored).
    method : {"quantile", "fixed"}
        ``quantile``: breaks are shares of cells (0.97 → class 5 is the top 3 %);
        ``fixed``: breaks are scores.
    breaks : sequence of 4 floats
    """
    breaks = np.asarray(breaks, dtype=float)
    if method == "fixed":
        return breaks
    s = scores[np.isfinite(scores)]
    if s.size == 0:
        return breaks * 100.0
    t = np.quantile(s, breaks, method="linear")
    # A quantile that lands on a tied score (e.g. the many cells with no factor
    # in reach, all at the baseline) must not lift those cells into a higher
    # class: move it to the next score above the tie. Where nothing is above,
    # the class above stays empty.
    u = np.unique(s)
    i = np.searchsorted(u, t, side="left")
    tied = (i < u.size) & (u[np.minimum(i, u.size - 1)] == t)
    nxt = np.searchsorted(u, t, side="right")
    above = np.where(nxt < u.size, u[np.minimum(nxt, u.size - 1)], np.nextafter(u[-1], np.inf))
    t = np.where(tied, above, t)
    return np.maximum.accumulate(t)


def classify(scores: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Class 1–5 (uint8) per score: class c if ``score >= thresholds[c-2]``; 0 for NaN."""
    cls = (np.searchsorted(thresholds, scores, side="right") + 1).astype(np.uint8)
    cls[~np.isfinite(scores)] = 0
    return cls
