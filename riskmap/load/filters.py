"""The ``where`` filter of a source: SQL on the decoded attributes, or a ``{field: value}`` mapping.

The filter runs on the attribute table as read and decoded (a GBK shapefile's
Chinese field names and values are text by then), in an in-memory SQLite
table, so that ``类型 = '取缔坑口'`` works for every format and every source
kind alike. Field names the user writes bare are quoted for them
(``"类型"``), so a name with spaces or a leading digit works too.
"""

from __future__ import annotations

import re
import sqlite3

import numpy as np
import pandas as pd

from riskmap.errors import LayerError

__all__ = ["apply_where", "quote_fields", "where_from_mapping"]

# single-quoted strings ('' escapes a quote) and double-quoted identifiers pass as they are
_QUOTED = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"")
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def where_from_mapping(mapping: dict, fail) -> str:
    """SQL for a ``{field: value}`` or ``{field: [value, ...]}`` filter (AND of fields).

    Parameters
    ----------
    mapping : dict
        Field name → one value, or a list of values any of which matches; ``None``
        matches an empty cell.
    fail : callable
        ``fail(message)`` raises the caller's error (the project file checker).

    Returns
    -------
    str
        E.g. ``"类型" IN ('取缔坑口', '废弃井口')``.
    """
    if not mapping:
        fail("a mapping filter needs at least one field, e.g. {类型: 取缔坑口}")
    terms = []
    for name, value in mapping.items():
        ident = '"' + str(name).replace('"', '""') + '"'
        values = value if isinstance(value, list) else [value]
        if not values:
            fail(f"field {name!r}: give at least one value")
        if any(isinstance(v, dict | list) for v in values):
            fail(f"field {name!r}: values must be text or numbers, got {value!r}")
        lits = [_literal(v) for v in values if v is not None]
        parts = []
        if lits:
            parts.append(f"{ident} = {lits[0]}" if len(lits) == 1
                         else f"{ident} IN ({', '.join(lits)})")
        if any(v is None for v in values):
            parts.append(f"{ident} IS NULL")
        terms.append(parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")")
    return " AND ".join(terms)


def _literal(v) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int | float):
        return repr(v)
    return "'" + str(v).replace("'", "''") + "'"


def quote_fields(where: str, fields) -> str:
    """``where`` with the bare field names that need quotes put in double quotes.

    A name needs quotes when it is not a plain ASCII identifier (Chinese, spaces,
    a leading digit). Text in quotes is left alone; longer names are matched first.
    """
    names = sorted({str(f) for f in fields if not _PLAIN.fullmatch(str(f))}, key=len,
                   reverse=True)
    if not names:
        return where
    pat = re.compile(r"(?<![\w\"])(" + "|".join(map(re.escape, names)) + r")(?![\w\"])")
    out, pos = [], 0
    for m in _QUOTED.finditer(where):
        out.append(pat.sub(lambda x: '"' + x.group(1).replace('"', '""') + '"',
                           where[pos:m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(pat.sub(lambda x: '"' + x.group(1).replace('"', '""') + '"', where[pos:]))
    return "".join(out)


def _sql_column(s: pd.Series) -> pd.Series:
    """A column as SQLite takes it: numbers, text, NULL (dates as ISO text)."""
    if pd.api.types.is_datetime64_any_dtype(s):
        return s.dt.strftime("%Y-%m-%d %H:%M:%S").where(s.notna(), None).str.removesuffix(
            " 00:00:00").astype(object)
    if pd.api.types.is_bool_dtype(s):
        return s.astype("Int64").astype(object).where(s.notna(), None)
    if pd.api.types.is_numeric_dtype(s):
        return s.astype(object).where(s.notna(), None)
    if pd.api.types.infer_dtype(s, skipna=True) in ("string", "empty", "integer", "floating",
                                                     "mixed-integer-float"):
        return s.astype(object).where(s.notna(), None)
    return s.astype(str).astype(object).where(s.notna(), None)  # dates, decimals, bytes


_POS = "riskmap_position__"


def _sql_names(cols) -> list[str]:
    """Column names SQLite accepts: unique without regard to case (a later twin gets ``_2``)."""
    seen, out = set(), []
    for c in cols:
        name, k = str(c) or "_", 2
        while name.lower() in seen or name.lower() == _POS:
            name, k = f"{c}_{k}", k + 1
        seen.add(name.lower())
        out.append(name)
    return out


def apply_where(gdf, where: str, what) -> np.ndarray:
    """Positions (0-based) of the rows of ``gdf`` that ``where`` selects.

    Parameters
    ----------
    gdf : pandas.DataFrame
        The layer as read and decoded (its geometry column is ignored).
    where : str
        An SQL expression (SQLite's, which OGR SQL's ``=``, ``<>``, ``AND``,
        ``OR``, ``NOT``, ``IN``, ``LIKE``, ``BETWEEN``, ``IS NULL`` match).
    what : object
        The source, for messages.

    Raises
    ------
    LayerError
        The filter is not valid SQL or names a field the layer does not have,
        naming the fields it has.
    """
    geom = getattr(gdf, "_geometry_column_name", None)
    cols = [c for c in gdf.columns if c != geom and str(c) != "_row"]
    sql = quote_fields(where, cols)
    sql = re.sub(r"\bILIKE\b", "LIKE", sql, flags=re.IGNORECASE)  # OGR SQL's ILIKE
    table = pd.DataFrame({f"c{i}": _sql_column(gdf[c]) for i, c in enumerate(cols)})
    con = sqlite3.connect(":memory:")
    try:
        defs = ", ".join(f'"{n.replace(chr(34), chr(34) * 2)}"' for n in _sql_names(cols))
        con.execute(f"CREATE TABLE t ({_POS} INTEGER{', ' + defs if defs else ''})")
        marks = ", ".join("?" * (len(cols) + 1))
        rows = zip(range(len(table)), *(table[c].tolist() for c in table.columns), strict=True)
        con.executemany(f"INSERT INTO t VALUES ({marks})", rows)
        try:
            hit = con.execute(f"SELECT {_POS} FROM t WHERE ({sql})").fetchall()
        except (sqlite3.Error, sqlite3.Warning) as e:
            fields = ", ".join(map(str, cols)) or "none"
            raise LayerError(
                f"{what}: where 过滤条件无效 (invalid 'where' filter) {where!r}: {e}; fields: "
                f"{fields}; write text values in single quotes, e.g. 类型 = '取缔坑口', or "
                "give a mapping, e.g. where: {类型: [取缔坑口, 废弃井口]}") from None
    finally:
        con.close()
    return np.sort(np.array(hit, dtype=np.int64).reshape(-1))
