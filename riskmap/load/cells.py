"""The raw cells of an office table file: CSV/TXT decoded and split, XLSX with merged cells.

Text files are decoded as UTF-8 (with or without BOM), UTF-16 with BOM, else
GB18030/GBK (a GBK line inside a UTF-8 file is decoded with a note); the
delimiter is sniffed. Workbooks give every cell of a merged range its value.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from riskmap.errors import LayerError
from riskmap.load import xlsxcache

_TEXT_SUFFIXES = {".csv", ".txt", ".tsv", ".dat"}
_XLSX_SUFFIXES = {".xlsx", ".xlsm"}
_DELIMITERS = ("\t", ",", ";", "，", "|")


@dataclass
class TableInfo:
    """What :func:`riskmap.load.tables.read_table` found and dropped.

    Attributes
    ----------
    encoding : str or None
        Text encoding used (``"xlsx"`` for a workbook).
    header_row : int
        1-based sheet/line row of the header (the last one of a two-row header).
    dropped_title_rows : int
        Non-blank rows above the header (titles, subtitles).
    dropped_footer_rows : int
        Non-blank rows under the data (notes, totals, signatures).
    merged_ranges : list of str
        Merged cell ranges of the sheet (``"B4:B8"``); their value was copied to
        every cell of the range.
    notes : list of str
        Other things worth telling the user (sheet used, delimiter, skipped rows).
    sheet : str or None
        Sheet read (workbooks only).
    delimiter : str or None
        Field delimiter of a text table (``"whitespace"`` for runs of spaces).
    columns : dict
        Role → the header text as it was in the file.
    titles : list of str
        Text of the dropped title rows (may name the coordinate system).
    footers : list of str
        Text of the dropped footer rows (may name the coordinate system).
    """

    encoding: str | None = None
    header_row: int = 0
    dropped_title_rows: int = 0
    dropped_footer_rows: int = 0
    merged_ranges: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sheet: str | None = None
    delimiter: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    titles: list[str] = field(default_factory=list)
    footers: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- reading
def read_text_cells(path: Path, encoding: str | None, info: TableInfo):
    """The cells of a CSV/TXT file (decoded, split), and the 1-based line of each row."""
    raw = path.read_bytes()
    text = None
    if encoding:
        try:
            text = raw.decode(encoding)
        except (UnicodeDecodeError, LookupError) as e:
            raise LayerError(f"{path}: 不能用 {encoding} 解码 (cannot decode with this encoding): "
                             f"{e}; check the encoding or leave it out to detect it") from None
        info.encoding = encoding
    elif raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text, info.encoding = raw.decode("utf-16"), "utf-16"
    else:
        try:
            text, info.encoding = raw.decode("utf-8-sig"), "utf-8-sig"
        except UnicodeDecodeError:
            text = _decode_mixed(path, raw, info)
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.splitlines()
    delim = _sniff(lines, path.suffix.lower() != ".csv")
    info.delimiter = "whitespace" if delim is None else delim
    records: list[list[str]] = []
    rows: list[int] = []
    if delim is None:
        for i, line in enumerate(lines, start=1):
            records.append(line.split())
            rows.append(i)
    else:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
        start = 1
        for rec in reader:
            records.append(rec)
            rows.append(start)
            start = reader.line_num + 1
    width = max((len(r) for r in records), default=0)
    grid = pd.DataFrame([r + [None] * (width - len(r)) for r in records], dtype=object)
    return clean(grid), np.asarray(rows, dtype=np.int64)


def _decode_mixed(path: Path, raw: bytes, info: TableInfo) -> str:
    """Text that is not UTF-8 throughout: GB18030 (⊇ GBK), or UTF-8 with a few GBK lines.

    A line pasted from a GBK file into a UTF-8 one is decoded as GB18030 with a
    warning naming the line; a file with no valid non-ASCII UTF-8 line is read as
    GB18030 as a whole.
    """
    import warnings

    from riskmap.errors import RiskmapWarning

    lines = raw.split(b"\n")
    parts, foreign, utf8_text = [], [], False
    for i, line in enumerate(lines, start=1):
        try:
            parts.append(line.decode("utf-8-sig" if i == 1 else "utf-8"))
            utf8_text |= not line.isascii()
            continue
        except UnicodeDecodeError:
            pass
        try:
            parts.append(line.decode("gb18030"))
            foreign.append(i)
        except UnicodeDecodeError:
            raise LayerError(f"{path}: 第 {i} 行编码既不是 UTF-8 也不是 GBK/GB18030 (line {i}: "
                             "text encoding not recognised); fix that line, save the file as "
                             "UTF-8 or give the encoding") from None
    if not utf8_text:
        info.encoding = "gb18030"
        return raw.decode("gb18030")
    info.encoding = "utf-8-sig"
    shown = ", ".join(map(str, foreign[:5])) + (f" … (+{len(foreign) - 5})"
                                                if len(foreign) > 5 else "")
    warnings.warn(f"{path}: line {shown} is GBK inside a UTF-8 file; decoded that line as "
                  f"GB18030 — check its text and save the file as UTF-8", RiskmapWarning,
                  stacklevel=5)
    return "\n".join(parts)


def _sniff(lines: list[str], whitespace_ok: bool) -> str | None:
    """The delimiter that splits most non-blank lines into the same number of fields."""
    sample = [ln for ln in lines[:200] if ln.strip()]
    if not sample:
        return ","
    best, best_score = None, 0
    for d in _DELIMITERS:
        counts = np.array([ln.count(d) for ln in sample])
        nz = counts[counts > 0]
        if nz.size == 0:
            continue
        mode = np.bincount(nz).argmax()
        score = int((counts == mode).sum())
        if score > best_score:
            best, best_score = d, score
    if best is None or (whitespace_ok and best_score < len(sample) // 2):
        if whitespace_ok:
            return None
        return best or ","
    return best


def read_xlsx_cells(path: Path, sheet, info: TableInfo, *, cache: bool = False):
    """``[(sheet, cells, rows, merged ranges, copied mask)]`` for the chosen sheets.

    With ``cache`` the values come from the per-user cache when the file's bytes
    are those of a workbook read before (:mod:`riskmap.load.xlsxcache`), and are
    kept there otherwise; without it (tables that may name persons: case ledgers,
    returned sheets, premises lists) openpyxl reads the file and nothing is kept.
    """
    info.encoding = "xlsx"
    try:
        raw = Path(path).read_bytes()
    except OSError as e:
        raise LayerError(f"{path}: 无法读取表格 (cannot read workbook): {e.strerror or e}; "
                         "check the path and that no other program locks the file") from None
    key = xlsxcache.workbook_key(raw) if cache else None
    book = xlsxcache.load(key) if key else None
    if book is None:
        book = _workbook_values(path, raw)
        if key:
            xlsxcache.store(key, book)
    names = book["names"]
    if sheet is None:
        chosen = names
    elif isinstance(sheet, int) or (isinstance(sheet, str) and sheet.isdigit()
                                    and sheet not in names):
        k = int(sheet)
        if not 0 <= k < len(names):
            raise LayerError(f"{path}: 没有第 {k} 个工作表 (no sheet {k}); sheets: "
                             f"{', '.join(names)} (index from 0)")
        chosen = [names[k]]
    elif sheet in names:
        chosen = [sheet]
    else:
        raise LayerError(f"{path}: 没有工作表 {sheet!r} (no such sheet); "
                         f"sheets: {', '.join(names)}")
    out = []
    for name in chosen:
        values, ranges = book["sheets"][name]
        width = max((len(r) for r in values), default=0)
        cells = np.empty((len(values), width), dtype=object)
        for i, r in enumerate(values):
            cells[i, :len(r)] = r
        merged: list[str] = []
        copied = np.zeros(cells.shape, dtype=bool)  # cells that only repeat a merged value
        for min_row, min_col, max_row, max_col, coord in ranges:
            r0, c0, r1, c1 = min_row - 1, min_col - 1, max_row, max_col
            if r0 < cells.shape[0] and c0 < width:
                cells[r0:r1, c0:c1] = cells[r0, c0]
                copied[r0:r1, c0:c1] = True
                copied[r0, c0] = False
            merged.append(coord)
        grid = pd.DataFrame(cells, dtype=object)
        out.append((name, clean(grid), np.arange(1, len(grid) + 1, dtype=np.int64),
                    merged, copied))
    return out


def _workbook_values(path: Path, raw: bytes) -> xlsxcache.Workbook:
    """Every sheet's values and merged ranges, read by openpyxl from ``raw``."""
    import openpyxl

    try:
        wb = openpyxl.load_workbook(io.BytesIO(raw), data_only=True)
    except Exception as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise LayerError(f"{path}: 无法读取表格 (cannot read workbook): {first}; check that "
                         "the file is a complete .xlsx (close it in Excel/WPS and save again)"
                         ) from None
    try:
        sheets = {}
        for name in wb.sheetnames:
            ws = wb[name]
            if not hasattr(ws, "iter_rows"):  # a chart sheet: no cells
                sheets[name] = [[], []]
                continue
            rows = [list(r) for r in ws.iter_rows(min_row=1, values_only=True)]
            ranges = [[m.min_row, m.min_col, m.max_row, m.max_col, m.coord]
                      for m in ws.merged_cells.ranges]
            sheets[name] = [rows, ranges]
        return {"names": list(wb.sheetnames), "sheets": sheets}
    finally:
        wb.close()


def clean(grid: pd.DataFrame) -> pd.DataFrame:
    """Strip strings, blank strings → None (vectorised per column)."""
    for c in grid.columns:
        col = grid[c]
        is_str = col.map(type).eq(str)
        if is_str.any():
            s = col[is_str].str.strip()
            col = col.copy()
            col[is_str] = s.where(s != "", None)
            grid[c] = col
    return grid.where(grid.notna(), None)


# --------------------------------------------------------------------------- header, data
