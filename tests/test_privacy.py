"""Places, never persons: planted personal data never reach a shared output."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from tinyproject import CRS, X0, Y0, make_project

from riskmap.load.privacy import personal_columns, valid_id_number

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


def _texts(path: Path):
    """Every text a person could read out of an output file."""
    data = path.read_bytes()
    yield data.decode("utf-8", "ignore")
    if path.suffix == ".pdf":
        yield subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True,
                             check=True).stdout
    if path.suffix in (".kmz", ".xlsx"):
        with zipfile.ZipFile(path) as z:
            for n in z.namelist():
                yield z.read(n).decode("utf-8", "ignore")
    if path.suffix == ".csv":
        yield data.decode("utf-8-sig", "ignore")


def test_no_planted_pii_in_any_output(out):
    files = [p for p in out.rglob("*") if p.is_file() and p.parent != out
             and p.suffix in (".html", ".pdf", ".kmz", ".gpx", ".xlsx", ".csv", ".json",
                              ".gpkg", ".tif")]
    kinds = {p.suffix for p in files}
    assert {".html", ".pdf", ".kmz", ".gpx", ".xlsx", ".csv", ".json", ".gpkg"} <= kinds
    for p in files:
        for text in _texts(p):
            for s in PII:
                assert s not in text, (p, s)


def test_the_places_stay(out):
    html = (out / "out" / "全区" / "map.html").read_text(encoding="utf-8")
    assert "东庄养殖场" in html  # the place name is kept
    import pyogrio

    layer = pyogrio.read_dataframe(out / "out" / "全区" / "risk.gpkg", layer="input_premises")
    assert set(layer.columns) == {"名称", "类型", "geometry"}
