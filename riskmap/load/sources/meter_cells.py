"""Cells of a meter table: kWh readings, month labels and 户号 as power companies write them.

Text is cleaned with :func:`riskmap.load.values.clean_text` and numbers and dates
are read by :mod:`riskmap.load.values`; what is particular to meter tables (the
estimate mark 估, blank marks such as 停用, units, month headers) is handled here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from riskmap.errors import LayerError
from riskmap.load import values

__all__ = ["ESTIMATE", "cell_months", "month_label", "parse_kwh", "parse_month_labels",
           "parse_share", "rows_text", "title_year", "user_ids"]

_BLANK_MARKS = {"", "-", "--", "—", "——", "/", "无", "空", "停用", "销户", "拆表", "未抄", "nan",
                "none"}
ESTIMATE = re.compile(r"估抄|估算|估计|估")
_STRIP = re.compile(r"估抄|估算|估计|估|[()\[\]（）【】]|kwh|千瓦时|度|,|\s|'|\"")
_YM = re.compile(r"(?P<y>(?:19|20)\d{2})\s*[-/._年]\s*(?P<m>1[0-2]|0?[1-9])(?!\d)")
_YYYYMM = re.compile(r"^(?P<y>(?:19|20)\d{2})(?P<m>0[1-9]|1[0-2])(?:\D|$)")
_M_ONLY = re.compile(r"^(?P<m>1[0-2]|0?[1-9])月")
YEAR_IN_TITLE = re.compile(r"((?:19|20)\d{2})\s*年")


def month_label(y, m) -> str:
    """``2026-01``, or ``1月`` when the year is not known."""
    return f"{y}-{m:02d}" if y is not None else f"{m}月"


def parse_month_labels(labels: Sequence, year_hint: int | None = None
                       ) -> tuple[list[int | None], list[int | None]]:
    """Years and months of column headers or cell values.

    Parameters
    ----------
    labels : sequence
        Header texts or cells: ``2026-01``, ``2026年1月(kWh)``, ``202601``,
        ``2026/1``, ``2026-01-01 00:00:00`` (an Excel date), ``1月``.
    year_hint : int, optional
        Year of the first month-only label (``1月``); later ones roll over to
        the next year when the month goes back (``12月``, ``1月``).

    Returns
    -------
    (list, list)
        Year (or None) and month (1–12, or None when the label is no month).
    """
    years: list[int | None] = []
    months: list[int | None] = []
    year, last = year_hint, None
    for lab in labels:  # one per column or distinct cell, in order (the year rolls over)
        s = values.clean_text(lab).replace(" ", "")
        m = _YM.search(s) or _YYYYMM.match(s)
        if m:
            years.append(int(m["y"]))
            months.append(int(m["m"]))
            continue
        m = _M_ONLY.match(s)
        if m:
            mo = int(m["m"])
            if year is not None and last is not None and mo <= last:
                year += 1
            last = mo
            years.append(year)
            months.append(mo)
            continue
        years.append(None)
        months.append(None)
    return years, months


def cell_months(cells: Sequence, year_hint: int | None = None
                 ) -> tuple[list[int | None], list[int | None]]:
    """:func:`parse_month_labels` of cells; a full date the labels miss is read as a date.

    A month column may hold what the office wrote as a date: an Excel serial
    kept as a number, ``20260415``; :func:`riskmap.load.values.parse_dates`
    reads those (each distinct value once).
    """
    years, months = parse_month_labels(cells, year_hint)
    miss = [i for i, m in enumerate(months) if m is None]
    if miss:
        dates, _, _ = values.parse_dates([cells[i] for i in miss])
        for i, d in zip(miss, dates, strict=True):
            if not np.isnat(d):
                y, mo = str(d)[:7].split("-")
                years[i], months[i] = int(y), int(mo)
    return years, months


def parse_kwh(cells: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Read kWh cells as a power company writes them.

    Parameters
    ----------
    cells : pandas.DataFrame
        Cells as read (numbers, text, None). Text may carry an estimate mark
        (``估 120``, ``120(估)``, ``估抄120``), thousands separators, full-width
        digits or a unit (``kWh``, ``度``); ``-``, ``/``, ``无``, ``停用`` are blank.

    Returns
    -------
    values : numpy.ndarray
        float64, NaN where blank, unreadable or negative.
    estimated : numpy.ndarray
        bool, True where the cell carries an estimate mark.
    bad : numpy.ndarray
        bool, True where a non-blank cell is not a number.
    negative : numpy.ndarray
        bool, True where the number is negative (a correction, 退补): not used.
    """
    shape = cells.shape
    flat = pd.Series(cells.to_numpy(dtype=object).ravel(), dtype=object)
    kind = flat.map(type)
    is_str = kind.eq(str)
    num = pd.to_numeric(flat.where(~is_str & ~kind.eq(bool)), errors="coerce")
    text = flat.where(is_str, "").astype(str).str.normalize("NFKC").str.strip().str.lower()
    est = is_str & text.str.contains(ESTIMATE)
    clean = text.str.replace(_STRIP, "", regex=True)
    blank_text = is_str & clean.isin(_BLANK_MARKS)
    # the text left after marks and units goes through the one number parser,
    # once per distinct text (readings repeat), not once per cell
    codes, uniq = pd.factorize(clean.where(is_str & ~blank_text))
    parsed, unreadable = values.parse_numbers(np.asarray(uniq, dtype=object))
    from_text = np.append(parsed, np.nan)[codes]
    text_bad = np.append(unreadable, False)[codes]
    vals = np.where(is_str.to_numpy(), from_text, num.to_numpy(dtype=float))
    bad = (is_str & ~blank_text & (np.isnan(vals) | text_bad)) | kind.eq(bool)
    vals[~np.isfinite(vals)] = np.nan
    neg = vals < 0
    vals[neg] = np.nan
    return (vals.reshape(shape), est.to_numpy().reshape(shape),
            np.asarray(bad).reshape(shape), neg.reshape(shape))


def parse_share(cells: pd.Series, rows, path) -> np.ndarray:
    """谷电占比 cells (0.35 or 35%) as shares in 0–1."""
    v, _, bad, _ = parse_kwh(pd.DataFrame({"s": cells.astype(object).where(
        cells.notna(), None).map(lambda s: s.replace("%", "") if isinstance(s, str) else s)}))
    if bad.any():
        i = int(np.flatnonzero(bad[:, 0])[0])
        raise LayerError(f"{path}: row {rows[i]}: 谷电占比 {cells.iloc[i]!r} is not a share; "
                         "write 0.35 or 35%")
    v = v[:, 0]
    if np.nanmax(v, initial=0) > 1.0:
        v = v / 100.0
    return np.clip(v, 0, 1)


def user_ids(cells: pd.Series, rows, notes) -> tuple[pd.Series, np.ndarray]:
    """户号 as text; numbers from a workbook lose no '.0' (but may have lost zeros)."""
    kind = cells.map(type)
    is_num = cells.notna() & ~kind.eq(str)
    out = cells.where(~is_num, None).astype(object)
    if is_num.any():
        nums = pd.to_numeric(cells[is_num], errors="coerce")
        whole = nums.notna() & (nums % 1 == 0)
        txt = nums.astype("Int64", errors="ignore").astype(str) if whole.all() else nums.astype(str)
        out[is_num] = txt.to_numpy()
        notes.append(f"{int(is_num.sum())} 个户号是数字格式 (user ids stored as numbers): "
                     "leading zeros may be lost; format the 户号 column as text")
    s = out.astype(object).where(out.notna(), "").astype(str).str.normalize("NFKC").str.strip()
    s = s.str.lstrip("'")
    blank = (s == "").to_numpy()
    if blank.any():
        notes.append(f"跳过 {int(blank.sum())} 行无户号 (rows without 户号 skipped): rows "
                     f"{rows_text(rows[blank])}")
    return s, ~blank


def rows_text(rows, most: int = 5) -> str:
    """``2, 5, 9 … (+3)``: the first sheet rows of a list, for a message."""
    v = [str(int(r)) for r in rows]
    return ", ".join(v[:most]) + (f" … (+{len(v) - most})" if len(v) > most else "")


def title_year(tinfo) -> int | None:
    """The year written in a sheet's title rows (``2026年``), for ``1月`` headers."""
    for t in tinfo.titles:
        m = YEAR_IN_TITLE.search(t)
        if m:
            return int(m.group(1))
    return None
