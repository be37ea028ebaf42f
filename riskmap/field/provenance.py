"""How an inspection came about: by the plan, by a random check, outside the plan, or independently.

Cases are found where someone looked. A find made on a cell the plan sent a team
to says as much about the plan as about the ground, so every inspection keeps its
**provenance** (``inspections.provenance`` in the history database):

========== ===================================================================
planned    a cell of that week's plan (重点, 发现点周边, 探索, 分析员指定)
random     a random check of that week's plan (随机抽查)
unplanned  a patrol outside the plan (计划外)
tip        a tip-off (举报线索)
satellite  a satellite change patch (卫片图斑)
power      the power company (供电公司: unusual consumption)
other      any other independent source
========== ===================================================================

A returned sheet may say it in a 来源 / 线索来源 column (:data:`SOURCE_HEADERS`,
read by :func:`normalize_provenance`); a row that does not is given the one its
week's plan implies (:data:`riskmap.field.schema.PROVENANCE_FROM_PLAN`).
Calibration down-weights the patrol provenances (:data:`PATROL`) so that refits
do not chase riskmap's own patrols.
"""

from __future__ import annotations

import re

from riskmap.load.values import clean_text

__all__ = ["INDEPENDENT", "LABELS", "PATROL", "PROVENANCES", "SOURCE_HEADERS",
           "normalize_provenance"]

PROVENANCES = ("planned", "random", "unplanned", "tip", "satellite", "power", "other")
#: provenances of riskmap's own patrols (their finds follow the plan)
PATROL = frozenset({"planned", "random", "unplanned"})
#: provenances independent of the plan
INDEPENDENT = frozenset({"tip", "satellite", "power", "other"})
LABELS = {"planned": "计划内 (planned)", "random": "随机抽查 (random)",
          "unplanned": "计划外 (unplanned)", "tip": "举报线索 (tip)",
          "satellite": "卫片图斑 (satellite)", "power": "供电公司 (power)",
          "other": "其他 (other)", None: "(未记录)"}
#: headers of a provenance column in a returned sheet
SOURCE_HEADERS = ["来源", "线索来源", "发现来源", "发现方式", "发现途径", "信息来源", "来源类型",
                  "线索类型", "source", "provenance"]

# words people write, most specific first: an independent source wins over 巡查
# ("举报后巡查" is a tip), 计划外 over 计划, 随机 over 计划 ("计划随机抽查" is random)
_WORDS = (
    ("tip", ("举报", "线索", "信访", "来信", "热线", "12345", "12336", "tip")),
    ("satellite", ("卫片", "卫星", "遥感", "图斑", "satellite")),
    ("power", ("供电", "电力", "用电", "电表", "电网", "power")),
    ("unplanned", ("计划外", "非计划", "自行", "日常", "unplanned")),
    ("random", ("随机", "抽查", "random")),
    ("planned", ("计划", "重点", "探索", "指定", "planned")),
    ("unplanned", ("巡查", "自查", "排查", "patrol")),
    ("other", ("其他", "其它", "other")),
)


def normalize_provenance(v) -> str | None:
    """One of :data:`PROVENANCES` for what a 来源 cell says, None when it is blank.

    Parameters
    ----------
    v : object
        The cell (``"群众举报"``, ``"卫片图斑"``, ``"供电公司"``, ``"计划内"``,
        ``"随机抽查"``, ``"计划外巡查"``, ``"tip"``, …).

    Returns
    -------
    str or None

    Raises
    ------
    ValueError
        For text that names none of them (the message lists them).

    Examples
    --------
    >>> normalize_provenance("群众举报"), normalize_provenance("卫片"), normalize_provenance("")
    ('tip', 'satellite', None)
    """
    s = re.sub(r"\s+", "", clean_text(v)).lower()
    if not s:
        return None
    if s in PROVENANCES:
        return s
    for code, words in _WORDS:
        if any(w in s for w in words):
            return code
    raise ValueError(f"来源 {clean_text(v)!r} 无法识别 (unknown provenance); use 计划内 / "
                     "随机抽查 / 计划外 / 举报 / 卫片 / 供电 / 其他")
