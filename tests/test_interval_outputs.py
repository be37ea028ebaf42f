"""The calibration's per-cell rank interval in the outputs (issue 16, "Uncertainty").

A tiny calibrated project is made in code (calibrate in-process, 20 bootstrap
draws): its ``interval`` key, the cells' columns in risk.gpkg against the tif,
the map.html popup, the plan's ledger, the exploration draw, and the refusal of
a stale file.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import sqlite3
import warnings
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import rasterio
import shapely
import yaml
from tinyproject import CRS, X0, Y0, make_project

from riskmap.errors import LayerError
from riskmap.field.plan import make_plan
from riskmap.field.rules import REASON_EXPLORE
from riskmap.load.inputs import load_inputs
from riskmap.pipeline.project import load_project
from riskmap.score.engine import compute

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

WEEK = "2026-W49"
PLAN = {"per_village": 6, "explore_share": 0.5}  # 3 exploration picks per village


def _incidents(folder: Path, n: int = 160, seed: int = 4) -> None:
    """Cases around two of the tiny project's mines, dated over three years."""
    rng = np.random.default_rng(seed)
    mines = np.array([(X0 + 300, Y0 + 400), (X0 + 1610, Y0 + 1520)])
    xy = mines[rng.integers(0, 2, n)] + rng.normal(0, 250, (n, 2))
    xy = np.clip(xy, [X0 + 5, Y0 + 5], [X0 + 1995, Y0 + 1995])
    dates = [f"{2023 + i % 3}-{1 + i % 12:02d}-15" for i in range(n)]
    gpd.GeoDataFrame({"date": dates}, geometry=shapely.points(xy), crs=CRS).to_file(
        folder / "tiny.gpkg", layer="incidents")


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory):
    """(folder, calibrated project path): calibrate --write in-process, 20 draws."""
    from riskmap.pipeline.calibrate import calibrate_project

    folder = tmp_path_factory.mktemp("interval")

    def edit(d):
        d["incidents"] = {"source": "tiny.gpkg:incidents", "date_field": "date"}
        d["calibration"] = {"ranges": [200, 400, 800], "folds": 3, "block_size": 500,
                            "seed": 1}
        d["plan"] = PLAN

    path = make_project(folder, edit)
    _incidents(folder)
    p = load_project(path)
    p = replace(p, calibration={**p.calibration, "bootstrap": 20, "shapes": False,
                                "residual": False, "near_repeat": False})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res, target = calibrate_project(p, write=folder / "cal.yaml")
    assert res.interval is not None
    return folder, target


@pytest.fixture(scope="module")
def scored(calibrated):
    """The calibrated project, its inputs and surface."""
    _, target = calibrated
    p = load_project(target)
    inputs = load_inputs(p)
    return p, inputs, compute(p, inputs)


def _bands(path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(masked=True).filled(np.nan)


def test_calibrate_write_names_the_interval(calibrated):
    folder, target = calibrated
    text = target.read_text(encoding="utf-8")
    assert text.rstrip().endswith("interval: out/calibration/score_interval.tif")
    p = load_project(target)
    assert p.interval == (folder / "out" / "calibration" / "score_interval.tif").resolve()
    assert p.interval.is_file()
    # the key follows the file when the project is written elsewhere, and goes with no interval
    from riskmap.models.calibrate.projectfile import with_interval

    moved = with_interval(text, folder / "sub" / "x.yaml", p.interval)
    assert yaml.safe_load(moved)["interval"] == "../out/calibration/score_interval.tif"
    assert moved.count("interval:") == 1
    assert "interval" not in yaml.safe_load(with_interval(moved, target, None))
    # a project without the key loads as before
    assert load_project(folder / "project.yaml").interval is None


def test_gpkg_cells_carry_the_interval(calibrated, scored):
    from riskmap.pipeline.build import build
    from riskmap.pipeline.exporters import export_gpkg, export_html, export_summary

    folder, _ = calibrated
    p, _, s = scored
    rep = build(p, out=folder / "build", townships=["东镇"],
                exporters=(export_gpkg, export_html, export_summary))
    area = rep.areas[0].folder
    # summary.json names the interval the ranks come from, and its bytes
    summary = json.loads((area / "summary.json").read_text(encoding="utf-8"))
    digest = hashlib.sha256(p.interval.read_bytes()).hexdigest()
    assert summary["interval"] == {"file": "out/calibration/score_interval.tif", "sha256": digest}
    cells = pyogrio.read_dataframe(area / "risk.gpkg", layer="cells")
    assert {"rank_pct", "rank_lo", "rank_hi"} <= set(cells.columns)
    bands = _bands(p.interval)
    r, c = s.patrol_grid.rowcol(cells["x"].to_numpy(), cells["y"].to_numpy())
    for i, col in enumerate(("rank_pct", "rank_lo", "rank_hi")):
        want = bands[i][r, c]
        got = cells[col].to_numpy(float)
        assert np.array_equal(np.isnan(got), np.isnan(want))
        np.testing.assert_allclose(got[~np.isnan(got)], want[~np.isnan(want)], atol=0.051)
    assert cells["rank_hi"].notna().sum() > 0.9 * len(cells)
    assert (cells["rank_lo"] <= cells["rank_hi"]).all()
    with closing(sqlite3.connect(area / "risk.gpkg")) as db:
        titles = dict(db.execute("SELECT column_name, name FROM gpkg_data_columns "
                                 "WHERE table_name = 'cells' AND column_name LIKE 'rank%'"))
    assert titles == {"rank_pct": "排名百分位", "rank_lo": "排名下界 (5%)",
                      "rank_hi": "排名上界 (95%)"}
    # map.html: the popup's data hold each cell's "前 a–b %"
    text = (area / "map.html").read_text(encoding="utf-8")
    data = json.loads(re.search(r'id="riskmap-data">(.*?)</script>', text, re.S).group(1))
    cd = data["cells"]
    shown = [cd["ranks"][k] for k in cd["rk"]]
    assert len(shown) == len(cells)
    k = int(np.nanargmax(cells["rank_hi"].to_numpy(float)))
    lo, hi = cells["rank_lo"].iat[k], cells["rank_hi"].iat[k]
    a, b = max(1, round(100 - hi)), max(1, round(100 - hi), round(100 - lo))
    assert shown[k] == (f"前 {a} %" if a == b else f"前 {a}–{b} %")
    assert "排名区间 (rank interval)" in text  # the popup's row (map.js)


def test_popup_shows_the_interval(calibrated, scored, chromium):
    folder, _ = calibrated
    area = folder / "build" / "东镇"
    cells = pyogrio.read_dataframe(area / "risk.gpkg", layer="cells")
    cid = cells.sort_values("rank_hi")["id"].iloc[-1]
    ctx = chromium.new_context(offline=True, viewport={"width": 1200, "height": 900})
    try:
        page = ctx.new_page()
        page.goto((area / "map.html").as_uri())
        page.wait_for_function("window.riskmapReady === true", timeout=15000)
        page.fill(".rm-search input", cid)
        page.click(".rm-search button")
        page.wait_for_selector(".leaflet-popup-content")
        popup = page.inner_text(".leaflet-popup-content")
    finally:
        ctx.close()
    assert cid in popup and "排名区间 (rank interval)" in popup
    assert re.search(r"前 \d+(–\d+)? %", popup)


def test_plan_ledger_has_the_column_and_ingests(calibrated, scored, tmp_path):
    from riskmap.export.ledger import LEDGER_HEADER, RANK_HEADER, write_ledger_csv
    from riskmap.field.ingest import read_returned

    p, inputs, s = scored
    tp = make_plan(p, s, inputs, WEEK, townships=["东镇"], build_date="2026-12-01")[0]
    assert tp.interval and all(c.rank.startswith("前 ") for c in tp.cells)
    assert any("探索 (区间)" in r for r in tp.rules)
    path = tmp_path / "ledger.csv"
    write_ledger_csv(tp, path)
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    i = LEDGER_HEADER.index("优先级") + 1
    assert rows[0] == [*LEDGER_HEADER[:i], RANK_HEADER, *LEDGER_HEADER[i:]]
    assert [r[i] for r in rows[1:]] == [c.rank for c in tp.cells]
    # a returned ledger with the extra column reads back as before
    res = rows[0].index("排查结果")
    for r in rows[1:3]:
        r[res], r[rows[0].index("排查日期")] = "未发现", "2026-12-02"
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        csv.writer(f).writerows(rows)
    got, errors, _ = read_returned(path, p, s)
    assert len(got) == 2 and not errors


def test_field_files_carry_the_interval(calibrated, scored, tmp_path):
    """KMZ (description and data), GPX and 奥维 text show each cell's 排名区间, as the ledger."""
    import zipfile

    from riskmap.export.fieldfiles import write_gpx, write_kmz, write_ovital_txt

    p, inputs, s = scored
    tp = make_plan(p, s, inputs, WEEK, townships=["东镇"], build_date="2026-12-01")[0]
    write_kmz(tp, tmp_path / "plan.kmz")
    write_gpx(tp, tmp_path / "plan.gpx")
    write_ovital_txt(tp, tmp_path / "plan.txt")
    with zipfile.ZipFile(tmp_path / "plan.kmz") as z:
        kml = z.read("doc.kml").decode("utf-8")
    gpx = (tmp_path / "plan.gpx").read_text(encoding="utf-8")
    txt = (tmp_path / "plan.txt").read_text(encoding="gb18030")  # 奥维 reads the ANSI code page
    for c in tp.cells:
        assert f"排名区间 {c.rank}" in kml and f"排名区间{c.rank}" in gpx, c.cell_id
        assert f"排名区间{c.rank}".replace(" ", "_") in txt, c.cell_id  # 奥维: no spaces in a field
    assert kml.count('<Data name="排名区间">') == len(tp.cells)


def test_plan_sheet_table_has_the_column(calibrated, scored, tmp_path):
    """plan.pdf's table shows 排名区间 after 优先级, each cell's as in the ledger (pdftotext)."""
    import subprocess

    from riskmap.export.pdf.plansheet import write_plan_pdf

    p, inputs, s = scored
    tp = make_plan(p, s, inputs, WEEK, townships=["东镇"], build_date="2026-12-01")[0]
    write_plan_pdf(tp, tmp_path / "plan.pdf")
    text = subprocess.run(["pdftotext", "-layout", str(tmp_path / "plan.pdf"), "-"],
                          capture_output=True, text=True, check=True).stdout
    head = next(line for line in text.splitlines() if "网格编号" in line and "主要原因" in line)
    assert head.index("优先级") < head.index("排名区间") < head.index("主要原因")
    lines = {c.cell_id: next(line for line in text.splitlines() if c.cell_id in line
                             and "前" in line) for c in tp.cells}
    for c in tp.cells:
        assert c.rank.replace(" ", "") in lines[c.cell_id].replace(" ", ""), c.cell_id


def test_a_township_window_reads_its_part(scored):
    """The tiled build scores each township on a window of the district grid."""
    from riskmap.score.cells import interval_on

    p, _, s = scored
    pg = s.patrol_grid
    win = pg.window(3, 5, 7, 9)
    iv = interval_on(p, win, window=True)
    bands = _bands(p.interval)
    np.testing.assert_array_equal(iv.hi, bands[2][3:10, 5:14])
    with pytest.raises(LayerError, match="范围与本区巡查网格不同"):
        interval_on(p, win)  # as the district's grid: not the file's extent


def _crafted(p, s, folder: Path, reach: np.ndarray) -> Path:
    """An interval tif on the patrol grid: narrow everywhere, reaching 99.5 on ``reach``."""
    from riskmap.export.calibration import write_interval
    from riskmap.models.calibrate.interval import Interval, _pct

    cells = np.flatnonzero(s.p_area.ravel())
    point = _pct(s.p_score.ravel()[cells])[0]
    low, high = point - 1, np.minimum(point + 1, 100)
    high[np.isin(cells, reach)] = 99.5
    path = folder / "crafted_interval.tif"
    write_interval(path, Interval(s.patrol_grid, cells, point, np.maximum(low, 0), high, 20),
                   overwrite=True)
    return path


def test_exploration_draws_what_the_data_cannot_rule_out(scored, tmp_path):
    p, inputs, s = scored
    cls = s.p_class.ravel()
    area = s.p_area.ravel()
    # cells the score puts low (class 2) but the interval cannot rule out of the top class
    reach = np.flatnonzero(area & (cls == 2))
    assert len(reach) > 20
    crafted = replace(p, interval=_crafted(p, s, tmp_path, reach))

    def picks(project):
        tps = make_plan(project, s, inputs, WEEK, build_date="2026-12-01")
        return [(c.cell_id, c.adjustment) for tp in tps for c in tp.cells
                if c.reason == REASON_EXPLORE], tps

    got, tps = picks(crafted)
    ids = set(_ids(s, reach))
    assert len(got) == 3 * sum(len(tp.villages) for tp in tps)  # 3 per village
    assert all(cid in ids for cid, _ in got)  # every pick from the interval's pool
    assert all("探索: 区间可达最高级" in note for _, note in got)
    assert picks(crafted)[0] == got  # seeded: the same draw again
    plain, _ = picks(replace(p, interval=None))  # without it: the score's pool, as before
    assert plain and not any(cid in ids for cid, _ in plain)


def _ids(s, flat) -> list[str]:
    from riskmap.grid.cellid import cell_ids

    pg = s.patrol_grid
    r, c = np.divmod(flat, pg.ncols)
    return list(cell_ids(pg.x0 + c * pg.cell, pg.y0 - (r + 1) * pg.cell, pg.cell))


def test_a_stale_interval_is_refused_naming_the_file(scored, tmp_path):
    from riskmap.grid import Grid
    from riskmap.pipeline.check import check_project_inputs
    from riskmap.score.cells import cell_table

    p, _, s = scored
    pg = s.patrol_grid
    stale = tmp_path / "stale_interval.tif"
    bad = replace(p, interval=stale)

    def write(grid: Grid) -> None:
        with rasterio.open(stale, "w", driver="GTiff", dtype="float32", count=3,
                           nodata=-9999.0, width=grid.ncols, height=grid.nrows, crs=grid.crs,
                           transform=grid.transform) as dst:
            dst.write(np.full((3, *grid.shape), 50.0, np.float32))

    def check_refuses() -> None:
        res = check_project_inputs(bad)
        (row,) = [r for r in res.rows if r.role.startswith("interval")]
        assert "stale_interval.tif" in row.problem and "calibrate --write" in row.problem
        assert res.status("build") == "refused" and res.status("plan") == "refused"
        assert res.status("calibrate") == "ok"  # the fix still runs

    # written for another district outline: the grid one row further north
    write(Grid(pg.crs, pg.x0, pg.y0 + pg.cell, pg.cell, pg.nrows, pg.ncols))
    with pytest.raises(LayerError, match=r"stale_interval\.tif: 区间文件的范围与本区巡查网格不同"
                                         r".*重新运行 riskmap calibrate --write"):
        cell_table(s, bad, np.flatnonzero(s.p_area.ravel())[:3])
    check_refuses()
    # one row larger: it covers every cell, but was made for another outline
    write(Grid(pg.crs, pg.x0, pg.y0 + pg.cell, pg.cell, pg.nrows + 1, pg.ncols))
    check_refuses()
    # another patrol cell size, and a missing file: refused the same way
    write(pg.coarsen(2))
    with pytest.raises(LayerError, match="网格大小与巡查网格不同"):
        make_plan(bad, s, None, WEEK)
    with pytest.raises(LayerError, match="区间文件不存在"):
        cell_table(s, replace(p, interval=tmp_path / "gone.tif"), np.array([0]))
    # and the calibrated project as written passes check
    ok = check_project_inputs(p)
    (row,) = [r for r in ok.rows if r.role.startswith("interval")]
    assert not row.problem and row.features > 0 and ok.status("build") == "ok"
