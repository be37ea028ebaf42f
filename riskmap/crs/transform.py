"""Coordinate transformers made once per process (and thread), and found fast across processes.

Making a :class:`pyproj.Transformer` from two CRS costs about 0.1 s (PROJ searches
its database for the best operation), and every riskmap command makes several
(every layer's axis check, every extent, the web map's image and bounds); a build's
output workers and every command of a weekly routine paid it again. So:

* a transformer is kept per thread (PROJ contexts are not shared between threads);
* the operation PROJ chose is kept on disk (:func:`riskmap.load.cachedir.cache_dir`,
  ``proj/``) as its pipeline, keyed by both CRS, the axis order and the PROJ and
  pyproj versions, and the next process makes the transformer from that pipeline
  (0.2 ms). Only a single, fully known operation is kept (never one that PROJ picks
  point by point among several), and only after the pipeline has given the same
  coordinates as the search's transformer on the source CRS's area of use.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading

import numpy as np
import pyproj
from pyproj import CRS, Transformer

from riskmap.load.cachedir import cache_dir

__all__ = ["to_crs", "transformer"]

log = logging.getLogger(__name__)
_local = threading.local()


def transformer(src, dst, always_xy: bool = True) -> Transformer:
    """The transformer from ``src`` to ``dst``, made on first use in this thread.

    Parameters
    ----------
    src, dst : str, pyproj.CRS or anything :class:`pyproj.CRS` accepts
        Source and target CRS.
    always_xy : bool
        Longitude/easting first whatever the CRS's axis order (riskmap's rule).

    Returns
    -------
    pyproj.Transformer
    """
    cache = getattr(_local, "cache", None)
    if cache is None:
        cache = _local.cache = {}
    key = (_key(src), _key(dst), always_xy)
    t = cache.get(key)
    if t is None:
        t = cache[key] = _made(*key)
    return t


def to_crs(geo, crs):
    """``geo`` (GeoDataFrame or GeoSeries) in ``crs``, as ``geo.to_crs(crs)`` does it.

    Through :func:`transformer`: GeoPandas makes its own transformer on the first use of
    each pair in a process (PROJ's search, ~0.1 s); this one comes from the kept
    pipeline. Z values are kept.
    """
    import geopandas as gpd
    import shapely

    dst = CRS.from_user_input(crs)
    if geo.crs is None:
        raise ValueError("cannot transform geometries without a CRS")
    if geo.crs.is_exact_same(dst):
        return geo.copy()
    t = transformer(geo.crs, dst)
    arr = np.asarray(geo.geometry.values)
    if shapely.has_z(arr).any():
        def move(c):
            x, y = t.transform(c[:, 0], c[:, 1])
            return np.column_stack([x, y, c[:, 2]])

        moved = shapely.transform(arr, move, include_z=True)
    else:
        moved = shapely.transform(arr, lambda c: np.column_stack(t.transform(c[:, 0], c[:, 1])))
    series = gpd.GeoSeries(moved, index=geo.index, crs=dst, name=geo.geometry.name)
    if isinstance(geo, gpd.GeoSeries):
        return series
    out = geo.copy()
    out[geo.geometry.name] = series
    return out


def _key(crs) -> str:
    if isinstance(crs, str):
        return crs
    return CRS.from_user_input(crs).to_wkt()


def _made(src: str, dst: str, always_xy: bool) -> Transformer:
    """From the kept pipeline where there is one; else by PROJ's search (then kept)."""
    name = hashlib.sha256(json.dumps([src, dst, always_xy, pyproj.__version__,
                                      pyproj.proj_version_str]).encode()).hexdigest()[:24]
    path = cache_dir() / "proj" / f"{name}.txt"
    try:  # the pipeline's digest, then the pipeline: a torn or edited file is searched again
        digest, pipeline = path.read_text(encoding="ascii").split("\n", 1)
        if digest == hashlib.sha256(pipeline.encode("ascii")).hexdigest():
            return Transformer.from_pipeline(pipeline)
    except (OSError, UnicodeError, ValueError, pyproj.exceptions.ProjError):
        pass
    t = Transformer.from_crs(src, dst, always_xy=always_xy)
    pipeline = _single_pipeline(t, src)
    if pipeline is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # no temporary and rename: the digest line tells a whole file from a torn one
            path.write_text(hashlib.sha256(pipeline.encode("ascii")).hexdigest() + "\n"
                            + pipeline, encoding="ascii")
        except OSError as exc:  # a read-only cache: only slower
            log.debug("cannot keep a PROJ pipeline in %s: %s", path.parent, exc)
    return t


def _single_pipeline(t: Transformer, src: str) -> str | None:
    """``t``'s operation as a pipeline, if it is one known operation that gives the same points."""
    definition = t.definition or ""
    if not definition.startswith("proj=") or not definition.isascii():
        return None  # several candidate operations (chosen per point) or none yet
    try:
        again = Transformer.from_pipeline(definition)
        area = CRS.from_user_input(src).area_of_use
        lon = np.linspace(area.west, area.east, 5) if area else np.zeros(1)
        lat = np.linspace(area.south, area.north, 5) if area else np.zeros(1)
        x, y = _points(src, lon, lat)
        a = np.column_stack(t.transform(x, y))
        b = np.column_stack(again.transform(x, y))
    except (pyproj.exceptions.ProjError, pyproj.exceptions.CRSError, ValueError):
        return None
    ok = np.isfinite(a).all() and np.allclose(a, b, rtol=0, atol=1e-9 * max(1.0, np.abs(a).max()))
    return definition if ok else None


def _points(src: str, lon: np.ndarray, lat: np.ndarray):
    """Points of ``src`` over its area of use (from lon/lat by a plain PROJ search)."""
    crs = CRS.from_user_input(src)
    if crs.is_geographic:
        return lon, lat
    back = Transformer.from_crs(crs.geodetic_crs, crs, always_xy=True)
    return back.transform(lon, lat)
