"""A grid's values warped to another CRS by nearest neighbour, without GDAL's per-call set-up.

``rasterio.warp.calculate_default_transform`` and ``reproject`` each make a GDAL
coordinate transformation, about 0.1 s per call (PROJ looks up its database);
a build warps every area's classes to Web Mercator for map.html, so that set-up
was most of the image's time. Here the transformer is the process's cached one
(:func:`riskmap.crs.transform.transformer`), the target extent and pixel size are
found as GDAL does (the source's edges densified; the pixel size of one source cell at the
centre), and source coordinates are exact on a coarse lattice of target
pixels and interpolated in between: the map between two conformal projections
is smooth, so over 16 pixels the interpolation is off by far less than a cell.
"""

from __future__ import annotations

import math

import numpy as np
from affine import Affine

from riskmap.crs.transform import transformer
from riskmap.grid import Grid

__all__ = ["warp_nearest"]

#: target pixels between exactly transformed lattice points
STEP = 16
#: points per source edge when finding the target extent (GDAL samples 21)
EDGE_POINTS = 21


def warp_nearest(values: np.ndarray, grid: Grid, dst_crs, nodata=0
                 ) -> tuple[np.ndarray, Affine]:
    """``values`` (on ``grid``) resampled onto a north-up grid in ``dst_crs``.

    Parameters
    ----------
    values : numpy.ndarray
        2-D array shaped like ``grid``.
    grid : Grid
    dst_crs : str or pyproj.CRS
    nodata : scalar
        Value of target pixels that fall outside the source grid.

    Returns
    -------
    warped : numpy.ndarray
        Same dtype as ``values``.
    transform : affine.Affine
        Of the target pixels' corners in ``dst_crs``.
    """
    left, bottom, right, top = grid.bounds
    fwd = transformer(grid.crs, dst_crs)
    s = np.linspace(0.0, 1.0, EDGE_POINTS)
    ex = np.concatenate([left + s * (right - left), np.full_like(s, right),
                         right - s * (right - left), np.full_like(s, left)])
    ey = np.concatenate([np.full_like(s, bottom), bottom + s * (top - bottom),
                         np.full_like(s, top), top - s * (top - bottom)])
    tx, ty = fwd.transform(ex, ey)
    x0, x1, y0, y1 = float(np.min(tx)), float(np.max(tx)), float(np.min(ty)), float(np.max(ty))
    # a conformal map keeps a cell square: one cell's step at the centre is the pixel size
    cx, cy = (left + right) / 2, (bottom + top) / 2
    px, py = fwd.transform(np.array([cx, cx + grid.cell, cx]), np.array([cy, cy, cy + grid.cell]))
    res = min(math.hypot(px[1] - px[0], py[1] - py[0]), math.hypot(px[2] - px[0], py[2] - py[0]))
    w, h = max(1, math.ceil((x1 - x0) / res)), max(1, math.ceil((y1 - y0) / res))
    transform = Affine(res, 0.0, x0, 0.0, -res, y1)

    # source coordinates of target pixel centres: exact on a lattice, bilinear between
    lc = np.unique(np.r_[np.arange(0, w, STEP), w - 1])
    lr = np.unique(np.r_[np.arange(0, h, STEP), h - 1])
    gx, gy = np.meshgrid(x0 + (lc + 0.5) * res, y1 - (lr + 0.5) * res)
    sx, sy = transformer(dst_crs, grid.crs).transform(gx.ravel(), gy.ravel())
    # in source cells from the grid's corner: float32 keeps 1e-4 cell over 1,000 cells
    fc = ((np.asarray(sx) - grid.x0) / grid.cell).reshape(gx.shape)
    fr = ((grid.y0 - np.asarray(sy)) / grid.cell).reshape(gx.shape)
    c = np.floor(_interp2(fc, lr, lc, h, w))
    r = np.floor(_interp2(fr, lr, lc, h, w))
    inside = (c >= 0) & (c < grid.ncols) & (r >= 0) & (r < grid.nrows)
    out = np.full((h, w), nodata, dtype=values.dtype)
    out[inside] = values[r[inside].astype(np.intp), c[inside].astype(np.intp)]
    return out, transform


def _interp2(v: np.ndarray, lr: np.ndarray, lc: np.ndarray, h: int, w: int) -> np.ndarray:
    """``v`` (known at rows ``lr`` × columns ``lc``) interpolated bilinearly to ``h`` × ``w``."""
    cols = np.arange(w)
    along = np.empty((len(lr), w), dtype=np.float32)
    for i in range(len(lr)):  # a few dozen lattice rows, not cells
        along[i] = np.interp(cols, lc, v[i])
    if len(lr) == 1:
        return np.broadcast_to(along[0], (h, w)).copy()
    rows = np.arange(h)
    j = np.clip(np.searchsorted(lr, rows, side="right") - 1, 0, len(lr) - 2)
    t = ((rows - lr[j]) / (lr[j + 1] - lr[j])).astype(np.float32)[:, None]
    out = along[j + 1] - along[j]  # a + t (b - a), in place
    out *= t
    out += along[j]
    return out
