"""One build: project file in, one output folder per area out.

Loads and checks the layers, scores the whole district once, then writes the
district folder and one folder per township (each a window of the same grid,
so cell ids and scores agree everywhere).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from riskmap import __version__
from riskmap.errors import RiskmapError
from riskmap.export.atomic import atomic_folder, check_free, safe_name
from riskmap.export.gpkg import clip_inputs, write_gpkg, zones
from riskmap.export.html import InputLayer, MapPage, basemaps, write_html
from riskmap.export.tif import write_score_tif
from riskmap.grid.blocks import upsample
from riskmap.load.inputs import Inputs, load_inputs
from riskmap.load.project import Project
from riskmap.marks import INTERNAL
from riskmap.score.cells import cell_table
from riskmap.score.engine import Surface, compute

log = logging.getLogger(__name__)
DISTRICT_LABEL = "全区"
EXPORT_MIN_CLASS = 3


@dataclass
class AreaResult:
    """What one area's folder holds."""

    name: str
    folder: Path
    counts: dict[int, int]
    exported_cells: int
    seconds: float


@dataclass
class BuildReport:
    """Everything a build did, for the CLI table and for tests."""

    project: Project
    surface: Surface
    inputs: Inputs
    areas: list[AreaResult] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def build(project: Project, out: Path | None = None, townships=None, overwrite: bool = False,
          progress=None, atlas: bool = False, paper: str | None = None,
          orientation: str | None = None) -> BuildReport:
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

    Raises
    ------
    RiskmapError
        Unknown township, existing outputs without ``overwrite``, bad layers.
    """
    t0 = time.perf_counter()
    out = Path(out) if out else project.output
    inputs = load_inputs(project, progress)
    t_load = time.perf_counter() - t0
    names = list(inputs.townships["name"])
    if townships:
        unknown = [t for t in townships if t not in names]
        if unknown:
            raise RiskmapError(f"未知乡镇 (unknown township) {', '.join(unknown)}; "
                               f"valid names: {', '.join(names)}")
        areas = [(t, names.index(t) + 1) for t in townships]
    else:
        label = project.district.label or DISTRICT_LABEL
        if label in names:
            raise RiskmapError(f"district.label {label!r} is also a township name; set "
                               "district.label in the project file to something else")
        areas = [(label, None)] + [(t, i + 1) for i, t in enumerate(names)]
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
    if atlas:
        check_free(out / "atlas.pdf", overwrite)
    from riskmap.export.fonts import find_cjk_font

    sheet = {"paper": paper or project.map.get("paper", "A3"),
             "orientation": orientation or project.map.get("orientation", "landscape"),
             "font": find_cjk_font(project.map.get("font"))}

    surface = compute(project, inputs, progress)
    report = BuildReport(project, surface, inputs)
    build_date = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    pages = []
    # every area is written into its own temporary folder; the PDF sheets are then
    # drawn side by side (one process per core), and only when everything is
    # complete do the folders move into place
    with contextlib.ExitStack() as stack:
        done = []
        for name, idx in areas:
            if progress:
                progress(f"输出 {name}")
            t1 = time.perf_counter()
            tmp = stack.enter_context(atomic_folder(folders[name], overwrite))
            counts, n_exp, page, summary = _write_area(project, inputs, surface, name, idx,
                                                       tmp, build_date, t_load)
            done.append((name, tmp, counts, n_exp, page, summary, time.perf_counter() - t1))
        jobs = [(tmp / "map.pdf", page) for _, tmp, _, _, page, _, _ in done if page]
        if jobs and progress:
            progress(f"绘制 {len(jobs)} 张乡镇图 (map.pdf)")
        pdf_s = _draw_sheets(jobs, sheet)
        for name, tmp, counts, n_exp, page, summary, sec in done:
            if page is not None:
                pages.append(page)
                summary["map_pdf"] = {"paper": sheet["paper"],
                                      "orientation": sheet["orientation"],
                                      "font": str(sheet["font"]),
                                      "seconds": round(pdf_s.get(tmp / "map.pdf", 0), 3)}
            _finish_summary(tmp, summary)
            report.areas.append(AreaResult(name, folders[name], counts, n_exp, sec))
    if atlas and pages:
        from riskmap.export.pdf import write_atlas

        if progress:
            progress(f"输出 图集 atlas.pdf ({len(pages)} 页)")
        write_atlas(out / "atlas.pdf", pages, **sheet)
    report.timings = {"load_s": t_load, **surface.timings, "total_s": time.perf_counter() - t0}
    return report


def _latest_evaluation(project: Project) -> dict | None:
    """The figures of the last ``riskmap evaluate`` run on this project, if any."""
    path = project.output / "evaluation" / "evaluation.json"
    if not path.is_file():
        return None
    try:
        ev = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    keep = ("hit@10", "PAI@10", "PEI@10", "AUC", "n_test")
    out = {m: {k: ev[m].get(k) for k in keep} for m in ("model", "kde", "uniform")
           if isinstance(ev.get(m), dict)}
    out.update(split=ev.get("split"), file=str(path))
    return out


def _map_layers(project: Project, clipped: dict) -> list[InputLayer]:
    """Every factor layer as a map toggle; typed layers one toggle per type."""
    out = []
    for spec in project.factors:
        gdf = clipped.get(spec.name)
        if gdf is None or not len(gdf):
            continue
        if spec.kind == "typed":
            tf = spec.params["type_field"]
            for t, sub in gdf.groupby(gdf[tf].astype(str), sort=True):
                out.append(InputLayer(f"{spec.label}: {t}", sub))
        else:
            out.append(InputLayer(spec.label, gdf, on=spec.kind in ("inside", "ring")))
    return out


def _write_area(project, inputs, s: Surface, name, idx, folder: Path, build_date, t_load):
    t0 = time.perf_counter()
    keep = s.p_area if idx is None else s.p_area & (s.township == idx)
    if not keep.any():
        raise RiskmapError(f"乡镇 {name} has no cell inside the district; check the townships "
                           "layer")
    rows, cols = np.flatnonzero(keep.any(axis=1)), np.flatnonzero(keep.any(axis=0))
    pr0, pr1, pc0, pc1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    pwin = (slice(pr0, pr1), slice(pc0, pc1))
    k = s.k
    awin = (slice(pr0 * k, pr1 * k), slice(pc0 * k, pc1 * k))
    pgrid = s.patrol_grid.window(pr0, pc0, pr1 - pr0, pc1 - pc0)
    agrid = s.grid.window(pr0 * k, pc0 * k, (pr1 - pr0) * k, (pc1 - pc0) * k)
    akeep = upsample(keep[pwin], k) & s.area[awin]

    score = np.where(akeep, s.score[awin], np.nan).astype(np.float32)
    counts = {c: int(((s.p_class == c) & keep).sum()) for c in range(1, 6)}
    tags = {"project": project.name, "area": name, "build_date": build_date,
            "class_thresholds": json.dumps([round(float(t), 3) for t in s.thresholds]),
            "marking": INTERNAL, "riskmap_version": __version__}
    write_score_tif(folder / "risk.tif", score, agrid, tags)

    flat = np.flatnonzero(keep & (s.p_class >= EXPORT_MIN_CLASS))
    cells = cell_table(s, project, flat)
    tnames = np.array(["", *s.township_names], dtype=object)[s.township[pwin]]
    zone_df = zones(s.p_class[pwin], np.nan_to_num(s.p_score[pwin], nan=-1.0), pgrid,
                    keep[pwin], tnames)
    area_geom = inputs.district if idx is None else inputs.townships.geometry.values[idx - 1]
    layers = {"townships": inputs.townships, **({"villages": inputs.villages}
                                                if inputs.villages is not None else {})}
    seen = set()
    for spec in project.factors:
        key = (spec.source.path, spec.source.layer, spec.source.where)
        if key not in seen:
            seen.add(key)
            layers[spec.name] = inputs.factors[spec.name]
    clipped = clip_inputs(layers, area_geom)
    summary = {
        "project": project.name,
        "project_file": str(project.path),
        "riskmap_version": __version__,
        "area": name,
        "area_kind": "district" if idx is None else "township",
        "marking": INTERNAL,
        "build_date": build_date,
        "as_of": project.as_of.isoformat(),
        "grid": {
            **s.grid.to_dict(),
            "patrol_cell_size_m": s.patrol_grid.cell,
            "area_window": {"row_off": int(pr0 * k), "col_off": int(pc0 * k),
                            "shape": [int((pr1 - pr0) * k), int((pc1 - pc0) * k)]},
        },
        "score": {"patrol_score": project.patrol_score, "baseline": round(s.baseline, 4),
                  "range": [0, 100]},
        "classes": {
            "method": project.class_method,
            "breaks": list(project.class_breaks),
            "thresholds": [round(float(t), 4) for t in s.thresholds],
            "basis": "patrol cells of the whole district",
            "rule": "class c (2-5) if score >= thresholds[c-2]; class 5 is the highest",
        },
        "counts": {str(c): n for c, n in counts.items()},
        "patrol_cells": int(keep.sum()),
        "exported_cells": len(cells),
        "exported_min_class": EXPORT_MIN_CLASS,
        "zones": len(zone_df),
        "factors": [{"name": f.name, "label": f.label, "kind": f.kind, "weight": f.weight,
                     "source": str(f.source), "params": f.params} for f in project.factors],
        "inputs": inputs.hashes,
        "evaluation": _latest_evaluation(project),
        "ahp": (project.ahp or {}).get("applied"),
    }
    write_gpkg(folder / "risk.gpkg", cells, zone_df, clipped,
               {k: v for k, v in summary.items() if k not in ("factors",)}
               | {"factors": summary["factors"]})
    aclass = np.where(akeep, upsample(s.p_class[pwin], k), 0).astype(np.uint8)
    page = MapPage(
        title=f"{name} 非法采矿巡查优先级图", build_date=build_date[:10], classes=aclass,
        grid=agrid, thresholds=s.thresholds, top=cells.loc[cells["class"] == 5], cells=cells,
        townships=clipped["townships"][["name", "geometry"]],
        villages=clipped["villages"][["name", "geometry"]] if "villages" in clipped else None,
        inputs=_map_layers(project, clipped),
        note=f"{project.name} · 评分 {s.thresholds[-1]:.1f} 以上为5级",
        basemaps=basemaps(project.map.get("basemap"), project.map.get("tianditu_key")),
    )
    t_html = time.perf_counter()
    html_bytes = write_html(folder / "map.html", page)
    summary["map_html"] = {"bytes": html_bytes, "seconds_to_write": round(
        time.perf_counter() - t_html, 3), "top_cells": len(page.top),
        "basemap": project.map.get("basemap", "none"), "load_s": None}
    if project.map.get("measure_load"):
        from riskmap.export.browser import measure_load

        summary["map_html"]["load_s"] = round(measure_load(folder / "map.html"), 3)
    sheet_page = None
    if idx is not None:  # a printable sheet per township, drawn later with the others
        sheet_page = _sheet_page(project, inputs, clipped, name, area_geom, aclass, agrid,
                                 s.thresholds, cells, build_date)
    summary["timings"] = {"load_s": round(t_load, 3),
                          **{k: round(v, 4) for k, v in s.timings.items()},
                          "write_s": round(time.perf_counter() - t0, 3)}
    return counts, len(cells), sheet_page, summary


def _finish_summary(folder: Path, summary: dict) -> None:
    summary["outputs"] = {p.name: p.stat().st_size for p in sorted(folder.iterdir())
                          if p.name != "summary.json"}
    (folder / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2,
                                                    default=str), encoding="utf-8")


def _draw_one(path, page, sheet):
    from riskmap.export.pdf import write_pdf

    t = time.perf_counter()
    write_pdf(path, page, **sheet)
    return time.perf_counter() - t


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


def _draw_sheets(jobs, sheet) -> dict:
    """Draw the PDF sheets, several at a time where there are cores; seconds per file."""
    workers = min(len(jobs), os.cpu_count() or 1)
    if workers <= 1:
        return {path: _draw_one(path, page, sheet) for path, page in jobs}
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    # fork shares the loaded modules where the platform has it (not on Windows)
    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_die_with_parent) as pool:
        futs = {path: pool.submit(_draw_one, path, page, sheet) for path, page in jobs}
        return {path: f.result() for path, f in futs.items()}


def _sheet_page(project, inputs, clipped, name, area_geom, aclass, agrid, thresholds, cells,
                build_date):
    from pyproj import CRS

    from riskmap.export.pdf import SheetPage

    rights = None
    for spec in project.factors:  # licence outlines: the first inside/ring layer
        if spec.kind in ("inside", "ring") and spec.name in clipped:
            rights = clipped[spec.name]
            break
    crs = CRS.from_user_input(project.crs)
    auth = crs.to_authority()
    return SheetPage(
        title=f"{name} 非法采矿巡查优先级图", build_date=build_date[:10], area_name=name,
        area=area_geom, district=inputs.district, townships=inputs.townships,
        villages=clipped.get("villages"), rights=rights, classes=aclass, grid=agrid,
        thresholds=list(thresholds), top_cells=cells.loc[cells["class"] == 5],
        sources=project.map.get("sources") or f"数据来源: {project.name} (见 summary.json)",
        crs_name=f"{crs.name}" + (f" ({auth[0]}:{auth[1]})" if auth else ""),
    )
