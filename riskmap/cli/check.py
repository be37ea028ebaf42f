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
@verbose_opt
@quiet_opt
@debug_opt
@click.pass_context
def check(ctx, target, district, as_json, crs, encoding, table, datum, central_meridian,
          verbose, quiet, debug):
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
    else:
        _check_data(target, district, as_json, crs, encoding, table, datum, central_meridian)


def _check_data(target, district, as_json, crs, encoding, table, datum, central_meridian):
    from riskmap.load.diagnose import render_reports
    from riskmap.pipeline.check import check_data

    reports, code = check_data(target, district=district, crs=crs, encoding=encoding,
                               table=table, datum=datum, central_meridian=central_meridian)
    if as_json:
        click.echo(json.dumps({"target": str(target), "exit_code": code,
                               "files": [r.to_dict() for r in reports]},
                              ensure_ascii=False, indent=2, default=str))
    else:
        for line in render_reports(reports):
            click.echo(line)
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
