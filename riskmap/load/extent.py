"""Where a layer lies against the district: the share inside, and features far outside.

A polygon layer's share inside is the share of its *area* inside (a neighbour
county that touches the boundary is 0 % inside, not 100 %); points and lines
count the features that touch the district. Features beyond a factor's reach
cannot change a cell: they are left out and named, so that one typo point
does not stretch a layer (or a map) across the country.
"""

from __future__ import annotations

import numpy as np
import shapely

from riskmap.crs.transform import transformer

__all__ = ["inside_share", "lonlat_of", "outside", "outside_reach"]


def inside_share(geoms, district) -> float:
    """Share of a layer inside ``district``: area for polygons, features touching it otherwise.

    Parameters
    ----------
    geoms : array of shapely geometries
        The layer, in the district's CRS.
    district : shapely geometry

    Returns
    -------
    float
        0–1; NaN for an empty layer.
    """
    geoms = np.asarray(geoms)
    if not len(geoms):
        return float("nan")
    poly = shapely.get_dimensions(geoms) == 2
    area = shapely.area(geoms[poly])
    total = float(area.sum())
    touch = shapely.intersects(geoms[~poly], district)
    if total > 0:
        shapely.prepare(district)
        inside = shapely.area(shapely.intersection(geoms[poly], district)).sum()
        poly_share = float(inside) / total
    else:
        poly_share = 0.0
    n_poly, n_other = int(poly.sum()), int((~poly).sum())
    return (poly_share * n_poly + float(touch.sum())) / (n_poly + n_other)


def outside(geoms, district, *, min_share: float = 0.01) -> np.ndarray:
    """Features outside ``district`` (bool per feature).

    A polygon is outside with less than ``min_share`` of its area inside (a
    neighbour touching the boundary); other features when they do not touch it.
    """
    geoms = np.asarray(geoms)
    out = ~shapely.intersects(geoms, district)
    poly = (shapely.get_dimensions(geoms) == 2) & ~out
    if poly.any():
        inside = shapely.area(shapely.intersection(geoms[poly], district))
        out[poly] = inside < min_share * shapely.area(geoms[poly])
    return out


def outside_reach(geoms, district, reach_m: float) -> np.ndarray:
    """Features farther than ``reach_m`` from ``district`` (bool per feature)."""
    geoms = np.asarray(geoms)
    if not len(geoms):
        return np.zeros(0, bool)
    area = shapely.buffer(district, reach_m) if reach_m > 0 else district
    shapely.prepare(area)
    return ~shapely.intersects(geoms, area)


def lonlat_of(geom, crs) -> tuple[float, float]:
    """Longitude, latitude (WGS84) of a feature's representative point."""
    p = shapely.point_on_surface(geom)
    lon, lat = transformer(crs, "EPSG:4326", always_xy=True).transform(p.x, p.y)
    return float(lon), float(lat)
