"""The project-level input checks (issue 13): empty layers, far features, villages, shares, repeats.

Fixtures are built in code (the tiny project of ``tinyproject.py`` and layers
next to it); county B is checked in ``tests/test_county_b_inputs.py``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import warnings

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
from pyproj import Transformer
from tinyproject import CRS, X0, Y0, make_project

from riskmap.errors import LayerError, RiskmapWarning
from riskmap.load.diagnose import check_project
from riskmap.load.inputs import load_inputs
from riskmap.load.layers import read_source
from riskmap.load.project import Source
from riskmap.pipeline.project import load_project

RISKMAP = shutil.which("riskmap")
ENV = {**os.environ, "PYTHONIOENCODING": "utf-8"}


def run(*args, timeout=300):
    r = subprocess.run([RISKMAP, *map(str, args)], capture_output=True, text=True, env=ENV,
                       timeout=timeout)
    assert "Traceback" not in r.stderr, r.stderr
    return r


def load(path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        inputs = load_inputs(load_project(path))
    return inputs, [str(w.message) for w in caught if issubclass(w.category, RiskmapWarning)]


def extra(folder, layer, gdf):
    gdf.to_file(folder / "extra.gpkg", layer=layer)
    return f"extra.gpkg:{layer}"


# --- an empty layer: a warning, and the build carries on --------------------------------
def _empty(folder):
    gpd.GeoDataFrame({"a": np.array([], dtype=int)}, geometry=gpd.GeoSeries([], crs=CRS)).to_file(
        folder / "extra.gpkg", layer="empty", geometry_type="Point")
    return "extra.gpkg:empty"


@pytest.mark.parametrize("kind", ["proximity", "density"])
def test_empty_factor_layer_is_a_warning_and_zero(tmp_path, kind):
    from riskmap.score.engine import compute

    def edit(d):
        f = next(f for f in d["factors"] if f["kind"] == kind)
        f["source"] = _empty(tmp_path)

    proj = make_project(tmp_path, edit)
    name = "mines" if kind == "proximity" else "mine_density"
    inputs, warned = load(proj)
    assert len(inputs.factors[name]) == 0
    assert any("图层为空 (the layer has no features): the factor is zero everywhere" in w
               for w in warned), warned
    s = compute(load_project(proj), inputs)
    assert float(np.nanmax(s.factors[name].value)) == 0.0
    assert np.isfinite(s.p_score[s.p_area]).all()


def test_empty_layer_in_check_and_build(tmp_path):
    proj = make_project(tmp_path, lambda d: d["factors"][0].update(source=_empty(tmp_path)))
    r = run("check", proj)
    assert r.returncode == 0, r.stderr
    assert "factor mines: 图层为空 (no features): 该因子处处为 0 (the factor is zero everywhere)" \
        in r.stdout
    r = run("build", proj, "-q", "--township", "东镇")
    assert r.returncode == 0, r.stderr
    assert "图层为空" in r.stderr
    assert (tmp_path / "out" / "东镇" / "map.html").is_file()


def test_where_that_keeps_nothing_is_an_empty_layer(tmp_path):
    proj = make_project(tmp_path, lambda d: d["factors"][0].update(
        source={"path": "tiny.gpkg:mines", "where": "type = '没有'"}))
    inputs, warned = load(proj)
    assert len(inputs.factors["mines"]) == 0
    assert any("that the 'where' filter \"type = '没有'\" keeps" in w for w in warned), warned


def test_empty_area_layer_still_stops(tmp_path):
    def edit(d):
        gpd.GeoDataFrame({"name": np.array([], dtype=str)},
                         geometry=gpd.GeoSeries([], crs=CRS)).to_file(
            tmp_path / "extra.gpkg", layer="towns", geometry_type="Polygon")
        d["townships"]["source"] = "extra.gpkg:towns"

    proj = make_project(tmp_path, edit)
    with pytest.raises(LayerError, match=r"图层为空 .*townships layer has no features"):
        load(proj)
    _rows, problems = check_project(load_project(proj))
    assert any("townships layer has no features" in p for p in problems), problems


def test_read_source_still_refuses_empty_by_default(tmp_path):
    _empty(tmp_path)
    with pytest.raises(LayerError, match="no features"):
        read_source(Source(path=tmp_path / "extra.gpkg", layer="empty"), CRS)
    with pytest.warns(RiskmapWarning, match="no features"):
        gdf, info = read_source(Source(path=tmp_path / "extra.gpkg", layer="empty"), CRS,
                                allow_empty=True)
    assert len(gdf) == 0 and gdf.crs.to_epsg() == 4547 and info.features == 0


# --- features far outside: left out and named; extents from the district ------------------
def far_point(folder):
    # 后山坑口 is 1° of longitude off (a typo: 112.x for 113.x), ~90 km west
    g = gpd.GeoDataFrame({"名称": ["甲坑口", "乙坑口", "后山坑口"], "类型": ["取缔坑口"] * 3},
                         geometry=shapely.points([(X0 + 400, Y0 + 400), (X0 + 1500, Y0 + 1500),
                                                  (X0 - 88_000, Y0 + 1000)]), crs=CRS)
    g.to_crs(4326).to_file(folder / "坑口.geojson", driver="GeoJSON")
    return "坑口.geojson"


def test_far_features_are_left_out_and_named(tmp_path):
    proj = make_project(tmp_path, lambda d: d["factors"][0].update(source=far_point(tmp_path)))
    inputs, warned = load(proj)
    assert list(inputs.factors["mines"]["名称"]) == ["甲坑口", "乙坑口"]
    msg = next(w for w in warned if "outside the district" in w)
    assert "1 of 3 features (33%) lie far outside the district (more than 5 km beyond the " \
           "factor's 600 m reach): rows 3 后山坑口" in msg
    assert "left out of the factor and the maps" in msg
    lon = float(re.search(r"lon/lat (\d+\.\d+)", msg).group(1))
    assert 112 < lon < 113


def test_just_beyond_reach_is_named_and_changes_nothing(tmp_path):
    def edit(d):
        near = gpd.GeoDataFrame({"name": ["a", "b", "c"]}, geometry=shapely.points(
            [(X0 + 500, Y0 + 500), (X0 + 1500, Y0 + 900), (X0 + 3000, Y0 + 1000)]), crs=CRS)
        d["factors"][0]["source"] = extra(tmp_path, "near", near)

    inputs, warned = load(make_project(tmp_path, edit))
    assert any("1 of 3 features (33%) lie outside the district and beyond the factor's reach "
               "(600 m): rows 3 c" in w and "(ignored: they change no cell)" in w for w in warned)
    assert len(inputs.factors["mines"]) == 3


def test_mostly_outside_is_refused_unless_allowed(tmp_path):
    def edit(d):
        far = gpd.GeoDataFrame({"name": ["a", "b", "c"]}, geometry=shapely.points(
            [(X0 + 500, Y0 + 500), (X0 + 60_000, Y0), (X0 + 70_000, Y0)]), crs=CRS)
        d["factors"][0]["source"] = extra(tmp_path, "far", far)

    proj = make_project(tmp_path, edit)
    with pytest.raises(LayerError, match=r"2 of 3 features \(67%\).*rows 2 b, 3 c.*allow_outside"):
        load(proj)
    import yaml

    d = yaml.safe_load(proj.read_text(encoding="utf-8"))
    d["factors"][0]["source"] = {"path": "extra.gpkg:far", "allow_outside": True}
    proj.write_text(yaml.safe_dump(d, allow_unicode=True), encoding="utf-8")
    inputs, _ = load(proj)
    assert list(inputs.factors["mines"]["name"]) == ["a"]


def test_map_and_outputs_keep_the_district_extent(tmp_path):
    proj = make_project(tmp_path, lambda d: d["factors"][0].update(source=far_point(tmp_path)))
    r = run("build", proj, "-q")
    assert r.returncode == 0, r.stderr
    assert "后山坑口" in r.stderr  # the warning names it
    out = tmp_path / "out" / "全区"
    to_lonlat = Transformer.from_crs(CRS, 4326, always_xy=True)
    lon0, lat0 = to_lonlat.transform(X0 - 200, Y0 - 200)
    lon1, lat1 = to_lonlat.transform(X0 + 2200, Y0 + 2200)
    page = (out / "map.html").read_text(encoding="utf-8")
    data = json.loads(re.search(r'"overlay":\{"png":"[^"]*","bounds":(\[\[[^\]]*\],\[[^\]]*\]\])',
                                page).group(1))
    (s, w), (n, e) = data
    assert lon0 <= w < e <= lon1 and lat0 <= s < n <= lat1, data
    assert "后山坑口" not in page
    import rasterio

    with rasterio.open(out / "risk.tif") as tif:
        b = tif.bounds
    assert X0 - 100 <= b.left and b.right <= X0 + 2100 and Y0 - 100 <= b.bottom
    for layer, _ in pyogrio.list_layers(out / "risk.gpkg"):
        info = pyogrio.read_info(out / "risk.gpkg", layer=layer)
        if info["features"] and info["geometry_type"]:
            x0, y0, x1, y1 = info["total_bounds"]
            assert X0 - 700 <= x0 and x1 <= X0 + 2700 and Y0 - 700 <= y0 and y1 <= Y0 + 2700, \
                (layer, info["total_bounds"])


# --- KML from a phone app ------------------------------------------------------------------
KML = """<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2"><Document><name>外业</name>
<Folder><name>外业标注</name>
 <Folder><name>煤层露头</name>
  <Placemark><name>露头1</name>
   <LineString><coordinates>{a} {b}</coordinates></LineString></Placemark>
 </Folder>
 <Folder><name>其他</name>
  <Placemark><name>未命名路线</name><LineString><coordinates></coordinates></LineString></Placemark>
  <Placemark><name>露头2</name>
   <LineString><coordinates>{c} {b}</coordinates></LineString></Placemark>
 </Folder>
</Folder></Document></kml>"""


def test_kml_every_folder_read_empty_placemark_named(tmp_path):
    t = Transformer.from_crs(CRS, 4326, always_xy=True)
    pts = [",".join(f"{v:.6f}" for v in t.transform(X0 + dx, Y0 + dy))
           for dx, dy in ((200, 200), (900, 300), (1100, 1200), (1800, 1700))]
    p = tmp_path / "露头.kml"
    p.write_text(KML.format(a=pts[0], b=pts[1], c=pts[2]), encoding="utf-8")
    with pytest.warns(RiskmapWarning, match=r"skipped 1 feature\(s\) without geometry .*rows \d+ "
                                            r"其他/未命名路线"):
        gdf, _info = read_source(Source(path=p), CRS)
    assert sorted(gdf["Name"]) == ["露头1", "露头2"]
    assert {"煤层露头", "其他"} <= set(gdf["folder"])


# --- GK geometry with swapped axes -----------------------------------------------------------
def swapped(folder, prj=True):
    pts = [(Y0 + 500, X0 + 500), (Y0 + 1500, X0 + 1200)]  # x = northing, y = easting
    g = gpd.GeoDataFrame({"名称": ["甲", "乙"]}, geometry=shapely.points(pts), crs=CRS)
    p = folder / "swapped.shp"
    g.to_file(p, encoding="utf-8")
    if not prj:
        p.with_suffix(".prj").unlink()
    return p


def test_no_prj_names_what_the_numbers_look_like(tmp_path):
    with pytest.raises(LayerError, match=r"no CRS.*look like Gauss-Krüger metres with x ≈ "
                                         r"4,191,000 the northing: axes swapped"):
        read_source(Source(path=swapped(tmp_path, prj=False)), CRS)


@pytest.mark.parametrize("prj", [True, False])
def test_swapped_gk_axes_are_detected_and_repaired(tmp_path, prj):
    p = swapped(tmp_path, prj)
    src = Source(path=p) if prj else Source(path=p, crs=CRS)
    with pytest.warns(RiskmapWarning, match=r"坐标轴颠倒 \(x holds northings, y eastings — axes "
                                            r"swapped\): every feature; swapped back"):
        gdf, info = read_source(src, CRS)
    assert list(gdf.geometry.x) == [X0 + 500, X0 + 1200]
    assert list(gdf.geometry.y) == [Y0 + 500, Y0 + 1500]
    assert any("x/y swapped" in d for d in info.detected)


def test_swapped_axes_in_check_file_and_one_feature_only(tmp_path):
    rep = json.loads(run("check", swapped(tmp_path), "--json").stdout)
    f = rep["files"][0]
    assert f["status"] == 1 and any("坐标轴颠倒" in m for m in f["repairs"]), f
    # one feature written the wrong way round among right ones is named
    g = gpd.GeoDataFrame({"名称": ["甲", "乙", "丙"]}, geometry=shapely.points(
        [(X0 + 500, Y0 + 500), (Y0 + 1500, X0 + 1200), (X0 + 900, Y0 + 100)]), crs=CRS)
    g.to_file(tmp_path / "one.gpkg")
    with pytest.warns(RiskmapWarning, match=r"1 of 3 features, rows 2 乙"):
        gdf, _ = read_source(Source(path=tmp_path / "one.gpkg"), CRS)
    assert gdf.geometry.x[1] == X0 + 1200


def test_right_axes_are_left_alone(tmp_path):
    g = gpd.GeoDataFrame({"n": [1]}, geometry=[shapely.Point(X0, Y0)], crs=CRS)
    g.to_file(tmp_path / "ok.gpkg")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RiskmapWarning)
        gdf, _ = read_source(Source(path=tmp_path / "ok.gpkg"), CRS)
    assert gdf.geometry.x[0] == X0
    lonlat = gpd.GeoDataFrame({"n": [1]}, geometry=[shapely.Point(37.9, 113.5)], crs=4326)
    lonlat.to_file(tmp_path / "latlon.geojson", driver="GeoJSON")  # lat, lon: swapped
    with pytest.warns(RiskmapWarning, match="axes swapped"):
        gdf, _ = read_source(Source(path=tmp_path / "latlon.geojson"), "EPSG:4326")
    assert (gdf.geometry.x[0], gdf.geometry.y[0]) == (113.5, 37.9)


# --- exact duplicate features --------------------------------------------------------------
def repeats(folder):
    g = gpd.GeoDataFrame({"名称": ["甲", "乙", "甲", "丙"], "类型": ["a", "a", "a", "b"]},
                         geometry=shapely.points([(X0 + 300, Y0 + 300), (X0 + 900, Y0 + 900),
                                                  (X0 + 300, Y0 + 300), (X0 + 300, Y0 + 300)]),
                         crs=CRS)
    g.to_file(folder / "repeats.gpkg")
    return folder / "repeats.gpkg"


def test_exact_repeats_are_a_repair_and_dropped_in_densities(tmp_path):
    p = repeats(tmp_path)
    rep = json.loads(run("check", p, "--json").stdout)
    f = rep["files"][0]
    assert f["status"] == 1
    assert any("1 个要素完全重复" in m and "rows 3 = 1" in m for m in f["repairs"]), f
    assert any("differ in their attributes (kept" in m for m in f["notes"]), f  # 丙
    proj = make_project(tmp_path, lambda d: [x.update(source="repeats.gpkg")
                                             for x in d["factors"] if x["name"] in
                                             ("mines", "mine_density")])
    inputs, _ = load(proj)
    assert list(inputs.factors["mine_density"]["名称"]) == ["甲", "乙", "丙"]  # counted once
    assert len(inputs.factors["mines"]) == 4  # a distance is the same either way: kept
    rows, _ = check_project(load_project(proj))
    row = next(r for r in rows if r.role.startswith("factor mines"))
    assert any("mine_density: 1 exact repeat(s) dropped" in n for n in row.notes), row.notes


# --- villages of one name in two townships ----------------------------------------------------
def _twin_villages(d, folder, township_field=True, repeat_pair=False):
    box = shapely.box
    names = ["同名村", "同名村", "西村"] + (["西村"] if repeat_pair else [])
    towns = ["东镇", "西镇", "西镇"] + (["西镇"] if repeat_pair else [])
    geoms = [box(X0 + 1000, Y0, X0 + 2000, Y0 + 2000), box(X0, Y0, X0 + 1000, Y0 + 1000),
             box(X0, Y0 + 1000, X0 + 1000, Y0 + 1500)]
    if repeat_pair:
        geoms.append(box(X0, Y0 + 1500, X0 + 1000, Y0 + 2000))
    else:
        geoms[2] = box(X0, Y0 + 1000, X0 + 1000, Y0 + 2000)
    gpd.GeoDataFrame({"村名": names, "所属乡镇": towns}, geometry=geoms, crs=CRS).to_file(
        folder / "村.gpkg")
    d["villages"] = {"source": "村.gpkg", "name_field": "村名"}
    if township_field:
        d["villages"]["township_field"] = "所属乡镇"


def test_villages_of_one_name_in_two_townships(tmp_path):
    from riskmap.score.cells import cell_table
    from riskmap.score.engine import compute

    proj = make_project(tmp_path, lambda d: _twin_villages(d, tmp_path))
    inputs, warned = load(proj)
    assert not [w for w in warned if "村" in w], warned
    v = inputs.villages
    assert list(zip(v["township"], v["name"], strict=True)) == [
        ("东镇", "同名村"), ("西镇", "同名村"), ("西镇", "西村")]
    project = load_project(proj)
    s = compute(project, inputs)
    cells = cell_table(s, project, np.flatnonzero(s.p_area.ravel()))
    twin = cells[cells["village"] == "同名村"]
    assert set(twin["township"]) == {"东镇", "西镇"}
    xy = np.column_stack([twin.geometry.centroid.x, twin.geometry.centroid.y])
    east = twin["township"].to_numpy() == "东镇"
    assert (xy[east, 0] > X0 + 1000).all() and (xy[~east, 0] < X0 + 1000).all()
    assert (xy[~east, 1] < Y0 + 1000).all()
    rows, problems = check_project(project)
    assert not problems
    vrow = next(r for r in rows if r.role == "villages")
    assert any("同名村 (the same village name in several townships, told apart by 所属乡镇): "
               "同名村 (东镇、西镇)" in n for n in vrow.notes), vrow.notes


def test_repeated_pair_is_merged_and_reported(tmp_path):
    proj = make_project(tmp_path, lambda d: _twin_villages(d, tmp_path, repeat_pair=True))
    inputs, warned = load(proj)
    assert any("(乡镇, 村) 重复" in w and "西镇 西村 (rows 3, 4)" in w for w in warned), warned
    v = inputs.villages
    assert len(v) == 3 and v.loc[v["name"] == "西村"].geometry.iloc[0].area == \
        pytest.approx(1e6)


def test_same_name_without_township_field_is_said(tmp_path):
    proj = make_project(tmp_path, lambda d: _twin_villages(d, tmp_path, township_field=False))
    inputs, warned = load(proj)
    assert len(inputs.villages) == 3  # still three villages, labelled by polygon
    assert any("村名重复" in w and "同名村 (rows 1, 2)" in w and "township_field" in w
               for w in warned), warned


# --- "inside the district" shares ----------------------------------------------------------
def test_inside_share_of_polygons_is_by_area(tmp_path):
    from riskmap.load.extent import inside_share

    d = shapely.box(0, 0, 10, 10)
    touching = shapely.box(10, 0, 20, 10)  # a neighbour county: shares an edge only
    half = shapely.box(5, 0, 15, 10)
    assert inside_share(np.array([touching]), d) == 0.0
    assert inside_share(np.array([half]), d) == pytest.approx(0.5)
    assert inside_share(np.array([shapely.Point(1, 1), shapely.Point(30, 1)]), d) == 0.5
    assert np.isnan(inside_share(np.array([]), d))


def test_neighbour_county_outside_shows_zero_inside(tmp_path):
    neighbour = gpd.GeoDataFrame({"县名": ["东县"]}, geometry=[
        shapely.box(X0 + 2000, Y0 - 500, X0 + 5000, Y0 + 2500)], crs=CRS)
    neighbour.to_file(tmp_path / "县.gpkg")
    proj = make_project(tmp_path, lambda d: d["factors"].append(
        {"name": "border", "label": "县界", "kind": "proximity", "range": 500, "weight": 1,
         "source": {"path": "县.gpkg", "shared_boundary": True}}))
    rows, problems = check_project(load_project(proj))
    assert not problems
    assert next(r for r in rows if r.role.startswith("factor border")).extent == "100% 在区内"
    # the polygons themselves, as a layer: 0 % inside, in check PROJECT and check FILE
    gpd.GeoDataFrame({"name": ["区"]}, geometry=[shapely.box(X0, Y0, X0 + 2000, Y0 + 2000)],
                     crs=CRS).to_file(tmp_path / "district.gpkg")
    rep = json.loads(run("check", tmp_path / "县.gpkg", "--json", "--district",
                         tmp_path / "district.gpkg").stdout)
    f = rep["files"][0]
    assert f["inside_district"] == 0.0
    assert any("1 of 1 feature(s) lie outside the district: rows 1 东县" in n for n in f["notes"])
    proj2 = make_project(tmp_path, lambda d: d["factors"].append(
        {"name": "nb", "label": "邻县", "kind": "inside", "weight": 1, "source": "县.gpkg"}))
    rows, _ = check_project(load_project(proj2))
    assert next(r for r in rows if r.role.startswith("factor nb")).extent == "0% 在区内"
