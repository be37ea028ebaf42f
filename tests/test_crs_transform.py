"""crs.transform: transformers kept per thread and their operation kept on disk as a pipeline."""

import subprocess
import sys

import geopandas as gpd
import numpy as np
import pytest
import shapely
from pyproj import Transformer

from riskmap.crs import transform as T


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    monkeypatch.setenv("RISKMAP_CACHE", str(tmp_path))
    monkeypatch.setattr(T, "_local", type(T._local)())  # nothing made yet in this thread
    return tmp_path


@pytest.mark.parametrize(("src", "dst"), [("EPSG:4547", "EPSG:4326"), ("EPSG:4326", "EPSG:4546"),
                                          ("EPSG:4527", "EPSG:3857"), ("EPSG:3857", "EPSG:4547")])
def test_a_kept_pipeline_gives_what_the_search_gives(fresh, src, dst):
    first = T.transformer(src, dst)
    kept = list((fresh / "proj").glob("*.txt"))
    assert len(kept) == 1
    T._local.cache.clear()
    again = T.transformer(src, dst)  # made from the file this time
    digest, pipeline = kept[0].read_text(encoding="ascii").split("\n", 1)
    assert again.definition == pipeline and len(digest) == 64
    ref = Transformer.from_crs(src, dst, always_xy=True)
    x, y = np.array([113.2, 113.9]), np.array([37.1, 37.9])  # lon/lat in Shanxi
    if src != "EPSG:4326":
        x, y = Transformer.from_crs("EPSG:4326", src, always_xy=True).transform(x, y)
    np.testing.assert_allclose(np.column_stack(again.transform(x, y)),
                               np.column_stack(ref.transform(x, y)), rtol=0, atol=1e-7)
    assert np.array_equal(np.column_stack(first.transform(x, y)),
                          np.column_stack(again.transform(x, y)))


def test_several_candidate_operations_are_never_kept(fresh):
    t = T.transformer("EPSG:4214", "EPSG:4326")  # Beijing 1954: PROJ picks per point
    assert np.isfinite(t.transform(113.5, 37.5)).all()
    assert not list((fresh / "proj").glob("*.txt"))


def test_a_damaged_file_is_searched_again(fresh):
    T.transformer("EPSG:4547", "EPSG:4326")
    (kept,) = (fresh / "proj").glob("*.txt")
    kept.write_text("proj=nonsense_op", encoding="ascii")
    T._local.cache.clear()
    t = T.transformer("EPSG:4547", "EPSG:4326")
    lon, lat = t.transform(450000.0, 4190000.0)
    assert 113 < lon < 114 and 37 < lat < 38


def test_a_torn_file_is_searched_again(fresh):
    """A file cut short (a kill while writing) keeps its digest line: it does not match."""
    T.transformer("EPSG:4547", "EPSG:4326")
    (kept,) = (fresh / "proj").glob("*.txt")
    text = kept.read_text(encoding="ascii")
    kept.write_text(text[: len(text) - 40], encoding="ascii")  # lon_0 and more lost
    T._local.cache.clear()
    lon, lat = T.transformer("EPSG:4547", "EPSG:4326").transform(450000.0, 4190000.0)
    assert abs(lon - 113.4319611) < 1e-6 and abs(lat - 37.8409831) < 1e-6
    assert kept.read_text(encoding="ascii") == text  # and kept whole again


def test_a_cache_that_cannot_be_written_only_costs_time(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x", encoding="ascii")
    monkeypatch.setenv("RISKMAP_CACHE", str(tmp_path / "file" / "cache"))  # even root fails
    monkeypatch.setattr(T, "_local", type(T._local)())
    lon, _ = T.transformer("EPSG:4547", "EPSG:4326").transform(450000.0, 4190000.0)
    assert 113 < lon < 114


def test_to_crs_is_geopandas_to_crs(fresh):
    g = gpd.GeoDataFrame(
        {"a": [1, 2, 3]},
        geometry=[shapely.Point(450000, 4190000, 12.5),
                  shapely.LineString([(450000, 4190000), (451000, 4191000)]),
                  shapely.Polygon([(450000, 4190000), (451000, 4190000), (451000, 4191000)])],
        crs="EPSG:4547", index=[5, 7, 9]).rename_geometry("geom")
    ours, theirs = T.to_crs(g, 4326), g.to_crs(4326)
    assert ours.crs == theirs.crs and list(ours.columns) == list(theirs.columns)
    assert list(ours.index) == [5, 7, 9] and ours.geometry.name == "geom"
    assert ours.geometry.geom_equals_exact(theirs.geometry, 1e-11).all()
    assert ours.geometry.iloc[0].has_z and ours.geometry.iloc[0].z == 12.5
    s = T.to_crs(g.geometry, "EPSG:3857")
    assert isinstance(s, gpd.GeoSeries) and s.geom_equals_exact(g.geometry.to_crs(3857), 1e-6).all()
    assert T.to_crs(g, "EPSG:4547").equals(g)  # the same CRS: a copy


def test_a_new_process_reads_the_kept_operation(fresh):
    code = ("import time; from riskmap.crs.transform import transformer; t = time.perf_counter(); "
            "transformer('EPSG:4547', 'EPSG:4326'); print(time.perf_counter() - t)")
    env = {"RISKMAP_CACHE": str(fresh), "PATH": ""}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, capture_output=True)
    assert len(list((fresh / "proj").glob("*.txt"))) == 1
    out = subprocess.run([sys.executable, "-c", code.replace("print(", "print(transformer("
                          "'EPSG:4547', 'EPSG:4326').definition, ")], check=True, env=env,
                         capture_output=True, text=True).stdout
    assert out.startswith("proj=pipeline")
