"""plan, ingest, weekly and power-check reuse the last build's cells while its inputs hold."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from tinyproject import make_project

from riskmap.field.effort import cell_effort, overdue_cells
from riskmap.field.ingest import read_returned
from riskmap.field.plan import make_plan
from riskmap.field.week import Week
from riskmap.load.inputs import area_inputs
from riskmap.pipeline.build import build
from riskmap.pipeline.exporters import EXPORTERS, export_summary, export_surface
from riskmap.pipeline.field import ingest_files, run_plan, run_weekly
from riskmap.pipeline.lastbuild import SURFACE_FILE, last_place_map, last_surface, surface_path
from riskmap.pipeline.project import load_project
from riskmap.score.cells import cell_table

SAMPLE = Path(__file__).resolve().parents[1] / "layers" / "project.yaml"
AS_OF = dt.date(2026, 11, 30)
W49 = Week.parse("2026-W49")
REUSED = "沿用上次构建的风险面 (reusing the last build's cells"
RESCORED = "重新计算风险面 (rescoring: "


def _plan_rows(plans):
    return [(tp.township, [(v.village, v.start, v.length_m) for v in tp.villages],
             [dataclasses.asdict(c) for c in tp.cells], tp.notes) for tp in plans]


# --------------------------------------------------------------------------- the sample
@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """The sample built once (the surface file only): its cells read back, and as scored."""
    out = tmp_path_factory.mktemp("sample_out")
    project = load_project(SAMPLE, as_of=AS_OF)
    report = build(project, out=out, exporters=(export_surface,))
    return project, out, last_surface(project, out), report.surface, report.inputs


def test_the_sample_reuses_its_build(sample):
    _, out, last, _, _ = sample
    assert last.reused and last.path == out / "全区" / SURFACE_FILE
    assert last.line.startswith(REUSED) and str(last.path) in last.line
    assert 1e6 < last.path.stat().st_size < 8e6  # compressed: a quarter of the arrays


def test_every_cell_reads_the_same(sample):
    """The table plan, ledgers and KMZ are made of: every column of every district cell."""
    project, _, last, surface, _ = sample
    flat = np.flatnonzero(surface.p_area.ravel())
    flat = np.sort(np.random.default_rng(1).choice(flat, 20_000, replace=False))
    a, b = cell_table(surface, project, flat), cell_table(last.surface, project, flat)
    pd.testing.assert_frame_equal(pd.DataFrame(a.drop(columns="geometry")),
                                  pd.DataFrame(b.drop(columns="geometry")), check_exact=True)
    assert a.geometry.equals(b.geometry)
    assert np.array_equal(last.surface.thresholds, surface.thresholds)


def test_plan_is_the_same_cells_in_the_same_order(sample):
    project, _, last, surface, inputs = sample
    args = dict(week=W49, build_date="2026-11-30T08:00:00+08:00",
                townships=["荫营镇", "旧街乡", "杨家庄乡"])
    a = make_plan(project, surface, inputs, **args)
    b = make_plan(project, last.surface, area_inputs(project), **args)
    assert sum(len(tp.cells) for tp in a) > 200
    assert _plan_rows(a) == _plan_rows(b)


def test_ingest_matches_the_same_cells(sample, tmp_path):
    from riskmap.export.ledger import LEDGER_HEADER

    project, _, last, surface, inputs = sample
    plan = make_plan(project, surface, inputs, W49, townships=["荫营镇"])[0]
    path = tmp_path / "returned.csv"
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(LEDGER_HEADER)
        rows = [{"网格编号": c.cell_id, "排查结果": "未发现"} for c in plan.cells[:8]]
        rows += [{"X": f"{c.y:.0f}", "Y": f"{c.x:.0f}", "排查结果": "发现疑似"}  # X northing
                 for c in plan.cells[8:12]]
        rows += [{"网格编号": "999-9999-99", "排查结果": "未发现"}]  # far outside
        for i, r in enumerate(rows, start=1):
            r = {"序号": i, "乡镇": "荫营镇", "排查日期": "2026-12-01", "排查人": "赵建", **r}
            w.writerow([r.get(h, "") for h in LEDGER_HEADER])
    got = [read_returned(path, project, s) for s in (surface, last.surface)]
    (ra, ea, _), (rb, eb, _) = got
    assert len(ra) == 12 and len(ea) == 1
    assert [dataclasses.asdict(r) for r in ra] == [dataclasses.asdict(r) for r in rb]
    assert [str(e) for e in ea] == [str(e) for e in eb]


def test_weekly_overdue_cells_are_the_same(sample):
    _, _, last, surface, _ = sample
    a, b = (overdue_cells(s, cell_effort(None, s.patrol_grid, W49), 3, 4)
            for s in (surface, last.surface))
    assert len(a) > 1000
    pd.testing.assert_frame_equal(pd.DataFrame(a), pd.DataFrame(b), check_exact=True)


def test_power_check_weighs_by_the_same_map(sample):
    from riskmap.models.power.anomalies import check_power, meter_inputs

    project, out, _, _, _ = sample
    last = last_place_map(project, out)
    assert last.reused and last.line.startswith(REUSED)
    inputs = meter_inputs(project)  # its own map, from the layers read again
    made = inputs.place
    assert last.place.grid == made.grid and last.place.factors == made.factors
    assert np.array_equal(last.place.rank, made.rank, equal_nan=True)
    a = check_power(project, inputs=inputs).users
    b = check_power(project, inputs=dataclasses.replace(inputs, place=last.place)).users
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    # the meter table (a new month's, or its settings) is what power-check is run for:
    # the map still holds, the cells (whose power factor reads the table) do not
    later = dataclasses.replace(project, power={**project.power, "top": 3})
    assert last_place_map(later, out).reused
    assert not last_surface(later, out).reused


# --------------------------------------------------------------------------- tiny project
@pytest.fixture
def tiny(tmp_path):
    path = make_project(tmp_path)
    project = load_project(path)
    build(project, exporters=(export_surface, export_summary))
    return path, project


def test_the_build_writes_it_in_the_district_folder_only(tiny):
    path, project = tiny
    assert EXPORTERS.index(export_surface) == len(EXPORTERS) - 2  # the summary lists it
    out = project.output
    assert (out / "全区" / SURFACE_FILE).is_file()
    assert not (out / "东镇" / SURFACE_FILE).exists()
    summary = json.loads((out / "全区" / "summary.json").read_text(encoding="utf-8"))
    assert summary["outputs"][SURFACE_FILE] == (out / "全区" / SURFACE_FILE).stat().st_size
    meta = str(np.load(out / "全区" / SURFACE_FILE)["meta"][()])
    assert str(path.parent) not in meta and "tiny.gpkg" in meta  # no machine path in it


def test_plan_ingest_weekly_say_which_cells(tiny, tmp_path):
    _, project = tiny
    said = []
    one = dict(townships=["东镇"], record=False, say=said.append)
    a = run_plan(project, W49, out=tmp_path / "p1", **one)
    b = run_plan(project, W49, out=tmp_path / "p2", rescore=True, **one)
    assert a.reused and not b.reused
    assert said[0].startswith(REUSED) and said[1] == f"{RESCORED}--rescore)"
    assert _plan_rows(a.plans) == _plan_rows(b.plans)
    for f in ("ledger.csv", "patrol.gpx"):  # the same files (the build date apart)
        assert (tmp_path / "p1" / "东镇" / f).stat().st_size == \
            (tmp_path / "p2" / "东镇" / f).stat().st_size
    said.clear()
    ledger = tmp_path / "p1" / "东镇" / "ledger.csv"
    reps = ingest_files(project, [ledger], say=said.append)
    assert reps[0].status != "failed" and said[0].startswith(REUSED)
    run_weekly(project, W49, out=tmp_path / "w", say=said.append)
    assert said[1].startswith(REUSED)


def test_a_changed_input_or_weight_rescores(tiny):
    path, project = tiny
    assert last_surface(project).reused
    gpkg = path.parent / "tiny.gpkg"
    os.utime(gpkg, (0, 0))  # touched only: the same bytes, still the build's
    assert last_surface(project).reused
    d = yaml.safe_load(path.read_text(encoding="utf-8"))
    d["factors"][0]["weight"] = 31
    path.write_text(yaml.safe_dump(d, allow_unicode=True), encoding="utf-8")
    last = last_surface(load_project(path))
    assert not last.reused and last.surface is None
    assert "project settings changed" in last.reason and "factors" in last.reason
    # a plan setting changes no cell
    d["factors"][0]["weight"] = 30
    d["plan"] = {"per_village": 2}
    path.write_text(yaml.safe_dump(d, allow_unicode=True), encoding="utf-8")
    assert last_surface(load_project(path)).reused
    import geopandas as gpd
    import shapely

    mines = gpd.read_file(gpkg, layer="mines")
    mines.loc[0, "geometry"] = shapely.Point(mines.geometry[0].x + 50, mines.geometry[0].y)
    mines.to_file(gpkg, layer="mines")
    last = last_surface(load_project(path))
    assert not last.reused and "input files changed" in last.reason and "tiny.gpkg" in last.reason


def test_dated_factors_hold_for_their_as_of(tmp_path):
    """as_of moves the dated factors' weights: another day is rescored, and said why."""
    def edit(d):
        d["factors"].append({"name": "cases", "label": "案件", "source": "tiny.gpkg:mines",
                             "kind": "density", "bandwidth": 200, "weight": 5,
                             "date_field": "day", "half_life_days": 100})

    path = make_project(tmp_path, edit)
    import geopandas as gpd

    mines = gpd.read_file(tmp_path / "tiny.gpkg", layer="mines")
    mines["day"] = "2026-10-01"
    mines.to_file(tmp_path / "tiny.gpkg", layer="mines")
    project = load_project(path)
    build(project, exporters=(export_surface,))
    assert last_surface(project).reused
    later = load_project(path, as_of=dt.date(2026, 11, 28))
    last = last_surface(later)
    assert not last.reused and "as_of is 2026-11-28, the build's was 2026-11-27" in last.reason


@pytest.mark.parametrize("damage", ["missing", "garbage", "torn", "version", "array"])
def test_a_bad_file_is_rescored_with_the_reason(tiny, damage):
    path, project = tiny
    f = surface_path(project)
    data = f.read_bytes()
    if damage == "missing":
        f.unlink()
    elif damage == "garbage":
        f.write_bytes(b"not a zip file")
    elif damage == "torn":
        f.write_bytes(data[: len(data) // 2])
    else:
        with zipfile.ZipFile(f) as z:
            members = {n: z.read(n) for n in z.namelist()}
        if damage == "version":
            meta = json.loads(np.load(f)["meta"][()])
            meta["version"] = "0.0.1"
            import io

            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.array(json.dumps(meta)))
            members["meta.npy"] = buf.getvalue()
        else:
            del members["c0.npy"]
        with zipfile.ZipFile(f, "w") as z:
            for n, b in members.items():
                z.writestr(n, b)
    last = last_surface(project)
    assert not last.reused and last.line.startswith(RESCORED)
    want = {"missing": "no last build", "garbage": "cannot be read", "torn": "cannot be read",
            "version": "written by riskmap 0.0.1", "array": "cannot be read"}[damage]
    assert want in last.reason
    if damage != "torn":
        return
    # the command goes on with the cells scored anew, no traceback
    from riskmap.cli import cli
    from riskmap.cli import plan as _plan  # noqa: F401  (registers the command)

    r = CliRunner().invoke(cli, ["plan", str(path), "--week", "2026-W49", "--no-record",
                                 "--township", "西镇", "--out", str(path.parent / "plan"), "-q"])
    assert r.exit_code == 0, r.output
    assert RESCORED in r.stderr and "Traceback" not in r.output


def test_every_command_takes_rescore(tiny):
    from riskmap.cli import cli
    from riskmap.cli import ingest as _ingest  # noqa: F401  (registers the commands)
    from riskmap.cli import plan as _plan  # noqa: F401
    from riskmap.cli import power as _power  # noqa: F401

    path, _ = tiny
    runner = CliRunner()
    r = runner.invoke(cli, ["plan", str(path), "--week", "2026-W49", "--no-record",
                            "--township", "西镇", "--out", str(path.parent / "plan")])
    assert r.exit_code == 0 and REUSED in r.stderr
    r = runner.invoke(cli, ["weekly", str(path), "--week", "2026-W49", "--rescore", "--out",
                            str(path.parent / "weekly")])
    assert r.exit_code == 0 and f"{RESCORED}--rescore)" in r.stderr
    for cmd in ("plan", "ingest", "weekly", "power-check"):
        r = runner.invoke(cli, [cmd, "--help"])
        assert "--rescore" in r.output
