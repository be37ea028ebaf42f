"""Patrol effort from the history: per patrol cell, times checked, last checked, finds.

Cases are only found where someone looked; a cell never visited is not a safe
cell. From the inspections of the history (:meth:`riskmap.field.history.History.inspections`)
up to a week, :func:`cell_effort` counts on the patrol grid:

- **checks**: visits, i.e. distinct days a cell was checked (the week where a row
  has no date); several teams on one day are one visit;
- **finds**: visits with a find (发现疑似 / 发现非法采矿 / 已取缔);
- **weeks since** the last visit (0 = that week), and the last visit's date.

A cell of class ≥ ``plan.min_class`` that was never checked, or not for
``plan.overdue_weeks`` weeks, is **overdue** (:meth:`Effort.overdue`): the
build's ``overdue`` layer, the weekly list, and the pool of the plan's
exploration picks. :func:`history_adjustment` turns the recent inspections into
the plan's ranking multipliers (raise near finds, damp recent negatives).
Pure functions on arrays; the history is read by the callers.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.ndimage import binary_dilation

from riskmap.field.rules import NO_VILLAGE, PlanConfig
from riskmap.field.week import Week
from riskmap.grid.cellid import cell_ids
from riskmap.load.values import parse_dates

__all__ = ["Adjustment", "Effort", "cell_effort", "cell_rowcol", "effort_cells", "effort_table",
           "history_adjustment", "overdue_cells", "week_index"]

_ID = r"^\s*(-?\d+)-(-?\d+)(?:-(\d+))?\s*$"


def week_index(weeks) -> np.ndarray:
    """Weeks (``"2026-W49"`` text or :class:`Week`) as whole weeks since 1970 (Mondays).

    Each distinct value is parsed once.
    """
    s = pd.Series(np.asarray(weeks, dtype=object)).astype(str)
    uniq = s.unique()
    days = {w: (Week.parse(w).monday.toordinal() - 719163) for w in uniq}  # 719163: 1970-01-01
    return ((s.map(days).to_numpy(np.int64) + 3) // 7) if len(s) else np.zeros(0, np.int64)


def cell_rowcol(inspections: pd.DataFrame, pg) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Patrol-grid row and column of each inspection, and whether it lies on the grid.

    By its ``x``, ``y`` (the cell centre stored with it) where given, else by its
    ``cell_id`` (parsed for the grid's cell size, vectorised).
    """
    n = len(inspections)
    x = np.full(n, np.nan)
    y = np.full(n, np.nan)
    if "x" in inspections and "y" in inspections:
        x = pd.to_numeric(inspections["x"], errors="coerce").to_numpy(float, copy=True)
        y = pd.to_numeric(inspections["y"], errors="coerce").to_numpy(float, copy=True)
    need = ~(np.isfinite(x) & np.isfinite(y))
    if need.any() and "cell_id" in inspections:
        ext = inspections.loc[need, "cell_id"].astype(str).str.extract(_ID)
        per_km = int(1000 // pg.cell)
        d = len(str(per_km - 1)) if per_km > 1 else 0  # digits as riskmap.grid.cellid writes
        e = pd.to_numeric(ext[0], errors="coerce").to_numpy(float) * 1000
        nn = pd.to_numeric(ext[1], errors="coerce").to_numpy(float) * 1000
        cr = ext[2].fillna("")
        ok = (cr.str.len() == 2 * d).to_numpy()
        if d:
            c = pd.to_numeric(cr.str[:d], errors="coerce").to_numpy(float)
            r = pd.to_numeric(cr.str[d:], errors="coerce").to_numpy(float)
            e, nn = e + c * pg.cell, nn + r * pg.cell
        x[need] = np.where(ok, e + pg.cell / 2, np.nan)
        y[need] = np.where(ok, nn + pg.cell / 2, np.nan)
    good = np.isfinite(x) & np.isfinite(y)
    row, col = pg.rowcol(np.where(good, x, 0.0), np.where(good, y, 0.0))
    good &= (row >= 0) & (row < pg.nrows) & (col >= 0) & (col < pg.ncols)
    return np.where(good, row, -1), np.where(good, col, -1), good


@dataclass
class Effort:
    """Patrol effort per patrol cell up to :attr:`week` (patrol-grid arrays)."""

    week: Week  #: the reference week: weeks since are counted to it, later rows left out
    checks: np.ndarray  #: int32 visits (distinct days checked)
    finds: np.ndarray  #: int32 visits with a find
    weeks_since: np.ndarray  #: int32 weeks since the last visit, -1 = never
    last_day: np.ndarray  #: int64 days since 1970 of the last dated visit, -1 = none
    rows: int = 0  #: inspections counted
    outside: int = 0  #: inspections not on the grid (left out)

    @property
    def never(self) -> np.ndarray:
        """Cells never checked (bool)."""
        return self.checks == 0

    def overdue(self, classes: np.ndarray, min_class: int, weeks: int,
                area: np.ndarray) -> np.ndarray:
        """Cells of ``area`` with class ≥ ``min_class`` never checked or not for ``weeks`` weeks."""
        return area & (classes >= min_class) & (self.never | (self.weeks_since >= weeks))


def cell_effort(inspections: pd.DataFrame | None, pg, week: Week) -> Effort:
    """Count the inspections of weeks up to ``week`` on the patrol grid ``pg``.

    Parameters
    ----------
    inspections : pandas.DataFrame or None
        Columns ``cell_id``, ``week``, ``found`` and optionally ``date`` (ISO),
        ``x``, ``y`` (:meth:`riskmap.field.history.History.inspections`).
    pg : Grid
        The patrol grid.
    week : Week
        Reference week (inspections of later weeks are left out).

    Returns
    -------
    Effort
    """
    shape = pg.shape
    out = Effort(week, np.zeros(shape, np.int32), np.zeros(shape, np.int32),
                 np.full(shape, -1, np.int32), np.full(shape, -1, np.int64))
    if inspections is None or not len(inspections):
        return out
    wk = week_index(inspections["week"])
    ref = int(week_index([str(week)])[0])
    keep = wk <= ref
    df = inspections.loc[keep]
    wk = wk[keep]
    row, col, on = cell_rowcol(df, pg)
    out.outside = int((~on).sum())
    out.rows = int(on.sum())
    if not on.any():
        return out
    flat = (row * pg.ncols + col)[on]
    if "date" in df:
        day = parse_dates(df["date"].to_numpy(object))[0].astype("datetime64[D]")
        day = np.where(np.isnat(day), -1, day.astype(np.int64))[on]
    else:
        day = np.full(len(flat), -1, np.int64)
    wk = wk[on]
    visit = pd.DataFrame({"flat": flat, "visit": np.where(day >= 0, day, -1 - wk),
                          "found": df["found"].to_numpy(bool)[on], "week": wk, "day": day})
    v = visit.groupby(["flat", "visit"], sort=False).agg(found=("found", "max"),
                                                         week=("week", "max"),
                                                         day=("day", "max")).reset_index()
    f = v["flat"].to_numpy(np.int64)
    size = int(np.prod(shape))
    out.checks = np.bincount(f, minlength=size).astype(np.int32).reshape(shape)
    out.finds = np.bincount(f, weights=v["found"].to_numpy(float),
                            minlength=size).astype(np.int32).reshape(shape)
    last = np.full(size, -1, np.int64)
    np.maximum.at(last, f, v["week"].to_numpy(np.int64))
    out.weeks_since = np.where(last >= 0, ref - last, -1).astype(np.int32).reshape(shape)
    lday = np.full(size, -1, np.int64)
    np.maximum.at(lday, f, v["day"].to_numpy(np.int64))
    out.last_day = lday.reshape(shape)
    return out


def effort_table(effort: Effort, flat: np.ndarray) -> pd.DataFrame:
    """The effort of the patrol cells ``flat`` (flat indices) as columns.

    Returns
    -------
    pandas.DataFrame
        ``checks``, ``finds``, ``last_week`` (``2026-W49``, None if never),
        ``last_date`` (ISO, None if never or undated), ``weeks_since`` (Int64, NA
        if never).
    """
    ws = effort.weeks_since.ravel()[flat]
    ld = effort.last_day.ravel()[flat]
    names = {int(w): str(effort.week.shift(-int(w))) for w in np.unique(ws[ws >= 0])}
    last_week = pd.Series(ws).map(names).astype(object)
    dates = np.where(ld >= 0, ld, 0).astype("datetime64[D]").astype(str).astype(object)
    return pd.DataFrame({
        "checks": effort.checks.ravel()[flat].astype(np.int32),
        "finds": effort.finds.ravel()[flat].astype(np.int32),
        # object columns: None stays None (not NaN) for a cell never checked
        "last_week": pd.Series(np.where(ws >= 0, last_week.to_numpy(object), None),
                               dtype=object),
        "last_date": pd.Series(np.where(ld >= 0, dates, None), dtype=object),
        "weeks_since": pd.Series(ws).where(ws >= 0).astype("Int64"),
    })


def effort_cells(surface, effort: Effort, flat: np.ndarray) -> gpd.GeoDataFrame:
    """Patrol cells ``flat`` as polygons with their place, class, score and effort.

    Columns ``id``, ``township``, ``village``, ``class``, ``score`` and those of
    :func:`effort_table`; polygons in the working CRS, made in bulk.
    """
    pg = surface.patrol_grid
    flat = np.asarray(flat, dtype=np.int64)
    rows, cols = np.divmod(flat, pg.ncols)
    x0 = pg.x0 + cols * pg.cell
    y0 = pg.y0 - (rows + 1) * pg.cell
    tn = np.array(["", *surface.township_names], dtype=object)
    vn = np.array([NO_VILLAGE, *surface.village_names], dtype=object)
    df = pd.DataFrame({
        "id": cell_ids(x0, y0, pg.cell),
        "township": tn[surface.township.ravel()[flat]],
        "village": vn[surface.village.ravel()[flat]],
        "class": surface.p_class.ravel()[flat].astype(np.int16),
        "score": np.round(np.nan_to_num(surface.p_score.ravel()[flat]), 2),
    })
    df = pd.concat([df, effort_table(effort, flat)], axis=1)
    return gpd.GeoDataFrame(df, geometry=shapely.box(x0, y0, x0 + pg.cell, y0 + pg.cell),
                            crs=pg.crs)


def overdue_cells(surface, effort: Effort, min_class: int, weeks: int,
                  area: np.ndarray | None = None) -> gpd.GeoDataFrame:
    """The overdue cells of ``area`` (default: the district), best score first per village.

    A cell of class ≥ ``min_class`` never checked or not for ``weeks`` weeks
    (:meth:`Effort.overdue`); columns of :func:`effort_cells`.
    """
    keep = surface.p_area if area is None else area
    flat = np.flatnonzero(effort.overdue(surface.p_class, min_class, weeks, keep).ravel())
    out = effort_cells(surface, effort, flat)
    return out.sort_values(["township", "village", "score", "id"],
                           ascending=[True, True, False, True]).reset_index(drop=True)


# --------------------------------------------------------------------------- history → ranking
@dataclass
class Adjustment:
    """History's effect on the ranking (patrol-grid arrays)."""

    factor: np.ndarray  # float64 multiplier, 1 = none
    raised: np.ndarray  # bool: find cells and neighbours
    damped: np.ndarray  # bool
    finds: int = 0
    negatives: int = 0


def history_adjustment(surface, inspections: pd.DataFrame | None, week: Week,
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
    pg = surface.patrol_grid
    shape = pg.shape
    finds = np.zeros(shape, bool)
    neg = np.zeros(shape, bool)
    if inspections is not None and len(inspections):
        age = int(week_index([str(week)])[0]) - week_index(inspections["week"])
        row, col, on = cell_rowcol(inspections, pg)
        found = inspections["found"].to_numpy(bool)
        hit = on & (age >= 1) & found & (age <= cfg.raise_weeks)
        finds[row[hit], col[hit]] = True
        miss = on & (age >= 1) & ~found & (age <= cfg.damp_weeks)
        neg[row[miss], col[miss]] = True
    raised = binary_dilation(finds, structure=np.ones((3, 3), bool)) if finds.any() else finds
    damped = neg & ~raised
    factor = np.ones(shape)
    factor[raised] = cfg.raise_factor
    factor[damped] = cfg.damp_factor
    return Adjustment(factor, raised, damped, int(finds.sum()), int(neg.sum()))
