"""The central meridian of Gauss-Krüger eastings that carry no zone prefix.

The numbers alone cannot say it; the table's own prefixed rows, the project's
working CRS or the district can (:class:`CoordHints` carries what the project
knows, passed down by the callers: readers never import upwards).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from pyproj import CRS
from pyproj.exceptions import CRSError

from riskmap.crs.transform import transformer

__all__ = ["CoordHints", "resolve_meridian", "working_meridian"]

_SAMPLE = 2000  # points tried per candidate zone
_MARGIN_DEG = 0.05  # around the district's bounds


@dataclass(frozen=True)
class CoordHints:
    """What the project knows that a coordinate table may need.

    Attributes
    ----------
    working_crs : str, optional
        The project's working CRS (``EPSG:4546``): a Gauss-Krüger CRS gives the
        central meridian of eastings without a zone prefix.
    district_lonlat : tuple of float, optional
        The district's bounds in WGS84 degrees ``(west, south, east, north)``:
        the 3-degree zone that puts the points inside it.
    """

    working_crs: str | None = None
    district_lonlat: tuple[float, float, float, float] | None = None


def working_meridian(crs) -> float | None:
    """Central meridian (°E) of a Gauss-Krüger CRS (transverse Mercator, scale 1), else None."""
    if crs is None:
        return None
    try:
        crs = CRS.from_user_input(crs)
    except CRSError:
        return None
    op = crs.coordinate_operation if crs.is_projected else None
    if op is None or "transverse mercator" not in op.method_name.lower():
        return None
    params = {p.name.lower(): p.value for p in op.params}
    cm = next((v for k, v in params.items() if "longitude of natural origin" in k), None)
    k0 = next((v for k, v in params.items() if "scale factor" in k), None)
    if cm is None or k0 is None or not math.isclose(k0, 1.0) or not 72.0 <= cm <= 138.0:
        return None
    return float(cm)


def _district_meridian(easting, northing, bounds) -> tuple[float | None, float]:
    """The 3-degree meridian putting most points inside ``bounds``, and that share."""
    ok = np.isfinite(easting) & np.isfinite(northing)
    e, n = np.asarray(easting)[ok], np.asarray(northing)[ok]
    if e.size == 0:
        return None, 0.0
    step = max(1, e.size // _SAMPLE)
    e, n = e[::step], n[::step]
    west, south, east, north = bounds
    best, share = None, 0.0
    for cm in range(75, 136, 3):
        if not west - 4.5 <= cm <= east + 4.5:
            continue
        tr = transformer(f"+proj=tmerc +lon_0={cm} +k=1 +x_0=500000 +ellps=GRS80 "
                         "+units=m +no_defs +type=crs", "EPSG:4326", always_xy=True)
        lon, lat = tr.transform(e, n)
        inside = ((lon >= west - _MARGIN_DEG) & (lon <= east + _MARGIN_DEG)
                  & (lat >= south - _MARGIN_DEG) & (lat <= north + _MARGIN_DEG))
        s = float(inside.mean())
        if s > share:
            best, share = float(cm), s
    return (best, share) if share >= 0.5 else (None, share)


def resolve_meridian(easting, northing, *, row_zone: int | None = None, zone_rows: str = "",
                     hints: CoordHints | None = None) -> tuple[float | None, str]:
    """Central meridian of eastings without zone prefix, and a sentence saying whence.

    In order: the prefix that a few rows carry (``row_zone``), the project's
    working CRS (:attr:`CoordHints.working_crs`, if Gauss-Krüger), the district
    (the 3-degree zone whose meridian puts most points inside
    :attr:`CoordHints.district_lonlat`). When the district is known it has the
    last word: a meridian that puts the points outside it is not used.

    Parameters
    ----------
    easting, northing : array_like
        Metres, eastings without prefix (false easting 500,000).
    row_zone : int, optional
        The zone of the prefix carried by some rows (:attr:`GKGuess.row_zone`).
    zone_rows : str, optional
        Those rows, for the sentence.
    hints : CoordHints, optional

    Returns
    -------
    (float or None, str)
        The meridian (°E) and a sentence (Chinese and English) for the detected
        notes; None and the reason when nothing tells it or the sources disagree.
    """
    hints = hints or CoordHints()
    stated = []  # (meridian, Chinese, English)
    if row_zone:
        stated.append((3.0 * row_zone, f"第 {zone_rows} 行的带号{row_zone}",
                       f"the zone prefix {row_zone} on rows {zone_rows}"))
    wcm = working_meridian(hints.working_crs)
    if wcm is not None:
        stated.append((wcm, f"项目坐标系 {hints.working_crs}",
                       f"the project's working CRS {hints.working_crs}"))
    dcm, share = None, 0.0
    if hints.district_lonlat is not None:
        dcm, share = _district_meridian(np.asarray(easting, float),
                                        np.asarray(northing, float), hints.district_lonlat)
    cms = sorted({cm for cm, _, _ in stated})
    if dcm is not None:
        zh, en = "本区范围", f"the district ({share:.0%} of the points fall inside it)"
        agree = [s for s in stated if s[0] == dcm]
        if agree:
            zh = "、".join(z for _, z, _ in agree) + f", 与{zh}相符"
            en = "; ".join(e for _, _, e in agree) + f", as {en}"
        elif cms:
            others = ", ".join(f"{c:g}E" for c in cms)
            zh += f" ({'、'.join(z for _, z, _ in stated)}所示的 {others} 会使点落在本区外)"
            en += (f", not {others} from {'; '.join(e for _, _, e in stated)}, which would put "
                   "the points outside the district")
        return dcm, _said(dcm, zh, en)
    if len(cms) == 1:
        return cms[0], _said(cms[0], "、".join(z for _, z, _ in stated),
                             "; ".join(e for _, _, e in stated))
    if len(cms) > 1:
        both = " and ".join(f"{e} gives {c:g}E" for c, _, e in stated)
        return None, f"中央经线不一致 (the central meridian is unclear: {both})"
    if hints.district_lonlat is not None:
        return None, ("没有哪个3度带使这些点落在本区内 (no 3-degree zone puts the points inside "
                      "the district)")
    return None, ""


def _said(cm: float, zh: str, en: str) -> str:
    return (f"东坐标不带带号, 中央经线 {cm:g}°E 取自{zh} (eastings without zone prefix: "
            f"central meridian {cm:g}E from {en})")
