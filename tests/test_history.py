"""The history database: a GeoPackage, transactional, crash-safe; it steers the next plan."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import geopandas as gpd
import openpyxl
import pyogrio
import pytest
from test_ingest import W49, messy_workbook
from test_plan import Tiny, summary
from tinyproject import CRS

from riskmap.field.history import History, HistoryError, Week
from riskmap.field.rules import REASON_NEAR
from riskmap.pipeline.field import ingest_files

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return Tiny(tmp_path_factory.mktemp("tiny"))


def returned(tmp_path, name, cells, result="未发现", day="2026-12-04", title="2026-W49"):
    """A small returned ledger: one row per cell id."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "村"
    ws.append([f"东镇 {title} 台账"])
    ws.append(["序号", "网格编号", "排查日期", "排查人", "排查结果"])
    for i, c in enumerate(cells, start=1):
        ws.append([i, c, day, "赵建", result])
    path = tmp_path / name
    wb.save(path)
    return path


def test_is_a_geopackage(tiny, tmp_path):
    path = tmp_path / "h.gpkg"
    with History(path, CRS) as h:
        ingest_files(tiny.project, [messy_workbook(tmp_path / "r.xlsx")], surface=tiny.surface,
                     history=h)
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA application_id").fetchone()[0] == 0x47504B47
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    layers = dict(pyogrio.list_layers(path))
    assert layers["inspections"] == "Point" and layers["plan_cells"] == "Point"
    assert "ingested_files" in layers and "ingest_errors" in layers
    gdf = gpd.read_file(path, layer="inspections")
    assert len(gdf) == 4 and gdf.crs.to_epsg() == 4547
    assert (gdf.geometry.x == gdf["x"]).all()


def test_refuses_foreign_files(tmp_path):
    with History(tmp_path / "h.gpkg", CRS):
        pass
    with pytest.raises(HistoryError, match="CRS"):
        History(tmp_path / "h.gpkg", "EPSG:4326")
    other = tmp_path / "other.sqlite"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE t (a)")
    con.commit()
    con.close()
    with pytest.raises(HistoryError, match="riskmap"):
        History(other, CRS)
    junk = tmp_path / "junk.gpkg"
    junk.write_bytes(b"x" * 2048)
    with pytest.raises(HistoryError):
        History(junk, CRS)


def test_exception_midway_keeps_earlier_data(tiny, tmp_path, monkeypatch):
    path = tmp_path / "h.gpkg"
    first = returned(tmp_path, "a.xlsx", ["451-4190-97", "451-4190-98"])
    second = returned(tmp_path, "b.xlsx", ["450-4190-33", "450-4190-34", "450-4190-24",
                                            "450-4190-23"])
    with History(path, CRS) as h:
        ingest_files(tiny.project, [first], surface=tiny.surface, history=h)
        before = h.counts()
        calls = {"n": 0}
        real = History._insert_inspection

        def failing(self, sha, row):
            calls["n"] += 1
            if calls["n"] == 3:
                raise OSError("disk full (injected)")
            return real(self, sha, row)

        monkeypatch.setattr(History, "_insert_inspection", failing)
        with pytest.raises(OSError, match="injected"):
            ingest_files(tiny.project, [second], surface=tiny.surface, history=h)
        assert calls["n"] == 3  # two rows were written before the failure ...
        assert h.counts() == before  # ... and rolled back with the file record
        monkeypatch.setattr(History, "_insert_inspection", real)
        rep = ingest_files(tiny.project, [second], surface=tiny.surface, history=h)[0]
        assert rep.status == "added" and rep.added == 4
        assert h.counts()["inspections"] == before["inspections"] + 4


KILL_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {tests!r})
    from test_plan import Tiny
    from riskmap.field.history import History
    from riskmap.pipeline.field import ingest_files
    from pathlib import Path

    tiny = Tiny(Path({folder!r}))
    h = History({db!r}, {crs!r})
    ingest_files(tiny.project, [{first!r}], surface=tiny.surface, history=h)
    real = History._insert_inspection
    n = [0]

    def dying(self, sha, row):
        n[0] += 1
        if n[0] == 3:
            os.kill(os.getpid(), signal.SIGKILL)  # power cut in the middle of a file
        return real(self, sha, row)

    History._insert_inspection = dying
    ingest_files(tiny.project, [{second!r}], surface=tiny.surface, history=h)
    print("not reached")
""")


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_killed_ingest_leaves_database_intact(tiny, tmp_path):
    db = tmp_path / "h.gpkg"
    first = returned(tmp_path, "a.xlsx", ["451-4190-97", "451-4190-98"])
    second = returned(tmp_path, "b.xlsx", ["450-4190-33", "450-4190-34", "450-4190-24",
                                            "450-4190-23"])
    script = KILL_SCRIPT.format(tests=str(ROOT / "tests"), folder=str(tmp_path / "p"),
                                db=str(db), crs=CRS, first=str(first), second=str(second))
    (tmp_path / "p").mkdir()
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       timeout=120, env={**os.environ, "PYTHONIOENCODING": "utf-8"})
    assert r.returncode == -signal.SIGKILL, r.stderr
    assert "not reached" not in r.stdout
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    with History(db, CRS) as h:
        c = h.counts()
        assert c["ingested_files"] == 1 and c["inspections"] == 2  # the first file, whole
        rep = ingest_files(tiny.project, [second], surface=tiny.surface, history=h)[0]
        assert rep.status == "added" and rep.added == 4


def test_history_steers_the_next_plan(tmp_path):
    """Findings of week 49 change the plan of week 50 (raise); negatives damp."""
    from riskmap.pipeline.field import run_plan

    tiny = Tiny(tmp_path)
    base = summary(tiny.plan("2026-W50"))
    rep = run_plan(tiny.project, W49, out=tmp_path / "plan")
    west = rep.plans[1]
    checked = [c.cell_id for c in west.cells]
    # 西村 checked all its cells, nothing found; a find in a quiet corner of 东二村
    s = tiny.surface
    vi = s.village_names.index("东二村") + 1
    import numpy as np

    from riskmap.grid.cellid import cell_ids

    r, c = np.argwhere((s.village == vi) & (s.p_class <= 2))[0]
    pg = s.patrol_grid
    find = str(cell_ids([pg.x0 + c * pg.cell], [pg.y0 - (r + 1) * pg.cell], pg.cell)[0])
    ingest_files(tiny.project, [returned(tmp_path, "w.xlsx", checked),
                                returned(tmp_path, "e.xlsx", [find], result="发现非法采矿")],
                 surface=tiny.surface)
    with History(tiny.project.history, CRS) as h:
        past = h.inspections(Week.parse("2026-W46"), W49)
    assert len(past) == len(checked) + 1
    nxt = tiny.plan("2026-W50", inspections=past)
    assert summary(nxt) != base
    east2 = next(v for v in nxt[0].villages if v.village == "东二村")
    assert find in {x.cell_id for x in east2.cells}
    assert any(x.reason == REASON_NEAR for x in east2.cells)
    west_next = nxt[1].villages[0]
    top_before = {x[3] for x in base if x[1] == "西村" and x[4] == "重点"}
    top_after = {x.cell_id for x in west_next.cells if x.reason == "重点"}
    assert top_after != top_before  # damped cells made room for others
    assert all("压低" in x.adjustment for x in west_next.cells if x.cell_id in checked)


def test_weekly_outputs(tmp_path):
    from riskmap.pipeline.field import run_plan, run_weekly

    tiny = Tiny(tmp_path)
    run_plan(tiny.project, W49, out=tmp_path / "plan")
    ingest_files(tiny.project, [messy_workbook(tmp_path / "r.xlsx")], surface=tiny.surface)
    s, files = run_weekly(tiny.project, W49, out=tmp_path / "weekly")
    assert [f.name for f in files] == ["weekly.html", "weekly.xlsx", "weekly.png"]
    page = files[0].read_text(encoding="utf-8")
    assert "内部资料 注意保密" in page and "未上报" in page and "data:image/png;base64," in page
    assert "东二村" in page  # planned, nothing returned
    assert files[2].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    wb = openpyxl.load_workbook(files[1])
    assert wb.sheetnames == ["本周发现", "汇总", "责任人", "未上报", "趋势", "来源", "久未巡查"]
    late = [r for r in wb["未上报"].iter_rows(min_row=4, values_only=True)]
    assert late == [("东镇", "东二村")]  # 西村 returned one row (typed coordinates)
    assert s.townships.set_index("乡镇").loc["东镇", "发现网格"] == 2
    with pytest.raises(Exception, match="--overwrite"):
        run_weekly(tiny.project, W49, out=tmp_path / "weekly")
