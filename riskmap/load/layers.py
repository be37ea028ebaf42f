"""Read input layers (the input edge): any source kind into the working CRS.

Every source is read by the reader of its kind (:data:`riskmap.load.sources.READERS`)
and returned in the working CRS as a GeoDataFrame together with a
:class:`LayerInfo` saying what was found (features, geometry types, CRS,
encoding, repairs). Problems become :class:`~riskmap.errors.LayerError` naming
the file, the layer, the row and the fix.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from riskmap.errors import LayerError, RiskmapWarning
from riskmap.load import sources
from riskmap.load.project import Source
from riskmap.load.sources.base import LayerInfo, crs_label, feature_rows
from riskmap.load.sources.points import table_lonlat, table_xy
from riskmap.load.sources.vector import ZIP_LIMIT_BYTES, decode_shapefile_text, list_layers

log = logging.getLogger(__name__)

__all__ = ["ZIP_LIMIT_BYTES", "LayerInfo", "decode_shapefile_text", "file_sha256",
           "list_layers", "read_source", "table_lonlat", "table_xy"]


def read_source(source: Source, working_crs: str) -> tuple[gpd.GeoDataFrame, LayerInfo]:
    """Read one source into the working CRS.

    Parameters
    ----------
    source : Source
        File (and layer) to read.
    working_crs : str
        The project's CRS; geometries are reprojected to it (pyproj, always_xy).

    Returns
    -------
    (GeoDataFrame, LayerInfo)
        Rows with empty geometries are dropped and counted; invalid polygons are
        repaired (``make_valid``) with a :class:`RiskmapWarning`.

    Raises
    ------
    LayerError
        Missing file or layer, no CRS, empty layer, unreadable rows.
    """
    info = LayerInfo(source=source)
    if not source.path.exists():
        raise LayerError(f"{source.path}: 文件不存在 (file not found); check the path in the "
                         "project file (paths are relative to the project file)")
    gdf = sources.reader(source)(source, info)
    if len(gdf) == 0:
        raise LayerError(f"{source}: 图层为空 (the layer has no features); check the file or "
                         "the 'where' filter")
    if gdf.crs is None:
        if source.crs is None:
            raise LayerError(f"{source}: 没有坐标系 (the layer has no CRS); add a .prj / CRS to "
                             "the file or give 'crs:' in the project file source")
        gdf = gdf.set_crs(source.crs)
    elif source.crs not in (None, "GCJ02", "BD09") and not CRS.from_user_input(
            source.crs).equals(gdf.crs):
        info.notes.append(f"CRS in file overridden by project file ({source.crs})")
        gdf = gdf.set_crs(source.crs, allow_override=True)
    info.crs = crs_label(gdf.crs)

    geoms = gdf.geometry.values
    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    info.empty = int(empty.sum())
    if info.empty:
        if info.empty == len(gdf):
            raise LayerError(f"{source}: every feature has an empty geometry; nothing to use")
        rows = feature_rows(gdf, np.flatnonzero(empty))
        warnings.warn(f"{source}: skipped {info.empty} feature(s) without geometry "
                      f"(never placed at 0,0): rows {rows}", RiskmapWarning, stacklevel=2)
        gdf = gdf.loc[~empty]
    # every vertex, not only the bounds: GEOS skips a NaN inside a polygon's envelope
    xy, owner = shapely.get_coordinates(gdf.geometry.values, return_index=True)
    bad = np.unique(owner[~np.isfinite(xy).all(axis=1)])
    if bad.size:
        raise LayerError(f"{source}: row {feature_rows(gdf, bad[:1])} has NaN/Inf "
                         "coordinates; fix or delete it")
    gdf = _split_collections(gdf, source, info)
    gdf = gdf.to_crs(working_crs)
    gdf = _repair(gdf, source, info)
    info.duplicates = int(pd.Series(shapely.to_wkb(gdf.geometry.values)).duplicated().sum())
    if info.duplicates:
        info.notes.append(f"{info.duplicates} features repeat another's geometry exactly (kept)")
    info.features = len(gdf)
    counts = gdf.geom_type.value_counts().sort_index()
    info.geom_counts = {str(k): int(v) for k, v in counts.items()}
    info.geom_types = sorted(info.geom_counts)
    info.bounds = tuple(float(v) for v in gdf.total_bounds)
    return gdf.reset_index(drop=True), info


def _split_collections(gdf: gpd.GeoDataFrame, source: Source,
                       info: LayerInfo) -> gpd.GeoDataFrame:
    """Geometry collections become one feature per part (then checked by type)."""
    geoms = gdf.geometry.values
    gc = shapely.get_type_id(geoms) == 7
    if not gc.any():
        return gdf
    parts, idx = shapely.get_parts(geoms[gc], return_index=True)
    rows = gdf.loc[gc].iloc[idx].copy()
    rows = rows.set_geometry(gpd.GeoSeries(parts, index=rows.index, crs=gdf.crs))
    info.split_collections = int(gc.sum())
    warnings.warn(f"{source}: split {int(gc.sum())} geometry collection(s) into {len(parts)} "
                  f"features by type (rows {feature_rows(gdf, np.flatnonzero(gc))})",
                  RiskmapWarning, stacklevel=3)
    return gpd.GeoDataFrame(pd.concat([gdf.loc[~gc], rows]), crs=gdf.crs)


def _repair(gdf: gpd.GeoDataFrame, source: Source, info: LayerInfo) -> gpd.GeoDataFrame:
    geoms = gdf.geometry.values
    poly = np.isin(shapely.get_type_id(geoms), (3, 6))
    invalid = poly & ~shapely.is_valid(geoms)
    n = int(invalid.sum())
    if n:
        fixed = shapely.make_valid(geoms[invalid])
        # make_valid may return collections; keep their polygonal part
        fixed = shapely.get_parts(fixed, return_index=True)
        parts, idx = fixed
        keep = np.isin(shapely.get_type_id(parts), (3, 6))
        merged = gpd.GeoSeries(parts[keep]).groupby(idx[keep]).agg(shapely.union_all)
        new = np.asarray(geoms).copy()
        pos = np.flatnonzero(invalid)
        new[pos[merged.index.to_numpy()]] = merged.to_numpy()
        gdf = gdf.set_geometry(gpd.GeoSeries(new, index=gdf.index, crs=gdf.crs))
        info.repaired = n
        warnings.warn(f"{source}: repaired {n} invalid polygon(s) (make_valid)",
                      RiskmapWarning, stacklevel=3)
    return gdf


def file_sha256(path: Path) -> str:
    """SHA-256 of a file (inputs are hashed into every summary)."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
