"""The power company's meter table (供电户用电量) and its expansion list, read into arrays.

A meter table comes as the power company exports it (CSV/TXT/XLSX, one row per
user with monthly kWh columns, or one row per user and month): title rows above
the header, 户号 stored as numbers, estimated readings (估抄) marked in the
cell, blanks written ``-`` or ``停用``, personal columns (户名, 电话, 身份证号)
that are read past and never kept. Scoring lives in :mod:`riskmap.models.power`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from riskmap.errors import LayerError
from riskmap.load.project import Source
from riskmap.load.sources.meter_cells import (
    ESTIMATE,
    cell_months,
    month_label,
    parse_kwh,
    parse_month_labels,
    parse_share,
    rows_text,
    title_year,
    user_ids,
)
from riskmap.load.tables import normalize_header as normalize
from riskmap.load.tables import read_table

__all__ = ["CATEGORY_ALIASES", "KEYWORDS", "PERSONAL", "PowerTable", "normalize", "parse_kwh",
           "parse_month_labels", "read_expansions", "read_power_table"]

#: how a category's text is normalised (anything else is kept as written)
CATEGORY_ALIASES = {
    "居民": "居民", "居民生活": "居民", "城乡居民": "居民", "城镇居民": "居民", "乡村居民": "居民",
    "居民生活用电": "居民", "一户一表": "居民", "农村居民": "居民",
    "农业": "农业", "农业生产": "农业", "农排": "农业", "农业排灌": "农业", "农业生产用电": "农业",
    "排灌": "农业",
    "动力": "动力", "工业": "动力", "普通工业": "动力", "大工业": "动力", "非普工业": "动力",
    "动力用电": "动力",
    "商业": "商业", "一般工商业": "商业", "商业用电": "商业", "非居民照明": "商业",
    "非居民": "商业",
}
KEYWORDS = {
    "user": ("户号", "用户编号", "用户号", "客户编号", "电力户号", "用电户号", "户号编码",
             "客户号", "user_id", "user", "account"),
    "category": ("用户类别", "用电类别", "用户类型", "用电性质", "用户分类", "类别", "category"),
    "village": ("村", "村名", "所属村", "行政村", "村庄", "村委会", "村名称", "village"),
    "township": ("乡镇", "所属乡镇", "乡镇街道", "乡镇名称", "镇", "township"),
    "night": ("谷电占比", "谷段占比", "谷段电量占比", "谷电量占比", "夜间用电占比", "夜间占比",
              "night_share"),
    "lon": ("经度", "lon", "lng", "longitude", "long", "东经"),
    "lat": ("纬度", "lat", "latitude", "北纬"),
    "x": ("x", "x坐标", "东坐标", "横坐标", "easting", "坐标x"),
    "y": ("y", "y坐标", "北坐标", "纵坐标", "northing", "坐标y"),
    "crs": ("坐标系", "坐标系统", "坐标类型", "crs", "coordinate system", "datum"),
}
_LONG_KEYWORDS = {
    "month": ("月份", "抄表月份", "年月", "电费年月", "抄表年月", "账期", "month"),
    "kwh": ("电量", "用电量", "抄见电量", "月用电量", "结算电量", "电量(kwh)", "kwh"),
    "night_kwh": ("谷电量", "谷段电量", "夜间电量", "night_kwh"),
    "flag": ("抄表方式", "抄表类型", "抄表状态", "估抄标志", "抄表标志", "flag"),
}
#: headers of personal data of account holders: never copied anywhere
PERSONAL = ("户名", "用户名称", "用户名", "客户名称", "姓名", "户主", "户主姓名", "联系人",
            "联系电话", "电话", "手机", "手机号", "手机号码", "身份证", "身份证号",
            "身份证号码", "证件号", "证件号码", "住址", "地址", "用电地址", "name", "phone")
_EXPANSION_KEYWORDS = {
    "user": KEYWORDS["user"],
    "month": ("增容完成日期", "增容完成月份", "增容月份", "完成月份", "报装月份", "投运月份",
              "增容日期", "完成日期", "报装日期",
              "投运日期", "日期", "月份", "date", "month"),
}


@dataclass
class PowerTable:
    """A meter table read into arrays.

    Attributes
    ----------
    users : pandas.DataFrame
        One row per user: ``user_id`` (text, leading zeros kept), ``category``,
        ``village``, ``township`` (or None), ``lon``/``lat`` or ``x``/``y`` as
        read (NaN when blank), ``_row`` (sheet row of the user's first row).
    kwh : numpy.ndarray
        ``(users, months)`` float64 kWh, NaN for a blank reading.
    estimated : numpy.ndarray
        ``(users, months)`` bool, True for an estimated reading (估抄).
    months : list of str
        Month labels in time order (``2026-01``, or ``1月`` without a year).
    calendar : numpy.ndarray
        Calendar month (1–12) of each column, 0 when unknown.
    night_share : numpy.ndarray or None
        Share (0–1) of night (谷段) energy per user, NaN when blank.
    dropped_personal : list of str
        Headers of personal columns that were read past and never kept.
    notes : list of str
        What was found and repaired (Chinese with English).
    """

    users: pd.DataFrame
    kwh: np.ndarray
    estimated: np.ndarray
    months: list[str]
    calendar: np.ndarray
    night_share: np.ndarray | None = None
    dropped_personal: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def blank_cells(self) -> int:
        """Readings that are blank (NaN) and not estimated."""
        return int(np.isnan(self.kwh).sum())

    @property
    def estimated_cells(self) -> int:
        """Readings marked as estimated (估抄)."""
        return int(self.estimated.sum())


# --------------------------------------------------------------------------- the table
def read_power_table(source: Source | str | Path, *, user_field: str | None = None,
                     category_field: str | None = None, village_field: str | None = None,
                     month_fields: Sequence[str] | None = None,
                     long_format: bool | None = None) -> PowerTable:
    """Read the power company's meter table (wide or long format).

    Parameters
    ----------
    source : Source or path
        CSV/TXT/XLSX; the header is found under title rows (see
        :func:`riskmap.load.tables.read_table`).
    user_field, category_field, village_field : str, optional
        Column names when the usual ones (户号, 用户类别, 村 …) are not used.
    month_fields : sequence of str, optional
        Monthly kWh columns in time order (default: the headers that read as
        months).
    long_format : bool, optional
        One row per user and month (户号, 月份, 电量 [, 抄表方式, 谷电量]).
        Default: detected (a 月份 and an 电量 column and no month columns).

    Returns
    -------
    PowerTable

    Raises
    ------
    LayerError
        Missing file, no 户号 column, no month columns, a reading that is not a
        number (naming the row and column), duplicate months.
    """
    src = source if isinstance(source, Source) else Source(path=Path(source))
    kw = dict(KEYWORDS)
    for role, name in (("user", user_field), ("category", category_field),
                       ("village", village_field)):
        if name:
            kw[role] = (name,)
    if src.x_field or src.y_field:
        kw["x"], kw["y"] = (src.x_field,), (src.y_field,)
    if src.crs_field:
        kw["crs"] = (src.crs_field,)
    kw.update(_LONG_KEYWORDS)
    df, tinfo = read_table(src.path, sheet=src.sheet, encoding=src.encoding, keywords=kw,
                           required=("user",))
    notes = list(tinfo.notes)
    personal_keys = {normalize(p) for p in PERSONAL}
    dropped = [c for c in df.columns if normalize(_strip_brackets(c)) in personal_keys]
    df = df.drop(columns=dropped)
    if dropped:
        notes.append(f"个人信息列已忽略 (personal columns dropped): {', '.join(dropped)}")

    month_cols = _month_columns(df, month_fields, tinfo)
    is_long = long_format if long_format is not None else (
        not month_cols and {"month", "kwh"} <= set(df.columns))
    if is_long:
        missing = [r for r in ("month", "kwh") if r not in df.columns]
        if missing:
            raise LayerError(f"{src.path}: long format needs columns 月份 (month) and 电量 (kWh); "
                             f"missing: {', '.join(missing)}")
        table = _from_long(df, src, tinfo, notes)
    else:
        if not month_cols:
            have = ", ".join(str(c) for c in df.columns if c != "_row")
            raise LayerError(f"{src.path}: 找不到月份电量列 (no monthly kWh columns): headers "
                             f"like 2026-01, 2026年1月, 202601 or 1月 were expected; columns: "
                             f"{have}; or give power.month_fields / power.long_format")
        table = _from_wide(df, month_cols, src, notes)
    table.dropped_personal = dropped
    return table


def _strip_brackets(text) -> str:
    return re.sub(r"[(\[（【][^)\]）】]*[)\]）】]", "", str(text))


def _month_columns(df, month_fields, tinfo) -> list[tuple[str, int | None, int | None]]:
    """[(column, year, month)] of the monthly kWh columns, in time order."""
    cols = [c for c in df.columns if c not in KEYWORDS and c not in _LONG_KEYWORDS
            and c != "_row"]
    if month_fields:
        have = {normalize(c): c for c in df.columns}
        chosen = []
        for name in month_fields:
            c = have.get(normalize(name))
            if c is None:
                raise LayerError(f"{tinfo.sheet or ''}: power.month_fields: no column {name!r}; "
                                 f"columns: {', '.join(map(str, cols))}")
            chosen.append(c)
        years, months = parse_month_labels(chosen, title_year(tinfo))
        return list(zip(chosen, years, months, strict=True))
    years, months = parse_month_labels(cols, title_year(tinfo))
    found = [(c, y, m) for c, y, m in zip(cols, years, months, strict=True) if m is not None]
    if found and all(y is not None for _, y, _ in found):
        found.sort(key=lambda t: (t[1], t[2]))
    return found


def _timeline(keys: list[tuple[int | None, int]], path, notes) -> list[tuple[int | None, int]]:
    """Months in time order with gaps filled (when years are known)."""
    if len(set(keys)) != len(keys):
        dup = sorted({month_label(*k) for k in keys if keys.count(k) > 1})
        raise LayerError(f"{path}: 月份重复 (the same month appears twice): {', '.join(dup)}; "
                         "keep one column per month")
    if not keys or any(y is None for y, _ in keys):
        return keys
    first, last = min(keys), max(keys)
    n = (last[0] - first[0]) * 12 + last[1] - first[1] + 1
    full = [(first[0] + (first[1] - 1 + i) // 12, (first[1] - 1 + i) % 12 + 1) for i in range(n)]
    gaps = [month_label(*k) for k in full if k not in set(keys)]
    if gaps:
        notes.append(f"缺少月份 (months without a column, read as blank): {', '.join(gaps)}")
    return full


def _keep_users(df, notes):
    """Rows with a 户号: (frame, sheet rows, ids), all re-indexed from 0."""
    rows = df["_row"].to_numpy()
    ids, keep = user_ids(df["user"], rows, notes)
    return (df.loc[keep].reset_index(drop=True), rows[keep],
            ids[keep].reset_index(drop=True))


def _negatives(neg, notes) -> None:
    if neg.any():
        notes.append(f"{int(neg.sum())} 个负电量 (negative readings, corrections) read as blank")


def _from_wide(df, month_cols, src, notes) -> PowerTable:
    df, rows, ids = _keep_users(df, notes)
    names = [c for c, _, _ in month_cols]
    vals, est, bad, neg = parse_kwh(df[names])
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise LayerError(f"{src.path}: row {rows[i]}, column {names[j]!r}: "
                         f"{df[names[j]].iloc[i]!r} is not a kWh reading; fix the cell "
                         "(estimated readings may be marked 估)")
    _negatives(neg, notes)
    keys = [(y, m) for _, y, m in month_cols]
    full = _timeline(keys, src.path, notes)
    pos = [full.index(k) for k in keys]
    kwh = np.full((len(df), len(full)), np.nan)
    e = np.zeros(kwh.shape, dtype=bool)
    kwh[:, pos], e[:, pos] = vals, est
    night = parse_share(df["night"], rows, src.path) if "night" in df.columns else None
    users = _user_frame(df, ids, rows)
    table = PowerTable(users, kwh, e, [month_label(*k) for k in full],
                       np.array([m for _, m in full]), night, notes=notes)
    return _merge_duplicates(table)


def _from_long(df, src, tinfo, notes) -> PowerTable:
    df, rows, ids = _keep_users(df, notes)
    years, months = cell_months(df["month"].tolist(), title_year(tinfo))
    miss = np.array([m is None for m in months])
    if miss.any():
        i = int(np.flatnonzero(miss)[0])
        raise LayerError(f"{src.path}: row {rows[i]}: 月份 {df['month'].iloc[i]!r} is not a month; "
                         "write it like 2026-01 or 2026年1月")
    vals, est, bad, neg = parse_kwh(df[["kwh"]])
    if bad.any():
        i = int(np.flatnonzero(bad[:, 0])[0])
        raise LayerError(f"{src.path}: row {rows[i]}: 电量 {df['kwh'].iloc[i]!r} is not a kWh "
                         "reading; fix the cell")
    _negatives(neg, notes)
    est = est[:, 0]
    if "flag" in df.columns:
        est = est | df["flag"].fillna("").astype(str).str.contains(ESTIMATE).to_numpy()
    keys = list(zip(years, months, strict=True))
    uniq = sorted(set(keys), key=lambda k: (k[0] or 0, k[1])) if all(
        y is not None for y in years) else list(dict.fromkeys(keys))
    full = _timeline(uniq, src.path, notes)
    col = pd.Series(range(len(full)), index=pd.MultiIndex.from_tuples(full) if full else None)
    j = col.reindex(pd.MultiIndex.from_tuples(keys)).to_numpy()
    codes, uniques = pd.factorize(ids)
    long = pd.DataFrame({"u": codes, "j": j, "v": vals[:, 0], "e": est})
    if long.duplicated(["u", "j"]).any():
        notes.append(f"{int(long.duplicated(['u', 'j']).sum())} 个重复的户号+月份已相加 "
                     "(repeated user-month rows summed, e.g. a replaced meter)")
    agg = long.groupby(["u", "j"]).agg(v=("v", lambda s: s.sum(min_count=1)), e=("e", "any"))
    kwh = np.full((len(uniques), len(full)), np.nan)
    e = np.zeros(kwh.shape, dtype=bool)
    u_idx = agg.index.get_level_values(0).to_numpy()
    j_idx = agg.index.get_level_values(1).to_numpy()
    kwh[u_idx, j_idx] = agg["v"].to_numpy()
    e[u_idx, j_idx] = agg["e"].to_numpy()
    first = pd.Series(np.arange(len(df))).groupby(codes).first().to_numpy()
    night = None
    if "night_kwh" in df.columns:
        nv = parse_kwh(df[["night_kwh"]])[0]
        tot = pd.DataFrame({"u": codes, "n": nv[:, 0], "k": vals[:, 0]}).dropna()
        g = tot.groupby("u")[["n", "k"]].sum()
        night = np.full(len(uniques), np.nan)
        ok = g["k"].to_numpy() > 0
        night[g.index.to_numpy()[ok]] = (g["n"] / g["k"]).to_numpy()[ok]
    users = _user_frame(df.iloc[first].reset_index(drop=True), pd.Series(uniques), rows[first])
    return PowerTable(users, kwh, e, [month_label(*k) for k in full],
                      np.array([m for _, m in full]), night, notes=notes)


def _user_frame(df, ids, rows) -> pd.DataFrame:
    def col(name):
        if name not in df.columns:
            return pd.Series([None] * len(df), dtype=object)
        s = df[name].astype(object).where(df[name].notna(), None)
        return s.map(lambda v: None if v is None else unicodedata.normalize("NFKC", str(v)).strip())

    cat = col("category")
    cat = cat.map(lambda v: CATEGORY_ALIASES.get(v.replace(" ", ""), v) if v else "未知")
    out = pd.DataFrame({"user_id": ids.to_numpy(), "category": cat.to_numpy(),
                        "village": col("village").to_numpy(),
                        "township": col("township").to_numpy()})
    for c in ("lon", "lat", "x", "y", "crs"):
        if c in df.columns:
            out[c] = df[c].to_numpy()
    out["_row"] = np.asarray(rows)
    return out


def _merge_duplicates(t: PowerTable) -> PowerTable:
    dup = t.users["user_id"].duplicated(keep=False).to_numpy()
    if not dup.any():
        return t
    codes, _ = pd.factorize(t.users["user_id"])
    n = int(codes.max()) + 1
    k = pd.DataFrame(t.kwh).groupby(codes).sum(min_count=1).to_numpy()
    e = pd.DataFrame(t.estimated).groupby(codes).any().to_numpy()
    first = pd.Series(np.arange(len(codes))).groupby(codes).first().to_numpy()
    t.notes.append(f"{int(dup.sum())} 行户号重复，按户相加 (rows with a repeated 户号 summed): "
                   f"rows {rows_text(t.users['_row'].to_numpy()[dup])}")
    night = None if t.night_share is None else t.night_share[first]
    return PowerTable(t.users.iloc[first].reset_index(drop=True), k[:n], e[:n], t.months,
                      t.calendar, night, t.dropped_personal, t.notes)


# --------------------------------------------------------------------------- expansions
def read_expansions(source: Source | str | Path, months: Sequence[str]) -> pd.DataFrame:
    """Read the declared capacity expansions (报装增容清单).

    Parameters
    ----------
    source : Source or path
        CSV/XLSX with 户号 and the month the expansion was completed
        (增容月份/完成日期/…: ``2026-04``, ``2026年4月``, ``2026-04-15``, a
        workbook date).
    months : sequence of str
        Month labels of the meter table (``2026-01`` …).

    Returns
    -------
    pandas.DataFrame
        ``user_id``, ``month`` (label) and ``j`` (column of the meter table,
        0 when the expansion is older than the table, -1 when after it).

    Raises
    ------
    LayerError
        Missing file or columns, a completion month that is not a month.
    """
    src = source if isinstance(source, Source) else Source(path=Path(source))
    df, _ = read_table(src.path, sheet=src.sheet, encoding=src.encoding,
                       keywords=_EXPANSION_KEYWORDS, required=("user", "month"))
    rows = df["_row"].to_numpy()
    ids, keep = user_ids(df["user"], rows, [])
    years, mos = cell_months(df["month"].tolist())
    labels = [month_label(y, m) if m is not None and y is not None else None
              for y, m in zip(years, mos, strict=True)]
    bad = keep & np.array([lab is None for lab in labels])
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise LayerError(f"{src.path}: row {rows[i]}: {df['month'].iloc[i]!r} is not a month; "
                         "write the completion month like 2026-04")
    lab = pd.Series(labels, dtype=object)[keep].to_numpy()
    pos = {m: i for i, m in enumerate(months)}
    j = np.array([pos.get(m, 0 if (months and m < months[0]) else -1) for m in lab], dtype=int)
    return pd.DataFrame({"user_id": ids[keep].to_numpy(), "month": lab, "j": j})
