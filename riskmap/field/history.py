"""The project's history database: weekly plans, returned inspections, ingested files.

One SQLite file beside the project (``<project>.history.gpkg`` by default), laid
out as a GeoPackage so that QGIS/ArcGIS open it: ``plan_cells`` and
``inspections`` are point layers (cell centres in the working CRS), the other
tables are attribute tables. Only the standard library's :mod:`sqlite3` writes it.

Guarantees
----------
* **Transactional.** :meth:`History.add_file` stores one returned ledger in one
  transaction: its rows, its reported bad rows and its file record appear
  together or not at all. A crash (power cut, killed process, an exception in
  the middle) leaves the database as it was before that file; SQLite's rollback
  journal undoes the half-written transaction on the next open.
* **Idempotent.** A file is known by the SHA-256 of its bytes, so ingesting the
  same workbook twice adds nothing; a row is known by its content (cell, week,
  date, result, inspector, note), so the same rows re-sent in another file add
  nothing either.
* **Append-only.** Nothing is ever deleted or updated: a new plan of the same
  week and township is a new plan run (the latest one counts), inspections only
  accumulate.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import shapely
from pyproj import CRS

from riskmap.errors import RiskmapError
from riskmap.field import schema
from riskmap.field.schema import FINDS, RESULTS
from riskmap.field.week import Week

__all__ = ["FINDS", "RESULTS", "FileOutcome", "History", "HistoryError", "Inspection", "Week",
           "check_history", "file_sha256", "open_history"]


class HistoryError(RiskmapError):
    """The history database cannot be opened, is not ours, or has another CRS."""


def file_sha256(path) -> str:
    """SHA-256 (hex) of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass
class Inspection:
    """One returned ledger row, matched to a cell."""

    cell_id: str
    week: Week
    result: str
    x: float
    y: float
    township: str | None = None
    village: str | None = None
    date: dt.date | None = None
    inspector: str | None = None
    note: str | None = None
    sheet: str | None = None
    row: int | None = None
    matched_by: str = "id"

    @property
    def found(self) -> bool:
        """True for every result but 未发现."""
        return self.result in FINDS

    def key(self) -> str:
        """Content key: the same inspection sent twice is stored once."""
        parts = [self.cell_id, str(self.week), self.date.isoformat() if self.date else "",
                 self.result, self.inspector or "", self.note or ""]
        return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


@dataclass
class FileOutcome:
    """What :meth:`History.add_file` did with one file."""

    sha256: str
    added: int = 0
    repeated: int = 0
    bad: int = 0
    already: bool = False


class History:
    """The history database of a project (a GeoPackage written with :mod:`sqlite3`).

    Parameters
    ----------
    path : str or Path
        Database file; created (with its folder) if missing.
    crs : str
        Working CRS of the project (``"EPSG:4547"`` or WKT); the geometry
        columns are in it. An existing database with another CRS is refused.

    Raises
    ------
    HistoryError
        The file is not a SQLite database, is a GeoPackage of something else, or
        was made for another CRS.
    """

    def __init__(self, path, crs: str):
        self.path = Path(path)
        self.crs = crs
        existed = _existing(self.path)  # only a missing file may start a new history
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # autocommit mode: every transaction is explicit (BEGIN ... COMMIT)
            self.conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self.conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.DatabaseError as e:
            raise HistoryError(f"{self.path}: 不是可用的历史数据库 (not a usable history "
                               f"database): {e}") from None
        try:
            self._setup(existed)
        except HistoryError:
            self.conn.close()
            raise
        except sqlite3.DatabaseError as e:
            self.conn.close()
            raise HistoryError(f"{self.path}: 不是可用的历史数据库 (not a usable history "
                               f"database): {e}; move it away or set `history:` in the "
                               "project file") from None

    # ---------------------------------------------------------------- lifecycle
    def close(self) -> None:
        """Close the connection (an open transaction is rolled back)."""
        self.conn.close()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _setup(self, existed: bool) -> None:
        meta = _stored_meta(self.path, self.conn, self.crs)
        if meta is None:
            if existed:
                raise HistoryError(_NOT_A_HISTORY.format(path=self.path, cn="没有任何表",
                                                         en="holds no tables"))
            self.srs_id = schema.create(self.conn, self.crs)
            return
        self.srs_id = int(meta["srs_id"])

    def _point(self, x: float, y: float) -> bytes:
        """A GeoPackage geometry blob (header + little-endian WKB) of a point."""
        return (struct.pack("<2sBBi", b"GP", 0, 1, self.srs_id)
                + shapely.to_wkb(shapely.Point(x, y), byte_order=1))

    # ---------------------------------------------------------------- plans
    def add_plan(self, week: Week, township: str, cells: Iterable[dict], rules: str,
                 config: dict, created: str) -> int:
        """Store one plan run of a township (one transaction); return its run id.

        Parameters
        ----------
        week : Week
        township : str
        cells : iterable of dict
            Keys ``village``, ``seq``, ``cell_id``, ``reason``, ``class``,
            ``score``, ``adj_score``, ``adjustment``, ``x``, ``y``.
        rules : str
            The selection rule as stated in the outputs.
        config : dict
            The plan settings used (stored as JSON).
        created : str
            ISO time stamp.
        """
        cells = list(cells)
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        try:
            cur = c.execute("INSERT INTO plan_runs (week, township, created, rules, config, "
                            "cells) VALUES (?,?,?,?,?,?)",
                            (str(week), township, created, rules,
                             json.dumps(config, ensure_ascii=False, sort_keys=True),
                             len(cells)))
            run = cur.lastrowid
            c.executemany(
                "INSERT INTO plan_cells (geom, run_id, week, township, village, seq, cell_id, "
                "reason, class, score, adj_score, adjustment, x, y) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [(self._point(d["x"], d["y"]), run, str(week), township, d["village"],
                  int(d["seq"]), d["cell_id"], d["reason"], int(d["class"]),
                  float(d["score"]), float(d["adj_score"]), d.get("adjustment") or "",
                  float(d["x"]), float(d["y"])) for d in cells])
            self._touch("plan_runs", "plan_cells")
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise
        return int(run)

    def planned(self, week: Week | str) -> pd.DataFrame:
        """Cells of the latest plan run of each township for ``week``.

        Returns
        -------
        pandas.DataFrame
            Columns ``township``, ``village``, ``seq``, ``cell_id``, ``reason``,
            ``class``, ``score``, ``adj_score``, ``x``, ``y``.
        """
        q = ("SELECT p.township, p.village, p.seq, p.cell_id, p.reason, p.class, p.score, "
             "p.adj_score, p.x, p.y FROM plan_cells p WHERE p.run_id IN ("
             "SELECT MAX(run_id) FROM plan_runs WHERE week = ? GROUP BY township) "
             "ORDER BY p.township, p.village, p.seq")
        return pd.read_sql_query(q, self.conn, params=(str(week),))

    def plan_weeks(self) -> list[Week]:
        """Weeks that have a plan, oldest first."""
        rows = self.conn.execute("SELECT DISTINCT week FROM plan_runs").fetchall()
        return sorted(Week.parse(r[0]) for r in rows)

    # ---------------------------------------------------------------- inspections
    def has_file(self, sha256: str) -> bool:
        """True if a file with these bytes was ingested before."""
        return self.conn.execute("SELECT 1 FROM ingested_files WHERE sha256 = ?",
                                 (sha256,)).fetchone() is not None

    def add_file(self, sha256: str, name: str, rows: Iterable[Inspection],
                 errors: Iterable[tuple[str | None, int | None, str]] = (),
                 week: Week | None = None) -> FileOutcome:
        """Store one returned ledger in one transaction.

        Parameters
        ----------
        sha256 : str
            Hash of the file's bytes (:func:`file_sha256`).
        name : str
            File name, for the record.
        rows : iterable of Inspection
            Good rows; a row whose content is already stored is counted as
            repeated and not stored again.
        errors : iterable of (sheet, row, message)
            Rows that were reported and skipped.
        week : Week, optional
            The ledger's week.

        Returns
        -------
        FileOutcome
            ``already`` is True (and nothing is stored) if the file was
            ingested before.
        """
        out = FileOutcome(sha256)
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        try:
            if self.has_file(sha256):
                c.execute("ROLLBACK")
                out.already = True
                return out
            errors = list(errors)
            # the file row first: the inspections refer to it
            c.execute("INSERT INTO ingested_files VALUES (?,?,?,?,0,0,?)",
                      (sha256, name, dt.datetime.now().astimezone().isoformat(
                          timespec="seconds"), str(week) if week else None, len(errors)))
            for r in rows:
                if self._insert_inspection(sha256, r):
                    out.added += 1
                else:
                    out.repeated += 1
            c.executemany("INSERT INTO ingest_errors (file_sha256, sheet, sheet_row, message) "
                          "VALUES (?,?,?,?)", [(sha256, s, r, m) for s, r, m in errors])
            c.execute("UPDATE ingested_files SET rows_added = ?, rows_repeated = ? "
                      "WHERE sha256 = ?", (out.added, out.repeated, sha256))
            self._touch("ingested_files", "inspections", "ingest_errors")
            c.execute("COMMIT")
        except BaseException:
            if c.in_transaction:
                c.execute("ROLLBACK")
            raise
        out.bad = len(errors)
        return out

    def _insert_inspection(self, sha256: str, r: Inspection) -> bool:
        cur = self.conn.execute(
            "INSERT OR IGNORE INTO inspections (geom, row_key, file_sha256, sheet, sheet_row, "
            "cell_id, township, village, week, date, inspector, result, found, note, "
            "matched_by, x, y) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (self._point(r.x, r.y), r.key(), sha256, r.sheet, r.row, r.cell_id, r.township,
             r.village, str(r.week), r.date.isoformat() if r.date else None, r.inspector,
             r.result, int(r.found), r.note, r.matched_by, r.x, r.y))
        return cur.rowcount == 1

    def inspections(self, first: Week | None = None, last: Week | None = None) -> pd.DataFrame:
        """Inspections of weeks ``first`` .. ``last`` (inclusive; open ends allowed).

        Returns
        -------
        pandas.DataFrame
            Columns ``cell_id``, ``township``, ``village``, ``week``, ``date``,
            ``inspector``, ``result``, ``found`` (bool), ``note``, ``x``, ``y``.
        """
        # "2026-W09" strings sort like the weeks they name
        where, params = [], []
        if first is not None:
            where.append("week >= ?")
            params.append(str(first))
        if last is not None:
            where.append("week <= ?")
            params.append(str(last))
        df = pd.read_sql_query(
            "SELECT cell_id, township, village, week, date, inspector, result, found, note, "
            "x, y FROM inspections" + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY fid", self.conn, params=params)
        df["found"] = df["found"].astype(bool)
        return df

    def counts(self) -> dict[str, int]:
        """Rows per table (for reports and tests)."""
        return {t: int(self.conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0])
                for t in schema.TABLES}

    def _touch(self, *tables: str) -> None:
        self.conn.executemany(
            "UPDATE gpkg_contents SET last_change = strftime('%Y-%m-%dT%H:%M:%fZ','now') "
            "WHERE table_name = ?", [(t,) for t in tables])


def open_history(project) -> History:
    """The history database of ``project`` (its ``history`` path, in its CRS)."""
    path = project.history or Path(project.path).with_suffix(".history.gpkg")
    return History(path, project.crs)


def _stored_meta(path, conn: sqlite3.Connection, crs_text: str) -> dict | None:
    """The stored ``riskmap_meta`` of a history database, None when it is empty.

    Raises
    ------
    HistoryError
        The database holds something else, was made by a newer riskmap, or for
        another CRS.
    sqlite3.DatabaseError
        The file is not a SQLite database.
    """
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if tables and "riskmap_meta" not in tables:
        raise HistoryError(f"{path}: 这个文件不是 riskmap 历史数据库 (exists but holds no "
                           "riskmap history); set `history:` to another file")
    crs = CRS.from_user_input(crs_text)
    if "riskmap_meta" not in tables:
        return None
    meta = dict(conn.execute("SELECT key, value FROM riskmap_meta").fetchall())
    if int(meta.get("schema", 0)) > schema.SCHEMA_VERSION:
        raise HistoryError(f"{path}: made by a newer riskmap (schema "
                           f"{meta['schema']}); update riskmap")
    if CRS.from_user_input(meta["crs"]) != crs:
        raise HistoryError(f"{path}: 历史数据库的坐标系 {meta['crs']} 与项目的 "
                           f"{crs_text} 不同 (the history was kept in another CRS); "
                           "use the project it belongs to")
    return meta


_NOT_A_HISTORY = ("{path}: 历史数据库{cn} (the history database {en}): every earlier plan "
                  "and inspection would be lost if riskmap started a new one here; restore "
                  "the file from a backup, or move it away to start a new history")


def _existing(path: Path) -> bool:
    """Whether ``path`` exists; refuse one that is not even a database (0 bytes, a folder)."""
    if not path.exists():
        return False
    if path.is_dir():
        raise HistoryError(f"{path}: 是一个文件夹 (is a folder, not a history database); set "
                           "`history:` to a file")
    if path.stat().st_size == 0:
        raise HistoryError(_NOT_A_HISTORY.format(path=path, cn="是空文件",
                                                 en="is empty, 0 bytes"))
    return True


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
        it); else rows per table (:data:`riskmap.field.schema.TABLES`, empty for
        a database not laid out yet) and ``weeks``: the first and last week
        planned or inspected.

    Raises
    ------
    HistoryError
        With the message :class:`History` would give.
    """
    path = Path(path)
    if not _existing(path):
        return None
    try:  # read-only: check never creates, lays out or journals the file
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    except sqlite3.DatabaseError as e:
        raise HistoryError(f"{path}: 不是可用的历史数据库 (not a usable history "
                           f"database): {e}") from None
    try:
        meta = _stored_meta(path, conn, crs)
        if meta is None:
            raise HistoryError(_NOT_A_HISTORY.format(path=path, cn="没有任何表",
                                                     en="holds no tables"))
        out = {t: int(conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0])
               for t in schema.TABLES}
        weeks = conn.execute("SELECT MIN(w), MAX(w) FROM (SELECT week AS w FROM plan_runs "
                             "UNION ALL SELECT week FROM inspections)").fetchone()
        out["weeks"] = [w for w in weeks if w]
        return out
    except sqlite3.DatabaseError as e:
        raise HistoryError(f"{path}: 不是可用的历史数据库 (not a usable history "
                           f"database): {e}; move it away or set `history:` in the "
                           "project file") from None
    finally:
        conn.close()
