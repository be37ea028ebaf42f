"""The hidden case process of county B: a log-Gaussian Cox process plus near-repeat clusters.

Nothing here is written to the county's files except its draws (the case
ledger, tips, meter anomalies, finds on returned sheets); riskmap never sees
the intensity. See the folder's README (``county_readme.md``) for the formula.
"""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import numpy as np
import shapely
from scipy.ndimage import gaussian_filter

from . import geo

CELL = 100.0  # m, grid of the hidden intensity
START, END = dt.date(2021, 1, 1), dt.date(2025, 11, 30)
AS_OF = dt.date(2025, 12, 1)
N_PRIMARY = 210.0  # expected background (primary) cases over START..END
#: hidden effect of each premises type (cover for tunnel digging); 加工点 has none
PREMISES_EFFECT = {"闲置厂房": 1.0, "养殖场": 0.8, "农家院": 0.7, "车库": 0.5, "储煤场": 0.6,
                   "大棚": 0.3, "洗煤厂": 0.2, "加工点": 0.0}
#: month → relative rate (low at Spring Festival / frozen ground and in the rainy season)
SEASON = {1: 0.5, 2: 0.5, 3: 1.2, 4: 1.4, 5: 1.3, 6: 1.0, 7: 0.7, 8: 0.7, 9: 1.2, 10: 1.4,
          11: 1.1, 12: 0.8}
BORDER_NEIGHBOUR = "交口县"  # the one neighbour whose border raises risk
REPEAT_P, REPEAT_MEAN, REPEAT_RADIUS, REPEAT_DAYS = 0.30, 0.6, 250.0, (5, 75)


def shoulder(d: np.ndarray, r: float, s: float) -> np.ndarray:
    """Logistic shoulder: about 1 up to ``r`` metres, falling over ``s`` metres."""
    return 1.0 / (1.0 + np.exp((d - r) / s))


def inverse_square(d: np.ndarray, r: float) -> np.ndarray:
    """``(1 + d/r)^-2``: a long-tailed decay."""
    return (1.0 + d / r) ** -2


def shared_border(district, neighbour, tolerance: float = 100.0):
    """The part of the district's boundary within ``tolerance`` m of a neighbour polygon."""
    return district.boundary.intersection(neighbour.buffer(tolerance))


def covariates(w: dict, rng: np.random.Generator) -> dict:
    """Every term of the hidden log-intensity on the 100 m grid (see module docstring)."""
    district = w["district"]["geom"]
    r = geo.Raster.over(district, CELL)
    out = w["outcrops"]
    closed = w["closed_mines"]
    lic = w["licences"]
    expired = lic["valid_to"].to_numpy() < dt.date(2023, 1, 1)
    neighbour = next(n for n in w["neighbours"] if n["name"] == BORDER_NEIGHBOUR)["geom"]
    terms = {
        "coal_outcrop": shoulder(r.distance(out.geometry[out["mineral"] == "煤"]), 700, 150),
        "bauxite_outcrop": shoulder(r.distance(out.geometry[out["mineral"] == "铝土矿"]), 400, 120),
        "pits": inverse_square(r.distance(closed.geometry[closed["kind"] != "关闭矿井"]), 250),
        "closed_mines": inverse_square(r.distance(closed.geometry[closed["kind"] == "关闭矿井"]),
                                       400),
        "border": np.exp(-r.distance([shared_border(district, neighbour)]) / 1200.0),
    }
    inside_valid = r.burn(lic.geometry[~expired], all_touched=False)
    inside_expired = r.burn(lic.geometry[expired], all_touched=False)
    inside = inside_valid | inside_expired
    d_lic = r.distance(lic.geometry.boundary)
    terms["ring"] = ((d_lic <= 400) & ~inside).astype(float)
    terms["inside_valid"] = inside_valid.astype(float)
    terms["inside_expired"] = inside_expired.astype(float)
    prem = w["premises"]
    xy = np.column_stack([prem.geometry.x, prem.geometry.y])
    wts = prem["type"].map(PREMISES_EFFECT).to_numpy(float)
    sigma = 200.0 / CELL
    pull = gaussian_filter(r.counts(xy, wts), sigma) * 2 * np.pi * sigma ** 2  # 1 at a lone point
    d_out = r.distance(out.geometry)
    terms["premises"] = np.tanh(pull / 1.5) * np.exp(-d_out / 3000.0)
    noise = gaussian_filter(rng.normal(size=(r.ny, r.nx)), 2500.0 / CELL, mode="reflect")
    mask = r.burn([district], all_touched=False)
    terms["latent"] = (noise - noise[mask].mean()) / noise[mask].std()
    return {"raster": r, "mask": mask, "terms": terms}


COEF = {"coal_outcrop": 1.3, "bauxite_outcrop": 1.6, "pits": 1.1, "closed_mines": 0.5,
        "ring": 0.8, "inside_valid": -1.4, "inside_expired": 0.6, "premises": 0.9,
        "border": 0.7, "latent": 0.8}


def intensity(cov: dict) -> np.ndarray:
    """Relative intensity per cell (0 outside the district), summing to 1."""
    eta = sum(COEF[k] * v for k, v in cov["terms"].items())
    lam = np.where(cov["mask"], np.exp(eta - eta[cov["mask"]].max()), 0.0)
    return lam / lam.sum()


def day_weights() -> tuple[np.ndarray, np.ndarray]:
    """Days START..END and their relative rate (crackdown in 2022, mild rebound, seasons)."""
    days = np.arange(np.datetime64(START), np.datetime64(END) + 1)
    t = (days - np.datetime64("2022-07-01")).astype(float) / 365.0
    level = np.where(t < 0, 1.5, np.where(t < 1, 1.5 - 0.8 * t, 0.7 + 0.1 * (t - 1)))
    months = (days.astype("datetime64[M]").astype(int) % 12) + 1
    return days, level * np.vectorize(SEASON.get)(months)


def draw_cases(w: dict, cov: dict, lam: np.ndarray, rng) -> gpd.GeoDataFrame:
    """Primary cases from the LGCP and their near-repeat followers, with dates and kinds."""
    r = cov["raster"]
    n = rng.poisson(N_PRIMARY)
    flat = rng.choice(lam.size, n, p=lam.ravel())
    row, col = np.divmod(flat, r.nx)
    xy = np.column_stack([r.x0 + (col + rng.random(n)) * r.cell,
                          r.y1 - (row + rng.random(n)) * r.cell])
    days, rate = day_weights()
    when = rng.choice(days, n, p=rate / rate.sum())
    parent = np.full(n, -1)
    district = w["district"]["geom"]
    kids_xy, kids_when, kids_parent = [], [], []
    for i in np.flatnonzero(rng.random(n) < REPEAT_P):
        k = 1 + rng.poisson(REPEAT_MEAN)
        ang, rad = rng.uniform(0, 2 * np.pi, k), REPEAT_RADIUS * np.sqrt(rng.random(k))
        kids_xy.append(xy[i] + np.column_stack([rad * np.cos(ang), rad * np.sin(ang)]))
        kids_when.append(when[i] + rng.integers(*REPEAT_DAYS, k).astype("timedelta64[D]"))
        kids_parent.append(np.full(k, i))
    if kids_xy:
        kx, kw, kp = np.vstack(kids_xy), np.concatenate(kids_when), np.concatenate(kids_parent)
        keep = (kw <= np.datetime64(END)) & shapely.contains_xy(district, kx[:, 0], kx[:, 1])
        xy = np.vstack([xy, kx[keep]])
        when = np.concatenate([when, kw[keep]])
        parent = np.concatenate([parent, kp[keep]])
    order = np.argsort(when, kind="stable")
    xy, when, parent = xy[order], when[order], parent[order]
    remap = np.argsort(order)
    parent = np.where(parent >= 0, remap[np.maximum(parent, 0)], -1)
    cases = gpd.GeoDataFrame({"date": when, "parent": parent},
                             geometry=shapely.points(np.round(xy, 2)), crs=geo.CRS)
    return describe(cases, cov, rng)


def describe(cases: gpd.GeoDataFrame, cov: dict, rng) -> gpd.GeoDataFrame:
    """Kind, mineral and provenance of each case, from where it fell."""
    r, t = cov["raster"], cov["terms"]
    xy = np.column_stack([cases.geometry.x, cases.geometry.y])
    baux, coal = r.at(t["bauxite_outcrop"], xy), r.at(t["coal_outcrop"], xy)
    near_lic = sum(r.at(t[k], xy) for k in ("ring", "inside_valid", "inside_expired")) > 0
    cover = r.at(t["premises"], xy) > 0.3
    u = rng.random(len(xy))
    kind = np.where(near_lic & (u < 0.7), "越界开采",
                    np.where(baux > 0.5, np.where(u < 0.6, "非法盗采铝土矿", "非法明采"),
                             np.where(cover | (u < 0.55), "非法洞采", "非法明采")))
    mineral = np.where((kind == "非法盗采铝土矿") | (baux > coal), "铝土矿", "煤")
    source_table = {
        "非法明采": (["卫片", "巡查", "举报"], [0.4, 0.4, 0.2]),
        "非法盗采铝土矿": (["卫片", "巡查", "举报"], [0.35, 0.45, 0.2]),
        "非法洞采": (["巡查", "举报", "供电公司", "卫片"], [0.45, 0.3, 0.2, 0.05]),
        "越界开采": (["巡查", "卫片", "举报"], [0.5, 0.3, 0.2]),
    }
    source = np.empty(len(xy), dtype=object)
    for k, (names, p) in source_table.items():
        sel = kind == k
        source[sel] = rng.choice(names, sel.sum(), p=p)
    cases["kind"], cases["mineral"], cases["source"] = kind, mineral, source.astype(str)
    return cases


def draw_tips(w: dict, cases: gpd.GeoDataFrame, rng, n: int = 170) -> gpd.GeoDataFrame:
    """Tip-line reports: 65 % shortly before and near a case (2022 on), the rest near villages."""
    later = cases[cases["date"] >= np.datetime64("2022-02-01")]
    k = round(0.65 * n)
    pick = rng.choice(len(later), k, replace=True)
    xy = np.column_stack([later.geometry.x, later.geometry.y])[pick] + rng.normal(0, 250, (k, 2))
    when = later["date"].to_numpy()[pick] - rng.integers(1, 26, k).astype("timedelta64[D]")
    vp = w["village_points"]
    home = rng.integers(0, len(vp), n - k)
    nxy = np.column_stack([vp.geometry.x.to_numpy()[home], vp.geometry.y.to_numpy()[home]])
    nxy += rng.normal(0, 600, nxy.shape)
    days = np.arange(np.datetime64("2022-01-01"), np.datetime64(END) + 1)
    nwhen = rng.choice(days, n - k)
    xy, when = np.vstack([xy, nxy]), np.concatenate([when, nwhen])
    ok = shapely.contains_xy(w["district"]["geom"], xy[:, 0], xy[:, 1])
    xy, when = xy[ok], when[ok]
    near = np.arange(len(xy)) < ok[:k].sum()
    order = np.argsort(when, kind="stable")
    return gpd.GeoDataFrame({"date": when[order], "near_case": near[order]},
                            geometry=shapely.points(np.round(xy[order], 2)), crs=geo.CRS)
