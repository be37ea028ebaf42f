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
* **Done only when whole.** A file is done (``ingested_files.complete``) only
  when every row went in. A file with refused rows is recorded as partial: its
  good rows are kept, and the same file read again (with better options such as
  ``--week``) or corrected adds what now goes in; ``force`` re-reads a done file.
  Its refused rows (``ingest_errors``) are those of its latest reading.
* **Append-only.** Plans and inspections are never deleted or changed: a new plan
  of the same week and township is a new plan run (the latest one counts),
  inspections only accumulate.
* **Upgraded on open.** A database of an older schema gains the new columns and
  tables when a command opens it for writing (:func:`riskmap.field.schema.migrate`,
  one transaction); read-only opening (``check``, the build's effort layers:
  :func:`riskmap.field.historyfile.check_history`) reads it as it is.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import struct
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import shapely
from pyproj import CRS

from riskmap.errors import RiskmapError
from riskmap.field import schema
from riskmap.field.records import FileOutcome, Inspection, file_sha256
from riskmap.field.rules import REASON_RANDOM
from riskmap.field.schema import FINDS, RESULTS
from riskmap.field.week import Week

__all__ = ["FINDS", "RESULTS", "FileOutcome", "History", "HistoryError", "Inspection", "Week",
           "file_sha256"]


class HistoryError(RiskmapError):
    """The history database cannot be opened, is not ours, or has another CRS."""


class History:
    """The history database of a project (a GeoPackage written with :mod:`sqlite3`).

    Parameters
    ----------
    path : str or Path
        Database file; created (with its folder) if missing, unless ``read_only``.
    crs : str
        Working CRS of the project (``"EPSG:4547"`` or WKT); the geometry
        columns are in it. An existing database with another CRS is refused.
    read_only : bool
        Open an existing database without writing anything to it: no lay-out,
        no upgrade of an older schema (its missing columns read as empty), no
        journal. The build's effort layers read the history this way.

    Raises
    ------
    HistoryError
        The file is not a SQLite database, is a GeoPackage of something else, or
        was made for another CRS; with ``read_only``, also a missing file.
    """

    def __init__(self, path, crs: str, *, read_only: bool = False):
        self.path = Path(path)
        self.crs = crs
        self.read_only = read_only
        existed = _existing(self.path)  # only a missing file may start a new history
        if read_only and not existed:
            raise HistoryError(f"{self.path}: 历史数据库不存在 (no history database yet)")
        try:
            if read_only:
                self.conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro",
                                            uri=True, timeout=30, isolation_level=None)
            else:
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
            self.schema = schema.SCHEMA_VERSION
            return
        self.srs_id = int(meta["srs_id"])
        self.schema = int(meta.get("schema", 1))
        if self.schema < schema.SCHEMA_VERSION and not self.read_only:
            schema.migrate(self.conn, self.srs_id, REASON_RANDOM)
            self.schema = schema.SCHEMA_VERSION

    def require_writable(self) -> None:
        """Refuse now, with the fix, when nothing could be recorded in this database.

        A real write is tried and rolled back (a table made in a transaction), so
        that a read-only file and a read-only folder (no room for SQLite's journal)
        are both found before a command writes any output.

        Raises
        ------
        HistoryError
            Opened read-only, or SQLite cannot write the file or its journal.
        """
        why = "opened read-only" if self.read_only else None
        if why is None:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                try:
                    self.conn.execute("CREATE TABLE riskmap_write_probe (x)")
                finally:
                    self.conn.execute("ROLLBACK")
            except sqlite3.OperationalError as e:
                why = str(e)
        if why is not None:
            raise HistoryError(
                f"{self.path}: 历史数据库不能写入 (the history database cannot be written: "
                f"{why}); make the file and its folder writable, or plan with --no-record "
                "(nothing is recorded), or set `history:` to a writable file")

    def _col(self, table: str, column: str) -> str:
        """``column`` in a SELECT, or ``NULL AS column`` where an older database lacks it."""
        have = {r[1] for r in self.conn.execute(f'PRAGMA table_info("{table}")')}
        return column if column in have else f"NULL AS {column}"

    def _has_table(self, table: str) -> bool:
        return self.conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                                 "name = ?", (table,)).fetchone() is not None

    def _point(self, x: float, y: float) -> bytes:
        """A GeoPackage geometry blob (header + little-endian WKB) of a point."""
        return (struct.pack("<2sBBi", b"GP", 0, 1, self.srs_id)
                + shapely.to_wkb(shapely.Point(x, y), byte_order=1))

    # ---------------------------------------------------------------- plans
    def add_plan(self, week: Week, township: str, cells: Iterable[dict], rules: str,
                 config: dict, created: str, overrides: Iterable = ()) -> int:
        """Store one plan run of a township (one transaction); return its run id.

        Parameters
        ----------
        week : Week
        township : str
        cells : iterable of dict
            Keys ``village``, ``seq``, ``cell_id``, ``reason``, ``class``,
            ``score``, ``adj_score``, ``adjustment``, ``x``, ``y`` and
            optionally ``override`` (the analyst's reason of an added cell).
        rules : str
            The selection rule as stated in the outputs.
        config : dict
            The plan settings used (stored as JSON).
        created : str
            ISO time stamp.
        overrides : iterable of Override
            The analyst's additions and suppressions in this township
            (:class:`riskmap.field.rules.Override`), stored with the run.
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
                "reason, class, score, adj_score, adjustment, x, y, override) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [(self._point(d["x"], d["y"]), run, str(week), township, d["village"],
                  int(d["seq"]), d["cell_id"], d["reason"], int(d["class"]),
                  float(d["score"]), float(d["adj_score"]), d.get("adjustment") or "",
                  float(d["x"]), float(d["y"]), d.get("override") or None) for d in cells])
            c.executemany(
                "INSERT INTO plan_overrides (run_id, week, township, cell_id, action, reason, "
                "created) VALUES (?,?,?,?,?,?,?)",
                [(run, str(week), township, o.cell_id, o.action, o.reason, o.date)
                 for o in overrides])
            self._touch("plan_runs", "plan_cells", "plan_overrides")
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
            ``class``, ``score``, ``adj_score``, ``x``, ``y``, ``override``.
        """
        q = ("SELECT township, village, seq, cell_id, reason, class, score, adj_score, x, y, "
             f"{self._col('plan_cells', 'override')} FROM plan_cells WHERE run_id IN ("
             "SELECT MAX(run_id) FROM plan_runs WHERE week = ? GROUP BY township) "
             "ORDER BY township, village, seq")
        return pd.read_sql_query(q, self.conn, params=(str(week),))

    def overrides(self, week: Week | str | None = None) -> pd.DataFrame:
        """The analyst's overrides of the latest plan run of each township (of ``week``).

        Returns
        -------
        pandas.DataFrame
            Columns ``week``, ``township``, ``cell_id``, ``action`` (``add`` or
            ``suppress``), ``reason``, ``created``; empty for a database made
            before overrides existed.
        """
        cols = ["week", "township", "cell_id", "action", "reason", "created"]
        if not self._has_table("plan_overrides"):
            return pd.DataFrame(columns=cols)
        where, params = "", ()
        if week is not None:
            where, params = "WHERE week = ? ", (str(week),)
        q = (f"SELECT {', '.join(cols)} FROM plan_overrides WHERE run_id IN (SELECT "
             f"MAX(run_id) FROM plan_runs {where}GROUP BY week, township) ORDER BY fid")
        return pd.read_sql_query(q, self.conn, params=params)

    def plan_weeks(self) -> list[Week]:
        """Weeks that have a plan, oldest first."""
        rows = self.conn.execute("SELECT DISTINCT week FROM plan_runs").fetchall()
        return sorted(Week.parse(r[0]) for r in rows)

    # ---------------------------------------------------------------- inspections
    def file_state(self, sha256: str) -> str | None:
        """``"done"`` (every row went in), ``"partial"`` (rows were refused) or None (new)."""
        row = self.conn.execute(f"SELECT {self._col('ingested_files', 'complete')} FROM "
                                "ingested_files WHERE sha256 = ?", (sha256,)).fetchone()
        if row is None:
            return None
        return "partial" if row[0] == 0 else "done"

    def has_file(self, sha256: str) -> bool:
        """True if a file with these bytes went in whole before (see :meth:`file_state`)."""
        return self.file_state(sha256) == "done"

    def add_file(self, sha256: str, name: str, rows: Iterable[Inspection],
                 errors: Iterable[tuple[str | None, int | None, str]] = (),
                 week: Week | None = None, *, force: bool = False) -> FileOutcome:
        """Store one returned ledger in one transaction.

        Parameters
        ----------
        sha256 : str
            Hash of the file's bytes (:func:`file_sha256`).
        name : str
            File name, for the record.
        rows : iterable of Inspection
            Good rows; a row whose content is already stored is counted as
            repeated and not stored again. A row without a provenance gets the
            one its week's plan implies.
        errors : iterable of (sheet, row, message)
            Rows that were reported and skipped. With any, the file is recorded
            as partial and may be read again.
        week : Week, optional
            The ledger's week.
        force : bool
            Read a file that went in whole before anyway (its rows are still
            stored once).

        Returns
        -------
        FileOutcome
            ``already`` is True (and nothing is stored) if the file went in
            whole before and ``force`` is not given.
        """
        out = FileOutcome(sha256)
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        try:
            state = self.file_state(sha256)
            if state == "done" and not force:
                c.execute("ROLLBACK")
                out.already = True
                return out
            errors = list(errors)
            now = dt.datetime.now().astimezone().isoformat(timespec="seconds")
            out.again = state is not None
            # the file row first: the inspections refer to it
            if state is None:
                c.execute("INSERT INTO ingested_files (sha256, name, ingested, week, rows_added, "
                          "rows_repeated, rows_bad, complete) VALUES (?,?,?,?,0,0,0,0)",
                          (sha256, name, now, str(week) if week else None))
            for r in rows:
                if self._insert_inspection(sha256, r):
                    out.added += 1
                else:
                    out.repeated += 1
            c.execute(schema.PROVENANCE_FROM_PLAN + " AND file_sha256 = ?",
                      (REASON_RANDOM, REASON_RANDOM, sha256))
            # the refused rows of this reading replace those of the last one
            c.execute("DELETE FROM ingest_errors WHERE file_sha256 = ?", (sha256,))
            c.executemany("INSERT INTO ingest_errors (file_sha256, sheet, sheet_row, message) "
                          "VALUES (?,?,?,?)", [(sha256, s, r, m) for s, r, m in errors])
            out.complete = not errors
            c.execute("UPDATE ingested_files SET name = ?, ingested = ?, week = ?, "
                      "rows_added = rows_added + ?, rows_repeated = ?, rows_bad = ?, "
                      "complete = ? WHERE sha256 = ?",
                      (name, now, str(week) if week else None, out.added, out.repeated,
                       len(errors), int(out.complete), sha256))
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
            "matched_by, x, y, provenance) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (self._point(r.x, r.y), r.key(), sha256, r.sheet, r.row, r.cell_id, r.township,
             r.village, str(r.week), r.date.isoformat() if r.date else None, r.inspector,
             r.result, int(r.found), r.note, r.matched_by, r.x, r.y, r.provenance))
        return cur.rowcount == 1

    def inspections(self, first: Week | None = None, last: Week | None = None) -> pd.DataFrame:
        """Inspections of weeks ``first`` .. ``last`` (inclusive; open ends allowed).

        Returns
        -------
        pandas.DataFrame
            Columns ``cell_id``, ``township``, ``village``, ``week``, ``date``,
            ``inspector``, ``result``, ``found`` (bool), ``note``, ``x``, ``y``,
            ``provenance`` (:data:`riskmap.field.provenance.PROVENANCES`; empty
            in a database read as it was before provenance existed).
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
            f"x, y, {self._col('inspections', 'provenance')} FROM inspections"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY fid", self.conn, params=params)
        df["found"] = df["found"].astype(bool)
        df["provenance"] = df["provenance"].astype(object)
        return df

    def counts(self) -> dict[str, int]:
        """Rows per table (for reports and tests; 0 for a table an older database lacks)."""
        return {t: (int(self.conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0])
                    if self._has_table(t) else 0) for t in schema.TABLES}

    def _touch(self, *tables: str) -> None:
        self.conn.executemany(
            "UPDATE gpkg_contents SET last_change = strftime('%Y-%m-%dT%H:%M:%fZ','now') "
            "WHERE table_name = ?", [(t,) for t in tables])


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
