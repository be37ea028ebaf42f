"""The project file's schema: its keys, and the checker that names file and key in errors.

Every key is known: an unknown or misspelt key is an error that names the key,
where it sits and the file.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import re
from pathlib import Path
from typing import Any

from pyproj import CRS
from pyproj.exceptions import CRSError

from riskmap.errors import ProjectFileError
from riskmap.load.filters import where_from_mapping
from riskmap.load.specs import AreaSpec, FactorSpec, ReferenceSpec, Source
from riskmap.load.values import date_of

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,30}$")

_TOP_KEYS = {
    "name", "crs", "cell_size", "patrol_cell_size", "patrol_score", "as_of", "district",
    "townships", "villages", "factors", "classes", "incidents", "output", "map", "ahp",
    "calibration", "roster", "plan", "history", "village_points", "power", "reference",
    "interval",
}
_POWER_KEYS = {"source", "user_field", "category_field", "village_field", "month_fields",
               "long_format", "expansions", "top", "min_score"}
_MAP_KEYS = {"basemap", "tianditu_key", "font", "paper", "orientation", "measure_load",
             "sources"}
BASEMAPS = ("none", "osm", "tianditu", "tianditu-imagery")
_AREA_KEYS = {"source", "name_field", "township_field", "label"}
_SOURCE_KEYS = {
    "path", "layer", "where", "x_field", "y_field", "crs", "encoding", "sheet", "table",
    "crs_field", "datum", "towgs84", "central_meridian", "allow_outside", "shared_boundary",
}
#: default tolerance (m) of ``shared_boundary: true``: neighbours' polygons and the
#: district's rarely match exactly (AMap/Tianditu outlines differ by tens of metres)
SHARED_BOUNDARY_TOLERANCE_M = 100.0
DATUMS = ("cgcs2000", "wgs84", "xian80", "beijing54")
# coordinate systems that are not CRSs PROJ knows: China's obfuscated web-map datums
MARS_CRS = {"GCJ02": "GCJ02", "GCJ-02": "GCJ02", "AMAP": "GCJ02", "高德": "GCJ02",
            "TENCENT": "GCJ02", "腾讯": "GCJ02", "火星坐标": "GCJ02",
            "BD09": "BD09", "BD-09": "BD09", "BAIDU": "BD09", "百度": "BD09"}
#: keys every factor has; the rest are its kind's parameters (checked by riskmap.factors)
FACTOR_COMMON_KEYS = frozenset({"name", "label", "source", "kind", "weight"})
_CLASS_KEYS = {"method", "breaks"}
_INCIDENT_KEYS = {"source", "date_field", "judgement_field", "events_as", "kde_bandwidth",
                  "case_field"}
_AHP_KEYS = {"factors", "matrix", "random_index"}
_CALIBRATION_KEYS = {"ranges", "folds", "block_size", "seed", "penalty"}
_ROSTER_KEYS = {"source", "village_field", "cell_field", "name_field", "phone_field"}
_PLAN_KEYS = {"per_village", "near_finds", "random_share", "damp_weeks", "damp_factor",
              "raise_factor", "raise_weeks", "seed", "roads", "min_class", "explore_share",
              "overdue_weeks"}
#: the reference layers (drawn under the risk, never scored), in drawing order
REFERENCE_ROLES = ("dom", "rivers", "roads", "settlements")
#: keys of ``reference.dom`` (a raster: no filter, layer or table options)
_DOM_KEYS = {"path", "crs"}


class Checker:
    """Validation helpers that know the file name for messages."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, key: str, msg: str):
        """Raise ProjectFileError naming the file and ``key``."""
        raise ProjectFileError(f"{self.path}: {key}: {msg}")

    def keys(self, d: Any, allowed: set, where: str):
        """Refuse a non-mapping and any key of ``d`` not in ``allowed``."""
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
        """The value of a required key."""
        if d.get(key) is None:
            self.fail(f"{where + '.' if where else ''}{key}", "required key is missing")
        return d[key]

    def number(self, v, key, positive=False) -> float:
        """A finite number, optionally > 0."""
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
        """A date (any form :func:`riskmap.load.values.parse_date` reads), or None."""
        if v is None:
            return None
        try:
            d = date_of(v, key)
        except ValueError:
            d = None
        if d is None:
            self.fail(key, f"must be a date like 2026-11-27, got {v!r}")
        return d

    def crs(self, v, key) -> str:
        """A projected CRS in metres (the working CRS), as ``EPSG:xxxx`` or WKT."""
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
        """A source: ``file.gpkg:layer`` or a mapping with ``path`` and options."""
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
                where=self.where(v.get("where"), f"{key}.where"),
                shared_boundary=self.shared_boundary(v.get("shared_boundary"),
                                                     f"{key}.shared_boundary"),
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

    def where(self, v, key) -> str | None:
        """A ``where`` filter: SQL text, or a ``{field: value | [values]}`` mapping."""
        if v is None:
            return None
        if isinstance(v, dict):
            return where_from_mapping(v, lambda msg: self.fail(key, msg))
        if not isinstance(v, str) or not v.strip():
            self.fail(key, "must be a filter like \"类型 = '取缔坑口'\" or a mapping like "
                      f"{{类型: [取缔坑口, 废弃井口]}}, got {v!r}")
        return v

    def shared_boundary(self, v, key) -> float | None:
        """``shared_boundary``: true (default tolerance), false, or a tolerance in metres."""
        if v is None or v is False:
            return None
        if v is True:
            return SHARED_BOUNDARY_TOLERANCE_M
        if isinstance(v, int | float) and not isinstance(v, bool):
            return self.number(v, key, positive=True)
        self.fail(key, "must be true, false or a tolerance in metres (e.g. 100): the part of "
                  "the district's boundary within that distance of the layer's polygons")

    def sources(self, v, key, folder: Path) -> Source:
        """A factor's source: one source, or a list of them read together."""
        if not isinstance(v, list):
            return self.source(v, key, folder)
        if not v:
            self.fail(key, "an empty list; give one source or a list of sources")
        parts = tuple(self.source(item, f"{key}[{i}]", folder) for i, item in enumerate(v))
        if len(parts) == 1:
            return parts[0]
        return Source(path=parts[0].path, parts=parts)

    def crs_any(self, v, key) -> str:
        """Any CRS PROJ knows, or GCJ02 / BD09."""
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
        """An area layer (district, townships, villages, village points)."""
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
        src = self.sources(self.req(f, "source", where), f"{where}.source", folder)
        params = {str(k): v for k, v in f.items() if k not in FACTOR_COMMON_KEYS}
        return FactorSpec(name=name, label=label, source=src, kind=kind, weight=weight,
                          params=params)


def is_font_path(v: str) -> bool:
    """``map.font`` is a path only when it looks like one (else a font family name)."""
    return any(ch in v for ch in "/\\.")


def split_source(s: str) -> tuple[str, str | None]:
    r"""Split ``file.gpkg:layer`` (but not ``C:\\data\\x.shp``)."""
    head, sep, tail = s.rpartition(":")
    if sep and head and "/" not in tail and "\\" not in tail and Path(head).suffix:
        return head, tail
    return s, None


# --- sections -------------------------------------------------------------------------
def classes(ctx: Checker, raw: dict) -> tuple[str, tuple[float, ...]]:
    """``classes``: the method (quantile/fixed) and the four breaks."""
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
    return method, tuple(float(b) for b in breaks)


def incidents(ctx: Checker, raw: dict, folder: Path) -> dict | None:
    """``incidents``: past cases (source, date field, judgement field, ...)."""
    inc = raw.get("incidents")
    if inc is None:
        return None
    ctx.keys(inc, _INCIDENT_KEYS, "incidents")
    out = {
        "source": ctx.source(ctx.req(inc, "source", "incidents"), "incidents.source", folder),
        "date_field": inc.get("date_field"),
        # polygons of the quarterly satellite enforcement (卫片执法图斑): the column
        # holding 合法 / 违法 / 伪变化; 违法 ones are events, 伪变化 verified negatives
        "judgement_field": inc.get("judgement_field"),
        "events_as": inc.get("events_as", "centroid"),
        # the case number: rows with the same number and date are one case
        "case_field": inc.get("case_field"),
        "kde_bandwidth": ctx.number(inc.get("kde_bandwidth", 400), "incidents.kde_bandwidth",
                                    positive=True),
    }
    if out["events_as"] not in ("centroid", "area"):
        ctx.fail("incidents.events_as", "must be 'centroid' or 'area'")
    return out


def field_loop(ctx: Checker, raw: dict, folder: Path) -> dict:
    """``roster``, ``plan``, ``village_points``, ``power``, ``history`` (checked further later)."""
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
    return {"roster": roster, "plan": plan, "village_points": village_points, "power": power,
            "history": (folder / history).resolve() if history else
            ctx.path.resolve().with_suffix(".history.gpkg")}


def models(ctx: Checker, raw: dict) -> dict:
    """``ahp`` (checked by riskmap.models.ahp) and ``calibration``."""
    ahp = raw.get("ahp")
    if ahp is not None:
        ctx.keys(ahp, _AHP_KEYS, "ahp")
        ahp = dict(ahp)
        for k in ("factors", "matrix"):
            ctx.req(ahp, k, "ahp")
    calibration = raw.get("calibration") or {}
    ctx.keys(calibration, _CALIBRATION_KEYS, "calibration")
    return {"ahp": ahp, "calibration": dict(calibration)}


def map_options(ctx: Checker, raw: dict, folder: Path) -> dict:
    """``map``: basemap, paper, orientation, font (a path or a family name), ..."""
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
        font = str(mapcfg["font"])
        mapcfg["font"] = str((folder / font).resolve()) if is_font_path(font) else font
    return mapcfg


def factors(ctx: Checker, raw: dict, folder: Path) -> tuple[FactorSpec, ...]:
    """``factors``: the generic part of each (kinds check their parameters)."""
    factors_raw = ctx.req(raw, "factors", "")
    if not isinstance(factors_raw, list) or not factors_raw:
        ctx.fail("factors", "must be a non-empty list of factors")
    out = tuple(ctx.factor(f, i, folder) for i, f in enumerate(factors_raw))
    names = [f.name for f in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        ctx.fail("factors", f"factor names must be unique; repeated: {', '.join(dup)}")
    if not any(f.weight > 0 for f in out):
        ctx.fail("factors", "at least one factor needs a positive weight")
    return out


def reference(ctx: Checker, raw: dict, folder: Path) -> tuple[ReferenceSpec, ...]:
    """``reference``: roads, rivers, settlements (any source) and dom (an orthophoto GeoTIFF)."""
    ref = raw.get("reference")
    if ref is None:
        return ()
    ctx.keys(ref, set(REFERENCE_ROLES), "reference")
    out = []
    for role in REFERENCE_ROLES:
        v = ref.get(role)
        if v is None:
            continue
        key = f"reference.{role}"
        name_field = None
        if isinstance(v, dict):
            if role == "dom":
                ctx.keys(v, _DOM_KEYS, key)
            elif "name_field" in v:
                name_field = v["name_field"]
                if not isinstance(name_field, str) or not name_field.strip():
                    ctx.fail(f"{key}.name_field", "must be the name of a field, e.g. 名称")
                v = {k: x for k, x in v.items() if k != "name_field"}
        elif role == "dom" and not isinstance(v, str):
            ctx.fail(key, "must be the path of a GeoTIFF (or {path: ..., crs: ...})")
        src = ctx.source(v, key, folder) if role == "dom" else ctx.sources(v, key, folder)
        out.append(ReferenceSpec(role, src, name_field))
    return tuple(out)
