"""Calibrate factor weights and ranges from past incidents (risk-terrain style).

The unit is the patrol cell (``patrol_cell_size``, e.g. 100 m). For every
factor and every candidate influence range the factor is computed on the patrol
grid with :func:`riskmap.score.engine.factor_on_grid` (once per factor and range,
cached), and the incidents are counted per cell. A log-linear Poisson model

    log λ_c = b0 + log(area share_c) + Σ_i β_i x_ic

is then fitted on the cells inside the district. Because the map's score is
``baseline + Σ w_i x_i`` with positive scaling, weights ``w_i ∝ β_i`` rank cells
exactly as the fitted intensity does; so the calibrated weights are the β scaled
so that the positive ones sum to 100, signs kept.

Method (all deterministic for a seed; numpy/scipy only):

1. **Folds.** Square blocks of ``calibration.block_size`` m (default 2000) are
   shuffled with the seed and dealt round-robin into ``folds`` (default 5)
   spatial cross-validation folds.
2. **Ranges.** Each factor starts at the range that is best on its own, then
   a few back-fitting sweeps re-choose each factor's range with the others in
   the model: per fold the model of the other factors is fitted on the training
   blocks, its linear predictor becomes an offset, and every candidate range is
   fitted as a two-parameter Poisson model (shift + β) vectorised over the
   candidates; the range with the lowest held-out deviance summed over folds
   wins. This profile step replaces refitting the whole model per candidate.
3. **Penalty.** An L2 (ridge) penalty ``½ λ Σ (β_i − c_i)²`` — ``c = 0``, or the
   AHP prior (below) — is chosen from a small grid by the same block CV. The
   fit is exact penalised Newton (IRLS with step halving); there is no L1 term
   (with at most ~15 factors the selection is done by CV ranges and the Wald
   rule below; say so if a lasso path is wanted).
4. **Keep or drop.** From the final fit, ``RR = exp(β)`` is the relative risk
   of a cell at factor value 1 against 0, with a 95 % Wald interval from the
   penalised Fisher information (``se = sqrt(diag(H_pen⁻¹))``: the Laplace
   posterior under the Gaussian prior the ridge stands for). The least
   significant factor whose interval contains RR = 1 is dropped and the model
   refitted, until every kept factor's interval excludes 1.
5. **AHP prior.** When the project has an ``ahp`` matrix, its weights (signs
   from the project weights) are rescaled to the fitted scale — so that their
   absolute sum equals the absolute sum of the data-only β of those factors —
   and used as the ridge centre ``c``: the ridge pulls towards the experts
   instead of towards 0, CV decides how hard, and the result reports how far
   the data moved each weight.

Dated factors (a density with ``half_life_days``, or any factor read from the
incidents layer itself) would see the very cases they are scored against. When
a project has any, calibration splits time at the median event date ``s``
before ``until``: dated factors are computed as of ``s`` from data before it,
and only events in ``[s, until)`` are counted — a forecast design, as the map
is used. A factor built from the incidents layer without dates is dropped
(circular).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from riskmap.errors import LayerError, ProjectFileError, RiskmapError
from riskmap.grid import Grid
from riskmap.load.project import FactorSpec, Project
from riskmap.models.power import is_anomaly_source, read_anomaly_source

log = logging.getLogger(__name__)

DEFAULT_RANGES = (100.0, 250.0, 500.0, 1000.0, 1500.0, 2000.0)
DEFAULT_PENALTIES = (0.01, 0.1, 0.3, 1.0, 3.0, 10.0)
PRIOR_PENALTIES = (0.01, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
RANGE_SEARCH_PENALTY = 0.1
Z95 = 1.959963984540054
_RANGE_PARAM = {"proximity": "range", "ring": "distance", "density": "bandwidth"}


# --- options ---------------------------------------------------------------------
@dataclass(frozen=True)
class Options:
    """Checked ``calibration`` options of a project."""

    ranges: tuple[float, ...] = DEFAULT_RANGES
    folds: int = 5
    block_size: float = 2000.0
    seed: int = 0
    penalty: tuple[float, ...] | None = None  # None: the default grid


def options_from_project(project: Project, seed: int | None = None) -> Options:
    """Check ``project.calibration`` (keys ranges, folds, block_size, seed, penalty).

    Raises
    ------
    ProjectFileError
        Naming ``calibration.<key>`` and the project file.
    """
    raw = project.calibration or {}

    def fail(key, msg):
        raise ProjectFileError(f"{project.path}: calibration.{key}: {msg}")

    def num(v):
        return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)

    ranges = raw.get("ranges", list(DEFAULT_RANGES))
    if not isinstance(ranges, list) or not ranges or not all(num(r) and r > 0 for r in ranges):
        fail("ranges", "must be a list of positive distances in metres, e.g. "
             "[100, 250, 500, 1000, 1500, 2000]")
    folds = raw.get("folds", 5)
    if not isinstance(folds, int) or isinstance(folds, bool) or folds < 2:
        fail("folds", f"must be a whole number ≥ 2, got {folds!r}")
    block = raw.get("block_size", 2000)
    if not num(block) or block <= 0:
        fail("block_size", f"must be a positive number of metres, got {block!r}")
    s = raw.get("seed", 0) if seed is None else seed
    if not isinstance(s, int) or isinstance(s, bool) or s < 0:
        fail("seed", f"must be a whole number ≥ 0, got {s!r}")
    pen = raw.get("penalty")
    if pen is not None:
        pen = pen if isinstance(pen, list) else [pen]
        if not pen or not all(num(p) and p >= 0 for p in pen):
            fail("penalty", "must be a number ≥ 0 (ridge λ) or a list of them to choose from "
                 "by cross-validation")
        pen = tuple(float(p) for p in pen)
    return Options(tuple(sorted({float(r) for r in ranges})), folds, float(block), s, pen)


# --- results ---------------------------------------------------------------------
@dataclass
class FactorResult:
    """What calibration found for one factor."""

    name: str
    label: str
    kind: str
    param: str | None  # project key set by the range: range / distance / bandwidth / None
    original_value: float | None  # that key's value in the project
    original_weight: float
    range: float | None = None  # chosen influence range R (m); bandwidth = R / 4
    cv_by_range: dict = field(default_factory=dict)  # R -> CV deviance (others in the model)
    cv_without: float = math.nan  # CV deviance with the factor left out
    beta: float = 0.0
    se: float = math.nan
    kept: bool = False
    reason: str = ""
    weight: float = 0.0
    prior_beta: float | None = None  # AHP prior on the fitted scale
    data_beta: float | None = None  # data-only β (ridge towards 0, smallest λ)

    @property
    def value(self) -> float | None:
        """Value of the project key ``param`` for the chosen range."""
        if self.range is None:
            return None
        return self.range / 4.0 if self.param == "bandwidth" else self.range

    @property
    def rr(self) -> float:
        """Relative risk ``exp(β)`` for factor value 1 against 0."""
        return math.exp(self.beta)

    @property
    def rr_ci(self) -> tuple[float, float]:
        """95 % Wald interval of the relative risk."""
        if not math.isfinite(self.se):
            return (math.nan, math.nan)
        return (math.exp(self.beta - Z95 * self.se), math.exp(self.beta + Z95 * self.se))

    @property
    def moved(self) -> float | None:
        """How far the data moved β from the AHP prior (β − prior)."""
        return None if self.prior_beta is None else self.beta - self.prior_beta


@dataclass
class CalibrationResult:
    """Calibrated weights and ranges with the evidence behind them."""

    project: Project
    factors: list[FactorResult]
    intercept: float
    penalty: float
    penalty_cv: dict  # λ -> CV deviance
    cv_deviance: float  # final model, spatial-block CV, held-out Poisson deviance
    null_cv_deviance: float  # intercept-only model, same folds
    n_events: int
    n_cells: int
    options: Options
    until: dt.date | None = None
    split: dt.date | None = None
    ahp: object | None = None
    prior_scale: float | None = None
    notes: list[str] = field(default_factory=list)
    timings: dict = field(default_factory=dict)

    @property
    def deviance_explained(self) -> float:
        """Share of the null model's CV deviance the final model removes."""
        if not self.null_cv_deviance > 0:
            return math.nan
        return 1.0 - self.cv_deviance / self.null_cv_deviance

    def weights(self) -> dict[str, float]:
        """New weight per factor (0 for dropped factors)."""
        return {f.name: f.weight for f in self.factors}

    def to_dict(self) -> dict:
        """Plain data (JSON-ready)."""
        return {
            "project": str(self.project.path),
            "until": self.until.isoformat() if self.until else None,
            "split": self.split.isoformat() if self.split else None,
            "n_events": self.n_events, "n_cells": self.n_cells,
            "cell_size_m": self.project.patrol_cell_size,
            "folds": self.options.folds, "block_size_m": self.options.block_size,
            "seed": self.options.seed, "penalty": self.penalty,
            "penalty_cv": {str(k): v for k, v in self.penalty_cv.items()},
            "cv_deviance": self.cv_deviance, "null_cv_deviance": self.null_cv_deviance,
            "deviance_explained": self.deviance_explained,
            "interval": "95 % Wald, penalised Fisher information",
            "ahp": None if self.ahp is None else {
                "ri_table": self.ahp.ri_table, "cr": self.ahp.cr,
                "prior_scale": self.prior_scale},
            "factors": [{
                "name": f.name, "label": f.label, "kind": f.kind, "param": f.param,
                "original_value": f.original_value, "value": f.value, "range_m": f.range,
                "original_weight": f.original_weight, "weight": f.weight, "beta": f.beta,
                "se": f.se, "rr": f.rr, "rr_ci": list(f.rr_ci), "kept": f.kept,
                "reason": f.reason, "prior_beta": f.prior_beta, "moved": f.moved,
                "data_beta": f.data_beta,
                "cv_by_range": {str(k): v for k, v in f.cv_by_range.items()},
                "cv_without": f.cv_without} for f in self.factors],
            "notes": list(self.notes), "timings": dict(self.timings),
        }

    def to_project_yaml(self, project_path) -> str:
        """Project-file text with the calibrated weights and ranges.

        Where the target sits in the project's folder and the project is block
        YAML, the original text is edited in place (comments kept): each
        factor's ``weight`` and its range key (``range``, ``distance`` or
        ``bandwidth``). Otherwise the project is written out anew as YAML with
        every relative path rebased to the target's folder (comments are lost).
        Dropped factors get weight 0 and a comment saying why. Nothing is
        written here: the caller writes the text.

        Parameters
        ----------
        project_path : str or Path
            Where the text will be written (paths are made relative to it).

        Returns
        -------
        str

        Raises
        ------
        RiskmapError
            When no factor with a positive weight was kept.
        """
        if not any(f.kept and f.weight > 0 for f in self.factors):
            raise RiskmapError("calibration kept no factor with a positive weight; nothing "
                               "to write (the project's weights are left as they are)")
        return _without_ahp(_project_text(self, Path(project_path)))


def _without_ahp(text: str) -> str:
    """Comment out a top-level ``ahp:`` block: loading would re-apply its weights."""
    import yaml

    try:
        has = isinstance(yaml.safe_load(text), dict) and "ahp" in yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if not has:
        return text
    out, inside = [], False
    for line in text.splitlines(keepends=True):
        top = line[:1] not in (" ", "\t", "#", "\n", "\r", "-") and line.strip()
        if top:
            inside = line.startswith("ahp:")
            if inside:
                out.append("# calibrate: the ahp section below is commented out: the calibrated "
                           "weights replace the expert weights (they were the fit's prior)\n")
        out.append("# " + line if inside else line)
    return "".join(out)


# --- Poisson fitting ---------------------------------------------------------------
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


def _candidate_fits(C, y, off, lam, maxit=30, tol=1e-7):
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


# --- the design: cells, counts, folds and candidate columns ----------------------------
@dataclass
class Design:
    """Cells inside the district on the patrol grid, with counts, folds and columns."""

    grid: Grid
    cells: np.ndarray  # flat indices (patrol grid) of the cells used
    offset: np.ndarray  # log of the cell's share inside the district
    y: np.ndarray  # events per cell
    fold: np.ndarray  # fold id per cell
    columns: dict  # factor name -> {R (float) or None: values per cell (float64)}


def block_folds(grid: Grid, cells: np.ndarray, block_size: float, folds: int,
                seed: int) -> np.ndarray:
    """Fold id per cell: square blocks of ``block_size`` m dealt round-robin in seeded order."""
    bs = max(1, math.ceil(block_size / grid.cell - 1e-9))
    row, col = np.divmod(cells, grid.ncols)
    nbc = math.ceil(grid.ncols / bs)
    block = (row // bs) * nbc + (col // bs)
    ids = np.unique(block)
    order = np.random.default_rng(seed).permutation(len(ids))
    fold_of = np.empty(len(ids), np.int64)
    fold_of[order] = np.arange(len(ids)) % folds
    return fold_of[np.searchsorted(ids, block)]


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
    y, off, fold = design.y, design.offset, design.fold
    cols = design.columns
    trains = [np.flatnonzero(fold != k) for k in range(folds)]
    tests = [np.flatnonzero(fold == k) for k in range(folds)]
    ranges = {}
    cv_by_range, cv_without = {}, {}

    def design_matrix(active):
        if not active:
            return np.zeros((len(y), 0))
        return np.column_stack([cols[n][ranges[n]] for n in active])

    def candidates_cv(n, etas):
        """CV deviance of each candidate range of ``n`` given per-fold offsets ``etas``."""
        cand = list(cols[n])
        C = np.vstack([cols[n][r] for r in cand])
        tot, none = np.zeros(len(cand)), 0.0
        for tr, te, eta in zip(trains, tests, etas, strict=True):
            shift = math.log(max(y[tr].sum(), 0.5) / np.exp(eta[tr]).sum())
            none += poisson_deviance(y[te], np.exp(eta[te] + shift))
            a, b = _candidate_fits(C[:, tr], y[tr], eta[tr], range_penalty)
            mu = np.exp(eta[te][None, :] + a[:, None] + b[:, None] * C[:, te])
            tot += [poisson_deviance(y[te], mu[k]) for k in range(len(cand))]
        return cand, tot, none

    # 1. each factor's best range on its own ...
    base = [np.broadcast_to(off, off.shape) for _ in range(folds)]
    for n in names:
        cand, tot, _ = candidates_cv(n, base)
        ranges[n] = cand[int(np.argmin(tot))]

    # ... then back-fitting sweeps: per fold the full model on the training blocks;
    # a factor's candidates are fitted against the others' part of its predictor
    fold_coef = [None] * folds

    def fit_folds():
        X = design_matrix(names)
        for k, tr in enumerate(trains):
            fold_coef[k], _ = fit_poisson(X[tr], y[tr], off[tr], range_penalty,
                                          start=fold_coef[k])
        return X

    X = fit_folds()
    for sweep in range(sweeps):
        changed = False
        for i, n in enumerate(names):
            if progress:
                progress(f"范围 (ranges) sweep {sweep + 1}: {n}")
            etas = [off + c[0] + X @ c[1:] - c[1 + i] * X[:, i] for c in fold_coef]
            cand, tot, none = candidates_cv(n, etas)
            cv_by_range[n] = dict(zip(cand, tot.tolist(), strict=True))
            cv_without[n] = none
            best = cand[int(np.argmin(tot))]
            if best != ranges[n]:
                ranges[n], changed = best, True
                X = fit_folds()
        if not changed:
            break

    def cv_dev(active, lam, centre, starts=None):
        X = design_matrix(active)
        tot, coefs = 0.0, []
        for k, (tr, te) in enumerate(zip(trains, tests, strict=True)):
            coef, _ = fit_poisson(X[tr], y[tr], off[tr], lam, centre,
                                  start=None if starts is None else starts[k])
            coefs.append(coef)
            tot += poisson_deviance(y[te], np.exp(off[te] + coef[0] + X[te] @ coef[1:]))
        return tot, coefs

    # 2. the AHP prior on the fitted scale
    X = design_matrix(names)
    data_coef, _ = fit_poisson(X, y, off, min(penalties))
    data_beta = dict(zip(names, data_coef[1:].tolist(), strict=True))
    prior_beta, scale = {}, None
    if prior:
        listed = [n for n in names if n in prior]
        tot_w = sum(abs(prior[n]) for n in listed)
        scale = sum(abs(data_beta[n]) for n in listed) / tot_w if tot_w > 0 else 0.0
        prior_beta = {n: scale * prior[n] for n in listed}

    def centre_of(active):
        return np.array([prior_beta.get(n, 0.0) for n in active])

    # 3. penalty by CV, 4. drop factors whose interval holds RR = 1
    if progress:
        progress("惩罚 (penalty) by cross-validation")
    penalty_cv, starts = {}, list(fold_coef) if not prior else None
    for lam in sorted(penalties):
        penalty_cv[lam], starts = cv_dev(names, lam, centre_of(names), starts)
    lam = min(penalty_cv, key=lambda k: (penalty_cv[k], k))
    active, dropped = list(names), {}
    while True:
        X = design_matrix(active)
        coef, H = fit_poisson(X, y, off, lam, centre_of(active))
        try:
            cov = np.linalg.inv(H)
        except np.linalg.LinAlgError:
            cov = np.linalg.pinv(H)
        se = np.sqrt(np.maximum(np.diag(cov)[1:], 0))
        z = np.abs(coef[1:]) / np.where(se > 0, se, np.inf)
        weak = [i for i in range(len(active)) if z[i] < Z95]
        if not weak:
            break
        i = min(weak, key=lambda i: z[i])
        n = active.pop(i)
        lo, hi = math.exp(coef[1 + i] - Z95 * se[i]), math.exp(coef[1 + i] + Z95 * se[i])
        dropped[n] = (f"95 % CI of RR [{lo:.2f}, {hi:.2f}] includes 1 (z = {z[i]:.2f})",
                      float(coef[1 + i]), float(se[i]))
    if progress:
        progress("交叉验证 (final CV)")
    cv = cv_dev(active, lam, centre_of(active))[0]
    null = cv_dev([], lam, centre_of([]))[0]
    return {
        "ranges": ranges, "cv_by_range": cv_by_range, "cv_without": cv_without,
        "penalty": lam, "penalty_cv": penalty_cv, "intercept": float(coef[0]),
        "coef": dict(zip(active, coef[1:].tolist(), strict=True)),
        "se": dict(zip(active, se.tolist(), strict=True)), "kept": active,
        "dropped": dropped, "prior_beta": prior_beta, "data_beta": data_beta,
        "prior_scale": scale, "cv": cv, "null_cv": null,
    }


# --- from a project -------------------------------------------------------------------
def range_param(spec: FactorSpec) -> str | None:
    """The project key an influence range sets for this factor (None for 'inside')."""
    if spec.kind == "typed":
        return "bandwidth" if spec.params.get("method") == "density" else "range"
    return _RANGE_PARAM.get(spec.kind)


def spec_with_range(spec: FactorSpec, r: float | None) -> FactorSpec:
    """Copy of ``spec`` with influence range ``r`` (bandwidth ``r / 4`` for densities)."""
    key = range_param(spec)
    if key is None or r is None:
        return spec
    return replace(spec, params={**spec.params, key: r / 4.0 if key == "bandwidth" else r})


def calibrate(project: Project, *, until=None, seed: int | None = None,
              progress=None) -> CalibrationResult:
    """Calibrate the project's factor weights and ranges from its incidents.

    Parameters
    ----------
    project : Project
        Needs ``incidents`` (points, or polygons with ``judgement_field``).
    until : datetime.date or str, optional
        Use incidents dated strictly before this day (needs ``incidents.date_field``).
    seed : int, optional
        Seed of the fold assignment (default: ``calibration.seed``, else 0).
    progress : callable, optional
        Called with a short message per step.

    Returns
    -------
    CalibrationResult

    Raises
    ------
    ProjectFileError
        No incidents section, bad ``calibration`` or ``ahp`` options.
    LayerError
        Unreadable dates, too few events inside the district.
    """
    from riskmap.load.inputs import load_inputs
    from riskmap.load.layers import read_source
    from riskmap.score.engine import factor_on_grid

    t0 = time.perf_counter()
    timings = {}
    opts = options_from_project(project, seed)
    if not project.incidents:
        raise ProjectFileError(f"{project.path}: incidents: calibration needs a dated "
                               "incidents layer (incidents.source, incidents.date_field)")
    until = _as_date(until, project)
    notes: list[str] = []
    ahp_res, prior = None, None
    if project.ahp:
        from riskmap.models.ahp import ahp_from_project

        ahp_res = ahp_from_project(project)
        sign = {f.name: (-1.0 if f.weight < 0 else 1.0) for f in project.factors}
        prior = {n: sign[n] * w for n, w in ahp_res.weight_of().items()}

    inputs = load_inputs(project, progress=progress)
    inc_src = project.incidents["source"]
    inc, _ = read_source(inc_src, project.crs)
    events, dates = _events(project, inc, inputs.district, until)
    timings["read_s"] = time.perf_counter() - t0

    # grids: patrol cells, their share inside the district (from analysis cells)
    t1 = time.perf_counter()
    from riskmap.grid import burn
    from riskmap.grid.blocks import blocks

    fine = Grid.from_bounds(inputs.district.bounds, project.cell_size, project.crs,
                            snap=project.patrol_cell_size)
    k = round(project.patrol_cell_size / project.cell_size)
    pgrid = fine.coarsen(k)
    share = blocks(burn.mask([inputs.district], fine), k).mean(axis=2).reshape(-1)

    # dated factors and the time split
    def same_source(s):
        return (s.path, s.layer, s.where) == (inc_src.path, inc_src.layer, inc_src.where)

    dated = {f.name for f in project.factors
             if same_source(f.source) or (f.kind == "density" and f.params.get("half_life_days"))}
    as_of = until or project.as_of
    split = None
    skip: dict[str, str] = {}
    if dated:
        if dates is None:
            for f in project.factors:
                if same_source(f.source):
                    skip[f.name] = "built from the incidents themselves and they have no dates"
        elif len(events):
            split = pd.Timestamp(np.median(dates.to_numpy().astype("datetime64[D]")
                                           .astype(np.int64)), unit="D").date()
            keep = dates.dt.date.to_numpy() >= split
            events = events[keep]
            notes.append(f"dated factors ({', '.join(sorted(dated - set(skip)))}) computed as "
                         f"of {split} from data before it; events counted from {split} to "
                         f"{until or 'the end'} (forecast design, no self-prediction)")
    y_all = _count(events, pgrid, project.incidents.get("events_as", "centroid"))
    cells = np.flatnonzero((share > 0) | (y_all > 0))
    y = y_all[cells]
    offset = np.log(np.maximum(share[cells], 1.0 / (k * k)))
    fold = block_folds(pgrid, cells, max(opts.block_size, pgrid.cell), opts.folds, opts.seed)
    if y.sum() < 10:
        raise LayerError(f"{inc_src}: only {int(y.sum())} incident(s) inside the district "
                         f"{'before ' + str(until) if until else ''} for calibration; need ≥ 10")
    timings["grid_s"] = time.perf_counter() - t1

    # candidate columns, one factor raster per (factor, range)
    t1 = time.perf_counter()
    columns, names = {}, []
    for f in project.factors:
        if f.name in skip:
            continue
        gdf = inputs.factors[f.name]
        f_as_of = as_of
        cut = split or until
        if is_anomaly_source(f.source) and cut is not None:
            # meter readings from the counted period on would predict its own cases
            try:
                gdf = read_anomaly_source(project, f.source, until=cut)[0]
            except LayerError:
                gdf = gdf.iloc[:0]
            notes.append(f"{f.name}: the meter table re-scored from readings before {cut}")
        if f.name in dated and split is not None:
            f_as_of = split
            if same_source(f.source):
                fld = f.params.get("date_field") or project.incidents.get("date_field")
                d = pd.to_datetime(gdf[fld], errors="coerce")
                gdf = gdf[(d.dt.date < split).to_numpy()]
        cand = list(opts.ranges) if range_param(f) else [None]
        cols = {}
        for r in cand:
            if progress:
                progress(f"因子 {f.label} R = {r:g} m" if r else f"因子 {f.label}")
            if len(gdf) == 0:
                v = np.zeros(pgrid.size)
            else:
                v = factor_on_grid(spec_with_range(f, r), gdf, pgrid, f_as_of).value.reshape(-1)
            col = np.asarray(v[cells], dtype=np.float64)
            if np.ptp(col) > 0:
                cols[r] = col
        if not cols:
            skip[f.name] = "no variation inside the district at any range"
            continue
        columns[f.name] = cols
        names.append(f.name)
    timings["factors_s"] = time.perf_counter() - t1
    if not names:
        raise LayerError("no factor varies inside the district; nothing to calibrate")

    t1 = time.perf_counter()
    design = Design(pgrid, cells, offset, y.astype(np.float64), fold, columns)
    penalties = opts.penalty or (PRIOR_PENALTIES if prior else DEFAULT_PENALTIES)
    sel = select(design, names, folds=opts.folds, penalties=penalties,
                 prior=({n: prior[n] for n in names if n in prior} if prior else None),
                 progress=progress)
    timings["fit_s"] = time.perf_counter() - t1

    out = []
    pos = sum(b for b in sel["coef"].values() if b > 0)
    for f in project.factors:
        key = range_param(f)
        fr = FactorResult(f.name, f.label, f.kind, key,
                          None if key is None else float(f.params.get(key)), f.weight)
        if f.name in skip:
            fr.reason = skip[f.name]
            out.append(fr)
            continue
        fr.range = sel["ranges"][f.name]
        fr.cv_by_range = sel["cv_by_range"].get(f.name, {})
        fr.cv_without = sel["cv_without"].get(f.name, math.nan)
        fr.prior_beta = sel["prior_beta"].get(f.name)
        fr.data_beta = sel["data_beta"].get(f.name)
        if f.name in sel["coef"]:
            fr.beta, fr.se, fr.kept = sel["coef"][f.name], sel["se"][f.name], True
            fr.weight = round(100.0 * fr.beta / pos, 2) if pos > 0 else 0.0
            fr.reason = "RR 95 % CI excludes 1"
        else:
            fr.reason, fr.beta, fr.se = sel["dropped"][f.name]
        out.append(fr)
    timings["total_s"] = time.perf_counter() - t0
    if pos <= 0:
        notes.append("no kept factor raises risk: the data do not support a map from these "
                     "factors")
    return CalibrationResult(
        project=project, factors=out, intercept=sel["intercept"], penalty=sel["penalty"],
        penalty_cv=sel["penalty_cv"], cv_deviance=sel["cv"], null_cv_deviance=sel["null_cv"],
        n_events=int(y.sum()), n_cells=len(cells), options=opts, until=until, split=split,
        ahp=ahp_res, prior_scale=sel["prior_scale"], notes=notes, timings=timings)


def _as_date(v, project) -> dt.date | None:
    if v is None or isinstance(v, dt.date):
        return v.date() if isinstance(v, dt.datetime) else v
    try:
        return dt.date.fromisoformat(str(v))
    except ValueError:
        raise ProjectFileError(f"{project.path}: --until {v!r} is not a date like "
                               "2025-12-01") from None


def _events(project, inc, district, until):
    """Event geometries inside the district (and before ``until``) with their dates."""
    cfg = project.incidents
    src = cfg["source"]
    jf = cfg.get("judgement_field")
    if jf:
        if jf not in inc.columns:
            raise LayerError(f"{src}: no field {jf!r} (incidents.judgement_field)")
        j = inc[jf].astype(str).str.strip()
        inc = inc[j.str.startswith("违法").to_numpy()]
    df = cfg.get("date_field")
    dates = None
    if df:
        if df not in inc.columns:
            raise LayerError(f"{src}: no field {df!r} (incidents.date_field); fields: "
                             f"{', '.join(map(str, inc.columns[:-1]))}")
        dates = pd.to_datetime(inc[df], errors="coerce")
        if dates.isna().any():
            row = int(np.flatnonzero(dates.isna().to_numpy())[0])
            r = inc["_row"].iloc[row] if "_row" in inc.columns else row + 1
            raise LayerError(f"{src}: row {r}: {df!r} = {inc[df].iloc[row]!r} is not a date "
                             "(use 2025-03-17)")
        if until is not None:
            keep = (dates.dt.date < until).to_numpy()
            inc, dates = inc[keep], dates[keep]
    elif until is not None:
        raise ProjectFileError(f"{project.path}: incidents.date_field: --until needs the "
                               "incidents' date column")
    geoms = inc.geometry.values
    pt = shapely.point_on_surface(geoms)
    inside = shapely.contains(district, pt) | shapely.touches(district, pt)
    geoms = np.asarray(geoms)[inside]
    if dates is not None:
        dates = dates[inside].reset_index(drop=True)
    return geoms, dates


def _count(geoms, grid: Grid, events_as: str) -> np.ndarray:
    """Events per patrol cell (flat): centroids, or polygons spread by area share."""
    y = np.zeros(grid.size)
    if len(geoms) == 0:
        return y
    tid = shapely.get_type_id(geoms)
    poly = np.isin(tid, (3, 6))
    if events_as == "area" and poly.any():
        for g in geoms[poly]:
            x0, y0, x1, y1 = g.bounds
            r0, c0 = grid.rowcol(x0, y1)
            r1, c1 = grid.rowcol(x1, y0)
            rr, cc = np.meshgrid(np.arange(max(r0, 0), min(r1, grid.nrows - 1) + 1),
                                 np.arange(max(c0, 0), min(c1, grid.ncols - 1) + 1),
                                 indexing="ij")
            rr, cc = rr.ravel(), cc.ravel()
            xs = grid.x0 + cc * grid.cell
            ys = grid.y0 - rr * grid.cell
            boxes = shapely.box(xs, ys - grid.cell, xs + grid.cell, ys)
            a = shapely.area(shapely.intersection(boxes, g))
            if a.sum() > 0:
                np.add.at(y, rr * grid.ncols + cc, a / a.sum())
        geoms = geoms[~poly]
    if len(geoms):
        pts = shapely.point_on_surface(geoms)
        xy = shapely.get_coordinates(pts)
        r, c = grid.rowcol(xy[:, 0], xy[:, 1])
        ok = (r >= 0) & (r < grid.nrows) & (c >= 0) & (c < grid.ncols)
        y += np.bincount(r[ok] * grid.ncols + c[ok], minlength=grid.size)
    return y


def cpu_note() -> str:
    """Cores available to this process (for timing reports)."""
    try:
        return f"{len(os.sched_getaffinity(0))} cores"
    except AttributeError:  # pragma: no cover - not Linux
        return f"{os.cpu_count()} cores"


# --- the calibrated project file ---------------------------------------------------------
_ITEM = re.compile(r"^(?P<ind>\s*)-\s+(?P<rest>.*)$")
_KEY = re.compile(r"^(?P<key>[A-Za-z_]\w*)\s*:(?P<val>.*?)(?P<com>\s+#.*)?$")


def _num(v: float) -> str:
    return f"{v:.2f}".rstrip("0").rstrip(".") if v != int(v) else str(int(v))


def _changes(res: CalibrationResult) -> dict:
    out = {}
    for f in res.factors:
        ch = {"weight": f.weight if f.kept else 0.0}
        if f.kept:
            lo, hi = f.rr_ci
            ch["weight_note"] = (f"calibrate: was {_num(f.original_weight)}; RR {f.rr:.2f} "
                                 f"[{lo:.2f}, {hi:.2f}]")
        else:
            ch["weight_note"] = f"calibrate: dropped, {f.reason}; was {_num(f.original_weight)}"
        if f.param and f.value is not None and f.kept:
            ch[f.param] = f.value
            ch["param"] = f.param
            ch["param_note"] = f"calibrate: was {_num(f.original_value)}"
        out[f.name] = ch
    return out


def _header(res: CalibrationResult) -> str:
    o = res.options
    return (f"# calibrated by `riskmap calibrate` on {dt.date.today()} from "
            f"{res.project.path.name}: {res.n_events} incidents in {res.n_cells} cells of "
            f"{_num(res.project.patrol_cell_size)} m"
            f"{', before ' + str(res.until) if res.until else ''}"
            f"{', counted from ' + str(res.split) if res.split else ''}\n"
            f"# spatial-block CV ({o.folds} folds, {_num(o.block_size)} m blocks, seed {o.seed}): "
            f"Poisson deviance {res.cv_deviance:.1f} vs {res.null_cv_deviance:.1f} (null); "
            f"ridge λ = {res.penalty:g}\n"
            "# weights = fitted β scaled so the positive ones sum to 100 (signs kept)\n")


def _edit_text(text: str, changes: dict) -> str | None:
    """Edit weights and ranges in block-style YAML text; None when the layout is not simple."""
    lines = text.splitlines()
    start = next((i for i, ln in enumerate(lines) if re.match(r"^factors\s*:\s*(#.*)?$", ln)),
                 None)
    if start is None:
        return None
    end = next((i for i in range(start + 1, len(lines))
                if lines[i].strip() and not lines[i].startswith((" ", "\t", "#", "-"))),
               len(lines))
    items = [i for i in range(start + 1, end) if _ITEM.match(lines[i])]
    if not items:
        return None
    ind = len(_ITEM.match(lines[items[0]])["ind"])
    items = [i for i in items if len(_ITEM.match(lines[i])["ind"]) == ind]
    done = set()
    for a, b in zip(items, [*items[1:], end], strict=True):
        m = _ITEM.match(lines[a])
        col = len(lines[a]) - len(m["rest"])
        keys = {}
        for i in range(a, b):
            ln = lines[i]
            body = m["rest"] if i == a else (ln[col:] if ln[:col].strip() == "" else None)
            if body is None or (i > a and len(ln) > col and ln[col] == " "):
                continue
            km = _KEY.match(body)
            if km:
                keys[km["key"]] = (i, km)
        if "name" not in keys:
            return None
        name = keys["name"][1]["val"].strip().strip("'\"")
        ch = changes.get(name)
        if ch is None:
            continue
        for key, note in (("weight", "weight_note"), (ch.get("param"), "param_note")):
            if key is None:
                continue
            if key not in keys:
                return None
            i, km = keys[key]
            lines[i] = f"{lines[i][:col]}{key}: {_num(ch[key])}  # {ch[note]}"
        done.add(name)
    if done != set(changes):
        return None
    return "\n".join(lines) + ("\n" if text.endswith("\n") else "")


def _project_text(res: CalibrationResult, target: Path) -> str:
    import tomllib

    import yaml

    src = res.project.path
    text = src.read_text(encoding="utf-8-sig")
    changes = _changes(res)
    same = target.resolve().parent == src.parent.resolve()
    if same and src.suffix.lower() in (".yaml", ".yml"):
        edited = _edit_text(text, changes)
        if edited is not None and _check_text(edited, changes):
            return _header(res) + edited
    raw = tomllib.loads(text) if src.suffix.lower() == ".toml" else yaml.safe_load(text)
    from riskmap.load.project import rebase_paths

    rebase_paths(raw, src.parent, target.resolve().parent)
    for f in raw["factors"]:
        ch = changes.get(f.get("name"))
        if ch:
            f["weight"] = ch["weight"]
            if ch.get("param"):
                f[ch["param"]] = ch[ch["param"]]
    body = yaml.safe_dump(raw, allow_unicode=True, sort_keys=False, default_flow_style=False)
    note = "# (written anew: paths rebased to this file's folder; comments not kept)\n"
    return _header(res) + note + body


def _check_text(text: str, changes: dict) -> bool:
    import yaml

    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError:
        return False
    got = {f.get("name"): f for f in raw.get("factors", [])}
    for name, ch in changes.items():
        f = got.get(name)
        if f is None or abs(float(f.get("weight", math.nan)) - ch["weight"]) > 1e-9:
            return False
        if ch.get("param") and abs(float(f.get(ch["param"], math.nan)) - ch[ch["param"]]) > 1e-9:
            return False
    return True
