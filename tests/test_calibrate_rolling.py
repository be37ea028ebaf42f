"""Calibration's rolling-origin design, its search, added terms, effort and interval."""

from __future__ import annotations

import datetime as dt
import warnings
from dataclasses import replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
import yaml
from test_calibrate import CRS, SIDE, X0, Y0, write_synthetic

from riskmap.grid import Grid
from riskmap.models.calibrate import calibrate, fit_poisson
from riskmap.models.calibrate.panel import Extra, Panel, fit_panel
from riskmap.models.calibrate.periods import make_periods
from riskmap.models.calibrate.search import Binned, score_candidates
from riskmap.pipeline.project import load_project

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


# --------------------------------------------------------------------------- arrays only
def _panel_data(seed=0, n=6000, P=4):
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 1, (n, 2))
    Z = rng.uniform(0, 1, (1, P, n))
    off = np.log(rng.uniform(0.5, 1, n))
    alpha = np.array([-4.0, -3.5, -4.2, -3.8])[:P]
    eta = alpha[:, None] + off + X @ [1.0, -0.5] + 0.8 * Z[0]
    return rng, X, Z, off, rng.poisson(np.exp(eta)).astype(float)


def test_panel_fit_is_the_stacked_poisson_fit():
    """Period levels + static + dated columns: the same MLE as one long design matrix."""
    _, X, Z, off, y = _panel_data()
    P, n = y.shape
    coef, H = fit_panel(Panel(y, off, X, Z), 0.0)
    dense = np.zeros((P * n, P + 3))
    for p in range(P):
        dense[p * n:(p + 1) * n, p] = 1
        dense[p * n:(p + 1) * n, P:P + 2] = X
        dense[p * n:(p + 1) * n, P + 2] = Z[0, p]
    ref, _ = fit_poisson(dense[:, 1:], y.ravel(), np.tile(off, P))
    np.testing.assert_allclose(coef[P:], ref[P:], atol=2e-3)
    np.testing.assert_allclose(coef[0], ref[0], atol=2e-3)
    assert H.shape == (P + 3, P + 3) and np.all(np.linalg.eigvalsh(H) > 0)


def test_sign_constraints_hold_at_zero():
    _, X, Z, off, y = _panel_data(1)
    P = y.shape[0]
    coef, _ = fit_panel(Panel(y, off, X, Z), 0.0, signs=[0, 1, 0])  # β2 can only raise
    assert coef[P + 1] == 0.0 and coef[P] > 0.5 and coef[P + 2] > 0.4
    coef, _ = fit_panel(Panel(y, off, X, Z), 0.0, signs=[-1, 0, 0])
    assert coef[P] == 0.0


def test_extra_rows_share_the_coefficients():
    """Inspections with their own level inform β (here they alone carry the signal)."""
    rng, X, Z, off, y = _panel_data(2)
    cell = rng.integers(0, len(off), 4000)
    per = rng.integers(0, y.shape[0], 4000)
    lam = np.exp(-1.0 + X[cell] @ [1.0, -0.5] + 0.8 * Z[0, per, cell])
    ex = Extra(cell, per, rng.poisson(lam).astype(float), np.zeros(4000))
    coef, _ = fit_panel(Panel(np.zeros_like(y), off, X, Z, ex), 0.0)
    assert coef[-1] == pytest.approx(-1.0, abs=0.25)
    np.testing.assert_allclose(coef[y.shape[0]:-1], [1.0, -0.5, 0.8], atol=0.3)


def test_binned_search_finds_the_true_candidate():
    rng = np.random.default_rng(3)
    n, P = 20000, 2
    d = rng.uniform(0, 3000, n)
    cands = [np.clip(1 - d / r, 0, 1) for r in (250, 500, 1000, 2000)]
    y = rng.poisson(np.exp(-4 + 1.5 * cands[2])[None, :] * np.ones((P, 1))).astype(float)
    fold = rng.integers(0, 4, n)
    tot = np.zeros(4)
    B = Binned(cands)
    for k in range(4):
        dev, none, _, _ = score_candidates(B, y, np.full((P, n), -4.0), fold == k, 0.1)
        tot += dev
        assert none > dev.min()
    assert int(np.argmin(tot)) == 2


def test_quarters_from_the_first_event_to_until():
    dates = np.array(["2024-02-10", "2024-08-01", "2025-01-05"], "datetime64[D]")
    p = make_periods(dates, dt.date(2025, 3, 1))
    assert p.labels() == ["2024Q1", "2024Q2", "2024Q3", "2024Q4", "2025Q1"]
    assert p.ends[-1] == dt.date(2025, 3, 1) and list(p.of(dates)) == [0, 2, 4]
    assert make_periods(dates, None, "year").labels() == ["2024", "2025"]


# --------------------------------------------------------------------------- projects
def _clustered(folder: Path, n_parents=260, seed=5) -> Path:
    """A district whose cases cluster in time and space and follow a hidden field."""
    rng = np.random.default_rng(seed)
    path = write_synthetic(folder, n_events=50, seed=seed)
    grid = Grid.from_bounds((X0, Y0, X0 + SIDE, Y0 + SIDE), 100, CRS, snap=100)
    field = np.zeros(grid.shape)
    field[: grid.nrows // 2, : grid.ncols // 2] = 1.4  # an unmapped hot quarter
    mines = gpd.read_file(folder / "synth.gpkg", layer="mines")
    d = np.min([np.hypot(grid.x_centres()[None, :] - p.x, grid.y_centres()[:, None] - p.y)
                for p in mines.geometry], axis=0)
    eta = field + 1.2 * np.clip(1 - d / 1000, 0, 1)
    prob = np.exp(eta).ravel() / np.exp(eta).sum()
    cells = rng.choice(grid.size, n_parents, p=prob)
    x, y = grid.xy(*np.divmod(cells, grid.ncols))
    days = rng.integers(0, 3 * 365, n_parents)
    xs, ys, ts = list(x), list(y), list(days)
    for i in range(n_parents):  # near repeats: followers within 150 m, 5-40 days later
        for _ in range(rng.poisson(0.8)):
            xs.append(x[i] + rng.uniform(-150, 150))
            ys.append(y[i] + rng.uniform(-150, 150))
            ts.append(days[i] + rng.integers(5, 40))
    t0 = np.datetime64("2023-01-01")
    dates = [str(t0 + int(t)) for t in ts]
    src = ["巡查" if i % 3 == 0 else "举报" for i in range(len(xs))]
    gpd.GeoDataFrame({"date": dates, "来源": src}, geometry=shapely.points(xs, ys),
                     crs=CRS).to_file(folder / "synth.gpkg", layer="incidents")
    d = yaml.safe_load(path.read_text(encoding="utf-8"))
    d["factors"].append({"name": "past", "label": "既往案件", "source": "synth.gpkg:incidents",
                         "kind": "density", "bandwidth": 250, "date_field": "date",
                         "half_life_days": 365, "weight": 5})
    d["as_of"] = "2026-01-15"
    path.write_text(yaml.safe_dump(d, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def clustered(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clustered")
    path = _clustered(folder)
    return path, calibrate(load_project(path), until="2026-01-01")


def test_every_event_counted_with_dated_factors(clustered):
    path, res = clustered
    inc = gpd.read_file(path.parent / "synth.gpkg", layer="incidents")
    box = shapely.box(X0, Y0, X0 + SIDE, Y0 + SIDE)
    n = int((shapely.intersects(box, inc.geometry.values) & (inc["date"] < "2026-01-01")).sum())
    assert res.n_events == n  # no split discards half of them
    assert res.periods[0] == "2023Q1" and res.periods[-1] == "2025Q4"
    past = res.factor("past")
    assert past.dated and past.kept and past.form.startswith("density")
    assert any("rolling origin" in s for s in res.notes)
    # 来源 巡查 weighs half
    assert res.provenance["field"] == "来源" and res.weighted_events < res.n_events
    d = res.to_dict()
    assert d["periods"] == res.periods and d["factors"][-1]["name"] in ("residual",
                                                                        "near_repeat")


def test_added_terms_are_kept_written_and_built(clustered, tmp_path):
    from riskmap.load.inputs import load_inputs
    from riskmap.pipeline.calibrate import calibrate_project
    from riskmap.score.engine import compute

    path, res = clustered
    nr, resid = res.factor("near_repeat"), res.factor("residual")
    assert nr.kept and nr.added and nr.beta > 0 and "half-life" in nr.form
    assert resid.kept and res.residual.cv < res.residual.cv_without
    target = path.parent / "cal.yaml"
    calibrate_project(load_project(path), until="2026-01-01", write=target,
                      out=tmp_path / "cal")
    assert (path.parent / "cal.residual.tif").exists()
    text = target.read_text(encoding="utf-8")
    assert "kind: raster" in text and "raster:cal.residual.tif" in text
    cal = load_project(target)
    kinds = {f.name: f.kind for f in cal.factors}
    assert kinds["residual"] == "raster" and kinds["near_repeat"] == "density"
    surface = compute(cal, load_inputs(cal))
    assert surface.factors["residual"].value.max() > 0.5  # its own contribution in popups
    with rasterio.open(tmp_path / "cal" / "score_interval.tif") as src:
        b = src.read(masked=True)
        assert src.count == 3 and src.crs.to_epsg() == 4547
    assert float((b[1] <= b[0] + 1e-3).mean()) > 0.95 and float((b[2] >= b[0] - 1e-3).mean()) > 0.95


def test_partial_coverage_of_a_meter_table(tmp_path):
    """A meter table of 12 months is fitted on the periods it covers; the others on all."""
    from test_check_project import full_project

    folder = tmp_path / "p"
    folder.mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = calibrate(load_project(full_project(folder)))
    power = res.factor("power")
    assert power.dated and res.periods[0] == "2025Q1" and len(res.periods) == 8
    # the table holds 2026-01 … 2026-12: three months before April, the first period it covers
    assert "fitted on the 3 of 8 periods its data cover (2026Q2–2026Q4)" in power.periods
    assert res.to_dict()["factors"][5]["periods"] == power.periods


def test_field_history_checks_are_information(tmp_path):
    """Checked cells, found or not, enter as extra rows with their own level."""
    from riskmap.field.history import History, Inspection
    from riskmap.field.week import Week

    path = write_synthetic(tmp_path, n_events=200)
    p = load_project(path)
    rng = np.random.default_rng(0)
    rows = []
    for i in range(120):
        x, y = X0 + rng.uniform(0, SIDE), Y0 + rng.uniform(0, SIDE)
        week = Week.parse(f"2024-W{10 + i % 30:02d}")
        rows.append(Inspection(f"c{i}", week, "发现疑似" if i % 7 == 0 else "未发现", x, y,
                               date=dt.date.fromisocalendar(2024, 10 + i % 30, 2),
                               provenance="planned"))
    with History(path.with_suffix(".history.gpkg"), CRS) as h:
        h.add_file("0" * 64, "sheet.xlsx", rows)
    res = calibrate(replace(p, calibration={**p.calibration, "bootstrap": 0}))
    assert res.history["used"] == 120 and res.history["finds"] == 18
    assert any("checked with nothing found" in n for n in res.notes)
    assert res.factor("mines").kept


def test_signs_and_options(tmp_path):
    path = write_synthetic(tmp_path, n_events=300)
    p = load_project(path)
    res = calibrate(replace(p, calibration={**p.calibration, "signs": {"inlic": "+"},
                                            "residual": False, "near_repeat": False,
                                            "bootstrap": 0, "shapes": False}))
    f = res.factor("inlic")
    assert not f.kept and "sign" in f.reason
    assert res.interval is None and res.residual is None
    assert all(x.name != "near_repeat" for x in res.factors)
    assert res.factor("mines").shape == "linear"


def test_raster_kind_reads_a_geotiff_on_any_grid(tmp_path):
    from riskmap import factors
    from riskmap.load.inputs import load_inputs

    path = write_synthetic(tmp_path, n_events=20)
    grid = Grid.from_bounds((X0, Y0, X0 + SIDE, Y0 + SIDE), 200, CRS)
    vals = np.linspace(0, 1, grid.size, dtype=np.float32).reshape(grid.shape)
    with rasterio.open(tmp_path / "r.tif", "w", driver="GTiff", width=grid.ncols,
                       height=grid.nrows, count=1, dtype="float32", crs=CRS,
                       transform=grid.transform) as dst:
        dst.write(vals, 1)
    d = yaml.safe_load(path.read_text(encoding="utf-8"))
    d["factors"].append({"name": "surface", "label": "面", "source": "raster:r.tif",
                         "kind": "raster", "resampling": "nearest", "weight": 3})
    path.write_text(yaml.safe_dump(d, allow_unicode=True, sort_keys=False), encoding="utf-8")
    p = load_project(path)
    inputs = load_inputs(p)
    spec = next(f for f in p.factors if f.name == "surface")
    fine = Grid.from_bounds((X0, Y0, X0 + SIDE, Y0 + SIDE), 100, CRS)
    v = factors.compute(spec, inputs.factors["surface"], fine, p.as_of).value
    np.testing.assert_allclose(v[::2, ::2], vals, atol=1e-6)
    tile = fine.window(10, 20, 15, 15)
    t = factors.compute(spec, inputs.factors["surface"], tile, p.as_of).value
    np.testing.assert_array_equal(t, v[10:25, 20:35])
    assert any(str(tmp_path / "r.tif") in str(k) for k in inputs.hashes) or inputs.hashes


def test_evaluate_spatial_block_cv(tmp_path):
    from test_evaluate import SPLIT, dated_project

    from riskmap.models.evaluate import evaluate

    res = evaluate(load_project(dated_project(tmp_path)), SPLIT, blocks=500, block_folds=2)
    sc = res["spatial_cv"]
    assert sc["folds"] == 2 and len(sc["per_fold"]) == 2
    used = [f for f in sc["per_fold"] if "skipped" not in f]
    assert used and {"model", "kde"} <= set(used[0]) and "PAI@10" in sc["mean"]["model"]
