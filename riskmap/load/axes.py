"""Coordinates written the wrong way round (x = northing, y = easting): found and swapped back.

A layer whose x hold northings and y eastings (a shapefile written by someone
who swapped them, with or without the right .prj) lands thousands of
kilometres off. Each feature is tested both ways against the area its CRS is
made for (:attr:`pyproj.CRS.area_of_use`; longitude/latitude for geographic
CRSs): a feature that fits only when swapped is swapped back, with a warning.
"""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS

from riskmap.crs.transform import transformer
from riskmap.errors import RiskmapWarning
from riskmap.load.sources.base import LayerInfo, named_rows

__all__ = ["swap_axes", "swapped_features"]

#: how far (degrees) outside its CRS's area of use a feature may lie and still fit
MARGIN_DEG = 1.0


def _fits(crs: CRS, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Whether each point (x, y) in ``crs`` lies in the area the CRS is made for."""
    with np.errstate(invalid="ignore", over="ignore"):
        if crs.is_geographic:
            return (np.abs(x) <= 180) & (np.abs(y) <= 90)
        aou = crs.area_of_use
        if aou is None:
            return np.ones(x.shape, bool)
        lon, lat = transformer(crs, "EPSG:4326", always_xy=True).transform(x, y)
        lon, lat = np.asarray(lon, float), np.asarray(lat, float)
        return (np.isfinite(lon) & np.isfinite(lat)
                & (lon >= aou.west - MARGIN_DEG) & (lon <= aou.east + MARGIN_DEG)
                & (lat >= aou.south - MARGIN_DEG) & (lat <= aou.north + MARGIN_DEG))


def swapped_features(geoms, crs) -> np.ndarray:
    """Features of ``geoms`` (in ``crs``) whose coordinates fit only with x and y swapped.

    Parameters
    ----------
    geoms : array of shapely geometries
        Non-empty geometries, finite coordinates.
    crs : pyproj.CRS or str

    Returns
    -------
    numpy.ndarray of bool
        One per feature: both corners of its bounding box fit swapped, and neither
        fits as written.
    """
    crs = CRS.from_user_input(crs)
    b = shapely.bounds(np.asarray(geoms))
    if not len(b):
        return np.zeros(0, bool)
    xs, ys = np.concatenate([b[:, 0], b[:, 2]]), np.concatenate([b[:, 1], b[:, 3]])
    n = len(b)
    as_is = _fits(crs, xs, ys)
    swapped = _fits(crs, ys, xs)
    return ~as_is[:n] & ~as_is[n:] & swapped[:n] & swapped[n:]


def swap_axes(gdf: gpd.GeoDataFrame, source, info: LayerInfo) -> gpd.GeoDataFrame:
    """``gdf`` with features written northing-first swapped back, named in a warning."""
    flip = swapped_features(gdf.geometry.values, gdf.crs)
    if not flip.any():
        return gdf
    geoms = np.asarray(gdf.geometry.values).copy()
    geoms[flip] = shapely.transform(geoms[flip], lambda xy: xy[:, ::-1])
    out = gdf.set_geometry(gpd.GeoSeries(geoms, index=gdf.index, crs=gdf.crs))
    rows = (gdf["_row"].to_numpy() if "_row" in gdf.columns
            else gdf.index.to_numpy() + 1).astype(object)
    pos = np.flatnonzero(flip)
    c = shapely.get_coordinates(geoms[pos[0]])[0]
    what = ("every feature" if flip.all()
            else f"{len(pos)} of {len(gdf)} features, rows {named_rows(gdf, pos, rows)}")
    msg = (f"{source}: 坐标轴颠倒 (x holds northings, y eastings — axes swapped): {what}; "
           f"swapped back (e.g. ({c[1]:.0f}, {c[0]:.0f}) read as ({c[0]:.0f}, {c[1]:.0f}) in "
           f"{info.crs}); fix the file to be sure")
    info.detected.append(f"x/y swapped in {'the whole layer' if flip.all() else what}")
    warnings.warn(msg, RiskmapWarning, stacklevel=3)
    return out
