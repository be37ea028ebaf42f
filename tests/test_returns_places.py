"""Returned sheets as they come (issue 15): the location in one cell, found by header or content."""

from __future__ import annotations

import datetime as dt

import numpy as np
import openpyxl
import pytest

from riskmap.load.sources.returns import parse_lonlat, read_returned_file, sheet_places, xy_pair

FORMS = ["111.7718，37.0255", "37.0917,111.8048", "东经111.7697 北纬37.0285", "E111.7767 N37.0758",
         "111.80123 37.15750", "经度:111.80027 纬度:37.07664", "１１１．７９９４，３７．０４０９",
         "111°44'31.1\"E 37°03'55.8\"N", "111.7962/37.0844", "N37.0422 E111.8108"]
EXPECTED = [(111.7718, 37.0255), (111.8048, 37.0917), (111.7697, 37.0285), (111.7767, 37.0758),
            (111.80123, 37.1575), (111.80027, 37.07664), (111.7994, 37.0409),
            (111 + 44 / 60 + 31.1 / 3600, 37 + 3 / 60 + 55.8 / 3600), (111.7962, 37.0844),
            (111.8108, 37.0422)]


def returned_sheet(path, header="排查点位置"):
    """A village's weekly sheet as it comes back: title, unit row, one location cell, footer."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["某市某乡非法采矿排查情况表（2025年12月01日—12月07日）"])
    ws.merge_cells("A1:G1")
    ws.append(["填报单位：某乡人民政府（盖章）"])
    ws.append(["序号", "村名", header, "排查时间", "排查人员", "排查结果", "备注"])
    for i, form in enumerate(FORMS, start=1):
        ws.append([i, "甲村", form, "12月3日", "张三、李四", "未发现", None])
    ws.append([11, "乙村", "定位失败", "12月4日", "张三", "未发现", None])
    ws.append([12, "乙村", None, "2025年12月5日", "张三", "发现疑似", "村民王五（12620059368）"])
    ws.append([13, "乙村", "111.78, 4112345.6", "12月5日", "张三", "未发现", None])
    ws.append([])
    ws.append(["填报人：赵六", None, "审核人：钱七", None, "日期：12月8日"])
    wb.save(path)
    return path


@pytest.mark.parametrize("header", ["排查点位置", "坐标", "GPS定位", "现场情况"])
def test_location_in_one_cell_every_form(tmp_path, header):
    path = returned_sheet(tmp_path / "20251201_某乡排查表.xlsx", header)
    rf = read_returned_file(path)
    sheet = rf.sheets[0]
    assert [r["seq"] for r in sheet.rows] == list(range(1, 14))  # the signature footer dropped
    p = sheet.places
    np.testing.assert_allclose(np.c_[p.lon[:10], p.lat[:10]], EXPECTED, atol=1e-9)
    assert np.isnan(p.lon[10:]).all()
    assert set(p.errors) == {10, 12}  # 定位失败, degrees with metres; the blank row is no error
    assert "no location: '定位失败'" in p.errors[10]
    assert "not a longitude/latitude" in p.errors[12]
    assert "纬度在前已对调" in p.how[1] and "纬度在前已对调" in p.how[9] and "labelled" in p.how[2]
    how = "content" if header == "现场情况" else "header"
    assert any(f"column {header}, found by its {how}" in d for d in sheet.detected)
    assert any("full-width digits" in d for d in sheet.detected)
    assert sheet.title_dates == [dt.date(2025, 12, 1), dt.date(2025, 12, 7)]
    assert rf.name_dates == [dt.date(2025, 12, 1)]
    assert sheet.rows[0]["date"] == "12月3日"  # 排查时间 is the date column


def test_sheet_places_two_cells_and_xy():
    rows = [{"lon": "37°48′N", "lat": "113°30′E"},  # two cells, each in the other's column
            {"lon": "东经113.5 北纬37.8", "lat": None},
            {"lon": None, "lat": "37.8，113.5"},
            {"lon": "113.5", "lat": None},
            {"lon": 10.0, "lat": 10.0},
            {"x": "4190350", "y": "451550"},
            {"x": "abc", "y": "451550"},
            {}]
    p = sheet_places(rows)
    np.testing.assert_allclose(p.lon[:3], 113.5)
    np.testing.assert_allclose(p.lat[:3], 37.8)
    assert "对调" in p.how[0] and p.how[1].startswith("一格两值")
    assert "only one coordinate" in p.errors[3] and "not in China" in p.errors[4]
    assert (p.x[5], p.y[5]) == (451550.0, 4190350.0) and p.how[5] == "xy"
    assert "not numbers" in p.errors[6] and 7 not in p.errors and p.how[7] == ""


def test_row_wrappers_keep_their_answers():
    assert parse_lonlat(113.5, 37.8) == (113.5, 37.8, "经纬度")
    assert parse_lonlat("E111.7893 N37.1506", "")[:2] == (111.7893, 37.1506)
    assert parse_lonlat(None, None) is None
    with pytest.raises(ValueError, match="只有一个值"):
        parse_lonlat("113.5", None)
    assert xy_pair("451550", "4190350") == (451550.0, 4190350.0)
    assert xy_pair(None, "") is None
    with pytest.raises(ValueError, match="not numbers"):
        xy_pair("x", "4190350")


@pytest.fixture(scope="module")
def county_b(tmp_path_factory):
    from countyb.cache import county_b as make_county_b

    return make_county_b(tmp_path_factory.mktemp("county_b")).parent


@pytest.mark.parametrize(("name", "n", "missing"), [
    ("20251201_下栅乡排查表.xlsx", 58, (17, 27, 44)),
    ("20251201_兑镇镇排查表.xlsx", 62, (14, 48, 60)),
    ("20251208_下栅乡排查表.xlsx", 59, (1, 54, 57)),
])
def test_county_b_returns_every_row_located_or_named(county_b, name, n, missing):
    rf = read_returned_file(county_b / "returns" / name)
    (sheet,) = [s for s in rf.sheets if s.used]
    assert len(sheet.rows) == n
    p = sheet.places
    located = ~np.isnan(p.lon)
    seq = np.array([r["seq"] for r in sheet.rows])
    assert sorted(seq[~located].tolist()) == list(missing)
    for i in np.flatnonzero(~located):  # 定位失败 named; a blank cell has no location at all
        text = sheet.rows[i]["place"]
        assert (i in p.errors) == (text is not None), (seq[i], text)
    lon, lat = p.lon[located], p.lat[located]
    assert ((lon > 111.2) & (lon < 112.2) & (lat > 36.8) & (lat < 37.5)).all()
    assert rf.name_dates[0] == sheet.title_dates[0]
