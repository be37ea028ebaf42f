"""Read a table as it comes out of an office: CSV/TXT/XLSX with titles, footers and merged cells.

Bureau tables are made for printing, not for machines: a title row ("XX煤矿采矿许可
证拐点坐标表") and a blank row above the header, a header with units ("X坐标(m)")
or full-width characters, merged cells for the values shared by several rows, and
notes under the data ("注：坐标系统为2000国家大地坐标系"). :func:`read_table` finds
the real header by the column names the caller expects, keeps only the data rows
and numbers every row as the user sees it (1-based sheet or line number), so that
an error can say "第 12 行 (row 12)" and the user finds the cell.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from riskmap.errors import LayerError
from riskmap.load import cells
from riskmap.load.cells import TableInfo

#: how many rows from the top are searched for the header
HEADER_SCAN_ROWS = 30
#: first cell of a row under the data that marks a note, total or signature line
FOOTER_MARKERS = ("注", "备注", "说明", "合计", "总计", "小计", "制表", "填表", "填报", "审核",
                  "校核", "复核", "编制", "日期", "单位", "附注", "签字", "签名")
#: longest header that a ``*word`` keyword may match inside (titles are longer)
CONTAINS_MAX_CHARS = 10
_TEXT_SUFFIXES = {".csv", ".txt", ".tsv", ".dat"}
_XLSX_SUFFIXES = {".xlsx", ".xlsm"}
_DELIMITERS = ("\t", ",", ";", "，", "|")
_BRACKETED = re.compile(r"[(\[{【〔<《][^)\]}】〕>》]*[)\]}】〕>》]")
_BRACKET_CHARS = re.compile(r"[()\[\]{}【】〔〕<>《》]")
_SPACE = re.compile(r"\s+")


def normalize_header(text) -> str:
    """Normalise a header cell for matching: NFKC, lower case, no spaces.

    Parameters
    ----------
    text : object
        Cell value (``None`` and NaN give ``""``).

    Returns
    -------
    str
        E.g. ``"Ｘ坐标（m）"`` → ``"x坐标(m)"``.
    """
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return ""
    s = unicodedata.normalize("NFKC", str(text))
    return _SPACE.sub("", s).lower()


def _header_keys(text) -> tuple[str, str]:
    """(name with bracket characters removed, name with bracketed parts removed)."""
    s = normalize_header(text)
    return _BRACKET_CHARS.sub("", s), _BRACKET_CHARS.sub("", _BRACKETED.sub("", s))


def match_columns(headers: Sequence, keywords: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """Assign roles to columns by their header text.

    Parameters
    ----------
    headers : sequence
        Header cells, one per column.
    keywords : mapping
        Role → candidate header names in order of preference. Matching ignores
        case, spaces, full/half width and brackets; a header also matches without
        its bracketed part (``"X坐标(m)"`` is ``"X坐标"``), but an exact match
        (``"开采标高(上)"`` = ``"开采标高上"``) is preferred. A candidate starting
        with ``*`` matches a short header (at most
        :data:`CONTAINS_MAX_CHARS` characters, so never a title) that
        contains it (``"*位置"`` matches ``"排查点位置"``).

    Returns
    -------
    dict
        Role → column index, for the roles found; a column serves one role only.
    """
    keys = [_header_keys(h) for h in headers]
    taken: set[int] = set()
    found: dict[str, int] = {}
    for role, cands in keywords.items():
        hit = None
        for cand in cands:
            part = cand.startswith("*")
            c = _header_keys(cand[1:] if part else cand)[0]
            if not c:
                continue
            for which in (0, 1):
                hit = next((i for i, k in enumerate(keys) if i not in taken and (
                    k[which] == c if not part
                    else c in k[which] and len(k[which]) <= CONTAINS_MAX_CHARS)), None)
                if hit is not None:
                    break
            if hit is not None:
                break
        if hit is not None:
            found[role] = hit
            taken.add(hit)
    return found


def read_table(path, *, sheet: str | int | None = None, encoding: str | None = None,
               keywords: Mapping[str, Sequence[str]], numeric: Sequence[str] = (),
               required: Sequence[str] = (), cache: bool = False
               ) -> tuple[pd.DataFrame, TableInfo]:
    r"""Read a CSV/TXT/XLSX table whose header may not be on the first row.

    Parameters
    ----------
    path : str or Path
        ``.csv``/``.txt``/``.tsv`` (UTF-8 with or without BOM, UTF-16 with BOM,
        else GB18030/GBK; delimiter sniffed among tab, comma, semicolon, full-width
        comma, ``|``, and for TXT runs of spaces) or ``.xlsx`` (merged cells get
        the value of the range in every cell).
    sheet : str or int, optional
        Sheet name or 0-based index; by default the first sheet with the best
        header.
    encoding : str, optional
        Text encoding of a text table (default: detected).
    keywords : mapping
        Role → candidate header names (see :func:`match_columns`). The header is
        the row among the first 30 that matches most roles.
    numeric : sequence of str, optional
        Roles that hold numbers in every data row (coordinates; number-like text
        such as "4,190,123.5" or "113°31'20.5\"" counts). Rows under the last row
        where they are numbers are a footer and dropped; non-blank rows
        between the header and the first data row without any number are taken as
        a second header row (joined if that matches more roles, else dropped).
    required : sequence of str, optional
        Roles that must be found; else :class:`LayerError` listing what was looked
        for and the columns present.
    cache : bool
        Keep a workbook's values in the user cache (:mod:`riskmap.load.xlsxcache`):
        only for tables that hold no personal data (the licence register's corners),
        since the cache is a copy outside the project's folder.

    Returns
    -------
    (pandas.DataFrame, TableInfo)
        Data rows with the role columns renamed to the role names, the other
        columns kept under their header text (blank headers become ``列C`` with the
        column letter), values as read (``object`` dtype, strings stripped, blank
        cells ``None``), and ``_row``: the 1-based sheet/line row of each row.

    Raises
    ------
    LayerError
        Missing or unreadable file, unknown format, no header found, required
        roles missing.
    """
    path = Path(path)
    info = TableInfo()
    if not path.is_file():
        raise LayerError(f"{path}: 文件不存在 (file not found); check the path")
    suffix = path.suffix.lower()
    if suffix in _XLSX_SUFFIXES:
        grids = cells.read_xlsx_cells(path, sheet, info, cache=cache)
    elif suffix == ".xls":
        raise LayerError(f"{path}: 旧版 Excel (.xls) 不支持 (old .xls workbooks are not read); "
                         "open it in Excel/WPS and save as .xlsx")
    elif suffix in _TEXT_SUFFIXES or suffix == "":
        grid, rows = cells.read_text_cells(path, encoding, info)
        grids = [(None, grid, rows, [], np.zeros(grid.shape, dtype=bool))]
    else:
        raise LayerError(f"{path}: 不是表格文件 (not a table): expected .csv, .txt or .xlsx")

    best = None
    for name, grid, rows, merged, copied in grids:
        h, found, height = _find_header(grid, keywords)
        score = len(found)
        if best is None or score > best[0]:
            best = (score, name, grid, rows, merged, copied, h, found, height)
    score, name, grid, rows, merged, copied, h, found, height = best
    info.merged_ranges = list(merged)
    if len(grids) > 1:
        info.sheet = name
        info.notes.append(f"读取工作表 (sheet read): {name}")
    elif name is not None:
        info.sheet = name
    if score == 0:
        expect = "; ".join(f"{r}: {'/'.join(c.lstrip('*') for c in cs[:4])}"
                           for r, cs in keywords.items())
        raise LayerError(f"{path}: 找不到表头 (no header row found in the first "
                         f"{HEADER_SCAN_ROWS} rows); expected column names like {expect}")
    return _assemble(path, grid, copied, rows, h, height, found, keywords, numeric, required,
                     info)


def read_sheets(path, *, keywords: Mapping[str, Sequence[str]]
                ) -> list[tuple[str | None, pd.DataFrame | None, TableInfo]]:
    """Every sheet of a workbook read once, as :func:`read_table` reads one.

    Returns ``[(sheet, DataFrame or None, TableInfo)]``; a sheet without a header
    gives ``None``. A CSV/TXT gives one entry.
    """
    path = Path(path)
    if path.suffix.lower() not in _XLSX_SUFFIXES:
        df, info = read_table(path, keywords=keywords)
        return [(None, df, info)]
    out = []
    for name, grid, rows, merged, copied in cells.read_xlsx_cells(path, None, TableInfo()):
        info = TableInfo(encoding="xlsx", sheet=name)
        h, found, height = _find_header(grid, keywords) if len(grid) else (0, {}, 0)
        if not found:
            out.append((name, None, info))
            continue
        df, info = _assemble(path, grid, copied, rows, h, height, found, keywords, (), (),
                             info)
        info.merged_ranges = list(merged)
        out.append((name, df, info))
    return out


_NUMBERLIKE = re.compile(
    r"[\s'\"+\-]*(?:东经|北纬|西经|南纬|[NSEWnsew])?[\s:+\-]*\d[\d\s.,°'′″\"度分秒:+\-]*"
    r"(?:m|米|[NSEWnsew])?[\s'\"]*")


def _numeric_mask(frame: pd.DataFrame) -> pd.DataFrame:
    r"""True where a cell holds a number or a number-like text.

    Numbers, and text made of digits with number or angle punctuation:
    "4,190,123.5", "１２３", "113°31'20.5\"", "东经113度31分20秒". A note such as
    "注：坐标系统为2000国家大地坐标系" is not number-like.
    """
    out = {}
    for c in frame.columns:
        s = frame[c]
        kind = s.map(type)
        is_num = s.notna() & ~kind.eq(str) & ~kind.eq(bool)
        txt = s.where(kind.eq(str), "").astype(str).str.normalize("NFKC")
        out[c] = is_num | (kind.eq(str) & txt.str.fullmatch(_NUMBERLIKE))
    return pd.DataFrame(out, index=frame.index)


def _find_header(grid: pd.DataFrame, keywords) -> tuple[int, dict, int]:
    """(0-based header row, role → column, header height 1 or 2)."""
    best = (0, {}, 1)
    n = min(HEADER_SCAN_ROWS, len(grid))
    for i in range(n):
        cells = grid.iloc[i].tolist()
        if not any(c is not None for c in cells):
            continue
        found = match_columns(cells, keywords)
        if len(found) > len(best[1]):
            best = (i, found, 1)
    h, found, _ = best
    if not found or h + 1 >= len(grid):
        return best
    # a second header row ("开采标高" over "上"/"下"): no numbers, joins to more roles
    nxt = grid.iloc[h + 1]
    if nxt.notna().any() and not _numeric_mask(nxt.to_frame().T).to_numpy().any():
        top = grid.iloc[h].tolist()
        joined = [_join(a, b) for a, b in zip(top, nxt.tolist(), strict=True)]
        found2 = match_columns(joined, keywords)
        if len(found2) > len(found):
            return h, found2, 2
    return best


def _join(a, b) -> str | None:
    a = None if a is None else str(a)
    b = None if b is None else str(b)
    if a is None or b is None or a == b:
        return a if a is not None else b
    return a + b


def _letter(i: int) -> str:
    s = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        s = chr(65 + r) + s
    return s


def _row_text(frame: pd.DataFrame) -> list[str]:
    """Text of each row; a merged cell copied across the row is kept once."""
    parts = frame.astype(object).where(frame.notna(), "").astype(str).to_numpy().tolist()
    out = []
    for row in parts:
        cells = [v for k, v in enumerate(row) if v and (k == 0 or v != row[k - 1])]
        out.append(" ".join(cells))
    return out


def _assemble(path, grid, copied, rows, h, height, found, keywords, numeric, required, info):
    last_header = h + height - 1
    header = grid.iloc[h].tolist() if height == 1 else [
        _join(a, b) for a, b in zip(grid.iloc[h].tolist(), grid.iloc[h + 1].tolist(), strict=True)]
    info.header_row = int(rows[last_header])
    if height == 2:
        info.notes.append(f"两行表头 (two-row header): rows {rows[h]}–{rows[last_header]} joined")
    above = grid.iloc[:h]
    blank_above = above.isna().all(axis=1).to_numpy()
    info.dropped_title_rows = int((~blank_above).sum())
    info.titles = [t for t in _row_text(above.loc[~blank_above]) if t]

    body = grid.iloc[last_header + 1:].copy()
    body_rows = rows[last_header + 1:]
    # a row holding nothing but copies of merged cells from the rows above is blank too
    blank = (body.isna().to_numpy() | copied[last_header + 1:]).all(axis=1)
    roles_num = [found[r] for r in numeric if r in found]
    keep = ~blank
    if roles_num:
        num = _numeric_mask(body[roles_num]).all(axis=1).to_numpy()
        if num.any():
            first, last = int(np.argmax(num)), len(num) - 1 - int(np.argmax(num[::-1]))
            tail = np.arange(len(num)) > last
            info.dropped_footer_rows = int((tail & ~blank).sum())
            info.footers = _row_text(body.loc[tail & ~blank])
            # rows between header and data without a single number (units, sub-headers)
            head = (np.arange(len(num)) < first) & ~blank
            nonum = ~_numeric_mask(body).any(axis=1).to_numpy()
            sub = head & nonum
            if sub.any():
                skipped = ", ".join(map(str, body_rows[sub]))
                info.notes.append(f"表头下 {int(sub.sum())} 行无数字已跳过 (rows without numbers "
                                  f"under the header skipped): {skipped}")
            keep &= ~tail & ~sub
    else:
        footer = _footer_like(body) & ~blank
        # only a block of footer/blank rows at the end
        tail = np.logical_and.accumulate((footer | blank)[::-1])[::-1]
        info.dropped_footer_rows = int((tail & ~blank).sum())
        info.footers = _row_text(body.loc[tail & ~blank])
        keep &= ~tail
    inner_blank = int((blank & (np.cumsum(~blank) > 0)
                       & (np.cumsum((~blank)[::-1])[::-1] > 0)).sum())
    if inner_blank:
        info.notes.append(f"跳过 {inner_blank} 个空行 (blank rows skipped)")
    data = body.loc[keep]
    data_rows = body_rows[keep]

    names = []
    role_of = {i: r for r, i in found.items()}
    used = set(found)
    for i, hname in enumerate(header):
        if i in role_of:
            names.append(role_of[i])
            continue
        base = unicodedata.normalize("NFKC", str(hname)).strip() if hname is not None else ""
        base = base or f"列{_letter(i)}"
        name, k = base, 2
        while name in used or name == "_row":
            name, k = f"{base}_{k}", k + 1
        used.add(name)
        names.append(name)
    info.columns = {r: (str(header[i]) if header[i] is not None else "") for r, i in found.items()}
    data.columns = names
    # drop unnamed columns that hold nothing
    empty_cols = [n for n, hname in zip(names, header, strict=True)
                  if hname is None and n not in found and data[n].isna().all()]
    data = data.drop(columns=empty_cols)
    data.insert(len(data.columns), "_row", data_rows)
    data = data.reset_index(drop=True)

    missing = [r for r in required if r not in found]
    if missing:
        want = "; ".join(f"{r}: {'/'.join(c.lstrip('*') for c in keywords[r][:5])}"
                         for r in missing)
        have = ", ".join(str(v) for v in header if v is not None)
        raise LayerError(f"{path}: 第 {info.header_row} 行表头缺少列 (header row "
                         f"{info.header_row} lacks columns) {want}; columns found: {have}; "
                         "rename the column headers")
    if info.dropped_title_rows:
        info.notes.append(f"表头在第 {info.header_row} 行 (header on row {info.header_row}); "
                          f"跳过标题 {info.dropped_title_rows} 行 (title rows dropped)")
    if info.dropped_footer_rows:
        info.notes.append(f"跳过表尾 {info.dropped_footer_rows} 行 (footer rows dropped): "
                          + " | ".join(t[:40] for t in info.footers))
    if info.merged_ranges:
        info.notes.append(f"{len(info.merged_ranges)} 个合并单元格已展开 (merged ranges filled)")
    return data, info


def _footer_like(body: pd.DataFrame) -> np.ndarray:
    """Rows whose first non-blank cell starts with a note/total/signature marker."""
    first = body.bfill(axis=1).iloc[:, 0] if body.shape[1] else pd.Series([], dtype=object)
    txt = first.astype(str).str.normalize("NFKC").str.strip()
    pat = "^(?:" + "|".join(map(re.escape, FOOTER_MARKERS)) + ")"
    return (txt.str.contains(pat, regex=True) & first.notna()).to_numpy()

