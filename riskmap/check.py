"""Diagnose a project's layers without building (``riskmap check``)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import shapely

from riskmap.errors import RiskmapError
from riskmap.inputs import load_inputs
from riskmap.layers import read_source
from riskmap.project import Project


@dataclass
class CheckRow:
    """One layer as ``riskmap check`` sees it."""

    role: str
    source: str
    features: int | None = None
    geom_types: str = ""
    crs: str = ""
    encoding: str = ""
    extent: str = ""  # share of features touching the district
    empty: int = 0
    repaired: int = 0
    problem: str = ""
    notes: list[str] = field(default_factory=list)


def check_project(project: Project) -> tuple[list[CheckRow], list[str]]:
    """Read every layer and report on it.

    Returns
    -------
    rows : list of CheckRow
        One per (role, source), in project-file order.
    problems : list of str
        Everything that would stop a build; empty means the project can build.
    """
    roles = [("district", project.district.source), ("townships", project.townships.source)]
    if project.villages:
        roles.append(("villages", project.villages.source))
    roles += [(f"factor {f.name} ({f.label})", f.source) for f in project.factors]
    if project.incidents:
        roles.append(("incidents", project.incidents["source"]))

    district = None
    rows, problems = [], []
    for role, src in roles:
        row = CheckRow(role=role, source=str(src))
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                gdf, info = read_source(src, project.crs)
            row.notes += [str(w.message) for w in caught]
        except RiskmapError as e:
            row.problem = str(e)
            problems.append(str(e))
            rows.append(row)
            continue
        row.features, row.crs, row.encoding = info.features, info.crs or "", info.encoding or ""
        row.geom_types = ",".join(info.geom_types)
        row.empty, row.repaired = info.empty, info.repaired
        row.notes += info.notes
        if role == "district":
            district = shapely.union_all(gdf.geometry.values)
        if district is not None:
            share = shapely.intersects(gdf.geometry.values, district).mean()
            row.extent = f"{share:.0%} 在区内"
        rows.append(row)
    if not problems:
        # the checks that need several layers together (fields, kinds, extents)
        try:
            load_inputs(project)
        except RiskmapError as e:
            problems.append(str(e))
    return rows, problems
