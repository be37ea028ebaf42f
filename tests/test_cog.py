"""risk.tif and risk_class.tif as Cloud-Optimized GeoTIFFs (``rio cogeo validate``'s checks)."""

from __future__ import annotations

import itertools
import json
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pyogrio
import pytest
import rasterio
from tinyproject import make_project

from riskmap.export.tif import CLASS_TIF, write_class_tif, write_score_tif
from riskmap.grid import Grid
from riskmap.marks import CLASS_COLOURS, CLASS_NAMES


def tiff_ifds(path) -> list[dict]:
    """Each IFD of a (Big)TIFF: its offset, width and tile offsets, in file order."""
    data = path.read_bytes()
    bo = "<" if data[:2] == b"II" else ">"
    big = struct.unpack(bo + "H", data[2:4])[0] == 43
    off = struct.unpack(bo + ("Q" if big else "I"), data[8:16] if big else data[4:8])[0]
    out = []
    while off:
        n = struct.unpack(bo + ("Q" if big else "H"), data[off:off + (8 if big else 2)])[0]
        p, size = off + (8 if big else 2), (20 if big else 12)
        tags = {}
        for i in range(n):
            e = data[p + i * size:p + (i + 1) * size]
            tag, typ, cnt = struct.unpack(bo + ("HHQ" if big else "HHI"), e[:12 if big else 8])
            tags[tag] = (typ, cnt, e[12:] if big else e[8:])
        typ, cnt, val = tags[324]  # TileOffsets
        fmt = {4: "I", 16: "Q"}[typ]
        width = struct.calcsize(fmt) * cnt
        if width > len(val):
            at = struct.unpack(bo + ("Q" if big else "I"), val)[0]
            val = data[at:at + width]
        offsets = [o for o in struct.unpack(bo + fmt * cnt, val[:width]) if o]
        w_typ, _, w_val = tags[256]
        w = struct.unpack(bo + ("H" if w_typ == 3 else "I"), w_val[:2 if w_typ == 3 else 4])[0]
        out.append({"offset": off, "width": w, "tiles": offsets, "tiled": 322 in tags})
        nxt = p + n * size
        off = struct.unpack(bo + ("Q" if big else "I"), data[nxt:nxt + (8 if big else 4)])[0]
    return out


def assert_cog(path, *, overviews: bool = True) -> None:
    with rasterio.open(path) as src:
        assert src.driver == "GTiff" and src.profile["tiled"]
        assert src.block_shapes[0] == (256, 256) or max(src.shape) < 256
        assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert src.compression is not None
        if overviews:
            assert src.overviews(1), "no internal overviews"
    head = path.read_bytes()[:2000]
    assert b"LAYOUT=IFDS_BEFORE_DATA" in head and b"BLOCK_ORDER=ROW_MAJOR" in head
    ifds = tiff_ifds(path)
    assert all(i["tiled"] for i in ifds)
    first_tile = min(min(i["tiles"]) for i in ifds)
    assert all(i["offset"] < first_tile for i in ifds)  # every IFD before the data
    widths = [i["width"] for i in ifds]
    assert widths == sorted(widths, reverse=True)  # full resolution, then smaller overviews
    for big, small in itertools.pairwise(ifds):  # overview data first, the smallest first
        assert max(small["tiles"]) < min(big["tiles"])


@pytest.fixture
def big_grid():
    return Grid("EPSG:4547", 450_000.0, 4_200_000.0, 25.0, 1100, 900)


def test_score_is_a_cog(tmp_path, big_grid):
    rng = np.random.default_rng(1)
    score = (rng.random(big_grid.shape) * 100).astype(np.float32)
    score[:50] = np.nan
    path = tmp_path / "risk.tif"
    write_score_tif(path, score, big_grid, {"marking": "内部资料"}, thresholds=[10, 20, 30, 40])
    assert_cog(path)
    with rasterio.open(path) as src:
        assert src.overviews(1) == [2, 4, 8] and src.nodata == -9999 and src.dtypes[0] == "float32"
        a = src.read(1)
        assert np.array_equal(a[50:], score[50:]) and (a[:50] == -9999).all()
        assert src.tags()["marking"] == "内部资料"
        assert src.crs.to_epsg() == 4547
    qml = ET.fromstring((tmp_path / "risk.qml").read_text(encoding="utf-8").split("\n", 1)[1])
    items = qml.findall(".//colorrampshader/item")
    assert [i.get("color") for i in items] == [CLASS_COLOURS[c] for c in range(1, 6)]
    assert [i.get("value") for i in items] == ["10.0000", "20.0000", "30.0000", "40.0000", "inf"]


def test_class_raster_has_its_colour_table_and_names(tmp_path, big_grid):
    rng = np.random.default_rng(2)
    classes = rng.integers(0, 6, big_grid.shape).astype(np.uint8)
    path = tmp_path / CLASS_TIF
    write_class_tif(path, classes, big_grid)
    assert_cog(path)
    with rasterio.open(path) as src:
        assert src.dtypes[0] == "uint8" and src.nodata == 0
        assert np.array_equal(src.read(1), classes)
        cmap = src.colormap(1)
        for c, hexc in CLASS_COLOURS.items():
            assert cmap[c] == (*(int(hexc[i:i + 2], 16) for i in (1, 3, 5)), 255)
        assert cmap[0][3] == 0  # outside: transparent
        assert src.tags(1)["CLASS_5"] == CLASS_NAMES[5]
    aux = ET.parse(str(path) + ".aux.xml").getroot()
    assert [c.text for c in aux.iter("Category")][1:] == [CLASS_NAMES[c] for c in range(1, 6)]
    qml = ET.fromstring((tmp_path / "risk_class.qml").read_text(encoding="utf-8")
                        .split("\n", 1)[1])
    entries = {e.get("value"): (e.get("color"), e.get("label")) for e in qml.iter("paletteEntry")}
    assert entries == {str(c): (CLASS_COLOURS[c], CLASS_NAMES[c]) for c in range(1, 6)}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    d = tmp_path_factory.mktemp("cog")
    proj = make_project(d)
    r = subprocess.run([sys.executable, "-m", "riskmap", "build", str(proj), "-q"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return d / "out"


def test_build_writes_both_rasters_as_cogs(built):
    for area in ("全区", "东镇"):
        folder = built / area
        assert_cog(folder / "risk.tif", overviews=False)  # 80 x 80 cells: no overview needed
        assert_cog(folder / CLASS_TIF, overviews=False)
        s = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
        assert CLASS_TIF in s["outputs"]
        with rasterio.open(folder / "risk.tif") as t, rasterio.open(folder / CLASS_TIF) as c:
            assert t.transform == c.transform and t.shape == c.shape
            score, cls = t.read(1), c.read(1)
            assert np.array_equal(score == t.nodata, cls == 0)  # the same area
            assert set(np.unique(cls)) <= {0, 1, 2, 3, 4, 5}
            cells = pyogrio.read_dataframe(folder / "risk.gpkg", layer="cells")
            rows, cols = rasterio.transform.rowcol(c.transform, cells["x"], cells["y"])
            assert np.array_equal(cls[rows, cols], cells["class"].to_numpy())


def test_qgis_draws_the_rasters_in_the_map_colours(built):
    from test_gpkg_styles import _qgis_python

    exe = _qgis_python()
    if exe is None:
        pytest.skip("QGIS's Python (apt-get install python3-qgis) cannot be imported")
    probe = r"""
import json, os, sys
from qgis.core import QgsApplication, QgsRasterLayer
app = QgsApplication([], False)
app.initQgis()
c = QgsRasterLayer(sys.argv[1], "c")
s = QgsRasterLayer(sys.argv[2], "s")
out = {"class": [c.renderer().type(),
                 [[e.value, e.label, e.color.name()] for e in c.renderer().classes()]],
       "score": [s.renderer().type(),
                 [[i.label, i.color.name()] for i in
                  s.renderer().shader().rasterShaderFunction().colorRampItemList()]]}
print(json.dumps(out, ensure_ascii=False), flush=True)
os._exit(0)
"""
    folder = built / "东镇"
    r = subprocess.run([exe, "-c", probe, str(folder / CLASS_TIF), str(folder / "risk.tif")],
                       capture_output=True, text=True, timeout=120,
                       env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin",
                            "HOME": str(folder.parent)})
    assert r.returncode == 0, r.stderr
    seen = json.loads(r.stdout.strip().splitlines()[-1])
    assert seen["class"] == ["paletted", [[float(c), CLASS_NAMES[c], CLASS_COLOURS[c]]
                                          for c in range(5, 0, -1)]]
    kind, items = seen["score"]
    assert kind == "singlebandpseudocolor"
    assert [i[1] for i in items] == [CLASS_COLOURS[c] for c in range(1, 6)]
    assert items[4][0].startswith(CLASS_NAMES[5])


def test_gdal_validates_the_cogs(tmp_path, big_grid):
    """GDAL's own validator (osgeo_utils, e.g. Debian's python3-gdal), where installed."""
    exe = None
    for cand in dict.fromkeys([sys.executable, "/usr/bin/python3"]):
        r = subprocess.run([cand, "-c", "import osgeo_utils.samples."
                            "validate_cloud_optimized_geotiff"], capture_output=True)
        if r.returncode == 0:
            exe = cand
            break
    if exe is None:
        pytest.skip("GDAL's Python utilities (osgeo_utils) cannot be imported")
    score = np.random.default_rng(5).random(big_grid.shape).astype(np.float32) * 100
    write_score_tif(tmp_path / "risk.tif", score, big_grid)
    write_class_tif(tmp_path / CLASS_TIF, (score // 20 + 1).astype(np.uint8), big_grid)
    for name in ("risk.tif", CLASS_TIF):
        r = subprocess.run([exe, "-m", "osgeo_utils.samples.validate_cloud_optimized_geotiff",
                            "--full-check=yes", str(tmp_path / name)],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and "is a valid cloud optimized GeoTIFF" in r.stdout, \
            r.stdout + r.stderr
