"""From analysis cells to patrol cells: block aggregation (pure, vectorised)."""

from __future__ import annotations

import numpy as np


def blocks(a: np.ndarray, k: int) -> np.ndarray:
    """View ``a`` (n*k, m*k) as (n, m, k*k) blocks (copying once)."""
    n, m = a.shape[0] // k, a.shape[1] // k
    return a.reshape(n, k, m, k).swapaxes(1, 2).reshape(n, m, k * k)


def block_any(mask: np.ndarray, b: int) -> np.ndarray:
    """Which ``b`` x ``b`` blocks of ``mask`` hold a True cell (edge blocks may be partial)."""
    n, m = mask.shape
    whole = n // b * b
    # OR of whole rows first (contiguous, fast), then of column runs on the small result
    rows = mask[:whole].reshape(n // b, b, m).any(axis=1)
    if whole < n:
        rows = np.vstack([rows, mask[whole:].any(axis=0, keepdims=True)])
    return np.logical_or.reduceat(rows, np.arange(0, m, b), axis=1)


def boxes_any(boxes: np.ndarray, b: int, shape: tuple[int, int]) -> np.ndarray:
    """Which ``b`` x ``b`` blocks of a grid of ``shape`` meet any of the cell boxes.

    ``boxes`` is an int array ``(n, 4)`` of ``[r0, r1) x [c0, c1)``; marked through a
    summed difference array, so the cost does not depend on the boxes' sizes.
    """
    nt, mt = -(-shape[0] // b), -(-shape[1] // b)
    bx = np.asarray(boxes, np.int64).reshape(-1, 4)
    bx = bx[(bx[:, 1] > bx[:, 0]) & (bx[:, 3] > bx[:, 2])]
    d = np.zeros((nt + 1, mt + 1), np.int32)
    r0, r1 = bx[:, 0] // b, (bx[:, 1] - 1) // b + 1
    c0, c1 = bx[:, 2] // b, (bx[:, 3] - 1) // b + 1
    for rr, cc, v in ((r0, c0, 1), (r0, c1, -1), (r1, c0, -1), (r1, c1, 1)):
        np.add.at(d, (rr, cc), v)
    return d.cumsum(axis=0).cumsum(axis=1)[:nt, :mt] > 0


def _block_reduce(a: np.ndarray, k: int, op) -> np.ndarray:
    """Reduce k x k blocks with a binary ufunc, over strided slices (fast for small k)."""
    r = a[0::k].copy()
    for i in range(1, k):
        op(r, a[i::k], out=r)
    c = r[:, 0::k].copy()
    for j in range(1, k):
        op(c, r[:, j::k], out=c)
    return c


def block_max_mean(score: np.ndarray, k: int, counts: np.ndarray | None = None):
    """Max and mean of each k x k block, ignoring NaN (all-NaN blocks give NaN).

    ``counts`` (valid cells per block) may be passed when already known.
    """
    valid = np.isfinite(score)
    smax = _block_reduce(score, k, np.fmax).astype(np.float32)
    if counts is None:
        counts = _block_reduce(valid.view(np.uint8), k, np.add) if k * k < 256 else \
            _block_reduce(valid.astype(np.uint16), k, np.add)
    # float32 sums of at most k² scores ≤ 100 lose nothing that matters, and a
    # float64 copy of a 10 m district grid would be the build's largest array
    total = _block_reduce(np.where(valid, score, np.float32(0)), k, np.add)
    with np.errstate(invalid="ignore", divide="ignore"):
        smean = (total.astype(np.float64) / counts).astype(np.float32)
    smean[counts == 0] = np.nan
    smax[counts == 0] = np.nan
    return smax, smean


def argmax_in_blocks(score: np.ndarray, k: int, flat_blocks: np.ndarray) -> np.ndarray:
    """Flat index into ``score`` of the max of each block in ``flat_blocks`` (-1 if all NaN)."""
    m = score.shape[1] // k
    br, bc = np.divmod(np.asarray(flat_blocks, dtype=np.int64), m)
    off = np.arange(k)
    rows = br[:, None, None] * k + off[None, :, None]
    cols = bc[:, None, None] * k + off[None, None, :]
    vals = score[rows, cols].reshape(len(br), k * k)
    filled = np.where(np.isfinite(vals), vals, -np.inf)
    arg = filled.argmax(axis=1)
    flat = (br * k + arg // k) * score.shape[1] + bc * k + arg % k
    return np.where(np.isfinite(vals).any(axis=1), flat, -1)


def aggregate(score: np.ndarray, k: int):
    """Max, mean and position of the max of ``score`` in each k x k block.

    NaN cells (outside the area) are ignored; a block with no valid cell gets
    NaN and position -1.

    Returns
    -------
    smax, smean : numpy.ndarray of float32, shape (n, m)
    flat : numpy.ndarray of int64
        Flat index into ``score`` of each block's maximum (-1 if none).
    """
    smax, smean = block_max_mean(score, k)
    flat = argmax_in_blocks(score, k, np.arange(smax.size)).reshape(smax.shape)
    return smax, smean, flat


def upsample(a: np.ndarray, k: int) -> np.ndarray:
    """Repeat each cell of ``a`` into a k x k block."""
    return np.repeat(np.repeat(a, k, axis=0), k, axis=1)
