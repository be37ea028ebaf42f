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
import re
import sqlite3
import struct
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import shapely
from pyproj import CRS

from riskmap.errors import RiskmapError

SCHEMA_VERSION = 1
_GPKG_APPLICATION_ID = 0x47504B47  # "GPKG"
_GPKG_USER_VERSION = 10400  # GeoPackage 1.4
#: results a ledger may hold (the dropdown of 排查结果); all but the first are finds
RESULTS = ("未发现", "发现疑似", "发现非法采矿", "已取缔")
FINDS = frozenset(RESULTS[1:])

_WEEK = re.compile(r"(\d{4})\s*(?:-?\s*[Ww]\s*|年\s*第?\s*|-)(\d{1,2})\s*周?")


class HistoryError(RiskmapError):
    """The history database cannot be opened, is not ours, or has another CRS."""


# --------------------------------------------------------------------------- weeks
@dataclass(frozen=True, order=True)
class Week:
    """An ISO week (Monday to Sunday), the rhythm of the patrol plan."""

    year: int
    week: int

    @classmethod
    def parse(cls, text) -> Week:
        """Read ``2026-W49`` (also ``2026W49``, ``2026-49``, ``2026年第49周``).

        Raises
        ------
        RiskmapError
            If the text is not a week or the week does not exist in that year.
        """
        if isinstance(text, Week):
            return text
        s = unicodedata.normalize("NFKC", str(text)).strip()
        m = _WEEK.fullmatch(s)
        if not m:
            raise RiskmapError(f"周次 {text!r} 无法识别 (not a week); write it like 2026-W49")
        year, week = int(m[1]), int(m[2])
        try:
            dt.date.fromisocalendar(year, week, 1)
        except ValueError:
            raise RiskmapError(f"周次 {text!r}: {year} 年没有第 {week} 周 (no such ISO week)"
                               ) from None
        return cls(year, week)

    @classmethod
    def find(cls, text: str) -> Week | None:
        """The first week written anywhere in ``text`` (a title row), else None."""
        s = unicodedata.normalize("NFKC", str(text))
        for m in re.finditer(r"(\d{4})-?W(\d{1,2})", s, flags=re.IGNORECASE):
            try:
                return cls.parse(f"{m[1]}-W{m[2]}")
            except RiskmapError:
                continue
        return None

    @classmethod
    def of(cls, day: dt.date) -> Week:
        """The ISO week holding ``day``."""
        y, w, _ = day.isocalendar()
        return cls(y, w)

    @property
    def monday(self) -> dt.date:
        """First day of the week."""
        return dt.date.fromisocalendar(self.year, self.week, 1)

    @property
    def sunday(self) -> dt.date:
        """Last day of the week."""
        return dt.date.fromisocalendar(self.year, self.week, 7)

    def shift(self, n: int) -> Week:
        """The week ``n`` weeks later (earlier for negative ``n``)."""
        return Week.of(self.monday + dt.timedelta(weeks=n))

    def __str__(self) -> str:
        return f"{self.year}-W{self.week:02d}"


# --------------------------------------------------------------------------- schema
_SCHEMA = """
CREATE TABLE IF NOT EXISTS riskmap_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS plan_runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT,
    week TEXT NOT NULL, township TEXT NOT NULL, created TEXT NOT NULL,
    rules TEXT NOT NULL, config TEXT NOT NULL, cells INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS plan_runs_week ON plan_runs (week, township);
CREATE TABLE IF NOT EXISTS plan_cells (
    fid INTEGER PRIMARY KEY AUTOINCREMENT, geom POINT,
    run_id INTEGER NOT NULL REFERENCES plan_runs (run_id),
    week TEXT NOT NULL, township TEXT NOT NULL, village TEXT NOT NULL,
    seq INTEGER NOT NULL, cell_id TEXT NOT NULL, reason TEXT NOT NULL,
    class INTEGER, score REAL, adj_score REAL, adjustment TEXT, x REAL, y REAL);
CREATE INDEX IF NOT EXISTS plan_cells_run ON plan_cells (run_id);
CREATE TABLE IF NOT EXISTS ingested_files (
    sha256 TEXT PRIMARY KEY, name TEXT NOT NULL, ingested TEXT NOT NULL,
    week TEXT, rows_added INTEGER NOT NULL, rows_repeated INTEGER NOT NULL,
    rows_bad INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS inspections (
    fid INTEGER PRIMARY KEY AUTOINCREMENT, geom POINT,
    row_key TEXT NOT NULL UNIQUE,
    file_sha256 TEXT NOT NULL REFERENCES ingested_files (sha256),
    sheet TEXT, sheet_row INTEGER,
    cell_id TEXT NOT NULL, township TEXT, village TEXT, week TEXT NOT NULL,
    date TEXT, inspector TEXT, result TEXT NOT NULL, found INTEGER NOT NULL,
    note TEXT, matched_by TEXT NOT NULL, x REAL, y REAL);
CREATE INDEX IF NOT EXISTS inspections_week ON inspections (week);
CREATE INDEX IF NOT EXISTS inspections_cell ON inspections (cell_id);
CREATE TABLE IF NOT EXISTS ingest_errors (
    fid INTEGER PRIMARY KEY AUTOINCREMENT,
    file_sha256 TEXT NOT NULL REFERENCES ingested_files (sha256),
    sheet TEXT, sheet_row INTEGER, message TEXT NOT NULL);
"""

_GPKG_CORE = """
CREATE TABLE IF NOT EXISTS gpkg_spatial_ref_sys (
    srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY, organization TEXT NOT NULL,
    organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL, description TEXT);
CREATE TABLE IF NOT EXISTS gpkg_contents (
    table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL, identifier TEXT UNIQUE,
    description TEXT DEFAULT '',
    last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE,
    srs_id INTEGER REFERENCES gpkg_spatial_ref_sys (srs_id));
CREATE TABLE IF NOT EXISTS gpkg_geometry_columns (
    table_name TEXT NOT NULL, column_name TEXT NOT NULL, geometry_type_name TEXT NOT NULL,
    srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL,
    CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),
    CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents (table_name),
    CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id));
"""
_WGS84_WKT = ('GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563]],'
              'PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433],AUTHORITY["EPSG","4326"]]')
_DESCRIPTIONS = {
    "plan_runs": "每次生成的周巡查计划 (one row per plan run; the latest per week and township "
                 "counts)",
    "plan_cells": "计划巡查网格 (planned patrol cells, visiting order, why chosen)",
    "ingested_files": "已导入的回收台账 (returned ledgers, by SHA-256)",
    "inspections": "排查记录 (inspections from returned ledgers)",
    "ingest_errors": "未能导入的行 (rows that could not be matched, with sheet and row)",
}


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
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # autocommit mode: every transaction is explicit (BEGIN ... COMMIT)
            self.conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self.conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.DatabaseError as e:
            raise HistoryError(f"{self.path}: 不是可用的历史数据库 (not a usable history "
                               f"database): {e}") from None
        try:
            self._setup()
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

    def _setup(self) -> None:
        c = self.conn
        tables = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if tables and "riskmap_meta" not in tables:
            raise HistoryError(f"{self.path}: 这个文件不是 riskmap 历史数据库 (exists but holds no "
                               "riskmap history); set `history:` to another file")
        crs = CRS.from_user_input(self.crs)
        auth = crs.to_authority()
        srs_id = int(auth[1]) if auth and auth[0] == "EPSG" else 100000
        if "riskmap_meta" in tables:
            meta = dict(c.execute("SELECT key, value FROM riskmap_meta").fetchall())
            if int(meta.get("schema", 0)) > SCHEMA_VERSION:
                raise HistoryError(f"{self.path}: made by a newer riskmap (schema "
                                   f"{meta['schema']}); update riskmap")
            if CRS.from_user_input(meta["crs"]) != crs:
                raise HistoryError(f"{self.path}: 历史数据库的坐标系 {meta['crs']} 与项目的 "
                                   f"{self.crs} 不同 (the history was kept in another CRS); "
                                   "use the project it belongs to")
            self.srs_id = int(meta["srs_id"])
            return
        self.srs_id = srs_id
        c.execute("BEGIN IMMEDIATE")
        try:
            c.execute(f"PRAGMA application_id = {_GPKG_APPLICATION_ID}")
            c.execute(f"PRAGMA user_version = {_GPKG_USER_VERSION}")
            # statement by statement: executescript would commit the open transaction
            for stmt in (_GPKG_CORE + _SCHEMA).split(";"):
                if stmt.strip():
                    c.execute(stmt)
            srs = [("Undefined cartesian SRS", -1, "NONE", -1, "undefined", None),
                   ("Undefined geographic SRS", 0, "NONE", 0, "undefined", None),
                   ("WGS 84 geodetic", 4326, "EPSG", 4326, _WGS84_WKT, None)]
            if srs_id not in (-1, 0, 4326):
                srs.append((crs.name, srs_id, "EPSG" if srs_id != 100000 else "NONE",
                            srs_id, crs.to_wkt("WKT1_GDAL"), None))
            c.executemany("INSERT OR IGNORE INTO gpkg_spatial_ref_sys VALUES (?,?,?,?,?,?)",
                          srs)
            for table, desc in _DESCRIPTIONS.items():
                spatial = table in ("plan_cells", "inspections")
                c.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, "
                          "description, srs_id) VALUES (?,?,?,?,?)",
                          (table, "features" if spatial else "attributes", table, desc,
                           srs_id if spatial else None))
                if spatial:
                    c.execute("INSERT INTO gpkg_geometry_columns VALUES (?,?,?,?,0,0)",
                              (table, "geom", "POINT", srs_id))
            c.executemany("INSERT INTO riskmap_meta VALUES (?,?)",
                          [("schema", str(SCHEMA_VERSION)), ("crs", self.crs),
                           ("srs_id", str(srs_id))])
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise

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
                for t in ("plan_runs", "plan_cells", "ingested_files", "inspections",
                          "ingest_errors")}

    def _touch(self, *tables: str) -> None:
        self.conn.executemany(
            "UPDATE gpkg_contents SET last_change = strftime('%Y-%m-%dT%H:%M:%fZ','now') "
            "WHERE table_name = ?", [(t,) for t in tables])


def open_history(project) -> History:
    """The history database of ``project`` (its ``history`` path, in its CRS)."""
    path = project.history or Path(project.path).with_suffix(".history.gpkg")
    return History(path, project.crs)
