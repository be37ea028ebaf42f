"""The weekly patrol plan: which cells each village checks this week, and in what order.

Per township and village, for one ISO week (``2026-W49``):

0. **指定 / 取消 (analyst overrides).** Cells the analyst adds for the week
   (``riskmap plan --add CELL=理由``) come first, whatever their class; cells
   suppressed (``--suppress CELL=理由``) are chosen by no rule. Both are recorded
   with reason and date (:class:`~riskmap.field.rules.Override`) and shown.
1. **重点 (priority).** The ``per_village − k`` cells of class ≥ ``plan.min_class``
   with the highest *adjusted* score inside the village, ``k`` the exploration
   picks below.
2. **探索 (exploration).** ``k`` = ⌈``plan.explore_share`` × ``per_village``⌉ cells
   drawn among the village's other cells of class ≥ ``min_class`` never checked
   or not for ``plan.overdue_weeks`` weeks, with probability proportional to
   their score (a generator seeded like the random checks, its own stream); when
   fewer are overdue, the next priority cells fill the places. When the project
   names the rank interval of its calibration (``interval``), the picks are
   drawn first among the village's cells, of any class, unvisited as above,
   whose 95 % rank bound reaches the top class although their point rank does
   not (cells the data cannot rule out), with probability proportional to their
   chance of reaching it (:func:`~riskmap.field.select.reach_top`); the rule
   above fills what they leave.
3. **发现点周边 (near finds).** Cells with a find (发现疑似 / 发现非法采矿 / 已取缔) in
   the last ``plan.raise_weeks`` weeks and their 8 neighbours, best first, at
   most ``plan.near_finds`` more per village, whatever their class.
4. **随机抽查 (random check).** ⌈``random_share`` × max(chosen, ``per_village``)⌉
   cells drawn uniformly from the village's other cells, with a generator seeded
   by ``plan.seed``, the week and the village, so the plan is reproducible but
   patrols are not predictable, and the negatives it returns are unbiased.

**Never two weeks running**: a cell of last week's plan is chosen by none of
these rules this week unless a recent find raised it (it may then come back as
发现点周边 or 重点); only the analyst can add it again.

The adjusted score is the patrol cell's score times ``plan.raise_factor`` for a
find cell or a neighbour of one (last ``raise_weeks`` weeks), times
``plan.damp_factor`` for a cell inspected with nothing found in the last
``damp_weeks`` weeks (a find wins over a negative); it only ranks, the class is
the build's. The visiting order starts at the village committee point
(``village_points``; else a point inside the village polygon): a nearest-neighbour
tour improved by 2-opt over the cell centres, straight-line length, back to the
start. The rule is written into every output (:meth:`PlanConfig.rules`).

Every cell also gets its **visit number** (:attr:`PlanCell.no`): 1, 2, 3, …
through the township, village after village, each village's cells in its
visiting order. It is the number printed on the plan sheet and carried by the
ledger rows and the KMZ, GPX and 奥维 placemarks (:attr:`PlanCell.label`), so one
number names one cell of the township's week everywhere.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import shapely

from riskmap.crs.transform import transformer
from riskmap.errors import RiskmapError
from riskmap.field.effort import Adjustment, history_adjustment
from riskmap.field.rules import (
    NO_VILLAGE,
    REASON_ADDED,
    REASON_EXPLORE,
    REASON_NEAR,
    REASON_RANDOM,
    REASON_TOP,
    Override,
    PlanConfig,
)
from riskmap.field.select import Selection, choose, selection, village_rng
from riskmap.field.tours import plan_tour
from riskmap.field.week import Week
from riskmap.load.project import Project
from riskmap.score.cells import cell_table, patrol_interval
from riskmap.score.engine import Surface

__all__ = ["NO_VILLAGE", "REASON_ADDED", "REASON_EXPLORE", "REASON_NEAR", "REASON_RANDOM",
           "REASON_TOP", "Adjustment",
           "PlanCell", "PlanConfig", "TownshipPlan", "VillagePlan", "history_adjustment",
           "make_plan", "plan_rows", "record_plan", "village_rng"]

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- results
@dataclass
class PlanCell:
    """One cell of a village's list, in visiting order."""

    seq: int
    cell_id: str
    township: str
    village: str
    reason: str
    cls: int
    score: float
    adj_score: float
    adjustment: str  # "" | "提高 ×1.5 (…)" | "压低 ×0.5 (…)"
    x: float
    y: float
    lon: float
    lat: float
    top_factors: str
    breakdown: list[tuple[str, float, str]] = field(default_factory=list)  # label, pts, value
    responsible: str = ""
    phone: str = ""
    no: int = 0  # visit number in the township (see the module docstring)
    override: str = ""  # the analyst's reason of an added cell: "分析员指定: … (date)"
    rank: str = ""  # the calibration's rank interval, "前 3–20 %" ("" without one)

    @property
    def label(self) -> str:
        """Visit number and cell id, as the placemarks are named: ``"03 456-4190-37"``."""
        return f"{self.no:02d} {self.cell_id}"

    @property
    def priority(self) -> str:
        """What the ledger's 优先级 column says: the class and, if not 重点, why."""
        return f"{self.cls}级" + ("" if self.reason == REASON_TOP else f" {self.reason}")


@dataclass
class VillagePlan:
    """One village's cells for the week and its route."""

    township: str
    village: str
    start: tuple[float, float]  # working CRS
    start_lonlat: tuple[float, float]
    start_kind: str  # "村委会" or "村域内点"
    cells: list[PlanCell]
    length_m: float  # 2-opt tour, round trip
    nn_length_m: float  # nearest-neighbour tour it started from
    responsible: str = ""
    phone: str = ""

    def count(self, reason: str) -> int:
        """Cells chosen for ``reason``."""
        return sum(c.reason == reason for c in self.cells)


@dataclass
class TownshipPlan:
    """A township's week: its villages' lists, the rule, the dates."""

    project_name: str
    crs: str
    township: str
    week: Week
    build_date: str
    rules: list[str]
    villages: list[VillagePlan]
    notes: list[str] = field(default_factory=list)
    cell_size: float = 100.0  # patrol cell size, m
    overrides: list[Override] = field(default_factory=list)  # the analyst's, this township
    interval: bool = False  # the plan read a calibration's rank interval (PlanCell.rank)

    @property
    def suppressed(self) -> list[Override]:
        """The cells the analyst suppressed this week (shown beside the plan)."""
        return [o for o in self.overrides if o.action == "suppress"]

    @property
    def cells(self) -> list[PlanCell]:
        """Every cell of the township, village by village, in visiting order."""
        return [c for v in self.villages for c in v.cells]


# --------------------------------------------------------------------------- the plan
def make_plan(project: Project, surface: Surface, inputs, week: Week | str, *,
              townships=None, inspections: pd.DataFrame | None = None, roster=None,
              village_points=None, build_date: str | None = None, previous=None,
              overrides=()) -> list[TownshipPlan]:
    """The week's patrol lists of the townships.

    Parameters
    ----------
    project : Project
    surface : Surface
        From :func:`riskmap.score.engine.compute`.
    inputs : Inputs
        From :func:`riskmap.load.inputs.load_inputs` (village polygons for start points).
    week : Week or str
    townships : list of str, optional
        Default: every township.
    inspections : pandas.DataFrame, optional
        Past inspections (see :func:`~riskmap.field.effort.history_adjustment`);
        only weeks before ``week`` count. All of them give the exploration pool
        (weeks since each cell was last checked).
    roster : riskmap.load.roster.Roster, optional
        Responsible cadres.
    village_points : geopandas.GeoDataFrame, optional
        Columns ``name``, optionally ``township``, point geometry (working CRS).
    build_date : str, optional
        Date stamp of the outputs (default: now).
    previous : pandas.DataFrame or iterable of str, optional
        Last week's planned cells (``cell_id`` and optionally ``x``, ``y``, as
        :meth:`riskmap.field.history.History.planned` gives them, or bare ids):
        chosen again only when raised by a find.
    overrides : sequence of Override
        The analyst's additions and suppressions
        (:func:`riskmap.field.rules.parse_overrides`).

    Returns
    -------
    list of TownshipPlan

    Raises
    ------
    RiskmapError
        For an unknown township, or an override of a cell that is not a patrol
        cell of the district or lies in a township not planned.
    """
    week = Week.parse(week)
    cfg = PlanConfig.from_project(project)
    build_date = build_date or dt.datetime.now().astimezone().isoformat(timespec="seconds")
    names = list(surface.township_names)
    wanted = list(townships) if townships else names
    unknown = [t for t in wanted if t not in names]
    if unknown:
        raise RiskmapError(f"未知乡镇 (unknown township) {', '.join(unknown)}; "
                           f"valid names: {', '.join(names)}")
    interval = patrol_interval(surface, project)  # None: exploration as without one
    ctx, where = selection(surface, inspections, week, cfg, previous, overrides, wanted,
                           interval)
    pg = surface.patrol_grid
    inside = surface.p_area
    score = np.where(inside, surface.p_score, np.nan)
    adj_score = ctx.adj_score.reshape(pg.shape)
    to_wgs = transformer(project.crs, "EPSG:4326", always_xy=True)
    rules = cfg.rules(week, None if ctx.top is None else ctx.top.share)
    vnames = list(surface.village_names)
    flat_all = np.flatnonzero(inside.ravel())
    t_of = surface.township.ravel()[flat_all]
    v_of = surface.village.ravel()[flat_all]
    out = []
    for tname in wanted:
        ti = names.index(tname) + 1
        in_t = flat_all[t_of == ti]
        vill = v_of[t_of == ti]
        plans = []
        for vi in sorted(set(vill.tolist()), key=lambda i: (i == 0, _vname(vnames, i, tname))):
            vname = _vname(vnames, vi, tname)
            cells = in_t[vill == vi]
            chosen = choose(cells, surface, ctx, cfg, pg,
                             village_rng(cfg.seed, week, tname, vname),
                             village_rng(cfg.seed, week, tname, vname, stream=1))
            start, kind = _start(inputs, village_points, tname, vname, vi, cells, pg)
            plans.append(_village_plan(project, surface, tname, vname, chosen, start, kind,
                                       score, adj_score, ctx, to_wgs, roster))
        tp = TownshipPlan(project.name, project.crs, tname, week, build_date, rules,
                          [p for p in plans if p.cells], cell_size=pg.cell,
                          overrides=[o for o, t in where if t == tname],
                          interval=ctx.top is not None)
        for no, c in enumerate(tp.cells, start=1):  # the township's visit numbers
            c.no = no
        _notes(tp, ctx, roster)
        out.append(tp)
    return out


def _notes(tp: TownshipPlan, ctx: Selection, roster) -> None:
    """The township's notes: history's effect, the analyst's overrides, missing cadres."""
    adj = ctx.adj
    if adj.finds or adj.negatives:
        tp.notes.append(f"历史调整 (history): {adj.finds} 个有发现网格, {adj.negatives} 个"
                        "已排查未发现网格 (全区)")
    for o in tp.overrides:
        tp.notes.append(f"{o.text}: {o.cell_id}")
    missing = [p.village for p in tp.villages if not p.responsible]
    if roster is not None and missing:
        tp.notes.append(f"未指定责任人 (no responsible person in the roster): "
                        f"{', '.join(missing)}")


def _vname(vnames: list[str], i: int, township: str) -> str:
    if i == 0:
        return township if not vnames else NO_VILLAGE
    return vnames[i - 1]


def _start(inputs, village_points, township, village, vi, cells, pg):
    """Start point of a village's tour: its committee point, else a point inside it."""
    if village_points is not None and len(village_points):
        vp = village_points
        hit = vp["name"].astype(str).str.strip() == village
        if "township" in vp.columns:
            both = hit & (vp["township"].astype(str).str.strip() == township)
            hit = both if both.any() else hit
        if hit.any():
            p = vp.geometry.values[np.flatnonzero(hit.to_numpy())[0]]
            if p is not None and not p.is_empty:
                return (float(p.x), float(p.y)), "村委会"
    geom = None
    if vi > 0 and inputs is not None and inputs.villages is not None:
        geom = inputs.villages.geometry.values[vi - 1]
    elif inputs is not None and village == township:
        names = list(inputs.townships["name"])
        if township in names:
            geom = inputs.townships.geometry.values[names.index(township)]
    if geom is not None and not geom.is_empty:
        p = shapely.point_on_surface(geom)
        return (float(p.x), float(p.y)), "村域内点"
    r, c = np.divmod(cells, pg.ncols)
    x, y = pg.xy(r, c)
    return (float(np.mean(x)), float(np.mean(y))), "村域内点"


def _village_plan(project, surface, tname, vname, chosen, start, kind, score, adj_score,
                  ctx: Selection, to_wgs, roster) -> VillagePlan:
    flat = np.array([c for c, _ in chosen], dtype=np.int64)
    reason = [r for _, r in chosen]
    if not len(flat):
        return VillagePlan(tname, vname, start, to_wgs.transform(*start), kind, [], 0.0, 0.0)
    table = cell_table(surface, project, flat)
    order, length, nn_length = plan_tour(start, table[["x", "y"]].to_numpy())
    lon, lat = to_wgs.transform(table["x"].to_numpy(), table["y"].to_numpy())
    cells = []
    for seq, i in enumerate(order, start=1):
        f = flat[i]
        row = table.iloc[i]
        note = _why_note(ctx, f, reason[i])
        breakdown = []
        for spec in project.factors:
            pts = float(row[f"c_{spec.name}"])
            v = row[f"v_{spec.name}"]
            unit = surface.factors[spec.name].unit
            val = "" if pd.isna(v) else (f"{v:.0f} m" if unit == "m" else f"{v:.1f}/km²")
            if abs(pts) >= 0.05:
                breakdown.append((spec.label, pts, val))
        breakdown.sort(key=lambda b: -abs(b[1]))
        name, phone = ("", "")
        if roster is not None:
            name, phone = roster.lookup(tname, vname, str(row["id"]))
        cells.append(PlanCell(
            seq=seq, cell_id=str(row["id"]), township=tname, village=vname, reason=reason[i],
            cls=int(row["class"]), score=float(row["score"]),
            adj_score=round(float(adj_score.ravel()[f]), 2), adjustment=note,
            x=float(row["x"]), y=float(row["y"]), lon=float(lon[i]), lat=float(lat[i]),
            top_factors=str(row["top_factors"] or ""), breakdown=breakdown,
            responsible=name, phone=phone,
            override=ctx.added[f].text if int(f) in ctx.added else "",
            rank=str(ctx.top.text[f]) if ctx.top is not None else ""))
    vname_resp = roster.lookup(tname, vname, None) if roster is not None else ("", "")
    slon, slat = to_wgs.transform(*start)
    return VillagePlan(tname, vname, start, (float(slon), float(slat)), kind, cells,
                       round(length, 1), round(nn_length, 1), *vname_resp)


def _why_note(ctx: Selection, f: int, reason: str) -> str:
    """History's word on a chosen cell: raised, damped, and for exploration how long unvisited."""
    adj = ctx.adj
    notes = []
    if adj.raised.ravel()[f]:
        notes.append(f"提高 ×{adj.factor.ravel()[f]:g} (近期发现点及周边)")
    elif adj.damped.ravel()[f]:
        notes.append(f"压低 ×{adj.factor.ravel()[f]:g} (近期已查未发现)")
    if reason == REASON_EXPLORE:
        ws = int(ctx.effort.weeks_since.ravel()[f])
        when = ("从未排查 (never checked)" if ws < 0
                else f"{ws} 周未查 (not checked for {ws} weeks)")
        if ctx.top is not None and ctx.top.reach[f]:  # drawn for what the data cannot rule out
            when = (f"区间可达最高级 (排名区间 {ctx.top.text[f]}, 可达概率约 "
                    f"{100 * ctx.top.p[f]:.0f} %: the data cannot rule out the top class), "
                    + when)
        notes.append(f"探索: {when}")
    return "; ".join(notes)


# --------------------------------------------------------------------------- into the history
def plan_rows(tp: TownshipPlan) -> list[dict]:
    """The township's cells as the history stores them (:meth:`History.add_plan`)."""
    return [{"village": c.village, "seq": c.seq, "cell_id": c.cell_id, "reason": c.reason,
             "class": c.cls, "score": c.score, "adj_score": c.adj_score,
             "adjustment": c.adjustment, "x": c.x, "y": c.y, "override": c.override}
            for c in tp.cells]


def record_plan(history, tp: TownshipPlan, cfg: PlanConfig) -> int:
    """Store one township's plan as a new plan run of its week; return the run id.

    Parameters
    ----------
    history : riskmap.field.history.History
        The open database.
    tp : TownshipPlan
    cfg : PlanConfig
        The settings the plan was made with (stored beside it).
    """
    return history.add_plan(tp.week, tp.township, plan_rows(tp), "\n".join(tp.rules),
                            cfg.as_dict(), tp.build_date, overrides=tp.overrides)
