"""Longitudes and latitudes in one cell: decimal degrees or degree-minute-second text."""

from __future__ import annotations

import re

import numpy as np

from riskmap.load.values._common import QUOTES, WIDTH, numeric_fast_path, parse_cells

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


def unify_marks(t: str) -> str:
    """Degree, minute and second marks (``度分秒``, ``′″``, ``º``) as ``°``, ``'`` and ``"``."""
    return t.translate(_DEG_MARKS).translate(_MIN_MARKS).replace("''", '"').translate(_SEC_MARKS)


def parse_angle_text(s: str) -> tuple[float | None, bool]:
    """(decimal degrees, is_blank) for one text cell."""
    t = s.translate(WIDTH).strip()
    if not t or not t.strip(QUOTES).strip():
        return None, True
    if t.startswith("'"):  # Excel's text marker; an angle never starts with a minute mark
        t = t[1:].strip()
    t = unify_marks(t)
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
    fast = numeric_fast_path(values)
    if fast is not None:
        bad = ~(np.abs(fast) <= 180.0) & ~np.isnan(fast)
        return np.where(bad, np.nan, fast), bad
    return parse_cells(values, parse_angle_text, lambda f: abs(f) <= 180.0)
