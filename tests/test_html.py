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
def browser(chromium):
    """The session's one headless Chromium (conftest): playwright runs one sync loop."""
    return chromium


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


# --- a phone, a tolerant search, every cell's popup, a large point layer ----------------------

PHONE = {"width": 390, "height": 844}
COVERAGE = """() => {
  const W = innerWidth, H = innerHeight, step = 2;
  const rects = [...document.querySelectorAll('.leaflet-control')]
    .map(e => e.getBoundingClientRect()).filter(r => r.width > 0 && r.height > 0);
  let hit = 0, all = 0;
  for (let y = 0; y < H; y += step) for (let x = 0; x < W; x += step) {
    all++;
    if (rects.some(r => x >= r.left && x < r.right && y >= r.top && y < r.bottom)) hit++;
  }
  const box = s => { const e = document.querySelector(s); if (!e) return null;
                     const r = e.getBoundingClientRect();
                     return [r.left, r.top, r.right, r.bottom]; };
  return {share: hit / all, legend: box('.rm-legend'), search: box('.rm-search'),
          title: box('.rm-title'), expanded: !!document.querySelector(
            '.leaflet-control-layers-expanded')};
}"""


def open_phone(browser, path):
    ctx = browser.new_context(offline=True, viewport=PHONE, is_mobile=True, has_touch=True,
                              device_scale_factor=2)
    page = ctx.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri())
    page.wait_for_function("window.riskmapReady === true", timeout=15000)
    return ctx, page, errors


def _inside(box, w=PHONE["width"], h=PHONE["height"]):
    return box is not None and box[0] >= 0 and box[1] >= 0 and box[2] <= w and box[3] <= h


@pytest.mark.parametrize("area", ["全区", "东镇"])
def test_phone_shows_the_map_unobstructed(built, browser, area, tmp_path):
    import os

    ctx, page, errors = open_phone(browser, built / area / "map.html")
    try:
        m = page.evaluate(COVERAGE)
        shot = tmp_path / f"phone_{area}.png"
        page.screenshot(path=str(shot))
        if os.environ.get("RISKMAP_SCREENSHOTS"):  # keep them, e.g. for a report
            shutil.copy(shot, os.path.join(os.environ["RISKMAP_SCREENSHOTS"], shot.name))
        assert not m["expanded"]  # the layer list starts behind its button
        assert m["share"] < 0.25, m
        for what in ("legend", "search", "title"):
            assert _inside(m[what]), (what, m)
        assert m["legend"][3] - m["legend"][1] < 60  # one or two lines
        page.tap(".leaflet-control-layers-toggle")
        page.wait_for_selector(".leaflet-control-layers-expanded")
        box = page.evaluate("() => { const r = document.querySelector("
                            "'.leaflet-control-layers-expanded').getBoundingClientRect();"
                            " return [r.left, r.top, r.right, r.bottom]; }")
        assert _inside(box), box  # the open list scrolls inside the screen
        assert errors == []
    finally:
        ctx.close()
    from PIL import Image

    im = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    h, w = im.shape[:2]
    middle = im[h // 4: 3 * h // 4, w // 6: 5 * w // 6]
    red = (middle[..., 0] > 180) & (middle[..., 1] < 90) & (middle[..., 2] < 90)
    assert red.sum() > 50  # class-5 cells drawn in the free middle of the screen


def _fullwidth(s):
    return "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else ("－" if c == "-" else c) for c in s)


def test_search_takes_ids_as_people_type_them(built, browser):
    from riskmap.export.pdf.layout import short_label

    cells = pyogrio.read_dataframe(built / "东镇" / "risk.gpkg", layer="cells")
    cid = cells.sort_values("score")["id"].iloc[0]
    e, n, cr = cid.split("-")
    ctx, page, errors = open_phone(browser, built / "东镇" / "map.html")
    try:
        for q in (cid, _fullwidth(cid), f"{e} {n} {cr}", f" {e}{n}{cr} ", f"{e}—{n}—{cr}",
                  f"{e}－{n}－{cr}", f"网格{cid}号", _fullwidth(f"{e} {n} {cr}"), f"{n}-{cr}"):
            assert page.evaluate("q => riskmapFind(q)", q) == [cid], q
        short = short_label(cid)
        hits = page.evaluate("q => riskmapFind(q)", short)
        assert cid in hits and all(h.endswith("-" + short) for h in hits)
        assert set(hits) == {c for c in cells["id"] if c.endswith("-" + short)}
        classes = cells.set_index("id").loc[hits, "class"].tolist()
        assert classes == sorted(classes, reverse=True)  # the top cells first
        assert page.evaluate("q => riskmapFind(q)", "999-9999-99") == []
        # as a phone user does it: full-width digits from the IME, then the button
        page.fill(".rm-search input", _fullwidth(cid))
        page.tap(".rm-search button")
        page.wait_for_selector(".leaflet-popup-content")
        assert cid in page.inner_text(".leaflet-popup-content")
        if len(hits) > 1:  # the short form: a list to pick from
            page.fill(".rm-search input", short)
            page.tap(".rm-search button")
            page.wait_for_selector(".rm-search .rm-pick")
            page.locator(".rm-search .rm-pick", has_text=cid).tap()
            page.wait_for_function("id => document.querySelector('.leaflet-popup-content')"
                                   ".innerText.includes(id)", arg=cid)
        assert errors == []
    finally:
        ctx.close()


def test_every_exported_cell_has_its_popup(built, browser):
    from pyproj import Transformer

    folder = built / "全区"
    cells = pyogrio.read_dataframe(folder / "risk.gpkg", layer="cells")
    ctx, page, errors = open_phone(browser, folder / "map.html")
    try:
        assert page.evaluate("riskmapCellIds") == cells["id"].tolist()
        recs = page.evaluate("ids => ids.map(riskmapCell)", cells["id"].tolist())
        for rec, row in zip(recs, cells.itertuples(), strict=True):
            assert rec["id"] == row.id
            assert rec["township"] == row.township and rec["village"] == row.village
            assert rec["score"] == pytest.approx(row.score, abs=0.005)
            assert rec["factors"] == [f for f in (row.top_factors or "").split("; ") if f]
        assert [r["class"] for r in recs] == cells["class"].tolist()
        assert all(r["factors"] for r in recs if r["class"] >= 4)
        # corners rebuilt in the page match pyproj to well under a metre
        to_ll = Transformer.from_crs(CRS, 4326, always_xy=True)
        got = np.array(page.evaluate("ids => ids.map(riskmapCorners)", cells["id"].tolist()))
        b = shapely.bounds(cells.geometry.values)
        xs = np.stack([b[:, 0], b[:, 2], b[:, 2], b[:, 0]], axis=1)
        ys = np.stack([b[:, 1], b[:, 1], b[:, 3], b[:, 3]], axis=1)
        lon, lat = to_ll.transform(xs, ys)
        err_m = np.hypot((got[..., 0] - lat) * 111_320,
                         (got[..., 1] - lon) * 111_320 * np.cos(np.radians(lat)))
        assert err_m.max() < 0.05
        # a tap on a cell of each class opens its popup with its factors
        for c in (3, 4, 5):
            row = cells.loc[cells["class"] == c].iloc[0]
            lonc, latc = to_ll.transform(row.x, row.y)
            xy = page.evaluate("""p => { riskmapMap.setView(p, 17, {animate: false});
                const q = riskmapMap.latLngToContainerPoint(p); return [q.x, q.y]; }""",
                               [latc, lonc])
            page.mouse.click(*xy)
            page.wait_for_function("id => (document.querySelector('.leaflet-popup-content')"
                                   " || {innerText: ''}).innerText.includes(id)", arg=row.id)
            text = page.inner_text(".leaflet-popup-content")
            assert "主要风险因素" in text
            for f in [f for f in (row.top_factors or "").split("; ") if f]:
                assert f in text
        assert errors == []
    finally:
        ctx.close()


def test_a_large_point_layer_is_counted_per_patrol_cell():
    """200,000 points over a 40 km district: a bounded number of squares, a small page."""
    import json

    from riskmap.export.weblayers import BINS_MAX, point_layer
    from riskmap.grid import Grid

    frame = Grid(CRS, X0, Y0 + 40_000, 100.0, 400, 400)
    rng = np.random.default_rng(3)
    centres = rng.uniform([X0, Y0], [X0 + 40_000, Y0 + 40_000], (300, 2))
    xy = centres[rng.integers(0, 300, 200_000)] + rng.normal(0, 400, (200_000, 2))
    gdf = gpd.GeoDataFrame({"name": [f"场所{i}" for i in range(len(xy))]},
                           geometry=shapely.points(xy), crs=CRS)
    layer = point_layer(gdf, ["name"], frame)
    assert layer["kind"] == "bins" and len(layer["n"]) <= BINS_MAX
    assert sum(layer["n"]) == 200_000
    assert len(json.dumps(layer, separators=(",", ":"))) < 60_000
    small = point_layer(gdf.iloc[:100], ["name"], frame)
    assert small["kind"] == "points" and len(small["lat"]) == 100


def test_missing_values_of_a_point_layer_are_null_in_strict_json():
    """A gap in a repeated column is JSON null: a NaN would stop the page's JSON.parse."""
    import json

    import pandas as pd

    from riskmap.export.html import _script_json
    from riskmap.export.weblayers import point_layer
    from riskmap.grid import Grid

    frame = Grid(CRS, X0, Y0 + 4_000, 100.0, 40, 40)
    n = 12
    gdf = gpd.GeoDataFrame(
        {"type": ["养殖场", None] * (n // 2), "size": [3.0, np.nan] * (n // 2),
         "count": pd.array([1, None] * (n // 2), dtype="Int64"),
         "opened": pd.to_datetime(["2020-01-02", None] * (n // 2)),
         "flag": [True, None] * (n // 2), "name": [f"院{i}" for i in range(n)]},
        geometry=shapely.points(np.arange(n) * 50.0 + X0, np.full(n, Y0 + 100.0)), crs=CRS)
    layer = point_layer(gdf, list(gdf.columns.drop("geometry")), frame)

    def refuse(token):
        raise AssertionError(f"{token} in the page's data")

    props = json.loads(_script_json(layer), parse_constant=refuse)["props"]
    assert props["type"] == {"k": [0, 1] * (n // 2), "u": ["养殖场", None]}
    assert props["size"]["u"] == [3.0, None] and props["count"]["u"] == [1.0, None]
    assert props["opened"]["u"] == ["2020-01-02", None]
    assert props["flag"]["u"] == ["True", None]
    assert props["name"] == [f"院{i}" for i in range(n)]


def test_big_premises_layer_map(tmp_path, browser):
    import json
    import re

    n = 200_000

    def edit(p):
        rng = np.random.default_rng(4)
        xy = rng.uniform([X0, Y0], [X0 + 2000, Y0 + 2000], (n, 2))
        gpd.GeoDataFrame({"name": [f"院落{i}" for i in range(n)], "type": "养殖场"},
                         geometry=shapely.points(xy), crs=CRS).to_file(
            tmp_path / "premises.gpkg", layer="premises", engine="pyogrio")
        p["factors"].append({"name": "premises", "label": "掩护场所",
                             "source": "premises.gpkg:premises", "kind": "typed",
                             "type_field": "type", "range": 300, "types": {"养殖场": 1.0},
                             "weight": 15})

    proj = make_project(tmp_path, edit)
    r = subprocess.run([sys.executable, "-m", "riskmap.cli", "build", str(proj), "-q"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    path = tmp_path / "out" / "全区" / "map.html"
    text = path.read_text(encoding="utf-8")
    assert path.stat().st_size < 600_000  # 200,000 points one by one would be ~ 15 MB
    data = json.loads(re.search(r'id="riskmap-data">(.*?)</script>', text, re.S).group(1))
    (prem,) = [i for i in data["inputs"] if i["label"].startswith("掩护场所")]
    assert prem["kind"] == "bins" and prem["bin"] == 1 and sum(prem["n"]) == n
    ctx, page, seen = open_map(browser, path)
    try:
        page.evaluate("""() => { const box = [...document.querySelectorAll(
            '.leaflet-control-layers-overlays label')].find(l => l.innerText.includes('掩护场所'));
            box.querySelector('input').click(); }""")
        assert page.evaluate("document.querySelectorAll('path.leaflet-interactive').length") \
            >= len(prem["n"])
        assert seen["errors"] == [] and seen["failed"] == []
    finally:
        ctx.close()


def test_effort_toggles_off_by_default_and_drawn_when_shown(tmp_path, browser):
    """With a field history: the effort and overdue layers are two toggles, off at first;
    shown, they draw every cell, and a tap on a checked cell says its effort."""
    from riskmap.field.history import History, Inspection, Week
    from riskmap.pipeline.build import build
    from riskmap.pipeline.exporters import export_html
    from riskmap.pipeline.project import load_project

    project = load_project(make_project(tmp_path))
    with History(project.history, project.crs) as h:
        h.add_file("f", "f.xlsx", [
            Inspection("451-4190-97", Week.parse("2026-W46"), "未发现", 451950, 4190750),
            Inspection("451-4190-88", Week.parse("2026-W40"), "发现疑似", 451850, 4190850)])
    build(project, townships=["东镇"], exporters=(export_html,))
    ctx, page, seen = open_map(browser, tmp_path / "out" / "东镇" / "map.html")
    try:
        layers = page.evaluate("window.riskmapEffort()")
        assert [x["kind"] for x in layers] == ["effort", "overdue"]
        assert layers[0]["n"] == 2 and layers[1]["n"] > 0
        assert not any(x["shown"] or x["drawn"] for x in layers)  # off by default: not drawn
        labels = page.evaluate("""() => [...document.querySelectorAll(
            '.leaflet-control-layers-overlays label')].map(l => [l.innerText.trim(),
            l.querySelector('input').checked])""")
        toggles = {t: on for t, on in labels if "巡查力度" in t or "久未巡查" in t}
        assert len(toggles) == 2 and not any(toggles.values())
        page.evaluate("""() => [...document.querySelectorAll(
            '.leaflet-control-layers-overlays label')].filter(l => /巡查力度|久未巡查/.test(
            l.innerText)).forEach(l => l.querySelector('input').click())""")
        layers = page.evaluate("window.riskmapEffort()")
        assert all(x["shown"] and x["drawn"] == x["n"] for x in layers)
        said = page.evaluate("window.riskmapEffortAt('451-4190-88')")
        assert any("发现 1 次" in t and "2026-W40" in t and "8 周前" in t for t in said)
        never = page.evaluate(f"window.riskmapEffortAt({layers[1]['first']!r})")
        assert any("从未排查" in t for t in never) or any("周前" in t for t in never)
        assert seen["errors"] == [] and seen["failed"] == []
    finally:
        ctx.close()
