"""Village ledgers (排查台账): the week's list on paper, in Excel and as CSV.

``ledger.xlsx`` (xlsxwriter) has a summary sheet (汇总: the rule, per village the
counts, route length and responsible cadre) and one sheet per village in
visiting order, with the columns of :data:`LEDGER_HEADER` (and :data:`RANK_HEADER`,
the rank interval, when the plan read a calibration's). 序号 is the plan's
visit number (the number on plan.pdf and in the KMZ/GPX/奥维 names). Coordinates
are given twice: 经度/纬度 (WGS84) and, as Chinese surveyors write them, X = 北坐标
(northing) and Y = 东坐标 (easting, with the Gauss-Krüger zone prefix), with a
CRS line under the title naming the datum, projection, zone and central
meridian (:func:`survey_axes`); the headers show "北坐标 X" and "东坐标 Y".
Under each list: a note and a signature block (填报人, 审核人, 日期). Ids and
phone numbers are text; 排查结果 has a dropdown of
:data:`riskmap.field.schema.RESULTS`; the title (with the CRS line) and header rows
are frozen and repeat on every printed page; the page header and footer carry
内部资料 注意保密. ``ledger.csv`` is the same rows in UTF-8 with BOM.

Ledgers name responsible cadres (from the project's ``roster``, read by
:mod:`riskmap.load.roster`), never suspects.

Spreadsheet-formula injection: every text cell is written as a string
(``write_string``), never as a formula, and in the CSV a text starting with
``=``, ``+``, ``-``, ``@`` (or a tab or carriage return) is prefixed with ``'``.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import re
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from pyproj import CRS

from riskmap.crs.meridian import working_meridian
from riskmap.export.atomic import atomic_file
from riskmap.field.rules import REASONS
from riskmap.field.schema import RESULTS
from riskmap.marks import INTERNAL

if TYPE_CHECKING:
    from riskmap.field.plan import TownshipPlan

#: columns of a village sheet; X is the 北坐标 (northing) and Y the 东坐标 (easting, with
#: the zone prefix), as Chinese surveyors write them; the sheet shows "北坐标 X" and
#: "东坐标 Y" (a display format: the cells hold "X" and "Y", which ingest reads back)
LEDGER_HEADER = ("序号", "网格编号", "乡镇", "村", "经度", "纬度", "X", "Y", "主要风险因素",
                 "优先级", "责任人", "联系电话", "排查日期", "排查人", "排查结果", "备注")
#: how the X and Y headers are shown (Excel text formats)
AXIS_LABELS = {"X": "北坐标", "Y": "东坐标"}
COL = {h: i for i, h in enumerate(LEDGER_HEADER)}
#: the column after 优先级 of a plan made with a calibration's rank interval: "前 3–20 %"
RANK_HEADER = "排名区间"
SUMMARY_SHEET = "汇总"
#: rows above the column header of a village sheet: the title (with the CRS line under it)
HEAD_ROWS = 1
#: the signature block under each village's list
SIGNATURES = ("填报人（签字）：", "审核人（签字）：", "日期：")
#: empty rows under each village's list, for finds outside the list (coordinates, no id)
SPARE_ROWS = 10
_RISKY_START = ("=", "+", "-", "@", "\t", "\r")
_SHEET_BAD = re.compile(r"[\[\]:*?/\\]")
_PAPER = {"A4": 9, "A3": 8}
_DATUMS = {"China 2000": "CGCS2000 (2000国家大地坐标系)", "Xian 1980": "西安80",
           "Beijing 1954": "北京54", "World Geodetic System 1984 ensemble": "WGS84"}


# --------------------------------------------------------------------------- text helpers
def csv_safe(value) -> str:
    """Text for a CSV cell that a spreadsheet will not run as a formula.

    Parameters
    ----------
    value : object
        ``None`` gives ``""``.

    Returns
    -------
    str
        The text, with ``'`` in front if it starts with ``=``, ``+``, ``-``, ``@``,
        a tab or a carriage return.
    """
    s = "" if value is None else str(value)
    return "'" + s if s.startswith(_RISKY_START) else s


def display_width(text) -> int:
    """Columns a text takes in a spreadsheet: East Asian wide characters count twice."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in str(text))


def sheet_name(name: str, taken: set[str]) -> str:
    """A valid, unique Excel sheet name (≤ 31 characters, no ``[]:*?/`` nor backslash)."""
    base = _SHEET_BAD.sub("_", str(name)).strip("'").strip() or "村"
    base = base[:31]
    out, k = base, 2
    while out.lower() in {t.lower() for t in taken} or out.lower() == "history":
        suffix = f"({k})"
        out, k = base[:31 - len(suffix)] + suffix, k + 1
    taken.add(out)
    return out


def _hf(text: str) -> str:
    """Escape ``&`` for an Excel header/footer string."""
    return str(text).replace("&", "&&")


# --------------------------------------------------------------------------- coordinates
@dataclass(frozen=True)
class SurveyAxes:
    """How the ledger writes working-CRS coordinates the way Chinese surveyors do.

    Attributes
    ----------
    zone : int or None
        Gauss-Krüger zone number that the eastings (Y, 东坐标) carry in front,
        None when they carry none (not a Gauss-Krüger CRS, or a meridian that
        is no zone's).
    add_m : float
        Added to the working CRS's easting: ``zone × 1e6`` when the CRS's own
        eastings carry no prefix, 0 when they do already.
    line : str
        The CRS line under the ledger's title.
    """

    zone: int | None
    add_m: float
    line: str

    def xy(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """(X = northing, Y = easting with the zone prefix) of working-CRS ``x, y``."""
        return (np.round(np.asarray(y, float), 1),
                np.round(np.asarray(x, float) + self.add_m, 1))


def survey_axes(crs) -> SurveyAxes:
    """The zone prefix and CRS line of a working CRS (see :class:`SurveyAxes`).

    A transverse Mercator CRS with scale 1 on a Chinese meridian is read as
    Gauss-Krüger: its zone is the 3-degree zone of the meridian (``CM / 3``)
    unless the CRS is a 6-degree one (its name does not say 3-degree and the
    meridian is ``6n − 3``), or the zone its false easting already carries.

    Parameters
    ----------
    crs : str or pyproj.CRS
        The project's working CRS.

    Returns
    -------
    SurveyAxes
    """
    c = CRS.from_user_input(crs)
    epsg = c.to_epsg()
    name = f"{c.name} (EPSG:{epsg})" if epsg else c.name
    datum = c.datum.name if c.datum is not None else "?"
    datum = _DATUMS.get(datum, datum)
    tail = "经度/纬度为 WGS84 (longitude/latitude: WGS84)。"
    cm = working_meridian(c)
    if cm is None:
        return SurveyAxes(None, 0.0, f"坐标系 (CRS): {name}, 基准 {datum}; X = 北坐标 (northing), "
                                     f"Y = 东坐标 (easting), 单位 m; {tail}")
    fe = next((p.value for p in c.coordinate_operation.params
               if p.name.lower() == "false easting"), 500_000.0)
    carried = round((fe - 500_000.0) / 1e6)
    if carried > 0 and math.isclose(fe, carried * 1e6 + 500_000.0):
        zone, add, width = carried, 0.0, (3 if math.isclose(cm, 3 * carried) else 6)
    elif "3-degree" not in c.name.lower() and cm % 6 == 3:
        zone, add, width = int((cm + 3) // 6), ((cm + 3) // 6) * 1e6, 6
    elif cm % 3 == 0:
        zone, add, width = int(cm // 3), (cm // 3) * 1e6, 3
    else:
        return SurveyAxes(None, 0.0, f"坐标系 (CRS): {name}, 基准 {datum}, 高斯-克吕格投影, "
                                     f"中央子午线 {cm:g}°E (无带号); X = 北坐标 (northing), "
                                     f"Y = 东坐标 (easting), 单位 m; {tail}")
    return SurveyAxes(zone, float(add), (
        f"坐标系 (CRS): {name}, 基准 {datum}, 高斯-克吕格投影 {width}°带 第 {zone} 带, "
        f"中央子午线 {cm:g}°E; X = 北坐标 (northing), Y = 东坐标 (easting, 前 {len(str(zone))} "
        f"位为带号 {zone}), 单位 m; {tail}"))


# --------------------------------------------------------------------------- rows
def ledger_header(tp: TownshipPlan) -> tuple[str, ...]:
    """The columns of ``tp``'s ledger.

    :data:`LEDGER_HEADER`, and :data:`RANK_HEADER` after 优先级 when the plan
    read a calibration's rank interval (:attr:`TownshipPlan.interval`).
    """
    if not tp.interval:
        return LEDGER_HEADER
    i = COL["优先级"] + 1
    return (*LEDGER_HEADER[:i], RANK_HEADER, *LEDGER_HEADER[i:])


def ledger_rows(tp: TownshipPlan) -> list[list]:
    """The ledger's data rows (all villages, visiting order), values typed for writing.

    序号 is the visit number (:attr:`~riskmap.field.plan.PlanCell.no`); X/Y as
    :func:`survey_axes` writes them; columns as :func:`ledger_header`.
    """
    axes = survey_axes(tp.crs)
    north, east = axes.xy([c.x for c in tp.cells], [c.y for c in tp.cells])
    rows = []
    for c, n, e in zip(tp.cells, north.tolist(), east.tolist(), strict=True):
        why = c.top_factors or "无明显风险因素 (no notable factor)"
        if c.adjustment:
            why = f"{why}; {c.adjustment}"
        if c.override:  # the analyst's reason first: it is why the cell is on the list
            why = f"{c.override}; {why}"
        row = [c.no, c.cell_id, c.township, c.village, round(c.lon, 6), round(c.lat, 6),
               n, e, why, c.priority, c.responsible, c.phone, "", "", "", ""]
        if tp.interval:
            row.insert(COL["优先级"] + 1, c.rank)
        rows.append(row)
    return rows


def title(tp: TownshipPlan, village: str | None = None) -> str:
    """Title row: township, week (with dates), village, build date, marking."""
    w = tp.week
    parts = [f"{tp.township} {w} ({w.monday:%Y-%m-%d} 至 {w.sunday:%Y-%m-%d}) 非法采矿巡查台账"]
    if village:
        parts.append(village)
    parts += [f"生成 {tp.build_date[:10]}", INTERNAL]
    return " · ".join(parts)


# --------------------------------------------------------------------------- xlsx
def write_ledger_xlsx(tp: TownshipPlan, path, *, overwrite: bool = False,
                      paper: str = "A4") -> None:
    """Write ``ledger.xlsx`` of one township (atomically).

    Parameters
    ----------
    tp : TownshipPlan
    path : Path
    overwrite : bool
        Replace an existing file.
    paper : {"A4", "A3"}
        Printed page (landscape, one page wide, header row repeated).
    """
    import xlsxwriter

    with atomic_file(path, overwrite) as tmp:
        wb = xlsxwriter.Workbook(str(tmp), {"strings_to_formulas": False,
                                            "strings_to_numbers": False,
                                            "strings_to_urls": False})
        created = _created(tp.build_date)
        wb.set_properties({"title": title(tp), "subject": f"{tp.project_name} 巡查台账",
                           "author": "riskmap", "comments": INTERNAL, "created": created,
                           "keywords": f"riskmap, {tp.week}"})
        wb.set_custom_property("riskmap_week", str(tp.week))
        wb.set_custom_property("riskmap_township", tp.township)
        fmt = _formats(wb)
        taken: set[str] = {SUMMARY_SHEET}
        _summary_sheet(wb.add_worksheet(SUMMARY_SHEET), tp, fmt, paper)
        village = ledger_header(tp).index("村")
        for v in tp.villages:
            ws = wb.add_worksheet(sheet_name(v.village, taken))
            rows = [r for r in ledger_rows(tp) if r[village] == v.village]
            _village_sheet(ws, tp, v.village, rows, fmt, paper)
        wb.close()


def _created(build_date: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(build_date).replace(tzinfo=None)
    except ValueError:
        return dt.datetime.now()


def _formats(wb) -> dict:
    base = {"font_name": "宋体", "font_size": 10, "border": 1, "valign": "vcenter"}
    return {
        "title": wb.add_format({"bold": True, "font_size": 14, "font_name": "黑体",
                                "align": "left", "valign": "vcenter", "text_wrap": True}),
        "head": wb.add_format({**base, "bold": True, "align": "center", "text_wrap": True,
                               "bg_color": "#D9D9D9"}),
        "text": wb.add_format({**base, "num_format": "@"}),
        "wrap": wb.add_format({**base, "num_format": "@", "text_wrap": True}),
        "int": wb.add_format({**base, "num_format": "0", "align": "center"}),
        "deg": wb.add_format({**base, "num_format": "0.000000"}),
        "m": wb.add_format({**base, "num_format": "0.0"}),
        "km": wb.add_format({**base, "num_format": "0.00"}),
        "note": wb.add_format({"font_size": 10, "text_wrap": False}),
        "title_run": wb.add_format({"bold": True, "font_size": 14, "font_name": "黑体"}),
        "crs_run": wb.add_format({"font_size": 9, "font_name": "宋体", "font_color": "#333333"}),
        **{f"head_{ax}": wb.add_format({**base, "bold": True, "align": "center",
                                        "bg_color": "#D9D9D9", "num_format": f'"{lab} "@'})
           for ax, lab in AXIS_LABELS.items()},
        "sign": wb.add_format({"font_size": 11, "bold": True, "valign": "bottom"}),
        "line": wb.add_format({"font_size": 11, "bottom": 1, "valign": "bottom"}),
        "mark": wb.add_format({"bold": True, "font_color": "#C00000"}),
    }


def _page(ws, tp: TownshipPlan, paper: str, what: str) -> None:
    ws.set_landscape()
    ws.set_paper(_PAPER.get(paper, 9))
    ws.fit_to_pages(1, 0)
    ws.set_margins(left=0.4, right=0.4, top=0.7, bottom=0.6)
    ws.set_header(f"&L{_hf(INTERNAL)}&C{_hf(tp.township)} {tp.week} {_hf(what)}"
                  "&R第 &P 页 共 &N 页")
    ws.set_footer(f"&L{_hf(INTERNAL)}&R生成 {_hf(tp.build_date[:10])}")


def _put(ws, r: int, c: int, value, fmt) -> None:
    """Write one value with its type made explicit (text never becomes a formula)."""
    if value is None or value == "":
        ws.write_blank(r, c, None, fmt)
    elif isinstance(value, bool):
        ws.write_string(r, c, str(value), fmt)
    elif isinstance(value, int | float | np.integer | np.floating):
        ws.write_number(r, c, float(value), fmt)
    else:
        ws.write_string(r, c, str(value), fmt)


def _village_sheet(ws, tp: TownshipPlan, village: str, rows: list[list], fmt, paper) -> None:
    header = ledger_header(tp)
    at = {h: i for i, h in enumerate(header)}
    n = len(header)
    h = HEAD_ROWS  # the column header's row
    ws.merge_range(0, 0, 0, n - 1, "", fmt["title"])
    # the title, and under it (same cell, smaller) the CRS line
    ws.write_rich_string(0, 0, fmt["title_run"], title(tp, village), fmt["crs_run"],
                         "\n" + survey_axes(tp.crs).line, fmt["title"])
    ws.set_row(0, 46)
    for c, hd in enumerate(header):
        ws.write_string(h, c, hd, fmt[f"head_{hd}"] if hd in AXIS_LABELS else fmt["head"])
    ws.set_row(h, 20)
    kinds = {"序号": "int", "经度": "deg", "纬度": "deg", "X": "m", "Y": "m",
             "主要风险因素": "wrap"}
    for i, row in enumerate(rows + [[""] * n] * SPARE_ROWS):
        r = h + 1 + i
        for c, hd in enumerate(header):
            _put(ws, r, c, row[c], fmt[kinds.get(hd, "text")])
    first, last = h + 1, h + len(rows) + SPARE_ROWS
    col = at["排查结果"]
    ws.data_validation(first, col, last, col, {
        "validate": "list", "source": list(RESULTS),
        "input_title": "排查结果", "input_message": " / ".join(RESULTS),
        "error_title": "排查结果", "error_message": "请从下拉列表选择: " + " / ".join(RESULTS),
        "error_type": "stop"})
    dcol = at["排查日期"]
    ws.data_validation(first, dcol, last, dcol, {
        "validate": "any", "input_title": "排查日期", "input_message": "如 2026-12-05"})
    ws.write_string(last + 1, 0, "注：序号即巡查计划图 (plan.pdf) 与 KMZ/GPX/奥维 中的编号；"
                    "计划外发现请在空行填写经度、纬度 (网格编号可空)，排查结果从下拉列表选择；"
                    "台账只记录网格与责任人，不记录涉嫌人员信息。" + INTERNAL, fmt["note"])
    sign = last + 3
    ws.set_row(sign, 26)
    for c, label in zip((0, 6, 11), SIGNATURES, strict=True):
        ws.write_string(sign, c, label, fmt["sign"])
    for c in (*range(2, 5), *range(8, 10)):  # the lines to sign on
        ws.write_blank(sign, c, None, fmt["line"])
    ws.merge_range(sign, 12, sign, 14, "      年    月    日", fmt["line"])
    widths = _widths(header, rows, caps={"主要风险因素": 46})
    for c, w in enumerate(widths):
        ws.set_column(c, c, w)
    ws.freeze_panes(h + 1, 0)
    ws.repeat_rows(0, h)
    ws.print_area(0, 0, sign, n - 1)
    _page(ws, tp, paper, f"{village} 巡查台账")


def _widths(header, rows, caps=None) -> list[float]:
    caps = caps or {}
    out = []
    for c, h in enumerate(header):
        w = max([display_width(h)] + [display_width(r[c]) for r in rows if r[c] is not None])
        out.append(min(max(w + 2, 8), caps.get(h, 30)))
    return out


def _summary_sheet(ws, tp: TownshipPlan, fmt, paper) -> None:
    head = ("村", "起点", "计划网格", *REASONS, "路线长度(km)", "责任人", "联系电话")
    ws.merge_range(0, 0, 0, len(head) - 1, "", fmt["title"])
    ws.write_string(0, 0, title(tp, SUMMARY_SHEET), fmt["title"])
    ws.set_row(0, 24)
    r = 2
    for c, h in enumerate(head):
        ws.write_string(r, c, h, fmt["head"])
    body = []
    for v in tp.villages:
        body.append([v.village, v.start_kind, len(v.cells), *(v.count(r) for r in REASONS),
                     round(v.length_m / 1000, 2), v.responsible, v.phone])
    kinds = ["text", "text", "int", *["int"] * len(REASONS), "km", "text", "text"]
    for i, row in enumerate(body):
        for c, val in enumerate(row):
            _put(ws, r + 1 + i, c, val, fmt[kinds[c]])
    total = [
        "合计", "", sum(len(v.cells) for v in tp.villages),
        *(sum(v.count(r) for v in tp.villages) for r in REASONS),
        round(sum(v.length_m for v in tp.villages) / 1000, 2), "", ""]
    rt = r + 1 + len(body)
    for c, val in enumerate(total):
        _put(ws, rt, c, val, fmt[kinds[c]] if c else fmt["head"])
    r = rt + 2
    ws.write_string(r, 0, "选点与调整规则 (rules)", fmt["mark"])
    for line in tp.rules:
        r += 1
        ws.write_string(r, 0, line, fmt["note"])
    for line in tp.notes:
        r += 1
        ws.write_string(r, 0, line, fmt["note"])
    r += 1
    ws.write_string(r, 0, survey_axes(tp.crs).line, fmt["note"])
    r += 1
    ws.write_string(r, 0, "序号即巡查计划图 (plan.pdf)、KMZ/GPX/奥维 中的编号; 路线长度为直线"
                    "距离, 含返回村委会。", fmt["note"])
    r += 1
    ws.write_string(r, 0, f"{INTERNAL} · 台账只记录网格与责任人, 不记录涉嫌人员信息。", fmt["mark"])
    widths = _widths(head, body)
    for c, w in enumerate(widths):
        ws.set_column(c, c, w)
    ws.freeze_panes(3, 0)
    ws.repeat_rows(2)
    _page(ws, tp, paper, "巡查计划汇总")
    ws.activate()


# --------------------------------------------------------------------------- csv
def write_ledger_csv(tp: TownshipPlan, path, *, overwrite: bool = False) -> None:
    """Write ``ledger.csv`` (UTF-8 with BOM, CRLF; the xlsx rows of every village).

    Text that a spreadsheet would run as a formula is prefixed with ``'``
    (:func:`csv_safe`); numbers are written as numbers.
    """
    with atomic_file(path, overwrite) as tmp:
        with open(tmp, "w", encoding="utf-8-sig", newline="") as f:
            w = csv.writer(f, lineterminator="\r\n")
            w.writerow(ledger_header(tp))
            for row in ledger_rows(tp):
                w.writerow([v if isinstance(v, int | float) and not isinstance(v, bool)
                            else csv_safe(v) for v in row])
