"""Range-limited Euclidean distances on a grid (scipy's exact EDT).

Only the bounding box of the features grown by the range is transformed:
cells farther than the range from every feature never need a distance.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from riskmap.grid import Grid
from riskmap.grid.burn import point_cells


def _box(feature: np.ndarray, reach: int):
    rows = np.flatnonzero(feature.any(axis=1))
    cols = np.flatnonzero(feature.any(axis=0))
    n, m = feature.shape
    return (
        max(rows[0] - reach, 0),
        min(rows[-1] + reach + 1, n),
        max(cols[0] - reach, 0),
        min(cols[-1] + reach + 1, m),
    )


def distance_to_cells(feature: np.ndarray, cell: float, max_distance: float) -> np.ndarray:
    """Distance (m) from each cell centre to the nearest ``feature`` cell centre.

    Parameters
    ----------
    feature : numpy.ndarray of bool
        Cells holding a feature.
    cell : float
        Cell size in metres.
    max_distance : float
        Distances beyond this are not needed and are returned as ``inf``.

    Returns
    -------
    numpy.ndarray of float32
    """
    if not feature.any():
        return np.full(feature.shape, np.inf, dtype=np.float32)
    r0, r1, c0, c1 = _box(feature, math.ceil(max_distance / cell) + 1)
    d = edt(~feature[r0:r1, c0:c1], cell)
    d[d > max_distance] = np.inf
    if (r1 - r0, c1 - c0) == feature.shape:
        return d  # the features' reach covers the grid: no second full-size array
    out = np.full(feature.shape, np.inf, dtype=np.float32)
    out[r0:r1, c0:c1] = d
    return out


def edt(background: np.ndarray, cell: float) -> np.ndarray:
    """Exact Euclidean distance (m, float32) from each True cell to the nearest False one.

    Uses the ``edt`` package (several times faster than scipy, float32 out) and
    falls back to ``scipy.ndimage.distance_transform_edt``; both are exact.
    """
    try:
        import edt as _edt
    except ImportError:  # pragma: no cover - edt is a dependency; keep working without
        return ndimage.distance_transform_edt(background, sampling=cell).astype(np.float32)
    return _edt.edt(np.ascontiguousarray(background).view(np.uint8), anisotropy=(cell, cell),
                    black_border=False, parallel=1)


def distance_to_points(xs, ys, grid: Grid, max_distance: float) -> np.ndarray:
    """Distance (m) from each cell centre to the centre of the nearest cell holding a point.

    Within half a cell diagonal of the true distance; used for dense point
    layers with a long reach, where stamping each point would cost more (see
    :mod:`riskmap.grid.splat` for the exact method). The value does not depend on
    which of several equally near points the transform picks, so a tile gets
    the same distances as the whole grid. Points outside ``grid`` are not seen:
    callers pass a grid grown by the reach (:func:`riskmap.factors.with_halo`).
    """
    row, col, ok = point_cells(np.asarray(xs, float), np.asarray(ys, float), grid)
    feature = np.zeros(grid.shape, dtype=bool)
    feature[row[ok], col[ok]] = True
    return distance_to_cells(feature, grid.cell, max_distance)
