"""The plan's selection rules for one village: which cells, and why (see :mod:`riskmap.field.plan`).

:func:`selection` turns the history, last week's plan and the analyst's overrides
into flat patrol-grid arrays once per plan; :func:`choose` applies the rules to
one village's cells with its seeded generators (:func:`village_rng`).

With the rank interval of a calibration (:func:`reach_top`) the exploration
picks go first to the cells the data cannot rule out: their 95 % rank bound
reaches the top class although their point rank does not, drawn with
probability proportional to their chance of reaching it.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import ndtr

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
from riskmap.score.cells import rank_text
from riskmap.score.engine import Surface

__all__ = ["Selection", "TopReach", "choose", "draw_weighted", "order", "reach_top",
           "selection", "village_rng"]

#: one-sided 95 % normal quantile: the 95 % rank bound is this many spreads above the point
Z95_ONE_SIDED = 1.6448536269514722


def village_rng(seed: int, week: Week, township: str, village: str,
                stream: int = 0) -> np.random.Generator:
    """The random generator of one village's draws (same inputs → same draw).

    ``stream`` 0 draws the random checks, 1 the exploration picks: each rule has
    its own, so one does not shift the other.
    """
    key = zlib.crc32(f"{township}/{village}".encode())
    entropy = [seed, week.year, week.week, key] + ([stream] if stream else [])
    return np.random.default_rng(np.random.SeedSequence(entropy))


@dataclass(frozen=True)
class TopReach:
    """Which cells the rank interval cannot rule out of the top class (flat arrays).

    ``share`` is the top class's share of the district's patrol cells (%):
    a rank percentile ≥ ``100 − share`` is a rank of the top class.
    """

    share: float
    reach: np.ndarray  # bool: 95 % bound in the top class, point rank and class not
    p: np.ndarray  # float: chance of a rank in the top class (normal approximation), 0 if not
    text: np.ndarray  # object: "前 a–b %" of every cell with an interval, "" elsewhere


def reach_top(interval, surface: Surface) -> TopReach | None:
    """The cells whose 95 % rank bound reaches the top class although their point does not.

    The top class is class 5 of the build; its share of the district's patrol
    cells puts it at rank percentile ``cut = 100 − share``. A cell reaches it
    when ``rank_hi ≥ cut`` while ``rank_pct < cut`` and its class is below 5.
    Its chance of reaching it reads the interval as normal around the point,
    the 95 % bound 1.645 spreads above: ``P = 1 − Φ(1.645 (cut − pct) / (hi − pct))``
    (from 5 % for a bound just at the cut to 50 % for a point just under it).

    Parameters
    ----------
    interval : riskmap.load.interval.RankInterval or None
        On the surface's patrol grid (:func:`riskmap.score.cells.patrol_interval`).
    surface : Surface

    Returns
    -------
    TopReach or None
        None without an interval.
    """
    if interval is None:
        return None
    area = surface.p_area.ravel()
    cls = surface.p_class.ravel()
    n5 = int((area & (cls == 5)).sum())
    share = 100.0 * n5 / max(int(area.sum()), 1)
    cut = 100.0 - share if n5 else np.inf
    pct, hi = interval.pct.ravel(), interval.hi.ravel()
    known = area & interval.known.ravel()
    with np.errstate(invalid="ignore"):
        reach = known & (hi >= cut) & (pct < cut) & (cls < 5)
    spread = np.where(reach, hi - pct, 1.0) / Z95_ONE_SIDED
    p = np.where(reach, 1.0 - ndtr(np.where(reach, cut - pct, 0.0) / spread), 0.0)
    text = np.where(known, rank_text(interval.lo.ravel(), hi), "").astype(object)
    return TopReach(round(share, 2), reach, p, text)


@dataclass
class Selection:
    """What the choice of every village reads (patrol-grid arrays, flat)."""

    adj: Adjustment
    adj_score: np.ndarray  # flat
    blocked: np.ndarray  # flat bool: suppressed, or planned last week and not raised
    overdue: np.ndarray  # flat bool: never checked or not for overdue_weeks
    added: dict  # flat index → Override
    effort: Effort
    top: TopReach | None = None  # the rank interval's reach (None: no interval)
    unvisited: np.ndarray | None = None  # flat bool: never checked or not for overdue_weeks


def selection(surface: Surface, inspections, week: Week, cfg: PlanConfig, previous,
             overrides, wanted, interval=None) -> tuple[Selection, list[tuple[Override, str]]]:
    """History, last week's plan and the overrides as flat arrays; overrides checked.

    ``interval`` (a :class:`~riskmap.load.interval.RankInterval`, optional) makes
    the exploration prefer the cells it cannot rule out (:func:`reach_top`).
    """
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
    unvisited = (effort.never | (effort.weeks_since >= cfg.overdue_weeks)).ravel()
    return Selection(adj, score * adj.factor.ravel(), blocked, overdue, added, effort,
                     reach_top(interval, surface), unvisited), where


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
    drawn = []
    if ctx.top is not None:  # first the cells the rank interval cannot rule out of the top
        reach = cells[ctx.top.reach[cells] & ctx.unvisited[cells] & ~ctx.blocked[cells]]
        reach = np.array(sorted(int(c) for c in reach if int(c) not in taken), dtype=np.int64)
        drawn = draw_weighted(reach, ctx.top.p[reach], k, rng_explore)
        taken.update(drawn)
    pool = np.array(sorted(c for c in top[n_top:] if ctx.overdue[c] and c not in taken),
                    dtype=np.int64)
    drawn += draw_weighted(pool, surface.p_score.ravel()[pool], k - len(drawn), rng_explore)
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
