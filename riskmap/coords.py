"""Coordinates as a bureau's tables really hold them.

Small pure functions, vectorised where the arithmetic allows it:

* :func:`parse_numbers` and :func:`parse_angles` read text cells (full-width
  digits, thousands separators, units, degree-minute-second strings) into
  float arrays and return a mask of the cells that could not be read, so a
  caller can name the rows;
* GCJ-02 (AMap, Tencent) and BD-09 (Baidu) to and from WGS84, with *exact*
  iterative inverses (the forward transform of the result matches the input
  to better than 1e-9 degree, about 0.1 mm);
* Gauss-Krüger helpers: :func:`detect_gk` finds which column of a surveyors'
  table holds the northing and whether the easting carries a 3-degree zone
  prefix; :func:`gk_crs` builds the matching CRS, refusing Xi'an 1980 and
  Beijing 1954 tables without transformation parameters;
* :func:`looks_swapped_lonlat` flags points that only make sense in China
  with longitude and latitude swapped.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pyproj import CRS
from pyproj.crs import ProjectedCRS
from pyproj.crs.coordinate_operation import TransverseMercatorConversion

from riskmap.errors import LayerError

__all__ = [
    "GKGuess",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "detect_gk",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "gk_crs",
    "looks_swapped_lonlat",
    "out_of_china",
    "parse_angles",
    "parse_numbers",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

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
# GCJ-02 and BD-09
# ---------------------------------------------------------------------------

_KRASOVSKY_A = 6378245.0
_KRASOVSKY_EE = 0.00669342162296594323
_X_PI = math.pi * 3000.0 / 180.0
_BD_DLON, _BD_DLAT = 0.0065, 0.006
_INVERSE_TOL = 1e-9  # degrees, about 0.1 mm
_INVERSE_MAX_ITER = 30


def _arrays(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Broadcast lon, lat to float64 arrays of one shape (copies)."""
    lon, lat = np.broadcast_arrays(np.asarray(lon, dtype=np.float64),
                                   np.asarray(lat, dtype=np.float64))
    return lon.copy(), lat.copy()


def out_of_china(lon, lat) -> np.ndarray:
    """Mask of points outside the rough China box the GCJ-02 formulas apply to.

    Parameters
    ----------
    lon, lat : array_like
        Degrees.

    Returns
    -------
    numpy.ndarray
        bool, True outside lon 72.004–137.8347, lat 0.8293–55.8271 (and for
        NaN), where every transform here returns the point unchanged.
    """
    lon, lat = _arrays(lon, lat)
    inside = (lon >= 72.004) & (lon <= 137.8347) & (lat >= 0.8293) & (lat <= 55.8271)
    return ~inside


def _gcj_offset(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 minus WGS84, in degrees, at a WGS84 point (the public formula)."""
    x = lon - 105.0
    y = lat - 35.0
    common = 20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
            + (common + 20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)
               + 160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y / 30.0 * np.pi)) * 2.0 / 3.0)
    dlon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
            + (common + 20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)
               + 150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0)
    rad = lat / 180.0 * np.pi
    magic = 1.0 - _KRASOVSKY_EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = dlat * 180.0 / (_KRASOVSKY_A * (1.0 - _KRASOVSKY_EE) / (magic * sqrt_magic) * np.pi)
    dlon = dlon * 180.0 / (_KRASOVSKY_A / sqrt_magic * np.cos(rad) * np.pi)
    return dlon, dlat


def _wgs_to_gcj_raw(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    dlon, dlat = _gcj_offset(lon, lat)
    return lon + dlon, lat + dlat


def _gcj_to_bd_raw(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    z = np.hypot(lon, lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    return z * np.cos(theta) + _BD_DLON, z * np.sin(theta) + _BD_DLAT


def _bd_to_gcj_approx(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = lon - _BD_DLON
    y = lat - _BD_DLAT
    z = np.hypot(x, y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def _invert(forward, lon: np.ndarray, lat: np.ndarray, x: np.ndarray,
            y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Solve ``forward(x, y) == (lon, lat)`` by fixed-point iteration from (x, y).

    The transforms here are the identity plus an offset that changes by
    about 0.2 % of the step per step, so each iteration gains some three
    digits; it stops per point when the forward residual is below 1e-9
    degree, or after 30 iterations.
    """
    x, y = x.copy(), y.copy()
    active = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
    for _ in range(_INVERSE_MAX_ITER):
        if active.size == 0:
            break
        fx, fy = forward(x[active], y[active])
        ex = fx - lon[active]
        ey = fy - lat[active]
        x[active] -= ex
        y[active] -= ey
        active = active[(np.abs(ex) >= _INVERSE_TOL) | (np.abs(ey) >= _INVERSE_TOL)]
    return x, y


def _masked(lon, lat, transform) -> tuple[np.ndarray, np.ndarray]:
    """Apply ``transform`` to the points inside China; the others stay as given."""
    lon, lat = _arrays(lon, lat)
    inside = ~out_of_china(lon, lat)
    out_lon, out_lat = lon.copy(), lat.copy()
    if inside.any():
        out_lon[inside], out_lat[inside] = transform(lon[inside], lat[inside])
    return out_lon, out_lat


def _gcj_to_wgs_exact(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    dlon, dlat = _gcj_offset(lon, lat)
    return _invert(_wgs_to_gcj_raw, lon, lat, lon - dlon, lat - dlat)


def _bd_to_gcj_exact(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return _invert(_gcj_to_bd_raw, lon, lat, *_bd_to_gcj_approx(lon, lat))


def wgs84_to_gcj02(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 to GCJ-02 (AMap, Tencent), by the public formula.

    Parameters
    ----------
    lon, lat : array_like
        WGS84 degrees.

    Returns
    -------
    lon, lat : numpy.ndarray
        GCJ-02 degrees; points outside China (:func:`out_of_china`) unchanged.
    """
    return _masked(lon, lat, _wgs_to_gcj_raw)


def gcj02_to_wgs84(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 to WGS84 by exact iterative inverse of :func:`wgs84_to_gcj02`.

    Starts from the usual one-step approximation (metres off) and iterates
    until the forward transform of the result matches the input to better
    than 1e-9 degree (at most 30 iterations; three or so in practice).

    Parameters
    ----------
    lon, lat : array_like
        GCJ-02 degrees.

    Returns
    -------
    lon, lat : numpy.ndarray
        WGS84 degrees; points outside China unchanged.
    """
    return _masked(lon, lat, _gcj_to_wgs_exact)


def gcj02_to_bd09(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 to BD-09 (Baidu), by the public formula.

    Parameters
    ----------
    lon, lat : array_like
        GCJ-02 degrees.

    Returns
    -------
    lon, lat : numpy.ndarray
        BD-09 degrees; points outside China unchanged.
    """
    return _masked(lon, lat, _gcj_to_bd_raw)


def bd09_to_gcj02(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """BD-09 to GCJ-02 by exact iterative inverse of :func:`gcj02_to_bd09`.

    Parameters
    ----------
    lon, lat : array_like
        BD-09 degrees.

    Returns
    -------
    lon, lat : numpy.ndarray
        GCJ-02 degrees; points outside China unchanged.
    """
    return _masked(lon, lat, _bd_to_gcj_exact)


def wgs84_to_bd09(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 to BD-09: :func:`wgs84_to_gcj02` then :func:`gcj02_to_bd09`.

    Parameters
    ----------
    lon, lat : array_like
        WGS84 degrees.

    Returns
    -------
    lon, lat : numpy.ndarray
        BD-09 degrees; points outside China unchanged.
    """
    return _masked(lon, lat, lambda x, y: _gcj_to_bd_raw(*_wgs_to_gcj_raw(x, y)))


def bd09_to_wgs84(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """BD-09 to WGS84: exact inverses of both steps of :func:`wgs84_to_bd09`.

    Parameters
    ----------
    lon, lat : array_like
        BD-09 degrees.

    Returns
    -------
    lon, lat : numpy.ndarray
        WGS84 degrees; points outside China unchanged.
    """
    return _masked(lon, lat, lambda x, y: _gcj_to_wgs_exact(*_bd_to_gcj_exact(x, y)))


def looks_swapped_lonlat(lon, lat) -> np.ndarray:
    """Mask of points that are plausible in China only with lon and lat swapped.

    Parameters
    ----------
    lon, lat : array_like
        Degrees as given in the table's longitude and latitude columns.

    Returns
    -------
    numpy.ndarray
        bool, True where lon is within 18–54 and lat within 73–136.
    """
    lon, lat = _arrays(lon, lat)
    return (lon >= 18.0) & (lon <= 54.0) & (lat >= 73.0) & (lat <= 136.0)


# ---------------------------------------------------------------------------
# Gauss-Krüger
# ---------------------------------------------------------------------------

# kinds of one coordinate value
_IGNORED, _NORTHING, _EAST_PREFIXED, _EAST_PLAIN, _IMPOSSIBLE = range(5)
_NORTHING_RANGE = (1_000_000.0, 6_200_000.0)
_EASTING_RANGE = (200_000.0, 800_000.0)
_ZONES = (25, 45)


def _classify(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kind and zone prefix (0 when none) of each value of one column."""
    with np.errstate(invalid="ignore"):
        zone = np.floor(np.clip(np.nan_to_num(v), 0.0, 1e9) / 1e6).astype(np.int64)
        rest = v - zone * 1e6
        kind = np.full(v.shape, _IMPOSSIBLE, dtype=np.int8)
        kind[(v >= _NORTHING_RANGE[0]) & (v < _NORTHING_RANGE[1])] = _NORTHING
        plain = (v >= _EASTING_RANGE[0]) & (v <= _EASTING_RANGE[1])
        kind[plain] = _EAST_PLAIN
        prefixed = ((v >= 1e7) & (v < 1e8) & (zone >= _ZONES[0]) & (zone <= _ZONES[1])
                    & (rest >= _EASTING_RANGE[0]) & (rest <= _EASTING_RANGE[1]))
        kind[prefixed] = _EAST_PREFIXED
        kind[~np.isfinite(v)] = _IGNORED
    zone = np.where(kind == _EAST_PREFIXED, zone, 0)
    return kind, zone


def _describe(kind: int, zone: int) -> str:
    if kind == _NORTHING:
        return "北坐标 (a northing)"
    if kind == _EAST_PREFIXED:
        return f"带号{zone}的东坐标 (an easting with zone prefix {zone})"
    return "不带带号的东坐标 (an easting without zone prefix)"


def _why_impossible(x: float) -> str:
    if x < 0:
        return "负数 (negative)"
    if 1e7 <= x < 1e8:
        z = int(x // 1e6)
        if not _ZONES[0] <= z <= _ZONES[1]:
            hint = ""
            if 13 <= z <= 23:
                hint = "; 6度带不支持 (6-degree zones are not supported)"
            return f"带号{z}不是中国的3度带 (zone prefix {z} is not a 3-degree zone 25–45{hint})"
    return ("不是中国的高斯-克吕格坐标 (not a Gauss-Krüger coordinate in China: northings have "
            "7 integer digits, 1,000,000–6,200,000; eastings 200,000–800,000, or 8 digits "
            "with a 3-degree zone prefix 25–45)")


def _column_kind(v: np.ndarray, name: str) -> tuple[int, int]:
    """(kind, zone) shared by every value of one column, or LayerError naming a row."""
    kind, zone = _classify(v)
    bad = np.flatnonzero(kind == _IMPOSSIBLE)
    if bad.size:
        i = int(bad[0])
        raise LayerError(f"row {i + 1}: {name} = {v[i]:,.3f} {_why_impossible(float(v[i]))}; "
                         "fix the value or the column")
    used = kind != _IGNORED
    if not used.any():
        raise LayerError(f"{name}列没有坐标 (column {name} holds no coordinates)")
    sig = kind.astype(np.int64) * 100 + zone
    values, counts = np.unique(sig[used], return_counts=True)
    if values.size > 1:
        # the majority sets the column's kind; ties go to the first row's kind
        best = values[counts == counts.max()]
        first = sig[np.flatnonzero(used)[0]]
        major = first if first in best else best[0]
        i = int(np.flatnonzero(used & (sig != major))[0])
        raise LayerError(
            f"row {i + 1}: {name} = {v[i]:,.3f} 是{_describe(kind[i], zone[i])}, 但{name}列其他行"
            f"是{_describe(major // 100, major % 100)} (column {name} mixes kinds of coordinates);"
            " fix the row or split the table")
    return int(values[0] // 100), int(values[0] % 100)


@dataclass(frozen=True)
class GKGuess:
    """What :func:`detect_gk` found in a two-column Gauss-Krüger table.

    Attributes
    ----------
    northing_col : int
        0 when the first column holds the northing, 1 when the second does.
    zone : int or None
        3-degree zone of the prefix on the eastings (central meridian
        ``3 * zone``), None when the eastings carry no prefix.
    prefixed : bool
        Whether the eastings carry the zone prefix.
    message : str
        One sentence for the user, Chinese and English.
    """

    northing_col: int
    zone: int | None
    prefixed: bool
    message: str

    def to_xy(self, a, b) -> tuple[np.ndarray, np.ndarray]:
        """Easting (zone prefix removed) and northing from the two columns.

        Parameters
        ----------
        a, b : array_like
            The two coordinate columns, in the order given to :func:`detect_gk`.

        Returns
        -------
        easting, northing : numpy.ndarray
            float64 metres; the easting has false easting 500,000 and no prefix.
        """
        cols = (np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
        northing = cols[self.northing_col].copy()
        easting = cols[1 - self.northing_col].copy()
        if self.prefixed:
            easting = easting - self.zone * 1e6
        return easting, northing


def detect_gk(a, b, *, names: tuple[str, str] = ("X", "Y")) -> GKGuess:
    """Tell which column of a surveyors' table is the northing, and the zone.

    Surveyors write X = northing (7 integer digits in China) and Y = easting,
    either with the 3-degree zone number in front (8 digits, e.g.
    38,512,345.6 is zone 38) or without it (6 digits around 500,000).
    The order is decided from the magnitudes, not from the header.

    Parameters
    ----------
    a, b : array_like
        The two coordinate columns as given; NaN and infinities are ignored.
    names : tuple of str, optional
        Column names used in messages (default ``("X", "Y")``).

    Returns
    -------
    GKGuess
        Column order, zone and a message saying what was detected.

    Raises
    ------
    LayerError
        Naming the first offending row (``row N`` = array index + 1) when a
        value is negative or no Gauss-Krüger coordinate in China, when a column
        mixes kinds (northings and eastings, prefixed and not, different
        zones), or when the columns are not one northing and one easting.
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    b = np.asarray(b, dtype=np.float64).reshape(-1)
    ka, za = _column_kind(a, names[0])
    kb, zb = _column_kind(b, names[1])
    if (ka == _NORTHING) == (kb == _NORTHING):
        what = "北坐标 (northings)" if ka == _NORTHING else "东坐标 (eastings)"
        raise LayerError(f"{names[0]}列和{names[1]}列都是{what}: need one column of northings "
                         "(7 integer digits) and one of eastings; check the columns chosen")
    northing_col = 0 if ka == _NORTHING else 1
    kind, zone = (kb, zb) if northing_col == 0 else (ka, za)
    n, e = names[northing_col], names[1 - northing_col]
    if kind == _EAST_PREFIXED:
        message = (f"{n}列为北坐标, {e}列为带号{zone}的东坐标 "
                   f"(northing in {n}, easting in {e} with zone prefix {zone})")
    else:
        message = (f"{n}列为北坐标, {e}列为不带带号的东坐标 "
                   f"(northing in {n}, easting in {e} without zone prefix)")
    return GKGuess(northing_col, zone if kind == _EAST_PREFIXED else None,
                   kind == _EAST_PREFIXED, message)


_DATUM_NAMES = {
    "cgcs2000": "CGCS2000",
    "xian80": "Xi'an 1980 (西安80)",
    "beijing54": "Beijing 1954 (北京54)",
    "wgs84": "WGS84",
}
# ellipsoids as PROJ parameters: IAG 1975 (Xi'an 1980) and Krassowsky (Beijing 1954)
_ELLIPSOIDS = {"xian80": "+a=6378140 +rf=298.257", "beijing54": "+a=6378245 +rf=298.3"}


def _central_meridian(zone: int | None, central_meridian: float | None) -> float:
    if zone is not None:
        if not (isinstance(zone, numbers.Integral) and _ZONES[0] <= zone <= _ZONES[1]):
            raise LayerError(f"zone {zone!r}: 3度带带号应为 25–45 (a 3-degree zone in China is "
                             "25–45, central meridian 3 × zone)")
        if central_meridian is not None and not math.isclose(central_meridian, 3 * zone):
            raise LayerError(f"zone {zone} has central meridian {3 * zone}E, not "
                             f"{central_meridian}E; give one of them")
        return float(3 * zone)
    if central_meridian is None:
        raise LayerError("give the zone (带号) or the central meridian (中央子午线) of the "
                         "Gauss-Krüger coordinates")
    cm = float(central_meridian)
    if not 72.0 <= cm <= 138.0:
        raise LayerError(f"central meridian {central_meridian}E is not in China (72–138E)")
    return cm


def gk_crs(datum: str, *, zone: int | None = None, central_meridian: float | None = None,
           prefixed: bool = False, towgs84: Sequence[float] | None = None) -> CRS:
    """CRS of a Gauss-Krüger table (3-degree zones, scale 1 on the central meridian).

    Parameters
    ----------
    datum : {"cgcs2000", "xian80", "beijing54", "wgs84"}
        Geodetic datum of the table.
    zone : int, optional
        3-degree zone 25–45; central meridian ``3 * zone``.
    central_meridian : float, optional
        Central meridian in degrees east, when no zone is given (or to
        confirm it); any meridian, for local systems.
    prefixed : bool, default False
        Whether the eastings the CRS is for *carry* the zone prefix (false
        easting ``zone * 1e6 + 500000``). :meth:`GKGuess.to_xy` strips the
        prefix, so pass False with the zone for its output.
    towgs84 : sequence of 3 or 7 float, optional
        Helmert parameters to WGS84 (dx, dy, dz in m; rx, ry, rz in
        arc-seconds; ds in ppm), required for ``xian80`` and ``beijing54``.
        PROJ reads the rotations in the position-vector convention (EPSG
        9606); parameters given in the coordinate-frame convention (EPSG
        9607) need their rotations negated.

    Returns
    -------
    pyproj.CRS
        For ``cgcs2000``: ``EPSG:4513 + zone - 25`` (prefixed) or
        ``EPSG:4534 + (cm - 75) / 3`` (not prefixed), e.g. zone 38 →
        EPSG:4526, CM 114E → EPSG:4547; a custom CGCS2000 transverse
        Mercator for other meridians. Otherwise a PROJ transverse Mercator.

    Raises
    ------
    LayerError
        Unknown datum, zone or meridian out of range or inconsistent, bad
        ``towgs84``, and Xi'an 1980 / Beijing 1954 without ``towgs84``.
    """
    key = str(datum).strip().lower()
    if key not in _DATUM_NAMES:
        raise LayerError(f"datum {datum!r}: 未知的坐标系 (unknown datum); use one of "
                         + ", ".join(_DATUM_NAMES))
    cm = _central_meridian(zone, central_meridian)
    if prefixed and zone is None:
        if cm % 3:
            raise LayerError(f"central meridian {cm:g}E is no 3-degree zone, so eastings cannot "
                             "carry a zone prefix; use prefixed=False")
        zone = int(cm // 3)
    x_0 = zone * 1_000_000 + 500_000 if prefixed else 500_000
    if key in ("cgcs2000", "wgs84") and towgs84 is not None:
        raise LayerError(f"towgs84 is only for Xi'an 1980 / Beijing 1954 tables, not {key}; "
                         "remove it or correct the datum")
    if key == "cgcs2000":
        if cm % 3 == 0 and 75 <= cm <= 135:
            epsg = 4513 + zone - 25 if prefixed else 4534 + int(cm - 75) // 3
            return CRS.from_epsg(epsg)
        conversion = TransverseMercatorConversion(
            latitude_natural_origin=0, longitude_natural_origin=cm,
            false_easting=x_0, false_northing=0, scale_factor_natural_origin=1)
        return CRS(ProjectedCRS(conversion, name=f"CGCS2000 / Gauss-Kruger CM {cm:g}E",
                                geodetic_crs=CRS.from_epsg(4490)))
    base = f"+proj=tmerc +lat_0=0 +lon_0={cm:g} +k=1 +x_0={x_0} +y_0=0"
    if key == "wgs84":
        return CRS.from_proj4(f"{base} +datum=WGS84 +units=m +no_defs +type=crs")
    if towgs84 is None:
        raise LayerError(
            f"坐标为{_DATUM_NAMES[key]}, 不会被当作CGCS2000 (the table is in "
            f"{_DATUM_NAMES[key]}, which is never treated as CGCS2000 silently: the datums "
            "differ by tens to over 100 m); give `towgs84: [dx, dy, dz, rx, ry, rz, ds]` "
            "from the surveying bureau (测绘部门提供的七参数) in the project file")
    try:
        params = [float(p) for p in towgs84]
    except (TypeError, ValueError):
        params = []
    if len(params) not in (3, 7) or not all(math.isfinite(p) for p in params):
        raise LayerError(f"towgs84 {towgs84!r}: need 3 or 7 numbers [dx, dy, dz, rx, ry, rz, ds] "
                         "(m, arc-seconds, ppm)")
    helmert = ",".join(repr(p) for p in params)
    return CRS.from_proj4(f"{base} {_ELLIPSOIDS[key]} +towgs84={helmert} +units=m +no_defs "
                          "+type=crs")
