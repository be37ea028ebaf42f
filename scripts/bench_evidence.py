"""Proof, side by side: riskmap's calibrate against the peer methods, on two counties.

For the sample district (``layers/project.yaml``) and for test county B
(``tests/countyb``, generated into a temporary folder), with the **same split**
for every method — the map is made from the data before the split day and
scored on the cases from it on, at patrol cells:

* **riskmap** — ``calibrate --until SPLIT`` (rolling-origin design, shapes and
  ranges by block CV, near-repeat and residual terms), the calibrated project
  written out and its map built as ``build`` builds it (factors as of the split);
* **(a) RTM** — risk-terrain modelling as RTMDx does it: every static factor
  as binary proximity (within 100 … 3200 m) and, for point layers, binary
  density (kernel density above mean + 2 sd), an elastic-net Poisson fit
  (α 0.5, λ by the same spatial-block CV) to pre-select, then bidirectional
  stepwise Poisson by BIC;
* **(b) GLM** — a Poisson GLM of the static factors in the project's own decays,
  each factor's range chosen by refitting the whole model on every CV fold for
  every candidate range (100 m … 6.3 km);
* **(c) KDE** — a kernel density of the past cases, the bandwidth chosen by
  forecasting: densities of the cases before the split's year before, scored
  by the log-likelihood of the year's cases;
* **(d) expert** — the project's own hand (or AHP) weights, built as ``build`` does.

The peers (a) and (b) use the static factors (no dated layer: a case density
fitted on the very cases it is made from would predict itself). Reported per
method: PAI@5/10/20, PEI@10, AUC and the fit seconds; one table and ``--json``.

Usage::

    python scripts/bench_evidence.py [--json] [--county sample|b|both] [--split DATE]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import shapely

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from riskmap.grid.burn import mask  # noqa: E402
from riskmap.load.inputs import load_inputs  # noqa: E402
from riskmap.models import metrics  # noqa: E402
from riskmap.models.calibrate import block_folds, calibrate, cpu_note, fit_poisson  # noqa: E402
from riskmap.models.calibrate.candidates import Cand, cand_spec, own_shape  # noqa: E402
from riskmap.models.calibrate.options import DEFAULT_RANGES  # noqa: E402
from riskmap.models.calibrate.periods import dated_factors  # noqa: E402
from riskmap.models.calibrate.projectfile import residual_file  # noqa: E402
from riskmap.models.evaluate import (  # noqa: E402
    count_events,
    kde_score,
    model_surface,
    patrol_cells,
    read_incidents,
    training_inputs,
)
from riskmap.models.evaluate.incidents import day  # noqa: E402
from riskmap.pipeline.project import load_project  # noqa: E402
from riskmap.score.engine import district_grid, factor_on_grid  # noqa: E402

KEYS = ("PAI@5", "PAI@10", "PAI@20", "PEI@10", "AUC")
RTM_RANGES = (100.0, 200.0, 400.0, 800.0, 1600.0, 3200.0)
KDE_BANDWIDTHS = (100.0, 200.0, 400.0, 800.0, 1600.0, 3200.0)
FOLDS, BLOCK = 5, 2000.0


@dataclass
class Bench:
    """One county's backtest: cells, training and test events, the filtered layers."""

    project: object
    split: dt.date
    inputs: object  # layers with the test period kept out
    cells: object  # riskmap.models.evaluate.Cells (patrol cells)
    agrid: object
    k: int
    area: np.ndarray
    train_xy: np.ndarray
    train_dates: np.ndarray
    train_y: np.ndarray  # training events per valid patrol cell
    test_y: np.ndarray  # test events per valid patrol cell
    fold: np.ndarray


def prepare(project, split: dt.date, end: dt.date | None = None) -> Bench:
    """Read the county once: layers before the split, the cells, both sets of events."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inputs = load_inputs(project)
        inc = read_incidents(project, inputs.district)
        train_inputs, _ = training_inputs(project, inputs, split, inc.repeats)
    agrid = district_grid(project, inputs.district)
    area = mask([inputs.district], agrid)
    k = round(project.patrol_cell_size / project.cell_size)
    cells = patrol_cells(agrid, area, k)
    ev = inc.event & inc.inside
    tr = ev & (inc.dates < day(split))
    te = ev & (inc.dates >= day(split))
    if end is not None:
        te &= inc.dates < day(end)
    geoms = inc.gdf.geometry.values
    xy = shapely.get_coordinates(shapely.centroid(geoms[tr]))
    flat = np.flatnonzero(cells.valid.ravel())
    fold = block_folds(cells.grid, flat, BLOCK, FOLDS, 0)
    return Bench(project, split, train_inputs, cells, agrid, k, area, xy, inc.dates[tr],
                 count_events(geoms[tr], cells), count_events(geoms[te], cells), fold)


def on_cells(b: Bench, spec, gdf, as_of=None) -> np.ndarray:
    """A factor's value (or, for a distance factor, its distance) at the valid patrol cells."""
    f = factor_on_grid(spec, gdf, b.cells.grid, as_of or b.split)
    return f.value.reshape(-1)[b.cells.valid.ravel()].astype(np.float64)


def distance_on_cells(b: Bench, spec, gdf, reach: float) -> np.ndarray:
    f = factor_on_grid(cand_spec(spec, Cand("linear", reach)), gdf, b.cells.grid, b.split)
    return np.asarray(f.explain, np.float64).reshape(-1)[b.cells.valid.ravel()]


def static_specs(b: Bench):
    dated = dated_factors(b.project)
    return [f for f in b.project.factors if f.name not in dated
            and len(b.inputs.factors.get(f.name, ())) > 0]


# --------------------------------------------------------------------------- methods
def riskmap_scores(b: Bench, tmp: Path) -> tuple[np.ndarray, float, dict]:
    """riskmap: calibrate before the split, write the project, build its map."""
    from riskmap.export.atomic import write_text
    from riskmap.export.calibration import write_residual

    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = calibrate(replace(b.project, calibration={**(b.project.calibration or {}),
                                                         "bootstrap": 0}), until=b.split)
    secs = time.perf_counter() - t
    target = tmp / f"calibrated_{b.project.path.parent.name}.yaml"
    text = res.to_project_yaml(target)
    if res.residual is not None:
        write_residual(target.parent / residual_file(target), res.residual, overwrite=True)
    write_text(target, text, overwrite=True)
    cal = load_project(target)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inputs = load_inputs(cal)
        inc = read_incidents(cal, inputs.district)
        surface, _ = model_surface(cal, inputs, b.split, repeats=inc.repeats)
    s = b.cells.to_patrol(surface.score.astype(np.float64), b.k, cal.patrol_score)
    kept = {f.name: (f.form, f.weight) for f in res.factors if f.kept}
    return s, secs, {"kept": kept, "n_events": res.n_events, "periods": len(res.periods)}


def expert_scores(b: Bench) -> tuple[np.ndarray, float, dict]:
    """(d) The project's own weights (hand or AHP), built as build does."""
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = load_inputs(b.project)
        inc = read_incidents(b.project, full.district)
        surface, _ = model_surface(b.project, full, b.split, repeats=inc.repeats)
    s = b.cells.to_patrol(surface.score.astype(np.float64), b.k, b.project.patrol_score)
    return s, time.perf_counter() - t, {"weights": {f.name: f.weight for f in b.project.factors}}


def kde_scores(b: Bench) -> tuple[np.ndarray, float, dict]:
    """(c) KDE of past cases, bandwidth by forecasting the last year before the split."""
    t = time.perf_counter()
    cut = np.datetime64(b.split - dt.timedelta(days=365), "D")
    old = b.train_dates < cut
    new_y = count_events(shapely.points(b.train_xy[~old]), b.cells)
    share = b.cells.share
    best, lls = None, {}
    for h in KDE_BANDWIDTHS:
        d = b.cells.to_patrol(kde_score(b.train_xy[old, 0], b.train_xy[old, 1], b.agrid,
                                        b.area, h), b.k, "mean")
        d = np.where(np.isfinite(d), np.maximum(d, 0), 0) * share
        f = 0.95 * d / max(d.sum(), 1e-300) + 0.05 * share / share.sum()
        lls[h] = float(np.sum(new_y * np.log(f)))
        if best is None or lls[h] > lls[best]:
            best = h
    s = b.cells.to_patrol(kde_score(b.train_xy[:, 0], b.train_xy[:, 1], b.agrid, b.area, best),
                          b.k, "mean")
    return s, time.perf_counter() - t, {"bandwidth_m": best,
                                        "loglik": {f"{h:g}": v for h, v in lls.items()}}


def _cv_dev(X, y, off, fold, lam=1e-4) -> float:
    from riskmap.models.calibrate import poisson_deviance

    tot = 0.0
    for k in range(FOLDS):
        tr, te = fold != k, fold == k
        coef, _ = fit_poisson(X[tr], y[tr], off[tr], lam)
        tot += poisson_deviance(y[te], np.exp(off[te] + coef[0] + X[te] @ coef[1:]))
    return tot


def glm_scores(b: Bench) -> tuple[np.ndarray, float, dict]:
    """(b) Continuous-decay Poisson GLM, each range chosen by refitting on every fold."""
    t = time.perf_counter()
    specs = static_specs(b)
    off = np.log(b.cells.share)
    y = b.train_y
    cols = {}
    for f in specs:
        gdf = b.inputs.factors[f.name]
        own = own_shape(f)
        if f.kind in ("proximity", "ring") or (f.kind == "typed" and own != "density"):
            rs = DEFAULT_RANGES
            cols[f.name] = {r: on_cells(b, cand_spec(f, Cand(own, r)), gdf) for r in rs}
        elif own == "density":
            cols[f.name] = {r: on_cells(b, cand_spec(f, Cand("density", r)), gdf)
                            for r in DEFAULT_RANGES}
        else:
            cols[f.name] = {None: on_cells(b, f, gdf)}
        cols[f.name] = {r: v for r, v in cols[f.name].items() if np.ptp(v) > 0}
    names = [n for n in cols if cols[n]]
    ranges = {n: list(cols[n])[len(cols[n]) // 2] for n in names}
    fits = 0
    for _ in range(2):
        for n in names:
            if len(cols[n]) == 1:
                continue
            scores = {}
            for r in cols[n]:
                trial = {**ranges, n: r}
                X = np.column_stack([cols[m][trial[m]] for m in names])
                scores[r] = _cv_dev(X, y, off, b.fold)
                fits += FOLDS
            ranges[n] = min(scores, key=scores.get)
    X = np.column_stack([cols[m][ranges[m]] for m in names])
    coef, _ = fit_poisson(X, y, off, 1e-4)
    s = X @ coef[1:]
    return s, time.perf_counter() - t, {"ranges": ranges, "fits": fits,
                                        "beta": dict(zip(names, np.round(coef[1:], 3).tolist(),
                                                         strict=True))}


def _rtm_variables(b: Bench) -> dict[str, np.ndarray]:
    """RTMDx-style binary variables: proximity within each range, and density hot spots."""
    from riskmap import factors

    out = {}
    valid = b.cells.valid.ravel()
    for f in static_specs(b):
        gdf = b.inputs.factors[f.name]
        if f.kind == "inside":
            out[f.name] = (on_cells(b, f, gdf) > 0).astype(float)
            continue
        if f.kind == "typed":
            w = gdf[f.params["type_field"]].astype(str).map(f.params["types"]).fillna(0.0)
            gdf = gdf[w.to_numpy(float) > 0]
        spec = f
        if f.kind not in ("proximity", "ring"):
            spec = factors.check_spec(replace(f, kind="proximity",
                                              params={"range": 1000.0, "decay": "linear"}))
        d = distance_on_cells(b, spec, gdf, max(RTM_RANGES))
        for r in RTM_RANGES:
            out[f"{f.name}@{r:g}m"] = (d <= r).astype(float)
        points = np.isin(shapely.get_type_id(gdf.geometry.values), (0, 4)).all()
        if points and len(gdf) >= 5:
            for r in RTM_RANGES:
                dens = factors.check_spec(replace(f, kind="density",
                                                  params={"bandwidth": r / 2}))
                ff = factor_on_grid(dens, gdf, b.cells.grid, b.split)
                v = np.asarray(ff.explain, np.float64).reshape(-1)[valid]
                out[f"{f.name} density@{r:g}m"] = (v > v.mean() + 2 * v.std()).astype(float)
    return {n: v for n, v in out.items() if 0 < v.sum() < len(v)}


def _collapse(X, y, e):
    pat, inv = np.unique(X, axis=0, return_inverse=True)
    inv = inv.ravel()
    return pat, np.bincount(inv, y, len(pat)), np.bincount(inv, e, len(pat))


def _enet(Xg, yg, eg, n, lam, alpha=0.5, beta=None, b0=None, outer=25):
    """Poisson elastic net (glmnet's objective) on collapsed rows, by IRLS + coordinate descent."""
    p = Xg.shape[1]
    beta = np.zeros(p) if beta is None else beta.copy()
    b0 = math.log(max(yg.sum(), 0.5) / eg.sum()) if b0 is None else b0
    for _ in range(outer):
        eta = b0 + Xg @ beta
        mu = eg * np.exp(eta)
        w = mu
        z = eta + (yg - mu) / np.maximum(mu, 1e-12)
        old = beta.copy()
        for _ in range(20):
            b0 = float(np.sum(w * (z - Xg @ beta)) / w.sum())
            r = z - b0 - Xg @ beta
            for j in range(p):
                xj = Xg[:, j]
                rho = float(np.sum(w * xj * (r + xj * beta[j]))) / n
                den = float(np.sum(w * xj * xj)) / n + lam * (1 - alpha)
                new = np.sign(rho) * max(abs(rho) - lam * alpha, 0.0) / den if den > 0 else 0.0
                r -= xj * (new - beta[j])
                beta[j] = new
        if np.max(np.abs(beta - old)) < 1e-5:
            break
    return b0, beta


def _fit_collapsed(Xg, yg, eg):
    coef, _ = fit_poisson(Xg, yg, np.log(eg), 1e-6)
    eta = np.log(eg) + coef[0] + Xg @ coef[1:]
    ll = float(np.sum(yg * eta - np.exp(eta)))
    return coef, ll


def rtm_scores(b: Bench) -> tuple[np.ndarray, float, dict]:
    """(a) RTM: binary proximity/density variables, elastic net, then BIC stepwise."""
    from riskmap.models.calibrate import poisson_deviance

    t = time.perf_counter()
    var = _rtm_variables(b)
    names = list(var)
    X = np.column_stack([var[n] for n in names])
    y, e, n = b.train_y, b.cells.share, len(b.train_y)
    Xg, yg, eg = _collapse(X, y, e)
    g0 = Xg.T @ (yg - eg * yg.sum() / eg.sum())
    lmax = float(np.max(np.abs(g0))) / (n * 0.5)
    lams = lmax * np.logspace(0, -3, 20)
    cv = np.zeros(len(lams))
    for k in range(FOLDS):
        tr, te = b.fold != k, b.fold == k
        Xt, yt, et = _collapse(X[tr], y[tr], e[tr])
        beta, b0 = None, None
        for i, lam in enumerate(lams):
            b0, beta = _enet(Xt, yt, et, int(tr.sum()), lam, beta=beta, b0=b0)
            cv[i] += poisson_deviance(y[te], e[te] * np.exp(b0 + X[te] @ beta))
    lam = lams[int(np.argmin(cv))]
    beta, b0 = None, None
    for lm in lams[:int(np.argmin(cv)) + 1]:
        b0, beta = _enet(Xg, yg, eg, n, lm, beta=beta, b0=b0)
    pool = [i for i in range(len(names)) if beta[i] != 0]
    chosen: list[int] = []
    bic = -2 * _fit_collapsed(Xg[:, []], yg, eg)[1] + math.log(n)
    while True:
        moves = [(c, [*chosen, c]) for c in pool if c not in chosen]
        moves += [(c, [d for d in chosen if d != c]) for c in chosen]
        best = None
        for _, model in moves:
            ll = _fit_collapsed(Xg[:, model], yg, eg)[1]
            b_ = -2 * ll + math.log(n) * (len(model) + 1)
            if b_ < bic - 1e-9 and (best is None or b_ < best[0]):
                best = (b_, model)
        if best is None:
            break
        bic, chosen = best
    coef, _ = _fit_collapsed(Xg[:, chosen], yg, eg)
    s = X[:, chosen] @ coef[1:] if chosen else np.zeros(n)
    return s, time.perf_counter() - t, {
        "variables": len(names), "enet_lambda": float(lam), "enet_kept": len(pool),
        "chosen": {names[c]: round(float(v), 3) for c, v in zip(chosen, coef[1:], strict=True)}}


# --------------------------------------------------------------------------- driver
def county_project(which: str, tmp: Path):
    if which == "sample":
        return load_project(ROOT / "layers" / "project.yaml")
    from countyb.make import make_county_b

    return load_project(make_county_b(tmp / "county_b"))


def default_split(b_project) -> dt.date:
    """One year before the month after the last case: the last year is the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inputs = load_inputs(b_project)
        inc = read_incidents(b_project, inputs.district)
    last = inc.dates[inc.event & ~np.isnat(inc.dates)].max().astype(dt.date)
    nxt = dt.date(last.year + (last.month == 12), last.month % 12 + 1, 1)
    return dt.date(nxt.year - 1, nxt.month, 1)


METHODS = {"riskmap": None, "rtm": rtm_scores, "glm": glm_scores, "kde": kde_scores,
           "expert": expert_scores}
LABELS = {"riskmap": "riskmap calibrate", "rtm": "(a) RTM elastic net + BIC",
          "glm": "(b) decay GLM, ranges by refit", "kde": "(c) KDE, bandwidth by CV",
          "expert": "(d) expert weights (overlay)"}


def area_rank(s: np.ndarray, share: np.ndarray) -> np.ndarray:
    """Each cell's place in the map's order as a share of the area (ties share their mean)."""
    order = np.argsort(-s, kind="stable")
    so, a = s[order], share[order]
    mid = np.cumsum(a) - a / 2
    first = np.r_[True, so[1:] != so[:-1]]
    gid = np.cumsum(first) - 1
    mean = np.bincount(gid, mid * a) / np.bincount(gid, a)
    u = np.empty(len(s))
    u[order] = mean[gid] / a.sum()
    return u


def run_county(which: str, split: dt.date | None, tmp: Path, methods, rolling: int = 0) -> dict:
    """One county: one split (the last year), or ``rolling`` quarters each on its own map."""
    project = county_project(which, tmp)
    last = default_split(project)
    if rolling:
        end = dt.date(last.year + 1, last.month, 1)  # the month after the last case
        m_end = end.year * 12 + end.month - 1
        q_last = (m_end - 1) // 3 * 3  # the quarter holding the last case
        month = [q_last - 3 * i for i in range(rolling - 1, -1, -1)]
        starts = [dt.date(m // 12, m % 12 + 1, 1) for m in month]
        splits = [(d, starts[i + 1] if i + 1 < len(starts) else None)
                  for i, d in enumerate(starts)]
    else:
        splits = [(split or last, None)]
    folds = {m: [] for m in methods}
    out = {"county": which, "project": project.name, "split": splits[0][0].isoformat(),
           "splits": [s.isoformat() for s, _ in splits], "n_train": 0.0, "n_test": 0.0,
           "methods": {m: {"fit_s": 0.0, "info": []} for m in methods}}
    for s_day, end in splits:
        b = prepare(project, s_day, end)
        out["n_train"] = float(b.train_y.sum())
        out["n_test"] += float(b.test_y.sum())
        out["cells"] = int(b.cells.valid.sum())
        for m in methods:
            fn = METHODS[m]
            s, secs, info = riskmap_scores(b, tmp) if m == "riskmap" else fn(b)
            folds[m].append((area_rank(s, b.cells.share), b.test_y, b.cells.share))
            out["methods"][m]["fit_s"] += round(secs, 2)
            out["methods"][m]["info"].append(info)
    for m in methods:
        u = np.concatenate([-f[0] for f in folds[m]])
        r = metrics.summarize(u, np.concatenate([f[1] for f in folds[m]]),
                              np.concatenate([f[2] for f in folds[m]]))
        out["methods"][m].update({k: r[k] for k in KEYS})
    return out


def print_table(results: list[dict]) -> None:
    head = f"{'county':8} {'method':32} " + " ".join(f"{k:>7}" for k in KEYS) + f" {'fit s':>7}"
    print(head)
    for r in results:
        for m, v in r["methods"].items():
            vals = " ".join(f"{v[k]:7.3f}" if k in ("AUC", "PEI@10") else f"{v[k]:7.2f}"
                            for k in KEYS)
            print(f"{r['county']:8} {LABELS[m]:32} {vals} {v['fit_s']:7.1f}")
        print(f"{'':8} split {r['split']}: {r['n_train']:g} training / {r['n_test']:g} test "
              f"events, {r['cells']} patrol cells")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--county", choices=("sample", "b", "both"), default="both")
    ap.add_argument("--split", help="first test day (default: a year before the last case)")
    ap.add_argument("--rolling", type=int, default=0, metavar="N",
                    help="also test the last N quarters, each on a map from the data before it")
    ap.add_argument("--methods", default=",".join(METHODS),
                    help=f"comma-separated subset of {', '.join(METHODS)}")
    args = ap.parse_args(argv)
    split = dt.date.fromisoformat(args.split) if args.split else None
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    counties = ("sample", "b") if args.county == "both" else (args.county,)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        results = [run_county(c, split, Path(tmp), methods, args.rolling) for c in counties]
    out = {"date": dt.date.today().isoformat(), "machine": cpu_note(),
           "seconds": round(time.perf_counter() - t0, 1), "counties": results}
    if args.json:
        print(json.dumps(out, ensure_ascii=False, default=str))
        return 0
    print_table(results)
    print(f"{out['date']}, {out['machine']}, {out['seconds']} s in all")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
