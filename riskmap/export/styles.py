"""QGIS styles (QML) and SLD for the layers of risk.gpkg, and their Chinese column titles.

QGIS reads a GeoPackage's ``layer_styles`` table (its own convention) and applies
the default style when a layer is added; GeoServer and ArcGIS read SLD. Both are
made here from :mod:`riskmap.marks`, so QGIS shows the map's class colours and
names. QML carries props in both the ``<Option>`` form (QGIS ≥ 3.10) and the
older ``<prop>`` form, so QGIS 3.16 to 3.40 read it alike.
"""

from __future__ import annotations

import functools
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from riskmap.marks import CLASS_COLOURS, CLASS_NAMES

__all__ = ["CLASS_DOMAIN", "EFFORT_BANDS", "EFFORT_TITLES", "INPUT_TITLES", "METADATA_TITLES",
           "OVERDUE_COLOUR", "ZONE_TITLES", "FactorTitle", "LayerStyle", "cell_titles",
           "cells_style", "class_raster_qml", "effort_style", "input_style", "overdue_style",
           "score_raster_qml", "zones_style"]

#: Name of the coded domain (gpkg_data_column_constraints) of the class columns.
CLASS_DOMAIN = "riskmap_class"

ZONE_TITLES = {
    "zone_id": ("区块编号", "高风险区块编号, 按最高分排序 (zone id, hottest first)"),
    "township": ("乡镇", "区块最高分网格所在乡镇 (township of the hottest cell)"),
    "cells": ("网格数", "区块内4-5级巡查网格数 (patrol cells of class 4-5)"),
    "area_km2": ("面积 km²", "区块面积 (area, km²)"),
    "max_class": ("最高等级", "区块内最高优先级 (highest class)"),
    "max_score": ("最高风险分", "区块内最高风险分 0-100 (highest score)"),
}
#: Titles of the columns riskmap's own input layers and the sample use.
INPUT_TITLES = {
    "name": ("名称", "名称 (name)"), "type": ("类型", "类型 (type)"),
    "township": ("乡镇", "所在乡镇 (township)"), "village": ("村", "所在行政村 (village)"),
    "licence_no": ("采矿许可证号", "采矿许可证号 (licence number)"),
    "date": ("日期", "日期 (date)"),
}
METADATA_TITLES = {"key": ("项目", "元数据项 (key)"), "value": ("值", "值, JSON 或文本 (value)")}
#: Titles of the columns of the ``effort`` and ``overdue`` layers (patrol effort).
EFFORT_TITLES = {
    "id": ("网格编号", "巡查网格编号 (cell id)"),
    "township": ("乡镇", "网格所在乡镇 (township)"),
    "village": ("村", "网格所在行政村 (village)"),
    "class": ("优先级", "巡查优先级 1-5, 5 最高 (priority class)"),
    "score": ("风险分", "巡查网格风险分 0-100 (patrol-cell score)"),
    "checks": ("排查次数", "排查过的天数, 同日多人算一次 (visits: distinct days checked)"),
    "finds": ("发现次数", "有发现的排查次数 (visits with a find)"),
    "last_week": ("最近排查周", "最近一次排查的 ISO 周 (week of the last check)"),
    "last_date": ("最近排查日期", "最近一次排查的日期 (date of the last dated check)"),
    "weeks_since": ("未查周数", "距最近一次排查的周数, 至项目 as_of 所在周; 空 = 从未排查 "
                    "(weeks since the last check, to the week of as_of; empty: never)"),
    "status": ("状态", "从未排查 / N 周未查 (never checked / not for N weeks)"),
}
#: Colours of the effort layer by weeks since the last check: (upper bound, colour, label);
#: blues, apart from the classes' green-to-red
EFFORT_BANDS = ((3, "#08519c", "近 4 周内排查 (checked in the last 4 weeks)"),
                (7, "#4292c6", "4-7 周前排查 (4-7 weeks ago)"),
                (25, "#9ecae1", "8-25 周前排查 (8-25 weeks ago)"),
                (10_000, "#d9d9d9", "半年以上未查 (26 weeks or more)"))
#: Colour of the overdue cells (never checked or not for plan.overdue_weeks weeks).
OVERDUE_COLOUR = "#7b3294"
_FIXED_CELL_TITLES = {
    "id": ("网格编号", "巡查网格编号: 公里格东-北-列行 (cell id: km E-km N-column row)"),
    "township": ("乡镇", "网格所在乡镇 (township)"),
    "village": ("村", "网格所在行政村 (village)"),
    "score": ("风险分", "巡查网格风险分 0-100 (patrol-cell score)"),
    "score_max": ("最高风险分", "网格内分析单元最高分 (highest analysis-cell score)"),
    "score_mean": ("平均风险分", "网格内分析单元平均分 (mean analysis-cell score)"),
    "class": ("优先级", "巡查优先级 1-5, 5 最高 (priority class, 5 highest)"),
    "top_factors": ("主要风险因素", "得分最多的三个因素, 距离或密度及得分 (top three factors)"),
    "x": ("中心东坐标 E", "网格中心东坐标, 米 (centre easting, m)"),
    "y": ("中心北坐标 N", "网格中心北坐标, 米 (centre northing, m)"),
}
_UNIT_WORD = {"m": ("距离", "最近距离, 米 (distance to the nearest, m)"),
              "/km²": ("密度", "核密度, 每平方公里 (density per km²)")}


@dataclass(frozen=True)
class FactorTitle:
    """What the columns ``c_<name>`` and ``v_<name>`` of a factor are called."""

    name: str
    label: str
    unit: str = "m"  #: "m" (distance), "/km²" (density) or "" (a value)


@dataclass(frozen=True)
class LayerStyle:
    """One layer's default style: QML for QGIS, SLD for the others."""

    qml: str
    sld: str
    title: str  #: the layer's Chinese title (gpkg_contents.identifier, style name)


def cell_titles(factors: Sequence[FactorTitle]) -> dict[str, tuple[str, str]]:
    """Title and description of each column of the ``cells`` layer.

    Titles are unique within the layer (``gpkg_data_columns`` requires it): a
    factor label used twice gets its column name added.
    """
    out = dict(_FIXED_CELL_TITLES)
    for f in factors:
        word, unit_text = _UNIT_WORD.get(f.unit, ("值", "因子取值 (factor value)"))
        out[f"c_{f.name}"] = (f"贡献: {f.label}",
                              f"{f.label}对风险分的贡献, 分 (points of score from {f.name})")
        out[f"v_{f.name}"] = (f"{word}: {f.label}", f"{f.label}: {unit_text}")
    seen = Counter(title for title, _desc in out.values())
    return {col: ((f"{t} ({col})" if seen[t] > 1 else t), d) for col, (t, d) in out.items()}


# --- colours and symbols ---------------------------------------------------------------

def _rgba(hexc: str, alpha: int = 255) -> str:
    return ",".join(str(int(hexc[i:i + 2], 16)) for i in (1, 3, 5)) + f",{alpha}"


def _props(layer: ET.Element, props: Mapping[str, str]) -> None:
    opt = ET.SubElement(layer, "Option", type="Map")
    for k, v in props.items():
        ET.SubElement(opt, "Option", name=k, value=v, type="QString")
    for k, v in props.items():  # the form QGIS < 3.26 writes beside it
        ET.SubElement(layer, "prop", k=k, v=v)


def _symbol(parent: ET.Element, name: str, kind: str, props: Mapping[str, str]) -> None:
    cls = {"fill": "SimpleFill", "line": "SimpleLine", "marker": "SimpleMarker"}[kind]
    sym = ET.SubElement(parent, "symbol", type=kind, name=name, alpha="1",
                        clip_to_extent="1", force_rhr="0")
    layer = ET.SubElement(sym, "layer", {"class": cls, "enabled": "1", "locked": "0",
                                         "pass": "0"})
    _props(layer, props)


def _fill(colour: str, alpha: int, outline: str, width: float, outline_style="solid"):
    return {"color": _rgba(colour, alpha), "style": "solid" if alpha else "no",
            "outline_color": _rgba(outline), "outline_style": outline_style,
            "outline_width": f"{width:g}", "outline_width_unit": "MM", "joinstyle": "miter"}


def _line(colour: str, width: float, dash: bool = False):
    return {"line_color": _rgba(colour), "line_width": f"{width:g}", "line_width_unit": "MM",
            "line_style": "dash" if dash else "solid", "capstyle": "round",
            "joinstyle": "round"}


def _marker(colour: str, size: float):
    return {"name": "circle", "color": _rgba(colour, 220), "outline_color": "255,255,255,255",
            "outline_width": "0.2", "outline_width_unit": "MM", "size": f"{size:g}",
            "size_unit": "MM"}


_KIND_OF = {"Point": "marker", "MultiPoint": "marker", "LineString": "line",
            "MultiLineString": "line", "Polygon": "fill", "MultiPolygon": "fill"}
_QGIS_GEOMETRY = {"marker": "0", "line": "1", "fill": "2"}


def _symbol_props(kind: str, colour: str) -> dict:
    if kind == "marker":
        return _marker(colour, 2.2)
    if kind == "line":
        return _line(colour, 0.6)
    return _fill(colour, 40, colour, 0.5)


# --- QML ----------------------------------------------------------------------------------

def _qml_root(kind: str, labels: bool) -> ET.Element:
    return ET.Element("qgis", {"version": "3.22.0", "styleCategories": "AllStyleCategories",
                               "labelsEnabled": "1" if labels else "0"})


def _labeling(root: ET.Element, field: str, size: float, colour: str = "#222222") -> None:
    lab = ET.SubElement(root, "labeling", type="simple")
    s = ET.SubElement(lab, "settings", calloutType="simple")
    style = ET.SubElement(s, "text-style", {
        "fieldName": field, "isExpression": "0", "fontSize": f"{size:g}", "fontSizeUnit": "Point",
        "fontFamily": "Noto Sans CJK SC", "fontWeight": "75", "textColor": _rgba(colour),
        "textOpacity": "1", "namedStyle": "Bold", "multilineHeight": "1"})
    ET.SubElement(style, "text-buffer", {"bufferDraw": "1", "bufferSize": "0.8",
                                         "bufferSizeUnits": "MM",
                                         "bufferColor": "255,255,255,255",
                                         "bufferOpacity": "0.9"})
    ET.SubElement(s, "placement", {"placement": "1", "dist": "0", "priority": "5"})
    ET.SubElement(s, "rendering", {"obstacle": "1", "fontLimitPixelSize": "0",
                                   "scaleVisibility": "0"})


def _fields(root: ET.Element, titles: Mapping[str, tuple[str, str]], fields: Sequence[str],
            class_fields: Sequence[str] = ()) -> None:
    """Aliases (the Chinese titles) and a value map for the class columns."""
    conf = ET.SubElement(root, "fieldConfiguration")
    for f in fields:
        fe = ET.SubElement(conf, "field", name=f, configurationFlags="None")
        w = ET.SubElement(fe, "editWidget", type="ValueMap" if f in class_fields else
                          "TextEdit")
        cfg = ET.SubElement(ET.SubElement(w, "config"), "Option", type="Map")
        if f in class_fields:
            lst = ET.SubElement(cfg, "Option", name="map", type="List")
            for c in range(5, 0, -1):
                m = ET.SubElement(lst, "Option", type="Map")
                ET.SubElement(m, "Option", name=CLASS_NAMES[c], value=str(c), type="QString")
    al = ET.SubElement(root, "aliases")
    for i, f in enumerate(fields):
        ET.SubElement(al, "alias", field=f, index=str(i), name=titles.get(f, ("",))[0])


def _qml_text(root: ET.Element) -> str:
    ET.indent(root)
    return ("<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
            + ET.tostring(root, encoding="unicode") + "\n")


def _single_renderer(root: ET.Element, kind: str, props: dict) -> None:
    r = ET.SubElement(root, "renderer-v2", type="singleSymbol", forceraster="0",
                      symbollevels="0", enableorderby="0")
    _symbol(ET.SubElement(r, "symbols"), "0", kind, props)


def _classes_renderer(root: ET.Element, attr: str) -> None:
    r = ET.SubElement(root, "renderer-v2", type="categorizedSymbol", attr=attr,
                      forceraster="0", symbollevels="0", enableorderby="0")
    cats = ET.SubElement(r, "categories")
    syms = ET.SubElement(r, "symbols")
    for i, c in enumerate(range(5, 0, -1)):
        ET.SubElement(cats, "category", value=str(c), symbol=str(i), label=CLASS_NAMES[c],
                      render="true")
        _symbol(syms, str(i), "fill", _fill(CLASS_COLOURS[c], 230, "#ffffff", 0.05))


# --- SLD ------------------------------------------------------------------------------------

_SLD = "http://www.opengis.net/sld"
_OGC = "http://www.opengis.net/ogc"


def _sld_root(layer: str, title: str) -> tuple[ET.Element, ET.Element]:
    ET.register_namespace("", _SLD)
    ET.register_namespace("ogc", _OGC)
    root = ET.Element(f"{{{_SLD}}}StyledLayerDescriptor", version="1.0.0")
    nl = ET.SubElement(root, f"{{{_SLD}}}NamedLayer")
    ET.SubElement(nl, f"{{{_SLD}}}Name").text = layer
    us = ET.SubElement(nl, f"{{{_SLD}}}UserStyle")
    ET.SubElement(us, f"{{{_SLD}}}Name").text = layer
    ET.SubElement(us, f"{{{_SLD}}}Title").text = title
    return root, ET.SubElement(us, f"{{{_SLD}}}FeatureTypeStyle")


def _css(parent: ET.Element, tag: str, params: Mapping[str, str]) -> ET.Element:
    e = ET.SubElement(parent, f"{{{_SLD}}}{tag}")
    for k, v in params.items():
        ET.SubElement(e, f"{{{_SLD}}}CssParameter", name=k).text = v
    return e


def _sld_symbolizer(rule: ET.Element, kind: str, colour: str, fill_opacity: float,
                    stroke: str, width: float) -> None:
    if kind == "marker":
        g = ET.SubElement(ET.SubElement(rule, f"{{{_SLD}}}PointSymbolizer"), f"{{{_SLD}}}Graphic")
        mark = ET.SubElement(g, f"{{{_SLD}}}Mark")
        ET.SubElement(mark, f"{{{_SLD}}}WellKnownName").text = "circle"
        _css(mark, "Fill", {"fill": colour})
        _css(mark, "Stroke", {"stroke": "#ffffff", "stroke-width": "0.5"})
        ET.SubElement(g, f"{{{_SLD}}}Size").text = "8"
    elif kind == "line":
        _css(ET.SubElement(rule, f"{{{_SLD}}}LineSymbolizer"), "Stroke",
             {"stroke": colour, "stroke-width": f"{width:g}"})
    else:
        ps = ET.SubElement(rule, f"{{{_SLD}}}PolygonSymbolizer")
        if fill_opacity:
            _css(ps, "Fill", {"fill": colour, "fill-opacity": f"{fill_opacity:g}"})
        _css(ps, "Stroke", {"stroke": stroke, "stroke-width": f"{width:g}"})


def _sld_label(rule: ET.Element, field: str) -> None:
    ts = ET.SubElement(rule, f"{{{_SLD}}}TextSymbolizer")
    lab = ET.SubElement(ts, f"{{{_SLD}}}Label")
    ET.SubElement(lab, f"{{{_OGC}}}PropertyName").text = field
    _css(ts, "Font", {"font-family": "Noto Sans CJK SC", "font-size": "12"})
    halo = ET.SubElement(ts, f"{{{_SLD}}}Halo")
    ET.SubElement(halo, f"{{{_SLD}}}Radius").text = "1.5"
    _css(halo, "Fill", {"fill": "#ffffff"})


def _sld_text(root: ET.Element) -> str:
    ET.indent(root)
    return ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            + ET.tostring(root, encoding="unicode") + "\n")


def _rule(fts: ET.Element, name: str, title: str) -> ET.Element:
    rule = ET.SubElement(fts, f"{{{_SLD}}}Rule")
    ET.SubElement(rule, f"{{{_SLD}}}Name").text = name
    ET.SubElement(rule, f"{{{_SLD}}}Title").text = title
    return rule


# --- the layers -------------------------------------------------------------------------------

def cells_style(fields: Sequence[str], titles: Mapping[str, tuple[str, str]]) -> LayerStyle:
    """Patrol cells coloured by class (the map's colours), Chinese aliases."""
    title = "巡查网格 (patrol cells)"
    root = _qml_root("fill", labels=False)
    _classes_renderer(root, "class")
    _fields(root, titles, fields, class_fields=("class",))
    ET.SubElement(root, "layerGeometryType").text = "2"
    sld, fts = _sld_root("cells", title)
    for c in range(5, 0, -1):
        rule = _rule(fts, str(c), CLASS_NAMES[c])
        flt = ET.SubElement(rule, f"{{{_OGC}}}Filter")
        eq = ET.SubElement(flt, f"{{{_OGC}}}PropertyIsEqualTo")
        ET.SubElement(eq, f"{{{_OGC}}}PropertyName").text = "class"
        ET.SubElement(eq, f"{{{_OGC}}}Literal").text = str(c)
        _sld_symbolizer(rule, "fill", CLASS_COLOURS[c], 0.9, "#ffffff", 0.2)
    return LayerStyle(_qml_text(root), _sld_text(sld), title)


def zones_style(fields: Sequence[str]) -> LayerStyle:
    """High-priority zones: dark red outlines labelled with their ids."""
    title = "高风险区块 (zones)"
    dark = "#7f0000"
    root = _qml_root("fill", labels=True)
    _single_renderer(root, "fill", _fill(CLASS_COLOURS[5], 50, dark, 0.8))
    _labeling(root, "zone_id", 9, dark)
    _fields(root, ZONE_TITLES, fields, class_fields=("max_class",))
    ET.SubElement(root, "layerGeometryType").text = "2"
    sld, fts = _sld_root("zones", title)
    rule = _rule(fts, "zones", title)
    _sld_symbolizer(rule, "fill", CLASS_COLOURS[5], 0.2, dark, 2)
    _sld_label(rule, "zone_id")
    return LayerStyle(_qml_text(root), _sld_text(sld), title)


def effort_style(fields: Sequence[str]) -> LayerStyle:
    """Checked cells coloured by the weeks since their last check (:data:`EFFORT_BANDS`)."""
    title = "巡查力度 (patrol effort: checked cells)"
    root = _qml_root("fill", labels=False)
    r = ET.SubElement(root, "renderer-v2", type="graduatedSymbol", attr="weeks_since",
                      graduatedMethod="GraduatedColor", forceraster="0", symbollevels="0",
                      enableorderby="0")
    ranges = ET.SubElement(r, "ranges")
    syms = ET.SubElement(r, "symbols")
    sld, fts = _sld_root("effort", title)
    lower = 0
    for i, (upper, colour, label) in enumerate(EFFORT_BANDS):
        ET.SubElement(ranges, "range", lower=f"{lower - 0.5:g}", upper=f"{upper + 0.5:g}",
                      symbol=str(i), label=label, render="true")
        _symbol(syms, str(i), "fill", _fill(colour, 200, "#ffffff", 0.05))
        rule = _rule(fts, str(i), label)
        flt = ET.SubElement(rule, f"{{{_OGC}}}Filter")
        btw = ET.SubElement(flt, f"{{{_OGC}}}PropertyIsBetween")
        ET.SubElement(btw, f"{{{_OGC}}}PropertyName").text = "weeks_since"
        ET.SubElement(ET.SubElement(btw, f"{{{_OGC}}}LowerBoundary"),
                      f"{{{_OGC}}}Literal").text = str(lower)
        ET.SubElement(ET.SubElement(btw, f"{{{_OGC}}}UpperBoundary"),
                      f"{{{_OGC}}}Literal").text = str(upper)
        _sld_symbolizer(rule, "fill", colour, 0.8, "#ffffff", 0.2)
        lower = upper + 1
    _fields(root, EFFORT_TITLES, fields, class_fields=("class",))
    ET.SubElement(root, "layerGeometryType").text = "2"
    return LayerStyle(_qml_text(root), _sld_text(sld), title)


def overdue_style(fields: Sequence[str]) -> LayerStyle:
    """Overdue cells: purple outlines over a light purple fill."""
    title = "久未巡查 (overdue: never checked or not for weeks)"
    root = _qml_root("fill", labels=False)
    _single_renderer(root, "fill", _fill(OVERDUE_COLOUR, 70, OVERDUE_COLOUR, 0.4))
    _fields(root, EFFORT_TITLES, fields, class_fields=("class",))
    ET.SubElement(root, "layerGeometryType").text = "2"
    sld, fts = _sld_root("overdue", title)
    _sld_symbolizer(_rule(fts, "overdue", title), "fill", OVERDUE_COLOUR, 0.3, OVERDUE_COLOUR,
                    1.0)
    return LayerStyle(_qml_text(root), _sld_text(sld), title)


def input_style(table: str, label: str, geometry_type: str, colour: str,
                fields: Sequence[str], *, outline: bool = False,
                label_field: str | None = None) -> LayerStyle:
    """One input layer in its map colour: points, lines, or polygons (``outline``: no fill).

    Parameters
    ----------
    table : str
        Layer name in the GeoPackage (``input_<name>``).
    label : str
        The layer's Chinese name (the factor's label).
    geometry_type : str
        GeoJSON-style type name of its features (``Point``, ``MultiPolygon``, ...).
    colour : str
        ``#rrggbb``.
    fields : sequence of str
        Its attribute columns (for the alias list).
    outline : bool
        Draw polygons as outlines only (area borders).
    label_field : str, optional
        Column to label features with (names of townships and villages).
    """
    return _input_style(table, label, geometry_type, colour, tuple(fields), outline, label_field)


@functools.lru_cache(maxsize=256)  # the same layer's style in every area of a build
def _input_style(table: str, label: str, geometry_type: str, colour: str, fields: tuple,
                 outline: bool, label_field: str | None) -> LayerStyle:
    kind = _KIND_OF.get(geometry_type, "fill")
    props = _symbol_props(kind, colour)
    if kind == "fill" and outline:
        props = _fill(colour, 0, colour, 0.7, "dash" if "village" in table else "solid")
    root = _qml_root(kind, labels=label_field is not None)
    _single_renderer(root, kind, props)
    if label_field:
        _labeling(root, label_field, 9 if "village" in table else 11)
    _fields(root, INPUT_TITLES, fields)
    ET.SubElement(root, "layerGeometryType").text = _QGIS_GEOMETRY[kind]
    sld, fts = _sld_root(table, label)
    rule = _rule(fts, table, label)
    _sld_symbolizer(rule, kind, colour, 0 if outline else 0.15, colour, 1.5)
    if label_field:
        _sld_label(rule, label_field)
    return LayerStyle(_qml_text(root), _sld_text(sld), label)


# --- rasters (QGIS reads <name>.qml beside a raster as its default style) ---------------------

def _raster_qml(renderer: ET.Element) -> str:
    root = _qml_root("raster", labels=False)
    pipe = ET.SubElement(root, "pipe")
    pipe.append(renderer)
    ET.SubElement(pipe, "brightnesscontrast", brightness="0", contrast="0", gamma="1")
    ET.SubElement(pipe, "huesaturation", saturation="0", grayscaleMode="0",
                  colorizeOn="0", colorizeStrength="100")
    ET.SubElement(pipe, "rasterresampler", maxOversampling="2")
    ET.SubElement(root, "blendMode").text = "0"
    return _qml_text(root)


def class_raster_qml() -> str:
    """Paletted style of risk_class.tif: the five classes in the map's colours and names."""
    r = ET.Element("rasterrenderer", type="paletted", band="1", opacity="0.8",
                   alphaBand="-1", nodataColor="")
    ET.SubElement(r, "rasterTransparency")
    pal = ET.SubElement(r, "colorPalette")
    for c in range(5, 0, -1):
        ET.SubElement(pal, "paletteEntry", value=str(c), color=CLASS_COLOURS[c], alpha="255",
                      label=CLASS_NAMES[c])
    return _raster_qml(r)


def score_raster_qml(thresholds: Sequence[float]) -> str:
    """Style of risk.tif: the score 0–100 coloured by the class thresholds (as the map)."""
    t = [float(v) for v in thresholds]
    r = ET.Element("rasterrenderer", type="singlebandpseudocolor", band="1", opacity="0.8",
                   alphaBand="-1", classificationMin="0", classificationMax="100",
                   nodataColor="")
    ET.SubElement(r, "rasterTransparency")
    shader = ET.SubElement(ET.SubElement(r, "rastershader"), "colorrampshader",
                           colorRampType="DISCRETE", classificationMode="1", clip="0",
                           minimumValue="0", maximumValue="100")
    uppers = [*t, float("inf")]
    for c in range(1, 6):
        label = CLASS_NAMES[c] + (f" (< {t[0]:.1f})" if c == 1 else f" (≥ {t[c - 2]:.1f})")
        ET.SubElement(shader, "item", value="inf" if c == 5 else f"{uppers[c - 1]:.4f}",
                      color=CLASS_COLOURS[c], alpha="255", label=label)
    return _raster_qml(r)
