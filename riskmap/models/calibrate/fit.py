"""Penalised Poisson regression (log link): one model, and many two-parameter fits at once."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["candidate_fits", "fit_poisson", "poisson_deviance"]


def poisson_deviance(y: np.ndarray, mu: np.ndarray) -> float:
    """Poisson deviance ``2 Σ [y log(y/μ) − (y − μ)]``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(y > 0, y * np.log(y / mu), 0.0)
    return float(2.0 * np.sum(t - (y - mu)))


def fit_poisson(X: np.ndarray, y: np.ndarray, offset: np.ndarray, lam: float = 0.0,
                centre: np.ndarray | None = None, start: np.ndarray | None = None,
                maxit: int = 60, tol: float = 1e-7) -> tuple[np.ndarray, np.ndarray]:
    """Penalised Poisson regression with log link (Newton with step halving).

    Maximises ``Σ (y η − e^η) − ½ λ Σ (β − c)²`` with ``η = offset + b0 + X β``;
    the intercept ``b0`` is not penalised.

    Parameters
    ----------
    X : numpy.ndarray
        ``n × p`` covariates (may have ``p = 0``).
    y : numpy.ndarray
        Counts.
    offset : numpy.ndarray
        Known part of the linear predictor (log exposure).
    lam : float
        Ridge penalty λ.
    centre : numpy.ndarray, optional
        Penalty centre ``c`` (default 0).
    start : numpy.ndarray, optional
        Starting ``[b0, β…]``.
    maxit : int
        Newton iterations at most.
    tol : float
        Stop when the largest step is below this.

    Returns
    -------
    coef : numpy.ndarray
        ``[b0, β_1, …, β_p]``.
    hessian : numpy.ndarray
        Penalised observed information at ``coef`` (``(p+1) × (p+1)``).
    """
    p = X.shape[1]
    c = np.zeros(p) if centre is None else np.asarray(centre, float)
    pen = np.full(p + 1, float(lam))
    pen[0] = 0.0
    cc = np.concatenate([[0.0], c])
    if start is None:
        coef = np.concatenate([[math.log(max(y.sum(), 0.5) / np.exp(offset).sum())], c])
    else:
        coef = np.asarray(start, float).copy()

    def evaluate(cf):
        eta = offset + cf[0] + X @ cf[1:]
        mu = np.exp(eta)
        return mu, float(np.dot(y, eta) - mu.sum() - 0.5 * np.sum(pen * (cf - cc) ** 2))

    def information(mu):
        h = np.empty((p + 1, p + 1))
        h[0, 0] = mu.sum()
        xm = X.T * mu
        h[0, 1:] = h[1:, 0] = xm.sum(axis=1)
        h[1:, 1:] = xm @ X
        h[np.diag_indices(p + 1)] += pen
        return h

    mu, cur = evaluate(coef)
    for _ in range(maxit):
        r = y - mu
        g = np.empty(p + 1)
        g[0] = r.sum()
        g[1:] = X.T @ r
        g -= pen * (coef - cc)
        H = information(mu)
        try:
            step = np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(H, g, rcond=None)[0]
        t = 1.0
        while True:
            new = coef + t * step
            mu_new, val = evaluate(new)
            if val >= cur - 1e-10 * max(1.0, abs(cur)) or t < 1e-6:
                break
            t *= 0.5
        coef, cur, mu = new, val, mu_new
        if np.max(np.abs(t * step)) < tol:
            break
    return coef, information(mu)


def candidate_fits(C, y, off, lam, maxit=30, tol=1e-7):
    """Fit ``log μ = off + a_k + b_k C[k]`` for every row ``C[k]`` of ``C`` (``K × n``) at once.

    Returns ``(a, b)``, each of length K (two-parameter Newton, vectorised over K).
    """
    K = C.shape[0]
    eo = np.exp(off)
    a = np.full(K, math.log(max(y.sum(), 0.5) / eo.sum()))
    b = np.zeros(K)
    ysum, yc = y.sum(), C @ y
    for _ in range(maxit):
        mu = np.exp(b[:, None] * C)
        mu *= eo
        mu *= np.exp(a)[:, None]
        h_aa = mu.sum(1)
        cm = mu * C
        h_ab = cm.sum(1)
        h_bb = np.einsum("kn,kn->k", cm, C) + lam
        g_a = ysum - h_aa
        g_b = yc - h_ab - lam * b
        det = h_aa * h_bb - h_ab**2
        det = np.where(det > 0, det, np.inf)
        da = (h_bb * g_a - h_ab * g_b) / det
        db = np.clip((h_aa * g_b - h_ab * g_a) / det, -3, 3)
        a += da
        b += db
        if max(np.abs(da).max(), np.abs(db).max()) < tol:
            break
    return a, b


