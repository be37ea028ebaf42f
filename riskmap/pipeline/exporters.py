"""The one list of per-area outputs: :data:`EXPORTERS`.

Each exporter is a small function ``(area, folder)`` that hands one
:class:`~riskmap.pipeline.area.AreaContext` to one writer of :mod:`riskmap.export`,
writing into the area's temporary folder. A new output is one writer in
``export/`` plus one function and one entry here.

An exporter may return a :class:`Deferred` instead of writing at once (the PDF
sheets: slow, so drawn side by side in worker processes once every area has
been cut); the exporters after it in the list then run for that area once the
deferred work is done, so ``summary.json`` still sees every file.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from riskmap import __version__
from riskmap.export.gpkg import write_gpkg
from riskmap.export.html import InputLayer, MapPage, basemaps, write_html
from riskmap.export.pdf.reference import STYLES as REFERENCE_STYLES
from riskmap.export.styles import FactorTitle
from riskmap.export.summary import SUMMARY, output_sizes, write_summary
from riskmap.export.tif import CLASS_TIF, write_class_tif, write_score_tif
from riskmap.factors import kind_of
from riskmap.load.reference import ROLE_LABELS
from riskmap.marks import INTERNAL, LAYER_COLOURS
from riskmap.pipeline.area import AreaContext
from riskmap.pipeline.lastbuild import SURFACE_FILE, write_surface


@dataclass
class Deferred:
    """Work an exporter leaves to be run beside the other areas' (a process each).

    ``run(*args)`` must be picklable (a module-level function); ``finish`` is
    called in the build's own process with what ``run`` returned.
    """

    what: str  #: for the progress line: "张图 (map.pdf: 全区总图与乡镇图)"
    run: Callable
    args: tuple
    finish: Callable | None = None


def _tif_tags(area: AreaContext) -> dict:
    return {"project": area.project.name, "area": area.name, "build_date": area.build_date,
            "class_thresholds": json.dumps([round(float(t), 3)
                                            for t in area.surface.thresholds]),
            "marking": INTERNAL, "riskmap_version": __version__}


def export_tif(area: AreaContext, folder: Path) -> None:
    """``risk.tif``: the analysis-cell score of the area's window (NaN outside), a COG."""
    s = area.surface
    score = np.where(area.akeep, s.score[area.awin], np.nan).astype(np.float32)
    write_score_tif(folder / "risk.tif", score, area.agrid, _tif_tags(area),
                    thresholds=s.thresholds)


def export_class_tif(area: AreaContext, folder: Path) -> None:
    """``risk_class.tif``: the analysis cells' classes 1–5 (0 outside), paletted COG."""
    write_class_tif(folder / CLASS_TIF, area.aclass, area.agrid, _tif_tags(area))


def export_gpkg(area: AreaContext, folder: Path) -> None:
    """``risk.gpkg``: cells, zones, clipped inputs, metadata; with a history, effort layers.

    The effort layers are ``effort`` (checked cells) and ``overdue`` (cells due a check).
    """
    meta = {k: v for k, v in area.figures.items() if k != "factors"}
    meta["factors"] = area.figures["factors"]  # the longest value last
    project, s = area.project, area.surface
    factors = [FactorTitle(f.name, f.label, s.factors[f.name].unit) for f in project.factors]
    labels = {"townships": "乡镇界 (townships)", "villages": "村界 (villages)",
              **{f.name: f.label for f in project.factors}}
    colours = {f.name: LAYER_COLOURS[i % len(LAYER_COLOURS)]
               for i, f in enumerate(project.factors)}
    colours.update(townships="#222222", villages="#555555")
    layers = dict(area.clipped)
    for role, gdf in (area.reference.layers.items() if area.reference else ()):
        # the bureau's own reference layers, cut to the area: drawn, never scored
        key = f"reference_{role}"
        layers[key] = gdf
        labels[key] = f"{ROLE_LABELS[role]} (参考图层, reference)"
        colours[key] = REFERENCE_STYLES[role]["color"]
    write_gpkg(folder / "risk.gpkg", area.cells, area.zones, layers, meta,
               factors=factors, labels=labels, colours=colours, effort=area.effort,
               overdue=area.overdue)


def export_html(area: AreaContext, folder: Path) -> None:
    """``map.html``: the interactive map (and its load time, when the project asks)."""
    project, s, cells, clipped = area.project, area.surface, area.cells, area.clipped
    page = MapPage(
        title=area.title, build_date=area.build_date[:10], classes=area.aclass,
        grid=area.agrid, thresholds=s.thresholds, top=cells.loc[cells["class"] == 5],
        cells=cells, townships=clipped["townships"][["name", "geometry"]],
        villages=clipped["villages"][["name", "geometry"]] if "villages" in clipped else None,
        inputs=_map_layers(project, clipped),
        note=f"{project.name} · 评分 {s.thresholds[-1]:.1f} 以上为5级",
        basemaps=basemaps(project.map.get("basemap"), project.map.get("tianditu_key")),
        patrol=area.pgrid, effort=area.effort, overdue=area.overdue,
        reference=area.reference,
    )
    t0 = time.perf_counter()
    size = write_html(folder / "map.html", page)
    note = {"bytes": size, "seconds_to_write": round(time.perf_counter() - t0, 3),
            "top_cells": len(page.top), "basemap": project.map.get("basemap", "none"),
            "load_s": None}
    if project.map.get("measure_load"):
        from riskmap.export.browser import measure_load

        note["load_s"] = round(measure_load(folder / "map.html"), 3)
    area.notes["map_html"] = note


def export_sheet(area: AreaContext, folder: Path) -> Deferred | None:
    """``map.pdf``: the printable sheet of a township, or the district's overview, drawn later.

    The overview shows the whole district's classes, townships and villages (and
    the reference layers) and lists the class-5 and class-4 cells per township:
    the cells' own labels, illegible at its scale, are on the township sheets.
    """
    area.sheet = _sheet_page(area)
    opts = area.sheet_opts

    def finish(seconds: float) -> None:
        area.notes["map_pdf"] = {"paper": opts["paper"], "orientation": opts["orientation"],
                                 "font": Path(opts["font"]).name,  # no machine paths
                                 "seconds": round(seconds, 3)}

    return Deferred("张图 (map.pdf: 全区总图与乡镇图)", draw_sheet,
                    (folder / "map.pdf", area.sheet, opts), finish)


def export_surface(area: AreaContext, folder: Path) -> None:
    """``surface.npz`` (the district's folder only): the cells plan, ingest, weekly reuse.

    See :mod:`riskmap.pipeline.lastbuild`: the patrol cells, their reasons and
    the static factors' map, keyed by the inputs' hashes.
    """
    if area.is_district:
        write_surface(area, folder / SURFACE_FILE)


def export_summary(area: AreaContext, folder: Path) -> None:
    """``summary.json``: the figures, the exporters' notes, timings and the files' sizes."""
    s = area.surface
    timings = {"load_s": round(area.t_load, 3), **{k: round(v, 4) for k, v in s.timings.items()},
               "write_s": round(area.seconds, 3)}
    summary = {**area.figures, **area.notes, "timings": timings,
               "outputs": output_sizes(folder)}
    write_summary(folder / SUMMARY, summary)


#: Every area's outputs, in order (summary.json last: it lists the others' sizes).
EXPORTERS: tuple[Callable[[AreaContext, Path], Deferred | None], ...] = (
    export_tif,
    export_class_tif,
    export_gpkg,
    export_html,
    export_sheet,
    export_surface,
    export_summary,
)


def draw_sheet(path: Path, page, opts: dict) -> float:
    """Write one sheet (in a worker process); returns the seconds it took."""
    from riskmap.export.pdf import write_pdf

    t = time.perf_counter()
    write_pdf(path, page, **opts)
    return time.perf_counter() - t


def _map_layers(project, clipped: dict) -> list[InputLayer]:
    """Every factor layer as map toggles, as its kind draws them (typed: one per type)."""
    out = []
    for spec in project.factors:
        gdf = clipped.get(spec.name)
        if gdf is None or not len(gdf):
            continue
        for label, sub, on in kind_of(spec).map_layers(spec.label, gdf, spec.params):
            out.append(InputLayer(label, sub, on=on))
    return out


def _sheet_page(area: AreaContext):
    """The SheetPage of a township: its map, top cells, licences and the legend's breaks."""
    from pyproj import CRS

    from riskmap.export.pdf import SheetPage

    project, clipped, cells = area.project, area.clipped, area.cells
    rights = None
    for spec in project.factors:  # licence outlines: the first layer drawn as outlines
        if kind_of(spec).outline and spec.name in clipped:
            rights = clipped[spec.name]
            break
    crs = CRS.from_user_input(project.crs)
    auth = crs.to_authority()
    return SheetPage(
        title=area.title, build_date=area.build_date[:10], area_name=area.name,
        area=area.area_geom, district=area.inputs.district, townships=area.inputs.townships,
        villages=clipped.get("villages"), rights=rights, classes=area.aclass, grid=area.agrid,
        thresholds=list(area.surface.thresholds),
        top_cells=cells.iloc[:0] if area.is_district else cells.loc[cells["class"] == 5],
        sources=project.map.get("sources") or f"数据来源: {project.name} (见 summary.json)",
        crs_name=f"{crs.name}" + (f" ({auth[0]}:{auth[1]})" if auth else ""),
        reference=area.reference,
        overview=_overview_rows(area) if area.is_district else None,
    )


def _overview_rows(area: AreaContext) -> list[tuple[str, int, int]]:
    """(township, class-5 cells, class-4 cells) for the district's overview sheet."""
    cells = area.cells
    names = list(area.inputs.townships["name"])
    if "township" not in cells or not len(cells):
        return [(t, 0, 0) for t in names]
    cls = cells["class"].to_numpy()
    town = cells["township"].astype(object).to_numpy()
    return [(t, int(((town == t) & (cls == 5)).sum()), int(((town == t) & (cls == 4)).sum()))
            for t in names]
