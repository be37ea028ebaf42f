"""``riskmap check``: diagnose a project's layers without building."""

from __future__ import annotations

import sys

import click

from riskmap.cli import cli, setup
from riskmap.cli.options import debug_opt, quiet_opt, verbose_opt


@cli.command()
@click.argument("project")
@verbose_opt
@quiet_opt
@debug_opt
@click.pass_context
def check(ctx, project, verbose, quiet, debug):
    """Check PROJECT's layers (检查图层); exit 0 only if it can build."""
    from riskmap.check import check_project
    from riskmap.cli.build import _pad, _w
    from riskmap.project import load_project

    setup(ctx, verbose, quiet, debug)
    proj = load_project(project)
    rows, problems = check_project(proj)
    head = ["用途", "要素数", "几何类型", "坐标系", "编码", "范围", "空/修复", "来源"]
    table = [[r.role, "" if r.features is None else str(r.features), r.geom_types, r.crs,
              r.encoding, r.extent, f"{r.empty}/{r.repaired}", r.source] for r in rows]
    widths = [max(_w(x[i]) for x in [head, *table]) for i in range(len(head))]
    for r in [head, *table]:
        click.echo("  ".join(_pad(v, w) for v, w in zip(r, widths, strict=True)).rstrip())
    for r in rows:
        for n in r.notes:
            click.echo(f"注意 {r.role}: {n}")
    if problems:
        for p in problems:
            click.echo(f"错误: {p}", err=True)
        click.echo(f"不能生成 (cannot build): {len(problems)} problem(s)", err=True)
        sys.exit(1)
    click.echo("可以生成 (ready to build)")
