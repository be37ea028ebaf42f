"""``riskmap evaluate``: backtests on the tiny project, no leakage, the files and the CLI."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import warnings

import geopandas as gpd
import numpy as np
import pytest
import shapely
from click.testing import CliRunner
from tinyproject import CRS, X0, Y0, make_project

import riskmap.cli.build
import riskmap.cli.evaluate  # noqa: F401  (registers the command)
from riskmap.cli import cli
from riskmap.errors import LayerError
from riskmap.load.inputs import load_inputs
from riskmap.models import metrics
from riskmap.models.evaluate import (
    NoIncidentsError,
    NoTestEventsError,
    NoTrainingEventsError,
    SplitError,
    count_events,
    evaluate,
    model_surface,
    patrol_cells,
    quarters,
    read_incidents,
)
from riskmap.pipeline.project import load_project
from riskmap.score.engine import compute

SPLIT = dt.date(2026, 1, 1)
# (x, y offsets from the district's south-west corner, date)
PRE = [(320, 420, "2025-02-10"), (280, 450, "2025-05-03"), (1600, 1500, "2025-07-20"),
       (1650, 1550, "2025-09-02"), (900, 1750, "2025-10-15"), (1200, 300, "2025-11-30")]
POST = [(330, 380, "2026-02-01"), (1620, 1480, "2026-04-12"), (1500, 900, "2026-07-07"),
        (700, 1650, "2026-10-20")]
OUTSIDE = [(2500, 1000, "2026-03-03")]  # east of the district: never a test event
KEYS = {"hit@5", "PAI@5", "hit@10", "PAI@10", "hit@20", "PAI@20", "PEI@10", "AUC", "n_test"}
CMD = "import riskmap.cli.evaluate; from riskmap.cli import main; main()"
# the case east of the district is reported as outside (on purpose)
pytestmark = pytest.mark.filterwarnings("ignore:.*outside the district:UserWarning")


def write_incidents(folder, rows, layer="incidents"):
    gpd.GeoDataFrame(
        {"case_no": [f"案{i}" for i in range(len(rows))], "date": [r[2] for r in rows]},
        geometry=shapely.points([(X0 + r[0], Y0 + r[1]) for r in rows]), crs=CRS,
    ).to_file(folder / "tiny.gpkg", layer=layer)


def dated_project(folder, rows=None, extra=None):
    """The tiny project with a dated incidents layer and two factors built on it."""

    def edit(d):
        write_incidents(folder, PRE + POST + OUTSIDE if rows is None else rows)
        d["factors"] += [
            {"name": "past_cases", "label": "既往案件", "source": "tiny.gpkg:incidents",
             "kind": "density", "bandwidth": 200, "date_field": "date", "half_life_days": 180,
             "weight": 10},
            # no date_field of its own: filtered by the incidents' date_field
            {"name": "near_cases", "label": "案件附近", "source": "tiny.gpkg:incidents",
             "kind": "proximity", "range": 300, "weight": 5},
        ]
        d["incidents"] = {"source": "tiny.gpkg:incidents", "date_field": "date",
                          "kde_bandwidth": 200}
        if extra:
            extra(d)

    return make_project(folder, edit)


def factor_arrays(path):
    project = load_project(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a case moved far away is reported as outside
        inputs = load_inputs(project)
    surface, _ = model_surface(project, inputs, SPLIT)
    return {n: (f.value.copy(), f.explain.copy()) for n, f in surface.factors.items()}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny")
    return dated_project(folder)


@pytest.fixture(scope="module")
def result(tiny):
    return evaluate(load_project(tiny), SPLIT, offset=True, rolling="quarter", folds=4)


# --- no leakage ---------------------------------------------------------------------
def test_post_split_incidents_change_no_factor(tmp_path, tiny):
    base = factor_arrays(tiny)
    assert set(base) >= {"past_cases", "near_cases", "mines"}
    moved = [(50_000, 50_000, POST[0][2]), *POST[1:]]  # far away
    variants = {"moved": PRE + moved + OUTSIDE, "deleted": PRE + POST[1:] + OUTSIDE,
                "no test events": PRE}
    for name, rows in variants.items():
        folder = tmp_path / name
        folder.mkdir()
        other = factor_arrays(dated_project(folder, rows))
        assert set(other) == set(base)
        for f in base:
            np.testing.assert_array_equal(other[f][0], base[f][0], err_msg=f"{name}: {f}")
            np.testing.assert_array_equal(other[f][1], base[f][1], err_msg=f"{name}: {f}")


def test_pre_split_incident_moved_changes_the_case_factors(tmp_path, tiny):
    base = factor_arrays(tiny)
    rows = [(1000, 1000, PRE[0][2]), *PRE[1:], *POST, *OUTSIDE]
    other = factor_arrays(dated_project(tmp_path, rows))
    assert not np.array_equal(other["past_cases"][0], base["past_cases"][0])
    assert not np.array_equal(other["near_cases"][0], base["near_cases"][0])
    np.testing.assert_array_equal(other["mines"][0], base["mines"][0])


# --- the result -----------------------------------------------------------------------
def test_result_keys_and_baselines(result):
    for name in ("model", "kde", "uniform"):
        assert KEYS <= set(result[name]), name
        assert result[name]["n_test"] == 4  # the case east of the district is not counted
    assert result["n_train"] == 6 and result["n_test"] == 4 and result["negatives"] == 0
    assert result["split"] == "2026-01-01"
    assert result["test_period"] == ["2026-01-01", "2026-10-20"]
    assert result["unit"] == "patrol cells (100 m)"
    assert result["events"].startswith("points")
    guard = result["leakage_guard"]
    assert "before 2026-01-01" in guard and "past_cases" in guard and "near_cases" in guard
    assert result["filtered_factors"]["near_cases"] == {
        "date_field": "date", "from_incidents": True, "kept": 6, "dropped": 5}
    u = result["uniform"]
    assert (u["hit@10"], u["PAI@10"], u["AUC"]) == pytest.approx((0.1, 1.0, 0.5))
    assert result["model"]["AUC"] > 0.5 and result["kde"]["AUC"] > 0.5
    assert result["cells"] == 400 and result["area_km2"] == pytest.approx(4.0)
    assert len(result["curves"]["area"]) == len(result["curves"]["model"]) == 201


def test_offset_and_rolling(result):
    o = result["offset"]
    assert o["shift_m"] == [50.0, 50.0]
    for name in ("model", "kde"):
        assert o[name]["delta_PAI@10"] == pytest.approx(o[name]["PAI@10"] - o[name]["PAI@10_base"])
    r = result["rolling"]
    assert [f["quarter"] for f in r["folds"]] == ["2026Q1", "2026Q2", "2026Q3", "2026Q4"]
    assert [f["n_test"] for f in r["folds"]] == [1, 1, 1, 1]
    assert [f["n_train"] for f in r["folds"]] == [6, 7, 8, 9]
    assert r["folds_used"] == 4 and r["n_test_total"] == 4
    auc = np.mean([f["model"]["AUC"] for f in r["folds"]])
    assert r["mean"]["model"]["AUC"] == pytest.approx(auc)


def test_quarters():
    assert quarters(dt.date(2026, 11, 8), 2) == [
        (dt.date(2026, 7, 1), dt.date(2026, 9, 30)), (dt.date(2026, 10, 1), dt.date(2026, 11, 8))]
    assert quarters(dt.date(2026, 2, 1), 2)[0] == (dt.date(2025, 10, 1), dt.date(2025, 12, 31))


def test_shifted_grid_and_area_events(tiny):
    project = load_project(tiny)
    surface = compute(project, load_inputs(project))
    cells = patrol_cells(surface.grid, surface.area, 4)
    np.testing.assert_array_equal(cells.valid, surface.p_area)
    np.testing.assert_array_equal(
        cells.to_patrol(surface.score, 4, "max"), surface.p_score[surface.p_area])
    shifted = patrol_cells(surface.grid, surface.area, 4, shift=2)
    assert shifted.grid.x0 == surface.grid.x0 - 50 and shifted.grid.cell == 100
    assert shifted.valid.sum() == 21 * 21 and shifted.share.sum() == pytest.approx(400)
    # a polygon over the east half of one patrol cell and the west half of the next
    poly = shapely.box(X0 + 50, Y0 + 1900, X0 + 150, Y0 + 2000)
    area = count_events([poly], cells, area_mode=True)
    assert area.sum() == pytest.approx(1.0) and np.sort(area)[-2:] == pytest.approx([0.5, 0.5])
    centroid = count_events([poly], cells)
    assert centroid.sum() == 1.0 and centroid.max() == 1.0


# --- polygons with a judgement -------------------------------------------------------------
def test_polygon_incidents_with_judgement(tmp_path):
    def extra(d):
        j = ["违法", "违法", "合法", "伪变化", "违法", "违法", "伪变化", "合法", "违法"]
        when = ["2025-03-01", "2025-06-01", "2025-07-01", "2025-08-01", "2025-12-31",
                "2026-02-01", "2026-03-01", "2026-04-01", "2026-05-01"]
        xy = [(300, 400), (1600, 1500), (900, 900), (1200, 300), (600, 1700), (320, 420),
              (1500, 900), (1100, 1100), (1650, 1520)]
        gpd.GeoDataFrame(
            {"judgement": j, "date": when},
            geometry=[shapely.box(X0 + x - 60, Y0 + y - 40, X0 + x + 60, Y0 + y + 40)
                      for x, y in xy], crs=CRS,
        ).to_file(tmp_path / "tiny.gpkg", layer="changes")
        d["factors"] = [f for f in d["factors"] if f["name"] not in ("past_cases", "near_cases")]
        d["incidents"] = {"source": "tiny.gpkg:changes", "date_field": "date",
                          "judgement_field": "judgement"}

    path = dated_project(tmp_path, extra=extra)
    r = evaluate(load_project(path), SPLIT)
    assert r["n_train"] == 3 and r["n_test"] == 2  # 违法 only; 伪变化 and 合法 are not events
    assert r["model"]["n_test"] == r["kde"]["n_test"] == 2
    assert r["negatives"] == 2 and r["negatives_test_period"] == 1 and r["ignored_rows"] == 2
    assert r["events"].startswith("centroid") and "伪变化" in r["events"]

    def by_area(d):
        extra(d)
        d["incidents"]["events_as"] = "area"

    r = evaluate(load_project(dated_project(tmp_path, extra=by_area)), SPLIT)
    assert r["events"].startswith("area") and r["n_test"] == pytest.approx(2)
    assert r["model"]["tie_groups"] > 1


# --- errors -------------------------------------------------------------------------------
def test_errors(tmp_path):
    (tmp_path / "none").mkdir()
    project = load_project(make_project(tmp_path / "none"))
    with pytest.raises(NoIncidentsError, match="no incidents configured"):
        evaluate(project, SPLIT)
    project = load_project(dated_project(tmp_path))
    with pytest.raises(SplitError, match="outside the incident dates"):
        evaluate(project, dt.date(2024, 1, 1))
    with pytest.raises(SplitError, match="outside the incident dates"):
        evaluate(project, dt.date(2027, 1, 1))
    # events before the split exist, but none inside the district after it
    folder = tmp_path / "b"
    folder.mkdir()
    p = load_project(dated_project(folder, [*PRE, (2500, 1000, "2026-03-03")]))
    with pytest.raises(NoTestEventsError, match="no events from 2026-01-01"):
        evaluate(p, SPLIT)
    folder = tmp_path / "c"
    folder.mkdir()
    p = load_project(dated_project(folder, [(2500, 1000, "2025-03-03"), *POST]))
    with pytest.raises(NoTrainingEventsError, match="no events before 2026-01-01"):
        evaluate(p, SPLIT)


# --- dates as offices write them -----------------------------------------------------------
# text with slashes, Chinese, an Excel serial number, a real date cell, ISO text
DATE_FORMS = (
    lambda d: f"{d.year}/{d.month}/{d.day}",
    lambda d: f"{d.year}年{d.month}月{d.day}日",
    lambda d: (d - dt.date(1899, 12, 30)).days,
    lambda d: dt.datetime(d.year, d.month, d.day),
    lambda d: d.isoformat(),
)
TABLE = {"path": "cases.xlsx", "x_field": "X", "y_field": "Y", "crs": CRS}


def write_case_table(path, rows, mixed=True):
    """An incidents sheet (X, Y, date): ``(x, y, date)`` rows, a date in each form when mixed.

    A value that is not a ``datetime.date`` is written as it is (for bad cells).
    """
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["编号", "X", "Y", "date"])
    for i, (x, y, d) in enumerate(rows):
        if isinstance(d, dt.date):
            d = DATE_FORMS[i % len(DATE_FORMS)](d) if mixed else d.isoformat()
        ws.append([f"案{i}", x, y, d])
    wb.save(path)


def table_project(folder, rows, mixed=True):
    """The tiny project with its incidents (and a factor built on them) in cases.xlsx."""

    def edit(d):
        write_case_table(folder / "cases.xlsx", rows, mixed)
        d["factors"].append({"name": "near_cases", "label": "案件附近", "source": TABLE,
                             "kind": "proximity", "range": 300, "weight": 5})
        d["incidents"] = {"source": TABLE, "date_field": "date", "kde_bandwidth": 200}

    return make_project(folder, edit)


def test_dates_in_every_office_form(tmp_path):
    """2023/12/5, 2023年12月5日, Excel serials and date cells backtest as ISO text does."""
    rows = [(X0 + x, Y0 + y, dt.date.fromisoformat(d)) for x, y, d in PRE + POST + OUTSIDE]
    got = {}
    for mixed in (False, True):
        folder = tmp_path / ("mixed" if mixed else "iso")
        folder.mkdir()
        r = evaluate(load_project(table_project(folder, rows, mixed)), SPLIT,
                     rolling="quarter", folds=4)
        got[mixed] = {k: v for k, v in r.items() if k not in ("evaluated", "seconds")}
    assert got[True]["n_train"] == 6 and got[True]["n_test"] == 4
    assert got[True]["filtered_factors"]["near_cases"]["dropped"] == 5
    assert got[True] == got[False]


def test_bad_dates_are_listed_at_once(tmp_path):
    rows = [(X0 + x, Y0 + y, dt.date.fromisoformat(d)) for x, y, d in PRE + POST]
    rows[1] = (*rows[1][:2], "2025/13/40")  # sheet row 3
    rows[4] = (*rows[4][:2], "上周")  # sheet row 6
    rows[7] = (*rows[7][:2], None)  # sheet row 9: blank
    rows[8] = (*rows[8][:2], "5月3日")  # sheet row 10: no year
    project = load_project(table_project(tmp_path, rows))
    with pytest.raises(LayerError) as e:
        read_incidents(project, shapely.box(X0, Y0, X0 + 2000, Y0 + 2000))
    msg = str(e.value)
    assert "4 row(s) without a date in 'date'" in msg and "cases.xlsx" in msg
    for row, why in ((3, "'2025/13/40' 不存在"), (6, "'上周' 无法识别"), (9, "为空"),
                     (10, "没有年份")):
        assert f"row {row}: " in msg and why in msg, (row, msg)
    assert "row 2:" not in msg and "row 4:" not in msg


def _ledger_project(folder, rows):
    """The tiny project with a case ledger (案件编号, X, Y, 发现日期) and a factor on it."""
    import openpyxl

    def edit(d):
        wb = openpyxl.Workbook()
        ws = wb.active
        ws.append(["序号", "案件编号", "X", "Y", "发现日期"])
        for i, (no, x, y, day_) in enumerate(rows):
            ws.append([i + 1, no, X0 + x, Y0 + y, day_])
        wb.save(folder / "cases.xlsx")
        d["factors"].append({"name": "near_cases", "label": "案件附近", "source": TABLE,
                             "kind": "proximity", "range": 300, "weight": 5})
        d["incidents"] = {"source": TABLE, "date_field": "发现日期", "kde_bandwidth": 200}

    return make_project(folder, edit)


def test_the_same_case_twice_counts_once(tmp_path):
    """Two rows with one 案件编号 and one date (written two ways) are one case, named;
    two cases at one place (two numbers) stay two."""
    base = [(f"案{i}", x, y, d) for i, (x, y, d) in enumerate(PRE + POST + OUTSIDE)]
    twice = [base[0], ("案0", base[0][1], base[0][2], dt.datetime(2025, 2, 10)), *base[1:],
             ("案99", POST[0][0], POST[0][1], POST[0][2])]  # another case where 案6 was
    got = {}
    for name, rows in (("base", base), ("twice", twice)):
        folder = tmp_path / name
        folder.mkdir()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            got[name] = evaluate(load_project(_ledger_project(folder, rows)), SPLIT)
        got[name + "_warnings"] = [str(w.message) for w in caught]
    a, b = got["base"], got["twice"]
    assert b["n_train"] == a["n_train"] == 6 and b["n_test"] == a["n_test"] + 1 == 5
    assert a["same_case_rows"] == 0 and b["same_case_rows"] == 1
    assert b["same_cases"] == [{"case": "案0", "date": "2025-02-10", "rows": [2, 3]}]
    said = [m for m in got["twice_warnings"] if "同一案件" in m]
    assert said and "案0 2025-02-10: rows 2, 3" in said[0] and "counted once" in said[0]
    # the factor built on the ledger sees the case once too
    fa, fb = a["filtered_factors"]["near_cases"], b["filtered_factors"]["near_cases"]
    assert fb["kept"] == fa["kept"] and fb["same_case_rows"] == 1


# --- the command line ---------------------------------------------------------------------
def test_cli_writes_json_png_html(tmp_path):
    proj = dated_project(tmp_path)
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    r = subprocess.run([sys.executable, "-c", CMD, "evaluate", str(proj), "--split",
                        "2026-01-01", "--offset", "-q"], capture_output=True, text=True,
                       env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "out" / "evaluation"
    assert {p.name for p in out.iterdir()} == {"evaluation.json", "hit_rate.png",
                                               "evaluation.html"}
    data = json.loads((out / "evaluation.json").read_text(encoding="utf-8"))
    for name in ("model", "kde", "uniform"):
        assert KEYS <= set(data[name])
    assert {"split", "unit", "n_train", "n_test", "negatives", "leakage_guard"} <= set(data)
    assert (out / "hit_rate.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (out / "evaluation.html").read_text(encoding="utf-8")
    assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", page, flags=re.I)
    assert "data:image/png;base64," in page
    assert f"{data['model']['PAI@10']:.2f}" in page and f"{data['kde']['AUC']:.3f}" in page
    lines = r.stdout.splitlines()
    header = next(ln for ln in lines if "PAI@10" in ln)
    assert header.split() == ["hit@5", "PAI@5", "hit@10", "PAI@10", "hit@20", "PAI@20",
                              "PEI@10", "AUC", "n_test"]
    model = next(ln for ln in lines if ln.startswith("model"))
    assert f"{data['model']['PAI@10']:.2f}" in model
    assert str(out) in r.stdout
    # again without --overwrite: one line, nothing replaced
    r2 = CliRunner().invoke(cli, ["evaluate", str(proj), "--split", "2026-01-01", "-q"])
    assert r2.exit_code == 1 and "--overwrite" in r2.output and "Traceback" not in r2.output


def test_cli_scores_a_build_raster(tmp_path):
    proj = dated_project(tmp_path)
    r = CliRunner().invoke(cli, ["build", str(proj), "-q", "--township", "东镇"])
    assert r.exit_code == 0, r.output
    tif = tmp_path / "out" / "东镇" / "risk.tif"  # the east half of the district
    r = CliRunner().invoke(cli, ["evaluate", str(proj), "--split", "2026-01-01", "--raster",
                                 str(tif), "--out", str(tmp_path / "ev"), "-q"])
    assert r.exit_code == 0, r.output
    data = json.loads((tmp_path / "ev" / "evaluation.json").read_text(encoding="utf-8"))
    assert data["model"]["source"] == str(tif) and "raster" in data["leakage_guard"]
    # the same figures as the full-data map the build wrote, scored on the same events;
    # cells the raster does not cover (the west half) rank last
    project = load_project(proj)
    surface = compute(project, load_inputs(project))
    cells = patrol_cells(surface.grid, surface.area, 4)
    scores = np.where(np.arange(20) >= 10, surface.p_score, -np.inf)[surface.p_area]
    test = [shapely.Point(X0 + x, Y0 + y) for x, y, _ in POST]
    want = metrics.summarize(scores, count_events(test, cells), cells.share)
    for k in ("hit@10", "PAI@10", "PEI@10", "hit@20", "AUC"):
        assert data["model"][k] == pytest.approx(want[k], abs=1e-6), k
    assert data["model"]["hit@20"] > 0


def test_cli_errors_are_one_line(tmp_path):
    proj = dated_project(tmp_path)
    r = CliRunner().invoke(cli, ["evaluate", str(proj), "--split", "2030-01-01", "-q"])
    assert r.exit_code == 1 and "Traceback" not in r.output
    lines = [ln for ln in r.output.strip().splitlines() if not ln.startswith("警告")]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "split 2030-01-01" in lines[0]
    r = CliRunner().invoke(cli, ["evaluate", str(proj), "--split", "not-a-date"])
    assert r.exit_code == 2
