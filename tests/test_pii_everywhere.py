"""Places, never persons — the whole loop (issue 14): every form of personal data planted in
every kind of input (factor layers, tips, cases, meter table, returned sheets) and searched
for in every shared output (HTML, PDF text, KMZ, GPX, XLSX, CSV, GPKG text, JSON), with zero
hits, while the roster's responsible cadres still appear in the ledgers where they belong."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import openpyxl
import pytest
import shapely
from outputtext import output_texts
from pyproj import Transformer
from test_plan import ROSTER, write_roster
from tinyproject import CRS, X0, Y0, make_project

# every form the review found slipping through (names, IDs, phones in all their spellings)
NAMES = ["张伟明", "李秀英", "赵大勇", "钱德涛", "孙红梅"]
IDS = ["11010519491231002X", "140311750101123"]  # 18-digit, and a 15-digit old one
# every phone carries 5550 (found in any spelling once separators are read through)
PHONES = ["13955501234", "139-5550-2345", "+86 139 5550 3456", "１３９５５５０４５６７",
          "0353-5550678"]
ADDRESS = "幸福路88号"
PLANTED = [*NAMES, *IDS, ADDRESS, "5550", "５５５０"]
TO_LL = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)


def _ll(x, y):
    lon, lat = TO_LL.transform(x, y)
    return float(lon), float(lat)


def _inputs(d: Path, p: dict) -> None:
    # a premises layer naming its operators (经营者名称, 场所联系人) with IDs and phones in it
    gpd.GeoDataFrame(
        {"名称": ["东庄养殖场", f"{NAMES[0]}车库"], "类型": ["养殖场", "车库"],
         "经营者名称": [NAMES[0], NAMES[1]], "场所联系人": [NAMES[1], "王五"],
         "证件": [IDS[0], "无"], "备注": [f"联系{PHONES[1]}", f"身份证{IDS[1]}"]},
        geometry=shapely.points([(X0 + 500, Y0 + 500), (X0 + 1500, Y0 + 1500)]), crs=CRS,
    ).to_file(d / "watch.gpkg", layer="premises")
    p["factors"].append({"name": "premises", "label": "掩护场所", "source": "watch.gpkg:premises",
                         "kind": "typed", "type_field": "类型", "range": 300,
                         "types": {"养殖场": 1.0, "车库": 0.5}, "weight": 15})
    # a tip line: the reported person, the home address, the caller's phone, a free text
    with open(d / "tips.csv", "w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(["举报时间", "被举报人", "地址", "举报人电话", "经度", "纬度", "线索类型",
                    "内容"])
        for i, (x, y) in enumerate([(X0 + 300, Y0 + 400), (X0 + 1600, Y0 + 1500)]):
            w.writerow([f"2026-10-0{i + 1}", NAMES[2], ADDRESS, PHONES[2 + i], *_ll(x, y),
                        "夜间运煤", f"{NAMES[2]}家后院有洞口，电话{PHONES[0]}"])
    p["factors"].append({"name": "tips", "label": "举报线索", "source": "tips.csv",
                         "kind": "density", "bandwidth": 200, "date_field": "举报时间",
                         "half_life_days": 90, "weight": 10})
    # a case ledger: 当事人, ID numbers, phones
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["案件编号", "立案日期", "当事人", "身份证号", "联系电话", "经度", "纬度", "备注"])
    for i in range(30):
        lon, lat = _ll(X0 + 200 + 50 * i, Y0 + 300 + 45 * i)
        ws.append([f"郊打非〔2025〕{i:03d}号", f"2025-{1 + i % 12:02d}-15", NAMES[3],
                   IDS[i % 2], PHONES[i % len(PHONES)], lon, lat, f"{NAMES[3]}承认私挖"])
    wb.save(d / "cases.xlsx")
    p["incidents"] = {"source": "cases.xlsx", "date_field": "立案日期"}
    p["factors"].append({"name": "past", "label": "既往案件", "source": "cases.xlsx",
                         "kind": "density", "bandwidth": 300, "date_field": "立案日期",
                         "half_life_days": 365, "weight": 10})
    # the power company's meter table: account holders' names, phones, addresses
    with open(d / "meters.csv", "w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        months = [f"2026年{m}月" for m in range(1, 13)]
        w.writerow(["户号", "户名", "联系电话", "用电地址", "用户类别", "村", "经度", "纬度",
                    *months])
        for i in range(30):
            lon, lat = _ll(X0 + 1100 + 25 * i, Y0 + 200 + 20 * i)
            kwh = [300 + (2500 if (i == 3 and m > 5) else 0) for m in range(12)]
            w.writerow([f"00{i:06d}", NAMES[4], PHONES[i % len(PHONES)], ADDRESS, "居民",
                        "东一村", lon, lat, *kwh])
    p["power"] = {"source": "meters.csv", "top": 5, "min_score": 0}
    p["factors"].append({"name": "power_anomalies", "label": "用电异常",
                         "source": "power:anomalies", "kind": "density", "bandwidth": 300,
                         "weight": 5})
    write_roster(d / "roster.xlsx")
    p["roster"] = {"source": "roster.xlsx", "village_field": "村", "name_field": "责任人",
                   "phone_field": "联系电话"}
    p["plan"] = {"per_village": 3, "seed": 5}


def _returned_sheet(plan_folder: Path, out: Path) -> Path:
    """The planned ledger filled by a team, its notes naming people with IDs and phones."""
    ledger = next(plan_folder.rglob("ledger.xlsx"))
    wb = openpyxl.load_workbook(ledger)
    ws = wb.worksheets[0]
    for i in range(3, 6):
        if ws.cell(i, 2).value:
            ws.cell(i, 13, "2026.12.2")
            ws.cell(i, 14, "赵建")
            ws.cell(i, 15, "发现疑似" if i == 3 else "未发现")
            ws.cell(i, 16, f"户主{NAMES[0]}（{PHONES[3]}）称夜间有车，身份证{IDS[0]}")
    wb.save(out)
    return out


def run(*args):
    r = subprocess.run([sys.executable, "-m", "riskmap", *map(str, args)], capture_output=True,
                       text=True, timeout=600)
    assert r.returncode in (0, 1), r.stderr
    return r


@pytest.fixture(scope="module")
def everything(tmp_path_factory):
    d = tmp_path_factory.mktemp("pii_all")
    proj = make_project(d, lambda p: _inputs(d, p))
    r = run("check", proj)
    assert r.returncode == 0, r.stdout + r.stderr
    run("build", proj, "-q", "--atlas")
    run("plan", proj, "--week", "2026-W49", "--out", d / "plan", "-q")
    run("ingest", proj, _returned_sheet(d / "plan", d / "returned.xlsx"))
    run("weekly", proj, "--week", "2026-W49", "--out", d / "weekly")
    run("power-check", proj, "--out", d / "power")
    run("evaluate", proj, "--split", "2025-07-01", "--out", d / "ev", "-q")
    return d, r.stdout


SHARED = (".html", ".pdf", ".kmz", ".gpx", ".xlsx", ".csv", ".json", ".gpkg", ".txt", ".tif")


def test_no_planted_personal_data_in_any_shared_output(everything):
    d, _ = everything
    files = [p for p in d.rglob("*") if p.is_file() and p.suffix in SHARED
             and p.parent != d and "history" not in p.name]
    kinds = {p.suffix for p in files}
    assert {".html", ".pdf", ".kmz", ".gpx", ".xlsx", ".csv", ".json", ".gpkg"} <= kinds, kinds
    where = {p.parent.name for p in files}
    assert {"plan", "weekly", "power", "ev"} <= {p.relative_to(d).parts[0] for p in files} | where
    hits = [(str(p.relative_to(d)), s) for p in files for text in output_texts(p) for s in PLANTED
            if s in text]
    assert hits == [], hits[:10]


def test_the_places_and_the_cadres_stay(everything):
    d, _ = everything
    html = (d / "out" / "全区" / "map.html").read_text(encoding="utf-8")
    assert "东庄养殖场" in html and "某车库" in html  # the place kept, the person in it hidden
    cadres = {r[3] for r in ROSTER if r[3]}
    ledgers = " ".join(t for p in (d / "plan").rglob("ledger.xlsx") for t in output_texts(p))
    assert cadres and all(c in ledgers for c in cadres if c in ledgers) and any(
        c in ledgers for c in cadres)  # the responsible cadres are named in the ledgers


def test_check_says_which_columns_were_withheld(everything):
    _, said = everything
    for header in ("经营者名称", "场所联系人", "被举报人", "举报人电话", "当事人"):
        assert header in said, header  # the headers are said, never the values
    assert not any(s in said for s in NAMES + IDS)
