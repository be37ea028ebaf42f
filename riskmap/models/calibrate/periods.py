"""The rolling-origin design in time: periods, and which factors must not see them.

The training window is sliced into calendar periods (quarters by default). A
dated factor (past cases, tips, meter anomalies, returned finds) is computed for
each period from the data dated before the period's first day, as the map is
used: built on one day, patrolled after it. Every event falls in one period and
is counted there; none is discarded, and no factor sees the cases it is scored on.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from riskmap.load.project import Project, Source

__all__ = ["Period", "Periods", "dated_factors", "make_periods", "same_source", "time_split"]

_MONTHS = {"quarter": 3, "half": 6, "year": 12}


def same_source(a: Source, b: Source) -> bool:
    """Whether two sources read the same rows (file, layer, filter)."""
    return (a.path, a.layer, a.where) == (b.path, b.layer, b.where)


@dataclass
class Periods:
    """Calendar periods of the design: ``starts[i] <= day < ends[i]``."""

    starts: list[dt.date]
    ends: list[dt.date]
    kind: str = "quarter"

    def __len__(self) -> int:
        return len(self.starts)

    def of(self, dates) -> np.ndarray:
        """Period index of each date (``datetime64[D]``); -1 before the first, P after."""
        b = np.array([np.datetime64(s, "D") for s in self.starts])
        i = np.searchsorted(b, np.asarray(dates, "datetime64[D]"), side="right") - 1
        return np.where(np.asarray(dates, "datetime64[D]")
                        >= np.datetime64(self.ends[-1], "D"), len(self), i)

    def labels(self) -> list[str]:
        """``2024Q3``, ``2024H2`` or ``2024``."""
        out = []
        for s in self.starts:
            if self.kind == "quarter":
                out.append(f"{s.year}Q{(s.month - 1) // 3 + 1}")
            elif self.kind == "half":
                out.append(f"{s.year}H{(s.month - 1) // 6 + 1}")
            else:
                out.append(str(s.year))
        return out

    def days(self) -> np.ndarray:
        """Length of each period in days."""
        return np.array([(e - s).days for s, e in zip(self.starts, self.ends, strict=True)],
                        float)


def _period_start(d: dt.date, months: int) -> dt.date:
    m0 = ((d.month - 1) // months) * months + 1
    return dt.date(d.year, m0, 1)


def _add_months(d: dt.date, months: int) -> dt.date:
    y, m = divmod(d.month - 1 + months, 12)
    return dt.date(d.year + y, m + 1, 1)


def make_periods(dates, until: dt.date | None, kind: str = "quarter") -> Periods | None:
    """Calendar periods from the first event's period to ``until`` (or the last event).

    Returns None when the events have no dates (one undated period).
    """
    if dates is None or len(dates) == 0:
        return None
    months = _MONTHS[kind]
    first = dates.min().astype(dt.date)
    last = until if until is not None else dates.max().astype(dt.date) + dt.timedelta(days=1)
    s = _period_start(first, months)
    starts, ends = [], []
    while s < last:
        e = _add_months(s, months)
        starts.append(s)
        ends.append(min(e, last))
        s = e
    if not starts:
        return None
    return Periods(starts, ends, kind)


def dated_factors(project: Project) -> set[str]:
    """Factors that see dates: a half-life, a date column, the incidents, the meter table."""
    from riskmap.models.power import is_anomaly_source

    inc_src = project.incidents["source"] if project.incidents else None
    out = set()
    for f in project.factors:
        if inc_src is not None and same_source(f.source, inc_src):
            out.add(f.name)
        elif f.traits.dates or f.params.get("date_field") or f.params.get("half_life_days"):
            out.add(f.name)
        elif is_anomaly_source(f.source):
            out.add(f.name)
    return out


@dataclass
class Period:
    """What the design knows of time: the periods, the dated factors, what is left out."""

    dated: set[str]  # factors computed per period from the data before it
    periods: Periods | None = None  # None: one undated period
    split: dt.date | None = None  # kept for reports: the design counts every event
    skip: dict[str, str] = field(default_factory=dict)  # factor -> why it is left out
    notes: list[str] = field(default_factory=list)
    repeats: frozenset = frozenset()  # table rows of incidents that repeat a case


def time_split(project: Project, events, dates, until: dt.date | None, kind: str = "quarter"):
    """The design's periods; every event is counted (no split discards any).

    Factors built from the incidents themselves when the incidents have no dates
    are left out (they would predict their own cases).

    Returns
    -------
    (numpy.ndarray, Period)
        The events (all of them), and the period record.
    """
    inc_src = project.incidents["source"]
    period = Period(dated_factors(project))
    if dates is None:
        for f in project.factors:
            if same_source(f.source, inc_src):
                period.skip[f.name] = "built from the incidents themselves and they have no dates"
        return events, period
    period.periods = make_periods(dates, until, kind)
    return events, period
