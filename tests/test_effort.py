"""Patrol effort and provenance as data: counted per cell, kept per event, upgraded in old files.

A file is done only when every row went in (a partial one is read again, rows never
stored twice); every inspection keeps how it came about (the week's plan, or the
sheet's 来源 column); a history of schema 1 opens and gains the columns; the effort
per cell counts visits, finds and the weeks since the last one.
"""

from __future__ import annotations

import sqlite3

import numpy as np
import openpyxl
import pandas as pd
import pyogrio
import pytest
from test_ingest import W49, clean_workbook
from test_plan import Tiny
from tinyproject import CRS

from riskmap.field import schema
from riskmap.field.effort import cell_effort, effort_table, overdue_cells
from riskmap.field.history import History
from riskmap.field.historyfile import check_history
from riskmap.field.plan import record_plan
from riskmap.field.provenance import normalize_provenance
from riskmap.field.rules import REASON_RANDOM, REASON_TOP, PlanConfig
from riskmap.field.week import Week
from riskmap.field.weekly import weekly_summary
from riskmap.pipeline.field import ingest_files


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return Tiny(tmp_path_factory.mktemp("tiny"))


# --------------------------------------------------------------------------- effort per cell
def test_effort_counts_visits_finds_and_weeks_since(tiny):
    pg = tiny.surface.patrol_grid
    insp = pd.DataFrame({
        "cell_id": ["451-4190-97", "451-4190-97", "451-4190-97", "451-4190-88", "451-4190-88",
                    "999-9999-99", "450-4190-33"],
        "week": ["2026-W40", "2026-W40", "2026-W46", "2026-W30", "2026-W30", "2026-W46",
                 "2026-W50"],
        "date": ["2026-09-30", "2026-09-30", None, "2026-07-21", "2026-07-22", None, None],
        "found": [False, True, False, True, False, False, False],
        # the stored cell centre where there is one, else the id (an older or hand-made table)
        "x": [451950.0, np.nan, np.nan, 451850.0, np.nan, np.nan, np.nan],
        "y": [4190750.0, np.nan, np.nan, 4190850.0, np.nan, np.nan, np.nan],
    })
    e = cell_effort(insp, pg, Week.parse("2026-W48"))
    r97, c97 = (int(v) for v in pg.rowcol(451950, 4190750))
    r88, c88 = (int(v) for v in pg.rowcol(451850, 4190850))
    # two teams on one day are one visit (a find); an undated row of another week is another
    assert e.checks[r97, c97] == 2 and e.finds[r97, c97] == 1 and e.weeks_since[r97, c97] == 2
    assert e.checks[r88, c88] == 2 and e.finds[r88, c88] == 1 and e.weeks_since[r88, c88] == 18
    assert e.outside == 1 and e.rows == 5  # W50 is after the reference week: left out
    assert e.never.sum() == pg.nrows * pg.ncols - 2
    t = effort_table(e, np.array([r97 * pg.ncols + c97, r88 * pg.ncols + c88, 0]))
    assert t["last_week"].tolist() == ["2026-W46", "2026-W30", None]
    assert t["last_date"].tolist() == ["2026-09-30", "2026-07-22", None]
    assert t["weeks_since"].tolist()[:2] == [2, 18] and pd.isna(t["weeks_since"].iloc[2])
    od = overdue_cells(tiny.surface, e, 3, 8)
    assert "451-4190-97" not in set(od["id"])  # checked 2 weeks ago
    assert (od["class"] >= 3).all() and od["weeks_since"].isna().sum() == len(od) - (
        "451-4190-88" in set(od["id"]))


def test_provenance_words():
    assert normalize_provenance("群众举报") == "tip" and normalize_provenance("12345热线") == "tip"
    assert normalize_provenance("卫片图斑") == "satellite"
    assert normalize_provenance("供电公司用电异常") == "power"
    assert normalize_provenance("计划外巡查") == "unplanned"
    assert normalize_provenance("随机抽查") == "random"
    assert normalize_provenance("计划内") == "planned"
    assert normalize_provenance("其它") == "other" and normalize_provenance(None) is None
    with pytest.raises(ValueError, match="举报"):
        normalize_provenance("不清楚")


# --------------------------------------------------------------------------- done only when whole
def test_a_file_with_refused_rows_is_read_again(tiny, tmp_path):
    """The issue's case: dates without a year and no week anywhere: every row refused, the file
    not marked done; with --week it goes in; then it is done; --force reads it anyway."""
    path = clean_workbook(tmp_path / "returns.xlsx", ["451-4190-97", "451-4190-98"],
                          title="东镇排查表", day="12月4日")
    with History(tmp_path / "h.gpkg", CRS) as h:
        first = ingest_files(tiny.project, [path], surface=tiny.surface, history=h)[0]
        assert first.status == "added" and first.added == 0 and len(first.errors) == 2
        assert not first.complete and h.file_state(first.sha256) == "partial"
        second = ingest_files(tiny.project, [path], surface=tiny.surface, history=h, week=W49)[0]
        assert second.status == "added" and second.again and second.added == 2
        assert second.complete and not second.errors and h.file_state(first.sha256) == "done"
        assert h.counts()["ingest_errors"] == 0 and h.counts()["ingested_files"] == 1
        third = ingest_files(tiny.project, [path], surface=tiny.surface, history=h, week=W49)[0]
        assert third.status == "already"
        forced = ingest_files(tiny.project, [path], surface=tiny.surface, history=h, week=W49,
                              force=True)[0]
        assert forced.status == "added" and forced.again and forced.added == 0
        assert forced.repeated == 2 and h.counts()["inspections"] == 2
        row = h.conn.execute("SELECT rows_added, rows_bad, complete FROM ingested_files"
                             ).fetchone()
        assert row == (2, 0, 1)


# --------------------------------------------------------------------------- provenance
def test_every_inspection_keeps_its_provenance(tiny, tmp_path):
    """From the week's plan (planned, random, outside it) or the sheet's 线索来源 column."""
    tp = tiny.plan()[0]
    top = next(c for c in tp.cells if c.reason == REASON_TOP).cell_id
    rnd = next(c for c in tp.cells if c.reason == REASON_RANDOM).cell_id
    planned = {c.cell_id for c in tp.cells}
    free = [f"451-4190-{c}{r}" for c in range(10) for r in range(10)]
    free = [c for c in free if c not in planned][:5]
    cells = [top, rnd, free[0], free[1], free[2], free[3], free[4]]
    source = [None, None, None, "群众举报", "卫片图斑", "供电公司", "不清楚"]
    path = clean_workbook(tmp_path / "r.xlsx", cells, source=source)
    wb = openpyxl.load_workbook(path)
    for row in (5, 6):  # the tip and the satellite patch led to finds
        wb.active.cell(row + 1, 5, "发现疑似")
    wb.save(path)
    with History(tmp_path / "h.gpkg", CRS) as h:
        record_plan(h, tp, PlanConfig.from_project(tiny.project))
        rep = ingest_files(tiny.project, [path], surface=tiny.surface, history=h)[0]
        assert rep.added == 7 and rep.complete
        assert any("不清楚" in n and "other" in n for n in rep.notes)
        got = h.inspections().set_index("cell_id")["provenance"]
        assert got.loc[cells].tolist() == ["planned", "random", "unplanned", "tip", "satellite",
                                           "power", "other"]
        s = weekly_summary(h, W49)
    p = s.provenance.set_index("provenance")
    assert p["checked"].sum() == 7 and p.loc["举报线索 (tip)", "found"] == 1
    assert p.loc["卫片图斑 (satellite)", "share_found"] == pytest.approx(0.5)
    assert p.loc["计划内 (planned)", "share"] == pytest.approx(1 / 7, abs=1e-3)
    assert set(s.finds["provenance"]) == {"举报线索 (tip)", "卫片图斑 (satellite)"}


# --------------------------------------------------------------------------- schema 1 → 2
def _version_1(path):
    """A history as riskmap wrote it before provenance: a plan, a file with a refused row."""
    con = sqlite3.connect(path, isolation_level=None)
    schema.create(con, CRS, version=1)
    con.execute("INSERT INTO plan_runs (week, township, created, rules, config, cells) VALUES "
                "('2026-W49', '东镇', 't', 'r', '{}', 2)")
    for seq, (cid, reason) in enumerate([("451-4190-97", REASON_TOP),
                                         ("451-4190-98", REASON_RANDOM)], start=1):
        con.execute("INSERT INTO plan_cells (geom, run_id, week, township, village, seq, "
                    "cell_id, reason, class, score, adj_score, adjustment, x, y) VALUES "
                    "(NULL, 1, '2026-W49', '东镇', '东一村', ?, ?, ?, 4, 60, 60, '', 0, 0)",
                    (seq, cid, reason))
    con.execute("INSERT INTO ingested_files VALUES ('abc', 'old.xlsx', 't', '2026-W49', 4, 0, 1)")
    rows = [("451-4190-97", "2026-W49"), ("451-4190-98", "2026-W49"),
            ("451-4190-88", "2026-W49"), ("451-4190-97", "2026-W50")]
    for k, (cid, week) in enumerate(rows):
        con.execute("INSERT INTO inspections (geom, row_key, file_sha256, cell_id, township, "
                    "week, result, found, matched_by, x, y) VALUES "
                    "(NULL, ?, 'abc', ?, '东镇', ?, '未发现', 0, 'id', NULL, NULL)",
                    (f"k{k}", cid, week))
    con.close()


def _columns(path) -> dict:
    con = sqlite3.connect(path)
    tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table' AND "
                                        "name NOT LIKE 'sqlite_%'")]
    out = {t: [r[1] for r in con.execute(f'PRAGMA table_info("{t}")')] for t in tables}
    con.close()
    return out


def test_an_old_history_opens_and_gains_the_columns(tmp_path):
    old = tmp_path / "old.gpkg"
    _version_1(old)
    before = old.read_bytes()
    got = check_history(old, CRS)  # read-only: told, not changed
    assert got["schema"] == 1 and got["inspections"] == 4 and got["plan_overrides"] == 0
    with History(old, CRS, read_only=True) as h:
        assert h.inspections()["provenance"].isna().all() and h.overrides().empty
        assert "override" in h.planned(W49).columns
    assert old.read_bytes() == before
    with History(old, CRS) as h:  # opened for writing: upgraded in one transaction
        assert h.schema == schema.SCHEMA_VERSION
        prov = h.inspections()["provenance"].tolist()
        assert prov == ["planned", "random", "unplanned", "unplanned"]  # W50 had no plan
        assert h.file_state("abc") == "partial"  # it had a refused row: it may be read again
    con = sqlite3.connect(old)
    assert con.execute("SELECT value FROM riskmap_meta WHERE key='schema'").fetchone()[0] == "2"
    assert con.execute("SELECT COUNT(*) FROM gpkg_contents WHERE table_name='plan_overrides'"
                       ).fetchone()[0] == 1
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    with History(tmp_path / "new.gpkg", CRS):
        pass
    assert _columns(old) == _columns(tmp_path / "new.gpkg")  # upgraded = laid out new
    assert "plan_overrides" in dict(pyogrio.list_layers(old))


# --------------------------------------------------------------------------- the build's layers
def test_build_writes_effort_layers_reading_the_history_only(tiny):
    import json

    from riskmap.field.history import Inspection
    from riskmap.pipeline.build import build
    from riskmap.pipeline.exporters import export_gpkg, export_summary

    project = tiny.project
    out = project.output / "effort"

    def run():
        build(project, out=out, townships=["东镇"], exporters=(export_gpkg, export_summary),
              overwrite=True)
        return (json.loads((out / "东镇" / "summary.json").read_text("utf-8"))["field_effort"],
                dict(pyogrio.list_layers(out / "东镇" / "risk.gpkg")))

    note, layers = run()  # no history: no layers, and said; none created
    assert note["layers"] is None and "no history" in note["note"]
    assert "effort" not in layers and not project.history.exists()
    week = Week.parse("2026-W46")  # as_of 2026-11-27 is in W48
    rows = [Inspection("451-4190-97", week, "未发现", 451950, 4190750, "东镇", "东一村"),
            Inspection("451-4190-88", Week.parse("2026-W38"), "发现疑似", 451850, 4190850,
                       "东镇", "东一村"),
            Inspection("450-4190-33", week, "未发现", 450350, 4190350, "西镇", "西村"),
            Inspection("451-4191-11", Week.parse("2026-W50"), "未发现", 451150, 4191150)]
    with History(project.history, project.crs) as h:
        h.add_file("f", "f.xlsx", rows)
    before = project.history.read_bytes()
    note, layers = run()
    assert project.history.read_bytes() == before  # read, never written
    assert layers["effort"] == "Polygon" and layers["overdue"] == "Polygon"
    assert note["layers"] == ["effort", "overdue"] and note["as_of_week"] == "2026-W48"
    assert note["inspections"] == 3 and note["checked_cells"] == 2  # 西村 is another township
    path = out / "东镇" / "risk.gpkg"
    eff = pyogrio.read_dataframe(path, layer="effort").set_index("id")
    assert eff.loc["451-4190-97", "weeks_since"] == 2 and eff.loc["451-4190-88", "finds"] == 1
    assert eff.loc["451-4190-88", "last_week"] == "2026-W38"
    od = pyogrio.read_dataframe(path, layer="overdue")
    assert note["overdue_cells"] == len(od) > 0 and (od["class"] >= 3).all()
    assert set(od["township"]) == {"东镇"} and "451-4190-97" not in set(od["id"])
    assert od.loc[od["id"] == "451-4190-88", "status"].tolist() == ["10 周未查"]
    assert (od["status"] == "从未排查").sum() == note["never_checked"]
    con = sqlite3.connect(path)
    styles = dict(con.execute("SELECT f_table_name, styleQML FROM layer_styles"))
    assert "graduatedSymbol" in styles["effort"] and "weeks_since" in styles["effort"]
    titles = dict(con.execute("SELECT column_name, title FROM gpkg_data_columns WHERE "
                              "table_name = 'overdue'"))
    assert titles["weeks_since"] == "未查周数" and titles["status"] == "状态"
    con.close()
