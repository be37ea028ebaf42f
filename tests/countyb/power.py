"""County B's meter table (供电台账): 12 months of kWh, planted illegal users and decoys."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import geo
from .people import business_name, person_name, phone

MONTHS = [str(p) for p in pd.period_range("2024-12", "2025-11", freq="M")]
CAL = np.array([int(m[5:]) for m in MONTHS])
#: written category: (share, median kWh/month, log-sd)
CATEGORIES = {"居民生活": (0.70, 150.0, 0.5), "一般工商业": (0.10, 520.0, 0.6),
              "农业排灌": (0.12, 260.0, 0.7), "动力": (0.08, 2400.0, 0.8)}
SEASON = {"居民生活": {12: 1.25, 1: 1.3, 2: 1.2, 7: 1.15, 8: 1.15},
          "农业排灌": {4: 1.4, 5: 2.2, 6: 2.6, 7: 2.4, 8: 1.8, 9: 1.2, 11: 0.6, 12: 0.4, 1: 0.4,
                   2: 0.4}}
HEATING = {11: 0.6, 12: 1.0, 1: 1.0, 2: 0.9, 3: 0.5}
N_ILLEGAL, N_DECOY, HEATED_VILLAGES = 24, 14, 3


def _profile(cat: str) -> np.ndarray:
    table = SEASON.get(cat, {})
    return np.array([table.get(int(m), 1.0) for m in CAL])


def _mining_features(w: dict, rng) -> tuple[object, np.ndarray]:
    """Closed mines and pits, outcrops and expired licences: their union and candidate spots."""
    lic = w["licences"]
    expired = lic[lic["valid_to"] < pd.Timestamp("2023-01-01").date()]
    lines = list(w["outcrops"].geometry) + list(expired.geometry.boundary)
    spots = [np.column_stack([w["closed_mines"].geometry.x, w["closed_mines"].geometry.y])]
    for line in lines:
        pts = [line.interpolate(d) for d in rng.uniform(0, line.length, 8)]
        spots.append(np.array([[p.x, p.y] for p in pts]))
    union = shapely.union_all(list(w["closed_mines"].geometry) + lines)
    return union, np.vstack(spots)


def make_meters(w: dict, rng: np.random.Generator, n_users: int = 1300):
    """The meter table as a frame (sheet order) and the hidden truth.

    Returns
    -------
    tuple
        ``(table, truth)``: ``table`` has 户号, 户名, 联系电话, 台区, 用电地址, 村,
        用户类别, 经度, 纬度 (WGS84, blank for most users) and one column per
        month (``2024年12月`` …); ``truth`` maps ``illegal``/``decoy``/``heated``
        to lists of 户号 (or village names).
    """
    vil, vp = w["villages"], w["village_points"]
    cats = np.array(list(CATEGORIES))
    share = np.array([v[0] for v in CATEGORIES.values()])
    cat = rng.choice(cats, n_users, p=share)
    home = rng.integers(0, len(vil), n_users)
    centre = np.column_stack([vp.geometry.x.to_numpy()[home], vp.geometry.y.to_numpy()[home]])
    xy = centre + rng.normal(0, 300, centre.shape)
    polys = vil.geometry.to_numpy()[home]
    bad = ~shapely.contains_xy(polys, xy[:, 0], xy[:, 1])
    xy[bad] = centre[bad]
    has_xy = rng.random(n_users) < 0.4
    role = np.array(["normal"] * n_users, dtype=object)

    # planted illegal users: new accounts next to mining features, in any category
    feats, spots = _mining_features(w, rng)
    area = w["district"]["geom"].buffer(-200)
    k = N_ILLEGAL
    spots = spots[shapely.contains_xy(area, spots[:, 0], spots[:, 1])]
    base = spots[rng.choice(len(spots), k, replace=False)] + rng.normal(0, 150, (k, 2))
    vname = _village_index(base, vil)
    cat = np.concatenate([cat, rng.choice(cats[[0, 2, 3, 1]], k, p=[0.45, 0.30, 0.15, 0.10])])
    home = np.concatenate([home, vname])
    xy = np.vstack([xy, base])
    dup_names = vil["name"][vil["name"].duplicated(keep=False)]
    in_dup = vil["name"].to_numpy()[vname].astype(object)
    no_xy = rng.random(k) < 0.5
    no_xy[np.isin(in_dup, dup_names.to_numpy())] = True  # ambiguous without coordinates
    has_xy = np.concatenate([has_xy, ~no_xy])
    role = np.concatenate([role, ["illegal"] * k])

    # decoys: legitimate step-ups of 动力/商业 users far from any mining feature
    dist = shapely.distance(shapely.points(xy), feats)
    far = np.flatnonzero((role == "normal") & (dist > 4000) & np.isin(cat, ["动力", "一般工商业"]))
    decoy = rng.choice(far, min(N_DECOY, len(far)), replace=False)
    role[decoy] = "decoy"
    has_xy[decoy] = True

    n = len(cat)
    level = np.array([CATEGORIES[c][1] * np.exp(rng.normal(0, CATEGORIES[c][2])) for c in cat])
    kwh = np.vstack([_profile(c) for c in cat]) * level[:, None]
    kwh *= np.exp(rng.normal(0, 0.12, kwh.shape))
    heated = rng.choice(vil["code"].to_numpy(), HEATED_VILLAGES, replace=False)
    warm = np.isin(vil["code"].to_numpy()[home], heated) & (cat == "居民生活")
    heat = np.array([HEATING.get(int(m), 0.0) for m in CAL])
    kwh[warm] += rng.uniform(500, 1200, warm.sum())[:, None] * heat
    for i in np.flatnonzero(role == "illegal"):
        onset = int(rng.integers(0, 11))
        extra = float(np.clip(rng.lognormal(np.log(1500), 0.7), 500, 6000))
        on = (np.arange(12) >= onset) & (rng.random(12) < 0.85)
        kwh[i] += extra * on + 0.25 * extra * ((np.arange(12) >= onset) & ~on)
    for i in decoy:
        onset = int(rng.integers(2, 10))
        kwh[i, onset:] *= rng.uniform(2.0, 3.5)
    kwh = np.round(kwh).astype(object)
    kwh[rng.random(kwh.shape) < 0.01] = None
    est = np.argwhere(rng.random(kwh.shape) < 0.015)
    for r_, c_ in est:
        if kwh[r_, c_] is not None:
            kwh[r_, c_] = f"{kwh[r_, c_]}(估)"

    order = rng.permutation(n)  # illegal users and decoys are not at the end of the sheet
    ll = geo.lonlat(xy)
    villages = vil["name"].to_numpy()[home]
    ids = np.sort(rng.choice(np.arange(100000, 999999), n, replace=False))
    table = pd.DataFrame({
        "户号": [f"31{x:08d}" for x in ids],
        "户名": [person_name(rng) if c == "居民生活" else business_name(rng, v, c)
               for c, v in zip(cat[order], villages[order], strict=True)],
        "联系电话": [phone(rng) for _ in range(n)],
        "台区": [f"{v[:-1]}{int(rng.integers(1, 4))}#台区" for v in villages[order]],
        "用电地址": [f"{v}{int(rng.integers(1, 300))}号" for v in villages[order]],
        "村": villages[order],
        "用户类别": cat[order],
        "经度": np.where(has_xy[order], np.round(ll[order, 0], 6), np.nan),
        "纬度": np.where(has_xy[order], np.round(ll[order, 1], 6), np.nan),
    })
    for j, m in enumerate(MONTHS):
        table[f"{m[:4]}年{int(m[5:])}月"] = kwh[order, j]
    sorted_role = role[order]
    truth = {"illegal": table["户号"][sorted_role == "illegal"].tolist(),
             "decoy": table["户号"][sorted_role == "decoy"].tolist(),
             "heated": sorted(vil.set_index("code").loc[heated, "name"].tolist())}
    return table, truth


def _village_index(xy: np.ndarray, vil: gpd.GeoDataFrame) -> np.ndarray:
    """Row index of the village holding (or nearest to) each point."""
    polys = vil.geometry.to_numpy()
    return np.array([int(np.argmin(shapely.distance(polys, p))) for p in shapely.points(xy)])
