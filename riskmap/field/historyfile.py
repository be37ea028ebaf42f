"""The history database of a project: where it is, opened, probed and checked.

:class:`~riskmap.field.history.History` is the database itself; the commands
reach it through these (``history:`` of the project, else beside the project file).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from riskmap.field.history import History, HistoryError, _existing

__all__ = ["check_history", "history_path", "open_history", "require_writable"]


def history_path(project) -> Path:
    """The project's history database: its ``history`` path, else beside the project file."""
    return Path(project.history or Path(project.path).with_suffix(".history.gpkg"))


def require_writable(project) -> None:
    """Refuse before any heavy work when the project's history could not be written.

    An existing database is opened and probed (:meth:`History.require_writable`);
    for a missing one, its folder must let a new file be made.

    Raises
    ------
    HistoryError
    """
    path = history_path(project)
    if path.exists():
        with History(path, project.crs) as h:
            h.require_writable()
        return
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not os.access(folder, os.W_OK | os.X_OK):
        raise HistoryError(f"{path}: 历史数据库不能创建 (cannot create the history database: "
                           f"{folder} is not writable); make it writable, or plan with "
                           "--no-record, or set `history:` to a writable file")


def open_history(project, *, read_only: bool = False) -> History | None:
    """The history database of ``project`` (its ``history`` path, in its CRS).

    With ``read_only``, None when the project has no history yet (nothing is
    created); else a missing file starts a new history.
    """
    path = history_path(project)
    if read_only and not path.exists():
        return None
    return History(path, project.crs, read_only=read_only)


def check_history(path, crs: str) -> dict | None:
    """Check a history database as :class:`History` opens it, without creating or changing it.

    Parameters
    ----------
    path : str or Path
        The project's ``history`` file.
    crs : str
        The project's working CRS.

    Returns
    -------
    dict or None
        None when the file does not exist yet (the first plan or ingest creates
        it); else rows per table (:data:`riskmap.field.schema.TABLES`; 0 for a
        table an older database lacks), ``weeks``: the first and last week
        planned or inspected, and ``schema``: its version (an older one is
        upgraded by the next plan or ingest).

    Raises
    ------
    HistoryError
        With the message :class:`History` would give.
    """
    path = Path(path)
    if not _existing(path):
        return None
    # read-only: check never creates, lays out, upgrades or journals the file
    with History(path, crs, read_only=True) as h:
        try:
            out = h.counts()
            weeks = h.conn.execute("SELECT MIN(w), MAX(w) FROM (SELECT week AS w FROM "
                                   "plan_runs UNION ALL SELECT week FROM inspections)"
                                   ).fetchone()
        except sqlite3.DatabaseError as e:
            raise HistoryError(f"{path}: 不是可用的历史数据库 (not a usable history "
                               f"database): {e}; move it away or set `history:` in the "
                               "project file") from None
        out["weeks"] = [w for w in weeks if w]
        out["schema"] = h.schema
        return out
