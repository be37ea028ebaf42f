"""map.html: an interactive map that works with no network at all.

Leaflet (BSD-2) comes from the ``django-js-lib-leaflet`` wheel's package data and
is inlined with our own small script and styles, so the page makes no request
unless the project configures a basemap. The risk surface is one colour image
warped to Web Mercator; only the top cells are vector polygons. Data go into the
page as JSON inside a ``<script type="application/json">`` element and reach the
DOM only through ``textContent``: a name like ``<img src=x onerror=…>`` is shown
as text and runs nothing.

The page stays small on a district: exported cells travel as columns of patrol
column/row numbers (ids and corners are rebuilt in the page through one fitted
polynomial, checked to a few centimetres), names and factor phrases once each,
input points as rounded integers, and a large point layer as counts per patrol
cell (:mod:`riskmap.export.weblayers`). With a field history, two more toggles (off by
default) show the patrol effort: the checked cells coloured by the weeks since
their last check, and the overdue cells (never checked or not for weeks).
"""

from __future__ import annotations

import base64
import functools
import html
import io
import json
import os
import re
from dataclasses import dataclass, field
from importlib import resources

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from riskmap import __version__
from riskmap.crs.transform import to_crs, transformer
from riskmap.export.atomic import write_bytes
from riskmap.export.styles import EFFORT_BANDS, OVERDUE_COLOUR
from riskmap.export.weblayers import geojson, input_layer
from riskmap.export.webref import reference_data
from riskmap.grid import Grid
from riskmap.grid.cellid import cell_ids
from riskmap.grid.warp import warp_nearest
from riskmap.marks import CLASS_COLOURS, CLASS_NAMES, INTERNAL, LAYER_COLOURS
from riskmap.score.cells import rank_text

_KEEP_COLUMNS = 5  # attribute columns shown per input feature (size)
TIANDITU_ENV = "RISKMAP_TIANDITU_KEY"
#: Largest error (m) of the page's polynomial between patrol cells and lat/lon.
FIT_TOLERANCE_M = 0.05


@dataclass
class InputLayer:
    """One toggleable input layer on the map."""

    label: str
    gdf: gpd.GeoDataFrame
    on: bool = False


@dataclass
class MapPage:
    """Everything one ``map.html`` shows (geometries in the working CRS)."""

    title: str
    build_date: str
    classes: np.ndarray  # uint8 analysis-cell classes on ``grid``, 0 outside the area
    grid: Grid
    thresholds: np.ndarray
    top: gpd.GeoDataFrame  # polygons: id, township, village, score, class, top_factors
    cells: gpd.GeoDataFrame  # every exported cell (searchable by id)
    townships: gpd.GeoDataFrame  # name, geometry
    villages: gpd.GeoDataFrame | None = None
    inputs: list[InputLayer] = field(default_factory=list)
    note: str = ""
    top_label: str = "5级网格 (class 5 cells)"
    basemaps: list[dict] = field(default_factory=list)
    patrol: Grid | None = None  #: the patrol grid of the window (cells' frame)
    #: checked cells with their effort (``checks``, ``finds``, ``last_week``,
    #: ``weeks_since``; :func:`riskmap.field.effort.effort_cells`); None: no history
    effort: gpd.GeoDataFrame | None = None
    overdue: gpd.GeoDataFrame | None = None  #: cells due a check; None: no history
    #: roads, rivers, settlements and the DOM (:class:`riskmap.load.reference.Reference`)
    reference: object = None


def basemaps(kind: str | None, key: str | None = None) -> list[dict]:
    """Tile layers for the map: none by default.

    Parameters
    ----------
    kind : {None, "none", "osm", "tianditu", "tianditu-imagery"}
        Tianditu (天地图, CGCS2000, matches WGS84 data) needs a key, from the
        project file or the ``RISKMAP_TIANDITU_KEY`` environment variable. AMap
        and Baidu tiles are not offered: they are shifted (GCJ-02/BD-09) by
        hundreds of metres against WGS84/CGCS2000 data.
    """
    if kind in (None, "none"):
        return []
    if kind == "osm":
        return [{"name": "OpenStreetMap",
                 "url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                 "subdomains": "abc", "attribution": "© OpenStreetMap contributors"}]
    if kind in ("tianditu", "tianditu-imagery"):
        key = key or os.environ.get(TIANDITU_ENV)
        if not key:
            from riskmap.errors import ProjectFileError

            raise ProjectFileError(f"map.basemap {kind} needs a Tianditu key: set "
                                   "map.tianditu_key in the project file or the "
                                   f"{TIANDITU_ENV} environment variable")
        base, label = ("img", "cia") if kind == "tianditu-imagery" else ("vec", "cva")
        tpl = ("https://t{s}.tianditu.gov.cn/%s_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
               "&LAYER=%s&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}"
               "&TILECOL={x}&tk=" + key)
        return [{"name": "天地图" + ("影像" if base == "img" else "矢量"),
                 "urls": [tpl % (base, base), tpl % (label, label)],
                 "subdomains": "01234567", "attribution": "© 天地图"}]
    from riskmap.errors import ProjectFileError

    raise ProjectFileError(f"map.basemap: unknown basemap {kind!r}; use none, osm, tianditu or "
                           "tianditu-imagery (AMap/Baidu tiles are shifted against WGS84 data)")


def class_image(classes: np.ndarray, grid: Grid):
    """Palette PNG (data URL) of ``classes`` warped to EPSG:3857, and its lat/lon bounds."""
    from PIL import Image

    dst_crs = "EPSG:3857"
    warped, transform = warp_nearest(classes.astype(np.uint8), grid, dst_crs)
    h, w = warped.shape
    im = Image.fromarray(warped, mode="P")
    palette = [255, 255, 255]
    for c in range(1, 6):
        hexc = CLASS_COLOURS[c]
        palette += [int(hexc[i:i + 2], 16) for i in (1, 3, 5)]
    im.putpalette(palette + [0] * (768 - len(palette)))
    buf = io.BytesIO()
    # zlib level 6: a tenth bigger than optimize=True (level 9), a fifth of its time
    im.save(buf, format="PNG", compress_level=6, transparency=0)  # index 0 = outside: clear
    t = transformer(dst_crs, "EPSG:4326", always_xy=True)
    x0, y0 = transform.c, transform.f
    x1, y1 = x0 + transform.a * w, y0 + transform.e * h
    lon0, lat0 = t.transform(x0, y1)
    lon1, lat1 = t.transform(x1, y0)
    url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    return url, [[lat0, lon0], [lat1, lon1]]


def _labels(gdf: gpd.GeoDataFrame | None) -> list:
    if gdf is None or not len(gdf):
        return []
    pts = gpd.GeoSeries(shapely.point_on_surface(gdf.geometry.values), crs=gdf.crs)
    pts = to_crs(pts, 4326)
    return [{"name": n, "ll": [round(p.y, 5), round(p.x, 5)]}
            for n, p in zip(gdf["name"], pts, strict=True)]


# --- the patrol frame: cells as (column, row) and one polynomial to and from lat/lon ----------

def _frame(page: MapPage) -> Grid:
    """The patrol grid of the page (derived from the cells when not given)."""
    if page.patrol is not None:
        return page.patrol
    g = page.grid
    size = g.cell
    if len(page.cells):
        b = shapely.bounds(page.cells.geometry.values[:1])[0]
        size = float(round(b[2] - b[0], 6))
    return Grid(g.crs, g.x0, g.y0, size, int(np.ceil(g.nrows * g.cell / size)),
                int(np.ceil(g.ncols * g.cell / size)))


def _fit(a, b, outs, deg: int):
    terms = [(p, q) for p in range(deg + 1) for q in range(deg + 1 - p)]
    m = np.column_stack([a ** p * b ** q for p, q in terms])
    return terms, [np.linalg.lstsq(m, o, rcond=None)[0] for o in outs]


def _norm(x) -> tuple[float, float]:
    lo, hi = float(np.min(x)), float(np.max(x))
    return (lo + hi) / 2, max((hi - lo) / 2, 1e-12)


def _apply(c, terms, coefs, a, b):
    a, b = (a - c[0]) / c[1], (b - c[2]) / c[3]
    return [sum(k * a ** p * b ** q for k, (p, q) in zip(cf, terms, strict=True))
            for cf in coefs]


def frame_transforms(frame: Grid) -> dict:
    """Polynomials between patrol-cell units and WGS84 for the page's script.

    ``u, v`` count patrol cells east and north from the frame's south-west
    corner. The forward fit gives latitude and longitude, the inverse one
    ``u, v``; the degree rises (2 to 7) until both are within :data:`FIT_TOLERANCE_M`
    of pyproj over the frame and a margin around it.
    """
    w, h, s = frame.ncols, frame.nrows, frame.cell
    x0, y0 = frame.x0, frame.y0 - h * s
    to_ll = transformer(frame.crs, "EPSG:4326", always_xy=True)

    def lattice(n):
        u, v = np.meshgrid(np.linspace(-3, w + 3, n), np.linspace(-3, h + 3, n))
        lon, lat = to_ll.transform(x0 + u.ravel() * s, y0 + v.ravel() * s)
        return u.ravel(), v.ravel(), np.asarray(lat), np.asarray(lon)

    u, v, lat, lon = lattice(25)
    cu, cv, clat, clon = lattice(49)
    nu, nlat = (*_norm(u), *_norm(v)), (*_norm(lat), *_norm(lon))
    m_per_deg = 111_320.0
    for deg in range(2, 8):
        ft, fc = _fit((u - nu[0]) / nu[1], (v - nu[2]) / nu[3], [lat, lon], deg)
        it, ic = _fit((lat - nlat[0]) / nlat[1], (lon - nlat[2]) / nlat[3], [u, v], deg)
        plat, plon = _apply(nu, ft, fc, cu, cv)
        pu, pv = _apply(nlat, it, ic, clat, clon)
        err = max(float(np.max(np.hypot((plat - clat) * m_per_deg,
                                        (plon - clon) * m_per_deg * np.cos(np.radians(clat))))),
                  float(np.max(np.hypot(pu - cu, pv - cv))) * s)
        if err < FIT_TOLERANCE_M:
            break
    return {"x0": x0, "y0": y0, "size": s, "digits": _digits(s), "err_m": round(err, 4),
            "fwd": {"c": list(nu), "t": ft, "k": [list(map(float, c)) for c in fc]},
            "inv": {"c": list(nlat), "t": it, "k": [list(map(float, c)) for c in ic]}}


def _digits(size: float) -> int:
    """Digits of the column and of the row in an id (as riskmap.grid.cellid writes them)."""
    per_km = int(1000 // size)
    return len(str(per_km - 1)) if per_km > 1 else 0


def _codes(values) -> tuple[list, list]:
    """Dictionary encoding: (codes, uniques) of a column, in order of appearance."""
    codes, uniques = pd.factorize(pd.Series(values, dtype=object).fillna(""), sort=False)
    return codes.tolist(), [str(u) for u in uniques]


def cell_index(cells: gpd.GeoDataFrame, top: gpd.GeoDataFrame, frame: Grid) -> dict:
    """Every exported cell as columns: position, labels, score, class and its main factors.

    Ids are rebuilt in the page from the position (checked here against the
    cells' own ids; they travel as text only where they would differ), the
    factors' phrases are given once and referred to by number.
    """
    if not len(cells):
        return {"n": 0}
    s = frame.cell
    x0, y0 = frame.x0, frame.y0 - frame.nrows * s
    b = shapely.bounds(cells.geometry.values)
    i = np.rint((b[:, 0] - x0) / s).astype(np.int64)
    j = np.rint((b[:, 1] - y0) / s).astype(np.int64)
    t, towns = _codes(cells["township"])
    v, villages = _codes(cells["village"])
    tf = cells["top_factors"].fillna("").astype(str).reset_index(drop=True)
    parts = tf.str.split("; ").explode()
    parts = parts[parts != ""]
    k, phrases = _codes(parts.to_numpy())
    counts = parts.groupby(level=0).size().reindex(range(len(tf)), fill_value=0)
    out = {"n": len(cells), "i": i.tolist(), "j": j.tolist(), "t": t, "towns": towns,
           "v": v, "villages": villages,
           "s": np.rint(cells["score"].to_numpy(dtype=float) * 100).astype(np.int64).tolist(),
           "c": cells["class"].to_numpy().astype(int).tolist(),
           "fn": counts.to_numpy().astype(int).tolist(), "fk": k, "phrases": phrases,
           "top": np.flatnonzero(cells["id"].isin(set(top["id"])).to_numpy()).tolist()}
    if "rank_lo" in cells and "rank_hi" in cells:  # the calibration's interval: 前 a–b %
        out["rk"], out["ranks"] = _codes(rank_text(cells["rank_lo"], cells["rank_hi"]))
    rebuilt = cell_ids(x0 + i * s, y0 + j * s, s)
    if not np.array_equal(rebuilt.astype(str), cells["id"].to_numpy().astype(str)):
        out["ids"] = cells["id"].astype(str).tolist()
    return out


def effort_index(cells: gpd.GeoDataFrame | None, frame: Grid, kind: str) -> dict | None:
    """Effort cells (``kind`` "effort" or "overdue") as columns on the patrol frame.

    Position (``i``, ``j``), weeks since the last check (``w``, -1 never), visits
    (``k``), finds (``f``), the last week (codes into ``weeks``); None without a history.
    """
    if cells is None:
        return None
    s = frame.cell
    x0, y0 = frame.x0, frame.y0 - frame.nrows * s
    b = shapely.bounds(cells.geometry.values).reshape(-1, 4)
    wk, weeks = _codes(cells["last_week"])
    out = {"kind": kind, "n": len(cells),
           "i": np.rint((b[:, 0] - x0) / s).astype(np.int64).tolist(),
           "j": np.rint((b[:, 1] - y0) / s).astype(np.int64).tolist(),
           "w": cells["weeks_since"].fillna(-1).to_numpy(np.int64).tolist(),
           "k": cells["checks"].to_numpy(np.int64).tolist(),
           "f": cells["finds"].to_numpy(np.int64).tolist(), "lw": wk, "weeks": weeks}
    if kind == "effort":
        out["label"] = f"巡查力度 (patrol effort): 已排查网格 {len(cells)} 个"
        out["bands"] = [{"upto": u, "colour": c, "label": lab} for u, c, lab in EFFORT_BANDS]
    else:
        out["label"] = f"久未巡查 (overdue): {len(cells)} 个网格"
        out["colour"] = OVERDUE_COLOUR
    return out


@functools.cache  # the same for every page of a build
def _leaflet() -> tuple[str, str]:
    """Leaflet's JS and CSS from the django-js-lib-leaflet wheel (images inlined)."""
    root = resources.files("js_lib_leaflet") / "static" / "js_lib_leaflet"
    js = (root / "leaflet.js").read_text(encoding="utf-8")
    js = re.sub(r"//# sourceMappingURL=.*", "", js)
    css = (root / "leaflet.css").read_text(encoding="utf-8")

    def inline(m):
        data = (root / "images" / m.group(1)).read_bytes()
        return "url(data:image/png;base64," + base64.b64encode(data).decode("ascii") + ")"

    css = re.sub(r"url\(images/([\w.-]+\.png)\)", inline, css)
    return js, css


@functools.cache
def _web(name: str) -> str:
    """The page's own script or style sheet (riskmap/export/web/)."""
    return (resources.files("riskmap.export") / "web" / name).read_text(encoding="utf-8")


def _script_json(obj) -> str:
    """JSON safe inside <script>: no '<' can close the element."""
    s = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return s.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_html(page: MapPage) -> str:
    """The complete, self-contained page as a string."""
    png, bounds = class_image(page.classes, page.grid)
    legend = [{"cls": c, "name": CLASS_NAMES[c],
               "thr": "" if c == 1 else f"(≥ {page.thresholds[c - 2]:.1f})"}
              for c in range(5, 0, -1)]
    frame = _frame(page)
    inputs = []
    for i, lyr in enumerate(page.inputs):
        geom = lyr.gdf.geometry.name  # once: each access costs a GeoDataFrame lookup
        keep = [c for c in lyr.gdf.columns if c != geom
                and not str(c).startswith("_") and c != "synthetic"][:_KEEP_COLUMNS]
        inputs.append({"label": lyr.label, "colour": LAYER_COLOURS[i % len(LAYER_COLOURS)],
                       "count": len(lyr.gdf), "on": lyr.on,
                       **input_layer(lyr.gdf, keep, frame)})
    data = {
        "title": page.title, "build_date": page.build_date, "marking": INTERNAL,
        "version": f"riskmap {__version__}",
        "note": page.note, "colours": CLASS_COLOURS, "legend": legend,
        "overlay": {"png": png, "bounds": bounds},
        "townships": geojson(page.townships, ["name"]),
        "villages": None if page.villages is None else geojson(page.villages, ["name"]),
        # names on the map: villages on a township map, townships on the district map
        "labels": _labels(page.villages if page.villages is not None and len(page.townships) == 1
                          else page.townships),
        "inputs": inputs,
        "top_label": page.top_label,
        "frame": frame_transforms(frame),
        "cells": cell_index(page.cells, page.top, frame),
        "effort": [e for e in (effort_index(page.effort, frame, "effort"),
                               effort_index(page.overdue, frame, "overdue")) if e],
        "example_id": page.cells["id"].iat[0] if len(page.cells) else "",
        "basemaps": page.basemaps,
        "reference": reference_data(page.reference, page.grid.bounds, page.grid.crs),
    }
    js, css = _leaflet()
    return (
        "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{html.escape(page.title)} · {INTERNAL}</title>\n"
        f"<style>{css}</style>\n<style>{_web('map.css')}</style>\n"
        "</head><body>\n<div id=\"map\"></div>\n"
        f"<script type=\"application/json\" id=\"riskmap-data\">{_script_json(data)}</script>\n"
        f"<script>{js}</script>\n<script>{_web('map.js')}</script>\n"
        "</body></html>\n"
    )


def write_html(path, page: MapPage) -> int:
    """Write ``map.html`` (atomically, replacing ``path``); returns its size in bytes."""
    data = render_html(page).encode("utf-8")
    write_bytes(path, data, overwrite=True)
    return len(data)
