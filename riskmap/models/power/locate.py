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

from riskmap.crs.transform import transformer
from riskmap.errors import LayerError, RiskmapWarning
from riskmap.load import values
from riskmap.load.layers import LayerInfo, read_source, table_lonlat, table_xy
from riskmap.load.project import AreaSpec, Source
from riskmap.load.sources.meters import PowerTable

__all__ = ["AMBIGUOUS", "SPREAD_POINTS", "UNPLACED", "ambiguity_note", "ambiguous_villages",
           "fill_villages", "locate", "place", "read_areas", "spread_points", "village_key"]

#: points a village-placed user is spread over in the factor layer
SPREAD_POINTS = 16
#: placement of a user the map cannot show: no coordinates and no village matched
UNPLACED = "未定位"
#: placement of a user without coordinates whose village name is written in two townships
AMBIGUOUS = "村名重复"
SHOWN, SHOWN_USERS = 8, 20  # names and user ids written out in a note
_SEP = "\x1f"  # joins township and village into one key


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
    tr = transformer(pcrs, crs, always_xy=True)
    x[ok], y[ok] = tr.transform(np.asarray(px, float), np.asarray(py, float))
    notes = [*info.detected, *info.notes, *(str(w.message) for w in caught)]
    return x, y, notes


def _town(values) -> pd.Series:
    """Township names for matching: NFKC, no spaces; ``""`` for a missing one."""
    s = pd.Series(np.asarray(values, dtype=object)).fillna("").astype(str)
    return s.str.normalize("NFKC").str.replace(r"\s+", "", regex=True)


def _names(villages, vpoints) -> pd.DataFrame:
    """One row per distinct (township, village) of the village layer (else the points)."""
    areas = villages if villages is not None else vpoints
    if areas is None:
        return pd.DataFrame({"key": [], "town": [], "name": [], "township": []})
    t = areas["township"] if "township" in areas.columns else pd.Series([None] * len(areas))
    out = pd.DataFrame({"key": village_key(areas["name"]).to_numpy(),
                        "town": _town(t).to_numpy(),
                        "name": areas["name"].astype(str).to_numpy(),
                        "township": t.to_numpy(dtype=object)})
    out = out[out["key"] != ""]
    # a village split in two polygons of one township is one village; without townships
    # two features of one name cannot be told apart
    return out[~out.duplicated(["key", "town"]) | (out["town"] == "")].reset_index(drop=True)


def ambiguous_villages(villages, vpoints) -> dict[str, tuple[str, list[str]]]:
    """Village names that stand for more than one village (the same name in two townships).

    Parameters
    ----------
    villages, vpoints : geopandas.GeoDataFrame or None
        From :func:`read_areas` (the polygons are used when given).

    Returns
    -------
    dict
        Matching key (:func:`village_key`) → (the name as written, the townships
        written for it; ``"?"`` for a feature without one), for every name that
        stands for more than one village.
    """
    names = _names(villages, vpoints)
    many = names[names["key"].duplicated(keep=False)]
    return {k: (str(g["name"].iloc[0]),
                [str(t) if t else "?" for t in g["township"].fillna("")])
            for k, g in many.groupby("key", sort=True)}


def fill_villages(users: pd.DataFrame, x: np.ndarray, y: np.ndarray,
                  villages: gpd.GeoDataFrame | None, crs: str, vpoints=None) -> None:
    """Village and township of each user, from its point or its village's name.

    A user with coordinates and no village gets the village its point lies in;
    its township is that village's. A user with a village name gets the
    township of that name when the name is unique; when the name is written in
    two townships (:func:`ambiguous_villages`), a user with coordinates gets the
    township of the village of that name nearest its point, one without keeps
    no township (never the first one found). ``users`` (a meter table's
    ``users``) is changed in place.

    Parameters
    ----------
    users : pandas.DataFrame
    x, y : numpy.ndarray
        Points from :func:`locate` (NaN where none).
    villages : geopandas.GeoDataFrame or None
        Village polygons from :func:`read_areas`.
    crs : str
        Working CRS.
    vpoints : geopandas.GeoDataFrame, optional
        Committee points (their names and townships when there are no polygons).
    """
    has_xy = ~np.isnan(x)
    town = users["township"].to_numpy(dtype=object).copy()
    if villages is not None and has_xy.any():
        pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(x[has_xy], y[has_xy]), crs=crs)
        j = gpd.sjoin(pts, villages[["name", "township", "geometry"]], how="left",
                      predicate="within")
        j = j[~j.index.duplicated()]
        idx = np.flatnonzero(has_xy)
        written = users["village"].to_numpy(dtype=object)[idx]
        no_vil = pd.isna(written)
        users.loc[users.index[idx[no_vil]], "village"] = j["name"].to_numpy()[no_vil]
        same = no_vil | (village_key(written).to_numpy() == village_key(j["name"]).to_numpy())
        take = same & pd.isna(town[idx]) & j["township"].notna().to_numpy()
        town[idx[take]] = j["township"].to_numpy()[take]
    names = _names(villages, vpoints)
    names = names[names["town"] != ""]
    if names.empty:
        users["township"] = town
        return
    key = village_key(users["village"]).to_numpy()
    amb = set(ambiguous_villages(villages, vpoints))
    unique = names[~names["key"].isin(amb)].drop_duplicates("key").set_index("key")
    need = pd.isna(town) & pd.Series(key).isin(unique.index).to_numpy()
    town[need] = unique.loc[key[need], "township"].to_numpy()
    _nearest_towns(town, key, has_xy, x, y, villages if villages is not None else vpoints, amb)
    users["township"] = town


def _nearest_towns(town, key, has_xy, x, y, areas, amb) -> None:
    """Township of located users of a duplicated name: that of the nearest village so named."""
    need = pd.isna(town) & has_xy & np.isin(key, list(amb))
    if not need.any() or areas is None or "township" not in areas.columns:
        return
    akey = village_key(areas["name"]).to_numpy()
    for k in pd.unique(key[need]):  # a loop over duplicated names, not users
        users_k = np.flatnonzero(need & (key == k))
        cand = np.flatnonzero(akey == k)
        d = shapely.distance(areas.geometry.values[cand][None, :],
                             shapely.points(x[users_k], y[users_k])[:, None])
        town[users_k] = areas["township"].to_numpy(dtype=object)[cand[np.argmin(d, axis=1)]]


def place(users: pd.DataFrame, x: np.ndarray, y: np.ndarray, villages, vpoints
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Point and placement of each user: coordinates, committee point, village polygon.

    A user without coordinates is matched on (township, village) when its
    township is known, else on the village name alone when that name is
    unique; a user whose village name is written in two townships and whose
    township is unknown is placed nowhere (:data:`AMBIGUOUS`).

    Parameters
    ----------
    users : pandas.DataFrame
        With ``village`` and ``township`` (see :func:`fill_villages`).
    x, y : numpy.ndarray
        Points from :func:`locate`.
    villages, vpoints : geopandas.GeoDataFrame or None
        Village polygons and committee points (:func:`read_areas`).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray, numpy.ndarray)
        x, y and how each user was placed (坐标 / 村委会 / 村范围 / 村名重复 / 未定位).
    """
    gx, gy = x.copy(), y.copy()
    placed = np.where(np.isnan(x), UNPLACED, "坐标").astype(object)
    key = village_key(users["village"]).to_numpy()
    town = _town(users["township"]).to_numpy() if "township" in users.columns else \
        np.full(len(users), "")
    for areas, label in ((vpoints, "村委会"), (villages, "村范围")):
        if areas is None:
            continue
        xy = shapely.get_coordinates(shapely.point_on_surface(areas.geometry.values))
        t = areas["township"] if "township" in areas.columns else [None] * len(areas)
        tab = pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "key": village_key(areas["name"]),
                            "town": _town(t)}).drop_duplicates(["town", "key"])
        pair = tab[tab["town"] != ""].set_index(["town", "key"])
        alone = tab[~tab["key"].duplicated(keep=False)].set_index("key")
        todo = placed == UNPLACED
        by_pair = todo & (town != "") & pd.MultiIndex.from_arrays([town, key]).isin(pair.index)
        by_key = todo & ~by_pair & np.isin(key, alone.index.to_numpy())
        if by_pair.any():
            hit = pair.loc[list(zip(town[by_pair], key[by_pair], strict=True))]
            gx[by_pair], gy[by_pair] = hit["x"].to_numpy(), hit["y"].to_numpy()
            placed[by_pair] = label
        if by_key.any():
            hit = alone.loc[key[by_key]]
            gx[by_key], gy[by_key] = hit["x"].to_numpy(), hit["y"].to_numpy()
            placed[by_key] = label
    amb = list(ambiguous_villages(villages, vpoints))
    placed[(placed == UNPLACED) & np.isin(key, amb)] = AMBIGUOUS
    return gx, gy, placed


def ambiguity_note(users: pd.DataFrame, placed: np.ndarray, villages, vpoints) -> str | None:
    """The duplicated village names and the users they leave unplaced, in words."""
    amb = ambiguous_villages(villages, vpoints)
    if not amb:
        return None
    key = village_key(users["village"]).to_numpy()
    hit = np.isin(key, list(amb))
    if not hit.any():
        return None
    used = set(key[hit])
    shown = [f"{name} ({'、'.join(towns)})" for k, (name, towns) in amb.items() if k in used]
    names = "; ".join(shown[:SHOWN]) + (f" … {len(shown) - SHOWN} more" if len(shown) > SHOWN
                                         else "")
    lost = placed == AMBIGUOUS
    ids = users["user_id"].astype(str).to_numpy()[lost]
    more = f" 等 {len(ids)} 户 (… {len(ids)} in all)" if len(ids) > SHOWN_USERS else ""
    out = (f"村名重复 (the same village name in two townships): {names}; "
           f"{int(hit.sum())} 个用户写了这些村名 (users naming them): "
           f"{int((hit & ~lost).sum())} 个按坐标或乡镇定位 (placed by their coordinates or "
           f"township), {int(lost.sum())} 个无坐标，未上图，乡镇空白 (without coordinates: "
           f"not placed, township left blank)")
    if lost.any():
        out += f": 户号 {', '.join(ids[:SHOWN_USERS])}{more}"
    return out + "; 请供电公司补录坐标或乡镇 (ask the power company for coordinates or 乡镇)"


def _village_polygons(villages) -> dict:
    """Village polygons by ``township + _SEP + key`` (a village's parts united).

    A name no other village has is also keyed ``_SEP + key``.
    """
    if villages is None or villages.empty:
        return {}
    t = villages["township"] if "township" in villages.columns else [None] * len(villages)
    tab = pd.DataFrame({"town": _town(t).to_numpy(),
                        "key": village_key(villages["name"]).to_numpy()})
    out = {}
    for (town, key), idx in tab.groupby(["town", "key"], sort=False).indices.items():
        out[town + _SEP + key] = shapely.union_all(villages.geometry.values[idx])
    alone = tab.drop_duplicates(["town", "key"])
    alone = alone[~alone["key"].duplicated(keep=False)]
    for town, key in zip(alone["town"], alone["key"], strict=True):
        out.setdefault(_SEP + key, out[town + _SEP + key])
    return out


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
    # a user's village: its (township, name), else its name when no other village has it
    key = village_key(spread["village"]).to_numpy()
    town = _town(spread["township"]).to_numpy()
    polys = _village_polygons(result.villages)
    vil = np.char.add(np.char.add(town.astype(str), _SEP), key.astype(str))
    alone = np.char.add(_SEP, key.astype(str))
    vil = np.where(np.isin(vil, list(polys)), vil, alone)
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
