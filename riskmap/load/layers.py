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

from riskmap.crs.meridian import CoordHints
from riskmap.crs.transform import to_crs
from riskmap.errors import LayerError, RiskmapWarning
from riskmap.load import sources
from riskmap.load.axes import swap_axes
from riskmap.load.filters import apply_where
from riskmap.load.project import Source
from riskmap.load.sources.base import LayerInfo, crs_label, feature_rows, named_rows
from riskmap.load.sources.points import table_lonlat, table_xy
from riskmap.load.sources.vector import ZIP_LIMIT_BYTES, decode_shapefile_text, list_layers

log = logging.getLogger(__name__)

__all__ = ["ZIP_LIMIT_BYTES", "LayerInfo", "combine_parts", "decode_shapefile_text",
           "file_sha256", "list_layers", "read_source", "table_lonlat", "table_xy"]


def read_source(source: Source, working_crs: str, *, allow_empty: bool = False,
                hints: CoordHints | None = None) -> tuple[gpd.GeoDataFrame, LayerInfo]:
    """Read one source into the working CRS.

    Parameters
    ----------
    source : Source
        File (and layer) to read, or several (:attr:`Source.parts`), each read
        with its own options and concatenated with a ``source_file`` column.
    working_crs : str
        The project's CRS; geometries are reprojected to it (pyproj, always_xy).
    allow_empty : bool, optional
        An empty layer (or a ``where`` filter that keeps nothing) is a
        :class:`RiskmapWarning` instead of an error (factors: the factor is then
        zero everywhere).
    hints : CoordHints, optional
        What the project knows for coordinate tables (the working CRS, the
        district's lon/lat bounds): the central meridian of eastings without a
        zone prefix. Default: the working CRS alone.

    Returns
    -------
    (GeoDataFrame, LayerInfo)
        Rows with empty geometries are dropped and named; invalid polygons are
        repaired (``make_valid``) and axes written the wrong way round swapped
        back, with a :class:`RiskmapWarning`; features repeating another exactly
        are named in a warning (and listed in :attr:`LayerInfo.repeats`).

    Raises
    ------
    LayerError
        Missing file or layer, no CRS, empty layer, unreadable rows, a bad ``where``.
    """
    if source.parts:
        parts = [read_source(p, working_crs, allow_empty=True, hints=hints)
                 for p in source.parts]
        gdf, info = combine_parts(source, parts, working_crs)
        if not len(gdf) and not allow_empty:
            raise LayerError(f"{source}: 图层为空 (the layers have no features); check the "
                             "files or their 'where' filters")
        return gdf, info
    info = LayerInfo(source=source)
    if not source.path.exists():
        raise LayerError(f"{source.path}: 文件不存在 (file not found); check the path in the "
                         "project file (paths are relative to the project file)")
    if not (source.path.is_file() or source.path.is_dir()):  # a FIFO or device would hang
        raise LayerError(f"{source.path}: 不是普通文件 (not a regular file: a pipe or device); "
                         "give the data file itself")
    kind = sources.kind_of(source)
    if kind in ("points", "corners"):  # surveyors' tables may need the project's meridian
        gdf = sources.READERS[kind](source, info, hints=hints or CoordHints(working_crs))
    else:
        gdf = sources.READERS[kind](source, info)
    gdf = gdf.set_axis(pd.RangeIndex(len(gdf)))  # the feature's place in the file
    if source.where and len(gdf):
        keep = apply_where(gdf, source.where, source)
        info.notes.append(f"where {source.where}: {len(keep)} of {len(gdf)} features kept")
        gdf = gdf.iloc[keep]
    if len(gdf) == 0:
        why = (f"{source}: 图层为空 (the layer has no features"
               + (f" that the 'where' filter {source.where!r} keeps" if source.where else "")
               + ")")
        if not allow_empty:
            raise LayerError(f"{why}; check the file or the 'where' filter")
        warnings.warn(f"{why}: the factor is zero everywhere; check the file"
                      + (" or the filter" if source.where else ""), RiskmapWarning, stacklevel=2)
        crs = gdf.crs
        if crs is None:  # GCJ-02 / BD-09 layers are WGS84 once shifted
            crs = "EPSG:4326" if source.crs in ("GCJ02", "BD09") else source.crs or working_crs
        gdf = gpd.GeoDataFrame(gdf, geometry=gdf.geometry.name, crs=crs)
        info.crs = crs_label(gdf.crs)
        info.rows = np.zeros(0, dtype=object)
        return to_crs(gdf, working_crs).reset_index(drop=True), info
    gdf = _with_crs(gdf, source, info)

    geoms = gdf.geometry.values
    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    info.empty = int(empty.sum())
    if info.empty:
        if info.empty == len(gdf):
            raise LayerError(f"{source}: every feature has an empty geometry; nothing to use")
        rows = named_rows(gdf, np.flatnonzero(empty), _row_numbers(gdf))
        warnings.warn(f"{source}: skipped {info.empty} feature(s) without geometry "
                      f"(never placed at 0,0): rows {rows}", RiskmapWarning, stacklevel=2)
        gdf = gdf.loc[~empty]
    # every vertex, not only the bounds: GEOS skips a NaN inside a polygon's envelope
    xy, owner = shapely.get_coordinates(gdf.geometry.values, return_index=True)
    bad = np.unique(owner[~np.isfinite(xy).all(axis=1)])
    if bad.size:
        raise LayerError(f"{source}: row {_row_numbers(gdf)[bad[0]]} has NaN/Inf "
                         "coordinates; fix or delete it")
    gdf = _split_collections(gdf, source, info)
    gdf = swap_axes(gdf, source, info)
    gdf = to_crs(gdf, working_crs)
    gdf = _repair(gdf, source, info)
    info.rows = _row_numbers(gdf)
    info.repeats = _repeats(gdf, source, info)
    info.features = len(gdf)
    counts = gdf.geom_type.value_counts().sort_index()
    info.geom_counts = {str(k): int(v) for k, v in counts.items()}
    info.geom_types = sorted(info.geom_counts)
    info.bounds = tuple(float(v) for v in gdf.total_bounds)
    return gdf.reset_index(drop=True), info


def _with_crs(gdf: gpd.GeoDataFrame, source: Source, info: LayerInfo) -> gpd.GeoDataFrame:
    """The layer with its CRS: the file's, else (or overridden by) the project file's."""
    if gdf.crs is None:
        if source.crs is None:
            raise LayerError(f"{source}: 没有坐标系 (the layer has no CRS); add a .prj / CRS to "
                             "the file or give 'crs:' in the project file source"
                             + _crs_hint(gdf))
        gdf = gdf.set_crs(source.crs)
    elif source.crs not in (None, "GCJ02", "BD09") and not CRS.from_user_input(
            source.crs).equals(gdf.crs):
        info.notes.append(f"CRS in file overridden by project file ({source.crs})")
        gdf = gdf.set_crs(source.crs, allow_override=True)
    info.crs = crs_label(gdf.crs)
    return gdf


def _crs_hint(gdf) -> str:
    """What the numbers of a layer without CRS look like (degrees, GK metres, swapped)."""
    b = np.asarray(gdf.total_bounds, dtype=float) if len(gdf) else np.full(4, np.nan)
    if not np.isfinite(b).all():
        return ""
    x, y = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
    north, east = (1e6 <= y < 6.2e6), (2e5 <= x <= 8e5 or 2.5e7 <= x < 4.6e7)
    if north and east:
        return (f" (the numbers look like Gauss-Krüger metres, x ≈ {x:,.0f} east, y ≈ {y:,.0f} "
                "north: e.g. EPSG:4546 for CM 111°E, EPSG:4547 for 114°E)")
    if (1e6 <= x < 6.2e6) and (2e5 <= y <= 8e5 or 2.5e7 <= y < 4.6e7):
        return (f" (the numbers look like Gauss-Krüger metres with x ≈ {x:,.0f} the northing: "
                "axes swapped; give the zone's CRS and they are swapped back)")
    if abs(x) <= 180 and abs(y) <= 90:
        return " (the numbers look like longitude/latitude: crs: EPSG:4326)"
    return ""


def _row_numbers(gdf) -> np.ndarray:
    """The row a user finds each feature at: the table row, else the feature number."""
    if "_row" in gdf.columns:
        return gdf["_row"].to_numpy().astype(object)
    return (gdf.index.to_numpy() + 1).astype(object)


def _repeats(gdf: gpd.GeoDataFrame, source: Source, info: LayerInfo) -> np.ndarray:
    """Positions of features repeating an earlier one exactly (geometry and attributes)."""
    if len(gdf) < 2:
        return np.zeros(0, np.int64)
    geom = gdf.geometry.name
    wkb = pd.Series(shapely.to_wkb(gdf.geometry.values), index=gdf.index)
    same_place = wkb.duplicated().to_numpy()
    if not same_place.any():
        return np.zeros(0, np.int64)
    attrs = gdf.drop(columns=[geom, *(["_row"] if "_row" in gdf.columns else [])])
    frame = attrs.assign(_wkb=wkb)
    key = pd.util.hash_pandas_object(frame.astype(object).where(frame.notna(), None),
                                     index=False).to_numpy()
    dup = pd.Series(key).duplicated().to_numpy() & same_place
    pos = np.flatnonzero(dup)
    shared = int(same_place.sum()) - len(pos)
    if shared:
        info.notes.append(f"{shared} feature(s) share another's geometry exactly but differ in "
                          "their attributes (kept: distinct records at one place)")
    if len(pos):
        first = pd.Series(np.arange(len(gdf))).groupby(key).transform("first").to_numpy()
        rows = info.rows
        pairs = ", ".join(f"{rows[i]} = {rows[first[i]]}" for i in pos[:5])
        more = f" … (+{len(pos) - 5})" if len(pos) > 5 else ""
        warnings.warn(
            f"{source}: {len(pos)} 个要素完全重复 (feature(s) repeat an earlier one exactly: "
            f"same geometry and attributes): rows {pairs}{more}; a density factor counts "
            "each once (the repeats are dropped there), other factors are unaffected",
            RiskmapWarning, stacklevel=3)
    return pos


def combine_parts(source: Source, parts: list, working_crs: str
                  ) -> tuple[gpd.GeoDataFrame, LayerInfo]:
    """The layers of a factor's several sources as one, with a ``source_file`` column.

    Parameters
    ----------
    source : Source
        The factor's source (its :attr:`Source.parts` in the order of ``parts``).
    parts : list of (GeoDataFrame, LayerInfo)
        Each part as read (in the working CRS).
    working_crs : str

    Returns
    -------
    (GeoDataFrame, LayerInfo)
        ``LayerInfo.parts`` holds each part's info; rows read ``file row``.
    """
    info = LayerInfo(source=source, parts=[i for _, i in parts])
    frames, rows, repeats, offset = [], [], [], 0
    for (gdf, pinfo), psrc in zip(parts, source.parts, strict=True):
        frames.append(gdf.assign(source_file=psrc.label))
        own = pd.Series(pinfo.rows if pinfo.rows is not None else [], dtype=object)
        rows.append((psrc.label + " " + own.astype(str)).to_numpy(dtype=object))
        repeats.append(np.asarray(pinfo.repeats, np.int64) + offset)
        offset += len(gdf)
    gdf = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry=frames[0].geometry.name,
                           crs=working_crs)
    info.rows = np.concatenate(rows) if rows else np.zeros(0, dtype=object)
    info.repeats = np.concatenate(repeats) if repeats else np.zeros(0, np.int64)
    info.features = len(gdf)
    info.crs = " + ".join(dict.fromkeys(i.crs or "" for _, i in parts))
    info.encoding = " + ".join(dict.fromkeys(i.encoding or "" for _, i in parts))
    info.format = " + ".join(dict.fromkeys(i.format or "" for _, i in parts))
    info.empty = sum(i.empty for _, i in parts)
    info.repaired = sum(i.repaired for _, i in parts)
    counts = gdf.geom_type.value_counts().sort_index() if len(gdf) else {}
    info.geom_counts = {str(k): int(v) for k, v in dict(counts).items()}
    info.geom_types = sorted(info.geom_counts)
    info.bounds = tuple(float(v) for v in gdf.total_bounds) if len(gdf) else None
    info.notes.append("读取 {} 个来源 (sources read together): {}".format(
        len(parts), "; ".join(f"{p.label}: {i.features} features"
                              for p, (_, i) in zip(source.parts, parts, strict=True))))
    return gdf, info


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
