"""County B's office tables: licence corners, case ledger, roster, tip line."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from openpyxl import Workbook

from . import geo
from .files import save_xlsx, title_sheet, write_csv
from .people import id_number, person_name, phone

FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
LEDGER_HEADER = ["序号", "案件编号", "发现日期", "乡镇", "村", "地点", "案件类型", "矿种", "来源",
                 "当事人", "身份证号", "联系电话", "X坐标", "Y坐标", "处理结果", "备注"]
DATE_FORMATS = ("cell", "iso", "slash", "dot", "cn", "serial", "fullwidth")
DATE_SHARES = np.array([0.40, 0.15, 0.12, 0.10, 0.12, 0.06, 0.05])


def cn_date(d: dt.date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def written_date(d: dt.date, how: str):
    """A date as an office writes it: a date cell, text in one of several forms, or a serial."""
    return {"cell": dt.datetime(d.year, d.month, d.day), "iso": d.isoformat(),
            "slash": f"{d.year}/{d.month}/{d.day}", "dot": f"{d.year}.{d.month}.{d.day}",
            "cn": cn_date(d), "serial": (d - dt.date(1899, 12, 30)).days,
            "fullwidth": cn_date(d).translate(FULLWIDTH)}[how]


def write_corner_table(lic, path: Path, rng) -> int:
    """Licences as a registry's 拐点坐标 table: X northing, Y zone-37 easting, text validity."""
    wb = Workbook()
    ws = wb.active
    ws.title = "拐点坐标"
    header = ["序号", "采矿许可证号", "矿山名称", "开采矿种", "拐点编号", "X坐标", "Y坐标",
              "开采标高", "有效期限", "矿区面积(km²)"]
    title_sheet(ws, "孝义市采矿权拐点坐标一览表（合成数据，虚构）", header,
                [6, 26, 30, 10, 9, 14, 15, 18, 30, 12])
    row = 3
    for k, r in enumerate(lic.itertuples(), start=1):
        xy = np.asarray(r.geometry.exterior.coords)[:-1]
        if shapely.Polygon(xy).exterior.is_ccw:  # clockwise, as registries list them
            xy = xy[::-1]
        xy = np.roll(xy, -int(rng.integers(0, len(xy))), axis=0)
        first = row
        for j, (x, y) in enumerate(xy, start=1):
            ws.append([k, r.licence_no, r.name, r.mineral, j, round(float(y), 2),
                       round(geo.ZONE * 1e6 + float(x), 2),
                       f"{r.depth_top}米至{r.depth_bottom}米", f"{cn_date(r.valid_from)}至"
                       f"{cn_date(r.valid_to)}", round(r.geometry.area / 1e6, 4)])
            row += 1
        for col in "ABCDHIJ":
            ws.merge_cells(f"{col}{first}:{col}{row - 1}")
        for c in ("F", "G"):
            for i in range(first, row):
                ws[f"{c}{i}"].number_format = "0.00"
    ws.cell(row, 1, "注：坐标系统为2000国家大地坐标系，高斯-克吕格投影3度带第37带（中央经线111°），"
                    "X为纵坐标（北），Y为横坐标（东，含带号）。")
    ws.merge_cells(f"A{row}:J{row}")
    save_xlsx(wb, path)
    return row - 3


def ledger_rows(cases, rng) -> tuple[list[dict], dict]:
    """The case ledger's rows with the planted flaws; also which rows carry which flaw."""
    years = pd.DatetimeIndex(cases["date"]).year.to_numpy()
    seq = {y: 0 for y in set(years.tolist())}
    rows = []
    xy = np.column_stack([cases.geometry.x, cases.geometry.y])
    # two distinct cases at one place: a near-repeat follower put on its parent's spot
    same_place = int(np.flatnonzero(cases["parent"].to_numpy() >= 0)[0])
    its_parent = int(cases["parent"].iloc[same_place])
    xy[same_place] = xy[its_parent]
    for i, c in enumerate(cases.itertuples()):
        y = int(years[i])
        seq[y] += 1
        d = pd.Timestamp(c.date).date()
        rows.append({
            "案件编号": f"孝打非〔{y}〕{seq[y]:03d}号", "date": d, "乡镇": c.township,
            "村": c.village, "地点": f"{c.village}附近" if c.village else "西山一带",
            "案件类型": c.kind, "矿种": c.mineral, "来源": c.source,
            "当事人": person_name(rng), "身份证号": id_number(rng), "联系电话": phone(rng),
            "X": round(float(xy[i, 1]), 2), "Y": round(float(xy[i, 0]), 2),
            "处理结果": rng.choice(["立案查处", "移送公安机关", "责令停止违法行为", "行政处罚"]),
            "备注": "",
        })
    n = len(rows)
    place = {same_place, its_parent}
    pick = rng.choice([i for i in range(5, n - 5) if i not in place], 10, replace=False)
    swapped, prefixed = sorted(pick[:4].tolist()), sorted(pick[4:9].tolist())
    dup_of = int(pick[9])
    for i in swapped:
        rows[i]["X"], rows[i]["Y"] = rows[i]["Y"], rows[i]["X"]
    for i in prefixed:
        rows[i]["Y"] = round(geo.ZONE * 1e6 + rows[i]["Y"], 2)
    rows.insert(dup_of + 1, dict(rows[dup_of]))  # the same case entered twice
    shift = [i + (i > dup_of) for i in range(n)]
    flaws = {"swapped": [shift[i] for i in swapped], "prefixed": [shift[i] for i in prefixed],
             "duplicate": [dup_of, dup_of + 1],
             "same_place": sorted([shift[same_place], shift[its_parent]])}
    return rows, flaws


def write_ledger(cases, path: Path, rng) -> dict:
    """The case ledger (案件台账.xlsx): title rows, surveyors' X/Y, dates in office forms.

    Returns
    -------
    dict
        Flaw name → sheet row numbers (1-based, as Excel shows them).
    """
    rows, flaws = ledger_rows(cases, rng)
    wb = Workbook()
    ws = wb.active
    ws.title = "案件台账"
    title_sheet(ws, "孝义市非法采矿案件台账（2021年—2025年）（合成数据，虚构）", LEDGER_HEADER,
                [6, 20, 14, 10, 10, 14, 14, 8, 9, 9, 21, 14, 13, 13, 16, 8])
    ws.insert_rows(2)
    ws["A2"] = "填报单位：孝义市打击非法采矿领导组办公室（虚构）"
    ws.merge_cells("A2:F2")
    how = rng.choice(DATE_FORMATS, len(rows), p=DATE_SHARES / DATE_SHARES.sum())
    as_text = rng.random(len(rows)) < 0.05
    d0, d1 = flaws["duplicate"]  # entered twice: written the same way twice
    how[d1], as_text[d1] = how[d0], as_text[d0]
    first = 4
    for k, (r, h) in enumerate(zip(rows, how, strict=True)):
        x, y = r["X"], r["Y"]
        if as_text[k]:
            x, y = f"{x:.2f}", f"{y:.2f}"
        ws.append([k + 1, r["案件编号"], written_date(r["date"], h), r["乡镇"], r["村"], r["地点"],
                   r["案件类型"], r["矿种"], r["来源"], r["当事人"], r["身份证号"], r["联系电话"],
                   x, y, r["处理结果"], r["备注"]])
        cell = ws.cell(first + k, 3)
        if h == "cell":
            cell.number_format = "yyyy/m/d" if k % 3 else "yyyy-mm-dd"
        for col in (13, 14):
            if not as_text[k]:
                ws.cell(first + k, col).number_format = "0.00"
    foot = first + len(rows) + 1
    ws.cell(foot, 1, "制表人：（虚构）    审核人：（虚构）    制表日期：2025年12月1日")
    ws.merge_cells(f"A{foot}:H{foot}")
    save_xlsx(wb, path)
    return {k: [first + i for i in v] for k, v in flaws.items()} | {
        "rows": len(rows), "date_forms": sorted(set(how.tolist()))}


def write_roster(villages, path: Path, rng) -> int:
    """Responsible cadres per (township, village): made-up names, 12… phones as text."""
    wb = Workbook()
    ws = wb.active
    ws.title = "责任人名单"
    header = ["序号", "乡镇", "村", "责任人", "职务", "联系电话"]
    title_sheet(ws, "孝义市打击非法采矿网格责任人名单（合成数据，虚构）", header,
                [6, 12, 12, 10, 12, 15])
    for k, r in enumerate(villages.sort_values(["township", "code"]).itertuples(), start=1):
        ws.append([k, r.township, r.name, person_name(rng),
                   str(rng.choice(["包村干部", "村支书", "村委会主任", "网格员"])), phone(rng)])
        ws.cell(ws.max_row, 6).number_format = "@"
    ws.cell(ws.max_row + 1, 1, "注：责任人均为虚构，电话号码以12开头（非真实号段）。")
    save_xlsx(wb, path)
    return len(villages)


def lonlat_text(lon: float, lat: float, how: str) -> str:
    """A coordinate pair written in one cell the way people type it."""
    return {"labelled": f"东经{lon:.4f} 北纬{lat:.4f}", "en": f"E{lon:.4f} N{lat:.4f}",
            "colon": f"经度:{lon:.5f} 纬度:{lat:.5f}"}[how]


def write_tips(tips, path: Path, rng) -> int:
    """The tip line (举报线索.csv, GBK, title line): some pairs labelled in one cell, some none."""
    ll = geo.lonlat(np.column_stack([tips.geometry.x, tips.geometry.y]))
    rows = []
    for k, (r, (lon, lat)) in enumerate(zip(tips.itertuples(), ll, strict=True), start=1):
        d = pd.Timestamp(r.date)
        when = [f"{d:%Y-%m-%d} {int(rng.integers(7, 23)):02d}:{int(rng.integers(0, 60)):02d}",
                f"{d.year}/{d.month}/{d.day}", cn_date(d.date())][int(rng.integers(0, 3))]
        u = rng.random()
        lon_cell, lat_cell = f"{lon:.6f}", f"{lat:.6f}"
        if u < 0.15:
            lon_cell, lat_cell = lonlat_text(lon, lat, str(rng.choice(["labelled", "en"]))), ""
        elif u < 0.28:
            lon_cell = lat_cell = ""
        rows.append({
            "编号": f"JB{d.year}-{k:04d}", "举报时间": when,
            "举报方式": str(rng.choice(["12345热线", "电话", "来信", "微信公众号", "现场"])),
            "被举报人": person_name(rng) if rng.random() < 0.5 else "不详",
            "地址": f"孝义市{r.township}{r.village}" if r.village else "孝义市西山一带",
            "举报内容": str(rng.choice(["夜间有异常响动", "有运煤车辆进出", "院内私挖", "地面塌陷",
                                      "大棚内有矸石", "疑似放炮震动"])),
            "举报人电话": phone(rng), "经度": lon_cell, "纬度": lat_cell,
            "办理情况": str(rng.choice(["已核查", "已转乡镇", "核查中"])),
        })
    write_csv(pd.DataFrame(rows), path, "gbk",
              title="孝义市非法采矿举报线索登记表（合成数据，虚构）")
    return len(rows)
