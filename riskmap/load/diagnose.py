"""Diagnose a project's layers without building (``riskmap check``)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import shapely

from riskmap.errors import RiskmapError
from riskmap.load.extent import inside_share, outside
from riskmap.load.inputs import load_inputs, read_any
from riskmap.load.layers import read_source
from riskmap.load.project import Project
from riskmap.load.sources.base import named_rows


@dataclass
class CheckRow:
    """One layer as ``riskmap check`` sees it."""

    role: str
    source: str
    features: int | None = None
    geom_types: str = ""
    crs: str = ""
    encoding: str = ""
    extent: str = ""  # share inside the district (of the area, for polygons)
    empty: int = 0
    repaired: int = 0
    problem: str = ""
    notes: list[str] = field(default_factory=list)


def check_project(project: Project) -> tuple[list[CheckRow], list[str]]:
    """Read every layer and report on it.

    Returns
    -------
    rows : list of CheckRow
        One per (role, source), in project-file order; a factor of several sources
        has one row per source.
    problems : list of str
        Everything that would stop a build; empty means the project can build.
    """
    roles = [("district", project.district.source, None),
             ("townships", project.townships.source, None)]
    if project.villages:
        roles.append(("villages", project.villages.source, None))
    for f in project.factors:
        parts = f.source.parts or (f.source,)
        for i, src in enumerate(parts):
            tag = f" [{i + 1}/{len(parts)}]" if len(parts) > 1 else ""
            roles.append((f"factor {f.name} ({f.label}){tag}", src, f))
    if project.incidents:
        roles.append(("incidents", project.incidents["source"], None))

    district = None
    rows, problems, read, seen = [], [], {}, []  # read: what load_inputs below need not read
    for role, src, f in roles:
        row = CheckRow(role=role, source=str(src))
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                if src.key not in read:
                    read[src.key] = read_any(project, src, allow_empty=f is not None)
                gdf, info = read[src.key]
            row.notes += [str(w.message) for w in caught]
        except RiskmapError as e:
            row.problem = str(e)
            problems.append(str(e))
            rows.append(row)
            continue
        row.features, row.crs, row.encoding = info.features, info.crs or "", info.encoding or ""
        row.empty, row.repaired = info.empty, info.repaired
        if role == "district":
            district = shapely.union_all(gdf.geometry.values) if len(gdf) else None
        rows.append(row)
        seen.append((row, src, f, info))
    inputs = None
    if district is not None:
        # the checks that need several layers together (fields, kinds, extents, borders)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                inputs = load_inputs(project, cache=read, problems=problems)
            except RiskmapError as e:
                problems.append(str(e))
        _route([str(w.message) for w in caught], seen, rows)
    for row, src, f, info in seen:
        _finish(row, src, f, info, read, district, inputs)
    return rows, list(dict.fromkeys(problems))


def _finish(row: CheckRow, src, f, info, read, district, inputs) -> None:
    """A row's geometry, extent and notes once every check has run."""
    gdf = read[src.key][0]
    lines = read.get(("lines", src.key))
    if lines is not None:  # shared_boundary: the factor uses the border lines
        gdf = lines[0]
        row.features = len(gdf)
    row.geom_types = ",".join(sorted(set(gdf.geom_type.astype(str)))) if len(gdf) else ""
    if district is not None and len(gdf):
        row.extent = f"{inside_share(gdf.geometry.values, district):.0%} 在区内"
    if f is not None and not len(gdf):
        row.notes.append(f"factor {f.name}: 图层为空 (no features): 该因子处处为 0 (the factor "
                         "is zero everywhere); the build carries on")
    row.notes += [f"识别 (detected): {d}" for d in info.detected]
    row.notes += [n for n in info.notes if n not in row.notes]
    if f is not None and f.source.parts and src is f.source.parts[0]:
        whole = read.get(("parts", f.source.key))
        if whole is not None:
            row.notes += [n for n in whole[1].notes if n not in row.notes]


def _route(messages: list[str], seen, rows) -> None:
    """Warnings of the joint checks, each on the row of the source it names."""
    noted = {n for _r, _s, _f, i in seen for n in i.notes}
    for m in messages:
        if m in noted:  # said in a layer's notes: on that layer's row
            continue
        target = next((r for r, src, _f, _i in seen if m.startswith(str(src) + ":")), None)
        target = target or next((r for r in rows if m.startswith(r.source)), None)
        if target is None and rows:
            target = rows[0]
        if target is not None and m not in target.notes:
            target.notes.append(m)


# --- one data file or a folder, without a project ------------------------------
DATA_SUFFIXES = (".gpkg", ".shp", ".geojson", ".json", ".kml", ".kmz", ".csv", ".txt",
                 ".xlsx", ".xls", ".gml", ".fgb")
OK, REPAIRED, REFUSED = 0, 1, 2
_STATUS = {OK: "可直接使用 (usable as is)", REPAIRED: "修复后可用 (usable after repairs)",
           REFUSED: "拒绝 (refused)"}


@dataclass
class FileReport:
    """What ``riskmap check FILE`` found in one data file (or one layer of it)."""

    path: str
    layer: str | None = None
    format: str = ""
    encoding: str = ""
    crs_declared: str = ""
    crs_used: str = ""
    detected: list[str] = field(default_factory=list)
    features: int = 0
    geometry_types: dict = field(default_factory=dict)
    extent_lonlat: list[float] | None = None
    inside_district: float | None = None
    repairs: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    refusal: str = ""

    @property
    def status(self) -> int:
        """0 usable as is, 1 usable after the stated repairs, 2 refused."""
        return REFUSED if self.refusal else (REPAIRED if self.repairs else OK)

    def to_dict(self) -> dict:
        """Plain data for ``--json``."""
        from dataclasses import asdict

        return {**asdict(self), "status": self.status, "status_text": _STATUS[self.status]}


def data_files(target) -> list:
    """The data files ``riskmap check`` looks at: ``target`` or those in a folder."""
    from pathlib import Path

    target = Path(target)
    if target.is_dir():
        return sorted(p for p in target.rglob("*")
                      if p.is_file() and p.suffix.lower() in DATA_SUFFIXES
                      and not p.name.startswith("."))
    return [target]


def check_file(path, *, district=None, crs=None, encoding=None, table="points",
               datum=None, central_meridian=None) -> list[FileReport]:
    """Diagnose one data file (every layer of a multi-layer file) without a project.

    Parameters
    ----------
    path : path-like
        Any format riskmap reads: GPKG, SHP, GeoJSON, KML/KMZ, CSV/TXT/XLSX tables.
    district : shapely geometry, optional
        District polygon in EPSG:4326 to report the share of features inside.
    crs, encoding, table, datum, central_meridian
        As the keys of a project-file source.

    The file is opened read-only and never written to.
    """
    from pathlib import Path

    from riskmap.load.project import Source
    from riskmap.load.sources.vector import spatial_layers

    path = Path(path)
    layers = [None]
    if (path.suffix.lower() in (".gpkg", ".gml", ".fgb", ".geojson", ".json")
            and path.is_file() and path.stat().st_size > 0):
        try:
            names = spatial_layers(path)  # tables without geometry (metadata) are not layers
            layers = names if len(names) > 1 else [None]
        except RiskmapError:
            layers = [None]
    reports = []
    for layer in layers:
        rep = FileReport(path=str(path), layer=layer)
        src = Source(path=path.resolve(), layer=layer, crs=crs, encoding=encoding, table=table,
                     datum=datum, central_meridian=central_meridian)
        if not path.exists():
            rep.refusal = f"{path}: 文件不存在 (file not found)"
        elif path.stat().st_size == 0:
            rep.refusal = (f"{path}: 文件为空 (zero-byte file): the copy is incomplete; "
                           "copy it again")
        else:
            _check_one(src, rep, district)
        reports.append(rep)
    return reports


def _check_one(src, rep: FileReport, district) -> None:
    import numpy as np


    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            gdf, info = read_source(src, "EPSG:4326")
    except RiskmapError as e:
        rep.refusal = str(e)
        return
    rep.repairs = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    rep.format = info.format or src.path.suffix.lstrip(".").upper()
    rep.encoding = info.encoding or ""
    rep.crs_declared = info.crs or ""
    rep.crs_used = src.crs or info.crs or ""
    rep.detected = list(info.detected)
    rep.notes = list(info.notes)
    rep.features = info.features
    rep.geometry_types = dict(info.geom_counts)
    b = gdf.total_bounds
    if np.isfinite(b).all():
        rep.extent_lonlat = [round(float(v), 6) for v in b]
        if not (-180 <= b[0] <= 180 and -90 <= b[1] <= 90 and b[2] <= 180 and b[3] <= 90):
            rep.refusal = (f"{src}: coordinates do not convert to valid longitude/latitude "
                           f"(extent {rep.extent_lonlat}); the declared CRS is wrong")
    if district is not None and len(gdf):
        rep.inside_district = round(inside_share(gdf.geometry.values, district), 4)
        out = np.flatnonzero(outside(gdf.geometry.values, district))
        if len(out):
            rep.notes.append(f"{len(out)} of {len(gdf)} feature(s) lie outside the district: "
                             f"rows {named_rows(gdf, out, info.rows)}")


def render_reports(reports: list[FileReport]) -> list[str]:
    """One header line per file/layer, then one line per finding."""
    lines = []
    for r in reports:
        name = r.path + (f" (图层 {r.layer})" if r.layer else "")
        if r.refusal:
            lines.append(f"{name}: {_STATUS[REFUSED]}")
            lines.append(f"  拒绝 REFUSED: {r.refusal}")
            continue
        types = ", ".join(f"{k} {v}" for k, v in r.geometry_types.items())
        lines.append(f"{name}: {r.format}, {r.features} 要素 ({types}), 坐标系 {r.crs_used}, "
                     f"编码 {r.encoding or '-'} — {_STATUS[r.status]}")
        for d in r.detected:
            lines.append(f"  识别 DETECTED: {d}")
        if r.extent_lonlat:
            ext = ", ".join(f"{v:.4f}" for v in r.extent_lonlat)
            inside = ("" if r.inside_district is None
                      else f"; {r.inside_district:.0%} 在区内 (inside the district)")
            lines.append(f"  范围 EXTENT: lon/lat {ext}{inside}")
        for m in r.repairs:
            lines.append(f"  修复 REPAIR: {m}")
        for m in r.notes:
            lines.append(f"  注意 NOTE: {m}")
    return lines
