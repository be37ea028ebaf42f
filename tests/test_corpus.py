"""A corpus of small tricky inputs, each pinned to its outcome.

Every case is built in code. ``riskmap check FILE`` must say: usable as is
(exit 0), usable after the stated repairs (exit 1, a named warning), or refused
(exit 2, a message naming the file and row). Files are never changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import geopandas as gpd
import pytest
import shapely

RISKMAP = shutil.which("riskmap")
LON, LAT = 113.55, 37.88  # inside the sample district


def check(path, *args):
    cmd = [RISKMAP, "check", str(path), "--json", *args] if RISKMAP else None
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
    assert "Traceback" not in r.stderr, r.stderr
    return r.returncode, json.loads(r.stdout)


def digest(path: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(path.parent.glob(path.stem + ".*")):
        h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()


def points(n=3, **cols):
    geoms = [shapely.Point(LON + 0.01 * i, LAT + 0.005 * i) for i in range(n)]
    data = {"name": [f"场所{i}" for i in range(n)], **cols}
    return gpd.GeoDataFrame(data, geometry=geoms, crs="EPSG:4326")


# --- the cases -------------------------------------------------------------------
def case_control(d: Path) -> Path:
    p = d / "control.gpkg"
    points().to_file(p, layer="premises")
    return p


def case_gbk_no_cpg(d: Path) -> Path:
    p = d / "gbk_no_cpg.shp"
    points().to_file(p, encoding="gbk")
    p.with_suffix(".cpg").unlink()
    return p


def case_gbk_wrong_cpg(d: Path) -> Path:
    p = d / "gbk_wrong_cpg.shp"
    points().to_file(p, encoding="gbk")
    p.with_suffix(".cpg").write_text("UTF-8")
    return p


def case_utf8_says_gbk(d: Path) -> Path:
    p = d / "utf8_says_gbk.shp"
    points().to_file(p, encoding="utf-8")
    p.with_suffix(".cpg").write_text("GBK")
    return p


def case_no_prj(d: Path) -> Path:
    p = d / "no_prj.shp"
    points().to_file(p, encoding="utf-8")
    p.with_suffix(".prj").unlink()
    return p


def case_bowtie(d: Path) -> Path:
    p = d / "bowtie.gpkg"
    x, y = LON, LAT
    bow = shapely.Polygon([(x, y), (x + 0.01, y + 0.01), (x + 0.01, y), (x, y + 0.01)])
    gpd.GeoDataFrame({"licence_no": ["C1"]}, geometry=[bow], crs="EPSG:4326").to_file(p)
    return p


def case_collection(d: Path) -> Path:
    p = d / "collection.geojson"
    gc = shapely.GeometryCollection([shapely.Point(LON, LAT),
                                     shapely.Point(LON + 0.01, LAT + 0.01)])
    gpd.GeoDataFrame({"name": ["a", "b"]}, geometry=[gc, shapely.Point(LON, LAT + 0.02)],
                     crs="EPSG:4326").to_file(p, driver="GeoJSON")
    return p


def case_duplicates(d: Path) -> Path:
    p = d / "duplicates.gpkg"
    g = points(2)
    gpd.GeoDataFrame(gpd.pd.concat([g, g.iloc[[0]]]), crs=g.crs).to_file(p)
    return p


def case_zero_bytes(d: Path) -> Path:
    p = d / "empty.gpkg"
    p.write_bytes(b"")
    return p


def case_truncated(d: Path) -> Path:
    p = d / "truncated.gpkg"
    points().to_file(p)
    p.write_bytes(p.read_bytes()[:3000])
    return p


KML = """<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2"><Document><name>巡查</name>
<Folder><name>第一组</name>
<Placemark><name>疑似洞口</name><Point><coordinates>{a},{b},0</coordinates></Point></Placemark>
<Placemark><name>空点</name></Placemark>
</Folder>
<Folder><name>第二组</name>
<Placemark><name>运煤车</name><Point><coordinates>{c},{e},0</coordinates></Point></Placemark>
</Folder></Document></kml>"""


def case_kml_folders(d: Path) -> Path:
    p = d / "phone.kml"
    p.write_text(KML.format(a=LON, b=LAT, c=LON + 0.01, e=LAT + 0.01), encoding="utf-8")
    return p


def case_kmz_folders(d: Path) -> Path:
    import zipfile

    p = d / "phone.kmz"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("doc.kml", KML.format(a=LON, b=LAT, c=LON + 0.01, e=LAT + 0.01))
    return p


# case -> (exit code, a phrase the report must hold, where: repairs/notes/refusal)
CASES = {
    "control": (case_control, 0, None, None),
    # no .cpg and no language byte: the encoding is a guess, stated as a repair
    "gbk_no_cpg": (case_gbk_no_cpg, 1, "repairs", "no .cpg, no language byte in the .dbf): "
                   "field names and text decoded as GB18030, a guess"),
    "gbk_wrong_cpg": (case_gbk_wrong_cpg, 1, "repairs", ".cpg says UTF-8 but the text decodes"),
    "utf8_says_gbk": (case_utf8_says_gbk, 1, "repairs", ".cpg says GBK"),
    "no_prj": (case_no_prj, 2, "refusal", "no CRS"),
    "bowtie": (case_bowtie, 1, "repairs", "repaired 1 invalid polygon"),
    "collection": (case_collection, 1, "repairs", "split 1 geometry collection"),
    "duplicates": (case_duplicates, 1, "repairs", "repeat an earlier one exactly: same "
                   "geometry and attributes): rows 3 = 1"),
    "zero_bytes": (case_zero_bytes, 2, "refusal", "zero-byte"),
    "truncated": (case_truncated, 2, "refusal", "truncated.gpkg"),
    "kml_folders": (case_kml_folders, 1, "repairs", "without geometry"),
    "kmz_folders": (case_kmz_folders, 1, "repairs", "without geometry"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_case_outcome(tmp_path, name):
    _assert_case(tmp_path, name)


def _assert_case(tmp_path, name):
    make, code, where, phrase = CASES[name]
    path = make(tmp_path)
    before = digest(path)
    rc, rep = check(path)
    assert rc == code, rep
    files = rep["files"]
    assert max(f["status"] for f in files) == code
    if phrase:
        text = " | ".join(m for f in files for m in
                          (f[where] if isinstance(f[where], list) else [f[where]]))
        assert phrase in text, text
    if code == 0 and name == "control":
        assert files[0]["repairs"] == [] and files[0]["notes"] == []
    if code == 2:
        assert str(path.name) in files[0]["refusal"]
    assert digest(path) == before  # never written to (a zero-byte file stays zero bytes)


def test_gbk_text_is_decoded(tmp_path):
    from riskmap.load.layers import read_source
    from riskmap.load.project import Source

    for make in (case_gbk_no_cpg, case_gbk_wrong_cpg, case_utf8_says_gbk):
        gdf, _info = _read(make(tmp_path), read_source, Source)
        assert list(gdf["name"]) == ["场所0", "场所1", "场所2"], make.__name__


def _read(path, read_source, Source):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read_source(Source(path=path) if isinstance(Source, type) else Source(path),
                           "EPSG:4547")


def test_kml_reads_every_folder(tmp_path):
    _rc, rep = check(case_kml_folders(tmp_path))
    f = rep["files"][0]
    assert f["features"] == 2  # one per folder; the empty placemark is reported, not 0,0
    assert any("2 KML folders" in n for n in f["notes"])
    lon0, lat0, _lon1, _lat1 = f["extent_lonlat"]
    assert lon0 > 100 and lat0 > 30  # nothing placed at 0,0


def test_folder_prints_one_line_per_finding(tmp_path):
    for name in ("control", "bowtie", "zero_bytes", "gbk_wrong_cpg"):
        CASES[name][0](tmp_path)
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    r = subprocess.run([RISKMAP, "check", str(tmp_path)], capture_output=True, text=True,
                       env=env, timeout=60)
    assert r.returncode == 2  # the worst file decides
    out = r.stdout.splitlines()
    assert sum("REFUSED" in ln for ln in out) == 1
    assert sum("REPAIR" in ln for ln in out) == 2
    assert sum("可直接使用" in ln for ln in out) == 1


def test_district_share(tmp_path):
    d = tmp_path / "district.gpkg"
    x, y = LON, LAT
    gpd.GeoDataFrame({"name": ["区"]}, geometry=[shapely.box(x - 0.005, y - 0.003, x + 0.015,
                                                             y + 0.007)],
                     crs="EPSG:4326").to_file(d)
    _rc, rep = check(case_control(tmp_path), "--district", str(d))
    assert rep["files"][0]["inside_district"] == pytest.approx(2 / 3, abs=0.01)


def test_read_only_folder_never_written(tmp_path):
    p = case_control(tmp_path)
    os.chmod(p, 0o444)
    before = sorted(os.listdir(tmp_path))
    rc, _ = check(p)
    assert rc == 0 and sorted(os.listdir(tmp_path)) == before


# --- tables -------------------------------------------------------------------------
def _csv(d: Path, name: str, text: str, encoding="utf-8-sig") -> Path:
    p = d / name
    p.write_bytes(text.encode(encoding))
    return p


def case_table_office(d: Path) -> Path:
    # title row, blank row, header with units, DMS and full-width values, a blank
    # coordinate row, a footer note
    return _csv(d, "office.csv",
                "郊区储煤场排查表（示例）\n\n序号,名称,经度(°),纬度(°)\n"
                "1,甲储煤场,113°33'00\",37°52'48\"\n"
                "2,乙储煤场,１１３．５６,３７．８９\n"
                "3,丙储煤场,,\n"
                "注：坐标为WGS84\n")


def case_table_swapped(d: Path) -> Path:
    return _csv(d, "swapped.csv", f"名称,经度,纬度\n甲,{LON},{LAT}\n乙,{LAT},{LON}\n")


def case_table_gbk(d: Path) -> Path:
    return _csv(d, "gbk.csv", f"名称,经度,纬度\n储煤场,{LON},{LAT}\n", encoding="gbk")


def case_table_per_row_crs(d: Path) -> Path:
    return _csv(d, "per_row.csv", f"名称,经度,纬度,坐标系\n甲,{LON},{LAT},WGS84\n"
                                  f"乙,{LON},{LAT},GCJ02\n丙,{LON},{LAT},百度\n")


def case_table_bad_crs_row(d: Path) -> Path:
    return _csv(d, "bad_crs.csv", f"名称,经度,纬度,坐标系\n甲,{LON},{LAT},WGS84\n"
                                  f"乙,{LON},{LAT},火星2\n")


def case_table_bad_number(d: Path) -> Path:
    return _csv(d, "bad_number.csv", f"名称,经度,纬度\n甲,{LON},{LAT}\n乙,113.5x,{LAT}\n")


def case_table_gk_prefixed(d: Path) -> Path:
    # surveyors' order: X = northing, Y = easting with zone prefix 38
    return _csv(d, "gk.csv", "点名,X,Y\nP1,4193211.20,38451607.50\nP2,4194211.20,38452607.50\n")


def case_table_gk_mixed(d: Path) -> Path:
    return _csv(d, "gk_mixed.csv",
                "点名,X,Y\nP1,4193211.20,38451607.50\nP2,4194211.20,452607.50\n")


CASES.update({
    "table_office": (case_table_office, 1, "repairs", "skipped 1 row(s) without coordinates"),
    "table_swapped": (case_table_swapped, 1, "repairs", "swapped back (rows 3)"),
    "table_gbk": (case_table_gbk, 0, None, None),
    "table_per_row_crs": (case_table_per_row_crs, 0, "detected", "1 row(s) in GCJ02"),
    "table_bad_crs_row": (case_table_bad_crs_row, 2, "refusal", "row 3: unknown coordinate"),
    "table_bad_number": (case_table_bad_number, 2, "refusal", "row 3"),
    "table_gk_prefixed": (case_table_gk_prefixed, 0, "detected", "EPSG:4547"),
    "table_gk_mixed": (case_table_gk_mixed, 2, "refusal", "row"),
})
TABLE_CASES = sorted(k for k in CASES if k.startswith("table_"))


@pytest.mark.parametrize("name", TABLE_CASES)
def test_table_case_outcome(tmp_path, name):
    _assert_case(tmp_path, name)


def test_office_table_values(tmp_path):
    from riskmap.load.layers import read_source
    from riskmap.load.project import Source

    gdf, info = _read(case_table_office(tmp_path), read_source, Source)
    assert list(gdf["名称"]) == ["甲储煤场", "乙储煤场"]
    assert gdf.crs.to_epsg() == 4547
    import pyproj

    t = pyproj.Transformer.from_crs(4547, 4326, always_xy=True)
    lon, lat = t.transform(gdf.geometry.x.to_numpy(), gdf.geometry.y.to_numpy())
    assert lon[0] == pytest.approx(113.55, abs=1e-9) and lat[0] == pytest.approx(37.88, abs=1e-9)
    assert lon[1] == pytest.approx(113.56, abs=1e-9) and lat[1] == pytest.approx(37.89, abs=1e-9)
    assert any("title" in n for n in info.notes)


def test_gcj02_table_lands_within_half_a_metre(tmp_path):
    """A point exported from AMap (GCJ-02) comes back to its WGS84 place."""
    import pyproj

    from riskmap.crs import china
    from riskmap.load.layers import read_source
    from riskmap.load.project import Source

    glon, glat = china.wgs84_to_gcj02(LON, LAT)
    p = _csv(tmp_path, "amap.csv", f"名称,经度,纬度\n甲,{glon:.9f},{glat:.9f}\n")
    gdf, _ = _read(p, read_source, lambda path: Source(path=path, crs="GCJ02"))
    t = pyproj.Transformer.from_crs(4547, 4326, always_xy=True)
    lon, lat = t.transform(gdf.geometry.x[0], gdf.geometry.y[0])
    assert pyproj.Geod(ellps="WGS84").inv(lon, lat, LON, LAT)[2] < 0.5
    # read as if WGS84, the same point would be hundreds of metres off
    gdf2, _ = _read(p, read_source, Source)
    lon2, lat2 = t.transform(gdf2.geometry.x[0], gdf2.geometry.y[0])
    assert pyproj.Geod(ellps="WGS84").inv(lon2, lat2, LON, LAT)[2] > 100


def test_xian80_table_is_never_silently_cgcs2000(tmp_path):
    p = case_table_gk_prefixed(tmp_path)
    rc, rep = check(p, "--datum", "xian80")
    assert rc == 2 and "towgs84" in rep["files"][0]["refusal"]


# --- damaged and hostile inputs ------------------------------------------------------
def _shapefile(d: Path, name: str) -> Path:
    p = d / f"{name}.shp"
    points().to_file(p, encoding="utf-8")
    return p


def case_shp_no_shx(d: Path) -> Path:
    p = _shapefile(d, "no_shx")
    p.with_suffix(".shx").unlink()
    return p


def case_shp_no_dbf(d: Path) -> Path:
    p = _shapefile(d, "no_dbf")
    p.with_suffix(".dbf").unlink()
    return p


def case_dbf_billion(d: Path) -> Path:
    # the 4-byte record count at offset 4 of the .dbf header claims 10^9 records
    p = _shapefile(d, "dbf_billion")
    dbf = bytearray(p.with_suffix(".dbf").read_bytes())
    dbf[4:8] = (1_000_000_000).to_bytes(4, "little")
    p.with_suffix(".dbf").write_bytes(bytes(dbf))
    return p


def case_shp_zero_bytes(d: Path) -> Path:
    p = _shapefile(d, "zero_shp")
    p.write_bytes(b"")
    return p


_FEATURE = ('{{"type":"Feature","properties":{{"name":"{n}"}},'
            '"geometry":{{"type":"Point","coordinates":[{x},{y}]}}}}')


def _geojson_text(d: Path, name: str, x: str) -> Path:
    # written by hand: NaN and Infinity are not JSON, but GDAL reads them
    feats = [_FEATURE.format(n="甲", x=LON, y=LAT), _FEATURE.format(n="乙", x=x, y=LAT)]
    p = d / name
    p.write_text('{"type":"FeatureCollection","features":[' + ",".join(feats) + "]}",
                 encoding="utf-8")
    return p


def case_nan_coordinates(d: Path) -> Path:
    return _geojson_text(d, "nan.geojson", "NaN")


def case_inf_coordinates(d: Path) -> Path:
    return _geojson_text(d, "inf.geojson", "Infinity")


def case_nan_in_polygon(d: Path) -> Path:
    # a NaN vertex inside a ring: the envelope looks finite, GEOS would fail later
    p = d / "nan_ring.geojson"
    ring = f"[[{LON},{LAT}],[NaN,{LAT}],[{LON + 0.01},{LAT + 0.01}],[{LON},{LAT}]]"
    good = f"[[{LON},{LAT}],[{LON + 0.01},{LAT}],[{LON + 0.01},{LAT + 0.01}],[{LON},{LAT}]]"
    feats = [f'{{"type":"Feature","properties":{{"n":{i}}},"geometry":'
             f'{{"type":"Polygon","coordinates":[{r}]}}}}' for i, r in enumerate((good, ring))]
    p.write_text('{"type":"FeatureCollection","features":[' + ",".join(feats) + "]}",
                 encoding="utf-8")
    return p


def _bomb(path: Path, member: str, head: bytes, tail: bytes, size: int) -> Path:
    """A real zip bomb: ``size`` bytes of spaces inside a valid document, ~0.5 % compressed."""
    import zipfile

    chunk = b" " * (1 << 24)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z, \
            z.open(member, "w", force_zip64=True) as f:
        f.write(head)
        for _ in range(size // len(chunk)):
            f.write(chunk)
        f.write(tail)
    return path


def case_kmz_bomb(d: Path) -> Path:
    kml = KML.format(a=LON, b=LAT, c=LON + 0.01, e=LAT + 0.01).encode()
    cut = kml.index(b"</Document>")
    return _bomb(d / "bomb.kmz", "doc.kml", kml[:cut], kml[cut:], 1 << 30)  # 1 GiB


def case_zip_bomb(d: Path) -> Path:
    # a zipped GeoJSON (GDAL opens .zip through /vsizip/) padded to 256 MiB
    text = _geojson_text(d, "inner.geojson", str(LON + 0.01)).read_bytes()
    (d / "inner.geojson").unlink()
    return _bomb(d / "bomb.zip", "doc.geojson", text[:-1], text[-1:], 1 << 28)


def case_mixed_geometry(d: Path) -> Path:
    p = d / "mixed.gpkg"
    gpd.GeoDataFrame({"name": ["点", "线"]},
                     geometry=[shapely.Point(LON, LAT),
                               shapely.LineString([(LON, LAT), (LON + 0.01, LAT + 0.01)])],
                     crs="EPSG:4326").to_file(p, layer="mixed")
    return p


def case_table_gbk_line(d: Path) -> Path:
    # one row pasted from a GBK sheet into a UTF-8 file: decoded as GB18030, with a warning
    p = d / "gbk_line.csv"
    p.write_bytes(f"名称,经度,纬度\n甲,{LON},{LAT}\n".encode()
                  + f"乙储煤场,{LON + 0.01},{LAT}\n".encode("gbk")
                  + f"丙,{LON + 0.02},{LAT}\n".encode())
    return p


def case_table_bad_line(d: Path) -> Path:
    # a line that is neither UTF-8 nor GBK: refused, naming the line
    p = d / "bad_line.csv"
    p.write_bytes(f"名称,经度,纬度\n甲,{LON},{LAT}\n".encode() + b"\xff\xfe,1,2\n")
    return p


FORMULAS = ["=1+1", "+8613800000000", "-2", "@SUM(A1)", '=HYPERLINK("http://x.invalid","x")']


def case_table_formulas(d: Path) -> Path:
    rows = "".join(f'"{v.replace(chr(34), chr(34) * 2)}",{LON + 0.001 * i},{LAT}\n'
                   for i, v in enumerate(FORMULAS))
    return _csv(d, "formulas.csv", "名称,经度,纬度\n" + rows)


def case_table_formulas_xlsx(d: Path) -> Path:
    import xlsxwriter

    p = d / "formulas.xlsx"
    wb = xlsxwriter.Workbook(str(p), {"strings_to_formulas": False})
    ws = wb.add_worksheet("点位")
    ws.write_row(0, 0, ["名称", "经度", "纬度"])
    for i, v in enumerate(FORMULAS, start=1):
        ws.write_string(i, 0, v)
        ws.write_number(i, 1, LON + 0.001 * i)
        ws.write_number(i, 2, LAT)
    wb.close()
    return p


def case_table_real_formula_xlsx(d: Path) -> Path:
    # a real formula (no value saved, as openpyxl writes it) is never evaluated: the row
    # has no coordinates and is skipped, named
    import openpyxl

    p = d / "real_formula.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["名称", "经度", "纬度"])
    ws.append(["甲", LON, LAT])
    ws.append(['=HYPERLINK("http://x.invalid","x")', "=A1+1", LAT])
    wb.save(p)
    return p


HUGE = "<script>alert(1)</script>" + "矿" * 350_000  # > 1 MB in UTF-8


def case_huge_attribute(d: Path) -> Path:
    p = d / "huge.gpkg"
    points(2).assign(name=[HUGE, "普通"]).to_file(p)
    return p


EMOJI = "西沟\U0001F600村"


def case_emoji_names(d: Path) -> Path:
    p = d / "emoji.geojson"
    points(2).assign(name=[EMOJI, "东山村"]).to_file(p, driver="GeoJSON")
    return p


HOSTILE = {
    "shp_no_shx": (case_shp_no_shx, 2, "refusal", "缺少 no_shx.shx"),
    "shp_no_dbf": (case_shp_no_dbf, 2, "refusal", "缺少 no_dbf.dbf"),
    "dbf_billion": (case_dbf_billion, 1, "repairs", "claims 1,000,000,000 records"),
    "shp_zero_bytes": (case_shp_zero_bytes, 2, "refusal", "zero-byte"),
    "nan_coordinates": (case_nan_coordinates, 2, "refusal", "row 2 has NaN/Inf"),
    "inf_coordinates": (case_inf_coordinates, 2, "refusal", "row 2 has NaN/Inf"),
    "nan_in_polygon": (case_nan_in_polygon, 2, "refusal", "row 2 has NaN/Inf"),
    "kmz_bomb": (case_kmz_bomb, 2, "refusal", "limit is 200 MB"),
    "zip_bomb": (case_zip_bomb, 2, "refusal", "limit is 200 MB"),
    "mixed_geometry": (case_mixed_geometry, 0, None, None),
    "table_gbk_line": (case_table_gbk_line, 1, "repairs", "line 3 is GBK inside a UTF-8 file"),
    "table_bad_line": (case_table_bad_line, 2, "refusal", "line 3"),
    "table_formulas": (case_table_formulas, 0, None, None),
    "table_formulas_xlsx": (case_table_formulas_xlsx, 0, None, None),
    "table_real_formula_xlsx": (case_table_real_formula_xlsx, 1, "repairs",
                                "skipped 1 row(s) without coordinates (never placed at 0,0): "
                                "rows 3"),
    "huge_attribute": (case_huge_attribute, 0, None, None),
    "emoji_names": (case_emoji_names, 0, None, None),
}
CASES.update(HOSTILE)
HOSTILE_CASES = sorted(HOSTILE)


@pytest.mark.parametrize("name", HOSTILE_CASES)
def test_hostile_case_outcome(tmp_path, name):
    _assert_case(tmp_path, name)


def test_whole_corpus_as_one_folder(tmp_path):
    """``riskmap check FOLDER`` over every case at once: each file as pinned, no crash."""
    for name, (make, *_rest) in CASES.items():
        if name not in ("kmz_bomb", "zip_bomb"):  # (timed on their own below)
            (tmp_path / name).mkdir()
            make(tmp_path / name)
    rc, rep = check(tmp_path)
    assert rc == 2
    seen = {}
    for f in rep["files"]:
        case = Path(f["path"]).relative_to(tmp_path).parts[0]
        seen[case] = max(seen.get(case, 0), f["status"])
    want = {n: c[1] for n, c in CASES.items() if n not in ("kmz_bomb", "zip_bomb")}
    assert seen == want


@pytest.mark.parametrize("make", [case_kmz_bomb, case_zip_bomb])
def test_zip_bomb_is_refused_quickly_in_bounded_memory(tmp_path, make):
    import resource
    import time

    path = make(tmp_path)
    assert path.stat().st_size < 8 << 20  # a few MB on disk, 256 MiB–1 GiB inflated
    t0 = time.perf_counter()
    rc, rep = check(path)
    elapsed = time.perf_counter() - t0
    assert rc == 2 and path.name in rep["files"][0]["refusal"], rep
    assert elapsed < 10
    # the largest resident set of any child so far (every check run by this process)
    assert resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss < 600 * 1024  # KiB


def test_zip_bomb_is_refused_by_the_reader_itself(tmp_path):
    """A build reads layers through the same guard, not only ``riskmap check``."""
    from riskmap.errors import LayerError
    from riskmap.load.layers import ZIP_LIMIT_BYTES, read_source
    from riskmap.load.project import Source

    assert ZIP_LIMIT_BYTES == 200 * 1024 * 1024
    with pytest.raises(LayerError, match=r"bomb\.zip.*inflates to 256 MB"):
        read_source(Source(path=case_zip_bomb(tmp_path)), "EPSG:4547")


def test_small_kmz_and_zip_still_read(tmp_path):
    import zipfile

    rc, _ = check(case_kmz_folders(tmp_path))
    assert rc == 1  # as pinned above: one placemark without coordinates
    p = tmp_path / "zipped.zip"
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("a.geojson", _geojson_text(tmp_path, "a.geojson", str(LON)).read_text())
    rc, rep = check(p)
    assert rc == 0 and rep["files"][0]["features"] == 2


def test_dbf_undercount_is_reported(tmp_path):
    """A header claiming fewer records than the file holds makes GDAL drop rows: say so."""
    p = _shapefile(tmp_path, "dbf_short")
    dbf = bytearray(p.with_suffix(".dbf").read_bytes())
    dbf[4:8] = (2).to_bytes(4, "little")
    p.with_suffix(".dbf").write_bytes(bytes(dbf))
    rc, rep = check(p)
    assert rc == 1
    assert "claims 2 records but the file holds 3; read 2 feature(s)" in rep["files"][0][
        "repairs"][0]


def test_gbk_line_text_is_decoded(tmp_path):
    from riskmap.load.layers import read_source
    from riskmap.load.project import Source

    gdf, _ = _read(case_table_gbk_line(tmp_path), read_source, Source)
    assert list(gdf["名称"]) == ["甲", "乙储煤场", "丙"]


@pytest.mark.parametrize("make", [case_table_formulas, case_table_formulas_xlsx])
def test_formula_cells_load_as_text(tmp_path, make):
    """Cells starting with = + - @ are names, never evaluated or turned into numbers.

    The exports neutralise them: tests/test_ledger.py::test_text_helpers (csv_safe on
    = + - @ and tab), ::test_csv_twin and ::test_phones_and_formula_injection_stay_text
    (xlsx cells of type "s", never "f").
    """
    from riskmap.load.layers import read_source
    from riskmap.load.project import Source

    gdf, _ = _read(make(tmp_path), read_source, Source)
    assert list(gdf["名称"]) == FORMULAS
    assert all(isinstance(v, str) for v in gdf["名称"])


def test_huge_and_emoji_values_survive_reading(tmp_path):
    from riskmap.load.layers import read_source
    from riskmap.load.project import Source

    gdf, _ = _read(case_huge_attribute(tmp_path), read_source, Source)
    assert gdf["name"].iloc[0] == HUGE
    gdf, _ = _read(case_emoji_names(tmp_path), read_source, Source)
    assert gdf["name"].iloc[0] == EMOJI
    # map.pdf refuses a character its font lacks, naming it:
    # tests/test_pdf.py::test_character_missing_from_font_raises_and_writes_nothing


def test_mixed_geometry_refused_by_a_point_factor(tmp_path):
    """Points and lines in one layer load; a density factor (points only) says why not."""
    import pyogrio
    from click.testing import CliRunner
    from tinyproject import X0, Y0, make_project

    import riskmap.cli.check  # noqa: F401  (registers the command)
    from riskmap.cli import cli

    def edit(d):
        gdf = gpd.GeoDataFrame(
            {"name": ["矿", "巷道"]},
            geometry=[shapely.Point(X0 + 500, Y0 + 500),
                      shapely.LineString([(X0 + 600, Y0 + 600), (X0 + 900, Y0 + 700)])],
            crs="EPSG:4547")
        pyogrio.write_dataframe(gdf, tmp_path / "tiny.gpkg", layer="mixed")
        d["factors"].append({"name": "mixed_density", "label": "混合", "kind": "density",
                             "source": "tiny.gpkg:mixed", "bandwidth": 200, "weight": 5})

    proj = make_project(tmp_path, edit)
    r = CliRunner().invoke(cli, ["check", str(proj)])
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert ("factor mixed_density (混合) of kind 'density' cannot use LineString geometries; "
            "it needs points") in r.output
    assert "tiny.gpkg (图层 mixed)" in r.output


def test_raster_without_georeferencing_is_named(tmp_path):
    import warnings

    import numpy as np
    import rasterio
    from click.testing import CliRunner
    from test_evaluate import dated_project

    import riskmap.cli.evaluate  # noqa: F401  (registers the command)
    from riskmap.cli import cli

    proj = dated_project(tmp_path)
    for name, crs, missing in (("plain.tif", None, "no CRS and no geotransform"),
                               ("crs_only.tif", "EPSG:4547", "no geotransform")):
        tif = tmp_path / name
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            with rasterio.open(tif, "w", driver="GTiff", width=8, height=8, count=1,
                               dtype="float32", crs=crs) as f:
                f.write(np.ones((1, 8, 8), "float32"))
        r = CliRunner().invoke(cli, ["evaluate", str(proj), "--split", "2026-01-01", "--raster",
                                     str(tif), "--out", str(tmp_path / f"ev_{name}"), "-q"])
        assert r.exit_code == 1, (r.output, r.exception)
        assert isinstance(r.exception, SystemExit), r.exception  # no Python error leaks
        lines = [ln for ln in r.output.splitlines() if not ln.startswith("警告")]
        assert len(lines) == 1 and str(tif) in lines[0], r.output
        assert f"not georeferenced ({missing})" in lines[0]


# --- names that become folders ------------------------------------------------------
def test_township_names_cannot_leave_the_output_folder(tmp_path):
    """Townships named ``../../x`` and ``a:b*?`` build inside --out with safe folder names.

    A 1 MB village-layer name carrying a script tag reaches map.html escaped.
    """
    import pyogrio
    from click.testing import CliRunner

    import riskmap.cli.build  # noqa: F401  (registers the command)
    from riskmap.cli import cli

    proj_dir = tmp_path / "a" / "b" / "proj"
    proj_dir.mkdir(parents=True)

    def huge_mine_name(gpkg):
        m = pyogrio.read_dataframe(gpkg, layer="mines")
        m.loc[0, "name"] = HUGE
        pyogrio.write_dataframe(m, gpkg, layer="mines")

    proj = _renamed_townships(proj_dir, {"东镇": "../../x", "西镇": "a:b*?"}, huge_mine_name)
    out = proj_dir / "out"
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    r = CliRunner().invoke(cli, ["build", str(proj), "--out", str(out), "-q"])
    assert r.exit_code == 0, (r.output, r.exception)
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    new = [p for p in after if p not in before]
    assert new and all(str(p).startswith(str(out.relative_to(tmp_path))) for p in new), new
    folders = sorted(p.name for p in out.iterdir())
    assert len(folders) == 3 and "全区" in folders, folders
    for name in folders:
        assert not set(name) & set('\\/:*?"<>|') and name.strip(". ") == name, name
        assert (out / name / "map.html").is_file() and (out / name / "summary.json").is_file()
    summaries = [json.loads((out / n / "summary.json").read_text(encoding="utf-8"))
                 for n in folders]
    assert {s["area"] for s in summaries} == {"全区", "../../x", "a:b*?"}
    page = (out / "全区" / "map.html").read_text(encoding="utf-8")
    assert "<script>alert(1)" not in page and "\\u003cscript\\u003ealert(1)" in page
    assert "矿" * 350_000 in page  # the value went through whole, as text


def _renamed_townships(folder: Path, rename: dict, edit_more=None) -> Path:
    import pyogrio
    from tinyproject import make_project

    def edit(d):
        gpkg = folder / "tiny.gpkg"
        t = pyogrio.read_dataframe(gpkg, layer="townships")
        pyogrio.write_dataframe(t.assign(name=t["name"].map(rename)), gpkg, layer="townships")
        v = pyogrio.read_dataframe(gpkg, layer="villages")
        pyogrio.write_dataframe(v.assign(township=v["township"].map(rename)), gpkg,
                                layer="villages")
        if edit_more:
            edit_more(gpkg)

    return make_project(folder, edit)


def test_townships_sharing_a_folder_name_are_not_lost(tmp_path):
    from click.testing import CliRunner

    import riskmap.cli.build  # noqa: F401  (registers the command)
    from riskmap.cli import cli

    proj = _renamed_townships(tmp_path, {"东镇": "a:b", "西镇": "a*b"})
    out = tmp_path / "out"
    r = CliRunner().invoke(cli, ["build", str(proj), "--out", str(out), "-q"])
    if r.exit_code != 0:  # refused: naming both, writing nothing
        assert "a:b" in r.output and "a*b" in r.output and "Traceback" not in r.output
        assert not out.exists() or not any(out.iterdir())
        return
    areas = {json.loads(p.read_text(encoding="utf-8"))["area"]
             for p in out.glob("*/summary.json")}
    assert areas == {"全区", "a:b", "a*b"}


SAFE_NAME_CASES = ["../../x", "..", ".", "a:b*?", "a/b\\c", 'q"<>|', "tab\there", "名字",
                   "nul\x00byte"]


@pytest.mark.parametrize("name", SAFE_NAME_CASES)
def test_safe_name(tmp_path, name):
    from riskmap.export.atomic import safe_name

    s = safe_name(name)
    assert s and not set(s) & set('\\/:*?"<>|') and all(ord(c) >= 32 for c in s)
    assert s not in (".", "..") and s.strip(".") == s
    assert (tmp_path / s).resolve().parent == tmp_path.resolve()


@pytest.mark.parametrize("name", ["CON", "con", "NUL", "COM1", "LPT9", "AUX.txt", "PRN ",
                                  " 东镇 . "])
def test_safe_name_follows_windows_rules(name):
    from riskmap.export.atomic import safe_name

    s = safe_name(name)
    assert s.strip(". ") == s  # Windows drops trailing dots and spaces
    assert s.split(".")[0].strip().upper() not in {
        "CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
        *(f"LPT{i}" for i in range(1, 10))}
