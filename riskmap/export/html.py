"""map.html: a basic interactive map (folium/Leaflet).

The risk surface is one colour image warped to Web Mercator; only the top
cells are vector polygons with popups. A fuller, offline map is a later step.
"""

from __future__ import annotations

import html

import geopandas as gpd
import numpy as np
from pyproj import Transformer
from rasterio.warp import Resampling, calculate_default_transform, reproject

from riskmap.grid import Grid

CLASS_COLOURS = {1: "#1a9850", 2: "#91cf60", 3: "#fee08b", 4: "#fc8d59", 5: "#d73027"}
CLASS_NAMES = {1: "1 低", 2: "2 较低", 3: "3 中", 4: "4 较高", 5: "5 高"}
INTERNAL = "内部资料 注意保密"


def class_image(classes: np.ndarray, grid: Grid):
    """RGBA image of ``classes`` warped to EPSG:3857 and its lat/lon bounds."""
    dst_crs = "EPSG:3857"
    left, bottom, right, top = grid.bounds
    transform, w, h = calculate_default_transform(grid.crs, dst_crs, grid.ncols, grid.nrows,
                                                  left, bottom, right, top)
    warped = np.zeros((h, w), dtype=np.uint8)
    reproject(classes.astype(np.uint8), warped, src_transform=grid.transform,
              src_crs=grid.crs, dst_transform=transform, dst_crs=dst_crs, src_nodata=0,
              dst_nodata=0, resampling=Resampling.nearest)
    lut = np.zeros((6, 4), dtype=np.uint8)
    for c, hexc in CLASS_COLOURS.items():
        lut[c] = [int(hexc[i:i + 2], 16) for i in (1, 3, 5)] + [170]
    rgba = lut[warped]
    t = Transformer.from_crs(dst_crs, "EPSG:4326", always_xy=True)
    x0, y0 = transform.c, transform.f
    x1, y1 = x0 + transform.a * w, y0 + transform.e * h
    lon0, lat0 = t.transform(x0, y1)
    lon1, lat1 = t.transform(x1, y0)
    return rgba, [[lat0, lon0], [lat1, lon1]]


def write_html(path, title: str, classes: np.ndarray, grid: Grid, top: gpd.GeoDataFrame,
               boundary: gpd.GeoDataFrame, thresholds, build_date: str) -> None:
    """Write a self-describing HTML map.

    Parameters
    ----------
    classes : numpy.ndarray
        Analysis-cell classes (0 = outside the area) on ``grid``.
    top : GeoDataFrame
        Cells to draw as polygons with popups (id, village, score, class, top_factors).
    boundary : GeoDataFrame
        Area outlines with a ``name`` column.
    """
    import folium

    rgba, bounds = class_image(classes, grid)
    m = folium.Map(tiles=None, control_scale=True, prefer_canvas=True)
    m.fit_bounds(bounds)
    folium.raster_layers.ImageOverlay(rgba, bounds=bounds, name="风险等级",
                                      mercator_project=False).add_to(m)
    b = boundary.to_crs(4326)
    folium.GeoJson(
        b[["name", "geometry"]].assign(name=b["name"].map(html.escape)),
        name="行政边界",
        style_function=lambda _: {"color": "#333", "weight": 2, "fill": False},
        tooltip=folium.GeoJsonTooltip(fields=["name"], labels=False),
    ).add_to(m)
    if len(top):
        t = top.to_crs(4326)
        cols = ["id", "township", "village", "score", "class", "top_factors"]
        t = t[[*cols, "geometry"]].copy()
        for c in ("township", "village", "top_factors", "id"):
            t[c] = t[c].astype(str).map(html.escape)
        folium.GeoJson(
            t,
            name="高优先级网格",
            style_function=lambda f: {"color": "#7f0000", "weight": 1,
                                      "fillColor": CLASS_COLOURS[f["properties"]["class"]],
                                      "fillOpacity": 0.6},
            popup=folium.GeoJsonPopup(fields=cols, aliases=["网格编号", "乡镇", "村", "评分",
                                                             "等级", "主要风险因素"]),
        ).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    legend = "".join(
        f'<div><span style="background:{CLASS_COLOURS[c]};display:inline-block;width:14px;'
        f'height:14px;margin-right:4px"></span>{CLASS_NAMES[c]}'
        f'{"" if c == 1 else f" (≥{thresholds[c - 2]:.1f})"}</div>'
        for c in range(5, 0, -1)
    )
    m.get_root().html.add_child(folium.Element(
        '<div style="position:fixed;top:10px;left:50px;z-index:9999;background:white;'
        'padding:6px 10px;border:1px solid #999;font:14px sans-serif">'
        f"<b>{html.escape(title)}</b><br>{build_date} · "
        f'<span style="color:#c00">{INTERNAL}</span></div>'
        '<div style="position:fixed;bottom:30px;right:10px;z-index:9999;background:white;'
        f'padding:6px 10px;border:1px solid #999;font:13px sans-serif"><b>优先级</b>{legend}</div>'
    ))
    m.get_root().header.add_child(folium.Element(f"<title>{html.escape(title)}</title>"))
    m.save(str(path))
