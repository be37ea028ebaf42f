"""Electricity anomalies: the meters that give hidden digging away.

Hidden tunnels need hoists, pumps, fans and lights, and that shows on the
meter. This module reads the power company's meter table as it comes
(CSV/XLSX, one row per user with monthly kWh columns, or one row per user and
month), scores every user with reasons a person can check, places the users on
the map and writes a ledger for the power company (供电台账).

The score of a user (0–100) combines, all on ``log(kWh + 30)`` (the 30 kWh
offset damps near-empty meters):

* **level** — the robust z (median/MAD) of the user's recent level against the
  peers of the same category in the same village (else township, else the
  district; at least :data:`PEER_MIN` users);
* **jump** — the largest step between the user's own median before and after a
  month (the onset), as a robust z against the category's month-to-month
  noise, times the **persistence** (share of the months after the onset that
  stay above the old level);
* **magnitude** — the extra kWh per month (a hoist, a pump and a fan draw
  hundreds to thousands of kWh a month; a vacant house that is lived in again
  does not), which scales the score down when the excess is small;
* **night load** (optional) — the robust z of the share of night (谷段) energy
  against the category, which adds to users that already show level or jump.

Known legitimate patterns are not anomalies by themselves: each category's
typical seasonal shape is removed, and in the months of :data:`SEASONS`
(winter electric heating of 居民, summer irrigation of 农业) a user's excess is
not counted as evidence; growth of a 动力 user on the declared expansion list
is taken out from the declared month on. Estimated readings (估抄) are merged
with the next real reading (their mean), so a catch-up reading is no jump.
Everything is vectorised over users (loops run over months or villages only).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from riskmap.errors import LayerError, ProjectFileError, RiskmapWarning
from riskmap.load.project import Project, Source

# --------------------------------------------------------------------------- constants
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
#: months (1–12) in which a category's excess is legitimate and not counted
SEASONS = {"居民": (11, 12, 1, 2, 3), "农业": (5, 6, 7, 8, 9)}
SEASON_TEXT = {"居民": "冬季采暖（11–3月）", "农业": "灌溉季（5–9月）"}
#: kWh added before the log: damps the log ratios of near-empty meters
LOG_OFFSET = 30.0
#: fewest users of a peer group (category × village, township or district)
PEER_MIN = 15
#: how many of the latest valid months make a user's level
LEVEL_MONTHS = 4
#: extra kWh per month at which the magnitude factor reaches 1
MAGNITUDE_KWH = 600.0
#: smallest robust scale (log units) of a peer group, against tiny MADs
MIN_SCALE = 0.15
#: points a village-placed user is spread over in the factor layer
SPREAD_POINTS = 16
#: defaults of the project's power keys
DEFAULT_TOP, DEFAULT_MIN_SCORE = 20, 50.0

_KEYWORDS = {
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
    "user": _KEYWORDS["user"],
    "month": ("增容完成日期", "增容完成月份", "增容月份", "完成月份", "报装月份", "投运月份",
              "增容日期", "完成日期", "报装日期",
              "投运日期", "日期", "月份", "date", "month"),
}
_BLANK_MARKS = {"", "-", "--", "—", "——", "/", "无", "空", "停用", "销户", "拆表", "未抄", "nan",
                "none"}
_ESTIMATE = re.compile(r"估抄|估算|估计|估")
_STRIP = re.compile(r"估抄|估算|估计|估|[()\[\]（）【】]|kwh|千瓦时|度|,|\s|'|\"")
_YM = re.compile(r"(?P<y>(?:19|20)\d{2})\s*[-/._年]\s*(?P<m>1[0-2]|0?[1-9])(?!\d)")
_YYYYMM = re.compile(r"^(?P<y>(?:19|20)\d{2})(?P<m>0[1-9]|1[0-2])(?:\D|$)")
_M_ONLY = re.compile(r"^(?P<m>1[0-2]|0?[1-9])月")
_YEAR_IN_TITLE = re.compile(r"((?:19|20)\d{2})\s*年")


# --------------------------------------------------------------------------- config
@dataclass(frozen=True)
class PowerConfig:
    """The project's ``power`` keys, checked.

    Attributes
    ----------
    source : Source
        The meter table (CSV/TXT/XLSX).
    user_field, category_field, village_field : str or None
        Column names, when the defaults (户号, 用户类别, 村 and their variants) do
        not match.
    month_fields : tuple of str or None
        The monthly kWh columns in time order (default: every column whose
        header reads as a month: ``2026-01``, ``2026年1月``, ``202601``, ``1月``).
    long_format : bool or None
        One row per user and month (columns 户号, 月份, 电量); ``None`` detects it.
    expansions : Source or None
        Declared capacity expansions (户号 and the month they were completed).
    top : int
        Users printed by ``riskmap power-check``.
    min_score : float
        Users at or above this score (0–100) form the anomaly layer.
    """

    source: Source
    user_field: str | None = None
    category_field: str | None = None
    village_field: str | None = None
    month_fields: tuple[str, ...] | None = None
    long_format: bool | None = None
    expansions: Source | None = None
    top: int = DEFAULT_TOP
    min_score: float = DEFAULT_MIN_SCORE


def power_config(project: Project) -> PowerConfig:
    """Check the raw ``power`` keys of a project.

    Parameters
    ----------
    project : Project
        A project with a ``power`` section.

    Returns
    -------
    PowerConfig

    Raises
    ------
    ProjectFileError
        No ``power`` section, or a key of the wrong type (naming the key).
    """
    raw = project.power
    where = f"{project.path}: power"
    if not raw:
        raise ProjectFileError(f"{project.path}: no 'power' section; add power: source: "
                               "<meter table> to the project file")

    def text(key):
        v = raw.get(key)
        if v is not None and (not isinstance(v, str) or not v.strip()):
            raise ProjectFileError(f"{where}.{key}: must be a column name, got {v!r}")
        return v.strip() if v else None

    months = raw.get("month_fields")
    if months is not None:
        if isinstance(months, str):
            months = [m for m in re.split(r"[,，]", months) if m.strip()]
        if not isinstance(months, list) or not months or not all(
                isinstance(m, str | int) for m in months):
            raise ProjectFileError(f"{where}.month_fields: must be a list of column names "
                                   "(the monthly kWh columns in time order)")
        months = tuple(str(m).strip() for m in months)
    long_format = raw.get("long_format")
    if long_format is not None and not isinstance(long_format, bool):
        raise ProjectFileError(f"{where}.long_format: must be true or false")
    top = raw.get("top", DEFAULT_TOP)
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise ProjectFileError(f"{where}.top: must be a whole number ≥ 1, got {top!r}")
    ms = raw.get("min_score", DEFAULT_MIN_SCORE)
    if isinstance(ms, bool) or not isinstance(ms, int | float) or not 0 <= ms <= 100:
        raise ProjectFileError(f"{where}.min_score: must be a number in 0–100, got {ms!r}")
    for key in ("source", "expansions"):
        if raw.get(key) is not None and not isinstance(raw[key], Source):
            raise ProjectFileError(f"{where}.{key}: must be a file path")
    return PowerConfig(source=raw["source"], user_field=text("user_field"),
                       category_field=text("category_field"),
                       village_field=text("village_field"), month_fields=months,
                       long_format=long_format, expansions=raw.get("expansions"), top=top,
                       min_score=float(ms))


# --------------------------------------------------------------------------- reading
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
    xy : tuple or None
        Points of the users with coordinates in the working CRS (filled by
        :func:`locate`).
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


def parse_month_labels(labels: Sequence, year_hint: int | None = None
                       ) -> tuple[list[int | None], list[int | None]]:
    """Years and months of column headers or cell values.

    Parameters
    ----------
    labels : sequence
        Header texts or cells: ``2026-01``, ``2026年1月(kWh)``, ``202601``,
        ``2026/1``, ``2026-01-01 00:00:00`` (an Excel date), ``1月``.
    year_hint : int, optional
        Year of the first month-only label (``1月``); later ones roll over to
        the next year when the month goes back (``12月``, ``1月``).

    Returns
    -------
    (list, list)
        Year (or None) and month (1–12, or None when the label is no month).
    """
    years: list[int | None] = []
    months: list[int | None] = []
    year, last = year_hint, None
    for lab in labels:
        s = unicodedata.normalize("NFKC", str(lab)).replace(" ", "") if lab is not None else ""
        m = _YM.search(s) or _YYYYMM.match(s)
        if m:
            years.append(int(m["y"]))
            months.append(int(m["m"]))
            continue
        m = _M_ONLY.match(s)
        if m:
            mo = int(m["m"])
            if year is not None and last is not None and mo <= last:
                year += 1
            last = mo
            years.append(year)
            months.append(mo)
            continue
        years.append(None)
        months.append(None)
    return years, months


def parse_kwh(cells: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Read kWh cells as a power company writes them.

    Parameters
    ----------
    cells : pandas.DataFrame
        Cells as read (numbers, text, None). Text may carry an estimate mark
        (``估 120``, ``120(估)``, ``估抄120``), thousands separators, full-width
        digits or a unit (``kWh``, ``度``); ``-``, ``/``, ``无``, ``停用`` are blank.

    Returns
    -------
    values : numpy.ndarray
        float64, NaN where blank, unreadable or negative.
    estimated : numpy.ndarray
        bool, True where the cell carries an estimate mark.
    bad : numpy.ndarray
        bool, True where a non-blank cell is not a number.
    negative : numpy.ndarray
        bool, True where the number is negative (a correction, 退补): not used.
    """
    shape = cells.shape
    flat = pd.Series(cells.to_numpy(dtype=object).ravel(), dtype=object)
    kind = flat.map(type)
    is_str = kind.eq(str)
    num = pd.to_numeric(flat.where(~is_str & ~kind.eq(bool)), errors="coerce")
    text = flat.where(is_str, "").astype(str).str.normalize("NFKC").str.strip().str.lower()
    est = is_str & text.str.contains(_ESTIMATE)
    clean = text.str.replace(_STRIP, "", regex=True)
    from_text = pd.to_numeric(clean.where(~clean.isin(_BLANK_MARKS)), errors="coerce")
    values = np.array(num.where(~is_str, from_text), dtype=float)
    blank_text = is_str & clean.isin(_BLANK_MARKS)
    bad = (is_str & ~blank_text & np.isnan(values)) | kind.eq(bool)
    values[~np.isfinite(values)] = np.nan
    neg = values < 0
    values[neg] = np.nan
    return (values.reshape(shape), est.to_numpy().reshape(shape),
            np.asarray(bad).reshape(shape), neg.reshape(shape))


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
    from riskmap.load.tables import read_table

    src = source if isinstance(source, Source) else Source(path=Path(source))
    kw = dict(_KEYWORDS)
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
        table = _from_wide(df, month_cols, src, tinfo, notes)
    table.dropped_personal = dropped
    return table


def normalize(text) -> str:
    """NFKC, lower case, no spaces (header matching)."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(text))).lower()


def _strip_brackets(text) -> str:
    return re.sub(r"[(\[（【][^)\]）】]*[)\]）】]", "", str(text))


def _month_columns(df, month_fields, tinfo) -> list[tuple[str, int | None, int | None]]:
    """[(column, year, month)] of the monthly kWh columns, in time order."""
    cols = [c for c in df.columns if c not in _KEYWORDS and c not in _LONG_KEYWORDS
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
        years, months = parse_month_labels(chosen, _title_year(tinfo))
        return list(zip(chosen, years, months, strict=True))
    years, months = parse_month_labels(cols, _title_year(tinfo))
    found = [(c, y, m) for c, y, m in zip(cols, years, months, strict=True) if m is not None]
    if found and all(y is not None for _, y, _ in found):
        found.sort(key=lambda t: (t[1], t[2]))
    return found


def _title_year(tinfo) -> int | None:
    for t in tinfo.titles:
        m = _YEAR_IN_TITLE.search(t)
        if m:
            return int(m.group(1))
    return None


def _label(y, m) -> str:
    return f"{y}-{m:02d}" if y is not None else f"{m}月"


def _timeline(keys: list[tuple[int | None, int]], path, notes) -> list[tuple[int | None, int]]:
    """Months in time order with gaps filled (when years are known)."""
    if len(set(keys)) != len(keys):
        dup = sorted({_label(*k) for k in keys if keys.count(k) > 1})
        raise LayerError(f"{path}: 月份重复 (the same month appears twice): {', '.join(dup)}; "
                         "keep one column per month")
    if not keys or any(y is None for y, _ in keys):
        return keys
    first, last = min(keys), max(keys)
    n = (last[0] - first[0]) * 12 + last[1] - first[1] + 1
    full = [(first[0] + (first[1] - 1 + i) // 12, (first[1] - 1 + i) % 12 + 1) for i in range(n)]
    gaps = [_label(*k) for k in full if k not in set(keys)]
    if gaps:
        notes.append(f"缺少月份 (months without a column, read as blank): {', '.join(gaps)}")
    return full


def _user_ids(values: pd.Series, rows, path, notes) -> tuple[pd.Series, np.ndarray]:
    """户号 as text; numbers from a workbook lose no '.0' (but may have lost zeros)."""
    kind = values.map(type)
    is_num = values.notna() & ~kind.eq(str)
    out = values.where(~is_num, None).astype(object)
    if is_num.any():
        nums = pd.to_numeric(values[is_num], errors="coerce")
        whole = nums.notna() & (nums % 1 == 0)
        txt = nums.astype("Int64", errors="ignore").astype(str) if whole.all() else nums.astype(str)
        out[is_num] = txt.to_numpy()
        notes.append(f"{int(is_num.sum())} 个户号是数字格式 (user ids stored as numbers): "
                     "leading zeros may be lost; format the 户号 column as text")
    s = out.astype(object).where(out.notna(), "").astype(str).str.normalize("NFKC").str.strip()
    s = s.str.lstrip("'")
    blank = (s == "").to_numpy()
    if blank.any():
        notes.append(f"跳过 {int(blank.sum())} 行无户号 (rows without 户号 skipped): rows "
                     f"{_rows_text(rows[blank])}")
    return s, ~blank


def _from_wide(df, month_cols, src, tinfo, notes) -> PowerTable:
    rows = df["_row"].to_numpy()
    ids, keep = _user_ids(df["user"], rows, src.path, notes)
    df, rows = df.loc[keep].reset_index(drop=True), rows[keep]
    ids = ids[keep].reset_index(drop=True)
    names = [c for c, _, _ in month_cols]
    vals, est, bad, neg = parse_kwh(df[names])
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise LayerError(f"{src.path}: row {rows[i]}, column {names[j]!r}: "
                         f"{df[names[j]].iloc[i]!r} is not a kWh reading; fix the cell "
                         "(estimated readings may be marked 估)")
    if neg.any():
        notes.append(f"{int(neg.sum())} 个负电量 (negative readings, corrections) read as blank")
    keys = [(y, m) for _, y, m in month_cols]
    full = _timeline(keys, src.path, notes)
    pos = [full.index(k) for k in keys]
    kwh = np.full((len(df), len(full)), np.nan)
    e = np.zeros(kwh.shape, dtype=bool)
    kwh[:, pos], e[:, pos] = vals, est
    night = None
    if "night" in df.columns:
        night = _share(df["night"], rows, src.path)
    users = _user_frame(df, ids, rows)
    table = PowerTable(users, kwh, e, [_label(*k) for k in full],
                       np.array([m for _, m in full]), night, notes=notes)
    return _merge_duplicates(table)


def _from_long(df, src, tinfo, notes) -> PowerTable:
    rows = df["_row"].to_numpy()
    ids, keep = _user_ids(df["user"], rows, src.path, notes)
    df, rows = df.loc[keep].reset_index(drop=True), rows[keep]
    ids = ids[keep].reset_index(drop=True)
    years, months = parse_month_labels(df["month"].tolist(), _title_year(tinfo))
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
    if neg.any():
        notes.append(f"{int(neg.sum())} 个负电量 (negative readings, corrections) read as blank")
    est = est[:, 0]
    if "flag" in df.columns:
        est = est | df["flag"].fillna("").astype(str).str.contains(_ESTIMATE).to_numpy()
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
    sub = df.iloc[first].reset_index(drop=True)
    night = None
    if "night_kwh" in df.columns:
        nv = parse_kwh(df[["night_kwh"]])[0]
        tot = pd.DataFrame({"u": codes, "n": nv[:, 0], "k": vals[:, 0]}).dropna()
        g = tot.groupby("u")[["n", "k"]].sum()
        night = np.full(len(uniques), np.nan)
        ok = g["k"].to_numpy() > 0
        night[g.index.to_numpy()[ok]] = (g["n"] / g["k"]).to_numpy()[ok]
    users = _user_frame(sub, pd.Series(uniques), rows[first])
    return PowerTable(users, kwh, e, [_label(*k) for k in full],
                      np.array([m for _, m in full]), night, notes=notes)


def _share(values, rows, path) -> np.ndarray:
    v, _, bad, _ = parse_kwh(pd.DataFrame({"s": values.astype(object).where(
        values.notna(), None).map(lambda s: s.replace("%", "") if isinstance(s, str) else s)}))
    if bad.any():
        i = int(np.flatnonzero(bad[:, 0])[0])
        raise LayerError(f"{path}: row {rows[i]}: 谷电占比 {values.iloc[i]!r} is not a share; "
                         "write 0.35 or 35%")
    v = v[:, 0]
    if np.nanmax(v, initial=0) > 1.0:
        v = v / 100.0
    return np.clip(v, 0, 1)


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
                   f"rows {_rows_text(t.users['_row'].to_numpy()[dup])}")
    night = None if t.night_share is None else t.night_share[first]
    return PowerTable(t.users.iloc[first].reset_index(drop=True), k[:n], e[:n], t.months,
                      t.calendar, night, t.dropped_personal, t.notes)


def read_expansions(source: Source | str | Path, months: Sequence[str]) -> pd.DataFrame:
    """Read the declared capacity expansions (报装增容清单).

    Parameters
    ----------
    source : Source or path
        CSV/XLSX with 户号 and the month the expansion was completed
        (增容月份/完成日期/…: ``2026-04``, ``2026年4月``, ``2026-04-15``).
    months : sequence of str
        Month labels of the meter table (``2026-01`` …).

    Returns
    -------
    pandas.DataFrame
        ``user_id``, ``month`` (label) and ``j`` (column of the meter table,
        0 when the expansion is older than the table, -1 when after it).
    """
    from riskmap.load.tables import read_table

    src = source if isinstance(source, Source) else Source(path=Path(source))
    df, _ = read_table(src.path, sheet=src.sheet, encoding=src.encoding,
                       keywords=_EXPANSION_KEYWORDS, required=("user", "month"))
    rows = df["_row"].to_numpy()
    notes: list[str] = []
    ids, keep = _user_ids(df["user"], rows, src.path, notes)
    years, mos = parse_month_labels(df["month"].tolist())
    labels = [_label(y, m) if m is not None and y is not None else None
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


# --------------------------------------------------------------------------- statistics
def robust_z(values, groups=None, *, min_scale: float = 0.0) -> np.ndarray:
    """Robust z: ``(v - median) / (1.4826 * MAD)`` within groups.

    Parameters
    ----------
    values : array_like
        Numbers (NaN ignored and kept).
    groups : array_like, optional
        Group label per value (default: one group).
    min_scale : float
        Lower bound of the scale ``1.4826 * MAD`` (a group of equal values
        would otherwise divide by zero).

    Returns
    -------
    numpy.ndarray
        float64; NaN where the value is NaN or the scale is 0.
    """
    v = pd.Series(np.asarray(values, dtype=float))
    g = pd.Series(np.zeros(len(v), dtype=int) if groups is None else np.asarray(groups))
    med = v.groupby(g).transform("median")
    mad = (v - med).abs().groupby(g).transform("median")
    scale = np.maximum(1.4826 * mad.to_numpy(), min_scale)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(scale > 0, (v - med).to_numpy() / scale, np.nan)


def reconcile_estimates(kwh: np.ndarray, estimated: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Spread each run of estimated readings and the real reading after it evenly.

    A clerk's estimate (估抄) is followed by a real reading that carries the
    difference; the total over the run is right, the months are not. Each run
    and the real reading that closes it get their mean. Estimates that no real
    reading closes (at the end of the table) become blank.

    Parameters
    ----------
    kwh : numpy.ndarray
        ``(users, months)`` readings, NaN blank.
    estimated : numpy.ndarray
        Same shape, True for estimated readings.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Reconciled readings, and a mask of the estimates left unclosed.
    """
    k = np.asarray(kwh, dtype=float)
    e = np.asarray(estimated, dtype=bool) & ~np.isnan(k)
    real = ~e & ~np.isnan(k)
    # block = estimates + the next real reading: count real readings from the right
    block = np.cumsum(real[:, ::-1], axis=1)[:, ::-1]
    unclosed = e & (block == 0)
    use = (e | real) & ~unclosed
    u, j = np.nonzero(use)
    s = pd.DataFrame({"u": u, "b": block[u, j], "v": k[u, j], "e": e[u, j]})
    g = s.groupby(["u", "b"])
    has_est = g["e"].transform("any").to_numpy()
    mean = g["v"].transform("mean").to_numpy()
    out = k.copy()
    out[u[has_est], j[has_est]] = mean[has_est]
    out[unclosed] = np.nan
    return out, unclosed


def _nanmedian(a: np.ndarray, axis: int = 1) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(a, axis=axis)


def peer_groups(category, village, township, min_size: int = PEER_MIN
                ) -> tuple[np.ndarray, np.ndarray]:
    """Peer group of each user: category × village, else × township, else category.

    Parameters
    ----------
    category, village, township : array_like
        Per user (village/township may be None).
    min_size : int
        Fewest users of a group.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Group key (text) and level (``村``, ``乡镇`` or ``全区``) per user.
    """
    cat = pd.Series(np.asarray(category, dtype=object)).fillna("未知").astype(str)
    vil = pd.Series(np.asarray(village, dtype=object)).fillna("").astype(str)
    town = pd.Series(np.asarray(township, dtype=object)).fillna("").astype(str)
    kv, kt = cat + "|村|" + vil, cat + "|镇|" + town
    nv = kv.map(kv.value_counts()).where(vil != "", 0)
    nt = kt.map(kt.value_counts()).where(town != "", 0)
    key = np.where(nv >= min_size, kv, np.where(nt >= min_size, kt, cat + "|全区"))
    level = np.where(nv >= min_size, "村", np.where(nt >= min_size, "乡镇", "全区"))
    return key, level


# --------------------------------------------------------------------------- scoring
def score_users(table: PowerTable, expansions: pd.DataFrame | None = None) -> pd.DataFrame:
    """Score every user of a meter table (vectorised over users).

    Parameters
    ----------
    table : PowerTable
        From :func:`read_power_table` (``township`` may have been filled from
        the village polygons).
    expansions : pandas.DataFrame, optional
        From :func:`read_expansions`: the growth of these users from their
        declared month on is not counted.

    Returns
    -------
    pandas.DataFrame
        One row per user, in table order: ``user_id``, ``category``, ``village``,
        ``township``, ``score`` (0–100), ``level_z``, ``level_ratio``,
        ``level_kwh`` (recent kWh/month), ``peer_kwh`` (peers' median),
        ``peer_level`` (村/乡镇/全区), ``jump_z``, ``step_kwh`` (extra kWh/month
        after the onset), ``step_ratio``, ``onset`` (month label or None),
        ``months_above``, ``months_after``, ``night_share``, ``night_z``,
        ``estimated``, ``blank``, ``excused`` and ``reasons`` (Chinese text).
    """
    users = table.users
    n, m = table.kwh.shape
    cat = users["category"].astype(str).to_numpy()
    k, unclosed = reconcile_estimates(table.kwh, table.estimated)
    y = np.log(k + LOG_OFFSET)

    # the category's typical seasonal shape (median user's deviation per month)
    dev = y - _nanmedian(y)[:, None]
    shape = pd.DataFrame(dev).groupby(cat).median()
    counts = pd.Series(cat).value_counts()
    small = counts.index[counts < PEER_MIN]
    shape.loc[shape.index.isin(small)] = pd.DataFrame(dev).median().to_numpy()
    s = shape.reindex(cat).fillna(0.0).to_numpy()
    z = y - s

    # legitimate seasons: excess there is no evidence
    season = np.zeros((n, m), dtype=bool)
    for c, mons in SEASONS.items():
        season |= (cat == c)[:, None] & np.isin(table.calendar, mons)[None, :]
    ze = np.where(season, np.nan, z)
    base_all = _nanmedian(ze)
    season_excess = _nanmedian(np.where(season, z, np.nan)) - base_all

    # declared expansions: rebase from the declared month on
    excused_exp = np.zeros(n, dtype=bool)
    exp_label = np.full(n, "", dtype=object)
    if expansions is not None and len(expansions):
        e = expansions[expansions["j"] >= 0].drop_duplicates("user_id", keep="last")
        pos = pd.Series(np.arange(n), index=users["user_id"].to_numpy())
        pos = pos[~pos.index.duplicated()]
        hit = e[e["user_id"].isin(pos.index)]
        ui = pos.loc[hit["user_id"]].to_numpy()
        if len(ui):
            after = np.arange(m)[None, :] >= hit["j"].to_numpy()[:, None]
            rows = ze[ui]
            before_med = _nanmedian(np.where(~after, rows, np.nan))
            after_med = _nanmedian(np.where(after, rows, np.nan))
            lift = np.nan_to_num(np.maximum(after_med - before_med, 0.0))
            ze[ui] = np.where(after, rows - lift[:, None], rows)
            excused_exp[ui] = True
            exp_label[ui] = hit["month"].to_numpy()

    # noise of a category: robust spread of month-to-month changes
    diff = np.diff(ze, axis=1)
    dlong = pd.DataFrame({"c": np.repeat(cat, m - 1), "d": diff.ravel()}).dropna()
    noise = dlong.groupby("c")["d"].agg(lambda d: 1.4826 * np.median(np.abs(d - np.median(d))))
    sigma = np.maximum(noise.reindex(cat).fillna(0.3).to_numpy() / np.sqrt(2), 0.05)

    # change point: the split with the largest balanced step of medians
    valid = ~np.isnan(ze)
    best_t = np.full(n, -np.inf)
    onset = np.full(n, -1)
    step = np.zeros(n)
    for j in range(2, m - 1):
        nb, na = valid[:, :j].sum(1), valid[:, j:].sum(1)
        ok = (nb >= 2) & (na >= 2)
        d = _nanmedian(ze[:, j:]) - _nanmedian(ze[:, :j])
        t = np.where(ok, d * np.sqrt(nb * na / np.maximum(nb + na, 1)), -np.inf)
        better = t > best_t
        best_t[better], onset[better], step[better] = t[better], j, d[better]
    has = onset >= 0
    oj = np.where(has, onset, m)
    after_mask = np.arange(m)[None, :] >= oj[:, None]
    before = _nanmedian(np.where(~after_mask, ze, np.nan))
    after = _nanmedian(np.where(after_mask, ze, np.nan))
    months_after = (valid & after_mask).sum(1)
    months_above = (valid & after_mask & (ze > (before + np.maximum(step, 0) / 2)[:, None])).sum(1)
    persist = np.where(months_after > 0, months_above / np.maximum(months_after, 1), 0.0)
    jump_z = np.where(has, np.maximum(best_t, 0) / (1.25 * sigma), 0.0)
    # onset for the report: between the last month at or below the midpoint and
    # the first month above it after the split; a range when months between
    # are blank or in a legitimate season (the rise may have started there)
    cols = np.arange(m)[None, :]
    mid = (before + np.maximum(step, 0) / 2)[:, None]
    late = np.where(valid & (ze > mid) & (cols >= oj[:, None]), cols, m).min(1)
    early = np.where(valid & (ze <= mid) & (cols < late[:, None]), cols, -1).max(1) + 1
    early = np.minimum(early, late)
    late = np.where(valid & (ze > mid) & (cols >= early[:, None]), cols, m).min(1)
    kwh_of = np.exp  # deseasonalised log level -> (kWh + offset)
    step_kwh = np.where(has, kwh_of(after) - kwh_of(before), 0.0)
    step_ratio = np.where(has, np.exp(after - before), 1.0)

    # level: the latest valid months against the peers
    from_right = np.cumsum(valid[:, ::-1], axis=1)[:, ::-1]
    recent = valid & (from_right <= LEVEL_MONTHS)
    level = _nanmedian(np.where(recent, ze, np.nan))
    key, peer_level = peer_groups(cat, users["village"], users["township"])
    level_z = robust_z(level, key, min_scale=MIN_SCALE)
    peer_med = pd.Series(level).groupby(key).transform("median").to_numpy()
    level_kwh = kwh_of(level) - LOG_OFFSET
    peer_kwh = kwh_of(peer_med) - LOG_OFFSET
    level_ratio = kwh_of(level - peer_med)

    night = table.night_share
    night_z = np.full(n, np.nan) if night is None else robust_z(night, cat, min_scale=0.03)

    lvl = np.clip((np.nan_to_num(level_z) - 2.0) / 4.0, 0, 1)
    jmp = np.clip((jump_z - 2.0) / 4.0, 0, 1) * persist * (step > 0)
    core = np.maximum(lvl, jmp) * 0.8 + np.minimum(lvl, jmp) * 0.2 + np.where(
        (lvl > 0) & (jmp > 0), 0.2, 0.0)
    nig = np.clip((np.nan_to_num(night_z) - 2.0) / 4.0, 0, 1) * (core > 0)
    extra = np.maximum(np.nan_to_num(level_kwh - peer_kwh), np.nan_to_num(step_kwh) * (jmp > 0))
    mag = np.clip(extra / MAGNITUDE_KWH, 0, 1)
    score = 100.0 * mag * np.minimum(1.0, core + 0.15 * nig)
    score = np.round(np.nan_to_num(score), 1)

    out = pd.DataFrame({
        "user_id": users["user_id"].to_numpy(),
        "category": cat,
        "village": users["village"].to_numpy(),
        "township": users["township"].to_numpy(),
        "score": score,
        "level_z": np.round(level_z, 2),
        "level_ratio": np.round(level_ratio, 2),
        "level_kwh": np.round(level_kwh, 0),
        "peer_kwh": np.round(peer_kwh, 0),
        "peer_level": peer_level,
        "jump_z": np.round(jump_z, 2),
        "step_kwh": np.round(step_kwh, 0),
        "step_ratio": np.round(step_ratio, 2),
        "onset": _onset_text(table.months, early, late, has & (jmp > 0)),
        "months_above": months_above,
        "months_after": months_after,
        "night_share": np.nan if night is None else np.round(night, 3),
        "night_z": np.round(night_z, 2),
        "estimated": table.estimated.sum(1),
        "unclosed": unclosed.sum(1),
        "blank": (np.isnan(table.kwh) & ~table.estimated).sum(1),
    })
    out["excused"] = _excused_text(cat, season_excess, excused_exp, exp_label)
    out["reasons"] = _reasons(out, lvl, jmp, nig, night)
    return out


def _onset_text(months: list[str], early, late, show) -> np.ndarray:
    """``2026-05``, or ``2026-05～2026-10`` when the months between say nothing."""
    lab = np.array([*months, ""], dtype=object)
    m = len(months)
    e, la = lab[np.minimum(early, m)], lab[np.minimum(late, m)]
    text = np.where((early == late) | (la == ""), e, e + "～" + la)
    return np.where(show, text, None)


def _fmt(fmt: str, values) -> np.ndarray:
    return np.char.mod(fmt, np.asarray(values, dtype=float))


def _join(parts: list[np.ndarray], sep: str = "；") -> np.ndarray:
    out = np.asarray(parts[0], dtype=object)
    for p in parts[1:]:
        p = np.asarray(p, dtype=object)
        glue = np.where((out != "") & (p != ""), sep, "")
        out = out + glue + p
    return out


def _excused_text(cat, season_excess, excused_exp, exp_label) -> np.ndarray:
    parts = []
    for c, text in SEASON_TEXT.items():
        big = (cat == c) & (np.nan_to_num(season_excess) > np.log(1.5))
        ratio = _fmt("%.1f", np.exp(np.nan_to_num(season_excess)))
        parts.append(np.where(big, text + "用电为平时的" + ratio.astype(object)
                              + "倍，按季节性用电不计", ""))
    parts.append(np.where(excused_exp, "已报装增容（" + exp_label.astype(str).astype(object)
                          + "），此后增长不计", ""))
    return _join(parts)


def _reasons(o: pd.DataFrame, lvl, jmp, nig, night) -> np.ndarray:
    peer = o["peer_level"].map({"村": "同村", "乡镇": "同乡镇", "全区": "全区"}).to_numpy(object)
    level = np.where(
        lvl > 0,
        "近期用电约" + _fmt("%.0f", o["level_kwh"]).astype(object) + " kWh/月，为" + peer
        + o["category"].to_numpy(object) + "用户中位数（"
        + _fmt("%.0f", o["peer_kwh"]).astype(object)
        + " kWh）的" + _fmt("%.1f", o["level_ratio"]).astype(object) + "倍（稳健z "
        + _fmt("%.1f", o["level_z"].fillna(0)).astype(object) + "）", "")
    onset = o["onset"].fillna("").to_numpy(object)
    jump = np.where(
        jmp > 0,
        onset + "起比本户此前中位数每月多" + _fmt("%.0f", o["step_kwh"]).astype(object) + " kWh（×"
        + _fmt("%.1f", o["step_ratio"]).astype(object) + "），此后" + _fmt(
            "%d", o["months_after"]).astype(object) + "个月中" + _fmt(
            "%d", o["months_above"]).astype(object) + "个月持续偏高", "")
    if night is not None:
        med = pd.Series(np.asarray(night)).groupby(o["category"].to_numpy()).transform("median")
        nt = np.where(nig > 0, "谷段（夜间）用电占" + _fmt("%.0f", 100 * np.nan_to_num(
            o["night_share"])).astype(object) + "%（同类中位" + _fmt(
            "%.0f", 100 * med.fillna(0)).astype(object) + "%）", "")
    else:
        nt = np.full(len(o), "", dtype=object)
    est = np.where(o["estimated"] > 0, "估抄" + _fmt("%d", o["estimated"]).astype(object)
                   + "个月（已与下次实抄合并平均）", "")
    unc = np.where(o["unclosed"] > 0, "其中" + _fmt("%d", o["unclosed"]).astype(object)
                   + "个月估抄未经实抄核实（不计）", "")
    blank = np.where(o["blank"] > 0, "缺抄" + _fmt("%d", o["blank"]).astype(object) + "个月", "")
    return _join([level, jump, nt, o["excused"].to_numpy(object), est, unc, blank])


def naive_jump(table: PowerTable) -> np.ndarray:
    """The naive list's key: each user's biggest month-over-month rise in kWh.

    Parameters
    ----------
    table : PowerTable

    Returns
    -------
    numpy.ndarray
        float64 per user (raw readings, estimates as written, blanks skipped).
    """
    d = np.diff(table.kwh, axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nan_to_num(np.nanmax(d, axis=1), nan=-np.inf)


# --------------------------------------------------------------------------- placing
@dataclass
class PowerResult:
    """A scored meter table, placed on the map.

    Attributes
    ----------
    users : geopandas.GeoDataFrame
        :func:`score_users` columns plus ``placed_by`` (坐标 / 村委会 / 村范围 /
        未定位) and the point (working CRS; None when not placed), sorted by
        score, highest first.
    table : PowerTable
    config : PowerConfig
    villages : geopandas.GeoDataFrame or None
        Village polygons (``name``, ``township``) used to spread users.
    notes : list of str
    """

    users: gpd.GeoDataFrame
    table: PowerTable
    config: PowerConfig
    villages: gpd.GeoDataFrame | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def flagged(self) -> gpd.GeoDataFrame:
        """Users at or above the project's ``min_score``."""
        return self.users[self.users["score"] >= self.config.min_score]

    def summary(self) -> dict:
        """Counts for a report (JSON-ready)."""
        u, t = self.users, self.table
        placed = u["placed_by"].value_counts().to_dict()
        return {
            "users": len(u), "months": len(t.months),
            "first_month": t.months[0] if t.months else None,
            "last_month": t.months[-1] if t.months else None,
            "blank_readings": t.blank_cells, "estimated_readings": t.estimated_cells,
            "categories": u["category"].value_counts().to_dict(),
            "placed_by": {str(k): int(v) for k, v in placed.items()},
            "flagged": len(self.flagged), "min_score": self.config.min_score,
            "personal_columns_dropped": list(t.dropped_personal),
            "notes": list(t.notes) + list(self.notes),
        }


def _read_areas(spec, crs):
    from riskmap.load.layers import read_source

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RiskmapWarning)
        gdf, _ = read_source(spec.source, crs)
    if spec.name_field not in gdf.columns:
        raise LayerError(f"{spec.source}: no field {spec.name_field!r}")
    out = gpd.GeoDataFrame({"name": gdf[spec.name_field].astype(str).str.strip().to_numpy()},
                           geometry=gdf.geometry.values, crs=gdf.crs)
    tf = spec.township_field
    out["township"] = gdf[tf].astype(str).to_numpy() if tf and tf in gdf.columns else None
    return out


def _village_key(names) -> pd.Series:
    """Village names for matching: NFKC, no spaces, without a trailing 村."""
    s = pd.Series(np.asarray(names, dtype=object)).fillna("").astype(str)
    return s.str.normalize("NFKC").str.replace(r"\s+", "", regex=True).str.removesuffix("村")


def locate(table: PowerTable, source: Source, crs: str
           ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Points of the users that have coordinates, in the working CRS.

    Parameters
    ----------
    table : PowerTable
    source : Source
        The meter table's source (``crs: GCJ02`` or ``BD09`` for shifted
        web-map coordinates, a per-row 坐标系 column, GK X/Y …; as point tables).
    crs : str
        Working CRS.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray, list of str)
        x, y (NaN where the user has no coordinates) and notes.
    """
    from pyproj import Transformer

    from riskmap.load import values
    from riskmap.load.layers import LayerInfo, table_lonlat, table_xy

    u = table.users
    n = len(u)
    x, y = np.full(n, np.nan), np.full(n, np.nan)
    info = LayerInfo(source=source)
    rows = u["_row"].to_numpy()
    if {"lon", "lat"} <= set(u.columns):
        (a, bad_a), (b, bad_b) = values.parse_angles(u["lon"]), values.parse_angles(u["lat"])
        cols = ("lon", "lat")
    elif {"x", "y"} <= set(u.columns):
        (a, bad_a), (b, bad_b) = values.parse_numbers(u["x"]), values.parse_numbers(u["y"])
        cols = ("x", "y")
    else:
        return x, y, ["表中无坐标列，全部用户按村定位 (no coordinate columns: users placed at "
                      "their village)"]
    bad = bad_a | bad_b
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise LayerError(f"{source}: row {rows[i]}: coordinates {u[cols[0]].iloc[i]!r}, "
                         f"{u[cols[1]].iloc[i]!r} are not numbers or angles; fix the cell")
    ok = ~(np.isnan(a) | np.isnan(b))
    if not ok.any():
        return x, y, ["坐标列为空，全部用户按村定位 (coordinate columns blank)"]
    sub = u.loc[ok].reset_index(drop=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if cols == ("lon", "lat"):
            px, py, pcrs = table_lonlat(source, sub, a[ok], b[ok], rows[ok], info)
        else:
            px, py, pcrs = table_xy(source, a[ok], b[ok], rows[ok], info)
    tr = Transformer.from_crs(pcrs, crs, always_xy=True)
    x[ok], y[ok] = tr.transform(np.asarray(px, float), np.asarray(py, float))
    notes = [*info.detected, *info.notes, *(str(w.message) for w in caught)]
    return x, y, notes


def table_until(table: PowerTable, until) -> PowerTable:
    """The meter table without the months from ``until``'s month on (for backtests).

    Months without a year (``1月``) cannot be placed in time and are kept.
    """
    cut = f"{until.year:04d}-{until.month:02d}"
    keep = np.array([not (len(m) == 7 and m[4] == "-" and m >= cut) for m in table.months])
    if keep.all():
        return table
    if not keep.any():
        raise LayerError(f"the meter table has no month before {cut}: nothing to score "
                         "before that date")
    from dataclasses import replace as _replace

    return _replace(table, kwh=table.kwh[:, keep], estimated=table.estimated[:, keep],
                    months=[m for m, k in zip(table.months, keep, strict=True) if k],
                    calendar=table.calendar[keep],
                    notes=[*table.notes, f"months from {cut} left out (data before {until})"])


def check_power(project: Project, *, progress=None, until=None) -> PowerResult:
    """Read, score and place the project's meter table.

    Parameters
    ----------
    project : Project
        With a ``power`` section (and ``villages`` / ``village_points`` to place
        users that have no coordinates).
    progress : callable, optional
        Called with a short message per step.

    Returns
    -------
    PowerResult

    Raises
    ------
    ProjectFileError, LayerError
    """
    cfg = power_config(project)
    say = progress or (lambda msg: None)
    say(f"读取电表台账 {cfg.source}")
    table = read_power_table(cfg.source, user_field=cfg.user_field,
                             category_field=cfg.category_field,
                             village_field=cfg.village_field, month_fields=cfg.month_fields,
                             long_format=cfg.long_format)
    if until is not None:  # a backtest builds its map from readings before the split
        table = table_until(table, until)
    notes: list[str] = []
    x, y, loc_notes = locate(table, cfg.source, project.crs)
    notes += loc_notes
    villages = _read_areas(project.villages, project.crs) if project.villages else None
    vpoints = _read_areas(project.village_points, project.crs) if project.village_points else None
    u = table.users
    # village of users with coordinates but none written; township from the villages
    if villages is not None:
        has_xy = ~np.isnan(x)
        no_vil = has_xy & u["village"].isna().to_numpy()
        if no_vil.any():
            pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(x[no_vil], y[no_vil]),
                                   crs=project.crs)
            j = gpd.sjoin(pts, villages[["name", "geometry"]], how="left", predicate="within")
            j = j[~j.index.duplicated()]
            u.loc[no_vil, "village"] = j["name"].to_numpy()
        if villages["township"].notna().any():
            tmap = pd.Series(villages["township"].to_numpy(), index=_village_key(villages["name"]))
            tmap = tmap[~tmap.index.duplicated()]
            fill = _village_key(u["village"]).map(tmap).to_numpy()
            u["township"] = np.where(u["township"].isna(), fill, u["township"])
    expansions = None
    if cfg.expansions is not None:
        expansions = read_expansions(cfg.expansions, table.months)
        unknown = ~expansions["user_id"].isin(u["user_id"])
        if unknown.any():
            notes.append(f"增容清单中 {int(unknown.sum())} 个户号不在电表台账中 (expansion ids "
                         f"not in the meter table): "
                         f"{', '.join(expansions['user_id'][unknown][:5])}")
    say("评分")
    scores = score_users(table, expansions)
    gx, gy, placed = _place(u, x, y, villages, vpoints)
    lost = placed == "未定位"
    if lost.any():
        names = sorted(set(u["village"][lost].fillna("（空）").astype(str)))
        notes.append(f"{int(lost.sum())} 个用户无坐标且村名无法匹配，未上图 (users without "
                     f"coordinates whose village is unknown, not placed): {', '.join(names[:8])}")
    geom = np.where(lost, None, gpd.points_from_xy(gx, gy))
    scores["placed_by"] = placed
    gdf = gpd.GeoDataFrame(scores, geometry=gpd.GeoSeries(geom, crs=project.crs))
    gdf = gdf.sort_values(["score", "user_id"], ascending=[False, True], kind="stable")
    return PowerResult(gdf.reset_index(drop=True), table, cfg, villages, notes)


def _place(u, x, y, villages, vpoints):
    """Point and placement of each user: coordinates, committee point, village polygon."""
    n = len(u)
    gx, gy = x.copy(), y.copy()
    placed = np.where(np.isnan(x), "未定位", "坐标").astype(object)
    key = _village_key(u["village"])
    for areas, label in ((vpoints, "村委会"), (villages, "村范围")):
        if areas is None:
            continue
        pts = shapely.point_on_surface(areas.geometry.values)
        xy = pd.DataFrame(shapely.get_coordinates(pts), columns=["x", "y"],
                          index=_village_key(areas["name"]).to_numpy())
        xy = xy[~xy.index.duplicated()]
        need = (placed == "未定位") & key.isin(xy.index).to_numpy()
        if need.any():
            hit = xy.loc[key[need]]
            gx[need], gy[need] = hit["x"].to_numpy(), hit["y"].to_numpy()
            placed[need] = label
    assert len(placed) == n
    return gx, gy, placed


# --------------------------------------------------------------------------- outputs
def _halton(n: int, base: int) -> np.ndarray:
    i = np.arange(1, n + 1)
    f, r = np.ones(n), np.zeros(n)
    while (i > 0).any():
        f = f / base
        r = r + f * (i % base)
        i = i // base
    return r


def spread_points(result: PowerResult, users: gpd.GeoDataFrame,
                  k: int = SPREAD_POINTS) -> gpd.GeoDataFrame:
    """Factor points: one per located user, ``k`` over the village for the others.

    A user placed at its village (no coordinates) is somewhere in the village:
    its weight is split over ``k`` evenly spread points inside the village
    polygon (a 1 km disc around the committee point when there is no polygon),
    so its influence covers the village instead of a false pin.

    Parameters
    ----------
    result : PowerResult
    users : geopandas.GeoDataFrame
        Rows of ``result.users`` to turn into points (with ``weight``).
    k : int
        Points per village-placed user.

    Returns
    -------
    geopandas.GeoDataFrame
        Same columns plus ``part`` (1..k, 0 for a located user); ``weight``
        divided by ``k`` for spread users.
    """
    exact = users[users["placed_by"] == "坐标"].assign(part=0)
    spread = users[users["placed_by"].isin(["村委会", "村范围"])]
    if spread.empty:
        return exact
    # k quasi-random points per village (a loop over villages, not users)
    vil = _village_key(spread["village"]).to_numpy()
    polys = {}
    if result.villages is not None:
        v = result.villages
        polys = dict(zip(_village_key(v["name"]), v.geometry.values, strict=True))
    hx, hy = _halton(64 * k, 2), _halton(64 * k, 3)
    cloud = {}
    for name in pd.unique(vil):
        poly = polys.get(name)
        if poly is None:
            c = spread.geometry.values[np.flatnonzero(vil == name)[0]]
            poly = shapely.buffer(c, 1000.0)
        x0, y0, x1, y1 = poly.bounds
        px, py = x0 + hx * (x1 - x0), y0 + hy * (y1 - y0)
        inside = shapely.contains_xy(poly, px, py)
        pts = np.c_[px[inside], py[inside]][:k]
        if len(pts) < k:  # a thin polygon: repeat what fell inside, else its point
            pts = np.resize(pts if len(pts) else np.array(
                [shapely.get_coordinates(shapely.point_on_surface(poly))[0]]), (k, 2))
        cloud[name] = pts
    xy = np.concatenate([cloud[v] for v in vil])
    rep = spread.loc[spread.index.repeat(k)].copy()
    rep["part"] = np.tile(np.arange(1, k + 1), len(spread))
    rep["weight"] = rep["weight"] / k
    rep = rep.set_geometry(gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=users.crs)
    return gpd.GeoDataFrame(pd.concat([exact, rep], ignore_index=True), crs=users.crs)


LAYER_COLUMNS = ["user_id", "category", "township", "village", "score", "weight", "onset",
                 "reasons", "placed_by", "level_kwh", "peer_kwh", "step_kwh", "night_share"]


def anomaly_users(result: PowerResult, min_score: float | None = None) -> gpd.GeoDataFrame:
    """One point per flagged, placed user (the layer people read).

    Parameters
    ----------
    result : PowerResult
    min_score : float, optional
        Default: the project's ``power.min_score``.

    Returns
    -------
    geopandas.GeoDataFrame
        :data:`LAYER_COLUMNS` (``weight`` = score / 100) and the point; no
        personal data.
    """
    ms = result.config.min_score if min_score is None else min_score
    u = result.users
    sel = u[(u["score"] >= ms) & (u["placed_by"] != "未定位")].copy()
    sel["weight"] = sel["score"] / 100.0
    return gpd.GeoDataFrame(sel[[*LAYER_COLUMNS, "geometry"]].reset_index(drop=True),
                            crs=u.crs)


def anomaly_layer(project: Project, *, min_score: float | None = None, spread: bool = True,
                  result: PowerResult | None = None) -> gpd.GeoDataFrame:
    """The anomaly layer of a project, ready for a ``density`` or ``typed`` factor.

    Parameters
    ----------
    project : Project
        With a ``power`` section.
    min_score : float, optional
        Default: ``power.min_score``.
    spread : bool
        Split village-placed users over :data:`SPREAD_POINTS` points inside the
        village (see :func:`spread_points`); ``False`` gives one point per user.
    result : PowerResult, optional
        A result already computed by :func:`check_power`.

    Returns
    -------
    geopandas.GeoDataFrame
        Points in the working CRS with :data:`LAYER_COLUMNS` (use
        ``weight_field: weight`` in a density factor, or ``type_field:
        placed_by`` / ``category`` in a typed one) and ``part``.
    """
    result = result or check_power(project)
    users = anomaly_users(result, min_score)
    return spread_points(result, users) if spread else users.assign(part=0)


#: the factor source that means "this project's anomaly layer"
ANOMALY_SOURCE = "power:anomalies"


def is_anomaly_source(source: Source) -> bool:
    """True when a factor's source is the special path ``power:anomalies``."""
    return Path(source.path).name == ANOMALY_SOURCE or str(source.path).endswith(ANOMALY_SOURCE)


def read_anomaly_source(project: Project, source: Source | None = None, *, until=None):
    """The anomaly layer as :func:`riskmap.load.layers.read_source` returns a layer.

    Parameters
    ----------
    project : Project
    source : Source, optional
        The factor's source (for the info record).

    Returns
    -------
    (geopandas.GeoDataFrame, riskmap.load.layers.LayerInfo)

    Raises
    ------
    LayerError
        No users at or above ``min_score`` (an empty layer cannot be a factor).
    """
    from riskmap.load.layers import LayerInfo

    result = check_power(project, until=until)
    gdf = anomaly_layer(project, result=result)
    src = source or Source(path=project.folder / ANOMALY_SOURCE)
    info = LayerInfo(source=src, format="power anomalies", crs=project.crs,
                     encoding=result.table.users.attrs.get("encoding"))
    if gdf.empty:
        raise LayerError(f"{result.config.source}: no user scores ≥ power.min_score "
                         f"{result.config.min_score:g}; lower it or drop the factor")
    info.features = len(gdf)
    info.geom_counts = {"Point": len(gdf)}
    info.geom_types = ["Point"]
    info.bounds = tuple(float(v) for v in gdf.total_bounds)
    s = result.summary()
    info.notes = [f"{s['flagged']} users ≥ {s['min_score']:g} of {s['users']}; placed by "
                  f"{s['placed_by']}", *s["notes"]]
    return gdf, info


LEDGER_COLUMNS = ["序号", "户号", "类别", "乡镇", "村", "风险分", "异常起始", "定位", "异常说明",
                  "建议", "责任人", "核查结果"]


def _advice(users: pd.DataFrame) -> np.ndarray:
    hi = users["score"].to_numpy() >= 70
    dong = (users["category"] == "动力").to_numpy()
    night = users["reasons"].str.contains("谷段").to_numpy()
    vil = users["placed_by"].isin(["村委会", "村范围"]).to_numpy()
    est = users["reasons"].str.contains("估抄").to_numpy()
    first = np.where(hi, "优先现场核查用电设备与实际用途（提升机、水泵、风机、照明）",
                     "安排现场核对用电性质与设备")
    parts = [first,
             np.where(dong, "核实是否办理报装增容", ""),
             np.where(night, "夜间突击查看", ""),
             np.where(vil, "台账无坐标：核实表箱位置并补录坐标", ""),
             np.where(est, "安排实抄核对", ""),
             np.where(hi, "发现非法采矿用电的，会同打非办依法中止供电", "")]
    return _join(parts)


def ledger_frame(result: PowerResult, *, min_score: float | None = None,
                 responsible: dict | None = None) -> pd.DataFrame:
    """The 供电台账 for the power company: user ids, no personal names.

    Only the columns of :data:`LEDGER_COLUMNS` are built (from scores, never
    from the meter table's other columns), so the account holders' names,
    phones and ID numbers cannot reach it.

    Parameters
    ----------
    result : PowerResult
    min_score : float, optional
        Default: ``power.min_score``.
    responsible : dict, optional
        Village → responsible cadre (责任人); default: from the project's roster
        when one is given to :func:`write_ledger`, else blank.

    Returns
    -------
    pandas.DataFrame
    """
    ms = result.config.min_score if min_score is None else min_score
    u = result.users[result.users["score"] >= ms].reset_index(drop=True)
    resp = (_village_key(u["village"]).map(
        {_village_key([k])[0]: v for k, v in (responsible or {}).items()})
        if responsible else pd.Series([None] * len(u)))
    return pd.DataFrame({
        "序号": np.arange(1, len(u) + 1),
        "户号": u["user_id"].astype(str).to_numpy(),
        "类别": u["category"].to_numpy(),
        "乡镇": u["township"].fillna("").to_numpy(),
        "村": u["village"].fillna("").to_numpy(),
        "风险分": u["score"].to_numpy(),
        "异常起始": u["onset"].fillna("").to_numpy(),
        "定位": u["placed_by"].to_numpy(),
        "异常说明": u["reasons"].to_numpy(),
        "建议": _advice(u),
        "责任人": resp.fillna("").to_numpy(),
        "核查结果": "",
    })[LEDGER_COLUMNS]


def roster_map(project: Project) -> dict:
    """Village → responsible cadre(s) from the project's roster (empty if none).

    Parameters
    ----------
    project : Project

    Returns
    -------
    dict
    """
    from riskmap.load.tables import read_table

    r = project.roster
    if not r:
        return {}
    kw = {"village": (r.get("village_field"),) if r.get("village_field") else _KEYWORDS[
        "village"], "name": (r.get("name_field"),) if r.get("name_field") else (
            "责任人", "姓名", "联系人", "包村干部", "网格员", "name")}
    try:
        df, _ = read_table(r["source"].path, keywords=kw, required=("village", "name"))
    except (LayerError, OSError):
        return {}
    df = df.dropna(subset=["village", "name"])
    return df.groupby(df["village"].astype(str))["name"].agg(
        lambda s: "、".join(dict.fromkeys(s.astype(str)))).to_dict()


def write_ledger(result: PowerResult, path, *, project: Project | None = None,
                 min_score: float | None = None) -> int:
    """Write the 供电台账 workbook (户号 as text, so leading zeros stay).

    Parameters
    ----------
    result : PowerResult
    path : str or Path
        ``.xlsx`` to write.
    project : Project, optional
        For the title and the roster's 责任人.
    min_score : float, optional
        Default: ``power.min_score``.

    Returns
    -------
    int
        Rows written.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    df = ledger_frame(result, min_score=min_score,
                      responsible=roster_map(project) if project else None)
    wb = Workbook()
    ws = wb.active
    ws.title = "供电台账"
    name = project.name if project else ""
    ws.append([f"用电异常用户核查台账 {name}（内部资料 注意保密）"])
    ws.append([f"生成日期 {dt.date.today().isoformat()}；风险分 ≥ "
               f"{result.config.min_score if min_score is None else min_score:g}；"
               "只列户号，不含户名、电话、证件号"])
    ws.append(LEDGER_COLUMNS)
    for row in df.itertuples(index=False):
        ws.append([v.item() if hasattr(v, "item") else v for v in row])
        for cell in ws[ws.max_row]:  # text is text: =, +, -, @ never become formulas
            if isinstance(cell.value, str) and cell.value[:1] in "=+-@":
                cell.data_type = "s"
    for cell in ws["B"][3:]:
        cell.number_format = "@"
    ws["A1"].font = Font(bold=True, size=13)
    for c, w in zip("ABCDEFGHIJKL", (6, 16, 8, 10, 12, 8, 10, 8, 70, 50, 12, 16), strict=True):
        ws.column_dimensions[c].width = w
    for row in ws.iter_rows(min_row=4, min_col=9, max_col=10):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return len(df)


def write_anomalies(result: PowerResult, path, *, min_score: float | None = None) -> int:
    """Write the anomaly layers to a GeoPackage.

    Layers ``anomalies`` (one point per flagged user) and ``anomaly_points``
    (the factor layer, village-placed users spread; use ``weight``).

    Parameters
    ----------
    result : PowerResult
    path : str or Path
        ``.gpkg`` (replaced if it exists).
    min_score : float, optional
        Default: ``power.min_score``.

    Returns
    -------
    int
        Users written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    users = anomaly_users(result, min_score)
    if users.empty:
        return 0
    users.to_file(path, layer="anomalies", driver="GPKG", engine="pyogrio")
    spread_points(result, users).to_file(path, layer="anomaly_points", driver="GPKG",
                                         engine="pyogrio")
    return len(users)


def _rows_text(rows, most: int = 5) -> str:
    v = [str(int(r)) for r in rows]
    return ", ".join(v[:most]) + (f" … (+{len(v) - most})" if len(v) > most else "")
