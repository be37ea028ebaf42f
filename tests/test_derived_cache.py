"""The meter table's anomaly layer is kept in the user cache by the hash of its inputs."""

from __future__ import annotations

import warnings

import geopandas as gpd
import pytest
import shapely
from tinyproject import CRS, X0, Y0, make_project

from riskmap.errors import RiskmapWarning
from riskmap.load.inputs import DerivedReader
from riskmap.load.layers import LayerInfo
from riskmap.load.specs import Source
from riskmap.pipeline.derived_cache import cached_reader, source_files
from riskmap.pipeline.project import load_project


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RISKMAP_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "derived"


def _counting():
    calls = []

    def read(project, source):
        calls.append(source)
        warnings.warn("电表台账: 3 户无坐标 (three users without coordinates)", RiskmapWarning,
                      stacklevel=2)
        gdf = gpd.GeoDataFrame({"score": [80.0]}, geometry=[shapely.Point(X0, Y0)], crs=CRS)
        return gdf, LayerInfo(source=source, format="test", crs=CRS)

    return DerivedReader(read=read), calls


def test_a_second_read_comes_from_the_cache_until_an_input_changes(tmp_path, cache):
    project = load_project(make_project(tmp_path))
    reader, calls = _counting()
    cached = cached_reader(reader, "test")
    src = Source(path=tmp_path / "test:layer")
    with pytest.warns(RiskmapWarning, match="3 户无坐标"):
        a, _ = cached.read(project, src)
    assert len(calls) == 1 and len(list(cache.glob("test-*.pkl"))) == 1
    with pytest.warns(RiskmapWarning, match="3 户无坐标"):  # said again from the cache
        b, info = cached.read(project, src)
    assert len(calls) == 1 and info.source == src
    assert a.equals(b)
    # a changed input file (any file the project names) is another key
    district = next(p for p in source_files(project) if p.suffix == ".gpkg")
    district.write_bytes(district.read_bytes() + b"\0")
    with pytest.warns(RiskmapWarning):
        cached.read(project, src)
    assert len(calls) == 2
    # so is a changed setting of the project as loaded (a backtest's as_of)
    import dataclasses
    import datetime as dt

    with pytest.warns(RiskmapWarning):
        cached.read(dataclasses.replace(project, as_of=dt.date(2020, 1, 1)), src)
    assert len(calls) == 3


def test_an_unreadable_cache_is_not_used(tmp_path, cache):
    project = load_project(make_project(tmp_path))
    reader, calls = _counting()
    cached = cached_reader(reader, "test")
    src = Source(path=tmp_path / "test:layer")
    with pytest.warns(RiskmapWarning):
        cached.read(project, src)
    for p in cache.glob("test-*.pkl"):
        p.write_bytes(b"torn")
    with pytest.warns(RiskmapWarning):
        gdf, _ = cached.read(project, src)
    assert len(calls) == 2 and len(gdf) == 1


def test_the_power_layer_of_a_project_is_cached(tmp_path, cache):
    from test_check_project import full_project

    from riskmap.load.inputs import load_inputs

    folder = tmp_path / "p"
    folder.mkdir()
    path = full_project(folder)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = load_inputs(load_project(path)).factors["power"]
        assert len(list(cache.glob("power-*.pkl"))) == 1
        again = load_inputs(load_project(path)).factors["power"]
    assert len(first) > 0 and first.equals(again)
