"""The plan's rules for effort: exploration of long-unvisited cells, never two weeks running,
the analyst's overrides (recorded, shown in the ledger, the plan sheet and the KMZ)."""

from __future__ import annotations

import subprocess
import zipfile

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from test_plan import Tiny, summary

from riskmap.errors import RiskmapError
from riskmap.field.history import History
from riskmap.field.plan import record_plan
from riskmap.field.rules import (
    REASON_ADDED,
    REASON_EXPLORE,
    REASON_NEAR,
    REASON_TOP,
    PlanConfig,
    parse_overrides,
)
from riskmap.field.select import draw_weighted
from riskmap.field.week import Week

W48, W49 = Week.parse("2026-W48"), Week.parse("2026-W49")
DAY = "2026-11-27T10:00:00+08:00"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return Tiny(tmp_path_factory.mktemp("tiny"))


def _ids(tp, reason=None):
    return {c.cell_id for c in tp.cells if reason is None or c.reason == reason}


def _checked(cells, week="2026-W47", found=False):
    return pd.DataFrame({"cell_id": sorted(cells), "week": week, "found": found})


# --------------------------------------------------------------------------- exploration
def test_exploration_draws_long_unvisited_cells(tiny):
    cfg = PlanConfig.from_project(tiny.project)
    assert (cfg.explore_share, cfg.overdue_weeks, cfg.n_explore()) == (0.2, 8, 1)
    rules = "\n".join(cfg.rules(W49))
    assert "探索" in rules and "8 周以上未查" in rules and "seeded" in rules
    base = tiny.plan()
    explored = {c.cell_id for tp in base for c in tp.cells if c.reason == REASON_EXPLORE}
    # every class>=3 cell of the district checked two weeks ago, except the ones explored:
    # they are the only overdue cells, so exploration draws them again
    s = tiny.surface
    pg = s.patrol_grid
    from riskmap.grid.cellid import cell_ids

    rr, cc = np.nonzero(s.p_area & (s.p_class >= 3))
    all3 = set(cell_ids(pg.x0 + cc * pg.cell, pg.y0 - (rr + 1) * pg.cell, pg.cell).tolist())
    again = tiny.plan(inspections=_checked(all3 - explored))
    assert {c.cell_id for tp in again for c in tp.cells if c.reason == REASON_EXPLORE} <= explored
    # checked 9 weeks ago is overdue again; everything checked: priority fills the place
    old = tiny.plan(inspections=_checked(all3 - explored, week="2026-W40"))
    assert summary(old) == summary(base)
    full = tiny.plan(inspections=_checked(all3))
    for tp in full:
        for v in tp.villages:
            assert v.count(REASON_EXPLORE) == 0 and v.count(REASON_TOP) == 5
    # seeded: the same week the same draw, other weeks other draws
    assert summary(tiny.plan()) == summary(base)
    draws = {w: frozenset(_ids(tiny.plan(f"2026-W{w}")[1], REASON_EXPLORE)) for w in (40, 41, 42)}
    assert len(set(draws.values())) > 1


def test_exploration_is_weighted_by_score():
    rng = np.random.default_rng(0)
    pool = np.arange(10, dtype=np.int64)
    weights = np.r_[np.full(5, 1.0), np.full(5, 9.0)]
    hits = np.zeros(10)
    for _ in range(2000):
        for c in draw_weighted(pool, weights, 2, rng):
            hits[c] += 1
    assert hits[5:].sum() > 4 * hits[:5].sum()  # ~ 9 : 1 per draw
    assert draw_weighted(pool, weights, 0, rng) == [] and len(draw_weighted(pool[:1], [0], 3,
                                                                            rng)) == 1
    a = draw_weighted(pool, weights, 3, np.random.default_rng(5))
    assert a == draw_weighted(pool, weights, 3, np.random.default_rng(5))


# --------------------------------------------------------------------------- never twice running
def test_no_cell_two_weeks_running_unless_raised(tiny):
    last = tiny.plan("2026-W48")
    prev = pd.DataFrame({"cell_id": sorted({c.cell_id for tp in last for c in tp.cells})})
    this = tiny.plan("2026-W49", previous=prev)
    assert not ({c.cell_id for tp in this for c in tp.cells} & set(prev["cell_id"]))
    s = tiny.surface
    pg = s.patrol_grid
    from riskmap.grid.cellid import cell_ids

    for tp in this:  # the village still gets its picks, as far as its other cells go
        for v in tp.villages:
            rr, cc = np.nonzero((s.village == s.village_names.index(v.village) + 1)
                                & (s.p_class >= 3))
            left = set(cell_ids(pg.x0 + cc * pg.cell, pg.y0 - (rr + 1) * pg.cell,
                                pg.cell).tolist()) - set(prev["cell_id"])
            assert v.count(REASON_TOP) + v.count(REASON_EXPLORE) == min(5, len(left))
    # a find last week raises a planned cell and its neighbours: they may come back
    cell = next(c for c in last[0].cells if c.reason == REASON_TOP).cell_id
    raised = tiny.plan("2026-W49", previous=prev, inspections=_checked([cell], "2026-W48", True))
    back = {c.cell_id: c for tp in raised for c in tp.cells if c.cell_id in set(prev["cell_id"])}
    assert cell in back and back[cell].reason in (REASON_TOP, REASON_NEAR)
    assert all("提高" in c.adjustment for c in back.values())
    assert "上周计划过的网格本周不再选" in "\n".join(raised[0].rules)


# --------------------------------------------------------------------------- the analyst
def test_overrides_add_and_suppress(tiny, tmp_path):
    base = tiny.plan()
    west = base[1]
    low = next(c for c in base[1].cells if c.cls <= 2)  # a random check of 西村: class 1-2
    s = tiny.surface
    vi = s.village_names.index("西村") + 1
    r, c = np.argwhere((s.p_class == 1) & (s.village == vi))[-1]
    from riskmap.grid.cellid import cell_ids

    pg = s.patrol_grid
    add = str(cell_ids([pg.x0 + c * pg.cell], [pg.y0 - (r + 1) * pg.cell], pg.cell)[0])
    gone = next(x for x in west.cells if x.reason == REASON_TOP).cell_id
    ov = parse_overrides([f"{add}=群众反映夜间有车"], [f"{gone} = 已取缔, 无需再查"], date=DAY)
    plans = tiny.plan(overrides=ov)
    w = plans[1]
    cells = {x.cell_id: x for x in w.cells}
    assert cells[add].reason == REASON_ADDED and cells[add].priority == "1级 指定"
    assert cells[add].override == "分析员指定: 群众反映夜间有车 (2026-11-27)"
    assert gone not in cells and len(w.villages[0].cells) == len(west.villages[0].cells) + 1
    assert [o.cell_id for o in w.suppressed] == [gone] and not plans[0].overrides
    assert any(gone in n and "分析员取消" in n for n in w.notes)
    assert low.cell_id  # the rest of the rule is unchanged: same count of random checks
    assert w.villages[0].count("随机抽查") == west.villages[0].count("随机抽查")
    with History(tmp_path / "h.gpkg", tiny.project.crs) as h:
        record_plan(h, w, PlanConfig.from_project(tiny.project))
        stored = h.overrides(W49)
        planned = h.planned(W49).set_index("cell_id")
    assert stored[["cell_id", "action", "reason"]].values.tolist() == [
        [add, "add", "群众反映夜间有车"], [gone, "suppress", "已取缔, 无需再查"]]
    assert stored["created"].iloc[0] == DAY
    assert planned.loc[add, "override"] == cells[add].override
    with pytest.raises(RiskmapError, match="not a patrol cell"):
        tiny.plan(overrides=parse_overrides(["999-9999-99=x"], date=DAY))
    with pytest.raises(RiskmapError, match="does not plan"):
        tiny.plan(townships=["东镇"], overrides=ov)
    for bad in (["451-4190-97"], ["451-4190-97="]):
        with pytest.raises(RiskmapError, match="CELL=理由"):
            parse_overrides(bad, date=DAY)
    with pytest.raises(RiskmapError, match="both"):
        parse_overrides(["451-4190-97=a"], ["451-4190-97=b"], date=DAY)


def test_cli_overrides_are_shown_in_ledger_sheet_and_kmz(tiny, tmp_path):
    from riskmap.cli import cli
    from riskmap.cli import plan as _plan  # noqa: F401  (registers the commands)

    top = [c for c in tiny.plan(townships=["东镇"])[0].cells if c.reason == REASON_TOP]
    add, gone = "451-4190-00", top[0].cell_id
    out = tmp_path / "p"
    r = CliRunner().invoke(cli, ["plan", str(tiny.path), "--week", "2026-W49", "--township",
                                 "东镇", "--out", str(out), "--no-record", "--add",
                                 f"{add}=村民反映", "--suppress", f"{gone}=已复垦"])
    assert r.exit_code == 0, r.output
    assert f"{add}: 分析员指定: 村民反映" in r.output and "分析员取消: 已复垦" in r.output
    ledger = (out / "东镇" / "ledger.csv").read_text(encoding="utf-8-sig")
    row = next(line for line in ledger.splitlines() if add in line)
    assert "分析员指定: 村民反映" in row and "指定" in row and gone not in ledger
    with zipfile.ZipFile(out / "东镇" / "patrol.kmz") as z:
        kml = z.read("doc.kml").decode("utf-8")
    assert "分析员指定: 村民反映" in kml and "分析员取消: 已复垦" in kml and gone in kml
    text = subprocess.run(["pdftotext", str(out / "东镇" / "plan.pdf"), "-"],
                          capture_output=True, check=True).stdout.decode("utf-8")
    assert "分析员指定" in text and "本周取消" in text and gone in text and "探索" in text
    r = CliRunner().invoke(cli, ["plan", str(tiny.path), "--week", "2026-W49", "--out",
                                 str(tmp_path / "q"), "--add", "4514190=x"])
    assert r.exit_code == 1 and "4514190" in r.output
