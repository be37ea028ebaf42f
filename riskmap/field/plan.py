"""The weekly patrol plan: which cells each village checks this week, and in what order.

Per township and village, for one ISO week (``2026-W49``):

1. **重点 (priority).** The ``plan.per_village`` cells of class ≥ ``plan.min_class``
   with the highest *adjusted* score inside the village.
2. **发现点周边 (near finds).** Cells with a find (发现疑似 / 发现非法采矿 / 已取缔) in
   the last ``plan.raise_weeks`` weeks and their 8 neighbours, best first, at
   most ``plan.near_finds`` more per village, whatever their class.
3. **随机抽查 (random check).** ⌈``random_share`` × max(chosen, ``per_village``)⌉
   cells drawn uniformly from the village's other cells, with a generator seeded
   by ``plan.seed``, the week and the village, so the plan is reproducible but
   patrols are not predictable, and the negatives it returns are unbiased.

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
import zlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer
from scipy.ndimage import binary_dilation

from riskmap.errors import GridError, RiskmapError
from riskmap.field.rules import (
    NO_VILLAGE,
    REASON_NEAR,
    REASON_RANDOM,
    REASON_TOP,
    PlanConfig,
)
from riskmap.field.tours import plan_tour
from riskmap.field.week import Week
from riskmap.grid.cellid import cell_ids, parse_cell_id
from riskmap.load.project import Project
from riskmap.score.cells import cell_table
from riskmap.score.engine import Surface

__all__ = ["NO_VILLAGE", "REASON_NEAR", "REASON_RANDOM", "REASON_TOP", "Adjustment",
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

    @property
    def cells(self) -> list[PlanCell]:
        """Every cell of the township, village by village, in visiting order."""
        return [c for v in self.villages for c in v.cells]


@dataclass
class Adjustment:
    """History's effect on the ranking (patrol-grid arrays)."""

    factor: np.ndarray  # float64 multiplier, 1 = none
    raised: np.ndarray  # bool: find cells and neighbours
    damped: np.ndarray  # bool
    finds: int = 0
    negatives: int = 0


# --------------------------------------------------------------------------- history → ranking
def history_adjustment(surface: Surface, inspections: pd.DataFrame | None, week: Week,
                       cfg: PlanConfig) -> Adjustment:
    """Multipliers of the patrol-cell scores from past inspections.

    Parameters
    ----------
    surface : Surface
    inspections : pandas.DataFrame or None
        Columns ``cell_id``, ``week`` (``2026-W48``), ``found`` (bool), e.g. from
        :meth:`riskmap.field.history.History.inspections`. Rows outside the grid are ignored.
    week : Week
        The week being planned; only earlier weeks count.
    cfg : PlanConfig

    Returns
    -------
    Adjustment
    """
    shape = surface.patrol_grid.shape
    finds = np.zeros(shape, bool)
    neg = np.zeros(shape, bool)
    if inspections is not None and len(inspections):
        pg = surface.patrol_grid
        wk = inspections["week"].map(Week.parse)
        age = wk.map(lambda w: (week.monday - w.monday).days // 7)
        ids = inspections["cell_id"].astype(str).to_numpy()
        rc = {}
        for cid in set(ids):
            try:
                x, y = parse_cell_id(cid, pg.cell)
            except GridError:
                continue
            r, c = pg.rowcol(x + pg.cell / 2, y + pg.cell / 2)
            if 0 <= r < pg.nrows and 0 <= c < pg.ncols:
                rc[cid] = (int(r), int(c))
        for cid, a, found in zip(ids, age, inspections["found"].astype(bool), strict=True):
            if cid not in rc or a < 1:
                continue
            if found and a <= cfg.raise_weeks:
                finds[rc[cid]] = True
            elif not found and a <= cfg.damp_weeks:
                neg[rc[cid]] = True
    raised = binary_dilation(finds, structure=np.ones((3, 3), bool)) if finds.any() else finds
    damped = neg & ~raised
    factor = np.ones(shape)
    factor[raised] = cfg.raise_factor
    factor[damped] = cfg.damp_factor
    return Adjustment(factor, raised, damped, int(finds.sum()), int(neg.sum()))


# --------------------------------------------------------------------------- the plan
def village_rng(seed: int, week: Week, township: str, village: str) -> np.random.Generator:
    """The random generator of one village's random checks (same inputs → same draw)."""
    key = zlib.crc32(f"{township}/{village}".encode())
    return np.random.default_rng(np.random.SeedSequence([seed, week.year, week.week, key]))


def make_plan(project: Project, surface: Surface, inputs, week: Week | str, *,
              townships=None, inspections: pd.DataFrame | None = None, roster=None,
              village_points=None, build_date: str | None = None) -> list[TownshipPlan]:
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
        Past inspections (see :func:`history_adjustment`).
    roster : riskmap.load.roster.Roster, optional
        Responsible cadres.
    village_points : geopandas.GeoDataFrame, optional
        Columns ``name``, optionally ``township``, point geometry (working CRS).
    build_date : str, optional
        Date stamp of the outputs (default: now).

    Returns
    -------
    list of TownshipPlan

    Raises
    ------
    RiskmapError
        For an unknown township.
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
    adj = history_adjustment(surface, inspections, week, cfg)
    pg = surface.patrol_grid
    inside = surface.p_area
    score = np.where(inside, surface.p_score, np.nan)
    adj_score = score * adj.factor
    to_wgs = Transformer.from_crs(project.crs, "EPSG:4326", always_xy=True)
    rules = cfg.rules(week)
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
            chosen = _choose(cells, surface, adj_score, adj, cfg, pg,
                             village_rng(cfg.seed, week, tname, vname))
            start, kind = _start(inputs, village_points, tname, vname, vi, cells, pg)
            plans.append(_village_plan(project, surface, tname, vname, chosen, start, kind,
                                       score, adj_score, adj, to_wgs, roster))
        tp = TownshipPlan(project.name, project.crs, tname, week, build_date, rules,
                          [p for p in plans if p.cells], cell_size=pg.cell)
        for no, c in enumerate(tp.cells, start=1):  # the township's visit numbers
            c.no = no
        if adj.finds or adj.negatives:
            tp.notes.append(f"历史调整 (history): {adj.finds} 个有发现网格, {adj.negatives} 个"
                            "已排查未发现网格 (全区)")
        missing = [p.village for p in tp.villages if not p.responsible]
        if roster is not None and missing:
            tp.notes.append(f"未指定责任人 (no responsible person in the roster): "
                            f"{', '.join(missing)}")
        out.append(tp)
    return out


def _vname(vnames: list[str], i: int, township: str) -> str:
    if i == 0:
        return township if not vnames else NO_VILLAGE
    return vnames[i - 1]


def _order(cells: np.ndarray, adj_score: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Cells by adjusted score, highest first; ties by cell id (stable, reproducible)."""
    return cells[np.lexsort((ids, -adj_score.ravel()[cells]))]


def _choose(cells, surface, adj_score, adj: Adjustment, cfg: PlanConfig, pg, rng):
    """[(flat index, reason)] of one village."""
    rows, cols = np.divmod(cells, pg.ncols)
    ids = cell_ids(pg.x0 + cols * pg.cell, pg.y0 - (rows + 1) * pg.cell, pg.cell)
    by_id = dict(zip(cells.tolist(), ids.tolist(), strict=True))
    cls = surface.p_class.ravel()[cells]
    chosen: list[tuple[int, str]] = []
    taken: set[int] = set()
    top = cells[cls >= cfg.min_class]
    top = _order(top, adj_score, np.array([by_id[c] for c in top], dtype=object))
    for c in top[:cfg.per_village]:
        chosen.append((int(c), REASON_TOP))
        taken.add(int(c))
    near = cells[adj.raised.ravel()[cells]]
    near = [c for c in _order(near, adj_score, np.array([by_id[c] for c in near], dtype=object))
            if int(c) not in taken][:cfg.near_finds]
    for c in near:
        chosen.append((int(c), REASON_NEAR))
        taken.add(int(c))
    pool = np.array(sorted(set(cells.tolist()) - taken), dtype=np.int64)
    k = min(cfg.n_random(len(chosen)), len(pool))
    if k:
        for c in np.sort(rng.choice(pool, size=k, replace=False)):
            chosen.append((int(c), REASON_RANDOM))
    return chosen


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
                  adj: Adjustment, to_wgs, roster) -> VillagePlan:
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
        note = ""
        if adj.raised.ravel()[f]:
            note = f"提高 ×{adj.factor.ravel()[f]:g} (近期发现点及周边)"
        elif adj.damped.ravel()[f]:
            note = f"压低 ×{adj.factor.ravel()[f]:g} (近期已查未发现)"
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
            responsible=name, phone=phone))
    vname_resp = roster.lookup(tname, vname, None) if roster is not None else ("", "")
    slon, slat = to_wgs.transform(*start)
    return VillagePlan(tname, vname, start, (float(slon), float(slat)), kind, cells,
                       round(length, 1), round(nn_length, 1), *vname_resp)


# --------------------------------------------------------------------------- into the history
def plan_rows(tp: TownshipPlan) -> list[dict]:
    """The township's cells as the history stores them (:meth:`History.add_plan`)."""
    return [{"village": c.village, "seq": c.seq, "cell_id": c.cell_id, "reason": c.reason,
             "class": c.cls, "score": c.score, "adj_score": c.adj_score,
             "adjustment": c.adjustment, "x": c.x, "y": c.y} for c in tp.cells]


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
                            cfg.as_dict(), tp.build_date)
