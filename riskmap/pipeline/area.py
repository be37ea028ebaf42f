"""One area of a build (the district or a township): its window of the surface and its figures.

:func:`area_context` cuts the area out of the district's surface once; every
exporter of :data:`riskmap.pipeline.exporters.EXPORTERS` reads the same
:class:`AreaContext`, so the tif, the GeoPackage, the maps and the summary agree.
"""

from __future__ import annotations

import json
import logging
import weakref
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from riskmap import __version__
from riskmap.errors import RiskmapError
from riskmap.export.gpkg import clip_inputs, zones
from riskmap.field.effort import cell_effort, effort_cells, overdue_cells
from riskmap.field.historyfile import history_path, open_history
from riskmap.field.rules import PlanConfig
from riskmap.field.week import Week
from riskmap.grid import Grid
from riskmap.grid.blocks import upsample
from riskmap.load.inputs import Inputs
from riskmap.load.layers import file_sha256
from riskmap.load.project import Project
from riskmap.load.reference import Reference, read_reference
from riskmap.marks import INTERNAL
from riskmap.score.cells import cell_table
from riskmap.score.engine import Surface, district_grid

#: Name of the whole-district area (``district.label`` in the project file overrides it).
DISTRICT_LABEL = "全区"
#: Patrol cells of this class or higher are exported as cells (gpkg, map, sheet).
EXPORT_MIN_CLASS = 3

log = logging.getLogger(__name__)


@dataclass
class AreaContext:
    """Everything the exporters of one area read, and what they note for the summary.

    Windows: ``pwin`` on the patrol grid, ``awin`` on the analysis grid (``k``
    analysis cells per patrol cell), both the bounding box of ``keep``.
    """

    project: Project
    inputs: Inputs
    surface: Surface
    name: str
    idx: int | None  #: township number (1-based); None for the district
    build_date: str  #: ISO time stamp of the build
    sheet_opts: dict  #: paper, orientation and font of map.pdf
    t_load: float  #: seconds spent loading the inputs (for the summary)
    keep: np.ndarray  #: patrol cells of the area, whole patrol grid (bool)
    pwin: tuple[slice, slice]
    awin: tuple[slice, slice]
    pgrid: Grid  #: patrol grid of the window
    agrid: Grid  #: analysis grid of the window
    aclass: np.ndarray  #: class 0–5 of the analysis cells in the window (0 outside)
    counts: dict[int, int]  #: patrol cells per class
    cells: object  #: GeoDataFrame of the exported patrol cells (class >= EXPORT_MIN_CLASS)
    zones: object  #: GeoDataFrame of the high-priority zones
    clipped: dict  #: input layers clipped to the area
    area_geom: object  #: the area's polygon(s)
    effort: object = None  #: GeoDataFrame of the area's checked cells (None: no history)
    overdue: object = None  #: GeoDataFrame of its overdue cells (None: no history)
    figures: dict = field(default_factory=dict)  #: the summary's figures (also gpkg metadata)
    notes: dict = field(default_factory=dict)  #: what exporters add to the summary, by key
    sheet: object = None  #: the SheetPage of map.pdf (townships), for the atlas
    reference: Reference | None = None  #: the reference layers around the area (drawn only)
    seconds: float = 0.0  #: time spent writing this area so far

    @property
    def is_district(self) -> bool:
        """Whether this is the whole district (no printed sheet)."""
        return self.idx is None

    @property
    def akeep(self) -> np.ndarray:
        """Analysis cells of the area in the window (bool; computed, not held)."""
        k = self.surface.k
        return upsample(self.keep[self.pwin], k) & self.surface.area[self.awin]

    @property
    def title(self) -> str:
        """Title of the maps: ``"荫营镇 非法采矿巡查优先级图"``."""
        return f"{self.name} 非法采矿巡查优先级图"


def area_context(project: Project, inputs: Inputs, s: Surface, name: str, idx: int | None, *,
                 build_date: str, sheet_opts: dict, t_load: float) -> AreaContext:
    """Cut one area out of the district's surface: windows, classes, cells, zones, layers.

    Parameters
    ----------
    project, inputs, s
        The build's project, inputs and district surface.
    name : str
        Area name (a township, or the district label).
    idx : int or None
        Township number (1-based) in ``inputs.townships``; None for the district.
    build_date : str
    sheet_opts : dict
        ``paper``, ``orientation``, ``font`` of map.pdf.
    t_load : float
        Seconds the inputs took to load.

    Raises
    ------
    RiskmapError
        The area has no patrol cell inside the district.
    """
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
    aclass = np.where(akeep, upsample(s.p_class[pwin], k), 0).astype(np.uint8)
    counts = {c: int(((s.p_class == c) & keep).sum()) for c in range(1, 6)}

    flat = np.flatnonzero(keep & (s.p_class >= EXPORT_MIN_CLASS))
    cells = cell_table(s, project, flat)
    tnames = np.array(["", *s.township_names], dtype=object)[s.township[pwin]]
    zone_df = zones(s.p_class[pwin], np.nan_to_num(s.p_score[pwin], nan=-1.0), pgrid,
                    keep[pwin], tnames)
    area_geom = inputs.district if idx is None else inputs.townships.geometry.values[idx - 1]
    ctx = AreaContext(project, inputs, s, name, idx, build_date, sheet_opts, t_load, keep, pwin,
                      awin, pgrid, agrid, aclass, counts, cells, zone_df,
                      clip_inputs(_layers(project, inputs), area_geom), area_geom)
    ctx.figures = _figures(ctx)
    ref = reference_of(project, inputs)
    if ref:
        ctx.reference = ref.clip(around(area_geom))
        ctx.notes["reference"] = _reference_note(project, ctx.reference, ref)
    ctx.effort, ctx.overdue, ctx.notes["field_effort"] = field_effort(project, s, keep)
    return ctx


# the reference layers of a build, read once: id(inputs) -> (its weakref, specs, layers, hashes)
_REFERENCE: dict[int, tuple] = {}


def reference_of(project: Project, inputs: Inputs) -> Reference:
    """The build's reference layers, read once per build (per :class:`Inputs`).

    Every area of a build cuts the same inputs, so the layers are read with the
    first area and kept while those inputs live.

    Raises
    ------
    LayerError
        As :func:`riskmap.load.reference.read_reference`.
    """
    if not project.reference:
        return Reference()
    got = _REFERENCE.get(id(inputs))
    if got is not None and got[0]() is inputs and got[1] == project.reference:
        return got[2]
    ref = read_reference(project)
    files = sorted({f for spec in project.reference for f in spec.source.files
                    if spec.role != "dom"})
    hashes = {project.relative(f): file_sha256(f) for f in files}
    # the build's input hashes name them too (the DOM is not hashed: it may be gigabytes)
    inputs.hashes.update({k: v for k, v in hashes.items() if k not in inputs.hashes})
    _REFERENCE[id(inputs)] = (weakref.ref(inputs), project.reference, ref, hashes)
    weakref.finalize(inputs, _REFERENCE.pop, id(inputs), None)
    return ref


def around(geom, margin: float = 0.3, least: float = 2500.0) -> tuple:
    """Bounds of ``geom`` widened by ``margin`` of its larger side (at least ``least`` m).

    Wide enough for every map of the area: a sheet's frame is wider than the
    area on one side, a plan page may reach past the township.
    """
    x0, y0, x1, y1 = geom.bounds
    m = max(margin * max(x1 - x0, y1 - y0), least)
    return (x0 - m, y0 - m, x1 + m, y1 + m)


def _reference_note(project: Project, clipped: Reference, ref: Reference) -> dict:
    """The summary's ``reference`` entry: each layer's file, features here, the DOM."""
    hashes = next((v[3] for v in _REFERENCE.values() if v[2] is ref), {})
    out = {"layers": {}, "hashes": hashes, "scored": False}
    for spec in project.reference:
        entry = {"source": project.source_text(spec.source)}
        if spec.role == "dom":
            d = ref.dom
            entry.update(crs=d.crs_name, size=[d.width, d.height], bands=d.bands,
                         bytes=d.path.stat().st_size)
        else:
            gdf = clipped.layers.get(spec.role)
            entry["features"] = 0 if gdf is None else len(gdf)
        out["layers"][spec.role] = entry
    return out


def field_effort(project: Project, s: Surface, keep: np.ndarray) -> tuple:
    """The area's checked and overdue cells from the history, read-only, and what to say.

    Counted up to the week of the project's ``as_of``: a cell is overdue when its
    class is ≥ ``plan.min_class`` and it was never checked or not for
    ``plan.overdue_weeks`` weeks. The history is never created or changed here;
    without one (or with one that cannot be read, or bad plan settings) there
    are no such layers, and the note says why.

    Returns
    -------
    (effort, overdue, note)
        Two GeoDataFrames (:func:`riskmap.field.effort.effort_cells`) or None,
        and the summary's ``field_effort`` entry.
    """
    path = history_path(project)
    week = Week.of(project.as_of)
    note = {"history": project.relative(path), "as_of_week": str(week)}
    try:
        cfg = PlanConfig.from_project(project)
        hist = open_history(project, read_only=True)
        if hist is None:
            note["layers"] = None
            note["note"] = ("没有历史数据库, 不输出巡查力度图层 (no history database yet: no "
                            "effort or overdue layers)")
            return None, None, note
        with hist:
            insp = hist.inspections(None, week)
    except RiskmapError as e:  # the map does not need the history: say why, go on
        log.warning("effort layers left out: %s", e)
        note["layers"] = None
        note["note"] = f"巡查力度图层未输出 (effort layers left out): {e}"
        return None, None, note
    effort = cell_effort(insp, s.patrol_grid, week)
    checked = np.flatnonzero((keep & (effort.checks > 0)).ravel())
    eff = effort_cells(s, effort, checked)
    od = overdue_cells(s, effort, cfg.min_class, cfg.overdue_weeks, keep)
    od["status"] = np.where(od["weeks_since"].isna(), "从未排查",
                            od["weeks_since"].astype("string").fillna("") + " 周未查")
    note.update(layers=["effort", "overdue"], inspections=effort.rows,
                outside_grid=effort.outside, checked_cells=len(eff), overdue_cells=len(od),
                never_checked=int(od["weeks_since"].isna().sum()), min_class=cfg.min_class,
                overdue_weeks=cfg.overdue_weeks)
    return eff, od, note


def _layers(project: Project, inputs: Inputs) -> dict:
    """The layers a package holds: townships, villages, each factor source once."""
    layers = {"townships": inputs.townships, **({"villages": inputs.villages}
                                                if inputs.villages is not None else {})}
    seen = set()
    for spec in project.factors:
        key = spec.source.key
        if key not in seen:
            seen.add(key)
            layers[spec.name] = inputs.factors[spec.name]
    return layers


def _figures(a: AreaContext) -> dict:
    """The summary's figures of an area (also the GeoPackage's metadata)."""
    s, project, k = a.surface, a.project, a.surface.k
    (pr, pc) = a.pwin
    # a window's surface (a township-only or tiled build) tells the district's grid too
    r0, c0 = s.origin
    grid = district_grid(project, a.inputs.district)
    return {
        "project": project.name,
        "project_file": project.path.name,  # relative: outputs leave the analyst's machine
        "riskmap_version": __version__,
        "area": a.name,
        "area_kind": "district" if a.is_district else "township",
        "marking": INTERNAL,
        "build_date": a.build_date,
        "as_of": project.as_of.isoformat(),
        "grid": {
            **grid.to_dict(),
            "patrol_cell_size_m": s.patrol_grid.cell,
            "area_window": {"row_off": int(r0 + pr.start * k), "col_off": int(c0 + pc.start * k),
                            "shape": [int((pr.stop - pr.start) * k),
                                      int((pc.stop - pc.start) * k)]},
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
        "counts": {str(c): n for c, n in a.counts.items()},
        "patrol_cells": int(a.keep.sum()),
        "exported_cells": len(a.cells),
        "exported_min_class": EXPORT_MIN_CLASS,
        "zones": len(a.zones),
        "factors": [{"name": f.name, "label": f.label, "kind": f.kind, "weight": f.weight,
                     "source": project.source_text(f.source), "params": _canonical(f.params)}
                    for f in project.factors],
        "inputs": a.inputs.hashes,
        "evaluation": latest_evaluation(project),
        # the calibration's rank interval behind rank_lo/rank_hi and 排名区间 (None: no key)
        "interval": None if project.interval is None else {
            "file": project.relative(project.interval),
            "sha256": a.inputs.hashes.get(project.relative(project.interval))
            or file_sha256(project.interval)},
        "ahp": (project.ahp or {}).get("applied"),
    }


def latest_evaluation(project: Project) -> dict | None:
    """The figures of the last ``riskmap evaluate`` run on this project, if any."""
    path = Path(project.output) / "evaluation" / "evaluation.json"
    if not path.is_file():
        return None
    try:
        ev = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    keep = ("hit@10", "PAI@10", "PEI@10", "AUC", "n_test")
    out = {m: {k: ev[m].get(k) for k in keep} for m in ("model", "kde", "uniform")
           if isinstance(ev.get(m), dict)}
    out.update(split=ev.get("split"), file=project.relative(path))
    return out


def _canonical(v):
    """Mappings with sorted keys, all the way down: the same inputs give the same bytes."""
    if isinstance(v, dict):
        return {str(k): _canonical(v[k]) for k in sorted(v, key=str)}
    if isinstance(v, list | tuple):
        return [_canonical(x) for x in v]
    return v
