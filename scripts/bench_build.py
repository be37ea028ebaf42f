"""Benchmark the scoring engine against the analyst's way, and alone at 25 m and 10 m.

    python scripts/bench_build.py                     # sample project, readable table
    python scripts/bench_build.py --json              # one JSON object on stdout
    python scripts/bench_build.py --project my/project.yaml
    python scripts/bench_build.py --engine-only       # skip the whole build

Everything printed is measured in the same run, on this machine:

* **The whole build** (``build_s``, ``build_stages_s``, ``pdf_s_per_sheet``): the
  district and every township with every output, PDFs included, as
  ``python scripts/build_map.py`` runs it, in a fresh process (best of 2 after a
  warm-up that fills the per-install caches).

* **50 m, engine vs the analyst's way.** ``riskmap.score.engine.compute`` at 50 m
  (best of 3 after a warm-up) against the best an analyst would write in
  GeoPandas, with no per-cell loop: a vectorised fishnet of 50 m square
  polygons over the same grid (cells whose centre is in the district), then per
  factor one spatial-index join (nearest within the range for distances, lines
  and outlines cut into segments so the index prunes; one ``dwithin`` query
  for typed points and kernel densities; ``within`` for inside) and the same
  decays, weights and baseline, fishnet creation included (best of 3 as well).
  The agreement of the two scores over their common cells (Pearson r, median
  and 99th percentile of the absolute difference in score points) shows that
  both compute the same thing.
* **25 m and 10 m, engine alone**, each in a fresh subprocess so that its peak
  memory is its own: cells, compute seconds (best of 3 after a warm-up), peak
  RSS and its rise over the RSS right after the inputs were loaded, and the time
  of one memory pass over a float32 grid (``np.add(a, 1, out=a)``) as a yardstick.

Progress goes to stderr, results to stdout. Targets are printed beside the
figures (ok/MISS); the script never fails on a miss.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from a checkout even before `pip install -e .`

import numpy as np  # noqa: E402

SAMPLE = HERE.parent / "layers" / "project.yaml"
RUNS = 3  # timed runs after one warm-up (the best counts)
PASSES = 5  # memory-pass runs (the best counts)
TARGETS = {  # key: (limit, "<=" or ">=", shown as)
    "build_s": (5.0, "<=", "≤ 5 s"),
    "pdf_s_per_sheet": (0.4, "<=", "≤ 0.4 s"),
    "speedup_50m": (100.0, ">=", "≥ 100×"),
    "township_outputs_s": (0.2, "<=", "≤ 0.2 s"),
    "compute_s_25m": (0.25, "<=", "≤ 0.25 s"),
    "compute_s_10m": (2.5, "<=", "≤ 2.5 s"),
    "peak_mib_10m": (1024.0, "<=", "≤ 1 GiB"),
}


def say(msg: str) -> None:
    """One short progress line on stderr."""
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


# --- memory -------------------------------------------------------------------
def rss_mib() -> float | None:
    """Current resident set size in MiB (Linux /proc; None elsewhere)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def peak_mib() -> float | None:
    """Peak resident set size of this process so far, in MiB."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 / (1024 if sys.platform == "darwin" else 1)  # bytes on macOS


# --- timing -------------------------------------------------------------------
def best_compute(project, inputs) -> tuple[float, float, object]:
    """Warm-up then best of RUNS: (compute_s from the engine's timings, wall s, last surface)."""
    from riskmap.score.engine import compute

    surface = compute(project, inputs)  # warm-up
    best_c = best_w = float("inf")
    for _ in range(RUNS):
        surface = None  # never hold two surfaces at once (peak memory)
        t0 = time.perf_counter()
        surface = compute(project, inputs)
        wall = time.perf_counter() - t0
        best_w = min(best_w, wall)
        best_c = min(best_c, surface.timings.get("compute_s", wall))
    return best_c, best_w, surface


def pass_seconds(shape) -> float:
    """Best time of one in-place pass over a float32 array of ``shape``."""
    a = np.zeros(shape, dtype=np.float32)
    np.add(a, 1, out=a)  # touch the pages first
    best = float("inf")
    for _ in range(PASSES):
        t0 = time.perf_counter()
        np.add(a, 1, out=a)
        best = min(best, time.perf_counter() - t0)
    return best


def load(path: Path):
    """The project and its inputs, read once."""
    from riskmap.load.inputs import load_inputs
    from riskmap.models import power as _power  # noqa: F401  (registers power:anomalies)
    from riskmap.pipeline.project import load_project

    project = load_project(path)
    return project, load_inputs(project)


# --- the engine alone (run in a fresh subprocess) -------------------------------
def engine_alone(path: Path, cell: float) -> dict:
    """Cells, best compute time and peak memory of the engine at ``cell`` m."""
    from riskmap.score.engine import district_grid

    project, inputs = load(path)
    base = rss_mib()
    project = project.with_cell_size(cell)
    grid = district_grid(project, inputs.district)
    compute_s, wall_s, surface = best_compute(project, inputs)
    in_area = int(surface.area.sum())
    surface = None
    peak = peak_mib()  # before the yardstick array below
    p = pass_seconds(grid.shape)
    plain = gdal = None
    if cell >= 25:  # the straightforward raster way and GDAL, same grid, same run
        t = time.perf_counter()
        plain_engine(project, inputs, grid)
        plain = time.perf_counter() - t
        gdal = gdal_proximity_s(project, inputs, grid)
    return {
        "plain_s": plain,
        "gdal_proximity_s": gdal,
        "cell_m": cell,
        "cells": grid.size,
        "cells_in_district": in_area,
        "compute_s": compute_s,
        "wall_s": wall_s,
        "peak_mib": peak,
        "rss_after_inputs_mib": base,
        "peak_rise_mib": None if peak is None or base is None else peak - base,
        "pass_s": p,
        "passes": compute_s / p,
    }


def plain_engine(project, inputs, grid) -> np.ndarray:
    """The straightforward raster way: per factor rasterize + scipy EDT on the whole grid.

    No range limit, no stamping, float64 distances, one transform per type of a
    typed layer, count raster + Gaussian filter for densities.
    """
    import shapely
    from rasterio.features import rasterize
    from scipy import ndimage

    from riskmap.factors import age_weights, decay
    from riskmap.score.overlay import accumulate_score, score_coefficients

    def burn(geoms, target="edges"):
        shapes = [g.boundary if (g.geom_type.endswith("Polygon") and target == "edges") else g
                  for g in geoms]
        m = rasterize(((g, 1) for g in shapes), out_shape=grid.shape, transform=grid.transform,
                      all_touched=True, dtype="uint8")
        return m.astype(bool)

    def dist(mask):
        return ndimage.distance_transform_edt(~mask, sampling=grid.cell) if mask.any() \
            else np.full(grid.shape, np.inf)

    values = {}
    for spec in project.factors:
        gdf, p = inputs.factors[spec.name], spec.params
        geoms = gdf.geometry.values
        if spec.kind == "proximity":
            v = decay(dist(burn(geoms, p["target"])), p["range"], p["decay"])
        elif spec.kind == "ring":
            inside = rasterize(((g, 1) for g in geoms), out_shape=grid.shape,
                               transform=grid.transform, dtype="uint8").astype(bool)
            d = dist(inside)
            d[inside] = np.inf
            v = decay(d, p["distance"], p["decay"])
        elif spec.kind == "inside":
            v = rasterize(((g, 1) for g in geoms), out_shape=grid.shape,
                          transform=grid.transform, dtype="uint8").astype(np.float32)
        elif spec.kind == "density":
            w = np.ones(len(gdf))
            if p.get("half_life_days"):
                w = age_weights(gdf[p["date_field"]], project.as_of, float(p["half_life_days"]))
            xy = shapely.get_coordinates(geoms)
            r, c = grid.rowcol(xy[:, 0], xy[:, 1])
            ok = (r >= 0) & (r < grid.nrows) & (c >= 0) & (c < grid.ncols)
            cnt = np.zeros(grid.shape)
            np.add.at(cnt, (r[ok], c[ok]), w[ok])
            dens = ndimage.gaussian_filter(cnt, p["bandwidth"] / grid.cell)
            v = dens / dens.max() if dens.max() > 0 else dens
        else:  # typed proximity: one transform per type
            v = np.zeros(grid.shape)
            t = gdf[p["type_field"]].astype(str).to_numpy()
            for name, wt in p["types"].items():
                sel = t == name
                if wt > 0 and sel.any():
                    v = np.maximum(v, wt * decay(dist(burn(geoms[sel])), p["range"],
                                                 p.get("decay", "linear")))
        values[spec.name] = np.asarray(v, dtype=np.float32)
    coefs, base = score_coefficients({f.name: f.weight for f in project.factors})
    return accumulate_score(values, coefs, base)


def gdal_proximity_s(project, inputs, grid) -> float | None:
    """Seconds of GDAL's ComputeProximity for the proximity factors, where installed."""
    try:
        from osgeo import gdal
    except ImportError:
        return None
    from rasterio.features import rasterize

    drv = gdal.GetDriverByName("MEM")
    t = time.perf_counter()
    for spec in project.factors:
        if spec.kind != "proximity":
            continue
        m = rasterize(((g, 1) for g in inputs.factors[spec.name].geometry.values),
                      out_shape=grid.shape, transform=grid.transform, all_touched=True,
                      dtype="uint8")
        src = drv.Create("", grid.ncols, grid.nrows, 1, gdal.GDT_Byte)
        src.SetGeoTransform(grid.transform.to_gdal())
        src.GetRasterBand(1).WriteArray(m)
        dst = drv.Create("", grid.ncols, grid.nrows, 1, gdal.GDT_Float32)
        dst.SetGeoTransform(grid.transform.to_gdal())
        gdal.ComputeProximity(src.GetRasterBand(1), dst.GetRasterBand(1),
                              ["VALUES=1", "DISTUNITS=GEO", f"MAXDIST={spec.params['range']}"])
    return time.perf_counter() - t


def engine_in_subprocess(path: Path, cell: float) -> dict:
    """Run :func:`engine_alone` in a fresh interpreter and read its JSON."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--project", str(path),
           "--_engine", f"{cell:g}"]
    out = subprocess.run(cmd, stdout=subprocess.PIPE, check=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- the analyst's way ------------------------------------------------------------
# The best a GeoPandas user would write, no per-cell loop anywhere: a vectorised
# fishnet (shapely.box over arrays, centres kept with a prepared contains_xy),
# lines and polygon outlines cut into two-point segments so that the spatial
# index prunes (a long county border is one geometry otherwise), nearest
# features from the index with max_distance, and every "within R" join (typed
# points, kernel densities) as one index query with predicate="dwithin"
# followed by numpy arithmetic on the pairs.
def fishnet(grid, crs, district):
    """Square polygons over ``grid`` whose centre lies inside ``district``, and the centres."""
    import geopandas as gpd
    import shapely

    rows, cols = np.divmod(np.arange(grid.size), grid.ncols)
    cx = grid.x0 + (cols + 0.5) * grid.cell
    cy = grid.y0 - (rows + 0.5) * grid.cell
    shapely.prepare(district)
    keep = shapely.contains_xy(district, cx, cy)
    rows, cols, cx, cy = rows[keep], cols[keep], cx[keep], cy[keep]
    h = grid.cell / 2
    net = gpd.GeoDataFrame({"row": rows, "col": cols},
                           geometry=shapely.box(cx - h, cy - h, cx + h, cy + h), crs=crs)
    centres = gpd.GeoDataFrame({"cx": cx, "cy": cy}, geometry=gpd.points_from_xy(cx, cy),
                               crs=crs)
    return net, centres


def segments(gdf, edges: bool = True):
    """Lines and (with ``edges``) polygon outlines as two-point segments; points as they are."""
    import geopandas as gpd
    import shapely

    g = shapely.get_parts(gdf.geometry.values)
    poly = np.isin(shapely.get_type_id(g), (3,))
    if edges and poly.any():
        g = np.concatenate([g[~poly], shapely.get_parts(shapely.boundary(g[poly]))])
    lines = np.isin(shapely.get_type_id(g), (1, 2))
    xy, idx = shapely.get_coordinates(g[lines], return_index=True)
    same = idx[1:] == idx[:-1]
    segs = shapely.linestrings(np.stack([xy[:-1][same], xy[1:][same]], axis=1))
    return gpd.GeoDataFrame(geometry=np.concatenate([g[~lines], segs]), crs=gdf.crs)


def nearest(centres, features, reach: float):
    """Distance (m) from each centre to the nearest feature, inf beyond ``reach``."""
    d = np.full(len(centres), np.inf)
    if len(features):
        (i, _), dist = features.sindex.nearest(centres.geometry.values, max_distance=reach,
                                              return_distance=True)
        np.minimum.at(d, i, dist)  # ties give one pair per nearest feature
    return d


def pairs_within(centres, pts, reach: float):
    """(centre, point) index pairs closer than ``reach``, and their distances."""
    i, j = pts.sindex.query(centres.geometry.values, predicate="dwithin", distance=reach)
    d = np.hypot(centres["cx"].to_numpy()[i] - pts.geometry.x.to_numpy()[j],
                 centres["cy"].to_numpy()[i] - pts.geometry.y.to_numpy()[j])
    return i, j, d


def analyst_density(centres, gdf, bandwidth, weights, normalize, cell):
    """Gaussian kernel density per cell from the point pairs within 4 bandwidths."""
    i, j, d = pairs_within(centres, gdf, 4 * bandwidth)
    s2 = bandwidth**2
    k = weights[j] * np.exp(-d**2 / (2 * s2)) / (2 * np.pi * s2) * cell**2
    per_km2 = np.bincount(i, weights=k, minlength=len(centres)) * 1e6 / cell**2
    top = per_km2.max() if normalize == "max" else float(normalize)
    return np.clip(per_km2 / top, 0, 1) if top > 0 else np.zeros_like(per_km2)


def analyst_factor(spec, gdf, centres, cell, as_of):
    """One factor's value per fishnet cell, with GeoPandas spatial-index joins."""
    from riskmap.factors import age_weights, decay

    p = spec.params
    if spec.kind == "proximity":
        feats = segments(gdf, edges=p["target"] == "edges")
        return decay(nearest(centres, feats, p["range"]), p["range"], p["decay"])
    if spec.kind == "typed" and p["method"] == "proximity":
        w = gdf[p["type_field"]].astype(str).map(p["types"]).fillna(0.0).to_numpy()
        pts = gdf[w > 0]
        i, j, d = pairs_within(centres, pts, p["range"])
        v = w[w > 0][j] * decay(d, p["range"], p["decay"])
        best = np.zeros(len(centres))
        np.maximum.at(best, i, v)
        return best
    if spec.kind in ("density", "typed"):
        w = np.ones(len(gdf))
        if spec.kind == "typed":
            w = gdf[p["type_field"]].astype(str).map(p["types"]).fillna(0.0).to_numpy()
        if p.get("weight_field"):
            w = w * gdf[p["weight_field"]].astype(float).to_numpy()
        if p.get("half_life_days"):
            w = w * age_weights(gdf[p["date_field"]], as_of, float(p["half_life_days"]))
        return analyst_density(centres, gdf, p["bandwidth"], w, p["normalize"], cell)
    inside = np.zeros(len(centres), dtype=bool)
    i, _ = gdf.sindex.query(centres.geometry.values, predicate="within")
    inside[i] = True
    if spec.kind == "inside":
        return inside.astype(np.float32)
    # ring: centres outside the polygons, distance to the polygon outlines
    d = np.full(len(centres), np.inf)
    d[~inside] = nearest(centres[~inside], segments(gdf), p["distance"])
    return decay(d, p["distance"], p["decay"])


def analyst_way(project, inputs, grid):
    """Score every fishnet cell the GeoPandas way.

    Returns the score, row and column of each fishnet cell, the factor values,
    the score coefficients and the seconds of each step.
    """
    from riskmap.score.overlay import score_coefficients

    steps = {}
    t0 = time.perf_counter()
    net, centres = fishnet(grid, project.crs, inputs.district)
    steps["fishnet"] = time.perf_counter() - t0
    values = {}
    for spec in project.factors:
        t0 = time.perf_counter()
        values[spec.name] = np.asarray(
            analyst_factor(spec, inputs.factors[spec.name], centres, grid.cell, project.as_of),
            dtype=np.float64)
        steps[spec.name] = time.perf_counter() - t0
    t0 = time.perf_counter()
    coefs, baseline = score_coefficients({f.name: f.weight for f in project.factors})
    score = baseline + sum(float(coefs[n]) * v for n, v in values.items())
    net["score"] = np.clip(score, 0, 100)
    steps["score"] = time.perf_counter() - t0
    rows, cols = net["row"].to_numpy(), net["col"].to_numpy()
    return net["score"].to_numpy(), rows, cols, values, coefs, steps


def fifty_metres(project, inputs) -> dict:
    """Engine vs the analyst's way at 50 m, and how well they agree."""
    from riskmap.score.engine import district_grid

    p50 = project.with_cell_size(50)
    grid = district_grid(p50, inputs.district)
    say(f"50 m: engine, warm-up + best of {RUNS}")
    engine_s, engine_wall, surface = best_compute(p50, inputs)
    say(f"50 m: the analyst's way (fishnet + GeoPandas joins), best of {RUNS}")
    analyst_s = float("inf")
    for _ in range(RUNS):
        t0 = time.perf_counter()
        score, rows, cols, values, coefs, steps = analyst_way(p50, inputs, grid)
        analyst_s = min(analyst_s, time.perf_counter() - t0)

    flat = rows * grid.ncols + cols
    eng = surface.score.ravel()[flat].astype(np.float64)
    ok = np.isfinite(eng)
    diff = np.abs(eng[ok] - score[ok])
    factor_p99 = {}
    for name, v in values.items():
        e = surface.factors[name].value.ravel()[flat][ok].astype(np.float64)
        factor_p99[name] = float(np.percentile(np.abs(e - v[ok]), 99) * abs(float(coefs[name])))
    return {
        "cells_50m": grid.size,
        "cells_in_district_50m": int(surface.area.sum()),
        "fishnet_cells_50m": len(score),
        "common_cells_50m": int(ok.sum()),
        "engine_s_50m": engine_s,
        "engine_wall_s_50m": engine_wall,
        "analyst_s_50m": analyst_s,
        "speedup_50m": analyst_s / engine_s,
        "agreement_r_50m": float(np.corrcoef(eng[ok], score[ok])[0, 1]),
        "diff_median_pts_50m": float(np.median(diff)),
        "diff_p99_pts_50m": float(np.percentile(diff, 99)),
        "diff_max_pts_50m": float(diff.max()),
        "factor_diff_p99_pts_50m": factor_p99,
        "analyst_steps_s_50m": steps,
        "engine_steps_s_50m": {k.removeprefix("factor_").removesuffix("_s"): v
                               for k, v in surface.timings.items() if k != "compute_s"},
        "pass_s_50m": pass_seconds(grid.shape),
    }


# --- report -------------------------------------------------------------------
def verdict(res: dict, key: str) -> tuple[str, str]:
    """(target text, ok/MISS) for ``key``; blank when it has no target or no figure."""
    if key not in TARGETS:
        return "", ""
    limit, op, shown = TARGETS[key]
    v = res.get(key)
    if v is None:
        return shown, "n/a"
    good = v >= limit if op == ">=" else v <= limit
    return shown, "ok" if good else "MISS"


def table(res: dict) -> str:
    """The readable report."""
    rows = []

    def row(label, figure, key=None):
        target, mark = verdict(res, key) if key else ("", "")
        rows.append(f"  {label:<34}{figure:<34}{target:<12}{mark}".rstrip())

    def mib(v):
        return "n/a" if v is None else f"{v:,.0f} MiB"

    r = res
    rows.append(f"riskmap benchmark: {r['project']}")
    rows.append(f"  {r['machine']}")
    rows.append(f"  {'':<34}{'figure':<34}target")
    if "build_s" in r:
        rows.append("whole build (district + townships, every output; fresh process, warm caches)")
        row(f"build (best of {BUILD_RUNS})", f"{r['build_s']:.1f} s (first run "
            f"{r['build_warmup_s']:.1f} s)", "build_s")
        for k, v in r["build_stages_s"].items():
            row(f"  {k}", f"{v:.2f} s")
    if r.get("pdf_s_per_sheet") is not None:
        row("PDF sheet (its own time)", f"{r['pdf_s_per_sheet']:.2f} s × {r['pdf_sheets']}",
            "pdf_s_per_sheet")
    if r.get("township_outputs_s") is not None:
        row(f"township outputs (median of {r['townships']})",
            f"{r['township_outputs_s']:.2f} s (max {r['township_outputs_max_s']:.2f} s)",
            "township_outputs_s")
        row("  with its sheet", f"{r['township_with_sheet_s']:.2f} s")
        for k, v in r["township_stages_s"].items():
            row(f"  {k}", f"{v:.3f} s")
    rows.append("50 m: engine vs the analyst's way")
    row("cells (grid / in district)", f"{r['cells_50m']:,} / {r['cells_in_district_50m']:,}")
    row(f"engine compute (best of {RUNS})",
        f"{r['engine_s_50m']:.3f} s = {r['engine_s_50m'] / r['pass_s_50m']:.0f} passes")
    row("analyst's way (fishnet+GeoPandas)", f"{r['analyst_s_50m']:.2f} s (best of {RUNS})")
    slow = sorted(r["analyst_steps_s_50m"].items(), key=lambda kv: -kv[1])[:3]
    row("  slowest steps", ", ".join(f"{k} {v:.1f} s" for k, v in slow))
    row("speedup", f"{r['speedup_50m']:,.0f}×", "speedup_50m")
    row("agreement: Pearson r", f"{r['agreement_r_50m']:.5f} ({r['common_cells_50m']:,} cells)")
    row("|score diff| median / p99 / max",
        f"{r['diff_median_pts_50m']:.3f} / {r['diff_p99_pts_50m']:.2f} / "
        f"{r['diff_max_pts_50m']:.2f} pts")
    for cell in ("25m", "10m"):
        rows.append(f"{cell[:-1]} m: engine alone (fresh process)")
        row("cells (grid / in district)",
            f"{r[f'cells_{cell}']:,} / {r[f'cells_in_district_{cell}']:,}")
        row(f"compute (best of {RUNS})",
            f"{r[f'compute_s_{cell}']:.3f} s = {r[f'passes_{cell}']:.0f} passes",
            f"compute_s_{cell}")
        row("one float32 pass over the grid", f"{r[f'pass_s_{cell}'] * 1e3:.2f} ms")
        row("peak memory (RSS)", mib(r[f"peak_mib_{cell}"]), f"peak_mib_{cell}")
        row("  rise over inputs loaded", mib(r[f"peak_rise_mib_{cell}"]))
        if r.get(f"plain_s_{cell}") is not None:
            row("plain raster + scipy EDT",
                f"{r[f'plain_s_{cell}']:.2f} s ({r['plain_ratio_25m']:.1f}× the engine)")
            g = r.get(f"gdal_proximity_s_{cell}")
            row("GDAL ComputeProximity",
                "not installed (osgeo)" if g is None else f"{g:.2f} s")
    rows.append(f"total benchmark time {r['bench_s']:.0f} s")
    return "\n".join(rows)


BUILD_RUNS = 2  # whole builds after a warm-up (the best counts)

_BUILD = """
import json, sys, tempfile, time
from pathlib import Path
from riskmap.pipeline.build import build
from riskmap.pipeline.project import load_project
t = time.perf_counter()
project = load_project(sys.argv[1])
load = time.perf_counter() - t
with tempfile.TemporaryDirectory() as d:
    t = time.perf_counter()
    r = build(project, out=Path(d) / "out")
    wall = time.perf_counter() - t
areas = [{"name": a.name, "seconds": a.seconds, "stages": a.stages} for a in r.areas[1:]]
print(json.dumps({"build_s": wall + load, "stages": {"project": load, **r.stages},
                  "townships": areas}))
"""


def whole_build(path: Path) -> dict:
    """The whole build (district + every township, every output incl. PDFs), as the CLI runs it.

    Each run is a fresh process (imports not counted, the project file and every
    stage counted); one warm-up run first fills the per-install caches (the
    converted font, the meter table's anomaly layer), as a weekly rebuild finds them.
    """
    runs = []
    for i in range(BUILD_RUNS + 1):
        say(f"whole build {'warm-up' if i == 0 else f'{i}/{BUILD_RUNS}'}")
        out = subprocess.run([sys.executable, "-c", _BUILD, str(path)], capture_output=True,
                             text=True, check=True)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    best = min(runs[1:], key=lambda r: r["build_s"])
    st = best["stages"]
    sheets = int(st.pop("pdf_sheets", 0))
    cpu = st.pop("pdf_cpu", 0.0)
    return {"build_s": best["build_s"], "build_stages_s": st, "pdf_sheets": sheets,
            "pdf_s_per_sheet": cpu / sheets if sheets else None,
            "build_warmup_s": runs[0]["build_s"], **township_figures(best["townships"])}


def township_figures(towns: list[dict]) -> dict:
    """Each township's own seconds in the whole build: its outputs without and with its sheet.

    A township is written by one worker from the district's arrays (cut, then every
    exporter); "outputs" is everything but the PDF sheet, which is timed apart.
    """
    if not towns or not all(t["stages"] for t in towns):
        return {}
    sheet = {"pdf", "pdf_sheets", "pdf_cpu"}
    outs = [sum(v for k, v in t["stages"].items() if k not in sheet) for t in towns]
    full = [t["seconds"] for t in towns]
    stages = {k: float(np.median([t["stages"].get(k, 0.0) for t in towns]))
              for k in towns[0]["stages"] if k not in {"pdf_sheets", "pdf_cpu"}}
    return {"townships": len(towns), "township_outputs_s": float(np.median(outs)),
            "township_outputs_max_s": float(max(outs)),
            "township_with_sheet_s": float(np.median(full)),
            "township_stages_s": stages}


def main(argv=None) -> int:
    """Entry point."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--project", type=Path, default=SAMPLE, help="project file (default: sample)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    ap.add_argument("--engine-only", action="store_true",
                    help="skip the whole build: only the engine parts (50 m vs the analyst's "
                         "way, 25 m, 10 m)")
    ap.add_argument("--_engine", type=float, metavar="CELL", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args._engine is not None:  # child: engine alone at one cell size
        say(f"{args._engine:g} m: engine alone, warm-up + best of {RUNS} (pid {os.getpid()})")
        print(json.dumps(engine_alone(args.project, args._engine)), flush=True)
        return 0

    t0 = time.perf_counter()
    say(f"loading {args.project}")
    project, inputs = load(args.project)
    res = {
        "project": project.name,
        "machine": f"{platform.machine()} {os.cpu_count()} CPUs, Python "
                   f"{platform.python_version()}, numpy {np.__version__}",
        "cpus": os.cpu_count(),
    }
    if not args.engine_only:
        res.update(whole_build(args.project))
    res.update(fifty_metres(project, inputs))
    for cell in (25, 10):
        one = engine_in_subprocess(args.project, cell)
        for k in ("cells", "cells_in_district", "compute_s", "wall_s", "peak_mib",
                  "rss_after_inputs_mib", "peak_rise_mib", "pass_s", "passes", "plain_s",
                  "gdal_proximity_s"):
            res[f"{k}_{cell}m"] = one[k]
    res["plain_ratio_25m"] = res["plain_s_25m"] / res["compute_s_25m"]
    res["bench_s"] = time.perf_counter() - t0
    res["targets"] = {k: {"target": TARGETS[k][2], "result": verdict(res, k)[1]}
                      for k in TARGETS}
    if args.json:
        print(json.dumps(res, ensure_ascii=False))
    else:
        print(table(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
