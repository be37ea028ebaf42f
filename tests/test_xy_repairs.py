"""Coordinates as tables hold them: X/Y rows repaired and named, pairs in one cell, hints.

Point tables (``points`` sources) and corner tables (``corners``), built in code,
and county B's case ledger and tip line read through the readers.
"""

from __future__ import annotations

import csv
import re
import warnings

import numpy as np
import pytest
from pyproj import Transformer

from riskmap.crs.meridian import CoordHints
from riskmap.errors import LayerError, RiskmapWarning
from riskmap.load.project import Source
from riskmap.load.rights import read_corner_table
from riskmap.load.sources import corners, points
from riskmap.load.sources.base import LayerInfo

ZONE = 38  # CM 114E: EPSG:4547 without the prefix
X0, Y0 = 450_000.0, 4_190_000.0
TO_LONLAT = Transformer.from_crs("EPSG:4547", "EPSG:4326", always_xy=True)
DISTRICT = (*TO_LONLAT.transform(X0, Y0), *TO_LONLAT.transform(X0 + 2000, Y0 + 2000))


def write_csv(path, header, rows, title=None):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        if title:
            w.writerow([title])
        w.writerow(header)
        w.writerows(rows)
    return path


def read_points(path, hints=None, **kw):
    info = LayerInfo(source=Source(path=path, **kw))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gdf = points.read(info.source, info, hints=hints)
    return gdf, info, [str(w.message) for w in caught if issubclass(w.category, RiskmapWarning)]


def ledger_rows(n=12):
    """Surveyors' X (northing) / Y (easting without prefix), one case per row."""
    rng = np.random.default_rng(5)
    e = X0 + rng.uniform(100, 1900, n).round(2)
    north = Y0 + rng.uniform(100, 1900, n).round(2)
    return [[f"案{i + 1}", f"{north[i]:.2f}", f"{e[i]:.2f}"] for i in range(n)], e, north


# --------------------------------------------------------------------------- points: X/Y
def test_swapped_and_prefixed_rows_are_repaired_and_every_row_named(tmp_path):
    rows, e, north = ledger_rows()
    for i in (2, 7):  # X and Y swapped
        rows[i][1], rows[i][2] = rows[i][2], rows[i][1]
    for i in (4, 5, 10):  # the easting with the zone prefix
        rows[i][2] = f"{e[i] + ZONE * 1e6:.2f}"
    path = write_csv(tmp_path / "ledger.csv", ["编号", "X坐标", "Y坐标"], rows, title="台账")
    gdf, info, warned = read_points(path)  # the zone from the prefixed rows
    assert gdf.crs.to_epsg() == 4547
    np.testing.assert_allclose(gdf.geometry.x, e, atol=1e-6)
    np.testing.assert_allclose(gdf.geometry.y, north, atol=1e-6)
    # sheet rows: a title and a header above the data
    swapped = next(w for w in warned if "swapped" in w)
    assert "rows 5, 10:" in swapped and str(path) in swapped
    prefixed = next(w for w in warned if "zone prefix" in w)
    assert "rows 7, 8, 13:" in prefixed and "zone prefix 38" in prefixed
    assert any("zone prefix 38 on rows 7, 8, 13" in d for d in info.detected)


def test_rows_lacking_the_prefix_the_others_carry(tmp_path):
    rows, e, _north = ledger_rows(6)
    for i in range(6):
        if i != 3:
            rows[i][2] = f"{e[i] + ZONE * 1e6:.2f}"
    gdf, _info, warned = read_points(write_csv(tmp_path / "p.csv", ["id", "X", "Y"], rows))
    np.testing.assert_allclose(gdf.geometry.x, e, atol=1e-6)
    assert gdf.crs.to_epsg() == 4547
    assert len(warned) == 1 and "rows 5:" in warned[0] and "lacks the zone prefix 38" in warned[0]


def test_every_bad_row_in_one_message(tmp_path):
    rows, e, _north = ledger_rows()
    rows[1][2] = "-5.0"
    rows[3][1] = rows[3][2]  # two eastings
    rows[6][2] = f"{e[6] + 39e6:.2f}"  # another zone than the others' (none)
    rows[8][2] = f"{e[8] + 40e6:.2f}"
    rows[9][1] = "41904.5"
    with pytest.raises(LayerError) as err:
        read_points(write_csv(tmp_path / "bad.csv", ["id", "X", "Y"], rows), central_meridian=114)
    msg = str(err.value)
    for row in (3, 5, 8, 10, 11):
        assert re.search(rf"\brows? (?:\d+, )*{row}\b|on row {row}\b", msg), (row, msg)
    assert "负数" in msg and "both are eastings" in msg and "disagree on the zone" in msg


def test_not_numbers_every_row_named(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("name,经度,纬度\na,114°71′,37.8\nb,113.5,37.8\nc,x,37.9\nd,113.6,北\n",
                    encoding="utf-8")
    with pytest.raises(LayerError, match=r"rows 2, 4, 5 \(3 rows\).*114°71′.*'x'.*'北'"):
        read_points(path)


# --------------------------------------------------------------------------- the zone from hints
def test_eastings_without_prefix_need_a_hint(tmp_path):
    rows, e, _north = ledger_rows()
    path = write_csv(tmp_path / "u.csv", ["id", "X", "Y"], rows)
    with pytest.raises(LayerError, match=r"zone is unknown; give 'central_meridian'"):
        read_points(path)
    gdf, info, _ = read_points(path, hints=CoordHints(working_crs="EPSG:4547"))
    assert gdf.crs.to_epsg() == 4547
    np.testing.assert_allclose(gdf.geometry.x, e, atol=1e-6)
    assert any("central meridian 114E from the project's working CRS EPSG:4547" in d
               for d in info.detected)
    gdf, info, _ = read_points(path, hints=CoordHints(district_lonlat=DISTRICT))
    assert gdf.crs.to_epsg() == 4547
    assert any("central meridian 114E from the district (100% of the points" in d
               for d in info.detected)
    # a working CRS in another zone: the district has the last word, and says so
    gdf, info, _ = read_points(path, hints=CoordHints("EPSG:4546", DISTRICT))
    assert gdf.crs.to_epsg() == 4547
    assert any("not 111E from the project's working CRS EPSG:4546" in d for d in info.detected)
    # a working CRS that is no Gauss-Krüger CRS says nothing
    with pytest.raises(LayerError, match="zone is unknown"):
        read_points(path, hints=CoordHints(working_crs="EPSG:32649"))
    with pytest.raises(LayerError, match="no 3-degree zone puts the points inside"):
        read_points(path, hints=CoordHints(district_lonlat=(100.0, 30.0, 100.5, 30.5)))


def test_prefixed_rows_contradicting_central_meridian(tmp_path):
    rows, e, _north = ledger_rows()
    rows[2][2] = f"{e[2] + ZONE * 1e6:.2f}"
    with pytest.raises(LayerError, match=r"rows 4 carry the zone prefix 38.*not central_meridian"):
        read_points(write_csv(tmp_path / "c.csv", ["id", "X", "Y"], rows), central_meridian=117)


# --------------------------------------------------------------------------- points: pairs
def test_both_numbers_in_the_longitude_cell(tmp_path):
    path = tmp_path / "tips.csv"
    path.write_text("举报线索登记表\n编号,经度,纬度\n1,111.5,37.1\n2,东经111.7893 北纬37.1506,\n"
                    "3,E111.6 N37.2,\n4,,\n5,111.55,\n6,\"37.3,111.65\",\n", encoding="utf-8")
    gdf, info, warned = read_points(path)
    assert gdf.crs.to_epsg() == 4326 and list(gdf["编号"]) == ["1", "2", "3", "6"]
    np.testing.assert_allclose(gdf.geometry.x, [111.5, 111.7893, 111.6, 111.65])
    np.testing.assert_allclose(gdf.geometry.y, [37.1, 37.1506, 37.2, 37.3])
    note = next(d for d in info.detected if "both coordinates in the 经度 cell" in d)
    assert "3 row(s)" in note and "rows 4, 5, 8" in note and "latitude first" in note
    assert any("skipped 2 row(s) without coordinates" in w and "rows 6, 7" in w for w in warned)


@pytest.mark.parametrize("header", ["坐标", "排查点位置", "GPS定位", "位置（经纬度）"])
def test_one_column_of_pairs_by_header_or_content(tmp_path, header):
    rows = [["甲村", "111.7893,37.1506"], ["乙村", "37.0917,111.8048"],
            ["丙村", "111°44'31.1\"E 37°03'55.8\"N"], ["丁村", "定位失败"], ["戊村", None],
            ["己村", "经度:111.80027 纬度:37.07664"]]
    path = write_csv(tmp_path / "p.csv", ["村名", header], rows, title="排查情况表")
    gdf, info, warned = read_points(path)
    assert list(gdf["村名"]) == ["甲村", "乙村", "丙村", "己村"] and header not in gdf.columns
    np.testing.assert_allclose(gdf.geometry.x[:2], [111.7893, 111.8048])
    assert any(f"coordinates as pairs in column {header}, found by its header" in d
               for d in info.detected)
    skipped = next(w for w in warned if "skipped 2 row(s)" in w)
    assert "row 6: '定位失败'" in skipped


def test_pairs_found_by_content_when_the_columns_are_blank(tmp_path):
    # 经度/纬度 left blank, the position typed into another column
    rows = [["甲", None, None, "111.7893,37.1506"], ["乙", None, None, "E111.8048 N37.0917"],
            ["丙", None, None, "111.7601 37.0410"]]
    gdf, info, _ = read_points(write_csv(tmp_path / "c.csv", ["名称", "经度", "纬度", "情况"],
                                         rows))
    np.testing.assert_allclose(gdf.geometry.x, [111.7893, 111.8048, 111.7601])
    assert any("in column 情况, found by its content: 100%" in d for d in info.detected)
    # a column of text that only sometimes holds a pair is not taken
    rows[1][3] = "村东头"
    rows[2][3] = "见附图"
    gdf, info, warned = read_points(write_csv(tmp_path / "d.csv", ["名称", "经度", "纬度", "情况"],
                                              [*rows, ["丁", 111.8, 37.1]]))
    assert list(gdf["名称"]) == ["丁"] and "情况" in gdf.columns
    assert any("skipped 3 row(s)" in w for w in warned)


def test_projected_pairs_in_one_column(tmp_path):
    rows, e, north = ledger_rows(5)
    data = [[r[0], f"{r[1]}, {r[2]}"] for r in rows]
    data[1][1] = f"{e[1]:.2f} {north[1]:.2f}"  # this row written easting first
    gdf, _info, warned = read_points(write_csv(tmp_path / "xy.csv", ["编号", "坐标"], data),
                                    central_meridian=114)
    np.testing.assert_allclose(gdf.geometry.x, e, atol=1e-6)
    assert any("rows 3:" in w and "swapped" in w for w in warned)


def test_pairs_that_cannot_be_read_are_all_named(tmp_path):
    rows = [["a", "111.7893,37.1506"], ["b", "111.78, 4112345.6"], ["c", "37.1,111.6"],
            ["d", "E111.7 E37.1"]]
    with pytest.raises(LayerError) as err:
        read_points(write_csv(tmp_path / "p.csv", ["名称", "位置"], rows))
    msg = str(err.value)
    assert "rows 3, 5 (2 rows)" in msg and "not a longitude/latitude" in msg
    assert "both labelled longitude" in msg


# --------------------------------------------------------------------------- corner tables
CORNERS = [(X0 + 100, Y0 + 100), (X0 + 900, Y0 + 100), (X0 + 900, Y0 + 700), (X0 + 100, Y0 + 700)]


def corner_rows(prefixed=True):
    out = []
    for lic, dx in (("C1", 0.0), ("C2", 1000.0)):
        for k, (x, y) in enumerate(CORNERS, start=1):
            east = x + dx + (ZONE * 1e6 if prefixed else 0.0)
            out.append([lic if k == 1 else None, k, f"{y:.2f}", f"{east:.2f}"])
    return out


def test_corner_rows_repaired_and_named(tmp_path):
    rows = corner_rows()
    rows[1][2], rows[1][3] = rows[1][3], rows[1][2]  # X/Y swapped on the 2nd corner
    rows[6][3] = f"{float(rows[6][3]) - ZONE * 1e6:.2f}"  # prefix missing on the 7th
    path = write_csv(tmp_path / "c.csv", ["采矿许可证号", "点号", "X坐标", "Y坐标"], rows,
                     title="拐点坐标表")
    with pytest.warns(RiskmapWarning) as caught:
        gdf, rep = read_corner_table(path)
    msgs = [str(w.message) for w in caught]
    assert any("rows 4:" in m and "swapped" in m for m in msgs)  # title, header, 2nd corner
    assert any("rows 9:" in m and "lacks the zone prefix 38" in m for m in msgs)
    assert len(rep.warnings) == 2 and gdf.crs.to_epsg() == 4547
    assert np.allclose(gdf["area_km2"], [0.48, 0.48])


def test_corner_refusals_name_every_row(tmp_path):
    rows = corner_rows()
    rows[1][2] = "4190000,00"
    rows[5][3] = "abc"
    header = ["采矿许可证号", "点号", "X坐标", "Y坐标"]
    with pytest.raises(LayerError, match=r"第 4, 8 行 \(rows 4, 8\).*not numbers.*row 4: "
                                         r"'4190000,00'.*row 8: .*'abc'"):
        read_corner_table(write_csv(tmp_path / "n.csv", header, rows, title="t"))
    rows = corner_rows()
    rows[1][3] = None
    rows[6][2] = None
    with pytest.raises(LayerError, match=r"rows 4, 9\): 只有一个坐标"):
        read_corner_table(write_csv(tmp_path / "h.csv", header, rows, title="t"))
    rows = corner_rows()
    rows[2][3] = f"{float(rows[2][3]) + 1e6:.2f}"
    rows[5][3] = f"{float(rows[5][3]) + 1e6:.2f}"
    with pytest.raises(LayerError, match=r"rows 5, 8: 是带号39的东坐标"):
        read_corner_table(write_csv(tmp_path / "z.csv", header, rows, title="t"))


def test_corner_table_without_prefix_takes_the_hint(tmp_path):
    header = ["采矿许可证号", "点号", "X坐标", "Y坐标"]
    path = write_csv(tmp_path / "u.csv", header, corner_rows(prefixed=False), title="t")
    with pytest.raises(LayerError, match=r"--central-meridian.*--crs"):
        read_corner_table(path)
    gdf, rep = read_corner_table(path, hints=CoordHints(working_crs="EPSG:4547"))
    assert gdf.crs.to_epsg() == 4547 and "working CRS EPSG:4547" in rep.meridian
    assert any("central meridian" in line for line in rep.lines())
    info = LayerInfo(source=Source(path=path, table="corners"))
    corners.read(info.source, info, hints=CoordHints(district_lonlat=DISTRICT))
    assert any("from the district" in d for d in info.detected)


# --------------------------------------------------------------------------- county B
@pytest.fixture(scope="module")
def county_b(tmp_path_factory):
    from countyb.cache import county_b as make_county_b

    return make_county_b(tmp_path_factory.mktemp("county_b")).parent


def test_county_b_case_ledger(county_b):
    src = Source(path=county_b / "案件台账.xlsx")
    info = LayerInfo(source=src)
    with pytest.warns(RiskmapWarning) as caught:
        gdf = points.read(src, info, hints=CoordHints(working_crs="EPSG:4546"))
    msgs = [str(w.message) for w in caught]
    assert any("rows 67, 82, 97, 179: X and Y swapped" in m for m in msgs)
    assert any("rows 114, 144, 145, 174, 251: the easting carries the zone prefix 37" in m
               for m in msgs)
    assert len(gdf) == 290 and gdf.crs.to_epsg() == 4546
    assert any("central meridian 111E" in d and "EPSG:4546" in d for d in info.detected)
    x, y = gdf.geometry.x.to_numpy(), gdf.geometry.y.to_numpy()
    assert ((x > 4.9e5) & (x < 6.0e5)).all() and ((y > 4.08e6) & (y < 4.14e6)).all()


def test_county_b_tip_line(county_b):
    src = Source(path=county_b / "举报线索.csv")
    info = LayerInfo(source=src)
    with pytest.warns(RiskmapWarning, match="skipped 26 row"):
        gdf = points.read(src, info)
    assert len(gdf) == 139 and gdf.crs.to_epsg() == 4326
    assert any("28 row(s) with both coordinates in the 经度 cell" in d for d in info.detected)
    lon, lat = gdf.geometry.x, gdf.geometry.y
    assert lon.between(111.2, 112.1).all() and lat.between(36.8, 37.5).all()
