"""The tiled build: a district too large for one grid, written per township from windows.

``riskmap build`` runs here by itself when the one-grid estimate
(:mod:`riskmap.score.memory`) exceeds what the build may use, or when asked
(``--tiled``, ``--scheduler``, ``--chunk``; :func:`engine_for` decides). Three steps:

1. The district tile by tile (:func:`riskmap.score.tiling.compute_tiled`, any
   dask scheduler): the score streamed into the district's ``risk.tif``; only
   the patrol-cell scores are kept (4 bytes each), so the class thresholds are
   the exact quantiles of every patrol cell, the same for every area.
2. Each township from its own window of the district grid (the bounding box of
   its patrol cells; each factor reads the features within its reach beyond it):
   a :class:`~riskmap.score.engine.Surface` of the window
   (:func:`~riskmap.score.tiling.window_surface`), cut by
   :func:`~riskmap.pipeline.area.area_context` and written by the same
   :data:`~riskmap.pipeline.exporters.EXPORTERS` as the one-grid build: cell ids,
   scores and classes are those of the one-grid build. Only a few townships are
   held at a time (as many windows as the budget holds; their sheets are drawn
   side by side), so memory is bounded by the largest township, not the district.
3. The district folder from the patrol-cell arrays (bounded by the patrol grid):
   ``risk.tif`` (analysis cells, streamed), ``risk_class.tif`` (on the patrol
   grid: a class is a patrol cell's), ``risk.gpkg`` (the class-5 cells gathered
   from the townships, at most :data:`DISTRICT_CELLS_MAX`, and the zones) and
   ``summary.json``. No district map.html or overview sheet: at province size
   neither is bounded nor legible; the townships' are.

Every folder moves into place together when all are complete, as in build.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from riskmap import __version__
from riskmap.crs.meridian import CoordHints
from riskmap.errors import GridError
from riskmap.export.atomic import atomic_folders, check_free, lock
from riskmap.export.gpkg import write_gpkg, zones
from riskmap.export.styles import FactorTitle
from riskmap.export.summary import SUMMARY, output_sizes, write_summary
from riskmap.export.tif import CLASS_TIF, write_class_tif
from riskmap.load.inputs import load_inputs, read_any, read_areas
from riskmap.load.project import Project
from riskmap.marks import INTERNAL
from riskmap.pipeline.area import area_context, reference_of
from riskmap.pipeline.build import (
    AreaResult,
    _add,
    _areas,
    _folders,
    write_in_turn,
)
from riskmap.pipeline.exporters import EXPORTERS
from riskmap.pipeline.prepare import sheet_options, warm_drawing
from riskmap.pipeline.tiled import DEFAULT_CHUNK, stream_score
from riskmap.score.cells import require_interval
from riskmap.score.engine import district_grid
from riskmap.score.memory import GridBudget, grid_budget
from riskmap.score.tiling import (
    area_window,
    chunk_for_memory,
    patrol_townships,
    window_halo,
    window_surface,
)

__all__ = ["DISTRICT_CELLS_MAX", "EngineChoice", "TiledBuildReport", "engine_for",
           "tiled_build"]

#: the largest grid the tiled build takes on (10 G cells: Shanxi at 4 m; ~1 day on 2 cores)
TILED_MAX_CELLS = 10**10
#: bytes held per patrol cell of the district (scores, class, labels, zones' work arrays)
PATROL_BYTES = 32
#: class-5 cells in the district's risk.gpkg at most (the highest scores first)
DISTRICT_CELLS_MAX = 500_000

#: what the district folder of a tiled build holds, and why (its summary.json says it)
DISTRICT_NOTE = (
    "分块构建的全区目录: risk.tif 为分析单元评分 (逐块写入), risk_class.tif 为巡查单元等级, "
    "risk.gpkg 仅含5级单元 (取自各乡镇) 和高优先级区; 全区 map.html 与总图不输出, 见各乡镇目录 "
    "(tiled build: risk.tif is the analysis-cell score streamed tile by tile; risk_class.tif "
    "the patrol cells' classes; risk.gpkg only the class-5 cells, gathered from the "
    "townships, and the zones; no district map.html or overview sheet: neither is bounded "
    "at province size; each township has its full package)")


@dataclass(frozen=True)
class EngineChoice:
    """Which engine a build runs, and why (for the line on stderr)."""

    tiled: bool
    budget: GridBudget | None  #: the one-grid estimate (None: empty district, build says why)
    reason: str  #: "fits", "asked" or "too_large"

    @property
    def text(self) -> str:
        """The Chinese + English line saying which engine runs."""
        if self.reason == "too_large":
            return (f"网格超出内存, 改用分块引擎逐乡镇输出 (the grid does not fit in memory: "
                    f"{self.budget.text()}; building tile by tile, each township from its "
                    "own window)")
        if self.reason == "asked":
            return "分块引擎逐乡镇输出 (tiled engine, as asked: each township from its own window)"
        return "单一网格 (one grid)"


def engine_for(project: Project, *, memory_limit: float | None = None,
               tiled: bool = False) -> EngineChoice:
    """Decide between the one-grid build and the tiled build, before any big layer is read.

    Parameters
    ----------
    project : Project
    memory_limit : float, optional
        MiB the build may use (default: a share of the free memory).
    tiled : bool
        The tiled build was asked for (``--tiled``, ``--scheduler``, ``--chunk``).

    Raises
    ------
    GridError
        The grid is too large even for the tiled build.
    """
    # the district layer alone, with the reader build uses (its errors are build's): the
    # townships are read by the build that follows
    gdf, _ = read_any(project, project.district.source, allow_empty=True,
                      hints=CoordHints(project.crs))
    district = shapely.union_all(gdf.geometry.values)
    if district.is_empty:
        return EngineChoice(False, None, "fits")
    grid = district_grid(project, district)
    budget = grid_budget(grid, len(project.factors), memory_limit)
    if not (tiled or not budget.fits):
        return EngineChoice(False, budget, "fits")
    require_tiled_fits(project, grid, budget)
    return EngineChoice(True, budget, "asked" if budget.fits else "too_large")


def require_tiled_fits(project: Project, grid, budget: GridBudget) -> None:
    """Refuse a grid beyond the tiled build too: too many cells, or patrol arrays too large."""
    k = round(project.patrol_cell_size / project.cell_size)
    patrol = grid.size // (k * k) * PATROL_BYTES
    if grid.size <= TILED_MAX_CELLS and (budget.allowed is None or patrol <= budget.allowed):
        return
    raise GridError(f"{project.path}: 网格过大, 分块引擎也无法处理 (the grid is too large even for "
                    f"the tiled engine, riskmap build --tiled or riskmap score: {budget.text()}; "
                    f"its patrol cells alone need about {patrol / 2**30:.1f} GB, and at most "
                    f"{TILED_MAX_CELLS:,} cells are taken on); use a coarser cell_size (or drop "
                    "--cell-size)")


@dataclass
class TiledBuildReport:
    """What a tiled build did (what the CLI table reads, as of :class:`BuildReport`)."""

    project: Project
    inputs: object
    areas: list[AreaResult] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    stages: dict[str, float] = field(default_factory=dict)
    tiles: int = 0
    chunk: int = 0
    windows: dict[str, dict] = field(default_factory=dict)  #: township -> window and halo
    thresholds: list[float] = field(default_factory=list)
    units: dict[str, str] = field(default_factory=dict)  #: explain unit per factor


def tiled_build(project: Project, out: Path | None = None, townships=None,
                overwrite: bool = False, progress=None, atlas: bool = False,
                paper: str | None = None, orientation: str | None = None, *,
                chunk: int | None = None, scheduler: str | None = None,
                memory_limit: float | None = None, exporters=None,
                inputs=None) -> TiledBuildReport:
    """Build ``project`` tile by tile: the district's raster, then every township's package.

    Parameters are those of :func:`riskmap.pipeline.build.build`, and:

    chunk : int, optional
        Tile side of the district pass in analysis cells (default: from
        ``memory_limit``, else 1024).
    scheduler : str, optional
        ``threads`` (default), ``processes``, ``synchronous`` or a
        ``dask.distributed`` scheduler address (``tcp://host:8786``).
    memory_limit : float, optional
        MiB the build may use (default: a share of the free memory); sets the
        tile size and how many township windows are held at once.
    inputs : Inputs, optional
        Layers already loaded (scripts, benchmarks); default: read the project's.

    Raises
    ------
    RiskmapError
        As build; GridError when a township's window alone does not fit.
    """
    out = Path(out) if out else project.output
    with lock(out):
        return _tiled(project, out, townships, overwrite, progress, atlas, paper, orientation,
                      chunk, scheduler, memory_limit, exporters, inputs)


def _tiled(project, out, townships, overwrite, progress, atlas, paper, orientation, chunk,
           scheduler, memory_limit, exporters, inputs):
    t0 = time.perf_counter()
    cache = {}
    district, towns = ((inputs.district, inputs.townships) if inputs is not None
                       else read_areas(project, cache))
    grid = district_grid(project, district)
    k = round(project.patrol_cell_size / project.cell_size)
    nf = len(project.factors)
    budget = grid_budget(grid, nf, memory_limit)
    require_tiled_fits(project, grid, budget)
    require_interval(project, district)  # a stale calibration interval: said now, as build
    areas = _areas(project, list(towns["name"]), townships)
    folders = _folders(areas, out, overwrite)
    if atlas:
        check_free(out / "atlas.pdf", overwrite)
    halo = window_halo(project, grid.cell)
    wins = {name: area_window(grid, k, towns.geometry.values[idx - 1])
            for name, idx in areas if idx is not None}
    batch = _windows_at_once(project, grid, wins, budget, memory_limit)
    if inputs is None:
        inputs = load_inputs(project, progress, cache=cache)
    reference_of(project, inputs)  # before scoring: a bad reference layer is said now
    t_load = time.perf_counter() - t0
    sheet = sheet_options(project, paper, orientation)
    if wins:
        warm_drawing(sheet["font"])
    if chunk is None:
        chunk = DEFAULT_CHUNK
        if memory_limit:  # a few tiles are in flight per worker
            per_tile = memory_limit / (2 * (os.cpu_count() or 1))
            chunk = min(DEFAULT_CHUNK, chunk_for_memory(per_tile, nf))
    build_date = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    report = TiledBuildReport(project, inputs, chunk=chunk)
    stages = report.stages
    stages["read"] = t_load
    district_name = areas[0][0] if areas[0][1] is None else None
    exporters = tuple(EXPORTERS if exporters is None else exporters)

    with atomic_folders([folders[name] for name, _ in areas], overwrite) as tmps:
        tmp_of = {name: tmp for (name, _), tmp in zip(areas, tmps, strict=True)}
        t = time.perf_counter()
        res = stream_score(project, inputs, tmp_of.get(district_name), chunk=chunk,
                           scheduler=scheduler, progress=progress)
        stages["tiles"] = time.perf_counter() - t
        report.tiles, report.thresholds = res.tiles, [float(x) for x in res.thresholds]
        town_areas = [(name, idx) for name, idx in areas if idx is not None]
        top, pages, results = [], [], {}
        def cut(name, idx):
            t1 = time.perf_counter()
            ws = window_surface(project, inputs, grid, wins[name], res.plan, res.thresholds)
            _add(stages, "windows", time.perf_counter() - t1)
            report.units = {n: f.unit for n, f in ws.factors.items()}
            t1 = time.perf_counter()
            area = area_context(project, inputs, ws, name, idx, build_date=build_date,
                                sheet_opts=sheet, t_load=t_load)
            _add(stages, "cut", time.perf_counter() - t1)
            report.windows[name] = _window_note(area, grid, wins[name], halo, k)
            return area

        for b in range(0, len(town_areas), batch):  # a few windows held at a time
            part = town_areas[b:b + batch]
            for area in write_in_turn(part, tmp_of, cut, exporters, progress, stages,
                                      time_cut=False):
                results[area.name] = AreaResult(area.name, folders[area.name], area.counts,
                                                len(area.cells), area.seconds)
                top = _top_cells(top, area.cells)
                if atlas and area.sheet is not None:
                    pages.append(area.sheet)
        if district_name is not None:
            if progress:
                progress(f"输出 {district_name} (risk.tif, {CLASS_TIF}, risk.gpkg, summary.json)")
            t = time.perf_counter()
            counts = _district_folder(tmp_of[district_name], project, inputs, res, top,
                                      district_name, build_date, report, t_load, t0, scheduler)
            stages["district"] = time.perf_counter() - t
            results[district_name] = AreaResult(district_name, folders[district_name], counts,
                                                len(top[0]) if top else 0, stages["district"])
        t_switch = time.perf_counter()
    stages["switch"] = time.perf_counter() - t_switch
    report.areas = [results[name] for name, _ in areas]
    if atlas and pages:
        from riskmap.export.pdf import write_atlas

        if progress:
            progress(f"输出 图集 atlas.pdf ({len(pages)} 页)")
        t = time.perf_counter()
        write_atlas(out / "atlas.pdf", pages, **sheet)
        stages["atlas"] = time.perf_counter() - t
    report.timings = {"load_s": t_load, "compute_s": stages["tiles"],
                      "windows_s": stages.get("windows", 0.0),
                      "total_s": time.perf_counter() - t0}
    return report


def _windows_at_once(project, grid, wins: dict, budget: GridBudget, memory_limit) -> int:
    """How many township windows the budget holds at once (at least one, at most the cores).

    Raises
    ------
    GridError
        One township's window alone does not fit: naming it, with the numbers.
    """
    cpus = os.cpu_count() or 1
    if not wins:
        return 1
    need = {n: grid_budget(grid.window(*w), len(project.factors), memory_limit)
            for n, w in wins.items()}
    name, big = max(need.items(), key=lambda kv: kv[1].needed)
    if not big.fits:
        raise GridError(f"{project.path}: 乡镇 {name} 的窗口过大 (the window of township {name} "
                        f"does not fit in memory even alone: {big.text()}); use a coarser "
                        "cell_size (or drop --cell-size), or split the township")
    if big.allowed is None:
        return cpus
    k = round(project.patrol_cell_size / project.cell_size)
    left = big.allowed - grid.size // (k * k) * PATROL_BYTES  # the district's patrol arrays
    return int(max(1, min(cpus, left // max(big.needed, 1))))


def _window_note(area, grid, win, halo: int, k: int) -> dict:
    """Say in the area's summary where its window lies on the district grid and what it read.

    The figures (summary.json, gpkg metadata) name the district grid and the
    area's window on it, as the one-grid build's do.
    """
    r0, c0, nr, nc = win
    pr, pc = area.pwin
    g = area.figures["grid"]
    g.update(grid.to_dict())
    g["area_window"] = {"row_off": int(r0 + pr.start * k), "col_off": int(c0 + pc.start * k),
                        "shape": [int((pr.stop - pr.start) * k), int((pc.stop - pc.start) * k)]}
    note = {"engine": "tiled", "window": {"row_off": r0, "col_off": c0, "shape": [nr, nc]},
            "halo_cells": halo, "read_shape": [nr + 2 * halo, nc + 2 * halo],
            "district_shape": list(grid.shape),
            "note": "本乡镇由其所在窗口计算 (computed from its own window of the district grid "
                    "plus each factor's reach; ids, scores and classes as the one-grid build)"}
    area.notes["tiled"] = note
    return note


def _top_cells(top: list, cells) -> list:
    """The district's class-5 cells so far: at most :data:`DISTRICT_CELLS_MAX`, best first."""
    five = cells.loc[cells["class"] == 5]
    if not top:
        top = [cells.iloc[:0]]
    if not len(five):
        return top
    both = pd.concat([top[0], five], ignore_index=True)
    if len(both) > DISTRICT_CELLS_MAX:
        both = both.nlargest(DISTRICT_CELLS_MAX, "score")
    return [both.set_crs(cells.crs, allow_override=True)]


def _district_folder(tmp: Path, project, inputs, res, top, name, build_date, report, t_load,
                     t0, scheduler) -> dict[int, int]:
    """The district's risk_class.tif, risk.gpkg and summary.json from the patrol arrays."""
    pgrid = res.patrol_grid
    p_area = np.isfinite(res.p_score)
    thr = [round(float(t), 4) for t in res.thresholds]
    tags = {"project": project.name, "area": name, "build_date": build_date,
            "class_thresholds": str([round(float(t), 3) for t in res.thresholds]),
            "marking": INTERNAL, "riskmap_version": __version__, "grid": "patrol cells"}
    write_class_tif(tmp / CLASS_TIF, res.p_class, pgrid, tags)
    labels = patrol_townships(inputs, pgrid, p_area)
    tnames = np.array(["", *inputs.townships["name"]], dtype=object)[labels]
    zone_df = zones(res.p_class, np.nan_to_num(res.p_score, nan=-1.0), pgrid, p_area, tnames)
    del tnames
    cells = top[0].sort_values(["score", "id"], ascending=[False, True]) if top else None
    counts = {c: int((res.p_class == c).sum()) for c in range(1, 6)}
    fig = {
        "project": project.name, "project_file": project.path.name,
        "riskmap_version": __version__, "area": name, "area_kind": "district",
        "marking": INTERNAL, "build_date": build_date, "as_of": project.as_of.isoformat(),
        "engine": "tiled",
        "grid": {**res.grid.to_dict(), "patrol_cell_size_m": pgrid.cell},
        "score": {"patrol_score": project.patrol_score, "range": [0, 100]},
        "classes": {"method": project.class_method, "breaks": list(project.class_breaks),
                    "thresholds": thr, "basis": "exact quantiles of every patrol cell's score "
                    "in the district (tiled pass)",
                    "rule": "class c (2-5) if score >= thresholds[c-2]; class 5 is the highest"},
        "counts": {str(c): n for c, n in counts.items()},
        "patrol_cells": int(p_area.sum()),
        "patrol_cells_in_no_township": int((p_area & (labels == 0)).sum()),
        "exported_cells": 0 if cells is None else len(cells), "exported_min_class": 5,
        "exported_cells_max": DISTRICT_CELLS_MAX, "zones": len(zone_df),
        "factors": [{"name": f.name, "label": f.label, "kind": f.kind, "weight": f.weight,
                     "source": project.source_text(f.source)} for f in project.factors],
        "inputs": inputs.hashes,
    }
    if cells is not None:
        titles = [FactorTitle(f.name, f.label, report.units.get(f.name, ""))
                  for f in project.factors]
        write_gpkg(tmp / "risk.gpkg", cells, zone_df, {"townships": inputs.townships}, fig,
                   factors=titles, labels={"townships": "乡镇界 (townships)"},
                   colours={"townships": "#222222"})
    summary = {**fig, "package": {
        "files": ["risk.tif", CLASS_TIF, "risk.gpkg", SUMMARY],
        "note": DISTRICT_NOTE},
        "tiled": {"tiles": res.tiles, "chunk": report.chunk, "scheduler": scheduler or "threads",
                  "townships": report.windows},
        "timings": {"load_s": round(t_load, 3),
                    **{k: round(v, 3) for k, v in report.stages.items()},
                    "total_s": round(time.perf_counter() - t0, 2)},
        "outputs": output_sizes(tmp)}
    write_summary(tmp / SUMMARY, summary)
    return counts
