"""map.html in a real headless Chromium with the network off."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
from tinyproject import CRS, X0, Y0, make_project

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PAYLOAD = '<img src=x onerror="window.__pwned=1">'


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    d = tmp_path_factory.mktemp("html")

    def edit(p):
        names = ["养殖场", "废弃厂房", "车库", "养殖场"]
        gpd.GeoDataFrame(
            {"name": [PAYLOAD, "东庄养殖场", "<script>window.__pwned=2</script>", "西庄"],
             "type": names},
            geometry=shapely.points([(X0 + 500, Y0 + 500), (X0 + 1500, Y0 + 1500),
                                     (X0 + 900, Y0 + 1100), (X0 + 300, Y0 + 1800)]),
            crs=CRS).to_file(d / "premises.gpkg", layer="premises")
        p["factors"].append({"name": "premises", "label": "掩护场所<b>!</b>",
                             "source": "premises.gpkg:premises", "kind": "typed",
                             "type_field": "type", "range": 300,
                             "types": {"养殖场": 1.0, "废弃厂房": 0.9, "车库": 0.5},
                             "weight": 15})

    proj = make_project(d, edit)
    v = pyogrio.read_dataframe(d / "tiny.gpkg", layer="villages")
    v["name"] = [PAYLOAD, "东二村", "西村"]
    pyogrio.write_dataframe(v, d / "tiny.gpkg", layer="villages")
    r = subprocess.run([sys.executable, "-m", "riskmap.cli", "build", str(proj), "-q"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return d / "out"


@pytest.fixture(scope="module")
def browser():
    assert CHROMIUM, "Debian's chromium is needed for the HTML tests (apt-get install chromium)"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        yield b
        b.close()


def open_map(browser, path):
    ctx = browser.new_context(offline=True, viewport={"width": 1200, "height": 900})
    page = ctx.new_page()
    seen = {"requests": [], "failed": [], "errors": []}
    page.on("request", lambda r: seen["requests"].append(r.url))
    page.on("requestfailed", lambda r: seen["failed"].append(r.url))
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))
    page.goto(path.as_uri())
    page.wait_for_function("window.riskmapReady === true", timeout=15000)
    return ctx, page, seen


def test_map_starts_offline_and_draws_the_top_cells(built, browser):
    path = built / "东镇" / "map.html"
    cells = pyogrio.read_dataframe(built / "东镇" / "risk.gpkg", layer="cells")
    n5 = int((cells["class"] == 5).sum())
    assert n5 > 0
    ctx, page, seen = open_map(browser, path)
    try:
        assert page.evaluate("typeof L") == "object"
        assert page.evaluate("L.version") == "1.9.4"
        n = page.evaluate("document.querySelectorAll('path[stroke=\"#7f0000\"]').length")
        assert n == n5
        assert seen["failed"] == [] and seen["errors"] == []
        assert all(u.startswith(("file:", "data:")) for u in seen["requests"]), seen["requests"]
        png = page.screenshot()
    finally:
        ctx.close()
    from PIL import Image

    im = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    assert im.std() > 20  # not blank
    red = (im[..., 0] > 180) & (im[..., 1] < 90) & (im[..., 2] < 90)
    assert red.sum() > 100  # class-5 red is on screen


def test_no_script_runs_from_data(built, browser):
    for area in ("全区", "东镇", "西镇"):
        ctx, page, seen = open_map(browser, built / area / "map.html")
        try:
            # open every popup so escaped text is put into the DOM
            page.evaluate("""() => { riskmapMap.eachLayer(l => {
                if (l.getPopup && l.getPopup()) { l.openPopup(); } }); }""")
            page.wait_for_timeout(200)
            assert page.evaluate("window.__pwned") is None
            assert page.evaluate("document.querySelectorAll('img[src=\"x\"]').length") == 0
            assert page.evaluate("document.querySelectorAll('b').length") >= 1
            assert seen["errors"] == []
            text = page.evaluate("document.body.innerText")
            assert "掩护场所<b>!</b>: " in text  # a label from the project file, as text
            if area == "东镇":
                assert PAYLOAD in text  # the village name, shown as text on the map
        finally:
            ctx.close()


def test_search_by_cell_id(built, browser):
    cells = pyogrio.read_dataframe(built / "东镇" / "risk.gpkg", layer="cells")
    cid = cells.sort_values("score")["id"].iloc[0]  # a class-3 cell: not a polygon
    ctx, page, _ = open_map(browser, built / "东镇" / "map.html")
    try:
        page.fill(".rm-search input", cid)
        page.click(".rm-search button")
        page.wait_for_selector(".leaflet-popup-content")
        assert cid in page.inner_text(".leaflet-popup-content")
        page.fill(".rm-search input", "999-9999-99")
        page.click(".rm-search button")
        assert "未找到" in page.inner_text(".rm-search .rm-msg")
    finally:
        ctx.close()


def test_html_is_self_contained(built):
    text = (built / "全区" / "map.html").read_text(encoding="utf-8")
    assert "http://" not in text.replace("http://www.w3.org", "")
    for cdn in ("cdn.", "unpkg", "jsdelivr", "googleapis", "bootstrap"):
        assert cdn not in text
    assert "内部资料 注意保密" in text


def test_build_reports_html_size_and_load_time(tmp_path):
    import json

    proj = make_project(tmp_path, lambda d: d.update(map={"measure_load": True}))
    r = subprocess.run([sys.executable, "-m", "riskmap", "build", str(proj), "-q",
                        "--township", "西镇"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    folder = tmp_path / "out" / "西镇"
    s = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    assert s["map_html"]["bytes"] == (folder / "map.html").stat().st_size
    assert 0 < s["map_html"]["load_s"] < 10
