"""Patrol cells as a table: ids, labels, score, class and the why of it.

Vector cells are made only for the cells that are exported, from array indices,
in bulk (``shapely.box`` on arrays).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from riskmap import factors
from riskmap.grid.blocks import blocks
from riskmap.grid.cellid import cell_ids
from riskmap.load.project import Project
from riskmap.score.engine import Surface

TOP_N = 3


def cell_table(surface: Surface, project: Project, flat: np.ndarray) -> gpd.GeoDataFrame:
    """GeoDataFrame of the patrol cells ``flat`` (flat indices into the patrol grid).

    Columns: ``id``, ``township``, ``village``, ``score``, ``score_max``,
    ``score_mean``, ``class``, ``c_<factor>`` (points of score from the factor),
    ``v_<factor>`` (distance in m or density per km² behind it), ``top_factors``
    (the three largest contributions in words), ``x``, ``y`` (centre).
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
    texts = np.column_stack([_factor_text(s, contrib[s.name], explain[s.name]) for s in specs])
    order = np.argsort(-c, axis=1, kind="stable")[:, :n]
    top_c = np.take_along_axis(c, order, axis=1)
    top_t = np.take_along_axis(texts, order, axis=1)
    top_t = np.where(top_c >= 0.5, top_t, "")
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
