"""Point tables (CSV/TXT/XLSX) with lon/lat or surveyors' X/Y: the ``points`` source kind.

Coordinates come as two columns (经度/纬度, lon/lat, X/Y), as both numbers in
one cell (a 经度 cell holding ``东经111.7893 北纬37.1506`` with 纬度 blank), or in
one column of pairs (坐标, 位置, 定位, ...) found by its header or by its content,
every pair read by :func:`riskmap.load.values.parse_pairs`. Surveyors' X/Y go
through :func:`riskmap.crs.gk.detect_gk`: rows that differ from the others are
repaired and named; rows that cannot be read are all named in one message.
"""

from __future__ import annotations

import re
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from riskmap.crs.meridian import CoordHints
from riskmap.errors import LayerError, RiskmapWarning
from riskmap.load.project import Source
from riskmap.load.sources.base import LayerInfo, crs_label, list_rows

_POINT_KEYWORDS = {
    "lon": ("经度", "lon", "lng", "longitude", "long", "东经"),
    "lat": ("纬度", "lat", "latitude", "北纬"),
    "x": ("x", "x坐标", "东坐标", "横坐标", "easting", "坐标x"),
    "y": ("y", "y坐标", "北坐标", "纵坐标", "northing", "坐标y"),
    "crs": ("坐标系", "坐标系统", "坐标类型", "crs", "coordinate system", "datum"),
    "place": ("坐标", "位置", "定位", "经纬度", "坐标位置", "位置坐标", "经纬度坐标", "定位坐标",
              "gps坐标", "gps", "点位", "点位坐标", "地理坐标", "location", "coordinates",
              "coords", "lnglat", "lonlat", "latlon", "*位置", "*坐标", "*定位", "*经纬",
              "*点位", "*gps", "*location"),
}
#: words in a header that suggest a column of coordinate pairs
PLACE_WORDS = ("坐标", "位置", "定位", "经纬", "点位", "location", "coord", "gps")
_ROLES = ("lon", "lat", "x", "y", "crs", "place", "_row")
_DIGIT = re.compile(r"\d")
_MOST_VALUES = 20  # bad cells quoted in one message (every row is listed)
_ROW_CRS = {"WGS84": "WGS84", "WGS-84": "WGS84", "GPS": "WGS84", "CGCS2000": "WGS84",
            "2000": "WGS84", "国家2000": "WGS84", "EPSG:4326": "WGS84", "EPSG:4490": "WGS84"}


def read(source: Source, info: LayerInfo, *, hints: CoordHints | None = None
         ) -> gpd.GeoDataFrame:
    """Points from a CSV/TXT/XLSX table, in the CRS the coordinates were found in.

    Parameters
    ----------
    source : Source
    info : LayerInfo
        Filled with what was found (format, encoding, detected, notes).
    hints : CoordHints, optional
        The project's working CRS and district, for eastings without zone prefix
        (:func:`riskmap.crs.meridian.resolve_meridian`).

    Returns
    -------
    geopandas.GeoDataFrame
        One point per row with coordinates; the other columns kept.

    Raises
    ------
    LayerError
        No coordinate columns, cells that are not coordinates (every row named),
        X/Y that cannot be Gauss-Krüger, an unknown zone.
    """
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
    kind, a, b, used, no_place = _coordinates(source, df, tinfo.columns, info)
    rows = df["_row"].to_numpy()
    blank = np.isnan(a) | np.isnan(b)
    info.dropped_rows = int(blank.sum())
    if info.dropped_rows:
        said = "".join(f"; row {r}: {t!r}" for r, t in no_place)
        warnings.warn(f"{source}: skipped {info.dropped_rows} row(s) without coordinates "
                      f"(never placed at 0,0): rows {list_rows(rows[blank])}{said}",
                      RiskmapWarning, stacklevel=3)
    keep = ~blank
    df, a, b, rows = df.loc[keep], a[keep], b[keep], rows[keep]
    if kind == "lonlat":
        x, y, crs = table_lonlat(source, df, a, b, rows, info)
    else:
        x, y, crs = table_xy(source, a, b, rows, info, hints=hints)
    drop = [c for c in (*used, "crs") if c in df.columns]
    return gpd.GeoDataFrame(df.drop(columns=drop).reset_index(drop=True),
                            geometry=gpd.points_from_xy(x, y), crs=crs)


def _coordinates(source: Source, df: pd.DataFrame, headers: dict, info: LayerInfo):
    """(kind, a, b, columns used, [(row, text)] of place cells saying there is no place).

    ``kind`` is ``"lonlat"`` or ``"xy"``; ``a, b`` are lon/lat or the two X/Y
    numbers as written, NaN where a row has none.
    """
    from riskmap.load import values

    cols = set(df.columns)
    if {"lon", "lat"} <= cols:
        kind, used = "lonlat", ["lon", "lat"]
        (a, bad_a), (b, bad_b) = values.parse_angles(df["lon"]), values.parse_angles(df["lat"])
    elif {"x", "y"} <= cols:
        kind, used = "xy", ["x", "y"]
        (a, bad_a), (b, bad_b) = values.parse_numbers(df["x"]), values.parse_numbers(df["y"])
    else:
        kind, used = None, []
        a, b = np.full(len(df), np.nan), np.full(len(df), np.nan)
        bad_a = bad_b = np.zeros(len(df), dtype=bool)
    reasons = np.full(len(df), None, dtype=object)
    if kind:
        _pairs_in_one_cell(df, kind, used, headers, a, b, bad_a, bad_b, info)
    bad = bad_a | bad_b
    no_place = []
    missing = np.isnan(a) & np.isnan(b) & ~bad
    place = _place_column(df, headers, info) if missing.any() else None
    if place is not None:
        used.append(place)
        p = values.parse_pairs(df[place])
        if kind is None:
            kind = "xy" if p.projected.sum() > p.geographic.sum() else "lonlat"
        pa, pb, other = ((p.lon, p.lat, p.projected) if kind == "lonlat"
                         else (p.x, p.y, p.geographic))
        take = missing & ~np.isnan(pa)
        a[take], b[take] = pa[take], pb[take]
        # text without a digit ("定位失败", "无") says there is no place: a row without one
        text = df[place].where(df[place].map(type).eq(str), "").astype(str)
        wordy = p.bad & ~text.str.contains(_DIGIT).to_numpy()
        text = text.to_numpy()
        no_place = [(int(r), t) for r, t in zip(df["_row"].to_numpy()[missing & wordy],
                                                text[missing & wordy], strict=True)]
        wrong = missing & other
        reasons[wrong] = ("平面坐标混在经纬度中 (projected X/Y among longitudes/latitudes)"
                          if kind == "lonlat" else "经纬度混在平面坐标中 (degrees among X/Y)")
        pbad = missing & p.bad & ~wordy
        reasons[pbad] = p.reasons[pbad]
        bad = bad | wrong | pbad
    elif kind is None:
        raise LayerError(f"{source}: cannot find coordinate columns (looked for 经度/纬度, "
                         f"lon/lat, X/Y, or one column of coordinate pairs); columns: "
                         f"{', '.join(map(str, df.columns[:-1]))}; "
                         "give 'x_field'/'y_field' in the project file")
    if bad.any():
        _refuse_cells(source, df, used, bad, reasons)
    return kind, a, b, used, no_place


def _pairs_in_one_cell(df, kind, used, headers, a, b, bad_a, bad_b, info) -> None:
    """Both coordinates typed into one of the two cells, the other blank: read the pair."""
    from riskmap.load import values

    for col, other, va, vb, bad, bad_other in ((used[0], used[1], a, b, bad_a, bad_b),
                                               (used[1], used[0], a, b, bad_b, bad_a)):
        cand = bad & np.isnan(vb if col == used[0] else va) & ~bad_other
        cand &= df[col].map(type).eq(str).to_numpy()
        if not cand.any():
            continue
        p = values.parse_pairs(df[col].to_numpy()[cand])
        got = p.geographic if kind == "lonlat" else p.projected
        idx = np.flatnonzero(cand)[got]
        va[idx] = (p.lon if kind == "lonlat" else p.x)[got]
        vb[idx] = (p.lat if kind == "lonlat" else p.y)[got]
        bad[idx] = False
        if idx.size:
            h, ho = headers.get(col, col), headers.get(other, other)
            how = "; ".join(_summary_of(p, got))
            info.detected.append(
                f"{idx.size} 行{h}格内含两个坐标, {ho}为空 ({idx.size} row(s) with both "
                f"coordinates in the {h} cell and {ho} blank): rows "
                f"{list_rows(df['_row'].to_numpy()[idx])}" + (f"; {how}" if how else ""))


def _summary_of(p, keep) -> list[str]:
    from riskmap.load import values

    sub = values.Pairs(p.lon[keep], p.lat[keep], p.x[keep], p.y[keep], p.bad[keep],
                       p.flags[keep], p.reasons[keep])
    return sub.summary()


def find_pair_column(df: pd.DataFrame, headers: dict, skip=_ROLES[:5]):
    """The column of coordinate pairs, by its header (坐标, 位置, ...) or by its content.

    A column whose header suggests coordinates (:data:`PLACE_WORDS`, or the
    ``place`` role) is taken when at least half of its filled cells read as
    pairs (:func:`riskmap.load.values.parse_pairs`); any other text column when
    at least 80 % do (and two or more).

    Parameters
    ----------
    df : pandas.DataFrame
        A table as :func:`riskmap.load.tables.read_table` returns it.
    headers : dict
        Role → header text (:attr:`TableInfo.columns`), for the found roles.
    skip : sequence of str
        Columns never taken (those holding other coordinates).

    Returns
    -------
    tuple or None
        ``(column, share read, found by header, header text, Pairs)``.
    """
    from riskmap.load import values

    best = None
    for c in df.columns:
        if c in skip or c == "_row":
            continue
        s = df[c]
        if not s.map(type).eq(str).any():
            continue
        header = str(headers.get(c, c))
        named = c == "place" or any(w in header.lower() for w in PLACE_WORDS)
        p = values.parse_pairs(s.to_numpy())
        read = int((p.geographic | p.projected).sum())
        filled = int((~p.blank).sum())
        share = read / filled if filled else 0.0
        if read and share >= (0.5 if named else 0.8) and (named or read >= 2):
            if best is None or share > best[1]:
                best = (c, share, named, header, p)
    return best


def pair_column_note(found) -> str:
    """The detected-note for :func:`find_pair_column`'s answer."""
    _c, share, named, header, p = found
    how = "; ".join(p.summary())
    return (f"坐标在 {header} 列, 一格两值 (coordinates as pairs in column {header}, found by "
            f"its {'header' if named else 'content'}: {share:.0%} of its filled cells)"
            + (f"; {how}" if how else ""))


def _place_column(df: pd.DataFrame, headers: dict, info: LayerInfo) -> str | None:
    found = find_pair_column(df, headers)
    if found is None:
        return None
    info.detected.append(pair_column_note(found))
    return found[0]


def _refuse_cells(source, df, used, bad, reasons) -> None:
    """One LayerError naming every row whose coordinate cells cannot be read."""
    pos = np.flatnonzero(bad)
    rows = df["_row"].to_numpy()
    cells = [", ".join(repr(df[c].iloc[i]) for c in used if c in df.columns) for i in pos]
    why = [f" ({reasons[i]})" if reasons[i] else "" for i in pos]
    if pos.size == 1:
        raise LayerError(f"{source}: row {rows[pos[0]]}: coordinates {cells[0]} are not numbers "
                         f"or angles{why[0]}; fix the cell")
    shown = "; ".join(f"row {rows[i]}: {t}{w}" for i, t, w in
                      zip(pos[:_MOST_VALUES], cells, why, strict=False))
    more = f"; … (+{pos.size - _MOST_VALUES} more)" if pos.size > _MOST_VALUES else ""
    raise LayerError(f"{source}: rows {', '.join(map(str, rows[pos]))} ({pos.size} rows): "
                     f"coordinates are not numbers or angles; fix the cells: {shown}{more}")


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


def table_xy(source: Source, a, b, rows, info: LayerInfo, *, hints: CoordHints | None = None):
    """Projected X/Y: surveyors' order and zone prefix detected from the numbers.

    Rows that differ from the others (X and Y swapped, a zone prefix added or
    missing) are repaired with a :class:`~riskmap.errors.RiskmapWarning` naming
    every row; eastings without prefix take their central meridian from
    ``central_meridian``/``crs``, else the table's prefixed rows, the project's
    working CRS or the district (``hints``), said in ``info.detected``.
    """
    from riskmap.crs import gk
    from riskmap.crs.meridian import resolve_meridian

    if source.crs in ("GCJ02", "BD09"):
        raise LayerError(f"{source}: {source.crs} applies to longitude/latitude columns; "
                         "name them 经度/纬度 or lon/lat")
    if source.crs and CRS.from_user_input(source.crs).is_geographic:
        info.detected.append(f"X/Y columns read as longitude/latitude ({source.crs})")
        return a, b, source.crs
    rows = np.asarray(rows)
    try:
        guess = gk.detect_gk(a, b, rows=rows)
    except LayerError as e:  # rows are named as the user sees them in the sheet
        raise LayerError(f"{source}: {e}") from None
    info.detected.append(guess.message)
    for msg in guess.repairs:
        warnings.warn(f"{source}: {msg}", RiskmapWarning, stacklevel=4)
    x, y = guess.to_xy(a, b)
    if source.crs:
        fe = _false_easting(source.crs)
        if fe > 1e6:
            x = x + (fe - 500_000.0)  # the declared CRS wants the zone prefix
        return x, y, source.crs
    cm = source.central_meridian
    zone_rows = ", ".join(str(r) for r in rows[list(guess.prefix_removed)])
    if guess.zone is None and cm is None:
        cm, note = resolve_meridian(x, y, row_zone=guess.row_zone, zone_rows=zone_rows,
                                    hints=hints)
        if cm is None:
            raise LayerError(f"{source}: eastings carry no zone prefix, so the zone is unknown"
                             f"{'; ' + note if note else ''}; give 'central_meridian' (e.g. "
                             "114) or 'crs' (e.g. EPSG:4547)")
        info.detected.append(note)
    elif guess.row_zone and cm is not None and not np.isclose(cm, 3 * guess.row_zone):
        raise LayerError(f"{source}: rows {zone_rows} carry the zone prefix {guess.row_zone} "
                         f"(central meridian {3 * guess.row_zone}E), not central_meridian "
                         f"{cm:g}; fix those rows or 'central_meridian'")
    datum = source.datum or "cgcs2000"
    crs = gk.gk_crs(datum, zone=guess.zone if cm is None else None, central_meridian=cm,
                    towgs84=source.towgs84)
    info.detected.append(f"{datum} Gauss-Krüger → {crs_label(crs)}")
    return x, y, crs


def _false_easting(crs) -> float:
    op = CRS.from_user_input(crs).coordinate_operation
    if op is None:
        return 0.0
    return next((p.value for p in op.params if "easting" in p.name.lower()), 0.0)


