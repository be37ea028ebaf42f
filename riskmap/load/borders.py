"""Border lines from neighbour polygons: the part of the district's boundary they share.

A county seldom has ready-made border lines, but it has its neighbours'
polygons. ``shared_boundary: true`` on a source turns each polygon into the
part of the district's boundary lying within a tolerance of it (the two
outlines seldom match exactly), merged into lines, pieces no longer than
twice the tolerance (a corner touched) dropped: vectorised shapely on the few
polygons, nothing per cell.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from riskmap.errors import LayerError
from riskmap.load.sources.base import LayerInfo, name_column

__all__ = ["shared_boundary"]


def shared_boundary(gdf: gpd.GeoDataFrame, district, tolerance_m: float, source,
                    info: LayerInfo) -> gpd.GeoDataFrame:
    """The district boundary each polygon of ``gdf`` shares, as lines with its attributes.

    Parameters
    ----------
    gdf : GeoDataFrame
        Neighbour polygons in the working CRS (metres).
    district : shapely geometry
        The district, same CRS.
    tolerance_m : float
        A piece of the district's boundary within this distance of a polygon is shared.
    source : Source
        For messages.
    info : LayerInfo
        Gets one note: the shared length per neighbour.

    Returns
    -------
    GeoDataFrame
        One row per neighbour sharing a border (its attributes, a ``border_km``
        column), geometry (Multi)LineString; neighbours sharing none are left out
        and named in the note.

    Raises
    ------
    LayerError
        The layer holds no polygons.
    """
    types = set(gdf.geom_type.astype(str))
    if len(gdf) and not types <= {"Polygon", "MultiPolygon"}:
        raise LayerError(f"{source}: shared_boundary needs polygons (the neighbours' areas), "
                         f"found {', '.join(sorted(types))}; drop shared_boundary to use "
                         "lines as they are")
    if not len(gdf):
        return gdf
    boundary = shapely.boundary(district)
    near = shapely.intersection(boundary, shapely.buffer(gdf.geometry.values, tolerance_m))
    parts, idx = shapely.get_parts(shapely.line_merge(_lines_only(near)), return_index=True)
    long = shapely.length(parts) > 2 * tolerance_m
    merged = (pd.Series(parts[long]).groupby(idx[long]).agg(lambda g: shapely.union_all(
        g.to_numpy())) if long.any() else pd.Series(dtype=object))
    lines = np.full(len(gdf), None, dtype=object)
    lines[merged.index.to_numpy()] = shapely.line_merge(merged.to_numpy())
    km = np.where(pd.notna(lines), shapely.length(lines), 0.0) / 1000.0
    col = name_column(gdf)
    names = (gdf[col].astype(str).to_numpy() if col is not None
             else (np.arange(len(gdf)) + 1).astype(str))
    share = "; ".join(f"{n} {k:.1f} km" for n, k in zip(names, km, strict=True))
    info.notes.append(f"共同边界 (shared boundary with the district, tolerance {tolerance_m:g} m):"
                      f" {share}")
    keep = km > 0
    if not keep.any():
        raise LayerError(f"{source}: shared_boundary: none of the {len(gdf)} polygon(s) shares "
                         f"a border with the district (within {tolerance_m:g} m); check the "
                         "'where' filter, the layer's CRS, or give a larger tolerance "
                         "(shared_boundary: 300)")
    out = gdf.loc[keep].copy()
    out = out.set_geometry(gpd.GeoSeries(lines[keep], index=out.index, crs=gdf.crs))
    out["border_km"] = np.round(km[keep], 3)
    info.geom_counts = {str(k): int(v) for k, v in out.geom_type.value_counts().items()}
    info.geom_types = sorted(info.geom_counts)
    return out.reset_index(drop=True)


def _lines_only(geoms: np.ndarray) -> np.ndarray:
    """The linear parts of each geometry (a touching corner leaves points)."""
    parts, idx = shapely.get_parts(geoms, return_index=True)
    lin = shapely.get_dimensions(parts) == 1
    out = np.full(len(geoms), None, dtype=object)
    if lin.any():
        grouped = pd.Series(parts[lin]).groupby(idx[lin]).agg(
            lambda g: shapely.multilinestrings(shapely.get_parts(g.to_numpy())))
        out[grouped.index.to_numpy()] = grouped.to_numpy()
    empty = pd.isna(out)
    out[empty] = shapely.MultiLineString()
    return out
