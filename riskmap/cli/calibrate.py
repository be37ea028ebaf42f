"""``riskmap calibrate`` (weights from incidents) and ``riskmap ahp`` (expert weights)."""

from __future__ import annotations

import json
import math
import time

import click

from riskmap.cli import cli, setup
from riskmap.cli.options import debug_opt, project_arg, quiet_opt, verbose_opt
from riskmap.cli.text import echo_table, progress_printer


@cli.command(short_help="由事件标定权重 (calibrate weights from incidents).")
@project_arg
@click.option("--until", metavar="DATE",
              help="只用此日之前的事件, 如 2024-01-01 (use incidents dated before this day).")
@click.option("--write", "write", metavar="FILE", type=click.Path(dir_okay=False),
              help="将标定后的项目写入 FILE (.yaml) (write the project with the calibrated "
                   "weights and ranges to FILE).")
@click.option("--overwrite", is_flag=True, help="替换已有的 FILE (replace FILE if it exists).")
@click.option("--out", "out", type=click.Path(file_okay=False), metavar="DIR",
              help="把 calibration.json 与 score_interval.tif (每格区间) 写入此目录; 有 --write "
                   "时默认 <output>/calibration (write the calibration files here).")
@click.option("--seed", type=int,
              help="交叉验证分组的随机种子; 默认 calibration.seed, 否则 0 (seed of the "
                   "cross-validation folds; default: calibration.seed, else 0).")
@click.option("--json", "as_json", is_flag=True,
              help="以一个 JSON 对象输出结果 (print the result as one JSON object).")
@verbose_opt
@quiet_opt
@debug_opt
@click.pass_context
def calibrate(ctx, project, until, write, overwrite, out, seed, as_json, verbose, quiet,
              debug):
    """权重标定: 由事件标定因子的权重和范围 (calibrate PROJECT's factor weights and ranges).

    用项目的事件 (案件、线索) 拟合, 空间分块交叉验证 (fitted to the project's
    incidents, with spatially blocked cross-validation).
    """
    from riskmap.models.calibrate import cpu_note
    from riskmap.pipeline.calibrate import calibrate_project
    from riskmap.pipeline.project import load_project

    setup(ctx, verbose, quiet, debug)
    t0 = time.perf_counter()
    project = load_project(project)
    progress = progress_printer(quiet == 0 and verbose > 0)
    res, target = calibrate_project(project, until=until, seed=seed, write=write,
                                    overwrite=overwrite, out=out, progress=progress)
    if as_json:
        click.echo(json.dumps(res.to_dict(), ensure_ascii=False, indent=1))
        return
    if quiet >= 2:
        return
    _calibration_table(res)
    total = time.perf_counter() - t0
    click.echo(f"用时 (time) {total:.1f} s: read {res.timings['read_s']:.1f} s, factors "
               f"{res.timings['factors_s']:.1f} s, fit + CV {res.timings['fit_s']:.1f} s "
               f"({cpu_note()})")
    if target is not None:
        click.echo(f"已写出 (written) {target}")
    for path in res.written.values():
        click.echo(f"已写出 (written) {path}")


def _calibration_table(res):
    head = ["因子 factor", "名称 label", "形式 form", "权重 weight", "RR [95 % CI]",
            "结果 result"]
    rows = []
    for f in res.factors:
        if math.isfinite(f.se):
            lo, hi = f.rr_ci
            rr = f"{f.rr:.2f} [{lo:.2f}, {hi:.2f}]"
        else:
            rr = f"{f.rr:.2f}" if f.kept else "—"
        result = "保留 kept" if f.kept else f"剔除 dropped: {f.reason}"
        if f.kept and f.added:
            result = "加入 added" + (f": {f.reason}" if f.kind == "raster" else "")
        if f.periods:
            result += f"; {f.periods}"
        if f.prior_beta is not None:
            result += f"; AHP prior β {f.prior_beta:.2f} → {f.beta:.2f} (moved {f.moved:+.2f})"
        rows.append([f.name, f.label, f.form or "—", f"{f.weight:g}", rr, result])
    echo_table(head, rows)
    o = res.options
    ev = f"事件 events {res.n_events} in {res.n_cells} cells of {res.project.patrol_cell_size:g} m"
    if res.weighted_events is not None and abs(res.weighted_events - res.n_events) > 1e-6:
        ev += f" (weighted {res.weighted_events:g})"
    if res.periods:
        ev += f"; {len(res.periods)} periods {res.periods[0]}–{res.periods[-1]}"
    click.echo(ev + (f"; before {res.until}" if res.until else ""))
    click.echo(f"交叉验证 CV ({o.folds} spatial folds, {o.block_size:g} m blocks, seed {o.seed}): "
               f"deviance {res.cv_deviance:.1f} vs null {res.null_cv_deviance:.1f} "
               f"({res.deviance_explained:.1%} explained); ridge λ = {res.penalty:g}; "
               "RR for factor value 1 vs 0, 95 % Wald interval (penalised Fisher information)")
    if res.ahp is not None:
        click.echo(f"AHP prior: CR {res.ahp.cr:.3f} (RI {res.ahp.ri_table}); rescaled by "
                   f"{res.prior_scale:.3g} to the fitted scale and used as the ridge centre")
    for n in res.notes:
        click.echo(f"注 (note): {n}")


@cli.command(short_help="层次分析法权重 (AHP weights and consistency).")
@project_arg
@click.option("--random-index", "random_index", metavar="TABLE",
              help="随机一致性指标表: saaty1980 或 alonso-lamata2006; 默认 ahp.random_index, "
                   "否则 saaty1980 (random-index table; default: ahp.random_index, else "
                   "saaty1980).")
@verbose_opt
@quiet_opt
@debug_opt
@click.pass_context
def ahp(ctx, project, random_index, verbose, quiet, debug):
    """层次分析法权重与一致性比率 (AHP weights and consistency ratio of PROJECT's matrix)."""
    from dataclasses import replace

    from riskmap.models.ahp import CR_LIMIT, ahp_from_project
    from riskmap.pipeline.project import load_project

    setup(ctx, verbose, quiet, debug)
    project = load_project(project)
    if random_index and project.ahp:
        project = replace(project, ahp={**project.ahp, "random_index": random_index})
    res = ahp_from_project(project)
    labels = {f.name: f.label for f in project.factors}
    weights = {f.name: f.weight for f in project.factors}
    rows = [[n, labels.get(n, ""), f"{w:.4f}", f"{100 * w:.1f}", f"{weights.get(n, 0):g}"]
            for n, w in zip(res.names, res.weights, strict=True)]
    echo_table(["因子 factor", "名称 label", "AHP 权重 weight", "%", "项目权重 project"], rows)
    verdict = "一致 consistent" if res.cr < CR_LIMIT else "不一致 inconsistent (CR ≥ 0.1)"
    click.echo(f"λmax {res.lambda_max:.4f}, CI {res.ci:.4f}, RI {res.ri:g} ({res.ri_label}), "
               f"CR {res.cr:.4f}: {verdict}")
    if res.cr >= CR_LIMIT:
        click.echo(f"最不一致的判断 (most inconsistent pair): {res.pair_text()}")
