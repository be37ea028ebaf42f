"""Returned sheets: a filled ledger (xlsx or its CSV twin) read back as rows of values.

A returned ``ledger.xlsx`` (or its CSV twin, or any sheet with the same column
names) may have title rows above the header, full-width digits, dates typed as
text (``2023.12.5``, ``2023年12月5日``, ``12月5日``), blank rows, and
coordinates typed by hand (decimal or degree-minute-second, latitude first, in
one cell or swapped columns, or working-CRS X/Y). This module finds the ledger
sheets and their columns (:data:`KEYWORDS`) and reads the cells into values:
dates through :func:`riskmap.load.values.parse_dates`, coordinates through
:func:`riskmap.load.values.parse_angles` / :func:`~riskmap.load.values.parse_numbers`.
Matching the rows to patrol cells is :mod:`riskmap.field.ingest`'s job.
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np

from riskmap.crs.china import looks_swapped_lonlat
from riskmap.errors import LayerError
from riskmap.load.tables import read_sheets
from riskmap.load.values import clean_text, parse_angles, parse_dates, parse_numbers

__all__ = ["KEYWORDS", "ReturnedFile", "ReturnedSheet", "custom_property", "parse_lonlat",
           "read_returned_file", "row_dates", "xy_pair"]

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
    "date": ["排查日期", "巡查日期", "检查日期", "日期", "date"],
    "inspector": ["排查人", "巡查人", "检查人", "排查人员", "巡查人员"],
    "result": ["排查结果", "巡查结果", "检查结果", "结果", "result"],
    "note": ["备注", "说明", "情况说明", "note"],
}
#: roles that locate a row (a cell id or coordinates)
PLACE_ROLES = ("id", "lon", "lat", "x", "y")
_SPLIT_PAIR = re.compile(r"\s*[,，;；、/]\s*")


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
    """

    name: str | None
    rows: list[dict] = field(default_factory=list)
    titles: list[str] = field(default_factory=list)
    note: str = ""

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
        if "result" not in df.columns or not (set(PLACE_ROLES) & set(df.columns)):
            if name is None:
                raise LayerError(f"{path}: 表头缺少 排查结果 或 网格编号/经纬度 列 (header lacks "
                                 "the result or cell id / coordinate columns)")
            sheets.append(ReturnedSheet(name, note=f"工作表 {name}: 无排查结果或网格编号列, 跳过 "
                                                   "(not a ledger sheet)"))
            continue
        df = df.reindex(columns=[*KEYWORDS, "_row"]).astype(object)
        rows = df.where(df.notna(), None).to_dict("records")
        sheets.append(ReturnedSheet(name, rows, list(info.titles)))
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


def parse_lonlat(lon_cell, lat_cell) -> tuple[float, float, str] | None:
    """Longitude and latitude from two hand-typed cells.

    Decimal or DMS text; both values typed into one cell (``37.85, 113.52``, any
    order); or latitude and longitude in each other's column. Values are told
    apart by range (China: longitude 73–136°, latitude 18–54°).

    Returns
    -------
    (lon, lat, how) or None
        None if both cells are blank; ``how`` says what was done.

    Raises
    ------
    ValueError
        Text that is not a coordinate, or a point outside China.
    """
    a, b = clean_text(lon_cell), clean_text(lat_cell)
    if not a and not b:
        return None
    how = "经纬度"
    if bool(a) != bool(b):
        parts = [p for p in _SPLIT_PAIR.split(a or b) if p]
        if len(parts) != 2:
            raise ValueError(f"坐标 {a or b!r} 只有一个值 (only one coordinate); fill both "
                             "经度 and 纬度")
        a, b = parts
        how = "一格两值"
    vals, bad = parse_angles([a, b])
    if bad.any() or np.isnan(vals).any():
        txt = a if bad[0] or np.isnan(vals[0]) else b
        raise ValueError(f"坐标 {txt!r} 无法识别 (not a coordinate); write 113.5225 or "
                         "113°31'20.5\"")
    lon, lat = float(vals[0]), float(vals[1])
    if bool(looks_swapped_lonlat([lon], [lat])[0]):
        lon, lat = lat, lon
        how += ", 纬度在前已对调 (lat-first, swapped)"
    if not (73 <= lon <= 136 and 18 <= lat <= 54):
        raise ValueError(f"坐标 {lon:g}, {lat:g} 不在中国范围内 (not in China); check the "
                         "values")
    return lon, lat, how


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
    a, b = clean_text(x_cell), clean_text(y_cell)
    if not a and not b:
        return None
    vals, bad = parse_numbers([a, b])
    if bad.any() or np.isnan(vals).any():
        raise ValueError(f"X/Y {a!r}, {b!r} 不是数字 (not numbers)")
    x, y = float(vals[0]), float(vals[1])
    return (x, y) if y >= x else (y, x)
