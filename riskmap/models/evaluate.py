"""Backtest a risk map on incidents after a split date (``riskmap evaluate``).

The map is rebuilt from data dated *before* the split only, then scored on the
incidents dated on or after it, at the level of patrol cells, next to two
baselines computed in the same run on the same cells and events:

``model``
    The project's map (or a given GeoTIFF), patrol cells scored by the
    project's ``patrol_score`` rule (max or mean of their analysis cells).
``kde``
    A Gaussian kernel density (σ = ``incidents.kde_bandwidth`` m) of the
    pre-split events, averaged over each patrol cell — "last period's hot spots".
``uniform``
    One score everywhere: every cell tied, so the hit rate at p is p and the
    AUC 0.5.

Leakage guard: the layers are read once; every factor whose source is the
incidents layer (with the factor's ``date_field``, else the incidents'
``date_field``), and every factor with a ``date_field``, keeps only rows dated
before the split; ``as_of`` (the reference date of age weights) becomes the
split date. Undated layers (closed mines, outcrops, licences, ...) are used as
they are.

Figures (see :mod:`riskmap.models.metrics`): ``hit@P`` (share of test events in the
top P % of the district's area), ``PAI@P``, ``PEI@P``, ``AUC`` and ``n_test``.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import html
import io
import json
import logging
import math
import os
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import shapely

from riskmap import __version__
from riskmap.errors import ExportError, LayerError, RiskmapError, RiskmapWarning
from riskmap.grid import Grid
from riskmap.grid.blocks import block_max_mean, blocks
from riskmap.grid.burn import mask
from riskmap.load.project import Project, Source
from riskmap.models import metrics

if TYPE_CHECKING:
    import geopandas as gpd

log = logging.getLogger(__name__)

ILLEGAL, FALSE_CHANGE, LEGAL = "违法", "伪变化", "合法"
FILES = ("evaluation.json", "hit_rate.png", "evaluation.html")
TABLE_KEYS = ("hit@5", "PAI@5", "hit@10", "PAI@10", "hit@20", "PAI@20", "PEI@10", "AUC",
              "n_test")
MAPS = ("model", "kde", "uniform")
CURVE_STEP = 0.005  # the curves in evaluation.json, every 0.5 % of the area


# --- errors -----------------------------------------------------------------------
class EvaluationError(RiskmapError, ValueError):
    """A backtest cannot be run as asked."""


class NoIncidentsError(EvaluationError):
    """The project has no (dated) incidents layer."""


class SplitError(EvaluationError):
    """The split date lies outside the incident dates."""


class NoTestEventsError(EvaluationError):
    """No event on or after the split inside the district."""


class NoTrainingEventsError(EvaluationError):
    """No event before the split inside the district."""


# --- incidents --------------------------------------------------------------------
@dataclass
class Incidents:
    """The incidents layer, read and classified.

    Attributes
    ----------
    gdf : geopandas.GeoDataFrame
        Every row, in the working CRS.
    dates : numpy.ndarray
        ``datetime64[D]`` per row (NaT where missing).
    event : numpy.ndarray
        True for rows that are events (all rows, or those judged 违法).
    negative : numpy.ndarray
        True for verified negatives (judged 伪变化).
    inside : numpy.ndarray
        True for rows inside the district (points and centroids: in it;
        ``events_as="area"`` polygons: touching it).
    how : str
        How events are counted, in words.
    """

    gdf: gpd.GeoDataFrame
    dates: np.ndarray
    event: np.ndarray
    negative: np.ndarray
    inside: np.ndarray
    how: str
    ignored: int = 0


def read_incidents(project: Project, district) -> Incidents:
    """Read the project's incidents layer and say which rows are events.

    Parameters
    ----------
    project : Project
        Its ``incidents`` block names the source, ``date_field`` and optionally
        ``judgement_field`` (合法 / 违法 / 伪变化) and ``events_as``.
    district : shapely.Geometry
        The district, in the working CRS.

    Returns
    -------
    Incidents

    Raises
    ------
    NoIncidentsError
        No ``incidents`` block or no ``date_field``.
    LayerError
        Missing date or judgement column, an event row without a date.
    """
    from riskmap.load.layers import read_source

    inc = project.incidents
    if not inc:
        raise NoIncidentsError(f"{project.path}: no incidents configured; add an 'incidents:' "
                               "block (source, date_field) to the project file")
    if not inc.get("date_field"):
        raise NoIncidentsError(f"{project.path}: incidents.date_field is missing; a backtest "
                               "splits the incidents by date")
    src: Source = inc["source"]
    gdf, _ = read_source(src, project.crs)
    dfield = inc["date_field"]
    if dfield not in gdf.columns:
        raise LayerError(f"{src}: no field {dfield!r} (incidents.date_field); fields: "
                         f"{', '.join(map(str, gdf.columns[:-1]))}")
    dates = _dates(gdf[dfield])
    geoms = gdf.geometry.values
    tid = shapely.get_type_id(geoms)
    polygon = np.isin(tid, (3, 6))
    jfield = inc.get("judgement_field")
    ignored = 0
    if jfield:
        if jfield not in gdf.columns:
            raise LayerError(f"{src}: no field {jfield!r} (incidents.judgement_field); fields: "
                             f"{', '.join(map(str, gdf.columns[:-1]))}")
        j = gdf[jfield].astype("string").str.strip().fillna("").to_numpy(dtype=object)
        event = j == ILLEGAL
        negative = j == FALSE_CHANGE
        other = ~(event | negative | (j == LEGAL))
        ignored = int((j == LEGAL).sum() + other.sum())
        if other.any():
            vals = sorted({str(v) for v in j[other]})[:5]
            warnings.warn(f"{src}: {int(other.sum())} rows judged neither {ILLEGAL}, "
                          f"{FALSE_CHANGE} nor {LEGAL} in {jfield!r} (ignored): "
                          f"{', '.join(vals)}", RiskmapWarning, stacklevel=2)
    else:
        event = np.ones(len(gdf), dtype=bool)
        negative = np.zeros(len(gdf), dtype=bool)
    missing = (event | negative) & np.isnat(dates)
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        row = gdf["_row"].iloc[i] if "_row" in gdf.columns else i + 1
        raise LayerError(f"{src}: row {row}: {dfield!r} = {gdf[dfield].iloc[i]!r} is not "
                         "a date (use 2025-03-17)")
    area_mode = inc.get("events_as") == "area"
    shapely.prepare(district)
    if area_mode:
        inside = np.where(polygon, shapely.intersects(geoms, district),
                          _contains(district, geoms))
    else:
        inside = _contains(district, geoms)
    if not polygon.any():
        how = "points (each event counts 1 in the patrol cell holding it)"
    elif area_mode:
        how = ("area: each polygon event counts 1, its part inside the district spread over "
               "the patrol cells it covers in proportion to the area in each")
    else:
        how = "centroid: each polygon event counts 1 in the patrol cell holding its centroid"
    if jfield:
        how += f"; only rows judged {ILLEGAL} ({jfield}) are events, {FALSE_CHANGE} rows are " \
               "verified negatives (counted, not scored)"
    return Incidents(gdf, dates, event, negative, inside, how, ignored)


def _dates(col) -> np.ndarray:
    d = pd.to_datetime(pd.Series(col).astype(object), errors="coerce")
    if getattr(d.dt, "tz", None) is not None:
        d = d.dt.tz_localize(None)
    return d.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")


def _contains(district, geoms) -> np.ndarray:
    c = shapely.centroid(geoms)
    xy = shapely.get_coordinates(c)
    return shapely.intersects_xy(district, xy[:, 0], xy[:, 1])


def _day(d: dt.date) -> np.datetime64:
    return np.datetime64(d.isoformat(), "D")


# --- leakage guard --------------------------------------------------------------------
def training_inputs(project: Project, inputs, split: dt.date):
    """A copy of ``inputs`` whose dated layers keep only rows dated before ``split``.

    Parameters
    ----------
    project : Project
    inputs : Inputs
        From :func:`riskmap.load.inputs.load_inputs` (not changed).
    split : datetime.date
        First day of the test period.

    Returns
    -------
    (Inputs, dict)
        The filtered inputs and, per filtered factor, ``{"date_field", "kept",
        "dropped"}``.
    """
    from riskmap.models.power import is_anomaly_source, read_anomaly_source

    inc_src = project.incidents["source"] if project.incidents else None
    cut = _day(split)
    factors, filtered = dict(inputs.factors), {}
    for spec in project.factors:
        if is_anomaly_source(spec.source):  # meter readings from the split on stay out
            before = inputs.factors[spec.name]
            try:
                factors[spec.name] = read_anomaly_source(project, spec.source, until=split)[0]
            except LayerError:  # no readings (or no anomaly) before the split: no factor
                factors[spec.name] = before.iloc[:0]
            filtered[spec.name] = {"date_field": "meter months (re-scored before the split)",
                                   "from_incidents": False, "kept": len(factors[spec.name]),
                                   "dropped": max(0, len(before) - len(factors[spec.name]))}
            continue
        from_incidents = inc_src is not None and (spec.source.path, spec.source.layer) == (
            inc_src.path, inc_src.layer)
        field = spec.params.get("date_field")
        if from_incidents and not field:
            field = project.incidents.get("date_field")
        if not field:
            continue
        gdf = factors[spec.name]
        if field not in gdf.columns:
            raise LayerError(f"{spec.source}: factor {spec.name}: no date field {field!r} to "
                             "keep the test period out of the map")
        dates = _dates(gdf[field])
        keep = ~np.isnat(dates) & (dates < cut)  # an undated row cannot be proved older
        factors[spec.name] = gdf.loc[keep].reset_index(drop=True)
        filtered[spec.name] = {"date_field": str(field), "from_incidents": bool(from_incidents),
                               "kept": int(keep.sum()), "dropped": int((~keep).sum())}
    return dataclasses.replace(inputs, factors=factors), filtered


def model_surface(project: Project, inputs, split: dt.date, progress=None):
    """The project's map built from data dated before ``split`` only.

    Parameters
    ----------
    project : Project
    inputs : Inputs
        All layers (filtered here, not changed).
    split : datetime.date
    progress : callable, optional

    Returns
    -------
    (Surface, dict)
        The scored surface (``as_of`` = ``split``) and what was filtered.
    """
    from riskmap.score.engine import compute

    train, filtered = training_inputs(project, inputs, split)
    return compute(dataclasses.replace(project, as_of=split), train, progress), filtered


# --- cells ---------------------------------------------------------------------
@dataclass
class Cells:
    """Patrol cells of the district on one (possibly shifted) patrol grid."""

    grid: Grid  # the patrol grid
    shift: int  # analysis cells the grid is shifted north-west
    valid: np.ndarray  # bool (rows, cols): holds at least one analysis cell of the district
    share: np.ndarray  # share of each valid cell inside the district (1-D)

    def to_patrol(self, score: np.ndarray, k: int, rule: str) -> np.ndarray:
        """Patrol-cell scores (1-D, valid cells) of an analysis score (NaN outside)."""
        smax, smean = block_max_mean(_pad(score, k, self.shift, np.nan), k)
        out = (smax if rule == "max" else smean)[self.valid].astype(float)
        out[np.isnan(out)] = -np.inf  # no data in a cell of the district: ranked last
        return out


def patrol_cells(agrid: Grid, area: np.ndarray, k: int, shift: int = 0) -> Cells:
    """The patrol cells holding district cells, on the grid shifted ``shift`` analysis cells.

    Parameters
    ----------
    agrid : Grid
        The analysis grid.
    area : numpy.ndarray of bool
        Analysis cells inside the district.
    k : int
        Analysis cells per patrol cell side.
    shift : int
        Shift of the patrol grid to the north-west, in analysis cells (0: the
        project's grid; ``k // 2``: half a patrol cell).
    """
    a = _pad(area, k, shift, False)
    counts = blocks(a.astype(np.int32), k).sum(axis=2)
    pgrid = Grid(agrid.crs, agrid.x0 - shift * agrid.cell, agrid.y0 + shift * agrid.cell,
                 agrid.cell * k, counts.shape[0], counts.shape[1])
    valid = counts > 0
    return Cells(pgrid, shift, valid, counts[valid] / float(k * k))


def _pad(a: np.ndarray, k: int, shift: int, fill) -> np.ndarray:
    if not shift:
        return a
    pr = (-(a.shape[0] + shift)) % k
    pc = (-(a.shape[1] + shift)) % k
    return np.pad(a, ((shift, pr), (shift, pc)), constant_values=fill)


def count_events(geoms, cells: Cells, area_mode: bool = False) -> np.ndarray:
    """Events per valid patrol cell (1-D, float).

    Parameters
    ----------
    geoms : array of shapely geometries
        The events (already restricted to the district and the period).
    cells : Cells
    area_mode : bool
        Spread each polygon over the cells it covers by area share (its part
        in scored cells sums to 1); otherwise count it at its centroid.
    """
    geoms = np.asarray(geoms, dtype=object)
    g = cells.grid
    index = np.full(cells.valid.shape, -1, dtype=np.int64)
    index[cells.valid] = np.arange(int(cells.valid.sum()))
    out = np.zeros(int(cells.valid.sum()))
    if len(geoms) == 0:
        return out
    polygon = np.isin(shapely.get_type_id(geoms), (3, 6)) if area_mode else np.zeros(
        len(geoms), bool)
    pts = shapely.get_coordinates(shapely.centroid(geoms[~polygon]))
    if len(pts):
        row, col = g.rowcol(pts[:, 0], pts[:, 1])
        ok = (row >= 0) & (row < g.nrows) & (col >= 0) & (col < g.ncols)
        i = index[row[ok], col[ok]]
        np.add.at(out, i[i >= 0], 1.0)
    if polygon.any():
        polys = geoms[polygon]
        b = shapely.bounds(polys)
        r0, c0 = g.rowcol(b[:, 0], b[:, 3])
        r1, c1 = g.rowcol(b[:, 2], b[:, 1])
        r0, c0 = np.clip(r0, 0, g.nrows - 1), np.clip(c0, 0, g.ncols - 1)
        r1, c1 = np.clip(r1, 0, g.nrows - 1), np.clip(c1, 0, g.ncols - 1)
        nr, nc = r1 - r0 + 1, c1 - c0 + 1
        cnt = nr * nc
        pid = np.repeat(np.arange(len(polys)), cnt)
        local = np.arange(int(cnt.sum())) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        rr = r0[pid] + local // nc[pid]
        cc = c0[pid] + local % nc[pid]
        boxes = shapely.box(g.x0 + cc * g.cell, g.y0 - (rr + 1) * g.cell,
                            g.x0 + (cc + 1) * g.cell, g.y0 - rr * g.cell)
        ar = shapely.area(shapely.intersection(polys[pid], boxes))
        i = index[rr, cc]
        keep = (i >= 0) & (ar > 0)
        total = np.bincount(pid[keep], weights=ar[keep], minlength=len(polys))
        np.add.at(out, i[keep], ar[keep] / total[pid[keep]])
    return out


# --- scores ---------------------------------------------------------------------------
def kde_score(xs, ys, agrid: Grid, area: np.ndarray, bandwidth: float) -> np.ndarray:
    """Kernel density of past events on the analysis grid (NaN outside the district)."""
    from riskmap.factors import kernel_density

    d = kernel_density(xs, ys, agrid, bandwidth).astype(np.float64)
    d[~area] = np.nan
    return d


def raster_score(path, agrid: Grid, area: np.ndarray) -> np.ndarray:
    """A GeoTIFF resampled onto the analysis grid (NaN outside the district or no data).

    Cells of the same size or larger than the analysis cell are sampled
    (nearest); smaller ones are averaged. Another CRS is reprojected.

    Raises
    ------
    LayerError
        Unreadable file, no CRS, or no value over the district.
    """
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.warp import reproject

    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            src = rasterio.open(path)
    except (rasterio.errors.RasterioIOError, OSError) as e:
        raise LayerError(f"{path}: cannot open as a raster: {str(e).splitlines()[0]}; give a "
                         "GeoTIFF such as risk.tif") from None
    with src:
        no_transform = src.transform.is_identity  # (GCPs alone are not used)
        if src.crs is None or no_transform:
            missing = " and ".join(w for w, gone in (("no CRS", src.crs is None),
                                                      ("no geotransform", no_transform)) if gone)
            raise LayerError(f"{path}: the raster is not georeferenced ({missing}); it must "
                             f"carry its CRS (the project's is {agrid.crs}) and its pixel "
                             "position, as risk.tif does — georeference it in QGIS or with "
                             "gdal_translate -a_srs/-a_ullr")
        res = max(abs(src.res[0]), abs(src.res[1]))
        same = src.crs == rasterio.crs.CRS.from_user_input(agrid.crs)
        finer = same and res < agrid.cell * 0.75
        out = np.full(agrid.shape, np.nan, dtype=np.float64)
        reproject(
            source=rasterio.band(src, 1), destination=out, src_nodata=src.nodata,
            dst_transform=agrid.transform, dst_crs=agrid.crs, dst_nodata=np.nan,
            resampling=Resampling.average if finer else Resampling.nearest,
        )
    out[~area] = np.nan
    if not np.isfinite(out).any():
        raise LayerError(f"{path}: the raster has no value inside the district; check its "
                         f"extent and CRS (project CRS {agrid.crs})")
    return out


# --- the backtest -------------------------------------------------------------------------
def evaluate(project: Project, split: dt.date, *, raster=None, progress=None,
             rolling: str | None = None, folds: int = 4, offset: bool = False) -> dict:
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
    from riskmap.load.inputs import load_inputs
    from riskmap.score.engine import district_grid

    t0 = time.perf_counter()
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

    def one(test_from: dt.date, test_to: dt.date, keep_scores: bool = False) -> dict:
        """Map from data before ``test_from``, events in [test_from, test_to]."""
        ev = inc.event & inc.inside
        train = ev & (inc.dates < _day(test_from))
        test = ev & (inc.dates >= _day(test_from)) & (inc.dates <= _day(test_to))
        if not train.any():
            raise NoTrainingEventsError(
                f"no events before {test_from} inside the district; choose a later split")
        if not test.any():
            raise NoTestEventsError(
                f"no events from {test_from} to {test_to} inside the district; choose an "
                "earlier split")
        filtered = {}
        if raster_values is None:
            say(f"计算训练期风险图 (map from data before {test_from})")
            surface, filtered = model_surface(project, inputs, test_from)
            model_a = surface.score.astype(np.float64)
        else:
            model_a = raster_values
        c = shapely.get_coordinates(shapely.centroid(inc.gdf.geometry.values[train]))
        kde_a = kde_score(c[:, 0], c[:, 1], agrid, area, project.incidents["kde_bandwidth"])
        events = count_events(_test_geoms(inc, test, district, area_mode), cells, area_mode)
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
        return out

    say(f"回测 (backtest) split {split}")
    main = one(split, end, keep_scores=True)
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
        "negatives_test_period": int((inc.negative & inc.inside & (inc.dates >= _day(split))
                                      & (inc.dates <= _day(end))).sum()),
        "ignored_rows": inc.ignored,
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

    if offset:
        say("网格偏移 (grid offset: half a patrol cell)")
        result["offset"] = _offset(main, inc, district, agrid, area, k, project, area_mode)
    if rolling:
        result["rolling"] = _rolling(one, inc, end, folds)
    result["seconds"] = round(time.perf_counter() - t0, 2)
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


def _check_split(project: Project, inc: Incidents, split: dt.date, end: dt.date):
    d = inc.dates[inc.event & ~np.isnat(inc.dates)]
    if not len(d):
        raise NoTrainingEventsError(f"{project.incidents['source']}: no events (rows judged "
                                    f"{ILLEGAL}) in the incidents layer")
    first, last = d.min().astype(dt.date), d.max().astype(dt.date)
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


def _offset(main, inc, district, agrid, area, k, project, area_mode) -> dict:
    shift = k // 2
    cells = patrol_cells(agrid, area, k, shift)
    events = count_events(_test_geoms(inc, main["test"], district, area_mode), cells, area_mode)
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


def _rolling(one, inc, end, n) -> dict:
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


# --- writers ---------------------------------------------------------------------------
def check_outputs(out_dir, overwrite: bool = False) -> None:
    """Raise if an evaluation file already exists in ``out_dir`` and may not be replaced."""
    out_dir = Path(out_dir)
    taken = [f for f in FILES if (out_dir / f).exists()]
    if taken and not overwrite:
        raise ExportError(f"{out_dir / taken[0]}: 输出已存在 (output exists) and won't be "
                          "overwritten without --overwrite")


def write_evaluation(out_dir, result: dict, overwrite: bool = False) -> dict[str, Path]:
    """Write ``evaluation.json``, ``hit_rate.png`` and ``evaluation.html`` into ``out_dir``.

    Each file is written to a temporary name in the same folder and moved into
    place (``os.replace``), so a reader never sees half a file.

    Parameters
    ----------
    out_dir : path-like
        Created if missing.
    result : dict
        From :func:`evaluate`.
    overwrite : bool
        Replace existing files.

    Returns
    -------
    dict
        File name to path.

    Raises
    ------
    ExportError
        A file exists without ``overwrite``, or the folder cannot be written.
    """
    out_dir = Path(out_dir)
    check_outputs(out_dir, overwrite)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ExportError(f"{out_dir}: cannot create the output folder: {e.strerror}; choose "
                          "another --out") from None
    png = hit_rate_png(result)
    text = json.dumps(_plain(result), ensure_ascii=False, indent=2, allow_nan=False)
    paths = {name: out_dir / name for name in FILES}
    _atomic_write(paths["evaluation.json"], (text + "\n").encode("utf-8"))
    _atomic_write(paths["hit_rate.png"], png)
    _atomic_write(paths["evaluation.html"], report_html(result, png).encode("utf-8"))
    return paths


def _atomic_write(path: Path, data: bytes) -> None:
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    except OSError as e:
        raise ExportError(f"{path}: cannot write: {e.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; outputs are shared
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _plain(v):
    """JSON-safe copy: numpy scalars to Python, NaN/inf to null."""
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    if isinstance(v, np.ndarray):
        return _plain(v.tolist())
    if isinstance(v, np.integer | np.bool_):
        return v.item()
    if isinstance(v, float | np.floating):
        v = float(v)
        return round(v, 6) if math.isfinite(v) else None
    if isinstance(v, Path):
        return str(v)
    return v


_COLOURS = {"model": "#d7301f", "kde": "#2b8cbe", "uniform": "#737373", "best": "#bdbdbd"}


def hit_rate_png(result: dict) -> bytes:
    """The hit-rate curves of model, kde and uniform (and the best possible) as PNG bytes.

    Marks at 5, 10 and 20 % of the area; Chinese labels with a CJK font when
    one is found (:func:`riskmap.export.fonts.find_cjk_font`), English only otherwise.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from riskmap.export.fonts import cjk_font_properties, find_cjk_font, quiet_fonts

    try:
        font = find_cjk_font()
        fp = cjk_font_properties(font, 10)
        small = cjk_font_properties(font, 8)
        zh = True
    except RiskmapError:
        fp = small = None
        zh = False
    names = {"model": "模型 model" if zh else "model", "kde": "核密度 KDE" if zh else "KDE",
             "uniform": "均匀 uniform" if zh else "uniform",
             "best": "理论最优 best possible" if zh else "best possible"}
    curves = result["curves"]
    x = np.asarray(curves["area"]) * 100
    with quiet_fonts():
        fig = Figure(figsize=(7.2, 5.4), dpi=110)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        ax.plot(x, np.asarray(curves["best"]) * 100, color=_COLOURS["best"], lw=1.2, ls="--",
                label=names["best"])
        for name in ("uniform", "kde", "model"):
            m = result[name]
            ax.plot(x, np.asarray(curves[name]) * 100, color=_COLOURS[name],
                    lw=2.0 if name == "model" else 1.5,
                    label=f"{names[name]}  (PAI@10 {_fmt(m['PAI@10'], 2)}, "
                          f"AUC {_fmt(m['AUC'], 3)})")
        for p in (5, 10, 20):
            ax.axvline(p, color="#999999", lw=0.8, ls=":")
            ax.text(p, 1.5, f"{p}%", ha="center", va="bottom", fontsize=8, color="#555555",
                    bbox={"fc": "white", "ec": "none", "pad": 1})
        ax.set_xlim(0, 100)
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.25)
        xl = "巡查面积占比 (share of area, %)" if zh else "share of area (%)"
        yl = "命中案件占比 (share of test events, %)" if zh else "share of test events (%)"
        title = (f"命中率曲线 hit-rate curve — split {result['split']}, "
                 f"n_test {result['n_test']}, {result['unit']}")
        ax.set_xlabel(xl, fontproperties=fp)
        ax.set_ylabel(yl, fontproperties=fp)
        ax.set_title(title if zh else title.replace("命中率曲线 ", ""), fontproperties=fp)
        ax.legend(loc="lower right", prop=small)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def _fmt(v, nd: int) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return f"{v:.{nd}f}"


def format_value(key: str, v) -> str:
    """A table cell: hit rates in per cent, PAI/PEI 2 decimals, AUC 3, counts as numbers."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if key.startswith("hit@"):
        return f"{v * 100:.1f}%"
    if key.startswith(("PAI@", "PEI@")):
        return f"{v:.2f}"
    if key == "AUC":
        return f"{v:.3f}"
    return f"{v:g}" if isinstance(v, float) else str(v)


def report_html(result: dict, png: bytes) -> str:
    """A small self-contained HTML report: the table, the curve (inline PNG) and notes."""
    from riskmap.marks import INTERNAL

    e = html.escape
    head = "".join(f"<th>{e(k)}</th>" for k in ("", *TABLE_KEYS))
    rows = "".join(
        "<tr><th>" + e(name) + "</th>"
        + "".join(f"<td>{e(format_value(k, result[name].get(k)))}</td>" for k in TABLE_KEYS)
        + "</tr>" for name in MAPS)
    info = [("项目 project", result.get("project")), ("split", result["split"]),
            ("检验期 test period", " – ".join(result["test_period"])),
            ("单元 unit", result["unit"]), ("面积 area", f"{result['area_km2']} km²"),
            ("事件 events", result["events"]), ("n_train", result["n_train"]),
            ("n_test", result["n_test"]), ("伪变化 negatives", result["negatives"]),
            ("model", result["model"].get("source")), ("kde", result["kde"].get("source")),
            ("防泄漏 leakage guard", result["leakage_guard"])]
    if "offset" in result:
        o = result["offset"]
        info.append(("网格偏移 grid offset", "; ".join(
            f"{n}: PAI@10 {_fmt(o[n]['PAI@10_base'], 2)} → {_fmt(o[n]['PAI@10'], 2)} "
            f"(Δ {_fmt(o[n]['delta_PAI@10'], 2)})" for n in ("model", "kde"))
            + f" — shift {o['shift_m'][0]:g} m"))
    info_html = "".join(f"<tr><th>{e(str(k))}</th><td>{e(str(v))}</td></tr>" for k, v in info)
    roll = ""
    if "rolling" in result:
        r = result["rolling"]
        cols = ("PAI@10", "AUC", "hit@10")
        rh = "".join(f"<th>{e(n)} {e(c)}</th>" for n in ("model", "kde") for c in cols)
        body = ""
        for f in r["folds"]:
            if "skipped" in f:
                body += (f"<tr><th>{e(f['quarter'])}</th><td colspan='{len(cols) * 2 + 1}'>"
                         f"{e(f['skipped'])}</td></tr>")
                continue
            body += (f"<tr><th>{e(f['quarter'])}</th><td>{e(str(f['n_test']))}</td>"
                     + "".join(f"<td>{e(format_value(c, f[n][c]))}</td>"
                               for n in ("model", "kde") for c in cols) + "</tr>")
        body += ("<tr class='mean'><th>mean</th><td></td>"
                 + "".join(f"<td>{e(format_value(c, r['mean'][n].get(c)))}</td>"
                           for n in ("model", "kde") for c in cols) + "</tr>")
        roll = (f"<h2>滚动检验 rolling folds ({e(r['period'])}, {r['folds_used']} used)</h2>"
                f"<table><tr><th>fold</th><th>n_test</th>{rh}</tr>{body}</table>")
    img = base64.b64encode(png).decode("ascii")
    title = f"回测 backtest — {result.get('project', '')}"
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(title)}</title>
<style>
body {{ font-family: "Microsoft YaHei", "Noto Sans CJK SC", sans-serif; margin: 1.5em auto;
       max-width: 60em; color: #222; padding: 0 1em; }}
.mark {{ color: #b00; font-weight: bold; }}
table {{ border-collapse: collapse; margin: 0.6em 0 1.2em; }}
th, td {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }}
table.info th, table.info td {{ text-align: left; vertical-align: top; }}
tr.mean {{ font-weight: bold; }}
img {{ max-width: 100%; }}
</style></head><body>
<p class="mark">{e(INTERNAL)}</p>
<h1>{e(title)}</h1>
<p>hit@P: share of test events in the top P % of the area; PAI = hit / P (Chainey et al.
2008); PEI = PAI / best possible PAI (Hunt 2016); AUC: area under the hit-rate curve
(0.5 = uniform).</p>
<table class="metrics"><tr>{head}</tr>{rows}</table>
<img alt="hit-rate curve" src="data:image/png;base64,{img}">
<table class="info">{info_html}</table>
{roll}
<p><small>riskmap {e(str(result.get('riskmap', '')))}, {e(str(result.get('evaluated', '')))}
</small></p>
</body></html>
"""
