"""The field loop's inputs and the build's settings, read as the commands read them.

Village points (``plan``'s :func:`~riskmap.load.roster.read_village_points`),
the roster (:func:`~riskmap.load.roster.read_roster`), the history database
(:func:`~riskmap.field.historyfile.check_history`: checked read-only, never
created), the plan options (:meth:`~riskmap.field.rules.PlanConfig.from_project`),
the map font (:func:`~riskmap.export.fonts.find_cjk_font`), the areas and their
output folders (as ``build`` names them).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import shapely

from riskmap.errors import RiskmapError
from riskmap.export.atomic import safe_name
from riskmap.export.fonts import find_cjk_font
from riskmap.field.historyfile import check_history
from riskmap.field.rules import PlanConfig
from riskmap.load.layers import read_source
from riskmap.load.roster import read_roster, read_village_points
from riskmap.models.power import ambiguous_villages
from riskmap.pipeline.checks import Run
from riskmap.pipeline.checks.power import meter_commands
from riskmap.score.engine import district_grid
from riskmap.score.memory import grid_budget, require_fits

__all__ = ["check_build_settings", "check_field_inputs"]

SHOWN = 8  # names written out in a note


def check_field_inputs(run: Run) -> None:
    """Village points, roster, history and plan options."""
    p = run.project
    _village_points(run)
    if p.roster:
        _roster(run)
    plan = run.row("plan (巡查计划设置)", p.path, ("plan",))
    plan.source = f"{p.path} (plan)"
    cfg = run.attempt(plan, PlanConfig.from_project, p)
    if cfg is not None:
        run.note(plan, f"每村 {cfg.per_village} 格, {cfg.min_class} 级及以上 (cells per "
                       f"village, from class {cfg.min_class}), seed {cfg.seed}")
        if cfg.roads is not None:
            run.note(plan, f"plan.roads {cfg.roads}: 本版未使用 (not used yet: tours are "
                           "straight lines)")
    _history(run)


def _village_points(run: Run) -> None:
    p = run.project
    if p.village_points is None:
        return
    # the meter table's users are placed at the points: its readers read them too
    used = ("plan", *meter_commands(run)) if p.power else ("plan",)
    row = run.row("village_points", p.village_points.source, tuple(dict.fromkeys(used)))
    vp = run.attempt(row, read_village_points, p)
    if vp is None:
        return
    src = p.village_points.source
    if src.key not in run.cache:  # the layer as read (its CRS and encoding), for the row
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # said when read_village_points read it
            run.cache[src.key] = read_source(src, p.crs)
    info = run.cache[src.key][1]
    row.features, row.geom_types = len(vp), "Point"
    row.crs, row.encoding = info.crs or p.crs, info.encoding or ""
    run.note(row, *(f"识别 (detected): {d}" for d in info.detected), *info.notes)
    if run.district is None or vp.empty:
        return
    inside = shapely.intersects(vp.geometry.values, run.district)
    row.extent = f"{inside.mean():.0%} 在区内"
    if not inside.all():
        names = _names(vp[~inside])
        run.note(row, f"{int((~inside).sum())} 个村委会点在区外 (committee points outside the "
                      f"district): {names}; plan starts those villages' tours there — check "
                      "the layer's CRS or the points")
    villages = run.inputs.villages if run.inputs is not None else None
    if villages is not None and "township" in vp.columns:
        have = set(zip(villages.get("township", [None] * len(villages)), villages["name"],
                       strict=True))
        miss = [(t, n) for t, n in zip(vp["township"], vp["name"], strict=True)
                if (t, n) not in have]
        if miss:
            run.note(row, f"{len(miss)} 个村委会点的 (乡镇, 村) 不在村界中 (points whose "
                          f"township and village are not in the villages layer): "
                          + ", ".join(f"{t} {n}" for t, n in miss[:SHOWN]))


def _names(gdf) -> str:
    pairs = [f"{t} {n}" if t else str(n) for t, n in
             zip(gdf.get("township", [None] * len(gdf)), gdf["name"], strict=True)]
    return ", ".join(pairs[:SHOWN]) + (f" … {len(pairs) - SHOWN} more"
                                       if len(pairs) > SHOWN else "")


def _roster(run: Run) -> None:
    p = run.project
    # weekly counts planned vs checked per responsible cadre from the roster
    used = ("plan", "weekly", "power-check") if p.power else ("plan", "weekly")
    row = run.row("roster (网格责任人)", p.roster["source"], used)
    roster = run.attempt(row, read_roster, p)
    if roster is None:
        return
    pairs = {k for k in roster.by_village if k[0] is not None}
    names = {k[1] for k in roster.by_village if k[0] is None}
    row.features = len(pairs or names) + len(roster.by_cell)
    row.geom_types = "table"
    run.note(row, f"{len(pairs or names)} 个村 (villages), {len(roster.by_cell)} 个网格 (cells)"
                  + ("; 按 (乡镇, 村) 对应 (matched on township and village)" if pairs else ""))
    villages = run.inputs.villages if run.inputs is not None else None
    if villages is None:
        return
    towns = (villages["township"] if "township" in villages.columns
             else [None] * len(villages))
    listed = list(zip(towns, villages["name"], strict=True))
    # the lookup plan and 供电台账 make: (township, village), else the village name
    none = [f"{t} {v}" if t else v for t, v in listed if not roster.lookup(t, v, None)[0]]
    if none:
        run.note(row, f"{len(none)} 个村无责任人 (villages with no cadre in the roster; plan "
                      f"leaves 责任人 blank): {', '.join(none[:SHOWN])}"
                      + (f" … {len(none) - SHOWN} more" if len(none) > SHOWN else ""))
    twice = {name for name, _ in ambiguous_villages(villages, None).values()}
    if pairs:
        extra = sorted(f"{t} {v}" for t, v in pairs - set(listed))
        if extra:
            run.note(row, f"{len(extra)} 行的 (乡镇, 村) 不在村界中 (roster rows naming no "
                          f"village of the layer): {', '.join(extra[:SHOWN])}")
        borrowed = [f"{t} {v}" for t, v in listed
                    if v in twice and (t, v) not in roster.by_village
                    and roster.lookup(t, v, None)[0]]
        if borrowed:
            run.note(row, f"同名村借用另一乡镇的责任人 (a village of a duplicated name without "
                          f"its own row gets the other township's cadre): "
                          f"{', '.join(borrowed[:SHOWN])}")
    elif twice & names:
        run.note(row, f"名单无乡镇列, 同名村共用一个责任人 (no township column: a name in "
                      f"two townships gets one cadre): {', '.join(sorted(twice & names)[:SHOWN])}")


def _history(run: Run) -> None:
    p = run.project
    path = Path(p.history)
    row = run.row("history (历史数据库)", path, ("plan", "ingest", "weekly"))
    row.geom_types = "GeoPackage"
    got = run.attempt(row, check_history, path, p.crs)
    if row.problems:
        return
    if got is None:
        parent = next((q for q in path.parents if q.exists()), None)
        if parent is None or not os.access(parent, os.W_OK):
            run.refuse(row, f"{path}: 不能创建历史数据库 (cannot create the history database): "
                            f"{parent} is not writable; set `history:` to a writable place")
            return
        run.note(row, "尚不存在, 第一次 plan/ingest 时创建 (does not exist yet: the first plan "
                      "or ingest creates it)")
        return
    weeks = " … ".join(got["weeks"]) or "-"
    run.note(row, f"计划 {got.get('plan_runs', 0)} 次, 排查记录 {got.get('inspections', 0)} 条, "
                  f"回收台账 {got.get('ingested_files', 0)} 份 (plan runs, inspections, "
                  f"returned files); 周 (weeks) {weeks}")


def check_build_settings(run: Run) -> None:
    """The map font, the areas' names and output folders, as ``build`` reads them."""
    p = run.project
    font = p.map.get("font")
    row = run.row("map font (字体)", font or "(自动 auto)", ("build", "weekly"))
    row.geom_types = "font"
    hit = run.attempt(row, find_cjk_font, font)
    if hit is not None:
        row.source = f"{font} → {hit}" if font else str(hit)
    out = run.row("output (输出)", p.output, ("build",))
    out.geom_types = "folder"
    if run.district is not None:  # the grid the one-grid engine would allocate
        grid = district_grid(p, run.district)
        budget = grid_budget(grid, len(p.factors))
        grow = run.row("grid (网格)", f"{p.cell_size:g} m / {p.patrol_cell_size:g} m",
                       ("build", "calibrate", "evaluate", "plan", "ingest", "weekly"))
        grow.geom_types = "grid"
        grow.features = budget.cells
        if run.attempt(grow, require_fits, budget, p.path) is not None or budget.fits:
            run.note(grow, f"网格 (grid) {budget.text()}")
    if run.inputs is None:
        return
    run.attempt(out, _area_folders, p, list(run.inputs.townships["name"]))
    existing = [d.name for d in (p.output.iterdir() if p.output.is_dir() else [])
                if d.is_dir() and not d.name.startswith(".")]
    if existing:
        run.note(out, f"已有 {len(existing)} 个输出文件夹 (output folders exist: build needs "
                      f"--overwrite or --out elsewhere): {', '.join(sorted(existing)[:SHOWN])}")


def _area_folders(project, names: list[str]) -> None:
    """Refuse the areas as ``build`` does.

    A district label that is also a township name, or two areas whose folder
    names (made safe for Windows) are the same.
    """
    from riskmap.pipeline.area import DISTRICT_LABEL

    label = project.district.label or DISTRICT_LABEL
    if label in names:  # the message build gives (riskmap.pipeline.build._areas)
        raise RiskmapError(f"district.label {label!r} is also a township name; set "
                           "district.label in the project file to something else")
    seen: dict[str, str] = {}
    for name in [label, *names]:
        folder = safe_name(name).casefold()
        if folder in seen and seen[folder] != name:  # as riskmap.pipeline.build._folders
            raise RiskmapError(f"乡镇 {seen[folder]!r} and {name!r} would share the output "
                               f"folder {safe_name(name)!r} (names made safe for Windows); "
                               "rename one in the townships layer")
        seen[folder] = name
