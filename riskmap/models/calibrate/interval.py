"""Per-cell interval of the calibrated map: a parametric bootstrap of the coefficients.

The kept coefficients ``β̂`` have an approximate normal distribution with the
covariance of the penalised fit (``H⁻¹``). Each of ``draws`` coefficient
vectors drawn from it ranks the patrol cells anew; a cell's interval is the 5
and 95 % quantiles of its rank over the draws, as a percentile of the
district's cells (100 = the top cell). A cell whose interval reaches the top
class although its point rank does not is one the data cannot rule out, which
is what an exploration share of the patrol plan is for. The residual term, a
smoothed surface, is held at its fitted value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from riskmap.grid import Grid
from riskmap.models.calibrate.dated import value_at

__all__ = ["BANDS", "Interval", "draw_interval", "map_columns"]

BANDS = ("rank percentile (point)", "rank percentile 5 %", "rank percentile 95 %")
CHUNK = 25  # draws ranked at once


@dataclass
class Interval:
    """Rank percentiles (0–100) per patrol cell: point, 5 % and 95 %."""

    grid: Grid
    cells: np.ndarray  # flat indices of the district's patrol cells
    point: np.ndarray
    low: np.ndarray
    high: np.ndarray
    draws: int

    def bands(self) -> np.ndarray:
        """``(3, rows, cols)`` float32, NaN outside the district."""
        out = np.full((3, self.grid.size), np.nan, np.float32)
        for i, a in enumerate((self.point, self.low, self.high)):
            out[i, self.cells] = a
        return out.reshape(3, *self.grid.shape)

    def to_dict(self) -> dict:
        """Plain data (JSON-ready): draws, bands, the median width."""
        width = self.high - self.low
        return {"draws": self.draws, "bands": list(BANDS),
                "median_width": float(np.median(width)),
                "cells_top10_possible": int(((self.high >= 90) & (self.point < 90)).sum())}


def map_columns(res, day) -> tuple[list[str], np.ndarray]:
    """Kept factors and their values on the design's cells as of ``day`` (the map's state).

    Returns the names and an ``n × k`` array (the residual term last, when kept).
    """
    design, sel = res._design, res._sel
    names, cols = [], []
    for n in sel["kept"]:
        col = design.columns[n]
        c = col.cands[sel["choice"][n]]
        if col.dated:
            rows = design.rows_at[n](day)
            v = value_at(design.specs[n], c, rows, design.grid, design.cells, day)
        else:
            v = col.values[sel["choice"][n]]
        names.append(n)
        cols.append(np.asarray(v, np.float64))
    if res.residual is not None:
        names.append("residual")
        cols.append(res.residual.values.ravel()[design.cells].astype(np.float64))
    X = np.column_stack(cols) if cols else np.zeros((len(design.cells), 0))
    return names, X


REFERENCE = 4000  # cells a draw's ranks are read against (a rank to ±1 % at most)


def _pct(eta: np.ndarray, ref: np.ndarray | None = None) -> np.ndarray:
    """Rank percentile (100 = highest) of each entry of ``eta`` within its row.

    With ``ref`` (column indices) the rank is read against those cells only.
    """
    eta = np.atleast_2d(eta)
    out = np.empty(eta.shape, np.float32)
    n = eta.shape[1]
    for i, row in enumerate(eta):
        order = np.argsort(row)
        srt = row[order]
        base = srt if ref is None else np.sort(row[ref])
        # the few reference values placed among the sorted row, not every cell
        # searched among the reference values (a random-order binary search per
        # cell): an entry's count of smaller (lo) and not larger (hi) reference
        # values is the running count of those placed at or before it
        lo = np.cumsum(np.bincount(np.searchsorted(srt, base, side="right"), minlength=n + 1)[:n])
        hi = np.cumsum(np.bincount(np.searchsorted(srt, base, side="left"), minlength=n + 1)[:n])
        out[i, order] = 100.0 * (lo + hi) / (2.0 * len(base))
    return out


def draw_interval(res, day, draws: int = 200, seed: int = 0) -> Interval | None:
    """The per-cell interval of a calibration result (None when nothing was kept)."""
    design, sel = res._design, res._sel
    names, X = map_columns(res, day)
    if not names:
        return None
    beta = np.array([sel["coef"].get(n, 0.0) for n in names])
    if res.residual is not None:
        beta[-1] = res.residual.beta_value
    k = len(sel["kept"])
    cov = np.zeros((len(names), len(names)))
    cov[:k, :k] = sel["cov"]
    inside = np.exp(design.offset) > 0.5  # the cells that are mostly in the district
    Xi = X[inside]
    rng = np.random.default_rng(seed)
    ref = (None if len(Xi) <= REFERENCE else
           np.sort(rng.choice(len(Xi), REFERENCE, replace=False)))
    point = _pct(Xi @ beta)[0]
    try:
        L = np.linalg.cholesky(cov[:k, :k] + 1e-12 * np.eye(k))
    except np.linalg.LinAlgError:
        w, V = np.linalg.eigh(cov[:k, :k])
        L = V * np.sqrt(np.maximum(w, 0))
    pct = np.empty((draws, len(Xi)), np.float32)
    for s in range(0, draws, CHUNK):
        m = min(CHUNK, draws - s)
        B = np.tile(beta, (m, 1))
        B[:, :k] += rng.standard_normal((m, k)) @ L.T
        pct[s:s + m] = _pct(B @ Xi.T, ref)
    low, high = np.percentile(pct, [5, 95], axis=0)
    return Interval(design.grid, design.cells[inside], point.astype(np.float32),
                    low.astype(np.float32), high.astype(np.float32), draws)
