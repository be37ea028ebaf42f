"""Range-limited Euclidean distances on a grid (an exact EDT, only near the features).

Cells farther than the range from every feature never need a distance, so the
transform runs only on boxes around the features grown by the range: the
features are grouped into tiles, each tile's features get a box, and the
tiling that transforms the fewest cells is used (one box for compact
features, many small ones for scattered polygons or a long line). Each box's
distances are exact for its own features, and every cell within range of a
feature lies in that feature's box, so the smallest value over the boxes is
the exact distance within range. The result equals one transform of the
whole grid cell for cell.
"""

from __future__ import annotations

import math
import os

import numpy as np
from scipy import ndimage

from riskmap.grid import Grid
from riskmap.grid.blocks import block_any
from riskmap.grid.burn import point_cells

#: cells a box costs beyond its area (the call and the min-merge), in transformed cells
_BOX_OVERHEAD = 4096
_MAX_BOXES = 400
#: largest box given to scipy's transform (it releases the GIL; float64 temporaries)
_SCIPY_MAX_CELLS = 1 << 22


def feature_boxes(feature: np.ndarray, reach: int) -> list[tuple[int, int, int, int]]:
    """``(r0, r1, c0, c1)`` boxes to transform: together they hold every feature grown by ``reach``.

    Parameters
    ----------
    feature : numpy.ndarray of bool
        Cells holding a feature (at least one).
    reach : int
        Cells each box extends beyond its features (the range and one cell).
    """
    n, m = feature.shape
    b = max(4, reach // 4)
    occ = block_any(feature, b)
    rb, cb = np.nonzero(occ)
    best = None
    tile = 1
    while True:
        key = (rb // tile) * (occ.shape[1] // tile + 1) + cb // tile
        order = np.argsort(key, kind="stable")
        k = key[order]
        start = np.r_[0, np.flatnonzero(np.diff(k)) + 1]
        if start.size <= _MAX_BOXES:
            r, c = rb[order], cb[order]
            r0 = np.maximum(np.minimum.reduceat(r, start) * b - reach, 0)
            r1 = np.minimum((np.maximum.reduceat(r, start) + 1) * b + reach, n)
            c0 = np.maximum(np.minimum.reduceat(c, start) * b - reach, 0)
            c1 = np.minimum((np.maximum.reduceat(c, start) + 1) * b + reach, m)
            cost = int(((r1 - r0) * (c1 - c0)).sum()) + _BOX_OVERHEAD * start.size
            if best is None or cost < best[0]:
                best = (cost, list(zip(r0.tolist(), r1.tolist(), c0.tolist(), c1.tolist(),
                                       strict=True)))
        if start.size == 1:
            break
        tile *= 2
    return best[1]


def distance_to_cells(feature: np.ndarray, cell: float, max_distance: float,
                      halo: int = 0, support: list | None = None) -> np.ndarray:
    """Distance (m) from each cell centre to the nearest ``feature`` cell centre.

    Parameters
    ----------
    feature : numpy.ndarray of bool
        Cells holding a feature.
    cell : float
        Cell size in metres.
    max_distance : float
        Distances beyond this are not needed and are returned as ``inf``.
    halo : int
        ``feature`` covers the wanted grid grown by this many cells on every side
        (features beyond the edge count); the result is the wanted grid only.
    support : list, optional
        Receives ``(r0, r1, c0, c1)`` boxes of the result outside which every
        distance is ``inf``.

    Returns
    -------
    numpy.ndarray of float32
    """
    n, m = feature.shape[0] - 2 * halo, feature.shape[1] - 2 * halo
    out = np.full((n, m), np.inf, dtype=np.float32)
    if not feature.any():
        return out
    r2 = np.float32(max_distance)
    parts = []  # each box's part on the wanted grid, in the box's and the output's indices
    for r0, r1, c0, c1 in feature_boxes(feature, math.ceil(max_distance / cell) + 1):
        a0, a1 = max(r0, halo), min(r1, halo + n)
        b0, b1 = max(c0, halo), min(c1, halo + m)
        if a1 > a0 and b1 > b0:  # else: features in the halo only, too far to reach the grid
            parts.append(((r0, r1, c0, c1), (a0 - halo, a1 - halo, b0 - halo, b1 - halo)))

    table = offset_table(cell, math.ceil(max_distance / cell) + 1, max_distance)
    for (r0, r1, c0, c1), (a0, a1, b0, b1) in parts:
        bg = ~feature[r0:r1, c0:c1]
        rows = slice(a0 + halo - r0, a1 + halo - r0)
        cols = slice(b0 + halo - c0, b1 + halo - c0)
        if _scipy_takes(bg.size):
            d = _ranged_scipy(bg, cell, rows, cols, table)
        else:
            d = edt(bg, cell)[rows, cols]
            d[d > r2] = np.inf
        view = out[a0:a1, b0:b1]
        if support is not None:
            support.append((a0, a1, b0, b1))
        if len(parts) == 1:
            view[...] = d
        else:
            np.minimum(view, d, out=view)
    return out


def edt(background: np.ndarray, cell: float) -> np.ndarray:
    """Exact Euclidean distance (m, float32) from each True cell to the nearest False one.

    Two exact transforms give the same float32 values: the ``edt`` package is the
    faster one alone but holds the GIL while it works, scipy's releases it, so
    with several CPUs (the engine computes factors on threads) boxes up to
    ``_SCIPY_MAX_CELLS`` go to scipy (its float64 temporaries stay small) and
    larger ones to ``edt`` on its own threads.
    """
    if _scipy_takes(background.size):
        return ndimage.distance_transform_edt(background, sampling=cell).astype(np.float32)
    import edt as _edt

    return _edt.edt(np.ascontiguousarray(background).view(np.uint8), anisotropy=(cell, cell),
                    black_border=False, parallel=min(4, os.cpu_count() or 1))


def _scipy_takes(size: int) -> bool:
    """Whether a box of ``size`` cells goes to scipy's transform (see :func:`edt`)."""
    try:
        import edt  # noqa: F401
    except ImportError:  # pragma: no cover - edt is a dependency; keep working without
        return True
    return (os.cpu_count() or 1) > 1 and size <= _SCIPY_MAX_CELLS


def offset_table(cell: float, lim: int, max_distance: float) -> np.ndarray:
    """float32 distance (m) of each cell offset ``(|dr|, |dc|)`` up to ``lim``; inf beyond range.

    The arithmetic is scipy's (:func:`scipy.ndimage.distance_transform_edt`
    with ``sampling``: float64 offsets times the cell, squared, summed, rooted),
    rounded to float32 as :func:`edt` does, so a lookup gives its values bit
    for bit. Offsets of ``lim`` cells or more must lie beyond ``max_distance``.
    """
    off = np.arange(lim + 1, dtype=np.float64) * cell
    sq = off * off
    t = np.sqrt(sq[:, None] + sq[None, :]).astype(np.float32)
    t[t > np.float32(max_distance)] = np.inf
    return t


def _ranged_scipy(background: np.ndarray, cell: float, rows: slice, cols: slice,
                  table: np.ndarray) -> np.ndarray:
    """The scipy transform of ``background`` on ``[rows, cols]``, inf beyond the range.

    Only the feature transform runs on the whole box; the distances are read
    from :func:`offset_table` with each cell's offset to its feature (clipped
    to the table, whose last row and column are beyond the range), on the
    wanted part only: int32 passes instead of scipy's float64 ones.
    """
    ft = ndimage.distance_transform_edt(background, sampling=cell, return_distances=False,
                                        return_indices=True)
    lim = table.shape[0] - 1
    dr, dc = ft[0, rows, cols], ft[1, rows, cols]  # views: ft is ours to overwrite
    dr -= np.arange(rows.start, rows.stop, dtype=np.int32)[:, None]
    dc -= np.arange(cols.start, cols.stop, dtype=np.int32)[None, :]
    for a in (dr, dc):
        np.abs(a, out=a)
        np.minimum(a, lim, out=a)
    dr *= lim + 1
    dr += dc
    return table.ravel().take(dr)


def point_mask(xs, ys, grid: Grid) -> np.ndarray:
    """Cells of ``grid`` holding at least one of the points."""
    row, col, ok = point_cells(np.asarray(xs, float), np.asarray(ys, float), grid)
    feature = np.zeros(grid.shape, dtype=bool)
    feature[row[ok], col[ok]] = True
    return feature


def distance_to_points(xs, ys, grid: Grid, max_distance: float, halo: int = 0,
                       support: list | None = None) -> np.ndarray:
    """Distance (m) from each cell centre to the centre of the nearest cell holding a point.

    Within half a cell diagonal of the true distance; used for dense point
    layers with a long reach, where stamping each point would cost more (see
    :mod:`riskmap.grid.splat` for the exact method). The value does not depend on
    which of several equally near points the transform picks, so a tile gets
    the same distances as the whole grid. Points outside ``grid`` are not seen:
    pass ``halo`` (cells) to see those up to that far beyond its edge (the
    result is still on ``grid``), or a grid grown by the reach
    (:func:`riskmap.factors.with_halo`).
    """
    g = grid.expand(halo) if halo else grid
    return distance_to_cells(point_mask(xs, ys, g), g.cell, max_distance, halo, support)
