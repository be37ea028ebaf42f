"""Returned ledgers as people fill them, read back into the history database."""

from __future__ import annotations

import datetime as dt
import shutil

import openpyxl
import pytest
from click.testing import CliRunner
from pyproj import Transformer
from test_plan import Tiny
from tinyproject import CRS, X0, Y0

from riskmap.field.history import History, Week
from riskmap.field.ingest import normalize_result, parse_date, read_returned
from riskmap.load.sources.returns import parse_lonlat
from riskmap.pipeline.field import ingest_files

W49 = Week.parse("2026-W49")
TO_WGS = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)


def dms(v: float, hemi: str) -> str:
    d = int(v)
    m = int((v - d) * 60)
    s = (v - d - m / 60) * 3600
    return f"{d}°{m}′{s:.2f}″{hemi}"


def lonlat_of(x, y):
    lon, lat = TO_WGS.transform(x, y)
    return float(lon), float(lat)


# cells of the tiny grid (100 m): "451-4190-97" has its lower-left corner at (451900, 4190700)
DMS_CELL = "451-4190-53"  # centre (451550, 4190350), typed as DMS, latitude first
PAIR_CELL = "450-4191-26"  # centre (450250, 4191650), typed "lat, lon" in one cell


def messy_workbook(path):
    """A returned ledger the way a village fills it in."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "东一村"
    ws.append(["东镇 2026-W49 非法采矿巡查台账（回收）"])
    ws.merge_cells("A1:J1")
    ws.append(["填报单位：东一村村委会"])
    ws.append([])
    ws.append(["序号", "网格编号", "乡镇", "村", "经度", "纬度", "排查日期", "排查人", "排查结果",
               "备注"])
    lon1, lat1 = lonlat_of(X0 + 1550, Y0 + 350)
    lon2, lat2 = lonlat_of(X0 + 250, Y0 + 1650)
    rows = [
        [1, "４５１－４１９０－９７", "东镇", "东一村", None, None, "2026.12.5", "赵建", "未发现",
         None],
        [],
        [2, None, "东镇", "东一村", dms(lat1, "N"), dms(lon1, "E"), "12月4日", "赵建", "发现疑似",
         "夜间有车辆出入"],
        [3, "999-9999-99", "东镇", "东一村", None, None, "2026-12-03", "赵建", "未发现", None],
        [4, "451-4190-98", "东镇", "东一村", None, None, "2026/12/03", "钱明", "不知道", None],
        [5, "451-4190-99", "东镇", "东一村", None, None, "2026.13.40", "钱明", "未发现", None],
        [6, "451-4190-89", "东镇", "东一村", None, None, None, None, None, None],
        [7, None, None, None, f"{lat2:.6f}, {lon2:.6f}", None, "１２月５日", "钱明", "无", None],
        [8, "451-4190-88", "东镇", "东一村", None, None, dt.datetime(2026, 12, 2), "钱明",
         "发现非法采矿", "已报告"],
        [],
        ["注：本表由村委会每周五填报"],
    ]
    for r in rows:
        ws.append(r)
    summary = wb.create_sheet("汇总")
    summary.append(["东镇 汇总"])
    summary.append(["村", "计划网格"])
    summary.append(["东一村", 6])
    wb.save(path)
    return path


def clean_workbook(path, cells, *, title="东镇 2026-W49 台账", day="2026-12-04", source=None):
    """A returned ledger every row of which goes in: one row per cell id (a 来源 column
    when ``source`` is given: one value per cell)."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append([title])
    ws.append(["序号", "网格编号", "排查日期", "排查人", "排查结果"]
              + (["线索来源"] if source else []))
    for i, c in enumerate(cells, start=1):
        ws.append([i, c, day, "赵建", "未发现"] + ([source[i - 1]] if source else []))
    wb.save(path)
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return Tiny(tmp_path_factory.mktemp("tiny"))


# --------------------------------------------------------------------------- values
def test_parse_date():
    assert parse_date("2023.12.5") == dt.date(2023, 12, 5)
    assert parse_date("2023年12月5日") == dt.date(2023, 12, 5)
    assert parse_date("２０２３／１２／０５") == dt.date(2023, 12, 5)
    assert parse_date("20231205") == dt.date(2023, 12, 5)
    assert parse_date("2023-12-05 14:30") == dt.date(2023, 12, 5)
    assert parse_date("12月5日", W49) == dt.date(2026, 12, 5)
    assert parse_date("12.5", W49) == dt.date(2026, 12, 5)
    assert parse_date(12.5, W49) == dt.date(2026, 12, 5)  # Excel made a number of it
    assert parse_date("1月2日", Week.parse("2026-W53")) == dt.date(2027, 1, 2)
    assert parse_date(dt.datetime(2026, 12, 1, 9)) == dt.date(2026, 12, 1)
    assert parse_date(46000) == dt.date(2025, 12, 9)  # Excel serial
    assert parse_date(None) is None and parse_date("  ") is None
    for bad in ("2026.13.40", "昨天", "2月30日"):
        with pytest.raises(ValueError):
            parse_date(bad, W49)
    with pytest.raises(ValueError, match="年份"):
        parse_date("12月5日")


def test_normalize_result():
    assert normalize_result("未发现") == "未发现"
    assert normalize_result(" 无 ") == "未发现" and normalize_result("正常") == "未发现"
    assert normalize_result("未发现非法采矿") == "未发现"
    assert normalize_result("疑似") == "发现疑似"
    assert normalize_result("发现非法洞采") == "发现非法采矿"
    assert normalize_result("已 取缔") == "已取缔"
    assert normalize_result(None) is None
    with pytest.raises(ValueError, match="未发现 / 发现疑似"):
        normalize_result("不知道")


def test_parse_lonlat():
    assert parse_lonlat(113.5, 37.8)[:2] == (113.5, 37.8)
    lon, lat, how = parse_lonlat("37°48′N", "113°30′E")
    assert (lon, lat) == pytest.approx((113.5, 37.8)) and "对调" in how
    lon, lat, _ = parse_lonlat("37.8，113.5", None)
    assert (lon, lat) == (113.5, 37.8)
    assert parse_lonlat(None, "") is None
    with pytest.raises(ValueError):
        parse_lonlat("113.5", None)
    with pytest.raises(ValueError):
        parse_lonlat(10.0, 10.0)


# --------------------------------------------------------------------------- a messy sheet
def test_messy_sheet(tiny, tmp_path):
    path = messy_workbook(tmp_path / "东一村回收.xlsx")
    rows, errors, rep = read_returned(path, tiny.project, tiny.surface)
    assert rep.week == W49  # from the title row
    got = {r.cell_id: r for r in rows}
    assert set(got) == {"451-4190-97", DMS_CELL, PAIR_CELL, "451-4190-88"}
    assert got["451-4190-97"].date == dt.date(2026, 12, 5) and got["451-4190-97"].matched_by == "id"
    assert got[DMS_CELL].result == "发现疑似" and got[DMS_CELL].date == dt.date(2026, 12, 4)
    assert got[DMS_CELL].matched_by.startswith("lonlat") and "对调" in got[DMS_CELL].matched_by
    assert got[DMS_CELL].township == "东镇" and got[DMS_CELL].village == "东一村"
    assert got[PAIR_CELL].result == "未发现" and got[PAIR_CELL].village == "西村"
    assert got["451-4190-88"].found and got["451-4190-88"].week == W49
    assert rep.unfilled == 1
    bad = {e.row: e for e in errors}
    assert set(bad) == {8, 9, 10}  # sheet rows as the user sees them
    assert all(e.sheet == "东一村" for e in errors)
    assert "999-9999-99" in bad[8].message
    assert "不知道" in bad[9].message and "2026.13.40" in bad[10].message
    assert "第 8 行" in str(bad[8]) and "东一村" in str(bad[8])
    assert any("汇总" in n for n in rep.notes)  # the summary sheet was skipped


def test_ingest_is_idempotent(tiny, tmp_path):
    path = messy_workbook(tmp_path / "r.xlsx")
    with History(tmp_path / "h.gpkg", CRS) as h:
        first = ingest_files(tiny.project, [path], surface=tiny.surface, history=h)[0]
        assert first.status == "added" and first.added == 4 and len(first.errors) == 3
        counts = h.counts()
        assert counts["inspections"] == 4 and counts["ingest_errors"] == 3
        # rows were refused: the file is partial, read again, and nothing is stored twice
        again = ingest_files(tiny.project, [path], surface=tiny.surface, history=h)[0]
        assert again.status == "added" and again.again and not again.complete
        assert again.added == 0 and again.repeated == 4 and len(again.errors) == 3
        assert h.counts() == counts  # its refused rows replaced, not added
        # the same rows in another file (re-saved, other bytes): nothing new either
        wb = openpyxl.load_workbook(path)
        wb["东一村"]["A2"] = "填报单位：东一村（第二次报送）"
        wb.save(tmp_path / "r2.xlsx")
        copy = ingest_files(tiny.project, [tmp_path / "r2.xlsx"], surface=tiny.surface,
                            history=h)[0]
        assert copy.status == "added" and copy.added == 0 and copy.repeated == 4
        assert h.counts()["inspections"] == 4 and h.counts()["ingested_files"] == 2
        df = h.inspections(W49, W49)
        assert sorted(df["result"]) == ["发现疑似", "发现非法采矿", "未发现", "未发现"]


def test_unreadable_file_is_reported(tiny, tmp_path):
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(b"not a workbook")
    other = tmp_path / "other.xlsx"
    wb = openpyxl.Workbook()
    wb.active.append(["名称", "数量"])
    wb.active.append(["a", 1])
    wb.save(other)
    with History(tmp_path / "h.gpkg", CRS) as h:
        reps = ingest_files(tiny.project, [bad, other], surface=tiny.surface, history=h)
        assert [r.status for r in reps] == ["failed", "failed"]
        assert "bad.xlsx" in str(reps[0].errors[0]) and "排查结果" in str(reps[1].errors[0])
        assert h.counts()["ingested_files"] == 0


def test_missing_and_already_ingested_files_are_said_before_any_scoring(tmp_path, monkeypatch):
    """A mistyped path, a folder or a file sent twice needs no scored district: said at once."""
    import riskmap.pipeline.field as pf

    tiny = Tiny(tmp_path)
    clean = clean_workbook(tmp_path / "clean.xlsx", ["451-4190-97", "451-4190-86"])
    assert [r.status for r in ingest_files(tiny.project, [clean], surface=tiny.surface)] == [
        "added"]

    def no_scoring(*a, **kw):
        raise AssertionError("the district was scored")

    monkeypatch.setattr(pf, "_surface", no_scoring)
    reps = ingest_files(tiny.project, [tmp_path / "missing.xlsx", clean, tmp_path])
    assert [r.status for r in reps] == ["failed", "already", "failed"]
    assert "文件不存在 (file not found)" in str(reps[0].errors[0])
    assert "不是文件 (not a file)" in str(reps[2].errors[0])
    other = clean_workbook(tmp_path / "other.xlsx", ["451-4190-96"])
    with pytest.raises(AssertionError, match="scored"):  # a new file: now the cells are needed
        ingest_files(tiny.project, [tmp_path / "missing.xlsx", other])


def test_cli_ingest(tmp_path):
    from riskmap.cli import cli
    from riskmap.cli import ingest as _ingest  # noqa: F401  (registers the commands)
    from riskmap.cli import plan as _plan  # noqa: F401

    tiny = Tiny(tmp_path)
    path = messy_workbook(tmp_path / "returns.xlsx")
    runner = CliRunner()
    r = runner.invoke(cli, ["ingest", str(tiny.path), str(path), "-q"])
    assert r.exit_code == 1  # bad rows
    assert "新增 4" in r.output and "第 8 行" in r.output and "999-9999-99" in r.output
    # refused rows: the file is partial and read again, adding nothing twice
    r = runner.invoke(cli, ["ingest", str(tiny.path), str(path), "-q"])
    assert r.exit_code == 1 and "再次读取" in r.output and "新增 0" in r.output
    assert "partial" in r.output
    clean = clean_workbook(tmp_path / "clean.xlsx", ["451-4190-97", "451-4190-86"])
    r = runner.invoke(cli, ["ingest", str(tiny.path), str(clean), "-q"])
    assert r.exit_code == 0 and "新增 2" in r.output and "partial" not in r.output
    r = runner.invoke(cli, ["ingest", str(tiny.path), str(clean), "-q"])
    assert r.exit_code == 0 and "already" in r.output
    r = runner.invoke(cli, ["ingest", str(tiny.path), str(clean), "--force", "-q"])
    assert r.exit_code == 0 and "再次读取" in r.output and "新增 0" in r.output


def test_round_trip_plan_fill_ingest_weekly(tmp_path):
    """Plan, fill the ledger as a village would, ingest, count the week."""
    from riskmap.field.weekly import weekly_summary
    from riskmap.pipeline.field import run_plan

    tiny = Tiny(tmp_path)
    rep = run_plan(tiny.project, W49, out=tmp_path / "plan")
    ledger = tmp_path / "plan" / "东镇" / "ledger.xlsx"
    wb = openpyxl.load_workbook(ledger)
    ws = wb["东一村"]
    n = sum(1 for r in ws.iter_rows(min_row=3, values_only=True) if r[1])
    for i in range(3, 3 + n):
        ws.cell(i, 13, "2026.12.4")
        ws.cell(i, 14, "赵建")
        ws.cell(i, 15, "发现疑似" if i == 3 else "未发现")
    ws.cell(3, 16, "户主张伟明（138-0000-0044）称夜间有车，身份证11010519491231002X")
    first_id = ws.cell(3, 2).value
    ws["A1"] = "东一村台账"  # title retyped without the week: the workbook property tells it
    wb.save(tmp_path / "东镇回收.xlsx")
    shutil.copy(ledger, tmp_path / "东镇空表.xlsx")  # returned unfilled: nothing stored
    reps = ingest_files(tiny.project, [tmp_path / "东镇回收.xlsx", tmp_path / "东镇空表.xlsx"],
                        surface=tiny.surface)
    assert reps[0].added == n and not reps[0].errors and reps[0].week == W49
    assert reps[1].added == 0 and reps[1].unfilled == len(rep.plans[0].cells)
    with History(tiny.project.history, CRS) as h:
        s = weekly_summary(h, W49)
    v = s.villages.set_index("村")
    assert v.loc["东一村", "计划内已查"] == n == v.loc["东一村", "计划网格"]
    assert v.loc["东一村", "发现网格"] == 1 and not v.loc["东一村", "未上报"]
    assert set(s.not_reported) == {("东镇", "东二村"), ("西镇", "西村")}
    assert s.finds["cell_id"].tolist() == [first_id]
    assert s.trend["week"].tolist()[-1] == "2026-W49" and s.trend["found"].tolist()[-1] == 1
    # the team's note reaches the shared summary without the person in it
    from riskmap.pipeline.field import run_weekly

    _, files = run_weekly(tiny.project, W49, out=tmp_path / "weekly")
    note = s.finds["note"].iloc[0]
    assert "称夜间有车" in note
    for f in files:
        data = f.read_bytes()
        texts = [data.decode("utf-8", "ignore")]
        if f.suffix == ".xlsx":
            import zipfile

            with zipfile.ZipFile(f) as z:
                texts += [z.read(n).decode("utf-8", "ignore") for n in z.namelist()]
        for pii in ("张伟明", "0044", "11010519491231002X", "138-0000"):
            assert all(pii not in t for t in [*texts, note]), (f, pii)


def test_csv_twin_with_xy_and_quoted_ids(tiny, tmp_path):
    """The CSV twin comes back too: ids with Excel's ' marker, X/Y typed in either order."""
    import csv

    from riskmap.export.ledger import LEDGER_HEADER

    path = tmp_path / "ledger.csv"
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(LEDGER_HEADER)
        rows = [{"网格编号": "'451-4190-97", "排查结果": "未发现"},
                {"X": "4190350", "Y": "451550", "排查结果": "已取缔", "备注": "北坡"},
                {"排查结果": "未发现"}]
        for i, r in enumerate(rows, start=1):
            r = {"序号": i, "乡镇": "东镇", "村": "东一村", "排查日期": "2026-12-01",
                 "排查人": "赵建", **r}
            w.writerow([r.get(h, "") for h in LEDGER_HEADER])
    rows, errors, rep = read_returned(path, tiny.project, tiny.surface)
    assert [r.cell_id for r in rows] == ["451-4190-97", DMS_CELL]
    assert rows[1].matched_by == "xy" and rows[1].result == "已取缔" and rows[1].found
    assert rep.week == W49 and rows[0].week == W49  # from the rows' dates, and said so
    assert any("week from the rows' dates" in n for n in rep.notes)
    assert len(errors) == 1 and errors[0].row == 4 and errors[0].sheet is None
    assert "no cell id and no coordinates" in errors[0].message


def _as_villages_send_it(path, cells):
    """A sheet not made by riskmap: title with the week as a date range, the location in one
    cell in the forms people type, dates without year, failed fixes, a signature footer."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["东镇非法采矿排查情况表（2026年11月30日—12月06日）"])
    ws.append(["填报单位：东镇人民政府（盖章）"])
    ws.append(["序号", "村名", "排查点位置", "排查时间", "排查人员", "排查结果", "备注"])
    forms = [lambda lo, la: f"{lo:.6f},{la:.6f}", lambda lo, la: f"{la:.6f}，{lo:.6f}",
             lambda lo, la: f"东经{lo:.6f} 北纬{la:.6f}", lambda lo, la: f"E{lo:.6f} N{la:.6f}",
             lambda lo, la: f"经度:{lo:.6f} 纬度:{la:.6f}",
             lambda lo, la: f"{lo:.6f} {la:.6f}".translate(
                 {ord(c): ord(c) + 0xFEE0 for c in "0123456789"})]
    n = 0
    for i, (x, y, village) in enumerate(cells):
        lon, lat = lonlat_of(x, y)
        n += 1
        ws.append([n, village, forms[i % len(forms)](lon, lat), f"12月{1 + i % 5}日", "赵建、钱明",
                   "发现疑似" if i == 0 else "未发现", None])
    ws.append([n + 1, "东一村", "定位失败", "12月2日", "赵建", "未发现", None])
    ws.append([n + 2, "东一村", None, "12月3日", "赵建", "未发现", None])
    ws.append(["填报人：赵建", None, "审核人：钱明", None, "日期：2026年12月6日"])
    wb.save(path)


def test_sheets_as_villages_send_them(tiny, tmp_path):
    """Every locatable row goes in (one cell, any form, no year); every other row is named; the
    week comes from the title; a point in another village than written is kept and said."""
    cells = [(X0 + 1550 + 100 * k, Y0 + 350, "东一村") for k in range(4)]
    cells += [(X0 + 1450, Y0 + 1550, "东一村"), (X0 + 250, Y0 + 1650, "西村")]
    path = tmp_path / "20261130_东镇排查表.xlsx"
    _as_villages_send_it(path, cells)
    rows, errors, rep = read_returned(path, tiny.project, tiny.surface)
    assert len(rows) == len(cells) and rep.week == W49
    assert any("week from the title" in n for n in rep.notes)
    assert {r.date for r in rows} <= {dt.date(2026, 12, d) for d in range(1, 6)}
    assert sorted(e.row for e in errors) == [len(cells) + 4, len(cells) + 5]
    assert all("no location" in e.message or "no cell id" in e.message for e in errors)
    other = [n for n in rep.notes if "not in the village written" in n]
    assert len(other) == 1 and "东二村" in other[0]  # the 5th point lies in 东二村
    # the week from the file name when the title has none
    wb = openpyxl.load_workbook(path)
    wb.active["A1"] = "东镇非法采矿排查情况表"
    wb.save(tmp_path / "20261130_b.xlsx")
    _, _, rep = read_returned(tmp_path / "20261130_b.xlsx", tiny.project, tiny.surface)
    assert rep.week == W49 and any("week from the file name" in n for n in rep.notes)
