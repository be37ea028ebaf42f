"""Read input layers (the input edge): any OGR vector format and point tables.

Everything is returned in the working CRS as a GeoDataFrame together with a
:class:`LayerInfo` saying what was found (features, geometry types, CRS,
encoding, repairs). Problems become :class:`~riskmap.errors.LayerError` naming
the file, the layer, the row and the fix.
"""

from __future__ import annotations

import glob
import logging
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS

from riskmap.errors import LayerError, RiskmapWarning
from riskmap.load.project import Source

log = logging.getLogger(__name__)

#: largest total uncompressed size of the members of a .zip/.kmz that is opened
#: (a zip bomb is refused before GDAL inflates it)
ZIP_LIMIT_BYTES = 200 * 1024 * 1024


@dataclass
class LayerInfo:
    """What was read from one source (for ``riskmap check`` and summaries)."""

    source: Source
    features: int = 0
    geom_types: list[str] = field(default_factory=list)
    crs: str | None = None
    encoding: str | None = None
    empty: int = 0
    repaired: int = 0
    dropped_rows: int = 0
    split_collections: int = 0
    duplicates: int = 0
    format: str = ""
    geom_counts: dict = field(default_factory=dict)
    detected: list[str] = field(default_factory=list)  # CRS / axis / zone found in the data
    bounds: tuple | None = None
    notes: list[str] = field(default_factory=list)


def list_layers(path: Path) -> list[str]:
    """Names of the layers in a vector file (empty for tables)."""
    try:
        return [str(n) for n in pyogrio.list_layers(path)[:, 0]]
    except Exception as e:  # GDAL's errors are many; we report one line
        raise LayerError(f"{path}: 无法打开 (cannot open as a vector file): {_first_line(e)}; "
                         "check that the file is complete and is GPKG/SHP/GeoJSON/KML") from None


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
    _check_zip(source.path)
    gdf = _read_table(source, info) if source.is_table else _read_vector(source, info)
    if len(gdf) == 0:
        raise LayerError(f"{source}: 图层为空 (the layer has no features); check the file or "
                         "the 'where' filter")
    if source.crs in ("GCJ02", "BD09") and not source.is_table:  # tables shift per row
        gdf = _from_mars(gdf, source.crs, source, info)
    elif gdf.crs is None:
        if source.crs is None:
            raise LayerError(f"{source}: 没有坐标系 (the layer has no CRS); add a .prj / CRS to "
                             "the file or give 'crs:' in the project file source")
        gdf = gdf.set_crs(source.crs)
    elif source.crs not in (None, "GCJ02", "BD09") and not CRS.from_user_input(
            source.crs).equals(gdf.crs):
        info.notes.append(f"CRS in file overridden by project file ({source.crs})")
        gdf = gdf.set_crs(source.crs, allow_override=True)
    info.crs = _crs_label(gdf.crs)

    geoms = gdf.geometry.values
    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    info.empty = int(empty.sum())
    if info.empty:
        if info.empty == len(gdf):
            raise LayerError(f"{source}: every feature has an empty geometry; nothing to use")
        rows = _rows(gdf, np.flatnonzero(empty))
        warnings.warn(f"{source}: skipped {info.empty} feature(s) without geometry "
                      f"(never placed at 0,0): rows {rows}", RiskmapWarning, stacklevel=2)
        gdf = gdf.loc[~empty]
    # every vertex, not only the bounds: GEOS skips a NaN inside a polygon's envelope
    xy, owner = shapely.get_coordinates(gdf.geometry.values, return_index=True)
    bad = np.unique(owner[~np.isfinite(xy).all(axis=1)])
    if bad.size:
        raise LayerError(f"{source}: row {_rows(gdf, bad[:1])} has NaN/Inf "
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


def _check_zip(path: Path) -> None:
    """Refuse a .zip/.kmz whose members inflate beyond :data:`ZIP_LIMIT_BYTES`."""
    import zipfile

    if path.suffix.lower() not in (".zip", ".kmz") or not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as z:
            members = z.infolist()
    except (zipfile.BadZipFile, OSError) as e:
        raise LayerError(f"{path}: 压缩包已损坏 (damaged zip archive): {_first_line(e)}; copy "
                         "the file again") from None
    total = sum(m.file_size for m in members)
    if total > ZIP_LIMIT_BYTES:
        big = max(members, key=lambda m: m.file_size)
        raise LayerError(
            f"{path}: 压缩包解压后过大 (the archive inflates to {total / 2**20:,.0f} MB, "
            f"member {big.filename!r} alone {big.file_size / 2**20:,.0f} MB; the limit is "
            f"{ZIP_LIMIT_BYTES / 2**20:.0f} MB): not opened (a damaged file or a zip bomb); "
            "unpack it yourself and check the contents")


def _check_shapefile(path: Path) -> None:
    """Refuse a shapefile without its .shx or .dbf (an incomplete copy)."""
    if path.suffix.lower() != ".shp":
        return
    have = {p.suffix.lower() for p in path.parent.glob(glob.escape(path.stem) + ".*")}
    for ext, what in ((".shx", "shape index"), (".dbf", "attribute table")):
        if ext not in have:
            raise LayerError(
                f"{path}: 缺少 {path.stem}{ext} ({what}): the shapefile is incomplete; copy "
                f"every part ({path.stem}.shp, .shx, .dbf, .prj, .cpg) together")


def _dbf_count_note(path: Path) -> str | None:
    """Say so when a .dbf header's record count disagrees with the records it holds."""
    import struct

    dbf = next((p for p in path.parent.glob(glob.escape(path.stem) + ".*")
                if p.suffix.lower() == ".dbf"), None)
    if dbf is None:
        return None
    try:
        with open(dbf, "rb") as f:
            head = f.read(12)
        size = dbf.stat().st_size
    except OSError:
        return None
    if len(head) < 12:
        return f"{dbf.name}: the .dbf header is truncated; re-export the shapefile"
    claimed, hlen, rlen = struct.unpack("<IHH", head[4:12])
    if rlen == 0 or hlen > size:
        return f"{dbf.name}: the .dbf header is damaged; re-export the shapefile"
    held = (size - hlen) // rlen
    if claimed != held:
        return (f"{dbf.name}: the .dbf header claims {claimed:,} records but the file holds "
                f"{held:,}")
    return None


def _read_vector(source: Source, info: LayerInfo) -> gpd.GeoDataFrame:
    _check_shapefile(source.path)
    layers = list_layers(source.path)
    layer = source.layer
    kml = source.path.suffix.lower() in (".kml", ".kmz")
    if layer is None and kml and len(layers) > 1:
        # phone apps put placemarks in folders; GDAL makes each folder a layer
        parts = [_read_one(source, name, info) for name in layers]
        parts = [p.assign(folder=name) for p, name in zip(parts, layers, strict=True) if len(p)]
        info.notes.append(f"read {len(layers)} KML folders: {', '.join(layers)}")
        if not parts:
            return _read_one(source, layers[0], info)
        return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=parts[0].crs)
    if layer is None:
        if len(layers) > 1:
            raise LayerError(f"{source.path}: holds {len(layers)} layers "
                             f"({', '.join(layers)}); name one as 'file:layer' in the project file")
        layer = layers[0] if layers else None
    elif layer not in layers:
        raise LayerError(f"{source.path}: 没有图层 {layer!r} (no such layer); layers in the file: "
                         f"{', '.join(layers) or 'none'}")
    return _read_one(source, layer, info)


def _read_one(source: Source, layer, info: LayerInfo) -> gpd.GeoDataFrame:
    shp = source.path.suffix.lower() == ".shp"
    # shapefile text is read byte for byte (latin-1) and decoded after a
    # decode test: a missing or wrong .cpg must not produce mojibake
    enc = source.encoding or ("latin1" if shp else None)
    try:
        meta = pyogrio.read_info(source.path, layer=layer, encoding=enc)
        info.format = meta.get("driver") or ""
        gdf = pyogrio.read_dataframe(source.path, layer=layer, where=source.where,
                                     encoding=enc, on_invalid="warn")
    except Exception as e:
        hint = "; check the 'where' filter" if source.where else ""
        raise LayerError(f"{source}: 读取失败 (cannot read): {_first_line(e)}{hint}") from None
    if shp and (note := _dbf_count_note(source.path)):
        warnings.warn(f"{source}: {note}; read {len(gdf)} feature(s) — re-export the "
                      "shapefile if rows are missing", RiskmapWarning, stacklevel=4)
    if shp and not source.encoding:
        gdf, info.encoding, why = decode_shapefile_text(gdf, _shapefile_cpg(source.path))
        if why and (why.startswith(".cpg") or "neither" in why):
            warnings.warn(f"{source}: {why}", RiskmapWarning, stacklevel=4)
        elif why:
            info.notes.append(why)
    else:
        info.encoding = source.encoding or meta.get("encoding")
    return gdf


def decode_shapefile_text(gdf, declared: str | None):
    """Decode latin-1-read shapefile text with the encoding that decodes it.

    Tries UTF-8, then GB18030 (a superset of GBK and GB2312), on every text
    value; the .cpg declaration only breaks ties for pure-ASCII data.

    Returns
    -------
    (GeoDataFrame, encoding, note)
        ``note`` explains a choice that differs from the .cpg (or its absence).
    """
    cols = [c for c in gdf.columns if c != gdf.geometry.name
            and (gdf[c].dtype == object or pd.api.types.is_string_dtype(gdf[c]))]
    raw = {c: gdf[c].map(lambda v: v.encode("latin1") if isinstance(v, str) else v)
           for c in cols}
    values = [b for c in cols for b in raw[c] if isinstance(b, bytes) and not b.isascii()]
    if not values:
        return _strings_from(gdf, raw, "ascii"), (declared or "ASCII"), None
    chosen = None
    for enc in ("utf-8", "gb18030"):
        try:
            for b in values:
                b.decode(enc)
        except UnicodeDecodeError:
            continue
        chosen = enc
        break
    if chosen is None:
        enc = declared or "latin1"
        return (_strings_from(gdf, raw, enc, errors="replace"), enc,
                f"text decodes as neither UTF-8 nor GBK/GB18030; read as {enc} with "
                "replacement characters — give 'encoding:' in the project file")
    label = {"utf-8": "UTF-8", "gb18030": "GB18030"}[chosen]
    note = None
    norm = (declared or "").upper().replace("-", "").replace("_", "")
    if not declared:
        note = f"no .cpg: text decodes as {label}"
    elif not (norm == "UTF8" and chosen == "utf-8") and not (
            norm in ("GBK", "GB2312", "GB18030", "936", "CP936", "ANSI936")
            and chosen == "gb18030"):
        note = f".cpg says {declared} but the text decodes only as {label}; using {label}"
    return _strings_from(gdf, raw, chosen), label, note


def _strings_from(gdf, raw, enc, errors="strict"):
    out = gdf.copy()
    for c, col in raw.items():
        out[c] = col.map(lambda b: b.decode(enc, errors) if isinstance(b, bytes) else b)
        out[c] = out[c].astype(object)
    return out


def _shapefile_cpg(path: Path) -> str | None:
    """The code page a shapefile declares in its .cpg (GDAL recodes it to UTF-8)."""
    cpg = path.with_suffix(".cpg")
    if path.suffix.lower() != ".shp" or not cpg.is_file():
        return None
    return cpg.read_text(encoding="ascii", errors="replace").strip()[:20] or None


_POINT_KEYWORDS = {
    "lon": ("经度", "lon", "lng", "longitude", "long", "东经"),
    "lat": ("纬度", "lat", "latitude", "北纬"),
    "x": ("x", "x坐标", "东坐标", "横坐标", "easting", "坐标x"),
    "y": ("y", "y坐标", "北坐标", "纵坐标", "northing", "坐标y"),
    "crs": ("坐标系", "坐标系统", "坐标类型", "crs", "coordinate system", "datum"),
}
_ROW_CRS = {"WGS84": "WGS84", "WGS-84": "WGS84", "GPS": "WGS84", "CGCS2000": "WGS84",
            "2000": "WGS84", "国家2000": "WGS84", "EPSG:4326": "WGS84", "EPSG:4490": "WGS84"}


def _read_table(source: Source, info: LayerInfo) -> gpd.GeoDataFrame:
    """Points (or corner-coordinate licences) from a CSV/TXT/XLSX table."""
    if source.table == "corners":
        return _read_corners(source, info)
    from riskmap.load import values
    from riskmap.load.tables import read_table

    kw = dict(_POINT_KEYWORDS)
    if source.x_field or source.y_field:
        kw = {"x": (source.x_field,), "y": (source.y_field,), "crs": kw["crs"]}
    if source.crs_field:
        kw["crs"] = (source.crs_field,)
    try:
        # footers are found by their markers (注, 合计, ...) only: a last data row
        # with a bad or blank coordinate must be reported, not dropped as a footer
        df, tinfo = read_table(source.path, sheet=source.sheet, encoding=source.encoding,
                               keywords=kw)
    except LayerError as e:
        if "no header" not in str(e):
            raise
        raise LayerError(f"{e}; cannot find coordinate columns: name them or give "
                         "'x_field'/'y_field' in the project file") from None
    for role, name in (("x", source.x_field), ("y", source.y_field)):
        if name and role not in df.columns:
            raise LayerError(f"{source}: no column {name!r} (x_field/y_field); columns: "
                             f"{', '.join(map(str, df.columns[:-1]))}")
    info.encoding = tinfo.encoding
    info.format = "XLSX" if tinfo.encoding == "xlsx" else "CSV"
    info.notes += tinfo.notes
    if tinfo.dropped_title_rows or tinfo.dropped_footer_rows:
        info.notes.append(f"header on row {tinfo.header_row}; dropped "
                          f"{tinfo.dropped_title_rows} title and {tinfo.dropped_footer_rows} "
                          "footer row(s)")
    if {"lon", "lat"} <= set(df.columns):
        (a, bad_a), (b, bad_b) = values.parse_angles(df["lon"]), values.parse_angles(df["lat"])
        kind, cols = "lonlat", ("lon", "lat")
    elif {"x", "y"} <= set(df.columns):
        (a, bad_a), (b, bad_b) = values.parse_numbers(df["x"]), values.parse_numbers(df["y"])
        kind, cols = "xy", ("x", "y")
    else:
        raise LayerError(f"{source}: cannot find coordinate columns (looked for 经度/纬度, "
                         f"lon/lat, X/Y); columns: {', '.join(map(str, df.columns[:-1]))}; "
                         "give 'x_field'/'y_field' in the project file")
    bad = bad_a | bad_b
    rows = df["_row"].to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise LayerError(f"{source}: row {rows[i]}: coordinates {df[cols[0]].iloc[i]!r}, "
                         f"{df[cols[1]].iloc[i]!r} are not numbers or angles; fix the cell")
    blank = np.isnan(a) | np.isnan(b)
    info.dropped_rows = int(blank.sum())
    if info.dropped_rows:
        warnings.warn(f"{source}: skipped {info.dropped_rows} row(s) without coordinates "
                      f"(never placed at 0,0): rows {_list(rows[blank])}", RiskmapWarning,
                      stacklevel=3)
    keep = ~blank
    df, a, b, rows = df.loc[keep], a[keep], b[keep], rows[keep]
    if kind == "lonlat":
        x, y, crs = table_lonlat(source, df, a, b, rows, info)
    else:
        x, y, crs = table_xy(source, a, b, rows, info)
    drop = [c for c in (*cols, "crs") if c in df.columns]
    return gpd.GeoDataFrame(df.drop(columns=drop).reset_index(drop=True),
                            geometry=gpd.points_from_xy(x, y), crs=crs)


def table_lonlat(source: Source, df, lon, lat, rows, info: LayerInfo):
    """Longitude/latitude: swapped pairs, per-table or per-row GCJ-02/BD-09."""
    from riskmap.crs import china
    from riskmap.load.project import MARS_CRS

    swapped = china.looks_swapped_lonlat(lon, lat)
    if swapped.any():
        warnings.warn(f"{source}: {int(swapped.sum())} row(s) have latitude and longitude "
                      f"swapped; swapped back (rows {_list(rows[swapped])})", RiskmapWarning,
                      stacklevel=4)
        lon, lat = np.where(swapped, lat, lon), np.where(swapped, lon, lat)
    if "crs" in df.columns and not source.crs:
        names = df["crs"].fillna("").astype(str).str.strip().str.upper().str.replace(" ", "")
        mapped = names.map(lambda v: MARS_CRS.get(v) or _ROW_CRS.get(v) or (None if v else "WGS84"))
        if mapped.isna().any():
            i = int(np.flatnonzero(mapped.isna().to_numpy())[0])
            raise LayerError(f"{source}: row {rows[i]}: unknown coordinate system "
                             f"{df['crs'].iloc[i]!r}; use WGS84, CGCS2000, GCJ02 (高德/腾讯) "
                             "or BD09 (百度)")
        m = mapped.to_numpy()
        lon, lat = lon.copy(), lat.copy()
        for name, inverse in (("GCJ02", china.gcj02_to_wgs84), ("BD09", china.bd09_to_wgs84)):
            sel = m == name
            if sel.any():
                lon[sel], lat[sel] = inverse(lon[sel], lat[sel])
                info.detected.append(f"{int(sel.sum())} row(s) in {name} converted to WGS84 "
                                     "(per-row coordinate system column)")
        return lon, lat, "EPSG:4326"
    crs = source.crs or "EPSG:4326"
    if crs in ("GCJ02", "BD09"):
        inverse = china.gcj02_to_wgs84 if crs == "GCJ02" else china.bd09_to_wgs84
        lon, lat = inverse(lon, lat)
        info.detected.append(f"longitude/latitude in {crs}, converted to WGS84 (exact inverse)")
        return lon, lat, "EPSG:4326"
    if not CRS.from_user_input(crs).is_geographic:
        raise LayerError(f"{source}: the table has longitude/latitude columns but 'crs' is the "
                         f"projected {crs}; remove 'crs' or name the X/Y columns")
    info.detected.append(f"经度/纬度 columns, {crs}")
    return lon, lat, crs


def table_xy(source: Source, a, b, rows, info: LayerInfo):
    """Projected X/Y: surveyors' order and zone prefix detected from the numbers."""
    from riskmap.crs import gk

    if source.crs in ("GCJ02", "BD09"):
        raise LayerError(f"{source}: {source.crs} applies to longitude/latitude columns; "
                         "name them 经度/纬度 or lon/lat")
    if source.crs and CRS.from_user_input(source.crs).is_geographic:
        info.detected.append(f"X/Y columns read as longitude/latitude ({source.crs})")
        return a, b, source.crs
    try:
        guess = gk.detect_gk(a, b)
    except LayerError as e:  # name the row as the user sees it in the sheet
        msg = re.sub(r"\brow (\d+)", lambda m: f"row {rows[int(m.group(1)) - 1]}", str(e))
        raise LayerError(f"{source}: {msg}") from None
    info.detected.append(guess.message)
    x, y = guess.to_xy(a, b)
    if source.crs:
        if guess.zone and _false_easting(source.crs) > 1e6:
            x = x + guess.zone * 1e6  # the declared CRS wants the zone prefix
        return x, y, source.crs
    if guess.zone is None and source.central_meridian is None:
        raise LayerError(f"{source}: eastings carry no zone prefix, so the zone is unknown; give "
                         "'central_meridian' (e.g. 114) or 'crs' (e.g. EPSG:4547)")
    datum = source.datum or "cgcs2000"
    crs = gk.gk_crs(datum, zone=guess.zone if source.central_meridian is None else None,
                        central_meridian=source.central_meridian, towgs84=source.towgs84)
    info.detected.append(f"{datum} Gauss-Krüger → {_crs_label(crs)}")
    return x, y, crs


def _false_easting(crs) -> float:
    op = CRS.from_user_input(crs).coordinate_operation
    if op is None:
        return 0.0
    return next((p.value for p in op.params if "easting" in p.name.lower()), 0.0)


def _read_corners(source: Source, info: LayerInfo) -> gpd.GeoDataFrame:
    """Mining-right licences from a corner-coordinate table (拐点坐标)."""
    from riskmap.load.rights import read_corner_table

    if source.crs in ("GCJ02", "BD09"):
        raise LayerError(f"{source}: corner tables are surveyed Gauss-Krüger coordinates, "
                         f"not {source.crs}; remove 'crs' or give a projected CRS")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gdf, rep = read_corner_table(source.path, sheet=source.sheet, encoding=source.encoding,
                                     datum=source.datum or "cgcs2000", towgs84=source.towgs84,
                                     crs=source.crs, central_meridian=source.central_meridian)
    for w in caught:  # re-issue, naming the source as the project file has it
        warnings.warn(str(w.message), w.category, stacklevel=4)
    caught_text = " ".join(str(w.message) for w in caught)
    info.format = "corner table (拐点坐标)"
    info.encoding = rep.table.encoding if rep.table else None
    info.detected += [rep.order, rep.detection, f"CRS {rep.crs}",
                      f"{rep.licences} licences, {rep.blocks} blocks, {rep.corners} corners"]
    info.notes += rep.notes
    # repairs were issued as warnings by read_corner_table; the rest are findings
    info.notes += [w for w in rep.warnings if w not in caught_text]
    return gdf


def _list(values, most: int = 5) -> str:
    v = list(values)
    more = f" … (+{len(v) - most})" if len(v) > most else ""
    return ", ".join(str(x) for x in v[:most]) + more


def _from_mars(gdf, kind: str, source: Source, info: LayerInfo) -> gpd.GeoDataFrame:
    """Shift GCJ-02 / BD-09 lon/lat (AMap, Tencent, Baidu exports) to WGS84."""
    from riskmap.crs import china

    if gdf.crs is not None and not gdf.crs.is_geographic:
        raise LayerError(f"{source}: declared {kind} but the layer is in projected "
                         f"{_crs_label(gdf.crs)}; {kind} applies to longitude/latitude only")
    inverse = china.gcj02_to_wgs84 if kind == "GCJ02" else china.bd09_to_wgs84

    def shift(xy):
        lon, lat = inverse(xy[:, 0], xy[:, 1])
        return np.column_stack([lon, lat])

    geoms = shapely.transform(gdf.geometry.values, shift)
    info.notes.append(f"coordinates converted from {kind} to WGS84 (exact inverse)")
    return gdf.set_geometry(gpd.GeoSeries(geoms, index=gdf.index), crs="EPSG:4326")


def _rows(gdf, positions, most: int = 5) -> str:
    """Row numbers as the user sees them (table rows, else feature order), shortened."""
    pos = np.asarray(positions)
    nums = gdf["_row"].to_numpy()[pos] if "_row" in gdf.columns else pos + 1
    return _list((int(n) for n in nums), most)


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
                  f"features by type (rows {_rows(gdf, np.flatnonzero(gc))})", RiskmapWarning,
                  stacklevel=3)
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


def _crs_label(crs) -> str:
    auth = crs.to_authority()
    return f"{auth[0]}:{auth[1]}" if auth else crs.name


def _first_line(e: Exception) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


def file_sha256(path: Path) -> str:
    """SHA-256 of a file (inputs are hashed into every summary)."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
