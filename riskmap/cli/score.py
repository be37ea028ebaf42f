"""``riskmap score``: the tiled score for areas too large for one array (pipeline.tiled)."""

from __future__ import annotations

from pathlib import Path

import click

from riskmap.cli import cli, setup
from riskmap.cli.options import (
    debug_opt,
    out_opt,
    overwrite_opt,
    project_arg,
    quiet_opt,
    verbose_opt,
)
from riskmap.cli.text import progress_printer


@cli.command()
@project_arg
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
    from riskmap.pipeline.project import load_project
    from riskmap.pipeline.tiled import score_tiled

    setup(ctx, verbose, quiet, debug)
    proj = load_project(project)
    if cell_size:
        proj = proj.with_cell_size(cell_size)
    rep = score_tiled(proj, Path(out) if out else None, chunk=chunk, scheduler=scheduler,
                      memory_limit=memory_limit, overwrite=overwrite,
                      progress=progress_printer(quiet == 0))
    if quiet < 2:
        click.echo(f"{rep.grid.size:,} cells in {rep.tiles} tiles of {rep.chunk}; classes 1–5: "
                   + ", ".join(map(str, rep.counts.values())) + f"; {rep.folder}")
