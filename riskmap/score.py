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
    pos = sum(w for w in weights.values() if w > 0)
    neg = -sum(w for w in weights.values() if w < 0)
    total = pos + neg
    if pos <= 0:
        raise ValueError("at least one factor needs a positive weight")
    baseline = 100.0 * neg / total
    contributions = {}
    score = None
    for name, v in values.items():
        c = (v * np.float32(100.0 * weights[name] / total)).astype(np.float32)
        contributions[name] = c
        score = c.copy() if score is None else score + c
    score += np.float32(baseline)
    np.clip(score, 0, 100, out=score)  # float rounding only
    return score, contributions, baseline


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
    # ties (many cells with the same low score) must not make empty classes
    # collapse below: keep thresholds strictly increasing
    return np.maximum.accumulate(t)


def classify(scores: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Class 1–5 (uint8) per score; 0 where the score is NaN (outside the area)."""
    cls = (np.searchsorted(thresholds, scores, side="right") + 1).astype(np.uint8)
    cls[~np.isfinite(scores)] = 0
    return cls
