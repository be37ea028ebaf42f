"""Patrol cells of a backtest (possibly on a shifted grid) and the events counted in them."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely

from riskmap.grid import Grid
from riskmap.grid.blocks import block_max_mean, blocks

__all__ = ["Cells", "block_folds", "count_events", "patrol_cells"]


@dataclass
class Cells:
    """Patrol cells of the district on one (possibly shifted) patrol grid."""

    grid: Grid  # the patrol grid
    shift: int  # analysis cells the grid is shifted north-west
    valid: np.ndarray  # bool (rows, cols): holds at least one analysis cell of the district
    share: np.ndarray  # share of each valid cell inside the district (1-D)

    def to_patrol(self, score: np.ndarray, k: int, rule: str) -> np.ndarray:
        """Patrol-cell scores (1-D, valid cells) of an analysis score (NaN outside)."""
        smax, smean = block_max_mean(_pad(score, k, self.shift, np.nan), k)
        out = (smax if rule == "max" else smean)[self.valid].astype(float)
        out[np.isnan(out)] = -np.inf  # no data in a cell of the district: ranked last
        return out


def patrol_cells(agrid: Grid, area: np.ndarray, k: int, shift: int = 0) -> Cells:
    """The patrol cells holding district cells, on the grid shifted ``shift`` analysis cells.

    Parameters
    ----------
    agrid : Grid
        The analysis grid.
    area : numpy.ndarray of bool
        Analysis cells inside the district.
    k : int
        Analysis cells per patrol cell side.
    shift : int
        Shift of the patrol grid to the north-west, in analysis cells (0: the
        project's grid; ``k // 2``: half a patrol cell).
    """
    a = _pad(area, k, shift, False)
    counts = blocks(a.astype(np.int32), k).sum(axis=2)
    pgrid = Grid(agrid.crs, agrid.x0 - shift * agrid.cell, agrid.y0 + shift * agrid.cell,
                 agrid.cell * k, counts.shape[0], counts.shape[1])
    valid = counts > 0
    return Cells(pgrid, shift, valid, counts[valid] / float(k * k))


def _pad(a: np.ndarray, k: int, shift: int, fill) -> np.ndarray:
    if not shift:
        return a
    pr = (-(a.shape[0] + shift)) % k
    pc = (-(a.shape[1] + shift)) % k
    return np.pad(a, ((shift, pr), (shift, pc)), constant_values=fill)


def count_events(geoms, cells: Cells, area_mode: bool = False) -> np.ndarray:
    """Events per valid patrol cell (1-D, float).

    Parameters
    ----------
    geoms : array of shapely geometries
        The events (already restricted to the district and the period).
    cells : Cells
    area_mode : bool
        Spread each polygon over the cells it covers by area share (its part
        in scored cells sums to 1); otherwise count it at its centroid.
    """
    geoms = np.asarray(geoms, dtype=object)
    g = cells.grid
    index = np.full(cells.valid.shape, -1, dtype=np.int64)
    index[cells.valid] = np.arange(int(cells.valid.sum()))
    out = np.zeros(int(cells.valid.sum()))
    if len(geoms) == 0:
        return out
    polygon = np.isin(shapely.get_type_id(geoms), (3, 6)) if area_mode else np.zeros(
        len(geoms), bool)
    pts = shapely.get_coordinates(shapely.centroid(geoms[~polygon]))
    if len(pts):
        row, col = g.rowcol(pts[:, 0], pts[:, 1])
        ok = (row >= 0) & (row < g.nrows) & (col >= 0) & (col < g.ncols)
        i = index[row[ok], col[ok]]
        np.add.at(out, i[i >= 0], 1.0)
    if polygon.any():
        polys = geoms[polygon]
        b = shapely.bounds(polys)
        r0, c0 = g.rowcol(b[:, 0], b[:, 3])
        r1, c1 = g.rowcol(b[:, 2], b[:, 1])
        r0, c0 = np.clip(r0, 0, g.nrows - 1), np.clip(c0, 0, g.ncols - 1)
        r1, c1 = np.clip(r1, 0, g.nrows - 1), np.clip(c1, 0, g.ncols - 1)
        nr, nc = r1 - r0 + 1, c1 - c0 + 1
        cnt = nr * nc
        pid = np.repeat(np.arange(len(polys)), cnt)
        local = np.arange(int(cnt.sum())) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        rr = r0[pid] + local // nc[pid]
        cc = c0[pid] + local % nc[pid]
        boxes = shapely.box(g.x0 + cc * g.cell, g.y0 - (rr + 1) * g.cell,
                            g.x0 + (cc + 1) * g.cell, g.y0 - rr * g.cell)
        ar = shapely.area(shapely.intersection(polys[pid], boxes))
        i = index[rr, cc]
        keep = (i >= 0) & (ar > 0)
        total = np.bincount(pid[keep], weights=ar[keep], minlength=len(polys))
        np.add.at(out, i[keep], ar[keep] / total[pid[keep]])
    return out


def block_folds(grid: Grid, cells: np.ndarray, block_size: float, folds: int,
                seed: int) -> np.ndarray:
    """Fold id per cell: square blocks of ``block_size`` m dealt round-robin in seeded order.

    Parameters
    ----------
    grid : Grid
        The grid of the cells (the patrol grid).
    cells : numpy.ndarray
        Flat indices of the cells.
    block_size : float
        Side of a block in metres (at least one cell).
    folds : int
        Number of folds.
    seed : int
        Seed of the order the blocks are dealt in.
    """
    bs = max(1, math.ceil(block_size / grid.cell - 1e-9))
    row, col = np.divmod(cells, grid.ncols)
    nbc = math.ceil(grid.ncols / bs)
    block = (row // bs) * nbc + (col // bs)
    ids = np.unique(block)
    order = np.random.default_rng(seed).permutation(len(ids))
    fold_of = np.empty(len(ids), np.int64)
    fold_of[order] = np.arange(len(ids)) % folds
    return fold_of[np.searchsorted(ids, block)]
