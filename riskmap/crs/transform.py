"""Coordinate transformers made once per process (and thread), not once per call.

Making a :class:`pyproj.Transformer` costs about 50 ms (PROJ searches its
database for the best operation); riskmap transforms between the same few CRS
dozens of times per command (every layer's axis check, every extent, every
exporter). A transformer is kept per thread because PROJ contexts are not
shared between threads.
"""

from __future__ import annotations

import threading

from pyproj import CRS, Transformer

__all__ = ["transformer"]

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
        t = cache[key] = Transformer.from_crs(src, dst, always_xy=always_xy)
    return t


def _key(crs) -> str:
    if isinstance(crs, str):
        return crs
    return CRS.from_user_input(crs).to_wkt()
