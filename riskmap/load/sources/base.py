"""What every source reader shares: the LayerInfo record and row-list formatting."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from riskmap.load.project import Source


@dataclass
class LayerInfo:
    """What was read from one source (for ``riskmap check`` and summaries)."""

    source: Source
    features: int = 0
    geom_types: list[str] = field(default_factory=list)
    crs: str | None = None
    encoding: str | None = None
    empty: int = 0
    repaired: int = 0
    dropped_rows: int = 0
    split_collections: int = 0
    duplicates: int = 0
    format: str = ""
    geom_counts: dict = field(default_factory=dict)
    detected: list[str] = field(default_factory=list)  # CRS / axis / zone found in the data
    bounds: tuple | None = None
    notes: list[str] = field(default_factory=list)


def list_rows(values, most: int = 5) -> str:
    """``3, 7, 9 … (+12)``: row numbers for a message, shortened."""
    v = list(values)
    more = f" … (+{len(v) - most})" if len(v) > most else ""
    return ", ".join(str(x) for x in v[:most]) + more


def feature_rows(gdf, positions, most: int = 5) -> str:
    """Row numbers as the user sees them (table rows, else feature order), shortened."""
    pos = np.asarray(positions)
    nums = gdf["_row"].to_numpy()[pos] if "_row" in gdf.columns else pos + 1
    return list_rows((int(n) for n in nums), most)


def crs_label(crs) -> str:
    """``EPSG:4547`` where the CRS has an authority code, else its name."""
    auth = crs.to_authority()
    return f"{auth[0]}:{auth[1]}" if auth else crs.name


def first_line(e: Exception) -> str:
    """The first line of an exception's message (GDAL's are long)."""
    return (str(e).strip().splitlines() or [type(e).__name__])[0]
