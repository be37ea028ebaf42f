"""Why a backtest cannot be run as asked."""

from __future__ import annotations

from riskmap.errors import RiskmapError

__all__ = ["EvaluationError", "NoIncidentsError", "NoTestEventsError", "NoTrainingEventsError",
           "SplitError"]


class EvaluationError(RiskmapError, ValueError):
    """A backtest cannot be run as asked."""


class NoIncidentsError(EvaluationError):
    """The project has no (dated) incidents layer."""


class SplitError(EvaluationError):
    """The split date lies outside the incident dates."""


class NoTestEventsError(EvaluationError):
    """No event on or after the split inside the district."""


class NoTrainingEventsError(EvaluationError):
    """No event before the split inside the district."""

