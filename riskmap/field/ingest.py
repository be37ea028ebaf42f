"""Read returned ledgers back into the history database, as people really fill them.

A returned ``ledger.xlsx`` (or its CSV twin, or any sheet with the same column
names) may have title rows above the header, full-width digits, dates typed as
text (``2023.12.5``, ``2023年12月5日``, ``12月5日`` — the year then comes from the
ledger's week), blank rows, cell ids left blank with coordinates typed by hand
(decimal or degree-minute-second, latitude first, in one cell or swapped
columns, or working-CRS X/Y) and results in words of their own (``无``, ``正常``,
``疑似``). Every row is matched to a patrol cell — by its id, else by its
coordinates through the grid — or reported with its sheet and row number and
skipped; the good rows of the file are stored together in one transaction
(:meth:`riskmap.field.history.History.add_file`).

The week of a row is the ISO week of its date; without a date, the ledger's week
(``--week``, else the workbook's ``riskmap_week`` property, else a
``2026-W49`` in the sheet's title).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pyproj import Transformer

from riskmap.crs.china import looks_swapped_lonlat
from riskmap.errors import GridError, LayerError, RiskmapError
from riskmap.field.history import RESULTS, History, Inspection, Week, file_sha256
from riskmap.grid.cellid import cell_ids, locate
from riskmap.load.tables import read_sheets
from riskmap.load.values import parse_angles, parse_numbers

log = logging.getLogger(__name__)

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
_DASHES = dict.fromkeys(map(ord, "‐‑‒–—―−－"), "-")
_NO_FIND = {"未发现", "无", "没有", "否", "正常", "无异常", "未见异常", "未发现异常", "没有发现",
            "无发现", "未发现问题", "无问题", "no", "none", "0"}
_DATE_YMD = re.compile(r"(\d{4})\s*[年./\-]\s*(\d{1,2})\s*[月./\-]\s*(\d{1,2})\s*[日号]?")
_DATE_MD = re.compile(r"(\d{1,2})\s*[月./\-]\s*(\d{1,2})\s*[日号]?")
_DATE_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})")
_TIME_TAIL = re.compile(r"(?:\s+|T)\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?$|\s*(?:上午|下午|晚上)$")
_SPLIT_PAIR = re.compile(r"\s*[,，;；、/]\s*")


@dataclass
class RowError:
    """A row that was reported and skipped."""

    file: str
    sheet: str | None
    row: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}"
        if self.sheet:
            where += f" 工作表 {self.sheet}"
        if self.row:
            where += f" 第 {self.row} 行 (row {self.row})"
        return f"{where}: {self.message}"


@dataclass
class FileReport:
    """What happened to one returned file."""

    path: Path
    sha256: str = ""
    status: str = "added"  # added | already | failed
    week: Week | None = None
    added: int = 0
    repeated: int = 0
    unfilled: int = 0
    errors: list[RowError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- values
def clean_text(v) -> str:
    """A cell as text: NFKC (full-width → ASCII), dashes unified, Excel's ``'`` dropped."""
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    s = unicodedata.normalize("NFKC", str(v)).translate(_DASHES).strip()
    return s[1:].strip() if s.startswith("'") else s


def normalize_result(v) -> str | None:
    """One of :data:`riskmap.field.history.RESULTS` for what people write, None if blank.

    Raises
    ------
    ValueError
        For text that is not a result.
    """
    s = re.sub(r"\s+", "", clean_text(v)).lower()
    if not s:
        return None
    if s in RESULTS:
        return s
    if "取缔" in s:
        return "已取缔"
    if "疑似" in s or "可疑" in s:
        return "发现疑似"
    if s in _NO_FIND or s.startswith(("未发现", "没有发现", "未见")) or s.startswith("无"):
        return "未发现"
    if "非法" in s or "盗采" in s or "私挖" in s or "洞采" in s or s.startswith("发现"):
        return "发现非法采矿"
    raise ValueError(f"排查结果 {clean_text(v)!r} 无法识别 (unknown result); use one of "
                     f"{' / '.join(RESULTS)}")


def _nearest_year(month: int, day: int, week: Week) -> dt.date:
    best = None
    for y in (week.year - 1, week.year, week.year + 1):
        try:
            d = dt.date(y, month, day)
        except ValueError:
            continue
        if best is None or abs((d - week.monday).days) < abs((best - week.monday).days):
            best = d
    if best is None:
        raise ValueError(f"日期 {month}月{day}日 不存在 (no such date)")
    return best


def parse_date(v, week: Week | None = None) -> dt.date | None:
    """A date from a ledger cell: a real date, an Excel serial or text as people type it.

    Parameters
    ----------
    v : object
        ``datetime``/``date``, an Excel serial number, ``20231205``, or text:
        ``2023-12-05``, ``2023.12.5``, ``2023/12/5``, ``2023年12月5日``,
        ``１２月５日``, ``12.5`` (month.day), optionally with a time after it.
    week : Week, optional
        The ledger's week: the year of a date written without one is the one
        that puts it nearest to that week.

    Returns
    -------
    datetime.date or None
        None for a blank cell.

    Raises
    ------
    ValueError
        Text that is not a date, an impossible date, or a date without a year
        when no week is known.
    """
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    if isinstance(v, int | float) and not isinstance(v, bool):
        f = float(v)
        if 20000 <= f < 80000:  # Excel serial day
            return dt.date(1899, 12, 30) + dt.timedelta(days=int(f))
        if 19000101 <= f <= 21001231 and f.is_integer():
            v = str(int(f))
        else:
            v = repr(f)  # 12.5 typed as a number: month.day
    s = clean_text(v)
    if not s:
        return None
    s = _TIME_TAIL.sub("", s).strip()
    try:
        if m := _DATE_YMD.fullmatch(s):
            return dt.date(int(m[1]), int(m[2]), int(m[3]))
        if m := _DATE_COMPACT.fullmatch(s):
            return dt.date(int(m[1]), int(m[2]), int(m[3]))
        if m := _DATE_MD.fullmatch(s):
            if week is None:
                raise ValueError(f"日期 {s!r} 没有年份, 台账也没有周次 (no year and no week); "
                                 "write the year or give --week")
            return _nearest_year(int(m[1]), int(m[2]), week)
    except ValueError as e:
        if "没有年份" in str(e) or "不存在" in str(e):
            raise
        raise ValueError(f"日期 {s!r} 不存在 (no such date)") from None
    raise ValueError(f"排查日期 {s!r} 无法识别 (not a date); write it like 2026-12-05")


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


# --------------------------------------------------------------------------- reading
class _Matcher:
    """Cell lookup on a scored surface: id or coordinates → (id, x, y, township, village)."""

    def __init__(self, project, surface):
        self.pg = surface.patrol_grid
        self.inside = surface.p_area
        self.surface = surface
        self.to_xy = Transformer.from_crs("EPSG:4326", project.crs, always_xy=True)

    def _labels(self, r, c):
        s = self.surface
        t, v = int(s.township[r, c]), int(s.village[r, c])
        return (s.township_names[t - 1] if t else None,
                s.village_names[v - 1] if v and s.village_names else None)

    def by_id(self, text: str):
        cid = re.sub(r"\s+", "", clean_text(text))
        r, c = locate(cid, self.pg)  # raises GridError
        if not self.inside[r, c]:
            raise GridError(f"网格 {cid} 不在本区范围内 (outside the district)")
        x, y = self.pg.xy(r, c)
        return (str(cell_ids([x - self.pg.cell / 2], [y - self.pg.cell / 2], self.pg.cell)[0]),
                float(x), float(y), *self._labels(r, c))

    def by_xy(self, x: float, y: float):
        r, c = (int(v) for v in self.pg.rowcol(x, y))
        if not (0 <= r < self.pg.nrows and 0 <= c < self.pg.ncols) or not self.inside[r, c]:
            raise GridError(f"坐标 ({x:.0f}, {y:.0f}) 不在本区网格内 (outside the district)")
        cx, cy = self.pg.xy(r, c)
        cid = str(cell_ids([cx - self.pg.cell / 2], [cy - self.pg.cell / 2], self.pg.cell)[0])
        return cid, float(cx), float(cy), *self._labels(r, c)

    def by_lonlat(self, lon: float, lat: float):
        x, y = self.to_xy.transform(lon, lat)
        return self.by_xy(float(x), float(y))


def _xy_cells(xv, yv) -> tuple[float, float] | None:
    """Working-CRS X/Y typed by hand; the northing is the larger number (either order)."""
    a, b = clean_text(xv), clean_text(yv)
    if not a and not b:
        return None
    vals, bad = parse_numbers([a, b])
    if bad.any() or np.isnan(vals).any():
        raise ValueError(f"X/Y {a!r}, {b!r} 不是数字 (not numbers)")
    x, y = float(vals[0]), float(vals[1])
    return (x, y) if y >= x else (y, x)


def _custom_week(path: Path) -> Week | None:
    """The ``riskmap_week`` custom property a ledger was written with (read from the zip)."""
    import zipfile
    from xml.etree import ElementTree as ET

    try:
        with zipfile.ZipFile(path) as z:
            root = ET.fromstring(z.read("docProps/custom.xml"))
    except (KeyError, OSError, zipfile.BadZipFile, ET.ParseError):
        return None
    for prop in root:
        if prop.get("name") == "riskmap_week" and len(prop):
            try:
                return Week.parse(prop[0].text or "")
            except RiskmapError:
                return None
    return None


def read_returned(path, project, surface, week: Week | None = None
                  ) -> tuple[list[Inspection], list[RowError], FileReport]:
    """Read one returned ledger (every sheet that has a 排查结果 column).

    Parameters
    ----------
    path : str or Path
        ``.xlsx`` or ``.csv``.
    project : Project
    surface : Surface
        The scored surface (grid, district cells, township/village labels).
    week : Week, optional
        The ledger's week, overriding what the file says.

    Returns
    -------
    (rows, errors, report)
        Matched inspections, rows reported and skipped, and a report with the
        counts and notes (``sha256`` not yet set).

    Raises
    ------
    LayerError
        The file cannot be read at all, or no sheet has a 排查结果 column.
    """
    path = Path(path)
    rep = FileReport(path)
    prop_week = _custom_week(path)
    matcher = _Matcher(project, surface)
    rows: list[Inspection] = []
    errors: list[RowError] = []
    used = 0
    for sheet, df, info in read_sheets(path, keywords=KEYWORDS):
        if df is None:
            rep.notes.append(f"工作表 {sheet}: 无台账表头, 跳过 (no ledger header, skipped)")
            continue
        if "result" not in df.columns or not ({"id", "lon", "lat", "x", "y"} & set(df.columns)):
            if sheet is not None:
                rep.notes.append(f"工作表 {sheet}: 无排查结果或网格编号列, 跳过 "
                                 "(not a ledger sheet)")
                continue
            raise LayerError(f"{path}: 表头缺少 排查结果 或 网格编号/经纬度 列 (header lacks the "
                             "result or cell id / coordinate columns)")
        used += 1
        sheet_week = week or prop_week or Week.find(" ".join(info.titles))
        rep.week = rep.week or sheet_week
        for rec in df.to_dict("records"):
            item = _row(rec, sheet_week, matcher, path.name, sheet, rep)
            if isinstance(item, RowError):
                errors.append(item)
            elif item is not None:
                rows.append(item)
    if not used:
        raise LayerError(f"{path}: 没有台账工作表 (no sheet with the columns 网格编号/经纬度 and "
                         "排查结果); is this a returned ledger?")
    return rows, errors, rep


def _row(rec: dict, week: Week | None, m: _Matcher, fname: str, sheet, rep: FileReport):
    rowno = int(rec["_row"])

    def err(msg):
        return RowError(fname, sheet, rowno, msg)

    g = {k: rec.get(k) for k in KEYWORDS}
    filled = [clean_text(g[k]) for k in ("date", "inspector", "result")]
    where = [clean_text(g[k]) for k in ("id", "lon", "lat", "x", "y")]
    if not any(filled):
        if any(where) or clean_text(g["note"]):
            rep.unfilled += 1  # a planned row nobody filled in
        return None
    try:
        result = normalize_result(g["result"])
    except ValueError as e:
        return err(str(e))
    note = clean_text(g["note"]) or None
    if result is None:
        result = "未发现"
        rep.notes.append(f"工作表 {sheet} 第 {rowno} 行: 排查结果空, 按未发现记录 "
                         "(blank result recorded as nothing found)")
    try:
        date = parse_date(g["date"], week)
    except ValueError as e:
        return err(str(e))
    row_week = Week.of(date) if date else week
    if row_week is None:
        return err("没有排查日期, 台账也没有周次 (no date and no week); fill the date or "
                   "give --week")
    try:
        if where[0]:
            cid, x, y, town, vill = m.by_id(where[0])
            how = "id"
        else:
            ll = parse_lonlat(g["lon"], g["lat"])
            if ll is not None:
                cid, x, y, town, vill = m.by_lonlat(ll[0], ll[1])
                how = "lonlat" if ll[2] == "经纬度" else f"lonlat: {ll[2]}"
            else:
                xy = _xy_cells(g["x"], g["y"])
                if xy is None:
                    return err("没有网格编号也没有坐标 (no cell id and no coordinates); fill "
                               "网格编号 or 经度/纬度")
                cid, x, y, town, vill = m.by_xy(*xy)
                how = "xy"
    except (GridError, ValueError) as e:
        return err(str(e))
    inspector = clean_text(g["inspector"]) or None
    return Inspection(cell_id=cid, week=row_week, result=result, x=x, y=y, township=town,
                      village=vill, date=date, inspector=inspector, note=note, sheet=sheet,
                      row=rowno, matched_by=how)


# --------------------------------------------------------------------------- run
def ingest_files(project, paths, *, week=None, surface=None, history: History | None = None,
                 progress=None) -> list[FileReport]:
    """Read returned ledgers and store them in the project's history database.

    Parameters
    ----------
    project : Project
    paths : iterable of path
        Returned ``.xlsx``/``.csv`` files.
    week : Week or str, optional
        Week of every file (default: what each file says).
    surface : Surface, optional
        Scored surface (default: computed from the project).
    history : History, optional
        Open database (default: the project's, opened and closed here).
    progress : callable, optional
        Called with a short message per file.

    Returns
    -------
    list of FileReport
        One per file: ``added`` (stored; bad rows in ``errors``), ``already``
        (same bytes ingested before: nothing added) or ``failed`` (unreadable,
        nothing stored; the reason in ``errors``).
    """
    from riskmap.field.history import open_history

    week = Week.parse(week) if week else None
    if surface is None:
        from riskmap.load.inputs import load_inputs
        from riskmap.score.engine import compute

        surface = compute(project, load_inputs(project, progress), progress)
    own = history is None
    hist = open_history(project) if own else history
    reports = []
    try:
        for p in paths:
            p = Path(p)
            if progress:
                progress(f"读取 {p.name}")
            try:
                sha = file_sha256(p)
            except OSError as e:
                reports.append(FileReport(p, status="failed", errors=[
                    RowError(str(p), None, None, f"无法读取 (cannot read): {e.strerror}")]))
                continue
            if hist.has_file(sha):
                reports.append(FileReport(p, sha, status="already"))
                continue
            try:
                rows, errors, rep = read_returned(p, project, surface, week)
            except RiskmapError as e:
                reports.append(FileReport(p, sha, status="failed",
                                          errors=[RowError(str(p), None, None, str(e))]))
                continue
            rep.sha256 = sha
            out = hist.add_file(sha, p.name, rows, [(e.sheet, e.row, e.message) for e in errors],
                                rep.week)
            if out.already:
                rep.status = "already"
            else:
                rep.added, rep.repeated = out.added, out.repeated
            rep.errors = errors
            reports.append(rep)
    finally:
        if own:
            hist.close()
    return reports
