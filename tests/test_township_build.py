"""--township: a build scores only the window; plan and build say a wrong name before the layers."""

import json
import shutil

import numpy as np
import pyogrio
import pytest
import rasterio
from tinyproject import make_project

from riskmap.pipeline.build import build
from riskmap.pipeline.project import load_project
from riskmap.score.engine import district_grid

SKIP = ("build_date", "timings", "outputs", "map_html", "map_pdf")


def summary(folder):
    s = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    return {k: v for k, v in s.items() if k not in SKIP}


def same_package(a, b):
    assert summary(a) == summary(b)
    for name in ("risk.tif", "risk_class.tif"):
        with rasterio.open(a / name) as x, rasterio.open(b / name) as y:
            assert x.transform == y.transform and np.array_equal(x.read(1), y.read(1)), name
    for layer in ("cells", "zones"):
        da = pyogrio.read_dataframe(a / "risk.gpkg", layer=layer)
        db = pyogrio.read_dataframe(b / "risk.gpkg", layer=layer)
        assert da.equals(db), layer


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    folder = tmp_path_factory.mktemp("township_build")
    project = load_project(make_project(folder))
    build(project, out=folder / "whole")
    return folder, project


def steps(messages):
    return lambda msg: messages.append(msg)


def test_a_township_alone_scores_its_window_with_the_last_build_thresholds(whole):
    folder, project = whole
    out = folder / "again"
    shutil.copytree(folder / "whole", out)
    said = []
    r = build(project, out=out, townships=["东镇"], overwrite=True, progress=steps(said))
    assert any("只计算所选乡镇的窗口" in m and "last district build" in m for m in said), said
    assert r.surface.grid.shape != district_grid(project, r.inputs.district).shape
    same_package(folder / "whole" / "东镇", out / "东镇")


def test_without_a_last_build_the_district_is_scored_and_says_why(whole):
    folder, project = whole
    said = []
    build(project, out=folder / "fresh", townships=["东镇"], progress=steps(said))
    assert any("全区评分" in m and "no last build" in m for m in said), said
    same_package(folder / "whole" / "东镇", folder / "fresh" / "东镇")


def test_fixed_breaks_need_no_last_build(tmp_path):
    def fixed(d):
        d["classes"] = {"method": "fixed", "breaks": [10, 20, 30, 40]}

    project = load_project(make_project(tmp_path, fixed))
    build(project, out=tmp_path / "whole")
    said = []
    r = build(project, out=tmp_path / "one", townships=["西镇"], progress=steps(said))
    assert any("只计算所选乡镇的窗口" in m for m in said), said
    assert r.surface.grid.shape != district_grid(project, r.inputs.district).shape
    same_package(tmp_path / "whole" / "西镇", tmp_path / "one" / "西镇")


def test_plan_says_a_wrong_township_before_reading_the_layers(tmp_path):
    """The township names come from the small layers: a broken factor layer is not read yet."""
    from riskmap.errors import RiskmapError
    from riskmap.pipeline.field import run_plan

    def broken(d):
        d["factors"][0]["source"] = "missing.gpkg:mines"

    project = load_project(make_project(tmp_path, broken))
    with pytest.raises(RiskmapError, match=r"未知乡镇.*南镇"):
        run_plan(project, "2026-W49", out=tmp_path / "plan", record=False, townships=["南镇"])
