"""GCJ-02 (AMap, Tencent) and BD-09 (Baidu) to and from WGS84.

The inverses are *exact* and iterative: the forward transform of the result
matches the input to better than 1e-9 degree (about 0.1 mm).
:func:`looks_swapped_lonlat` flags points that only make sense in China with
longitude and latitude swapped.
"""

from __future__ import annotations

import math

import numpy as np

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
