"""``riskmap power-check``: score the power company's meter table, print the top users."""

from __future__ import annotations

import json

import click

from riskmap.cli import cli, setup
from riskmap.cli.options import (
    debug_opt,
    overwrite_opt,
    project_arg,
    quiet_opt,
    rescore_opt,
    say_printer,
    verbose_opt,
)
from riskmap.cli.text import echo_table, progress_printer


@cli.command("power-check", short_help="用电异常排查 (abnormal electricity users).")
@project_arg
@click.option("--top", type=click.IntRange(min=1), metavar="N",
              help="列出的用户数; 默认项目的 power.top, 否则 20 (users to print; default: "
                   "the project's power.top, else 20).")
@click.option("--min-score", type=click.FloatRange(0, 100), metavar="S",
              help="标记为异常的最低分 (0–100); 默认 power.min_score (score from which a "
                   "user is flagged; default: power.min_score).")
@click.option("--out", "out", type=click.Path(file_okay=False),
              help="把 power_anomalies.gpkg 和「供电台账.xlsx」写入此目录 (write the anomaly "
                   "layer and the ledger into this folder).")
@overwrite_opt
@click.option("--json", "as_json", is_flag=True,
              help="以一个 JSON 对象输出结果 (print the result as one JSON object).")
@rescore_opt
@verbose_opt
@quiet_opt
@debug_opt
@click.pass_context
def power_check(ctx, project, top, min_score, out, overwrite, as_json, rescore, verbose, quiet,
                debug):
    """用电异常排查: 找出电表台账中的异常用户 (find abnormal electricity users in PROJECT).

    列出得分最高的用户及其原因; 加 --out 时另写出异常图层 (GeoPackage) 和给
    供电公司的台账 (只有户号, 不含姓名) (prints the users with the highest
    scores, each with its reasons; with --out also writes the anomaly layer and
    the ledger for the power company: account numbers, no personal names).
    """
    from riskmap.pipeline.power import power_check as run_power_check
    from riskmap.pipeline.project import load_project

    setup(ctx, verbose, quiet, debug)
    proj = load_project(project)

    progress = progress_printer(quiet == 0 and not as_json)
    run = run_power_check(proj, min_score=min_score, out=out, overwrite=overwrite,
                          progress=progress, rescore=rescore, say=say_printer(quiet))
    cols = ["user_id", "category", "township", "village", "score", "onset", "placed_by",
            "reasons"]
    head = run.result.users.head(top or run.result.config.top)[cols]
    summary, written = run.summary, run.written
    if as_json:
        rows = head.astype(object).where(head.notna(), None).to_dict(orient="records")
        click.echo(json.dumps({"summary": summary, "top": rows, "written": written},
                              ensure_ascii=False))
        return
    if quiet < 2:
        _print_summary(summary)
        _print_top(head)
        if written:
            click.echo(f"已写出 (written): {written['gpkg']} ({written['users']} users), "
                       f"{written['ledger']} ({written['ledger_rows']} rows)")


def _print_summary(s: dict) -> None:
    click.echo(f"用户 (users) {s['users']}; 月份 (months) {s['months']} "
               f"{s['first_month']}–{s['last_month']}; 缺抄 (blank readings) "
               f"{s['blank_readings']}; 估抄 (estimated) {s['estimated_readings']}")
    click.echo("定位 (placed by): " + ", ".join(f"{k} {v}" for k, v in s["placed_by"].items()))
    click.echo(f"异常用户 (flagged, score ≥ {s['min_score']:g}): {s['flagged']}")
    for n in s["notes"]:
        click.echo(f"注意 (note): {n}")


def _print_top(head) -> None:
    names = ["#", "户号", "类别", "村", "分数", "起始", "定位", "异常说明"]
    rows = [[str(i + 1), r.user_id, r.category, _text(r.village), f"{r.score:.0f}",
             _text(r.onset), r.placed_by, str(r.reasons)]
            for i, r in enumerate(head.itertuples(index=False))]
    echo_table(names, rows, free_last=True)


def _text(v) -> str:
    """A cell of the table: blank for a missing value (None, NaN), never 'nan'."""
    return "" if v is None or (isinstance(v, float) and v != v) else str(v)
