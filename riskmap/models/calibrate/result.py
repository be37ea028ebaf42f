"""What calibration found: per factor and for the whole model."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

from riskmap.factors import TRUNCATE
from riskmap.load.project import Project
from riskmap.models.calibrate.options import Z95, Options
from riskmap.models.calibrate.projectfile import project_yaml

__all__ = ["CalibrationResult", "FactorResult"]


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
    shape: str = ""  # the chosen form: a decay, "density", or "" (as it is)
    form: str = ""  # the chosen form in words ('exponential 1600 m')
    changes: dict = field(default_factory=dict)  # project keys the calibration sets
    cv_by_shape: dict = field(default_factory=dict)  # shape -> best CV deviance
    dated: bool = False  # computed per period from the data before it
    periods: str = ""  # which periods it was fitted on (a dated factor's coverage)
    added: bool = False  # a term calibration adds (near repeat, residual)
    source: object = None  # an added term's source (what the written project reads)

    @property
    def value(self) -> float | None:
        """Value of the project key ``param`` for the chosen range."""
        if self.range is None:
            return None
        return self.range / TRUNCATE if self.param == "bandwidth" else self.range

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
    periods: list = field(default_factory=list)  # labels of the design's periods
    weighted_events: float | None = None  # events after provenance weights
    provenance: dict | None = None  # the provenance column and its weights
    history: dict | None = None  # inspections of the field history used
    levels: list = field(default_factory=list)  # log level of each period
    residual: object | None = None  # ResidualTerm (raster and bandwidth) when kept
    interval: object | None = None  # Interval (per-cell bootstrap bands) when drawn
    design_grid: object | None = None  # the patrol grid of the design
    specs: dict = field(default_factory=dict)  # name -> FactorSpec of the added terms
    written: dict = field(default_factory=dict)  # what the pipeline wrote (name -> path)

    def factor(self, name: str) -> FactorResult:
        """The result of one factor (or added term) by name."""
        return next(f for f in self.factors if f.name == name)

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
            "design": "rolling origin: one Poisson fit over cell × period with period levels; "
                      "dated factors computed per period from data before it",
            "periods": list(self.periods), "levels": list(self.levels),
            "n_events": self.n_events, "n_cells": self.n_cells,
            "weighted_events": self.weighted_events, "provenance": self.provenance,
            "history": self.history,
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
                "data_beta": f.data_beta, "shape": f.shape, "form": f.form,
                "changes": dict(f.changes), "dated": f.dated, "periods": f.periods,
                "added": f.added,
                "cv_by_shape": dict(f.cv_by_shape),
                "cv_by_range": {str(k): v for k, v in f.cv_by_range.items()},
                "cv_without": f.cv_without} for f in self.factors],
            "residual": None if self.residual is None else self.residual.to_dict(),
            "cell_interval": None if self.interval is None else self.interval.to_dict(),
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
        return project_yaml(self, project_path)
