"""What every source reader shares: the LayerInfo record and row-list formatting."""

from __future__ import annotations

import ast
import re
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
    #: the row of each returned feature as the user finds it in the file (table row,
    #: else feature number; ``file row`` for a factor of several sources), for messages
    rows: np.ndarray | None = None
    #: positions (in the returned layer) of features that repeat an earlier one exactly
    repeats: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    #: what each source of a factor of several sources held
    parts: list = field(default_factory=list)


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


#: columns that name a feature, tried in this order (then any column whose name holds 名/name)
NAME_FIELDS = ("name", "名称", "名字", "标题", "title", "点名", "矿山名称", "村名", "乡镇名称",
               "县名", "NAME", "Name")


def name_column(gdf) -> str | None:
    """The column that names the features of ``gdf`` (for messages), if any."""
    cols = [c for c in gdf.columns if c != getattr(gdf, "_geometry_column_name", None)]
    for c in NAME_FIELDS:
        if c in cols:
            return c
    return next((c for c in cols if isinstance(c, str) and ("名" in c or "name" in c.lower())),
                None)


def named_rows(gdf, positions, rows=None, most: int = 5) -> str:
    """``57 后寨村取缔坑口71号, 60 …``: rows (and names) of features, shortened.

    Parameters
    ----------
    gdf : DataFrame
    positions : array_like of int
        0-based positions in ``gdf``.
    rows : array_like, optional
        The row label of every feature of ``gdf`` (:attr:`LayerInfo.rows`); default
        its ``_row`` column, else its position + 1.
    """
    pos = np.asarray(positions, dtype=np.int64)
    if rows is None:
        rows = gdf["_row"].to_numpy() if "_row" in gdf.columns else np.arange(1, len(gdf) + 1)
    rows = np.asarray(rows, dtype=object)
    col = name_column(gdf)
    names = gdf[col].to_numpy()[pos] if col is not None else [None] * len(pos)
    folders = gdf["folder"].to_numpy()[pos] if "folder" in gdf.columns else [None] * len(pos)
    out = []
    for r, n, f in zip(rows[pos[:most]], names[:most], folders[:most], strict=False):
        label = "" if n is None or (isinstance(n, float) and np.isnan(n)) else str(n).strip()
        if f:
            label = f"{f}/{label}" if label else str(f)
        out.append(f"{r} {label[:40]}".strip())
    more = f" … (+{len(pos) - most})" if len(pos) > most else ""
    return ", ".join(out) + more


def crs_label(crs) -> str:
    """``EPSG:4547`` where the CRS has an authority code, else its name."""
    auth = crs.to_authority()
    return f"{auth[0]}:{auth[1]}" if auth else crs.name


_BYTES_REPR = re.compile(r"(?<!\w)b'((?:[^'\\]|\\.)*)'" + r'|(?<!\w)b"((?:[^"\\]|\\.)*)"')


def as_text(message: str) -> str:
    r"""``message`` with Python bytes reprs (``b'\xe5\x85\xb3'``) shown as the text they hold.

    GDAL (through pyogrio) names a layer with a non-ASCII name as the repr of
    its UTF-8 bytes; a user reads ``'关闭矿井'``, not escapes.
    """
    def text(m):
        body = m.group(1) if m.group(1) is not None else m.group(2)
        try:
            raw = ast.literal_eval("b'" + body.replace("'", "\\'") + "'")
        except (ValueError, SyntaxError):
            return m.group(0)
        return raw.decode("utf-8", errors="replace")

    return _BYTES_REPR.sub(text, message)


def first_line(e: Exception) -> str:
    """The first line of an exception's message (GDAL's are long), names as text."""
    return as_text((str(e).strip().splitlines() or [type(e).__name__])[0])
