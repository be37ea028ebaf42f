"""Backtest a risk map on incidents after a split date (``riskmap evaluate``).

The map is rebuilt from data dated *before* the split only, then scored on the
incidents dated on or after it, at the level of patrol cells, next to two
baselines computed in the same run on the same cells and events:

``model``
    The project's map (or a given GeoTIFF), patrol cells scored by the
    project's ``patrol_score`` rule (max or mean of their analysis cells).
``kde``
    A Gaussian kernel density (σ = ``incidents.kde_bandwidth`` m) of the
    pre-split events, averaged over each patrol cell — "last period's hot spots".
``uniform``
    One score everywhere: every cell tied, so the hit rate at p is p and the
    AUC 0.5.

Leakage guard: the layers are read once; every factor whose source is the
incidents layer (with the factor's ``date_field``, else the incidents'
``date_field``), and every factor with a ``date_field``, keeps only rows dated
before the split; ``as_of`` (the reference date of age weights) becomes the
split date. Undated layers (closed mines, outcrops, licences, ...) are used as
they are.

Figures (see :mod:`riskmap.models.metrics`): ``hit@P`` (share of test events in the
top P % of the district's area), ``PAI@P``, ``PEI@P``, ``AUC`` and ``n_test``.

Modules: :mod:`.incidents` (read, judged, dated), :mod:`.cells` (patrol cells,
event counts), :mod:`.scores` (the leakage guard, the map, KDE, a raster),
:mod:`.backtest` (:func:`evaluate`, rolling quarters, the shifted grid). The
files are written by :mod:`riskmap.export.evaluation`.
"""

from riskmap.models.evaluate.backtest import CURVE_STEP, MAPS, TABLE_KEYS, evaluate, quarters
from riskmap.models.evaluate.cells import Cells, count_events, patrol_cells
from riskmap.models.evaluate.errors import (
    EvaluationError,
    NoIncidentsError,
    NoTestEventsError,
    NoTrainingEventsError,
    SplitError,
)
from riskmap.models.evaluate.incidents import (
    FALSE_CHANGE,
    ILLEGAL,
    LEGAL,
    Incidents,
    read_incidents,
)
from riskmap.models.evaluate.scores import kde_score, model_surface, raster_score, training_inputs

__all__ = [
    "CURVE_STEP", "FALSE_CHANGE", "ILLEGAL", "LEGAL", "MAPS", "TABLE_KEYS", "Cells",
    "EvaluationError", "Incidents", "NoIncidentsError", "NoTestEventsError",
    "NoTrainingEventsError", "SplitError", "count_events", "evaluate", "kde_score",
    "model_surface", "patrol_cells", "quarters", "raster_score", "read_incidents",
    "training_inputs",
]
