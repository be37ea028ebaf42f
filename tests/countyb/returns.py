"""Weekly sweep sheets as townships send them back (issue 15): titles, one-cell locations, PII."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import shapely
from openpyxl import Workbook

from . import geo
from .files import save_xlsx, title_sheet
from .people import id_number, person_name, phone

HEADER = ["序号", "村名", "排查点位置", "排查时间", "排查人员", "排查结果", "备注"]
#: (week's Monday, township, rows)
SHEETS = [(dt.date(2025, 12, 1), "下栅乡", 58), (dt.date(2025, 12, 1), "兑镇镇", 62),
          (dt.date(2025, 12, 8), "下栅乡", 59)]
LOCATION_FORMS = ("decimal", "fullwidth_comma", "lat_first", "dms", "fullwidth", "labelled", "en",
                  "colon", "space")
FULLWIDTH = str.maketrans("0123456789.,", "０１２３４５６７８９．，")


def dms(v: float) -> str:
    d = int(v)
    m = int((v - d) * 60)
    s = (v - d - m / 60) * 3600
    return f"{d}°{m:02d}'{s:04.1f}\""


def location_text(lon: float, lat: float, how: str) -> str:
    """One cell holding both coordinates, in one of the forms field teams type."""
    return {
        "decimal": f"{lon:.4f},{lat:.4f}", "fullwidth_comma": f"{lon:.4f}，{lat:.4f}",
        "lat_first": f"{lat:.4f},{lon:.4f}", "dms": f"{dms(lon)}E {dms(lat)}N",
        "fullwidth": f"{lon:.4f},{lat:.4f}".translate(FULLWIDTH),
        "labelled": f"东经{lon:.4f} 北纬{lat:.4f}", "en": f"E{lon:.4f} N{lat:.4f}",
        "colon": f"经度:{lon:.5f} 纬度:{lat:.5f}", "space": f"{lon:.5f} {lat:.5f}",
    }[how]


def remark(rng) -> str:
    """备注 as teams fill it: mostly blank, sometimes a person's name and phone (PII)."""
    u = rng.random()
    if u < 0.78:
        return ""
    if u < 0.88:
        return f"村民{person_name(rng)}（{phone(rng)}）反映夜间有车辆进出"
    if u < 0.95:
        return f"房主{person_name(rng)}，电话{phone(rng)}，已告知"
    return f"承包人{person_name(rng)}，身份证{id_number(rng)}"


def sheet_points(w: dict, town: str, n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Checked places of a township (premises, pits, open ground) and their written village."""
    vil = w["villages"][w["villages"]["township"] == town].reset_index(drop=True)
    area = shapely.union_all(list(vil.geometry))
    prem = w["premises"][w["premises"]["township"] == town]
    pits = w["closed_mines"][w["closed_mines"]["township"] == town]
    pxy = np.column_stack([prem.geometry.x, prem.geometry.y])
    cxy = np.column_stack([pits.geometry.x, pits.geometry.y]) if len(pits) else pxy
    k1, k2 = int(0.5 * n), int(0.3 * n)
    xy = np.vstack([pxy[rng.integers(0, len(pxy), k1)], cxy[rng.integers(0, len(cxy), k2)],
                    geo.sample_in(area, n - k1 - k2, rng)])
    xy = xy[rng.permutation(n)] + rng.normal(0, 30, (n, 2))
    hit = [np.flatnonzero(vil.geometry.contains(shapely.Point(p)).to_numpy()) for p in xy]
    idx = np.array([h[0] if len(h) else int(np.argmin(vil.geometry.distance(shapely.Point(p))))
                    for h, p in zip(hit, xy, strict=True)])
    written = vil["name"].to_numpy()[idx].astype(object)
    for i in rng.choice(n, 2, replace=False):  # a team lists a place under its own village
        others = vil["name"].to_numpy()[vil["name"].to_numpy() != written[i]]
        written[i] = rng.choice(others)
    return xy, written


def results(lam_at: np.ndarray, rng) -> np.ndarray:
    """未发现 / 发现疑似 / 发现非法采矿, finds drawn where the hidden intensity is high."""
    out = np.array(["未发现"] * len(lam_at), dtype=object)
    p = lam_at / lam_at.sum()
    picks = rng.choice(len(lam_at), 6, replace=False, p=p)
    out[picks[:2]] = "发现非法采矿"
    out[picks[2:]] = "发现疑似"
    return out


def write_returns(w: dict, lam_fn, folder: Path, rng) -> dict:
    """Write the three returned sheets; describe what each holds."""
    folder.mkdir(parents=True, exist_ok=True)
    info = {}
    for monday, town, n in SHEETS:
        sunday = monday + dt.timedelta(days=6)
        name = f"{monday:%Y%m%d}_{town}排查表.xlsx"
        xy, village = sheet_points(w, town, n, rng)
        ll = geo.lonlat(xy)
        found = results(lam_fn(xy), rng)
        forms = rng.choice(LOCATION_FORMS, n)
        failed = rng.choice(n, 3, replace=False)
        wb = Workbook()
        ws = wb.active
        title = (f"孝义市{town}非法采矿排查情况表（{monday:%Y年%m月%d日}—{sunday:%m月%d日}）"
                 "（合成数据）")
        title_sheet(ws, title, HEADER, [6, 12, 30, 12, 16, 14, 36])
        ws.insert_rows(2)
        ws["A2"] = f"填报单位：{town}人民政府（盖章）"
        ws.merge_cells("A2:D2")
        team = [f"{person_name(rng)}、{person_name(rng)}" for _ in range(4)]
        written = []
        for i in range(n):
            day = monday + dt.timedelta(days=int(rng.integers(0, 7)))
            u = rng.random()
            when = (dt.datetime(day.year, day.month, day.day) if u < 0.1
                    else f"{day.year}年{day.month}月{day.day}日" if u < 0.2
                    else f"{day.month}月{day.day}日")
            loc = location_text(ll[i, 0], ll[i, 1], str(forms[i]))
            res = found[i]
            if i in failed:
                loc, res = ("定位失败" if i != failed[0] else ""), "未发现"
            written.append(res)
            ws.append([i + 1, village[i], loc, when, team[i % 4], res, remark(rng)])
            if isinstance(when, dt.datetime):
                ws.cell(ws.max_row, 4).number_format = "m月d日"
        ws.append([])
        sign = monday + dt.timedelta(days=7)
        ws.append([f"填报人：{person_name(rng)}", None, f"审核人：{person_name(rng)}", None,
                   f"日期：{sign.month}月{sign.day}日"])
        save_xlsx(wb, folder / name)
        info[name] = {"rows": n, "failed": sorted(int(f) + 1 for f in failed),
                      "finds": written.count("发现非法采矿"), "suspect": written.count("发现疑似"),
                      "forms": sorted(set(forms.tolist()))}
    return info
