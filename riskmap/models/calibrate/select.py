"""Choosing ranges, the ridge penalty and the kept factors by spatial-block cross-validation.

Everything here works on a :class:`~riskmap.models.calibrate.design.Design`
(arrays only, no geodata), so it can be tested and timed on its own.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from riskmap.models.calibrate.fit import candidate_fits, fit_poisson, poisson_deviance
from riskmap.models.calibrate.options import DEFAULT_PENALTIES, RANGE_SEARCH_PENALTY, Z95

if TYPE_CHECKING:
    from riskmap.models.calibrate.design import Design

__all__ = ["select"]


class _CV:
    """Folds of a design and its columns at the ranges chosen so far."""

    def __init__(self, design: Design, folds: int, range_penalty: float):
        self.y, self.off, self.cols = design.y, design.offset, design.columns
        self.trains = [np.flatnonzero(design.fold != k) for k in range(folds)]
        self.tests = [np.flatnonzero(design.fold == k) for k in range(folds)]
        self.range_penalty = range_penalty
        self.ranges: dict = {}

    def matrix(self, active) -> np.ndarray:
        """Covariates of the ``active`` factors at their chosen ranges (``n × p``)."""
        if not active:
            return np.zeros((len(self.y), 0))
        return np.column_stack([self.cols[n][self.ranges[n]] for n in active])

    def candidates(self, n, etas):
        """CV deviance of each candidate range of ``n`` given per-fold offsets ``etas``."""
        y, cols = self.y, self.cols
        cand = list(cols[n])
        C = np.vstack([cols[n][r] for r in cand])
        tot, none = np.zeros(len(cand)), 0.0
        for tr, te, eta in zip(self.trains, self.tests, etas, strict=True):
            shift = math.log(max(y[tr].sum(), 0.5) / np.exp(eta[tr]).sum())
            none += poisson_deviance(y[te], np.exp(eta[te] + shift))
            a, b = candidate_fits(C[:, tr], y[tr], eta[tr], self.range_penalty)
            mu = np.exp(eta[te][None, :] + a[:, None] + b[:, None] * C[:, te])
            tot += [poisson_deviance(y[te], mu[k]) for k in range(len(cand))]
        return cand, tot, none

    def fit_folds(self, names, fold_coef: list) -> np.ndarray:
        """Refit the full model per fold (warm starts in ``fold_coef``, updated in place)."""
        X = self.matrix(names)
        y, off = self.y, self.off
        for k, tr in enumerate(self.trains):
            fold_coef[k], _ = fit_poisson(X[tr], y[tr], off[tr], self.range_penalty,
                                          start=fold_coef[k])
        return X

    def deviance(self, active, lam, centre, starts=None):
        """Held-out deviance summed over folds, and each fold's coefficients."""
        X = self.matrix(active)
        y, off = self.y, self.off
        tot, coefs = 0.0, []
        for k, (tr, te) in enumerate(zip(self.trains, self.tests, strict=True)):
            coef, _ = fit_poisson(X[tr], y[tr], off[tr], lam, centre,
                                  start=None if starts is None else starts[k])
            coefs.append(coef)
            tot += poisson_deviance(y[te], np.exp(off[te] + coef[0] + X[te] @ coef[1:]))
        return tot, coefs


def _choose_ranges(cv: _CV, names, sweeps: int, progress):
    """Each factor's best range alone, then back-fitting sweeps with the others in the model.

    Sets ``cv.ranges``; returns ``(cv_by_range, cv_without, fold_coef)``.
    """
    off = cv.off
    base = [np.broadcast_to(off, off.shape) for _ in cv.trains]
    for n in names:
        cand, tot, _ = cv.candidates(n, base)
        cv.ranges[n] = cand[int(np.argmin(tot))]

    # per fold the full model on the training blocks; a factor's candidates are
    # fitted against the others' part of its predictor
    cv_by_range, cv_without = {}, {}
    fold_coef = [None] * len(cv.trains)
    X = cv.fit_folds(names, fold_coef)
    for sweep in range(sweeps):
        changed = False
        for i, n in enumerate(names):
            if progress:
                progress(f"范围 (ranges) sweep {sweep + 1}: {n}")
            etas = [off + c[0] + X @ c[1:] - c[1 + i] * X[:, i] for c in fold_coef]
            cand, tot, none = cv.candidates(n, etas)
            cv_by_range[n] = dict(zip(cand, tot.tolist(), strict=True))
            cv_without[n] = none
            best = cand[int(np.argmin(tot))]
            if best != cv.ranges[n]:
                cv.ranges[n], changed = best, True
                X = cv.fit_folds(names, fold_coef)
        if not changed:
            break
    return cv_by_range, cv_without, fold_coef


def _prior_on_scale(cv: _CV, names, prior: dict | None, lam: float):
    """Data-only β (ridge ``lam`` towards 0) and the AHP prior rescaled to their size.

    Returns ``(data_beta, prior_beta, scale)``.
    """
    data_coef, _ = fit_poisson(cv.matrix(names), cv.y, cv.off, lam)
    data_beta = dict(zip(names, data_coef[1:].tolist(), strict=True))
    prior_beta, scale = {}, None
    if prior:
        listed = [n for n in names if n in prior]
        tot_w = sum(abs(prior[n]) for n in listed)
        scale = sum(abs(data_beta[n]) for n in listed) / tot_w if tot_w > 0 else 0.0
        prior_beta = {n: scale * prior[n] for n in listed}
    return data_beta, prior_beta, scale


def _drop_weak(cv: _CV, names, lam: float, centre_of):
    """Drop the least significant factor while a 95 % interval of RR holds 1.

    Returns ``(active, dropped, coef, se)`` of the final fit.
    """
    active, dropped = list(names), {}
    while True:
        coef, H = fit_poisson(cv.matrix(active), cv.y, cv.off, lam, centre_of(active))
        try:
            cov = np.linalg.inv(H)
        except np.linalg.LinAlgError:
            cov = np.linalg.pinv(H)
        se = np.sqrt(np.maximum(np.diag(cov)[1:], 0))
        z = np.abs(coef[1:]) / np.where(se > 0, se, np.inf)
        weak = [i for i in range(len(active)) if z[i] < Z95]
        if not weak:
            return active, dropped, coef, se
        i = min(weak, key=lambda i: z[i])
        n = active.pop(i)
        lo, hi = math.exp(coef[1 + i] - Z95 * se[i]), math.exp(coef[1 + i] + Z95 * se[i])
        dropped[n] = (f"95 % CI of RR [{lo:.2f}, {hi:.2f}] includes 1 (z = {z[i]:.2f})",
                      float(coef[1 + i]), float(se[i]))


def select(design: Design, names: list[str], *, folds: int, penalties=DEFAULT_PENALTIES,
           prior: dict | None = None, range_penalty: float = RANGE_SEARCH_PENALTY,
           sweeps: int = 3, progress=None) -> dict:
    """Choose ranges, penalty and kept factors on a :class:`Design` (no geodata).

    Parameters
    ----------
    design : Design
    names : list of str
        Factors, in order.
    folds : int
        Number of CV folds (``design.fold`` holds ids 0 … folds−1).
    penalties : sequence of float
        Ridge λ to choose from by CV (one value: no choice).
    prior : dict, optional
        Name → signed AHP weight (sum of |w| = 1) used as the ridge centre after
        rescaling to the fitted scale.
    range_penalty : float
        Ridge λ used while choosing ranges.
    sweeps : int
        Back-fitting sweeps at most.
    progress : callable, optional

    Returns
    -------
    dict
        ``ranges``, ``cv_by_range``, ``cv_without``, ``penalty``, ``penalty_cv``,
        ``coef``, ``se``, ``kept``, ``dropped`` (name → reason), ``prior_beta``,
        ``data_beta``, ``prior_scale``, ``cv``, ``null_cv``, ``intercept``.
    """
    cv = _CV(design, folds, range_penalty)
    # 1. ranges; 2. the AHP prior on the fitted scale
    cv_by_range, cv_without, fold_coef = _choose_ranges(cv, names, sweeps, progress)
    data_beta, prior_beta, scale = _prior_on_scale(cv, names, prior, min(penalties))

    def centre_of(active):
        return np.array([prior_beta.get(n, 0.0) for n in active])

    # 3. penalty by CV, 4. drop factors whose interval holds RR = 1
    if progress:
        progress("惩罚 (penalty) by cross-validation")
    penalty_cv, starts = {}, list(fold_coef) if not prior else None
    for lam in sorted(penalties):
        penalty_cv[lam], starts = cv.deviance(names, lam, centre_of(names), starts)
    lam = min(penalty_cv, key=lambda k: (penalty_cv[k], k))
    active, dropped, coef, se = _drop_weak(cv, names, lam, centre_of)
    if progress:
        progress("交叉验证 (final CV)")
    cv_final = cv.deviance(active, lam, centre_of(active))[0]
    null = cv.deviance([], lam, centre_of([]))[0]
    return {
        "ranges": cv.ranges, "cv_by_range": cv_by_range, "cv_without": cv_without,
        "penalty": lam, "penalty_cv": penalty_cv, "intercept": float(coef[0]),
        "coef": dict(zip(active, coef[1:].tolist(), strict=True)),
        "se": dict(zip(active, se.tolist(), strict=True)), "kept": active,
        "dropped": dropped, "prior_beta": prior_beta, "data_beta": data_beta,
        "prior_scale": scale, "cv": cv_final, "null_cv": null,
    }
