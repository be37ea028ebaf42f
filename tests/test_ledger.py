"""Ledgers read back as Excel and a CSV reader see them."""

from __future__ import annotations

import csv

import openpyxl
import pytest
from test_plan import EVIL_NAME, Tiny

from riskmap.errors import ExportError
from riskmap.export.ledger import (
    LEDGER_HEADER,
    SUMMARY_SHEET,
    csv_safe,
    display_width,
    ledger_rows,
    sheet_name,
    write_ledger_csv,
    write_ledger_xlsx,
)
from riskmap.field.history import RESULTS


@pytest.fixture(scope="module")
def east(tmp_path_factory):
    tiny = Tiny(tmp_path_factory.mktemp("tiny"))
    tp = tiny.plan(townships=["东镇"])[0]
    folder = tmp_path_factory.mktemp("ledger")
    write_ledger_xlsx(tp, folder / "ledger.xlsx", paper="A3")
    write_ledger_csv(tp, folder / "ledger.csv")
    return tp, folder


def test_xlsx_structure(east):
    tp, folder = east
    wb = openpyxl.load_workbook(folder / "ledger.xlsx")
    assert wb.sheetnames == [SUMMARY_SHEET, "东一村", "东二村"]
    props = {p.name: p.value for p in wb.custom_doc_props.props}
    assert props["riskmap_week"] == "2026-W49" and props["riskmap_township"] == "东镇"
    for v in tp.villages:
        ws = wb[v.village]
        title = ws["A1"].value
        assert "东镇" in title and "2026-W49" in title and "2026-11-27" in title
        assert "内部资料 注意保密" in title
        assert tuple(c.value for c in ws[2]) == LEDGER_HEADER
        assert ws.freeze_panes == "A3"
        assert ws.print_title_rows == "$1:$2"
        assert ws.page_setup.orientation == "landscape" and ws.page_setup.paperSize == 8
        assert "内部资料 注意保密" in ws.oddHeader.left.text
        assert "内部资料 注意保密" in ws.oddFooter.left.text
        # one row per cell, in visiting order, and nothing of another village
        data = [r for r in ws.iter_rows(min_row=3, values_only=True) if r[1]]
        assert [r[1] for r in data] == [c.cell_id for c in v.cells]
        assert [r[0] for r in data] == list(range(1, len(v.cells) + 1))
        assert {r[3] for r in data} == {v.village}
        # ids and phones are text, coordinates numbers
        for row in ws.iter_rows(min_row=3, max_row=2 + len(v.cells)):
            assert row[1].data_type == "s" and row[1].number_format == "@"
            assert row[11].data_type == "s"
            assert isinstance(row[4].value, float) and 113 < row[4].value < 114
        # the result dropdown covers the list and the spare rows
        dv = [d for d in ws.data_validations.dataValidation if d.type == "list"]
        assert len(dv) == 1
        assert dv[0].formula1 == '"' + ",".join(RESULTS) + '"'
        assert str(dv[0].sqref).startswith("O3:O")
        widths = {k: d.width for k, d in ws.column_dimensions.items()}
        assert widths["I"] > widths["A"] and widths["B"] >= 13  # 主要风险因素 wide, ids fit


def test_phones_and_formula_injection_stay_text(east):
    _, folder = east
    wb = openpyxl.load_workbook(folder / "ledger.xlsx")
    ws1 = wb["东一村"]
    assert ws1["L3"].value == "13912345678" and ws1["L3"].data_type == "s"
    ws2 = wb["东二村"]
    assert ws2["K3"].value == EVIL_NAME and ws2["K3"].data_type == "s"  # not "f"
    assert ws2["L3"].value == "+8613800000000" and ws2["L3"].data_type == "s"
    summ = wb[SUMMARY_SHEET]
    cells = [c for row in summ.iter_rows() for c in row if c.value == EVIL_NAME]
    assert cells and all(c.data_type == "s" for c in cells)
    text = "\n".join(str(c.value) for row in summ.iter_rows() for c in row if c.value)
    assert "随机抽查" in text and "×0.5" in text and "内部资料 注意保密" in text


def test_csv_twin(east):
    tp, folder = east
    raw = (folder / "ledger.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    rows = list(csv.reader(raw.decode("utf-8-sig").splitlines()))
    assert tuple(rows[0]) == LEDGER_HEADER
    assert len(rows) - 1 == len(tp.cells) == len(ledger_rows(tp))
    east2 = [r for r in rows[1:] if r[3] == "东二村"]
    assert east2[0][10] == "'" + EVIL_NAME and east2[0][11] == "'+8613800000000"
    assert rows[1][1] == tp.cells[0].cell_id and float(rows[1][4]) > 113


def test_text_helpers():
    assert csv_safe("=1+1") == "'=1+1" and csv_safe("@SUM(A1)") == "'@SUM(A1)"
    assert csv_safe("-2") == "'-2" and csv_safe("+86") == "'+86" and csv_safe("\tx") == "'\tx"
    assert csv_safe("张三") == "张三" and csv_safe(None) == ""
    assert display_width("网格编号") == 8 and display_width("ab") == 2
    taken = set()
    assert sheet_name("东[一]村", taken) == "东_一_村"
    assert sheet_name("东[一]村", taken) == "东_一_村(2)"
    assert len(sheet_name("村" * 40, taken)) == 31


def test_refuses_to_overwrite(east, tmp_path):
    tp, folder = east
    before = (folder / "ledger.xlsx").read_bytes()
    with pytest.raises(ExportError):
        write_ledger_xlsx(tp, folder / "ledger.xlsx")
    assert (folder / "ledger.xlsx").read_bytes() == before
    write_ledger_xlsx(tp, folder / "ledger.xlsx", overwrite=True)
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]


def test_roster_reading(tmp_path):
    tiny = Tiny(tmp_path)
    r = tiny.roster
    assert r.lookup("东镇", "东一村", None) == ("张建国", "13912345678")
    assert r.lookup("西镇", "西村", "450-4190-00") == ("@李明", "0353-1234567")
    assert r.lookup("西镇", "北村", None) == ("", "")
