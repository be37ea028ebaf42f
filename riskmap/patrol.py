"""From analysis cells to patrol cells: block aggregation (pure, vectorised)."""

from __future__ import annotations

import numpy as np


def blocks(a: np.ndarray, k: int) -> np.ndarray:
    """View ``a`` (n*k, m*k) as (n, m, k*k) blocks (copying once)."""
    n, m = a.shape[0] // k, a.shape[1] // k
    return a.reshape(n, k, m, k).swapaxes(1, 2).reshape(n, m, k * k)


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
    b = blocks(score, k)
    valid = np.isfinite(b)
    any_valid = valid.any(axis=2)
    filled = np.where(valid, b, -np.inf)
    arg = filled.argmax(axis=2)
    smax = np.take_along_axis(filled, arg[..., None], axis=2)[..., 0]
    cnt = valid.sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        smean = np.where(valid, b, 0).sum(axis=2) / cnt
    smax = np.where(any_valid, smax, np.nan).astype(np.float32)
    smean = np.where(any_valid, smean, np.nan).astype(np.float32)
    n, m = smax.shape
    rows = np.arange(n)[:, None] * k + arg // k
    cols = np.arange(m)[None, :] * k + arg % k
    flat = np.where(any_valid, rows * score.shape[1] + cols, -1)
    return smax, smean, flat


def upsample(a: np.ndarray, k: int) -> np.ndarray:
    """Repeat each cell of ``a`` into a k x k block."""
    return np.repeat(np.repeat(a, k, axis=0), k, axis=1)
