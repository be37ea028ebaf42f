"""Mining-right licences from corner-coordinate tables (拐点坐标)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pyogrio
import pytest
import shapely
from shapely.geometry import MultiPolygon, Polygon

from riskmap.errors import LayerError, RiskmapWarning
from riskmap.load.rights import read_corner_table

ROOT = Path(__file__).resolve().parents[1]
ZONE = 38  # CM 114E: EPSG:4547 without prefix, EPSG:4526 with it

A1 = Polygon([(450000, 4190000), (451000, 4190000), (451000, 4191000), (450000, 4191000)])
A2 = Polygon([(452000, 4190000), (452600, 4190000), (452000, 4190800)])  # 0.24 km²
B = Polygon([(455000, 4192000), (455500, 4192050), (455480, 4192400), (454990, 4192380)])
LICENCES = [("C1400002010011120000001", "甲煤矿", [A1, A2]),
            ("C1400002012011120000002", "乙煤矿", [B])]
HEADER = ["矿山名称", "采矿许可证号", "块段", "点号", "X坐标", "Y坐标"]


def corner_rows(licences=LICENCES, *, prefixed=True, swapped=False, clockwise=True,
                closing=(True, False, True), restart=True, start=0):
    """Rows of a corner table, one per corner, the way registries write them."""
    rows, k, n = [], 0, 0
    for lic, name, blocks in licences:
        first = True  # name and number on the licence's first row only, blank below
        for b, poly in enumerate(blocks, start=1):
            xy = np.asarray(poly.exterior.coords)[:-1]
            if clockwise == shapely.is_ccw(poly.exterior):
                xy = xy[::-1]
            xy = np.roll(xy, -start, axis=0)
            if closing[k % len(closing)]:
                xy = np.vstack([xy, xy[:1]])
            k += 1
            if restart:
                n = 0
            for e, north in xy:
                n += 1
                east = e + ZONE * 1e6 if prefixed else e
                x, y = (east, north) if swapped else (north, east)
                rows.append([name if first else None, lic if first else None, b, n,
                             f"{x:.2f}", f"{y:.2f}"])
                first = False
    return rows


def write_csv(path, rows, header=HEADER, title="测试拐点坐标表", footer=None, encoding="utf-8"):
    with open(path, "w", newline="", encoding=encoding) as f:
        w = csv.writer(f)
        if title:
            w.writerow([title])
        w.writerow(header)
        w.writerows(rows)
        if footer:
            w.writerow([footer])
    return path


def expected():
    return {lic: MultiPolygon(blocks) for lic, _, blocks in LICENCES}


def assert_same(gdf):
    exp = expected()
    assert list(gdf["licence_no"]) == list(exp)
    for lic, geom in zip(gdf["licence_no"], gdf.geometry, strict=True):
        assert geom.geom_type == "MultiPolygon"
        assert shapely.normalize(geom).equals_exact(shapely.normalize(exp[lic]), 1e-6)
        assert all(shapely.is_ccw(p.exterior) for p in geom.geoms)
    assert np.allclose(gdf["area_km2"], [1.24, B.area / 1e6], rtol=0, atol=1e-12)


@pytest.mark.parametrize("prefixed, swapped, clockwise, closing, restart, start", [
    (True, False, True, (True, False, True), True, 0),
    (True, True, False, (False,), False, 1),
    (False, False, False, (True,), True, 2),
    (False, True, True, (False, True), False, 3),
])
def test_variants_give_the_same_polygons(tmp_path, prefixed, swapped, clockwise, closing,
                                         restart, start):
    rows = corner_rows(prefixed=prefixed, swapped=swapped, clockwise=clockwise, closing=closing,
                       restart=restart, start=start)
    path = write_csv(tmp_path / "c.csv", rows)
    kw = {} if prefixed else {"central_meridian": 114}
    with warnings.catch_warnings():
        warnings.simplefilter("error", RiskmapWarning)  # a clean table warns about nothing
        gdf, rep = read_corner_table(path, **kw)
    assert gdf.crs.to_epsg() == 4547
    assert_same(gdf)
    assert list(gdf["name"]) == ["甲煤矿", "乙煤矿"]
    assert list(gdf["blocks"]) == [2, 1] and list(gdf["corners"]) == [7, 4]
    assert rep.licences == 2 and rep.blocks == 3 and rep.corners == 11
    assert rep.zone == (ZONE if prefixed else None) and rep.prefixed == prefixed
    assert ("northing" in rep.order) and (("swapped" in rep.order) == swapped)
    assert rep.warnings == [] and rep.overlaps == []
    assert rep.closing_points == sum(closing[k % len(closing)] for k in range(3))
    assert all(v is None for v in gdf["scale"])


def test_xlsx_with_merged_cells_and_attributes(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["甲乙煤矿拐点坐标"])
    ws.merge_cells("A1:I1")
    ws.append([*HEADER, "开采深度", "有效期", "生产规模"])
    rows = corner_rows()
    for r in rows:
        ws.append([r[0], r[1], r[2], r[3], float(r[4]), float(r[5])])
    # licence 1: block 1 has 4 corners + closing point, block 2 has 3 corners
    first2 = 3 + 5 + 3  # sheet row of licence 2's first corner
    assert rows[first2 - 3][1] == LICENCES[1][0]
    ws.merge_cells(f"A3:A{first2 - 1}")
    ws.merge_cells(f"B3:B{first2 - 1}")
    ws["G3"], ws["H3"], ws["I3"] = "由1200米至800米标高", "2015年3月1日至2025年3月1日", "60万吨/年"
    ws.merge_cells(f"G3:G{first2 - 1}")
    ws[f"G{first2}"], ws[f"H{first2}"] = "+1,100m～-50m", "2020.07.01-2030.06.30"
    path = tmp_path / "c.xlsx"
    wb.save(path)
    gdf, rep = read_corner_table(path)
    assert_same(gdf)
    assert gdf["depth_top"].tolist() == [1200, 1100]
    assert gdf["depth_bottom"].tolist() == [800, -50]
    assert gdf["valid_from"].tolist() == ["2015-03-01", "2020-07-01"]
    assert gdf["valid_to"].tolist() == ["2025-03-01", "2030-06-30"]
    assert gdf["scale"].tolist() == ["60万吨/年", None]
    assert rep.table.header_row == 2 and rep.table.dropped_title_rows == 1


def test_point_labels_and_closing_numbered_like_the_first(tmp_path):
    rows = [["乙煤矿", "C2", None, f"J{i}", f"{y:.2f}", f"{x + ZONE * 1e6:.2f}"]
            for i, (x, y) in enumerate(list(B.exterior.coords)[:-1], start=1)]
    rows = rows[2:] + rows[:2]  # table order is not point order
    rows.append(["乙煤矿", "C2", None, "J1", rows[2][4], rows[2][5]])  # closing point "J1" again
    gdf, rep = read_corner_table(write_csv(tmp_path / "j.csv", rows))
    assert shapely.normalize(gdf.geometry.iloc[0]).equals_exact(
        shapely.normalize(MultiPolygon([B])), 1e-6)
    assert rep.closing_points == 1 and rep.warnings == []


def test_unprefixed_needs_central_meridian_or_crs(tmp_path):
    path = write_csv(tmp_path / "u.csv", corner_rows(prefixed=False))
    with pytest.raises(LayerError, match=r"u\.csv.*--central-meridian.*--crs"):
        read_corner_table(path)
    gdf, rep = read_corner_table(path, crs="EPSG:4547")
    assert_same(gdf)
    assert "EPSG:4547" in rep.crs
    with pytest.raises(LayerError, match="zone prefix does not fit"):
        read_corner_table(write_csv(tmp_path / "p.csv", corner_rows()), central_meridian=117)


def test_crs_override_keeps_the_prefix_it_wants(tmp_path):
    path = write_csv(tmp_path / "c.csv", corner_rows())
    gdf, _ = read_corner_table(path, crs="EPSG:4526")  # zone 38 with prefix
    assert gdf.crs.to_epsg() == 4526
    assert gdf.total_bounds[0] == pytest.approx(ZONE * 1e6 + 450000)
    assert np.allclose(gdf.to_crs(4547).area, [1.24e6, B.area], rtol=1e-9)
    with pytest.raises(LayerError, match="does not fit"):
        read_corner_table(path, crs="EPSG:4546")  # CM 111E


def test_bow_tie_is_repaired_with_a_warning(tmp_path):
    bow = [(450000, 4190000), (451000, 4191000), (451000, 4190000), (450000, 4191000)]
    rows = [["丙煤矿", "C3", None, i, f"{y:.2f}", f"{x + ZONE * 1e6:.2f}"]
            for i, (x, y) in enumerate(bow, start=1)]
    with pytest.warns(RiskmapWarning, match="C3.*块段 1"):
        gdf, rep = read_corner_table(write_csv(tmp_path / "bow.csv", rows))
    assert gdf.geometry.iloc[0].is_valid
    assert gdf["area_km2"].iloc[0] == pytest.approx(0.5)  # two triangles of 0.25 km²
    assert len(rep.warnings) == 1 and "self-intersecting" in rep.warnings[0]
    assert "rows 3, 4, 5, 6" in rep.warnings[0]


def test_fewer_than_three_corners_names_the_rows(tmp_path):
    rows = corner_rows()
    rows += [["丁煤矿", "C4", 1, 1, "4195000.00", "38455000.00"],
             [None, None, 1, 2, "4195100.00", "38455000.00"],
             [None, None, 1, 3, "4195000.00", "38455000.00"]]  # closing point: 2 corners left
    n = len(rows) + 2  # title and header lines
    with pytest.raises(LayerError, match=rf"few\.csv.*C4.*块段 1.*rows {n - 2}, {n - 1}, {n}"):
        read_corner_table(write_csv(tmp_path / "few.csv", rows))


def test_mixed_zone_prefixes_name_the_sheet_row(tmp_path):
    rows = corner_rows()
    rows[4][5] = f"{float(rows[4][5]) + 1e6:.2f}"  # zone 39 on the 5th corner
    with pytest.raises(LayerError, match=r"mixed\.csv.*row 7\b"):  # title, header, 5th corner
        read_corner_table(write_csv(tmp_path / "mixed.csv", rows))


def test_not_a_number_names_the_row(tmp_path):
    rows = corner_rows()
    rows[1][4] = "4190000,00"  # decimal comma
    with pytest.raises(LayerError, match=r"row 4\b.*not numbers"):
        read_corner_table(write_csv(tmp_path / "nan.csv", rows))


def test_overlapping_licences_and_blocks_are_reported(tmp_path):
    over = Polygon([(450500, 4190500), (451500, 4190500), (451500, 4191500), (450500, 4191500)])
    lic = [*LICENCES, ("C1400002015011120000003", "丙煤矿", [over])]
    gdf, rep = read_corner_table(write_csv(tmp_path / "o.csv", corner_rows(lic)))
    assert rep.overlaps == [(LICENCES[0][0], "C1400002015011120000003", pytest.approx(250000))]
    assert any("licences overlap" in w for w in rep.warnings)
    # two blocks of one licence that overlap: reported, the licence is their union
    lic = [("C5", "戊煤矿", [A1, over])]
    gdf, rep = read_corner_table(write_csv(tmp_path / "b.csv", corner_rows(lic)))
    assert any("blocks overlap" in w and "250,000.0" in w for w in rep.warnings)
    assert gdf["area_km2"].iloc[0] == pytest.approx(1.75)
    assert gdf.geometry.iloc[0].is_valid


def test_duplicate_corner_reported(tmp_path):
    xy = list(A1.exterior.coords)[:-1]
    xy.insert(2, xy[1])  # corner 2 repeated as corner 3
    rows = [["甲煤矿", "C1", None, i, f"{y:.2f}", f"{x + ZONE * 1e6:.2f}"]
            for i, (x, y) in enumerate(xy, start=1)]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RiskmapWarning)
        gdf, rep = read_corner_table(write_csv(tmp_path / "dup.csv", rows))
    assert gdf["corners"].tolist() == [4] and gdf["area_km2"].tolist() == [1.0]
    assert len(rep.warnings) == 1
    assert "duplicate corners" in rep.warnings[0] and "rows 4=5" in rep.warnings[0]


def test_datums(tmp_path):
    path = write_csv(tmp_path / "x80.csv", corner_rows())
    with pytest.raises(LayerError, match=r"x80\.csv.*towgs84"):
        read_corner_table(path, datum="xian80")
    gdf, _ = read_corner_table(path, datum="xian80",
                               towgs84="15.8,-154.4,-82.3,0,0,0,0")
    assert gdf.crs.is_bound and gdf.crs.ellipsoid.semi_major_metre == 6378140
    with pytest.raises(LayerError, match="3 or 7 numbers"):
        read_corner_table(path, datum="beijing54", towgs84="1,2")
    # a table whose note names Xi'an 1980 is never read as CGCS2000 silently
    path = write_csv(tmp_path / "note.csv", corner_rows(), footer="注：坐标系统为1980西安坐标系")
    with pytest.raises(LayerError, match=r"note\.csv.*xian80.*--datum xian80"):
        read_corner_table(path)
    gdf, _ = read_corner_table(path, crs="EPSG:4526")  # the user says it was converted
    assert gdf.crs.to_epsg() == 4526


def test_gbk_csv_without_block_column(tmp_path):
    rows = [[r[0], r[1], r[3], r[4], r[5]] for r in corner_rows(LICENCES[1:])]
    path = write_csv(tmp_path / "gbk.csv", rows, header=["矿权名称", "证号", "拐点号", "纵坐标",
                                                        "横坐标"], encoding="gbk")
    gdf, rep = read_corner_table(path)
    assert rep.table.encoding == "gb18030"
    assert gdf["blocks"].tolist() == [1] and gdf["name"].tolist() == ["乙煤矿"]


def test_missing_columns(tmp_path):
    path = write_csv(tmp_path / "nolic.csv", [[1, "4190000", "38450000"]],
                     header=["点号", "X坐标", "Y坐标"])
    with pytest.raises(LayerError, match="采矿许可证号"):
        read_corner_table(path)


def test_sample_table_matches_sample_gpkg():
    sample = gpd.read_file(ROOT / "layers" / "sample.gpkg", layer="mining_rights")
    gdf, rep = read_corner_table(ROOT / "layers" / "mining_rights_corners.xlsx")
    assert rep.zone == ZONE and rep.prefixed and "surveyors" in rep.order
    assert gdf.crs.to_epsg() == 4547
    assert rep.licences == 40 and rep.warnings == [] and rep.overlaps == []
    assert sorted(gdf["licence_no"]) == sorted(sample["licence_no"])
    g = gdf.set_index("licence_no").loc[sample["licence_no"]]
    assert np.abs(g.geometry.area.to_numpy() - sample.geometry.area.to_numpy()).max() < 0.01
    sym = shapely.symmetric_difference(g.geometry.to_numpy(), sample.geometry.to_numpy())
    assert shapely.area(sym).max() < 0.01
    for col in ("name", "valid_from", "valid_to"):
        assert (g[col].to_numpy() == sample[col].to_numpy()).all(), col
    assert (g["depth_top"].to_numpy() == sample["depth_top"].to_numpy()).all()
    assert (g["depth_bottom"].to_numpy() == sample["depth_bottom"].to_numpy()).all()
    assert sorted(g["blocks"].unique()) == [1, 2]


# --------------------------------------------------------------------------- CLI
def run_cli(*args):
    # the module registers the command; works before and after it is wired into main()
    code = "import riskmap.cli.rights; from riskmap.cli import main; main()"
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env=env, timeout=120)


def test_cli_import_rights(tmp_path):
    table = write_csv(tmp_path / "拐点.csv", corner_rows())
    r = run_cli("import-rights", str(table))
    assert r.returncode == 0, r.stderr
    out = tmp_path / "拐点.gpkg"
    assert list(pyogrio.list_layers(out)[:, 0]) == ["mining_rights"]
    df = pyogrio.read_dataframe(out, layer="mining_rights")
    assert df.crs.to_epsg() == 4547 and len(df) == 2
    assert df["area_km2"].round(6).tolist() == [1.24, round(B.area / 1e6, 6)]
    assert "带号38" in r.stdout and LICENCES[0][0] in r.stdout and "1.2400" in r.stdout
    before = out.read_bytes()
    r = run_cli("import-rights", str(table))
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert r.stderr.strip().startswith("Error: ") and "--overwrite" in r.stderr
    assert out.read_bytes() == before
    r = run_cli("import-rights", str(table), "--out", str(tmp_path / "o" / "r.gpkg"),
                "--overwrite", "-q", "-q")
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_write_layer_is_atomic_and_never_clobbers(tmp_path):
    from riskmap.errors import ExportError
    from riskmap.export.gpkg import write_layer

    gdf, _ = read_corner_table(write_csv(tmp_path / "t.csv", corner_rows()))
    dest = tmp_path / "r.gpkg"
    assert write_layer(gdf, dest, layer="mining_rights") == dest
    with pytest.raises(ExportError, match="--overwrite"):
        write_layer(gdf.iloc[:1], dest, layer="mining_rights")
    assert len(pyogrio.read_dataframe(dest, layer="mining_rights")) == 2
    write_layer(gdf.iloc[:1], dest, layer="mining_rights", overwrite=True)
    assert len(pyogrio.read_dataframe(dest, layer="mining_rights")) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.gpkg", "t.csv"]


def test_cli_errors_are_one_line(tmp_path):
    table = write_csv(tmp_path / "u.csv", corner_rows(prefixed=False))
    r = run_cli("import-rights", str(table))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("Error: ")
    assert "--central-meridian" in r.stderr
    r = run_cli("import-rights", str(table), "--central-meridian", "114", "--datum", "xian80")
    assert r.returncode == 1 and "--towgs84" in r.stderr
    r = run_cli("import-rights", str(table), "--central-meridian", "114")
    assert r.returncode == 0, r.stderr
