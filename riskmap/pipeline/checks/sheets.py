"""Returned sheets checked as ``ingest`` reads them, row by row, storing nothing.

``riskmap check FILE --project PROJECT`` runs this: each row is matched to its
patrol cell exactly as ``ingest`` would (the same reader, the same surface), and
the rows ``ingest`` would refuse are named with the reason. The history is only
read (whether the same bytes went in before), never written.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

from riskmap.errors import RiskmapError
from riskmap.field.history import History, Inspection, Week, file_sha256
from riskmap.field.historyfile import history_path
from riskmap.field.ingest import RowError, read_returned
from riskmap.load.inputs import load_inputs
from riskmap.load.sources.returns import read_returned_file
from riskmap.score.engine import compute

__all__ = ["SheetCheck", "check_sheets", "is_returned_sheet"]


@dataclass
class SheetCheck:
    """What ``ingest`` would do with one returned file."""

    path: Path
    rows: list[Inspection] = field(default_factory=list)  #: the rows it would store
    errors: list[RowError] = field(default_factory=list)  #: the rows it would refuse
    notes: list[str] = field(default_factory=list)
    week: Week | None = None
    state: str | None = None  #: "done" / "partial" in the history, None: new
    failed: str | None = None  #: the whole file would be refused, why

    @property
    def exit_code(self) -> int:
        """0 every row goes in, 1 some rows would be refused, 2 the file would be."""
        return 2 if self.failed else (1 if self.errors else 0)


def is_returned_sheet(path) -> bool:
    """True when ``path`` is a workbook or table with a 排查结果 sheet (a returned ledger)."""
    if Path(path).suffix.lower() not in (".xlsx", ".xlsm", ".csv", ".txt"):
        return False
    try:
        read_returned_file(path)
    except (RiskmapError, OSError, ValueError):
        return False
    return True


def check_sheets(project, paths, week=None, progress=None) -> list[SheetCheck]:
    """Match every row of each returned file as ``ingest`` would; store nothing.

    Parameters
    ----------
    project : Project
    paths : iterable of path
    week : Week or str, optional
        As ``ingest --week``.
    progress : callable, optional

    Returns
    -------
    list of SheetCheck
    """
    week = Week.parse(week) if week else None
    with warnings.catch_warnings():  # the project's own layers: riskmap check PROJECT says them
        warnings.simplefilter("ignore")
        surface = compute(project, load_inputs(project, progress), progress)
    hist_path = history_path(project)
    hist = History(hist_path, project.crs, read_only=True) if hist_path.exists() else None
    out = []
    try:
        for p in map(Path, paths):
            res = SheetCheck(p)
            try:
                rows, errors, rep = read_returned(p, project, surface, week)
            except RiskmapError as e:
                res.failed = str(e)
                out.append(res)
                continue
            res.rows, res.errors, res.notes, res.week = rows, errors, list(rep.notes), rep.week
            if hist is not None:
                res.state = hist.file_state(file_sha256(p))
            out.append(res)
    finally:
        if hist is not None:
            hist.close()
    return out
