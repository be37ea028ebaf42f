"""Placing meter users on the map: their coordinates, else their village.

A user with coordinates is a point (the table's coordinate system read as point
tables are read); one without is placed at its village committee point, else
inside its village polygon, matched by name (:func:`village_key`). For the
factor layer a village-placed user is spread over points inside the village
(:func:`spread_points`) instead of a false pin.
"""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from riskmap.errors import LayerError, RiskmapWarning
from riskmap.load import values
from riskmap.load.layers import LayerInfo, read_source, table_lonlat, table_xy
from riskmap.load.project import AreaSpec, Source
from riskmap.load.sources.meters import PowerTable

__all__ = ["SPREAD_POINTS", "fill_villages", "locate", "place", "read_areas", "spread_points",
           "village_key"]

#: points a village-placed user is spread over in the factor layer
SPREAD_POINTS = 16


def read_areas(spec: AreaSpec, crs: str) -> gpd.GeoDataFrame:
    """Village polygons or committee points as ``name``, ``township`` and geometry.

    Parameters
    ----------
    spec : AreaSpec
        The project's ``villages`` or ``village_points``.
    crs : str
        Working CRS.

    Returns
    -------
    geopandas.GeoDataFrame

    Raises
    ------
    LayerError
        The layer cannot be read, or has no ``name_field``.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RiskmapWarning)
        gdf, _ = read_source(spec.source, crs)
    if spec.name_field not in gdf.columns:
        raise LayerError(f"{spec.source}: no field {spec.name_field!r}")
    out = gpd.GeoDataFrame({"name": gdf[spec.name_field].astype(str).str.strip().to_numpy()},
                           geometry=gdf.geometry.values, crs=gdf.crs)
    tf = spec.township_field
    out["township"] = gdf[tf].astype(str).to_numpy() if tf and tf in gdf.columns else None
    return out


def village_key(names) -> pd.Series:
    """Village names for matching: NFKC, no spaces, without a trailing 村.

    Parameters
    ----------
    names : array_like
        Names as written (None allowed).

    Returns
    -------
    pandas.Series
        Keys, ``""`` for a missing name.
    """
    s = pd.Series(np.asarray(names, dtype=object)).fillna("").astype(str)
    return s.str.normalize("NFKC").str.replace(r"\s+", "", regex=True).str.removesuffix("村")


def locate(table: PowerTable, source: Source, crs: str
           ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Points of the users that have coordinates, in the working CRS.

    Parameters
    ----------
    table : PowerTable
    source : Source
        The meter table's source (``crs: GCJ02`` or ``BD09`` for shifted
        web-map coordinates, a per-row 坐标系 column, GK X/Y …; as point tables).
    crs : str
        Working CRS.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray, list of str)
        x, y (NaN where the user has no coordinates) and notes.

    Raises
    ------
    LayerError
        A coordinate cell that is not a number or an angle.
    """
    u = table.users
    n = len(u)
    x, y = np.full(n, np.nan), np.full(n, np.nan)
    info = LayerInfo(source=source)
    rows = u["_row"].to_numpy()
    if {"lon", "lat"} <= set(u.columns):
        (a, bad_a), (b, bad_b) = values.parse_angles(u["lon"]), values.parse_angles(u["lat"])
        cols = ("lon", "lat")
    elif {"x", "y"} <= set(u.columns):
        (a, bad_a), (b, bad_b) = values.parse_numbers(u["x"]), values.parse_numbers(u["y"])
        cols = ("x", "y")
    else:
        return x, y, ["表中无坐标列，全部用户按村定位 (no coordinate columns: users placed at "
                      "their village)"]
    bad = bad_a | bad_b
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise LayerError(f"{source}: row {rows[i]}: coordinates {u[cols[0]].iloc[i]!r}, "
                         f"{u[cols[1]].iloc[i]!r} are not numbers or angles; fix the cell")
    ok = ~(np.isnan(a) | np.isnan(b))
    if not ok.any():
        return x, y, ["坐标列为空，全部用户按村定位 (coordinate columns blank)"]
    sub = u.loc[ok].reset_index(drop=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if cols == ("lon", "lat"):
            px, py, pcrs = table_lonlat(source, sub, a[ok], b[ok], rows[ok], info)
        else:
            px, py, pcrs = table_xy(source, a[ok], b[ok], rows[ok], info)
    tr = Transformer.from_crs(pcrs, crs, always_xy=True)
    x[ok], y[ok] = tr.transform(np.asarray(px, float), np.asarray(py, float))
    notes = [*info.detected, *info.notes, *(str(w.message) for w in caught)]
    return x, y, notes


def fill_villages(users: pd.DataFrame, x: np.ndarray, y: np.ndarray,
                  villages: gpd.GeoDataFrame, crs: str) -> None:
    """Village of users with coordinates but none written; township from the villages.

    ``users`` (a meter table's ``users``) is changed in place.

    Parameters
    ----------
    users : pandas.DataFrame
    x, y : numpy.ndarray
        Points from :func:`locate` (NaN where none).
    villages : geopandas.GeoDataFrame
        From :func:`read_areas`.
    crs : str
        Working CRS.
    """
    no_vil = ~np.isnan(x) & users["village"].isna().to_numpy()
    if no_vil.any():
        pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(x[no_vil], y[no_vil]), crs=crs)
        j = gpd.sjoin(pts, villages[["name", "geometry"]], how="left", predicate="within")
        j = j[~j.index.duplicated()]
        users.loc[no_vil, "village"] = j["name"].to_numpy()
    if villages["township"].notna().any():
        tmap = pd.Series(villages["township"].to_numpy(), index=village_key(villages["name"]))
        tmap = tmap[~tmap.index.duplicated()]
        fill = village_key(users["village"]).map(tmap).to_numpy()
        users["township"] = np.where(users["township"].isna(), fill, users["township"])


def place(users: pd.DataFrame, x: np.ndarray, y: np.ndarray, villages, vpoints
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Point and placement of each user: coordinates, committee point, village polygon.

    Parameters
    ----------
    users : pandas.DataFrame
        With ``village``.
    x, y : numpy.ndarray
        Points from :func:`locate`.
    villages, vpoints : geopandas.GeoDataFrame or None
        Village polygons and committee points (:func:`read_areas`).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray, numpy.ndarray)
        x, y and how each user was placed (坐标 / 村委会 / 村范围 / 未定位).
    """
    gx, gy = x.copy(), y.copy()
    placed = np.where(np.isnan(x), "未定位", "坐标").astype(object)
    key = village_key(users["village"])
    for areas, label in ((vpoints, "村委会"), (villages, "村范围")):
        if areas is None:
            continue
        pts = shapely.point_on_surface(areas.geometry.values)
        xy = pd.DataFrame(shapely.get_coordinates(pts), columns=["x", "y"],
                          index=village_key(areas["name"]).to_numpy())
        xy = xy[~xy.index.duplicated()]
        need = (placed == "未定位") & key.isin(xy.index).to_numpy()
        if need.any():
            hit = xy.loc[key[need]]
            gx[need], gy[need] = hit["x"].to_numpy(), hit["y"].to_numpy()
            placed[need] = label
    return gx, gy, placed


def _halton(n: int, base: int) -> np.ndarray:
    i = np.arange(1, n + 1)
    f, r = np.ones(n), np.zeros(n)
    while (i > 0).any():
        f = f / base
        r = r + f * (i % base)
        i = i // base
    return r


def spread_points(result, users: gpd.GeoDataFrame,
                  k: int = SPREAD_POINTS) -> gpd.GeoDataFrame:
    """Factor points: one per located user, ``k`` over the village for the others.

    A user placed at its village (no coordinates) is somewhere in the village:
    its weight is split over ``k`` evenly spread points inside the village
    polygon (a 1 km disc around the committee point when there is no polygon),
    so its influence covers the village instead of a false pin.

    Parameters
    ----------
    result : PowerResult
        Its ``villages`` (polygons) are used.
    users : geopandas.GeoDataFrame
        Rows of ``result.users`` to turn into points (with ``weight``).
    k : int
        Points per village-placed user.

    Returns
    -------
    geopandas.GeoDataFrame
        Same columns plus ``part`` (1..k, 0 for a located user); ``weight``
        divided by ``k`` for spread users.
    """
    exact = users[users["placed_by"] == "坐标"].assign(part=0)
    spread = users[users["placed_by"].isin(["村委会", "村范围"])]
    if spread.empty:
        return exact
    # k quasi-random points per village (a loop over villages, not users)
    vil = village_key(spread["village"]).to_numpy()
    polys = {}
    if result.villages is not None:
        v = result.villages
        polys = dict(zip(village_key(v["name"]), v.geometry.values, strict=True))
    hx, hy = _halton(64 * k, 2), _halton(64 * k, 3)
    cloud = {}
    for name in pd.unique(vil):
        poly = polys.get(name)
        if poly is None:
            c = spread.geometry.values[np.flatnonzero(vil == name)[0]]
            poly = shapely.buffer(c, 1000.0)
        x0, y0, x1, y1 = poly.bounds
        px, py = x0 + hx * (x1 - x0), y0 + hy * (y1 - y0)
        inside = shapely.contains_xy(poly, px, py)
        pts = np.c_[px[inside], py[inside]][:k]
        if len(pts) < k:  # a thin polygon: repeat what fell inside, else its point
            pts = np.resize(pts if len(pts) else np.array(
                [shapely.get_coordinates(shapely.point_on_surface(poly))[0]]), (k, 2))
        cloud[name] = pts
    xy = np.concatenate([cloud[v] for v in vil])
    rep = spread.loc[spread.index.repeat(k)].copy()
    rep["part"] = np.tile(np.arange(1, k + 1), len(spread))
    rep["weight"] = rep["weight"] / k
    rep = rep.set_geometry(gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=users.crs)
    return gpd.GeoDataFrame(pd.concat([exact, rep], ignore_index=True), crs=users.crs)
