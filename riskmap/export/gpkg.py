"""GeoPackages: risk.gpkg (cells, zones, inputs, metadata, patrol effort) and one-layer files."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Mapping, Sequence
from contextlib import closing
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from rasterio.features import shapes

from riskmap.errors import ExportError
from riskmap.export.atomic import atomic_file
from riskmap.export.gpkgsql import SMALL_ROWS, append_layers, sql_ok
from riskmap.export.styles import (
    CLASS_DOMAIN,
    EFFORT_TITLES,
    INPUT_TITLES,
    METADATA_TITLES,
    ZONE_TITLES,
    FactorTitle,
    LayerStyle,
    cell_titles,
    cells_style,
    effort_style,
    input_style,
    overdue_style,
    zones_style,
)
from riskmap.grid import Grid
from riskmap.marks import CLASS_NAMES, LAYER_COLOURS

#: Layer name of the mining-right licences written by ``riskmap import-rights``.
RIGHTS_LAYER = "mining_rights"
#: The QGIS table of layer styles.
STYLES_LAYER = "layer_styles"
#: Dataset creation options of every GeoPackage: version 1.2, which GDAL 3.6, QGIS and
#: ArcGIS read without "GeoPackage v1.4.0 may only be partially supported".
GPKG_OPTIONS = {"VERSION": "1.2"}
#: Input layers drawn as outlines with their names (area borders).
AREA_LAYERS = ("townships", "villages", "district")
_SCHEMA_URL = "http://www.geopackage.org/spec121/#extension_schema"
_SCHEMA_TABLES = ("gpkg_data_columns", "gpkg_data_column_constraints")
_SCHEMA_DDL = """
CREATE TABLE IF NOT EXISTS gpkg_extensions (
  table_name TEXT, column_name TEXT, extension_name TEXT NOT NULL, definition TEXT NOT NULL,
  scope TEXT NOT NULL, CONSTRAINT ge_tce UNIQUE (table_name, column_name, extension_name));
CREATE TABLE IF NOT EXISTS gpkg_data_columns (
  table_name TEXT NOT NULL, column_name TEXT NOT NULL, name TEXT, title TEXT,
  description TEXT, mime_type TEXT, constraint_name TEXT,
  CONSTRAINT pk_gdc PRIMARY KEY (table_name, column_name),
  CONSTRAINT gdc_tn UNIQUE (table_name, name));
CREATE TABLE IF NOT EXISTS gpkg_data_column_constraints (
  constraint_name TEXT NOT NULL, constraint_type TEXT NOT NULL, value TEXT, min NUMERIC,
  min_is_inclusive BOOLEAN, max NUMERIC, max_is_inclusive BOOLEAN, description TEXT,
  CONSTRAINT gdcc_ntv UNIQUE (constraint_name, constraint_type, value));
"""


def zones(classes: np.ndarray, score: np.ndarray, grid: Grid, keep: np.ndarray,
          township_names: np.ndarray, min_class: int = 4) -> gpd.GeoDataFrame:
    """Dissolve contiguous patrol cells of class ≥ ``min_class`` into zones.

    Parameters
    ----------
    classes, score : numpy.ndarray
        Patrol-cell class and score on ``grid``.
    grid : Grid
        The patrol grid.
    keep : numpy.ndarray of bool
        Cells that belong to the exported area.
    township_names : numpy.ndarray of object
        Township name per patrol cell.
    """
    hot = (classes >= min_class) & keep
    cols = ["zone_id", "township", "cells", "area_km2", "max_class", "max_score", "geometry"]
    if not hot.any():
        return gpd.GeoDataFrame(columns=cols, geometry="geometry", crs=grid.crs)
    # label 4-connected components, then polygonise the labels in one GDAL pass
    from scipy import ndimage

    lab, n = ndimage.label(hot)
    geoms, ids = [], []
    for geom, val in shapes(lab.astype(np.int32), mask=hot, transform=grid.transform,
                            connectivity=4):
        geoms.append(shapely.geometry.shape(geom))
        ids.append(int(val))
    g = gpd.GeoSeries(geoms, crs=grid.crs).groupby(np.array(ids)).agg(shapely.union_all)
    idx = np.arange(1, n + 1)
    flat_lab = lab.ravel()
    sel = flat_lab > 0
    cells = np.bincount(flat_lab[sel], minlength=n + 1)[1:]
    mx = ndimage.maximum(score, lab, idx)
    mc = ndimage.maximum(classes, lab, idx)
    # township of a zone: that of its hottest cell
    pos = ndimage.maximum_position(score, lab, idx)
    town = [township_names[p] for p in pos]
    df = pd.DataFrame({"label": idx, "township": town, "cells": cells,
                       "area_km2": np.round(cells * grid.cell**2 / 1e6, 4),
                       "max_class": np.asarray(mc, dtype=np.int16),
                       "max_score": np.round(np.asarray(mx, dtype=float), 2)})
    df = df.sort_values(["max_score", "cells", "label"], ascending=[False, False, True])
    df.insert(0, "zone_id", [f"Z{i:03d}" for i in range(1, len(df) + 1)])
    out = gpd.GeoDataFrame(df.drop(columns="label"), geometry=g.loc[df["label"]].values,
                           crs=grid.crs)
    return out.reset_index(drop=True)


#: titles of the cells' rank-interval columns (there when the project names the interval
#: of its calibration; see riskmap.score.cells.patrol_interval)
INTERVAL_TITLES = {
    "rank_pct": ("排名百分位", "校准模型下本网格在全区巡查网格中的排名百分位 0-100, 100 最高 "
                 "(rank percentile of the calibrated model among the district's patrol cells)"),
    "rank_lo": ("排名下界 (5%)", "排名百分位的 5% 自助法下界 (5 % bootstrap bound)"),
    "rank_hi": ("排名上界 (95%)", "排名百分位的 95% 自助法上界: 达到最高级者, 数据不能排除其为"
                "最高级 (95 % bootstrap bound: reaching the top class, the data cannot rule "
                "the cell out)"),
}


def write_gpkg(path, cells: gpd.GeoDataFrame, zone_df: gpd.GeoDataFrame,
               inputs: dict[str, gpd.GeoDataFrame], metadata: dict, *,
               factors: Sequence[FactorTitle] = (), labels: Mapping[str, str] | None = None,
               colours: Mapping[str, str] | None = None,
               effort: gpd.GeoDataFrame | None = None,
               overdue: gpd.GeoDataFrame | None = None) -> None:
    """Write the GeoPackage layers ``cells``, ``zones``, ``input_*``, ``metadata`` (and effort).

    The file is a GeoPackage 1.2 (GDAL 3.6, QGIS and ArcGIS open it without a
    version warning) with a default style per layer in ``layer_styles`` (QML and
    SLD: cells by class in the map's colours) and Chinese column titles in
    ``gpkg_data_columns`` (the schema extension; GDAL ≥ 3.7 shows them as
    alternative names, QGIS as aliases). It is written under a temporary name
    and replaces ``path`` whole.

    Parameters
    ----------
    path : path-like
    cells, zone_df : geopandas.GeoDataFrame
        Patrol cells and high-priority zones.
    inputs : dict of str to geopandas.GeoDataFrame
        Input layers by source name, written as ``input_<name>`` (empty ones skipped).
    metadata : dict
        Key/value figures (values that are not text are written as JSON).
    factors : sequence of FactorTitle
        Titles of the ``c_<name>`` / ``v_<name>`` columns.
    labels, colours : mapping of str to str, optional
        Chinese name and ``#rrggbb`` colour of each input layer.
    effort, overdue : geopandas.GeoDataFrame, optional
        The patrol effort of the history (:func:`riskmap.field.effort.effort_cells`):
        checked cells (``checks``, ``finds``, ``last_week``, ``last_date``,
        ``weeks_since``) and the cells due a check, written as the layers
        ``effort`` and ``overdue`` (also when empty); None (no history): no
        such layers.
    """
    labels, colours = dict(labels or {}), dict(colours or {})
    meta = pd.DataFrame({
        "key": list(metadata),
        # sorted keys: the same inputs give the same bytes
        "value": [v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, sort_keys=True)
                  for v in metadata.values()],
    })
    titles = {"cells": {**cell_titles(factors), **INTERVAL_TITLES}, "zones": ZONE_TITLES,
              "metadata": METADATA_TITLES}
    styles = {"cells": cells_style(_columns(cells), titles["cells"]),
              "zones": zones_style(_columns(zone_df))}
    field_layers = {name: gdf for name, gdf in (("effort", effort), ("overdue", overdue))
                    if gdf is not None}
    for name, gdf in field_layers.items():
        titles[name] = EFFORT_TITLES
        styles[name] = (effort_style if name == "effort" else overdue_style)(_columns(gdf))
    written = {name: gdf for name, gdf in inputs.items() if len(gdf)}
    for i, (name, gdf) in enumerate(written.items()):
        styles[f"input_{name}"] = input_style(
            f"input_{name}", labels.get(name, name), _geometry_type(gdf),
            colours.get(name, LAYER_COLOURS[i % len(LAYER_COLOURS)]), _columns(gdf),
            outline=name in AREA_LAYERS, label_field="name" if name in AREA_LAYERS
            and "name" in gdf.columns else None)
    rest = [(zone_df, "zones", styles["zones"].title, {"promote_to_multi": True})]
    rest += [(_plain(gdf), name, styles[name].title, {}) for name, gdf in field_layers.items()]
    rest += [(_plain(gdf), f"input_{name}", styles[f"input_{name}"].title,
              {"promote_to_multi": True}) for name, gdf in written.items()]
    rest += [(meta, "metadata", "元数据 (metadata)", {}),
             (_style_table(styles, str(metadata.get("build_date", ""))), STYLES_LAYER,
              "图层样式 (QGIS layer styles)", {"layer_options": {"FID": "id"}})]
    with atomic_file(path, overwrite=True, create=False) as tmp, _unjournalled():
        _write(cells, tmp, "cells", styles["cells"].title, dataset_options=GPKG_OPTIONS)
        _write_rest(tmp, rest)
        titles.update({f"input_{name}": INPUT_TITLES for name in written})
        write_data_columns(tmp, titles, class_columns={"cells": "class", "zones": "max_class",
                                                       "effort": "class", "overdue": "class"})


@contextlib.contextmanager
def _unjournalled():
    """SQLite without journal or sync while a GeoPackage is written under a temporary name.

    Each of the ~15 layer writes opens the file, and SQLite's journal and syncs are
    most of their time (17 → 6 ms a layer); the file is not in place until it is
    whole (:func:`~riskmap.export.atomic.atomic_file`), so a kill loses only the
    temporary file either way.
    """
    keys = {"OGR_SQLITE_JOURNAL": "OFF", "OGR_SQLITE_SYNCHRONOUS": "OFF"}
    before = {k: pyogrio.get_gdal_config_option(k) for k in keys}
    pyogrio.set_gdal_config_options(keys)
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options(before)


def _write_rest(path, layers: list) -> None:
    """The layers after the first, in order: small ones by SQLite in one go, the rest by GDAL.

    GDAL opens the file once per layer (~7 ms each, most of a township file's
    time); :mod:`riskmap.export.gpkgsql` adds the small ones as GDAL would.
    """
    batch = []
    for df, layer, title, kw in layers:
        promote = kw.get("promote_to_multi", False)
        if sql_ok(df, promote):
            fid = (kw.get("layer_options") or {}).get("FID", "fid")
            batch.append((layer, df, title, promote, fid))
            continue
        if batch:
            append_layers(path, batch)
            batch = []
        _write(df, path, layer, title, **kw)
    if batch:
        append_layers(path, batch)


def _write(df, path, layer: str, title: str, *, layer_options: dict | None = None,
           **kwargs) -> None:
    """One layer, its Chinese title in gpkg_contents (identifier).

    A layer of fewer than :data:`INDEX_MIN` features gets no R-tree: QGIS draws it
    as fast without one, and building the index is a third of its writing time.
    """
    opts = {"IDENTIFIER": title, **(layer_options or {})}
    if len(df) < INDEX_MIN:
        opts.setdefault("SPATIAL_INDEX", "NO")
    pyogrio.write_dataframe(df, path, layer=layer, driver="GPKG", layer_options=opts, **kwargs)


#: the smallest layer written with a spatial index (R-tree); smaller ones need none, which is
#: why the SQLite writer takes exactly those (one threshold for both)
INDEX_MIN = SMALL_ROWS


def _columns(gdf) -> list[str]:
    return [c for c in gdf.columns if c != getattr(gdf, "_geometry_column_name", None)]


def _geometry_type(gdf: gpd.GeoDataFrame) -> str:
    """The type name of the first geometry (``Polygon`` for none), from shapely's type ids."""
    tid = shapely.get_type_id(np.asarray(gdf.geometry.values))
    tid = tid[tid >= 0]
    return _TYPE_NAMES.get(int(tid[0]), "Polygon") if len(tid) else "Polygon"


_TYPE_NAMES = {0: "Point", 1: "LineString", 2: "LinearRing", 3: "Polygon", 4: "MultiPoint",
               5: "MultiLineString", 6: "MultiPolygon", 7: "GeometryCollection"}


def _style_table(styles: Mapping[str, LayerStyle], build_date: str) -> pd.DataFrame:
    """Rows of ``layer_styles`` as QGIS writes them (one default style per layer)."""
    names = list(styles)
    stamp = np.datetime64(build_date[:19]) if build_date[:4].isdigit() else np.datetime64("now")
    n = len(names)
    return pd.DataFrame({
        "f_table_catalog": [""] * n, "f_table_schema": [""] * n, "f_table_name": names,
        "f_geometry_column": ["geom"] * n, "styleName": ["riskmap"] * n,
        "styleQML": [styles[k].qml for k in names], "styleSLD": [styles[k].sld for k in names],
        "useAsDefault": np.ones(n, dtype=bool),
        "description": [f"riskmap: {styles[k].title}" for k in names],
        "owner": [""] * n, "ui": pd.Series([None] * n, dtype=object),
        "update_time": np.full(n, stamp, dtype="datetime64[s]"),
    })


def write_data_columns(path, titles: Mapping[str, Mapping[str, tuple[str, str]]], *,
                       class_columns: Mapping[str, str] | None = None) -> None:
    """Add the GeoPackage schema extension: a title and description per column.

    Parameters
    ----------
    path : path-like
        A GeoPackage written by GDAL (closed).
    titles : mapping
        ``{table: {column: (title, description)}}``; columns the table lacks are skipped.
    class_columns : mapping of str to str, optional
        ``{table: column}`` holding priority classes 1–5: they get the coded
        constraint :data:`~riskmap.export.styles.CLASS_DOMAIN` (GDAL reads it
        as a field domain, QGIS shows the class names).
    """
    class_columns = dict(class_columns or {})
    with closing(sqlite3.connect(path)) as db, db:
        # a file under its temporary name (atomic_file): no journal or sync, as for GDAL's
        # layers (_unjournalled); a kill loses only the temporary
        db.execute("PRAGMA journal_mode=OFF")
        db.execute("PRAGMA synchronous=OFF")
        tables = {t: {r[1] for r in db.execute(f'PRAGMA table_info("{t}")')} for t in titles}
        db.executescript(_SCHEMA_DDL)
        db.executemany("INSERT OR REPLACE INTO gpkg_extensions VALUES (?, NULL, 'gpkg_schema', "
                       "?, 'read-write')", [(t, _SCHEMA_URL) for t in _SCHEMA_TABLES])
        rows = []
        for table, cols in titles.items():
            for col, (title, desc) in cols.items():
                if col in tables[table]:
                    rows.append((table, col, title, title, desc, None,
                                 CLASS_DOMAIN if class_columns.get(table) == col else None))
        db.executemany("INSERT OR REPLACE INTO gpkg_data_columns VALUES (?, ?, ?, ?, ?, ?, ?)",
                       rows)
        db.executemany("INSERT OR REPLACE INTO gpkg_data_column_constraints VALUES "
                       "(?, 'enum', ?, NULL, NULL, NULL, NULL, ?)",
                       [(CLASS_DOMAIN, str(c), CLASS_NAMES[c]) for c in range(1, 6)])


def write_layer(gdf: gpd.GeoDataFrame, dest, *, layer: str, overwrite: bool = False) -> Path:
    """Write one layer as a GeoPackage of its own, atomically.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        Features to write.
    dest : path-like
        GeoPackage path; replaced whole if it exists and ``overwrite``.
    layer : str
        Layer name.
    overwrite : bool
        Allow replacing an existing file.

    Returns
    -------
    Path

    Raises
    ------
    ExportError
        ``dest`` exists without ``overwrite``, the folder is not writable, or
        GDAL cannot write the layer.
    """
    dest = Path(dest)
    try:
        with atomic_file(dest, overwrite, create=False) as tmp:  # GDAL creates the file
            pyogrio.write_dataframe(gdf, tmp, layer=layer, driver="GPKG",
                                    dataset_options=GPKG_OPTIONS)
    except ExportError:
        raise
    except (OSError, RuntimeError) as e:  # pyogrio's errors are RuntimeErrors
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ExportError(f"{dest}: 无法写入 (cannot write): {first}; check the folder and "
                          "disk space") from None
    return dest


def _plain(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Columns GPKG can hold: dates and objects as text."""
    geom = gdf.geometry.name
    objects = [c for c, dtype in gdf.dtypes.items() if c != geom and dtype == np.dtype(object)]
    if not objects:
        return gdf
    out = gdf.copy(deep=False)  # copy on write: the input's columns are never changed
    for c in objects:
        out[c] = out[c].astype("string")
    return out


def clip_inputs(layers: dict[str, gpd.GeoDataFrame], area) -> dict[str, gpd.GeoDataFrame]:
    """Each input layer clipped to ``area`` (a township package holds only its own area)."""
    out = {}
    shapely.prepare(area)  # one index of the area's edges for every layer's predicates
    for name, gdf in layers.items():
        hit = shapely.intersects(area, gdf.geometry.values)
        sub = gdf.loc[hit]
        if len(sub):
            before = np.asarray(sub.geometry.values)
            # only features that cross the edge are cut (the overlay is most of the time)
            edge = ~shapely.contains_properly(area, before)
            cut = before.copy()
            if edge.any():
                cut[edge] = shapely.intersection(before[edge], area)
                # a neighbour that only touches the area leaves a point or a line:
                # keep only parts of the feature's own dimension
                cut[edge] = _same_dimension(cut[edge], shapely.get_dimensions(before[edge]))
            sub = sub.set_geometry(gpd.GeoSeries(cut, index=sub.index, crs=gdf.crs))
            sub = sub.loc[~(sub.geometry.is_empty | sub.geometry.isna())]
        out[name] = sub
    return out


def _same_dimension(geoms: np.ndarray, dims: np.ndarray) -> np.ndarray:
    """Parts of each geometry whose dimension is ``dims`` (collections filtered)."""
    out = np.asarray(geoms).copy()
    mixed = (shapely.get_dimensions(out) != dims) | (shapely.get_type_id(out) == 7)
    for i in np.flatnonzero(mixed):  # only the few features cut along an edge
        parts = shapely.get_parts(out[i])
        keep = parts[shapely.get_dimensions(parts) == dims[i]]
        out[i] = shapely.union_all(keep) if len(keep) else shapely.Point()
    return out
