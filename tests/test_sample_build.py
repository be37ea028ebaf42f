"""End to end: build the sample project as an analyst does, read it back with GDAL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import rasterio
import rasterio.windows

from riskmap.grid.cellid import parse_cell_id

ROOT = Path(__file__).resolve().parents[1]
TOWNSHIPS = ["荫营镇", "河底镇", "义井镇", "平坦镇", "西南舁乡", "李家庄乡", "旧街乡", "杨家庄乡"]

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def out(build):
    return build[0]


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample") / "outputs"
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_map.py"), "--out", str(out)],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    return out, r


def test_every_area_folder(build):
    out, r = build
    assert sorted(p.name for p in out.iterdir()) == sorted(["全区", *TOWNSHIPS])
    for t in TOWNSHIPS:
        assert t in r.stdout
    assert "总用时" in r.stdout
    assert "计算因子" in r.stderr  # progress on stderr


def test_gpkg_layers_and_columns(out):
    path = out / "荫营镇" / "risk.gpkg"
    layers = dict(pyogrio.list_layers(path))
    assert {"cells", "zones", "metadata", "input_townships", "input_closed_mines"} <= set(layers)
    cells = pyogrio.read_dataframe(path, layer="cells")
    assert cells.crs.to_epsg() == 4547
    need = {"id", "township", "village", "score", "class", "top_factors", "c_closed_mines",
            "v_closed_mines", "c_in_licence"}
    assert need <= set(cells.columns)
    assert (cells["township"] == "荫营镇").all()
    assert cells["class"].min() >= 3 and cells["class"].max() == 5
    assert cells["id"].is_unique
    assert (cells["village"] != "").mean() > 0.95
    # score = baseline + sum of contributions (rounded to 0.01 per column)
    summary = json.loads((out / "荫营镇" / "summary.json").read_text(encoding="utf-8"))
    c = cells[[col for col in cells.columns if col.startswith("c_")]].sum(axis=1)
    assert np.allclose(c + summary["score"]["baseline"], cells["score"], atol=0.1)
    # the words behind the score name Chinese labels with distances
    assert cells["top_factors"].str.contains(r" \d+ m \(\+\d+\)").any()
    meta = pyogrio.read_dataframe(path, layer="metadata")
    assert "class_thresholds" not in set(meta["key"]) and "classes" in set(meta["key"])


def test_ids_are_stable_across_outputs(out):
    town = pyogrio.read_dataframe(out / "义井镇" / "risk.gpkg", layer="cells")
    dist = pyogrio.read_dataframe(out / "全区" / "risk.gpkg", layer="cells").set_index("id")
    assert set(town["id"]) <= set(dist.index)
    d = dist.loc[town["id"]]
    assert np.array_equal(d["score"].to_numpy(), town["score"].to_numpy())
    assert np.array_equal(d["class"].to_numpy(), town["class"].to_numpy())
    # each id parses back to its own square
    for cid, geom in zip(town["id"][:200], town.geometry[:200], strict=True):
        x, y = parse_cell_id(cid, 100)
        assert geom.bounds == pytest.approx((x, y, x + 100, y + 100))


def test_township_tif_is_a_window_of_the_district(out):
    d, t = rasterio.open(out / "全区" / "risk.tif"), rasterio.open(out / "河底镇" / "risk.tif")
    with d, t:
        assert t.crs.to_epsg() == 4547 and t.dtypes[0] == "float32" and t.nodata == -9999
        assert t.res == d.res == (25.0, 25.0)
        win = rasterio.windows.from_bounds(*t.bounds, transform=d.transform)
        assert float(win.col_off).is_integer() and float(win.row_off).is_integer()
        a = t.read(1)
        b = d.read(1, window=win.round_offsets().round_lengths())
        valid = a != t.nodata
        assert valid.sum() > 10_000
        assert np.array_equal(a[valid], b[valid])
        assert (b[~valid] != d.nodata).any()  # other townships' cells are masked out
        assert 0 <= a[valid].min() and a[valid].max() <= 100
        assert json.loads(t.tags()["class_thresholds"]) == json.loads(d.tags()["class_thresholds"])


def test_summary(out):
    s = json.loads((out / "全区" / "summary.json").read_text(encoding="utf-8"))
    for key in ("project", "riskmap_version", "grid", "classes", "counts", "timings", "inputs",
                "marking", "build_date"):
        assert key in s
    assert s["grid"]["crs"] == "EPSG:4547" and s["grid"]["cell_size_m"] == 25
    counts = {int(k): v for k, v in s["counts"].items()}
    total = sum(counts.values())
    assert total == s["patrol_cells"]
    # quantile classes: class 5 is about the top 3 % of patrol cells
    assert 0.02 < counts[5] / total < 0.04
    assert len(s["classes"]["thresholds"]) == 4
    assert all(len(h) == 64 for h in s["inputs"].values())
    assert "sample.gpkg" in s["inputs"] and "tips.csv" in s["inputs"]
    # townships add up to the district
    towns = [json.loads((out / t / "summary.json").read_text(encoding="utf-8")) for t in TOWNSHIPS]
    assert sum(t["patrol_cells"] for t in towns) == s["patrol_cells"]


def test_html_is_marked_and_small(out):
    html = (out / "平坦镇" / "map.html").read_text(encoding="utf-8")
    assert "平坦镇 非法采矿巡查优先级图" in html and "内部资料 注意保密" in html
    for t in TOWNSHIPS:  # a township map at 25 m stays under 5 MB
        s = json.loads((out / t / "summary.json").read_text(encoding="utf-8"))
        size = (out / t / "map.html").stat().st_size
        assert size == s["map_html"]["bytes"] and size < 5_000_000


def test_township_package_holds_only_its_own_area(out):
    import shapely

    towns = pyogrio.read_dataframe(out / "全区" / "risk.gpkg", layer="input_townships")
    area = towns.loc[towns["name"] == "河底镇"].geometry.iloc[0]
    path = out / "河底镇" / "risk.gpkg"
    for layer, _ in pyogrio.list_layers(path):
        if not str(layer).startswith("input_") or layer == "input_townships":
            continue
        gdf = pyogrio.read_dataframe(path, layer=layer)
        if len(gdf):
            inside = shapely.covered_by(gdf.geometry.values, area.buffer(0.01))
            assert inside.all(), layer
    html = (out / "河底镇" / "map.html").read_text(encoding="utf-8")
    assert "荫营镇 非法采矿" not in html and "riskmap " in html
