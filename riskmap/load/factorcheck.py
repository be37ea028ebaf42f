"""One factor's layer checked against its kind and the district (geometry, fields, extent).

Features beyond a factor's reach change no cell and are named; those far beyond
it (a typo point, a swapped coordinate) are left out so that no layer stretches
across the country.
"""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np

from riskmap.errors import LayerError, RiskmapWarning
from riskmap.load.columns import required_dates
from riskmap.load.extent import lonlat_of, outside_reach
from riskmap.load.layers import LayerInfo
from riskmap.load.project import FactorSpec
from riskmap.load.sources.base import named_rows

__all__ = ["FAR_M", "check_factor_layer", "field_list", "traits"]


def field_list(gdf) -> str:
    """The layer's attribute names, for messages (``none`` when it has none)."""
    geom = getattr(gdf, "_geometry_column_name", None)
    return ", ".join(str(c) for c in gdf.columns if c not in (geom, "_row")) or "none"


def traits(f: FactorSpec):
    """The traits its kind gave the factor when the project was read."""
    if f.traits is None:
        raise LayerError(f"factor {f.name}: its parameters were not checked by its kind; read "
                         "the project with riskmap.pipeline.project.load_project")
    return f.traits


def check_factor_layer(f: FactorSpec, gdf, info: LayerInfo, district):
    """``gdf`` checked for the factor, features far beyond its reach left out (named)."""
    tr = traits(f)
    bad = set(info.geom_types) - set(tr.geometries) if tr.geometries else set()
    if bad and len(gdf):
        raise LayerError(
            f"{f.source}: factor {f.name} ({f.label}) of kind {f.kind!r} cannot use "
            f"{', '.join(sorted(bad))} geometries; it needs {tr.needs}")
    missing = [c for c in tr.columns if c not in gdf.columns]
    if missing:
        key = next((k for k, v in f.params.items() if v == missing[0]), "field")
        raise LayerError(f"{f.source}: factor {f.name}: no field {missing[0]!r} ({key}); "
                         f"fields: {field_list(gdf)}")
    if isinstance(f.params.get("types"), dict) and f.params.get("type_field") in gdf.columns:
        present = set(gdf[f.params["type_field"]].astype(str))
        unknown = sorted(present - set(f.params["types"]))
        if unknown:
            note = f"types without a weight (ignored): {', '.join(unknown[:8])}"
            if note not in info.notes:
                info.notes.append(note)
    for col in tr.dates:
        required_dates(gdf, col, f.source, key=f"factors ({f.name}).date_field")
    return _check_extent(f, gdf, info, district)


def _check_extent(f: FactorSpec, gdf, info: LayerInfo, district) -> gpd.GeoDataFrame:
    """Refuse a layer wholly (or mostly) outside the district and its reach; name the rest.

    Features beyond the factor's reach change no cell and are named; those
    farther than :data:`FAR_M` beyond it (a typo point, a swapped coordinate)
    are left out of the factor and of every output, so that no layer stretches
    across the country.
    """
    if not len(gdf):
        return gdf
    reach = max(f.reach, 0.0)
    outside = outside_reach(gdf.geometry.values, district, reach)
    if not outside.any():
        return gdf
    if outside.all():
        raise LayerError(
            f"{f.source}: all {len(gdf)} features of factor {f.name} lie outside the district "
            f"(and beyond its {reach:g} m reach); check the layer's CRS "
            f"(read as {info.crs}) and extent"
        )
    rows = info.rows if info.rows is not None and len(info.rows) == len(gdf) else None
    far = outside & outside_reach(gdf.geometry.values, district, reach + FAR_M)
    allowed = f.source.allow_outside or any(p.allow_outside for p in f.source.parts)
    share = float(outside.mean())
    if share > 0.5 and not allowed:
        msg = _outside_message(f, gdf, outside, rows, "lie outside the district and beyond the "
                               f"factor's reach ({reach:g} m)")
        raise LayerError(msg + "; check the coordinate system and the lon/lat order, or set "
                         "allow_outside: true on the source")
    said = []
    if (outside & ~far).any():
        said.append(_outside_message(f, gdf, outside & ~far, rows, "lie outside the district "
                                     f"and beyond the factor's reach ({reach:g} m)")
                    + " (ignored: they change no cell)")
    if far.any():
        msg = _outside_message(f, gdf, far, rows, "lie far outside the district (more than "
                               f"{FAR_M / 1000:g} km beyond the factor's {reach:g} m reach)")
        said.append(msg + " — left out of the factor and the maps; fix the coordinates if "
                    "they belong inside")
    for msg in said:
        if msg not in info.notes:
            info.notes.append(msg)
            warnings.warn(msg, RiskmapWarning, stacklevel=4)
    return gdf.loc[~far]


#: features farther than this beyond a factor's reach are left out of it (m)
FAR_M = 5_000.0


def _outside_message(f: FactorSpec, gdf, mask, rows, what: str) -> str:
    pos = np.flatnonzero(mask)
    lon, lat = lonlat_of(gdf.geometry.values[pos[0]], gdf.crs)
    first = rows[pos[0]] if rows is not None else pos[0] + 1
    return (f"{f.source}: {len(pos)} of {len(gdf)} features ({mask.mean():.0%}) {what}: rows "
            f"{named_rows(gdf, pos, rows)} (row {first} at lon/lat {lon:.4f}, {lat:.4f})")
