"""Files for the phone and the handheld GPS: ``patrol.kmz``, ``patrol.gpx``, 奥维 TXT.

Every cell is named by its visit number and id, ``"03 456-4190-37"``
(:attr:`~riskmap.field.plan.PlanCell.label`): the number printed on plan.pdf and
in the ledger's 序号 column.

``patrol.kmz`` (KML 2.2, WGS84) works offline in Google Earth and 奥维互动地图
(Ovital): folders per township and village; per village the start point
(village committee), one placemark per cell (the centre as an
icon and the 100 m square as a polygon, styled by priority class; random checks
have their own icon) with the factor breakdown in the description, and the
route as a line. The icons are small PNGs drawn here and stored inside the KMZ,
so nothing is fetched from the internet. KML is written with
:mod:`xml.etree.ElementTree`, which escapes every text.

``patrol.gpx`` (GPX 1.1) has one waypoint per cell (short ASCII names, what a
handheld shows), the start points and one route per village in visiting order.

``patrol_ovital.txt`` is the waypoint text file that 奥维互动地图 imports (收藏夹 →
导入, "txt 坐标文件", as Ovital's help on importing txt coordinate files describes
it): one point per line, the fields separated by one space — 名称, 经度, 纬度
(WGS84/CGCS2000 decimal degrees, longitude first, no offset flag: the flags
``g``/``b`` would mark GCJ-02/BD-09) and then the 备注 fields (village, priority,
responsible cadre, main factors), which 奥维 joins into the remark. A name holds
no space, so it is ``03_456-4190-37``; start points are ``S01_<village>``.
GB18030 (the ANSI code page of Chinese Windows, identical to GBK for every GBK
character), CRLF, no header line: at import choose the fields 名称 经度 纬度 备注.

Every file is written to a temporary file in its folder and moved into place
(:func:`atomic_file`).
"""

from __future__ import annotations

import datetime as dt
import html
import io
import re
import zipfile
from functools import cache
from typing import TYPE_CHECKING
from xml.etree import ElementTree as ET

from riskmap.crs.transform import transformer
from riskmap.export.atomic import atomic_file
from riskmap.marks import CLASS_COLOURS, INTERNAL

if TYPE_CHECKING:
    from riskmap.field.plan import PlanCell, TownshipPlan

KML_NS = "http://www.opengis.net/kml/2.2"
GPX_NS = "http://www.topografix.com/GPX/1/1"
_XSI = "http://www.w3.org/2001/XMLSchema-instance"
RANDOM_COLOUR = "#2b8cbe"
START_COLOUR = "#252525"
ROUTE_COLOUR = "#6a3d9a"
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_GPX_SYM = {5: "Flag, Red", 4: "Flag, Red", 3: "Flag, Blue", 2: "Flag, Green", 1: "Flag, Green"}


# --------------------------------------------------------------------------- icons
def _rgb(hexc: str) -> tuple[int, int, int]:
    h = hexc.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def _kml_colour(hexc: str, alpha: int = 255) -> str:
    r, g, b = _rgb(hexc)
    return f"{alpha:02x}{b:02x}{g:02x}{r:02x}"  # KML: aabbggrr


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: the small bitmap font
        return ImageFont.load_default()


@cache
def icon_png(kind: str) -> bytes:
    """A 32 × 32 PNG icon, drawn with Pillow.

    Parameters
    ----------
    kind : str
        ``"class1"`` … ``"class5"`` (a disc in the class colour with its number),
        ``"random"`` (a diamond) or ``"start"`` (a house shape).
    """
    from PIL import Image, ImageDraw

    img = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    if kind.startswith("class"):
        c = int(kind[5:])
        d.ellipse((2, 2, 29, 29), fill=(*_rgb(CLASS_COLOURS[c]), 255),
                  outline=(40, 40, 40, 255), width=2)
        ink = (0, 0, 0, 255) if c == 3 else (255, 255, 255, 255)
        d.text((16, 16), str(c), fill=ink, font=_font(18), anchor="mm")
    elif kind == "random":
        d.polygon([(16, 1), (30, 16), (16, 30), (2, 16)], fill=(*_rgb(RANDOM_COLOUR), 255),
                  outline=(20, 20, 20, 255))
        d.text((16, 16), "?", fill=(255, 255, 255, 255), font=_font(16), anchor="mm")
    else:
        d.polygon([(16, 2), (29, 13), (29, 29), (3, 29), (3, 13)],
                  fill=(*_rgb(START_COLOUR), 255), outline=(255, 255, 255, 255))
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _style_of(cell: PlanCell) -> str:
    return "random" if cell.reason == "随机抽查" else f"class{cell.cls}"


# --------------------------------------------------------------------------- KML
def _sub(parent, tag: str, text=None, **attrs):
    el = ET.SubElement(parent, f"{{{KML_NS}}}{tag}", attrs)
    if text is not None:
        el.text = str(text)
    return el


def _text(parent, tag: str, text) -> ET.Element:
    """A KML text element that Google Earth / 奥维 may render as HTML: escaped first.

    ElementTree escapes for XML only; a reader unescapes that and then renders
    ``name``, ``description`` and data values as HTML, so markup in a cadre's name
    or a village name would run. Escaping for HTML as well keeps it text.
    """
    return _sub(parent, tag, html.escape(str(text)))


def _coords(pairs) -> str:
    return " ".join(f"{lon:.7f},{lat:.7f},0" for lon, lat in pairs)


def cell_description(cell: PlanCell) -> str:
    """HTML description of a cell placemark (every value escaped)."""
    e = html.escape
    lines = [f"<b>{e(cell.label)}</b> · {e(cell.township)} {e(cell.village)} · 编号 {cell.no} "
             f"(本村第 {cell.seq} 个)",
             f"优先级 {e(cell.priority)} · 风险分 {cell.score:.1f}"
             + (f" (调整后 {cell.adj_score:.1f})" if cell.adj_score != cell.score else "")
             + (f" · 排名区间 {e(cell.rank)}" if cell.rank else "")]
    if cell.override:
        lines.append(f"<b>{e(cell.override)}</b>")
    if cell.adjustment:
        lines.append(e(cell.adjustment))
    if cell.breakdown:
        lines.append("风险因素 (factor, value, points):")
        lines += [f"· {e(lab)} {e(val)} ({pts:+.1f})" for lab, pts, val in cell.breakdown]
    if cell.responsible:
        lines.append(f"责任人 {e(cell.responsible)} {e(cell.phone)}")
    lines.append(f"WGS84 {cell.lon:.6f}, {cell.lat:.6f}")
    lines.append(e(INTERNAL))
    return "<br/>".join(lines)


def kml_document(tp: TownshipPlan) -> ET.Element:
    """The KML tree of one township's plan (WGS84)."""
    ET.register_namespace("", KML_NS)
    to_wgs = transformer(tp.crs, "EPSG:4326", always_xy=True)
    root = ET.Element(f"{{{KML_NS}}}kml")
    doc = _sub(root, "Document")
    _text(doc, "name", f"{tp.township} {tp.week} 巡查点")
    _sub(doc, "open", 1)
    _sub(doc, "description", "<br/>".join(html.escape(x) for x in
                                         [*tp.rules, *tp.notes, f"生成 {tp.build_date}",
                                          INTERNAL]))
    for kind, colour in [*((f"class{c}", CLASS_COLOURS[c]) for c in range(1, 6)),
                         ("random", RANDOM_COLOUR), ("start", START_COLOUR)]:
        st = _sub(doc, "Style", id=kind)
        ic = _sub(st, "IconStyle")
        _sub(ic, "scale", "1.0")
        icon = _sub(ic, "Icon")
        _sub(icon, "href", f"files/{kind}.png")
        _sub(ic, "hotSpot", x="0.5", y="0.5", xunits="fraction", yunits="fraction")
        _sub(_sub(st, "LabelStyle"), "scale", "0.8")
        ls = _sub(st, "LineStyle")
        _sub(ls, "color", _kml_colour(colour))
        _sub(ls, "width", 2)
        _sub(_sub(st, "PolyStyle"), "color", _kml_colour(colour, 0x66))
    st = _sub(doc, "Style", id="route")
    ls = _sub(st, "LineStyle")
    _sub(ls, "color", _kml_colour(ROUTE_COLOUR))
    _sub(ls, "width", 3)

    tfold = _sub(doc, "Folder")
    _text(tfold, "name", tp.township)
    _sub(tfold, "open", 1)
    for v in tp.villages:
        vfold = _sub(tfold, "Folder")
        _text(vfold, "name", v.village)
        _text(vfold, "description", f"{len(v.cells)} 个网格; 路线 {v.length_m / 1000:.2f} km "
              "(直线, 含返回)" + (f"; 责任人 {v.responsible} {v.phone}" if v.responsible else ""))
        pm = _sub(vfold, "Placemark")
        _text(pm, "name", f"起点 {v.village}{v.start_kind}")
        _sub(pm, "styleUrl", "#start")
        _sub(_sub(pm, "Point"), "coordinates", _coords([v.start_lonlat]))
        for c in v.cells:
            pm = _sub(vfold, "Placemark")
            _text(pm, "name", c.label)
            _sub(pm, "description", cell_description(c))
            _sub(pm, "styleUrl", f"#{_style_of(c)}")
            ext = _sub(pm, "ExtendedData")
            data = [("序号", c.no), ("网格编号", c.cell_id), ("优先级", c.priority),
                    ("风险分", f"{c.score:.1f}"), ("村", c.village)]
            if c.rank:  # the calibration's rank interval, as the ledger's column
                data.insert(4, ("排名区间", c.rank))
            for k, val in data:
                dd = _sub(ext, "Data", name=k)
                _text(dd, "value", val)
            mg = _sub(pm, "MultiGeometry")
            _sub(_sub(mg, "Point"), "coordinates", _coords([(c.lon, c.lat)]))
            h = tp.cell_size / 2
            xs = [c.x - h, c.x + h, c.x + h, c.x - h, c.x - h]
            ys = [c.y - h, c.y - h, c.y + h, c.y + h, c.y - h]
            lon, lat = to_wgs.transform(xs, ys)
            ring = _sub(_sub(_sub(mg, "Polygon"), "outerBoundaryIs"), "LinearRing")
            _sub(ring, "coordinates", _coords(zip(lon, lat, strict=True)))
        if v.cells:
            pm = _sub(vfold, "Placemark")
            _text(pm, "name", f"巡查路线 {v.length_m / 1000:.2f} km")
            _sub(pm, "styleUrl", "#route")
            ls = _sub(pm, "LineString")
            _sub(ls, "tessellate", 1)
            pts = [v.start_lonlat, *((c.lon, c.lat) for c in v.cells), v.start_lonlat]
            _sub(ls, "coordinates", _coords(pts))
    return root


def write_kmz(tp: TownshipPlan, path, *, overwrite: bool = False) -> None:
    """Write ``patrol.kmz``: ``doc.kml`` first, then the icons under ``files/``."""
    tree = kml_document(tp)
    ET.indent(tree)
    data = b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(tree, encoding="utf-8")
    with atomic_file(path, overwrite) as tmp:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr(zipfile.ZipInfo("doc.kml", _ZIP_TIME), data, zipfile.ZIP_DEFLATED)
            for kind in [f"class{c}" for c in range(1, 6)] + ["random", "start"]:
                z.writestr(zipfile.ZipInfo(f"files/{kind}.png", _ZIP_TIME), icon_png(kind),
                           zipfile.ZIP_STORED)


# --------------------------------------------------------------------------- GPX
def _gsub(parent, tag: str, text=None, **attrs):
    el = ET.SubElement(parent, f"{{{GPX_NS}}}{tag}", attrs)
    if text is not None:
        el.text = str(text)
    return el


def _utc(build_date: str) -> str:
    try:
        t = dt.datetime.fromisoformat(build_date)
    except ValueError:
        t = dt.datetime.now().astimezone()
    if t.tzinfo is None:
        t = t.astimezone()
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def gpx_document(tp: TownshipPlan) -> ET.Element:
    """The GPX 1.1 tree: waypoints (cells, then start points), one route per village."""
    ET.register_namespace("", GPX_NS)
    ET.register_namespace("xsi", _XSI)
    root = ET.Element(f"{{{GPX_NS}}}gpx", {
        "version": "1.1", "creator": "riskmap",
        f"{{{_XSI}}}schemaLocation": f"{GPX_NS} http://www.topografix.com/GPX/1/1/gpx.xsd"})
    meta = _gsub(root, "metadata")
    _gsub(meta, "name", f"{tp.township} {tp.week}")
    _gsub(meta, "desc", " ".join([*tp.rules, INTERNAL]))
    _gsub(meta, "time", _utc(tp.build_date))

    def wpt(lon, lat, name, cmt, desc, sym, typ):
        w = _gsub(root, "wpt", lat=f"{lat:.7f}", lon=f"{lon:.7f}")
        _gsub(w, "name", name)
        _gsub(w, "cmt", cmt)
        _gsub(w, "desc", desc)
        _gsub(w, "sym", sym)
        _gsub(w, "type", typ)

    for c in tp.cells:
        wpt(c.lon, c.lat, c.label, c.priority,
            f"{c.township} {c.village} 编号{c.no} (本村第{c.seq}个) {c.priority} "
            f"风险分{c.score:.0f}" + (f" 排名区间{c.rank}" if c.rank else "") + "; "
            f"{c.top_factors}", "Pin, Blue" if c.reason == "随机抽查" else _GPX_SYM[c.cls],
            c.priority)
    for i, v in enumerate(tp.villages, start=1):
        wpt(*v.start_lonlat, f"S{i:02d} {v.village}", f"起点 {v.start_kind}",
            f"{v.township} {v.village} 起点 ({v.start_kind})", "Residence", "起点")
    for i, v in enumerate(tp.villages, start=1):
        rte = _gsub(root, "rte")
        _gsub(rte, "name", f"R{i:02d} {v.village}")
        _gsub(rte, "desc", f"{len(v.cells)} 个网格, {v.length_m / 1000:.2f} km (直线, 含返回)")
        _gsub(rte, "number", i)
        pts = [(v.start_lonlat, f"S{i:02d}")] + [((c.lon, c.lat), c.label) for c in v.cells]
        pts.append((v.start_lonlat, f"S{i:02d}"))
        for (lon, lat), name in pts:
            rp = _gsub(rte, "rtept", lat=f"{lat:.7f}", lon=f"{lon:.7f}")
            _gsub(rp, "name", name)
    return root


def write_gpx(tp: TownshipPlan, path, *, overwrite: bool = False) -> None:
    """Write ``patrol.gpx`` (GPX 1.1, UTF-8)."""
    tree = gpx_document(tp)
    ET.indent(tree)
    data = b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(tree, encoding="utf-8")
    with atomic_file(path, overwrite) as tmp:
        tmp.write_bytes(data)


# --------------------------------------------------------------------------- 奥维 TXT
_SPACE = re.compile(r"\s+")


def _field(text) -> str:
    """One space-free field of the 奥维 TXT (runs of whitespace become ``_``)."""
    return _SPACE.sub("_", str(text).strip()) or "-"


def ovital_lines(tp: TownshipPlan) -> list[str]:
    """The lines of ``patrol_ovital.txt``: cells in visit order, then the start points.

    Each line is ``名称 经度 纬度 备注…`` separated by single spaces (see the
    module docstring).
    """
    out = []
    for c in tp.cells:
        remark = [c.township, c.village, f"编号{c.no}", c.priority, f"风险分{c.score:.0f}"]
        if c.rank:
            remark.append(f"排名区间{c.rank}")
        if c.responsible:
            remark.append(f"责任人{c.responsible}")
        if c.top_factors:
            remark.append(c.top_factors)
        out.append(" ".join([_field(f"{c.no:02d}_{c.cell_id}"), f"{c.lon:.7f}", f"{c.lat:.7f}",
                             *map(_field, remark)]))
    for i, v in enumerate(tp.villages, start=1):
        out.append(" ".join([_field(f"S{i:02d}_{v.village}"), f"{v.start_lonlat[0]:.7f}",
                             f"{v.start_lonlat[1]:.7f}", "起点", _field(v.start_kind),
                             _field(v.township)]))
    return out


def write_ovital_txt(tp: TownshipPlan, path, *, overwrite: bool = False) -> None:
    """Write ``patrol_ovital.txt`` (奥维 TXT waypoints, GB18030, CRLF)."""
    data = "".join(line + "\r\n" for line in ovital_lines(tp)).encode("gb18030")
    with atomic_file(path, overwrite) as tmp:
        tmp.write_bytes(data)
