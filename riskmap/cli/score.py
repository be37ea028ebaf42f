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


@cli.command(short_help="分块计算大区域 (score a large area tile by tile).")
@project_arg
@out_opt
@click.option("--chunk", type=int, default=None, metavar="CELLS",
              help="分块边长, 以分析单元计; 默认由 --memory-limit 决定, 否则 1024 (tile side "
                   "in analysis cells).")
@click.option("--scheduler", metavar="ADDR",
              help="threads (默认), processes, synchronous, 或 dask.distributed 调度器地址, "
                   "如 tcp://10.0.0.5:8786 (how the tiles run: threads by default, or a "
                   "scheduler address).")
@click.option("--memory-limit", type=float, metavar="MIB",
              help="每个 worker 单块工作集的内存, 决定分块大小 (memory per worker for one "
                   "tile's working set; sets the tile size).")
@click.option("--cell-size", type=float, metavar="M",
              help="分析单元边长, 米 (analysis cell size in metres).")
@overwrite_opt
@verbose_opt
@quiet_opt
@debug_opt
@click.pass_context
def score(ctx, project, out, chunk, scheduler, memory_limit, cell_size, overwrite, verbose,
          quiet, debug):
    """分块计算: 将 PROJECT 逐块评分为一个 GeoTIFF 和汇总 (score PROJECT tile by tile).

    内存由分块大小决定, 与面积无关: 评分逐窗口写入 risk.tif, 只保留巡查网格的
    分数 (memory stays bounded by the tile size, not the area: the score is
    written to risk.tif window by window; only patrol-cell scores are held).
    各乡镇的完整目录由 riskmap build 生成, 网格过大时它自动分块 (for every
    township's package run riskmap build: it goes tiled by itself).
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
