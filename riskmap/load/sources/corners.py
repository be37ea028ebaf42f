"""Mining-right licences from a corner-coordinate table (拐点坐标): the ``corners`` source kind."""

from __future__ import annotations

import warnings

import geopandas as gpd

from riskmap.errors import LayerError
from riskmap.load.project import Source
from riskmap.load.sources.base import LayerInfo


def read(source: Source, info: LayerInfo) -> gpd.GeoDataFrame:
    """Mining-right licences from a corner-coordinate table (拐点坐标)."""
    from riskmap.load.rights import read_corner_table

    if source.crs in ("GCJ02", "BD09"):
        raise LayerError(f"{source}: corner tables are surveyed Gauss-Krüger coordinates, "
                         f"not {source.crs}; remove 'crs' or give a projected CRS")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gdf, rep = read_corner_table(source.path, sheet=source.sheet, encoding=source.encoding,
                                     datum=source.datum or "cgcs2000", towgs84=source.towgs84,
                                     crs=source.crs, central_meridian=source.central_meridian)
    for w in caught:  # re-issue, naming the source as the project file has it
        warnings.warn(str(w.message), w.category, stacklevel=4)
    caught_text = " ".join(str(w.message) for w in caught)
    info.format = "corner table (拐点坐标)"
    info.encoding = rep.table.encoding if rep.table else None
    info.detected += [rep.order, rep.detection, f"CRS {rep.crs}",
                      f"{rep.licences} licences, {rep.blocks} blocks, {rep.corners} corners"]
    info.notes += rep.notes
    # repairs were issued as warnings by read_corner_table; the rest are findings
    info.notes += [w for w in rep.warnings if w not in caught_text]
    return gdf


