"""Places, never persons: find and drop personal columns before anything is mapped.

A factor layer may come from a list that also names people (the plan's watched
persons, the owners of a farm). riskmap keeps the place and drops every column
that looks personal — by its header (姓名, 户主, 身份证号, 电话, 住址, ...) or by its
values (Chinese resident ID numbers with a valid check digit, mainland mobile
and landline numbers) — before the layer enters the grid, so such fields never
reach HTML, PDF, KML/KMZ, GPX, GeoPackage or ledgers. Ledgers name responsible
cadres from the roster only, which is not read through here.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

_NAME_HEADERS = re.compile(
    r"(姓名|名字|户主|户名|业主|法人|负责人|经营者|联系人|当事人|嫌疑|前科|人员|"
    r"身份证|证件号|公民身份|电话|手机|联系方式|tel|phone|mobile|住址|家庭地址|户籍|"
    r"person|owner|contact|id_?card|idno|address)", re.I)
# words that make a header a place attribute even next to a personal word (场所名称)
_PLACE_HEADERS = re.compile(r"(场所|名称|地点|类型)", re.I)
_ID = re.compile(r"(?<!\d)(\d{17}[\dXx])(?!\d)")
_PHONE = re.compile(r"(?<!\d)(?:1[3-9]\d{9}|0\d{2,3}-?\d{7,8})(?!\d)")
_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
_CHECK = "10X98765432"


def valid_id_number(s: str) -> bool:
    """True for an 18-digit Chinese resident ID with a correct check digit (GB 11643)."""
    if len(s) != 18 or not s[:17].isdigit():
        return False
    return _CHECK[int(np.dot(_WEIGHTS, [int(c) for c in s[:17]])) % 11] == s[17].upper()


def _values_look_personal(col: pd.Series) -> str | None:
    text = col.dropna().astype(str)
    if text.empty:
        return None
    sample = text.head(2000)
    ids = sample.str.extract(_ID, expand=False).dropna()
    if len(ids) and ids.map(valid_id_number).any():
        return "身份证号 (resident ID numbers)"
    if sample.str.contains(_PHONE).mean() > 0.2:
        return "电话号码 (phone numbers)"
    return None


def personal_columns(df: pd.DataFrame, keep=()) -> dict[str, str]:
    """Columns that look personal, with the reason (header or values).

    ``keep`` names columns a factor needs (its type, weight or date field); they
    are never reported.
    """
    out = {}
    geom = getattr(df, "geometry", None)
    gname = geom.name if geom is not None else None
    for c in df.columns:
        if c == gname or str(c).startswith("_") or c in keep:
            continue
        name = str(c)
        if _NAME_HEADERS.search(name) and not _PLACE_HEADERS.search(name):
            out[name] = f"列名 {name!r} (header)"
            continue
        if df[c].dtype == object or pd.api.types.is_string_dtype(df[c]):
            why = _values_look_personal(df[c])
            if why:
                out[name] = why
    return out


def strip_personal(df, keep=()):
    """``df`` without its personal columns, and what was dropped (name -> reason)."""
    found = personal_columns(df, keep)
    return (df.drop(columns=list(found)) if found else df), found
