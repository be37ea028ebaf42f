"""``riskmap check PROJECT`` predicts every refusal: it says no exactly when a command would.

Each case spoils one input of a tiny project that uses every kind of input
(layers, a case ledger, a meter table read as a factor, village points, roster,
history); ``check`` runs once, then every command runs for real, and they must
agree, command by command, with the same message.
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
import shapely
from click.testing import CliRunner
from pyproj import Transformer
from test_evaluate import OUTSIDE, POST, PRE, SPLIT
from tinyproject import CRS, X0, Y0, make_project

import riskmap.cli.check  # noqa: F401  (registers the command)
from riskmap.cli import cli
from riskmap.errors import RiskmapError
from riskmap.pipeline.check import COMMANDS, check_project_inputs
from riskmap.pipeline.project import load_project

WEEK = "2026-W49"
VILLAGES = [("东镇", "东一村", 1500, 500), ("东镇", "东二村", 1500, 1500),
            ("西镇", "西村", 500, 1000)]


# --------------------------------------------------------------------------- the project
def _cases(path: Path, rows) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["案件编号", "X", "Y", "发现日期"])
    for i, (x, y, d) in enumerate(rows):
        ws.append([f"案{i}", X0 + x, Y0 + y, d])
    wb.save(path)


def _meters(path: Path, user_header: str = "户号") -> None:
    rng = np.random.default_rng(3)
    to_ll = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    n = 30
    kwh = 150 * np.exp(rng.normal(0, 0.3, n))[:, None] * np.exp(rng.normal(0, 0.1, (n, 12)))
    kwh[4, 6:] += 3000.0
    rows = []
    for i in range(n):
        lon, lat = to_ll.transform(X0 + 200 + 50 * i, Y0 + 300 + 40 * i)
        rows.append({user_header: f"U{i:04d}", "用户类别": "居民", "村": VILLAGES[i % 3][1],
                     "经度": f"{lon:.6f}" if i % 2 else "", "纬度": f"{lat:.6f}" if i % 2 else "",
                     **{f"2026年{m + 1}月": f"{kwh[i, m]:.0f}" for m in range(12)}})
    pd.DataFrame(rows).to_csv(path, index=False, encoding="utf-8-sig")


def _roster(path: Path, name_header: str = "责任人") -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["乡镇", "村", name_header, "联系电话"])
    for town, vil, _, _ in VILLAGES:
        ws.append([town, vil, f"{vil}干部", "13800000000"])
    wb.save(path)


def _points(folder: Path, dx: float = 0.0, name: str = "name") -> None:
    gpd.GeoDataFrame(
        {name: [v for _, v, _, _ in VILLAGES], "township": [t for t, _, _, _ in VILLAGES]},
        geometry=shapely.points([(X0 + x + dx, Y0 + y) for _, _, x, y in VILLAGES]), crs=CRS,
    ).to_file(folder / "tiny.gpkg", layer="vpoints")


def full_project(folder: Path, spoil=None) -> Path:
    """The tiny project with every kind of input; ``spoil(folder, d)`` breaks one."""

    def edit(d):
        _cases(folder / "cases.xlsx",
               [(x, y, dt.date.fromisoformat(day)) for x, y, day in PRE + POST + OUTSIDE])
        _meters(folder / "meters.csv")
        _roster(folder / "roster.xlsx")
        _points(folder)
        table = {"path": "cases.xlsx", "x_field": "X", "y_field": "Y", "crs": CRS}
        d["incidents"] = {"source": table, "date_field": "发现日期", "kde_bandwidth": 200}
        d["power"] = {"source": "meters.csv", "min_score": 0}
        d["factors"].append({"name": "power", "label": "用电异常", "source": "power:anomalies",
                             "kind": "density", "bandwidth": 200, "weight_field": "weight",
                             "weight": 5})
        d["village_points"] = {"source": "tiny.gpkg:vpoints", "name_field": "name",
                               "township_field": "township"}
        d["roster"] = {"source": "roster.xlsx"}
        d["history"] = "history.gpkg"
        d["calibration"] = {"ranges": [300, 600], "folds": 2, "block_size": 500}
        if spoil:
            spoil(folder, d)

    return make_project(folder, edit)


# --------------------------------------------------------------------------- the commands
def _returned_sheet(out: Path) -> Path:
    path = out / "returned.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("网格编号,排查日期,排查人,排查结果\n", encoding="utf-8")
    return path


def run_commands(project_path: Path, out: Path) -> dict[str, str | None]:
    """Each command run for real: None when it went through, else its message."""
    from riskmap.models.calibrate import calibrate
    from riskmap.pipeline.build import build
    from riskmap.pipeline.evaluate import backtest
    from riskmap.pipeline.field import ingest_files, run_plan, run_weekly
    from riskmap.pipeline.power import power_check

    runs = {
        "build": lambda p: build(p, out=out / "build", exporters=[]),
        "calibrate": lambda p: calibrate(p),
        "evaluate": lambda p: backtest(p, SPLIT, out / "evaluation"),
        "plan": lambda p: run_plan(p, WEEK, out=out / "plan"),
        # a returned sheet to read (it holds no row): the project's cells are needed for it
        "ingest": lambda p: ingest_files(p, [_returned_sheet(out)]),
        "weekly": lambda p: run_weekly(p, WEEK, out=out / "weekly"),
        "power-check": lambda p: power_check(p, out=out / "power"),
    }
    got = {}
    for cmd in COMMANDS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                runs[cmd](load_project(project_path))
                got[cmd] = None
            except RiskmapError as e:
                got[cmd] = str(e)
    return got


def agree(tmp_path: Path, spoil=None):
    """Check, then every command; assert they agree; return (check result, commands)."""
    folder = tmp_path / "p"
    folder.mkdir()
    path = full_project(folder, spoil)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = check_project_inputs(load_project(path))
    got = run_commands(path, tmp_path / "out")
    for cmd, msg in got.items():
        if msg is None:
            assert res.status(cmd) == "ok", (cmd, res.refusals(cmd))
        else:
            assert res.status(cmd) == "refused", (cmd, msg)
            assert msg in res.refusals(cmd), (cmd, msg, res.refusals(cmd))
    return res, got


# --------------------------------------------------------------------------- the cases
def test_every_input_has_a_row_and_every_command_goes_through(tmp_path):
    res, got = agree(tmp_path)
    assert res.ok and all(m is None for m in got.values()), got
    roles = [r.role for r in res.rows]
    for want in ("district", "townships", "villages", "village_points", "roster (网格责任人)",
                 "factor power (用电异常)", "incidents", "power (电表台账)",
                 "plan (巡查计划设置)", "history (历史数据库)", "map font (字体)", "output (输出)"):
        assert want in roles, (want, roles)
    power = next(r for r in res.rows if r.role == "power (电表台账)")
    assert power.features == 30 and "scored in" in " ".join(power.notes)
    inc = next(r for r in res.rows if r.role == "incidents")
    said = " ".join(inc.notes)
    assert "evaluate: 10 个区内事件" in said and "calibrate: 10 个事件计入" in said
    assert res.timings["power_s"] < 10


def _bad_roster(folder, d):
    _roster(folder / "roster.xlsx", name_header="备注")


def _meters_without_user(folder, d):
    _meters(folder / "meters.csv", user_header="编号X")


def _unreadable_date(folder, d):
    rows = [(x, y, dt.date.fromisoformat(day)) for x, y, day in PRE + POST + OUTSIDE]
    rows[3] = (*rows[3][:2], "2025年13月40日")
    _cases(folder / "cases.xlsx", rows)


def _points_outside(folder, d):
    _points(folder, dx=90_000.0)


def _points_without_name(folder, d):
    _points(folder, name="村名")


def _not_a_history(folder, d):
    (folder / "history.gpkg").write_text("these are my notes, not a database\n", "utf-8")


def _someone_elses_gpkg(folder, d):
    con = sqlite3.connect(folder / "history.gpkg")
    con.execute("CREATE TABLE roads (id INTEGER)")
    con.commit()
    con.close()


def _history_of_another_crs(folder, d):
    from riskmap.field.history import History

    History(folder / "history.gpkg", "EPSG:4546").close()


def _bad_plan_option(folder, d):
    d["plan"] = {"per_village": -2}


def _bad_calibration_option(folder, d):
    d["calibration"]["folds"] = 0


def _too_few_cases(folder, d):
    _cases(folder / "cases.xlsx",
           [(x, y, dt.date.fromisoformat(day)) for x, y, day in PRE[:3] + POST[:2]])


def _label_is_a_township(folder, d):
    d["district"]["label"] = "东镇"


CASES = {
    "bad roster": (_bad_roster, {"plan", "weekly", "power-check"}),  # weekly: per cadre
    "meters without a user column": (_meters_without_user,
                                     {"build", "calibrate", "evaluate", "plan", "ingest",
                                      "power-check"}),
    "an unreadable case date": (_unreadable_date, {"calibrate", "evaluate"}),
    "village points outside": (_points_outside, set()),
    # the meter table's users are placed at the points, and a factor reads the meter table
    "village points without their name field": (_points_without_name,
                                                {"build", "calibrate", "evaluate", "plan",
                                                 "ingest", "power-check"}),
    "a history that is not a history": (_not_a_history, {"plan", "ingest", "weekly"}),
    "someone else's GeoPackage as history": (_someone_elses_gpkg, {"plan", "ingest", "weekly"}),
    "a history kept in another CRS": (_history_of_another_crs, {"plan", "ingest", "weekly"}),
    "a bad plan option": (_bad_plan_option, {"plan"}),
    "a bad calibration option": (_bad_calibration_option, {"calibrate"}),
    "too few cases to calibrate": (_too_few_cases, {"calibrate"}),
    "district label is a township": (_label_is_a_township, {"build"}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_check_refuses_exactly_when_a_command_would(tmp_path, case):
    spoil, refused = CASES[case]
    res, got = agree(tmp_path, spoil)
    assert {c for c, m in got.items() if m is not None} == refused, got
    assert {c for c in COMMANDS if res.status(c) == "refused"} == refused


def test_every_problem_at_once(tmp_path):
    """Four inputs broken: the four problems in one run, each on its input's row."""

    def spoil(folder, d):
        _bad_roster(folder, d)
        _unreadable_date(folder, d)
        _not_a_history(folder, d)
        _meters_without_user(folder, d)

    res, _ = agree(tmp_path, spoil)
    rows = {r.role: r for r in res.rows}
    for role in ("roster (网格责任人)", "incidents", "history (历史数据库)", "power (电表台账)"):
        assert rows[role].problems, role
    assert len(res.problems) >= 4


def test_village_points_outside_are_named(tmp_path):
    res, _ = agree(tmp_path, _points_outside)
    row = next(r for r in res.rows if r.role == "village_points")
    said = " ".join(row.notes)
    assert row.extent == "0% 在区内" and "3 个村委会点在区外" in said and "东镇 东一村" in said


def test_the_same_case_twice_is_reported(tmp_path):
    def spoil(folder, d):
        rows = [(x, y, dt.date.fromisoformat(day)) for x, y, day in PRE + POST + OUTSIDE]
        wb = openpyxl.Workbook()
        ws = wb.active
        ws.append(["案件编号", "X", "Y", "发现日期"])
        for i, (x, y, day) in enumerate(rows):
            ws.append([f"案{i}", X0 + x, Y0 + y, day])
        ws.append(["案0", X0 + rows[0][0], Y0 + rows[0][1], rows[0][2].strftime("%Y/%m/%d")])
        wb.save(folder / "cases.xlsx")

    res, _ = agree(tmp_path, spoil)
    said = " ".join(next(r for r in res.rows if r.role == "incidents").notes)
    assert "案0 2025-02-10: rows 2, 13" in said and "counted once" in said


def test_check_writes_nothing_and_prints_each_command(tmp_path):
    path = full_project(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    r = CliRunner().invoke(cli, ["check", str(path)])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no history created
    assert "history (历史数据库)" in r.output and "power (电表台账)" in r.output
    assert "build ✓; calibrate ✓; evaluate ✓; plan ✓; ingest ✓; weekly ✓; power-check ✓" \
        in r.output
    assert "可以生成 (ready to build)" in r.output
    # every figure in words and tables: no Python dict or list printed (the anomaly layer's
    # "placed by" used to be one)
    assert not re.search(r"\{'|\['|': ", r.output), r.output
    r = CliRunner().invoke(cli, ["check", str(path), "-v"])
    assert r.exit_code == 0 and not re.search(r"\{'|\['", r.output), r.output


def test_cli_names_the_commands_a_problem_stops(tmp_path):
    path = full_project(tmp_path, _not_a_history)
    r = CliRunner().invoke(cli, ["check", str(path)])
    assert r.exit_code == 1
    assert "错误 [plan, ingest, weekly]:" in r.output and "history.gpkg" in r.output
    assert "可以生成, 但 plan, ingest, weekly 会拒绝" in r.output


def test_county_b_check_predicts_every_command(tmp_path):
    """County B as delivered: what check says, for the readers that do not need a grid."""
    from countyb.cache import county_b as make_county_b

    path = make_county_b(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = check_project_inputs(load_project(path))
    rows = {r.role: r for r in res.rows}
    for role in ("village_points", "roster (网格责任人)", "power (电表台账)",
                 "history (历史数据库)", "incidents"):
        assert role in rows, role
    said = " ".join(rows["incidents"].notes)
    assert "rows 43, 44" in said and "counted once" in said
    power = " ".join(rows["power (电表台账)"].notes)
    assert all(v in power for v in ("上屯村", "南营村", "安峪村", "安窑村"))
    if res.problems:  # another issue's class may still refuse a layer: it is named
        assert all(p.message for p in res.problems)


def test_an_existing_history_is_read_not_changed(tmp_path):
    """The history's counts are listed; its bytes stay the same (opened read-only)."""
    import hashlib

    from riskmap.field.historyfile import check_history
    from riskmap.pipeline.field import run_plan

    path = full_project(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_plan(load_project(path), WEEK, out=tmp_path / "plan")
    db = tmp_path / "history.gpkg"
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    got = check_history(db, CRS)
    assert got["plan_runs"] == 2 and got["weeks"] == [WEEK, WEEK]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = check_project_inputs(load_project(path))
    row = next(r for r in res.rows if r.role == "history (历史数据库)")
    assert "计划 2 次" in " ".join(row.notes) and not row.problems
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
