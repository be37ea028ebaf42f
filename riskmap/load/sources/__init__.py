"""Source readers: one module per kind of input file, registered in :data:`READERS`.

Layer readers (:data:`LAYERS`: vector, points, corners) are ``read(source, info)
-> GeoDataFrame`` in the CRS the data were found in;
:func:`riskmap.load.layers.read_source` checks, repairs and reprojects what
each returns. Table readers (:data:`TABLES`: the power company's meter table,
the villages' returned sheets) read a file into their own records. A new
source kind is one module here plus one :data:`READERS` entry (and, for a
layer, a rule in :func:`kind_of`).
"""

from __future__ import annotations

from collections.abc import Callable

from riskmap.load.project import Source
from riskmap.load.sources import corners, meters, points, returns, vector

#: source kind -> reader
READERS: dict[str, Callable] = {
    "vector": vector.read,  # GDAL: GPKG, SHP, GeoJSON, KML/KMZ, zipped
    "points": points.read,  # CSV/TXT/XLSX with lon/lat or X/Y columns
    "corners": corners.read,  # 拐点坐标 corner tables of mining rights
    "meters": meters.read_power_table,  # 供电台账: monthly kWh per user
    "returns": returns.read_returned_file,  # 排查表 returned by the villages
}
LAYERS = ("vector", "points", "corners")
TABLES = ("meters", "returns")


#: source prefix -> reader of a layer made from other inputs (a
#: :class:`riskmap.load.inputs.DerivedReader`; ``"power"`` for ``power:anomalies``),
#: filled by the floors above when imported (:mod:`riskmap.models.power`)
DERIVED: dict = {}


def kind_of(source: Source) -> str:
    """The source kind of ``source``: a table (points or corners) or a vector file."""
    if source.is_table:
        return "corners" if source.table == "corners" else "points"
    return "vector"


def reader(source: Source) -> Callable:
    """The layer reader of ``source``'s kind."""
    return READERS[kind_of(source)]
