"""``riskmap build``: score a project and write every area's outputs."""

from __future__ import annotations

import time
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
from riskmap.cli.text import echo_table, progress_printer


@cli.command(short_help="生成巡查优先级图 (build the maps and outputs).")
@project_arg
@click.option("--township", "townships", multiple=True, metavar="NAME",
              help="只生成此乡镇, 可重复; 默认全区及所有乡镇 (build only this township; "
                   "repeatable; default: the district and every township).")
@out_opt
@click.option("--cell-size", type=float, metavar="M",
              help="分析单元边长, 米 (analysis cell size in metres).")
@overwrite_opt
@click.option("--atlas", is_flag=True,
              help="另将所生成的乡镇图合成 atlas.pdf (also write the townships' sheets into "
                   "atlas.pdf).")
@click.option("--paper", type=click.Choice(["A3", "A4"]),
              help="map.pdf 纸张 (page size of map.pdf).")
@click.option("--orientation", type=click.Choice(["landscape", "portrait"]),
              help="map.pdf 方向: 横向或纵向 (orientation of map.pdf).")
@click.option("--tiled", is_flag=True,
              help="用分块引擎, 各乡镇由其窗口计算; 网格超出内存时自动使用 (the tiled engine, "
                   "each township from its own window; chosen by itself when the grid does "
                   "not fit in memory).")
@click.option("--scheduler", metavar="ADDR",
              help="分块引擎的调度: threads (默认), processes, 或 dask.distributed 地址, 如 "
                   "tcp://10.0.0.5:8786; 给出即用分块引擎 (how the tiles run; implies --tiled).")
@click.option("--chunk", type=int, metavar="CELLS",
              help="分块边长, 以分析单元计 (tile side in analysis cells; implies --tiled).")
@click.option("--memory-limit", type=float, metavar="MIB",
              help="本次构建可用内存, 默认为空闲内存的 70%; 单一网格放不下则分块 (memory the "
                   "build may use, default 70% of free memory; beyond it the tiled engine "
                   "runs).")
@verbose_opt
@quiet_opt
@debug_opt
@click.pass_context
def build(ctx, project, townships, out, cell_size, overwrite, atlas, paper,
          orientation, tiled, scheduler, chunk, memory_limit, verbose, quiet, debug):
    """生成巡查优先级图 (build the patrol-priority outputs of PROJECT).

    每个区域 (全区及各乡镇) 一个目录: risk.tif, risk_class.tif, risk.gpkg, map.html,
    乡镇的 map.pdf 和 summary.json (one folder per area, the district and each
    township, with these files).

    网格超出内存 (如全省, 或很小的分析单元) 时自动改用分块引擎: 全区逐块评分写入
    risk.tif, 各乡镇由其窗口 (加因子影响范围) 计算并输出完整目录 (a grid too large
    for memory, a province or a fine cell, runs on the tiled engine by itself: the
    district scored tile by tile into risk.tif, each township's full package from its
    own window plus the factors' reach).
    """
    from riskmap.pipeline.project import load_project
    from riskmap.pipeline.tiledbuild import engine_for

    setup(ctx, verbose, quiet, debug)
    t0 = time.perf_counter()
    proj = load_project(project)
    if cell_size:
        proj = proj.with_cell_size(cell_size)

    progress = progress_printer(quiet == 0)
    choice = engine_for(proj, memory_limit=memory_limit,
                        tiled=bool(tiled or scheduler or chunk))
    common = {"out": Path(out) if out else None, "townships": list(townships),
              "overwrite": overwrite, "progress": progress, "atlas": atlas, "paper": paper,
              "orientation": orientation}
    if choice.tiled:
        from riskmap.pipeline.tiledbuild import tiled_build

        if quiet < 2:
            click.echo(choice.text, err=True)
        report = tiled_build(proj, **common, chunk=chunk, scheduler=scheduler,
                             memory_limit=memory_limit)
    else:
        from riskmap.pipeline.build import build as run_build

        report = run_build(proj, **common)
    if quiet < 2:
        _table(report)
        click.echo(f"总用时 (total) {time.perf_counter() - t0:.1f} s; "
                   f"计算 (compute) {report.timings['compute_s']:.2f} s")
    if verbose > quiet and quiet < 2:
        _stages(report.stages)


#: the build's stages in words, in order (one per exporter; unknown ones by their name)
STAGE_NAMES = {"read": "读取 (read)", "compute": "计算 (compute)", "cut": "分区 (areas)",
               "tif": "risk.tif", "class_tif": "risk_class.tif", "gpkg": "risk.gpkg",
               "html": "map.html", "sheet": "map.pdf 准备 (prepare)", "summary": "summary.json",
               "pdf": "map.pdf (并行 parallel)", "tiles": "分块评分 (tiles)",
               "windows": "乡镇窗口 (township windows)", "district": "全区目录 (district folder)",
               "atlas": "atlas.pdf", "switch": "移入 (move into place)"}


def _stages(stages: dict) -> None:
    """The per-stage time table of ``-v``."""
    rows = []
    for key, sec in stages.items():
        if key in ("pdf_sheets", "pdf_cpu"):
            continue
        rows.append([STAGE_NAMES.get(key, key), f"{sec:.2f}"])
        if key == "pdf" and stages.get("pdf_sheets"):
            n = int(stages["pdf_sheets"])
            rows.append([f"  每张 (per sheet, {n} 张)", f"{stages['pdf_cpu'] / n:.2f}"])
    echo_table(["阶段 (stage)", "秒 (s)"], rows)


def _table(report):
    echo_table(["区域", "1级", "2级", "3级", "4级", "5级", "输出目录"],
               [[a.name, *(str(a.counts[c]) for c in range(1, 6)), str(a.folder)]
                for a in report.areas])
