"""The plan's selection rules for one village: which cells, and why (see :mod:`riskmap.field.plan`).

:func:`selection` turns the history, last week's plan and the analyst's overrides
into flat patrol-grid arrays once per plan; :func:`choose` applies the rules to
one village's cells with its seeded generators (:func:`village_rng`).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from riskmap.errors import RiskmapError
from riskmap.field.effort import Adjustment, Effort, cell_effort, cell_rowcol, history_adjustment
from riskmap.field.rules import (
    REASON_ADDED,
    REASON_EXPLORE,
    REASON_NEAR,
    REASON_RANDOM,
    REASON_TOP,
    Override,
    PlanConfig,
)
from riskmap.field.week import Week
from riskmap.grid.cellid import cell_ids
from riskmap.score.engine import Surface

__all__ = ["Selection", "choose", "draw_weighted", "order", "selection", "village_rng"]


def village_rng(seed: int, week: Week, township: str, village: str,
                stream: int = 0) -> np.random.Generator:
    """The random generator of one village's draws (same inputs → same draw).

    ``stream`` 0 draws the random checks, 1 the exploration picks: each rule has
    its own, so one does not shift the other.
    """
    key = zlib.crc32(f"{township}/{village}".encode())
    entropy = [seed, week.year, week.week, key] + ([stream] if stream else [])
    return np.random.default_rng(np.random.SeedSequence(entropy))


@dataclass
class Selection:
    """What the choice of every village reads (patrol-grid arrays, flat)."""

    adj: Adjustment
    adj_score: np.ndarray  # flat
    blocked: np.ndarray  # flat bool: suppressed, or planned last week and not raised
    overdue: np.ndarray  # flat bool: never checked or not for overdue_weeks
    added: dict  # flat index → Override
    effort: Effort


def selection(surface: Surface, inspections, week: Week, cfg: PlanConfig, previous,
             overrides, wanted) -> tuple[Selection, list[tuple[Override, str]]]:
    """History, last week's plan and the overrides as flat arrays; overrides checked."""
    pg = surface.patrol_grid
    before = None
    if inspections is not None and len(inspections):
        before = inspections.loc[inspections["week"].astype(str) < str(week)]
    adj = history_adjustment(surface, before, week, cfg)
    effort = cell_effort(before, pg, week)
    size = int(np.prod(pg.shape))
    blocked = np.zeros(size, bool)
    if previous is not None:
        prev = previous if isinstance(previous, pd.DataFrame) else pd.DataFrame(
            {"cell_id": [str(c) for c in previous]})
        if len(prev):
            r, c, on = cell_rowcol(prev, pg)
            blocked[(r * pg.ncols + c)[on]] = True
            blocked &= ~adj.raised.ravel()
    added, where, bad = {}, [], []
    names = ["", *surface.township_names]
    if overrides:
        r, c, on = cell_rowcol(pd.DataFrame({"cell_id": [o.cell_id for o in overrides]}), pg)
        for o, ri, ci, ok in zip(overrides, r, c, on, strict=True):
            f = int(ri * pg.ncols + ci)
            if not ok or not surface.p_area.ravel()[f]:
                bad.append(f"{o.cell_id} 不是本区的巡查网格 (not a patrol cell of the district)")
                continue
            town = names[int(surface.township.ravel()[f])]
            if town not in wanted:
                bad.append(f"{o.cell_id} 在 {town or '(无乡镇)'}, 本次未做该乡镇的计划 (lies in a "
                           "township this run does not plan)")
                continue
            where.append((o, town))
            if o.action == "suppress":
                blocked[f] = True
            else:
                added[f] = o
    if bad:
        raise RiskmapError("--add/--suppress: " + "; ".join(bad))
    overdue = effort.overdue(surface.p_class, cfg.min_class, cfg.overdue_weeks,
                             surface.p_area).ravel()
    score = np.where(surface.p_area, surface.p_score, np.nan).ravel()
    return Selection(adj, score * adj.factor.ravel(), blocked, overdue, added, effort), where


def draw_weighted(pool: np.ndarray, weights: np.ndarray, k: int,
                  rng: np.random.Generator) -> list[int]:
    """``k`` of ``pool`` without replacement, each with probability ∝ its weight (score).

    A weight that is not a positive number counts as (almost) nothing; the pool's
    order is fixed by the caller, so the same generator gives the same draw.
    """
    if not k or not len(pool):
        return []
    w = np.nan_to_num(np.asarray(weights, dtype=float), nan=0.0).clip(0) + 1e-9
    drawn = rng.choice(pool, size=min(k, len(pool)), replace=False, p=w / w.sum())
    return sorted(int(c) for c in drawn)


def order(cells: np.ndarray, adj_score: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Cells by adjusted score, highest first; ties by cell id (stable, reproducible)."""
    return cells[np.lexsort((ids, -adj_score[cells]))]


def choose(cells, surface, ctx: Selection, cfg: PlanConfig, pg, rng, rng_explore):
    """[(flat index, reason)] of one village (see the module docstring for the order)."""
    rows, cols = np.divmod(cells, pg.ncols)
    ids = cell_ids(pg.x0 + cols * pg.cell, pg.y0 - (rows + 1) * pg.cell, pg.cell)
    by_id = dict(zip(cells.tolist(), ids.tolist(), strict=True))
    cls = surface.p_class.ravel()[cells]
    free = cells[~ctx.blocked[cells]]
    added = np.intersect1d(cells, np.fromiter(ctx.added, np.int64, len(ctx.added))).tolist()
    chosen: list[tuple[int, str]] = [(c, REASON_ADDED) for c in added]
    taken = set(added)
    top = cells[(cls >= cfg.min_class) & ~ctx.blocked[cells]]
    top = [int(c) for c in order(top, ctx.adj_score, np.array([by_id[c] for c in top],
                                                                dtype=object)) if c not in taken]
    k = cfg.n_explore()
    n_top = cfg.per_village - k
    for c in top[:n_top]:
        chosen.append((c, REASON_TOP))
    taken.update(top[:n_top])
    pool = np.array(sorted(c for c in top[n_top:] if ctx.overdue[c]), dtype=np.int64)
    drawn = draw_weighted(pool, surface.p_score.ravel()[pool], k, rng_explore)
    chosen += [(c, REASON_EXPLORE) for c in drawn]
    taken.update(drawn)
    fill = [c for c in top[n_top:] if c not in taken][:k - len(drawn)]  # too few overdue
    chosen += [(c, REASON_TOP) for c in fill]
    taken.update(fill)
    near = free[ctx.adj.raised.ravel()[free]]
    near = [c for c in order(near, ctx.adj_score, np.array([by_id[c] for c in near],
                                                            dtype=object))
            if int(c) not in taken][:cfg.near_finds]
    for c in near:
        chosen.append((int(c), REASON_NEAR))
        taken.add(int(c))
    rest = np.array(sorted(set(free.tolist()) - taken), dtype=np.int64)
    n = min(cfg.n_random(len(chosen) - len(added)), len(rest))
    if n:
        for c in np.sort(rng.choice(rest, size=n, replace=False)):
            chosen.append((int(c), REASON_RANDOM))
    return chosen
