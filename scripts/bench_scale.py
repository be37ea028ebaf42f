"""Scale benchmark: a province-like area through the tiled engine and the tiled build.

    python scripts/bench_scale.py                 # ~5,000 km² at 25 m (8 copies, 72 townships)
    python scripts/bench_scale.py --km2 20000 --chunk 1024 --json   # 32 copies, ~10 min
    python scripts/bench_scale.py --scheduler tcp://10.0.0.5:8786   # a real dask cluster
    python scripts/bench_scale.py --no-build      # the engine alone (scores, no packages)

The area is built by tiling perturbed copies of the sample district's layers
(points jittered by up to 300 m, a random 90 % kept), side by side. Each run
happens in a fresh process so that its peak memory (RSS) is its own. The tiled
engine runs with a local threaded scheduler (or the cluster given); the untiled
engine runs too when the whole grid fits comfortably in memory. Tiled and
untiled are compared cell by cell on a smaller copy that always fits.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def province(copies: int, seed: int = 1):
    """Project and Inputs of ``copies`` perturbed copies of the sample district."""
    import geopandas as gpd
    import numpy as np
    import pandas as pd
    import shapely

    from riskmap.load.inputs import Inputs, load_inputs
    from riskmap.models import power as _power  # noqa: F401  (registers power:anomalies)
    from riskmap.pipeline.project import load_project

    project = load_project(ROOT / "layers" / "project.yaml")
    base = load_inputs(project)
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = base.district.bounds
    w, h = x1 - x0 + 2000, y1 - y0 + 2000
    side = math.ceil(math.sqrt(copies))
    offsets = [((i % side) * w, (i // side) * h) for i in range(copies)]

    def shifted(gdf, dx, dy, jitter):
        g = gdf.copy()
        geoms = shapely.transform(g.geometry.values, lambda c: c + np.array([dx, dy]))
        pts = shapely.get_type_id(geoms) == 0
        if jitter and pts.any():
            keep = rng.random(len(g)) < 0.9
            j = rng.uniform(-300, 300, (int(pts.sum()), 2))
            geoms[pts] = shapely.transform(geoms[pts], lambda c, j=j: c + j)
            g = g.set_geometry(gpd.GeoSeries(geoms, index=g.index, crs=g.crs)).loc[keep | ~pts]
            return g
        return g.set_geometry(gpd.GeoSeries(geoms, index=g.index, crs=g.crs))

    def many(gdf, jitter):
        parts = [shifted(gdf, dx, dy, jitter).assign(copy=i)
                 for i, (dx, dy) in enumerate(offsets)]
        return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=gdf.crs)

    district = shapely.union_all([shapely.transform(base.district, lambda c, o=o: c + o)
                                  for o in offsets])
    towns = many(base.townships, False)
    towns["name"] = towns["name"] + towns["copy"].astype(str)
    factors = {n: many(g, True) for n, g in base.factors.items()}
    return project, Inputs(district, towns[["name", "geometry"]], None, factors)


def _status_mib(key: str) -> float:
    """A memory figure of this process from /proc/self/status (Linux), in MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) / 1024
    return 0.0


def _peak_sampler():
    peak = {"mib": 0.0}

    def run():
        while True:
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith("VmRSS"):
                        peak["mib"] = max(peak["mib"], int(line.split()[1]) / 1024)
            time.sleep(0.05)

    threading.Thread(target=run, daemon=True).start()
    return peak


def engine_run(mode: str, copies: int, chunk: int, scheduler: str | None) -> dict:
    """One run in this process: prints JSON with cells, seconds, peak memory."""
    import numpy as np

    peak = _peak_sampler()
    project, inputs = province(copies)
    time.sleep(0.2)
    base_mib = peak["mib"]
    from riskmap.score.engine import compute, district_grid
    from riskmap.score.tiling import compute_tiled

    grid = district_grid(project, inputs.district)
    t = time.perf_counter()
    if mode == "tiled":
        r = compute_tiled(project, inputs, chunk=chunk, scheduler=scheduler)
        p_class, tiles = r.p_class, r.tiles
    else:
        s = compute(project, inputs)
        p_class, tiles = s.p_class, 1
    sec = time.perf_counter() - t
    counts = np.bincount(p_class.ravel(), minlength=6)[1:].tolist()
    return {"mode": mode, "cells": grid.size, "tiles": tiles, "seconds": round(sec, 3),
            "peak_mib": round(peak["mib"], 1), "rise_mib": round(peak["mib"] - base_mib, 1),
            "counts": counts}


def build_run(copies: int, chunk: int, scheduler: str | None) -> dict:
    """The tiled build with every township's package, in this process: seconds, peak memory.

    Peak memory is reported per worker: this process (it runs the tiles on its
    thread pool and holds the township windows) and the largest drawing worker
    (forked for the sheets; its RSS counts the pages it shares with this one, as
    ``ru_maxrss`` of the children does).
    """
    import resource
    import tempfile

    peak = _peak_sampler()
    project, inputs = province(copies)
    time.sleep(0.2)
    base_mib = peak["mib"]
    from riskmap.pipeline.tiledbuild import tiled_build

    with tempfile.TemporaryDirectory(prefix="bench_scale_") as out:
        t = time.perf_counter()
        rep = tiled_build(project, Path(out), inputs=inputs, chunk=chunk, scheduler=scheduler)
        sec = time.perf_counter() - t
        files = [f for f in Path(out).rglob("*") if f.is_file()]
        size = sum(f.stat().st_size for f in files)
        packages = sum(1 for a in rep.areas
                       if {"risk.gpkg", "map.html", "map.pdf", "summary.json"}
                       <= {f.name for f in a.folder.iterdir()})
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so it would count the
    # bench's own process (which forked this one) too
    self_mib = _status_mib("VmHWM")
    child_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    win = max(rep.windows.values(), key=lambda w: w["window"]["shape"][0] * w["window"]["shape"][1])
    return {"mode": "build", "areas": len(rep.areas), "townships": len(rep.windows),
            "packages": packages, "files": len(files),
            "bytes": size, "tiles": rep.tiles,
            "seconds": round(sec, 2), "peak_mib": round(max(peak["mib"], self_mib), 1),
            "rise_mib": round(max(peak["mib"], self_mib) - base_mib, 1),
            "worker_peak_mib": round(child_mib, 1), "largest_window": win["window"]["shape"],
            "counts": [rep.areas[0].counts[c] for c in range(1, 6)],
            "halo_cells": win["halo_cells"], "district_shape": win["district_shape"],
            "stages_s": {k: round(v, 2) for k, v in rep.stages.items()}}


def equality(copies: int, chunk: int) -> bool:
    """Tiled and untiled scores equal cell by cell on a province that fits."""
    import numpy as np

    from riskmap.score.engine import compute
    from riskmap.score.tiling import compute_tiled

    project, inputs = province(copies)
    a = compute(project, inputs).score
    b = compute_tiled(project, inputs, chunk=chunk, keep_score=True).score
    return bool(np.array_equal(np.nan_to_num(a, nan=-1), np.nan_to_num(b, nan=-1)))


def _sub(args: list[str]) -> dict:
    r = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if r.returncode:
        return {"error": r.stderr.strip().splitlines()[-1] if r.stderr else "failed"}
    return json.loads(r.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--km2", type=float, default=5000, help="area to build (km²)")
    ap.add_argument("--no-build", action="store_true",
                    help="skip the tiled build with per-township packages")
    ap.add_argument("--chunk", type=int, default=1024, help="tile side (analysis cells)")
    ap.add_argument("--scheduler", help="dask scheduler: threads (default) or tcp://host:port")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--_run", choices=["tiled", "untiled", "build"], help=argparse.SUPPRESS)
    ap.add_argument("--_copies", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a._run:
        run = build_run if a._run == "build" else functools.partial(engine_run, a._run)
        print(json.dumps(run(a._copies, a.chunk, a.scheduler)))
        return
    copies = max(1, round(a.km2 / 622.6))  # the sample district is 622.6 km²
    say = (lambda m: None) if a.json else (lambda m: print(m, file=sys.stderr))
    say(f"[bench] {copies} copies of the sample district ≈ {copies * 622.6:,.0f} km²")
    t0 = time.perf_counter()
    tiled = _sub(["--_run", "tiled", "--_copies", str(copies), "--chunk", str(a.chunk)]
                 + (["--scheduler", a.scheduler] if a.scheduler else []))
    say(f"[bench] tiled: {tiled}")
    # the untiled engine holds ~ (2 × factors + 10) float32 grids: run it only if that fits
    need_mib = tiled.get("cells", 0) * 4 * 32 / 2**20
    free_mib = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**20
    untiled = None
    if need_mib < 0.6 * free_mib:
        untiled = _sub(["--_run", "untiled", "--_copies", str(copies)])
        say(f"[bench] untiled: {untiled}")
    same = equality(min(copies, 4), 256)
    say(f"[bench] tiled equals untiled on {min(copies, 4)} copies: {same}")
    build = None
    if not a.no_build:
        build = _sub(["--_run", "build", "--_copies", str(copies), "--chunk", str(a.chunk)]
                     + (["--scheduler", a.scheduler] if a.scheduler else []))
        say(f"[bench] build: {build}")
    workers = os.cpu_count() if not a.scheduler else "cluster"
    out = {
        "cells": tiled.get("cells"), "chunk_cells": a.chunk * a.chunk, "chunk": a.chunk,
        "tiles": tiled.get("tiles"), "workers": workers, "km2": round(copies * 622.6),
        "tiled_s": tiled.get("seconds"),
        "untiled_s": untiled.get("seconds") if untiled else None,
        "cells_per_s": round(tiled["cells"] / tiled["seconds"]) if tiled.get("seconds") else None,
        "peak_mib": tiled.get("peak_mib"), "peak_rise_mib": tiled.get("rise_mib"),
        "untiled_peak_mib": untiled.get("peak_mib") if untiled else None,
        "classes_equal": bool(untiled and untiled.get("counts") == tiled.get("counts")),
        "tiled_equals_untiled": same, "build": build,
        "build_classes_equal": bool(build and build.get("counts") == tiled.get("counts")),
        "bench_s": round(time.perf_counter() - t0, 1),
    }
    if a.json:
        print(json.dumps(out))
        return
    print(f"area {out['km2']:,} km², {out['cells']:,} cells at 25 m, "
          f"tiles of {a.chunk}×{a.chunk} ({out['tiles']} tiles), {workers} workers")
    print(f"  tiled    {out['tiled_s']} s  ({out['cells_per_s']:,} cells/s), peak "
          f"{out['peak_mib']} MiB (rise {out['peak_rise_mib']} MiB)")
    if untiled:
        print(f"  untiled  {out['untiled_s']} s, peak {out['untiled_peak_mib']} MiB")
    else:
        print("  untiled  does not fit in memory here")
    print(f"  class counts equal: {out['classes_equal']}; tiled == untiled (cell by cell, "
          f"{min(copies, 4)} copies): {same}")
    if build and "error" not in build:
        st = build["stages_s"]
        print(f"  build    {build['seconds']} s for {build['packages']} township packages + the "
              f"district ({build['files']} files, {build['bytes'] / 2**20:,.0f} MiB): tiles "
              f"{st.get('tiles')} s, windows {st.get('windows')} s, sheets {st.get('pdf')} s")
        print(f"           peak {build['peak_mib']} MiB in the build's process (rise "
              f"{build['rise_mib']} MiB), {build['worker_peak_mib']} MiB in a drawing worker; "
              f"largest township window {build['largest_window'][0]}×"
              f"{build['largest_window'][1]} + {build['halo_cells']} cells of halo "
              f"(district {build['district_shape'][0]}×{build['district_shape'][1]}); "
              f"class counts equal the engine's: {out['build_classes_equal']}")
    elif build:
        print(f"  build    failed: {build['error']}")


if __name__ == "__main__":
    main()
