"""Point features stamped onto the grid through a small window each.

For points with a short reach this beats a whole-grid transform: the cost is
``points × window`` instead of ``cells``, distances are exact to the point's true
position (not its cell centre), and points beyond the grid edge still count,
so no halo is needed.

Two ways of stamping give the same values:

* a large window (``_SLICE_MIN`` cells or more) is stamped through array
  slices, one point at a time: each step is a few whole-array operations on
  the window (outer sums of the per-axis offsets), with no index arrays;
* small windows are stamped in batches of points through flat indices and
  unbuffered ``ufunc.at`` (a Python step per point would cost more than its
  window).
"""

from __future__ import annotations

import math

import numpy as np

from riskmap.grid import Grid

_BATCH_ELEMS = 1 << 18  # offsets x points per batch: small temporaries stay in cache
#: window cells from which a point is stamped through slices (measured: below it
#: the per-point Python step costs more than the batched index arithmetic)
_SLICE_MIN = 1024


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


def window_boxes(xs, ys, grid: Grid, reach: float) -> np.ndarray:
    """Cell boxes ``(r0, r1, c0, c1)`` of the points' windows on ``grid`` (those that meet it).

    Stamping a point with ``reach`` metres changes no cell outside its box.
    """
    row, col = grid.rowcol(np.asarray(xs, float), np.asarray(ys, float))
    r = math.ceil(reach / grid.cell)
    b = np.stack([np.clip(row - r, 0, grid.nrows), np.clip(row + r + 1, 0, grid.nrows),
                  np.clip(col - r, 0, grid.ncols), np.clip(col + r + 1, 0, grid.ncols)], axis=1)
    return b[(b[:, 1] > b[:, 0]) & (b[:, 3] > b[:, 2])]


class _Slices:
    """Square windows of the points that meet the grid: per-axis offsets and slices.

    ``dx2[p, j]`` and ``dy2[p, i]`` are the squared x and y offsets (m², float32)
    from point ``p`` to the centres of window column ``j`` and row ``i``, in the
    same arithmetic as :func:`_stamp`; ``keep`` says which of the points given
    these are. :meth:`batches` yields batches of points with each point's grid
    and window slices.
    """

    def __init__(self, xs, ys, grid: Grid, radius: int):
        row, col = grid.rowcol(xs, ys)
        self.size = w = 2 * radius + 1
        r0, c0 = row - radius, col - radius
        g = [np.clip(r0, 0, grid.nrows), np.clip(r0 + w, 0, grid.nrows),
             np.clip(c0, 0, grid.ncols), np.clip(c0 + w, 0, grid.ncols)]
        self.keep = (g[1] > g[0]) & (g[3] > g[2])  # windows beyond the grid change nothing
        k = self.keep
        row, col, xs, ys = row[k], col[k], np.asarray(xs)[k], np.asarray(ys)[k]
        fx = (grid.x0 + (col + 0.5) * grid.cell - xs).astype(np.float32)
        fy = (grid.y0 - (row + 0.5) * grid.cell - ys).astype(np.float32)
        off = (np.arange(-radius, radius + 1) * grid.cell).astype(np.float32)
        self.dx2 = fx[:, None] + off[None, :]
        self.dx2 *= self.dx2
        self.dy2 = fy[:, None] - off[None, :]
        self.dy2 *= self.dy2
        g = [a[k] for a in g]
        self._cols = [a.tolist() for a in (*g, g[0] - r0[k], g[1] - r0[k], g[2] - c0[k],
                                           g[3] - c0[k])]

    def batches(self):
        """``(b, spans)`` per batch ``b``, a slice of the kept points.

        Each span is ``(j, grid rows, grid cols, window rows, window cols)`` of
        point ``b.start + j``.
        """
        n = self.dx2.shape[0]
        for b in _batches(n, self.size * self.size):
            cols = [c[b] for c in self._cols]
            yield b, [(j, slice(a, bb), slice(c, d), slice(e, f), slice(g, h))
                      for j, (a, bb, c, d, e, f, g, h) in enumerate(zip(*cols, strict=True))]

    def d2(self, b: slice) -> np.ndarray:
        """Squared distances (m², float32) from the points of batch ``b`` to their windows."""
        return self.dy2[b, :, None] + self.dx2[b, None, :]


def _sliced(radius: int) -> bool:
    return (2 * radius + 1) ** 2 >= _SLICE_MIN


def nearest_distance(xs, ys, grid: Grid, max_distance: float) -> np.ndarray:
    """Distance (m) from each cell centre to the nearest point, ``inf`` beyond reach."""
    xs, ys = np.asarray(xs, float), np.asarray(ys, float)
    radius = math.ceil(max_distance / grid.cell)
    r2 = np.float32(max_distance) ** 2
    if not _sliced(radius):
        return _nearest_batched(xs, ys, grid, radius, r2)
    # the smallest squared distance, rooted once: sqrt is monotone and correctly
    # rounded, so this equals the smallest of the rooted distances
    out = np.full(grid.shape, np.inf, dtype=np.float32)
    sl = _Slices(xs, ys, grid, radius)
    for b, spans in sl.batches():
        d2 = sl.d2(b)
        for j, gr, gc, wr, wc in spans:
            v = out[gr, gc]
            np.minimum(v, d2[j, wr, wc], out=v)
    out[out > r2] = np.inf
    return np.sqrt(out, out=out)


def _nearest_batched(xs, ys, grid: Grid, radius: int, r2) -> np.ndarray:
    out = np.full(grid.size, np.inf, dtype=np.float32)
    dr, dc = _window(radius)
    for b in _batches(len(xs), dr.size):
        idx, d2, ok = _stamp(xs, ys, grid, radius, b, dr, dc)
        sel = d2 <= r2 if ok is None else (d2 <= r2) & ok
        np.minimum.at(out, idx[sel], d2[sel])
    return np.sqrt(out, out=out).reshape(grid.shape)


def best_weighted(xs, ys, w, grid: Grid, reach: float, decay) -> tuple[np.ndarray, np.ndarray]:
    """Per cell the largest ``w * decay(distance)`` over points, and that distance.

    Where several points give the largest value, the distance is the smallest of
    theirs; where no point gives a value above 0 it is ``inf``.

    Parameters
    ----------
    w : array_like
        Weight of each point, in [0, 1].
    decay : callable
        ``decay(d) -> closeness`` in [0, 1], zero beyond ``reach`` and at ``inf``.
    """
    xs, ys, w = (np.asarray(a, float) for a in (xs, ys, w))
    radius = math.ceil(reach / grid.cell)
    r2 = np.float32(reach) ** 2
    if not _sliced(radius):
        return _best_batched(xs, ys, w, grid, radius, r2, decay)
    best = np.zeros(grid.shape, dtype=np.float32)
    dist = np.full(grid.shape, np.inf, dtype=np.float32)
    sl = _Slices(xs, ys, grid, radius)
    w = w[sl.keep]
    for b, spans in sl.batches():
        d = sl.d2(b)
        d[d > r2] = np.inf  # beyond reach: decays to 0 and never wins
        np.sqrt(d, out=d)
        v = (w[b, None, None] * decay(d)).astype(np.float32)  # float64 weight, as batched
        for j, gr, gc, wr, wc in spans:
            bv, bd, vj, dj = best[gr, gc], dist[gr, gc], v[j, wr, wc], d[j, wr, wc]
            # a larger value wins; an equal one (above 0) keeps the smaller distance
            win = (vj > bv) | ((vj == bv) & (vj > 0) & (dj < bd))
            np.copyto(bd, dj, where=win)
            np.maximum(bv, vj, out=bv)
    return best, dist


def _best_batched(xs, ys, w, grid: Grid, radius: int, r2, decay):
    dr, dc = _window(radius)
    if len(xs) * dr.size < grid.size:  # few stamps: two scatters beat decoding a key grid
        return _best_pairs(xs, ys, w, grid, radius, r2, decay, dr, dc)
    # one scatter of a 64-bit key per stamp: the value's bits above the inverted
    # distance's, so the largest key holds the largest value and, among equal
    # values, the smallest distance (both are non-negative floats, whose bits
    # order as their values)
    keys = np.zeros(grid.size, dtype=np.uint64)
    for b in _batches(len(xs), dr.size):
        idx, d2, ok = _stamp(xs, ys, grid, radius, b, dr, dc)
        d2[d2 > r2] = np.inf  # beyond reach: decays to 0
        d = np.sqrt(d2, out=d2)
        v = (w[b, None] * decay(d)).astype(np.float32)
        v += np.float32(0)  # -0.0 to +0.0: its sign bit would make the largest key
        key = v.view(np.uint32).astype(np.uint64)
        key <<= np.uint64(32)
        key |= np.invert(d.view(np.uint32))
        if ok is not None:  # cells beyond the grid edge: a harmless key 0 at cell 0
            key[~ok] = 0
            idx[~ok] = 0
        np.maximum.at(keys, idx.ravel(), key.ravel())
    best = (keys >> np.uint64(32)).astype(np.uint32).view(np.float32)
    dist = np.invert(keys.astype(np.uint32)).view(np.float32)
    dist[best == 0] = np.inf  # no point gives a value here
    return best.reshape(grid.shape), dist.reshape(grid.shape)


def _best_pairs(xs, ys, w, grid: Grid, radius: int, r2, decay, dr, dc):
    best = np.zeros(grid.size, dtype=np.float32)
    dist = np.full(grid.size, np.inf, dtype=np.float32)
    stamps = []
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
    position (a disc of ``truncate * sigma`` and one cell) and normalised to sum
    to its weight over the whole disc, so the result sums to ``sum(weights)``
    less the mass that falls off the grid.
    """
    xs, ys = np.asarray(xs, float), np.asarray(ys, float)
    w = np.ones(len(xs)) if weights is None else np.asarray(weights, float)
    radius = math.ceil(truncate * sigma / grid.cell)
    if not _sliced(radius):
        return _mass_batched(xs, ys, w, grid, radius, sigma)
    out = np.zeros(grid.shape, dtype=np.float32)
    sl = _Slices(xs, ys, grid, radius)
    w = w[sl.keep]
    # the kernel is separable: exp(a (dx² + dy²)) = exp(a dx²) exp(a dy²), cut to the disc
    a = np.float32(-0.5 / sigma**2)
    ex = np.exp(sl.dx2 * a)
    ey = np.exp(sl.dy2 * a)
    dr, dc = _window(radius)
    disc = np.zeros((sl.size, sl.size), np.float32)
    disc[dr + radius, dc + radius] = 1
    # each point's sum over its disc (float64), then its scale: weight / sum. Row i
    # of the disc is one run of columns, so the sum is sum_i ey_i * (a run of ex),
    # the runs read off a cumulative sum (no matrix product: BLAS threads would
    # spin against the engine's own)
    half = np.abs(np.arange(-radius, radius + 1))
    run = np.floor(np.sqrt(np.maximum((radius + 1) ** 2 - half**2, 0))).astype(np.int64)
    run = np.minimum(run, radius)
    cum = np.zeros((ex.shape[0], sl.size + 1))
    np.cumsum(ex, axis=1, dtype=np.float64, out=cum[:, 1:])
    total = ((cum[:, radius + run + 1] - cum[:, radius - run]) * ey).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ey *= np.where(total > 0, w / total, 0.0).astype(np.float32)[:, None]
    for b, spans in sl.batches():
        k = ey[b, :, None] * ex[b, None, :]
        k *= disc
        for j, gr, gc, wr, wc in spans:
            out[gr, gc] += k[j, wr, wc]
    return out


def _mass_batched(xs, ys, w, grid: Grid, radius: int, sigma: float) -> np.ndarray:
    out = np.zeros(grid.size, dtype=np.float32)
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
