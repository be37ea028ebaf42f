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

from riskmap.errors import LayerError, RiskmapWarning
from riskmap.load.columns import required_dates
from riskmap.load.layers import LayerInfo, file_sha256, read_source
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


def load_inputs(project: Project, progress=None, cache: dict | None = None,
                derived: Mapping[str, DerivedReader] | None = None) -> Inputs:
    """Read and check all layers of ``project``.

    Parameters
    ----------
    project : Project
    progress : callable, optional
        Called with a short Chinese message per layer read.
    cache : dict, optional
        Layers already read, ``(path, layer, where) -> (GeoDataFrame, LayerInfo)``
        (``riskmap check`` passes what it read); filled with what is read here.
    derived : mapping, optional
        Source prefix → :class:`DerivedReader` for layers made from other inputs
        (``power`` for ``power:anomalies``); default: the registry
        :data:`riskmap.load.sources.DERIVED`, which :mod:`riskmap.models.power`
        fills when imported.

    Raises
    ------
    LayerError
        For a missing file or layer, a missing field, no CRS, an empty layer, a
        geometry type the factor cannot use, a layer wholly outside the district,
        or a derived source (``power:anomalies``) without a registered reader.
    """
    derived = DERIVED if derived is None else derived
    cache = {} if cache is None else cache  # (path, layer, where) -> (gdf, info)
    infos: list[LayerInfo] = []

    def read(src: Source):
        key = (src.path, src.layer, src.where)
        if key not in cache:
            if progress:
                progress(f"读取 {src}")
            cache[key] = read_any(project, src, derived)
        if all(i is not cache[key][1] for i in infos):
            infos.append(cache[key][1])
        return cache[key]

    dgdf, _ = read(project.district.source)
    _need_polygons(dgdf, project.district.source, "district")
    district = shapely.union_all(dgdf.geometry.values)

    townships = _areas(read, project.townships, "townships", district)
    villages = None
    if project.villages:
        villages = _areas(read, project.villages, "villages", district)
        tf = project.villages.township_field
        if tf:
            villages["township"] = read(project.villages.source)[0][tf].astype(str).to_numpy()

    factors = {}
    for f in project.factors:
        gdf, info = read(f.source)
        _check_factor_layer(f, gdf, info, district)
        factors[f.name] = _places_only(f, gdf, info)

    hashes = {}
    files = {i.source.path for i in infos if i.source.path.exists()}
    readers = {id(r): r for r in (derived_reader(i.source, derived) for i in infos) if r}
    for r in readers.values():
        # a derived layer is made from other files (power: the meter table, expansions)
        files |= {Path(p) for p in r.files(project) if Path(p).exists()}
    for p in sorted(files):
        for side in _sidecars(p):
            hashes[_rel(side, project)] = file_sha256(side)
    hashes[_rel(project.path, project)] = file_sha256(project.path)
    return Inputs(district, townships, villages, factors, infos, hashes)


def read_any(project: Project, src: Source,
             derived: Mapping[str, DerivedReader] | None = None):
    """Read a source: a file, or a derived layer such as ``power:anomalies``.

    Parameters
    ----------
    project : Project
    src : Source
    derived : mapping, optional
        As for :func:`load_inputs` (default: :data:`riskmap.load.sources.DERIVED`).

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
    return read_source(src, project.crs)


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


def _places_only(f: FactorSpec, gdf, info: LayerInfo):
    """Drop personal columns (names, ID and phone numbers) of a factor layer."""
    from riskmap.load.privacy import strip_personal

    out, dropped = strip_personal(gdf, set(_traits(f).columns))
    if dropped:
        note = ("个人信息列不进入地图和输出 (personal columns kept out of the map and every "
                "output): " + "; ".join(f"{c}: {why}" for c, why in dropped.items()))
        if note not in info.notes:
            info.notes.append(note)
            log.info("%s: %s", f.source, note)
    return out


def _areas(read, spec: AreaSpec, key: str, district) -> gpd.GeoDataFrame:
    gdf, _ = read(spec.source)
    _need_polygons(gdf, spec.source, key)
    for fld in (spec.name_field, spec.township_field):
        if fld and fld not in gdf.columns:
            raise LayerError(f"{spec.source}: no field {fld!r} (set by {key}.name_field/"
                             f"township_field); fields: {', '.join(map(str, gdf.columns[:-1]))}")
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


def _need_polygons(gdf, src, key):
    types = set(gdf.geom_type.astype(str))
    if not types <= {"Polygon", "MultiPolygon"}:
        raise LayerError(f"{src}: {key} must be polygons, found {', '.join(sorted(types))}")


def _traits(f: FactorSpec):
    if f.traits is None:
        raise LayerError(f"factor {f.name}: its parameters were not checked by its kind; read "
                         "the project with riskmap.pipeline.project.load_project")
    return f.traits


def _check_factor_layer(f: FactorSpec, gdf, info: LayerInfo, district):
    tr = _traits(f)
    bad = set(info.geom_types) - set(tr.geometries) if tr.geometries else set()
    if bad:
        raise LayerError(
            f"{f.source}: factor {f.name} ({f.label}) of kind {f.kind!r} cannot use "
            f"{', '.join(sorted(bad))} geometries; it needs {tr.needs}")
    _check_extent(f, gdf, info, district)
    missing = [c for c in tr.columns if c not in gdf.columns]
    if missing:
        key = next((k for k, v in f.params.items() if v == missing[0]), "field")
        raise LayerError(f"{f.source}: factor {f.name}: no field {missing[0]!r} ({key}); "
                         f"fields: {', '.join(map(str, gdf.columns[:-1]))}")
    if isinstance(f.params.get("types"), dict) and f.params.get("type_field") in gdf.columns:
        present = set(gdf[f.params["type_field"]].astype(str))
        unknown = sorted(present - set(f.params["types"]))
        if unknown:
            info.notes.append(f"types without a weight (ignored): {', '.join(unknown[:8])}")
    for col in tr.dates:
        required_dates(gdf, col, f.source, key=f"factors ({f.name}).date_field")


def _check_extent(f: FactorSpec, gdf, info: LayerInfo, district) -> None:
    """Refuse a layer wholly (or mostly) outside the district and its reach; note the rest."""
    reach = max(f.reach, 0.0)
    area = shapely.buffer(district, reach) if reach else district
    outside = ~shapely.intersects(gdf.geometry.values, area)
    if outside.all():
        raise LayerError(
            f"{f.source}: all {len(gdf)} features of factor {f.name} lie outside the district "
            f"(and beyond its {reach:g} m reach); check the layer's CRS "
            f"(read as {info.crs}) and extent"
        )
    if outside.any():
        n, share = int(outside.sum()), float(outside.mean())
        first = int(np.flatnonzero(outside)[0])
        row = gdf["_row"].iloc[first] if "_row" in gdf.columns else first + 1
        c = gdf.geometry.values[first].representative_point()
        msg = (f"{f.source}: {n} of {len(gdf)} features ({share:.0%}) lie outside the district "
               f"and beyond the factor's reach, e.g. row {row} at ({c.x:.0f}, {c.y:.0f})")
        if share > 0.5 and not f.source.allow_outside:
            raise LayerError(msg + "; check the coordinate system and the lon/lat order, or "
                             "set allow_outside: true on the source")
        info.notes.append(msg + " (ignored)")
        warnings.warn(msg + " (ignored)", RiskmapWarning, stacklevel=4)


def _sidecars(p):
    if p.suffix.lower() == ".shp":
        return sorted(q for q in p.parent.glob(p.stem + ".*") if q.is_file())
    return [p]


def _rel(p, project: Project) -> str:
    try:
        return p.relative_to(project.folder).as_posix()
    except ValueError:
        return str(p)
