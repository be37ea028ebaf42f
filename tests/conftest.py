"""Shared fixtures: tiny grids and features built in code (EPSG:4547, 25 m cells)."""

import os

# one BLAS thread per process, set before numpy loads (here and in every command the tests
# run): the suite runs one worker per core, and BLAS's own threads on top of them made
# the long thin products of calibrate 3-15x slower
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
import yaml

from riskmap.grid import Grid

CRS = "EPSG:4547"
X0, Y0, CELL = 450000.0, 4190000.0, 25.0


@pytest.fixture
def grid():
    """10 x 10 cells of 25 m, north-west corner at (450000, 4190000)."""
    return Grid(CRS, X0, Y0, CELL, 10, 10)


@pytest.fixture
def big_grid():
    """40 x 40 cells of 25 m (1 km square), same origin."""
    return Grid(CRS, X0, Y0, CELL, 40, 40)


@pytest.fixture
def centres():
    """Cell-centre coordinate arrays (X, Y) of a grid, shaped like it."""

    def _centres(g):
        return np.meshgrid(g.x_centres(), g.y_centres())

    return _centres


@pytest.fixture
def square():
    """A 200 m square polygon aligned with the cells of ``big_grid`` (rows/cols 12:20)."""
    return shapely.box(X0 + 300, Y0 - 500, X0 + 500, Y0 - 300)


@pytest.fixture
def points_gdf():
    """Three points inside ``grid`` with a type and a weight column."""
    return gpd.GeoDataFrame(
        {"kind": ["a", "b", "a"], "w": [1.0, 2.0, 0.5]},
        geometry=[shapely.Point(X0 + 40, Y0 - 60), shapely.Point(X0 + 130, Y0 - 170),
                  shapely.Point(X0 + 210, Y0 - 30)],
        crs=CRS,
    )


@pytest.fixture
def gpkg(tmp_path, points_gdf, square):
    """A GeoPackage with two layers, ``mines`` (points) and ``rights`` (a polygon)."""
    path = tmp_path / "layers.gpkg"
    points_gdf.to_file(path, layer="mines")
    gpd.GeoDataFrame({"name": ["r1"]}, geometry=[square], crs=CRS).to_file(path, layer="rights")
    return path


MINIMAL_PROJECT = {
    "crs": CRS,
    "district": {"source": "layers.gpkg:rights"},
    "townships": {"source": "layers.gpkg:rights", "name_field": "name"},
    "factors": [
        {"name": "mines", "label": "关闭矿井", "source": "layers.gpkg:mines",
         "kind": "proximity", "range": 500, "weight": 10},
    ],
}


@pytest.fixture
def project_dict():
    """A fresh, minimal, valid project as a dict (edit it, then ``write_project``)."""
    return yaml.safe_load(yaml.safe_dump(MINIMAL_PROJECT, allow_unicode=True))


@pytest.fixture
def write_project(tmp_path):
    """Write a project dict as YAML into ``tmp_path`` and return its path."""

    def _write(d: dict, name: str = "project.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(d, allow_unicode=True, sort_keys=False), encoding="utf-8")
        return path

    return _write


@pytest.fixture(scope="session")
def chromium():
    """Debian's headless Chromium through playwright (network off, as on an intranet)."""
    import shutil

    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    assert exe, "Debian's chromium is needed for the browser tests (apt-get install chromium)"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        yield b
        b.close()


def pytest_collection_modifyitems(items):
    """Every test that uses the browser is marked ``browser`` (``-m "not browser"`` skips them)."""
    for item in items:
        if "chromium" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)
