"""``riskmap evaluate``: backtest a project's map against later incidents."""

from __future__ import annotations

import time

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


def _date_value(ctx, param, value):
    """An option's date, read by the one date parser (what a table may hold, 2024-01-01)."""
    from riskmap.load.values import date_of

    try:
        return date_of(value, param.opts[0])
    except ValueError as e:
        raise click.BadParameter(str(e)) from None


@cli.command(short_help="回测: 命中率、PAI、AUC (backtest against later incidents).")
@project_arg
@click.option("--split", required=True, callback=_date_value, metavar="DATE",
              help="检验期第一天, 如 2024-01-01; 图只用此前的数据 (first day of the test "
                   "period; the map uses data before it).")
@click.option("--rolling", type=click.Choice(["quarter"]),
              help="另逐一检验最近 --folds 个季度, 各用其前的数据作图 (also test each of the "
                   "last --folds calendar quarters, each on a map from data before it).")
@click.option("--folds", type=click.IntRange(min=1), default=4, show_default=True,
              help="滚动检验的份数 (number of rolling folds).")
@click.option("--raster", type=click.Path(exists=True, dir_okay=False), metavar="TIF",
              help="评估此 GeoTIFF (如 risk.tif), 而非项目的图 (score this GeoTIFF, e.g. a "
                   "risk.tif, instead of the project's map).")
@click.option("--offset", is_flag=True,
              help="另在偏移半格的巡查网格上重新计数, 看 PAI@10 的敏感性 (also re-count on the "
                   "patrol grid shifted half a cell: PAI@10 sensitivity).")
@click.option("--blocks", type=click.FloatRange(min=0, min_open=True), metavar="M",
              help="另做空间分块交叉验证: 边长 M 米的方块分成 --block-folds 份, 逐份单独评分 "
                   "(also a spatial-block CV: blocks of M metres, each fold scored alone; the "
                   "KDE made from the other blocks' cases).")
@click.option("--block-folds", type=click.IntRange(min=2), default=5, show_default=True,
              help="空间分块的份数 (folds of the spatial-block CV).")
@out_opt
@overwrite_opt
@verbose_opt
@quiet_opt
@debug_opt
@click.pass_context
def evaluate(ctx, project, split, rolling, folds, raster, offset, blocks, block_folds, out,
             overwrite, verbose, quiet, debug):
    """回测: 模型、核密度与均匀分布的命中率、PAI、PEI、AUC (backtest PROJECT).

    图用 --split 之前的数据, 以之后的事件检验 (the map uses data before --split,
    the incidents after it test it: hit rate, PAI, PEI and AUC of the model, a
    KDE and a uniform map).
    """
    from riskmap.pipeline.evaluate import backtest
    from riskmap.pipeline.project import load_project

    setup(ctx, verbose, quiet, debug)
    t0 = time.perf_counter()
    project = load_project(project)
    progress = progress_printer(quiet == 0)
    result, paths = backtest(project, split, out, overwrite=overwrite, raster=raster,
                             rolling=rolling, folds=folds, offset=offset, blocks=blocks,
                             block_folds=block_folds, progress=progress)
    out_dir = next(iter(paths.values())).parent
    if quiet < 2:
        _report(result)
        click.echo(f"输出 (written): {out_dir}  ({', '.join(p.name for p in paths.values())})")
        click.echo(f"总用时 (total) {time.perf_counter() - t0:.1f} s")


def _report(result: dict) -> None:
    from riskmap.export.evaluation import format_value
    from riskmap.models.evaluate import MAPS, TABLE_KEYS

    click.echo(f"split {result['split']}  检验期 (test) {' – '.join(result['test_period'])}  "
               f"单元 (unit) {result['unit']}  n_train {result['n_train']}  "
               f"n_test {result['n_test']}  伪变化 (negatives) {result['negatives']}")
    rows = [["", *TABLE_KEYS]]
    rows += [[name, *(format_value(k, result[name].get(k)) for k in TABLE_KEYS)]
             for name in MAPS]
    echo_table(rows[0], rows[1:], right=True)
    if "source" in result["model"] and "raster" in result["leakage_guard"]:
        click.echo(f"model = {result['model']['source']}")
    if "offset" in result:
        o = result["offset"]
        click.echo(f"网格偏移 (grid shifted {o['shift_m'][0]:g} m): " + "; ".join(
            f"{n} PAI@10 {format_value('PAI@10', o[n]['PAI@10_base'])} → "
            f"{format_value('PAI@10', o[n]['PAI@10'])} "
            f"(Δ {format_value('PAI@10', o[n]['delta_PAI@10'])})" for n in ("model", "kde")))
    if "rolling" in result:
        r = result["rolling"]
        click.echo(f"滚动检验 (rolling, {r['period']}): {r['folds_used']} of "
                   f"{r['folds_asked']} folds")
        keys = ("PAI@10", "AUC")
        rows = [["fold", "n_test", *(f"{n} {k}" for n in ("model", "kde") for k in keys)]]
        for f in r["folds"]:
            if "skipped" in f:
                rows.append([f["quarter"], "–", "skipped"])
                continue
            rows.append([f["quarter"], str(f["n_test"]),
                         *(format_value(k, f[n][k]) for n in ("model", "kde") for k in keys)])
        rows.append(["mean", str(r["n_test_total"]),
                     *(format_value(k, r["mean"][n].get(k)) for n in ("model", "kde")
                       for k in keys)])
        echo_table(rows[0], rows[1:], right=True)
    if "spatial_cv" in result:
        _report_spatial(result["spatial_cv"])


def _report_spatial(sc: dict) -> None:
    from riskmap.export.evaluation import format_value

    click.echo(f"空间分块交叉验证 (spatial-block CV, {sc['block_m']:g} m blocks, "
               f"{sc['folds']} folds, seed {sc['seed']}; held-out blocks scored alone)")
    keys = ("PAI@10", "AUC")
    rows = [["fold", "n_test", *(f"{n} {k}" for n in ("model", "kde") for k in keys)]]
    for f in sc["per_fold"]:
        if "skipped" in f:
            rows.append([str(f["fold"]), "–", "skipped"])
            continue
        rows.append([str(f["fold"]), str(f["n_test"]),
                     *(format_value(k, f[n][k]) for n in ("model", "kde") for k in keys)])
    if sc.get("mean"):
        rows.append(["mean ± sd", "",
                     *(f"{format_value(k, sc['mean'][n][k])} ± {sc['sd'][n][k]:.2f}"
                       for n in ("model", "kde") for k in keys)])
    echo_table(rows[0], rows[1:], right=True)
