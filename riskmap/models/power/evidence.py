"""What else tells a digging site from a legitimate step up: the place, the shape, the cases.

A meter's score (:mod:`.score`) says how unusual its consumption is. Three
more kinds of evidence weigh it, each said in the user's reasons:

* **place** — the user's place on the project's map of the *static* factors
  (mines, pits, outcrops, licences, premises, borders: everything but dated
  layers and the meter table itself), ranked among the places of all the
  table's users (users live in villages: the question is whether this one's
  place is riskier than a meter's usual place). A jump far from every mining
  feature is less likely to be digging: a user below the median user has its
  score scaled down (:data:`PLACE_FLOOR` at the bottom). A user placed by its
  village is judged by the riskiest tenth of the village (the site is
  somewhere in it);
* **shape** — a step that then stays flat month after month, with little
  spread, looks like a new machine (a legitimate expansion) more than like
  digging, which starts and stops with work, raids and weather (×
  :data:`STEADY_FACTOR`);
* **cases** — a step that ends within weeks of a case closed within
  :data:`CASE_RADIUS` m is the site the case shut down (× :data:`CASE_FACTOR`).

The category's seasonal pattern is taken out by :mod:`.score` (per category,
and per village where its users share one, such as electric heating).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from riskmap.grid import Grid

__all__ = ["CASE_FACTOR", "CASE_RADIUS", "PLACE_FLOOR", "STEADY_FACTOR", "PlaceMap",
           "apply_evidence", "case_drops", "place_map", "place_rank"]

PLACE_FLOOR = 0.5  # score multiplier of a user at the bottom of the map
PLACE_FULL = 0.5  # from this map percentile (share of the district below) on: no change
STEADY_FACTOR = 0.7
STEADY_SPREAD = 0.12  # robust spread (log) of the months after a step that counts as flat
CASE_FACTOR = 1.3
CASE_RADIUS = 1000.0
CASE_DAYS = 75  # a case this many days before (or 30 after) the month the step ended


@dataclass
class PlaceMap:
    """The static factors' map on the patrol grid, as percentiles of the district (0–1)."""

    grid: Grid
    rank: np.ndarray  # (rows, cols) float32, NaN outside the district
    factors: list[str]

    def at(self, x, y) -> np.ndarray:
        """Percentile at points (the best of the 3 × 3 cells around: GPS error)."""
        r, c = self.grid.rowcol(np.asarray(x, float), np.asarray(y, float))
        out = np.full(len(r), np.nan)
        pad = np.pad(self.rank, 1, constant_values=np.nan)
        ok = (r >= 0) & (r < self.grid.nrows) & (c >= 0) & (c < self.grid.ncols)
        with np.errstate(invalid="ignore"):
            stack = np.stack([pad[r[ok] + 1 + dr, c[ok] + 1 + dc]
                              for dr in (-1, 0, 1) for dc in (-1, 0, 1)])
        with np.errstate(all="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                out[ok] = np.nanmax(stack, axis=0)
        return out

    def in_polygon(self, poly, q: float = 0.9) -> float:
        """The ``q`` quantile of the percentiles over a polygon's cells (NaN if none)."""
        from riskmap.grid.burn import mask

        m = mask([poly], self.grid) & np.isfinite(self.rank)
        return float(np.quantile(self.rank[m], q)) if m.any() else np.nan


def place_map(project, progress=None, inputs=None) -> PlaceMap | None:
    """The map of the project's static factors (None when it has none).

    Dated factors (cases, tips), factors read from the incidents and the meter
    table's own anomaly layer are left out: the place must not know the
    meters, nor the cases a backtest keeps out. ``inputs`` (a build's
    :class:`~riskmap.load.inputs.Inputs`, holding those factors' layers) spares
    reading them again.
    """
    from riskmap.grid.burn import mask
    from riskmap.load.inputs import load_inputs
    from riskmap.score.engine import district_grid, factor_on_grid

    specs = [f for f in project.factors if f.weight and not _dated(project, f)]
    if not specs or not any(f.weight > 0 for f in specs):
        return None
    if progress:
        progress("用电户位置: 静态因子风险图 (the static factors' map at the users' places)")
    if inputs is None:
        with warnings.catch_warnings():  # the same layers the command reads: said there once
            warnings.simplefilter("ignore")
            inputs = load_inputs(replace(project, factors=tuple(specs)))
    agrid = district_grid(project, inputs.district)
    grid = agrid.coarsen(round(project.patrol_cell_size / project.cell_size))
    score = np.zeros(grid.shape)
    for f in specs:
        gdf = inputs.factors.get(f.name)
        if gdf is None or not len(gdf):
            continue
        score += f.weight * factor_on_grid(f, gdf, grid, project.as_of).value
    inside = mask([inputs.district], grid)
    vals = score[inside]
    order = np.sort(vals)
    rank = np.full(grid.shape, np.nan, np.float32)
    lo = np.searchsorted(order, vals, side="left")
    hi = np.searchsorted(order, vals, side="right")
    rank[inside] = (lo + hi) / (2.0 * len(order))
    return PlaceMap(grid, rank, [f.name for f in specs])


def _dated(project, f) -> bool:
    """A factor that sees dates or the meters (kept out of the place map)."""
    from pathlib import Path

    inc = project.incidents["source"] if project.incidents else None
    same = inc is not None and (f.source.path, f.source.layer) == (inc.path, inc.layer)
    return bool(same or f.params.get("date_field") or f.params.get("half_life_days")
                or Path(f.source.path).name.startswith("power:"))


def place_rank(pm: PlaceMap, gx, gy, placed, users: pd.DataFrame, villages) -> np.ndarray:
    """Each user's place (0–1) among the users' places (NaN: not placed).

    The map percentile at its point, or over its village, then ranked among
    the users' own.
    """
    from riskmap.models.power.locate import village_key

    q = pm.at(np.nan_to_num(gx, nan=-1e12), np.nan_to_num(gy, nan=-1e12))
    q[pd.isna(gx)] = np.nan
    by_village = np.isin(placed, ("村委会", "村范围"))
    if villages is not None and by_village.any():
        key = village_key(villages["name"]).to_numpy()
        town = villages["township"].fillna("").astype(str).to_numpy() \
            if "township" in villages.columns else np.full(len(villages), "")
        cache: dict = {}
        ukey = village_key(users["village"]).to_numpy()
        utown = users["township"].fillna("").astype(str).to_numpy() \
            if "township" in users.columns else np.full(len(users), "")
        for i in np.flatnonzero(by_village):
            k = (utown[i], ukey[i])
            if k not in cache:
                hit = np.flatnonzero((key == ukey[i]) & ((town == utown[i]) | (utown[i] == "")))
                cache[k] = pm.in_polygon(villages.geometry.values[hit[0]]) \
                    if len(hit) == 1 else np.nan
            if np.isfinite(cache[k]):
                q[i] = cache[k]
    ok = np.isfinite(q)
    if ok.sum() >= 10:  # the place among the users' places
        base = np.sort(q[ok])
        lo = np.searchsorted(base, q[ok], side="left")
        hi = np.searchsorted(base, q[ok], side="right")
        q[ok] = (lo + hi) / (2.0 * len(base))
    return q


def case_drops(ended: np.ndarray, months: list[str], gx, gy, cases) -> list:
    """The case that closed each ended step (or None): near the user, just before the end.

    ``ended`` is the index of the first month back at the old level (−1: not
    ended); ``cases`` ``(x, y, dates)`` of the incidents (None: no cases).
    """
    out = [None] * len(ended)
    if cases is None or not len(cases[0]):
        return out
    cx, cy, cd = cases
    for i in np.flatnonzero(ended >= 0):
        m = months[int(ended[i])]
        if len(m) != 7 or not np.isfinite(gx[i]):
            continue
        end = np.datetime64(f"{m}-01", "D")
        near = np.hypot(cx - gx[i], cy - gy[i]) <= CASE_RADIUS
        when = (cd >= end - np.timedelta64(CASE_DAYS, "D")) & (cd <= end + np.timedelta64(30, "D"))
        hit = np.flatnonzero(near & when)
        if len(hit):
            j = hit[np.argmin(np.hypot(cx[hit] - gx[i], cy[hit] - gy[i]))]
            out[i] = (str(cd[j]), float(np.hypot(cx[j] - gx[i], cy[j] - gy[i])))
    return out


def apply_evidence(scores: pd.DataFrame, q: np.ndarray | None, case_hits: list) -> pd.DataFrame:
    """Scores weighed by place, shape and cases; each evidence that counted said in the reasons.

    ``scores`` has ``score``, ``reasons``, ``steady`` (bool) and ``jump_z``.
    """
    out = scores.copy()
    mult = np.ones(len(out))
    texts = []
    if q is not None:
        qq = np.asarray(q, float)
        known = np.isfinite(qq) & (out["score"].to_numpy() > 0)
        m_place = PLACE_FLOOR + (1 - PLACE_FLOOR) * np.clip(np.nan_to_num(qq) / PLACE_FULL, 0, 1)
        m_place = np.where(known, m_place, 1.0)
        mult *= m_place
        pct = np.round(100 * (1 - np.nan_to_num(qq))).astype(int)
        texts.append(np.where(known & (m_place < 1),
                              "所在位置的静态风险在用电户中居前" + pct.astype(str).astype(object)
                              + "%（离采矿要素较远），按×" + np.char.mod("%.2f", m_place).astype(
                                  object) + "计",
                              np.where(known, "所在位置的静态风险在用电户中居前"
                                       + pct.astype(str).astype(object) + "%（近采矿要素）", "")))
    steady = out["steady"].to_numpy(bool) & (out["score"].to_numpy() > 0)
    mult *= np.where(steady, STEADY_FACTOR, 1.0)
    texts.append(np.where(steady, f"跃升后各月平稳（似新增设备），按×{STEADY_FACTOR:g}计", ""))
    case = np.array([h is not None for h in case_hits], bool) & (out["score"].to_numpy() > 0)
    mult *= np.where(case, CASE_FACTOR, 1.0)
    texts.append(np.array([f"{h[0]}附近{h[1]:.0f} m处案件查处后用电回落，按×{CASE_FACTOR:g}计"
                           if c else "" for h, c in zip(case_hits, case, strict=True)],
                          dtype=object))
    out["score"] = np.round(np.minimum(100.0, out["score"].to_numpy() * mult), 1)
    from riskmap.models.power.reasons import join_texts

    out["reasons"] = join_texts([out["reasons"].to_numpy(object), *texts])
    if q is not None:
        out["place_rank"] = np.round(np.asarray(q, float), 3)
    return out
