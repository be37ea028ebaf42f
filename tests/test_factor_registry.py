"""A new factor kind is one module and one register() call: a toy kind defined here builds,
calibrates and shows in the map's layer list and popups without any other module knowing it."""

from __future__ import annotations

import sqlite3

import geopandas as gpd
import numpy as np
import pytest

from riskmap import factors
from riskmap.errors import ProjectFileError
from riskmap.factors.base import POINTS, Factor, Kind, Params, with_halo
from riskmap.grid.burn import point_xy
from riskmap.grid.distance import distance_to_points
from riskmap.pipeline.build import build
from riskmap.pipeline.project import load_project


class Disc(Kind):
    """1 within ``radius`` m of a point, else 0 (a toy: nothing else in riskmap knows it)."""

    name = "toy_disc"
    keys = frozenset({"radius"})
    geometries = POINTS
    needs = "points"

    def check(self, p: Params) -> dict:
        p.require("radius")
        return {"radius": p.number("radius", positive=True, at_most=5000)}

    def reach(self, params):
        return params["radius"]

    def range_param(self, params):
        return "radius"

    def compute(self, gdf, grid, params, as_of, *, splat_points=None, top=None) -> Factor:
        x, y = point_xy(gdf.geometry.values)
        r = params["radius"]
        d = with_halo(grid, r, lambda g: distance_to_points(x, y, g, r))
        return Factor(None, d, "m", lambda e: (e <= r).astype(np.float32))

    def describe(self, label, points, explain, params):
        return (label + " 圆盘内 (" + points + ")").to_numpy(dtype=object)


@pytest.fixture
def toy_kind():
    kind = factors.register(Disc())
    yield kind
    del factors.KINDS[kind.name]


def _disc(d, radius=300):
    d["factors"].append({"name": "disc", "label": "玩具圆盘", "source": "tiny.gpkg:mines",
                         "kind": "toy_disc", "radius": radius, "weight": 25})


def test_unknown_kind_lists_the_registered_ones(tmp_path):
    from tinyproject import make_project

    path = make_project(tmp_path, _disc)
    with pytest.raises(ProjectFileError, match=r"factors\[5\] \(disc\)\.kind.*toy_disc"):
        load_project(path)


def test_toy_kind_checks_its_own_parameters(tmp_path, toy_kind):
    from tinyproject import make_project

    with pytest.raises(ProjectFileError, match=r"factors\[5\] \(disc\)\.radius: must be at most"):
        load_project(make_project(tmp_path, lambda d: _disc(d, radius=1e6)))
    with pytest.raises(ProjectFileError, match=r"unknown key 'range' in factors\[5\]"):
        load_project(make_project(tmp_path, lambda d: (_disc(d),
                                                       d["factors"][-1].update(range=5))))


def test_toy_kind_builds_and_shows_in_map_and_popups(tmp_path, toy_kind):
    from tinyproject import make_project

    proj = load_project(make_project(tmp_path, _disc))
    spec = next(f for f in proj.factors if f.name == "disc")
    assert spec.reach == 300 and spec.traits.geometries == POINTS
    report = build(proj, out=tmp_path / "out", townships=["西镇"])
    folder = tmp_path / "out" / "西镇"
    cells = gpd.read_file(folder / "risk.gpkg", layer="cells")
    assert "c_disc" in cells and "v_disc" in cells
    inside = cells["v_disc"].fillna(np.inf) <= 300
    assert inside.any() and (cells.loc[inside, "c_disc"] > 0).all()
    assert (cells.loc[~inside, "c_disc"] == 0).all()
    assert cells["top_factors"].str.contains("玩具圆盘 圆盘内").any()  # the kind's own words
    html = (folder / "map.html").read_text(encoding="utf-8")
    assert "玩具圆盘" in html  # a toggle in the layer control
    with sqlite3.connect(folder / "risk.gpkg") as db:
        meta = " ".join(str(r) for r in db.execute("SELECT * FROM metadata"))
    assert "toy_disc" in meta
    assert report.surface.factors["disc"].unit == "m"


def test_toy_kind_calibrates(tmp_path, toy_kind):
    from test_calibrate import write_synthetic

    from riskmap.models.calibrate import calibrate

    def extra(d):
        d["factors"].append({"name": "disc", "label": "圆盘", "source": "synth.gpkg:mines",
                             "kind": "toy_disc", "radius": 800, "weight": 5})

    # the toy factor is not in the truth: draw incidents without it, then add it
    path = write_synthetic(tmp_path, n_events=300)
    text = path.read_text(encoding="utf-8")
    import yaml

    d = yaml.safe_load(text)
    extra(d)
    path.write_text(yaml.safe_dump(d, allow_unicode=True, sort_keys=False), encoding="utf-8")
    res = calibrate(load_project(path))
    fr = {f.name: f for f in res.factors}["disc"]
    assert fr.kind == "toy_disc" and fr.param == "radius"
    assert fr.range in {250, 500, 1000, 2000} and set(fr.cv_by_range) == {250, 500, 1000, 2000}
