"""Both coordinates of a point in one cell, in every written form.

``111.7893,37.1506``, ``111.7893，37.1506``, ``111.78930 37.15060``,
``111.7893/37.1506``, latitude first (``37.1506,111.7893``), degree-minute-second
(``111°47'21.5"E 37°09'02.2"N``, ``111度47分21.5秒``), full-width digits,
labelled (``东经111.7893 北纬37.1506``, ``E111.7893 N37.1506``,
``经度:111.78930 纬度:37.15060``, ``N37.15 E111.78``, ``lon=…, lat=…``) and projected
pairs (``4112345.6, 548123.4``, ``X:4112345.6 Y:548123.4``) are read by
:func:`parse_pairs`, each distinct text once.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from riskmap.load.values._common import WIDTH, as_objects
from riskmap.load.values.angles import parse_angle_text, unify_marks

__all__ = ["DMS", "FULL_WIDTH", "LABELLED", "LAT_FIRST", "PROJECTED", "Pairs", "parse_pairs"]

#: flags of :attr:`Pairs.flags`: what was detected in a cell
LAT_FIRST, LABELLED, DMS, FULL_WIDTH, PROJECTED = 1, 2, 4, 8, 16
_FLAG_WORDS = {
    LAT_FIRST: ("纬度在前", "latitude first"),
    LABELLED: ("带标注", "labelled"),
    DMS: ("度分秒", "degrees-minutes-seconds"),
    FULL_WIDTH: ("全角数字", "full-width digits"),
    PROJECTED: ("平面坐标", "projected X/Y"),
}
_BLANK, _GEO, _XY, _BAD = range(4)
_SINGLE = "只有一个数 (a single number, not a pair of coordinates)"

_LON_WORDS = ("东经", "西经", "longitude", "long", "lng", "lon", "e", "w")
_LAT_WORDS = ("北纬", "南纬", "latitude", "lat", "n", "s")
_XY_WORDS = ("x坐标", "y坐标", "x", "y")
_NEGATIVE = {"西经", "南纬", "w", "s"}
_LABEL = "|".join(sorted((re.escape(w) for w in (*_LON_WORDS, *_LAT_WORDS, *_XY_WORDS)),
                         key=len, reverse=True))
_NUM = r"\d+(?:\.\d+)?"
_NOT_DEG = r"(?![\d.]|\s*°)"  # a minute or second, not the next degree
_TOKEN = re.compile(
    rf"(?P<lab>(?:{_LABEL})(?![a-z]))"
    rf"|(?P<num>[+-]?{_NUM}(?:\s*°(?:\s*{_NUM}{_NOT_DEG}\s*'?(?:\s*{_NUM}{_NOT_DEG}\s*\"?)?)?)?)"
    r"|(?P<sep>[\s,;:=/|()\[\]{}<>、。]+)", re.IGNORECASE)
_GLUED_DASH = re.compile(r"(?<=\d)-(?=\d)")  # 111.78-37.15: a separator, never a sign
_FULL_DIGITS = re.compile("[０-９．]")
_CHINA_LON, _CHINA_LAT = (73.0, 136.0), (18.0, 54.0)


@dataclass(frozen=True)
class Pairs:
    """What :func:`parse_pairs` read from a column of cells.

    Attributes
    ----------
    lon, lat : numpy.ndarray
        float64 degrees of the cells holding a longitude/latitude pair (latitude
        first or labelled put right), NaN elsewhere.
    x, y : numpy.ndarray
        float64 numbers of the cells holding a projected pair, as written
        (first, second) or as labelled (``X``, ``Y``), NaN elsewhere; which one
        is the northing is for :func:`riskmap.crs.gk.detect_gk` to say.
    bad : numpy.ndarray
        bool, True where a non-blank cell is not a coordinate pair.
    flags : numpy.ndarray
        int, per cell the sum of :data:`LAT_FIRST`, :data:`LABELLED`,
        :data:`DMS`, :data:`FULL_WIDTH`, :data:`PROJECTED` detected in it.
    reasons : numpy.ndarray
        object, per bad cell why it is not a pair (Chinese and English), else None.
    """

    lon: np.ndarray
    lat: np.ndarray
    x: np.ndarray
    y: np.ndarray
    bad: np.ndarray
    flags: np.ndarray
    reasons: np.ndarray

    @property
    def geographic(self) -> np.ndarray:
        """True where a cell holds a longitude/latitude pair."""
        return ~np.isnan(self.lon)

    @property
    def projected(self) -> np.ndarray:
        """True where a cell holds a projected (X/Y) pair."""
        return ~np.isnan(self.x)

    @property
    def blank(self) -> np.ndarray:
        """True where a cell is blank (empty, spaces, None, NaN)."""
        return ~self.bad & ~self.geographic & ~self.projected

    def how(self, i: int) -> str:
        """What was detected in cell ``i``, in words (``""`` for plain decimal lon, lat)."""
        f = int(self.flags[i])
        return ", ".join(f"{zh} ({en})" for bit, (zh, en) in _FLAG_WORDS.items() if f & bit)

    def summary(self) -> list[str]:
        """One line per kind of writing found, with its count of cells."""
        out = []
        for bit, (zh, en) in _FLAG_WORDS.items():
            n = int(((self.flags & bit) != 0).sum())
            if n:
                done = "已对调" if bit == LAT_FIRST else ""
                out.append(f"{n} 格{zh}{done} ({n} cell(s) {en}"
                           f"{', swapped' if bit == LAT_FIRST else ''})")
        return out


def parse_pairs(values) -> Pairs:
    """Read cells that hold both coordinates of a point.

    Parameters
    ----------
    values : sequence or pandas.Series
        Cells as read from a table. Text holding two numbers, separated by any
        punctuation or whitespace (``,``, ``，``, ``;``, ``/``, ``、``, spaces),
        each decimal or degree-minute-second (``111°47'21.5"``, ``111度47分21.5秒``,
        in full-width characters too), optionally labelled before or after
        (``东经``/``北纬``/``西经``/``南纬``, ``经度``/``纬度``, ``E``/``N``/``W``/``S``,
        ``lon``/``lat``, ``X``/``Y``). Unlabelled pairs are told apart by range: a
        latitude first (``37.15, 111.78``) is put right when only that order fits
        China (latitude 18–54, longitude 73–136) or the first value alone is
        within ±90. Two numbers beyond ±180 are a projected pair (metres).

    Returns
    -------
    Pairs
        Longitude/latitude or X/Y per cell, the bad cells with their reasons and
        what was detected (:attr:`Pairs.flags`). A number alone (a cell typed as
        a number) is not a pair: it is bad.

    Examples
    --------
    >>> p = parse_pairs(["东经111.7893 北纬37.1506", "37.1506,111.7893", "定位失败", None])
    >>> p.lon.round(4).tolist(), p.lat.round(4).tolist()
    ([111.7893, 111.7893, nan, nan], [37.1506, 37.1506, nan, nan])
    >>> p.bad.tolist(), p.how(1)
    ([False, False, True, False], '纬度在前 (latitude first)')
    """
    cells = pd.Series(as_objects(values), dtype=object)
    n = len(cells)
    kind = np.full(n, _BAD, dtype=np.int8)
    first, second = np.full(n, np.nan), np.full(n, np.nan)
    flags = np.zeros(n, dtype=np.int16)
    reasons = np.full(n, None, dtype=object)
    is_str = cells.map(type).eq(str).to_numpy()
    kind[~is_str & cells.isna().to_numpy()] = _BLANK
    reasons[~is_str & (kind == _BAD)] = _SINGLE
    if is_str.any():
        codes, uniques = pd.factorize(cells[is_str])
        parsed = [_parse_text(u) for u in uniques]
        k, a, b, f, r = (np.array(col, dtype=dt) for col, dt in zip(
            zip(*parsed, strict=True), (np.int8, float, float, np.int16, object), strict=True))
        kind[is_str], first[is_str], second[is_str] = k[codes], a[codes], b[codes]
        flags[is_str], reasons[is_str] = f[codes], r[codes]
    geo, xy = kind == _GEO, kind == _XY
    nan = np.full(n, np.nan)
    return Pairs(lon=np.where(geo, first, nan), lat=np.where(geo, second, nan),
                 x=np.where(xy, first, nan), y=np.where(xy, second, nan),
                 bad=kind == _BAD, flags=np.where(kind == _BAD, 0, flags), reasons=reasons)


def _bad(reason: str) -> tuple[int, float, float, int, str]:
    return _BAD, math.nan, math.nan, 0, reason


def _parse_text(s: str) -> tuple[int, float, float, int, str | None]:
    """(kind, first, second, flags, reason) of one text cell."""
    flags = FULL_WIDTH if _FULL_DIGITS.search(s) else 0
    # 经度/纬度 are labels: their 度 is no degree mark
    t = s.translate(WIDTH).replace("经度", "lon").replace("纬度", "lat")
    t = unify_marks(t).strip().strip("`").strip()
    if t.startswith("'"):  # Excel's text marker
        t = t[1:].strip()
    if not t:
        return _BLANK, math.nan, math.nan, 0, None
    t = _GLUED_DASH.sub(" ", t)
    tokens, pos = [], 0
    for m in _TOKEN.finditer(t):
        if m.start() != pos:
            break
        pos = m.end()
        if m["sep"] is None:
            tokens.append(("lab", m["lab"].lower()) if m["lab"] else ("num", m["num"]))
    if pos != len(t):
        return _bad(f"{s!r} 不是坐标 (not a pair of coordinates); write e.g. 111.7893,37.1506")
    nums = [v for k, v in tokens if k == "num"]
    if len(nums) == 1:
        return _bad(_SINGLE)
    if len(nums) != 2:
        return _bad(f"{s!r} 有 {len(nums)} 个数 ({len(nums)} numbers; a pair of coordinates "
                    "has two)")
    labels = _bind_labels(tokens)
    if labels is None:
        return _bad(f"{s!r}: 标注与数值对不上 (the labels do not go with the two numbers); "
                    "write e.g. 东经111.7893 北纬37.1506")
    vals = []
    for text in nums:
        if any(c in text for c in "°'\""):
            flags |= DMS
        v, _ = parse_angle_text(text)
        if v is None:
            return _bad(f"{s!r}: {text!r} 不是度分秒 (not degrees-minutes-seconds: minutes "
                        "and seconds are below 60)")
        vals.append(v)
    if any(labels):
        flags |= LABELLED
    return _assign(s, vals, labels, flags)


def _bind_labels(tokens) -> list[str | None] | None:
    """The label of each of the two numbers (None where unlabelled), or None if they clash.

    Labels come either all before their numbers (``东经111 北纬37``) or all after
    (``111°E 37°N``), as the first or the last token of the cell says.
    """
    if not any(k == "lab" for k, _ in tokens):
        return [None, None]
    prefix = tokens[0][0] == "lab"
    if not prefix and tokens[-1][0] != "lab":
        return None
    out, pending = [], None
    for k, v in tokens if prefix else reversed(tokens):
        if k == "lab":
            if pending is not None:
                return None
            pending = v
        else:
            out.append(pending)
            pending = None
    if pending is not None:
        return None
    return out if prefix else out[::-1]


def _category(label: str | None) -> str | None:
    if label is None:
        return None
    return "lon" if label in _LON_WORDS else "lat" if label in _LAT_WORDS else "xy"


def _assign(s: str, vals: list[float], labels: list[str | None], flags: int):
    """Longitude/latitude (or X/Y) from two numbers and their labels."""
    cats = [_category(lab) for lab in labels]
    a, b = vals
    if "xy" in cats:
        if any(c not in ("xy", None) for c in cats) or flags & DMS or labels[0] == labels[1]:
            return _bad(f"{s!r}: X/Y 标注与经纬度混用 (X/Y labels mixed with degrees)")
        if labels[0] == "y" or labels[0] == "y坐标" or labels[1] in ("x", "x坐标"):
            a, b = b, a
        return _XY, a, b, flags | PROJECTED, None
    for i, lab in enumerate(labels):
        if lab in _NEGATIVE:
            if vals[i] < 0:
                return _bad(f"{s!r}: 负号与西经/南纬同用 (a sign together with W/S)")
            vals[i] = -vals[i]
    a, b = vals
    if cats[0] is not None or cats[1] is not None:
        c0 = cats[0] or ("lat" if cats[1] == "lon" else "lon")
        c1 = cats[1] or ("lat" if c0 == "lon" else "lon")
        if c0 == c1:
            return _bad(f"{s!r}: 两个都是{'经度' if c0 == 'lon' else '纬度'} (both labelled "
                        f"{'longitude' if c0 == 'lon' else 'latitude'})")
        if c0 == "lat":
            a, b, flags = b, a, flags | LAT_FIRST
    elif not flags & DMS and abs(a) > 180 and abs(b) > 180:
        return _XY, a, b, flags | PROJECTED, None
    elif (abs(a) <= 90 < abs(b)) or (_in(a, _CHINA_LAT) and _in(b, _CHINA_LON)):
        a, b, flags = b, a, flags | LAT_FIRST
    if not (abs(a) <= 180 and abs(b) <= 90):
        return _bad(f"{s!r} 不是经纬度 (not a longitude/latitude: longitude within ±180, "
                    "latitude within ±90; two numbers in metres are X/Y)")
    return _GEO, a, b, flags, None


def _in(v: float, lo_hi: tuple[float, float]) -> bool:
    return lo_hi[0] <= v <= lo_hi[1]
