"""Returned ledgers matched to patrol cells and recorded in the history database.

:mod:`riskmap.load.sources.returns` reads a returned sheet into rows of values;
here every row is matched to a patrol cell — by its id, else by its coordinates
through the grid — or reported with its sheet and row number and skipped, and
results in words of their own (``无``, ``正常``, ``疑似``) become one of
:data:`~riskmap.field.schema.RESULTS`. The good rows of a file are stored
together in one transaction (:meth:`riskmap.field.history.History.add_file`).

The week of a row is the ISO week of its date. The sheet's week — which also
gives the year of a date written without one (``12月6日``) — is, in order:
``--week``, the workbook's ``riskmap_week`` property, the sheet's title rows (a
``2026-W49``, a date range such as ``2023年12月04日—12月10日``, ``第49周`` with a
year), the file name (``20231204_…``), and the rows' own full dates; the report
says which was used.

A row's provenance (:mod:`riskmap.field.provenance`) is what its 来源 / 线索来源
column says where the sheet has one (举报, 卫片, 供电公司, 计划内, 随机抽查, 计划外, …),
else the one its week's plan implies (set by the history). A file is done only
when every row went in: a file with refused rows may be ingested again (corrected,
or with ``--week``), and ``force`` re-reads a done one; rows already stored are
never stored twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from pyproj import CRS

from riskmap.crs.transform import transformer
from riskmap.errors import GridError, RiskmapError
from riskmap.field.history import RESULTS, History, Inspection, Week, file_sha256
from riskmap.field.provenance import SOURCE_HEADERS, normalize_provenance
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
from riskmap.load.tables import read_sheets
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
    again: bool = False  # read before (rows refused then, or --force): read again
    complete: bool = False  # every row went in: the file is done
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
        self.to_xy = transformer("EPSG:4326", project.crs, always_xy=True)
        params = CRS.from_user_input(project.crs).to_dict()
        self.false_easting = float(params.get("x_0", 0.0))
        self.meridian = float(params["lon_0"]) if "lon_0" in params else None

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
        x = self._unprefixed(x)
        r, c = (int(v) for v in self.pg.rowcol(x, y))
        if not (0 <= r < self.pg.nrows and 0 <= c < self.pg.ncols) or not self.inside[r, c]:
            raise GridError(f"坐标 ({x:.0f}, {y:.0f}) 不在本区网格内 (outside the district)")
        cx, cy = self.pg.xy(r, c)
        cid = str(cell_ids([cx - self.pg.cell / 2], [cy - self.pg.cell / 2], self.pg.cell)[0])
        return cid, float(cx), float(cy), *self._labels(r, c)

    def _unprefixed(self, x: float) -> float:
        """An easting typed with its zone prefix (``38451150``), in a CRS that has none."""
        if x < 1e7 or self.false_easting >= 1e7:
            return x
        zone = int(x // 1e6)
        # the prefix must be this CRS's zone, 3° (zone × 3) or 6° (zone × 6 − 3)
        if self.meridian is not None and self.meridian in (3.0 * zone, 6.0 * zone - 3.0):
            return x - zone * 1e6
        return x

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
    matcher = _Matcher(project, surface)
    sources = _sources(path, returned)
    rows: list[Inspection] = []
    errors: list[RowError] = []
    for sheet in returned.sheets:
        if not sheet.used:
            rep.notes.append(sheet.note)
            continue
        if sources.get(sheet.name):
            for rec in sheet.rows:
                rec.setdefault("source", sources[sheet.name].get(rec["_row"]))
            rep.notes.append(f"工作表 {sheet.name or path.name}: 来源列 (a provenance column): "
                             "每行的来源按该列记录 (each row's provenance as written there)")
        sheet_week, why = sheet_week_of(sheet, returned, week)
        if sheet_week is not None and f"{sheet_week}: {why}" not in rep.notes:
            rep.notes.append(f"{sheet_week}: {why}")
        rep.notes += [d for d in sheet.detected if d not in rep.notes]
        rep.week = rep.week or sheet_week
        for item in _sheet_rows(sheet, sheet_week, matcher, path.name, rep):
            (errors if isinstance(item, RowError) else rows).append(item)
    return rows, errors, rep


def _sources(path: Path, returned) -> dict:
    """The 来源 column of each ledger sheet: ``{sheet name: {row: value}}``.

    Read with the same table reader and header rules as the ledger's own columns
    (:func:`riskmap.load.tables.read_sheets`), the provenance headers
    (:data:`~riskmap.field.provenance.SOURCE_HEADERS`) added to the roles.
    """
    if "source" in KEYWORDS:  # the sheet reader knows the column itself
        return {}
    used = {s.name for s in returned.sheets if s.used}
    roles = {**KEYWORDS, "source": [*SOURCE_HEADERS, "*来源"]}
    out = {}
    for name, df, _info in read_sheets(path, keywords=roles):
        if name in used and df is not None and "source" in df.columns and "_row" in df.columns:
            vals = df["source"].astype(object).where(df["source"].notna(), None)
            out[name] = dict(zip(df["_row"].astype(int), vals, strict=True))
    return out


def sheet_week_of(sheet: ReturnedSheet, returned, week: Week | None = None
                  ) -> tuple[Week | None, str]:
    """The week a returned sheet was filled in, and where that was read.

    In order: ``week`` (``--week``), the workbook's ``riskmap_week`` property, the
    title rows (``2026-W49``, ``第49周`` with a year, a date or date range), the
    file name's date, the rows' own dates (the week most of them fall in).
    """
    if week is not None:
        return week, "周次取自 --week (week given with --week)"
    prop = _week_or_none(returned.week_text)
    if prop is not None:
        return prop, "周次取自台账属性 (week from the ledger's riskmap_week property)"
    title = " ".join(sheet.titles)
    found = Week.find(title) or _numbered_week(title)
    if found is None and sheet.title_dates:
        found = Week.of(sheet.title_dates[0])
    if found is not None:
        return found, f"周次取自标题 (week from the title: {title.strip()[:60]!r})"
    if returned.name_dates:
        return (Week.of(returned.name_dates[0]),
                f"周次取自文件名 (week from the file name {returned.path.name!r})")
    dates, _ = row_dates(sheet.rows)  # full dates only: without a week there is no year
    weeks = [Week.of(d) for d in dates if d is not None]
    if weeks:
        common = max(set(weeks), key=weeks.count)
        return common, (f"周次取自排查日期 (week from the rows' dates: {weeks.count(common)} "
                        f"of {len(weeks)} dated rows)")
    return None, ""


_WEEK_NO = re.compile(r"(\d{4})\s*年.*?第\s*(\d{1,2})\s*周")


def _numbered_week(text: str) -> Week | None:
    """``2023年…第49周`` in a title."""
    m = _WEEK_NO.search(clean_text(text))
    if not m:
        return None
    try:
        return Week.parse(f"{m[1]}-W{m[2]}")
    except RiskmapError:
        return None


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
        item = _row(rec, dates[i], date_errors.get(i), week, m, fname, sheet.name, rep,
                    _Place(sheet.places, i))
        if item is not None:
            out.append(item)
    return out


@dataclass
class _Place:
    """One row's coordinates as the sheet reader found them."""

    places: object
    i: int

    def error(self) -> str | None:
        return None if self.places is None else self.places.errors.get(self.i)

    def lonlat(self):
        if self.places is None or self.places.lon[self.i] != self.places.lon[self.i]:
            return None
        return float(self.places.lon[self.i]), float(self.places.lat[self.i]), \
            self.places.how[self.i]

    def xy(self):
        if self.places is None or self.places.x[self.i] != self.places.x[self.i]:
            return None
        return float(self.places.x[self.i]), float(self.places.y[self.i])


def _row(rec: dict, date: dt.date | None, date_error: str | None, week: Week | None,
         m: _Matcher, fname: str, sheet, rep: FileReport, place: _Place | None = None):
    rowno = int(rec["_row"])

    def err(msg):
        return RowError(fname, sheet, rowno, msg)

    g = {k: rec.get(k) for k in KEYWORDS}
    filled = [clean_text(g[k]) for k in ("date", "inspector", "result")]
    where = [clean_text(g[k]) for k in ("id", "lon", "lat", "x", "y", "place")]
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
        cid, x, y, town, vill, how = _place(g, where[0], m, place)
    except (GridError, ValueError) as e:
        return err(str(e))
    if cid is None:
        return err("没有网格编号也没有坐标 (no cell id and no coordinates); fill "
                   "网格编号 or 经度/纬度")
    written = clean_text(g.get("village"))
    if written and vill and written != vill:
        rep.notes.append(f"工作表 {sheet} 第 {rowno} 行: 坐标在 {vill}, 不在所填的 {written} "
                         f"(the point lies in {vill}, not in the village written); kept")
    inspector = clean_text(g["inspector"]) or None
    try:
        prov = normalize_provenance(rec.get("source"))
    except ValueError as e:
        prov = "other"
        rep.notes.append(f"工作表 {sheet} 第 {rowno} 行: {e}; 记为 other (recorded as other)")
    return Inspection(cell_id=cid, week=row_week, result=result, x=x, y=y, township=town,
                      village=vill, date=date, inspector=inspector, note=note, sheet=sheet,
                      row=rowno, matched_by=how, provenance=prov)


def _place(g: dict, cell_id: str, m: _Matcher, place: _Place | None = None):
    """(cell id, x, y, township, village, how matched) of a row; ids first, then lon/lat, X/Y.

    All None when the row has neither an id nor coordinates.
    """
    if cell_id:
        return (*m.by_id(cell_id), "id")
    if place is not None and place.places is not None:
        if (why := place.error()) is not None:
            raise ValueError(why)
        ll = place.lonlat()
        if ll is not None:
            how = "lonlat" if ll[2] == "经纬度" else f"lonlat: {ll[2]}"
            return (*m.by_lonlat(ll[0], ll[1]), how)
        xy = place.xy()
        return (*m.by_xy(*xy), "xy") if xy else (None,) * 6
    ll = parse_lonlat(g["lon"], g["lat"])
    if ll is not None:
        how = "lonlat" if ll[2] == "经纬度" else f"lonlat: {ll[2]}"
        return (*m.by_lonlat(ll[0], ll[1]), how)
    xy = xy_pair(g["x"], g["y"])
    if xy is None:
        return None, None, None, None, None, None
    return (*m.by_xy(*xy), "xy")


# --------------------------------------------------------------------------- recording
def settled(history: History, path, *, force: bool = False) -> tuple[FileReport | None, str]:
    """``(report, sha256)``: the report of a file that needs no scoring or reading, else None.

    Unreadable: ``failed``; its bytes went in whole before: ``already`` (unless
    ``force``). Both are known before the district is scored: said at once.
    """
    p = Path(path)
    if not p.is_file():
        why = "不是文件 (not a file)" if p.exists() else "文件不存在 (file not found)"
        return FileReport(p, status="failed", errors=[
            RowError(str(p), None, None, f"无法读取 (cannot read): {why}; check the path")]), ""
    try:
        sha = file_sha256(p)
    except OSError as e:
        return FileReport(p, status="failed", errors=[
            RowError(str(p), None, None, f"无法读取 (cannot read): {e.strerror}")]), ""
    if history.has_file(sha) and not force:
        return FileReport(p, sha, status="already", complete=True), sha
    return None, sha


def ingest_file(history: History, path, project, surface, week: Week | None = None, *,
                force: bool = False) -> FileReport:
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
    force : bool
        Read a file that went in whole before anyway (``riskmap ingest --force``);
        rows already stored are still stored once.

    Returns
    -------
    FileReport
        ``added`` (stored; bad rows in ``errors``: then the file is partial and
        may be ingested again; ``again`` when it was read before), ``already``
        (same bytes went in whole before: nothing read) or ``failed``
        (unreadable, nothing stored; the reason in ``errors``).
    """
    p = Path(path)
    done, sha = settled(history, p, force=force)
    if done is not None:
        return done
    try:
        rows, errors, rep = read_returned(p, project, surface, week)
    except RiskmapError as e:
        return FileReport(p, sha, status="failed", errors=[RowError(str(p), None, None, str(e))])
    rep.sha256 = sha
    out = history.add_file(sha, p.name, rows, [(e.sheet, e.row, e.message) for e in errors],
                           rep.week, force=force)
    if out.already:
        rep.status, rep.complete = "already", True
    else:
        rep.added, rep.repeated = out.added, out.repeated
        rep.again, rep.complete = out.again, out.complete
    rep.errors = errors
    return rep
