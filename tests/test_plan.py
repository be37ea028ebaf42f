"""The weekly plan: selection rule, determinism, history adjustment, tours, outputs."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from click.testing import CliRunner
from tinyproject import CRS, X0, Y0, make_project

from riskmap.errors import ExportError, ProjectFileError, RiskmapError
from riskmap.field.history import History, Week
from riskmap.field.plan import history_adjustment, make_plan
from riskmap.field.rules import (
    REASON_EXPLORE,
    REASON_NEAR,
    REASON_RANDOM,
    REASON_TOP,
    PlanConfig,
)
from riskmap.field.tours import distance_matrix, nearest_neighbour, plan_tour, tour_length, two_opt
from riskmap.load.inputs import load_inputs
from riskmap.load.roster import read_roster, read_village_points
from riskmap.pipeline.field import run_plan
from riskmap.pipeline.project import load_project
from riskmap.score.engine import compute

EVIL_NAME = '=HYPERLINK("http://example.invalid","x")'
ROSTER = [  # 乡镇, 村, 网格编号, 责任人, 联系电话
    ("东镇", "东一村", None, "张建国", 13912345678),
    ("东镇", "东二村", None, EVIL_NAME, "+8613800000000"),
    ("西镇", "西村", None, "@李明", "0353-1234567"),
]


def write_roster(path, rows=ROSTER):
    """A roster as offices send it: a title row above the header, phones as numbers."""
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["郊区网格责任人名单 (测试)"])
    ws.merge_cells("A1:E1")
    ws.append(["乡镇", "村", "网格编号", "责任人", "联系电话"])
    for r in rows:
        ws.append(list(r))
    for row in ws.iter_rows():
        for cell in row:
            if isinstance(cell.value, str) and cell.value.startswith("="):
                cell.data_type = "s"  # typed text, not a formula
    wb.save(path)


def field_project(folder, plan=None, roster=True, points=True):
    """The tiny project with a roster, village committee points and plan settings."""

    def edit(d):
        if points:
            gpd.GeoDataFrame(
                {"name": ["东一村", "东二村"], "township": ["东镇", "东镇"]},
                geometry=[shapely.Point(X0 + 1100, Y0 + 100), shapely.Point(X0 + 1900, Y0 + 1900)],
                crs=CRS).to_file(folder / "tiny.gpkg", layer="village_points")
            d["village_points"] = {"source": "tiny.gpkg:village_points", "name_field": "name",
                                   "township_field": "township"}
        if roster:
            write_roster(folder / "roster.xlsx")
            d["roster"] = {"source": "roster.xlsx", "village_field": "村",
                           "name_field": "责任人", "phone_field": "联系电话"}
        d["plan"] = {"seed": 7, **(plan or {})}

    return make_project(folder, edit)


class Tiny:
    """A loaded tiny field project with its surface (computed once per module)."""

    def __init__(self, folder, **kw):
        self.path = field_project(folder, **kw)
        self.project = load_project(self.path)
        self.inputs = load_inputs(self.project)
        self.surface = compute(self.project, self.inputs)
        self.roster = read_roster(self.project)
        self.points = read_village_points(self.project)

    def plan(self, week="2026-W49", **kw):
        kw.setdefault("roster", self.roster)
        kw.setdefault("village_points", self.points)
        return make_plan(self.project, self.surface, self.inputs, week,
                         build_date="2026-11-27T10:00:00+08:00", **kw)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return Tiny(tmp_path_factory.mktemp("tiny"))


def summary(plans):
    return [(c.township, c.village, c.seq, c.cell_id, c.reason) for tp in plans for c in tp.cells]


# --------------------------------------------------------------------------- settings
def test_config_defaults_and_bad_values(tiny, tmp_path):
    cfg = PlanConfig.from_project(tiny.project)
    assert (cfg.per_village, cfg.random_share, cfg.min_class, cfg.seed) == (5, 0.1, 3, 7)
    assert cfg.n_random(5) == 1 and cfg.n_random(12) == 2 and cfg.n_random(0) == 1
    rules = "\n".join(cfg.rules(Week.parse("2026-W49")))
    assert "随机抽查" in rules and "×0.5" in rules and "×1.5" in rules and "2026-W49" in rules
    bad = field_project(tmp_path, plan={"random_share": 1.5}, roster=False, points=False)
    with pytest.raises(ProjectFileError, match=r"plan\.random_share"):
        PlanConfig.from_project(load_project(bad))


def test_week_parsing():
    w = Week.parse("2026-W49")
    assert str(w) == "2026-W49" and w.monday.isoformat() == "2026-11-30"
    assert Week.parse("２０２６年第49周") == w and Week.parse("2026w49") == w
    assert w.shift(-1) == Week.parse("2026-W48") and w.shift(5) == Week.parse("2027-W01")
    assert Week.find("东镇 2026-W49 (2026-11-30 至 2026-12-06) 台账") == w
    with pytest.raises(RiskmapError):
        Week.parse("2026-W54")


# --------------------------------------------------------------------------- the rule
def test_plan_rule(tiny):
    plans = tiny.plan()
    assert [tp.township for tp in plans] == ["东镇", "西镇"]
    cls = tiny.surface.p_class
    for tp in plans:
        assert {c.township for c in tp.cells} == {tp.township}  # only its own cells
        for v in tp.villages:
            top = [c for c in v.cells if c.reason == REASON_TOP]
            rnd = [c for c in v.cells if c.reason == REASON_RANDOM]
            exp = [c for c in v.cells if c.reason == REASON_EXPLORE]
            # explore_share 0.2 of per_village 5: 4 priority cells and 1 exploration pick
            assert len(top) == 4 and all(c.cls >= 3 for c in top)
            assert len(exp) == 1 and exp[0].cls >= 3 and exp[0].priority.endswith("探索")
            assert "从未排查" in exp[0].adjustment  # no history: every cell is unvisited
            assert min(c.score for c in top) >= exp[0].score - 1e-9  # drawn below the top
            assert len(rnd) == 1 and rnd[0].priority.endswith("随机抽查")
            assert [c.seq for c in v.cells] == list(range(1, len(v.cells) + 1))
            assert all(c.label == f"{c.no:02d} {c.cell_id}" for c in v.cells)
            assert len({c.cell_id for c in v.cells}) == len(v.cells)
            # the top cells are the village's best cells of class >= 3
            vi = tiny.surface.village_names.index(v.village) + 1
            mask = (tiny.surface.village == vi) & (cls >= 3)
            best = np.sort(tiny.surface.p_score[mask])[::-1][:4]
            assert sorted((c.score for c in top), reverse=True) == pytest.approx(best, abs=0.01)
        # the visit numbers run through the township, village after village
        assert [c.no for c in tp.cells] == list(range(1, len(tp.cells) + 1))
    east = plans[0]
    v1 = east.villages[0]
    assert v1.start_kind == "村委会" and v1.start == (X0 + 1100, Y0 + 100)
    assert plans[1].villages[0].start_kind == "村域内点"  # 西村 has no committee point
    assert v1.responsible == "张建国" and v1.phone == "13912345678"
    assert all(c.responsible == "张建国" for c in v1.cells)


def test_plan_is_deterministic_and_seeded(tiny):
    a, b = summary(tiny.plan()), summary(tiny.plan())
    assert a == b
    random_cells = {
        w: [x[3] for x in summary(tiny.plan(f"2026-W{w}")) if x[4] == REASON_RANDOM]
        for w in range(40, 50)}
    assert len({tuple(v) for v in random_cells.values()}) > 1  # the week changes the draw
    # a township planned alone gets the same list as in the full plan
    alone = summary(tiny.plan(townships=["西镇"]))
    assert alone == [x for x in a if x[0] == "西镇"]
    with pytest.raises(RiskmapError, match="unknown township"):
        tiny.plan(townships=["南镇"])


def test_history_damps_and_raises(tiny):
    base = tiny.plan()
    v = base[0].villages[1]  # 东二村
    top = [c for c in v.cells if c.reason == REASON_TOP]
    # last week: the best two cells checked, nothing found
    negatives = pd.DataFrame({"cell_id": [top[0].cell_id, top[1].cell_id],
                              "week": ["2026-W48", "2026-W48"], "found": [False, False]})
    damped = tiny.plan(inspections=negatives)
    dv = damped[0].villages[1]
    by_id = {c.cell_id: c for c in dv.cells}
    for c in top[:2]:
        assert c.cell_id not in by_id or by_id[c.cell_id].adj_score == pytest.approx(
            c.score * 0.5, abs=0.02)
    assert summary(damped) != summary(base)
    # three weeks ago a find in a low-class cell of 西村: it and its neighbours are raised
    s = tiny.surface
    low = [c for c in base[1].cells if c.reason == REASON_TOP]
    pg = s.patrol_grid
    vi = s.village_names.index("西村") + 1
    cand = np.argwhere((s.p_class == 1) & (s.village == vi))
    r, c = cand[len(cand) // 2]
    from riskmap.grid.cellid import cell_ids

    fid = str(cell_ids([pg.x0 + c * pg.cell], [pg.y0 - (r + 1) * pg.cell], pg.cell)[0])
    finds = pd.DataFrame({"cell_id": [fid], "week": ["2026-W46"], "found": [True]})
    adj = history_adjustment(s, finds, Week.parse("2026-W49"), PlanConfig.from_project(
        tiny.project))
    assert adj.raised.sum() == 9 and adj.factor[r, c] == 1.5
    raised = tiny.plan(inspections=finds)
    near = [x for x in raised[1].cells if x.reason == REASON_NEAR]
    assert fid in {x.cell_id for x in raised[1].cells}
    assert near and all("提高" in x.adjustment for x in near)
    assert {x.cell_id for x in low} != {x.cell_id for x in raised[1].cells}
    # a find older than raise_weeks, or in the planned week itself, changes nothing
    old = finds.assign(week="2026-W30")
    assert summary(tiny.plan(inspections=old)) == summary(base)
    same = finds.assign(week="2026-W49")
    assert summary(tiny.plan(inspections=same)) == summary(base)


# --------------------------------------------------------------------------- tours
def test_tour_never_longer_than_nearest_neighbour():
    rng = np.random.default_rng(3)
    for _ in range(60):
        n = int(rng.integers(1, 16))
        pts = rng.uniform(0, 1000, (n, 2))
        start = rng.uniform(0, 1000, 2)
        order, length, nn_len = plan_tour(start, pts)
        assert sorted(order.tolist()) == list(range(n))
        assert length <= nn_len + 1e-9
        d = distance_matrix(np.vstack([start, pts]))
        assert length == pytest.approx(tour_length(d, [0, *(order + 1)]))
    # a crossing tour is uncrossed
    sq = np.array([[0, 0], [1, 1], [1, 0], [0, 1]], float) * 100
    d = distance_matrix(sq)
    assert tour_length(d, [0, 1, 2, 3]) > 400
    assert tour_length(d, two_opt(d, [0, 1, 2, 3])) == pytest.approx(400)
    assert nearest_neighbour(d, 0)[0] == 0 and two_opt(d, [0, 1, 2, 3])[0] == 0


def test_village_tours_reported(tiny):
    for tp in tiny.plan():
        for v in tp.villages:
            assert 0 < v.length_m <= v.nn_length_m + 1e-6


# --------------------------------------------------------------------------- run + CLI
def test_run_plan_writes_files_atomically(tmp_path):
    path = field_project(tmp_path)
    project = load_project(path)
    out = tmp_path / "plans"
    rep = run_plan(project, "2026-W49", out=out)
    for t in ("东镇", "西镇"):
        names = sorted(p.name for p in (out / t).iterdir())
        assert names == ["ledger.csv", "ledger.xlsx", "patrol.gpx", "patrol.kmz",
                         "patrol_ovital.txt", "plan.pdf"]
    assert len(rep.files) == 12 and set(rep.run_ids) == {"东镇", "西镇"}
    assert {t: s.pages for t, s in rep.sheets.items()} == {"东镇": 1, "西镇": 1}
    assert (out / "东镇" / "plan.pdf").read_bytes()[:5] == b"%PDF-"
    before = (out / "东镇" / "ledger.csv").read_bytes()
    with pytest.raises(ExportError, match="--overwrite"):
        run_plan(project, "2026-W49", out=out)
    assert (out / "东镇" / "ledger.csv").read_bytes() == before
    run_plan(project, "2026-W49", out=out, overwrite=True, townships=["东镇"])
    assert not [p for p in out.rglob(".*")]  # no temporary files left
    with History(project.history, project.crs) as h:
        assert h.counts()["plan_runs"] == 3
        planned = h.planned("2026-W49")
        assert set(planned["township"]) == {"东镇", "西镇"}
        assert len(planned) == len(rep.plans[0].cells) + len(rep.plans[1].cells)


def test_cli_plan_and_weekly(tmp_path):
    from riskmap.cli import cli
    from riskmap.cli import ingest as _ingest  # noqa: F401  (registers the commands)
    from riskmap.cli import plan as _plan  # noqa: F401

    path = field_project(tmp_path)
    runner = CliRunner()
    r = runner.invoke(cli, ["plan", str(path), "--week", "2026-W49", "-q", "--out",
                            str(tmp_path / "p")])
    assert r.exit_code == 0, r.output
    assert "东镇" in r.output and (tmp_path / "p" / "西镇" / "patrol.kmz").is_file()
    r = runner.invoke(cli, ["plan", str(path), "--week", "2026-W49", "-q", "--out",
                            str(tmp_path / "p")])
    assert r.exit_code == 1 and "--overwrite" in r.output
    r = runner.invoke(cli, ["plan", str(path), "--week", "2026-W99"])
    assert r.exit_code == 1 and "2026-W99" in r.output
    r = runner.invoke(cli, ["weekly", str(path), "--week", "2026-W49", "--out",
                            str(tmp_path / "w")])
    assert r.exit_code == 0, r.output
    assert "未上报" in r.output and (tmp_path / "w" / "weekly.html").is_file()
