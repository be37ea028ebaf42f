"""``riskmap ingest``: returned ledgers into the project's history database."""

from __future__ import annotations

import click

from riskmap.cli import cli, setup
from riskmap.cli.options import (
    debug_opt,
    project_arg,
    quiet_opt,
    rescore_opt,
    say_printer,
    verbose_opt,
)
from riskmap.cli.text import progress_printer


@cli.command(short_help="导入回收台账 (read returned ledgers into the history).")
@project_arg
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False),
                metavar="FILE...")
@click.option("--week", metavar="YYYY-Www",
              help="所有文件的周次; 默认按每行的日期, 否则按台账的周次 (week of every file; "
                   "default: the date of each row, else the ledger's week).")
@click.option("--force", is_flag=True,
              help="重新读取已完整导入过的文件 (已存的行不重复存) (read files that went in whole "
                   "before again; stored rows are not stored twice).")
@rescore_opt
@verbose_opt
@quiet_opt
@debug_opt
@click.pass_context
def ingest(ctx, project, files, week, force, rescore, verbose, quiet, debug):
    """导入回收台账: 将 FILE... 读入项目的历史库 (read returned ledgers into PROJECT's history).

    每行按网格编号匹配, 否则按坐标; 无法匹配的行列出工作表和行号后跳过;
    有错误行的文件只算部分导入, 修正后 (或加 --week) 可再次导入; 已完整导入的文件
    (内容相同) 不再读取, 除非 --force; 已存的行从不重复存; 有文件失败或有错误行时
    退出码为 1 (each row is matched to a cell by its id, else by its coordinates;
    rows that cannot be matched are listed with sheet and row and skipped; a file
    with such rows is partial and may be ingested again, corrected or with
    --week; a file that went in whole is not read again unless --force; a stored
    row is never stored twice; exit code 1 if any file failed or had bad rows).
    """
    from riskmap.pipeline.field import ingest_files
    from riskmap.pipeline.project import load_project

    setup(ctx, verbose, quiet, debug)
    project = load_project(project)

    progress = progress_printer(quiet == 0)

    reports = ingest_files(project, files, week=week, progress=progress, force=force,
                           rescore=rescore, say=say_printer(quiet))
    bad = False
    for r in reports:
        if r.status == "already":
            line = f"{r.path}: 已导入过, 未新增 (already ingested; nothing added)"
        elif r.status == "failed":
            line = f"{r.path}: 失败 (failed), 未导入"
        else:
            line = (f"{r.path}: {'再次读取, ' if r.again else ''}新增 {r.added} 条 (added), "
                    f"重复 {r.repeated} (repeated), 未填 {r.unfilled} (not filled), 错误 "
                    f"{len(r.errors)} (bad rows)" + (f", 周次 {r.week}" if r.week else "")
                    + ("" if r.complete else "; 部分导入, 修正后可再次导入 (partial: ingest it "
                       "again once corrected)"))
        if quiet < 2:
            click.echo(line)
        for e in r.errors:
            bad = True
            click.echo(f"  错误 (error): {e}", err=True)
        if verbose:
            for n in r.notes:
                click.echo(f"  注意 (note): {n}", err=True)
    if quiet < 2:
        click.echo(f"历史数据库 (history): {project.history}")
    if bad:
        ctx.exit(1)
