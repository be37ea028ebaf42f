"""The reference layers (roads, rivers, settlements, DOM), read as ``build`` and ``plan`` read them.

One row each, with what was found (features and geometry types, or the DOM's
size, bands and CRS) and how much of it lies over the district; a layer that
cannot be read is refused with the message ``build`` gives
(:func:`riskmap.load.reference.read_reference_layer`, :func:`~riskmap.load.reference.open_dom`).
"""

from __future__ import annotations

import shapely

from riskmap.load.reference import ROLE_LABELS, open_dom, read_reference_layer
from riskmap.pipeline.checks import Run

__all__ = ["REFERENCE_COMMANDS", "check_reference"]

#: the commands that draw the reference layers (map.pdf and map.html, plan.pdf)
REFERENCE_COMMANDS = ("build", "plan")


def check_reference(run: Run) -> None:
    """One row per reference layer; a refusal for each that ``build`` would refuse."""
    p = run.project
    for spec in p.reference:
        row = run.row(f"reference {spec.role} ({ROLE_LABELS[spec.role]})", spec.source,
                      REFERENCE_COMMANDS)
        if spec.role == "dom":
            dom = run.attempt(row, open_dom, spec, p.crs)
            if dom is None:
                continue
            row.features, row.geom_types = None, f"影像 {dom.width}×{dom.height} px, " \
                f"{dom.bands} 波段 ({dom.dtype})"
            row.crs = dom.crs_name
            run.note(row, f"像元 {dom.res:g} (pixel size, its CRS units); 仅绘制, 不参与评分 "
                          "(drawn only, not scored)")
            if run.district is not None and not run.district.is_empty:
                cover = shapely.box(*dom.bounds).intersection(run.district).area
                row.extent = f"覆盖本区 {cover / run.district.area:.0%}"
                if cover == 0:
                    run.note(row, "正射影像不覆盖本区 (the DOM does not reach the district): "
                                  "check its CRS")
            continue
        got = run.attempt(row, read_reference_layer, p, spec, run.cache)
        if got is None:
            continue
        gdf, info = got
        row.features, row.geom_types = len(gdf), ", ".join(info.geom_types)
        row.crs, row.encoding = info.crs or p.crs, info.encoding or ""
        row.repaired = info.repaired
        named = f"{int((gdf['name'] != '').sum())} 个名称 ({spec.name_field}); " \
            if spec.name_field else ""
        run.note(row, *(f"识别 (detected): {d}" for d in info.detected), *info.notes,
                 f"{named}仅绘制, 不参与评分 (drawn only, not scored)")
        if run.district is not None and len(gdf):
            inside = shapely.intersects(gdf.geometry.values, run.district)
            row.extent = f"{inside.mean():.0%} 在区内"
            if not inside.any():
                run.note(row, "图层不在本区 (no feature reaches the district): check its CRS")
