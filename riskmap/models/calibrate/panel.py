"""Penalised Poisson regression over (cell × period), with period offsets.

The rolling-origin design has one row per patrol cell and period::

    log μ_cp = α_p + o_c + x_c·β + z_cp·γ

``α_p`` is the period's own level (its offset: more or fewer cases that
quarter), ``o_c`` the log of the cell's share inside the district, ``x_c`` the
static factors (the same every period) and ``z_cp`` the dated factors (past
cases, tips, meter anomalies as of the period's start). Nothing here loops over
cells: the Hessian is assembled from blocks, the static part of it collapsed
over periods. Optional *extra rows* (the field history's inspections: a checked
cell, found or not) share β and γ and have their own level δ.

A ridge ``½ λ Σ (θ − c)²`` pulls β and γ towards ``c``; the levels get a tiny
one (so that a period without events stays finite). Sign constraints (a factor
that can only raise risk) are kept by an active set.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Extra", "Panel", "fit_panel", "panel_deviance", "predict"]

LEVEL_RIDGE = 1e-2  # on the period levels, towards the overall rate


@dataclass
class Extra:
    """Extra rows: ``y_j ~ Poisson(exp(δ + off_j + x_{c_j}·β + z_{p_j c_j}·γ))``."""

    cell: np.ndarray  # index into the panel's cells
    period: np.ndarray  # index into the panel's periods
    y: np.ndarray
    off: np.ndarray

    def subset(self, keep_cells: np.ndarray) -> Extra:
        """The rows of cells ``keep_cells`` (indices), re-indexed to that subset."""
        pos = np.full(int(max(self.cell.max(initial=-1), keep_cells.max(initial=-1))) + 1, -1)
        pos[keep_cells] = np.arange(len(keep_cells))
        new = pos[self.cell]
        ok = new >= 0
        return Extra(new[ok], self.period[ok], self.y[ok], self.off[ok])


@dataclass
class Panel:
    """The rows of a fit: counts ``y`` (P × n), offsets, static X (n × ps), dated Z."""

    y: np.ndarray
    off: np.ndarray
    X: np.ndarray
    Z: np.ndarray  # (pd, P, n) dated covariates
    extra: Extra | None = None
    w: np.ndarray | None = None  # weight of each cell (a sample of the zero cells)

    def __post_init__(self):
        if not isinstance(self.Z, np.ndarray):
            self.Z = (np.stack(self.Z).astype(np.float64) if len(self.Z)
                      else np.zeros((0, *self.y.shape)))

    @property
    def P(self) -> int:
        """Number of periods."""
        return self.y.shape[0]

    @property
    def p(self) -> int:
        """Number of factor coefficients (static, then dated)."""
        return self.X.shape[1] + len(self.Z)

    def rows(self) -> _Rows:
        """The arrays of a fit laid out for Newton (made on first use, then kept)."""
        r = self.__dict__.get("_rows")
        if r is None:
            r = self.__dict__["_rows"] = _Rows(self)
        return r

    def cells(self, idx: np.ndarray) -> Panel:
        """The panel restricted to cells ``idx``."""
        ex = None if self.extra is None else self.extra.subset(idx)
        # take, not Z[:, :, idx]: that puts the cells outermost, and every product
        # over the rows would then copy Z back into shape first
        return Panel(np.take(self.y, idx, axis=1), self.off[idx], self.X[idx],
                     np.take(self.Z, idx, axis=2), ex, None if self.w is None else self.w[idx])

    def columns(self, static: list[int], dated: list[int]) -> Panel:
        """The panel with some columns only."""
        return Panel(self.y, self.off, self.X[:, static], self.Z[list(dated)], self.extra,
                     self.w)


def predict(pn: Panel, coef: np.ndarray) -> np.ndarray:
    """Linear predictor ``η`` (P × n) of the panel rows."""
    P, ps, pd = pn.P, pn.X.shape[1], len(pn.Z)
    # einsum, not BLAS: see _Rows (a tall X β on BLAS threads waits for a core)
    eta = (pn.off + np.einsum("nk,k->n", pn.X, coef[P:P + ps]))[None, :] + coef[:P, None]
    if pd:
        g = coef[P + ps:P + ps + pd]
        eta += np.einsum("k,kr->r", g, pn.Z.reshape(pd, -1)).reshape(eta.shape)
    return eta


def _extra_design(pn: Panel) -> np.ndarray:
    ex = pn.extra
    return np.hstack([pn.X[ex.cell], pn.Z[:, ex.period, ex.cell].T])


def panel_deviance(y: np.ndarray, eta: np.ndarray, w: np.ndarray | None = None) -> float:
    """Poisson deviance ``2 Σ w [y log(y/μ) − (y − μ)]`` of rows with log-mean ``eta``.

    ``w`` weighs each cell (column); cells with events must weigh 1.
    """
    mu = np.exp(eta)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(y > 0, y * (np.log(np.where(y > 0, y, 1.0)) - eta), 0.0)
    d = t - (y - mu)
    if w is not None:
        d = d * w[None, :]
    return float(2.0 * np.sum(d))


def _start(pn: Panel, centre: np.ndarray) -> np.ndarray:
    P = pn.P
    tot = math.log(max(pn.y.sum(), 0.5) / (P * np.exp(pn.off).sum()))
    per = np.log(np.maximum(pn.y.sum(1), 0.5) / np.exp(pn.off).sum())
    out = np.concatenate([np.maximum(per, tot - 8), centre])
    if pn.extra is not None:
        out = np.append(out, math.log(max(pn.extra.y.sum(), 0.5)
                                      / max(np.exp(pn.extra.off).sum(), 1e-9)))
    return out


class _Rows:
    """A panel's arrays laid out once per fit for the Newton iterations.

    The dated covariates are kept per period, only the factors with data in
    that period (a meter table of 12 months is 0 in the other periods), each
    block ``(factors, n)`` contiguous: the products of an iteration then run
    period by period on blocks that stay in cache instead of several passes
    over the whole ``(pd, P, n)`` array. What does not change between
    iterations (the counts' side of the gradient, the nonzero counts, the
    log weights) is made here. The static covariates are kept as ``Xᵀ``
    ``(ps, n)``, so that every product reduces along contiguous rows.

    The products are einsum and elementwise sums, not BLAS: they are long
    and thin (a few rows by ``n``), memory-bound, and BLAS runs them on its
    threads, which on a busy 2-core machine (or under ``pytest -n 2``) wait
    for a core and cost 3–15 times the product; einsum runs on the caller's
    thread at about single-threaded BLAS speed.
    """

    def __init__(self, pn: Panel):
        P, n = pn.y.shape
        self.P, self.n, self.ps, self.pd = P, n, pn.X.shape[1], len(pn.Z)
        self.XT = np.ascontiguousarray(pn.X.T, dtype=np.float64)
        self.lin0 = pn.off if pn.w is None else pn.off + np.log(pn.w)
        y = pn.y
        flat = y.ravel()
        self.ynz = np.flatnonzero(flat)
        self.yv = flat[self.ynz]
        self.y_p = y.sum(1)
        self.gy_x = self.XT @ y.sum(0)
        self.act, self.zp = [], []
        self.gy_z = np.zeros(self.pd)
        for p in range(P if self.pd else 0):
            zp = pn.Z[:, p, :]
            a = np.flatnonzero(zp.any(axis=1))
            self.act.append(a if len(a) < self.pd else slice(None))
            self.zp.append(np.ascontiguousarray(zp[a]))
            if len(a):
                self.gy_z[a] += self.zp[-1] @ y[p]

    def eta(self, cf: np.ndarray) -> np.ndarray:
        """Linear predictor (P × n) with the log weights: ``log(w μ)``."""
        P, ps = self.P, self.ps
        lin = self.lin0.copy()
        for i in range(ps):
            lin += cf[P + i] * self.XT[i]
        eta = np.empty((P, self.n))
        if not self.pd:
            eta[:] = lin
            eta += cf[:P, None]
            return eta
        gam = cf[P + ps:P + ps + self.pd]
        for p in range(P):
            e = eta[p]
            if len(self.zp[p]):
                np.einsum("i,in->n", gam[self.act[p]], self.zp[p], out=e)
                e += lin
            else:
                e[:] = lin
            e += cf[p]
        return eta

    def blocks(self, mu: np.ndarray, g: np.ndarray, H: np.ndarray) -> None:
        """The panel's part of the gradient ``g`` and information ``H`` (upper blocks) at ``mu``."""
        P, ps, pd = self.P, self.ps, self.pd
        mp, mc = mu.sum(1), mu.sum(0)
        g[:P] = self.y_p - mp
        H[np.arange(P), np.arange(P)] = mp
        XT = self.XT
        W = XT * mc
        g[P:P + ps] = self.gy_x - W.sum(1)
        H[:P, P:P + ps] = np.einsum("kn,pn->pk", XT, mu)
        H[P:P + ps, P:P + ps] = np.einsum("kn,ln->kl", W, XT)
        if not pd:
            return
        j = slice(P + ps, P + ps + pd)
        hzz, haz, mz = np.zeros((pd, pd)), np.zeros((P, pd)), np.zeros((pd, self.n))
        for p in range(P):
            zp, a = self.zp[p], self.act[p]
            if not len(zp):
                continue
            b = zp * mu[p]
            haz[p, a] = b.sum(1)
            if isinstance(a, slice):
                hzz += np.einsum("in,jn->ij", b, zp)
                mz += b
            else:
                hzz[np.ix_(a, a)] += np.einsum("in,jn->ij", b, zp)
                mz[a] += b
        g[j] = self.gy_z - haz.sum(0)
        H[j, j] = hzz
        H[:P, j] = haz
        H[P:P + ps, j] = np.einsum("kn,jn->kj", XT, mz)


def _fit(pn: Panel, lam: float, centre: np.ndarray, start, maxit: int, tol: float,
         signs: np.ndarray | None = None, hessian: bool = True):
    """Projected Newton with step halving; returns (coef, penalised information or None).

    A coefficient with a sign constraint that sits at 0 while the gradient
    pushes it out of its side is held there for the step (an active set that
    is re-decided every iteration). Without ``hessian`` the information at the
    end is not made (a CV fit needs the coefficients only).
    """
    P, ps, pd = pn.P, pn.X.shape[1], len(pn.Z)
    p = ps + pd
    has_ex = pn.extra is not None and len(pn.extra.y) > 0
    k = P + p + (1 if has_ex else 0)
    coef = _start(pn, centre) if start is None else np.asarray(start, float).copy()
    if not has_ex and len(coef) > P + p:
        coef = coef[:P + p]
    if has_ex and len(coef) == P + p:
        coef = np.append(coef, _start(pn, centre)[-1])
    abar = math.log(max(pn.y.sum(), 0.5) / (P * np.exp(pn.off).sum()))
    pen = np.concatenate([np.full(P, LEVEL_RIDGE), np.full(p, float(lam)),
                          [LEVEL_RIDGE] if has_ex else []])
    cc = np.concatenate([np.full(P, abar), centre, [coef[-1]] if has_ex else []])
    D = _extra_design(pn) if has_ex else None
    rows = pn.rows()

    def evaluate(cf):
        eta = rows.eta(cf)
        val = float(rows.yv @ eta.ravel()[rows.ynz])
        mu = np.exp(eta, out=eta)  # w μ: a weighted cell stands for 1/w cells like it
        val -= float(mu.sum())
        mu_ex = None
        if has_ex:
            eta_ex = cf[-1] + pn.extra.off + D @ cf[P:P + p]
            mu_ex = np.exp(eta_ex)
            val += float(pn.extra.y @ eta_ex - mu_ex.sum())
        return mu, mu_ex, val - 0.5 * float(np.sum(pen * (cf - cc) ** 2))

    def grad_hess(mu, mu_ex):
        g = np.empty(k)
        H = np.zeros((k, k))
        rows.blocks(mu, g, H)
        if has_ex:
            rx = pn.extra.y - mu_ex
            g[P:P + p] += D.T @ rx
            g[-1] = rx.sum()
            H[P:P + p, P:P + p] += (D.T * mu_ex) @ D
            H[P:P + p, -1] = D.T @ mu_ex
            H[-1, -1] = mu_ex.sum()
        H = np.triu(H) + np.triu(H, 1).T
        g -= pen * (coef - cc)
        H[np.diag_indices(k)] += pen
        return g, H

    sv = np.zeros(k)
    if signs is not None and np.any(signs):
        sv[P:P + p] = signs
        coef = np.where(sv * coef < 0, 0.0, coef)
    mu, mu_ex, cur = evaluate(coef)
    for _ in range(maxit):
        g, H = grad_hess(mu, mu_ex)
        free = ~((sv != 0) & (sv * coef <= 1e-12) & (sv * g <= 0))
        step = np.zeros(k)
        try:
            step[free] = np.linalg.solve(H[np.ix_(free, free)], g[free])
        except np.linalg.LinAlgError:
            step[free] = np.linalg.lstsq(H[np.ix_(free, free)], g[free], rcond=None)[0]
        step = np.clip(step, -5, 5)
        t = 1.0
        while True:
            new = coef + t * step
            new = np.where(sv * new < 0, 0.0, new)
            mu_n, mx_n, val = evaluate(new)
            if val >= cur - 1e-10 * max(1.0, abs(cur)) or t < 1e-6:
                break
            t *= 0.5
        moved = np.max(np.abs(new - coef))
        coef, cur, mu, mu_ex = new, val, mu_n, mx_n
        if moved < tol:
            break
    return coef, (grad_hess(mu, mu_ex)[1] if hessian else None)


def fit_panel(pn: Panel, lam: float = 0.0, centre=None, start=None, signs=None,
              maxit: int = 50, tol: float = 1e-5, hessian: bool = True
              ) -> tuple[np.ndarray, np.ndarray | None]:
    """Penalised Poisson fit of a :class:`Panel`.

    Parameters
    ----------
    pn : Panel
    lam : float
        Ridge λ on the factor coefficients.
    centre : array_like, optional
        Ridge centre of the ``p`` factor coefficients (default 0).
    start : array_like, optional
        Starting ``[α…, β…, γ…(, δ)]``.
    signs : array_like, optional
        Per factor coefficient: +1 (only ≥ 0), −1 (only ≤ 0) or 0 (free).
    maxit, tol
        Newton iterations at most; stop when the largest step is below ``tol``.
    hessian : bool
        Return the information at the fit (else None: a CV fit needs ``coef`` only).

    Returns
    -------
    coef : numpy.ndarray
        ``[α_1 … α_P, β…, γ…]`` (and δ with extra rows).
    hessian : numpy.ndarray or None
        Penalised observed information at ``coef`` (None without ``hessian``).
    """
    p = pn.p
    c = np.zeros(p) if centre is None else np.asarray(centre, float)
    s = None if signs is None else np.asarray(signs, float)
    return _fit(pn, lam, c, start, maxit, tol, s, hessian)
