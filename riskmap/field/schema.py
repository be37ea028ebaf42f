"""The history database's tables: riskmap's own, the GeoPackage core, and how they are made.

``plan_cells`` and ``inspections`` are point layers (cell centres in the working
CRS) so that QGIS/ArcGIS open the file as a GeoPackage; the other tables are
attribute tables. :func:`create` lays the tables out in one transaction;
:func:`migrate` brings a database of an older :data:`SCHEMA_VERSION` up to date
(also in one transaction). A new database is laid out as version 1 and then
migrated, so new and upgraded databases are the same.

Versions
--------
1. plans, ingested files, inspections, refused rows.
2. ``inspections.provenance`` (how each inspection came about: planned, random,
   unplanned, or an independent tip, satellite, power company, other; filled in
   from the week's plan for the rows stored before), ``ingested_files.complete``
   (0 while rows of the file were refused: it can be read again; 1 once every
   row went in), ``plan_cells.override`` and the table ``plan_overrides`` (the
   analyst's additions and suppressions of a week, with reason and date).
"""

from __future__ import annotations

import sqlite3

from pyproj import CRS

__all__ = ["FINDS", "PROVENANCE_FROM_PLAN", "RESULTS", "SCHEMA_VERSION", "create",
           "migrate", "srs_id_of"]

SCHEMA_VERSION = 2
GPKG_APPLICATION_ID = 0x47504B47  # "GPKG"
GPKG_USER_VERSION = 10400  # GeoPackage 1.4
#: results a ledger may hold (the dropdown of 排查结果); all but the first are finds
RESULTS = ("未发现", "发现疑似", "发现非法采矿", "已取缔")
FINDS = frozenset(RESULTS[1:])
#: the SRS id of a CRS without an EPSG code
CUSTOM_SRS_ID = 100000

#: version 1, as the first riskmap laid it out (migrations follow)
SCHEMA = """
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

GPKG_CORE = """
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

#: how an inspection stored without a provenance came about, from the latest plan run
#: of its week (parameter: the random checks' reason); rows of no plan: unplanned
PROVENANCE_FROM_PLAN = """
UPDATE inspections SET provenance = COALESCE((
    SELECT CASE WHEN p.reason = ? THEN 'random' ELSE 'planned' END
    FROM plan_cells p
    WHERE p.week = inspections.week AND p.cell_id = inspections.cell_id
      AND p.run_id IN (SELECT MAX(run_id) FROM plan_runs GROUP BY week, township)
    ORDER BY p.reason = ? DESC LIMIT 1), 'unplanned')
WHERE provenance IS NULL"""
#: statements that bring a database of version ``v - 1`` to version ``v``
MIGRATIONS = {
    2: [
        "ALTER TABLE inspections ADD COLUMN provenance TEXT",
        "ALTER TABLE ingested_files ADD COLUMN complete INTEGER NOT NULL DEFAULT 1",
        "ALTER TABLE plan_cells ADD COLUMN override TEXT",
        """CREATE TABLE IF NOT EXISTS plan_overrides (
            fid INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id INTEGER NOT NULL REFERENCES plan_runs (run_id),
            week TEXT NOT NULL, township TEXT NOT NULL, cell_id TEXT NOT NULL,
            action TEXT NOT NULL CHECK (action IN ('add', 'suppress')),
            reason TEXT NOT NULL, created TEXT NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS plan_overrides_week ON plan_overrides (week, township)",
        "CREATE INDEX IF NOT EXISTS plan_cells_week_cell ON plan_cells (week, cell_id)",
        # files recorded before version 2 with refused rows may be read again
        "UPDATE ingested_files SET complete = (rows_bad = 0)",
    ],
}
WGS84_WKT = ('GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563]],'
             'PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433],AUTHORITY["EPSG","4326"]]')
DESCRIPTIONS = {
    "plan_runs": "每次生成的周巡查计划 (one row per plan run; the latest per week and township "
                 "counts)",
    "plan_cells": "计划巡查网格 (planned patrol cells, visiting order, why chosen)",
    "ingested_files": "已导入的回收台账 (returned ledgers, by SHA-256)",
    "inspections": "排查记录 (inspections from returned ledgers)",
    "ingest_errors": "未能导入的行 (rows that could not be matched, with sheet and row; "
                     "those of a file's latest reading)",
    "plan_overrides": "分析员调整 (analyst overrides: a cell added to or suppressed from a "
                      "week's plan, with reason and date)",
}
SPATIAL = ("plan_cells", "inspections")
TABLES = ("plan_runs", "plan_cells", "ingested_files", "inspections", "ingest_errors",
          "plan_overrides")
#: the version each table first appeared in (older databases lack the later ones)
SINCE = {"plan_overrides": 2}


def srs_id_of(crs: CRS) -> int:
    """The GeoPackage SRS id of ``crs``: its EPSG code, else :data:`CUSTOM_SRS_ID`."""
    auth = crs.to_authority()
    return int(auth[1]) if auth and auth[0] == "EPSG" else CUSTOM_SRS_ID


def create(conn: sqlite3.Connection, crs_text: str, *, version: int = SCHEMA_VERSION) -> int:
    """Lay out an empty database as a riskmap GeoPackage in one transaction.

    Parameters
    ----------
    conn : sqlite3.Connection
        In autocommit mode (``isolation_level=None``): the transaction is explicit.
    crs_text : str
        The working CRS as the project writes it (stored as given).
    version : int
        Schema version to lay out (default: the current one; an older one makes
        the databases that :func:`migrate` upgrades, for tests).

    Returns
    -------
    int
        The SRS id of the geometry columns.
    """
    crs = CRS.from_user_input(crs_text)
    srs_id = srs_id_of(crs)
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(f"PRAGMA application_id = {GPKG_APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {GPKG_USER_VERSION}")
        # statement by statement: executescript would commit the open transaction
        for stmt in (GPKG_CORE + SCHEMA).split(";"):
            if stmt.strip():
                conn.execute(stmt)
        srs = [("Undefined cartesian SRS", -1, "NONE", -1, "undefined", None),
               ("Undefined geographic SRS", 0, "NONE", 0, "undefined", None),
               ("WGS 84 geodetic", 4326, "EPSG", 4326, WGS84_WKT, None)]
        if srs_id not in (-1, 0, 4326):
            srs.append((crs.name, srs_id, "EPSG" if srs_id != CUSTOM_SRS_ID else "NONE",
                        srs_id, crs.to_wkt("WKT1_GDAL"), None))
        conn.executemany("INSERT OR IGNORE INTO gpkg_spatial_ref_sys VALUES (?,?,?,?,?,?)", srs)
        _contents(conn, [t for t in DESCRIPTIONS if SINCE.get(t, 1) == 1], srs_id)
        conn.executemany("INSERT INTO riskmap_meta VALUES (?,?)",
                         [("schema", "1"), ("crs", crs_text), ("srs_id", str(srs_id))])
        _upgrade(conn, 1, version, srs_id)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return srs_id


def migrate(conn: sqlite3.Connection, srs_id: int, random_reason: str) -> int:
    """Bring a database of an older schema to :data:`SCHEMA_VERSION` in one transaction.

    Each version's statements (:data:`MIGRATIONS`) run in order; inspections
    stored without a provenance get the one their week's plan gives
    (:data:`PROVENANCE_FROM_PLAN`). A crash in the middle leaves the database
    as it was (the transaction is rolled back on the next open).

    Parameters
    ----------
    conn : sqlite3.Connection
        In autocommit mode.
    srs_id : int
        SRS id of its geometry columns.
    random_reason : str
        The plan's reason of a random check (:data:`riskmap.field.rules.REASON_RANDOM`).

    Returns
    -------
    int
        The version the database had (read inside the transaction: a second
        riskmap that opened it meanwhile finds it upgraded and changes nothing).
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        stored = int(conn.execute("SELECT value FROM riskmap_meta WHERE key = 'schema'"
                                  ).fetchone()[0])
        if stored < SCHEMA_VERSION:
            _upgrade(conn, stored, SCHEMA_VERSION, srs_id)
            conn.execute(PROVENANCE_FROM_PLAN, (random_reason, random_reason))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return stored


def _upgrade(conn: sqlite3.Connection, stored: int, target: int, srs_id: int) -> None:
    """Run the migrations after ``stored`` up to ``target`` (inside a transaction)."""
    for v in range(stored + 1, target + 1):
        for stmt in MIGRATIONS[v]:
            conn.execute(stmt)
        _contents(conn, [t for t in DESCRIPTIONS if SINCE.get(t, 1) == v], srs_id)
        conn.execute("UPDATE riskmap_meta SET value = ? WHERE key = 'schema'", (str(v),))


def _contents(conn: sqlite3.Connection, tables, srs_id: int) -> None:
    """Register ``tables`` in gpkg_contents (and the point layers' geometry columns)."""
    for table in tables:
        spatial = table in SPATIAL
        conn.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, "
                     "description, srs_id) VALUES (?,?,?,?,?)",
                     (table, "features" if spatial else "attributes", table,
                      DESCRIPTIONS[table], srs_id if spatial else None))
        if spatial:
            conn.execute("INSERT INTO gpkg_geometry_columns VALUES (?,?,?,?,0,0)",
                         (table, "geom", "POINT", srs_id))
