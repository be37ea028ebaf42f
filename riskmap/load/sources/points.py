"""Point tables (CSV/TXT/XLSX) with lon/lat or surveyors' X/Y: the ``points`` source kind."""

from __future__ import annotations

import re
import warnings

import geopandas as gpd
import numpy as np
from pyproj import CRS

from riskmap.errors import LayerError, RiskmapWarning
from riskmap.load.project import Source
from riskmap.load.sources.base import LayerInfo, crs_label, list_rows

_POINT_KEYWORDS = {
    "lon": ("经度", "lon", "lng", "longitude", "long", "东经"),
    "lat": ("纬度", "lat", "latitude", "北纬"),
    "x": ("x", "x坐标", "东坐标", "横坐标", "easting", "坐标x"),
    "y": ("y", "y坐标", "北坐标", "纵坐标", "northing", "坐标y"),
    "crs": ("坐标系", "坐标系统", "坐标类型", "crs", "coordinate system", "datum"),
}
_ROW_CRS = {"WGS84": "WGS84", "WGS-84": "WGS84", "GPS": "WGS84", "CGCS2000": "WGS84",
            "2000": "WGS84", "国家2000": "WGS84", "EPSG:4326": "WGS84", "EPSG:4490": "WGS84"}


def read(source: Source, info: LayerInfo) -> gpd.GeoDataFrame:
    """Points from a CSV/TXT/XLSX table, in the CRS the coordinates were found in."""
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
                      f"(never placed at 0,0): rows {list_rows(rows[blank])}", RiskmapWarning,
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
                      f"swapped; swapped back (rows {list_rows(rows[swapped])})", RiskmapWarning,
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
    info.detected.append(f"{datum} Gauss-Krüger → {crs_label(crs)}")
    return x, y, crs


def _false_easting(crs) -> float:
    op = CRS.from_user_input(crs).coordinate_operation
    if op is None:
        return 0.0
    return next((p.value for p in op.params if "easting" in p.name.lower()), 0.0)


