"""Workbook values kept in the user cache: the same table without openpyxl, never a stale one.

Only tables read with ``cache=True`` (the licence corners) are kept: the others may name
persons, and the cache is a copy outside the project.
"""

from __future__ import annotations

import datetime as dt

import openpyxl
import pandas as pd
import pytest

from riskmap.errors import LayerError
from riskmap.load import cells, xlsxcache
from riskmap.load.tables import read_table

KW = {"name": ("矿山名称", "名称"), "point": ("点号",), "x": ("X坐标", "X"), "y": ("Y坐标", "Y"),
      "date": ("日期",)}


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RISKMAP_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "tables"


def _workbook(path, first="甲矿"):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "坐标"
    ws.append(["拐点坐标表"])
    ws.merge_cells("A1:E1")
    ws.append(["矿山名称", "点号", "X坐标", "Y坐标", "日期"])
    ws.append([first, 1, 4190000.5, 38450000, dt.datetime(2024, 5, 6, 7, 8, 9, 120000)])
    ws.append([None, 2, "4,190,100", True, dt.time(13, 30)])
    ws.append([None, 3, 4190100, 38450100, None])
    ws.merge_cells("A3:A5")
    wb.create_sheet("说明").append(["备注", dt.timedelta(hours=36)])
    wb.save(path)
    return path


def _no_openpyxl(*a, **kw):
    raise AssertionError("the workbook was read again")


def test_the_second_read_comes_from_the_cache_and_is_the_same(tmp_path, cache, monkeypatch):
    path = _workbook(tmp_path / "t.xlsx")
    first, info1 = read_table(path, keywords=KW, cache=True)
    assert len(list(cache.glob("*.json"))) == 1
    monkeypatch.setattr(cells, "_workbook_values", _no_openpyxl)
    again, info2 = read_table(path, keywords=KW, cache=True)
    pd.testing.assert_frame_equal(first, again)
    assert first["name"].tolist() == ["甲矿"] * 3  # the merged range, copied as before
    assert again["date"].tolist()[:2] == [dt.datetime(2024, 5, 6, 7, 8, 9, 120000),
                                          dt.time(13, 30)]
    assert info1.merged_ranges == info2.merged_ranges == ["A1:E1", "A3:A5"]
    assert (info1.sheet, info1.header_row) == (info2.sheet, info2.header_row)
    ((name, grid, *_),) = cells.read_xlsx_cells(path, "说明", cells.TableInfo(), cache=True)
    assert name == "说明" and grid.iloc[0].tolist() == ["备注", dt.timedelta(hours=36)]
    with pytest.raises(LayerError, match="no such sheet"):  # the sheet names come along
        read_table(path, sheet="无", keywords=KW, cache=True)


def test_a_changed_file_is_read_again(tmp_path, cache, monkeypatch):
    path = _workbook(tmp_path / "t.xlsx")
    read_table(path, keywords=KW, cache=True)
    _workbook(path, first="乙矿")
    df, _ = read_table(path, keywords=KW, cache=True)
    assert df["name"].tolist() == ["乙矿"] * 3
    assert len(list(cache.glob("*.json"))) == 2


def test_a_torn_or_edited_cache_file_is_not_used(tmp_path, cache, monkeypatch):
    path = _workbook(tmp_path / "t.xlsx")
    read_table(path, keywords=KW, cache=True)
    (kept,) = cache.glob("*.json")
    kept.write_text(kept.read_text(encoding="utf-8").replace("甲矿", "丙矿"), encoding="utf-8")
    df, _ = read_table(path, keywords=KW, cache=True)
    assert df["name"].tolist() == ["甲矿"] * 3  # the digest failed: openpyxl again
    kept.write_text(kept.read_text(encoding="utf-8")[:50], encoding="utf-8")  # torn
    df, _ = read_table(path, keywords=KW, cache=True)
    assert df["name"].tolist() == ["甲矿"] * 3


def test_an_unwritable_cache_and_a_broken_workbook(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("RISKMAP_CACHE", str(blocker))  # the cache cannot be made: no matter
    path = _workbook(tmp_path / "t.xlsx")
    df, _ = read_table(path, keywords=KW, cache=True)
    assert df["name"].tolist() == ["甲矿"] * 3
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(path.read_bytes()[:300])
    with pytest.raises(LayerError, match="cannot read workbook"):
        read_table(bad, keywords=KW, cache=True)


def test_odd_values_are_not_kept(tmp_path, cache):
    xlsxcache.store("k", {"names": ["a"], "sheets": {"a": [[[object()]], []]}})
    xlsxcache.store("n", {"names": ["a"], "sheets": {"a": [[[float("nan")]], []]}})
    assert not cache.exists() or not list(cache.glob("*.json"))
    assert xlsxcache.load("k") is None and xlsxcache.load("n") is None


def test_tables_that_may_name_persons_are_never_kept(tmp_path, cache):
    """A case ledger or a returned sheet is read by openpyxl each time; nothing is copied."""
    path = _workbook(tmp_path / "t.xlsx")
    read_table(path, keywords=KW)
    assert not cache.exists() or not list(cache.glob("*.json"))


def test_the_corner_table_of_a_build_is_kept(tmp_path, cache):
    from riskmap.load.rights import read_corner_table

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["采矿许可证号", "矿山名称", "点号", "X坐标", "Y坐标"])
    for i, (x, y) in enumerate([(4190000, 38450000), (4190000, 38451000),
                                (4191000, 38451000), (4191000, 38450000)], 1):
        ws.append(["C1400002004051120084671", "甲矿", i, x, y])
    path = tmp_path / "corners.xlsx"
    wb.save(path)
    first = read_corner_table(path)
    assert len(list(cache.glob("*.json"))) == 1
    again = read_corner_table(path)
    assert [str(g) for g in first[0].geometry] == [str(g) for g in again[0].geometry]
