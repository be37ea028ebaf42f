"""The weekly field loop's commands: ``riskmap plan``, ``riskmap ingest``, ``riskmap weekly``.

Each one checks its outputs before heavy work, computes with :mod:`riskmap.field`
(which returns plans and tables, and keeps the history database) and hands the
results to the writers of :mod:`riskmap.export` (ledger, field files, weekly).
The scored cells are the last build's when its inputs are unchanged
(:func:`riskmap.pipeline.lastbuild.last_surface`), else scored again; each
command says which through ``say``.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from riskmap.errors import GridError, RiskmapError
from riskmap.export.atomic import check_free, lock, safe_name
from riskmap.export.fieldfiles import write_gpx, write_kmz, write_ovital_txt
from riskmap.export.fonts import find_cjk_font
from riskmap.export.ledger import write_ledger_csv, write_ledger_xlsx
from riskmap.export.pdf.layout import fmt_scale
from riskmap.export.pdf.plansheet import PlanAreas, PlanSheetInfo, write_plan_pdf
from riskmap.export.weekly import WEEKLY_FILES, write_weekly
from riskmap.field.effort import cell_effort, overdue_cells
from riskmap.field.history import History, Week
from riskmap.field.historyfile import open_history, require_writable
from riskmap.field.ingest import FileReport, ingest_file, settled
from riskmap.field.plan import TownshipPlan, make_plan, record_plan
from riskmap.field.rules import Override, PlanConfig
from riskmap.field.weekly import WeeklySummary, weekly_summary
from riskmap.grid.cellid import parse_cell_id
from riskmap.load.inputs import area_inputs, load_inputs, read_areas
from riskmap.load.project import Project
from riskmap.load.roster import read_roster, read_village_points
from riskmap.pipeline.area import reference_of
from riskmap.pipeline.lastbuild import last_surface
from riskmap.pipeline.prepare import require_townships
from riskmap.score.cells import require_interval
from riskmap.score.engine import compute

__all__ = ["PLAN_FILES", "WEEKLY_FILES", "PlanReport", "default_plan_root",
           "default_weekly_root", "ingest_files", "plan_areas", "run_plan", "run_weekly",
           "write_plan"]

#: what ``plan`` writes per township: the plan sheet, the ledger (xlsx and its CSV twin),
#: the phone and GPS files, the 奥维 waypoints; every cell carries the same visit number
PLAN_FILES = ("plan.pdf", "ledger.xlsx", "ledger.csv", "patrol.kmz", "patrol.gpx",
              "patrol_ovital.txt")


@dataclass
class PlanReport:
    """What :func:`run_plan` wrote."""

    week: Week
    plans: list[TownshipPlan]
    folders: dict[str, Path]
    files: list[Path]
    seconds: float
    run_ids: dict[str, int] = field(default_factory=dict)
    sheets: dict[str, PlanSheetInfo] = field(default_factory=dict)
    #: the last build's cells were used (else the surface was scored again)
    reused: bool = False


def default_plan_root(project: Project, week: Week) -> Path:
    """``<project output>/plan/<week>``: where a week's township folders go by default."""
    return project.output / "plan" / str(week)


def default_weekly_root(project: Project, week: Week) -> Path:
    """``<project output>/weekly/<week>``: where a week's summary goes by default."""
    return project.output / "weekly" / str(week)


# --------------------------------------------------------------------------- plan
def run_plan(project: Project, week, *, townships=None, out=None, overwrite: bool = False,
             paper: str = "A4", progress=None, record: bool = True,
             overrides: list[Override] | tuple = (), rescore: bool = False,
             say=None) -> PlanReport:
    """Compute the surface, plan the week and write every township's files.

    Parameters
    ----------
    project : Project
    week : Week or str
        ``2026-W49``.
    townships : list of str, optional
        Default: all.
    out : Path, optional
        Root folder; files go to ``<out>/<township>/`` (default
        :func:`default_plan_root`).
    overwrite : bool
        Replace existing files (else an existing file is an error, before
        anything is written).
    paper : {"A4", "A3"}
        Paper of the plan sheet and print setup of the ledger.
    progress : callable, optional
        Called with a short message per step.
    record : bool
        Store the plan in the history database (default True).
    overrides : list of Override
        The analyst's additions and suppressions of cells for this week
        (:func:`riskmap.field.rules.parse_overrides`); recorded with the plan.
    rescore : bool
        Score the surface again even when the last build's cells still hold.
    say : callable, optional
        Called with one line: the last build's cells reused, or rescored and why
        (:attr:`riskmap.pipeline.lastbuild.LastBuild.line`).

    Returns
    -------
    PlanReport

    Raises
    ------
    RiskmapError
        Unknown township, existing files without ``overwrite``, bad layers, an
        override of a cell outside the district or the townships planned.
    """
    week = Week.parse(week)
    root = Path(out) if out else default_plan_root(project, week)
    # one riskmap at a time writes these folders and records into this history
    with lock(root), (_history_lock(project) if record else nullcontext()):
        if record:  # before the heavy work: a plan that cannot be recorded writes nothing
            require_writable(project)
        return _run_plan(project, week, root, townships, overwrite, paper, progress, record,
                         list(overrides), rescore, say)


def _history_lock(project: Project):
    return lock(project.history, "历史库 (history database) ", "wait for it to finish")


def _run_plan(project, week, root, townships, overwrite, paper, progress, record, overrides,
              rescore=False, say=None):
    t0 = time.perf_counter()
    cfg = PlanConfig.from_project(project)
    for o in overrides:  # before the heavy work: the form of each id
        try:
            parse_cell_id(o.cell_id, project.patrol_cell_size)
        except GridError as e:
            raise RiskmapError(f"--{o.action} {o.cell_id}: {e}") from None
    # the small layers first: a wrong township, a stale interval or an existing output is
    # said before the big layers are read
    cache = {}
    district, towns = read_areas(project, cache)
    require_interval(project, district)
    names = list(towns["name"])
    wanted = list(townships) if townships else names
    require_townships(names, wanted)
    folders = {t: root / safe_name(t) for t in wanted}
    for t in wanted:
        for f in PLAN_FILES:
            check_free(folders[t] / f, overwrite)
    font = find_cjk_font(project.map.get("font"))  # before the heavy work: plan.pdf needs one
    last = last_surface(project, rescore=rescore)  # hashes the inputs, reads no layer
    # with the last build's cells only the areas are read (names, outlines, start points)
    inputs = (area_inputs(project, cache) if last.reused
              else load_inputs(project, progress, cache=cache))
    reference_of(project, inputs)  # before scoring: a bad reference layer is said now
    roster = read_roster(project)
    vpoints = read_village_points(project)
    if say:
        say(last.line)
    surface = last.surface
    if surface is None:
        if progress:
            progress("计算风险面 (scoring)")
        surface = compute(project, inputs, progress)
    # without recording, a project that has no history yet gets none created
    # (a read-only project folder works with --no-record and --out elsewhere)
    have = project.history is not None and Path(project.history).exists()
    with open_history(project) if (record or have) else nullcontext(None) as hist:
        # every earlier inspection: the ranking reads the last weeks, exploration all of them
        past = hist.inspections(None, week.shift(-1)) if hist is not None else None
        previous = hist.planned(week.shift(-1)) if hist is not None else None
        plans = make_plan(project, surface, inputs, week, townships=wanted, inspections=past,
                          roster=roster, village_points=vpoints, previous=previous,
                          overrides=overrides)
        report = PlanReport(week, plans, folders, [], 0.0, reused=last.reused)
        for tp in plans:
            if progress:
                progress(f"输出 {tp.township} ({len(tp.cells)} 个网格)")
            report.files += write_plan(tp, folders[tp.township], overwrite=overwrite,
                                       paper=paper, areas=plan_areas(inputs, tp.township, project),
                                       font=font, sheets=report.sheets)
            if progress:
                sh = report.sheets[tp.township]
                scales = sorted(set(sh.scales)) or [0]
                progress(f"plan.pdf {tp.township}: {sh.pages} 页, 比例尺 1:{fmt_scale(scales[0])}"
                         + (f"–1:{fmt_scale(scales[-1])}" if len(scales) > 1 else "")
                         + f", {sh.seconds:.1f} s")
            if record:
                report.run_ids[tp.township] = record_plan(hist, tp, cfg)
    report.seconds = time.perf_counter() - t0
    return report


def plan_areas(inputs, township: str, project: Project | None = None) -> PlanAreas:
    """What the plan sheet of ``township`` draws under the cells, from the inputs.

    The township and villages; given the project, its reference layers (read
    once per run: :func:`riskmap.pipeline.area.reference_of`) around the township.
    """
    from riskmap.pipeline.area import around, reference_of

    towns = inputs.townships
    names = list(towns["name"])
    geom = towns.geometry.values[names.index(township)] if township in names else None
    vill = inputs.villages
    if vill is not None and len(vill):
        vill = vill[["name", "geometry"]] if "name" in vill else None
    ref = reference_of(project, inputs) if project is not None else None
    if ref and geom is not None:
        ref = ref.clip(around(geom))
    return PlanAreas(geom, vill, ref or None)


def write_plan(tp: TownshipPlan, folder: Path, *, overwrite: bool = False,
               paper: str = "A4", areas: PlanAreas | None = None, font=None,
               sheets: dict | None = None) -> list[Path]:
    """Write one township's :data:`PLAN_FILES` into ``folder``, each atomically.

    Parameters
    ----------
    tp : TownshipPlan
    folder : Path
    overwrite : bool
        Replace existing files.
    paper : {"A4", "A3"}
        Paper of plan.pdf and the ledger's print setup.
    areas : PlanAreas, optional
        Outlines drawn on plan.pdf (:func:`plan_areas`).
    font : path, optional
        CJK font of plan.pdf (default: found on the system).
    sheets : dict, optional
        Receives ``{township: PlanSheetInfo}`` (pages, scales, seconds).

    Returns
    -------
    list of Path
        In the order of :data:`PLAN_FILES`.
    """
    info = write_plan_pdf(tp, folder / "plan.pdf", areas=areas, paper=paper, font=font,
                          overwrite=overwrite)
    if sheets is not None:
        sheets[tp.township] = info
    write_ledger_xlsx(tp, folder / "ledger.xlsx", overwrite=overwrite, paper=paper)
    write_ledger_csv(tp, folder / "ledger.csv", overwrite=overwrite)
    write_kmz(tp, folder / "patrol.kmz", overwrite=overwrite)
    write_gpx(tp, folder / "patrol.gpx", overwrite=overwrite)
    write_ovital_txt(tp, folder / "patrol_ovital.txt", overwrite=overwrite)
    return [folder / f for f in PLAN_FILES]


# --------------------------------------------------------------------------- ingest
def ingest_files(project: Project, paths, *, week=None, surface=None,
                 history: History | None = None, progress=None,
                 force: bool = False, rescore: bool = False, say=None) -> list[FileReport]:
    """Read returned ledgers and store them in the project's history database.

    Parameters
    ----------
    project : Project
    paths : iterable of path
        Returned ``.xlsx``/``.csv`` files.
    week : Week or str, optional
        Week of every file (default: what each file says).
    surface : Surface, optional
        Scored surface (default: the last build's cells when its inputs are
        unchanged, else computed from the project).
    history : History, optional
        Open database (default: the project's, opened and closed here).
    progress : callable, optional
        Called with a short message per file.
    force : bool
        Read files that went in whole before again (rows are still stored once).
    rescore : bool
        Without ``surface``: score again even when the last build's cells hold.
    say : callable, optional
        Without ``surface``: called with the line saying which cells are used.

    Returns
    -------
    list of FileReport
        One per file (see :func:`riskmap.field.ingest.ingest_file`).
    """
    week = Week.parse(week) if week else None
    with (_history_lock(project) if history is None else nullcontext(),
          open_history(project) if history is None else nullcontext(history) as hist):
        hist.require_writable()  # before the heavy work
        # missing, unreadable and already ingested files are known before any scoring
        first = [settled(hist, p, force=force)[0] for p in map(Path, paths)]
        if surface is None and any(r is None for r in first):
            surface = _surface(project, rescore, say, progress)
        reports = []
        for p, done in zip(map(Path, paths), first, strict=True):
            if done is None:
                if progress:
                    progress(f"读取 {p.name}")
                done = ingest_file(hist, p, project, surface, week, force=force)
            reports.append(done)
    return reports


# --------------------------------------------------------------------------- weekly
def run_weekly(project: Project, week, *, out=None, overwrite: bool = False, townships=None,
               weeks: int = 8, surface=None, progress=None, rescore: bool = False,
               say=None) -> tuple[WeeklySummary, list[Path]]:
    """Write the weekly summary of ``week`` (HTML, XLSX, PNG).

    Parameters
    ----------
    project : Project
    week : Week or str
    out : Path, optional
        Folder (default :func:`default_weekly_root`).
    overwrite : bool
        Replace existing files.
    townships : list of str, optional
        Only these townships.
    weeks : int
        Weeks in the chart.
    surface : Surface, optional
        Scored surface for the overdue cells (default: the last build's cells
        when its inputs are unchanged, else computed from the project; when its
        inputs cannot be read, the summary is written without the overdue cells
        and says why).
    progress : callable, optional
        Called with a short message per step.
    rescore : bool
        Without ``surface``: score again even when the last build's cells hold.
    say : callable, optional
        Without ``surface``: called with the line saying which cells are used.

    Returns
    -------
    (WeeklySummary, list of Path)

    Raises
    ------
    ExportError
        Existing files without ``overwrite``.
    RiskmapError
        A township not in the townships layer (when that layer can be read).
    """
    week = Week.parse(week)
    if townships:  # a mistyped name is said, not summarised as an empty table
        try:
            names = list(read_areas(project, {})[1]["name"])
        except RiskmapError:  # the layer is unreadable: the history's names are all there is
            names = None
        if names is not None:
            require_townships(names, townships)
    folder = Path(out) if out else default_weekly_root(project, week)
    for f in WEEKLY_FILES:
        check_free(folder / f, overwrite)
    roster = read_roster(project)
    why = cfg = None
    try:  # the summary of the history needs neither the inputs nor the plan settings
        cfg = PlanConfig.from_project(project)
        if surface is None:
            surface = _surface(project, rescore, say, progress)
    except RiskmapError as e:
        why, surface = str(e), None
    with open_history(project) as hist:
        overdue = None
        if surface is not None:
            effort = cell_effort(hist.inspections(None, week), surface.patrol_grid, week)
            overdue = overdue_cells(surface, effort, cfg.min_class, cfg.overdue_weeks)
        summary = weekly_summary(hist, week, weeks=weeks, townships=townships, roster=roster,
                                 overdue=overdue,
                                 overdue_weeks=cfg.overdue_weeks if cfg else None)
    if why is not None:
        summary.notes.append(f"久未巡查网格未列出 (overdue cells not listed): {why}")
    files = write_weekly(summary, folder, overwrite=overwrite, project_name=project.name,
                         font_path=find_cjk_font(project.map.get("font")))
    return summary, files


def _surface(project: Project, rescore: bool, say, progress):
    """The last build's cells when they still hold, else the surface scored again."""
    last = last_surface(project, rescore=rescore)
    if say:
        say(last.line)
    if last.surface is not None:
        return last.surface
    return compute(project, load_inputs(project, progress), progress)
