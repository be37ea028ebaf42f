r"""Backtest metrics of a risk map: hit rate, PAI, PEI, AUC (pure numpy).

A risk map ranks cells; test events (incidents after the split) fall in some
of them. Every function here takes the same three per-cell arrays:

``scores``
    The map's score of each cell of the study area (1-D). Cells whose score is
    NaN are left out, with their events (pass ``-inf`` instead to keep a cell
    as the lowest-ranked one).
``events``
    Number of test events in each cell (>= 0; may be fractional, e.g. a polygon
    spread over the cells it covers).
``area``
    Optional area of each cell (> 0; default 1 for every cell), e.g. the share of
    a patrol cell that lies inside the district.

Notation: cells :math:`i = 1..n` with score :math:`s_i`, events :math:`e_i` and
area :math:`a_i`; :math:`N = \sum e_i`, :math:`A = \sum a_i`.

Hit-rate curve
    Sort the cells by score, highest first, and walk down the list: after the
    cells ranked above a cut, :math:`x` is their share of the area and :math:`y`
    their share of the events. Cells with equal scores form a *tie group*; the
    map cannot say which of them comes first, so a group is crossed as one
    straight segment — the expected value over all orders within the group
    (proportional allocation), never an arbitrary order. The curve has one
    vertex per tie group, from (0, 0) to (1, 1).
Hit rate
    :math:`H(p)`, the share of events in the top :math:`p` of the area: the curve
    at :math:`x = p`. A cut inside a tie group takes the group's events in
    proportion to the area taken.
PAI (predictive accuracy index, Chainey, Tompson & Uhlig 2008)
    :math:`\mathrm{PAI}(p) = (n_p / N) / (a_p / A) = H(p) / p`: how many times
    more events the top :math:`p` of the area holds than its area share. A map
    no better than chance scores 1.
PEI (predictive efficiency index, Hunt 2016)
    :math:`\mathrm{PEI}(p) = \mathrm{PAI}(p) / \mathrm{PAI}^*(p) = H(p) / H^*(p)`,
    where :math:`H^*` is the hit rate of the best possible map for these very
    events: cells ranked by event density :math:`e_i / a_i` (by event count when
    the cells have equal areas). 1 means no map could have done better at that
    area; it makes PAI comparable across periods with few or many events.
AUC
    :math:`\int_0^1 H(p)\,dp`, the area under the hit-rate curve (exact for the
    piecewise-linear curve). A uniform map (one tie group) gives 0.5, a map
    that puts every event in its top cell about 1.

References
----------
Chainey, S., Tompson, L. & Uhlig, S. (2008). The utility of hotspot mapping for
predicting spatial patterns of crime. *Security Journal* 21, 4–28.

Hunt, J. M. (2016). *Do crime hot spots move? Exploring the effects of the
modifiable areal unit problem and modifiable temporal unit problem on crime hot
spot stability.* PhD thesis, American University, Washington DC.

Examples
--------
>>> import numpy as np
>>> s = np.array([9, 8, 7, 6, 5, 4, 3, 2, 1, 0.0])
>>> e = np.array([2, 0, 1, 0, 0, 0, 1, 0, 0, 0.0])
>>> float(hit_rate(s, e, 0.1)), float(pai(s, e, 0.1)), float(auc(s, e))
(0.5, 5.0, 0.75)
"""

from __future__ import annotations

import numpy as np

FRACTIONS = (0.05, 0.10, 0.20)  # area shares reported by default


def _prepare(scores, events, area=None):
    """Checked float arrays with NaN-score cells removed."""
    s = np.asarray(scores, dtype=float).ravel()
    e = np.asarray(events, dtype=float).ravel()
    if e.shape != s.shape:
        raise ValueError(f"scores ({s.size}) and events ({e.size}) must have the same length")
    if np.isnan(e).any() or (e < 0).any():
        raise ValueError("events must be counts >= 0 (no NaN)")
    a = np.ones_like(s) if area is None else np.asarray(area, dtype=float).ravel()
    if a.shape != s.shape:
        raise ValueError(f"area ({a.size}) must have the length of scores ({s.size})")
    keep = ~np.isnan(s)
    s, e, a = s[keep], e[keep], a[keep]
    if not (np.isfinite(a).all() and (a > 0).all()):
        raise ValueError("cell areas must be finite and > 0")
    if s.size == 0:
        raise ValueError("no cells with a score")
    return s, e, a


def _curve_sorted(s, e, a):
    """Vertices of the hit-rate curve for cells already sorted by score (descending)."""
    last = np.r_[s[1:] != s[:-1], True]  # last cell of each tie group
    x = np.r_[0.0, np.cumsum(a)[last]]
    x /= x[-1]
    n = e.sum()
    y = np.r_[0.0, np.cumsum(e)[last]]
    y = y / n if n > 0 else np.full_like(y, np.nan)
    x[-1] = 1.0
    if n > 0:
        y[-1] = 1.0
    return x, y


def _best_curve(e, a):
    """Hit-rate curve of the best possible ranking (by event density)."""
    order = np.argsort(-(e / a), kind="stable")
    e, a = e[order], a[order]
    x = np.r_[0.0, np.cumsum(a)]
    x /= x[-1]
    n = e.sum()
    y = np.r_[0.0, np.cumsum(e)] / n if n > 0 else np.full(x.shape, np.nan)
    return x, y


def hit_rate_curve(scores, events, area=None) -> tuple[np.ndarray, np.ndarray]:
    """Hit-rate curve: area share vs share of events, one vertex per tie group.

    Parameters
    ----------
    scores, events : array_like
        Per-cell score and event count (see the module docstring).
    area : array_like, optional
        Per-cell area (default: equal areas).

    Returns
    -------
    x, y : numpy.ndarray
        Vertices from (0, 0) to (1, 1); ``x`` strictly increasing. Between
        vertices the curve is a straight line (a tie group crossed at its
        average event density). ``y`` is NaN when there are no events.
    """
    s, e, a = _prepare(scores, events, area)
    order = np.argsort(-s, kind="stable")
    return _curve_sorted(s[order], e[order], a[order])


def best_curve(events, area=None) -> tuple[np.ndarray, np.ndarray]:
    """Hit-rate curve of the best possible map for ``events``: cells by event density.

    Parameters
    ----------
    events : array_like
        Per-cell event count.
    area : array_like, optional
        Per-cell area (default: equal areas).

    Returns
    -------
    x, y : numpy.ndarray
        Vertices of the curve :math:`H^*` used by PEI.
    """
    e = np.asarray(events, dtype=float).ravel()
    _, e, a = _prepare(np.zeros_like(e), e, area)
    return _best_curve(e, a)


def hit_rate(scores, events, p, area=None):
    """Share of events in the top ``p`` of the area: :math:`H(p)`.

    Ties at the cut are taken in proportion to the area taken (expected value
    over the orders of the tied cells).

    Parameters
    ----------
    scores, events : array_like
        Per-cell score and event count.
    p : float or array_like
        Area share(s) in [0, 1].
    area : array_like, optional
        Per-cell area (default: equal areas).

    Returns
    -------
    float or numpy.ndarray
        NaN when there are no events.
    """
    x, y = hit_rate_curve(scores, events, area)
    return np.interp(_fractions(p), x, y)


def pai(scores, events, p, area=None):
    """Predictive accuracy index :math:`H(p) / p` (Chainey et al. 2008).

    Parameters
    ----------
    scores, events : array_like
        Per-cell score and event count.
    p : float or array_like
        Area share(s) in (0, 1].
    area : array_like, optional
        Per-cell area (default: equal areas).

    Returns
    -------
    float or numpy.ndarray
        1 for a map no better than chance.
    """
    p = _fractions(p)
    if np.any(p <= 0):
        raise ValueError("PAI needs an area share p > 0")
    return hit_rate(scores, events, p, area) / p


def pei(scores, events, p, area=None):
    r"""Predictive efficiency index :math:`\mathrm{PAI}(p) / \mathrm{PAI}^*(p)` (Hunt 2016).

    Parameters
    ----------
    scores, events : array_like
        Per-cell score and event count.
    p : float or array_like
        Area share(s) in (0, 1].
    area : array_like, optional
        Per-cell area (default: equal areas).

    Returns
    -------
    float or numpy.ndarray
        In [0, 1]; 1 when no map could have caught more events at that area.
    """
    p = _fractions(p)
    bx, by = best_curve(events, area)
    return hit_rate(scores, events, p, area) / np.interp(p, bx, by)


def auc(scores, events, area=None) -> float:
    """Area under the hit-rate curve (0.5 for a uniform map; ties as straight segments).

    Parameters
    ----------
    scores, events : array_like
        Per-cell score and event count.
    area : array_like, optional
        Per-cell area (default: equal areas).

    Returns
    -------
    float
        NaN when there are no events.
    """
    x, y = hit_rate_curve(scores, events, area)
    return _trapezoid(x, y)


def summarize(scores, events, area=None, fractions=FRACTIONS, curve_step: float | None = None
              ) -> dict:
    """Every figure of one map against one set of test events, from one sort.

    Parameters
    ----------
    scores, events : array_like
        Per-cell score and event count (NaN-score cells are left out).
    area : array_like, optional
        Per-cell area (default: equal areas).
    fractions : sequence of float
        Area shares to report (default 5, 10 and 20 %).
    curve_step : float, optional
        Also return the curve sampled every ``curve_step`` of the area (e.g.
        0.005), and the best possible curve, under ``"curve"``.

    Returns
    -------
    dict
        ``hit@P``, ``PAI@P``, ``PEI@P`` for each share (``P`` in per cent:
        ``hit@10`` is :math:`H(0.1)`), ``AUC``, ``n_test`` (events in scored
        cells), ``cells``, ``tie_groups``; with ``curve_step`` also ``curve``:
        ``{"area": [...], "hit": [...], "best": [...]}``. Figures are NaN when
        there are no events.
    """
    s, e, a = _prepare(scores, events, area)
    order = np.argsort(-s, kind="stable")
    x, y = _curve_sorted(s[order], e[order], a[order])
    bx, by = _best_curve(e, a)
    p = _fractions(fractions)
    h = np.interp(p, x, y)
    hb = np.interp(p, bx, by)
    n = float(e.sum())
    out: dict = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for pi, hi, hbi in zip(p, h, hb, strict=True):
            key = f"{pi * 100:g}"
            out[f"hit@{key}"] = float(hi)
            out[f"PAI@{key}"] = float(hi / pi) if pi > 0 else float("nan")
            out[f"PEI@{key}"] = float(hi / hbi) if hbi > 0 else float("nan")
    out["AUC"] = _trapezoid(x, y)
    out["n_test"] = int(n) if n == int(n) else n
    out["cells"] = int(s.size)
    out["tie_groups"] = int(x.size - 1)
    if curve_step:
        grid = np.linspace(0.0, 1.0, round(1.0 / curve_step) + 1)
        out["curve"] = {"area": grid.tolist(), "hit": np.interp(grid, x, y).tolist(),
                        "best": np.interp(grid, bx, by).tolist()}
    return out


def _fractions(p):
    p = np.asarray(p, dtype=float)
    if np.any((p < 0) | (p > 1)) or np.isnan(p).any():
        raise ValueError(f"area shares must lie in [0, 1], got {p}")
    return p


def _trapezoid(x, y) -> float:
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) * 0.5))
