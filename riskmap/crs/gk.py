"""Gauss-Krüger zones, axis order and datums of Chinese surveyors' tables.

:func:`detect_gk` finds which column holds the northing and whether the
easting carries a 3-degree zone prefix, repairs the rows that differ from the
others (values swapped, prefix added or missing) and names every row it
cannot read; :func:`gk_crs` builds the matching CRS, refusing Xi'an 1980 and
Beijing 1954 tables without transformation parameters.
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


class _Problems:
    """Offending rows grouped by reason, for one message that names every row."""

    def __init__(self, labels: np.ndarray):
        self.labels = labels
        self.groups: dict[tuple[str, str], list[tuple[int, str]]] = {}

    def add(self, pos, detail, reason: str, fix: str) -> None:
        for i in np.atleast_1d(pos):
            self.groups.setdefault((reason, fix), []).append((int(i), detail(int(i))))

    def raise_if_any(self) -> None:
        if not self.groups:
            return
        parts = []
        for (reason, fix), items in sorted(self.groups.items(), key=lambda kv: min(kv[1])):
            items.sort()
            if len(items) == 1:
                i, detail = items[0]
                parts.append(f"row {self.labels[i]}: {detail} {reason}; {fix}")
            else:
                rows = ", ".join(str(self.labels[i]) for i, _ in items)
                vals = ", ".join(f"{d} on row {self.labels[i]}" for i, d in items)
                parts.append(f"rows {rows}: {reason} ({vals}); {fix}")
        raise LayerError("; ".join(parts))


def _rows_text(labels: np.ndarray, pos) -> str:
    return ", ".join(str(labels[i]) for i in pos)


@dataclass(frozen=True)
class GKGuess:
    """What :func:`detect_gk` found in a two-column Gauss-Krüger table.

    Attributes
    ----------
    northing_col : int
        0 when the first column holds the northing (in most rows), 1 when the
        second does.
    zone : int or None
        3-degree zone of the prefix on the eastings (central meridian
        ``3 * zone``), None when most eastings carry no prefix.
    prefixed : bool
        Whether most eastings carry the zone prefix.
    message : str
        One sentence for the user, Chinese and English.
    swapped : tuple of int
        Positions of the rows whose two values are the other way round from the
        other rows' (put right by :meth:`to_xy`).
    prefix_added : tuple of int
        Positions of the rows whose easting lacks the prefix the others carry.
    prefix_removed : tuple of int
        Positions of the rows whose easting carries a prefix the others lack.
    row_zone : int or None
        The zone of the prefix on the ``prefix_removed`` rows: the table's own
        statement of its zone when most eastings carry none.
    repairs : tuple of str
        One sentence per repair, naming every row (as labelled by ``rows``).
    """

    northing_col: int
    zone: int | None
    prefixed: bool
    message: str
    swapped: tuple[int, ...] = ()
    prefix_added: tuple[int, ...] = ()
    prefix_removed: tuple[int, ...] = ()
    row_zone: int | None = None
    repairs: tuple[str, ...] = ()

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
            Rows in :attr:`swapped` are put right.
        """
        cols = (np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
        swap = np.zeros(cols[0].shape, dtype=bool)
        swap[list(self.swapped)] = True
        north, east = cols[self.northing_col], cols[1 - self.northing_col]
        northing, easting = np.where(swap, east, north), np.where(swap, north, east)
        with np.errstate(invalid="ignore"):
            prefixed = easting >= 1e7
        return np.where(prefixed, easting - np.floor(easting / 1e6) * 1e6, easting), northing


def detect_gk(a, b, *, names: tuple[str, str] = ("X", "Y"), rows=None) -> GKGuess:
    """Tell which column of a surveyors' table is the northing, and the zone.

    Surveyors write X = northing (7 integer digits in China) and Y = easting,
    either with the 3-degree zone number in front (8 digits, e.g.
    38,512,345.6 is zone 38) or without it (6 digits around 500,000).
    The order is decided from the magnitudes, not from the header. The kinds
    never overlap, so a row that differs from the others is unambiguous: a
    row with its two values swapped, or whose easting carries the zone prefix
    while the others do not (or lacks the one the others carry), is repaired
    and named in :attr:`GKGuess.repairs`.

    Parameters
    ----------
    a, b : array_like
        The two coordinate columns as given; NaN and infinities are ignored.
    names : tuple of str, optional
        Column names used in messages (default ``("X", "Y")``).
    rows : array_like, optional
        Row labels for messages (the sheet rows the user sees); default
        array index + 1.

    Returns
    -------
    GKGuess
        Column order, zone, repairs and a message saying what was detected.

    Raises
    ------
    LayerError
        Naming **every** offending row (``row N`` / ``rows N, M``): values that
        are negative or no Gauss-Krüger coordinate in China, rows with two
        northings or two eastings, eastings in another zone than the others';
        or when a column holds nothing, or the columns are not one northing and
        one easting.
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    b = np.asarray(b, dtype=np.float64).reshape(-1)
    labels = np.arange(1, a.size + 1) if rows is None else np.asarray(rows).reshape(-1)
    for v, name in ((a, names[0]), (b, names[1])):
        if not np.isfinite(v).any():
            raise LayerError(f"{name}列没有坐标 (column {name} holds no coordinates)")
    (ka, za), (kb, zb) = _classify(a), _classify(b)
    problems = _Problems(labels)
    for v, k, name in ((a, ka, names[0]), (b, kb, names[1])):
        for i in np.flatnonzero(k == _IMPOSSIBLE):
            problems.add(i, lambda j, v=v, name=name: f"{name} = {v[j]:,.3f}",
                         _why_impossible(float(v[i])), "fix the value or the column")
    east = (_EAST_PREFIXED, _EAST_PLAIN)
    a_n, b_n, a_e, b_e = ka == _NORTHING, kb == _NORTHING, np.isin(ka, east), np.isin(kb, east)
    both = (a_n & b_n) | (a_e & b_e)
    forward, backward = (a_n | b_e) & ~both, (b_n | a_e) & ~both
    if both.any() and not (forward | backward).any():
        what = "北坐标 (northings)" if (a_n & b_n).any() else "东坐标 (eastings)"
        raise LayerError(f"{names[0]}列和{names[1]}列都是{what}: need one column of northings "
                         "(7 integer digits) and one of eastings; check the columns chosen")
    pair = lambda j: f"{names[0]} = {a[j]:,.3f}, {names[1]} = {b[j]:,.3f}"  # noqa: E731
    problems.add(np.flatnonzero(a_n & b_n), pair, "两个都是北坐标 (both are northings)",
                 "fix the row")
    problems.add(np.flatnonzero(a_e & b_e), pair, "两个都是东坐标 (both are eastings)",
                 "fix the row")
    n_f, n_b = int(forward.sum()), int(backward.sum())
    first_f = bool(forward[np.flatnonzero(forward | backward)[0]]) if n_f + n_b else True
    northing_col = 0 if n_f > n_b or (n_f == n_b and first_f) else 1
    swapped = np.flatnonzero(backward if northing_col == 0 else forward)
    if swapped.size and n_f == n_b:  # as many rows each way: no majority to repair by
        problems.add(swapped, pair, f"{names[0]}与{names[1]}的顺序与其他行相反, 且各占一半 "
                     f"({names[0]} and {names[1]} the other way round from as many other rows: "
                     "cannot tell which order is right)", "fix the rows")
    # the easting of every row, wherever it was written
    ke, ze = np.where(forward, kb, ka), np.where(forward, zb, za)
    ev, e_col = np.where(forward, b, a), np.where(forward, 1, 0)
    guess = _zones(ke, ze, ev, e_col, names, problems)
    problems.raise_if_any()
    zone, added, removed, row_zone = guess
    n, e = names[northing_col], names[1 - northing_col]
    if zone is not None:
        message = (f"{n}列为北坐标, {e}列为带号{zone}的东坐标 "
                   f"(northing in {n}, easting in {e} with zone prefix {zone})")
    else:
        message = (f"{n}列为北坐标, {e}列为不带带号的东坐标 "
                   f"(northing in {n}, easting in {e} without zone prefix)")
    repairs = []
    if swapped.size:
        r = _rows_text(labels, swapped)
        repairs.append(f"第 {r} 行{n}与{e}对调, 已换回 (rows {r}: {n} and {e} swapped, put "
                       f"back: the other rows hold the northing in {n})")
    if added.size:
        r = _rows_text(labels, added)
        repairs.append(f"第 {r} 行东坐标缺少带号{zone}, 按其他行补上 (rows {r}: the easting "
                       f"lacks the zone prefix {zone} that the other rows carry; read in zone "
                       f"{zone})")
    if removed.size:
        r = _rows_text(labels, removed)
        repairs.append(f"第 {r} 行东坐标带有带号{row_zone}, 已去除 (rows {r}: the easting "
                       f"carries the zone prefix {row_zone} while the other rows carry none; "
                       "removed)")
    return GKGuess(northing_col, zone, zone is not None, message,
                   tuple(int(i) for i in swapped), tuple(int(i) for i in added),
                   tuple(int(i) for i in removed), row_zone, tuple(repairs))


def _zones(ke, ze, ev, e_col, names, problems: _Problems):
    """(zone, prefix-added rows, prefix-removed rows, their zone) from every row's easting.

    The prefix most eastings carry (or none) is the table's; a row with another
    zone's prefix is an offending row.
    """
    used = np.isin(ke, (_EAST_PREFIXED, _EAST_PLAIN))
    none = np.array([], dtype=int)
    if not used.any():  # every easting is refused already
        return None, none, none, None
    sig = np.where(ke == _EAST_PREFIXED, ze, 0)
    values, counts = np.unique(sig[used], return_counts=True)
    best = values[counts == counts.max()]
    first = sig[np.flatnonzero(used)[0]]
    major = int(first if first in best else best[0])  # ties go to the first row's kind
    detail = lambda j: f"{names[e_col[j]]} = {ev[j]:,.3f}"  # noqa: E731
    n_major = int(counts[values == major][0])
    if major:
        plain = np.flatnonzero(used & (sig == 0))
        if plain.size >= n_major:  # as many rows each way: no majority to repair by
            problems.add(plain, detail, f"是不带带号的东坐标, 但同样多的行是带号{major}的东坐标 "
                         f"(an easting without zone prefix, and as many rows with prefix "
                         f"{major}: cannot tell which is right)", "fix the rows")
        other = np.flatnonzero(used & (sig != major) & (sig != 0))
        for z in np.unique(sig[other]):
            problems.add(other[sig[other] == z], detail,
                         f"是带号{z}的东坐标, 但其他行是带号{major}的东坐标 (an easting in zone "
                         f"{z} among eastings with zone prefix {major}: the table mixes zones)",
                         "fix the row or split the table")
        return major, np.flatnonzero(used & (sig == 0)), none, None
    removed = np.flatnonzero(used & (sig != 0))
    zones = np.unique(sig[removed])
    if zones.size > 1:
        for z in zones:
            problems.add(removed[sig[removed] == z], detail,
                         f"是带号{z}的东坐标, 但其他行不带带号, 带号不一 (an easting with zone "
                         f"prefix {z}; the other rows carry none and the prefixed rows disagree "
                         f"on the zone: {', '.join(map(str, zones))})", "fix the rows")
        return None, none, none, None
    if removed.size >= n_major:
        problems.add(removed, detail, f"是带号{zones[0]}的东坐标, 但同样多的行不带带号 (an "
                     f"easting with zone prefix {zones[0]}, and as many rows without: cannot "
                     "tell which is right)", "fix the rows")
    return None, none, removed, (int(zones[0]) if zones.size else None)


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
