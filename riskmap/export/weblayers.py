"""The page's input layers as compact JSON: GeoJSON features, or points as rounded integers.

Features travel as GeoJSON in WGS84 rounded to about a metre; a point layer as
integer offsets of 1e-5° with its attribute columns (a column whose values repeat
as codes into its values), and a layer of more than :data:`POINTS_MAX` points as
counts per patrol cell, in squares of 1, 2, 4, ... patrol cells until at most
:data:`BINS_MAX` remain. Everything is made on the geometry and column arrays: a
township map writes a dozen small layers, and per-call pandas costs were most of
their time.
"""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from riskmap.crs.transform import to_crs, transformer
from riskmap.grid import Grid

__all__ = ["BINS_MAX", "POINTS_MAX", "geojson", "input_layer", "plain", "point_layer"]

#: Points of one input layer drawn one by one; a larger layer is counted per patrol cell.
POINTS_MAX = 3000
#: Squares of a counted layer; beyond, squares of 2, 4, ... patrol cells.
BINS_MAX = 3000


def geojson(gdf: gpd.GeoDataFrame, columns, digits: int = 5) -> dict:
    """GeoJSON in WGS84 with coordinates rounded to ``digits`` decimals (5: ≈ 1 m).

    On the geometry and column arrays (a township map writes a dozen small layers,
    and GeoDataFrame copies and selections were most of their time); Z is left out.
    """
    t = transformer(gdf.crs, "EPSG:4326", always_xy=True)

    def lon_lat(c):
        x, y = t.transform(c[:, 0], c[:, 1])
        return np.round(np.column_stack([x, y]), digits)

    geoms = shapely.to_geojson(shapely.transform(np.asarray(gdf.geometry.values), lon_lat))
    cols = []
    for c in columns:
        v = gdf[c].to_numpy(dtype=object)
        cols.append([None if m else plain(x) for x, m in zip(v, pd.isna(v), strict=True)])
    feats = [{"type": "Feature", "geometry": None if g is None else json.loads(g),
              "properties": dict(zip(columns, row, strict=True))}
             for g, row in zip(geoms, zip(*cols, strict=True) if cols else [()] * len(geoms),
                               strict=True)]
    return {"type": "FeatureCollection", "features": feats}


def plain(v):
    """A JSON value: NaN (pandas' factorize turns None into it) is null, never ``NaN``."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and v != v:
        return None
    if isinstance(v, float | int | str | bool) or v is None:
        return v
    return str(v)


def _columns_of(gdf: gpd.GeoDataFrame, keep) -> dict:
    """Attribute columns, each a list or (when values repeat) codes into its values."""
    out = {}
    for c in keep:
        vals = _column_values(gdf[c])
        codes, uniques = pd.factorize(vals, use_na_sentinel=False)
        if len(uniques) * 2 <= len(vals):
            out[str(c)] = {"k": codes.tolist(), "u": [plain(x) for x in uniques]}
        else:
            out[str(c)] = vals.tolist()
    return out


def _column_values(col: pd.Series) -> np.ndarray:
    """One column as JSON-ready values: numbers rounded to 1e-6, the rest as text, None missing.

    On numpy arrays, not pandas' string type: a township map has a score of small
    layers, and pandas' per-call cost was most of their time.
    """
    dtype = col.dtype
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        v = col.to_numpy(dtype=float, na_value=np.nan)
        vals = np.round(v, 6).astype(object)
        vals[np.isnan(v)] = None
        return vals
    if dtype.kind != "O" and not isinstance(dtype, pd.StringDtype):  # dates, categories: pandas'
        vals = col.astype("string").to_numpy(dtype=object, na_value=None)  # text ("2020-01-02")
        vals[col.isna().to_numpy()] = None
        return vals
    raw = col.to_numpy(dtype=object)
    missing = pd.isna(raw)
    vals = raw.astype(str).astype(object)  # a new array: the column is never written
    vals[missing] = None
    return vals


def point_layer(gdf: gpd.GeoDataFrame, keep, frame: Grid) -> dict:
    """Points one by one (1e-5° ≈ 1 m), or counted per patrol cell beyond :data:`POINTS_MAX`."""
    geoms = np.asarray(gdf.geometry.values)
    if len(geoms) and (shapely.get_type_id(geoms) == 0).all():  # points already: no explode
        g = gdf
    else:  # MultiPoints into points (GeoDataFrame.explode costs ~5 ms a layer)
        parts, idx = shapely.get_parts(geoms, return_index=True)
        g = gpd.GeoDataFrame(gdf.drop(columns=gdf.geometry.name).iloc[idx].reset_index(drop=True),
                             geometry=parts, crs=gdf.crs)
    empty = shapely.is_empty(np.asarray(g.geometry.values))
    if empty.any():  # a selection copies the frame: only when there is something to drop
        g = g.loc[~empty]
    if len(g) > POINTS_MAX:
        xy = shapely.get_coordinates(to_crs(g, frame.crs).geometry.values)
        s = frame.cell
        u = (xy[:, 0] - frame.x0) / s
        v = (xy[:, 1] - (frame.y0 - frame.nrows * s)) / s
        size = 1
        while True:  # coarser squares until the layer has few enough of them
            bi, bj = np.floor(u / size).astype(np.int64), np.floor(v / size).astype(np.int64)
            key, n = np.unique(np.column_stack([bi, bj]), axis=0, return_counts=True)
            if len(key) <= BINS_MAX:
                break
            size *= 2
        return {"kind": "bins", "bin": size, "i": key[:, 0].tolist(), "j": key[:, 1].tolist(),
                "n": n.tolist(), "points": len(g)}
    # one point per row after the explode: transform the coordinates, not the frame
    xy = shapely.get_coordinates(g.geometry.values)
    lon_d, lat_d = transformer(g.crs, "EPSG:4326", always_xy=True).transform(xy[:, 0], xy[:, 1])
    lat = np.rint(np.asarray(lat_d) * 1e5).astype(np.int64)
    lon = np.rint(np.asarray(lon_d) * 1e5).astype(np.int64)
    base = [int(lat.min()), int(lon.min())] if len(lat) else [0, 0]
    return {"kind": "points", "base": base, "lat": (lat - base[0]).tolist(),
            "lon": (lon - base[1]).tolist(), "props": _columns_of(g, keep)}


def input_layer(gdf: gpd.GeoDataFrame, keep, frame: Grid) -> dict:
    """One input layer for the page: points (:func:`point_layer`) or GeoJSON features.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
    keep : sequence of str
        Attribute columns shown in the popups.
    frame : Grid
        The page's patrol grid (where a large point layer is counted).
    """
    tid = shapely.get_type_id(np.asarray(gdf.geometry.values))
    tid = tid[tid >= 0]  # missing geometries say nothing
    if len(tid) and np.isin(tid, (0, 4)).all():  # Points and MultiPoints
        return point_layer(gdf, keep, frame)
    return {"kind": "features", "data": geojson(gdf, keep)}
