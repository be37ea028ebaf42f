"""Gauss-Krüger zones, axis order and datums of Chinese surveyors' tables.

:func:`detect_gk` finds which column holds the northing and whether the
easting carries a 3-degree zone prefix; :func:`gk_crs` builds the matching
CRS, refusing Xi'an 1980 and Beijing 1954 tables without transformation
parameters.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pyproj import CRS
from pyproj.crs import ProjectedCRS
from pyproj.crs.coordinate_operation import TransverseMercatorConversion

from riskmap.errors import LayerError

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
