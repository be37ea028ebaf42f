"""Electricity anomalies: reading meter tables, robust statistics, decoys, ledger, CLI."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import yaml
from pyproj import Transformer
from tinyproject import CRS, X0, Y0, make_project

from riskmap.errors import ExportError, LayerError, ProjectFileError
from riskmap.export.power import write_anomalies, write_ledger
from riskmap.models import power
from riskmap.pipeline.project import load_project

MONTHS = [f"2026-{m:02d}" for m in range(1, 13)]
PERSONAL = {"户名": "欧阳某某甲", "联系电话": "13912345678", "身份证号": "140311199001011234"}


# --------------------------------------------------------------------------- statistics by hand
def test_robust_z_by_hand():
    # median 3, |deviations| 2 1 0 1 97 -> MAD 1, scale 1.4826
    z = power.robust_z([1, 2, 3, 4, 100])
    assert z[2] == 0
    assert z[4] == pytest.approx(97 / 1.4826)
    assert z[0] == pytest.approx(-2 / 1.4826)
    # per group, and a floor on the scale for a group of equal values
    z = power.robust_z([5, 5, 5, 10, 20, 30], ["a", "a", "a", "b", "b", "b"], min_scale=0.5)
    assert list(z[:3]) == [0, 0, 0]
    assert z[5] == pytest.approx(10 / (1.4826 * 10))
    assert np.isnan(power.robust_z([1.0, np.nan, 3.0])[1])


def test_estimates_merged_with_the_catch_up_reading():
    k = np.array([[100.0, 60.0, 40.0, 200.0, 100.0, 70.0]])
    e = np.array([[False, True, True, False, False, True]])
    out, unclosed = power.reconcile_estimates(k, e)
    # 60 + 40 + 200 = 300 over three months; the last estimate is never closed
    assert out[0, :5].tolist() == [100.0, 100.0, 100.0, 100.0, 100.0]
    assert np.isnan(out[0, 5]) and unclosed[0, 5] and unclosed.sum() == 1


def test_parse_kwh_cells():
    cells = pd.DataFrame([["估 120", "1,234", "-", None, 56, "８９度", "120(估)", "-5", "停用"]])
    v, est, bad, neg = power.parse_kwh(cells)
    assert v[0, :2].tolist() == [120, 1234] and np.isnan(v[0, 2]) and np.isnan(v[0, 3])
    assert v[0, 4] == 56 and v[0, 5] == 89 and v[0, 6] == 120
    assert est[0].tolist() == [True, False, False, False, False, False, True, False, False]
    assert not bad.any() and neg[0, 7] and np.isnan(v[0, 7]) and np.isnan(v[0, 8])
    assert power.parse_kwh(pd.DataFrame([["约一百"]]))[2][0, 0]


def test_month_labels():
    y, m = power.parse_month_labels(["2026-01", "2026年2月", "202603", "2026/4",
                                     "2026年5月用电量(kWh)", "2026-06-01 00:00:00", "户号",
                                     "2026年度"])
    assert m == [1, 2, 3, 4, 5, 6, None, None] and y[:6] == [2026] * 6
    y, m = power.parse_month_labels(["11月", "12月", "1月"], year_hint=2025)
    assert y == [2025, 2025, 2026] and m == [11, 12, 1]


# --------------------------------------------------------------------------- tiny meter tables
def _wide(path: Path, rows: list[dict]) -> Path:
    pd.DataFrame(rows).to_csv(path, index=False, encoding="utf-8-sig")
    return path


def test_leading_zeros_missing_months_and_personal_columns(tmp_path):
    p = _wide(tmp_path / "m.csv", [
        {"户号": "0000012", "户名": "甲", "用户类别": "居民生活", "村": "东一村",
         "2026-01": "100", "2026-02": "", "2026-04": "估 90"},
        {"户号": "0100200", "户名": "乙", "用户类别": "动力", "村": "西村",
         "2026-01": "3,000", "2026-02": "3100", "2026-04": "3200"},
    ])
    t = power.read_power_table(p)
    assert t.users["user_id"].tolist() == ["0000012", "0100200"]
    assert t.users["category"].tolist() == ["居民", "动力"]
    assert t.months == ["2026-01", "2026-02", "2026-03", "2026-04"]
    assert np.isnan(t.kwh[:, 2]).all() and np.isnan(t.kwh[0, 1])
    assert t.kwh[1].tolist()[:2] == [3000, 3100] and t.kwh[0, 3] == 90
    assert t.estimated_cells == 1 and t.blank_cells == 3
    assert any("2026-03" in n for n in t.notes)
    assert t.dropped_personal == ["户名"] and "户名" not in t.users.columns


def test_leading_zeros_from_a_workbook(tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["某供电所用电量台账 2026年"])
    ws.append(["户号", "类别", "村", "1月", "2月", "3月"])
    ws.append(["0001234567", "居民", "东一村", 120, "估130", 125])
    ws.append(["注：估为估抄"])
    wb.save(tmp_path / "m.xlsx")
    t = power.read_power_table(tmp_path / "m.xlsx")
    assert t.users["user_id"].tolist() == ["0001234567"]
    assert t.months == ["2026-01", "2026-02", "2026-03"]  # year from the title
    assert t.kwh[0].tolist() == [120, 130, 125] and t.estimated[0, 1]


def test_long_format_equals_wide(tmp_path):
    rng = np.random.default_rng(1)
    k = rng.integers(50, 300, (3, 4))
    ids = ["007", "008", "009"]
    wide = [{"户号": u, "用户类别": "居民", "村": "东一村",
             **{f"2026年{j + 1}月": str(k[i, j]) for j in range(4)}} for i, u in enumerate(ids)]
    long = [{"户号": u, "用户类别": "居民", "村": "东一村", "月份": f"2026-{j + 1:02d}",
             "电量": int(k[i, j]), "抄表方式": "估抄" if (i, j) == (1, 2) else "实抄"}
            for i, u in enumerate(ids) for j in range(4)][::-1]  # order does not matter
    a = power.read_power_table(_wide(tmp_path / "w.csv", wide))
    b = power.read_power_table(_wide(tmp_path / "l.csv", long))
    assert b.users["user_id"].tolist() == ["009", "008", "007"]
    order = [ids.index(u) for u in b.users["user_id"]]
    assert np.array_equal(a.kwh[order], b.kwh) and a.months == b.months
    assert b.estimated.sum() == 1 and b.estimated[1, 2]


def test_bad_reading_names_row_and_column(tmp_path):
    p = _wide(tmp_path / "m.csv", [{"户号": "1", "2026-01": "100", "2026-02": "一百"}])
    with pytest.raises(LayerError, match=r"row 2, column .2026-02.: .一百"):
        power.read_power_table(p)
    q = _wide(tmp_path / "n.csv", [{"户号": "1", "村": "x", "备注": "无"}])
    with pytest.raises(LayerError, match="no monthly kWh columns"):
        power.read_power_table(q)


# --------------------------------------------------------------------------- scoring
def _population(rng, n=40, base=150.0):
    return base * np.exp(rng.normal(0, 0.3, n))[:, None] * np.exp(rng.normal(0, 0.1, (n, 12)))


def _table(kwh, cats, villages=None, night=None):
    n = len(kwh)
    users = pd.DataFrame({"user_id": [f"{i:05d}" for i in range(n)], "category": cats,
                          "village": villages if villages is not None else ["东一村"] * n,
                          "township": ["东镇"] * n, "_row": np.arange(2, n + 2)})
    cal = np.arange(1, 13)
    return power.PowerTable(users, np.asarray(kwh, float), np.zeros((n, 12), bool),
                            list(MONTHS), cal, night)


def test_decoys_not_flagged_and_a_planted_site_is():
    rng = np.random.default_rng(7)
    res, agri, dong = _population(rng), _population(rng, 30, 300), _population(rng, 30, 3000)
    heat = np.array([1, 1, .9, .5, 0, 0, 0, 0, 0, 0, .7, 1]) * 1200.0
    res[0] += heat                                   # winter electric heating
    res[1, 5:] += 1500.0                             # planted: hoist and pumps from June
    res[2, :6] = 4.0                                 # a vacant house lived in again
    irr = np.array([0, 0, 0, 0, .5, 1, 1, .7, .2, 0, 0, 0]) * 3000.0
    agri[0] += irr                                   # summer irrigation
    dong[0, 3:] *= 2.5                               # declared expansion in April
    kwh = np.vstack([res, agri, dong])
    cats = ["居民"] * 40 + ["农业"] * 30 + ["动力"] * 30
    t = _table(kwh, cats)
    exp = pd.DataFrame({"user_id": ["00070"], "month": ["2026-04"], "j": [3]})
    s = power.score_users(t, exp).set_index("user_id")
    assert s.loc["00001", "score"] >= 80
    assert s.loc["00001", "onset"] == "2026-06"
    assert "每月多" in s.loc["00001", "reasons"]
    for uid in ("00000", "00002", "00040", "00070"):
        assert s.loc[uid, "score"] < 20, (uid, s.loc[uid, "reasons"])
    assert "冬季采暖" in s.loc["00000", "excused"]
    assert "灌溉季" in s.loc["00040", "excused"]
    assert "已报装增容（2026-04）" in s.loc["00070", "excused"]
    assert s["score"].drop("00001").max() < 50
    # without the expansion list the same growth is flagged (it must be checked)
    assert power.score_users(t).set_index("user_id").loc["00070", "score"] >= 50


def test_level_against_peers_and_night_share():
    rng = np.random.default_rng(3)
    res = _population(rng)
    res[5] += 2000.0                                 # loaded all year: no jump, high level
    night = np.clip(rng.normal(0.3, 0.04, 40), 0, 1)
    night[5] = 0.7
    s = power.score_users(_table(res, ["居民"] * 40, night=night))
    top = s.sort_values("score", ascending=False).iloc[0]
    assert top["user_id"] == "00005" and top["score"] >= 80 and top["level_z"] > 6
    assert "同村居民用户中位数" in top["reasons"] and "谷段" in top["reasons"]


def test_missing_and_estimated_months_do_not_make_a_jump():
    rng = np.random.default_rng(5)
    res = _population(rng)
    est = np.zeros(res.shape, bool)
    res[3, 4], res[3, 5], est[3, 4] = 50.0, res[3, 5] + res[3, 4] - 50.0, True
    res[4, [2, 3, 7]] = np.nan
    t = _table(res, ["居民"] * 40)
    t.estimated = est
    s = power.score_users(t).set_index("user_id")
    assert s.loc["00003", "score"] < 20 and "估抄1个月" in s.loc["00003", "reasons"]
    assert s.loc["00004", "blank"] == 3 and "缺抄3个月" in s.loc["00004", "reasons"]
    naive = power.naive_jump(t)
    assert int(np.argmax(naive)) == 3  # the catch-up reading fools the naive list


# --------------------------------------------------------------------------- a project
def _meter_csv(folder: Path) -> Path:
    """50 users in the tiny project's villages, one planted, 20 with coordinates."""
    rng = np.random.default_rng(11)
    n = 50
    k = _population(rng, n)
    k[7, 6:] += 2500.0
    to_ll = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    lon, lat = to_ll.transform(X0 + 1500 + rng.uniform(-400, 400, n),
                               Y0 + 500 + rng.uniform(-400, 400, n))
    rows = []
    for i in range(n):
        r = {"户号": f"00{i:06d}", **PERSONAL, "用户类别": "居民",
             "村": ["东一村", "东二", "西村"][i % 3],
             "经度": f"{lon[i]:.6f}" if i < 20 else "", "纬度": f"{lat[i]:.6f}" if i < 20 else ""}
        r.update({f"2026年{j + 1}月": f"{k[i, j]:.0f}" for j in range(12)})
        rows.append(r)
    rows[7]["经度"] = rows[7]["纬度"] = ""   # the planted site has no coordinates
    return _wide(folder / "meters.csv", rows)


@pytest.fixture
def power_project(tmp_path):
    _meter_csv(tmp_path)

    def edit(d):
        d["power"] = {"source": "meters.csv", "top": 5, "min_score": 50}

    return make_project(tmp_path, edit)


def test_project_result_placement_and_factor_layer(power_project):
    proj = load_project(power_project)
    r = power.check_power(proj)
    top = r.users.iloc[0]
    assert top["user_id"] == "00000007" and top["placed_by"] == "村范围"
    assert set(r.users["placed_by"]) == {"坐标", "村范围"}
    assert (r.users["placed_by"] == "坐标").sum() == 19
    layer = power.anomaly_layer(proj, result=r)
    assert len(layer) == power.SPREAD_POINTS and layer["weight"].sum() == pytest.approx(
        top["score"] / 100)
    # spread over 东二村 (written 东二 in the table; the north-east square)
    assert layer.geometry.x.between(X0 + 1000, X0 + 2000).all()
    assert layer.geometry.y.between(Y0 + 1000, Y0 + 2000).all()
    gdf, info = power.read_anomaly_source(proj)
    assert info.features == len(gdf) and gdf.crs == CRS
    assert power.is_anomaly_source(proj.factors[0].source) is False


def test_personal_columns_never_reach_the_outputs(power_project, tmp_path):
    proj = load_project(power_project)
    r = power.check_power(proj)
    xlsx, gpkg = tmp_path / "out" / "台账.xlsx", tmp_path / "out" / "a.gpkg"
    assert write_ledger(r, xlsx, project=proj, min_score=0) == len(r.users)
    write_anomalies(r, gpkg, min_score=0)
    with zipfile.ZipFile(xlsx) as z:
        text = "".join(z.read(n).decode("utf-8") for n in z.namelist() if n.endswith(".xml"))
    ledger = pd.read_excel(xlsx, header=2, dtype=str)
    assert list(ledger.columns[:5]) == ["序号", "户号", "类别", "乡镇", "村"]
    assert {"异常说明", "建议", "责任人"} <= set(ledger.columns)
    assert ledger["户号"].str.startswith("00").all()
    layers = [gpd.read_file(gpkg, layer=n) for n in ("anomalies", "anomaly_points")]
    for lay in layers:
        assert not set(PERSONAL) & set(lay.columns)
    for value in PERSONAL.values():
        assert value not in text
        for lay in layers:
            assert not lay.astype(str).apply(lambda c, v=value: c.str.contains(v)).any().any()


def test_power_config_is_checked(tmp_path):
    _meter_csv(tmp_path)

    def edit(d):
        d["power"] = {"source": "meters.csv", "top": 0}

    proj = load_project(make_project(tmp_path, edit))
    with pytest.raises(ProjectFileError, match=r"power\.top"):
        power.power_config(proj)


def _cli(*args):
    code = "import riskmap.cli.power; from riskmap.cli import main; main()"
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env=env, timeout=120)


def test_cli_power_check(power_project, tmp_path):
    r = _cli("power-check", str(power_project), "--top", "3", "--out", str(tmp_path / "o"))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert any(ln.startswith("1  00000007") for ln in lines), r.stdout
    assert "个人信息列已忽略" in r.stdout and "欧阳" not in r.stdout
    assert not [ln for ln in lines if re.search(r"\bnan\b", ln)]  # no onset: blank, not 'nan'
    assert (tmp_path / "o" / "供电台账.xlsx").is_file()
    again = _cli("power-check", str(power_project), "--out", str(tmp_path / "o"))
    assert again.returncode == 1 and "--overwrite" in again.stderr
    j = _cli("power-check", str(power_project), "--json", "--top", "2")
    data = json.loads(j.stdout)
    assert data["top"][0]["user_id"] == "00000007"
    assert data["summary"]["personal_columns_dropped"] == list(PERSONAL)


def test_cli_power_check_without_power_section(tmp_path):
    path = make_project(tmp_path)
    r = _cli("power-check", str(path))
    assert r.returncode == 1 and "no 'power' section" in r.stderr
    assert "Traceback" not in r.stderr
    assert yaml.safe_load(path.read_text(encoding="utf-8"))["name"] == "tiny"


def test_backtests_see_no_reading_from_the_split_on():
    import datetime as dt

    import numpy as np
    import pandas as pd

    from riskmap.errors import LayerError
    from riskmap.models.power import PowerTable, table_until

    months = ["2025-11", "2025-12", "2026-01", "2026-02"]
    t = PowerTable(users=pd.DataFrame({"user_id": ["001"]}), kwh=np.array([[1.0, 2, 3, 4]]),
                   estimated=np.zeros((1, 4), bool), months=months,
                   calendar=np.array([11, 12, 1, 2]))
    cut = table_until(t, dt.date(2026, 1, 15))
    assert cut.months == ["2025-11", "2025-12"] and cut.kwh.tolist() == [[1.0, 2.0]]
    assert cut.calendar.tolist() == [11, 12] and t.months == months  # input unchanged
    assert table_until(t, dt.date(2026, 3, 1)) is t
    with pytest.raises(LayerError, match="no month before 2025-11"):
        table_until(t, dt.date(2025, 11, 30))


# --------------------------------------------------------------------------- registry, files
def test_derived_reader_registered_and_hashed(power_project):
    from riskmap.load.inputs import load_inputs
    from riskmap.load.sources import DERIVED

    # the pipeline registers power's reader wrapped in the user cache (same files hashed)
    assert DERIVED["power"].files is power.READER.files
    d = yaml.safe_load(power_project.read_text(encoding="utf-8"))
    d["factors"].append({"name": "power", "label": "用电异常", "source": "power:anomalies",
                         "kind": "density", "bandwidth": 300, "weight_field": "weight",
                         "weight": 5})
    power_project.write_text(yaml.safe_dump(d, allow_unicode=True), encoding="utf-8")
    proj = load_project(power_project)
    inputs = load_inputs(proj)
    assert len(inputs.factors["power"]) == power.SPREAD_POINTS
    assert "meters.csv" in inputs.hashes  # the layer is made from the meter table
    with pytest.raises(LayerError, match=r"no reader of 'power' sources is registered"):
        load_inputs(proj, derived={})
    # a project without a power section names the missing section
    del d["power"]
    power_project.write_text(yaml.safe_dump(d, allow_unicode=True), encoding="utf-8")
    with pytest.raises(LayerError, match="no 'power' section"):
        load_inputs(load_project(power_project))


def test_outputs_are_atomic_and_never_clobbered(power_project, tmp_path, monkeypatch):
    proj = load_project(power_project)
    r = power.check_power(proj)
    xlsx, gpkg = tmp_path / "o" / "台账.xlsx", tmp_path / "o" / "a.gpkg"
    n = write_anomalies(r, gpkg, min_score=0)
    write_ledger(r, xlsx, project=proj, min_score=0)
    with pytest.raises(ExportError, match="--overwrite"):
        write_anomalies(r, gpkg)
    with pytest.raises(ExportError, match="--overwrite"):
        write_ledger(r, xlsx)
    before = gpkg.read_bytes()

    def broken(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(gpd.GeoDataFrame, "to_file", broken)
    with pytest.raises(OSError, match="disk full"):
        write_anomalies(r, gpkg, min_score=0, overwrite=True)
    assert gpkg.read_bytes() == before  # the previous layer stays whole
    assert sorted(p.name for p in gpkg.parent.iterdir()) == ["a.gpkg", "台账.xlsx"]
    monkeypatch.undo()
    assert len(gpd.read_file(gpkg, layer="anomalies")) == n
    assert write_anomalies(r, gpkg, min_score=101, overwrite=True) == 0
    assert not gpkg.exists()  # nobody flagged: no stale layer is left


def test_expansion_months_read_as_dates(tmp_path):
    p = tmp_path / "exp.csv"
    pd.DataFrame({"户号": ["001", "002", "003"],
                  "增容完成日期": ["2026年4月", "46127", "20260301"]}).to_csv(
        p, index=False, encoding="utf-8-sig")
    e = power.read_expansions(p, MONTHS)
    assert e["month"].tolist() == ["2026-04", "2026-04", "2026-03"]
    assert e["j"].tolist() == [3, 3, 2]
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"户号": ["001"], "完成日期": ["下个月"]}).to_csv(bad, index=False)
    with pytest.raises(LayerError, match="is not a month"):
        power.read_expansions(bad, MONTHS)


def test_build_from_pipeline_alone_registers_power(tmp_path):
    """A fresh interpreter that imports only the project loader and the build builds the
    sample project, whose factor power_anomalies reads power:anomalies."""
    root = Path(__file__).resolve().parents[1]
    code = ("import sys; from riskmap.pipeline.project import load_project; "
            "from riskmap.pipeline.build import build; "
            f"p = load_project({str(root / 'layers' / 'project.yaml')!r}); "
            "assert any(f.source.path.name == 'power:anomalies' for f in p.factors); "
            "r = build(p, out=sys.argv[1], townships=['荫营镇']); "
            "print(len(r.inputs.factors['power_anomalies']), "
            "'power_meters.xlsx' in r.inputs.hashes)")
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "out")], capture_output=True,
                       text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    n, hashed = r.stdout.split()
    assert int(n) > 0 and hashed == "True"


def test_ledger_names_the_roster_cadre_of_each_users_village(tmp_path):
    """责任人 comes from the project's roster by (township, village), as the plan's ledgers."""
    from riskmap.load.roster import read_roster
    from riskmap.pipeline.power import power_check

    proj = load_project(Path(__file__).resolve().parents[1] / "layers" / "project.yaml")
    done = power_check(proj, out=tmp_path, min_score=0)
    ledger = pd.read_excel(tmp_path / "供电台账.xlsx", header=2, dtype=str).fillna("")
    roster = read_roster(proj)
    expected = [roster.lookup(t, v, None)[0] for t, v in zip(ledger["乡镇"], ledger["村"],
                                                                strict=True)]
    assert done.written["ledger_rows"] == len(ledger) > 0
    assert list(ledger["责任人"]) == expected
    assert sum(bool(e) for e in expected) >= len(ledger) // 2  # most users lie in a village


# --------------------------------------------------------------------------- one name, two villages
def _twin_villages(folder: Path) -> None:
    """同名村 in both townships (east and west halves of the tiny district), with committee
    points; 东二村 stays unique."""
    import shapely

    box = shapely.box
    gpd.GeoDataFrame(
        {"name": ["同名村", "东二村", "同名村"], "township": ["东镇", "东镇", "西镇"]},
        geometry=[box(X0 + 1000, Y0, X0 + 2000, Y0 + 1000),
                  box(X0 + 1000, Y0 + 1000, X0 + 2000, Y0 + 2000),
                  box(X0, Y0, X0 + 1000, Y0 + 2000)], crs=CRS,
    ).to_file(folder / "tiny.gpkg", layer="twins")
    gpd.GeoDataFrame(
        {"name": ["同名村", "东二村", "同名村"], "township": ["东镇", "东镇", "西镇"]},
        geometry=shapely.points([(X0 + 1500, Y0 + 500), (X0 + 1500, Y0 + 1500),
                                 (X0 + 500, Y0 + 1000)]), crs=CRS,
    ).to_file(folder / "tiny.gpkg", layer="twin_points")


def _twin_project(folder: Path, township_column: bool = False) -> Path:
    """Users of 同名村 with coordinates in the east and in the west, and without any."""
    rng = np.random.default_rng(5)
    to_ll = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    k = _population(rng, 12)
    k[1, 6:] += 4000.0  # a planted user without coordinates in 同名村
    east = to_ll.transform(X0 + 1500, Y0 + 400)
    west = to_ll.transform(X0 + 400, Y0 + 1200)
    rows = []
    for i in range(12):
        ll = {0: east, 2: east, 3: west, 4: west}.get(i)
        r = {"户号": f"U{i:03d}", "用户类别": "居民", "村": "东二村" if i >= 9 else "同名村",
             "经度": f"{ll[0]:.6f}" if ll else "", "纬度": f"{ll[1]:.6f}" if ll else ""}
        if township_column:
            r["乡镇"] = "西镇" if i in (1, 5) else ("东镇" if i < 9 else "")
        r.update({f"2026年{j + 1}月": f"{k[i, j]:.0f}" for j in range(12)})
        rows.append(r)
    _wide(folder / "meters.csv", rows)

    def edit(d):
        _twin_villages(folder)
        d["villages"] = {"source": "tiny.gpkg:twins", "name_field": "name",
                         "township_field": "township"}
        d["village_points"] = {"source": "tiny.gpkg:twin_points", "name_field": "name",
                               "township_field": "township"}
        d["power"] = {"source": "meters.csv", "min_score": 0}

    return make_project(folder, edit)


def test_a_village_name_in_two_townships_is_never_guessed(tmp_path):
    """Coordinates place a user and give its township; without them a duplicated name is
    placed nowhere, named with the users it leaves out, and 乡镇 stays blank in 供电台账."""
    proj = load_project(_twin_project(tmp_path))
    r = power.check_power(proj)
    u = r.users.set_index("user_id")
    assert u.loc[["U000", "U002"], "township"].tolist() == ["东镇", "东镇"]
    assert u.loc[["U003", "U004"], "township"].tolist() == ["西镇", "西镇"]
    assert (u.loc[["U000", "U002", "U003", "U004"], "placed_by"] == "坐标").all()
    lost = ["U001", "U005", "U006", "U007", "U008"]
    assert (u.loc[lost, "placed_by"] == power.AMBIGUOUS).all()
    assert u.loc[lost, "township"].isna().all() and u.loc[lost].geometry.isna().all()
    # 东二村 is unique: its committee point, and its township from the villages
    assert (u.loc[["U009", "U010", "U011"], "placed_by"] == "村委会").all()
    assert (u.loc[["U009", "U010", "U011"], "township"] == "东镇").all()
    note = next(n for n in r.notes if n.startswith("村名重复"))
    assert "同名村 (东镇、西镇)" in note and "户号 U001, U005, U006, U007, U008" in note
    # the ledger: 乡镇 blank, 定位 村名重复, and what to do about it
    led = power.ledger_frame(r, min_score=0).set_index("户号")
    assert (led.loc[lost, "乡镇"] == "").all() and (led.loc[lost, "定位"] == "村名重复").all()
    assert led.loc["U001", "建议"].count("核实所属乡镇") == 1
    # never on the map: not in the factor layer, not spread over either village
    layer = power.anomaly_layer(proj, result=r, min_score=0)
    assert not set(layer["user_id"]) & set(lost)
    assert set(layer["user_id"]) == {"U000", "U002", "U003", "U004", "U009", "U010", "U011"}


def test_a_township_column_tells_twin_villages_apart(tmp_path):
    """With 乡镇 in the meter table, users without coordinates go to their own 同名村."""
    proj = load_project(_twin_project(tmp_path, township_column=True))
    r = power.check_power(proj)
    u = r.users.set_index("user_id")
    assert (u.loc[["U001", "U005"], "placed_by"] == "村委会").all()
    west = u.loc[["U001", "U005"]].geometry
    assert (west.x < X0 + 1000).all() and (u.loc[["U006", "U007"]].geometry.x > X0 + 1000).all()
    assert not (u["placed_by"] == power.AMBIGUOUS).any()
    layer = power.anomaly_layer(proj, result=r, min_score=0)
    spread = layer[layer["user_id"] == "U001"]
    assert len(spread) == power.SPREAD_POINTS and (spread.geometry.x < X0 + 1000).all()


def test_county_b_meter_table_names_its_duplicated_villages(tmp_path):
    """County B's 村-only meter table: 上屯村, 南营村, 安峪村, 安窑村 stand for two villages
    each; users there with coordinates get the township their point lies in, the others
    are not placed and named."""
    import shapely
    from countyb.cache import county_b as make_county_b

    from riskmap.load.layers import read_source

    project = load_project(make_county_b(tmp_path))
    try:
        r = power.check_power(project)
    except LayerError as e:  # the villages' GBK field names are another issue's (class 1)
        pytest.skip(f"county B villages not readable yet: {e}")
    twins = ["上屯村", "南营村", "安峪村", "安窑村"]
    note = next(n for n in r.notes if n.startswith("村名重复"))
    assert all(t in note for t in twins)
    u = r.users
    in_twin = u["village"].isin(twins)
    lost = u["placed_by"] == power.AMBIGUOUS
    assert lost.any() and (lost <= in_twin).all() and u.loc[lost, "township"].isna().all()
    located = in_twin & (u["placed_by"] == "坐标")
    assert located.any()
    towns, _ = read_source(project.townships.source, project.crs)
    name = project.townships.name_field
    for _, row in u[located].iterrows():  # the township the point lies in
        hit = towns[shapely.contains(towns.geometry.values, row.geometry)]
        assert row["township"] == hit[name].iloc[0]
    led = power.ledger_frame(r, min_score=0)
    assert (led.loc[led["定位"] == "村名重复", "乡镇"] == "").all()


# --------------------------------------------------------------------------- evidence
def test_series_shape_steady_intermittent_and_ended():
    rng = np.random.default_rng(12)
    k = _population(rng, 40, 200)
    k[1, 4:] *= 3.0                                  # a new machine: a flat step
    k[2, 4:] += 1500.0 * (rng.random(8) < 0.75)      # digging: on and off
    k[2, [5, 7]] = k[2, 4] + 1500.0
    k[3, 3:8] += 2000.0                              # a step that ended in September
    s = power.score_users(_table(k, ["商业"] * 40)).set_index("user_id")
    assert s.loc["00001", "steady"] and not s.loc["00002", "steady"]
    assert s.loc["00003", "ended"] == 8 and s.loc["00001", "ended"] == -1


def test_a_village_s_own_seasonal_pattern_is_no_anomaly():
    """Six 商业 users of one village share a new load; the same load alone stands out."""
    rng = np.random.default_rng(4)
    k = _population(rng, 60, 400)
    shared = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1]) * 1200.0
    k[:6] += shared                                  # the village's new scheme, all of them
    k[30] += shared                                  # one user elsewhere
    villages = ["东一村"] * 6 + ["西村"] * 54
    s = power.score_users(_table(k, ["商业"] * 60, villages)).set_index("user_id")
    assert s.loc[[f"{i:05d}" for i in range(6)], "jump_z"].max() < s.loc["00030", "jump_z"]


def test_place_shape_and_case_evidence_said_in_the_reasons():
    from riskmap.models.power.evidence import CASE_FACTOR, PLACE_FLOOR, apply_evidence, case_drops

    base = pd.DataFrame({"score": [80.0, 80.0, 80.0, 80.0], "reasons": ["a", "b", "c", "d"],
                         "steady": [False, True, False, False], "jump_z": [5.0] * 4})
    q = np.array([0.9, 0.9, 0.0, 0.9])
    hits = case_drops(np.array([-1, -1, -1, 8]), MONTHS, np.array([0.0, 0, 0, 100]),
                      np.zeros(4), (np.array([400.0]), np.array([0.0]),
                                    np.array(["2026-08-10"], "datetime64[D]")))
    assert hits[:3] == [None] * 3 and hits[3][0] == "2026-08-10"
    out = apply_evidence(base, q, hits)
    assert out["score"].tolist() == [80.0, 56.0, 80.0 * PLACE_FLOOR, 100.0]
    assert "近采矿要素" in out["reasons"][0] and "似新增设备" in out["reasons"][1]
    assert "离采矿要素较远" in out["reasons"][2] and f"×{CASE_FACTOR:g}" in out["reasons"][3]
    assert out["place_rank"].tolist() == [0.9, 0.9, 0.0, 0.9]
