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
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer
from scipy.ndimage import binary_dilation

from riskmap.errors import GridError, ProjectFileError, RiskmapError
from riskmap.field.history import Week
from riskmap.grid.cellid import cell_ids, parse_cell_id
from riskmap.load.project import Project
from riskmap.score.cells import cell_table
from riskmap.score.engine import Surface

log = logging.getLogger(__name__)

REASON_TOP = "重点"
REASON_NEAR = "发现点周边"
REASON_RANDOM = "随机抽查"
NO_VILLAGE = "(未划村)"


# --------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class PlanConfig:
    """The ``plan:`` section of a project, checked, with defaults.

    Attributes
    ----------
    per_village : int
        Priority cells per village (default 5).
    near_finds : int
        At most this many cells near recent finds added per village (default 9:
        a find cell and its 8 neighbours).
    random_share : float
        Share of random checks (default 0.1), see the module docstring.
    damp_weeks : int
        Weeks a negative inspection damps a cell (default 4).
    damp_factor : float
        Score multiplier of damped cells, in (0, 1] (default 0.5).
    raise_factor : float
        Score multiplier of find cells and their neighbours, ≥ 1 (default 1.5).
    raise_weeks : int
        Weeks a find raises its cell and neighbours (default 8).
    seed : int
        Seed of the random checks (default 0); combined with the week and village.
    min_class : int
        Lowest class of a priority cell, 1–5 (default 3).
    roads : Source or None
        Road layer; accepted, distances are straight lines for now.
    """

    per_village: int = 5
    near_finds: int = 9
    random_share: float = 0.1
    damp_weeks: int = 4
    damp_factor: float = 0.5
    raise_factor: float = 1.5
    raise_weeks: int = 8
    seed: int = 0
    min_class: int = 3
    roads: object = None

    @classmethod
    def from_project(cls, project: Project) -> PlanConfig:
        """Check the project's ``plan`` dict; raise naming the key if a value is wrong.

        Raises
        ------
        ProjectFileError
        """
        raw = dict(project.plan or {})

        def fail(key, msg):
            raise ProjectFileError(f"{project.path}: plan.{key}: {msg}")

        def integer(key, lo, hi=None):
            v = raw.get(key, getattr(cls, key))
            if isinstance(v, bool) or not isinstance(v, int) or v < lo or (hi and v > hi):
                fail(key, f"must be a whole number ≥ {lo}" + (f" and ≤ {hi}" if hi else "")
                     + f", got {v!r}")
            return int(v)

        def number(key, lo, hi, lo_open=False):
            v = raw.get(key, getattr(cls, key))
            ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            if not ok or v > hi or v < lo or (lo_open and v == lo):
                fail(key, f"must be a number in {'(' if lo_open else '['}{lo:g}, {hi:g}], "
                     f"got {v!r}")
            return float(v)

        return cls(
            per_village=integer("per_village", 0),
            near_finds=integer("near_finds", 0),
            random_share=number("random_share", 0.0, 1.0),
            damp_weeks=integer("damp_weeks", 0),
            damp_factor=number("damp_factor", 0.0, 1.0, lo_open=True),
            raise_factor=number("raise_factor", 1.0, 100.0),
            raise_weeks=integer("raise_weeks", 0),
            seed=integer("seed", 0),
            min_class=integer("min_class", 1, 5),
            roads=raw.get("roads"),
        )

    def as_dict(self) -> dict:
        """Settings as plain values (for the history database)."""
        d = asdict(self)
        d["roads"] = str(self.roads) if self.roads is not None else None
        return d

    def n_random(self, chosen: int) -> int:
        """Random checks of a village where ``chosen`` cells were picked by rule."""
        if self.random_share <= 0:
            return 0
        return math.ceil(round(self.random_share * max(chosen, self.per_village, 1), 9))

    def rules(self, week: Week) -> list[str]:
        """The selection rule in words, as stated in every output."""
        lines = [
            f"重点: 每村取 {self.min_class} 级及以上网格中调整后风险分最高的 {self.per_village} 个 "
            f"(priority: the top {self.per_village} cells of class ≥ {self.min_class} by "
            "adjusted score).",
            f"提高: 近 {self.raise_weeks} 周有发现 (发现疑似/发现非法采矿/已取缔) 的网格及其"
            f"周边 8 格, 风险分 ×{self.raise_factor:g}; 每村另加最多 {self.near_finds} 个 "
            f"({REASON_NEAR}) "
            f"(raised: find cells and their 8 neighbours, last {self.raise_weeks} weeks).",
            f"压低: 近 {self.damp_weeks} 周已排查且未发现的网格, 风险分 ×{self.damp_factor:g}, "
            "仅用于排序; 有发现者不压低 (damped: inspected with nothing found; ranking only).",
            f"{REASON_RANDOM}: 每村另从其余网格中均匀随机抽取 ⌈{self.random_share:g} × max(已选数, "
            f"{self.per_village})⌉ 个, 随机种子 {self.seed} + 周次 {week} + 村名, 可复现 "
            "(random checks: unpredictable patrols, unbiased negatives).",
            "巡查顺序: 从村委会出发, 最近邻路线经 2-opt 优化, 直线距离, 含返回村委会 "
            "(visiting order: nearest neighbour + 2-opt, straight lines, round trip).",
            "未上报视为未发现, 但未上报的村在周报中列出 (not reported = nothing found; listed).",
        ]
        if self.roads is not None:
            lines.append("道路图层已配置, 本版仍按直线距离排序 (plan.roads is not used yet).")
        return lines


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


# --------------------------------------------------------------------------- tours
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
    roster : riskmap.export.ledger.Roster, optional
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


# --------------------------------------------------------------------------- run
@dataclass
class PlanReport:
    """What :func:`run_plan` wrote."""

    week: Week
    plans: list[TownshipPlan]
    folders: dict[str, Path]
    files: list[Path]
    seconds: float
    run_ids: dict[str, int] = field(default_factory=dict)


PLAN_FILES = ("ledger.xlsx", "ledger.csv", "patrol.kmz", "patrol.gpx")


def default_plan_root(project: Project, week: Week) -> Path:
    """``<project output>/plan/<week>``: where a week's township folders go by default."""
    return project.output / "plan" / str(week)


def run_plan(project: Project, week, *, townships=None, out=None, overwrite: bool = False,
             paper: str = "A4", progress=None, record: bool = True) -> PlanReport:
    """Compute the surface, plan the week and write every township's files.

    Parameters
    ----------
    project : Project
    week : Week or str
        ``2026-W49``.
    townships : list of str, optional
        Default: all.
    out : Path, optional
        Root folder; files go to ``<out>/<township>/`` (default
        :func:`default_plan_root`).
    overwrite : bool
        Replace existing files (else an existing file is an error, before
        anything is written).
    paper : {"A4", "A3"}
        Print setup of the ledger.
    progress : callable, optional
        Called with a short message per step.
    record : bool
        Store the plan in the history database (default True).

    Returns
    -------
    PlanReport

    Raises
    ------
    RiskmapError
        Unknown township, existing files without ``overwrite``, bad layers.
    """
    from riskmap.export.atomic import check_free, safe_name
    from riskmap.export.fieldfiles import write_gpx, write_kmz
    from riskmap.export.ledger import (
        read_roster,
        read_village_points,
        write_ledger_csv,
        write_ledger_xlsx,
    )
    from riskmap.field.history import open_history
    from riskmap.load.inputs import load_inputs
    from riskmap.score.engine import compute

    t0 = time.perf_counter()
    week = Week.parse(week)
    cfg = PlanConfig.from_project(project)
    root = Path(out) if out else default_plan_root(project, week)
    inputs = load_inputs(project, progress)
    names = list(inputs.townships["name"])
    wanted = list(townships) if townships else names
    unknown = [t for t in wanted if t not in names]
    if unknown:
        raise RiskmapError(f"未知乡镇 (unknown township) {', '.join(unknown)}; "
                           f"valid names: {', '.join(names)}")
    folders = {t: root / safe_name(t) for t in wanted}
    for t in wanted:
        for f in PLAN_FILES:
            check_free(folders[t] / f, overwrite)
    roster = read_roster(project)
    vpoints = read_village_points(project)
    if progress:
        progress("计算风险面 (scoring)")
    surface = compute(project, inputs, progress)
    # without recording, a project that has no history yet gets none created
    # (a read-only project folder works with --no-record and --out elsewhere)
    from contextlib import nullcontext

    have = project.history is not None and Path(project.history).exists()
    with open_history(project) if (record or have) else nullcontext(None) as hist:
        back = max(cfg.damp_weeks, cfg.raise_weeks)
        past = (hist.inspections(week.shift(-back), week.shift(-1))
                if back and hist is not None else None)
        plans = make_plan(project, surface, inputs, week, townships=wanted, inspections=past,
                          roster=roster, village_points=vpoints)
        report = PlanReport(week, plans, folders, [], 0.0)
        for tp in plans:
            if progress:
                progress(f"输出 {tp.township} ({len(tp.cells)} 个网格)")
            folder = folders[tp.township]
            folder.mkdir(parents=True, exist_ok=True)
            write_ledger_xlsx(tp, folder / "ledger.xlsx", overwrite=overwrite, paper=paper)
            write_ledger_csv(tp, folder / "ledger.csv", overwrite=overwrite)
            write_kmz(tp, folder / "patrol.kmz", overwrite=overwrite)
            write_gpx(tp, folder / "patrol.gpx", overwrite=overwrite)
            report.files += [folder / f for f in PLAN_FILES]
            if record:
                rows = [{"village": c.village, "seq": c.seq, "cell_id": c.cell_id,
                         "reason": c.reason, "class": c.cls, "score": c.score,
                         "adj_score": c.adj_score, "adjustment": c.adjustment, "x": c.x,
                         "y": c.y} for c in tp.cells]
                report.run_ids[tp.township] = hist.add_plan(
                    week, tp.township, rows, "\n".join(tp.rules), cfg.as_dict(), tp.build_date)
    report.seconds = time.perf_counter() - t0
    return report
