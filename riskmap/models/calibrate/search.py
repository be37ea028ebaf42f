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

__all__ = ["NBINS", "Binned", "FoldRows", "binned_fits", "score_candidates", "score_rows"]

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


class FoldRows:
    """The counts' side of one fold for a factor's candidates (made once per factor and fold).

    The counts and folds do not change while candidates are scored, so their
    bin sums (training and held-out) and the held-out cases' own terms of the
    deviance are made here, from the rows with a case only; what is left per
    call is the model's side (``e^E``).
    """

    def __init__(self, B: Binned, y: np.ndarray, test: np.ndarray):
        P, n = y.shape
        if B.periods is None:  # static: collapse over periods
            Yr, te_r, periods = y.sum(0), test, np.arange(P)
        else:
            periods = B.periods
            Yr, te_r = y[periods].ravel(), np.broadcast_to(test, (len(periods), n)).ravel()
        self.te = np.ascontiguousarray(te_r)
        self.tr = ~self.te
        nz = np.flatnonzero(Yr)
        sy = B.S[:, nz]  # only rows with a case add to the counts' sums
        yz, tz = Yr[nz], self.te[nz]
        self.SY = np.asarray(sy @ (yz * ~tz)).reshape(B.K, NBINS)
        self.SYt = np.asarray(sy @ (yz * tz)).reshape(B.K, NBINS)
        self.ytr, self.yte = float((Yr * self.tr).sum()), float((Yr * self.te).sum())
        # held-out (period, cell) rows with a case, as flat indices of a (P, n) array
        held = y[periods] * test[None, :]
        pp, cc = np.nonzero(held)
        self.at = np.asarray(periods)[pp] * n + cc
        self.cell = cc
        self.yv = held[pp, cc]
        self.c0 = _ylogy(self.yv) - float(self.yv.sum())


def score_rows(B: Binned, F: FoldRows, Mr: np.ndarray, Ey: np.ndarray, lam: float):
    """Held-out deviance of each candidate and of none, given the model's side of the rows.

    ``Mr`` is ``e^E`` on the rows of ``B`` (collapsed over periods for a static
    factor), ``Ey`` the log-mean ``E`` at ``F.at`` (the held-out rows with a case).
    Returns as :func:`score_candidates`.
    """
    W = np.empty((len(Mr), 2))
    np.multiply(Mr, F.tr, out=W[:, 0])
    np.multiply(Mr, F.te, out=W[:, 1])
    sm = B.sums(W)
    SM, SMt = sm[..., 0], sm[..., 1]
    a, b = binned_fits(F.SY, SM, lam)
    x = np.arange(NBINS) / (NBINS - 1.0)
    lin = a[:, None] + b[:, None] * x[None, :]
    const = 2.0 * (F.c0 - float(F.yv @ Ey))
    with np.errstate(over="ignore", invalid="ignore"):
        dev = const + 2.0 * (np.sum(SMt * np.exp(np.clip(lin, -700, 700)), 1)
                             - np.sum(F.SYt * lin, 1))
    mtr, mte = float(W[:, 0].sum()), float(W[:, 1].sum())
    shift = math.log(max(F.ytr, 0.5) / max(mtr, 1e-300))
    none = const + 2.0 * (mte * math.exp(shift) - F.yte * shift)
    return dev, none, a, b


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
    F = FoldRows(B, y, test)
    Mr = np.exp(E).sum(0) if B.periods is None else np.exp(E[B.periods]).ravel()
    return score_rows(B, F, Mr, E.ravel()[F.at], lam)
