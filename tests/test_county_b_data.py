"""Test county B's generated files themselves (issue 13): conventions as delivered, determinism.

Nothing here asserts riskmap's behaviour on the county; only that the files carry
the conventions they are meant to carry.
"""

import csv
import hashlib
import io
import json
import re
import struct
import time
from pathlib import Path

import numpy as np
import openpyxl
import pyogrio
import pytest
import shapely
import yaml
from countyb.geo import read_boundaries
from countyb.make import DEFAULT_SEED, build_world, make_county_b

SHAPEFILES = ("孝义市界", "乡镇界", "村界", "村委会驻地", "相邻县界")
STABLE = ("举报线索.csv", "高德导出_场所.csv", "关闭矿井及取缔坑口.geojson", "露头线.kml",
          "采矿权拐点坐标.xlsx", "案件台账.xlsx", "供电台账.xlsx", "网格责任人名单.xlsx",
          "村界.dbf", "村界.shp", "README.md")


@pytest.fixture(scope="module")
def county(tmp_path_factory):
    folder = tmp_path_factory.mktemp("county_b")
    t0 = time.perf_counter()
    project = make_county_b(folder)
    return folder, project, time.perf_counter() - t0


def dbf_field_names(path: Path) -> list[bytes]:
    raw = path.read_bytes()
    header_len = struct.unpack("<H", raw[8:10])[0]
    names = []
    for off in range(32, header_len - 1, 32):
        if raw[off] == 0x0D:
            break
        names.append(raw[off:off + 11].split(b"\0")[0])
    return names


def sheet_rows(path: Path) -> list[tuple]:
    return list(openpyxl.load_workbook(path).active.iter_rows(values_only=True))


def test_boundaries_are_the_real_county_and_its_neighbours():
    district, neighbours = read_boundaries()
    assert district["name"] == "孝义市" and district["adcode"] == 141181
    assert 900e6 < district["geom"].area < 960e6  # EPSG:4546 m²
    assert {n["name"] for n in neighbours} == {"汾阳市", "介休市", "灵石县", "交口县", "中阳县"}
    for n in neighbours:
        assert n["geom"].intersection(district["geom"]).area < 0.01 * district["geom"].area
    size = Path(__file__).parent.joinpath("countyb", "boundaries.geojson").stat().st_size
    assert size < 300 * 1024


def test_generation_is_small(county):
    # its time is a benchmark figure (scripts/make_county_b.py prints it), not a test
    folder, project, _ = county
    assert project == folder / "project.yaml" and project.exists()
    total = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    assert total < 5 * 1024 * 1024


@pytest.mark.parametrize("name", SHAPEFILES)
def test_shapefiles_are_gbk_without_any_encoding_hint(county, name):
    folder = county[0]
    assert not (folder / f"{name}.cpg").exists()
    dbf = folder / f"{name}.dbf"
    assert dbf.read_bytes()[29] == 0  # no language driver id either
    fields = dbf_field_names(dbf)
    decoded = [f.decode("gbk") for f in fields]
    assert all(re.search(r"[\u4e00-\u9fff]", f) for f in decoded)
    with pytest.raises(UnicodeDecodeError):
        b"".join(fields).decode("utf-8")
    info = pyogrio.read_info(dbf.with_suffix(".shp"))
    assert info["encoding"] != "GBK" and list(info["fields"]) != decoded  # GDAL: mojibake names
    gbk = pyogrio.read_dataframe(dbf.with_suffix(".shp"), encoding="gbk")
    assert list(gbk.columns[:-1]) == decoded
    assert gbk.iloc[:, 0].str.contains(r"[\u4e00-\u9fff]").all()


def test_villages_repeat_names_across_townships(county):
    v = pyogrio.read_dataframe(county[0] / "村界.shp", encoding="gbk")
    dup = v[v["村名"].duplicated(keep=False)]
    towns = dup.groupby("村名")["所属乡镇"].nunique()
    assert (towns >= 2).sum() >= 3
    t = pyogrio.read_dataframe(county[0] / "乡镇界.shp", encoding="gbk")
    assert {"下栅乡", "兑镇镇", "胜溪湖街道"} <= set(t["乡镇名称"])
    assert t.crs.to_epsg() == 4546
    assert shapely.union_all(t.geometry.values).area == pytest.approx(
        read_boundaries()[0]["geom"].area, rel=1e-6)


def test_neighbours_are_polygons_not_lines(county):
    nb = pyogrio.read_dataframe(county[0] / "相邻县界.shp", encoding="gbk")
    assert set(nb.geom_type) <= {"Polygon", "MultiPolygon"} and len(nb) == 5
    assert "交口县" in set(nb["县名"])


def test_corner_table(county):
    rows = sheet_rows(county[0] / "采矿权拐点坐标.xlsx")
    assert "拐点坐标" in rows[0][0] and all(v is None for v in rows[0][1:])
    header = rows[1]
    body = [r for r in rows[2:] if isinstance(r[4], int)]
    xi, yi = header.index("X坐标"), header.index("Y坐标")
    x = np.array([r[xi] for r in body])
    y = np.array([r[yi] for r in body])
    assert ((x > 4.0e6) & (x < 4.2e6)).all()  # 7-digit northings
    assert ((y > 37.4e6) & (y < 37.7e6)).all()  # eastings with zone prefix 37
    assert sum(r[1] is not None for r in body) < len(body)  # licence cells merged
    ws = openpyxl.load_workbook(county[0] / "采矿权拐点坐标.xlsx").active
    assert any(str(m).startswith("B") for m in ws.merged_cells.ranges)
    valid = [r[header.index("有效期限")] for r in body if r[1] is not None]
    assert all(re.fullmatch(r"\d{4}年\d+月\d+日至\d{4}年\d+月\d+日", v) for v in valid)
    assert any("米至" in str(r[header.index("开采标高")]) for r in body)


def test_closed_mines_geojson(county):
    doc = json.loads((county[0] / "关闭矿井及取缔坑口.geojson").read_text(encoding="utf-8"))
    props = [f["properties"] for f in doc["features"]]
    assert {p["类型"] for p in props} == {"关闭矿井", "取缔坑口", "废弃井口"}
    lon = np.array([f["geometry"]["coordinates"][0] for f in doc["features"]])
    assert ((lon < 111.0) | (lon > 112.0)).sum() == 1  # the one typo, far outside


def test_kml_has_folders_and_an_empty_placemark(county):
    kml = county[0] / "露头线.kml"
    text = kml.read_text(encoding="utf-8")
    assert text.count("<Folder>") >= 4
    assert "<coordinates></coordinates>" in text
    layers = [name for name, _ in pyogrio.list_layers(kml)]
    assert {"铝土矿露头", "煤层露头", "其他"} <= set(layers)


def test_premises_gpkg_and_amap_csv(county):
    folder = county[0]
    gp = pyogrio.read_dataframe(folder / "场所.gpkg", layer="场所")
    assert {"类型", "名称"} <= set(gp.columns) and gp.crs.to_epsg() == 4490
    types = {"养殖场", "大棚", "闲置厂房", "农家院", "车库", "洗煤厂", "储煤场", "加工点"}
    assert set(gp["类型"]) == types
    raw = (folder / "高德导出_场所.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    amap = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert {r["类型"] for r in amap} <= types and len(amap) >= 100
    assert not {r["名称"] for r in amap} & set(gp["名称"])  # more premises, not the same ones


def test_case_ledger(county):
    folder = county[0]
    rows = sheet_rows(folder / "案件台账.xlsx")
    assert "非法采矿案件台账（2021年—2025年）" in rows[0][0]
    header = rows[2]
    for col in ("案件编号", "当事人", "身份证号", "联系电话", "来源", "X坐标", "Y坐标"):
        assert col in header
    body = [r for r in rows[3:] if isinstance(r[0], int)]
    xi, yi = header.index("X坐标"), header.index("Y坐标")
    x = np.array([float(r[xi]) for r in body])
    y = np.array([float(r[yi]) for r in body])
    normal = (x > 4.0e6) & (x < 4.2e6) & (y > 4.0e5) & (y < 6.0e5)
    swapped = (y > 4.0e6) & (y < 4.2e6) & (x > 4.0e5) & (x < 6.0e5)
    prefixed = (x > 4.0e6) & (y > 37.0e6)
    assert 3 <= swapped.sum() <= 6 and 3 <= prefixed.sum() <= 8
    assert (normal | swapped | prefixed).all() and normal.mean() > 0.9
    assert {r[header.index("来源")] for r in body} == {"巡查", "举报", "卫片", "供电公司"}
    dates = [r[header.index("发现日期")] for r in body]
    kinds = {type(d).__name__ for d in dates}
    assert {"datetime", "int", "str"} <= kinds
    text = [d for d in dates if isinstance(d, str)]
    assert any("/" in d for d in text) and any("年" in d for d in text)
    assert any(re.fullmatch(r"\d{4}\.\d+\.\d+", d) for d in text)
    assert any(re.search("[０-９]", d) for d in text)
    key = [(r[header.index("案件编号")], str(r[header.index("发现日期")])) for r in body]
    assert len(key) - len(set(key)) == 1  # one case entered twice
    numbers = [r[header.index("案件编号")] for r in body]
    assert len(set(numbers)) == len(numbers) - 1
    place = [(round(a, 2), round(b, 2)) for a, b in zip(x, y, strict=True)]
    shared = {p for p in place if place.count(p) >= 2}
    distinct = [k for k, p in zip(key, place, strict=True) if p in shared]
    assert len(set(distinct)) >= 2  # two different cases at one place (besides the duplicate)


def test_tips_csv_is_gbk_with_labelled_pairs(county):
    raw = (county[0] / "举报线索.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    lines = list(csv.reader(io.StringIO(raw.decode("gbk"))))
    assert "举报线索" in lines[0][0]
    header = lines[1]
    for col in ("被举报人", "地址", "举报人电话", "举报时间", "经度", "纬度"):
        assert col in header
    lon = [r[header.index("经度")] for r in lines[2:]]
    assert any(v.startswith("东经") and "北纬" in v for v in lon)
    assert any(v == "" for v in lon)


def test_meter_table_has_village_but_no_township(county):
    folder = county[0]
    rows = sheet_rows(folder / "供电台账.xlsx")
    header = rows[1]
    assert "村" in header and not any("乡" in str(h) or "镇" in str(h) for h in header)
    months = [h for h in header if re.fullmatch(r"\d{4}年\d+月", str(h))]
    assert months[0] == "2024年12月" and months[-1] == "2025年11月" and len(months) == 12
    body = [r for r in rows[2:] if isinstance(r[0], int)]
    vi = header.index("村")
    v = pyogrio.read_dataframe(folder / "村界.shp", encoding="gbk")
    dup = set(v["村名"][v["村名"].duplicated()])
    assert {r[vi] for r in body} & dup  # ambiguous village names in the table
    lon = header.index("经度")
    share = np.mean([r[lon] is not None for r in body])
    assert 0.3 < share < 0.6


def test_meter_truth_planted_near_mining_and_decoys_far():
    from countyb.geo import metres
    from countyb.power import make_meters

    w = build_world(DEFAULT_SEED)
    table, truth = make_meters(w, w["rng"]["meters"])  # the stream make_county_b uses
    assert len(truth["illegal"]) >= 20 and len(truth["decoy"]) >= 10
    pits = shapely.union_all(list(w["closed_mines"].geometry) + list(w["outcrops"].geometry))
    ll = table.set_index("户号")[["经度", "纬度"]]
    decoy = ll.loc[truth["decoy"]].to_numpy(float)
    assert not np.isnan(decoy).any()
    assert (shapely.distance(shapely.points(metres(decoy)), pits) > 3000).all()
    ill = ll.loc[truth["illegal"]].dropna().to_numpy(float)
    assert len(ill) and np.median(shapely.distance(shapely.points(metres(ill)), pits)) < 1500


def test_roster_per_township_and_village(county):
    rows = sheet_rows(county[0] / "网格责任人名单.xlsx")
    header = rows[1]
    assert ("乡镇", "村", "责任人") == header[1:4]
    body = [r for r in rows[2:] if isinstance(r[0], int)]
    pairs = {(r[1], r[2]) for r in body}
    assert len(pairs) == len(body) and len({r[2] for r in body}) < len(body)


def test_returned_sheets(county):
    folder = county[0] / "returns"
    files = sorted(folder.glob("*.xlsx"))
    assert len(files) == 3
    total = 0
    forms = set()
    for f in files:
        assert re.fullmatch(r"\d{8}_.+排查表\.xlsx", f.name)
        rows = sheet_rows(f)
        assert re.search(r"排查情况表（\d{4}年\d{2}月\d{2}日—\d{2}月\d{2}日）", rows[0][0])
        header = rows[2]
        assert "排查点位置" in header and "备注" in header
        body = [r for r in rows[3:] if isinstance(r[0], int)]
        total += len(body)
        loc = [r[header.index("排查点位置")] for r in body]
        assert sum(v in (None, "定位失败") for v in loc) >= 2
        when = [r[header.index("排查时间")] for r in body]
        assert any(isinstance(d, str) and re.fullmatch(r"\d+月\d+日", d) for d in when)
        assert {r[header.index("排查结果")] for r in body} >= {"未发现", "发现疑似"}
        notes = " ".join(str(r[header.index("备注")] or "") for r in body)
        assert re.search(r"12\d{9}", notes)  # phone numbers typed into 备注
        assert any("填报人" in str(c) for r in rows[-2:] for c in r if c)
        for v in loc:
            if not v or v == "定位失败":
                continue
            if "东经" in v:
                forms.add("labelled")
            elif v.startswith("E"):
                forms.add("en")
            elif "°" in v:
                forms.add("dms")
            elif re.search("[０-９]", v):
                forms.add("fullwidth")
            elif v.startswith("37"):
                forms.add("lat_first")
            elif "经度" in v:
                forms.add("colon")
    assert total > 150
    assert forms >= {"labelled", "en", "dms", "fullwidth", "lat_first", "colon"}


def test_project_file_names_every_input(county):
    folder, project, _ = county
    cfg = yaml.safe_load(project.read_text(encoding="utf-8"))
    assert cfg["crs"] == "EPSG:4546"
    text = project.read_text(encoding="utf-8")
    assert "shared_boundary: true" in text  # as a commented TODO
    names = {p.name for p in folder.iterdir()}
    for f in ("孝义市界.shp", "乡镇界.shp", "村界.shp", "村委会驻地.shp", "采矿权拐点坐标.xlsx",
              "关闭矿井及取缔坑口.geojson", "露头线.kml", "场所.gpkg", "高德导出_场所.csv",
              "案件台账.xlsx", "举报线索.csv", "供电台账.xlsx", "网格责任人名单.xlsx"):
        assert f in text and f in names
    readme = (folder / "README.md").read_text(encoding="utf-8")
    assert "合成数据" in readme and "$" not in readme


def test_same_seed_same_bytes(county, tmp_path):
    make_county_b(tmp_path)
    for name in STABLE:
        a = hashlib.sha256((county[0] / name).read_bytes()).hexdigest()
        b = hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()
        assert a == b, name
    other = tmp_path / "other"
    make_county_b(other, seed=DEFAULT_SEED + 1)
    assert (other / "举报线索.csv").read_bytes() != (tmp_path / "举报线索.csv").read_bytes()
