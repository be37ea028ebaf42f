"""Load and check every layer a project names (the input edge of a build)."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from riskmap.crs.meridian import CoordHints
from riskmap.crs.transform import to_crs
from riskmap.errors import LayerError, RiskmapWarning
from riskmap.load.borders import shared_boundary
from riskmap.load.cases import drop_same_cases
from riskmap.load.factorcheck import check_factor_layer, traits
from riskmap.load.layers import LayerInfo, combine_parts, file_sha256, read_source
from riskmap.load.project import AreaSpec, FactorSpec, Project, Source
from riskmap.load.sources import DERIVED

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class DerivedReader:
    """The reader of a layer made from other inputs, such as ``power:anomalies``.

    A factor names it as ``<prefix>:<name>``; the floors above register one
    reader per prefix in :data:`riskmap.load.sources.DERIVED` (or pass their
    own to :func:`load_inputs`), so loading never imports upward.

    Attributes
    ----------
    read : callable
        ``read(project, source) -> (GeoDataFrame, LayerInfo)``, as
        :func:`riskmap.load.layers.read_source` returns a layer.
    files : callable
        ``files(project) -> paths``: the files the layer is made from (hashed
        with the inputs, so a changed meter table changes the build's hashes).
    """

    read: Callable[[Project, Source], tuple[gpd.GeoDataFrame, LayerInfo]]
    files: Callable[[Project], Iterable[Path]] = lambda project: ()


@dataclass
class Inputs:
    """Every layer of a project, read, checked and in the working CRS."""

    district: shapely.Geometry
    townships: gpd.GeoDataFrame  # columns: name, geometry
    villages: gpd.GeoDataFrame | None  # columns: name, township, geometry
    factors: dict[str, gpd.GeoDataFrame]
    infos: list[LayerInfo] = field(default_factory=list)
    hashes: dict[str, str] = field(default_factory=dict)
    #: per factor built on the case ledger: rows dropped as the same case entered again
    same_case_rows: dict[str, int] = field(default_factory=dict)


def load_inputs(project: Project, progress=None, cache: dict | None = None,
                derived: Mapping[str, DerivedReader] | None = None,
                problems: list | None = None) -> Inputs:
    """Read and check all layers of ``project``.

    Parameters
    ----------
    project : Project
    progress : callable, optional
        Called with a short Chinese message per layer read.
    cache : dict, optional
        Layers already read, :attr:`Source.key` → ``(GeoDataFrame, LayerInfo)``
        (``riskmap check`` passes what it read); filled with what is read here.
    derived : mapping, optional
        Source prefix → :class:`DerivedReader` for layers made from other inputs
        (``power`` for ``power:anomalies``); default: the registry
        :data:`riskmap.load.sources.DERIVED`, which :mod:`riskmap.models.power`
        fills when imported.
    problems : list, optional
        Given (``riskmap check``), a factor's or an area layer's error is appended
        here and the others are still checked (the factor is left out of the
        result); else the first error is raised.

    Raises
    ------
    LayerError
        For a missing file or layer, a missing field, no CRS, an empty area layer,
        a geometry type the factor cannot use, a layer wholly outside the district,
        or a derived source (``power:anomalies``) without a registered reader.
    """
    derived = DERIVED if derived is None else derived
    cache = {} if cache is None else cache  # Source.key -> (gdf, info)
    infos: list[LayerInfo] = []

    hints = CoordHints(project.crs)  # the district's extent joins once it is read

    def read(src: Source):
        if src.key not in cache:
            if progress:
                progress(f"读取 {src}")
            cache[src.key] = read_any(project, src, derived, allow_empty=True, hints=hints)
        if all(i is not cache[src.key][1] for i in infos):
            infos.append(cache[src.key][1])
        return cache[src.key]

    def trying(fn, *args):
        if problems is None:
            return fn(*args)
        try:
            return fn(*args)
        except LayerError as e:
            problems.append(str(e))
            return None

    dgdf, _ = read(project.district.source)
    _need_polygons(dgdf, project.district.source, "district")
    district = shapely.union_all(dgdf.geometry.values)
    hints = CoordHints(project.crs, district_lonlat(district, project.crs))

    townships = trying(_areas, read, project.townships, "townships", district)
    villages = None
    if project.villages:
        villages = trying(_villages, read, project.villages, district, townships)

    factors, same_case_rows = {}, {}
    for f in project.factors:
        layer = trying(_factor, f, lambda src: factor_layer(read, src, district, project.crs,
                                                            cache), district,
                       _incident_fields(project, f), project.incidents, same_case_rows)
        if layer is not None:
            factors[f.name] = layer

    hashes = {}
    files = {p for i in infos for p in i.source.files if p.exists()}
    readers = {id(r): r for r in (derived_reader(i.source, derived) for i in infos) if r}
    for r in readers.values():
        # a derived layer is made from other files (power: the meter table, expansions)
        files |= {Path(p) for p in r.files(project) if Path(p).exists()}
    for p in sorted(files):
        for side in _sidecars(p):
            hashes[_rel(side, project)] = file_sha256(side)
    hashes[_rel(project.path, project)] = file_sha256(project.path)
    return Inputs(district, townships, villages, factors, infos, hashes, same_case_rows)


def factor_layer(read, src: Source, district, crs: str, cache: dict):
    """A factor's layer: its source read (several sources concatenated), border lines made.

    Parameters
    ----------
    read : callable
        ``read(source) -> (GeoDataFrame, LayerInfo)`` of one source (cached).
    src : Source
    district : shapely geometry
    crs : str
        Working CRS.
    cache : dict
        Where the lines of a ``shared_boundary`` source and the union of several
        sources are kept (``("lines", key)``, ``("parts", key)``).

    Returns
    -------
    (GeoDataFrame, LayerInfo)
    """
    if src.parts:
        key = ("parts", src.key)
        if key not in cache:
            cache[key] = combine_parts(src, [factor_layer(read, p, district, crs, cache)
                                             for p in src.parts], crs)
        return cache[key]
    gdf, info = read(src)
    if src.shared_boundary is None:
        return gdf, info
    key = ("lines", src.key)
    if key not in cache:
        lines = shared_boundary(gdf, district, src.shared_boundary, src, info)
        cache[key] = (lines, info)
    return cache[key]


def read_areas(project: Project, cache: dict | None = None):
    """The district and the townships alone — the small layers — as :func:`load_inputs` reads them.

    For the checks a command makes before the big layers (township names, output
    folders, the grid's size); ``cache`` (filled here) lets :func:`load_inputs`
    skip reading them again.

    Returns
    -------
    (shapely.Geometry, geopandas.GeoDataFrame)
        The district and the townships (``name``, ``geometry``).
    """
    cache = {} if cache is None else cache

    def read(src: Source):
        if src.key not in cache:
            cache[src.key] = read_any(project, src, allow_empty=True,
                                      hints=CoordHints(project.crs))
        return cache[src.key]

    dgdf, _ = read(project.district.source)
    _need_polygons(dgdf, project.district.source, "district")
    district = shapely.union_all(dgdf.geometry.values)
    return district, _areas(read, project.townships, "townships", district)


def area_inputs(project: Project, cache: dict | None = None) -> Inputs:
    """The district, townships and villages as :func:`load_inputs` reads them, no factor.

    For a command that takes its scored cells from the last build
    (:mod:`riskmap.pipeline.lastbuild`) and needs only the areas (names,
    outlines, tour start points); ``factors`` is empty and ``hashes`` too.

    Returns
    -------
    Inputs
    """
    cache = {} if cache is None else cache
    district, townships = read_areas(project, cache)
    villages = None
    if project.villages:
        hints = CoordHints(project.crs, district_lonlat(district, project.crs))

        def read(src: Source):
            if src.key not in cache:
                cache[src.key] = read_any(project, src, allow_empty=True, hints=hints)
            return cache[src.key]

        villages = _villages(read, project.villages, district, townships)
    infos = list({id(info): info for _, info in cache.values()}.values())
    return Inputs(district, townships, villages, {}, infos)


def read_any(project: Project, src: Source,
             derived: Mapping[str, DerivedReader] | None = None, *, allow_empty: bool = False,
             hints: CoordHints | None = None):
    """Read a source: a file, or a derived layer such as ``power:anomalies``.

    Parameters
    ----------
    project : Project
    src : Source
    derived : mapping, optional
        As for :func:`load_inputs` (default: :data:`riskmap.load.sources.DERIVED`).
    allow_empty : bool, optional
        As for :func:`riskmap.load.layers.read_source` (a file's empty layer is a warning).
    hints : CoordHints, optional
        For coordinate tables (see :func:`riskmap.load.layers.read_source`).

    Returns
    -------
    (geopandas.GeoDataFrame, LayerInfo)

    Raises
    ------
    LayerError
        As :func:`riskmap.load.layers.read_source`, or from the derived reader.
    """
    reader = derived_reader(src, DERIVED if derived is None else derived)
    if reader is not None:
        return reader.read(project, src)
    return read_source(src, project.crs, allow_empty=allow_empty, hints=hints)


def district_lonlat(district, crs: str) -> tuple[float, float, float, float]:
    """The district's bounds in WGS84 degrees (west, south, east, north)."""
    return tuple(float(v) for v in to_crs(gpd.GeoSeries([district], crs=crs), 4326).total_bounds)


def derived_reader(src: Source, derived: Mapping[str, DerivedReader] | None = None
                   ) -> DerivedReader | None:
    """The reader of a derived source ``<prefix>:<name>``, None for a file.

    Parameters
    ----------
    src : Source
    derived : mapping, optional
        Prefix → reader (default: :data:`riskmap.load.sources.DERIVED`).

    Returns
    -------
    DerivedReader or None

    Raises
    ------
    LayerError
        ``src`` reads like a derived source (``power:anomalies``, no such file)
        but no reader is registered for its prefix.
    """
    derived = DERIVED if derived is None else derived
    prefix, sep, rest = Path(src.path).name.partition(":")
    if not (sep and prefix and rest):
        return None
    if prefix in derived:
        return derived[prefix]
    if "." in prefix or Path(src.path).exists():  # a file whose name holds a colon
        return None
    known = ", ".join(f"{k}:…" for k in sorted(derived)) or "none"
    raise LayerError(f"{src}: {prefix}:{rest} is a layer made from other inputs, but no "
                     f"reader of {prefix!r} sources is registered (registered: {known}); "
                     "import the module that registers it before loading (riskmap.models.power "
                     "for power:anomalies; the riskmap commands and riskmap.pipeline.build "
                     "do), or pass derived= to load_inputs")


def _incident_fields(project: Project, f: FactorSpec) -> tuple:
    """The incidents' date and judgement fields, for a factor made from the incidents.

    Calibrate and evaluate keep such a factor to the cases before their split by
    the incidents' ``date_field`` (the factor needs none of its own): it is a place
    attribute, never scrubbed as a number.
    """
    inc = project.incidents
    if not inc or (f.source.path, f.source.layer) != (inc["source"].path, inc["source"].layer):
        return ()
    return tuple(c for c in (inc.get("date_field"), inc.get("judgement_field"),
                             inc.get("case_field")) if c)


def _places_only(f: FactorSpec, gdf, info: LayerInfo, keep=()):
    """Drop personal columns (names, ID and phone numbers) of a factor layer."""
    from riskmap.load.privacy import is_event_table, strip_personal

    # tips and cases (a table of events, or a factor aged by its dates) keep place
    # attributes only: anything else there may be about a person
    event = is_event_table(gdf) or bool(traits(f).dates) or bool(keep)
    out, dropped = strip_personal(gdf, set(traits(f).columns) | set(keep), event=event)
    if dropped:
        note = ("个人信息列不进入地图和输出 (personal columns kept out of the map and every "
                "output): " + "; ".join(f"{c}: {why}" for c, why in dropped.items()))
        if note not in info.notes:
            info.notes.append(note)
            log.info("%s: %s", f.source, note)
    return out


def _areas(read, spec: AreaSpec, key: str, district) -> gpd.GeoDataFrame:
    gdf, _ = read(spec.source)
    if not len(gdf):
        raise LayerError(f"{spec.source}: 图层为空 (the {key} layer has no features); "
                         f"{key} are needed to label the cells — check the file or the filter")
    _need_polygons(gdf, spec.source, key)
    for fld in (spec.name_field, spec.township_field):
        if fld and fld not in gdf.columns:
            raise LayerError(f"{spec.source}: no field {fld!r} (set by {key}.name_field/"
                             f"township_field); fields: {_fields(gdf)}")
    names = gdf[spec.name_field]
    if names.isna().any():
        row = int(np.flatnonzero(names.isna().to_numpy())[0])
        raise LayerError(f"{spec.source}: row {row + 1} has no {spec.name_field!r}; "
                         "every area needs a name")
    out = gpd.GeoDataFrame({"name": names.astype(str).str.strip().to_numpy()},
                           geometry=gdf.geometry.values, crs=gdf.crs)
    if key == "townships" and out["name"].duplicated().any():
        out = out.dissolve(by="name", as_index=False)
    if not shapely.intersects(out.geometry.values, district).any():
        raise LayerError(f"{spec.source}: {key} lie wholly outside the district; check the CRS "
                         "and the district layer")
    return out


def _villages(read, spec: AreaSpec, district, townships) -> gpd.GeoDataFrame:
    """Village polygons (``name``, ``township``), one per (township, village) pair.

    Villages of one name in two townships stay two villages (cells are labelled
    by polygon; every join downstream is on the pair). A pair written twice is
    one village in two pieces: merged, and said.
    """
    out = _areas(read, spec, "villages", district)
    gdf, info = read(spec.source)
    tf = spec.township_field
    rows = info.rows if info.rows is not None else np.arange(1, len(gdf) + 1)
    if not tf:
        out["township"] = None
        dup = out["name"].duplicated(keep=False).to_numpy()
        if dup.any():
            warnings.warn(
                f"{spec.source}: 村名重复 (the same village name in several polygons): "
                f"{_repeated(out['name'], dup, rows)} — without villages.township_field they "
                "cannot be told apart in the roster, plans and returns; set township_field",
                RiskmapWarning, stacklevel=3)
        return out
    out["township"] = gdf[tf].astype(str).str.strip().to_numpy()
    pair = out["township"] + " " + out["name"]
    dup = pair.duplicated(keep=False).to_numpy()
    if dup.any():
        warnings.warn(
            f"{spec.source}: (乡镇, 村) 重复 (a township–village pair on several polygons, "
            f"merged into one village): {_repeated(pair, dup, rows)}",
            RiskmapWarning, stacklevel=3)
        out = out.dissolve(by=["township", "name"], as_index=False, sort=False)[
            ["name", "township", "geometry"]]
    shared = out["name"][out["name"].duplicated(keep=False)].unique()
    if len(shared):
        info_note = (f"同名村 (the same village name in several townships, told apart by "
                     f"{tf}): " + "; ".join(
                         f"{n} ({'、'.join(out.loc[out['name'] == n, 'township'])})"
                         for n in shared[:8]) + (f" … (+{len(shared) - 8})" if len(shared) > 8
                                                 else ""))
        if info_note not in info.notes:
            info.notes.append(info_note)
    if townships is not None:
        unknown = sorted(set(out["township"]) - set(townships["name"]))
        if unknown:
            warnings.warn(f"{spec.source}: {tf} values that are no township's name "
                          f"({', '.join(unknown[:8])}); cells are labelled by the townships "
                          "layer — check the spelling", RiskmapWarning, stacklevel=3)
    return out


def _repeated(labels, dup, rows, most: int = 6) -> str:
    """``上屯村 (rows 3, 17); …`` for the repeated labels."""
    lab = labels.to_numpy()
    rows = np.asarray(rows, dtype=object)
    groups = {}
    for i in np.flatnonzero(dup):  # only the repeated rows: few
        groups.setdefault(lab[i], []).append(str(rows[i]))
    text = "; ".join(f"{k} (rows {', '.join(v)})" for k, v in list(groups.items())[:most])
    return text + (f" … (+{len(groups) - most})" if len(groups) > most else "")


def _fields(gdf) -> str:
    geom = getattr(gdf, "_geometry_column_name", None)
    return ", ".join(str(c) for c in gdf.columns if c not in (geom, "_row")) or "none"


def _need_polygons(gdf, src, key):
    if not len(gdf):
        raise LayerError(f"{src}: 图层为空 (the {key} layer has no features); check the file "
                         "or the 'where' filter")
    types = set(gdf.geom_type.astype(str))
    if not types <= {"Polygon", "MultiPolygon"}:
        raise LayerError(f"{src}: {key} must be polygons, found {', '.join(sorted(types))}")


def _factor(f: FactorSpec, layer, district, keep=(), incidents=None,
            same_case_rows: dict | None = None) -> gpd.GeoDataFrame:
    """One factor's layer read, checked, trimmed to its reach and stripped of personal data."""
    gdf, info = layer(f.source)
    gdf = check_factor_layer(f, gdf, info, district)
    if f.is_density and len(info.repeats):
        # the same place entered twice would count twice in a density
        gdf = gdf.drop(index=gdf.index[info.repeats])
        note = (f"factor {f.name}: {len(info.repeats)} exact repeat(s) dropped (a density "
                "counts each place once)")
        if note not in info.notes:
            info.notes.append(note)
    if keep and incidents:  # a factor built on the case ledger: one case counts once
        gdf, n = drop_same_cases(gdf, incidents.get("date_field"), incidents.get("case_field"),
                                 f.source)
        note = (f"factor {f.name}: {n} 行与前面的行是同一案件 (same case number and date), "
                "只计一次 (counted once)")
        if n and note not in info.notes:
            info.notes.append(note)
        if n and same_case_rows is not None:
            same_case_rows[f.name] = n
    return _places_only(f, gdf, info, keep)


def _sidecars(p):
    if p.suffix.lower() == ".shp":
        return sorted(q for q in p.parent.glob(p.stem + ".*") if q.is_file())
    return [p]


def _rel(p, project: Project) -> str:
    try:
        return p.relative_to(project.folder).as_posix()
    except ValueError:
        return str(p)
