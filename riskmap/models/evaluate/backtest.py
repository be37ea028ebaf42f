"""The backtest: one split (and, when asked, rolling quarters and a shifted grid)."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

import numpy as np
import shapely

from riskmap import __version__
from riskmap.errors import LayerError
from riskmap.grid import Grid
from riskmap.grid.burn import mask
from riskmap.load.project import Project
from riskmap.models import metrics
from riskmap.models.evaluate.cells import Cells, block_folds, count_events, patrol_cells
from riskmap.models.evaluate.errors import (
    EvaluationError,
    NoIncidentsError,
    NoTestEventsError,
    NoTrainingEventsError,
    SplitError,
)
from riskmap.models.evaluate.incidents import ILLEGAL, Incidents, day, read_incidents
from riskmap.models.evaluate.scores import kde_score, model_surface, raster_score

__all__ = ["CURVE_STEP", "MAPS", "TABLE_KEYS", "evaluate", "event_span", "quarters"]

TABLE_KEYS = ("hit@5", "PAI@5", "hit@10", "PAI@10", "hit@20", "PAI@20", "PEI@10", "AUC",
              "n_test")
MAPS = ("model", "kde", "uniform")
CURVE_STEP = 0.005  # the curves in evaluation.json, every 0.5 % of the area


@dataclass
class _Backtest:
    """What every test period of one run shares: incidents, grids, cells, layers."""

    project: Project
    inc: Incidents
    district: object  # shapely geometry
    inputs: object | None  # Inputs (None when a raster is scored)
    agrid: Grid
    area: np.ndarray
    k: int
    cells: Cells
    raster_values: np.ndarray | None
    area_mode: bool
    say: object

    def one(self, test_from: dt.date, test_to: dt.date, keep_scores: bool = False) -> dict:
        """Map from data before ``test_from``, events in [test_from, test_to]."""
        inc, project, cells, k = self.inc, self.project, self.cells, self.k
        ev = inc.event & inc.inside
        train = ev & (inc.dates < day(test_from))
        test = ev & (inc.dates >= day(test_from)) & (inc.dates <= day(test_to))
        if not train.any():
            raise NoTrainingEventsError(
                f"no events before {test_from} inside the district; choose a later split")
        if not test.any():
            raise NoTestEventsError(
                f"no events from {test_from} to {test_to} inside the district; choose an "
                "earlier split")
        filtered = {}
        if self.raster_values is None:
            self.say(f"计算训练期风险图 (map from data before {test_from})")
            surface, filtered = model_surface(project, self.inputs, test_from,
                                              repeats=inc.repeats)
            model_a = surface.score.astype(np.float64)
        else:
            model_a = self.raster_values
        c = shapely.get_coordinates(shapely.centroid(inc.gdf.geometry.values[train]))
        kde_a = kde_score(c[:, 0], c[:, 1], self.agrid, self.area,
                          project.incidents["kde_bandwidth"])
        events = count_events(_test_geoms(inc, test, self.district, self.area_mode), cells,
                              self.area_mode)
        scores = {"model": cells.to_patrol(model_a, k, project.patrol_score),
                  "kde": cells.to_patrol(kde_a, k, "mean"),
                  "uniform": np.zeros(len(events))}
        res = {name: metrics.summarize(s, events, cells.share, curve_step=CURVE_STEP)
               for name, s in scores.items()}
        out = {"n_train": int(train.sum()), "n_test": _num(events.sum()),
               "n_test_rows": int(test.sum()), "filtered": filtered, "maps": res}
        if keep_scores:
            out["analysis"] = {"model": model_a, "kde": kde_a}
            out["test"] = test
            out["split"] = test_from
        return out


def evaluate(project: Project, split: dt.date, *, raster=None, progress=None,
             rolling: str | None = None, folds: int = 4, offset: bool = False,
             blocks: float | None = None, block_folds: int = 5, seed: int = 0) -> dict:
    """Backtest the project's map (or a GeoTIFF) against incidents after ``split``.

    Parameters
    ----------
    project : Project
        With a dated ``incidents`` layer.
    split : datetime.date
        First day of the test period; the map is built from data before it.
        The test period runs to the project's ``as_of`` (or the last incident).
    raster : path-like, optional
        Score this GeoTIFF instead of the project's map (reported as ``model``
        with its ``source``); it is resampled onto the analysis grid.
    progress : callable, optional
        Called with short messages.
    rolling : {"quarter"}, optional
        Also run rolling temporal folds: each of the last ``folds`` calendar
        quarters is a test period, the map built from data before it.
    folds : int
        Number of rolling folds.
    offset : bool
        Also count the events on the patrol grid shifted half a patrol cell
        and report the change of PAI@10.
    blocks : float, optional
        Also a spatial-block CV: square blocks of ``blocks`` m dealt into
        ``block_folds`` folds (seeded); per fold the held-out blocks are scored
        alone, and the KDE baseline is made from the cases in the other blocks
        only, so that it must carry over space as the map must.
    block_folds, seed : int
        Folds of the spatial CV and the seed dealing the blocks.

    Returns
    -------
    dict
        Shaped as ``evaluation.json``: ``model``, ``kde``, ``uniform`` (each with
        ``hit@5``, ``PAI@5``, ``hit@10``, ``PAI@10``, ``hit@20``, ``PAI@20``,
        ``PEI@5/10/20``, ``AUC``, ``n_test``), ``split``, ``test_period``,
        ``unit``, ``events``, ``n_train``, ``n_test``, ``negatives``,
        ``leakage_guard``, ``curves``, and ``rolling`` / ``offset`` when asked.

    Raises
    ------
    NoIncidentsError, SplitError, NoTrainingEventsError, NoTestEventsError
    """
    t0 = time.perf_counter()
    bt, end = _prepare(project, split, raster, rolling, folds, progress)
    bt.say(f"回测 (backtest) split {split}")
    main = bt.one(split, end, keep_scores=True)
    result = _summary(bt, main, split, end, raster)
    if offset:
        bt.say("网格偏移 (grid offset: half a patrol cell)")
        result["offset"] = _offset(bt, main)
    if rolling:
        result["rolling"] = _rolling(bt.one, end, folds)
    if blocks:
        bt.say(f"空间分块交叉验证 (spatial-block CV, {blocks:g} m blocks)")
        result["spatial_cv"] = _spatial(bt, main, float(blocks), block_folds, seed)
    result["seconds"] = round(time.perf_counter() - t0, 2)
    return result


def _prepare(project: Project, split: dt.date, raster, rolling, folds: int,
             progress) -> tuple[_Backtest, dt.date]:
    """Check the request, read what every period shares; returns it and the test end."""
    from riskmap.load.inputs import load_inputs
    from riskmap.score.engine import district_grid

    say = progress or (lambda msg: None)
    if not project.incidents:
        raise NoIncidentsError(f"{project.path}: no incidents configured; add an 'incidents:' "
                               "block (source, date_field) to the project file")
    if rolling not in (None, "quarter"):
        raise EvaluationError(f"unknown rolling period {rolling!r}; use 'quarter'")
    if rolling and folds < 1:
        raise EvaluationError(f"folds must be >= 1, got {folds}")
    district = _read_district(project, say)
    say("读取案件 (reading incidents)")
    inc = read_incidents(project, district)
    end = _test_end(project, inc)
    _check_split(project, inc, split, end)  # before the work
    inputs = load_inputs(project, progress) if raster is None else None
    agrid = district_grid(project, district)
    k = round(project.patrol_cell_size / project.cell_size)
    area = mask([district], agrid)
    cells = patrol_cells(agrid, area, k)
    raster_values = raster_score(raster, agrid, area) if raster is not None else None
    area_mode = project.incidents.get("events_as") == "area"
    return _Backtest(project, inc, district, inputs, agrid, area, k, cells, raster_values,
                     area_mode, say), end


def _summary(bt: _Backtest, main: dict, split: dt.date, end: dt.date, raster) -> dict:
    """The result of the main split, shaped as ``evaluation.json``."""
    project, inc, cells = bt.project, bt.inc, bt.cells
    result = {
        "project": project.name,
        "riskmap": __version__,
        "evaluated": dt.datetime.now().isoformat(timespec="seconds"),
        "split": split.isoformat(),
        "test_period": [split.isoformat(), end.isoformat()],
        "unit": f"patrol cells ({project.patrol_cell_size:g} m)",
        "cells": int(cells.valid.sum()),
        "area_km2": round(float(cells.share.sum()) * (project.patrol_cell_size / 1000) ** 2, 3),
        "area_basis": "p is a share of the district's area; a patrol cell on the district edge "
                      "counts by its part inside",
        "events": inc.how,
        "n_train": main["n_train"],
        "n_test": main["n_test"],
        "negatives": int((inc.negative & inc.inside).sum()),
        "negatives_test_period": int((inc.negative & inc.inside & (inc.dates >= day(split))
                                      & (inc.dates <= day(end))).sum()),
        "ignored_rows": inc.ignored,
        "same_case_rows": int(inc.same.repeat.sum()) if inc.same else 0,
        "same_cases": [{"case": c, "date": d, "rows": r} for c, d, r in
                       (inc.same.groups if inc.same else [])],
    }
    curves = {}
    for name in MAPS:
        entry = dict(main["maps"][name])
        curve = entry.pop("curve")
        curves[name] = curve["hit"]
        curves.setdefault("area", curve["area"])
        curves["best"] = curve["best"]
        result[name] = entry
    if raster is not None:
        result["model"]["source"] = str(raster)
        result["model"]["aggregation"] = f"{project.patrol_score} of the raster's values " \
            "resampled to the analysis cells"
    else:
        result["model"]["source"] = f"project map ({len(project.factors)} factors) built from " \
            f"data before {split}"
        result["model"]["aggregation"] = f"{project.patrol_score} of analysis cells"
    result["kde"]["source"] = (f"Gaussian kernel density of the {main['n_train']} events "
                               f"before {split}")
    result["kde"]["bandwidth_m"] = project.incidents["kde_bandwidth"]
    result["kde"]["aggregation"] = "mean of analysis cells"
    result["uniform"]["source"] = "one score everywhere (every cell tied)"
    result["leakage_guard"] = _guard_text(project, split, main["filtered"], raster)
    result["filtered_factors"] = main["filtered"]
    result["curves"] = curves
    return result


def _test_geoms(inc: Incidents, test: np.ndarray, district, area_mode: bool):
    geoms = inc.gdf.geometry.values[test]
    if area_mode:  # only the part of a polygon inside the district is spread
        poly = np.isin(shapely.get_type_id(geoms), (3, 6))
        geoms = np.asarray(geoms, dtype=object).copy()
        geoms[poly] = shapely.intersection(geoms[poly], district)
    return geoms


def _read_district(project: Project, say):
    from riskmap.load.layers import read_source

    say(f"读取 {project.district.source}")
    gdf, _ = read_source(project.district.source, project.crs)
    types = set(gdf.geom_type.astype(str))
    if not types <= {"Polygon", "MultiPolygon"}:
        raise LayerError(f"{project.district.source}: district must be polygons, found "
                         f"{', '.join(sorted(types))}")
    return shapely.union_all(gdf.geometry.values)


def _test_end(project: Project, inc: Incidents) -> dt.date:
    """Last day of the test period: the project's ``as_of`` or the last dated row, if earlier."""
    d = inc.dates[(inc.event | inc.negative) & ~np.isnat(inc.dates)]
    return min(project.as_of, d.max().astype(dt.date)) if len(d) else project.as_of


def event_span(project: Project, inc: Incidents) -> tuple[dt.date, dt.date, dt.date]:
    """First and last event date, and the last day a test period can reach.

    A split must fall after the first and on or before the last of these.

    Raises
    ------
    NoTrainingEventsError
        The layer holds no event (no row judged 违法).
    """
    d = inc.dates[inc.event & ~np.isnat(inc.dates)]
    if not len(d):
        raise NoTrainingEventsError(f"{project.incidents['source']}: no events (rows judged "
                                    f"{ILLEGAL}) in the incidents layer")
    return d.min().astype(dt.date), d.max().astype(dt.date), _test_end(project, inc)


def _check_split(project: Project, inc: Incidents, split: dt.date, end: dt.date):
    first, last, _ = event_span(project, inc)
    if not first < split <= min(last, end):
        raise SplitError(f"split {split} is outside the incident dates: it must fall after the "
                         f"first event ({first}) and on or before the last one "
                         f"({min(last, end)}), so that both periods hold events")


def _num(v: float):
    v = float(v)
    return round(v) if abs(v - round(v)) < 1e-9 else round(v, 6)


def _guard_text(project, split, filtered, raster) -> str:
    if raster is not None:
        return (f"raster scored as given ({raster}): riskmap cannot check which data it was built "
                f"from; the kde baseline uses only events before {split}")
    parts = [f"map built from data dated before {split} only (as_of = {split})"]
    if filtered:
        parts.append("rows dated on/after the split dropped from: " + ", ".join(
            f"{n} ({v['date_field']}{', incidents layer' if v['from_incidents'] else ''}: "
            f"{v['kept']} kept, {v['dropped']} dropped)" for n, v in filtered.items()))
    static = [f.name for f in project.factors if f.name not in filtered]
    if static:
        parts.append("undated layers used as they are: " + ", ".join(static))
    parts.append(f"the kde baseline uses only events before {split}")
    return "; ".join(parts)


# --- a shifted grid, rolling quarters ---------------------------------------------------
def _offset(bt: _Backtest, main: dict) -> dict:
    """The main split re-counted on the patrol grid shifted half a cell west and north."""
    project, agrid, k = bt.project, bt.agrid, bt.k
    shift = k // 2
    cells = patrol_cells(agrid, bt.area, k, shift)
    events = count_events(_test_geoms(bt.inc, main["test"], bt.district, bt.area_mode), cells,
                          bt.area_mode)
    rules = {"model": project.patrol_score, "kde": "mean"}
    out = {"shift_m": [shift * agrid.cell, shift * agrid.cell],
           "note": "patrol grid moved half a cell west and north; events and scores "
                   "re-counted on it"}
    for name, rule in rules.items():
        s = cells.to_patrol(main["analysis"][name], k, rule)
        r = metrics.summarize(s, events, cells.share)
        base = main["maps"][name]
        out[name] = {"PAI@10": r["PAI@10"], "PAI@10_base": base["PAI@10"],
                     "delta_PAI@10": r["PAI@10"] - base["PAI@10"], "AUC": r["AUC"],
                     "delta_AUC": r["AUC"] - base["AUC"]}
    return out


def _spatial(bt: _Backtest, main: dict, size: float, k: int, seed: int) -> dict:
    """The main split scored block fold by block fold (held-out blocks alone)."""
    if k < 2:
        raise EvaluationError(f"block folds must be >= 2, got {k}")
    cells, agrid = bt.cells, bt.agrid
    flat = np.flatnonzero(cells.valid.ravel())
    fold = block_folds(cells.grid, flat, max(size, cells.grid.cell), k, seed)
    events = count_events(_test_geoms(bt.inc, main["test"], bt.district, bt.area_mode), cells,
                          bt.area_mode)
    model = cells.to_patrol(main["analysis"]["model"], bt.k, bt.project.patrol_score)
    inc = bt.inc
    train = inc.event & inc.inside & (inc.dates < day(date_of_split(main)))
    c = shapely.get_coordinates(shapely.centroid(inc.gdf.geometry.values[train]))
    r, col = cells.grid.rowcol(c[:, 0], c[:, 1])
    pos = np.full(cells.grid.size, -1)
    pos[flat] = np.arange(len(flat))
    ok = (r >= 0) & (r < cells.grid.nrows) & (col >= 0) & (col < cells.grid.ncols)
    ev_fold = np.full(len(c), -1)
    idx = pos[np.where(ok, r * cells.grid.ncols + col, 0)]
    ev_fold[ok & (idx >= 0)] = fold[idx[ok & (idx >= 0)]]
    out = {"block_m": size, "folds": k, "seed": seed, "per_fold": []}
    for f in range(k):
        te = fold == f
        if events[te].sum() <= 0:
            out["per_fold"].append({"fold": f, "skipped": "no test event in these blocks"})
            continue
        keep = ev_fold != f
        kde_a = kde_score(c[keep, 0], c[keep, 1], agrid, bt.area,
                          bt.project.incidents["kde_bandwidth"])
        kde = cells.to_patrol(kde_a, bt.k, "mean")
        row = {"fold": f, "n_test": _num(events[te].sum()), "cells": int(te.sum())}
        for name, s in (("model", model), ("kde", kde)):
            m = metrics.summarize(s[te], events[te], cells.share[te])
            row[name] = {key: m[key] for key in ("PAI@10", "AUC", "PEI@10")}
        out["per_fold"].append(row)
    used = [f for f in out["per_fold"] if "skipped" not in f]
    out["mean"] = {n: {key: float(np.mean([f[n][key] for f in used])) for key in
                       ("PAI@10", "AUC", "PEI@10")} for n in ("model", "kde")} if used else {}
    out["sd"] = {n: {key: float(np.std([f[n][key] for f in used])) for key in
                     ("PAI@10", "AUC", "PEI@10")} for n in ("model", "kde")} if used else {}
    return out


def date_of_split(main: dict) -> dt.date:
    """The split day of a backtest result (kept on it by :meth:`_Backtest.one`)."""
    return main["split"]


def quarters(end: dt.date, n: int) -> list[tuple[dt.date, dt.date]]:
    """The last ``n`` calendar quarters up to ``end``: ``(first day, last day)``, oldest first.

    The quarter holding ``end`` is the last one and ends on ``end``.
    """
    q = (end.month - 1) // 3
    out = []
    y = end.year
    for _ in range(n):
        start = dt.date(y, 3 * q + 1, 1)
        nxt = dt.date(y + (q == 3), 3 * ((q + 1) % 4) + 1, 1)
        out.append((start, min(end, nxt - dt.timedelta(days=1))))
        q -= 1
        if q < 0:
            q, y = 3, y - 1
    return out[::-1]


def _rolling(one, end, n) -> dict:
    """Each of the last ``n`` quarters as a test period; the mean of the folds that ran."""
    folds = []
    for start, stop in quarters(end, n):
        label = f"{start.year}Q{(start.month - 1) // 3 + 1}"
        try:
            r = one(start, stop)
        except (NoTrainingEventsError, NoTestEventsError) as e:
            folds.append({"quarter": label, "test_period": [start.isoformat(), stop.isoformat()],
                          "skipped": str(e)})
            continue
        fold = {"quarter": label, "test_period": [start.isoformat(), stop.isoformat()],
                "n_train": r["n_train"], "n_test": r["n_test"]}
        for name in MAPS:
            fold[name] = {key: v for key, v in r["maps"][name].items() if key != "curve"}
        folds.append(fold)
    used = [f for f in folds if "skipped" not in f]
    mean = {}
    for name in MAPS:
        keys = [key for key in (used[0][name] if used else {})
                if key not in ("cells", "tie_groups", "n_test")]
        mean[name] = {key: float(np.nanmean([f[name][key] for f in used])) for key in keys}
    return {"period": "quarter", "folds_asked": n, "folds_used": len(used),
            "n_test_total": _num(sum(f["n_test"] for f in used)), "mean": mean, "folds": folds}
