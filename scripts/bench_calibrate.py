"""Time ``riskmap calibrate`` against two plain ways of fitting the same model.

A synthetic county of about 1,400 km² (a 40 x 35 km rectangle) at 100 m
(140,000 cells) gets 8 factor layers made with numpy (points, lines, polygons)
and about 400 incidents drawn from a known log-linear Poisson model built from
those factors at known ranges (one factor has no effect). Then, each on the same
candidate rasters (8 factors x 6 ranges), and timed:

* **ours**: :func:`riskmap.models.calibrate.calibrate` on the project (including its
  own factor rasters);
* **(a) RTM-style stepwise**: forward selection, at each step every remaining
  factor at every range is added and the whole Poisson model refitted with
  ``scipy.optimize.minimize`` (L-BFGS-B); the best BIC is taken until BIC stops
  falling;
* **(b) range search by refitting**: start every factor at the middle range; for
  each factor and each candidate range refit the full model on every spatial
  CV fold (5) and keep the range with the lowest held-out deviance.

Usage::

    python scripts/bench_calibrate.py [--json] [--seed 7] [--events 400]
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
import yaml
from scipy.optimize import minimize

from riskmap.grid import Grid
from riskmap.models.calibrate import (
    DEFAULT_RANGES,
    block_folds,
    calibrate,
    cpu_note,
    poisson_deviance,
    spec_with_range,
)
from riskmap.pipeline.project import load_project
from riskmap.score.engine import factor_on_grid

CRS = "EPSG:4547"
X0, Y0, W, H = 420_000.0, 4_180_000.0, 40_000.0, 35_000.0
# name, kind, extra keys, true range, true beta
TRUTH = [
    ("mines", "proximity", {"decay": "exponential"}, 1500, 1.6),
    ("outcrops", "proximity", {"decay": "linear"}, 500, 1.2),
    ("border", "proximity", {"decay": "linear"}, 2000, 0.8),
    ("ring", "ring", {"decay": "linear"}, 500, 0.7),
    ("inlic", "inside", {}, None, -1.5),
    ("premises", "density", {}, 1000, 0.9),
    ("roads", "proximity", {"decay": "linear"}, 250, 0.5),
    ("noise", "proximity", {"decay": "linear"}, 1000, 0.0),
]


def make_layers(folder: Path, rng) -> Path:
    gpkg = folder / "county.gpkg"
    box = shapely.box(X0, Y0, X0 + W, Y0 + H)

    def pts(n):
        return shapely.points(rng.uniform(X0, X0 + W, n), rng.uniform(Y0, Y0 + H, n))

    def lines(n, k=8):
        out = []
        for _ in range(n):
            x = X0 + rng.uniform(0, W) + np.cumsum(rng.normal(0, 1500, k))
            y = Y0 + rng.uniform(0, H) + np.cumsum(rng.normal(0, 1500, k))
            out.append(shapely.LineString(np.c_[x, y]))
        return out

    lic = [shapely.box(x, y, x + rng.uniform(600, 2000), y + rng.uniform(600, 2000))
           for x, y in zip(rng.uniform(X0, X0 + W - 2000, 25), rng.uniform(Y0, Y0 + H - 2000, 25),
                           strict=True)]
    layers = {
        "district": [box], "townships": [box],
        "mines": list(pts(120)), "outcrops": lines(12), "roads": lines(30, 12),
        "border": [shapely.LineString([(X0 + W, Y0), (X0 + W, Y0 + H)]),
                   shapely.LineString([(X0, Y0 + H), (X0 + W, Y0 + H)])],
        "rights": [shapely.union_all(lic)],
        "premises": list(pts(600)), "noise": list(pts(150)),
    }
    for name, geoms in layers.items():
        gpd.GeoDataFrame({"name": [f"{name}{i}" for i in range(len(geoms))]}, geometry=geoms,
                         crs=CRS).to_file(gpkg, layer=name)
    return gpkg


def project_file(folder: Path) -> Path:
    factors = []
    for name, kind, extra, _r, _beta in TRUTH:
        src = "county.gpkg:" + ("rights" if name in ("ring", "inlic") else name)
        f = {"name": name, "label": name, "source": src, "kind": kind, "weight": 10, **extra}
        if kind == "proximity":
            f["range"] = 1000
        elif kind == "ring":
            f["distance"] = 1000
        elif kind == "density":
            f["bandwidth"] = 250
        factors.append(f)
    d = {"name": "bench", "crs": CRS, "cell_size": 100, "patrol_cell_size": 100,
         "as_of": "2026-01-01",
         "district": {"source": "county.gpkg:district"},
         "townships": {"source": "county.gpkg:townships"},
         "factors": factors,
         "incidents": {"source": "county.gpkg:incidents", "date_field": "date"},
         "output": "out"}
    path = folder / "project.yaml"
    path.write_text(yaml.safe_dump(d, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def draw_incidents(folder: Path, n_events: int, rng):
    proj = load_project(folder / "project.yaml") if (folder / "project.yaml").exists() else None
    grid = Grid.from_bounds((X0, Y0, X0 + W, Y0 + H), 100, CRS, snap=100)
    eta = np.zeros(grid.size)
    for spec in proj.factors:
        _, _, _, r, beta = next(t for t in TRUTH if t[0] == spec.name)
        gdf = gpd.read_file(spec.source.path, layer=spec.source.layer)
        v = factor_on_grid(spec_with_range(spec, r), gdf, grid, proj.as_of).value.reshape(-1)
        eta += beta * v
    p = np.exp(eta - eta.max())
    p /= p.sum()
    cells = rng.choice(grid.size, size=n_events, p=p)
    row, col = np.divmod(cells, grid.ncols)
    x, y = grid.xy(row, col)
    x = x + rng.uniform(-50, 50, n_events)
    y = y + rng.uniform(-50, 50, n_events)
    dates = [f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}" for i in range(n_events)]
    gpd.GeoDataFrame({"date": dates}, geometry=shapely.points(x, y), crs=CRS).to_file(
        folder / "county.gpkg", layer="incidents")


# --- the two plain fits ---------------------------------------------------------------
def nll(theta, X, y):
    eta = X @ theta
    mu = np.exp(eta)
    return float(mu.sum() - y @ eta), X.T @ (mu - y)


def plain_fit(X, y):
    Z = np.column_stack([np.ones(len(y)), X])
    t0 = np.zeros(Z.shape[1])
    t0[0] = math.log(y.mean())
    r = minimize(nll, t0, args=(Z, y), jac=True, method="L-BFGS-B")
    return r.x, r.fun


def rtm_stepwise(cols, y, names):
    n = len(y)
    chosen, X = [], np.zeros((n, 0))
    best_bic = 2 * plain_fit(X, y)[1] + math.log(n)
    fits = 0
    while True:
        cand = None
        for name in names:
            if name in [c[0] for c in chosen]:
                continue
            for r, col in cols[name].items():
                theta, f = plain_fit(np.column_stack([X, col]), y)
                fits += 1
                bic = 2 * f + math.log(n) * (X.shape[1] + 2)
                if bic < best_bic - 1e-9:
                    best_bic, cand = bic, (name, r, col)
        if cand is None:
            break
        chosen.append(cand[:2])
        X = np.column_stack([X, cand[2]])
    theta, _ = plain_fit(X, y)
    return {c[0]: (c[1], float(b)) for c, b in zip(chosen, theta[1:], strict=True)}, fits


def range_refit(cols, y, names, fold, folds=5):
    ranges = {n: list(cols[n])[len(cols[n]) // 2] for n in names}
    fits = 0
    for name in names:
        scores = {}
        for r in cols[name]:
            trial = {**ranges, name: r}
            X = np.column_stack([cols[n][trial[n]] for n in names])
            dev = 0.0
            for k in range(folds):
                tr, te = fold != k, fold == k
                theta, _ = plain_fit(X[tr], y[tr])
                fits += 1
                dev += poisson_deviance(y[te], np.exp(theta[0] + X[te] @ theta[1:]))
            scores[r] = dev
        ranges[name] = min(scores, key=scores.get)
    X = np.column_stack([cols[n][ranges[n]] for n in names])
    theta, _ = plain_fit(X, y)
    return {n: (ranges[n], float(b)) for n, b in zip(names, theta[1:], strict=True)}, fits


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--events", type=int, default=400)
    ap.add_argument("--skip-baselines", action="store_true")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    out = {"cores": cpu_note(), "seed": args.seed}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_layers(folder, rng)
        project_file(folder)
        draw_incidents(folder, args.events, rng)
        project = load_project(folder / "project.yaml")

        t = time.perf_counter()
        res = calibrate(project, seed=0)
        out["ours_s"] = time.perf_counter() - t
        out["ours_timings"] = res.timings
        out["cells"], out["events"] = res.n_cells, res.n_events

        # the same candidate rasters for the baselines (timed once, shared)
        t = time.perf_counter()
        grid = Grid.from_bounds((X0, Y0, X0 + W, Y0 + H), 100, CRS, snap=100)
        cols, names = {}, []
        for spec in project.factors:
            gdf = gpd.read_file(spec.source.path, layer=spec.source.layer)
            rs = DEFAULT_RANGES if spec.kind != "inside" else (None,)
            cols[spec.name] = {r: factor_on_grid(spec_with_range(spec, r), gdf, grid,
                                                 project.as_of).value.reshape(-1).astype(float)
                               for r in rs}
            names.append(spec.name)
        inc = gpd.read_file(folder / "county.gpkg", layer="incidents")
        xy = shapely.get_coordinates(inc.geometry.values)
        r_, c_ = grid.rowcol(xy[:, 0], xy[:, 1])
        y = np.bincount(r_ * grid.ncols + c_, minlength=grid.size).astype(float)
        fold = block_folds(grid, np.arange(grid.size), 2000, 5, 0)
        out["rasters_s"] = time.perf_counter() - t
        if not args.skip_baselines:
            t = time.perf_counter()
            rtm, fits_a = rtm_stepwise(cols, y, names)
            out["rtm_stepwise_s"] = time.perf_counter() - t + out["rasters_s"]
            out["rtm_stepwise_fits"] = fits_a
            t = time.perf_counter()
            refit, fits_b = range_refit(cols, y, names, fold)
            out["range_refit_s"] = time.perf_counter() - t + out["rasters_s"]
            out["range_refit_fits"] = fits_b
        rows = []
        for name, _, _, r_true, b_true in TRUTH:
            f = next(f for f in res.factors if f.name == name)
            row = {"factor": name, "true_range": r_true, "true_beta": b_true,
                   "true_shape": next(t[2].get("decay", "density" if t[1] == "density" else "")
                                      for t in TRUTH if t[0] == name),
                   "form": f.form, "range": f.range, "beta": round(f.beta, 3),
                   "se": round(f.se, 3), "kept": f.kept, "weight": f.weight}
            if not args.skip_baselines:
                row["rtm_range_beta"] = rtm.get(name)
                row["refit_range_beta"] = refit.get(name)
            rows.append(row)
        out["factors"] = rows
    if args.json:
        print(json.dumps(out, ensure_ascii=False, default=str))
        return
    print(f"{out['cells']} cells, {out['events']} events, {out['cores']}")
    tm = out["ours_timings"]
    print(f"ours (calibrate, incl. its factor rasters): {out['ours_s']:.1f} s "
          f"(read {tm['read_s']:.1f} s, rasters {tm['factors_s']:.1f} s, fit + CV "
          f"{tm['fit_s']:.1f} s, interval {tm.get('interval_s', 0):.1f} s)")
    if not args.skip_baselines:
        print(f"(a) RTM-style stepwise, {out['rtm_stepwise_fits']} refits: "
              f"{out['rtm_stepwise_s']:.1f} s (incl. {out['rasters_s']:.1f} s of rasters)")
        print(f"(b) range search by refitting, {out['range_refit_fits']} refits: "
              f"{out['range_refit_s']:.1f} s (incl. rasters)")
    print(f"{'factor':10} {'true form':>18} {'true β':>7} {'form':>28} {'β':>7} {'se':>6} kept")
    for r in rows:
        true = f"{r['true_shape']} {r['true_range'] or ''}".strip() or "-"
        print(f"{r['factor']:10} {true:>18} {r['true_beta']:>7} {r['form']:>28} "
              f"{r['beta']:>7} {r['se']:>6} {r['kept']}")
    extra = [f for f in res.factors if f.added]
    for f in extra:
        print(f"{f.name:10} {'(added term)':>18} {'':>7} {f.form:>28} {round(f.beta, 3):>7} "
              f"{'':>6} {f.kept}")


if __name__ == "__main__":
    main()
