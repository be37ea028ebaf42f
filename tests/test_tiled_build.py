"""The tiled build: every township's package from its own window, equal to the one-grid build."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio
from tinyproject import X0, make_project

from riskmap.errors import GridError
from riskmap.load.inputs import load_inputs
from riskmap.pipeline.build import EXPORTERS, build
from riskmap.pipeline.exporters import export_html, export_sheet
from riskmap.pipeline.project import load_project
from riskmap.pipeline.tiledbuild import engine_for, tiled_build
from riskmap.score import engine, tiling
from riskmap.score.engine import compute
from riskmap.score.tiling import area_window, compute_tiled, window_surface

TOWNS = ("东镇", "西镇")
# the tiny district is 80 x 80 cells of 25 m, about 0.34 MiB for one grid; a township's
# window (80 x 44 cells) about 0.19 MiB
FORCED_MIB = 0.25


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The tiny project built both ways; the tiled build records every grid it scores on."""
    tmp = tmp_path_factory.mktemp("tiledbuild")
    project = load_project(make_project(tmp))
    # the one-grid build without its maps (the tiled build draws them: its packages are whole)
    build(project, out=tmp / "whole", exporters=[e for e in EXPORTERS if e not in (
        export_html, export_sheet)])
    grids = []
    real = tiling.factor_on_grid

    def record(spec, gdf, grid, *a, **kw):
        grids.append((spec.name, grid, len(gdf)))
        return real(spec, gdf, grid, *a, **kw)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tiling, "factor_on_grid", record)  # the tiles
        mp.setattr(engine, "factor_on_grid", record)  # the townships' windows (compute_window)
        report = tiled_build(project, out=tmp / "tiled", chunk=16, scheduler="synchronous")
    return project, tmp, report, grids


def _cells(path, layer="cells"):
    df = pyogrio.read_dataframe(path, layer=layer)
    return df.sort_values("id").reset_index(drop=True)


def _tif(path):
    with rasterio.open(path) as r:
        return r.read(1), r.transform


def _summary(folder):
    return json.loads((folder / "summary.json").read_text(encoding="utf-8"))


def test_every_township_gets_the_one_grid_package(built):
    _, tmp, report, _ = built
    assert [a.name for a in report.areas] == ["全区", *TOWNS] and report.tiles > 1
    for town in TOWNS:
        whole, tiled = tmp / "whole" / town, tmp / "tiled" / town
        assert {p.name for p in tiled.iterdir()} == {p.name for p in whole.iterdir()} | {
            "map.html", "map.pdf"}
        assert {"risk.tif", "risk_class.tif", "risk.gpkg", "map.html", "map.pdf",
                "summary.json"} <= {p.name for p in tiled.iterdir()}
        a, b = _cells(whole / "risk.gpkg"), _cells(tiled / "risk.gpkg")
        assert len(a) and list(a.columns) == list(b.columns)
        pd.testing.assert_frame_equal(a.drop(columns="geometry"), b.drop(columns="geometry"))
        assert a.geometry.geom_equals(b.geometry).all()
        for name in ("risk.tif", "risk_class.tif"):
            (x, tx), (y, ty) = _tif(whole / name), _tif(tiled / name)
            assert tx == ty and np.array_equal(x, y), (town, name)
        sa, sb = _summary(whole), _summary(tiled)
        for key in ("counts", "classes", "grid", "patrol_cells", "exported_cells", "zones"):
            assert sa[key] == sb[key], (town, key)
        assert sb["tiled"]["engine"] == "tiled" and "tiled" not in sa


def test_the_district_folder_streams_the_same_score(built):
    tmp = built[1]
    whole, tiled = tmp / "whole" / "全区", tmp / "tiled" / "全区"
    assert {p.name for p in tiled.iterdir()} >= {"risk.tif", "risk_class.tif", "risk.gpkg",
                                                 "summary.json"}
    (x, tx), (y, ty) = _tif(whole / "risk.tif"), _tif(tiled / "risk.tif")
    assert tx == ty and np.array_equal(x, y)
    # classes on the patrol grid: each patrol cell's class is the one-grid build's
    cls, _ = _tif(tiled / "risk_class.tif")
    fine, _ = _tif(whole / "risk_class.tif")
    k = 4
    assert np.array_equal(cls, fine.reshape(cls.shape[0], k, cls.shape[1], k).max(axis=(1, 3)))
    sa, sb = _summary(whole), _summary(tiled)
    assert sa["counts"] == sb["counts"] and sa["classes"]["thresholds"] == sb["classes"][
        "thresholds"]
    assert sb["exported_min_class"] == 5 and "class-5" in sb["package"]["note"]
    five = _cells(whole / "risk.gpkg").query("`class` == 5").reset_index(drop=True)
    got = _cells(tiled / "risk.gpkg")
    assert len(got) == sb["exported_cells"] == len(five) > 0
    pd.testing.assert_frame_equal(five.drop(columns="geometry"), got.drop(columns="geometry"))
    za, zb = (pyogrio.read_dataframe(f / "risk.gpkg", layer="zones") for f in (whole, tiled))
    pd.testing.assert_frame_equal(za.drop(columns="geometry"), zb.drop(columns="geometry"))


def test_each_township_reads_only_its_window_plus_halo(built):
    project, tmp, _, grids = built
    inputs = load_inputs(project)
    from riskmap.score.engine import district_grid

    grid = district_grid(project, inputs.district)
    for i, town in enumerate(TOWNS):
        win = area_window(grid, 4, inputs.townships.geometry.values[i])
        note = _summary(tmp / "tiled" / town)["tiled"]
        assert note["window"]["shape"] == [win[2], win[3]] == [80, 44]  # its half + 1 cell
        assert note["window"]["shape"][1] < grid.ncols
        assert note["read_shape"] == [80 + 2 * note["halo_cells"], 44 + 2 * note["halo_cells"]]
    # no factor was ever computed on the whole district: tiles (16) or a township's window
    shapes = {g.shape for _, g, _ in grids}
    assert grid.shape not in shapes and shapes <= {(16, 16), (80, 44)}
    # the western window reads the mines within reach: not the one beyond the eastern edge
    west = [n for name, g, n in grids if name == "mines" and g.shape == (80, 44) and g.x0 == X0]
    assert west == [2]


@pytest.mark.parametrize("patrol_score", ["max", "mean"])
def test_a_window_scores_as_the_whole_grid(tmp_path, patrol_score):
    """Every factor kind: a township window's surface equals the whole surface, cut."""
    import dataclasses

    from test_tiling import every_kind

    from riskmap.score.cells import cell_table

    project = dataclasses.replace(every_kind(tmp_path), patrol_score=patrol_score)
    inputs = load_inputs(project)
    whole = compute(project, inputs)
    res = compute_tiled(project, inputs, chunk=40, scheduler="synchronous")
    assert np.array_equal(res.thresholds, whole.thresholds)
    for i in range(len(inputs.townships)):
        r0, c0, nr, nc = win = area_window(whole.grid, whole.k,
                                           inputs.townships.geometry.values[i])
        ws = window_surface(project, inputs, whole.grid, win, res.plan, res.thresholds)
        a = whole.score[r0:r0 + nr, c0:c0 + nc]
        assert np.array_equal(np.isnan(a), np.isnan(ws.score))
        assert np.array_equal(a[np.isfinite(a)], ws.score[np.isfinite(ws.score)])
        p = (slice(r0 // 4, (r0 + nr) // 4), slice(c0 // 4, (c0 + nc) // 4))
        assert np.array_equal(whole.p_class[p], ws.p_class)
        assert np.array_equal(whole.township[p], ws.township)
        keep = ws.p_area & (ws.township == i + 1)
        flat_w = np.flatnonzero(keep)
        rows, cols = np.divmod(flat_w, ws.patrol_grid.ncols)
        flat = (rows + p[0].start) * whole.patrol_grid.ncols + cols + p[1].start
        ta, tb = cell_table(whole, project, flat), cell_table(ws, project, flat_w)
        pd.testing.assert_frame_equal(pd.DataFrame(ta.drop(columns="geometry")),
                                      pd.DataFrame(tb.drop(columns="geometry")))


def test_a_small_memory_limit_makes_build_go_tiled_and_say_so(tmp_path, capsys):
    from riskmap.cli import main

    proj = make_project(tmp_path)
    project = load_project(proj)
    assert not engine_for(project).tiled
    choice = engine_for(project, memory_limit=FORCED_MIB)
    assert choice.tiled and choice.reason == "too_large"
    with pytest.raises(SystemExit) as e:
        main(["build", str(proj), "--memory-limit", str(FORCED_MIB), "--township", "东镇",
              "-q", "--out", str(tmp_path / "o")])
    assert e.value.code == 0
    err = capsys.readouterr().err
    assert "改用分块引擎" in err and "does not fit in memory" in err and "MiB allowed" in err
    folder = tmp_path / "o" / "东镇"
    assert {"risk.tif", "risk.gpkg", "map.html", "map.pdf"} <= {p.name for p in
                                                               folder.iterdir()}
    assert _summary(folder)["tiled"]["window"]["shape"] == [80, 44]


def test_a_township_window_too_large_is_refused_by_name(tmp_path):
    project = load_project(make_project(tmp_path))
    with pytest.raises(GridError, match=r"乡镇 (东镇|西镇) 的窗口过大"):
        tiled_build(project, out=tmp_path / "o", memory_limit=0.15)
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_exporters_are_the_build_s():
    """The tiled build writes what the one-grid build writes: the one exporter list."""
    import inspect

    from riskmap.pipeline import tiledbuild

    assert tiledbuild.EXPORTERS is EXPORTERS
    assert "EXPORTERS if exporters is None" in inspect.getsource(tiledbuild._tiled)


def test_the_sample_s_townships_score_from_their_windows_as_the_district():
    """On the sample (阳泉市郊区): every township window equals the one grid, and is smaller."""
    from pathlib import Path

    project = load_project(Path(__file__).resolve().parents[1] / "layers" / "project.yaml")
    inputs = load_inputs(project)
    whole = compute(project, inputs)
    res = compute_tiled(project, inputs, chunk=512)
    assert res.tiles > 1 and np.array_equal(res.thresholds, whole.thresholds)
    k, cells = whole.k, 0
    for i, geom in enumerate(inputs.townships.geometry.values):
        r0, c0, nr, nc = win = area_window(whole.grid, k, geom)
        cells += nr * nc
        assert nr * nc < whole.grid.size / 2
        ws = window_surface(project, inputs, whole.grid, win, res.plan, res.thresholds)
        a = whole.score[r0:r0 + nr, c0:c0 + nc]
        assert np.array_equal(np.nan_to_num(a, nan=-1), np.nan_to_num(ws.score, nan=-1))
        p = (slice(r0 // k, (r0 + nr) // k), slice(c0 // k, (c0 + nc) // k))
        mine = ws.township == i + 1
        assert np.array_equal(whole.township[p] == i + 1, mine)
        assert np.array_equal(whole.p_class[p][mine], ws.p_class[mine])
        # every patrol cell of the township lies in its window
        assert (whole.township == i + 1).sum() == mine.sum()
