"""map.html: an interactive map that works with no network at all.

Leaflet (BSD-2) comes from the ``django-js-lib-leaflet`` wheel's package data and
is inlined with our own small script and styles, so the page makes no request
unless the project configures a basemap. The risk surface is one colour image
warped to Web Mercator; only the top cells are vector polygons. Data go into the
page as JSON inside a ``<script type="application/json">`` element and reach the
DOM only through ``textContent``: a name like ``<img src=x onerror=…>`` is shown
as text and runs nothing.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
import re
from dataclasses import dataclass, field
from importlib import resources

import geopandas as gpd
import numpy as np
import shapely
from pyproj import Transformer
from rasterio.warp import Resampling, calculate_default_transform, reproject

from riskmap import __version__
from riskmap.export.atomic import write_bytes
from riskmap.grid import Grid
from riskmap.marks import CLASS_COLOURS, CLASS_NAMES, INTERNAL, LAYER_COLOURS

_KEEP_COLUMNS = 5  # attribute columns shown per input feature (size)
TIANDITU_ENV = "RISKMAP_TIANDITU_KEY"


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
    left, bottom, right, top = grid.bounds
    transform, w, h = calculate_default_transform(grid.crs, dst_crs, grid.ncols, grid.nrows,
                                                  left, bottom, right, top)
    warped = np.zeros((h, w), dtype=np.uint8)
    reproject(classes.astype(np.uint8), warped, src_transform=grid.transform,
              src_crs=grid.crs, dst_transform=transform, dst_crs=dst_crs, src_nodata=0,
              dst_nodata=0, resampling=Resampling.nearest)
    im = Image.fromarray(warped, mode="P")
    palette = [255, 255, 255]
    for c in range(1, 6):
        hexc = CLASS_COLOURS[c]
        palette += [int(hexc[i:i + 2], 16) for i in (1, 3, 5)]
    im.putpalette(palette + [0] * (768 - len(palette)))
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=True, transparency=0)  # index 0 = outside: clear
    t = Transformer.from_crs(dst_crs, "EPSG:4326", always_xy=True)
    x0, y0 = transform.c, transform.f
    x1, y1 = x0 + transform.a * w, y0 + transform.e * h
    lon0, lat0 = t.transform(x0, y1)
    lon1, lat1 = t.transform(x1, y0)
    url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    return url, [[lat0, lon0], [lat1, lon1]]


def _geojson(gdf: gpd.GeoDataFrame, columns) -> dict:
    """GeoJSON in WGS84 with coordinates rounded to 1e-6° (≈ 0.1 m)."""
    g = gdf.to_crs(4326)
    geoms = shapely.transform(g.geometry.values, lambda c: np.round(c, 6))
    feats = []
    props = g[list(columns)].astype(object).where(g[list(columns)].notna(), None)
    for geom, rec in zip(geoms, props.to_dict("records"), strict=True):
        feats.append({"type": "Feature", "geometry": json.loads(shapely.to_geojson(geom)),
                      "properties": {k: _plain(v) for k, v in rec.items()}})
    return {"type": "FeatureCollection", "features": feats}


def _plain(v):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, float | int | str | bool) or v is None:
        return v
    return str(v)


def _labels(gdf: gpd.GeoDataFrame | None) -> list:
    if gdf is None or not len(gdf):
        return []
    pts = gpd.GeoSeries(shapely.point_on_surface(gdf.geometry.values), crs=gdf.crs).to_crs(4326)
    return [{"name": n, "ll": [round(p.y, 6), round(p.x, 6)]}
            for n, p in zip(gdf["name"], pts, strict=True)]


def _search_index(cells: gpd.GeoDataFrame) -> dict:
    """Cell id -> lat/lon bounds, labels, score, class (and the why for classes 4–5)."""
    if not len(cells):
        return {}
    b = shapely.bounds(cells.geometry.values)
    t = Transformer.from_crs(cells.crs, "EPSG:4326", always_xy=True)
    lon0, lat0 = t.transform(b[:, 0], b[:, 1])
    lon1, lat1 = t.transform(b[:, 2], b[:, 3])
    bounds = np.round(np.column_stack([lat0, lon0, lat1, lon1]), 6).tolist()
    cls = cells["class"].to_numpy().astype(int).tolist()
    why = np.where(cells["class"].to_numpy() >= 4, cells["top_factors"].to_numpy(), None)
    out = {}
    # columns are pulled out once; the loop only assembles plain Python values
    for cid, bb, town, vil, score, c, f in zip(
            cells["id"].tolist(), bounds, cells["township"].tolist(),
            cells["village"].tolist(), cells["score"].astype(float).tolist(), cls,
            why.tolist(), strict=True):
        rec = {"b": [bb[:2], bb[2:]], "t": town, "v": vil, "s": score, "c": c}
        if f is not None:
            rec["f"] = f
        out[cid] = rec
    return out


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


def _script_json(obj) -> str:
    """JSON safe inside <script>: no '<' can close the element."""
    s = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return s.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_html(page: MapPage) -> str:
    """The complete, self-contained page as a string."""
    png, bounds = class_image(page.classes, page.grid)
    legend = [{"cls": c, "text": CLASS_NAMES[c] + ("" if c == 1 else
                                                   f" (≥ {page.thresholds[c - 2]:.1f})")}
              for c in range(5, 0, -1)]
    cols = ["id", "township", "village", "score", "class", "top_factors"]
    inputs = []
    for i, lyr in enumerate(page.inputs):
        keep = [c for c in lyr.gdf.columns if c != lyr.gdf.geometry.name
                and not str(c).startswith("_") and c != "synthetic"][:_KEEP_COLUMNS]
        inputs.append({"label": lyr.label, "colour": LAYER_COLOURS[i % len(LAYER_COLOURS)],
                       "count": len(lyr.gdf), "on": lyr.on, "data": _geojson(lyr.gdf, keep)})
    data = {
        "title": page.title, "build_date": page.build_date, "marking": INTERNAL,
        "version": f"riskmap {__version__}",
        "note": page.note, "colours": CLASS_COLOURS, "legend": legend,
        "overlay": {"png": png, "bounds": bounds},
        "townships": _geojson(page.townships, ["name"]),
        "villages": None if page.villages is None else _geojson(page.villages, ["name"]),
        # names on the map: villages on a township map, townships on the district map
        "labels": _labels(page.villages if page.villages is not None and len(page.townships) == 1
                          else page.townships),
        "inputs": inputs,
        "top": _geojson(page.top, cols), "top_label": page.top_label,
        "cells": _search_index(page.cells),
        "example_id": page.cells["id"].iat[0] if len(page.cells) else "",
        "basemaps": page.basemaps,
    }
    js, css = _leaflet()
    web = resources.files("riskmap.export") / "web"
    return (
        "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{html.escape(page.title)} · {INTERNAL}</title>\n"
        f"<style>{css}</style>\n<style>{(web / 'map.css').read_text(encoding='utf-8')}</style>\n"
        "</head><body>\n<div id=\"map\"></div>\n"
        f"<script type=\"application/json\" id=\"riskmap-data\">{_script_json(data)}</script>\n"
        f"<script>{js}</script>\n<script>{(web / 'map.js').read_text(encoding='utf-8')}</script>\n"
        "</body></html>\n"
    )


def write_html(path, page: MapPage) -> int:
    """Write ``map.html`` (atomically, replacing ``path``); returns its size in bytes."""
    data = render_html(page).encode("utf-8")
    write_bytes(path, data, overwrite=True)
    return len(data)
