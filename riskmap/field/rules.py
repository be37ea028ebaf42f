"""The plan's rule: the ``plan:`` settings of a project, checked, the rule in words, overrides."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from riskmap.errors import ProjectFileError, RiskmapError
from riskmap.field.week import Week
from riskmap.load.project import Project

__all__ = ["NO_VILLAGE", "REASONS", "REASON_ADDED", "REASON_EXPLORE", "REASON_NEAR",
           "REASON_RANDOM", "REASON_TOP", "Override", "PlanConfig", "parse_overrides"]

REASON_TOP = "重点"
REASON_NEAR = "发现点周边"
REASON_RANDOM = "随机抽查"
#: long-unvisited cells drawn for exploration (plan.explore_share)
REASON_EXPLORE = "探索"
#: a cell the analyst added for the week (``riskmap plan --add``)
REASON_ADDED = "指定"
#: every reason, in the order the outputs count them
REASONS = (REASON_TOP, REASON_NEAR, REASON_EXPLORE, REASON_RANDOM, REASON_ADDED)
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
    explore_share : float
        Share of each village's ``per_village`` picks drawn for exploration among
        its cells of class ≥ ``min_class`` never checked or not for
        ``overdue_weeks`` weeks, weighted by score (default 0.2), see
        :meth:`n_explore`.
    overdue_weeks : int
        Weeks without a check after which a cell of class ≥ ``min_class`` is
        overdue (default 8): the exploration pool, the build's ``overdue`` layer
        and the weekly list of overdue cells.
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
    explore_share: float = 0.2
    overdue_weeks: int = 8
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
            explore_share=number("explore_share", 0.0, 1.0),
            overdue_weeks=integer("overdue_weeks", 1, 520),
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

    def n_explore(self) -> int:
        """Exploration picks of a village: ⌈explore_share × per_village⌉ of its picks."""
        if self.explore_share <= 0 or self.per_village <= 0:
            return 0
        return min(self.per_village, math.ceil(round(self.explore_share * self.per_village, 9)))

    def rules(self, week: Week, top_share: float | None = None) -> list[str]:
        """The selection rule in words, as stated in every output.

        ``top_share`` (the top class's share of the district's cells, %) says
        that the exploration uses the rank interval of a calibration first
        (:func:`riskmap.field.select.reach_top`); None: there is none.
        """
        k, top = self.n_explore(), self.per_village - self.n_explore()
        lines = [
            f"重点: 每村取 {self.min_class} 级及以上网格中调整后风险分最高的 {top} 个 "
            f"(priority: the top {top} cells of class ≥ {self.min_class} by adjusted score).",
            f"{REASON_EXPLORE}: 每村另 {k} 个 (⌈{self.explore_share:g} × {self.per_village}⌉) 从 "
            f"{self.min_class} 级及以上、从未排查或 {self.overdue_weeks} 周以上未查的网格中按风险分"
            f"加权随机抽取, 随机种子 {self.seed} + 周次 {week} + 村名; 不足时由重点补足 "
            f"(exploration: {k} per village drawn, weighted by score, among cells of class ≥ "
            f"{self.min_class} never checked or not for {self.overdue_weeks} weeks; "
            "seeded; priority cells fill any shortfall).",
            *([] if top_share is None else [
                f"{REASON_EXPLORE} (区间): 有校准排名区间时, 探索名额先从 95% 排名上界进入最高级 "
                f"(全区前 {top_share:g} %) 而点估计未达、从未排查或 {self.overdue_weeks} 周以上未查"
                "的网格中抽取, 按达到最高级的概率加权; 不足时按上条 (exploration first among "
                "cells whose 95 % rank bound reaches the top class while their point rank does "
                "not: the data cannot rule them out; weighted by the chance of reaching it)."]),
            f"提高: 近 {self.raise_weeks} 周有发现 (发现疑似/发现非法采矿/已取缔) 的网格及其"
            f"周边 8 格, 风险分 ×{self.raise_factor:g}; 每村另加最多 {self.near_finds} 个 "
            f"({REASON_NEAR}) "
            f"(raised: find cells and their 8 neighbours, last {self.raise_weeks} weeks).",
            f"压低: 近 {self.damp_weeks} 周已排查且未发现的网格, 风险分 ×{self.damp_factor:g}, "
            "仅用于排序; 有发现者不压低 (damped: inspected with nothing found; ranking only).",
            f"{REASON_RANDOM}: 每村另从其余网格中均匀随机抽取 ⌈{self.random_share:g} × max(已选数, "
            f"{self.per_village})⌉ 个, 随机种子 {self.seed} + 周次 {week} + 村名, 可复现 "
            "(random checks: unpredictable patrols, unbiased negatives).",
            "不连续: 上周计划过的网格本周不再选, 除非近期发现使其提高 (no cell in consecutive "
            "weeks unless raised by a find).",
            f"{REASON_ADDED}/取消: 分析员可为本周指定或取消网格, 理由与日期记入历史库并在台账、"
            "计划图和 KMZ 中列出 (analyst overrides: added or suppressed cells, with reason "
            "and date, recorded and shown).",
            "巡查顺序: 从村委会出发, 最近邻路线经 2-opt 优化, 直线距离, 含返回村委会 "
            "(visiting order: nearest neighbour + 2-opt, straight lines, round trip).",
            "未上报视为未发现, 但未上报的村在周报中列出 (not reported = nothing found; listed).",
        ]
        if self.roads is not None:
            lines.append("道路图层已配置, 本版仍按直线距离排序 (plan.roads is not used yet).")
        return lines


# --------------------------------------------------------------------------- overrides
@dataclass(frozen=True)
class Override:
    """The analyst's change to a week's plan: a cell added or suppressed, why, and when."""

    cell_id: str
    action: str  #: "add" | "suppress"
    reason: str
    date: str  #: ISO date the override was made

    @property
    def text(self) -> str:
        """How the outputs say it: ``"分析员指定: 群众反映 (2026-11-27)"``."""
        word = "分析员指定" if self.action == "add" else "分析员取消"
        return f"{word}: {self.reason} ({self.date[:10]})"


_OVERRIDE = re.compile(r"^\s*([^=＝]+?)\s*[=＝]\s*(.*?)\s*$", re.S)


def parse_overrides(adds: Iterable[str] = (), suppresses: Iterable[str] = (), *,
                    date: str) -> list[Override]:
    """``CELL=理由`` options (``--add``, ``--suppress``) as overrides.

    Parameters
    ----------
    adds, suppresses : iterable of str
        ``"451-4190-97=群众反映夜间有车"``: a cell id (full-width digits and
        spaces allowed), ``=``, the reason (required).
    date : str
        ISO date (or time stamp) the overrides are made.

    Returns
    -------
    list of Override
        In the order given, adds first.

    Raises
    ------
    RiskmapError
        A value without ``=`` or without a reason, or a cell both added and
        suppressed, named with the option.
    """
    out: list[Override] = []
    for action, values in (("add", adds), ("suppress", suppresses)):
        for v in values:
            m = _OVERRIDE.match(unicodedata.normalize("NFKC", str(v)))
            if not m or not m[2]:
                raise RiskmapError(f"--{action} {v!r}: write it as CELL=理由, e.g. "
                                   "451-4190-97=群众反映夜间有车 (a cell id, '=', the reason)")
            cid = re.sub(r"\s+", "", m[1]).replace("－", "-").replace("—", "-")
            out.append(Override(cid, action, m[2], date))
    both = {o.cell_id for o in out if o.action == "add"} & {
        o.cell_id for o in out if o.action == "suppress"}
    if both:
        raise RiskmapError(f"网格 {', '.join(sorted(both))} 既指定又取消 (both --add and "
                           "--suppress); give one")
    return out
