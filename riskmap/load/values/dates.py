"""Dates as offices write them: date cells, Excel serials, text, month-day without a year."""

from __future__ import annotations

import datetime as dt
import math
import numbers
import re
import unicodedata

import numpy as np
import pandas as pd

from riskmap.load.values._common import PLAIN, as_objects

_DASHES = dict.fromkeys(map(ord, "‐‑‒–—―−－"), "-")
_DATE_YMD = re.compile(r"(\d{4})\s*[年./\-]\s*(\d{1,2})\s*[月./\-]\s*(\d{1,2})\s*[日号]?")
_DATE_MD = re.compile(r"(\d{1,2})\s*[月./\-]\s*(\d{1,2})\s*[日号]?")
_DATE_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})")
_TIME_TAIL = re.compile(r"(?:\s+|T)\d{1,2}[:：]\d{2}(?:[:：]\d{2}(?:\.\d+)?)?"
                        r"(?:Z|[+-]\d{2}:?\d{2})?$|\s*(?:上午|下午|晚上|时)$")
_EXCEL_EPOCH = dt.date(1899, 12, 30)
_EXCEL_SERIALS = (20000, 80000)  # 1954 .. 2119 as Excel day numbers


def clean_text(v) -> str:
    """A cell as text: NFKC (full-width → ASCII), dashes unified, Excel's ``'`` dropped."""
    if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    s = unicodedata.normalize("NFKC", str(v)).translate(_DASHES).strip()
    return s[1:].strip() if s.startswith("'") else s


def _nearest_year(month: int, day: int, near: dt.date) -> dt.date:
    best = None
    for y in (near.year - 1, near.year, near.year + 1):
        try:
            d = dt.date(y, month, day)
        except ValueError:
            continue
        if best is None or abs((d - near).days) < abs((best - near).days):
            best = d
    if best is None:
        raise ValueError(f"日期 {month}月{day}日 不存在 (no such date)")
    return best


def parse_date(v, near: dt.date | None = None, *, what: str = "日期") -> dt.date | None:
    """A date from a cell: a real date, an Excel serial or text as offices write it.

    Parameters
    ----------
    v : object
        ``datetime``/``date``/``Timestamp``, an Excel serial number (1954–2119),
        ``20231205``, or text: ``2023-12-05``, ``2023/12/5``, ``2023.12.5``,
        ``2023年12月5日``, ``２０２３年１２月５日`` (full-width), ``12月5日``
        or ``12.5`` (month and day), optionally followed by a time.
    near : datetime.date, optional
        For a date written without a year: the year that puts it nearest to
        ``near`` (the sheet's week, the title's or file name's date).
    what : str
        The column's name, for messages.

    Returns
    -------
    datetime.date or None
        None for a blank cell.

    Raises
    ------
    ValueError
        Text that is not a date, an impossible date, or a date without a year
        when ``near`` is not known; the message says what to write instead.
    """
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, dt.datetime):  # pandas Timestamp too
        return v.date()
    if isinstance(v, dt.date):
        return v
    if isinstance(v, np.datetime64):
        return None if np.isnat(v) else pd.Timestamp(v).date()
    if isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)):
        f = float(v)
        if _EXCEL_SERIALS[0] <= f < _EXCEL_SERIALS[1]:
            return _EXCEL_EPOCH + dt.timedelta(days=int(f))
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
        if PLAIN.fullmatch(s) and "." not in s:
            f = float(s)
            if _EXCEL_SERIALS[0] <= f < _EXCEL_SERIALS[1]:  # a serial kept as text
                return _EXCEL_EPOCH + dt.timedelta(days=int(f))
        if m := _DATE_MD.fullmatch(s):
            if near is None:
                raise ValueError(f"{what} {s!r} 没有年份 (no year); write the year "
                                 "(2023-12-05), or put the week or a date in the sheet's "
                                 "title or file name")
            return _nearest_year(int(m[1]), int(m[2]), near)
    except ValueError as e:
        if "没有年份" in str(e) or "不存在" in str(e):
            raise
        raise ValueError(f"{what} {s!r} 不存在 (no such date)") from None
    raise ValueError(f"{what} {s!r} 无法识别 (not a date); write it like 2023-12-05")


def parse_dates(values, near: dt.date | None = None, *, what: str = "日期"
                ) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
    """Parse a column of dates (each distinct value once).

    Parameters
    ----------
    values : array_like
        Cells of one column, as read (datetimes, serials, text).
    near : datetime.date, optional
        See :func:`parse_date`.
    what : str
        The column's name, for messages.

    Returns
    -------
    dates : numpy.ndarray
        ``datetime64[D]``, NaT for blank and unreadable cells.
    bad : numpy.ndarray
        bool, True where a non-blank cell is not a date.
    errors : dict
        Position → message for every bad cell (so a caller can list every row).
    """
    obj = as_objects(values)
    out = np.full(len(obj), np.datetime64("NaT"), dtype="datetime64[D]")
    bad = np.zeros(len(obj), dtype=bool)
    errors: dict[int, str] = {}
    cache: dict = {}
    for i, v in enumerate(obj):
        try:
            key = (type(v), v)
            hash(key)
        except TypeError:
            key = None
        if key is not None and key in cache:
            res = cache[key]
        else:
            try:
                res = parse_date(v, near, what=what)
            except ValueError as e:
                res = e
            if key is not None:
                cache[key] = res
        if isinstance(res, ValueError):
            bad[i] = True
            errors[i] = str(res)
        elif res is not None:
            out[i] = np.datetime64(res, "D")
    return out, bad, errors


def date_of(v, what: str = "日期") -> dt.date | None:
    """A single date value (project keys, options); ``ValueError`` names ``what``."""
    return parse_date(v, None, what=what)


_FIND_YMD = re.compile(r"(\d{4})\s*[年./\-]\s*(\d{1,2})\s*[月./\-]\s*(\d{1,2})\s*[日号]?"
                       r"|(?<!\d)(\d{4})(\d{2})(\d{2})(?!\d)")
_FIND_MD = re.compile(r"(?<![\d.])(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]?")


def find_dates(text) -> list[dt.date]:
    """Every date written in a text, in order (titles, file names, validity ranges).

    Full dates (``2023-12-04``, ``2023年12月4日``, ``20231204``) and, after a full
    date, month-day dates that take its year (``2023年12月04日—12月10日`` gives
    both days; a month before the previous one moves to the next year).
    Impossible dates are skipped.

    Examples
    --------
    >>> find_dates("2015年3月1日至2025年3月1日")
    [datetime.date(2015, 3, 1), datetime.date(2025, 3, 1)]
    """
    s = clean_text(text)
    found: list[tuple[int, dt.date]] = []
    taken = []
    for m in _FIND_YMD.finditer(s):
        y, mo, d = (m[1], m[2], m[3]) if m[1] else (m[4], m[5], m[6])
        try:
            found.append((m.start(), dt.date(int(y), int(mo), int(d))))
            taken.append(m.span())
        except ValueError:
            continue
    for m in _FIND_MD.finditer(s):
        if any(a <= m.start() < b for a, b in taken):
            continue
        before = [d for pos, d in found if pos < m.start()]
        if not before:
            continue
        prev = before[-1]
        year = prev.year + (1 if int(m[1]) < prev.month else 0)
        try:
            found.append((m.start(), dt.date(year, int(m[1]), int(m[2]))))
        except ValueError:
            continue
    return [d for _, d in sorted(found, key=lambda t: t[0])]
