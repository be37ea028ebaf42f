"""The one parser per value kind: numbers and angles as bureau tables hold them.

:func:`parse_numbers` and :func:`parse_angles` read text cells (full-width
digits, thousands separators, units, degree-minute-second strings) into float
arrays and return a mask of the cells that could not be read, so a caller can
name the rows.
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
import re
import unicodedata
from collections.abc import Callable

import numpy as np
import pandas as pd

# ---------------------------------------------------------------------------
# Text normalisation shared by the parsers
# ---------------------------------------------------------------------------

# Full-width ASCII (U+FF01..U+FF5E) to ASCII, and the odd spaces and dashes of
# office software to their plain forms.
_WIDTH = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)}
_WIDTH.update({
    0x3000: 0x20,  # ideographic space
    0x00A0: 0x20,  # no-break space
    0x2007: 0x20,  # figure space
    0x2009: 0x20,  # thin space
    0x202F: 0x20,  # narrow no-break space
    0x2212: 0x2D,  # minus sign
    0x2013: 0x2D,  # en dash
    0xFE63: 0x2D,  # small hyphen-minus
})
_QUOTES = "'\"`‘’“”"
_PLAIN = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_GROUPED = re.compile(r"[+-]?\d{1,3}(?P<sep>[, ])\d{3}(?:(?P=sep)\d{3})*(?:\.\d*)?")
_UNIT = re.compile(r"\s*(?:m|米)$")


def _as_objects(values) -> np.ndarray:
    """1-D object array of the values, exactly as given (no string coercion)."""
    if isinstance(values, (str, bytes)):
        raise TypeError("values must be a sequence of cells, not one string")
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out


def _numeric_fast_path(values) -> np.ndarray | None:
    """Float64 copy of an array/Series with a plain numeric dtype, else None."""
    dtype = getattr(values, "dtype", None)
    if isinstance(dtype, np.dtype) and dtype.kind in "fiu":
        return np.asarray(values, dtype=np.float64).reshape(-1)
    return None


def _number_cell(v) -> tuple[float | None, bool]:
    """(value, is_blank) for a non-string cell; value None means unreadable."""
    if v is None or v is pd.NA or v is pd.NaT:
        return None, True
    if isinstance(v, (bool, np.bool_)):
        return None, False
    if isinstance(v, numbers.Real):
        f = float(v)
        if math.isnan(f):
            return None, True
        return (f if math.isfinite(f) else None), False
    return None, False


def _parse_number_str(s: str) -> tuple[float | None, bool]:
    """(value, is_blank) for one text cell."""
    t = s.translate(_WIDTH).strip().strip(_QUOTES).strip()
    if not t:
        return None, True
    t = _UNIT.sub("", t).strip().strip(_QUOTES).strip()
    if _PLAIN.fullmatch(t):
        f = float(t)
    elif m := _GROUPED.fullmatch(t):
        f = float(t.replace(m["sep"], ""))
    else:
        return None, False
    return (f if math.isfinite(f) else None), False


def _parse_cells(values, parse_str: Callable[[str], tuple[float | None, bool]],
                 check: Callable[[float], bool]) -> tuple[np.ndarray, np.ndarray]:
    """Apply a text parser to every cell, once per distinct string."""
    cells = _as_objects(values)
    out = np.full(cells.shape, np.nan)
    bad = np.zeros(cells.shape, dtype=bool)
    cache: dict[str, tuple[float | None, bool]] = {}
    for i, v in enumerate(cells):
        if isinstance(v, str):
            if v not in cache:
                cache[v] = parse_str(v)
            f, blank = cache[v]
        else:
            f, blank = _number_cell(v)
        if f is not None and check(f):
            out[i] = f
        elif not blank:
            bad[i] = True
    return out, bad


def parse_numbers(values) -> tuple[np.ndarray, np.ndarray]:
    """Read numbers from table cells as they come from Excel, CSV or a surveyor.

    Parameters
    ----------
    values : sequence or pandas.Series
        Cells: ``str``, ``int``, ``float``, ``None`` or NaN. Text may use
        full-width digits and punctuation (``４１９０１２３．５``, ``－``, ``＋``,
        full-width space), thousands separators (``4,190,123.5``,
        ``4 190 123.5``; a comma is never a decimal mark), surrounding spaces
        and quotes, a leading ``'`` (Excel's text marker) and the unit suffix
        ``m`` or ``米``.

    Returns
    -------
    numbers : numpy.ndarray
        float64, NaN where a cell is blank or unreadable.
    bad : numpy.ndarray
        bool, True where a cell holds something that is not a number
        (text, ``True``/``False``, infinity). Blank cells (empty or spaces,
        ``None``, NaN) are NaN and *not* bad.
    """
    fast = _numeric_fast_path(values)
    if fast is not None:
        bad = np.isinf(fast)
        return np.where(bad, np.nan, fast), bad
    return _parse_cells(values, _parse_number_str, lambda f: True)


# ---------------------------------------------------------------------------
# Angles
# ---------------------------------------------------------------------------

_DEG_MARKS = str.maketrans({"º": "°", "˚": "°", "度": "°"})
_MIN_MARKS = str.maketrans({"′": "'", "’": "'", "‘": "'", "´": "'", "分": "'"})
_SEC_MARKS = str.maketrans({"″": '"', "”": '"', "“": '"', "〃": '"', "秒": '"'})
_HEMI_PREFIX = re.compile(r"^(东经|北纬|西经|南纬|[NSEWnsew])\s*[:：]?\s*")
_HEMI_SUFFIX = re.compile(r"\s*([NSEWnsew])$")
_NEGATIVE_HEMI = {"西经", "南纬", "W", "S", "w", "s"}
_N = r"\d+(?:\.\d*)?"
_ANGLE_FORMS = (
    re.compile(rf"(?P<d>{_N})\s*°?"),
    re.compile(rf"(?P<d>{_N})\s*°\s*(?P<m>{_N})\s*'?"),
    re.compile(rf"(?P<d>{_N})\s*°\s*(?P<m>{_N})\s*'\s*(?P<s>{_N})\s*\"?"),
    re.compile(rf"(?P<d>{_N}):(?P<m>{_N})(?::(?P<s>{_N}))?"),
    re.compile(rf"(?P<d>{_N})\s+(?P<m>{_N})(?:\s+(?P<s>{_N}))?"),
)


def _parse_angle_str(s: str) -> tuple[float | None, bool]:
    """(decimal degrees, is_blank) for one text cell."""
    t = s.translate(_WIDTH).strip()
    if not t or not t.strip(_QUOTES).strip():
        return None, True
    if t.startswith("'"):  # Excel's text marker; an angle never starts with a minute mark
        t = t[1:].strip()
    t = t.translate(_DEG_MARKS).translate(_MIN_MARKS).replace("''", '"').translate(_SEC_MARKS)
    sign = 1.0
    hemi = None
    if m := _HEMI_PREFIX.match(t):
        hemi, t = m[1], t[m.end():]
    if m := _HEMI_SUFFIX.search(t):
        if hemi is not None:
            return None, False
        hemi, t = m[1], t[: m.start()]
    if t and t[0] in "+-":
        if hemi is not None:
            return None, False
        sign, t = (-1.0 if t[0] == "-" else 1.0), t[1:].lstrip()
    if hemi in _NEGATIVE_HEMI:
        sign = -1.0
    for form in _ANGLE_FORMS:
        if m := form.fullmatch(t):
            break
    else:
        return None, False
    d, mi, se = m["d"], m.groupdict().get("m"), m.groupdict().get("s")
    # only the last component may carry decimals
    if (mi is not None and "." in d) or (se is not None and "." in mi):
        return None, False
    minutes = float(mi) if mi is not None else 0.0
    seconds = float(se) if se is not None else 0.0
    if minutes >= 60 or seconds >= 60:
        return None, False
    return sign * (float(d) + minutes / 60.0 + seconds / 3600.0), False


def parse_angles(values) -> tuple[np.ndarray, np.ndarray]:
    """Read longitudes or latitudes in decimal degrees or degree-minute-second text.

    Parameters
    ----------
    values : sequence or pandas.Series
        Cells: numbers (decimal degrees) or text such as ``113.5225``,
        ``113°31'20.5"``, ``113°31′20.5″``, ``113度31分20.5秒``,
        ``113:31:20.5``, ``113 31 20.5``, ``113°31.342'``, in full-width
        characters too, with an optional sign, hemisphere letter before or
        after (``E``/``N``/``W``/``S``; W and S are negative) or a
        ``东经``/``北纬``/``西经``/``南纬`` prefix.

    Returns
    -------
    degrees : numpy.ndarray
        float64 decimal degrees, NaN where a cell is blank or unreadable.
    bad : numpy.ndarray
        bool, True where a cell is not an angle: unreadable text, minutes or
        seconds of 60 or more, decimals on a component that is not the last,
        a sign together with a hemisphere, or a value beyond ±180°.
        Blank cells are NaN and *not* bad.
    """
    fast = _numeric_fast_path(values)
    if fast is not None:
        bad = ~(np.abs(fast) <= 180.0) & ~np.isnan(fast)
        return np.where(bad, np.nan, fast), bad
    return _parse_cells(values, _parse_angle_str, lambda f: abs(f) <= 180.0)


# ---------------------------------------------------------------------------
# Dates
# ---------------------------------------------------------------------------

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
        if _PLAIN.fullmatch(s) and "." not in s:
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
    obj = _as_objects(values)
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
