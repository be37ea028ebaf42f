"""Read and check a project file (YAML or TOML).

Every key is known: an unknown or misspelt key is an error that names the key,
where it sits and the file. Paths are relative to the project file.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pyproj import CRS
from pyproj.exceptions import CRSError

from riskmap.errors import ProjectFileError

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,30}$")

_TOP_KEYS = {
    "name", "crs", "cell_size", "patrol_cell_size", "patrol_score", "as_of", "district",
    "townships", "villages", "factors", "classes", "incidents", "output", "map", "ahp",
    "calibration", "roster", "plan", "history", "village_points", "power",
}
_POWER_KEYS = {"source", "user_field", "category_field", "village_field", "month_fields",
               "long_format", "expansions", "top", "min_score"}
_MAP_KEYS = {"basemap", "tianditu_key", "font", "paper", "orientation", "measure_load",
             "sources"}
BASEMAPS = ("none", "osm", "tianditu", "tianditu-imagery")
_AREA_KEYS = {"source", "name_field", "township_field", "label"}
_SOURCE_KEYS = {
    "path", "layer", "where", "x_field", "y_field", "crs", "encoding", "sheet", "table",
    "crs_field", "datum", "towgs84", "central_meridian", "allow_outside",
}
DATUMS = ("cgcs2000", "wgs84", "xian80", "beijing54")
# coordinate systems that are not CRSs PROJ knows: China's obfuscated web-map datums
MARS_CRS = {"GCJ02": "GCJ02", "GCJ-02": "GCJ02", "AMAP": "GCJ02", "高德": "GCJ02",
            "TENCENT": "GCJ02", "腾讯": "GCJ02", "火星坐标": "GCJ02",
            "BD09": "BD09", "BD-09": "BD09", "BAIDU": "BD09", "百度": "BD09"}
#: keys every factor has; the rest are its kind's parameters (checked by riskmap.factors)
FACTOR_COMMON_KEYS = frozenset({"name", "label", "source", "kind", "weight"})
_CLASS_KEYS = {"method", "breaks"}
_INCIDENT_KEYS = {"source", "date_field", "judgement_field", "events_as", "kde_bandwidth"}
_AHP_KEYS = {"factors", "matrix", "random_index"}
_CALIBRATION_KEYS = {"ranges", "folds", "block_size", "seed", "penalty"}
_ROSTER_KEYS = {"source", "village_field", "cell_field", "name_field", "phone_field"}
_PLAN_KEYS = {"per_village", "near_finds", "random_share", "damp_weeks", "damp_factor",
              "raise_factor", "raise_weeks", "seed", "roads", "min_class"}
# Every project key that holds a path (relative to the project file), declared once:
# loading resolves them, hashing reads them, and ``calibrate --write`` rebases them.
# ``*`` stands for every item of a list; a source is a path string or {path: ...}.
PATH_KEYS = (
    ("district", "source"), ("townships", "source"), ("villages", "source"),
    ("village_points", "source"), ("factors", "*", "source"), ("incidents", "source"),
    ("roster", "source"), ("power", "source"), ("power", "expansions"), ("plan", "roads"),
    ("history",), ("output",), ("map", "font"),
)


@dataclass(frozen=True)
class Source:
    """Where a layer comes from: a file, optionally a layer inside it."""

    path: Path
    layer: str | None = None
    where: str | None = None
    x_field: str | None = None
    y_field: str | None = None
    crs: str | None = None
    encoding: str | None = None
    sheet: str | None = None
    table: str = "points"  # for CSV/TXT/XLSX: "points" or "corners" (拐点坐标 licences)
    crs_field: str | None = None  # per-row coordinate system column
    datum: str | None = None  # of GK coordinates: cgcs2000, wgs84, xian80, beijing54
    towgs84: tuple | None = None  # Helmert parameters for xian80 / beijing54
    central_meridian: float | None = None  # of GK eastings without zone prefix
    allow_outside: bool = False  # accept a layer whose features are mostly outside

    def __str__(self) -> str:
        return f"{self.path}" + (f" (图层 {self.layer})" if self.layer else "")

    @property
    def is_table(self) -> bool:
        """True for CSV/TXT/XLSX point tables (read by pandas, not OGR)."""
        return self.path.suffix.lower() in {".csv", ".txt", ".xlsx", ".xls"}


@dataclass(frozen=True)
class AreaSpec:
    """Township or village polygons with their name field."""

    source: Source
    name_field: str
    township_field: str | None = None
    label: str | None = None


@dataclass(frozen=True)
class Traits:
    """What a factor's kind tells the lower floors about it, as plain data.

    Filled in when the factor's parameters are checked by its kind
    (:func:`riskmap.factors.check_spec`); loading reads it to check the layer.
    """

    reach: float = 0.0  # largest distance (m) at which a feature still affects a cell
    density: bool = False  # the value is a kernel density (per km²)
    geometries: frozenset = frozenset()  # geometry types the kind can use (empty: any)
    needs: str = ""  # those types in words, for messages
    columns: tuple = ()  # columns of the layer the factor reads


@dataclass(frozen=True)
class FactorSpec:
    """One risk factor: a layer, a kind, its parameters and a weight."""

    name: str
    label: str
    source: Source
    kind: str
    weight: float
    params: dict = field(default_factory=dict)
    traits: Traits | None = None  # None until checked by the factor's kind

    @property
    def is_density(self) -> bool:
        """A kernel density (``density``, or ``typed`` with ``method: density``)."""
        return bool(self.traits and self.traits.density)

    @property
    def reach(self) -> float:
        """Largest distance (m) at which a feature still affects a cell."""
        return self.traits.reach if self.traits else 0.0


@dataclass(frozen=True)
class Project:
    """A checked project file."""

    path: Path
    name: str
    crs: str
    cell_size: float
    patrol_cell_size: float
    patrol_score: str
    as_of: dt.date
    district: AreaSpec
    townships: AreaSpec
    villages: AreaSpec | None
    factors: tuple[FactorSpec, ...]
    class_method: str
    class_breaks: tuple[float, ...]
    incidents: dict | None
    output: Path
    map: dict = field(default_factory=dict)
    ahp: dict | None = None  # pairwise comparison matrix (checked by riskmap.models.ahp)
    calibration: dict = field(default_factory=dict)  # options of riskmap calibrate
    roster: dict | None = None  # responsible cadres: source + field names (raw, checked later)
    plan: dict = field(default_factory=dict)  # options of riskmap plan (raw, checked later)
    village_points: AreaSpec | None = None  # village committee points (name_field, ...)
    history: Path | None = None  # the project's history database (default beside the file)
    power: dict | None = None  # the power company's meter table (raw, checked by models.power)

    @property
    def folder(self) -> Path:
        """Folder of the project file (paths are relative to it)."""
        return self.path.parent

    def sources(self) -> list[Source]:
        """Every input source, in project-file order, without repeats."""
        seen, out = set(), []
        areas = [self.district, self.townships, self.villages]
        for s in [a.source for a in areas if a] + [f.source for f in self.factors]:
            if (s.path, s.layer) not in seen:
                seen.add((s.path, s.layer))
                out.append(s)
        return out

    def with_cell_size(self, cell_size: float) -> Project:
        """Copy with another analysis cell size (checked against the patrol size)."""
        from dataclasses import replace

        _check_cell_sizes(self.path, cell_size, self.patrol_cell_size)
        return replace(self, cell_size=float(cell_size))


def load_project(path, *, as_of: dt.date | None = None) -> Project:
    """Read and check a project file completely (see :func:`riskmap.pipeline.project`)."""
    from riskmap.pipeline.project import load_project as _full

    return _full(path, as_of=as_of)


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
    if not path.is_file():
        raise ProjectFileError(f"{path}: 项目文件不存在 (project file not found); check the path")
    raw = _read(path)
    ctx = _Ctx(path)
    ctx.keys(raw, _TOP_KEYS, "")
    folder = path.parent
    crs = ctx.crs(ctx.req(raw, "crs", ""), "crs")
    cell = ctx.number(raw.get("cell_size", 25), "cell_size", positive=True)
    patrol = ctx.number(raw.get("patrol_cell_size", 100), "patrol_cell_size", positive=True)
    _check_cell_sizes(path, cell, patrol)
    patrol_score = raw.get("patrol_score", "max")
    if patrol_score not in ("max", "mean"):
        ctx.fail("patrol_score", f"must be 'max' or 'mean', got {patrol_score!r}")
    ref = as_of or ctx.date(raw.get("as_of"), "as_of") or dt.date.today()

    district = ctx.area(raw, "district", folder)
    townships = ctx.area(raw, "townships", folder)
    villages = ctx.area(raw, "villages", folder) if raw.get("villages") is not None else None

    factors_raw = ctx.req(raw, "factors", "")
    if not isinstance(factors_raw, list) or not factors_raw:
        ctx.fail("factors", "must be a non-empty list of factors")
    factors = tuple(ctx.factor(f, i, folder) for i, f in enumerate(factors_raw))
    names = [f.name for f in factors]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        ctx.fail("factors", f"factor names must be unique; repeated: {', '.join(dup)}")
    if not any(f.weight > 0 for f in factors):
        ctx.fail("factors", "at least one factor needs a positive weight")

    classes = raw.get("classes") or {}
    ctx.keys(classes, _CLASS_KEYS, "classes")
    method = classes.get("method", "quantile")
    if method not in ("quantile", "fixed"):
        ctx.fail("classes.method", f"must be 'quantile' or 'fixed', got {method!r}")
    default = [0.5, 0.75, 0.9, 0.97] if method == "quantile" else [20, 40, 60, 80]
    breaks = classes.get("breaks", default)
    if (
        not isinstance(breaks, list)
        or len(breaks) != 4
        or not all(isinstance(b, int | float) and not isinstance(b, bool) for b in breaks)
        or not all(-math.inf < b < math.inf for b in breaks)  # no NaN or infinity
        or any(b >= c for b, c in itertools.pairwise(breaks))
    ):
        ctx.fail("classes.breaks", "must be 4 increasing numbers (the lower bounds of classes 2–5)")
    hi = 1.0 if method == "quantile" else 100.0
    if breaks[0] <= 0 or breaks[-1] >= hi:
        ctx.fail("classes.breaks", f"{method} breaks must lie strictly between 0 and {hi:g}")

    incidents = None
    if raw.get("incidents") is not None:
        inc = raw["incidents"]
        ctx.keys(inc, _INCIDENT_KEYS, "incidents")
        incidents = {
            "source": ctx.source(ctx.req(inc, "source", "incidents"), "incidents.source", folder),
            "date_field": inc.get("date_field"),
            # polygons of the quarterly satellite enforcement (卫片执法图斑): the column
            # holding 合法 / 违法 / 伪变化; 违法 ones are events, 伪变化 verified negatives
            "judgement_field": inc.get("judgement_field"),
            "events_as": inc.get("events_as", "centroid"),
            "kde_bandwidth": ctx.number(inc.get("kde_bandwidth", 400), "incidents.kde_bandwidth",
                                        positive=True),
        }
        if incidents["events_as"] not in ("centroid", "area"):
            ctx.fail("incidents.events_as", "must be 'centroid' or 'area'")

    ahp = raw.get("ahp")
    if ahp is not None:
        ctx.keys(ahp, _AHP_KEYS, "ahp")
        ahp = dict(ahp)
        for k in ("factors", "matrix"):
            ctx.req(ahp, k, "ahp")
    calibration = raw.get("calibration") or {}
    ctx.keys(calibration, _CALIBRATION_KEYS, "calibration")
    roster = raw.get("roster")
    if roster is not None:
        ctx.keys(roster, _ROSTER_KEYS, "roster")
        roster = dict(roster)
        roster["source"] = ctx.source(ctx.req(roster, "source", "roster"), "roster.source",
                                      folder)
    plan = raw.get("plan") or {}
    ctx.keys(plan, _PLAN_KEYS, "plan")
    plan = dict(plan)
    if plan.get("roads") is not None:
        plan["roads"] = ctx.source(plan["roads"], "plan.roads", folder)
    village_points = None
    if raw.get("village_points") is not None:
        village_points = ctx.area(raw, "village_points", folder)
    power = raw.get("power")
    if power is not None:
        ctx.keys(power, _POWER_KEYS, "power")
        power = dict(power)
        power["source"] = ctx.source(ctx.req(power, "source", "power"), "power.source", folder)
        if power.get("expansions") is not None:
            power["expansions"] = ctx.source(power["expansions"], "power.expansions", folder)
    history = raw.get("history")
    if history is not None and not isinstance(history, str):
        ctx.fail("history", "must be a file path (the project's history database)")

    mapcfg = raw.get("map") or {}
    ctx.keys(mapcfg, _MAP_KEYS, "map")
    mapcfg = dict(mapcfg)
    if mapcfg.get("basemap", "none") not in BASEMAPS:
        ctx.fail("map.basemap", f"unknown basemap {mapcfg['basemap']!r}; use one of "
                 f"{', '.join(BASEMAPS)} (AMap/Baidu tiles are shifted against WGS84 data)")
    if mapcfg.get("paper", "A3") not in ("A3", "A4"):
        ctx.fail("map.paper", "must be A3 or A4")
    if mapcfg.get("orientation", "landscape") not in ("landscape", "portrait"):
        ctx.fail("map.orientation", "must be landscape or portrait")
    if mapcfg.get("font"):
        mapcfg["font"] = str((folder / str(mapcfg["font"])).resolve()) if _is_font_path(
            str(mapcfg["font"])) else str(mapcfg["font"])
    output = raw.get("output", "outputs")
    if not isinstance(output, str):
        ctx.fail("output", "must be a folder path")
    project = Project(
        path=path.resolve(),
        name=str(raw.get("name") or path.stem),
        crs=crs,
        cell_size=cell,
        patrol_cell_size=patrol,
        patrol_score=patrol_score,
        as_of=ref,
        district=district,
        townships=townships,
        villages=villages,
        factors=factors,
        class_method=method,
        class_breaks=tuple(float(b) for b in breaks),
        incidents=incidents,
        output=(folder / output).resolve(),
        map=mapcfg,
        ahp=ahp,
        calibration=dict(calibration),
        roster=roster,
        plan=plan,
        village_points=village_points,
        power=power,
        history=(folder / history).resolve() if history else path.resolve().with_suffix(
            ".history.gpkg"),
    )
    return project


def _check_cell_sizes(path, cell, patrol):
    from riskmap.errors import GridError
    from riskmap.grid.cellid import check_patrol_size

    try:
        check_patrol_size(patrol)
    except GridError as e:
        raise ProjectFileError(f"{path}: patrol_cell_size: {e}") from None
    k = patrol / cell if cell > 0 else math.inf
    if not math.isfinite(k) or abs(k - round(k)) > 1e-9:
        raise ProjectFileError(
            f"{path}: cell_size {cell:g} m must divide patrol_cell_size {patrol:g} m "
            "a whole number of times (e.g. 25 m analysis cells in 100 m patrol cells)"
        )


def _read(path: Path) -> dict:
    text_err = (UnicodeDecodeError, yaml.YAMLError, tomllib.TOMLDecodeError)
    try:
        if path.suffix.lower() == ".toml":
            raw = tomllib.loads(path.read_text(encoding="utf-8-sig"))
        else:
            raw = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except text_err as e:
        raise ProjectFileError(
            f"{path}: 无法解析项目文件 (cannot parse): {str(e).splitlines()[0]}; "
            "save it as UTF-8 YAML or TOML"
        ) from None
    if not isinstance(raw, dict):
        raise ProjectFileError(f"{path}: the project file must be a mapping of keys")
    return raw


class _Ctx:
    """Validation helpers that know the file name for messages."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, key: str, msg: str):
        raise ProjectFileError(f"{self.path}: {key}: {msg}")

    def keys(self, d: Any, allowed: set, where: str):
        if not isinstance(d, dict):
            self.fail(where or "<top>", "must be a mapping of keys")
        unknown = sorted(set(map(str, d)) - allowed)
        if unknown:
            loc = f"in {where}" if where else "at the top level"
            self.fail(
                f"{where + '.' if where else ''}{unknown[0]}",
                f"unknown key {unknown[0]!r} {loc}; allowed keys: {', '.join(sorted(allowed))}",
            )

    def req(self, d: dict, key: str, where: str):
        if d.get(key) is None:
            self.fail(f"{where + '.' if where else ''}{key}", "required key is missing")
        return d[key]

    def number(self, v, key, positive=False) -> float:
        if isinstance(v, bool) or not isinstance(v, int | float):
            self.fail(key, f"must be a number, got {v!r}")
        try:
            f = float(v)
        except OverflowError:  # an integer beyond any float
            f = math.inf
        if not math.isfinite(f):
            self.fail(key, f"must be a finite number, got {v!r}")
        if positive and not f > 0:
            self.fail(key, f"must be > 0, got {v!r}")
        return f

    def date(self, v, key) -> dt.date | None:
        if v is None:
            return None
        if isinstance(v, dt.datetime):
            return v.date()
        if isinstance(v, dt.date):
            return v
        try:
            return dt.date.fromisoformat(str(v))
        except ValueError:
            self.fail(key, f"must be a date like 2026-11-27, got {v!r}")

    def crs(self, v, key) -> str:
        try:
            crs = CRS.from_user_input(v)
        except CRSError:
            self.fail(key, f"unknown coordinate system {v!r}; use e.g. EPSG:4547")
        if crs.is_geographic:
            self.fail(key, f"{v!r} is geographic (degrees); the working CRS must be in metres, "
                      "e.g. EPSG:4547 (CGCS2000 / 3-degree Gauss-Kruger CM 114E)")
        auth = crs.to_authority()
        return f"{auth[0]}:{auth[1]}" if auth else crs.to_wkt()

    def source(self, v, key, folder: Path) -> Source:
        if isinstance(v, str):
            path, layer = split_source(v)
            return Source(path=(folder / path).resolve(), layer=layer)
        if isinstance(v, dict):
            self.keys(v, _SOURCE_KEYS, key)
            p = self.req(v, "path", key)
            path, layer = split_source(str(p))
            layer = v.get("layer", layer)
            crs = self.crs_any(v["crs"], key + ".crs") if v.get("crs") else None
            table = v.get("table", "points")
            if table not in ("points", "corners"):
                self.fail(f"{key}.table",
                          f"must be 'points' or 'corners' (拐点坐标), got {table!r}")
            datum = v.get("datum")
            if datum is not None and str(datum).lower() not in DATUMS:
                self.fail(f"{key}.datum",
                          f"unknown datum {datum!r}; use one of {', '.join(DATUMS)}")
            tw = v.get("towgs84")
            if tw is not None:
                if isinstance(tw, str):
                    tw = [t for t in tw.replace("，", ",").split(",") if t.strip()]
                try:
                    tw = tuple(float(t) for t in tw)
                except (TypeError, ValueError):
                    tw = ()
                if len(tw) not in (3, 7):
                    self.fail(f"{key}.towgs84", "must be 3 or 7 numbers: dx, dy, dz (m) "
                              "[, rx, ry, rz (arc-seconds), ds (ppm)]")
            cm = v.get("central_meridian")
            if cm is not None:
                cm = self.number(cm, f"{key}.central_meridian")
            allow = v.get("allow_outside", False)
            if not isinstance(allow, bool):
                self.fail(f"{key}.allow_outside", "must be true or false")
            return Source(
                path=(folder / path).resolve(),
                layer=None if layer is None else str(layer),
                where=v.get("where"),
                x_field=v.get("x_field"),
                y_field=v.get("y_field"),
                crs=crs,
                encoding=v.get("encoding"),
                sheet=v.get("sheet"),
                table=table,
                crs_field=v.get("crs_field"),
                datum=None if datum is None else str(datum).lower(),
                towgs84=tw,
                central_meridian=cm,
                allow_outside=allow,
            )
        self.fail(key, "must be a path ('file.gpkg:layer') or a mapping with 'path'")

    def crs_any(self, v, key) -> str:
        mars = MARS_CRS.get(str(v).strip().upper().replace(" ", ""))
        if mars:
            return mars
        try:
            crs = CRS.from_user_input(v)
        except CRSError:
            self.fail(key, f"unknown coordinate system {v!r}; use e.g. EPSG:4326, EPSG:4547, "
                      "GCJ02 (AMap/Tencent) or BD09 (Baidu)")
        auth = crs.to_authority()
        return f"{auth[0]}:{auth[1]}" if auth else crs.to_wkt()

    def area(self, raw, key, folder) -> AreaSpec:
        d = self.req(raw, key, "")
        self.keys(d, _AREA_KEYS, key)
        return AreaSpec(
            source=self.source(self.req(d, "source", key), f"{key}.source", folder),
            name_field=str(d.get("name_field", "name")),
            township_field=d.get("township_field"),
            label=d.get("label"),
        )

    def factor(self, f, i, folder) -> FactorSpec:
        """The generic part of a factor; its kind checks the parameters (riskmap.factors)."""
        where = f"factors[{i}]"
        if not isinstance(f, dict):
            self.fail(where, "each factor must be a mapping")
        name = f.get("name")
        if name is not None:
            where = f"factors[{i}] ({name})"
        kind = self.req(f, "kind", where)
        if not isinstance(kind, str):
            self.fail(f"{where}.kind", f"must be the name of a factor kind, got {kind!r}")
        name = self.req(f, "name", where)
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            self.fail(f"{where}.name", "must be a short ASCII identifier like closed_mines "
                      "(lower case, digits, _); put the Chinese name in 'label'")
        label = str(f.get("label") or name)
        weight = self.number(self.req(f, "weight", where), f"{where}.weight")
        src = self.source(self.req(f, "source", where), f"{where}.source", folder)
        params = {str(k): v for k, v in f.items() if k not in FACTOR_COMMON_KEYS}
        return FactorSpec(name=name, label=label, source=src, kind=kind, weight=weight,
                          params=params)


def _is_font_path(v: str) -> bool:
    """``map.font`` is a path only when it looks like one (else a font family name)."""
    return any(ch in v for ch in "/\\.")


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
            if keys == ("map", "font") and not (isinstance(v, str) and _is_font_path(v)):
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


def split_source(s: str) -> tuple[str, str | None]:
    r"""Split ``file.gpkg:layer`` (but not ``C:\\data\\x.shp``)."""
    head, sep, tail = s.rpartition(":")
    if sep and head and "/" not in tail and "\\" not in tail and Path(head).suffix:
        return head, tail
    return s, None
