"""``riskmap check``: diagnose a project, or a data file or folder, without building."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from riskmap.cli import cli, setup
from riskmap.cli.options import debug_opt, quiet_opt, verbose_opt

PROJECT_SUFFIXES = (".yaml", ".yml", ".toml")


@cli.command(short_help="检查项目或数据 (check a project or data files).")
@click.argument("target", metavar="PROJECT|FILE|FOLDER")
@click.option("--district", metavar="FILE[:LAYER]",
              help="区界: 报告落在区内的要素比例 (district boundary: report the share of "
                   "features inside it).")
@click.option("--json", "as_json", is_flag=True,
              help="以一个 JSON 对象输出报告 (print the report as one JSON object).")
@click.option("--crs", help="数据的坐标系, 如 EPSG:4547, GCJ02, BD09 (coordinate system of "
                            "the data).")
@click.option("--encoding", help="文本编码, 不再自动检测 (text encoding to use instead of "
                                 "detecting it).")
@click.option("--table", type=click.Choice(["points", "corners"]), default="points",
              show_default=True,
              help="CSV/XLSX 表格的内容: 点位或拐点 (what a CSV/XLSX table holds).")
@click.option("--datum", type=click.Choice(["cgcs2000", "wgs84", "xian80", "beijing54"]),
              help="表格中高斯-克吕格坐标的大地基准 (datum of Gauss-Krüger coordinates in a "
                   "table).")
@click.option("--central-meridian", type=float,
              help="无带号东坐标的中央经线, 如 114 (central meridian of GK eastings without "
                   "a zone prefix).")
@click.option("--project", "project", metavar="PROJECT",
              help="回收的排查台账: 按此项目逐行核对 ingest 会匹配的网格和会拒绝的行 (a "
                   "returned sheet: match every row as ingest would for PROJECT, row by row; "
                   "nothing is stored).")
@click.option("--week", metavar="YYYY-Www",
              help="与 --project 同用: 台账的周次, 同 ingest --week (with --project: the "
                   "sheet's week, as ingest --week).")
@verbose_opt
@quiet_opt
@debug_opt
@click.pass_context
def check(ctx, target, district, as_json, crs, encoding, table, datum, central_meridian,
          project, week, verbose, quiet, debug):
    """检查数据: 项目的各图层, 或一个数据文件或目录 (check a project, a data file or a folder).

    项目: 每个输入都按 build、calibrate、evaluate、plan、ingest、weekly 和
    power-check 的读法读取; 没有命令会拒绝时退出码为 0 (a project: every input
    read as the commands read it; exit 0 only if none of them would refuse).

    文件或目录: 退出码 0 可直接使用, 1 按所述修复后可用, 2 拒绝; 文件只读打开,
    从不修改 (a file or folder: exit 0 usable as is, 1 usable after the stated
    repairs, 2 refused; files are opened read-only and never changed).
    """
    setup(ctx, verbose, quiet, debug)
    if Path(target).suffix.lower() in PROJECT_SUFFIXES:
        _check_project(target)
    elif project:
        _check_sheets(project, target, week, verbose)
    else:
        _check_data(target, district, as_json, crs, encoding, table, datum, central_meridian)


def _check_sheets(project, target, week, verbose):
    """Every row of the returned sheets at ``target`` matched as ``ingest`` would."""
    from riskmap.cli.text import echo_table, progress_printer
    from riskmap.pipeline.checks.sheets import check_sheets, is_returned_sheet
    from riskmap.pipeline.project import load_project

    t = Path(target)
    files = [t] if t.is_file() else sorted(p for p in t.iterdir() if is_returned_sheet(p))
    if not files:
        raise click.ClickException(f"{t}: 没有回收的排查台账 (no returned sheet: a workbook or "
                                   "table with a 排查结果 column)")
    results = check_sheets(load_project(project), files, week,
                           progress=progress_printer(verbose > 0))
    worst = 0
    for res in results:
        worst = max(worst, res.exit_code)
        if res.failed:
            click.echo(f"{res.path.name}: 拒绝 (refused): {res.failed}", err=True)
            continue
        said = {"done": "已完整导入过, ingest 不再读取 (went in whole before; ingest --force "
                        "reads it again)",
                "partial": "导入过但有行被拒绝, ingest 会再读 (read before with refused rows; "
                           "ingest reads it again)"}.get(res.state, "尚未导入 (not ingested yet)")
        click.echo(f"{res.path.name}: 周次 (week) {res.week or '?'}; {len(res.rows)} 行可匹配 "
                   f"(rows ingest would store), {len(res.errors)} 行会被拒绝 (rows it would "
                   f"refuse); {said}")
        for n in res.notes:
            click.echo(f"  注意 (note): {n}")
        echo_table(["工作表", "行", "网格编号", "村", "排查结果", "日期", "定位 (matched by)"],
                   [[r.sheet or "", str(r.row or ""), r.cell_id, r.village or "", r.result,
                     r.date.isoformat() if r.date else "", r.matched_by] for r in res.rows])
        for e in res.errors:
            click.echo(f"  拒绝 (refused): {e}", err=True)
    sys.exit(worst)


def _check_data(target, district, as_json, crs, encoding, table, datum, central_meridian):
    from riskmap.load.diagnose import render_reports
    from riskmap.pipeline.check import check_data
    from riskmap.pipeline.checks.sheets import is_returned_sheet

    reports, code = check_data(target, district=district, crs=crs, encoding=encoding,
                               table=table, datum=datum, central_meridian=central_meridian)
    if as_json:
        click.echo(json.dumps({"target": str(target), "exit_code": code,
                               "files": [r.to_dict() for r in reports]},
                              ensure_ascii=False, indent=2, default=str))
    else:
        for line in render_reports(reports):
            click.echo(line)
        if Path(target).is_file() and is_returned_sheet(target):
            click.echo("这是回收的排查台账 (a returned sheet): 加 --project PROJECT 逐行核对 "
                       "ingest 会匹配的网格和会拒绝的行 (add --project PROJECT to see, row by "
                       "row, the cell each row goes to and the rows ingest would refuse)")
    sys.exit(code)


def _check_project(project):
    from riskmap.cli.text import echo_table
    from riskmap.pipeline.check import COMMANDS, check_project_inputs
    from riskmap.pipeline.project import load_project

    res = check_project_inputs(load_project(project))
    head = ["用途", "要素数", "几何类型", "坐标系", "编码", "范围", "空/修复", "用于", "来源"]
    table = [[r.role, "" if r.features is None else str(r.features), r.geom_types, r.crs,
              r.encoding, r.extent, f"{r.empty}/{r.repaired}", _commands(r.used_by), r.source]
             for r in res.rows]
    echo_table(head, table)
    click.echo("用于 (read by): all = build, calibrate, evaluate, plan, ingest")
    for r in res.rows:
        for n in r.notes:
            click.echo(f"注意 {r.role}: {n}")
    status = {"ok": "✓", "refused": "✗", "n/a": "—"}
    line = "; ".join(f"{c} {status[res.status(c)]}" + (f" ({res.skipped[c]})"
                                                       if res.status(c) == "n/a" else "")
                     for c in COMMANDS)
    click.echo(f"命令 (commands): {line}")
    seconds = f"检查用时 (checked in) {res.seconds:.1f} s"
    if "power_s" in res.timings:
        seconds += (", 其中电表台账评分 (of which scoring the meter table) "
                    f"{res.timings['power_s']:.1f} s")
    click.echo(seconds)
    if res.problems:
        for p in res.problems:
            click.echo(f"错误 [{', '.join(p.commands)}]: {p.message}", err=True)
        refused = [c for c in COMMANDS if res.status(c) == "refused"]
        if "build" in refused:
            click.echo(f"不能生成 (cannot build): {len(res.problems)} problem(s)", err=True)
        else:
            click.echo(f"可以生成, 但 {', '.join(refused)} 会拒绝 (ready to build, but "
                       f"{', '.join(refused)} would refuse): {len(res.problems)} problem(s)",
                       err=True)
        sys.exit(1)
    click.echo("可以生成 (ready to build); 各命令均可运行 (every command accepts the project)")


def _commands(used_by) -> str:
    """The commands of a row, the five that read every layer said as one word."""
    from riskmap.pipeline.checks import LAYER_COMMANDS

    if set(LAYER_COMMANDS) <= set(used_by):
        rest = [c for c in used_by if c not in LAYER_COMMANDS]
        return "+".join(["all", *rest])
    return ",".join(used_by)
