"""Reading office tables: titles, footers, merged cells, encodings, delimiters, headers."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pytest
from pyproj import Transformer

from riskmap.errors import LayerError
from riskmap.load.tables import match_columns, normalize_header, read_table

ROOT = Path(__file__).resolve().parents[1]
KW = {
    "name": ("矿山名称", "名称", "name"),
    "point": ("点号", "序号"),
    "x": ("X坐标", "X"),
    "y": ("Y坐标", "Y"),
}


def _csv(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def test_normalize_and_match():
    assert normalize_header("Ｘ坐标（ｍ）") == "x坐标(m)"
    found = match_columns(["序号", "点号", "Ｘ 坐标（m）", "y坐标", "矿山名称"], KW)
    # 点号 is preferred to 序号 for the point role; units in brackets are ignored
    assert found == {"name": 4, "point": 1, "x": 2, "y": 3}
    # an exact match with the bracketed part wins over a match without it
    kw = {"top": ("开采标高上",), "bottom": ("开采标高下",), "any": ("开采标高",)}
    assert match_columns(["开采标高(下)", "开采标高（上）", "开采标高"], kw) == {
        "top": 1, "bottom": 0, "any": 2}


def test_xlsx_title_merged_footer(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["某煤矿采矿许可证拐点坐标表"])
    ws.merge_cells("A1:D1")
    ws.append(["单位：米"])
    ws.append([])
    ws.append(["矿山名称", "点号", "X坐标(m)", "Y坐标(m)"])
    ws.append(["甲矿", 1, 4190000.5, 38450000])
    ws.append([None, 2, "4,190,100", "38450000"])
    ws.append([])  # a blank row inside the data
    ws.append([None, 3, 4190100, 38450100])
    ws.merge_cells("A5:A8")
    ws.append(["注：坐标系统为2000国家大地坐标系"])
    ws.append(["制表人：张三", None, None, None])
    path = tmp_path / "t.xlsx"
    wb.save(path)
    df, info = read_table(path, keywords=KW, numeric=("x", "y"))
    assert list(df.columns) == ["name", "point", "x", "y", "_row"]
    assert df["_row"].tolist() == [5, 6, 8]
    assert df["name"].tolist() == ["甲矿"] * 3  # merged range copied to every cell
    assert df["x"].tolist() == [4190000.5, "4,190,100", 4190100]
    assert info.encoding == "xlsx"
    assert info.header_row == 4
    assert info.dropped_title_rows == 2
    assert info.dropped_footer_rows == 2
    assert info.merged_ranges == ["A1:D1", "A5:A8"]
    assert info.titles == ["某煤矿采矿许可证拐点坐标表", "单位：米"]
    assert info.footers[0].startswith("注：坐标系统为2000")
    assert info.columns["x"] == "X坐标(m)"


def test_xlsx_sheet_choice(tmp_path):
    wb = openpyxl.Workbook()
    wb.active.title = "说明"
    wb.active.append(["本表为示例"])
    ws = wb.create_sheet("坐标")
    ws.append(["名称", "X", "Y"])
    ws.append(["a", 1, 2])
    path = tmp_path / "two.xlsx"
    wb.save(path)
    df, info = read_table(path, keywords=KW)
    assert info.sheet == "坐标" and df["_row"].tolist() == [2]
    df, info = read_table(path, sheet="坐标", keywords=KW)
    assert info.sheet == "坐标"
    df, info = read_table(path, sheet=1, keywords=KW)
    assert df["name"].tolist() == ["a"]
    with pytest.raises(LayerError, match="no such sheet"):
        read_table(path, sheet="无", keywords=KW)


def test_gbk_csv_with_title_and_footer(tmp_path):
    text = ("XX煤矿拐点坐标表,,,\n"
            ",,,\n"
            "矿山名称,点号,X坐标,Y坐标\n"
            "甲矿,1,4190000,38450000\n"
            ",2,4190100,38450000\n"
            "合计,,,\n"
            "注：1980西安坐标系,,,\n")
    path = _csv(tmp_path / "gbk.csv", text, "gbk")
    df, info = read_table(path, keywords=KW, numeric=("x", "y"))
    assert info.encoding == "gb18030"
    assert info.delimiter == ","
    assert info.header_row == 3
    assert df["_row"].tolist() == [4, 5]
    assert df["name"].tolist() == ["甲矿", None]
    assert info.dropped_title_rows == 1 and info.dropped_footer_rows == 2
    assert any("1980西安" in f for f in info.footers)


def test_utf8_bom_csv_quoted_fields(tmp_path):
    text = '名称,X,Y\n"a, b",1,2\n"c",3,4\n'
    path = _csv(tmp_path / "bom.csv", text, "utf-8-sig")
    df, info = read_table(path, keywords=KW)
    assert info.encoding == "utf-8-sig"
    assert df["name"].tolist() == ["a, b", "c"]
    assert df["_row"].tolist() == [2, 3]


def test_tab_txt_and_whitespace_txt(tmp_path):
    tab = _csv(tmp_path / "tab.txt",
               "拐点坐标\n点号\tX\tY\n1\t4190000\t450000\n2\t4190100\t450100\n")
    df, info = read_table(tab, keywords=KW, numeric=("x", "y"))
    assert info.delimiter == "\t"
    assert df[["point", "x", "y"]].values.tolist() == [["1", "4190000", "450000"],
                                                     ["2", "4190100", "450100"]]
    assert df["_row"].tolist() == [3, 4]
    ws = _csv(tmp_path / "ws.txt",
              "点号   X          Y\n1   4190000   450000\n\n2  4190100  450100\n")
    df, info = read_table(ws, keywords=KW, numeric=("x", "y"))
    assert info.delimiter == "whitespace"
    assert df["_row"].tolist() == [2, 4]
    assert any("blank rows" in n for n in info.notes)


def test_utf16_unicode_text_from_excel(tmp_path):
    # Excel's "Unicode text" export: UTF-16 with BOM, tab-delimited
    path = _csv(tmp_path / "u16.txt", "名称\tX\tY\r\n甲\t1\t2\r\n", "utf-16")
    df, info = read_table(path, keywords=KW)
    assert info.encoding == "utf-16" and df["name"].tolist() == ["甲"]


def test_fullwidth_header_and_delimiter(tmp_path):
    text = ("矿山名称，点号，Ｘ坐标（米），Ｙ坐标（米）\n"
            "甲矿，１，４１９００００，３８４５００００\n")
    path = _csv(tmp_path / "fw.csv", text)
    df, info = read_table(path, keywords=KW, numeric=("x", "y"))
    assert info.delimiter == "，"
    assert set(info.columns) == {"name", "point", "x", "y"}
    assert df["x"].tolist() == ["４１９００００"]  # digits are parsed later (coords.parse_numbers)


def test_two_row_header(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["点号", "X", "Y", "开采标高", "开采标高"])
    ws.append([None, None, None, "上", "下"])
    ws.append([1, 4190000, 450000, 1200, 800])
    ws.merge_cells("D1:E1")
    ws.merge_cells("A1:A2")
    path = tmp_path / "two_row.xlsx"
    wb.save(path)
    kw = {**KW, "top": ("开采标高上",), "bottom": ("开采标高下",)}
    df, info = read_table(path, keywords=kw, numeric=("x", "y"))
    assert info.header_row == 2
    assert df[["top", "bottom"]].values.tolist() == [[1200, 800]]
    assert df["_row"].tolist() == [3]


def test_angle_text_is_data_not_footer(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["名称", "经度", "纬度"])
    ws.append(["a", 113.5, 37.9])
    ws.append(["b", "113°31'20.5\"", "37°52′10″"])
    ws.append(["c", "东经113度31分", "北纬37度52分"])
    ws.append(["注：坐标系统为2000国家大地坐标系"])
    ws.merge_cells("A5:C5")  # the note copied into the coordinate cells
    path = tmp_path / "dms.xlsx"
    wb.save(path)
    kw = {"name": ("名称",), "lon": ("经度",), "lat": ("纬度",)}
    df, info = read_table(path, keywords=kw, numeric=("lon", "lat"))
    assert df["name"].tolist() == ["a", "b", "c"]
    assert info.dropped_footer_rows == 1


def test_no_header_and_missing_required(tmp_path):
    path = _csv(tmp_path / "none.csv", "a,b,c\n1,2,3\n")
    with pytest.raises(LayerError, match="no header row"):
        read_table(path, keywords=KW)
    path = _csv(tmp_path / "nox.csv", "标题\n矿山名称,点号,Y坐标\n甲,1,2\n")
    with pytest.raises(LayerError, match=r"nox\.csv.*header row 2 lacks columns\) x") as e:
        read_table(path, keywords=KW, required=("x", "y"))
    assert "X坐标" in str(e.value)


def test_unreadable_inputs(tmp_path):
    with pytest.raises(LayerError, match="file not found"):
        read_table(tmp_path / "missing.csv", keywords=KW)
    old = tmp_path / "old.xls"
    old.write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(LayerError, match=r"save as \.xlsx"):
        read_table(old, keywords=KW)
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(b"not a zip")
    with pytest.raises(LayerError, match="cannot read workbook"):
        read_table(bad, keywords=KW)


def test_other_columns_kept(tmp_path):
    path = _csv(tmp_path / "extra.csv", "名称,X,Y,,备注\na,1,2,,旧坑\n")
    df, _ = read_table(path, keywords=KW)
    assert list(df.columns) == ["name", "x", "y", "备注", "_row"]


def test_sample_amap_premises_gcj02():
    """The sample AMap export reads with lon/lat roles and converts back onto the premises."""
    from riskmap.crs.china import gcj02_to_wgs84
    from riskmap.load.values import parse_numbers

    kw = {"name": ("名称",), "type": ("类型",), "lon": ("经度",), "lat": ("纬度",)}
    df, info = read_table(ROOT / "layers" / "premises_amap_gcj02.csv", keywords=kw,
                          numeric=("lon", "lat"), required=("lon", "lat"))
    assert info.encoding == "utf-8-sig" and len(df) == 150
    assert set(df["type"]) <= {"储煤场", "洗煤厂", "型煤厂", "废弃厂房"}
    lon, _ = parse_numbers(df["lon"])
    lat, _ = parse_numbers(df["lat"])
    wlon, wlat = gcj02_to_wgs84(lon, lat)
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:4547", always_xy=True).transform(wlon, wlat)
    prem = gpd.read_file(ROOT / "layers" / "sample.gpkg", layer="premises").set_index("name")
    ref = prem.geometry.loc[df["name"]]
    d = np.hypot(ref.x.to_numpy() - x, ref.y.to_numpy() - y)
    assert d.max() < 0.5  # 6 decimals ≈ 0.1 m
    # and GCJ-02 really is shifted (hundreds of metres here)
    x0, y0 = Transformer.from_crs("EPSG:4326", "EPSG:4547", always_xy=True).transform(lon, lat)
    assert np.hypot(ref.x.to_numpy() - x0, ref.y.to_numpy() - y0).min() > 100
