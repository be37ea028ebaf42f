"""``riskmap score``: the tiled engine for areas too large for one array (province scale)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from riskmap.cli import cli, setup
from riskmap.cli.options import debug_opt, out_opt, overwrite_opt, quiet_opt, verbose_opt
from riskmap.cli.text import progress_printer


@cli.command()
@click.argument("project")
@out_opt
@click.option("--chunk", type=int, default=None, metavar="CELLS",
              help="Tile side in analysis cells (default: from --memory-limit, else 1024).")
@click.option("--scheduler", metavar="ADDR",
              help="threads (default), processes, synchronous, or a dask.distributed "
                   "scheduler address such as tcp://10.0.0.5:8786.")
@click.option("--memory-limit", type=float, metavar="MIB",
              help="Memory per worker for one tile's working set; sets the tile size.")
@click.option("--cell-size", type=float, metavar="M", help="Analysis cell size in metres.")
@overwrite_opt
@verbose_opt
@quiet_opt
@debug_opt
@click.pass_context
def score(ctx, project, out, chunk, scheduler, memory_limit, cell_size, overwrite, verbose,
          quiet, debug):
    """Score PROJECT tile by tile into one GeoTIFF and a summary (分块计算).

    Memory stays bounded by the tile size, not the area: the score is written
    to ``risk.tif`` window by window; only patrol-cell scores are held.
    """
    import numpy as np
    import rasterio
    from rasterio.enums import Resampling

    from riskmap import __version__
    from riskmap.export.atomic import atomic_folder
    from riskmap.export.tif import NODATA
    from riskmap.load.inputs import load_inputs
    from riskmap.load.project import load_project
    from riskmap.marks import INTERNAL
    from riskmap.score.tiling import chunk_for_memory, compute_tiled

    setup(ctx, verbose, quiet, debug)
    t0 = time.perf_counter()
    proj = load_project(project)
    if cell_size:
        proj = proj.with_cell_size(cell_size)

    say = progress_printer(quiet == 0)

    inputs = load_inputs(proj, say)
    if chunk is None:
        chunk = chunk_for_memory(memory_limit, len(proj.factors)) if memory_limit else 1024
    from riskmap.score.engine import district_grid

    grid = district_grid(proj, inputs.district)
    dest = Path(out) if out else proj.output / "tiled"
    with atomic_folder(dest, overwrite) as tmp:
        profile = {"driver": "GTiff", "dtype": "float32", "count": 1, "nodata": NODATA,
                   "width": grid.ncols, "height": grid.nrows, "crs": grid.crs,
                   "transform": grid.transform, "compress": "deflate", "predictor": 3,
                   "tiled": True, "blockxsize": 256, "blockysize": 256, "BIGTIFF": "IF_SAFER"}
        with rasterio.open(tmp / "risk.tif", "w", **profile) as dst:
            def write(win, block):
                r0, c0, nr, nc = win
                dst.write(np.where(np.isfinite(block), block, NODATA).astype(np.float32), 1,
                          window=rasterio.windows.Window(c0, r0, nc, nr))

            res = compute_tiled(proj, inputs, chunk=chunk, scheduler=scheduler, on_tile=write,
                                progress=say)
            say("概览 (overviews)")
            dst.build_overviews([f for f in (2, 4, 8, 16, 32) if max(grid.shape) // f > 256],
                                Resampling.average)
            dst.update_tags(marking=INTERNAL, riskmap_version=__version__,
                            class_thresholds=json.dumps([round(float(t), 3)
                                                         for t in res.thresholds]))
        counts = {str(c): int((res.p_class == c).sum()) for c in range(1, 6)}
        summary = {"project": proj.name, "riskmap_version": __version__, "marking": INTERNAL,
                   "engine": "tiled", "grid": grid.to_dict(), "tiles": res.tiles,
                   "chunk": chunk, "scheduler": scheduler or "threads",
                   "classes": {"method": proj.class_method, "breaks": list(proj.class_breaks),
                               "thresholds": [round(float(t), 4) for t in res.thresholds],
                               "basis": "exact quantiles of every patrol cell's score"},
                   "counts": counts, "inputs": inputs.hashes,
                   "timings": {"total_s": round(time.perf_counter() - t0, 2),
                               **{k: round(v, 3) for k, v in res.timings.items()}}}
        (tmp / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2),
                                          encoding="utf-8")
    if quiet < 2:
        click.echo(f"{grid.size:,} cells in {res.tiles} tiles of {chunk}; classes 1–5: "
                   + ", ".join(map(str, counts.values())) + f"; {dest}")
