"""Range-limited Euclidean distances on a grid (scipy's exact EDT).

Only the bounding box of the features grown by the range is transformed:
cells farther than the range from every feature never need a distance.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from riskmap.burn import point_cells
from riskmap.grid import Grid


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
    out = np.full(feature.shape, np.inf, dtype=np.float32)
    if not feature.any():
        return out
    r0, r1, c0, c1 = _box(feature, math.ceil(max_distance / cell) + 1)
    d = edt(~feature[r0:r1, c0:c1], cell)
    d[d > max_distance] = np.inf
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
    """Distance (m) from each cell centre to the nearest point.

    The EDT finds the nearest occupied cell; the distance is then measured to
    the true position of a point inside it (exact for a lone point) and capped
    by the centre-to-centre distance, so the result is always within half a
    cell diagonal of the truth. Points outside ``grid`` are not seen: callers
    pass a grid grown by the reach (see :func:`riskmap.factors.with_halo`).
    """
    xs, ys = np.asarray(xs, float), np.asarray(ys, float)
    row, col, ok = point_cells(xs, ys, grid)
    out = np.full(grid.shape, np.inf, dtype=np.float32)
    if not ok.any():
        return out
    row, col, xs, ys = row[ok], col[ok], xs[ok], ys[ok]
    feature = np.zeros(grid.shape, dtype=bool)
    feature[row, col] = True
    px = np.zeros(grid.shape, dtype=np.float64)
    py = np.zeros(grid.shape, dtype=np.float64)
    px[row, col] = xs
    py[row, col] = ys
    r0, r1, c0, c1 = _box(feature, math.ceil(max_distance / grid.cell) + 1)
    sub = ~feature[r0:r1, c0:c1]
    d0, (ir, ic) = ndimage.distance_transform_edt(sub, sampling=grid.cell, return_indices=True)
    ir += r0
    ic += c0
    cx = grid.x_centres()[c0:c1][None, :]
    cy = grid.y_centres()[r0:r1][:, None]
    # the point in the nearest occupied cell is not always the nearest point:
    # the centre-to-centre distance bounds the error to half a cell diagonal
    d = np.minimum(np.hypot(cx - px[ir, ic], cy - py[ir, ic]), d0).astype(np.float32)
    d[d > max_distance] = np.inf
    out[r0:r1, c0:c1] = d
    return out
