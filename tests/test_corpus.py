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
    "gbk_no_cpg": (case_gbk_no_cpg, 0, "notes", "no .cpg: text decodes as GB18030"),
    "gbk_wrong_cpg": (case_gbk_wrong_cpg, 1, "repairs", ".cpg says UTF-8 but the text decodes"),
    "utf8_says_gbk": (case_utf8_says_gbk, 1, "repairs", ".cpg says GBK"),
    "no_prj": (case_no_prj, 2, "refusal", "no CRS"),
    "bowtie": (case_bowtie, 1, "repairs", "repaired 1 invalid polygon"),
    "collection": (case_collection, 1, "repairs", "split 1 geometry collection"),
    "duplicates": (case_duplicates, 0, "notes", "repeat another's geometry"),
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
    from riskmap.layers import read_source
    from riskmap.project import Source

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
    from riskmap.layers import read_source
    from riskmap.project import Source

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

    from riskmap import coords
    from riskmap.layers import read_source
    from riskmap.project import Source

    glon, glat = coords.wgs84_to_gcj02(LON, LAT)
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
