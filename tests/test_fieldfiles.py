"""patrol.kmz and patrol.gpx parsed back; atomic writes."""

from __future__ import annotations

import copy
import io
import zipfile
from xml.etree import ElementTree as ET

import pytest
from PIL import Image
from test_plan import Tiny

from riskmap.errors import ExportError
from riskmap.export.atomic import atomic_file
from riskmap.export.fieldfiles import (
    GPX_NS,
    KML_NS,
    ovital_lines,
    write_gpx,
    write_kmz,
    write_ovital_txt,
)
from riskmap.grid.cellid import parse_cell_id

K = {"k": KML_NS}
G = {"g": GPX_NS}


@pytest.fixture(scope="module")
def plans(tmp_path_factory):
    tiny = Tiny(tmp_path_factory.mktemp("tiny"))
    folder = tmp_path_factory.mktemp("field")
    out = {}
    for tp in tiny.plan():
        # hostile text (a factor label, a name): must come out escaped, not as markup
        for v in tp.villages:
            for c in v.cells:
                c.breakdown.append(("<b>&</b>", 1.0, ""))
                c.responsible = "王<i>"
        write_kmz(tp, folder / f"{tp.township}.kmz")
        write_gpx(tp, folder / f"{tp.township}.gpx")
        write_ovital_txt(tp, folder / f"{tp.township}.txt")
        out[tp.township] = tp
    return out, folder


def test_kmz(plans):
    tps, folder = plans
    for name, tp in tps.items():
        with zipfile.ZipFile(folder / f"{name}.kmz") as z:
            names = z.namelist()
            assert names[0] == "doc.kml"  # the first entry is the document
            root = ET.fromstring(z.read("doc.kml"))
            assert root.tag == f"{{{KML_NS}}}kml"
            doc = root.find("k:Document", K)
            # styles by priority class, every icon inside the KMZ and a real PNG
            styles = {s.get("id"): s for s in doc.findall("k:Style", K)}
            assert {f"class{c}" for c in range(1, 6)} | {"random", "start", "route"} <= set(
                styles)
            for st in styles.values():
                href = st.find("k:IconStyle/k:Icon/k:href", K)
                if href is None:
                    continue
                assert not href.text.startswith("http") and href.text in names
                img = Image.open(io.BytesIO(z.read(href.text)))
                assert img.format == "PNG" and img.size == (32, 32)
            # folders: township > village
            tfold = doc.findall("k:Folder", K)
            assert [f.findtext("k:name", namespaces=K) for f in tfold] == [name]
            vfolds = tfold[0].findall("k:Folder", K)
            assert [f.findtext("k:name", namespaces=K) for f in vfolds] == [
                v.village for v in tp.villages]
            for vf, v in zip(vfolds, tp.villages, strict=True):
                pms = vf.findall("k:Placemark", K)
                assert len(pms) == len(v.cells) + 2  # start, cells, route
                cells = [p for p in pms if p.find("k:MultiGeometry", K) is not None]
                # named by visit number and id, the number of plan.pdf and the ledger
                assert [p.findtext("k:name", namespaces=K) for p in cells] == [
                    f"{c.no:02d} {c.cell_id}" for c in v.cells]
                for p, c in zip(cells, v.cells, strict=True):
                    no, cid = p.findtext("k:name", namespaces=K).split(" ")
                    assert int(no) == c.no
                    parse_cell_id(cid, 100)
                    data = {d.get("name"): d.findtext("k:value", namespaces=K)
                            for d in p.findall("k:ExtendedData/k:Data", K)}
                    assert data["序号"] == str(c.no) and data["网格编号"] == c.cell_id
                    style = p.findtext("k:styleUrl", namespaces=K)
                    assert style == ("#random" if c.reason == "随机抽查" else f"#class{c.cls}")
                    ring = p.find("k:MultiGeometry/k:Polygon/k:outerBoundaryIs/k:LinearRing/"
                                  "k:coordinates", K).text.split()
                    assert len(ring) == 5 and ring[0] == ring[-1]
                    lon, lat, _ = map(float, ring[0].split(","))
                    assert 113 < lon < 114 and 37 < lat < 38
                    desc = p.findtext("k:description", namespaces=K)
                    assert "&lt;b&gt;&amp;&lt;/b&gt;" in desc  # escaped once, as text
                    assert "王&lt;i&gt;" in desc and "<i>" not in desc
                    assert "内部资料" in desc and c.village in desc
                route = pms[-1].find("k:LineString/k:coordinates", K).text.split()
                assert len(route) == len(v.cells) + 2


def test_gpx(plans):
    tps, folder = plans
    for name, tp in tps.items():
        root = ET.parse(folder / f"{name}.gpx").getroot()
        assert root.tag == f"{{{GPX_NS}}}gpx"
        assert root.get("version") == "1.1" and root.get("creator") == "riskmap"
        assert root.find("g:metadata/g:time", G).text.endswith("Z")
        wpts = root.findall("g:wpt", G)
        assert len(wpts) == len(tp.cells) + len(tp.villages)
        for w in wpts:
            lat, lon = float(w.get("lat")), float(w.get("lon"))
            assert -90 <= lat <= 90 and -180 <= lon <= 180
            assert 37 < lat < 38 and 113 < lon < 114
        cell_names = [w.findtext("g:name", namespaces=G) for w in wpts[:len(tp.cells)]]
        assert cell_names == [f"{c.no:02d} {c.cell_id}" for c in tp.cells]
        assert [c.no for c in tp.cells] == list(range(1, len(tp.cells) + 1))
        assert all(n.isascii() and len(n) <= len(c.cell_id) + 1 + max(2, len(str(c.no)))
                   for n, c in zip(cell_names, tp.cells, strict=True))
        starts = [w.findtext("g:name", namespaces=G) for w in wpts[len(tp.cells):]]
        assert all(s[:3].isascii() for s in starts)  # ASCII first: "S01 东一村"
        # schema order inside wpt: name before cmt, desc, sym, type
        tags = [el.tag.split("}")[1] for el in wpts[0]]
        assert tags == ["name", "cmt", "desc", "sym", "type"]
        rtes = root.findall("g:rte", G)
        assert len(rtes) == len(tp.villages)
        for r, v in zip(rtes, tp.villages, strict=True):
            pts = r.findall("g:rtept", G)
            assert len(pts) == len(v.cells) + 2
            assert [p.findtext("g:name", namespaces=G) for p in pts[1:-1]] == [
                c.label for c in v.cells]
        # all waypoints come before the routes (GPX 1.1 sequence)
        kinds = [el.tag.split("}")[1] for el in root]
        assert kinds == ["metadata"] + ["wpt"] * len(wpts) + ["rte"] * len(rtes)


def test_ovital_txt(plans):
    """奥维 TXT: one point a line, 名称 经度 纬度 备注… separated by single spaces, WGS84,
    GB18030 with CRLF; names carry the visit number and the cell id, no spaces in them."""
    tps, folder = plans
    for name, tp in tps.items():
        raw = (folder / f"{name}.txt").read_bytes()
        assert not raw.startswith(b"\xef\xbb\xbf") and raw.endswith(b"\r\n")
        lines = raw.decode("gb18030").split("\r\n")[:-1]
        assert len(lines) == len(tp.cells) + len(tp.villages)
        for line, c in zip(lines, tp.cells, strict=False):
            fields = line.split(" ")
            assert "" not in fields  # one space between fields, none doubled
            assert fields[0] == f"{c.no:02d}_{c.cell_id}"
            lon, lat = float(fields[1]), float(fields[2])
            assert (lon, lat) == pytest.approx((c.lon, c.lat), abs=1e-7)
            assert 113 < lon < 114 and 37 < lat < 38  # WGS84, longitude first
            remark = " ".join(fields[3:])
            assert c.village in remark and c.priority.replace(" ", "_") in remark
            assert f"编号{c.no}" in remark
        starts = lines[len(tp.cells):]
        assert [s.split(" ")[0] for s in starts] == [f"S{i:02d}_{v.village}" for i, v in
                                                    enumerate(tp.villages, start=1)]
        assert all("起点" in s for s in starts)
    # a name with spaces cannot shift the fields: whitespace becomes "_"
    tp = copy.deepcopy(next(iter(tps.values())))
    tp.villages[0].village = "东 一\t村"
    for c in tp.villages[0].cells:
        c.village, c.top_factors = "东 一\t村", "关闭矿井 120 m (+9)"
    lines = ovital_lines(tp)
    first = lines[0].split(" ")
    assert first[0] == f"01_{tp.cells[0].cell_id}" and float(first[1]) == pytest.approx(
        tp.cells[0].lon, abs=1e-7)
    assert "东_一_村" in first and lines[len(tp.cells)].startswith("S01_东_一_村 ")


def test_atomic_file(tmp_path):
    dest = tmp_path / "a.txt"
    dest.write_text("old")
    with pytest.raises(ExportError, match="--overwrite"):
        with atomic_file(dest):
            pass
    with pytest.raises(RuntimeError):
        with atomic_file(dest, overwrite=True) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash while writing")
    assert dest.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]
    with atomic_file(dest, overwrite=True) as tmp:
        tmp.write_text("new")
    assert dest.read_text() == "new" and len(list(tmp_path.iterdir())) == 1


PAYLOAD = '干部<img src=x onerror="window.__pwned=1">'


def test_kml_texts_render_as_text_in_a_browser(tmp_path_factory, chromium):
    """Google Earth and 奥维 render names, descriptions and data values as HTML: markup in a
    cadre's or a village's name must come out as text, never as an element that runs."""
    tiny = Tiny(tmp_path_factory.mktemp("tiny_x"))
    tp = tiny.plan()[0]
    for v in tp.villages:
        v.responsible, v.village = PAYLOAD, v.village + "<script>window.__pwned=2</script>"
        for c in v.cells:
            c.responsible, c.village = PAYLOAD, v.village
    path = tmp_path_factory.mktemp("kmz") / "p.kmz"
    write_kmz(tp, path)
    with zipfile.ZipFile(path) as z:
        root = ET.fromstring(z.read("doc.kml"))
    texts = [el.text for tag in ("name", "description", "value")
             for el in root.iter(f"{{{KML_NS}}}{tag}") if el.text]
    assert any("__pwned" in t for t in texts)  # the payload is there, as text
    ctx = chromium.new_context(offline=True)
    page = ctx.new_page()
    try:
        for t in texts:  # each as the reader renders it: the unescaped KML string as HTML
            page.set_content(f"<html><body><div id=b>{t}</div></body></html>")
            assert page.evaluate("window.__pwned") is None, t
            assert page.evaluate("document.querySelectorAll('#b img, #b script').length") == 0
    finally:
        ctx.close()
    shown = [t for t in texts if "干部" in t]
    assert shown and all("&lt;img" in t for t in shown)
