"""Choosing shapes, ranges, the ridge penalty and the kept factors by spatial-block CV.

Everything here works on a :class:`~riskmap.models.calibrate.design.Design`
(arrays only, no geodata), so it can be tested and timed on its own.

1. Each factor starts at the candidate (shape × range) that is best on its own.
2. Back-fitting sweeps: per fold, the model of the other factors gives an
   offset; every candidate of a factor is fitted against it on the training
   blocks and scored on the held-out ones (:func:`.search.score_candidates`).
   A shape other than the project's must gain :data:`.options.SHAPE_MARGIN`.
3. The ridge λ by the same CV; 4. the least significant factor whose 95 %
   interval of RR holds 1 is dropped until none does (sign constraints kept).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from riskmap.models.calibrate.options import (
    DEFAULT_PENALTIES,
    RANGE_SEARCH_PENALTY,
    SHAPE_MARGIN,
    Z95,
)
from riskmap.models.calibrate.panel import Panel, fit_panel, panel_deviance, predict
from riskmap.models.calibrate.search import Binned, FoldRows, score_rows

if TYPE_CHECKING:
    from riskmap.models.calibrate.design import Design

__all__ = ["CV", "SEARCH_CELLS", "select"]

#: cells the search for shapes and ranges runs on (every cell with an event, a
#: weighted sample of the others); the reported fits use every cell
SEARCH_CELLS = 25_000


class CV:
    """Folds of a design and its columns at the candidates chosen so far."""

    def __init__(self, design: Design, folds: int, range_penalty: float = RANGE_SEARCH_PENALTY,
                 signs: dict | None = None):
        self.d = design
        self.y = design.y
        self.trains = [np.flatnonzero(design.fold != k) for k in range(folds)]
        self.tests = [np.flatnonzero(design.fold == k) for k in range(folds)]
        self.range_penalty = range_penalty
        self.signs = signs or {}
        self.choice: dict[str, int] = {}
        self._bins: dict[str, Binned] = {}
        self._split = None  # (key, panel, [(train, test) panel per fold]) of the last CV
        self._rows: dict[tuple[str, int], FoldRows] = {}
        self._musum: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._logw = None if design.w is None else np.log(design.w)

    def binned(self, name: str) -> Binned:
        """The factor's candidates binned (made once)."""
        if name not in self._bins:
            col = self.d.columns[name]
            self._bins[name] = Binned(col.values,
                                      np.flatnonzero(col.covered) if col.dated else None)
        return self._bins[name]

    def order(self, active) -> list[str]:
        """Coefficient order: static factors first, then dated ones."""
        cols = self.d.columns
        return [n for n in active if not cols[n].dated] + [n for n in active if cols[n].dated]

    def panel(self, active, choice=None) -> tuple[Panel, list[str]]:
        """The panel of the ``active`` factors at their chosen candidates."""
        choice = choice or self.choice
        cols, order = self.d.columns, self.order(active)
        st = [n for n in order if not cols[n].dated]
        dt = [n for n in order if cols[n].dated]
        # filled in place: float32 to float64 in one pass, no stacking copy after
        X = np.empty((len(self.d.cells), len(st)))
        for i, n in enumerate(st):
            X[:, i] = cols[n].values[choice[n]]
        Z = np.empty((len(dt), *self.y.shape))
        for i, n in enumerate(dt):
            Z[i] = cols[n].values[choice[n]]
        return Panel(self.y, self.d.offset, X, Z, self.d.extra, self.d.w), order

    def split(self, active) -> tuple[Panel, list[str], list[tuple[Panel, Panel]]]:
        """The panel of ``active`` and its (training, held-out) panel per fold.

        Kept for the next call with the same factors and candidates (the ridge
        path fits the same folds once per λ); :meth:`forget` lets them go.
        """
        order = self.order(active)
        key = (tuple(order), tuple(self.choice[n] for n in order))
        if self._split is None or self._split[0] != key:
            self._split = None
            pn, _ = self.panel(active)
            self._split = (key, pn, [(pn.cells(tr), pn.cells(te))
                                     for tr, te in zip(self.trains, self.tests, strict=True)])
        return self._split[1], order, self._split[2]

    def forget(self) -> None:
        """Drop the fold panels kept by :meth:`split`."""
        self._split = None

    def sign_vector(self, order) -> np.ndarray:
        """+1 / −1 / 0 per coefficient of ``order``."""
        return np.array([self.signs.get(n, 0) for n in order], float)

    def fit(self, pn: Panel, order, lam, centre=None, start=None, idx=None,
            hessian: bool = True):
        """:func:`fit_panel` of ``pn`` (on cells ``idx``) with the factors' signs."""
        sub = pn if idx is None else pn.cells(idx)
        return fit_panel(sub, lam, centre, start, self.sign_vector(order), hessian=hessian)

    def deviance(self, active, lam, centre=None, starts=None):
        """Held-out deviance summed over folds, and each fold's coefficients."""
        _, order, folds = self.split(active)
        tot, coefs = 0.0, []
        for k, (te, (sub, held)) in enumerate(zip(self.tests, folds, strict=True)):
            coef, _ = fit_panel(sub, lam, centre, None if starts is None else starts[k],
                                self.sign_vector(order), hessian=False)
            coefs.append(coef)
            w = None if self.d.w is None else self.d.w[te]
            tot += panel_deviance(held.y, predict(held, coef), w)
        return tot, coefs

    def fold_rows(self, name: str, k: int) -> FoldRows:
        """The counts' side of fold ``k`` for factor ``name`` (made once)."""
        key = (name, k)
        if key not in self._rows:
            self._rows[key] = FoldRows(self.binned(name), self.y, self.d.fold == k)
        return self._rows[key]

    def _mu_sum(self, k: int, eta: np.ndarray) -> np.ndarray:
        """``Σ_p e^η`` per cell of fold ``k``'s predictor (kept while ``eta`` is the same array)."""
        got = self._musum.get(k)
        if got is None or got[0] is not eta:
            got = self._musum[k] = (eta, np.exp(eta).sum(0))
        return got[1]

    def candidates(self, name: str, etas: list, parts: list):
        """CV deviance of each candidate of ``name`` given per-fold predictors without it.

        ``parts[k]`` is the factor's own part of ``etas[k]`` (0, ``(1, n)`` or
        ``(P, n)``): the model without the factor is ``E = η − part`` (and the
        log cell weights).
        """
        col = self.d.columns[name]
        B = self.binned(name)
        tot, none = np.zeros(len(col.cands)), 0.0
        ab = []
        logw = self._logw
        for k, (eta, part) in enumerate(zip(etas, parts, strict=True)):
            F = self.fold_rows(name, k)
            part = None if np.isscalar(part) else part
            Ey = eta.ravel()[F.at]
            if part is not None:
                Ey = Ey - (part[0, F.cell] if part.shape[0] == 1 else part.ravel()[F.at])
            if logw is not None:
                Ey = Ey + logw[F.cell]
            if B.periods is None:
                # Σ_p e^(η − part + log w) = e^(log w − part) Σ_p e^η: part and w are per cell
                Mr = self._mu_sum(k, eta)
                s = (0.0 if logw is None else logw) - (0.0 if part is None else part[0])
                if not np.isscalar(s):
                    Mr = Mr * np.exp(s)
            else:
                Ep = eta[B.periods]
                if part is not None:
                    Ep = Ep - part[B.periods]
                if logw is not None:
                    Ep = Ep + logw
                Mr = np.exp(Ep).ravel()
            dev, n0, a, b = score_rows(B, F, Mr, Ey, self.range_penalty)
            tot += dev
            none += n0
            ab.append((a, b))
        return tot, none, ab


def _penalised(col, tot: np.ndarray) -> np.ndarray:
    extra = np.full(len(tot), SHAPE_MARGIN)
    extra[list(col.own)] = 0.0
    return tot + extra


def _part(cv: CV, name, order, coef, P) -> np.ndarray:
    """Factor ``name``'s part of the predictor at its current candidate (P × n or n)."""
    if name not in order:
        return 0.0
    col = cv.d.columns[name]
    b = coef[P + order.index(name)]
    v = col.values[cv.choice[name]].astype(np.float64)
    return b * v if col.dated else (b * v)[None, :]


def _choose(cv: CV, names, sweeps: int, progress):
    """Each factor's best candidate alone, then back-fitting sweeps; sets ``cv.choice``."""
    P = cv.y.shape[0]
    base_pn, _ = cv.panel([])
    base = []
    for tr in cv.trains:
        c0, _ = fit_panel(base_pn.cells(tr), 0.0, hessian=False)
        base.append(predict(base_pn, c0))
    zero = [0.0] * len(cv.trains)
    cv_by, cv_without = {}, {}
    for n in names:
        tot, _, _ = cv.candidates(n, base, zero)
        cv.choice[n] = int(np.argmin(_penalised(cv.d.columns[n], tot)))
    fold_coef = [None] * len(cv.trains)
    for sweep in range(sweeps):
        pn, order = cv.panel(names)
        fold_coef = [cv.fit(pn, order, cv.range_penalty, start=st, idx=tr, hessian=False)[0]
                     for tr, st in zip(cv.trains, fold_coef, strict=True)]
        etas = [predict(pn, c) for c in fold_coef]
        changed = False
        for n in names:
            if progress:
                progress(f"形状与范围 (shapes and ranges) sweep {sweep + 1}: {n}")
            parts = [_part(cv, n, order, c, P) for c in fold_coef]
            tot, none, ab = cv.candidates(n, etas, parts)
            cv_by[n], cv_without[n] = tot, none
            best = int(np.argmin(_penalised(cv.d.columns[n], tot)))
            if best != cv.choice[n]:
                changed = True
                col = cv.d.columns[n]
                i = order.index(n)
                for k, (a, b) in enumerate(ab):  # back-fit: the new column in place
                    new = b[best] * col.values[best].astype(np.float64)
                    etas[k] = etas[k] - parts[k] + (new if col.dated else new[None, :]) + a[best]
                    fold_coef[k] = fold_coef[k].copy()
                    fold_coef[k][P + i] = b[best]
                    fold_coef[k][:P] += a[best]
                cv.choice[n] = best
        if not changed:
            break
    return cv_by, cv_without


def _prior_on_scale(cv: CV, names, prior: dict | None, lam: float):
    """Data-only β (ridge ``lam`` towards 0) and the AHP prior rescaled to their size."""
    pn, order = cv.panel(names)
    coef, _ = cv.fit(pn, order, lam, hessian=False)
    P = cv.y.shape[0]
    data_beta = {n: float(coef[P + i]) for i, n in enumerate(order)}
    prior_beta, scale = {}, None
    if prior:
        listed = [n for n in names if n in prior]
        tot_w = sum(abs(prior[n]) for n in listed)
        scale = sum(abs(data_beta[n]) for n in listed) / tot_w if tot_w > 0 else 0.0
        prior_beta = {n: scale * prior[n] for n in listed}
    return data_beta, prior_beta, scale, coef


def _drop_weak(cv: CV, names, lam: float, centre_of, start=None):
    """Drop the least significant factor while a 95 % interval of RR holds 1."""
    active, dropped = list(names), {}
    P = cv.y.shape[0]
    while True:
        pn, order = cv.panel(active)
        coef, H = cv.fit(pn, order, lam, centre_of(order), start)
        try:
            cov = np.linalg.inv(H)
        except np.linalg.LinAlgError:
            cov = np.linalg.pinv(H)
        se = np.sqrt(np.maximum(np.diag(cov)[P:P + len(order)], 0))
        beta = coef[P:P + len(order)]
        z = np.abs(beta) / np.where(se > 0, se, np.inf)
        weak = [i for i in range(len(order)) if z[i] < Z95]
        if not weak:
            return order, dropped, coef, se, cov
        i = min(weak, key=lambda i: z[i])
        n = order[i]
        active.remove(n)
        start = np.delete(coef, P + i)  # the order of the others is kept
        lo, hi = math.exp(beta[i] - Z95 * se[i]), math.exp(beta[i] + Z95 * se[i])
        why = (f"held at 0 by its sign constraint ({'+' if cv.signs.get(n, 0) > 0 else '-'})"
               if cv.signs.get(n) and beta[i] == 0 else
               f"95 % CI of RR [{lo:.2f}, {hi:.2f}] includes 1 (z = {z[i]:.2f})")
        dropped[n] = (why, float(beta[i]), float(se[i]))


def select(design: Design, names: list[str], *, folds: int, penalties=DEFAULT_PENALTIES,
           prior: dict | None = None, range_penalty: float = RANGE_SEARCH_PENALTY,
           sweeps: int = 3, signs: dict | None = None, progress=None,
           design_seed: int = 0) -> dict:
    """Choose candidates, penalty and kept factors on a :class:`Design` (no geodata).

    Parameters
    ----------
    design : Design
    names : list of str
        Factors, in order (each has a :class:`~.candidates.Column`).
    folds : int
        Number of CV folds (``design.fold`` holds ids 0 … folds−1).
    penalties : sequence of float
        Ridge λ to choose from by CV (one value: no choice).
    prior : dict, optional
        Name → signed AHP weight (sum of |w| = 1), the ridge centre after rescaling.
    range_penalty : float
        Ridge λ used while choosing candidates.
    sweeps : int
        Back-fitting sweeps at most.
    signs : dict, optional
        Name → +1 / −1: a factor that can only raise (lower) risk.
    progress : callable, optional

    Returns
    -------
    dict
        ``choice`` (name → candidate index), ``cv_by_cand`` (name → deviance per
        candidate), ``cv_without``, ``penalty``, ``penalty_cv``, ``coef``, ``se``,
        ``kept``, ``dropped`` (name → (reason, β, se)), ``prior_beta``,
        ``data_beta``, ``prior_scale``, ``cv``, ``null_cv``, ``levels`` (α per
        period), ``intercept``, ``cov`` (of the kept β), ``fold_coef``, ``cvobj``.
    """
    cv = CV(design, folds, range_penalty, signs)
    search = CV(design.sample(SEARCH_CELLS, design_seed), folds, range_penalty, signs)
    cv_by, cv_without = _choose(search, names, sweeps, progress)
    cv.choice = dict(search.choice)
    data_beta, prior_beta, scale, data_coef = _prior_on_scale(cv, names, prior, min(penalties))

    def centre_of(order):
        return np.array([prior_beta.get(n, 0.0) for n in order])

    if progress:
        progress("惩罚 (penalty) by cross-validation")
    penalty_cv, starts = {}, None
    order_all = search.order(names)
    for lam in sorted(penalties):
        penalty_cv[lam], coefs = search.deviance(names, lam, centre_of(order_all), starts)
        starts = None if prior else coefs
    lam = min(penalty_cv, key=lambda k: (penalty_cv[k], k))
    # started at the data-only fit of the same factors and cells (the same
    # optimum is reached; Newton from there takes about half the steps)
    order, dropped, coef, se, cov = _drop_weak(cv, names, lam, centre_of, data_coef)
    if progress:
        progress("交叉验证 (final CV)")
    search.forget()
    cv_final, fold_coef = cv.deviance(order, lam, centre_of(order), [coef] * folds)
    null = cv.deviance([], lam, centre_of([]))[0]
    cv.forget()
    P = design.y.shape[0]
    return {
        "choice": dict(cv.choice), "cv_by_cand": cv_by, "cv_without": cv_without,
        "penalty": lam, "penalty_cv": penalty_cv,
        "levels": coef[:P].tolist(), "intercept": float(np.log(np.mean(np.exp(coef[:P])))),
        "coef": {n: float(coef[P + i]) for i, n in enumerate(order)},
        "se": {n: float(se[i]) for i, n in enumerate(order)}, "kept": order,
        "dropped": dropped, "prior_beta": prior_beta, "data_beta": data_beta,
        "prior_scale": scale, "cv": cv_final, "null_cv": null, "lam": lam,
        "cov": cov[P:P + len(order), P:P + len(order)], "fold_coef": fold_coef,
        "full_coef": coef, "cvobj": cv,
    }
