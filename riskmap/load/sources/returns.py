"""Returned sheets: a filled ledger (xlsx or its CSV twin) read back as rows of values.

A returned ``ledger.xlsx`` (or its CSV twin, or any sheet with the same column
names) may have title rows above the header, full-width digits, dates typed as
text (``2023.12.5``, ``2023年12月5日``, ``12月5日``), blank rows, a signature
footer, and coordinates typed by hand (decimal or degree-minute-second,
latitude first, labelled, in one cell or swapped columns, in one column headed
排查点位置 or found by its content, or working-CRS X/Y). This module finds the
ledger sheets and their columns (:data:`KEYWORDS`) and reads the cells into
values: dates through :func:`riskmap.load.values.parse_dates`, coordinates
through :func:`riskmap.load.values.parse_pairs` /
:func:`~riskmap.load.values.parse_angles` / :func:`~riskmap.load.values.parse_numbers`,
a whole sheet at once (:func:`sheet_places`). Matching the rows to patrol cells is
:mod:`riskmap.field.ingest`'s job.
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
import pandas as pd

from riskmap.crs.china import looks_swapped_lonlat
from riskmap.errors import LayerError
from riskmap.load.sources.points import find_pair_column, pair_column_note
from riskmap.load.tables import read_sheets
from riskmap.load.values import (
    clean_text,
    find_dates,
    parse_angles,
    parse_dates,
    parse_numbers,
    parse_pairs,
)
from riskmap.load.values.pairs import LAT_FIRST

__all__ = ["KEYWORDS", "Places", "ReturnedFile", "ReturnedSheet", "custom_property",
           "parse_lonlat", "read_returned_file", "row_dates", "sheet_places", "xy_pair"]

#: column roles of a returned ledger and the headers people give them
KEYWORDS = {
    "seq": ["序号", "编号序号", "no"],
    "id": ["网格编号", "网格号", "网格id", "网格", "cell_id", "cellid"],
    "township": ["乡镇", "乡(镇)", "乡镇(街道)"],
    "village": ["村", "村名", "行政村", "村(社区)"],
    "lon": ["经度", "东经", "lon", "longitude", "lng"],
    "lat": ["纬度", "北纬", "lat", "latitude"],
    "x": ["X", "X坐标", "东坐标"],
    "y": ["Y", "Y坐标", "北坐标"],
    "date": ["排查日期", "巡查日期", "检查日期", "日期", "排查时间", "巡查时间", "检查时间", "时间",
             "date"],
    "inspector": ["排查人", "巡查人", "检查人", "排查人员", "巡查人员"],
    "result": ["排查结果", "巡查结果", "检查结果", "结果", "result"],
    "note": ["备注", "说明", "情况说明", "note"],
    # both coordinates in one cell; after x/y, so that "X坐标" stays X
    "place": ["位置", "坐标", "定位", "经纬度", "坐标位置", "位置坐标", "定位坐标", "排查点位置",
              "排查位置", "点位", "gps", "location", "*位置", "*坐标", "*定位", "*经纬", "*点位",
              "*gps"],
}
#: roles that locate a row (a cell id or coordinates)
PLACE_ROLES = ("id", "lon", "lat", "x", "y", "place")
_CHINA_LON, _CHINA_LAT = (73.0, 136.0), (18.0, 54.0)
_DIGIT = re.compile(r"\d")


@dataclass
class ReturnedSheet:
    """One sheet of a returned file.

    Attributes
    ----------
    name : str or None
        Sheet name (None for a CSV).
    rows : list of dict
        One dict per data row: every role of :data:`KEYWORDS` (None where the
        sheet has no such column) and ``_row``, the row number the user sees.
        Empty for a skipped sheet.
    titles : list of str
        Text of the title rows above the header.
    note : str
        Why the sheet was skipped (no ledger header), else ``""``.
    detected : list of str
        What was found about the columns (a column of coordinate pairs found by
        its header or content, the forms its cells are written in).
    places : Places or None
        Every row's coordinates read at once (:func:`sheet_places`).
    """

    name: str | None
    rows: list[dict] = field(default_factory=list)
    titles: list[str] = field(default_factory=list)
    note: str = ""
    detected: list[str] = field(default_factory=list)
    places: Places | None = None

    @property
    def title_dates(self) -> list[dt.date]:
        """Dates written in the title rows (``2025年12月01日—12月07日`` gives both)."""
        return find_dates(" ".join(self.titles))

    @property
    def used(self) -> bool:
        """True for a ledger sheet (not skipped)."""
        return not self.note


@dataclass
class ReturnedFile:
    """Every sheet of a returned file, and the week it was written for."""

    path: Path
    sheets: list[ReturnedSheet]
    week_text: str | None = None  # the ``riskmap_week`` property, as written

    @property
    def name_dates(self) -> list[dt.date]:
        """Dates written in the file name (``20251201_下栅乡排查表.xlsx``)."""
        return find_dates(self.path.stem)


def read_returned_file(path) -> ReturnedFile:
    """Read every ledger sheet (one that has a 排查结果 and a cell id or coordinate column).

    Parameters
    ----------
    path : str or Path
        ``.xlsx`` or ``.csv``.

    Returns
    -------
    ReturnedFile
        Sheets in workbook order; the others are kept with a ``note`` saying
        why they were skipped.

    Raises
    ------
    LayerError
        The file cannot be read at all, or no sheet has the columns.
    """
    path = Path(path)
    week_text = custom_property(path, "riskmap_week")
    sheets = []
    for name, df, info in read_sheets(path, keywords=KEYWORDS):
        if df is None:
            sheets.append(ReturnedSheet(name, note=f"工作表 {name}: 无台账表头, 跳过 "
                                                   "(no ledger header, skipped)"))
            continue
        detected = []
        if "result" in df.columns and not set(PLACE_ROLES) & set(df.columns):
            found = find_pair_column(df, info.columns, skip=list(KEYWORDS))
            if found is not None:  # a column of pairs under a header nobody foresaw
                df = df.rename(columns={found[0]: "place"})
                detected.append(pair_column_note(found))
        if "result" not in df.columns or not (set(PLACE_ROLES) & set(df.columns)):
            if name is None:
                raise LayerError(f"{path}: 表头缺少 排查结果 或 网格编号/经纬度 列 (header lacks "
                                 "the result or cell id / coordinate columns)")
            sheets.append(ReturnedSheet(name, note=f"工作表 {name}: 无排查结果或网格编号列, 跳过 "
                                                   "(not a ledger sheet)"))
            continue
        df = df.reindex(columns=[*KEYWORDS, "_row"]).astype(object)
        rows = df.where(df.notna(), None).to_dict("records")
        places = sheet_places(df)
        if "place" in info.columns:
            detected.append(f"坐标在 {info.columns['place']} 列, 一格两值 (coordinates as pairs "
                            f"in column {info.columns['place']}, found by its header)")
        detected += places.summary
        sheets.append(ReturnedSheet(name, rows, list(info.titles), detected=detected,
                                    places=places))
    if not any(s.used for s in sheets):
        raise LayerError(f"{path}: 没有台账工作表 (no sheet with the columns 网格编号/经纬度 and "
                         "排查结果); is this a returned ledger?")
    return ReturnedFile(path, sheets, week_text)


def custom_property(path, name: str) -> str | None:
    """A custom document property of a workbook (read from the zip), else None."""
    try:
        with zipfile.ZipFile(path) as z:
            root = ET.fromstring(z.read("docProps/custom.xml"))
    except (KeyError, OSError, zipfile.BadZipFile, ET.ParseError):
        return None
    for prop in root:
        if prop.get("name") == name and len(prop):
            return prop[0].text or ""
    return None


# --------------------------------------------------------------------------- values
def row_dates(rows: list[dict], near: dt.date | None = None
              ) -> tuple[list[dt.date | None], dict[int, str]]:
    """The 排查日期 of every row, and a message per row whose date is not one.

    Parameters
    ----------
    rows : list of dict
        :attr:`ReturnedSheet.rows`.
    near : datetime.date, optional
        The sheet's week (its Monday): a date written without a year takes the
        year that puts it nearest.

    Returns
    -------
    dates : list
        ``datetime.date`` or None (blank or unreadable), one per row.
    errors : dict
        Row position → message.
    """
    values = [r["date"] for r in rows]
    dates, _bad, errors = parse_dates(values, near, what="排查日期")
    return dates.astype(object).tolist(), errors


@dataclass
class Places:
    """Every row's coordinates, read at once (:func:`sheet_places`).

    Attributes
    ----------
    lon, lat : numpy.ndarray
        WGS84 degrees, NaN where a row has none (or they could not be read).
    x, y : numpy.ndarray
        Working-CRS X/Y typed by hand, the northing in ``y``; NaN elsewhere.
    how : list of str
        Per row how the coordinates were written (``经纬度``, ``一格两值``, with
        ``纬度在前已对调`` and the forms detected), ``""`` where none.
    errors : dict
        Row position → why its coordinates cannot be used (every such row).
    summary : list of str
        The forms found in the sheet's pairs, with counts.
    """

    lon: np.ndarray
    lat: np.ndarray
    x: np.ndarray
    y: np.ndarray
    how: list[str]
    errors: dict[int, str]
    summary: list[str] = field(default_factory=list)


def sheet_places(rows: list[dict] | pd.DataFrame) -> Places:
    """The coordinates of every row of a sheet, each distinct text read once.

    Per row, in order: 经度/纬度 in two cells (decimal or DMS; swapped when only
    the other order fits China), both in one of them with the other blank, the
    one cell of a 位置/坐标 column (:func:`riskmap.load.values.parse_pairs`: every
    written form, projected pairs too), else working-CRS X/Y (the northing is
    the larger number, in either order).

    Parameters
    ----------
    rows : list of dict or pandas.DataFrame
        :attr:`ReturnedSheet.rows` or the sheet's table (roles of :data:`KEYWORDS`).

    Returns
    -------
    Places
        Text without a digit (``定位失败``) in the place column is an error
        saying there is no location.
    """
    df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame.from_records(rows)
    n = len(df)

    def col(role):
        return df[role].to_numpy(dtype=object) if role in df else np.full(n, None, dtype=object)

    def text(v):  # each distinct cell cleaned once
        codes, uniq = pd.factorize(pd.Series(v, dtype=object), use_na_sentinel=True)
        clean = np.array([clean_text(u) for u in uniq] + [""], dtype=object)
        return clean[codes]

    lon_c, lat_c, place_c = col("lon"), col("lat"), col("place")
    lon_t, lat_t, place_t = text(lon_c), text(lat_c), text(place_c)
    lon, lat = np.full(n, np.nan), np.full(n, np.nan)
    x, y = np.full(n, np.nan), np.full(n, np.nan)
    how = np.full(n, "", dtype=object)
    errors: dict[int, str] = {}
    # two cells
    both = (lon_t != "") & (lat_t != "")
    (a, bad_a), (b, bad_b) = parse_angles(lon_t), parse_angles(lat_t)
    ok = both & ~bad_a & ~bad_b
    lon[ok], lat[ok], how[ok] = a[ok], b[ok], "经纬度"
    for i in np.flatnonzero(both & (bad_a | bad_b)):
        errors[int(i)] = (f"坐标 {lon_t[i] if bad_a[i] else lat_t[i]!r} 无法识别 (not a "
                          "coordinate); write 113.5225 or 113°31'20.5\"")
    # one cell of the two, or the place column
    one = (lon_t != "") ^ (lat_t != "")
    cell = np.where(one, np.where(lon_t != "", lon_t, lat_t), "")
    use_place = ~both & ~one & (place_t != "")
    cell = np.where(use_place, place_t, cell).astype(object)
    raw = np.where(one, np.where(lon_t != "", lon_c, lat_c), place_c)
    raw = np.where(pd.Series(raw, dtype=object).map(type).eq(str).to_numpy(), raw, cell)
    p = parse_pairs(np.where(one | use_place, raw, ""))  # raw text: full-width is said
    geo, proj = (one | use_place) & p.geographic, use_place & p.projected
    lon[geo], lat[geo] = p.lon[geo], p.lat[geo]
    how[geo] = np.where(one[geo], "一格两值", "位置列")
    x[proj], y[proj] = order_xy(p.x[proj], p.y[proj])
    how[proj] = "xy"
    for i in np.flatnonzero((one | use_place) & ~geo & ~proj):
        t = cell[i]
        if one[i] and not p.bad[i]:
            errors[int(i)] = f"坐标 {t!r} 是平面坐标 (X/Y); put them in the X/Y columns"
        elif one[i] and "single number" in str(p.reasons[i]):
            errors[int(i)] = (f"坐标 {t!r} 只有一个值 (only one coordinate); fill both 经度 "
                              "and 纬度")
        elif not _DIGIT.search(t):
            errors[int(i)] = f"没有坐标 (no location: {t!r}); fill the location or 网格编号"
        else:
            errors[int(i)] = f"坐标 {p.reasons[i]}"
    # latitude and longitude swapped (two cells), then the China box
    swapped = looks_swapped_lonlat(lon, lat)
    lon, lat = np.where(swapped, lat, lon), np.where(swapped, lon, lat)
    flipped = swapped | ((p.flags & LAT_FIRST) != 0) & geo
    how[flipped] = how[flipped] + ", 纬度在前已对调 (lat-first, swapped)"
    for i in np.flatnonzero(geo & (p.flags != 0)):
        extra = p.how(int(i)).replace("纬度在前 (latitude first)", "").strip(", ")
        if extra:
            how[i] = f"{how[i]}, {extra}"
    has = ~np.isnan(lon)
    outside = has & ~((lon >= _CHINA_LON[0]) & (lon <= _CHINA_LON[1])
                      & (lat >= _CHINA_LAT[0]) & (lat <= _CHINA_LAT[1]))
    for i in np.flatnonzero(outside):
        errors[int(i)] = (f"坐标 {lon[i]:g}, {lat[i]:g} 不在中国范围内 (not in China); check "
                          "the values")
    lon[outside] = lat[outside] = np.nan
    how[outside] = ""
    # working-CRS X/Y in two cells
    xs, ys = text(col("x")), text(col("y"))
    xy = ~has & ~proj & ((xs != "") | (ys != ""))
    (xa, bad_x), (ya, bad_y) = parse_numbers(xs), parse_numbers(ys)
    good = xy & ~bad_x & ~bad_y & ~np.isnan(xa) & ~np.isnan(ya)
    east, north = order_xy(xa, ya)
    x[good], y[good] = east[good], north[good]
    how[good] = "xy"
    for i in np.flatnonzero(xy & ~good):
        errors.setdefault(int(i), f"X/Y {xs[i]!r}, {ys[i]!r} 不是数字 (not numbers)")
    summary = p.summary() if (use_place | one).any() else []
    return Places(lon, lat, x, y, how.tolist(), errors, summary)


#: a Gauss-Krüger northing in China (m): Hainan's south to Heilongjiang's north
_NORTHING = (1.5e6, 6.5e6)
#: an easting written with its zone prefix (13…45 × 10⁶ + 6 digits)
_PREFIXED = (1.3e7, 4.6e7)


def order_xy(a, b) -> tuple[np.ndarray, np.ndarray]:
    """(easting, northing) of X/Y pairs typed in either order.

    The northing is the larger number, unless the larger one is an easting that
    carries its zone prefix (``38451150``) and the other is a northing
    (``4190750``): the prefix is removed later, where the working CRS is known.
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    with np.errstate(invalid="ignore"):
        prefixed = ((hi >= _PREFIXED[0]) & (hi < _PREFIXED[1])
                    & (lo >= _NORTHING[0]) & (lo < _NORTHING[1]))
    return np.where(prefixed, hi, lo), np.where(prefixed, lo, hi)


def parse_lonlat(lon_cell, lat_cell) -> tuple[float, float, str] | None:
    """Longitude and latitude from two hand-typed cells (:func:`sheet_places` for one row).

    Decimal or DMS text; both values typed into one cell (``37.85, 113.52``, any
    order, any written form of :func:`riskmap.load.values.parse_pairs`); or
    latitude and longitude in each other's column. Values are told apart by
    range (China: longitude 73–136°, latitude 18–54°).

    Returns
    -------
    (lon, lat, how) or None
        None if both cells are blank; ``how`` says what was done.

    Raises
    ------
    ValueError
        Text that is not a coordinate, or a point outside China.
    """
    p = sheet_places([{"lon": lon_cell, "lat": lat_cell}])
    if 0 in p.errors:
        raise ValueError(p.errors[0])
    if np.isnan(p.lon[0]):
        return None
    return float(p.lon[0]), float(p.lat[0]), p.how[0]


def xy_pair(x_cell, y_cell) -> tuple[float, float] | None:
    """Working-CRS X/Y typed by hand; the northing is the larger number (either order).

    Returns
    -------
    (x, y) or None
        None if both cells are blank.

    Raises
    ------
    ValueError
        A cell that is not a number.
    """
    p = sheet_places([{"x": x_cell, "y": y_cell}])
    if 0 in p.errors:
        raise ValueError(p.errors[0])
    if np.isnan(p.x[0]):
        return None
    return float(p.x[0]), float(p.y[0])
