"""County B (孝义市) through the vector readers and the project-level input checks (issue 13).

The generated project is used as delivered, with its two TODOs (the 交口县
border from the neighbour polygons; the premises of the GeoPackage and the
AMap export as one factor) written the README's way.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import warnings

import numpy as np
import pytest
import shapely
import yaml
from countyb.cache import county_b as make_county_b

from riskmap.errors import RiskmapWarning
from riskmap.load.diagnose import check_project
from riskmap.load.inputs import load_inputs
from riskmap.pipeline.project import load_project

RISKMAP = shutil.which("riskmap")
ENV = {**os.environ, "PYTHONIOENCODING": "utf-8"}
BORDER = {"name": "county_border", "label": "与交口县交界", "kind": "proximity", "range": 2000,
          "decay": "linear", "weight": 8,
          "source": {"path": "相邻县界.shp", "where": "县名 = '交口县'", "shared_boundary": True}}
TWIN = {"上屯村": {"梧桐镇", "大孝堡镇"}, "南营村": {"胜溪湖街道", "杜村乡"},
        "安峪村": {"梧桐镇", "柱濮镇"}, "安窑村": {"梧桐镇", "驿马乡"}}


@pytest.fixture(scope="module")
def county(tmp_path_factory):
    folder = tmp_path_factory.mktemp("county_b_inputs")
    path = make_county_b(folder)  # as written: the border and both premises sources in it
    d = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert BORDER in d["factors"]
    assert next(f for f in d["factors"] if f["name"] == "premises")["source"] == [
        "场所.gpkg:场所", {"path": "高德导出_场所.csv", "crs": "GCJ02"}]
    proj = load_project(path)
    rows, problems = check_project(proj)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        inputs = load_inputs(proj)
    warned = [str(w.message) for w in caught if issubclass(w.category, RiskmapWarning)]
    return folder, proj, rows, problems, inputs, warned


def row(rows, role):
    return next(r for r in rows if r.role.startswith(role))


def test_the_county_checks_clean(county):
    _folder, _proj, _rows, problems, inputs, _ = county
    assert problems == []
    assert len(inputs.townships) == 13 and len(inputs.villages) == 126


def test_gbk_field_names_and_the_guess_stated(county):
    folder, _proj, rows, _, inputs, _ = county
    for role in ("district", "townships", "villages"):
        r = row(rows, role)
        assert r.encoding == "GB18030"
        assert any("no .cpg, no language byte in the .dbf): field names and text decoded as "
                   "GB18030, a guess" in n for n in r.notes), (role, r.notes)
    assert "梧桐镇" in set(inputs.townships["name"])
    rep = json.loads(subprocess.run([RISKMAP, "check", str(folder / "乡镇界.shp"), "--json"],
                                    capture_output=True, text=True, env=ENV,
                                    timeout=120).stdout)
    assert rep["exit_code"] == 1 and rep["files"][0]["status"] == 1


def test_where_filters_and_the_far_point(county):
    _folder, _proj, rows, _, inputs, _ = county
    assert set(inputs.factors["closed_mines"]["类型"]) == {"关闭矿井"}
    pits = inputs.factors["shut_pits"]
    assert set(pits["类型"]) == {"取缔坑口", "废弃井口"}
    assert "后寨村取缔坑口71号" not in set(pits["名称"])
    r = row(rows, "factor shut_pits")
    assert any("lie far outside the district" in n and "后寨村取缔坑口71号" in n for n in r.notes)
    assert not any("后寨村取缔坑口71号" in n for n in row(rows, "factor closed_mines").notes)


def test_kml_folders_and_the_empty_placemark(county):
    _folder, _proj, rows, _, inputs, _ = county
    assert len(inputs.factors["outcrops"]) == 6
    assert {"铝土矿露头", "煤层露头"} <= set(inputs.factors["outcrops"]["folder"])
    r = row(rows, "factor outcrops")
    assert any("without geometry" in n and "其他/未命名路线" in n for n in r.notes), r.notes


def test_border_with_jiaokou_from_the_neighbour_polygons(county):
    from countyb.geo import read_boundaries

    _folder, _proj, rows, _, inputs, _ = county
    lines = inputs.factors["county_border"]
    assert list(lines["县名"]) == ["交口县"]
    km = float(lines["border_km"].iloc[0])
    r = row(rows, "factor county_border")
    assert r.geom_types in ("LineString", "MultiLineString") and r.extent == "100% 在区内"
    assert any(f"交口县 {km:.1f} km" in n for n in r.notes), r.notes
    district, neighbours = read_boundaries()
    jk = next(n["geom"] for n in neighbours if n["name"] == "交口县")
    line = lines.geometry.iloc[0]
    assert shapely.distance(line, jk) <= 100 + 1e-6
    assert shapely.hausdorff_distance(line, district["geom"].boundary) < 1e5
    # the whole shared stretch: as long as the district's boundary near 交口县
    near = shapely.intersection(district["geom"].boundary, shapely.buffer(jk, 100))
    assert km * 1000 == pytest.approx(near.length, rel=0.02)
    assert 10 < km < 120


def test_every_neighbour_border_is_measured(county):
    from riskmap.load.borders import shared_boundary
    from riskmap.load.layers import read_source
    from riskmap.load.project import Source
    from riskmap.load.sources.base import LayerInfo

    folder, proj, *_ = county
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RiskmapWarning)
        gdf, _ = read_source(Source(path=folder / "相邻县界.shp"), proj.crs)
        district = shapely.union_all(read_source(proj.district.source,
                                                 proj.crs)[0].geometry.values)
    info = LayerInfo(source=None)
    lines = shared_boundary(gdf, district, 100.0, "相邻县界.shp", info)
    assert set(lines["县名"]) == {"汾阳市", "介休市", "灵石县", "交口县", "中阳县"}
    note = info.notes[-1]
    for name in ("汾阳市", "介休市", "灵石县", "交口县", "中阳县"):
        assert f"{name} " in note and " km" in note


def test_neighbour_polygons_are_outside(county):
    folder, *_ = county
    rep = json.loads(subprocess.run(
        [RISKMAP, "check", str(folder / "相邻县界.shp"), "--json", "--district",
         str(folder / "孝义市界.shp")], capture_output=True, text=True, env=ENV,
        timeout=120).stdout)
    f = rep["files"][0]
    assert f["inside_district"] < 0.01  # was 100 %: every neighbour touches the boundary
    assert any("5 of 5 feature(s) lie outside the district" in n for n in f["notes"]), f


def test_premises_from_two_sources(county):
    _folder, _proj, rows, _, inputs, _ = county
    gdf = inputs.factors["premises"]
    counts = gdf["source_file"].value_counts().to_dict()
    assert counts == {"场所.gpkg:场所": 1380, "高德导出_场所.csv": 220}
    assert {"场所.gpkg", "高德导出_场所.csv"} <= set(inputs.hashes)
    assert row(rows, "factor premises (掩护场所) [1/2]").features == 1380
    assert row(rows, "factor premises (掩护场所) [2/2]").features == 220


def test_villages_of_one_name_in_two_townships(county):
    from riskmap.score.cells import cell_table
    from riskmap.score.engine import compute

    _folder, proj, rows, _, inputs, _ = county
    v = inputs.villages
    assert not v.duplicated(["township", "name"]).any()
    for name, towns in TWIN.items():
        assert set(v.loc[v["name"] == name, "township"]) == towns
    note = next(n for n in row(rows, "villages").notes if n.startswith("同名村"))
    assert all(n in note for n in TWIN)
    s = compute(proj, inputs)
    cells = cell_table(s, proj, np.flatnonzero(s.p_area.ravel()))
    for name, towns in TWIN.items():
        twin = cells[cells["village"] == name]
        assert set(twin["township"]) == towns, name
        for town in towns:
            poly = v.loc[(v["name"] == name) & (v["township"] == town)].geometry.iloc[0]
            inside = shapely.intersects(twin.loc[twin["township"] == town].geometry.values,
                                        poly)
            assert inside.mean() > 0.95, (name, town)
