"""Point features stamped onto the grid through a small window each.

For points with a short reach this beats a whole-grid transform: the cost is
``points × window`` instead of ``cells``, distances are exact to the point's true
position (not its cell centre), and points beyond the grid edge still count,
so no halo is needed. Work is vectorised over batches of points; the only
Python loop is over batches.
"""

from __future__ import annotations

import math

import numpy as np

from riskmap.grid import Grid

_BATCH_ELEMS = 1 << 18  # offsets x points per batch: small temporaries stay in cache


def _window(radius: int) -> tuple[np.ndarray, np.ndarray]:
    off = np.arange(-radius, radius + 1)
    dr, dc = np.meshgrid(off, off, indexing="ij")
    keep = dr**2 + dc**2 <= (radius + 1) ** 2  # a disc: corners never reach
    return dr[keep], dc[keep]


def _batches(n: int, per_point: int):
    step = max(1, _BATCH_ELEMS // max(per_point, 1))
    for i in range(0, n, step):
        yield slice(i, min(i + step, n))


def _stamp(xs, ys, grid: Grid, radius: int, b: slice, dr, dc):
    """Flat cell index, squared distance (m², float32) and in-grid mask of window cells.

    The mask is None when every window of the batch lies inside the grid.
    """
    row, col = grid.rowcol(xs[b], ys[b])
    # offset of each point from its own cell centre, then window offsets in metres
    fx = (grid.x0 + (col + 0.5) * grid.cell - xs[b]).astype(np.float32)
    fy = (grid.y0 - (row + 0.5) * grid.cell - ys[b]).astype(np.float32)
    d2 = fx[:, None] + (dc * grid.cell).astype(np.float32)[None, :]
    d2 *= d2
    dy = fy[:, None] - (dr * grid.cell).astype(np.float32)[None, :]
    dy *= dy
    d2 += dy
    idx = (row * grid.ncols + col)[:, None] + (dr * grid.ncols + dc)[None, :]
    edge = ((row < radius) | (row + radius >= grid.nrows)
            | (col < radius) | (col + radius >= grid.ncols))
    ok = None
    if edge.any():  # only windows that cross the grid edge need a per-cell check
        ok = np.ones(idx.shape, dtype=bool)
        rr = row[edge, None] + dr[None, :]
        cc = col[edge, None] + dc[None, :]
        ok[edge] = (rr >= 0) & (rr < grid.nrows) & (cc >= 0) & (cc < grid.ncols)
    return idx, d2, ok


def splat_cost(n_points: int, reach: float, cell: float) -> float:
    """Window cells visited when stamping ``n_points`` with ``reach`` metres."""
    r = math.ceil(reach / cell)
    return n_points * math.pi * (r + 1) ** 2


def nearest_distance(xs, ys, grid: Grid, max_distance: float) -> np.ndarray:
    """Distance (m) from each cell centre to the nearest point, ``inf`` beyond reach."""
    xs, ys = np.asarray(xs, float), np.asarray(ys, float)
    out = np.full(grid.size, np.inf, dtype=np.float32)
    radius = math.ceil(max_distance / grid.cell)
    dr, dc = _window(radius)
    r2 = np.float32(max_distance) ** 2
    for b in _batches(len(xs), dr.size):
        idx, d2, ok = _stamp(xs, ys, grid, radius, b, dr, dc)
        sel = d2 <= r2 if ok is None else (d2 <= r2) & ok
        np.minimum.at(out, idx[sel], np.sqrt(d2[sel]))
    return out.reshape(grid.shape)


def best_weighted(xs, ys, w, grid: Grid, reach: float, decay) -> tuple[np.ndarray, np.ndarray]:
    """Per cell the largest ``w * decay(distance)`` over points, and that distance.

    Parameters
    ----------
    w : array_like
        Weight of each point, in [0, 1].
    decay : callable
        ``decay(d) -> closeness`` in [0, 1], zero beyond ``reach``.
    """
    xs, ys, w = (np.asarray(a, float) for a in (xs, ys, w))
    best = np.zeros(grid.size, dtype=np.float32)
    dist = np.full(grid.size, np.inf, dtype=np.float32)
    radius = math.ceil(reach / grid.cell)
    dr, dc = _window(radius)
    stamps = []
    r2 = np.float32(reach) ** 2
    for b in _batches(len(xs), dr.size):
        idx, d2, ok = _stamp(xs, ys, grid, radius, b, dr, dc)
        sel = d2 <= r2 if ok is None else (d2 <= r2) & ok
        d = np.sqrt(d2[sel])
        v = (np.broadcast_to(w[b, None], sel.shape)[sel] * decay(d)).astype(np.float32)
        idx = idx[sel]
        np.maximum.at(best, idx, v)
        stamps.append((idx, v, d))
    for idx, v, d in stamps:  # the distance of the point that won each cell
        win = (v == best[idx]) & (v > 0)
        np.minimum.at(dist, idx[win], d[win])
    return best.reshape(grid.shape), dist.reshape(grid.shape)


def gaussian_mass(xs, ys, grid: Grid, sigma: float, weights=None,
                  truncate: float = 4.0) -> np.ndarray:
    """Each point's unit (or weighted) mass spread by a Gaussian of ``sigma`` m.

    Each point's kernel is evaluated at the cell centres around its true
    position and normalised to sum to its weight over the whole window, so
    the result sums to ``sum(weights)`` less the mass that falls off the grid.
    """
    xs, ys = np.asarray(xs, float), np.asarray(ys, float)
    w = np.ones(len(xs)) if weights is None else np.asarray(weights, float)
    out = np.zeros(grid.size, dtype=np.float32)
    radius = math.ceil(truncate * sigma / grid.cell)
    dr, dc = _window(radius)
    for b in _batches(len(xs), dr.size):
        idx, d2, ok = _stamp(xs, ys, grid, radius, b, dr, dc)
        d2 *= np.float32(-0.5 / sigma**2)
        k = np.exp(d2, out=d2)
        k *= (w[b] / k.sum(axis=1, dtype=np.float64)).astype(np.float32)[:, None]
        if ok is None:
            np.add.at(out, idx.ravel(), k.ravel())
        else:
            np.add.at(out, idx[ok], k[ok])
    return out.reshape(grid.shape)
