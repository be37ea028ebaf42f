"""Places, never persons: personal columns dropped, identifiers scrubbed, before mapping.

A factor layer may come from a list that also names people (the plan's watched
persons, the owners of a farm, the reported person of a tip). riskmap keeps the
place and decides per column, by its header **and** its content:

* a header naming a person or a personal attribute (姓名, 户主, 经营者名称,
  场所联系人, 被举报人, 当事人, 身份证号, 电话, 住址, ...) drops the column, whatever
  else the header says;
* a column whose values are identifiers (resident ID numbers, 15 or 18 digits;
  phone numbers written any way: ``138-0000-0044``, ``+86 138…``, spaces,
  full-width digits) or look like personal names is dropped, even when only a
  few rows hold them;
* free text that is kept (备注, 说明) has identifiers, and names written after a
  person word (村民张三, 房主：李四) or found in the dropped columns, scrubbed;
* an **event table** (tips, cases: anything about what a person did) keeps only
  columns known to be place attributes (type, category, source, date, township,
  village) and those the factor reads.

So such fields never reach HTML, PDF, KML/KMZ, GPX, GeoPackage or shared ledgers.
Ledgers name responsible cadres from the roster, which is not read through here.
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import pandas as pd

__all__ = ["EVENT_HEADERS", "is_event_table", "personal_columns", "scrub_series",
           "scrub_text", "strip_personal", "valid_id_number"]

# words of a header that make a column personal, wherever they stand in it
_PERSON_WORDS = re.compile(
    r"(姓名|名字|户主|户名|业主|法人|负责人|经营者|经营人|联系人|当事人|嫌疑|前科|人员|"
    r"举报人|被举报|违法人|行为人|承包人|承租人|房主|车主|屋主|本人|家属|亲属|"
    r"身份证|证件|公民身份|电话|手机|联系方式|微信|qq|住址|家庭地址|家庭住址|户籍|籍贯|"
    r"出生|年龄|性别|民族|tel|phone|mobile|person|owner|contact|id_?card|idno|"
    r"address|birth)", re.I)
# a home address in a table about people; a premises layer's 地址 is the place's
_ADDRESS = re.compile(r"地址|住所|居住地", re.I)
# place attributes an event table may keep (its header holds one of these and no person word)
_PLACE_ATTRIBUTES = re.compile(
    r"(类型|类别|种类|性质|来源|结果|状态|处理|日期|时间|年份|月份|乡镇|街道|村|社区|"
    r"矿种|面积|type|kind|class|category|source|date|time|township|village)", re.I)
#: headers that make a table an event table (tips, cases): kept columns are place attributes only
EVENT_HEADERS = re.compile(r"(举报|线索|案件|案号|当事人|违法|立案|处罚|查处)")
_FREE_TEXT = re.compile(r"(备注|说明|描述|情况|内容|摘要|附注|note|remark|comment|desc)", re.I)

_DIGITS = str.maketrans({c: chr(c - 0xFEE0) for c in range(0xFF10, 0xFF1A)} | {0x3000: 0x20})
_ID18 = re.compile(r"(?<![\dA-Za-z])(\d{6})((?:19|20)\d{2})(\d{2})(\d{2})(\d{3})([\dXx])"
                   r"(?![\dA-Za-z])")
_ID15 = re.compile(r"(?<!\d)(\d{6})(\d{2})(\d{2})(\d{2})(\d{3})(?!\d)")
_PHONE = re.compile(r"(?<![\d.])(?:\+?\s*86[\s-]*)?1\d{2}[\s-]*\d{4}[\s-]*\d{4}(?![\d.])"
                    r"|(?<![\d.])0\d{2,3}[\s-]*\d{7,8}(?![\d.])")
_LONG_NUMBER = re.compile(r"(?<![\d.])\d[\d\s-]{6,}\d(?![\d.])")  # 8+ digits: some identifier
# a date (and time) is not an identifier: 2025-02-10, 2025-02-10 14:20, 20250210
_DATE_LIKE = re.compile(r"(?:19|20)\d{2}[\s/.-]?(?:0?[1-9]|1[0-2])[\s/.-]?(?:0?[1-9]|[12]\d|3[01])"
                        r"(?:[\sT]+\d{1,2}:\d{2}(?::\d{2})?)?")
_NUMBER_OR_DATE = re.compile(f"(?<![\\d.])(?:{_DATE_LIKE.pattern})(?![\\d.])"
                             f"|{_LONG_NUMBER.pattern}")
_CUE = (r"(村民|居民|群众|房主|户主|屋主|承包人|承租人|当事人|举报人|被举报人|经营者|负责人|"
        r"联系人|业主|老板|嫌疑人|违法人|行为人|车主|姓名|名字)")
_NAME_AFTER_CUE = re.compile(_CUE + r"\s*[:：为是叫]?\s*([\u4e00-\u9fff]{2,3})"
                             r"(?=[\s，,。;；（(、]|$|电话|手机|身份|反映|称|说|家|在|于|承认"
                             r"|已|的)")
_PLACE_END = re.compile("[村镇乡庄场厂矿井口沟峪坪洼岭山河街路区县市院棚库"
                        "点站部店队组社湾堡寨坡梁]$")
_SURNAMES = set(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜"
    "叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎"
    "贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申"
    "欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙"
    "鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米"
    "柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝")
_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
_CHECK = "10X98765432"
HIDDEN_ID, HIDDEN_PHONE = "[证件号已隐去]", "[电话已隐去]"
HIDDEN_NUMBER, HIDDEN_NAME = "[号码已隐去]", "某"


def valid_id_number(s: str) -> bool:
    """True for an 18-digit Chinese resident ID with a correct check digit (GB 11643)."""
    if len(s) != 18 or not s[:17].isdigit():
        return False
    return _CHECK[int(np.dot(_WEIGHTS, [int(c) for c in s[:17]])) % 11] == s[17].upper()


def _plain(v) -> str:
    return unicodedata.normalize("NFKC", str(v)).translate(_DIGITS)


def _ids(text: str) -> bool:
    """Whether ``text`` holds a resident ID (18 digits with a birth date, or 15 old ones)."""
    for m in _ID18.finditer(text):
        if 1 <= int(m[3]) <= 12 and 1 <= int(m[4]) <= 31:
            return True
    return any(1 <= int(m[3]) <= 12 and 1 <= int(m[4]) <= 31 for m in _ID15.finditer(text))


def _looks_like_name(v: str) -> bool:
    v = v.strip()
    return (2 <= len(v) <= 4 and v[0] in _SURNAMES and all("\u4e00" <= c <= "\u9fff" for c in v)
            and not _PLACE_END.search(v))


def scrub_text(text, names=()) -> str:
    """``text`` with resident IDs, phone numbers, long numbers and personal names hidden.

    Parameters
    ----------
    text : str
        Free text (a note typed by a field team, a 备注 cell).
    names : iterable of str
        Names known to be persons' (from the table's dropped name columns):
        every occurrence is hidden.

    Examples
    --------
    >>> scrub_text("村民张三（138-0000-0044）反映夜间有车辆进出")
    '村民某（[电话已隐去]）反映夜间有车辆进出'
    """
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return text
    s = str(text).translate(_DIGITS)  # full-width digits found; the text's punctuation kept
    s = _ID18.sub(HIDDEN_ID, s)
    s = _ID15.sub(lambda m: HIDDEN_ID if 1 <= int(m[3]) <= 12 else m[0], s)
    s = _PHONE.sub(HIDDEN_PHONE, s)
    s = _NUMBER_OR_DATE.sub(lambda m: m[0] if _DATE_LIKE.fullmatch(m[0]) else HIDDEN_NUMBER, s)
    for n in sorted({str(n).strip() for n in names if n and len(str(n).strip()) >= 2},
                    key=len, reverse=True):
        s = s.replace(n, HIDDEN_NAME)
    return _NAME_AFTER_CUE.sub(lambda m: m[1] + HIDDEN_NAME, s)


def scrub_series(col: pd.Series, names=()) -> pd.Series:
    """:func:`scrub_text` on every cell (each distinct text once)."""
    names = tuple(names)
    uniq = {v: scrub_text(v, names) for v in pd.unique(col.dropna().astype(str))}
    return col.map(lambda v: uniq.get(str(v), v) if isinstance(v, str) else v)


def _content_reason(col: pd.Series, names: bool = True) -> str | None:
    """Why a text column is personal by its values (any row counts), else None.

    ``names=False`` for a column whose header says it holds a type or category.
    """
    text = col.dropna().astype(str).map(_plain)
    text = text[text.str.strip() != ""]
    if text.empty:
        return None
    short = text.str.len().median() <= 24  # values, not sentences
    if not short:
        return None
    if text.map(_ids).any():
        return "身份证号 (resident ID numbers)"
    if text.str.contains(_PHONE).any():
        return "电话号码 (phone numbers)"
    # names: mostly name-like and nearly all different (a category repeats a few words)
    distinct = text.nunique()
    if (names and distinct >= 3 and distinct >= 0.8 * len(text)
            and text.map(_looks_like_name).mean() > 0.5):
        return "人名 (personal names)"
    return None


def is_event_table(df: pd.DataFrame) -> bool:
    """A table about what people did (tips, cases): its headers say so."""
    return any(EVENT_HEADERS.search(str(c)) for c in df.columns)


def personal_columns(df: pd.DataFrame, keep=(), event: bool | None = None) -> dict[str, str]:
    """Columns to keep out of every output, with the reason (header, values, event table).

    Parameters
    ----------
    df : pandas.DataFrame
        The layer as read.
    keep : iterable of str
        Columns the factor needs (its type, weight or date field): never dropped.
    event : bool, optional
        Treat the table as an event table (tips, cases): only place attributes are
        kept. Default: decided by :func:`is_event_table`.
    """
    event = is_event_table(df) if event is None else event
    geom = getattr(df, "geometry", None)
    gname = geom.name if geom is not None else None
    keep = set(keep)
    out = {}
    for c in df.columns:
        name = str(c)
        if c == gname or name.startswith("_") or c in keep:
            continue
        if _PERSON_WORDS.search(name) or (event and _ADDRESS.search(name)):
            out[name] = f"列名 {name!r} (header)"
        elif event and not _PLACE_ATTRIBUTES.search(name):
            out[name] = (f"列 {name!r}: 举报/案件表只保留地点属性 "
                         "(event table: place attributes only)")
        elif df[c].dtype == object or pd.api.types.is_string_dtype(df[c]):
            why = _content_reason(df[c], names=not _PLACE_ATTRIBUTES.search(name))
            if why:
                out[name] = f"列 {name!r}: {why}"
    return out


def strip_personal(df, keep=(), event: bool | None = None):
    """``df`` without its personal columns and with identifiers scrubbed from kept text.

    Returns
    -------
    (DataFrame, dict)
        The layer, and what was dropped (header → reason; headers only, never values).
    """
    found = personal_columns(df, keep, event)
    names = set()
    for c in found:  # names in the dropped columns are hidden wherever else they appear
        vals = df[c].dropna().astype(str).map(str.strip)
        names |= {v for v in vals if _looks_like_name(v)}
    out = df.drop(columns=list(found)) if found else df.copy()
    geom = getattr(out, "geometry", None)
    for c in out.columns:
        if (geom is not None and c == geom.name) or str(c).startswith("_") or c in set(keep):
            continue
        if _is_free_text(out[c], str(c)):
            out[c] = scrub_series(out[c], names)
        elif names and (out[c].dtype == object or pd.api.types.is_string_dtype(out[c])):
            out[c] = _hide_names(out[c], names)  # 张伟明养殖场: the place stays, the person goes
    return out, found


def _hide_names(col: pd.Series, names) -> pd.Series:
    order = sorted(names, key=len, reverse=True)

    def hide(v):
        if not isinstance(v, str):
            return v
        for n in order:
            v = v.replace(n, HIDDEN_NAME)
        return v

    uniq = {v: hide(v) for v in pd.unique(col.dropna().astype(str))}
    return col.map(lambda v: uniq.get(v, v) if isinstance(v, str) else v)


def _is_free_text(col: pd.Series, name: str) -> bool:
    """Notes and descriptions (by header, or sentences): scrubbed, not dropped.

    Short values (codes, ids, types) are judged whole by :func:`personal_columns`.
    """
    if not (col.dtype == object or pd.api.types.is_string_dtype(col)):
        return False
    if _FREE_TEXT.search(name):
        return True
    text = col.dropna().astype(str)
    return not text.empty and text.str.len().median() > 24
