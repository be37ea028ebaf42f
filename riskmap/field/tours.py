"""Visiting orders: a nearest-neighbour tour improved by 2-opt, straight lines, round trip.

Pure functions on coordinate arrays; :func:`plan_tour` is what a village's list
uses (from the village committee through every cell and back).
"""

from __future__ import annotations

import numpy as np

__all__ = ["distance_matrix", "nearest_neighbour", "plan_tour", "tour_length", "two_opt"]


def distance_matrix(xy: np.ndarray) -> np.ndarray:
    """Euclidean distances between all rows of ``xy`` (n × 2), vectorised."""
    xy = np.asarray(xy, dtype=float)
    return np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))


def tour_length(d: np.ndarray, tour) -> float:
    """Length of the closed tour ``tour`` (indices into ``d``), back to its start."""
    t = np.asarray(tour)
    return float(d[t, np.roll(t, -1)].sum()) if len(t) > 1 else 0.0


def nearest_neighbour(d: np.ndarray, start: int = 0) -> np.ndarray:
    """Greedy tour from ``start``: always the nearest unvisited point (ties: lowest index)."""
    n = len(d)
    seen = np.zeros(n, bool)
    tour = [start]
    seen[start] = True
    for _ in range(n - 1):
        row = np.where(seen, np.inf, d[tour[-1]])
        nxt = int(np.argmin(row))
        tour.append(nxt)
        seen[nxt] = True
    return np.array(tour, dtype=np.int64)


def two_opt(d: np.ndarray, tour) -> np.ndarray:
    """Improve a closed tour by 2-opt moves until none shortens it; ``tour[0]`` stays first.

    Each round evaluates every move at once (an n × n gain matrix) and applies
    the best one, so the result is never longer than the input.
    """
    t = np.array(tour, dtype=np.int64)
    n = len(t)
    if n < 4:
        return t
    i_idx, j_idx = np.triu_indices(n, k=2)
    keep = ~((i_idx == 0) & (j_idx == n - 1))  # those two edges touch: no move
    i_idx, j_idx = i_idx[keep], j_idx[keep]
    for _ in range(50 * n * n):
        a, b = t, np.roll(t, -1)
        old = d[a, b]
        # replace edges (a_i, b_i), (a_j, b_j) by (a_i, a_j), (b_i, b_j): reverse t[i+1 .. j]
        gain = d[a[i_idx], a[j_idx]] + d[b[i_idx], b[j_idx]] - old[i_idx] - old[j_idx]
        k = int(np.argmin(gain))
        if gain[k] >= -1e-9:
            break
        i, j = i_idx[k], j_idx[k]
        t[i + 1:j + 1] = t[i + 1:j + 1][::-1].copy()
    return t


def plan_tour(start, points) -> tuple[np.ndarray, float, float]:
    """Visiting order of ``points`` from ``start`` and back.

    Parameters
    ----------
    start : (float, float)
        Start (village committee), working CRS.
    points : array_like
        n × 2 cell centres.

    Returns
    -------
    order : numpy.ndarray
        Indices into ``points`` in visiting order.
    length : float
        Straight-line length of the 2-opt tour (m), back to the start.
    nn_length : float
        Length of the nearest-neighbour tour it improved (≥ ``length``).
    """
    pts = np.asarray(points, dtype=float).reshape(-1, 2)
    if not len(pts):
        return np.array([], dtype=np.int64), 0.0, 0.0
    d = distance_matrix(np.vstack([np.asarray(start, float)[None, :], pts]))
    nn = nearest_neighbour(d, 0)
    best = two_opt(d, nn)
    return best[1:] - 1, tour_length(d, best), tour_length(d, nn)
