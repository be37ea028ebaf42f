"""``riskmap plan`` (the week's patrol lists and field files) and ``riskmap weekly``."""

from __future__ import annotations

import time
from pathlib import Path

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
from riskmap.cli.text import echo_table, progress_printer

week_opt = click.option("--week", required=True, metavar="YYYY-Www",
                        help="ISO 周, 如 2026-W49 (ISO week, e.g. 2026-W49).")


@cli.command(short_help="生成周巡查计划 (write the week's patrol plan).")
@project_arg
@week_opt
@click.option("--township", "townships", multiple=True, metavar="NAME",
              help="只做此乡镇, 可重复; 默认全部 (only this township; repeatable; "
                   "default: all).")
@click.option("--out", "out", type=click.Path(file_okay=False),
              help="根目录, 文件写入 OUT/<乡镇>/; 默认 <output>/plan/<week> (root folder; "
                   "files go to OUT/<township>/).")
@click.option("--overwrite", is_flag=True,
              help="替换已有的计划文件 (replace existing plan files).")
@click.option("--paper", type=click.Choice(["A4", "A3"]), default="A4", show_default=True,
              help="计划图 plan.pdf 和台账打印的纸张 (paper of plan.pdf and of the "
                   "ledger's print setup).")
@click.option("--no-record", is_flag=True,
              help="不把计划存入历史库, 即试运行 (do not store the plan in the history "
                   "database: a dry run).")
@click.option("--add", "adds", multiple=True, metavar="CELL=理由",
              help="本周指定巡查此网格, 须写理由, 可重复; 理由和日期记入历史库, 台账、计划图和 "
                   "KMZ 中列出 (add this cell to the week's plan, with the reason; "
                   "repeatable; recorded and shown).")
@click.option("--suppress", "suppresses", multiple=True, metavar="CELL=理由",
              help="本周取消此网格, 须写理由, 可重复; 同样记录并列出 (keep this cell out of "
                   "the week's plan, with the reason; repeatable; recorded and shown).")
@rescore_opt
@verbose_opt
@quiet_opt
@debug_opt
@click.pass_context
def plan(ctx, project, week, townships, out, overwrite, paper, no_record, adds, suppresses,
         rescore, verbose, quiet, debug):
    """生成周巡查计划图、台账和外业文件 (write the week's patrol plan for PROJECT).

    每个乡镇: plan.pdf (网格按巡查顺序编号, 1:25 000 或更大, 每村或每组村一页,
    附勾选表), ledger.xlsx (每村一个工作表及汇总), ledger.csv, patrol.kmz,
    patrol.gpx 和 patrol_ovital.txt (奥维), 同一网格各处同一编号; 计划存入项目的
    历史库 (per township: the plan sheet with the cells numbered in visiting
    order, the ledgers, and the field files for phones, GPS and 奥维, every cell
    under the same number; the plan is stored in the project's history database).
    --add / --suppress 指定或取消本周的网格 (the analyst's overrides).
    """
    import datetime as dt

    from riskmap.field.week import Week

    setup(ctx, verbose, quiet, debug)
    t0 = time.perf_counter()
    wk = Week.parse(week)  # before the heavy imports: a mistyped week is said at once

    from riskmap.field.rules import parse_overrides
    from riskmap.pipeline.field import run_plan
    from riskmap.pipeline.project import load_project

    overrides = parse_overrides(adds, suppresses,
                                date=dt.datetime.now().astimezone().isoformat(timespec="seconds"))
    project = load_project(project)

    progress = progress_printer(quiet == 0)

    report = run_plan(project, wk, townships=list(townships), out=Path(out) if out else None,
                      overwrite=overwrite, paper=paper, progress=progress,
                      record=not no_record, overrides=overrides, rescore=rescore,
                      say=say_printer(quiet))
    if quiet < 2:
        head = ["乡镇", "村", "网格", "探索", "随机抽查", "路线km", "图页", "输出目录"]
        rows = []
        for tp in report.plans:
            sheet = report.sheets.get(tp.township)
            rows.append([tp.township, str(len(tp.villages)), str(len(tp.cells)),
                         str(sum(v.count("探索") for v in tp.villages)),
                         str(sum(v.count("随机抽查") for v in tp.villages)),
                         f"{sum(v.length_m for v in tp.villages) / 1000:.1f}",
                         str(sheet.pages) if sheet else "", str(report.folders[tp.township])])
        echo_table(head, rows)
        for tp in report.plans:
            for o in tp.overrides:
                click.echo(f"{tp.township} {o.cell_id}: {o.text}")
        click.echo(f"{wk}: 总用时 (total) {time.perf_counter() - t0:.1f} s")


@cli.command(short_help="巡查周报 (weekly summary of the history).")
@project_arg
@week_opt
@click.option("--township", "townships", multiple=True, metavar="NAME",
              help="只含此乡镇, 可重复 (only this township; repeatable).")
@click.option("--out", "out", type=click.Path(file_okay=False),
              help="输出目录; 默认 <output>/weekly/<week> (folder; default: "
                   "<output>/weekly/<week>).")
@click.option("--overwrite", is_flag=True, help="替换已有文件 (replace existing files).")
@click.option("--weeks", type=click.IntRange(1, 104), default=8, show_default=True,
              help="图中的周数 (weeks in the chart).")
@rescore_opt
@verbose_opt
@quiet_opt
@debug_opt
@click.pass_context
def weekly(ctx, project, week, townships, out, overwrite, weeks, rescore, verbose, quiet, debug):
    """巡查周报: weekly.html, weekly.xlsx, weekly.png (weekly summary of PROJECT's history).

    按乡镇和村: 计划、已查、发现的网格数, 以及未上报的村 (per township and
    village: cells planned, checked, found, and the villages that returned
    nothing).
    """
    from riskmap.field.week import Week

    setup(ctx, verbose, quiet, debug)
    week = Week.parse(week)  # before the heavy imports: a mistyped week is said at once

    from riskmap.pipeline.field import run_weekly
    from riskmap.pipeline.project import load_project

    project = load_project(project)
    summary, files = run_weekly(project, week, out=Path(out) if out else None,
                                overwrite=overwrite, townships=list(townships) or None,
                                weeks=weeks, rescore=rescore, say=say_printer(quiet))
    if quiet < 2:
        t = summary.townships
        rows = [[r["乡镇"], str(r["计划网格"]), str(r["计划内已查"]), str(r["计划外排查"]),
                 str(r["发现网格"]), str(r["未上报"])] for _, r in t.iterrows()]
        echo_table(["乡镇", "计划", "计划内已查", "计划外", "发现", "未上报村"], rows)
        late = summary.not_reported
        if late:
            shown = ", ".join(f"{a} {b}" for a, b in late[:10])
            more = f" … (+{len(late) - 10}, see weekly.html)" if len(late) > 10 else ""
            click.echo(f"未上报 (no return) {len(late)} 个村: {shown}{more}")
        od = summary.overdue
        if od is not None and len(od):
            click.echo(f"久未巡查 (overdue) {int(od['久未巡查'].sum())} 个网格, 其中从未排查 "
                       f"(never checked) {int(od['从未排查'].sum())} 个; 见 weekly.html")
        click.echo(f"输出 (written): {files[0].parent}")
