"""Places, never persons: planted personal data never reach a shared output."""

from __future__ import annotations

import subprocess
import sys

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from outputtext import output_texts
from tinyproject import CRS, X0, Y0, make_project

from riskmap.load.privacy import personal_columns, scrub_text, strip_personal, valid_id_number

PII = ["张伟明", "11010519491231002X", "13912345678", "阳泉市郊区幸福路88号"]


def test_id_check_digit():
    assert valid_id_number("11010519491231002X")
    assert not valid_id_number("110105194912310021")
    assert not valid_id_number("1101051949123100")


def test_personal_columns_by_header_and_value():
    df = pd.DataFrame({"名称": ["东庄养殖场"], "户主": ["李四"], "备注": ["13912345678"],
                       "code": ["11010519491231002X"], "类型": ["养殖场"], "村负责人": ["x"]})
    found = personal_columns(df)
    assert set(found) == {"户主", "备注", "code", "村负责人"}
    assert "header" in found["户主"] and "phone" in found["备注"] and "ID" in found["code"]


def test_headers_naming_persons_drop_whatever_else_they_say():
    df = pd.DataFrame({"场所名称": ["东庄养殖场"], "经营者名称": ["李四"], "场所联系人": ["王五"],
                       "类型": ["养殖场"], "名称": ["西庄"]})
    assert set(personal_columns(df)) == {"经营者名称", "场所联系人"}


@pytest.mark.parametrize("value", ["138-0000-0044", "+86 138 0000 0044", "138 0000 0044",
                                   "１３８００００００４４", "0358-2345678", "140311750101123",
                                   "11010519491231002X"])
def test_identifiers_in_any_form_and_any_share_of_rows(value):
    rows = ["无"] * 30 + [value]  # one row in 31: far fewer than a fifth
    found = personal_columns(pd.DataFrame({"编号": rows, "类型": ["a"] * 31}))
    assert set(found) == {"编号"}


def test_unlabelled_name_column_is_found_by_its_values():
    found = personal_columns(pd.DataFrame({"列C": ["张伟明", "李秀英", "王家庄"],
                                           "村": ["东村", "西村", "王家庄"]}))
    assert set(found) == {"列C"}


def test_event_tables_keep_place_attributes_only():
    df = pd.DataFrame({"举报时间": ["2024-03-05"], "被举报人": ["张三"], "地址": ["幸福路8号"],
                       "举报人电话": ["13800000000"], "线索类型": ["夜间运煤"], "乡镇": ["荫营镇"],
                       "处理结果": ["已核查"], "内容": ["张三家后院有洞口"]})
    kept = [c for c in df.columns if c not in personal_columns(df)]
    assert kept == ["举报时间", "线索类型", "乡镇", "处理结果"]


def test_free_text_kept_is_scrubbed():
    df = pd.DataFrame({"名称": ["东庄养殖场", "张伟明车库"], "类型": ["养殖场", "车库"],
                       "经营者": ["张伟明", "李四"],
                       "备注": ["张伟明称夜间有车辆进出，电话138 0000 0044，"
                                "身份证11010519491231002X", "房主：王五，已告知"]})
    out, dropped = strip_personal(df)
    assert set(dropped) == {"经营者"}
    text = " ".join(out["备注"])
    for pii in ("张伟明", "0044", "11010519491231002X", "王五"):
        assert pii not in text
    assert "夜间有车辆进出" in text and list(out["名称"]) == ["东庄养殖场", "某车库"]


def test_scrub_text_forms():
    assert (scrub_text("村民邱洋平（12620059368）反映夜间有车辆进出")
            == "村民某（[电话已隐去]）反映夜间有车辆进出")
    assert scrub_text("发现王家庄东侧坑口，深约12米") == "发现王家庄东侧坑口，深约12米"


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    d = tmp_path_factory.mktemp("pii")

    def edit(p):
        gpd.GeoDataFrame(
            {"名称": ["东庄养殖场", "西庄车库"], "类型": ["养殖场", "车库"],
             "经营者": [PII[0], "王五"], "证件": [PII[1], "无"], "备注": [PII[2], "13800000000"],
             "住址": [PII[3], "不详"]},
            geometry=shapely.points([(X0 + 500, Y0 + 500), (X0 + 1500, Y0 + 1500)]), crs=CRS,
        ).to_file(d / "watch.gpkg", layer="premises")
        p["factors"].append({"name": "premises", "label": "掩护场所",
                             "source": "watch.gpkg:premises", "kind": "typed",
                             "type_field": "类型", "range": 300,
                             "types": {"养殖场": 1.0, "车库": 0.5}, "weight": 15})
        p["plan"] = {"per_village": 3}

    proj = make_project(d, edit)
    for args in (["build", str(proj), "-q", "--atlas"],
                 ["plan", str(proj), "--week", "2026-W49", "--out", str(d / "plan"),
                  "--no-record"]):
        r = subprocess.run([sys.executable, "-m", "riskmap", *args], capture_output=True,
                           text=True)
        assert r.returncode == 0, r.stderr
    return d


def test_no_planted_pii_in_any_output(out):
    files = [p for p in out.rglob("*") if p.is_file() and p.parent != out
             and p.suffix in (".html", ".pdf", ".kmz", ".gpx", ".xlsx", ".csv", ".json",
                              ".gpkg", ".tif")]
    kinds = {p.suffix for p in files}
    assert {".html", ".pdf", ".kmz", ".gpx", ".xlsx", ".csv", ".json", ".gpkg"} <= kinds
    for p in files:
        for text in output_texts(p):
            for s in PII:
                assert s not in text, (p, s)


def test_the_places_stay(out):
    html = (out / "out" / "全区" / "map.html").read_text(encoding="utf-8")
    assert "东庄养殖场" in html  # the place name is kept
    import pyogrio

    layer = pyogrio.read_dataframe(out / "out" / "全区" / "risk.gpkg", layer="input_premises")
    assert set(layer.columns) == {"名称", "类型", "geometry"}
