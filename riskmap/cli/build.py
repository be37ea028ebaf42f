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


@cli.command()
@project_arg
@click.option("--township", "townships", multiple=True, metavar="NAME",
              help="Build only this township (repeatable). Default: district + all townships.")
@out_opt
@click.option("--cell-size", type=float, metavar="M", help="Analysis cell size in metres.")
@overwrite_opt
@click.option("--atlas", is_flag=True, help="Also write all built townships into atlas.pdf.")
@click.option("--paper", type=click.Choice(["A3", "A4"]), help="Page size of map.pdf.")
@click.option("--orientation", type=click.Choice(["landscape", "portrait"]),
              help="Orientation of map.pdf.")
@verbose_opt
@quiet_opt
@debug_opt
@click.pass_context
def build(ctx, project, townships, out, cell_size, overwrite, atlas, paper,
          orientation, verbose, quiet, debug):
    """Build patrol-priority outputs for PROJECT (生成巡查优先级图)."""
    from riskmap.pipeline.build import build as run_build
    from riskmap.pipeline.project import load_project

    setup(ctx, verbose, quiet, debug)
    t0 = time.perf_counter()
    proj = load_project(project)
    if cell_size:
        proj = proj.with_cell_size(cell_size)

    progress = progress_printer(quiet == 0)

    report = run_build(proj, out=Path(out) if out else None, townships=list(townships),
                       overwrite=overwrite, progress=progress, atlas=atlas, paper=paper,
                       orientation=orientation)
    if quiet < 2:
        _table(report)
        click.echo(f"总用时 (total) {time.perf_counter() - t0:.1f} s; "
                   f"计算 (compute) {report.timings['compute_s']:.2f} s")


def _table(report):
    echo_table(["区域", "1级", "2级", "3级", "4级", "5级", "输出目录"],
               [[a.name, *(str(a.counts[c]) for c in range(1, 6)), str(a.folder)]
                for a in report.areas])
