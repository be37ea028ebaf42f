"""The CV deviance of every candidate of one factor, the others held fixed (vectorised).

Given, per fold, the linear predictor ``E`` of the model without the factor,
each candidate ``x`` is fitted as ``log μ = E + a + b·x`` on the training cells
and scored by its Poisson deviance on the held-out cells. A static factor's
fit collapses over periods (``Y_c = Σ_p y_cp``, ``M_c = Σ_p e^E_cp``), and the
candidate values are binned (256 levels in [0, 1]): one sparse product gives,
for every candidate and bin, the training and held-out sums of ``Y`` and
``M``, and each candidate is then a Newton step on 256 numbers.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import sparse

__all__ = ["NBINS", "Binned", "binned_fits", "score_candidates"]

NBINS = 256


class Binned:
    """Candidate values of a factor as a sparse bin indicator ``(K·NBINS) × rows``.

    ``rows`` are the cells (static factor) or the (period, cell) pairs of the
    periods its data cover (dated factor), period-major.
    """

    def __init__(self, values: list[np.ndarray], periods: np.ndarray | None = None):
        a = np.stack(values).astype(np.float32)
        if periods is not None:
            a = a[:, periods]
        a = a.reshape(len(values), -1)
        np.clip(a, 0, 1, out=a)
        q = np.rint(a * (NBINS - 1)).astype(np.int32)
        K, n = q.shape
        q += (np.arange(K, dtype=np.int32) * NBINS)[:, None]
        self.K, self.n, self.periods = K, n, periods
        self.S = sparse.csc_matrix((np.ones(K * n), q.T.ravel(), np.arange(0, K * n + 1, K)),
                                   shape=(K * NBINS, n))

    def sums(self, W: np.ndarray) -> np.ndarray:
        """``out[k, b, j] = Σ_rows W[row, j] [bin of candidate k = b]``."""
        return np.asarray(self.S @ W).reshape(self.K, NBINS, W.shape[1])


def binned_fits(SY: np.ndarray, SM: np.ndarray, lam: float, maxit: int = 40,
                tol: float = 1e-8) -> tuple[np.ndarray, np.ndarray]:
    """Fit ``log μ_b = log SM_b + a + β x_b`` to ``SY_b`` per row (ridge λ on β).

    Returns ``(a, β)``, one per candidate (row of ``SY``).
    """
    x = np.arange(NBINS) / (NBINS - 1.0)
    K = SY.shape[0]
    ysum, msum = SY.sum(1), SM.sum(1)
    a = np.log(np.maximum(ysum, 0.5) / np.maximum(msum, 1e-300))
    b = np.zeros(K)
    yx = SY @ x
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(maxit):
            mu = SM * np.exp(np.clip(a[:, None] + b[:, None] * x[None, :], -700, 700))
            h_aa = mu.sum(1)
            h_ab = mu @ x
            h_bb = mu @ (x * x) + lam
            g_a = ysum - h_aa
            g_b = yx - h_ab - lam * b
            det = h_aa * h_bb - h_ab ** 2
            det = np.where(det > 0, det, np.inf)
            da = np.clip((h_bb * g_a - h_ab * g_b) / det, -5, 5)
            db = np.clip((h_aa * g_b - h_ab * g_a) / det, -3, 3)
            a += da
            b += db
            if max(np.abs(da).max(initial=0), np.abs(db).max(initial=0)) < tol:
                break
    return a, b


def _ylogy(y: np.ndarray) -> float:
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.sum(np.where(y > 0, y * np.log(np.where(y > 0, y, 1.0)), 0.0)))


def score_candidates(B: Binned, y: np.ndarray, E: np.ndarray, test: np.ndarray, lam: float):
    """Held-out deviance of each candidate and of none, on one fold.

    Parameters
    ----------
    B : Binned
        The factor's binned candidates.
    y : numpy.ndarray
        Counts ``(P, n)``.
    E : numpy.ndarray
        Log-mean of the model without the factor, ``(P, n)`` (cell weights included).
    test : numpy.ndarray of bool
        Held-out cells (``n``).
    lam : float
        Ridge on the candidate's coefficient.

    Returns
    -------
    (numpy.ndarray, float, numpy.ndarray, numpy.ndarray)
        Deviance per candidate, deviance without the factor, and the fitted
        ``a`` and ``b`` per candidate.
    """
    if B.periods is None:  # static: collapse over periods
        Yr, Mr = y.sum(0), np.exp(E).sum(0)
        te_r = test
        yt_full, et_full = y[:, test], E[:, test]
    else:
        yp, Ep = y[B.periods], E[B.periods]
        Yr, Mr = yp.ravel(), np.exp(Ep).ravel()
        te_r = np.broadcast_to(test, yp.shape).ravel()
        yt_full, et_full = yp[:, test], Ep[:, test]
    tr_r = ~te_r
    W = np.column_stack([Yr * tr_r, Mr * tr_r, Yr * te_r, Mr * te_r])
    sm = B.sums(W)
    SY, SM, SYt, SMt = sm[..., 0], sm[..., 1], sm[..., 2], sm[..., 3]
    a, b = binned_fits(SY, SM, lam)
    x = np.arange(NBINS) / (NBINS - 1.0)
    lin = a[:, None] + b[:, None] * x[None, :]
    const = 2.0 * (_ylogy(yt_full) - float(np.sum(yt_full * et_full)) - float(yt_full.sum()))
    with np.errstate(over="ignore", invalid="ignore"):
        dev = const + 2.0 * (np.sum(SMt * np.exp(np.clip(lin, -700, 700)), 1)
                             - np.sum(SYt * lin, 1))
    ytr, mtr = float(W[:, 0].sum()), float(W[:, 1].sum())
    shift = math.log(max(ytr, 0.5) / max(mtr, 1e-300))
    none = const + 2.0 * (float(W[:, 3].sum()) * math.exp(shift) - float(W[:, 2].sum()) * shift)
    return dev, none, a, b
