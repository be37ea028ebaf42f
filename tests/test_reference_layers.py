"""Reference layers (roads, rivers, settlements, a DOM) under the risk: check, sheets, map.html."""

from __future__ import annotations

import json
import subprocess
import sys

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
import yaml
from rasterio.transform import from_origin
from tinyproject import CRS, X0, Y0, make_project

from riskmap.errors import ProjectFileError
from riskmap.export.pdf.reference import CLASS_ALPHA_OVER, STYLES
from riskmap.marks import CLASS_COLOURS
from riskmap.pipeline.check import check_project_inputs
from riskmap.pipeline.project import load_project

ROAD = STYLES["roads"]["color"]
NAMES = ("张家庄", "李家沟")


def write_refs(d, *, dom_crs: str | None = CRS):
    """A road and a river across the district, two named settlements, a small RGB DOM."""
    gpd.GeoDataFrame({"名称": ["县道X1"]}, geometry=[shapely.LineString(
        [(X0 - 200, Y0 + 640), (X0 + 2200, Y0 + 700)])], crs=CRS).to_file(d / "道路.gpkg")
    gpd.GeoDataFrame({"名称": ["小河"]}, geometry=[shapely.LineString(
        [(X0 + 1500, Y0 - 100), (X0 + 1420, Y0 + 2100)])], crs=CRS).to_file(d / "水系.gpkg")
    gpd.GeoDataFrame({"名称": list(NAMES)},
                     geometry=[shapely.box(X0 + 1250, Y0 + 1250, X0 + 1400, Y0 + 1380),
                               shapely.Point(X0 + 1750, Y0 + 400)],
                     crs=CRS).to_file(d / "居民点.geojson", driver="GeoJSON")
    img = np.zeros((3, 200, 200), np.uint8)
    img[0], img[2] = 70, 60
    img[1] = np.linspace(90, 170, 200).astype(np.uint8)[None, :]
    prof = {"driver": "GTiff", "width": 200, "height": 200, "count": 3, "dtype": "uint8",
            "transform": from_origin(X0 - 100, Y0 + 2100, 11, 11)}
    if dom_crs:
        prof["crs"] = dom_crs
    with rasterio.open(d / "正射影像.tif", "w", **prof) as f:
        f.write(img)


def with_reference(p):
    p["reference"] = {"roads": "道路.gpkg", "rivers": {"path": "水系.gpkg"},
                      "settlements": {"path": "居民点.geojson", "name_field": "名称"},
                      "dom": "正射影像.tif"}


def riskmap(*args):
    return subprocess.run([sys.executable, "-m", "riskmap.cli", *map(str, args)],
                          capture_output=True, text=True)


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    """The tiny project built and planned with and without its reference layers."""
    out = {}
    for name, edit in (("plain", None), ("ref", with_reference)):
        d = tmp_path_factory.mktemp(name)
        proj = make_project(d, edit)
        write_refs(d)
        r = riskmap("build", proj, "-q")
        assert r.returncode == 0, r.stderr
        r = riskmap("plan", proj, "--week", "2026-W48", "--out", d / "plan", "--no-record",
                    "-q")
        assert r.returncode == 0, r.stderr
        out[name] = d
    return out


def _rgb(hexc):
    return np.array([int(hexc[i:i + 2], 16) for i in (1, 3, 5)], float)


def _render(pdf, tmp_path, name):
    from PIL import Image

    stem = tmp_path / name
    # PPM, not PNG: the same pixels without PNG's compression
    subprocess.run(["pdftoppm", "-r", "150", "-singlefile", str(pdf), str(stem)], check=True)
    return np.asarray(Image.open(f"{stem}.ppm").convert("RGB"))


def _near(im, colours, tol=14.0) -> int:
    """Pixels of the 8-bit RGB image ``im`` within ``tol`` of one of ``colours`` (every channel).

    A table per channel of which of the 256 values lie within ``tol`` (the same float
    comparison, made once per value instead of once per pixel).
    """
    v = np.arange(256, dtype=float)
    hit = np.zeros(im.shape[:2], bool)
    for c in colours:
        ok = [np.abs(v - c[k]) <= tol for k in range(3)]
        hit |= ok[0][im[..., 0]] & ok[1][im[..., 1]] & ok[2][im[..., 2]]
    return int(hit.sum())


def test_project_keys_checked_and_rebased(tmp_path):
    from riskmap.load.project import path_values, rebase_paths

    proj = make_project(tmp_path, with_reference)
    p = load_project(proj)
    assert [s.role for s in p.reference] == ["dom", "rivers", "roads", "settlements"]
    assert {s.role: s.name_field for s in p.reference}["settlements"] == "名称"
    raw = yaml.safe_load(proj.read_text(encoding="utf-8"))
    rebase_paths(raw, tmp_path, tmp_path / "sub")
    assert raw["reference"]["roads"] == "../道路.gpkg"
    assert raw["reference"]["settlements"] == {"path": "../居民点.geojson", "name_field": "名称"}
    assert len([1 for node, _ in path_values(raw) if node is raw["reference"]
                or node is raw["reference"]["rivers"]]) >= 3

    def bad(p):
        p["reference"] = {"roadz": "道路.gpkg"}

    (tmp_path / "b").mkdir()
    with pytest.raises(ProjectFileError, match=r"reference\.roadz"):
        load_project(make_project(tmp_path / "b", bad))

    def bad_dom(p):
        p["reference"] = {"dom": {"path": "x.tif", "where": "a = 1"}}

    (tmp_path / "c").mkdir()
    with pytest.raises(ProjectFileError, match=r"reference\.dom\.where"):
        load_project(make_project(tmp_path / "c", bad_dom))


def test_check_lists_each_reference_layer(tmp_path):
    proj = make_project(tmp_path, with_reference)
    write_refs(tmp_path)
    res = check_project_inputs(load_project(proj))
    assert res.ok, res.problems
    rows = {r.role: r for r in res.rows if r.role.startswith("reference")}
    assert set(rows) == {"reference dom (正射影像 (DOM))", "reference rivers (水系)",
                         "reference roads (道路)", "reference settlements (居民点)"}
    assert rows["reference roads (道路)"].features == 1
    assert rows["reference settlements (居民点)"].features == 2
    dom = rows["reference dom (正射影像 (DOM))"]
    assert "200×200" in dom.geom_types and dom.crs == CRS
    assert all(r.used_by == ("build", "plan") for r in rows.values())


def test_bad_dom_refused_by_check_and_build_alike(tmp_path):
    proj = make_project(tmp_path, with_reference)
    write_refs(tmp_path, dom_crs=None)
    res = check_project_inputs(load_project(proj))
    said = res.refusals("build")
    assert len(said) == 1 and "正射影像.tif" in said[0] and "no CRS" in said[0], said
    assert "crs: EPSG:4547" in said[0]  # the fix
    assert res.refusals("plan") == said and res.status("calibrate") != "refused"
    r = riskmap("build", proj, "-q")
    assert r.returncode != 0
    assert said[0] in r.stderr, r.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_map_pdf_shows_roads_under_the_cells(builds, tmp_path):
    road = _rgb(ROAD)
    a = CLASS_ALPHA_OVER
    under = [a * _rgb(CLASS_COLOURS[c]) + (1 - a) * road for c in range(1, 6)]
    got = {n: _render(builds[n] / "out" / "东镇" / "map.pdf", tmp_path, n) for n in builds}
    assert _near(got["ref"], under) > 300  # the road seen through the class colours
    assert _near(got["plain"], under) < 20
    assert _near(got["plain"], [road]) < 5


def test_settlement_names_on_the_sheet(builds):
    text = subprocess.run(["pdftotext", str(builds["ref"] / "out" / "东镇" / "map.pdf"), "-"],
                          capture_output=True, text=True, check=True).stdout
    for name in (*NAMES, "道路", "水系", "居民点", "正射影像"):
        assert name in text, name
    plain = subprocess.run(["pdftotext", str(builds["plain"] / "out" / "东镇" / "map.pdf"),
                            "-"], capture_output=True, text=True, check=True).stdout
    assert not any(n in plain for n in NAMES)


def test_plan_pdf_shows_reference_layers(builds, tmp_path):
    road = _rgb(ROAD)
    got = {n: _render(builds[n] / "plan" / "东镇" / "plan.pdf", tmp_path, f"plan_{n}")
           for n in builds}
    assert _near(got["ref"], [road], tol=10) > 100
    assert _near(got["plain"], [road], tol=10) < 5
    text = subprocess.run(["pdftotext", str(builds["ref"] / "plan" / "东镇" / "plan.pdf"), "-"],
                          capture_output=True, text=True, check=True).stdout
    assert "道路" in text and "正射影像" in text


def test_reference_is_not_a_factor(builds):
    s = {n: json.loads((builds[n] / "out" / "东镇" / "summary.json").read_text(encoding="utf-8"))
         for n in builds}
    assert s["ref"]["counts"] == s["plain"]["counts"]
    assert s["ref"]["classes"]["thresholds"] == s["plain"]["classes"]["thresholds"]
    ref = s["ref"]["reference"]
    assert ref["scored"] is False and ref["layers"]["roads"]["features"] == 1
    assert "道路.gpkg" in ref["hashes"]
    # and among the build's input hashes (a changed road layer is a changed build input)
    assert s["ref"]["inputs"]["道路.gpkg"] == ref["hashes"]["道路.gpkg"]
    assert "道路.gpkg" not in s["plain"]["inputs"]


def test_risk_gpkg_carries_the_reference_vectors_read_back_by_gdal(builds):
    import pyogrio

    path = builds["ref"] / "out" / "东镇" / "risk.gpkg"
    layers = {name for name, _ in pyogrio.list_layers(path)}
    assert {"input_reference_roads", "input_reference_settlements"} <= layers
    roads = pyogrio.read_dataframe(path, layer="input_reference_roads")
    assert len(roads) == 1 and roads.crs is not None
    plain = {n for n, _ in pyogrio.list_layers(builds["plain"] / "out" / "东镇" / "risk.gpkg")}
    assert not any(n.startswith("input_reference_") for n in plain)
    # styled and titled like every layer (QGIS shows the Chinese name)
    import sqlite3

    with sqlite3.connect(path) as db:
        styled = {r[0] for r in db.execute("SELECT f_table_name FROM layer_styles")}
        ident = dict(db.execute("SELECT table_name, identifier FROM gpkg_contents"))
    assert "input_reference_roads" in styled and "道路" in ident["input_reference_roads"]


def test_map_html_has_the_toggles_and_the_dom(builds, chromium):
    path = builds["ref"] / "out" / "东镇" / "map.html"
    plain = builds["plain"] / "out" / "东镇" / "map.html"
    assert path.stat().st_size - plain.stat().st_size < 400_000
    ctx = chromium.new_context(offline=True, viewport={"width": 1200, "height": 900})
    page = ctx.new_page()
    errors, requests = [], []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    try:
        page.goto(path.as_uri())
        page.wait_for_function("window.riskmapReady === true", timeout=15000)
        refs = page.evaluate("window.riskmapReference()")
        assert [r["kind"] for r in refs] == ["dom", "rivers", "roads", "settlements"]
        assert all(r["shown"] for r in refs)
        assert refs[-1]["names"] == 2
        img = page.evaluate("""() => { const i = document.querySelector(
            '.leaflet-rmRef-pane img.leaflet-image-layer');
            return i ? [i.src.slice(0, 23), i.naturalWidth, i.naturalHeight] : null; }""")
        assert img is not None and img[0] == "data:image/jpeg;base64,"
        assert max(img[1:]) <= 1024
        labels = page.evaluate("""() => [...document.querySelectorAll(
            '.leaflet-control-layers-overlays label')].map(l => l.textContent)""")
        for want in ("正射影像", "水系", "道路", "居民点"):
            assert any(want in t for t in labels), (want, labels)
        text = page.evaluate("document.body.innerText")
        assert all(n in text for n in NAMES)
        # off and on again: still under the risk (its own pane below the overlays)
        page.evaluate("""() => { const box = [...document.querySelectorAll(
            '.leaflet-control-layers-overlays label')].find(l => l.textContent.includes('道路'))
            .querySelector('input'); box.click(); box.click(); }""")
        assert page.evaluate("window.riskmapReference()")[2]["shown"]
        z = page.evaluate("getComputedStyle(document.querySelector('.leaflet-rmRef-pane'))"
                          ".zIndex")
        assert int(z) < 400
        assert errors == []
        assert all(u.startswith(("file:", "data:")) for u in requests), requests
    finally:
        ctx.close()


def test_county_b_builds_with_reference_layers(tmp_path):
    from countyb.cache import county_b as make_county_b

    project = make_county_b(tmp_path)
    raw = yaml.safe_load(project.read_text(encoding="utf-8"))
    crs = raw["crs"]
    from riskmap.load.inputs import read_areas

    district, towns = read_areas(load_project(project))
    x0, y0, x1, y1 = district.bounds
    cy = (y0 + y1) / 2
    # a road across the county's bounds, in lon/lat (any CRS is reprojected)
    gpd.GeoDataFrame({"名称": ["省道S1"]}, geometry=[shapely.LineString(
        [(x0 - 500, cy), (x1 + 500, cy + 300)])], crs=crs).to_crs(4326).to_file(
        tmp_path / "参考_道路.geojson", driver="GeoJSON")
    pts = shapely.point_on_surface(district)
    gpd.GeoDataFrame({"名称": ["参考村"]}, geometry=[pts], crs=crs).to_file(
        tmp_path / "参考_居民点.gpkg")
    with rasterio.open(tmp_path / "参考_影像.tif", "w", driver="GTiff", width=64, height=64,
                       count=1, dtype="uint16", crs="EPSG:4326",
                       transform=from_origin(111.5, 37.3, 0.01, 0.01)) as f:
        f.write(np.arange(64 * 64, dtype=np.uint16).reshape(1, 64, 64))
    raw["reference"] = {"roads": "参考_道路.geojson",
                        "settlements": {"path": "参考_居民点.gpkg", "name_field": "名称"},
                        "dom": "参考_影像.tif"}
    project.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False),
                       encoding="utf-8")
    res = check_project_inputs(load_project(project))
    assert res.status("build") == "ok", res.refusals("build")
    town = str(towns["name"].iloc[0])
    r = riskmap("build", project, "--township", town, "--out", tmp_path / "out", "-q")
    assert r.returncode == 0, r.stderr[-2000:]
    s = json.loads((tmp_path / "out" / town / "summary.json").read_text(encoding="utf-8"))
    assert set(s["reference"]["layers"]) == {"roads", "settlements", "dom"}
    assert (tmp_path / "out" / town / "map.pdf").stat().st_size > 0
