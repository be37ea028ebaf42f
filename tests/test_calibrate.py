"""Calibration: known weights and ranges come back; deterministic; --write; the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
import yaml

from riskmap.errors import LayerError, ProjectFileError
from riskmap.grid import Grid
from riskmap.models.calibrate import calibrate, fit_poisson, spec_with_range
from riskmap.pipeline.project import load_project
from riskmap.score.engine import factor_on_grid

CRS = "EPSG:4547"
X0, Y0, SIDE = 450_000.0, 4_190_000.0, 8_000.0
# name, layer, kind, true range, true beta
TRUTH = {"mines": ("mines", "proximity", 1000.0, 1.5),
         "outcrop": ("outcrops", "proximity", 500.0, 1.0),
         "inlic": ("rights", "inside", None, -1.0),
         "noise": ("noise", "proximity", 1000.0, 0.0)}
CANDIDATES = [250, 500, 1000, 2000]


def _project_dict(extra=None):
    factors = []
    for name, (layer, kind, _, _) in TRUTH.items():
        f = {"name": name, "label": name, "source": f"synth.gpkg:{layer}", "kind": kind,
             "weight": 10 if kind != "inside" else -5}
        if kind == "proximity":
            f["range"] = 750
        factors.append(f)
    d = {"name": "synthetic", "crs": CRS, "cell_size": 100, "patrol_cell_size": 100,
         "as_of": "2026-01-01",
         "district": {"source": "synth.gpkg:district"},
         "townships": {"source": "synth.gpkg:district"},
         "factors": factors,
         "incidents": {"source": "synth.gpkg:incidents", "date_field": "date"},
         "calibration": {"ranges": CANDIDATES, "folds": 4, "block_size": 2000, "seed": 3},
         "output": "out"}
    if extra:
        extra(d)
    return d


def write_synthetic(folder: Path, n_events=700, seed=11, extra=None) -> Path:
    """Layers drawn with numpy and incidents from the known log-linear model."""
    rng = np.random.default_rng(seed)
    gpkg = folder / "synth.gpkg"
    box = shapely.box(X0, Y0, X0 + SIDE, Y0 + SIDE)

    def save(layer, geoms, **cols):
        gpd.GeoDataFrame({"name": [f"{layer}{i}" for i in range(len(geoms))], **cols},
                         geometry=list(geoms), crs=CRS).to_file(gpkg, layer=layer)

    save("district", [box])
    save("mines", shapely.points(rng.uniform(X0, X0 + SIDE, (14, 2)) * [1, 0]
                                 + [0, 1] * rng.uniform(Y0, Y0 + SIDE, (14, 2))))
    save("outcrops", [shapely.LineString([(X0 + 500, Y0 + 1500 + 2000 * k),
                                          (X0 + 7500, Y0 + 2500 + 2000 * k)]) for k in range(3)])
    save("rights", [shapely.box(X0 + 1000, Y0 + 5000, X0 + 3500, Y0 + 7000),
                    shapely.box(X0 + 5000, Y0 + 500, X0 + 7000, Y0 + 2500)])
    save("noise", shapely.points(rng.uniform(X0, X0 + SIDE, 12), rng.uniform(Y0, Y0 + SIDE, 12)))
    path = folder / "project.yaml"
    path.write_text(yaml.safe_dump(_project_dict(extra), allow_unicode=True, sort_keys=False),
                    encoding="utf-8")
    # incidents need a layer to load the project; draw them from the truth
    save("incidents", [shapely.Point(X0 + 1, Y0 + 1)], date=["2020-01-01"])
    proj = load_project(path)
    grid = Grid.from_bounds(box.bounds, 100, CRS, snap=100)
    eta = np.zeros(grid.size)
    for spec in proj.factors:
        layer, _, r, beta = TRUTH[spec.name]
        gdf = gpd.read_file(gpkg, layer=layer)
        eta += beta * factor_on_grid(spec_with_range(spec, r), gdf, grid,
                                     proj.as_of).value.reshape(-1)
    p = np.exp(eta) / np.exp(eta).sum()
    cells = rng.choice(grid.size, n_events, p=p)
    x, y = grid.xy(*np.divmod(cells, grid.ncols))
    x, y = x + rng.uniform(-49, 49, n_events), y + rng.uniform(-49, 49, n_events)
    dates = [f"{2023 + i % 3}-{1 + i % 12:02d}-15" for i in range(n_events)]
    save("incidents", shapely.points(x, y), date=dates)
    return path


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    return write_synthetic(tmp_path_factory.mktemp("synth"))


@pytest.fixture(scope="module")
def result(synth):
    return calibrate(load_project(synth))


def test_recovers_known_weights_and_ranges(result):
    f = {x.name: x for x in result.factors}
    assert f["mines"].range == 1000 and f["outcrop"].range == 500
    for name in ("mines", "outcrop", "inlic"):
        true = TRUTH[name][3]
        assert f[name].kept, f[name].reason
        assert abs(f[name].beta - true) < max(0.35, 2.5 * f[name].se), (name, f[name].beta)
        lo, hi = f[name].rr_ci
        assert lo < np.exp(true) < hi or abs(f[name].beta - true) < 0.35
    assert not f["noise"].kept and "includes 1" in f["noise"].reason
    assert f["noise"].weight == 0
    # weights: positive ones sum to 100, signs kept, ratio follows β
    pos = [x.weight for x in result.factors if x.weight > 0]
    assert sum(pos) == pytest.approx(100, abs=0.05)
    assert f["inlic"].weight < 0
    assert f["mines"].weight / f["outcrop"].weight == pytest.approx(
        f["mines"].beta / f["outcrop"].beta, rel=1e-3)
    assert result.cv_deviance < result.null_cv_deviance
    assert result.n_events == 700 and result.options.folds == 4


def test_deterministic_for_a_seed(synth, result):
    again = calibrate(load_project(synth))
    a, b = result.to_dict(), again.to_dict()
    a.pop("timings"), b.pop("timings")
    assert a == b
    other = calibrate(load_project(synth), seed=99)
    assert other.options.seed == 99
    assert other.cv_deviance != result.cv_deviance  # other folds


def test_until_filters_events(synth):
    res = calibrate(load_project(synth), until="2024-01-01")
    assert 0 < res.n_events < 700 and res.until.isoformat() == "2024-01-01"


def test_fit_poisson_is_the_mle():
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, (4000, 2))
    y = rng.poisson(np.exp(-1 + X @ [1.0, -0.5]))
    coef, _ = fit_poisson(X, y.astype(float), np.zeros(len(y)))
    mu = np.exp(coef[0] + X @ coef[1:])
    Z = np.column_stack([np.ones(len(y)), X])
    np.testing.assert_allclose(Z.T @ (y - mu), 0, atol=1e-5)
    np.testing.assert_allclose(coef, [-1, 1, -0.5], atol=0.15)
    # a huge ridge pulls β to its centre
    coef2, _ = fit_poisson(X, y.astype(float), np.zeros(len(y)), lam=1e7, centre=[0.3, 0.2])
    np.testing.assert_allclose(coef2[1:], [0.3, 0.2], atol=1e-3)


def test_ahp_prior_is_the_ridge_centre(tmp_path):
    def ahp(d):
        d["ahp"] = {"factors": ["mines", "outcrop"], "matrix": [[1, 2], [1]]}
        d["calibration"]["penalty"] = [1000.0]  # very strong prior: stays near it

    res = calibrate(load_project(write_synthetic(tmp_path, extra=ahp)))
    f = {x.name: x for x in res.factors}
    assert res.ahp is not None and res.prior_scale > 0
    assert f["mines"].prior_beta == pytest.approx(2 * f["outcrop"].prior_beta)
    assert abs(f["mines"].moved) < 0.1 and f["noise"].prior_beta is None
    # the prior (2 : 1) pulls the ratio away from the data's
    data = f["mines"].data_beta / f["outcrop"].data_beta
    assert abs(f["mines"].beta / f["outcrop"].beta - 2) < abs(data - 2)


def test_bad_calibration_options_name_the_key(tmp_path):
    def bad(d):
        d["calibration"]["ranges"] = [100, -5]

    with pytest.raises(ProjectFileError, match=r"calibration\.ranges"):
        calibrate(load_project(write_synthetic(tmp_path, n_events=50, extra=bad)))


def test_to_project_yaml_is_loadable_and_keeps_comments(synth, result, tmp_path):
    text = result.to_project_yaml(synth.parent / "calibrated.yaml")
    assert text.startswith("# calibrated by `riskmap calibrate`")
    assert "# calibrate: was 750" in text  # edited in place, comments added
    out = synth.parent / "calibrated.yaml"
    out.write_text(text, encoding="utf-8")
    p = load_project(out)
    w = {f.name: f for f in p.factors}
    assert w["mines"].params["range"] == 1000 and w["noise"].weight == 0
    assert w["mines"].weight == pytest.approx(result.weights()["mines"])
    # elsewhere: written anew with the paths rebased
    other = tmp_path / "sub" / "cal.yaml"
    other.parent.mkdir()
    other.write_text(result.to_project_yaml(other), encoding="utf-8")
    q = load_project(other)
    assert q.district.source.path == p.district.source.path
    assert {f.name: f.weight for f in q.factors} == {f.name: f.weight for f in p.factors}


def test_written_elsewhere_rebases_every_path_key(tmp_path):
    """roster, village points, power, history, plan roads: every PATH_KEYS entry moves."""
    from riskmap.load.project import PATH_KEYS, path_values, rebase_paths

    raw = {
        "district": {"source": "a.gpkg:district"}, "townships": {"source": "a.gpkg:t"},
        "villages": {"source": {"path": "v.shp"}}, "village_points": {"source": "vp.csv"},
        "factors": [{"source": "a.gpkg:mines"}, {"source": {"path": "sub/p.csv"}}],
        "incidents": {"source": "cases.xlsx"}, "roster": {"source": "roster.xlsx"},
        "power": {"source": "meters.xlsx", "expansions": "exp.csv"},
        "plan": {"roads": "roads.gpkg"}, "history": "h.history.gpkg", "output": "out",
        "map": {"font": "fonts/x.otf"},
    }
    found = {(id(node), k) for node, k in path_values(raw)}
    assert len(found) == 14  # each declared key (and both factors) is seen once
    assert {keys[0] for keys in PATH_KEYS} >= {"roster", "village_points", "power", "history"}
    old, new = tmp_path / "proj", tmp_path / "elsewhere" / "deeper"
    rebase_paths(raw, old, new)
    for node, k in path_values(raw):
        v = node[k]
        path = v["path"] if isinstance(v, dict) else v.split(":")[0]
        assert path.startswith("../../proj/"), (k, v)
    assert raw["district"]["source"].endswith(":district")
    assert raw["map"]["font"] == "../../proj/fonts/x.otf"


def _as_table(path: Path, rows_of=None, mixed=True) -> Path:
    """The synthetic project with its incidents moved into cases.xlsx (dates in every form)."""
    import datetime as dt

    from test_evaluate import TABLE, write_case_table

    inc = gpd.read_file(path.parent / "synth.gpkg", layer="incidents")
    rows = [(p.x, p.y, dt.date.fromisoformat(d)) for p, d in zip(inc.geometry, inc["date"],
                                                                 strict=True)]
    if rows_of:
        rows = rows_of(rows)
    write_case_table(path.parent / "cases.xlsx", rows, mixed)
    d = yaml.safe_load(path.read_text(encoding="utf-8"))
    d["incidents"] = {"source": TABLE, "date_field": "date"}
    out = path.with_name(f"cases_{'mixed' if mixed else 'iso'}.yaml")
    out.write_text(yaml.safe_dump(d, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return out


def test_dates_in_every_office_form(tmp_path):
    """2023/12/5, 2023年12月5日, Excel serials and date cells calibrate as ISO text does."""
    path = write_synthetic(tmp_path, n_events=300)
    got = {}
    for mixed in (False, True):
        res = calibrate(load_project(_as_table(path, mixed=mixed)), until="2024年7月1日")
        got[mixed] = {k: v for k, v in res.to_dict().items() if k not in ("timings", "project")}
    assert got[True]["until"] == "2024-07-01" and 0 < got[True]["n_events"] < 300
    assert got[True] == got[False]


def test_bad_dates_are_listed_at_once(tmp_path):
    def spoil(rows):
        for i, bad in ((0, "2024-02-30"), (5, "不详"), (9, None)):  # sheet rows 2, 7, 11
            rows[i] = (*rows[i][:2], bad)
        return rows

    project = load_project(_as_table(write_synthetic(tmp_path, n_events=50), spoil))
    with pytest.raises(LayerError) as e:
        calibrate(project)
    msg = str(e.value)
    assert "3 row(s) without a date in 'date'" in msg
    assert "row 2: date '2024-02-30' 不存在" in msg and "row 7: date '不详' 无法识别" in msg
    assert "row 11: date 为空" in msg


def _ledger(path: Path, extra_rows=()) -> Path:
    """The synthetic project with its incidents in a 案件编号 ledger, plus ``extra_rows``
    (``(case number, x, y, date)``) appended, and a density factor built on the ledger."""
    import openpyxl

    inc = gpd.read_file(path.parent / "synth.gpkg", layer="incidents")
    rows = [(f"案{i}", p.x, p.y, d) for i, (p, d) in enumerate(zip(inc.geometry, inc["date"],
                                                                     strict=True))]
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["案件编号", "X", "Y", "date"])
    for r in [*rows, *extra_rows]:
        ws.append(list(r))
    name = f"ledger{len(extra_rows)}"
    wb.save(path.parent / f"{name}.xlsx")
    src = {"path": f"{name}.xlsx", "x_field": "X", "y_field": "Y", "crs": CRS}
    d = yaml.safe_load(path.read_text(encoding="utf-8"))
    d["incidents"] = {"source": src, "date_field": "date"}
    d["factors"].append({"name": "cases", "label": "cases", "source": src, "kind": "density",
                         "bandwidth": 250, "date_field": "date", "half_life_days": 365,
                         "weight": 5})
    out = path.with_name(f"{name}.yaml")
    out.write_text(yaml.safe_dump(d, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return out


def test_the_same_case_twice_counts_once(tmp_path):
    """A case entered twice (one 案件编号, one date) calibrates as if entered once, and is
    named; its density factor sees it once too."""
    path = write_synthetic(tmp_path, n_events=200)
    inc = gpd.read_file(tmp_path / "synth.gpkg", layer="incidents")
    p, d = inc.geometry.iloc[5], inc["date"].iloc[5]
    base = calibrate(load_project(_ledger(path)))
    twice = calibrate(load_project(_ledger(path, [("案5", p.x, p.y, d.replace("-", "/"))])))
    skip = ("timings", "project", "notes")
    assert ({k: v for k, v in twice.to_dict().items() if k not in skip}
            == {k: v for k, v in base.to_dict().items() if k not in skip})
    note = next(n for n in twice.notes if "同一案件" in n)
    assert f"案5 {d}: rows 7, 202" in note and "counted once" in note
    # another case at the same place is another event
    other = calibrate(load_project(_ledger(path, [("案X", p.x, p.y, d)])))
    assert not any("同一案件" in n for n in other.notes)
    assert other.n_events in (base.n_events, base.n_events + 1)  # +1 if in the counted half


def test_the_build_counts_the_same_case_once_too(tmp_path):
    """The map's density of past cases sees a case entered twice once (as calibrate does)."""
    from riskmap.load.inputs import load_inputs
    from riskmap.score.engine import compute

    path = write_synthetic(tmp_path, n_events=60)
    inc = gpd.read_file(tmp_path / "synth.gpkg", layer="incidents")
    p, d = inc.geometry.iloc[5], inc["date"].iloc[5]
    base_p = load_project(_ledger(path))
    twice_p = load_project(_ledger(path, [("案5", p.x, p.y, d.replace("-", "/"))]))
    base, twice = load_inputs(base_p), load_inputs(twice_p)
    assert len(twice.factors["cases"]) == len(base.factors["cases"])
    said = " ".join(n for i in twice.infos for n in i.notes)
    assert "factor cases: 1 行与前面的行是同一案件" in said
    a, b = compute(base_p, base).score, compute(twice_p, twice).score
    assert np.allclose(a, b, equal_nan=True)
    # another case at the same place and day is another case: counted
    other = load_inputs(load_project(_ledger(path, [("案X", p.x, p.y, d)])))
    assert len(other.factors["cases"]) == len(base.factors["cases"]) + 1


# --- the command line (subprocess) -------------------------------------------------------
_RUN = ("import sys, riskmap.cli.calibrate; from riskmap.cli import main; "
        "sys.exit(main(sys.argv[1:]))")


def run(*args):
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run([sys.executable, "-c", _RUN, *args], capture_output=True, text=True,
                          env=env, timeout=120)


def test_cli_calibrate_write_and_overwrite(synth):
    out = synth.parent / "cli_calibrated.yaml"
    r = run("calibrate", str(synth), "--write", str(out))
    assert r.returncode == 0, r.stderr
    assert "mines" in r.stdout and "RR" in r.stdout and "null" in r.stdout
    assert "用时" in r.stdout and out.exists()
    load_project(out)
    before = out.read_bytes()
    r = run("calibrate", str(synth), "--write", str(out))
    assert r.returncode == 1 and "--overwrite" in r.stderr and "Traceback" not in r.stderr
    assert out.read_bytes() == before
    r = run("calibrate", str(synth), "--write", str(out), "--overwrite", "-q", "-q")
    assert r.returncode == 0, r.stderr
    # the user's project file is never the default target
    assert "# calibrated" not in synth.read_text(encoding="utf-8")


def test_cli_ahp(tmp_path):
    def ahp(d):
        d["ahp"] = {"factors": ["mines", "outcrop", "noise"],
                    "matrix": [[1, 5, "1/3"], [1, 5], [1]]}

    path = write_synthetic(tmp_path, n_events=20, extra=ahp)
    r = run("ahp", str(path))
    assert r.returncode == 0, r.stderr
    assert "CR" in r.stdout and "Saaty 1980" in r.stdout
    assert "most inconsistent pair" in r.stdout and "警告" in r.stderr
    r = run("ahp", str(path), "--random-index", "alonso-lamata2006")
    assert "Alonso & Lamata" in r.stdout


def test_written_project_comments_out_the_ahp_section():
    from riskmap.models.calibrate.projectfile import _without_ahp

    text = ("name: x\nfactors:\n  - name: a\n    weight: 3\nahp:\n  factors: [a, b]\n"
            "  matrix:\n    - [1, 3]\n    - [1]\noutput: out\n")
    out = _without_ahp(text)
    import yaml

    d = yaml.safe_load(out)
    assert "ahp" not in d and d["output"] == "out" and d["factors"][0]["weight"] == 3
    assert "# ahp:" in out and "calibrated weights replace the expert weights" in out
    assert _without_ahp("name: x\n") == "name: x\n"
