"""risk.gpkg as QGIS and ArcGIS expect it: GeoPackage 1.2, default styles, Chinese titles.

Read back with GDAL (pyogrio; ``ogrinfo`` where installed, e.g. Debian's GDAL
3.6 that warns on GeoPackage 1.4) and, where Debian's ``python3-qgis`` is
installed, with QGIS's own Python in a subprocess.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import xml.etree.ElementTree as ET
from contextlib import closing
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
import shapely
from tinyproject import CRS, X0, Y0, make_project

from riskmap.marks import CLASS_COLOURS, CLASS_NAMES

SLD = "{http://www.opengis.net/sld}"


@pytest.fixture(scope="module")
def gpkg(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("gpkg")
    proj = make_project(d)
    r = subprocess.run([sys.executable, "-m", "riskmap", "build", str(proj), "-q",
                        "--township", "东镇"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return d / "out" / "东镇" / "risk.gpkg"


def _rows(path, sql, args=()):
    with closing(sqlite3.connect(path)) as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute(sql, args)]


def test_geopackage_1_2(gpkg):
    with closing(sqlite3.connect(gpkg)) as db:
        assert db.execute("PRAGMA application_id").fetchone()[0] == 0x47504B47  # "GPKG"
        assert db.execute("PRAGMA user_version").fetchone()[0] == 10200
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


@pytest.mark.skipif(not shutil.which("ogrinfo"), reason="ogrinfo (gdal-bin) not installed")
def test_ogrinfo_opens_without_a_warning(gpkg):
    r = subprocess.run(["ogrinfo", "-so", "-al", str(gpkg)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "Warning" not in r.stderr + r.stdout and "ERROR" not in r.stderr
    assert "domain name=riskmap_class" in r.stdout  # the class column's coded domain


def test_every_layer_has_a_default_style(gpkg):
    layers = {name for name, _ in pyogrio.list_layers(gpkg)}
    styles = _rows(gpkg, "SELECT * FROM layer_styles")
    spatial = {n for n in layers if pyogrio.read_info(gpkg, layer=n)["geometry_type"]}
    assert {s["f_table_name"] for s in styles} == spatial
    assert {"cells", "zones", "input_townships", "input_mines"} <= spatial
    for s in styles:
        info = pyogrio.read_info(gpkg, layer=s["f_table_name"])
        # what QGIS filters on when it looks for a layer's default style
        assert s["f_table_schema"] == "" and s["f_geometry_column"] == info["geometry_name"]
        assert s["useAsDefault"] == 1 and s["styleName"]
        qml = ET.fromstring(s["styleQML"].split("\n", 1)[1])  # after the DOCTYPE line
        assert qml.tag == "qgis" and qml.find("renderer-v2") is not None
        sld = ET.fromstring(s["styleSLD"].encode("utf-8"))
        assert sld.tag == f"{SLD}StyledLayerDescriptor"
    # no style row is left without its layer (QGIS lists them per layer)
    info = pyogrio.read_info(gpkg, layer="layer_styles")
    assert info["fid_column"] == "id" and info["geometry_type"] is None


def test_cells_style_uses_the_map_colours(gpkg):
    (s,) = _rows(gpkg, "SELECT * FROM layer_styles WHERE f_table_name = 'cells'")
    qml = ET.fromstring(s["styleQML"].split("\n", 1)[1])
    r = qml.find("renderer-v2")
    assert r.get("type") == "categorizedSymbol" and r.get("attr") == "class"
    cats = {c.get("value"): (c.get("label"), c.get("symbol")) for c in r.iter("category")}
    assert set(cats) == {"1", "2", "3", "4", "5"}
    for value, (label, sym) in cats.items():
        assert label == CLASS_NAMES[int(value)]
        symbol = r.find(f"symbols/symbol[@name='{sym}']")
        colour = symbol.find("layer/Option/Option[@name='color']").get("value")
        hexc = CLASS_COLOURS[int(value)]
        assert colour.split(",")[:3] == [str(int(hexc[i:i + 2], 16)) for i in (1, 3, 5)]
        assert symbol.find("layer/prop[@k='color']").get("v") == colour  # QGIS < 3.26 form
    aliases = {a.get("field"): a.get("name") for a in qml.iter("alias")}
    assert aliases["score"] == "风险分" and aliases["c_mines"] == "贡献: 关闭矿井"
    sld = ET.fromstring(s["styleSLD"].encode("utf-8"))
    fills = [p.text for p in sld.iter(f"{SLD}CssParameter") if p.get("name") == "fill"]
    assert fills == [CLASS_COLOURS[c] for c in range(5, 0, -1)]


def test_chinese_column_titles(gpkg):
    ext = _rows(gpkg, "SELECT * FROM gpkg_extensions WHERE extension_name = 'gpkg_schema'")
    assert {e["table_name"] for e in ext} == {"gpkg_data_columns",
                                               "gpkg_data_column_constraints"}
    rows = _rows(gpkg, "SELECT * FROM gpkg_data_columns")
    by = {(r["table_name"], r["column_name"]): r for r in rows}
    assert by["cells", "score"]["title"] == "风险分"
    assert by["cells", "c_mines"]["title"] == "贡献: 关闭矿井"
    assert by["cells", "v_mines"]["title"] == "距离: 关闭矿井"
    assert by["cells", "x"]["title"] == "中心东坐标 E"
    assert by["cells", "y"]["title"] == "中心北坐标 N"
    assert by["zones", "max_score"]["title"] == "最高风险分"
    assert by["cells", "class"]["constraint_name"] == "riskmap_class"
    for (table, col), r in by.items():  # every title names a real column, once per table
        assert col in pyogrio.read_info(gpkg, layer=table)["fields"], (table, col)
        assert r["name"] and r["description"]
    for table in {t for t, _ in by}:
        names = [r["name"] for (t, _), r in by.items() if t == table]
        assert len(names) == len(set(names))
    cells = pyogrio.read_info(gpkg, layer="cells")["fields"]
    assert {c for c in cells if c.startswith(("c_", "v_"))} <= {c for t, c in by if t == "cells"}
    enum = _rows(gpkg, "SELECT value, description FROM gpkg_data_column_constraints")
    assert {e["value"]: e["description"] for e in enum} == {str(c): CLASS_NAMES[c]
                                                             for c in range(1, 6)}


def test_layer_titles_in_contents(gpkg):
    ids = {r["table_name"]: r["identifier"] for r in _rows(gpkg, "SELECT * FROM gpkg_contents")}
    assert ids["cells"] == "巡查网格 (patrol cells)"
    assert ids["input_mines"] == "关闭矿井"


def test_one_layer_files_are_1_2(tmp_path):
    from riskmap.export.gpkg import write_layer

    gdf = gpd.GeoDataFrame({"name": ["r1"]}, geometry=[shapely.box(X0, Y0, X0 + 9, Y0 + 9)],
                           crs=CRS)
    path = write_layer(gdf, tmp_path / "r.gpkg", layer="mining_rights")
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 10200


QGIS_PROBE = r"""
import json, os, sys
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from qgis.core import QgsApplication, QgsVectorLayer
app = QgsApplication([], False)
app.initQgis()
out = {}
for name in sys.argv[2:]:
    lyr = QgsVectorLayer(sys.argv[1] + "|layername=" + name, name, "ogr")
    r = lyr.renderer()
    fields = lyr.fields()
    out[name] = {
        "valid": lyr.isValid(), "renderer": r.type(),
        "categories": [[c.value(), c.label(), c.symbol().color().name()]
                       for c in r.categories()] if r.type() == "categorizedSymbol" else [],
        "aliases": {f.name(): lyr.attributeAlias(i) for i, f in enumerate(fields)},
        "labels": lyr.labelsEnabled(),
        "class_widget": lyr.editorWidgetSetup(fields.indexOf("class")).type()
                        if "class" in fields.names() else None,
    }
print(json.dumps(out, ensure_ascii=False), flush=True)
os._exit(0)  # QGIS 3.22 may crash tearing down at exit; the answer is out
"""


def _qgis_python() -> str | None:
    """An interpreter that imports QGIS's Python (Debian: /usr/bin/python3)."""
    for exe in dict.fromkeys([sys.executable, "/usr/bin/python3", shutil.which("python3")]):
        if exe and Path(exe).exists():
            r = subprocess.run([exe, "-c", "import qgis.core"], capture_output=True)
            if r.returncode == 0:
                return exe
    return None


def test_qgis_opens_the_styled_layers(gpkg):
    exe = _qgis_python()
    if exe is None:
        pytest.skip("QGIS's Python (apt-get install python3-qgis) cannot be imported")
    r = subprocess.run([exe, "-c", QGIS_PROBE, str(gpkg), "cells", "zones", "input_townships",
                        "input_mines"], capture_output=True, text=True, timeout=120,
                       env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin",
                            "HOME": str(gpkg.parent)})
    assert r.returncode == 0, r.stderr
    seen = json.loads(r.stdout.strip().splitlines()[-1])
    cells = seen["cells"]
    assert cells["valid"] and cells["renderer"] == "categorizedSymbol"
    assert cells["categories"] == [[str(c), CLASS_NAMES[c], CLASS_COLOURS[c]]
                                   for c in range(5, 0, -1)]
    assert cells["aliases"]["score"] == "风险分" and cells["aliases"]["c_mines"] == "贡献: 关闭矿井"
    assert cells["class_widget"] == "ValueMap"
    assert seen["zones"]["labels"] and seen["input_townships"]["labels"]
    assert seen["input_mines"]["renderer"] == "singleSymbol"
    assert seen["input_mines"]["aliases"]["name"] == "名称"
