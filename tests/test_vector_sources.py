"""Vector layers as counties deliver them (issue 13): encodings, filters, several sources, borders.

Every fixture is built in code; each class is also checked on county B in
``tests/test_county_b_inputs.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import warnings

import geopandas as gpd
import numpy as np
import pytest
import shapely
import yaml

from riskmap.errors import LayerError, ProjectFileError, RiskmapWarning
from riskmap.load.layers import read_source
from riskmap.load.project import Source, read_project
from riskmap.load.sources.base import as_text

CRS = "EPSG:4547"
X0, Y0 = 450_000.0, 4_190_000.0
RISKMAP = shutil.which("riskmap")
ENV = {**os.environ, "PYTHONIOENCODING": "utf-8"}


def check_json(path, *args):
    r = subprocess.run([RISKMAP, "check", str(path), "--json", *args], capture_output=True,
                       text=True, env=ENV, timeout=120)
    assert "Traceback" not in r.stderr, r.stderr
    return r.returncode, json.loads(r.stdout)


def read_quiet(src: Source, crs=CRS):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gdf, info = read_source(src, crs)
    return gdf, info, [str(w.message) for w in caught if issubclass(w.category, RiskmapWarning)]


def pits(n=4) -> gpd.GeoDataFrame:
    kinds = ["取缔坑口", "废弃井口", "关闭矿井", "取缔坑口"][:n]
    return gpd.GeoDataFrame(
        {"名称": [f"坑口{i}" for i in range(n)], "类型": kinds, "所在乡镇": ["东镇"] * n},
        geometry=shapely.points([(X0 + 100 + 200 * i, Y0 + 300) for i in range(n)]), crs=CRS)


def gbk_shapefile(folder, name="乡镇", cpg=None, ldid=0):
    """A GBK shapefile with Chinese field names, as GIS desktops on Chinese Windows write it."""
    p = folder / f"{name}.shp"
    pits().to_file(p, encoding="gbk")
    p.with_suffix(".cpg").unlink(missing_ok=True)
    if cpg:
        p.with_suffix(".cpg").write_text(cpg)
    dbf = bytearray(p.with_suffix(".dbf").read_bytes())
    dbf[29] = ldid
    p.with_suffix(".dbf").write_bytes(bytes(dbf))
    return p


# --- 1. GBK shapefiles: field names decoded like the values ---------------------------
def test_gbk_field_names_are_decoded_with_the_values(tmp_path):
    p = gbk_shapefile(tmp_path)
    raw = p.with_suffix(".dbf").read_bytes()
    assert "类型".encode("gbk") in raw and b".cpg" not in raw
    gdf, info, warned = read_quiet(Source(path=p))
    assert {"名称", "类型", "所在乡镇"} <= set(gdf.columns)
    assert list(gdf["类型"])[:2] == ["取缔坑口", "废弃井口"]
    assert info.encoding == "GB18030"
    assert any("no .cpg, no language byte" in w and "a guess" in w for w in warned), warned


def test_no_encoding_hint_is_a_repair_in_check_file(tmp_path):
    rc, rep = check_json(gbk_shapefile(tmp_path))
    assert rc == 1, rep
    f = rep["files"][0]
    assert any("decoded as GB18030, a guess" in m for m in f["repairs"]), f


@pytest.mark.parametrize(("cpg", "ldid"), [("GBK", 0), ("936", 0), (None, 0x4D), (None, 0x57)])
def test_a_hint_that_fits_is_no_repair(tmp_path, cpg, ldid):
    p = gbk_shapefile(tmp_path, cpg=cpg, ldid=ldid)
    gdf, _info, warned = read_quiet(Source(path=p))
    assert "类型" in gdf.columns and not warned
    rc, rep = check_json(p)
    assert rc == 0, rep


def test_a_hint_that_does_not_fit_is_a_repair(tmp_path):
    p = gbk_shapefile(tmp_path, ldid=0x4F)  # the .dbf says Big5, the text is GBK
    gdf, _info, warned = read_quiet(Source(path=p))
    assert "类型" in gdf.columns
    assert any("language byte says CP950" in w for w in warned), warned


def test_project_name_field_in_chinese(tmp_path):
    from riskmap.load.inputs import load_inputs
    from riskmap.pipeline.project import load_project

    towns = gpd.GeoDataFrame({"乡镇名称": ["东镇", "西镇"]}, geometry=[
        shapely.box(X0, Y0, X0 + 1000, Y0 + 1000), shapely.box(X0 + 1000, Y0, X0 + 2000,
                                                               Y0 + 1000)], crs=CRS)
    towns.to_file(tmp_path / "乡镇界.shp", encoding="gbk")
    (tmp_path / "乡镇界.cpg").unlink()
    pits().to_file(tmp_path / "坑口.shp", encoding="gbk")
    (tmp_path / "坑口.cpg").unlink()
    proj = tmp_path / "p.yaml"
    proj.write_text(yaml.safe_dump({
        "crs": CRS, "district": {"source": "乡镇界.shp", "name_field": "乡镇名称"},
        "townships": {"source": "乡镇界.shp", "name_field": "乡镇名称"},
        "factors": [{"name": "pits", "label": "坑口", "kind": "proximity", "range": 300,
                     "weight": 1, "source": {"path": "坑口.shp",
                                             "where": "类型 = '取缔坑口'"}}]},
        allow_unicode=True), encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RiskmapWarning)
        inputs = load_inputs(load_project(proj))
    assert list(inputs.townships["name"]) == ["东镇", "西镇"]
    assert list(inputs.factors["pits"]["名称"]) == ["坑口0", "坑口3"]


# --- 2. where filters on Chinese fields ------------------------------------------------
@pytest.mark.parametrize(("where", "names"), [
    ("类型 = '取缔坑口'", ["坑口0", "坑口3"]),
    ("类型 = '取缔坑口' OR 类型 = '废弃井口'", ["坑口0", "坑口1", "坑口3"]),
    ("类型 IN ('关闭矿井', '废弃井口')", ["坑口1", "坑口2"]),
    ("\"类型\" = '关闭矿井'", ["坑口2"]),
    ("类型='关闭矿井' AND 名称 LIKE '坑口%'", ["坑口2"]),
    ("类型 <> '取缔坑口'", ["坑口1", "坑口2"]),
])
@pytest.mark.parametrize("fmt", ["geojson", "shp", "gpkg", "csv"])
def test_where_on_chinese_fields(tmp_path, where, names, fmt):
    g = pits()
    if fmt == "csv":
        p = tmp_path / "pits.csv"
        lonlat = g.to_crs(4326)
        lonlat.assign(经度=lonlat.geometry.x, 纬度=lonlat.geometry.y).drop(
            columns="geometry").to_csv(p, index=False, encoding="utf-8-sig")
    elif fmt == "shp":
        p = gbk_shapefile(tmp_path)
    else:
        p = tmp_path / f"pits.{fmt}"
        g.to_file(p, driver="GeoJSON" if fmt == "geojson" else "GPKG")
    gdf, info, _ = read_quiet(Source(path=p, where=where))
    assert list(gdf["名称"]) == names
    assert info.features == len(names)
    assert any(f"{len(names)} of 4 features kept" in n for n in info.notes)


def test_mapping_filter_in_the_project_file(tmp_path, project_dict, write_project, gpkg):
    pits().to_file(tmp_path / "pits.geojson", driver="GeoJSON")
    project_dict["factors"][0]["source"] = {"path": "pits.geojson",
                                            "where": {"类型": ["取缔坑口", "废弃井口"]}}
    project_dict["factors"].append({"name": "one", "label": "x", "kind": "proximity",
                                    "range": 100, "weight": 1, "source": {
                                        "path": "pits.geojson", "where": {"类型": "关闭矿井",
                                                                          "所在乡镇": "东镇"}}})
    proj = read_project(write_project(project_dict))
    src = proj.factors[0].source
    assert src.where == "\"类型\" IN ('取缔坑口', '废弃井口')"
    assert proj.factors[1].source.where == "\"类型\" = '关闭矿井' AND \"所在乡镇\" = '东镇'"
    gdf, _, _ = read_quiet(src)
    assert list(gdf["名称"]) == ["坑口0", "坑口1", "坑口3"]
    gdf, _, _ = read_quiet(proj.factors[1].source)
    assert list(gdf["名称"]) == ["坑口2"]


@pytest.mark.parametrize("bad", [{}, {"类型": []}, {"类型": {"a": 1}}, 5, ""])
def test_bad_mapping_filter_names_the_key(project_dict, write_project, bad):
    project_dict["factors"][0]["source"] = {"path": "layers.gpkg:mines", "where": bad}
    with pytest.raises(ProjectFileError, match=r"factors\[0\] \(mines\)\.source\.where"):
        read_project(write_project(project_dict))


def test_bad_where_prints_text_and_the_fields(tmp_path):
    p = tmp_path / "关闭矿井.geojson"
    pits().to_file(p, driver="GeoJSON")
    with pytest.raises(LayerError) as e:
        read_source(Source(path=p, where="类别 = '取缔坑口'"), CRS)
    msg = str(e.value)
    assert "关闭矿井.geojson" in msg and "类别" in msg and "\\x" not in msg
    assert "fields: 名称, 类型, 所在乡镇" in msg and "invalid 'where' filter" in msg
    with pytest.raises(LayerError, match="invalid 'where' filter"):
        read_source(Source(path=p, where="类型 = = 'x'"), CRS)


def test_gdal_bytes_repr_becomes_text():
    raw = ("Invalid SQL query for layer 'b'\\xe5\\x85\\xb3\\xe9\\x97\\xad\\xe7\\x9f\\xbf\\xe4"
           "\\xba\\x95'': '类型 = 1'")
    assert as_text(raw) == "Invalid SQL query for layer '关闭矿井': '类型 = 1'"
    assert as_text("a b'c' d kb'x'") == "a c d kb'x'"


def test_chinese_geopackage_layer_name(tmp_path, project_dict, write_project):
    pits().to_file(tmp_path / "场所.gpkg", layer="场所")
    project_dict["factors"][0]["source"] = "场所.gpkg:场所"
    src = read_project(write_project(project_dict)).factors[0].source
    assert (src.path.name, src.layer) == ("场所.gpkg", "场所")
    gdf, info, _ = read_quiet(src)
    assert len(gdf) == 4 and info.format == "GPKG"
    with pytest.raises(LayerError, match=r"没有图层 '场地'.*layers in the file: 场所"):
        read_source(Source(path=tmp_path / "场所.gpkg", layer="场地"), CRS)


# --- 3. one factor, several sources ----------------------------------------------------
def two_sources(folder):
    """Premises in a GeoPackage and more in an AMap export (GCJ-02 lon/lat, UTF-8 BOM)."""
    from pyproj import Transformer

    from riskmap.crs import china

    g = gpd.GeoDataFrame({"名称": ["甲厂", "乙场"], "类型": ["闲置厂房", "养殖场"]},
                         geometry=shapely.points([(X0 + 300, Y0 + 300), (X0 + 700, Y0 + 700)]),
                         crs=CRS)
    g.to_file(folder / "场所.gpkg", layer="场所")
    lon, lat = Transformer.from_crs(CRS, 4326, always_xy=True).transform(
        [X0 + 1500, X0 + 1700], [Y0 + 1500, Y0 + 300])
    glon, glat = china.wgs84_to_gcj02(np.array(lon), np.array(lat))
    (folder / "高德.csv").write_text(
        "名称,类型,经度,纬度,电话\n" + "".join(
            f"丙{i},闲置厂房,{a:.9f},{b:.9f},1200000000{i}\n"
            for i, (a, b) in enumerate(zip(glon, glat, strict=True))), encoding="utf-8-sig")
    return [X0 + 300, X0 + 700, X0 + 1500, X0 + 1700], [Y0 + 300, Y0 + 700, Y0 + 1500, Y0 + 300]


def premises_project(folder, **factor):
    from tinyproject import project_dict as tiny_dict
    from tinyproject import write_layers

    write_layers(folder)
    d = tiny_dict()
    d["factors"] = [{"name": "premises", "label": "掩护场所", "kind": "typed",
                     "type_field": "类型", "method": "proximity", "range": 300,
                     "types": {"闲置厂房": 1.0, "养殖场": 0.8}, "weight": 20,
                     "source": ["场所.gpkg:场所", {"path": "高德.csv", "crs": "GCJ02"}],
                     **factor}, d["factors"][0]]
    path = folder / "project.yaml"
    path.write_text(yaml.safe_dump(d, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def test_several_sources_read_as_one_layer(tmp_path):
    from riskmap.load.inputs import load_inputs
    from riskmap.pipeline.project import load_project

    xs, ys = two_sources(tmp_path)
    project = load_project(premises_project(tmp_path))
    src = project.factors[0].source
    assert [p.path.name for p in src.parts] == ["场所.gpkg", "高德.csv"]
    assert src.parts[1].crs == "GCJ02" and src.parts[0].layer == "场所"
    assert str(src).endswith("(图层 场所) + " + str(tmp_path / "高德.csv"))
    inputs = load_inputs(project)
    gdf = inputs.factors["premises"]
    assert list(gdf["source_file"]) == ["场所.gpkg:场所"] * 2 + ["高德.csv"] * 2
    assert list(gdf["名称"]) == ["甲厂", "乙场", "丙0", "丙1"]
    assert "电话" not in gdf.columns  # personal columns dropped from every source
    np.testing.assert_allclose(gdf.geometry.x, xs, atol=0.5)  # GCJ-02 shifted back
    np.testing.assert_allclose(gdf.geometry.y, ys, atol=0.5)
    assert {"场所.gpkg", "高德.csv"} <= set(inputs.hashes)


def test_several_sources_in_check_build_and_summary(tmp_path):
    two_sources(tmp_path)
    proj = premises_project(tmp_path)
    r = subprocess.run([RISKMAP, "check", str(proj)], capture_output=True, text=True, env=ENV,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert "factor premises (掩护场所) [1/2]" in r.stdout
    assert "factor premises (掩护场所) [2/2]" in r.stdout
    assert "读取 2 个来源 (sources read together): 场所.gpkg:场所: 2 features; 高德.csv: 2" \
        in r.stdout
    out = tmp_path / "out"
    r = subprocess.run([RISKMAP, "build", str(proj), "-q", "--out", str(out)],
                       capture_output=True, text=True, env=ENV, timeout=300)
    assert r.returncode == 0, r.stderr
    s = json.loads((out / "全区" / "summary.json").read_text(encoding="utf-8"))
    assert {"场所.gpkg", "高德.csv"} <= set(s["inputs"])
    import pyogrio

    layer = pyogrio.read_dataframe(out / "全区" / "risk.gpkg", layer="input_premises")
    assert sorted(set(layer["source_file"])) == ["场所.gpkg:场所", "高德.csv"]


def test_several_sources_rebased_by_calibrate_write(tmp_path):
    from riskmap.load.project import rebase_paths

    raw = {"factors": [{"source": ["a.gpkg:x", {"path": "b.csv", "crs": "GCJ02"}]}]}
    rebase_paths(raw, tmp_path, tmp_path / "sub")
    assert raw["factors"][0]["source"] == ["../a.gpkg:x", {"path": "../b.csv", "crs": "GCJ02"}]


def test_empty_source_list_is_refused(project_dict, write_project):
    project_dict["factors"][0]["source"] = []
    with pytest.raises(ProjectFileError, match=r"source: an empty list"):
        read_project(write_project(project_dict))


# --- 4. border lines from neighbour polygons --------------------------------------------
def neighbours(folder):
    """东县 shares the east edge (2 km), 北县 lies 40 m off (a gap), 远县 is 9 km away."""
    gpd.GeoDataFrame(
        {"县名": ["东县", "北县", "远县"]},
        geometry=[shapely.box(X0 + 2000, Y0 - 500, X0 + 5000, Y0 + 2500),
                  shapely.box(X0 - 300, Y0 + 2040, X0 + 1200, Y0 + 4000),
                  shapely.box(X0 + 9000, Y0 + 9000, X0 + 9500, Y0 + 9500)],
        crs=CRS).to_file(folder / "相邻县界.shp", encoding="gbk")
    (folder / "相邻县界.cpg").unlink()


def border_project(folder, source):
    from tinyproject import project_dict as tiny_dict
    from tinyproject import write_layers

    write_layers(folder)
    neighbours(folder)
    d = tiny_dict()
    d["factors"] = [d["factors"][0], {"name": "border", "label": "县界", "kind": "proximity",
                                      "range": 500, "decay": "linear", "weight": 10,
                                      "source": source}]
    path = folder / "project.yaml"
    path.write_text(yaml.safe_dump(d, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def test_shared_boundary_becomes_lines(tmp_path):
    from riskmap.load.inputs import load_inputs
    from riskmap.pipeline.project import load_project

    proj = load_project(border_project(tmp_path, {"path": "相邻县界.shp",
                                                  "shared_boundary": True}))
    assert proj.factors[1].source.shared_boundary == 100.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RiskmapWarning)
        inputs = load_inputs(proj)
    lines = inputs.factors["border"]
    assert list(lines["县名"]) == ["东县", "北县"]  # 远县 shares nothing
    assert set(lines.geom_type) <= {"LineString", "MultiLineString"}
    # the true border, plus at most the tolerance where the boundary turns away at a corner
    length = lines.length.to_numpy()
    assert (length >= [2000, 1200]).all() and (length <= [2200, 1400]).all(), length
    assert list(lines["border_km"]) == pytest.approx(length / 1000, abs=1e-3)
    east = lines.geometry.values[0]
    edge = shapely.LineString([(X0 + 2000, Y0), (X0 + 2000, Y0 + 2000)])
    assert east.buffer(1e-6).covers(edge) and shapely.hausdorff_distance(east, edge) <= 100


def test_shared_boundary_with_where_and_tolerance(tmp_path):
    from riskmap.load.inputs import load_inputs
    from riskmap.pipeline.project import load_project

    proj = load_project(border_project(tmp_path, {"path": "相邻县界.shp", "where": "县名 = '北县'",
                                                  "shared_boundary": 30}))
    with pytest.raises(LayerError, match=r"none of the 1 polygon.*within 30 m"):
        load_inputs(proj)  # the 40 m gap is beyond a 30 m tolerance


def test_shared_boundary_in_check_and_in_the_score(tmp_path):
    from riskmap.load.diagnose import check_project
    from riskmap.pipeline.project import load_project
    from riskmap.score.engine import compute

    proj = load_project(border_project(tmp_path, {"path": "相邻县界.shp", "where": {"县名": "东县"},
                                                  "shared_boundary": True}))
    rows, problems = check_project(proj)
    assert problems == []
    row = next(r for r in rows if r.role.startswith("factor border"))
    assert row.geom_types == "LineString" and row.features == 1
    assert row.extent == "100% 在区内"
    assert any("共同边界 (shared boundary with the district, tolerance 100 m): 东县 2.2 km" in n
               for n in row.notes), row.notes
    from riskmap.load.inputs import load_inputs

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RiskmapWarning)
        s = compute(proj, load_inputs(proj))
    v = s.factors["border"].value.reshape(s.grid.shape)
    assert v[:, -1].min() > 0.9 and v[:, 0].max() == 0  # high at the east edge only


def test_shared_boundary_needs_polygons(tmp_path):
    from riskmap.load.inputs import load_inputs
    from riskmap.pipeline.project import load_project

    proj = load_project(border_project(tmp_path, {"path": "tiny.gpkg:outcrops",
                                                  "shared_boundary": True}))
    with pytest.raises(LayerError, match="shared_boundary needs polygons"):
        load_inputs(proj)


@pytest.mark.parametrize("bad", ["yes", -5, [1]])
def test_bad_shared_boundary_names_the_key(project_dict, write_project, bad):
    project_dict["factors"][0]["source"] = {"path": "layers.gpkg:mines", "shared_boundary": bad}
    with pytest.raises(ProjectFileError, match=r"source\.shared_boundary"):
        read_project(write_project(project_dict))


def test_a_table_beside_the_layer_is_not_a_layer(tmp_path):
    import pandas as pd
    import pyogrio

    p = tmp_path / "out.gpkg"
    pits().to_file(p, layer="pits")
    pyogrio.write_dataframe(pd.DataFrame({"key": ["a"], "value": ["b"]}), p, layer="metadata")
    gdf, _info, _ = read_quiet(Source(path=p))  # the one layer with geometries
    assert len(gdf) == 4
    with pytest.raises(LayerError, match=r"没有几何 \(layer 'metadata' is a table"):
        read_source(Source(path=p, layer="metadata"), CRS)
    rc, rep = check_json(p)
    assert rc == 0 and [f["layer"] for f in rep["files"]] == [None], rep
