"""Mining-right licences from a corner-coordinate table (拐点坐标): the ``corners`` source kind."""

from __future__ import annotations

import warnings

import geopandas as gpd

from riskmap.crs.meridian import CoordHints
from riskmap.errors import LayerError
from riskmap.load.project import Source
from riskmap.load.sources.base import LayerInfo


def read(source: Source, info: LayerInfo, *, hints: CoordHints | None = None
         ) -> gpd.GeoDataFrame:
    """Mining-right licences from a corner-coordinate table (拐点坐标).

    Parameters
    ----------
    source : Source
    info : LayerInfo
        Filled with what was found.
    hints : CoordHints, optional
        The project's working CRS and district, for eastings without zone prefix.

    Returns
    -------
    geopandas.GeoDataFrame
        One (Multi)Polygon per licence (:func:`riskmap.load.rights.read_corner_table`).
    """
    from riskmap.load.rights import read_corner_table

    if source.crs in ("GCJ02", "BD09"):
        raise LayerError(f"{source}: corner tables are surveyed Gauss-Krüger coordinates, "
                         f"not {source.crs}; remove 'crs' or give a projected CRS")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gdf, rep = read_corner_table(source.path, sheet=source.sheet, encoding=source.encoding,
                                     datum=source.datum or "cgcs2000", towgs84=source.towgs84,
                                     crs=source.crs, central_meridian=source.central_meridian,
                                     hints=hints)
    for w in caught:  # re-issue, naming the source as the project file has it
        warnings.warn(str(w.message), w.category, stacklevel=4)
    caught_text = " ".join(str(w.message) for w in caught)
    info.format = "corner table (拐点坐标)"
    info.encoding = rep.table.encoding if rep.table else None
    info.detected += [rep.order, rep.detection, *([rep.meridian] if rep.meridian else []),
                      f"CRS {rep.crs}",
                      f"{rep.licences} licences, {rep.blocks} blocks, {rep.corners} corners"]
    info.notes += rep.notes
    # repairs were issued as warnings by read_corner_table; the rest are findings
    info.notes += [w for w in rep.warnings if w not in caught_text]
    return gdf


