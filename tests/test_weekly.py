"""weekly.html for leaders: finds first, planned vs checked per village and cadre, who did not
report; blank cells blank; weeks without a plan are gaps, not zero finds."""

from __future__ import annotations

import re

import numpy as np
import openpyxl
import pandas as pd
import pytest
from test_ingest import W49, messy_workbook
from test_plan import EVIL_NAME, Tiny

from riskmap.export.weekly import cell_text, trend_png
from riskmap.field.history import History
from riskmap.field.weekly import NO_CADRE, visit_numbers, weekly_summary
from riskmap.load.roster import read_roster
from riskmap.pipeline.field import ingest_files, run_plan, run_weekly

_TD = re.compile(r"<td>(.*?)</td>", re.S)


@pytest.fixture(scope="module")
def week(tmp_path_factory):
    """W46 and W49 planned (nothing between), W49 partly returned (东一村 only)."""
    tmp = tmp_path_factory.mktemp("weekly")
    tiny = Tiny(tmp)
    run_plan(tiny.project, "2026-W46", out=tmp / "p46")
    rep = run_plan(tiny.project, W49, out=tmp / "p49")
    ingest_files(tiny.project, [messy_workbook(tmp / "r.xlsx")], surface=tiny.surface)
    s, files = run_weekly(tiny.project, W49, out=tmp / "weekly")
    return tiny, rep, s, files


def test_visit_numbers_come_back_from_the_history(week):
    tiny, rep, _, _ = week
    with History(tiny.project.history, tiny.project.crs) as h:
        planned = h.planned(W49)
    got = dict(zip(zip(planned["township"], planned["cell_id"], strict=True),
                   visit_numbers(planned), strict=True))
    want = {(c.township, c.cell_id): c.no for tp in rep.plans for c in tp.cells}
    assert got == want


def test_finds_first_then_planned_then_late_then_trend(week):
    _, _, s, files = week
    page = files[0].read_text(encoding="utf-8")
    order = [page.index(h) for h in ('id="finds"', 'id="planned"', 'id="late"', 'id="trend"')]
    assert order == sorted(order)
    assert "本周发现 (finds this week): 2 个网格" in page
    # the finds carry the plan's number where the cell was planned, and the cadre
    f = s.finds.set_index("cell_id")
    assert f.loc["451-4190-88", "no"] == next(
        c.no for tp in week[1].plans for c in tp.cells if c.cell_id == "451-4190-88")
    assert pd.isna(f.loc["451-4190-53", "no"])  # found outside the plan: no number
    assert set(f["responsible"]) == {"张建国"}
    assert "未上报的村 (no return): 1 个" in page and "东二村" in page
    wb = openpyxl.load_workbook(files[1])
    assert wb.sheetnames == ["本周发现", "汇总", "责任人", "未上报", "趋势", "来源", "久未巡查"]


def test_planned_vs_checked_per_cadre(week):
    _, _, s, _ = week
    c = s.cadres.set_index("责任人")
    v = s.villages.set_index("村")
    assert set(c.index) == {"张建国", EVIL_NAME, "@李明"}
    for name, village in (("张建国", "东一村"), (EVIL_NAME, "东二村"), ("@李明", "西村")):
        assert c.loc[name, "计划网格"] == v.loc[village, "计划网格"]
        assert c.loc[name, "计划内已查"] == v.loc[village, "计划内已查"]
        assert c.loc[name, "村"] == village
    assert c.loc[EVIL_NAME, "未上报村"] == 1 and c.loc["张建国", "未上报村"] == 0
    assert c.loc["张建国", "完成率"] == pytest.approx(v.loc["东一村", "完成率"])
    assert list(s.cadres["完成率"]) == sorted(s.cadres["完成率"])  # the least done first


def test_cell_roster_entries_and_no_roster(week):
    tiny, _, _, _ = week
    roster = read_roster(tiny.project)
    with History(tiny.project.history, tiny.project.crs) as h:
        cid = h.planned(W49)["cell_id"].iloc[0]
        roster.by_cell[cid] = ("王专管", "")
        s = weekly_summary(h, W49, roster=roster)
        bare = weekly_summary(h, W49)
    assert "王专管" in set(s.cadres["责任人"]) and s.cadres["计划网格"].sum() == 18
    assert set(bare.cadres["责任人"]) == {NO_CADRE} and bare.cadres["计划网格"].sum() == 18


def test_blank_cells_are_blank(week):
    files = week[3]
    page = files[0].read_text(encoding="utf-8")
    cells = _TD.findall(page)
    assert cells and not {"nan", "None", "NaT", "<NA>", "&lt;NA&gt;", "NaN"} & set(cells)
    assert not re.search(r">\s*(nan|None|NaT)\s*<", page)
    wb = openpyxl.load_workbook(files[1])
    for ws in wb.worksheets:
        for row in ws.iter_rows(values_only=True):
            assert not {"nan", "None", "NaT", "<NA>"} & {str(v) for v in row if v is not None}
    assert cell_text(np.nan) == cell_text(None) == cell_text(pd.NA) == cell_text(pd.NaT) == ""
    assert cell_text(0.333, "完成率") == "33%" and cell_text(6.0) == "6"
    assert cell_text(True, "未上报") == "是" and cell_text(False, "未上报") == ""


def test_weeks_without_a_plan_are_gaps(week):
    _, _, s, files = week
    t = s.trend.set_index("week")
    assert list(t.index) == [f"2026-W{w}" for w in range(42, 50)]
    assert t.loc["2026-W46", "has_plan"] and t.loc["2026-W49", "has_plan"]
    for w in ("2026-W47", "2026-W48", "2026-W42"):
        assert not t.loc[w, "has_plan"] and t.loc[w, ["planned", "checked", "found"]].isna().all()
    assert t.loc["2026-W46", "planned"] == 18 and t.loc["2026-W46", "found"] == 0  # real zero
    assert t.loc["2026-W49", "found"] == 2
    page = files[0].read_text(encoding="utf-8")
    row = re.search(r"<tr><td>2026-W47</td>(.*?)</tr>", page)[1]
    assert _TD.findall(row) == ["", "", "", "无计划"]
    row = re.search(r"<tr><td>2026-W46</td>(.*?)</tr>", page)[1]
    assert _TD.findall(row) == ["18", "0", "0", ""]
    ws = openpyxl.load_workbook(files[1])["趋势"]
    rows = {r[0]: r for r in ws.iter_rows(min_row=4, values_only=True) if r[0]}
    assert rows["2026-W47"][1:4] == (None, None, None) and rows["2026-W46"][3] == 0


def test_trend_chart_draws_gaps_and_empty_weeks():
    from riskmap.field.week import Week
    from riskmap.field.weekly import WeeklySummary

    trend = pd.DataFrame({"week": ["2026-W47", "2026-W48", "2026-W49"],
                          "planned": [np.nan, np.nan, np.nan], "checked": [np.nan, 3, np.nan],
                          "found": [np.nan, 1, np.nan], "has_plan": [False, False, False]})
    s = WeeklySummary(Week.parse("2026-W49"), pd.DataFrame(), pd.DataFrame(), [], trend,
                      pd.DataFrame())
    assert trend_png(s)[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_week_without_any_plan(week, tmp_path):
    tiny, _, _, _ = week
    s, files = run_weekly(tiny.project, "2026-W47", out=tmp_path / "w47")
    page = files[0].read_text(encoding="utf-8")
    assert "本周没有计划" in page and "本周无发现" in page
    assert any("没有巡查计划" in n for n in s.notes)
    assert not len(s.cadres) and not s.not_reported


def test_an_unknown_township_is_refused_not_summarised_empty(week, tmp_path):
    """A mistyped --township is named with the valid names, and nothing is written."""
    from riskmap.errors import RiskmapError

    tiny, _, _, _ = week
    with pytest.raises(RiskmapError, match=r"未知乡镇 .*东真.*valid names: 东镇, 西镇"):
        run_weekly(tiny.project, W49, out=tmp_path / "w", townships=["东真"])
    assert not (tmp_path / "w").exists()
    s, _ = run_weekly(tiny.project, W49, out=tmp_path / "w", townships=["东镇"])
    assert set(s.villages["乡镇"]) == {"东镇"}


def test_notes_reach_the_summary_scrubbed(tmp_path):
    """A find's note with a phone and an ID number: shown without them."""
    tiny = Tiny(tmp_path)
    run_plan(tiny.project, W49, out=tmp_path / "p")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["东镇 2026-W49 台账"])
    ws.append(["序号", "网格编号", "排查日期", "排查人", "排查结果", "备注"])
    ws.append([1, "451-4190-97", "2026-12-04", "赵建", "发现疑似",
               "村民李四喜(13912345678)举报, 身份证 140321198801011234"])
    wb.save(tmp_path / "n.xlsx")
    ingest_files(tiny.project, [tmp_path / "n.xlsx"], surface=tiny.surface)
    _, files = run_weekly(tiny.project, W49, out=tmp_path / "w")
    for f in files[:2]:
        data = f.read_bytes().decode("utf-8", "ignore")
        if f.suffix == ".xlsx":
            import zipfile

            with zipfile.ZipFile(f) as z:
                data = " ".join(z.read(n).decode("utf-8", "ignore") for n in z.namelist())
        assert "举报" in data
        for pii in ("13912345678", "140321198801011234"):
            assert pii not in data
