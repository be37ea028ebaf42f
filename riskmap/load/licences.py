"""Licence attributes and polygons from the rows of a corner table (拐点坐标).

Column parsing (licence keys, point numbers, depth ranges, validity dates) and
ring building per block, with the overlap checks; used by
:func:`riskmap.load.rights.read_corner_table`.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import Polygon

from riskmap.errors import LayerError
from riskmap.load.values import find_dates

#: coordinates closer than this (m) are the same corner
TOLERANCE = 0.01
#: overlaps smaller than this (m²) are rounding, not overlaps
MIN_OVERLAP = 0.01
_NUM = r"(?<![\d.])[+-]?\d+(?:\.\d+)?"


# --------------------------------------------------------------------------- columns
def text(s: pd.Series) -> pd.Series:
    """Cell values as stripped text (numbers 3.0 → "3"), blanks None."""
    num = pd.to_numeric(s, errors="coerce")
    whole = num.notna() & (num == num.round()) & ~s.map(type).eq(str)
    t = s.astype(object).where(s.notna(), None).astype(str).str.strip()
    t = t.where(~whole, num.round().astype("Int64").astype(str))
    return t.where(s.notna() & (t != ""), None)


def licences(df: pd.DataFrame):
    """Licence key per row (number, else name), forward-filled, and key → number/name."""
    none = pd.Series(None, index=df.index, dtype=object)
    lic = text(df["licence_no"]) if "licence_no" in df else none
    name = text(df["name"]) if "name" in df else none
    # a row starts a new licence when a filled number or name differs from the one above
    new = ((lic.notna() & (lic != lic.ffill().shift())) |
           (name.notna() & (name != name.ffill().shift())))
    gid = new.cumsum()
    lic_f = lic.groupby(gid).transform("first")
    name_f = name.groupby(gid).transform("first")
    # number missing on a new name's rows but the name seen before: reuse its number
    key = lic_f.where(lic_f.notna(), name_f)
    key = key.where(gid > 0, None)
    lic_of = dict(zip(key, lic_f, strict=True))
    name_of = {}
    for k, n in zip(key, name_f, strict=True):
        if k is not None and name_of.get(k) is None:
            name_of[k] = n
    return key, {k: v for k, v in lic_of.items() if k is not None}, name_of


def point_numbers(s: pd.Series) -> pd.Series:
    """Trailing integer of a point label ("J12" → 12, "拐点3" → 3), NaN if none."""
    t = s.astype(object).where(s.notna(), "").astype(str).str.normalize("NFKC")
    t = t.str.replace(r"\.0+$", "", regex=True)
    return pd.to_numeric(t.str.extract(r"(\d+)\s*$")[0], errors="coerce")


def attributes(df: pd.DataFrame, key: pd.Series) -> dict[str, dict]:
    """Depth range, validity and scale per licence (first value found)."""
    cols = pd.DataFrame(index=df.index)
    for role in ("depth_top", "depth_bottom"):
        if role in df:
            cols[role] = _first_number(df[role])
    if "depth" in df:
        pair = _number_pair(df["depth"])
        for role, k in (("depth_top", 0), ("depth_bottom", 1)):
            cols[role] = cols[role].fillna(pair[k]) if role in cols else pair[k]
    for role in ("valid_from", "valid_to"):
        if role in df:
            cols[role] = _dates(df[role])[0]
    if "validity" in df:
        d0, d1 = _dates(df["validity"])
        for role, d in (("valid_from", d0), ("valid_to", d1)):
            cols[role] = cols[role].fillna(d) if role in cols else d
    if "scale" in df:
        cols["scale"] = text(df["scale"])
    if cols.shape[1] == 0:
        return {}
    g = cols.groupby(key.to_numpy(), sort=False)
    first = g.first()
    # blocks of one licence may have their own depth range: widest range
    if "depth_top" in first:
        first["depth_top"] = g["depth_top"].max()
    if "depth_bottom" in first:
        first["depth_bottom"] = g["depth_bottom"].min()
    first = first.astype(object).where(first.notna(), None)
    return first.to_dict(orient="index")


def _first_number(s: pd.Series) -> pd.Series:
    return _number_pair(s)[0]


def _number_pair(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """First and second number in each cell ("由+1200米至800米" → 1200, 800)."""
    t = s.astype(object).where(s.notna(), "").astype(str).str.normalize("NFKC")
    t = t.str.replace(",", "", regex=False)
    nums = t.str.extractall(f"({_NUM})")[0].astype(float).unstack()
    nums = nums.reindex(index=s.index, columns=[0, 1])
    return nums[0], nums[1]


def _dates(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """First and second date in each cell as ISO text ("2015年3月1日至2025年3月1日")."""
    uniq = {v: find_dates(v) for v in pd.unique(s.dropna().astype(str))}
    found = s.astype(object).map(lambda v: uniq.get(str(v), []) if v is not None
                                 and not (isinstance(v, float) and np.isnan(v)) else [])

    def nth(k):
        return found.map(lambda ds: ds[k].isoformat() if len(ds) > k else None).astype(object)

    return nth(0), nth(1)


# --------------------------------------------------------------------------- geometry
def block_ring(path, lic, blk, g: pd.DataFrame, xy, rows, report):
    """Corner coordinates of one block in ring order, closing point removed."""
    pos = g["pos"].to_numpy()
    p = g["p"].to_numpy()
    if np.isnan(p).any():
        if not np.isnan(p).all():
            report.notes.append(f"{lic} 块段 {blk}: 部分点号无法识别, 按表格顺序连接 (some point "
                                f"numbers unreadable, table order used): "
                                f"rows {rows_text(rows[pos])}")
    else:
        pos = pos[np.argsort(p, kind="stable")]
        p = p[np.argsort(p, kind="stable")]
    pts, r = xy[pos], rows[pos]
    # closing point: the last corner, or a corner numbered like the first, repeats the first
    same_first = np.hypot(*(pts - pts[0]).T) <= TOLERANCE
    same_first[0] = False
    closing = same_first & ((np.arange(len(pts)) == len(pts) - 1) | (p == p[0]))
    report.closing_points += int(closing.sum())
    pts, r = pts[~closing], r[~closing]
    # other repeated corners: consecutive ones are dropped, others reported
    d = np.hypot(*(pts[:, None, :] - pts[None, :, :]).transpose(2, 0, 1))
    dup = np.triu(d <= TOLERANCE, 1)
    if dup.any():
        i, j = np.nonzero(dup)
        report.warnings.append(
            f"{lic} 块段 {blk} (block {blk}): 重复拐点 (duplicate corners) rows "
            + ", ".join(f"{r[a]}={r[b]}" for a, b in zip(i, j, strict=True))
            + "; check the coordinates")
        consecutive = np.zeros(len(pts), bool)
        consecutive[j[j == i + 1]] = True
        pts, r = pts[~consecutive], r[~consecutive]
    if len(pts) < 3:
        where = rows_text(rows[g["pos"].to_numpy()])
        raise LayerError(f"{path}: {lic} 块段 {blk} (block {blk}) 只有 {len(pts)} 个不同的拐点 "
                         f"(fewer than 3 distinct corners), rows {where}; "
                         "a block needs at least 3 corners: check the licence/block columns "
                         "and the coordinates")
    return pts, r


def polygonal(geom):
    """The polygonal part of a geometry (what make_valid leaves)."""
    parts = [p for p in shapely.get_parts(geom) if isinstance(p, Polygon) and not p.is_empty]
    if not parts:
        return Polygon()
    return shapely.union_all(parts)


def block_overlaps(lic, parts, report) -> None:
    """Report blocks of one licence that overlap each other."""
    if len(parts) < 2:
        return
    geoms = np.array([p for _, p in parts], dtype=object)
    tree = shapely.STRtree(geoms)
    i, j = tree.query(geoms, predicate="intersects")
    keep = i < j
    i, j = i[keep], j[keep]
    if len(i) == 0:
        return
    area = shapely.area(shapely.intersection(geoms[i], geoms[j]))
    for a, b, m2 in zip(i, j, area, strict=True):
        if m2 > MIN_OVERLAP:
            report.warnings.append(f"{lic}: 块段 {parts[a][0]} 与块段 {parts[b][0]} 重叠 "
                                   f"{m2:,.1f} m² (blocks overlap); the licence is their union")


def licence_overlaps(gdf: gpd.GeoDataFrame, report) -> list[tuple[str, str, float]]:
    """``(a, b, m²)`` for licences that overlap each other (also reported)."""
    geoms = gdf.geometry.to_numpy()
    tree = shapely.STRtree(geoms)
    i, j = tree.query(geoms, predicate="intersects")
    keep = i < j
    i, j = i[keep], j[keep]
    if len(i) == 0:
        return []
    area = shapely.area(shapely.intersection(geoms[i], geoms[j]))
    key = gdf["licence_no"].where(gdf["licence_no"].notna(), gdf["name"]).to_numpy()
    out = []
    for a, b, m2 in zip(i, j, area, strict=True):
        if m2 > MIN_OVERLAP:
            out.append((str(key[a]), str(key[b]), float(m2)))
            report.warnings.append(f"采矿权 {key[a]} 与 {key[b]} 重叠 {m2:,.1f} m² "
                                   "(licences overlap); check both corner lists")
    return out


def rows_text(rows) -> str:
    """Sheet rows for a message (the first 8, then a count)."""
    rows = [int(r) for r in rows]
    if len(rows) > 8:
        return ", ".join(map(str, rows[:8])) + f", … ({len(rows)} rows)"
    return ", ".join(map(str, rows))
