"""Patrol cells as a table: ids, labels, score, class and the why of it.

Vector cells are made only for the cells that are exported, from array indices,
in bulk (``shapely.box`` on arrays). When the project names the rank interval of
its calibration (the ``interval`` key, :mod:`riskmap.load.interval`), it is read
once (:func:`patrol_interval`) and every table gets its columns; a file that is
missing or not on the district's patrol grid (stale) is refused, as ``check``
refuses it (:func:`require_interval`).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from riskmap import factors
from riskmap.grid.blocks import blocks
from riskmap.grid.cellid import cell_ids
from riskmap.load.interval import RankInterval, read_interval
from riskmap.load.project import Project
from riskmap.score.engine import Surface, district_grid

__all__ = ["INTERVAL_COLUMNS", "TOP_N", "cell_table", "interval_on", "patrol_interval",
           "rank_text", "require_interval", "top_factors_text"]

TOP_N = 3
#: the columns of the rank interval (0–100, 100 = the district's top cell), when there is one
INTERVAL_COLUMNS = ("rank_pct", "rank_lo", "rank_hi")

# rank intervals read: (file, its mtime and size, patrol grid) -> RankInterval (a few kept)
_READ: dict[tuple, RankInterval] = {}
_KEEP = 4


def patrol_interval(surface: Surface, project: Project) -> RankInterval | None:
    """The project's rank interval on the surface's patrol grid (None without the key).

    Read once (:func:`interval_on`), whichever output asks first, as the window
    of the surface's patrol grid; that the file covers exactly the district's
    grid is :func:`require_interval`'s check (``check``).

    Raises
    ------
    LayerError
        The file is missing, on another grid or does not cover the surface's
        cells, as :func:`riskmap.load.interval.read_interval` says, with the fix.
    """
    if project.interval is None:
        return None
    # the surface may be a township's window of the district grid (the tiled build)
    return interval_on(project, surface.patrol_grid, window=True)


def require_interval(project: Project, district) -> RankInterval | None:
    """Check (and read) the project's rank interval against the district's patrol grid.

    What ``check`` runs, and what a command may run before its heavy work
    (the district read, nothing scored yet): the interval it reads is kept for
    the outputs (:func:`patrol_interval`). None without the key.

    Raises
    ------
    LayerError
        As :func:`patrol_interval`.
    """
    if project.interval is None:
        return None
    k = round(project.patrol_cell_size / project.cell_size)
    return interval_on(project, district_grid(project, district).coarsen(k))


def interval_on(project: Project, pg, window: bool = False) -> RankInterval:
    """``project.interval`` read on patrol grid ``pg``, once per state of the file.

    ``window``: ``pg`` may be a window of the district's patrol grid
    (:func:`riskmap.load.interval.read_interval`).

    Raises
    ------
    LayerError
        As :func:`riskmap.load.interval.read_interval`.
    """
    path = project.interval
    try:
        st = path.stat()
        key = (str(path), st.st_mtime_ns, st.st_size, pg, window)
    except OSError:
        key = None  # missing: read_interval says so
    if key in _READ:
        return _READ[key]
    iv = read_interval(path, crs=pg.crs, transform=pg.transform, shape=pg.shape,
                       window=window)
    if key is not None:
        while len(_READ) >= _KEEP:
            _READ.pop(next(iter(_READ)))
        _READ[key] = iv
    return iv


def rank_text(lo, hi) -> np.ndarray:
    """'前 3–20 %' per cell: the top shares the 95 % and 5 % rank bounds put it in.

    ``hi`` 97 (the 95 % bound) is the top 3 %, ``lo`` 80 the top 20 %; shares are
    whole per cent, at least 1; "" where a bound is missing.
    """
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    ok = np.isfinite(lo) & np.isfinite(hi)
    a = np.maximum(1, np.rint(100 - np.where(ok, hi, 0))).astype(np.int64)
    b = np.maximum(a, np.rint(100 - np.where(ok, lo, 0))).astype(np.int64)
    sa, sb = a.astype(str).astype(object), b.astype(str).astype(object)
    text = np.where(a == b, "前 " + sa + " %", "前 " + sa + "–" + sb + " %")
    return np.where(ok, text, "").astype(object)


def cell_table(surface: Surface, project: Project, flat: np.ndarray) -> gpd.GeoDataFrame:
    """GeoDataFrame of the patrol cells ``flat`` (flat indices into the patrol grid).

    Columns: ``id``, ``township``, ``village``, ``score``, ``score_max``,
    ``score_mean``, ``class``, ``c_<factor>`` (points of score from the factor),
    ``v_<factor>`` (distance in m or density per km² behind it), ``top_factors``
    (the three largest contributions in words), ``x``, ``y`` (centre); with the
    project's rank interval (:func:`patrol_interval`) also ``rank_pct``,
    ``rank_lo``, ``rank_hi`` (0–100, 100 = the top cell; NaN where it has none).
    """
    pg = surface.patrol_grid
    rows, cols = np.divmod(flat, pg.ncols)
    x0 = pg.x0 + cols * pg.cell
    y1 = pg.y0 - rows * pg.cell
    geom = shapely.box(x0, y1 - pg.cell, x0 + pg.cell, y1)
    tn = np.array(["", *surface.township_names], dtype=object)
    vn = np.array(["", *surface.village_names], dtype=object)
    df = pd.DataFrame({
        "id": cell_ids(x0, y1 - pg.cell, pg.cell),
        "township": tn[surface.township.ravel()[flat]],
        "village": vn[surface.village.ravel()[flat]],
        "score": _r(surface.p_score.ravel()[flat]),
        "score_max": _r(surface.p_max.ravel()[flat]),
        "score_mean": _r(surface.p_mean.ravel()[flat]),
        "class": surface.p_class.ravel()[flat].astype(np.int16),
    })
    contrib, explain = _why(surface, project, flat)
    for spec in project.factors:
        df[f"c_{spec.name}"] = _r(contrib[spec.name])
        e = _r(explain[spec.name])
        df[f"v_{spec.name}"] = np.where(np.isfinite(e), e, np.nan)  # beyond reach: null
    df["top_factors"] = top_factors_text(project, contrib, explain)
    iv = patrol_interval(surface, project)
    if iv is not None:  # rank percentiles 0-100 of the calibration; null where it had none
        for col, band in zip(INTERVAL_COLUMNS, (iv.pct, iv.lo, iv.hi), strict=True):
            df[col] = np.round(band.ravel()[flat].astype(np.float64), 1)
    df["x"] = x0 + pg.cell / 2
    df["y"] = y1 - pg.cell / 2
    return gpd.GeoDataFrame(df, geometry=geom, crs=pg.crs)


def _why(surface: Surface, project: Project, flat):
    """Contributions and explain values behind each patrol cell's score."""
    contrib, explain = {}, {}
    if project.patrol_score == "max":
        at = surface.argmax(flat)
        for spec in project.factors:
            contrib[spec.name] = surface.contribution(spec.name, at)
            explain[spec.name] = surface.factors[spec.name].explain.ravel()[at]
    else:
        k = surface.k
        area = blocks(surface.area, k).reshape(-1, k * k)[flat]
        n = area.sum(axis=1)
        for spec in project.factors:
            v = blocks(surface.factors[spec.name].value, k).reshape(-1, k * k)[flat]
            c = v * surface.coefs[spec.name]
            contrib[spec.name] = np.where(area, c, 0).sum(axis=1) / n
            e = blocks(surface.factors[spec.name].explain, k).reshape(-1, k * k)[flat]
            if surface.factors[spec.name].unit == "m":
                explain[spec.name] = np.where(area, e, np.inf).min(axis=1)
            else:
                explain[spec.name] = np.where(area, e, 0).sum(axis=1) / n
    return contrib, explain


def top_factors_text(project: Project, contrib: dict, explain: dict, n: int = TOP_N):
    """'关闭矿井 340 m (+28); 露头煤线 120 m (+22)' per cell, largest first."""
    specs = list(project.factors)
    if not specs:
        return np.array([], dtype=object)
    c = np.column_stack([contrib[s.name] for s in specs])
    order = np.argsort(-c, axis=1, kind="stable")[:, :n]
    shown = np.take_along_axis(c, order, axis=1) >= 0.5
    # each factor's words only for the cells where it is among the top: a tenth of the cells
    # and factors, not all of them (formatting is most of a cell table's time)
    top_t = np.full(order.shape, "", dtype=object)
    for j, spec in enumerate(specs):
        hit = (order == j) & shown
        at = np.flatnonzero(hit.any(axis=1))
        if len(at):
            top_t[at, hit[at].argmax(axis=1)] = _factor_text(spec, contrib[spec.name][at],
                                                              explain[spec.name][at])
    out = pd.Series(top_t[:, 0], dtype=object)
    for j in range(1, top_t.shape[1]):
        nxt = pd.Series(top_t[:, j], dtype=object)
        out = out.where(nxt == "", out + "; " + nxt)
    return out.to_numpy()


def _factor_text(spec, contrib, explain) -> np.ndarray:
    pts = pd.Series(np.round(contrib).astype(int)).map("{:+d}".format)
    return factors.kind_of(spec).describe(spec.label, pts, explain, spec.params)


def _r(a):
    return np.round(np.asarray(a, dtype=np.float64), 2)
