"""Returned ledgers matched to patrol cells and recorded in the history database.

:mod:`riskmap.load.sources.returns` reads a returned sheet into rows of values;
here every row is matched to a patrol cell — by its id, else by its coordinates
through the grid — or reported with its sheet and row number and skipped, and
results in words of their own (``无``, ``正常``, ``疑似``) become one of
:data:`~riskmap.field.schema.RESULTS`. The good rows of a file are stored
together in one transaction (:meth:`riskmap.field.history.History.add_file`).

The week of a row is the ISO week of its date; without a date, the ledger's week
(``--week``, else the workbook's ``riskmap_week`` property, else a
``2026-W49`` in the sheet's title).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from pyproj import Transformer

from riskmap.errors import GridError, RiskmapError
from riskmap.field.history import RESULTS, History, Inspection, Week, file_sha256
from riskmap.grid.cellid import cell_ids, locate
from riskmap.load import values
from riskmap.load.sources.returns import (
    KEYWORDS,
    ReturnedSheet,
    parse_lonlat,
    read_returned_file,
    row_dates,
    xy_pair,
)
from riskmap.load.values import clean_text

__all__ = ["FileReport", "RowError", "ingest_file", "normalize_result", "parse_date",
           "read_returned"]

log = logging.getLogger(__name__)

_NO_FIND = {"未发现", "无", "没有", "否", "正常", "无异常", "未见异常", "未发现异常", "没有发现",
            "无发现", "未发现问题", "无问题", "no", "none", "0"}

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


def parse_date(v, week: Week | None = None) -> dt.date | None:
    """A ledger cell's 排查日期 (:func:`riskmap.load.values.parse_date`).

    Parameters
    ----------
    v : object
        A date, an Excel serial, or text as people type it.
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
    return values.parse_date(v, week.monday if week else None, what="排查日期")


# --------------------------------------------------------------------------- matching
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


def read_returned(path, project, surface, week: Week | None = None
                  ) -> tuple[list[Inspection], list[RowError], FileReport]:
    """Read one returned ledger (every sheet that has a 排查结果 column) and match its rows.

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
    returned = read_returned_file(path)
    rep = FileReport(path)
    prop_week = _week_or_none(returned.week_text)
    matcher = _Matcher(project, surface)
    rows: list[Inspection] = []
    errors: list[RowError] = []
    for sheet in returned.sheets:
        if not sheet.used:
            rep.notes.append(sheet.note)
            continue
        sheet_week = week or prop_week or Week.find(" ".join(sheet.titles))
        rep.week = rep.week or sheet_week
        for item in _sheet_rows(sheet, sheet_week, matcher, path.name, rep):
            (errors if isinstance(item, RowError) else rows).append(item)
    return rows, errors, rep


def _week_or_none(text: str | None) -> Week | None:
    """The week a ledger was written for (its ``riskmap_week`` property), if readable."""
    if text is None:
        return None
    try:
        return Week.parse(text)
    except RiskmapError:
        return None


def _sheet_rows(sheet: ReturnedSheet, week: Week | None, m: _Matcher, fname: str,
                rep: FileReport) -> list[Inspection | RowError]:
    """The matched inspections and row errors of one sheet, in sheet order."""
    dates, date_errors = row_dates(sheet.rows, week.monday if week else None)
    out = []
    for i, rec in enumerate(sheet.rows):
        item = _row(rec, dates[i], date_errors.get(i), week, m, fname, sheet.name, rep)
        if item is not None:
            out.append(item)
    return out


def _row(rec: dict, date: dt.date | None, date_error: str | None, week: Week | None,
         m: _Matcher, fname: str, sheet, rep: FileReport):
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
    if date_error is not None:
        return err(date_error)
    row_week = Week.of(date) if date else week
    if row_week is None:
        return err("没有排查日期, 台账也没有周次 (no date and no week); fill the date or "
                   "give --week")
    try:
        cid, x, y, town, vill, how = _place(g, where[0], m)
    except (GridError, ValueError) as e:
        return err(str(e))
    if cid is None:
        return err("没有网格编号也没有坐标 (no cell id and no coordinates); fill "
                   "网格编号 or 经度/纬度")
    inspector = clean_text(g["inspector"]) or None
    return Inspection(cell_id=cid, week=row_week, result=result, x=x, y=y, township=town,
                      village=vill, date=date, inspector=inspector, note=note, sheet=sheet,
                      row=rowno, matched_by=how)


def _place(g: dict, cell_id: str, m: _Matcher):
    """(cell id, x, y, township, village, how matched) of a row; ids first, then lon/lat, X/Y.

    All None when the row has neither an id nor coordinates.
    """
    if cell_id:
        return (*m.by_id(cell_id), "id")
    ll = parse_lonlat(g["lon"], g["lat"])
    if ll is not None:
        how = "lonlat" if ll[2] == "经纬度" else f"lonlat: {ll[2]}"
        return (*m.by_lonlat(ll[0], ll[1]), how)
    xy = xy_pair(g["x"], g["y"])
    if xy is None:
        return None, None, None, None, None, None
    return (*m.by_xy(*xy), "xy")


# --------------------------------------------------------------------------- recording
def ingest_file(history: History, path, project, surface, week: Week | None = None
                ) -> FileReport:
    """Read, match and store one returned file (one transaction; nothing twice).

    Parameters
    ----------
    history : History
        The open database.
    path : str or Path
        Returned ``.xlsx``/``.csv``.
    project : Project
    surface : Surface
    week : Week, optional
        The file's week (default: what it says).

    Returns
    -------
    FileReport
        ``added`` (stored; bad rows in ``errors``), ``already`` (same bytes
        ingested before: nothing added) or ``failed`` (unreadable, nothing
        stored; the reason in ``errors``).
    """
    p = Path(path)
    try:
        sha = file_sha256(p)
    except OSError as e:
        return FileReport(p, status="failed", errors=[
            RowError(str(p), None, None, f"无法读取 (cannot read): {e.strerror}")])
    if history.has_file(sha):
        return FileReport(p, sha, status="already")
    try:
        rows, errors, rep = read_returned(p, project, surface, week)
    except RiskmapError as e:
        return FileReport(p, sha, status="failed", errors=[RowError(str(p), None, None, str(e))])
    rep.sha256 = sha
    out = history.add_file(sha, p.name, rows, [(e.sheet, e.row, e.message) for e in errors],
                           rep.week)
    if out.already:
        rep.status = "already"
    else:
        rep.added, rep.repeated = out.added, out.repeated
    rep.errors = errors
    return rep
