"""One build: project file in, one output folder per area out.

Loads and checks the layers, scores the whole district once, then writes the
district folder and one folder per township (each a window of the same grid,
so cell ids and scores agree everywhere). What each folder holds is the list
:data:`riskmap.pipeline.exporters.EXPORTERS`.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from riskmap.errors import RiskmapError
from riskmap.export.atomic import atomic_folders, check_free, lock, safe_name
from riskmap.load.inputs import Inputs, load_inputs, read_areas
from riskmap.load.project import Project
from riskmap.pipeline.area import (
    DISTRICT_LABEL,
    EXPORT_MIN_CLASS,
    AreaContext,
    area_context,
    reference_of,
)
from riskmap.pipeline.exporters import EXPORTERS, Deferred
from riskmap.pipeline.lastbuild import last_thresholds
from riskmap.pipeline.prepare import (
    WarmDrawing,
    require_grid_fits,
    require_townships,
    sheet_options,
)
from riskmap.score.cells import require_interval
from riskmap.score.engine import Surface, compute, compute_window, township_window

__all__ = ["DISTRICT_LABEL", "EXPORTERS", "EXPORT_MIN_CLASS", "AreaResult", "BuildReport",
           "build"]

log = logging.getLogger(__name__)


@dataclass
class AreaResult:
    """What one area's folder holds."""

    name: str
    folder: Path
    counts: dict[int, int]
    exported_cells: int
    seconds: float
    #: the area's own seconds per stage (cut, one per exporter, pdf), where it was
    #: written by itself in a worker; empty where areas shared their stages
    stages: dict[str, float] = field(default_factory=dict)


@dataclass
class BuildReport:
    """Everything a build did, for the CLI table and for tests."""

    project: Project
    surface: Surface
    inputs: Inputs
    areas: list[AreaResult] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    #: wall seconds per stage: read, compute, cut (the areas' windows), one per exporter
    #: (gpkg, html, tif, ...), pdf (the sheets, side by side), pdf_sheets (their count),
    #: pdf_cpu (the sheets' own seconds, summed), switch (folders moved into place)
    stages: dict[str, float] = field(default_factory=dict)


def build(project: Project, out: Path | None = None, townships=None, overwrite: bool = False,
          progress=None, atlas: bool = False, paper: str | None = None,
          orientation: str | None = None, exporters=None) -> BuildReport:
    """Build the outputs of ``project``.

    Parameters
    ----------
    project : Project
    out : Path, optional
        Output root (default: the project's ``output``).
    townships : list of str, optional
        Build only these townships (default: the district and every township).
    overwrite : bool
        Replace existing output folders.
    atlas : bool
        Also write every built township's sheet into ``<out>/atlas.pdf``.
    paper, orientation : str, optional
        Page of ``map.pdf`` (default: the project's ``map`` section, else A3 landscape).
    progress : callable, optional
        Called with a short Chinese message per step.
    exporters : sequence of callable, optional
        What each area's folder gets (default: :data:`EXPORTERS`); each is
        called as ``export(area, folder)`` in order.

    Raises
    ------
    RiskmapError
        Unknown township, existing outputs without ``overwrite``, bad layers.
    """
    out = Path(out) if out else project.output
    with lock(out):  # a second build into the same folder fails at once
        return _build(project, out, townships, overwrite, progress, atlas, paper, orientation,
                      exporters)


def _build(project, out, townships, overwrite, progress, atlas, paper, orientation, exporters):
    t0 = time.perf_counter()
    # the small layers first: a wrong township, an existing output or a grid too large
    # is said in a second, before the big layers are read
    cache = {}
    district, towns = read_areas(project, cache)
    require_grid_fits(project, district)
    require_interval(project, district)  # a stale calibration interval: said now, kept for use
    areas = _areas(project, list(towns["name"]), townships)
    folders = _folders(areas, out, overwrite)
    if atlas:
        check_free(out / "atlas.pdf", overwrite)
    sheet = sheet_options(project, paper, orientation)
    # township sheets will be drawn: the drawing modules load beside the reading and scoring
    warm = WarmDrawing(sheet["font"]) if any(idx is not None for _, idx in areas) else None
    inputs = load_inputs(project, progress, cache=cache)
    reference_of(project, inputs)  # before scoring: a bad reference layer is said now
    t_load = time.perf_counter() - t0
    surface = _score(project, inputs, areas, out, progress)
    if warm is not None:
        warm.join()  # before the output workers fork: they share what it loaded
    report = BuildReport(project, surface, inputs)
    build_date = dt.datetime.now().astimezone().isoformat(timespec="seconds")

    def cut(name, idx):
        return area_context(project, inputs, surface, name, idx, build_date=build_date,
                            sheet_opts=sheet, t_load=t_load)

    stages = {"read": t_load, "compute": surface.timings.get("compute_s", 0.0)}
    done = _write_areas(areas, folders, cut, EXPORTERS if exporters is None else exporters,
                        overwrite, progress, stages, keep_sheets=atlas)
    report.areas = [AreaResult(a.name, folders[a.name], a.counts, a.exported_cells, a.seconds,
                               a.stages) for a in done]
    pages = [a.sheet for a in done if a.sheet is not None]
    if atlas and pages:
        from riskmap.export.pdf import write_atlas

        if progress:
            progress(f"输出 图集 atlas.pdf ({len(pages)} 页)")
        t = time.perf_counter()
        write_atlas(out / "atlas.pdf", pages, **sheet)
        stages["atlas"] = time.perf_counter() - t
    report.timings = {"load_s": t_load, **surface.timings, "total_s": time.perf_counter() - t0}
    report.stages = stages
    return report


def _score(project: Project, inputs: Inputs, areas, out: Path, progress) -> Surface:
    """The district's surface; for townships alone, only their window (plus the factors' reach).

    A window's classes need the district's thresholds: the project's ``fixed``
    breaks, or the last district build's when its key holds (same inputs and
    settings, as plan and weekly reuse it); else the whole district is scored.
    """
    if any(idx is None for _, idx in areas):
        return compute(project, inputs, progress)
    thresholds, why = (project.class_breaks, "") if project.class_method == "fixed" \
        else last_thresholds(project, out)
    if thresholds is None:
        if progress:
            progress(f"全区评分 (scoring the whole district: its class thresholds are needed "
                     f"and {why})")
        return compute(project, inputs, progress)
    wins = [township_window(project, inputs, name) for name, _ in areas]
    rows = slice(min(r.start for r, _ in wins), max(r.stop for r, _ in wins))
    cols = slice(min(c.start for _, c in wins), max(c.stop for _, c in wins))
    if progress:
        progress("只计算所选乡镇的窗口 (scoring only the townships' window"
                 + (")" if project.class_method == "fixed"
                    else ", classes by the last district build's thresholds)"))
    return compute_window(project, inputs, rows, cols, thresholds=thresholds, progress=progress)


def _areas(project: Project, names: list[str], townships) -> list[tuple[str, int | None]]:
    """(name, township number) of every area to build; None is the district."""
    if townships:
        require_townships(names, townships)
        return [(t, names.index(t) + 1) for t in townships]
    label = project.district.label or DISTRICT_LABEL
    if label in names:
        raise RiskmapError(f"district.label {label!r} is also a township name; set "
                           "district.label in the project file to something else")
    return [(label, None)] + [(t, i + 1) for i, t in enumerate(names)]


def _folders(areas, out: Path, overwrite: bool) -> dict[str, Path]:
    """The output folder of each area, checked free (and distinct on Windows) before work."""
    folders = {}
    for name, _ in areas:
        folders[name] = out / safe_name(name)
        clash = [n for n, f in folders.items() if n != name
                 and f.name.casefold() == folders[name].name.casefold()]
        if clash:
            raise RiskmapError(f"乡镇 {clash[0]!r} and {name!r} would share the output folder "
                               f"{folders[name].name!r} (names made safe for Windows); rename "
                               "one in the townships layer")
        check_free(folders[name], overwrite)
    return folders


def _write_areas(areas, folders, cut, exporters, overwrite: bool, progress,
                 stages: dict | None = None, keep_sheets: bool = False) -> list:
    """Run ``exporters`` for every area, each into its own temporary folder.

    Where the platform forks and there are cores, whole areas are written side by
    side, one worker process per core (each cuts its area and runs every exporter,
    sheets included). Otherwise areas are cut one after the other and the deferred
    work (the PDF sheets) is done side by side once every area has been cut. Only
    when everything is complete do the folders move into place, all together (a
    kill during the switch is completed by the next command: never a mix of new
    and old areas). Returns a :class:`_Written` per area, in the order of ``areas``.
    """
    stages = {} if stages is None else stages
    with atomic_folders([folders[name] for name, _ in areas], overwrite) as tmps:
        workers = area_workers(len(areas))
        if workers > 1:
            t = time.perf_counter()
            done = _side_by_side(areas, tmps, cut, tuple(exporters), progress, stages,
                                 workers, keep_sheets)
            stages["areas_wall"] = time.perf_counter() - t
        else:
            done = _one_by_one(areas, tmps, cut, tuple(exporters), progress, stages)
        t_switch = time.perf_counter()
    stages["switch"] = time.perf_counter() - t_switch
    return [done[name] for name, _ in areas]


@dataclass
class _Written:
    """What the build keeps of one written area (all a worker sends back)."""

    name: str
    counts: dict[int, int]
    exported_cells: int
    seconds: float
    sheet: object = None  #: the SheetPage of map.pdf, kept for the atlas
    stages: dict = field(default_factory=dict)  #: its own seconds per stage (in a worker)

    @classmethod
    def of(cls, area: AreaContext, keep_sheet: bool = True) -> _Written:
        return cls(area.name, area.counts, len(area.cells), area.seconds,
                   area.sheet if keep_sheet else None)


def area_workers(n_areas: int) -> int:
    """Worker processes for writing ``n_areas`` areas side by side (1: one after the other).

    One per core, where the platform forks (the workers share the scored surface
    without copying it); ``RISKMAP_WORKERS`` caps it (``1`` writes one by one).
    """
    import multiprocessing as mp

    if n_areas < 2 or "fork" not in mp.get_all_start_methods():
        return 1
    cap = os.environ.get("RISKMAP_WORKERS", "").strip()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    n = min(n_areas, cores or 1)
    if cap.isdigit() and int(cap) >= 1:
        n = min(n, int(cap))
    return n


def _one_by_one(areas, tmps, cut, exporters, progress, stages) -> dict:
    tmp_of = {name: tmp for (name, _), tmp in zip(areas, tmps, strict=True)}
    return {a.name: _Written.of(a)
            for a in write_in_turn(areas, tmp_of, cut, exporters, progress, stages)}


def write_in_turn(areas, tmp_of: dict, cut, exporters, progress, stages: dict, *,
                  time_cut: bool = True) -> list[AreaContext]:
    """Cut and write ``areas`` one after the other, their deferred work drawn side by side.

    ``cut(name, idx)`` makes each :class:`AreaContext`; ``tmp_of`` maps an area's
    name to its (temporary) folder. With ``time_cut`` the cutting is added to
    ``stages["cut"]`` (a caller that times its own cut passes False). Returns the
    areas in the order of ``areas``.
    """
    done, pending = {}, []  # pending: (area, folder, exporters still to run, deferred work)

    def step(area, tmp, chain):
        rest, job = _export(area, tmp, chain, stages)
        if job is None:
            done[area.name] = area
        else:
            pending.append((area, tmp, rest, job))

    for name, idx in areas:
        if progress:
            progress(f"输出 {name}")
        t1 = time.perf_counter()
        area = cut(name, idx)
        area.seconds = time.perf_counter() - t1
        if time_cut:
            _add(stages, "cut", area.seconds)
        step(area, tmp_of[name], exporters)
    while pending:
        t = time.perf_counter()
        jobs = [job for *_, job in pending]
        cpu = _run_deferred(jobs, progress)
        _add(stages, "pdf", time.perf_counter() - t)
        _add(stages, "pdf_sheets", len(jobs))
        _add(stages, "pdf_cpu", cpu)
        todo, pending[:] = list(pending), []
        for area, tmp, rest, _ in todo:
            step(area, tmp, rest)
    return [done[name] for name, _ in areas]


#: what a forked area worker reads (set by :func:`_side_by_side` just before it forks:
#: closures cannot be pickled, a forked child inherits them)
_TASK: tuple | None = None


def _write_one(i: int) -> tuple[_Written, dict]:
    """Cut area ``i`` and run all its exporters, deferred work inline (in a worker)."""
    areas, tmps, cut, exporters, keep_sheets = _TASK
    name, idx = areas[i]
    stages: dict = {}
    t1 = time.perf_counter()
    area = cut(name, idx)
    area.seconds = time.perf_counter() - t1
    _add(stages, "cut", area.seconds)
    chain = exporters
    while chain:
        chain, job = _export(area, tmps[i], chain, stages)
        if job is None:
            break
        result, sec = _timed(job.run, *job.args)
        area.seconds += sec
        _add(stages, "pdf", sec)
        _add(stages, "pdf_sheets", 1)
        _add(stages, "pdf_cpu", sec)
        if job.finish is not None:
            job.finish(result)
    written = _Written.of(area, keep_sheets)
    written.stages = dict(stages)
    return written, stages


def _side_by_side(areas, tmps, cut, exporters, progress, stages, workers: int,
                  keep_sheets: bool) -> dict:
    """Write every area in ``workers`` forked processes, the district (the largest) first.

    ``stages`` then sums the workers' own seconds per stage (their CPU cost);
    ``areas_wall`` is the wall time of the whole.
    """
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    global _TASK
    if progress:
        progress(f"输出 {len(areas)} 个区域 (areas, {workers} 个进程 side by side)")
    order = sorted(range(len(areas)), key=lambda i: areas[i][1] is not None)
    _TASK = (areas, tmps, cut, exporters, keep_sheets)
    done = {}
    try:
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("fork"),
                                 initializer=_die_with_parent) as pool:
            futs = [pool.submit(_write_one, i) for i in order]
            try:
                for f in futs:
                    written, st = f.result()
                    for k, v in st.items():
                        _add(stages, k, v)
                    done[written.name] = written
                    if progress:
                        progress(f"输出 {written.name} ✓ ({written.seconds:.1f} s)")
            except BaseException:
                for f in futs:
                    f.cancel()
                raise
    except BrokenProcessPool:
        raise RiskmapError("输出进程意外退出 (an output worker died, out of memory?); "
                           "run again with RISKMAP_WORKERS=1 to write one area at a time"
                           ) from None
    finally:
        _TASK = None
    return done


def _add(stages: dict, key: str, seconds: float) -> None:
    stages[key] = stages.get(key, 0.0) + seconds


def _export(area: AreaContext, folder: Path, exporters, stages: dict | None = None
            ) -> tuple[tuple, Deferred | None]:
    """Run ``exporters`` in order until one defers its work; return the rest and that work.

    Their time adds up in ``area.seconds`` and, per exporter, in ``stages`` (the
    deferred work is timed by itself).
    """
    for i, export in enumerate(exporters):
        t = time.perf_counter()
        job = export(area, folder)
        took = time.perf_counter() - t
        area.seconds += took
        if stages is not None:
            _add(stages, getattr(export, "__name__", "export").removeprefix("export_"), took)
        if job is not None:
            return tuple(exporters[i + 1:]), job
    return (), None


def _die_with_parent() -> None:
    """A drawing worker ends when its build is killed (Linux), never lingers."""
    import signal
    import sys

    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PDEATHSIG
        except (OSError, AttributeError):
            pass


def _timed(run, *args):
    """``run(*args)`` and its own seconds (in the drawing worker)."""
    t = time.perf_counter()
    return run(*args), time.perf_counter() - t


def _run_deferred(jobs: list[Deferred], progress=None) -> float:
    """Run the deferred work, several at a time where there are cores; then finish each.

    Returns the jobs' own seconds, summed (their CPU cost, whatever ran side by side).
    """
    if not jobs:
        return 0.0
    if progress:
        for what in dict.fromkeys(j.what for j in jobs):
            progress(f"绘制 {sum(j.what == what for j in jobs)} {what}")
    workers = min(len(jobs), os.cpu_count() or 1)
    if workers <= 1:
        results = [_timed(job.run, *job.args) for job in jobs]
    else:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        # fork shares the loaded modules where the platform has it (not on Windows)
        ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_die_with_parent) as pool:
            futs = [pool.submit(_timed, job.run, *job.args) for job in jobs]
            results = [f.result() for f in futs]
    for job, (result, _) in zip(jobs, results, strict=True):
        if job.finish is not None:
            job.finish(result)
    return sum(sec for _, sec in results)
