"""What the factors miss: a residual spatial term from kernel-smoothed residuals.

After the factors are fitted, the cases left unexplained cluster where some
unmapped cause (a seam no layer shows, a gang's home ground) raises risk. Per
patrol cell, observed cases ``Y`` and the model's expected ones ``E`` are
smoothed with a Gaussian kernel of bandwidth ``h`` and

    r(s) = log((K_h * Y + κ) / (K_h * E + κ))

(κ prior cases shrink a ratio made of few cases to 0). The term enters as
``β_r · r``. ``h``, ``κ`` and ``β_r`` are chosen by the spatial-block CV of the
factors: for a held-out block, ``r`` is made from the other blocks only, so
the CV tells how well the neighbours' surplus predicts the block. The term is
kept only when it lowers the held-out deviance by :data:`MARGIN`. The map reads
it as a factor of kind ``raster`` (values in [0, 1]; see
:mod:`riskmap.factors.raster`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from riskmap.grid import Grid
from riskmap.models.calibrate.panel import predict

__all__ = ["BANDWIDTHS", "MARGIN", "PRIORS", "ResidualTerm", "residual_term", "smooth_sum"]

#: kernel bandwidths tried (m) and prior cases κ
BANDWIDTHS = (500.0, 1000.0, 2000.0, 4000.0, 8000.0)
PRIORS = (1.0, 4.0)
#: held-out deviance the term must gain to be kept (it has three tuning choices)
MARGIN = 4.0


@dataclass
class ResidualTerm:
    """The kept residual term: its raster on the patrol grid and the evidence for it."""

    bandwidth: float
    prior: float
    beta: float  # coefficient of r (log relative risk per unit of r)
    lo: float  # r at raster value 0
    hi: float  # r at raster value 1
    values: np.ndarray  # (rows, cols) float32 in [0, 1] on ``grid``
    grid: Grid
    cv: float  # held-out deviance with the term
    cv_without: float
    cv_by: dict = field(default_factory=dict)  # (h, κ) -> held-out deviance

    @property
    def beta_value(self) -> float:
        """β of the raster value (0–1): ``β_r (hi − lo)``."""
        return self.beta * (self.hi - self.lo)

    def to_dict(self) -> dict:
        """Plain data (JSON-ready)."""
        return {"bandwidth_m": self.bandwidth, "prior_cases": self.prior, "beta_r": self.beta,
                "r_range": [self.lo, self.hi], "beta_value": self.beta_value,
                "cv_deviance": self.cv, "cv_without": self.cv_without,
                "cv_by": {f"{h:g} m, κ {k:g}": v for (h, k), v in self.cv_by.items()}}


def smooth_sum(a: np.ndarray, cell: float, h: float) -> np.ndarray:
    """Kernel-weighted sum ``Σ_j a_j exp(−d²/2h²)`` on a grid (coarsened for wide kernels)."""
    m = max(1, int(h / (2.0 * cell)))
    nr, nc = a.shape
    pr, pc = (-nr) % m, (-nc) % m
    b = np.pad(a, ((0, pr), (0, pc))) if (pr or pc) else a
    coarse = b.reshape(b.shape[0] // m, m, b.shape[1] // m, m).sum(axis=(1, 3))
    sig = h / (m * cell)
    s = ndimage.gaussian_filter(coarse, sig, mode="constant", truncate=3.0)
    s *= 2.0 * math.pi * sig * sig
    if m > 1:
        rr = (np.arange(b.shape[0]) + 0.5) / m - 0.5
        cc = (np.arange(b.shape[1]) + 0.5) / m - 0.5
        R, C = np.meshgrid(rr, cc, indexing="ij")
        s = ndimage.map_coordinates(s, [R, C], order=1, mode="nearest") / (m * m)
    return s[:nr, :nc]


def _ratio(Y, E, cells, shape, cell, h, kappa, keep=None) -> np.ndarray:
    """The residual r on the grid from Y, E at ``cells`` (only those in ``keep`` if given)."""
    gy, ge = np.zeros(shape).ravel(), np.zeros(shape).ravel()
    sel = cells if keep is None else cells[keep]
    gy[sel] = Y if keep is None else Y[keep]
    ge[sel] = E if keep is None else E[keep]
    sy = smooth_sum(gy.reshape(shape), cell, h)
    se = smooth_sum(ge.reshape(shape), cell, h)
    return np.log((sy + kappa) / (se + kappa))


def _fit_beta(Y, M, r, maxit: int = 50) -> float:
    """1-D Poisson fit of ``Y ~ M e^{β r}`` (β ≥ 0)."""
    b = 0.0
    for _ in range(maxit):
        mu = M * np.exp(b * r)
        g = float(np.sum((Y - mu) * r))
        h = float(np.sum(mu * r * r)) + 1e-9
        step = g / h
        b = max(0.0, b + float(np.clip(step, -2, 2)))
        if abs(step) < 1e-8:
            break
    return b


def _dev(Y, M, r, b) -> float:
    mu = M * np.exp(b * r)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(Y > 0, Y * np.log(np.where(Y > 0, Y, 1.0) / mu), 0.0)
    return float(2.0 * np.sum(t - (Y - mu)))


def residual_term(design, sel: dict, progress=None) -> ResidualTerm | None:
    """The residual spatial term of a selection, or None when it does not help held out.

    Parameters
    ----------
    design : Design
    sel : dict
        From :func:`riskmap.models.calibrate.select.select` (its final fold fits).
    """
    cv = sel["cvobj"]
    pn, _ = cv.panel(sel["kept"])
    shape, cell = design.grid.shape, design.grid.cell
    Y = design.y.sum(0)
    extent = max(shape) * cell
    hs = [h for h in BANDWIDTHS if h <= extent / 2] or [BANDWIDTHS[0]]
    E_f = [np.exp(predict(pn, c)).sum(0) for c in sel["fold_coef"]]
    # held-out deviance of the factors alone, on the same collapsed rows
    base = sum(_dev(Y[te], E_f[k][te], np.zeros(len(te)), 0.0)
               for k, te in enumerate(cv.tests))
    best, cv_by = None, {}
    for h in hs:
        if progress:
            progress(f"残差项 (residual term) bandwidth {h:g} m")
        for kappa in PRIORS:
            rs = []
            for k, (tr, te) in enumerate(zip(cv.trains, cv.tests, strict=True)):
                keep = np.zeros(len(design.cells), bool)
                keep[tr] = True
                r = _ratio(Y, E_f[k], design.cells, shape, cell, h, kappa, keep)
                rs.append(r.ravel()[design.cells[te]])
            Yt = np.concatenate([Y[te] for te in cv.tests])
            Mt = np.concatenate([E_f[k][te] for k, te in enumerate(cv.tests)])
            rt = np.concatenate(rs)
            b = _fit_beta(Yt, Mt, rt)
            d = _dev(Yt, Mt, rt, b)
            cv_by[(h, kappa)] = d
            if best is None or d < best[0]:
                best = (d, h, kappa, b)
    if best is None or best[0] > base - MARGIN or best[3] <= 0:
        return None
    d, h, kappa, b = best
    E = np.exp(predict(pn, sel["full_coef"])).sum(0)
    r = _ratio(Y, E, design.cells, shape, cell, h, kappa)
    inside = r.ravel()[design.cells]
    lo, hi = float(inside.min()), float(inside.max())
    if not hi > lo:
        return None
    v = np.clip((r - lo) / (hi - lo), 0, 1).astype(np.float32)
    # the held-out deviance of the whole model, in the panel's units
    full_cv = sel["cv"] + (d - base)
    return ResidualTerm(h, kappa, b, lo, hi, v, design.grid, full_cv, sel["cv"], cv_by)
