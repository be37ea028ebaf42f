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
incidents layer itself) would see the very cases they are scored against. The
design is rolling-origin (:mod:`.periods`, :mod:`.dated`): the training window is
cut into periods, each dated factor is computed per period from data before the
period's start, and one Poisson fit runs over (cell × period) with a level per
period, so every event is counted and none is seen by a factor it is scored on.
A factor built from the incidents layer without dates is dropped (circular).

The steps live in :mod:`.options` (the ``calibration`` keys), :mod:`.design`
(cells, counts, folds, candidate columns), :mod:`.fit` (Poisson fits),
:mod:`.select` (ranges, penalty, kept factors by block CV), :mod:`.run`
(:func:`calibrate`), :mod:`.result` and :mod:`.projectfile` (the calibrated
project's text; the pipeline writes it).
"""

from riskmap.models.calibrate.design import (
    Design,
    Period,
    block_folds,
    count_per_cell,
    factor_columns,
    incident_events,
    patrol_design,
    range_param,
    spec_with_range,
    time_split,
)
from riskmap.models.calibrate.fit import candidate_fits, fit_poisson, poisson_deviance
from riskmap.models.calibrate.options import (
    DEFAULT_PENALTIES,
    DEFAULT_RANGES,
    PRIOR_PENALTIES,
    RANGE_SEARCH_PENALTY,
    Z95,
    Options,
    options_from_project,
)
from riskmap.models.calibrate.panel import Panel, fit_panel, panel_deviance
from riskmap.models.calibrate.projectfile import project_yaml
from riskmap.models.calibrate.result import CalibrationResult, FactorResult
from riskmap.models.calibrate.run import calibrate, cpu_note
from riskmap.models.calibrate.select import select

__all__ = [
    "DEFAULT_PENALTIES", "DEFAULT_RANGES", "PRIOR_PENALTIES", "RANGE_SEARCH_PENALTY", "Z95",
    "CalibrationResult", "Design", "FactorResult", "Options", "Panel", "Period",
    "block_folds", "calibrate", "candidate_fits", "count_per_cell", "cpu_note",
    "factor_columns", "fit_panel", "fit_poisson", "incident_events", "options_from_project",
    "panel_deviance", "patrol_design", "poisson_deviance", "project_yaml", "range_param", "select",
    "spec_with_range", "time_split",
]
