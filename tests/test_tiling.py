"""Tile by tile equals all at once, exactly, for every factor kind."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from tinyproject import CRS, X0, Y0, make_project

from riskmap.load.inputs import load_inputs
from riskmap.pipeline.project import load_project
from riskmap.score.engine import compute
from riskmap.score.tiling import compute_tiled, tile_windows


def every_kind(folder):
    def edit(d):
        rng = np.random.default_rng(5)
        pts = rng.uniform(-300, 2300, (60, 2))
        gpd.GeoDataFrame(
            {"type": rng.choice(["养殖场", "车库", "废弃厂房"], 60),
             "w": rng.uniform(0.5, 2, 60),
             "date": [f"2026-0{m}-15" for m in rng.integers(1, 9, 60)]},
            geometry=shapely.points(pts + np.array([X0, Y0])), crs=CRS,
        ).to_file(folder / "more.gpkg", layer="points")
        d["factors"] += [
            {"name": "typed_prox", "source": "more.gpkg:points", "kind": "typed",
             "type_field": "type", "range": 250, "types": {"养殖场": 1, "车库": 0.4},
             "weight": 5},
            {"name": "typed_dens", "source": "more.gpkg:points", "kind": "typed",
             "type_field": "type", "method": "density", "bandwidth": 150,
             "types": {"养殖场": 1, "废弃厂房": 0.7}, "weight": 5},
            {"name": "dens_aged", "source": "more.gpkg:points", "kind": "density",
             "bandwidth": 100, "weight_field": "w", "date_field": "date",
             "half_life_days": 90, "weight": 5},
            {"name": "dens_fixed", "source": "more.gpkg:points", "kind": "density",
             "bandwidth": 120, "normalize": 50, "weight": 3},
            {"name": "edges", "source": "tiny.gpkg:rights", "kind": "proximity",
             "range": 300, "decay": "gaussian", "weight": 4},
            {"name": "many_far", "source": "more.gpkg:points", "kind": "proximity",
             "range": 1500, "decay": "exponential", "weight": 4},  # many points: EDT path
        ]

    return load_project(make_project(folder, edit))


@pytest.mark.parametrize("chunk", [8, 12, 36])
def test_tiled_equals_untiled(tmp_path, chunk):
    project = every_kind(tmp_path)
    inputs = load_inputs(project)
    whole = compute(project, inputs)
    tiled = compute_tiled(project, inputs, chunk=chunk, keep_score=True,
                          scheduler="synchronous")
    assert tiled.tiles > 1
    assert np.array_equal(np.isnan(whole.score), np.isnan(tiled.score))
    ok = np.isfinite(whole.score)
    assert np.array_equal(whole.score[ok], tiled.score[ok])
    assert np.array_equal(whole.p_class, tiled.p_class)
    assert np.array_equal(whole.thresholds, tiled.thresholds)


def test_threads_give_the_same(tmp_path):
    project = every_kind(tmp_path)
    inputs = load_inputs(project)
    a = compute_tiled(project, inputs, chunk=16, keep_score=True, scheduler="synchronous")
    b = compute_tiled(project, inputs, chunk=16, keep_score=True, scheduler="threads")
    assert np.array_equal(np.nan_to_num(a.score, nan=-1), np.nan_to_num(b.score, nan=-1))


def test_tile_windows_cover_the_grid_once(tmp_path):
    project = every_kind(tmp_path)
    from riskmap.score.engine import district_grid

    grid = district_grid(project, load_inputs(project).district)
    cover = np.zeros(grid.shape, int)
    for r0, c0, nr, nc in tile_windows(grid, 10, 4):  # 10 -> 8: whole patrol cells
        assert r0 % 4 == 0 and c0 % 4 == 0 and nr % 4 == 0 and nc % 4 == 0
        cover[r0:r0 + nr, c0:c0 + nc] += 1
    assert (cover == 1).all()


def test_score_command_streams_the_same_tif(tmp_path):
    import subprocess
    import sys

    import rasterio

    project = every_kind(tmp_path)
    r = subprocess.run([sys.executable, "-m", "riskmap", "score", str(project.path), "--chunk",
                        "12", "--out", str(tmp_path / "tiled"), "-q"], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, "-m", "riskmap", "build", str(project.path), "-q",
                        "--out", str(tmp_path / "whole")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    with rasterio.open(tmp_path / "tiled" / "risk.tif") as a, \
            rasterio.open(tmp_path / "whole" / "全区" / "risk.tif") as b:
        assert a.transform == b.transform and a.crs == b.crs
        assert np.array_equal(a.read(1), b.read(1))
    import json

    s = json.loads((tmp_path / "tiled" / "summary.json").read_text(encoding="utf-8"))
    w = json.loads((tmp_path / "whole" / "全区" / "summary.json").read_text(encoding="utf-8"))
    assert s["counts"] == w["counts"] and s["tiles"] > 1


def test_score_refuses_an_existing_output_before_reading_layers(tmp_path, monkeypatch):
    """`riskmap score` into an existing folder is refused before any layer is read."""
    import riskmap.pipeline.tiled as tiled
    from riskmap.errors import ExportError

    project = load_project(make_project(tmp_path))
    (tmp_path / "tiled").mkdir()

    def no_reading(*a, **kw):
        raise AssertionError("the layers were read")

    monkeypatch.setattr(tiled, "load_inputs", no_reading)
    with pytest.raises(ExportError, match="输出已存在"):
        tiled.score_tiled(project, tmp_path / "tiled")
