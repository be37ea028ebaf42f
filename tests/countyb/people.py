"""Made-up personal data for the columns that must never reach riskmap's outputs.

Names are a common surname and one or two given-name characters drawn at
random. Phone numbers are 11 digits starting with 12 (no Chinese mobile range
starts with 12) and ID numbers use the region code 149999, which no county has,
with a valid check digit: they look real to a scrubber and belong to nobody.
"""

from __future__ import annotations

import numpy as np

SURNAMES = list("王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾"
                "彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康"
                "毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文温冀")
GIVEN = list("建国军华明红英平文俊杰伟强磊洋勇艳娟敏静丽霞秀兰芳玉梅海波涛鹏飞斌宇浩亮刚"
             "春晓东升永福宝林峰志新利民德胜喜彩凤云锁旺来根生保全")
ID_REGION = "149999"
_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
_CHECK = "10X98765432"


def person_name(rng: np.random.Generator) -> str:
    """A made-up full name (surname + one or two characters)."""
    k = 1 if rng.random() < 0.3 else 2
    return str(rng.choice(SURNAMES)) + "".join(rng.choice(GIVEN, k))


def phone(rng: np.random.Generator) -> str:
    """An 11-digit number starting with 12 (not a mobile range)."""
    return "12" + "".join(str(d) for d in rng.integers(0, 10, 9))


def id_number(rng: np.random.Generator) -> str:
    """An 18-character ID number with region 149999 (no such county) and a valid check digit."""
    year = int(rng.integers(1955, 2002))
    body = f"{ID_REGION}{year}{int(rng.integers(1, 13)):02d}{int(rng.integers(1, 29)):02d}"
    body += f"{int(rng.integers(0, 1000)):03d}"
    total = int(np.dot(_WEIGHTS, [int(c) for c in body]))
    return body + _CHECK[total % 11]


def business_name(rng: np.random.Generator, village: str, category: str) -> str:
    """A made-up account name for a non-household meter."""
    stem = village[:-1] if village.endswith("村") else village
    if category == "农业排灌":
        return f"{stem}村机井{int(rng.integers(1, 9))}号"
    if category == "动力":
        kind = rng.choice(["加工厂", "砖厂", "养殖场", "石料厂", "饲料厂", "农机修理厂"])
        return f"孝义市{stem}{kind}"
    return f"{stem}{rng.choice(['小卖部', '超市', '饭店', '农资店', '修理部', '理发店'])}"
