"""Read and check a project file (YAML or TOML): its generic structure.

Every key is known: an unknown or misspelt key is an error that names the key,
where it sits and the file. Paths are relative to the project file. The
factors' parameters are checked by their kinds one floor up
(:func:`riskmap.factors.check_project`); every command reads projects through
:func:`riskmap.pipeline.project.load_project`, which does both.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from riskmap.errors import ProjectFileError
from riskmap.load import schema
from riskmap.load.projectfile import read_raw
from riskmap.load.schema import (
    _AHP_KEYS,
    _AREA_KEYS,
    _CALIBRATION_KEYS,
    _CLASS_KEYS,
    _INCIDENT_KEYS,
    _MAP_KEYS,
    _PLAN_KEYS,
    _POWER_KEYS,
    _ROSTER_KEYS,
    _SOURCE_KEYS,
    _TOP_KEYS,
    BASEMAPS,
    DATUMS,
    FACTOR_COMMON_KEYS,
    MARS_CRS,
    Checker,
    is_font_path,
    split_source,
)
from riskmap.load.specs import (
    AreaSpec,
    FactorSpec,
    Project,
    Source,
    Traits,
    check_cell_sizes,
    check_patrol_size,
)

__all__ = [
    "BASEMAPS",
    "DATUMS",
    "FACTOR_COMMON_KEYS",
    "MARS_CRS",
    "PATH_KEYS",
    "_AHP_KEYS",
    "_AREA_KEYS",
    "_CALIBRATION_KEYS",
    "_CLASS_KEYS",
    "_INCIDENT_KEYS",
    "_MAP_KEYS",
    "_PLAN_KEYS",
    "_POWER_KEYS",
    "_ROSTER_KEYS",
    "_SOURCE_KEYS",
    "_TOP_KEYS",
    "AreaSpec",
    "FactorSpec",
    "Project",
    "Source",
    "Traits",
    "check_cell_sizes",
    "check_patrol_size",
    "path_values",
    "read_project",
    "rebase_paths",
    "split_source",
]

# Every project key that holds a path (relative to the project file), declared once:
# loading resolves them, hashing reads them, and ``calibrate --write`` rebases them.
# ``*`` stands for every item of a list; a source is a path string or {path: ...}.
PATH_KEYS = (
    ("district", "source"), ("townships", "source"), ("villages", "source"),
    ("village_points", "source"), ("factors", "*", "source"),
    ("factors", "*", "source", "*"),  # a factor reading several sources
    ("incidents", "source"),
    ("roster", "source"), ("power", "source"), ("power", "expansions"), ("plan", "roads"),
    ("history",), ("output",), ("map", "font"), ("interval",),
    *(("reference", role) for role in schema.REFERENCE_ROLES),
    *(("reference", role, "*") for role in schema.REFERENCE_ROLES),  # several sources
)


def read_project(path, *, as_of: dt.date | None = None) -> Project:
    """Read a project file and check its generic structure.

    The factors' parameters are checked by their kinds
    (:func:`riskmap.factors.check_project`) and AHP weights applied
    (:mod:`riskmap.models.ahp`) one floor up, by
    :func:`riskmap.pipeline.project.load_project`, which every command uses.

    Parameters
    ----------
    path : str or Path
        YAML (``.yaml``/``.yml``) or TOML (``.toml``) project file.
    as_of : datetime.date, optional
        Reference date for ages (tip decay); overrides the file's ``as_of``.
        Default: the file's ``as_of``, else today.

    Raises
    ------
    ProjectFileError
        Naming the file and key for anything missing, unknown or invalid.
    """
    path = Path(path)
    if not path.exists():
        raise ProjectFileError(f"{path}: 项目文件不存在 (project file not found); check the path")
    if not path.is_file():  # a folder, a pipe (FIFO) or a device would hang or mislead
        raise ProjectFileError(f"{path}: 不是普通文件 (not a regular file: a folder, pipe or "
                               "device); give the project's .yaml or .toml file")
    raw = read_raw(path)
    ctx = Checker(path)
    ctx.keys(raw, _TOP_KEYS, "")
    folder = path.parent
    crs = ctx.crs(ctx.req(raw, "crs", ""), "crs")
    cell = ctx.number(raw.get("cell_size", 25), "cell_size", positive=True)
    patrol = ctx.number(raw.get("patrol_cell_size", 100), "patrol_cell_size", positive=True)
    check_cell_sizes(path, cell, patrol)
    patrol_score = raw.get("patrol_score", "max")
    if patrol_score not in ("max", "mean"):
        ctx.fail("patrol_score", f"must be 'max' or 'mean', got {patrol_score!r}")
    ref = as_of or ctx.date(raw.get("as_of"), "as_of") or dt.date.today()
    district = ctx.area(raw, "district", folder)
    townships = ctx.area(raw, "townships", folder)
    villages = ctx.area(raw, "villages", folder) if raw.get("villages") is not None else None
    factor_specs = schema.factors(ctx, raw, folder)
    method, breaks = schema.classes(ctx, raw)
    incidents = schema.incidents(ctx, raw, folder)
    models = schema.models(ctx, raw)
    loop = schema.field_loop(ctx, raw, folder)
    mapcfg = schema.map_options(ctx, raw, folder)
    reference = schema.reference(ctx, raw, folder)
    output = raw.get("output", "outputs")
    if not isinstance(output, str):
        ctx.fail("output", "must be a folder path")
    interval = raw.get("interval")  # written by calibrate --write; read by build and plan
    if interval is not None and (not isinstance(interval, str) or not interval.strip()):
        ctx.fail("interval", "must be the path of score_interval.tif (written by riskmap "
                 "calibrate --write)")
    return Project(
        path=path.resolve(), name=str(raw.get("name") or path.stem), crs=crs, cell_size=cell,
        patrol_cell_size=patrol, patrol_score=patrol_score, as_of=ref, district=district,
        townships=townships, villages=villages, factors=factor_specs, class_method=method,
        class_breaks=breaks, incidents=incidents, output=(folder / output).resolve(),
        map=mapcfg, reference=reference, **models, **loop,
        interval=(folder / interval).resolve() if interval else None,
    )


def path_values(raw: dict):
    """Yield ``(container, key)`` for every path-bearing value of a raw project mapping.

    ``container[key]`` is a path string or a ``{path: ...}`` source mapping, as
    declared by :data:`PATH_KEYS`.
    """

    def walk(node, keys):
        if not keys:
            return
        head, rest = keys[0], keys[1:]
        items = (enumerate(node) if isinstance(node, list) else ()) if head == "*" else (
            [(head, node.get(head))] if isinstance(node, dict) else [])
        for k, v in items:
            if v is None:
                continue
            if rest:
                yield from walk(v, rest)
            else:
                yield node, k

    for keys in PATH_KEYS:
        for node, k in walk(raw, keys):
            v = node[k]
            if keys == ("map", "font") and not (isinstance(v, str) and is_font_path(v)):
                continue
            if isinstance(v, str) or (isinstance(v, dict) and "path" in v):
                yield node, k


def rebase_paths(raw: dict, old: Path, new: Path) -> dict:
    """Rewrite every path of a raw project mapping from folder ``old`` to folder ``new``.

    Absolute paths stay as they are; ``file.gpkg:layer`` keeps its layer. The
    mapping is changed in place and returned.
    """
    import os

    def move(p: str) -> str:
        if Path(p).is_absolute() or re.match(r"^[A-Za-z]:[\\/]", p):
            return p
        return Path(os.path.relpath((old / p).resolve(), new.resolve())).as_posix()

    def one(v):
        if isinstance(v, str):
            path, layer = split_source(v)
            return move(path) + (f":{layer}" if layer else "")
        return {**v, "path": move(str(v["path"]))}

    for node, k in list(path_values(raw)):
        node[k] = one(node[k])
    return raw


