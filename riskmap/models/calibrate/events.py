"""The events calibration counts: read, judged, dated, merged, weighted by provenance.

Every event before ``until`` inside the district is counted (the rolling-origin
design of :mod:`.periods` discards none). An event found by our own planned
patrols (来源 巡查) says as much about where the patrol went as about where
digging is, so it weighs less (``calibration.provenance``, default 0.5).
"""

from __future__ import annotations

import datetime as dt
import unicodedata
import warnings
from dataclasses import dataclass, field

import numpy as np
import shapely

from riskmap.errors import LayerError, ProjectFileError, RiskmapWarning
from riskmap.grid import Grid
from riskmap.load.columns import required_dates
from riskmap.load.project import Project
from riskmap.models.calibrate.options import PATROL_WEIGHT, Options
from riskmap.models.evaluate.incidents import case_column, repeated_rows, same_cases

__all__ = ["MIN_EVENTS", "PROVENANCE_HEADERS", "Events", "count_per_cell", "counted_events",
           "enough_events", "incident_events", "read_events"]

#: the fewest events a calibration runs on
MIN_EVENTS = 10
#: headers of a provenance column (how a case came to light), most specific first
PROVENANCE_HEADERS = ("来源", "案件来源", "线索来源", "发现方式", "发现途径", "发现来源",
                      "信息来源", "来源类型", "线索类型", "source", "provenance", "origin")


@dataclass
class Events:
    """The counted events and what is known of each."""

    geoms: np.ndarray  # shapely geometries inside the district
    dates: np.ndarray | None  # datetime64[D], None without incidents.date_field
    weight: np.ndarray  # likelihood weight of each event (1, or less for patrol finds)
    notes: list[str] = field(default_factory=list)
    repeats: frozenset = frozenset()  # table rows that repeat a case
    provenance: dict | None = None  # field, patrol words, weight, counts per value

    def __len__(self) -> int:
        return len(self.geoms)


def _provenance_column(columns, cfg: dict | None) -> str | None:
    if cfg and cfg.get("field"):
        return cfg["field"]
    norm = {unicodedata.normalize("NFKC", str(c)).strip().lower(): c for c in columns}
    for h in PROVENANCE_HEADERS:
        if h in norm:
            return norm[h]
    return None


def _provenance_weights(inc, opts: Options, src) -> tuple[np.ndarray, dict | None]:
    """Weight per row (patrol finds ``weight``, others 1) and what was found."""
    w = np.ones(len(inc))
    cfg = opts.provenance
    if cfg is False:
        return w, None
    col = _provenance_column(inc.columns, cfg)
    if col is None:
        return w, None
    if col not in inc.columns:
        raise LayerError(f"{src}: no field {col!r} (calibration.provenance.field)")
    words = (cfg or {}).get("patrol")
    weight = (cfg or {}).get("weight", PATROL_WEIGHT)
    text = inc[col].astype(str).map(lambda s: unicodedata.normalize("NFKC", s).strip())
    if words:
        patrol = text.map(lambda s: any(wd in s for wd in words)).to_numpy(bool)
    else:  # the field loop's reading of 来源: 巡查/计划内/随机抽查 are our own patrols
        patrol = text.map(_is_patrol).to_numpy(bool)
        words = ["巡查", "计划内", "随机抽查", "计划外"]
    if not patrol.any() and not cfg:
        return w, None  # a column of that name that says nothing of patrols
    w[patrol] = weight
    counts = {str(k): int(v) for k, v in text.value_counts().items()}
    return w, {"field": str(col), "patrol": list(words), "weight": float(weight),
               "counts": counts, "patrol_events": int(patrol.sum())}


def _is_patrol(text: str) -> bool:
    from riskmap.field.provenance import PATROL, normalize_provenance

    try:
        return normalize_provenance(text) in PATROL
    except ValueError:  # words that name no provenance: not ours
        return False


def read_events(project: Project, inc, district, until: dt.date | None,
                opts: Options | None = None) -> Events:
    """Event geometries inside the district (and before ``until``), dated and weighted.

    A row with the same case number and date as an earlier one (the same case
    entered twice, :func:`riskmap.models.evaluate.incidents.same_cases`) counts once.

    Raises
    ------
    LayerError
        A missing field, or event rows without a readable date (all named).
    ProjectFileError
        ``until`` without ``incidents.date_field``.
    """
    opts = opts or Options()
    cfg = project.incidents
    src = cfg["source"]
    jf = cfg.get("judgement_field")
    if jf:
        if jf not in inc.columns:
            raise LayerError(f"{src}: no field {jf!r} (incidents.judgement_field)")
        j = inc[jf].astype(str).str.strip()
        inc = inc[j.str.startswith("违法").to_numpy()]
    df = cfg.get("date_field")
    dates, notes, repeats = None, [], set()
    if df:
        if df not in inc.columns:
            raise LayerError(f"{src}: no field {df!r} (incidents.date_field); fields: "
                             f"{', '.join(map(str, inc.columns[:-1]))}")
        dates = required_dates(inc, df, src)
        same = same_cases(inc, dates, case_column(inc.columns, cfg.get("case_field"), src))
        if same.groups:
            notes.append(same.note(src))
            warnings.warn(notes[-1], RiskmapWarning, stacklevel=2)
            repeats.update(repeated_rows(inc, same))
            inc, dates = inc[~same.repeat], dates[~same.repeat]
        if until is not None:
            keep = dates < np.datetime64(until, "D")
            inc, dates = inc[keep], dates[keep]
    elif until is not None:
        raise ProjectFileError(f"{project.path}: incidents.date_field: --until needs the "
                               "incidents' date column")
    weight, prov = _provenance_weights(inc, opts, src)
    geoms = inc.geometry.values
    pt = shapely.point_on_surface(geoms)
    inside = shapely.contains(district, pt) | shapely.touches(district, pt)
    geoms = np.asarray(geoms)[inside]
    if dates is not None:
        dates = dates[inside]
    weight = weight[inside]
    if prov is not None:
        n_pat = int((weight < 1).sum())
        prov["patrol_events"] = n_pat
        notes.append(f"来源 (provenance, column {prov['field']!r}): {n_pat} of {len(weight)} "
                     f"events found by patrols ({'/'.join(prov['patrol'])}) weigh "
                     f"{prov['weight']:g}: a patrol finds where it looks, and the map that "
                     "sent it should not chase its own patrols")
    return Events(geoms, dates, weight, notes, frozenset(repeats), prov)


def incident_events(project: Project, inc, district, until: dt.date | None):
    """Event geometries inside the district (and before ``until``) with their dates.

    The older interface of :func:`read_events` (``riskmap check`` uses it).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray or None, list of str, frozenset of int)
        Geometries, their ``datetime64[D]`` dates (None without
        ``incidents.date_field``), notes (the merged rows, named) and the table
        rows that repeat a case (for the factors built on the incidents).

    Raises
    ------
    LayerError
        A missing field, or event rows without a readable date (all named).
    """
    ev = read_events(project, inc, district, until, Options(provenance=False))
    return ev.geoms, ev.dates, ev.notes, ev.repeats


def count_per_cell(geoms, grid: Grid, events_as: str, weights=None) -> np.ndarray:
    """Events per patrol cell (flat): centroids, or polygons spread by area share.

    ``weights`` (one per event, default 1) weigh each event.
    """
    y = np.zeros(grid.size)
    if len(geoms) == 0:
        return y
    geoms = np.asarray(geoms)
    w = np.ones(len(geoms)) if weights is None else np.asarray(weights, float)
    tid = shapely.get_type_id(geoms)
    poly = np.isin(tid, (3, 6))
    if events_as == "area" and poly.any():
        for g, wg in zip(geoms[poly], w[poly], strict=True):
            x0, y0, x1, y1 = g.bounds
            r0, c0 = grid.rowcol(x0, y1)
            r1, c1 = grid.rowcol(x1, y0)
            rr, cc = np.meshgrid(np.arange(max(r0, 0), min(r1, grid.nrows - 1) + 1),
                                 np.arange(max(c0, 0), min(c1, grid.ncols - 1) + 1),
                                 indexing="ij")
            rr, cc = rr.ravel(), cc.ravel()
            xs = grid.x0 + cc * grid.cell
            ys = grid.y0 - rr * grid.cell
            boxes = shapely.box(xs, ys - grid.cell, xs + grid.cell, ys)
            a = shapely.area(shapely.intersection(boxes, g))
            if a.sum() > 0:
                np.add.at(y, rr * grid.ncols + cc, wg * a / a.sum())
        geoms, w = geoms[~poly], w[~poly]
    if len(geoms):
        pts = shapely.point_on_surface(geoms)
        xy = shapely.get_coordinates(pts)
        r, c = grid.rowcol(xy[:, 0], xy[:, 1])
        ok = (r >= 0) & (r < grid.nrows) & (c >= 0) & (c < grid.ncols)
        y += np.bincount(r[ok] * grid.ncols + c[ok], weights=w[ok], minlength=grid.size)
    return y


def event_cells(geoms, grid: Grid) -> np.ndarray:
    """Flat patrol cell of each event (its point on surface; -1 off the grid)."""
    if len(geoms) == 0:
        return np.zeros(0, np.int64)
    xy = shapely.get_coordinates(shapely.point_on_surface(np.asarray(geoms)))
    r, c = grid.rowcol(xy[:, 0], xy[:, 1])
    ok = (r >= 0) & (r < grid.nrows) & (c >= 0) & (c < grid.ncols)
    return np.where(ok, r * grid.ncols + c, -1)


def _grids(project: Project, district) -> tuple[Grid, int, Grid]:
    """The analysis grid over the district, cells per patrol cell, the patrol grid."""
    fine = Grid.from_bounds(district.bounds, project.cell_size, project.crs,
                            snap=project.patrol_cell_size)
    k = round(project.patrol_cell_size / project.cell_size)
    return fine, k, fine.coarsen(k)


def counted_events(project: Project, district, events) -> float:
    """The events the design counts (on the district's patrol grid), without burning it."""
    pgrid = _grids(project, district)[2]
    return float(count_per_cell(events, pgrid,
                                project.incidents.get("events_as", "centroid")).sum())


def enough_events(project: Project, n: float, until: dt.date | None) -> None:
    """Refuse a calibration on fewer than :data:`MIN_EVENTS` counted events.

    Raises
    ------
    LayerError
        Naming the incidents source and the count.
    """
    if n < MIN_EVENTS:
        raise LayerError(f"{project.incidents['source']}: only {int(n)} incident(s) "
                         f"inside the district {'before ' + str(until) if until else ''} for "
                         f"calibration; need ≥ {MIN_EVENTS}")
