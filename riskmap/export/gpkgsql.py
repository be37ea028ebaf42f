"""Small layers added to a GeoPackage by SQLite in one transaction, as GDAL would write them.

A township's GeoPackage holds about fifteen layers, most of a few dozen rows;
GDAL (through pyogrio) opens and closes the file for each, and that — not the
rows — was two thirds of the file's time (~7 ms a layer). The first layer
(``cells``) is still written by GDAL, which makes the file and its GeoPackage
tables; the small layers after it are added here with the same table
definitions, column types, geometry blobs, contents rows and feature-count
triggers GDAL makes, so GDAL, QGIS and ArcGIS read them as GDAL's own
(``tests/test_gpkgsql.py`` reads both back and compares). Anything unusual (a
large layer, Z values, a type GDAL would write its own way) is left to GDAL:
:func:`sql_ok` says which.
"""

from __future__ import annotations

import sqlite3
import struct
from contextlib import closing

import numpy as np
import pandas as pd
import shapely

__all__ = ["SMALL_ROWS", "append_layers", "sql_ok"]

#: layers of fewer rows are written here; from this size on GDAL writes them with an R-tree
#: (riskmap.export.gpkg.INDEX_MIN is this value)
SMALL_ROWS = 1000

_INTS = {"int8": "SMALLINT", "int16": "SMALLINT", "uint8": "SMALLINT", "int32": "MEDIUMINT",
         "uint16": "MEDIUMINT", "int64": "INTEGER", "Int64": "INTEGER", "Int32": "MEDIUMINT",
         "Int16": "SMALLINT"}
_MULTI = {"Point": "MultiPoint", "LineString": "MultiLineString", "Polygon": "MultiPolygon"}


def _sql_type(s: pd.Series) -> str | None:
    """The column type GDAL gives ``s`` in a GeoPackage; None: leave the layer to GDAL."""
    name = str(s.dtype)
    if name in _INTS:
        return _INTS[name]
    if name == "bool":
        return "BOOLEAN"
    if name == "float64":
        return "REAL"
    if name == "float32":
        return "FLOAT"
    if name.startswith("datetime64[") and "," not in name:  # naive (no time zone) only
        return "DATETIME"
    if name in ("object", "str", "string") or name.startswith("string"):
        kind = pd.api.types.infer_dtype(s, skipna=True)  # in C: no Python pass over the rows
        return "TEXT" if kind in ("string", "empty") else None
    return None


_TYPE_NAMES = {0: "Point", 1: "LineString", 3: "Polygon", 4: "MultiPoint",
               5: "MultiLineString", 6: "MultiPolygon"}


def _geom_type(geoms: np.ndarray, promote: bool) -> str | None:
    """The layer's one geometry type (after promotion to multi); None when mixed or odd."""
    ids = set(shapely.get_type_id(geoms[~shapely.is_missing(geoms)]).tolist())
    names = {_TYPE_NAMES.get(i) for i in ids}
    if promote:
        names = {_MULTI.get(n, n) for n in names}
    return names.pop() if len(names) == 1 and None not in names else None


def sql_ok(df, promote: bool = False) -> bool:
    """Whether ``df`` (a GeoDataFrame or a table) can be written here as GDAL would."""
    if len(df) == 0 or len(df) >= SMALL_ROWS:
        return False
    geo = getattr(df, "_geometry_column_name", None)
    if geo is not None:
        g = np.asarray(df[geo].values)
        if shapely.is_missing(g).all() or shapely.has_z(g).any() or shapely.is_empty(g).any():
            return False
        if _geom_type(g, promote) is None or df.crs is None:
            return False
    return all(_sql_type(df[c]) is not None for c in df.columns if c != geo)


def _q(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def _values(s: pd.Series, sql_type: str) -> list:
    """Column values as SQLite takes them (NaN, NaT, NA → NULL), GDAL's text for dates."""
    if sql_type == "DATETIME":
        t = s  # datetime64 already (_sql_type): formatted, never parsed
        ms = (t.dt.microsecond // 1000).fillna(0).astype(int)
        whole = t.dt.strftime("%Y-%m-%dT%H:%M:%S")
        frac = ms.map(lambda v: f".{v:03d}" if v else "")  # GDAL: milliseconds when not 0
        return (whole + frac).astype(object).where(t.notna(), None).tolist()
    if sql_type == "BOOLEAN":
        return s.to_numpy(dtype=np.int64).tolist()
    if sql_type in ("REAL", "FLOAT"):
        a = s.to_numpy(dtype=np.float64)
        vals = a.tolist()
        if np.isnan(a).any():
            for i in np.flatnonzero(np.isnan(a)).tolist():
                vals[i] = None
        return vals
    a = s.to_numpy(dtype=object)  # text, and integers that may hold NA
    missing = pd.isna(a)
    if missing.any():
        a = a.copy()
        a[missing] = None
    if sql_type == "TEXT":
        return a.tolist()
    return [None if v is None else int(v) for v in a.tolist()]


def _blobs(geoms: np.ndarray, srs_id: int, promote: bool) -> list:
    """GeoPackage geometry blobs: header, envelope (none for points, as GDAL), ISO WKB."""
    if promote:
        single = shapely.get_type_id(geoms)
        for tid, make in ((0, shapely.multipoints), (1, shapely.multilinestrings),
                          (3, shapely.multipolygons)):
            at = np.flatnonzero(single == tid)
            if len(at):
                geoms = geoms.copy()
                geoms[at] = make(geoms[at], indices=np.arange(len(at)))
    wkb = shapely.to_wkb(geoms, byte_order=1, flavor="iso", output_dimension=2)
    points = shapely.get_type_id(geoms) == 0
    b = shapely.bounds(geoms)
    env = np.ascontiguousarray(b[:, [0, 2, 1, 3]], dtype="<f8")  # minx, maxx, miny, maxy
    head_pt = b"GP\x00\x01" + struct.pack("<i", srs_id)
    head = b"GP\x00\x03" + struct.pack("<i", srs_id)
    return [None if w is None else (head_pt + w if p else head + e.tobytes() + w)
            for w, p, e in zip(wkb.tolist(), points.tolist(), env, strict=True)]


def append_layers(path, layers: list[tuple[str, object, str, bool, str]]) -> None:
    """Add layers to a GeoPackage GDAL made, in one transaction.

    Parameters
    ----------
    path : path-like
        A closed GeoPackage written by GDAL (its GeoPackage tables exist and
        hold the layers' CRS).
    layers : list of (name, frame, identifier, promote_to_multi, fid)
        Each frame passed :func:`sql_ok`; a GeoDataFrame in the CRS of a layer
        already in the file becomes a features table, a plain table an
        attributes table; ``fid`` names the key column (GDAL's ``FID``).

    Raises
    ------
    ValueError
        A GeoDataFrame whose CRS is not yet in the file.
    """
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("PRAGMA journal_mode=OFF")
        db.execute("PRAGMA synchronous=OFF")  # a temporary file (see _unjournalled): no syncs
        srs = {r[0]: r[1] for r in db.execute(
            "SELECT organization || ':' || organization_coordsys_id, srs_id "
            "FROM gpkg_spatial_ref_sys")}
        for name, df, identifier, promote, fid in layers:
            _append(db, name, df, identifier, promote, fid, srs)


def _append(db, name: str, df, identifier: str, promote: bool, fid: str, srs: dict) -> None:
    geo = getattr(df, "_geometry_column_name", None)
    cols = [c for c in df.columns if c != geo]
    types = [_sql_type(df[c]) for c in cols]
    defs = [f"{_q(fid)} INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL"]
    data, names = [], []
    if geo is not None:
        auth = df.crs.to_authority()
        key = f"{auth[0]}:{auth[1]}" if auth else None
        if key not in srs:
            raise ValueError(f"{name}: CRS {df.crs} is not in the GeoPackage")
        srs_id = srs[key]
        g = np.asarray(df[geo].values)
        gtype = _geom_type(g, promote).upper()
        defs.append(f'"geom" {gtype}')
        names.append('"geom"')
        data.append(_blobs(g, srs_id, promote))
        x0, y0, x1, y1 = shapely.total_bounds(g).tolist()
    defs += [f"{_q(c)} {t}" for c, t in zip(cols, types, strict=True)]
    names += [_q(c) for c in cols]
    data += [_values(df[c], t) for c, t in zip(cols, types, strict=True)]
    t = _q(name)
    db.execute(f"CREATE TABLE {t} ( {', '.join(defs)})")
    marks = ", ".join("?" * len(names))
    rows = zip(*data, strict=True)
    db.executemany(f"INSERT INTO {t} ({', '.join(names)}) VALUES ({marks})", rows)
    now = "strftime('%Y-%m-%dT%H:%M:%fZ','now')"
    if geo is not None:
        db.execute(f"INSERT INTO gpkg_contents (table_name, data_type, identifier, description, "
                   f"last_change, min_x, min_y, max_x, max_y, srs_id) VALUES "
                   f"(?, 'features', ?, '', {now}, ?, ?, ?, ?, ?)",
                   (name, identifier, x0, y0, x1, y1, srs_id))
        db.execute("INSERT INTO gpkg_geometry_columns VALUES (?, 'geom', ?, ?, 0, 0)",
                   (name, gtype, srs_id))
    else:
        db.execute(f"INSERT INTO gpkg_contents (table_name, data_type, identifier, description, "
                   f"last_change, srs_id) VALUES (?, 'attributes', ?, '', {now}, 0)",
                   (name, identifier))
    db.execute("INSERT INTO gpkg_ogr_contents VALUES (?, ?)", (name, len(df)))
    lit = "'" + name.replace("'", "''") + "'"
    for op, sign in (("insert", "+"), ("delete", "-")):
        trig = _q(f"trigger_{op}_feature_count_{name}")
        db.execute(f"CREATE TRIGGER {trig} AFTER {op.upper()} ON {t} BEGIN UPDATE "
                   f"gpkg_ogr_contents SET feature_count = feature_count {sign} 1 WHERE "
                   f"lower(table_name) = lower({lit}); END")
