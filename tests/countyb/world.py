"""The synthetic county-B world in EPSG:4546: townships, villages, mining features, premises.

Only the county outline (and its neighbours) is real; every layer made here is
synthetic (合成数据). The hidden case process lives in :mod:`tests.countyb.hidden`.
"""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry import MultiLineString, Point
from shapely.ops import nearest_points

from . import geo

#: 孝义市's real township names with approximate seat positions (lon, lat); shapes are synthetic
TOWNSHIPS = [
    ("胜溪湖街道", 111.780, 37.140, "141181001"), ("梧桐镇", 111.715, 37.165, "141181100"),
    ("高阳镇", 111.865, 37.120, "141181101"), ("大孝堡镇", 111.880, 37.070, "141181102"),
    ("下栅乡", 111.800, 37.055, "141181200"), ("柱濮镇", 111.740, 37.110, "141181103"),
    ("西辛庄镇", 111.700, 37.050, "141181104"), ("下堡镇", 111.630, 36.995, "141181105"),
    ("阳泉曲镇", 111.640, 37.110, "141181106"), ("兑镇镇", 111.510, 37.070, "141181107"),
    ("南阳乡", 111.570, 37.025, "141181201"), ("杜村乡", 111.550, 37.140, "141181202"),
    ("驿马乡", 111.465, 37.240, "141181203"),
]
PREFIX = ["东", "西", "南", "北", "上", "下", "前", "后", "大", "小", "新", "高", "中", "石",
          "柳", "杏", "枣", "安", "永", "崇", "白", "红", "黄", "青"]
CORE = ["庄", "沟", "峪", "坡", "堡", "寨", "岭", "湾", "塔", "坪", "河", "泉", "窑", "头", "家庄",
        "圪垛", "道", "营", "屯", "社", "王"]
SURNAME = ["李", "王", "张", "刘", "赵", "郭", "梁", "任", "温", "贾", "田", "宋", "韩", "冀",
           "武", "侯", "薛", "曹", "阎", "吕", "孟"]
SURNAME_CORE = ["家庄", "家沟", "家峪", "家坡", "家堡", "家塔", "家湾", "家坪"]
#: planted pairs of villages with the same name in two townships (issue 13, class 9)
DUPLICATE_PAIRS = 4
PREMISES_TYPES = ("养殖场", "大棚", "闲置厂房", "农家院", "车库", "洗煤厂", "储煤场", "加工点")
#: shares of premises types around village points (coal types are also placed on the coal belt)
PREMISES_MIX = np.array([0.18, 0.22, 0.10, 0.22, 0.12, 0.03, 0.04, 0.09])
CLOSED_TYPES = ("关闭矿井", "取缔坑口", "废弃井口")


def village_names(n: int, rng: np.random.Generator) -> list[str]:
    """``n`` unique plausible village names ending in 村."""
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < n:
        if rng.random() < 0.3:
            stem = rng.choice(SURNAME) + rng.choice(SURNAME_CORE)
        else:
            stem = rng.choice(PREFIX) + rng.choice(CORE)
        if stem in seen:
            continue
        seen.add(stem)
        names.append(stem + "村")
    return names


def make_townships(district, rng) -> gpd.GeoDataFrame:
    """13 townships tiling the district: Voronoi of jittered seat positions, 3 Lloyd steps."""
    seeds = geo.metres(np.array([[t[1], t[2]] for t in TOWNSHIPS]))
    seeds += rng.normal(0, 300, seeds.shape)
    for i, p in enumerate(seeds):  # a seed outside the outline moves to its nearest inside point
        if not district.contains(Point(p)):
            q = nearest_points(district.buffer(-1500), Point(p))[0]
            seeds[i] = [q.x, q.y]
    cells = geo.partition(district, seeds, lloyd=3)
    return gpd.GeoDataFrame({"name": [t[0] for t in TOWNSHIPS], "code": [t[3] for t in TOWNSHIPS]},
                            geometry=cells, crs=geo.CRS)


def make_villages(townships: gpd.GeoDataFrame, rng) -> gpd.GeoDataFrame:
    """7–14 villages per township tiling it, with :data:`DUPLICATE_PAIRS` shared names."""
    counts = [int(np.clip(round(g.area / 7.0e6), 7, 14)) for g in townships.geometry]
    names = village_names(sum(counts), rng)
    rows, geoms = [], []
    for (_, t), k in zip(townships.iterrows(), counts, strict=True):
        cells = geo.partition(t.geometry, geo.sample_in(t.geometry, k, rng), lloyd=4)
        # number villages north-west to south-east for readable codes
        order = np.lexsort(([c.centroid.x for c in cells],
                            [-round(c.centroid.y, -3) for c in cells]))
        for n, i in enumerate(order):
            rows.append({"name": names[len(rows)], "township": t["name"],
                         "code": f"{t['code']}{201 + n:03d}"})
            geoms.append(cells[i])
    vil = gpd.GeoDataFrame(rows, geometry=geoms, crs=geo.CRS)
    # the same village name in two different townships: copy a name across
    towns = vil["township"].to_numpy()
    used: set[int] = set()
    for _ in range(DUPLICATE_PAIRS):
        while True:
            a, b = rng.choice(len(vil), 2, replace=False)
            if towns[a] != towns[b] and not {a, b} & used:
                break
        used |= {a, b}
        vil.loc[b, "name"] = vil.loc[a, "name"]
    return vil


def make_village_points(villages: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """One village-committee point (村委会) per village, inside its polygon."""
    return gpd.GeoDataFrame({"name": villages["name"], "township": villages["township"]},
                            geometry=[geo.inside_point(g) for g in villages.geometry], crs=geo.CRS)


def make_outcrops(district, rng) -> gpd.GeoDataFrame:
    """Coal outcrops along the hill front and bauxite outcrops in the western hills."""
    specs = [  # (name, mineral, seam, start lon, lat, bearing deg from east, length m)
        ("西山前缘煤层露头（北段）", "煤", "9号煤", 111.635, 37.095, 85, 8000),
        ("西山前缘煤层露头（南段）", "煤", "10号煤", 111.660, 37.020, 70, 11000),
        ("下堡煤层露头", "煤", "2号煤", 111.610, 36.975, 60, 6000),
        ("兑镇铝土矿露头", "铝土矿", "G层铝土矿", 111.490, 37.040, 75, 8000),
        ("杜村铝土矿露头", "铝土矿", "G层铝土矿", 111.540, 37.120, 95, 7000),
        ("驿马铝土矿露头", "铝土矿", "G层铝土矿", 111.440, 37.200, 65, 9000),
    ]
    rows, geoms = [], []
    inner = district.buffer(-300)
    for name, mineral, seam, lon, lat, bearing, length in specs:
        start = geo.metres(np.array([[lon, lat]]))[0] + rng.normal(0, 300, 2)
        line = geo.smooth_line(start, np.radians(bearing), length, rng, wiggle=0.5)
        part = line.intersection(inner)
        parts = [p for p in shapely.get_parts(part) if p.length > 500]
        if not parts:
            continue
        longest = max(parts, key=lambda p: p.length)
        rows.append({"name": name, "mineral": mineral, "seam": seam})
        geoms.append(longest)
    return gpd.GeoDataFrame(rows, geometry=geoms, crs=geo.CRS)


def make_licences(district, outcrops, villages, rng, n: int = 22) -> gpd.GeoDataFrame:
    """Mining licences: coal east of the coal outcrops (down dip), bauxite on the bauxite belt."""
    inner = district.buffer(-400)
    coal = MultiLineString(list(outcrops[outcrops["mineral"] == "煤"].geometry))
    baux = MultiLineString(list(outcrops[outcrops["mineral"] == "铝土矿"].geometry))
    polys: list = []
    rows: list[dict] = []
    tries = 0
    while len(polys) < n and tries < 5000:
        tries += 1
        mineral = "煤" if len(polys) < 0.6 * n else "铝土矿"
        belt = coal if mineral == "煤" else baux
        base = belt.interpolate(rng.uniform(0, belt.length))
        off = rng.uniform(500, 4500) if mineral == "煤" else rng.uniform(-1500, 1500)
        centre = np.array([base.x + off, base.y + rng.normal(0, 800)])
        area = rng.uniform(1.5e6, 5e6) if mineral == "煤" else rng.uniform(0.4e6, 1.6e6)
        quad = geo.random_quad(centre, area, rng)
        if not inner.contains(quad) or any(quad.distance(p) < 150 for p in polys):
            continue
        polys.append(quad)
        start = dt.date(int(rng.integers(2008, 2021)), int(rng.integers(1, 13)), 1)
        years = 10 if mineral == "煤" else 5
        end = start.replace(year=start.year + years)
        hit = villages.geometry.contains(quad.centroid).to_numpy()
        vname = villages["name"].to_numpy()[hit][0] if hit.any() else "西山"
        top = int(rng.integers(9, 14)) * 100 + int(rng.integers(0, 10)) * 10
        rows.append({
            "licence_no": f"C141181{start.year}{start.month:02d}{11 if mineral == '煤' else 12}"
                          f"{len(polys):06d}",
            "name": f"孝义市{vname[:-1]}{'煤矿' if mineral == '煤' else '铝土矿'}（合成）",
            "mineral": mineral, "valid_from": start, "valid_to": end,
            "depth_top": top, "depth_bottom": top - int(rng.integers(2, 6)) * 100,
        })
    return gpd.GeoDataFrame(rows, geometry=polys, crs=geo.CRS)


def _near_lines(lines, n: int, sd: float, area, rng) -> np.ndarray:
    """``n`` points scattered (normal ``sd``) around random points of ``lines``, inside ``area``."""
    out = np.empty((0, 2))
    while len(out) < n:
        k = 2 * n
        pos = rng.uniform(0, lines.length, k)
        base = np.array([[p.x, p.y] for p in (lines.interpolate(d) for d in pos)])
        cand = base + rng.normal(0, sd, (k, 2))
        out = np.vstack([out, cand[shapely.contains_xy(area, cand[:, 0], cand[:, 1])]])
    return out[:n]


def make_closed_mines(district, outcrops, licences, villages, rng) -> gpd.GeoDataFrame:
    """Closed mines, shut pits and abandoned shafts, clustered on outcrops and around licences."""
    coal = MultiLineString(list(outcrops[outcrops["mineral"] == "煤"].geometry))
    baux = MultiLineString(list(outcrops[outcrops["mineral"] == "铝土矿"].geometry))
    rings = shapely.union_all(list(licences.geometry)).boundary
    inner = district.buffer(-100)
    parts = [
        ("关闭矿井", _near_lines(coal, 30, 1200, inner, rng)),
        ("关闭矿井", _near_lines(rings, 18, 600, inner, rng)),
        ("取缔坑口", _near_lines(baux, 45, 500, inner, rng)),
        ("取缔坑口", _near_lines(coal, 35, 500, inner, rng)),
        ("废弃井口", _near_lines(coal, 25, 900, inner, rng)),
        ("废弃井口", _near_lines(baux, 20, 900, inner, rng)),
    ]
    kinds = np.concatenate([[k] * len(p) for k, p in parts])
    xy = np.vstack([p for _, p in parts])
    order = rng.permutation(len(xy))
    kinds, xy = kinds[order], xy[order]
    years = rng.integers(2006, 2024, len(xy))
    years[kinds == "关闭矿井"] = rng.choice([2009, 2010, 2016, 2017, 2018],
                                           (kinds == "关闭矿井").sum())
    town, vil = locate(xy, villages)
    return gpd.GeoDataFrame({"kind": kinds, "year": years, "township": town, "village": vil},
                            geometry=shapely.points(xy), crs=geo.CRS)


def locate(xy: np.ndarray, villages: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Township and village names of the village polygon holding each point ('' if none)."""
    pts = gpd.GeoDataFrame(geometry=shapely.points(xy), crs=geo.CRS)
    hit = gpd.sjoin(pts, villages[["name", "township", "geometry"]], predicate="within", how="left")
    hit = hit[~hit.index.duplicated()]
    return (hit["township"].fillna("").to_numpy(), hit["name"].fillna("").to_numpy())


def make_premises(villages, vpoints, licences, rng, n: int = 1600) -> gpd.GeoDataFrame:
    """Typed premises around village points, coal handling also along the coal belt."""
    kinds = rng.choice(len(PREMISES_TYPES), n, p=PREMISES_MIX / PREMISES_MIX.sum())
    home = rng.integers(0, len(vpoints), n)
    centres = np.column_stack([vpoints.geometry.x.to_numpy()[home],
                               vpoints.geometry.y.to_numpy()[home]])
    xy = centres + rng.normal(0, 450, (n, 2))
    polys = villages.geometry.to_numpy()[home]
    # coal yards and washing plants: a third sit on the coal belt near licences instead
    coal = np.isin(kinds, [PREMISES_TYPES.index("洗煤厂"), PREMISES_TYPES.index("储煤场")])
    belt = shapely.union_all(list(licences.geometry)).boundary
    moved = coal & (rng.random(n) < 0.35)
    if moved.any():
        area = shapely.union_all(list(villages.geometry))
        xy[moved] = _near_lines(belt, int(moved.sum()), 700, area, rng)
    inside = shapely.contains_xy(polys, xy[:, 0], xy[:, 1]) | moved
    for _ in range(20):  # redraw points that fell outside their village
        bad = np.flatnonzero(~inside)
        if not len(bad):
            break
        xy[bad] = centres[bad] + rng.normal(0, 300, (len(bad), 2))
        inside[bad] = shapely.contains_xy(polys[bad], xy[bad, 0], xy[bad, 1])
    xy[~inside] = centres[~inside]
    town, vil = locate(xy, villages)
    types = np.array(PREMISES_TYPES)[kinds]
    return gpd.GeoDataFrame({"type": types, "township": town, "village": vil},
                            geometry=shapely.points(np.round(xy, 2)), crs=geo.CRS)
