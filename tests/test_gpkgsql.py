"""export.gpkgsql: small layers added by SQLite read back exactly as GDAL's own."""

import sqlite3

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

import riskmap.export.gpkg as gpkg
from riskmap.export.gpkgsql import SMALL_ROWS, append_layers, sql_ok

CRS = "EPSG:4547"
X0, Y0 = 450000.0, 4190000.0


def frame(geoms, n=None):
    n = len(geoms) if n is None else n
    rng = np.random.default_rng(1)
    return gpd.GeoDataFrame({
        "名称": [f"点{i}" for i in range(n)],
        "maybe": pd.Series(["x", None] * (n // 2) + ["y"] * (n % 2), dtype=object),
        "nothing": pd.Series([None] * n, dtype=object),
        "f64": np.where(np.arange(n) % 3 == 0, np.nan, rng.normal(size=n)),
        "f32": rng.normal(size=n).astype(np.float32),
        "i16": np.arange(n, dtype=np.int16), "i32": np.arange(n, dtype=np.int32),
        "i64": np.arange(n, dtype=np.int64) * 10**10, "flag": np.arange(n) % 2 == 0,
        "nullable": pd.array([1, None] * (n // 2) + [3] * (n % 2), dtype="Int64"),
        "when": pd.to_datetime(["2024-05-01 10:20:30.250", None] * (n // 2)
                               + ["2024-06-01"] * (n % 2), format="mixed")
        .astype("datetime64[ms]"),
        "day": pd.to_datetime(["2024-05-01"] * n).astype("datetime64[s]"),
    }, geometry=geoms, crs=CRS)


GEOMS = {
    "points": [shapely.Point(X0 + i, Y0 + 2 * i) for i in range(7)],
    "lines": [shapely.LineString([(X0, Y0), (X0 + 10 * i + 5, Y0 + 3)]) for i in range(5)],
    "mixed_polygons": [shapely.box(X0, Y0, X0 + 10, Y0 + 10),
                       shapely.MultiPolygon([shapely.box(X0 + 20, Y0, X0 + 30, Y0 + 5),
                                             shapely.box(X0 + 40, Y0, X0 + 50, Y0 + 5)]),
                       None],
}


def both(tmp_path, df, promote, name="layer", fid="fid"):
    """The same layer written by GDAL and by SQLite after a first GDAL layer."""
    out = {}
    for how in ("gdal", "sql"):
        path = tmp_path / f"{how}.gpkg"
        first = gpd.GeoDataFrame({"a": [1]}, geometry=[shapely.Point(X0, Y0)], crs=CRS)
        pyogrio.write_dataframe(first, path, layer="first", driver="GPKG")
        if how == "gdal":
            opts = {"SPATIAL_INDEX": "NO", "IDENTIFIER": "标题", "FID": fid}
            pyogrio.write_dataframe(df, path, layer=name, driver="GPKG", layer_options=opts,
                                    promote_to_multi=promote)
        else:
            assert sql_ok(df, promote)
            append_layers(path, [(name, df, "标题", promote, fid)])
        out[how] = path
    return out["gdal"], out["sql"]


def same_file(a, b, layer):
    assert pyogrio.list_layers(a).tolist() == pyogrio.list_layers(b).tolist()
    ia, ib = pyogrio.read_info(a, layer=layer), pyogrio.read_info(b, layer=layer)
    for k in ("crs", "geometry_type", "fid_column", "geometry_name", "features", "fields",
              "dtypes"):
        assert str(ia[k]) == str(ib[k]), k
    if ia["geometry_type"] is not None:
        np.testing.assert_allclose(ia["total_bounds"], ib["total_bounds"], rtol=1e-12)
    da, db = pyogrio.read_dataframe(a, layer=layer), pyogrio.read_dataframe(b, layer=layer)
    pd.testing.assert_frame_equal(da, db)
    qa, qb = sqlite3.connect(a), sqlite3.connect(b)
    for q in ("SELECT sql FROM sqlite_master WHERE tbl_name = ? ORDER BY name",
              "SELECT * FROM gpkg_geometry_columns WHERE table_name = ?",
              "SELECT * FROM gpkg_ogr_contents WHERE table_name = ?",
              "SELECT table_name, data_type, identifier, description, srs_id FROM gpkg_contents "
              "WHERE table_name = ?"):
        assert qa.execute(q, (layer,)).fetchall() == qb.execute(q, (layer,)).fetchall(), q
    # the feature count follows later edits, as GDAL's triggers make it
    fid = ia["fid_column"] or "fid"
    for q in (qa, qb):
        with q:
            q.execute(f'DELETE FROM "{layer}" WHERE "{fid}" = 1')
    assert qa.execute("SELECT feature_count FROM gpkg_ogr_contents WHERE table_name = ?",
                      (layer,)).fetchall() == qb.execute(
        "SELECT feature_count FROM gpkg_ogr_contents WHERE table_name = ?", (layer,)).fetchall()


@pytest.mark.parametrize("kind", sorted(GEOMS))
@pytest.mark.parametrize("promote", [False, True])
def test_a_layer_reads_back_as_gdals(tmp_path, kind, promote):
    df = frame(GEOMS[kind])
    if kind == "mixed_polygons" and not promote:  # GDAL would say Unknown: left to it
        assert not sql_ok(df, promote)
        return
    a, b = both(tmp_path, df, promote)
    same_file(a, b, "layer")


def test_a_table_without_geometry(tmp_path):
    df = pd.DataFrame({"key": ["a", "b"], "value": ["1", None], "useAsDefault": [True, False],
                       "update_time": pd.to_datetime(["2026-12-02 10:00:00"] * 2)
                       .astype("datetime64[s]")})
    a, b = both(tmp_path, df, False, name="layer_styles", fid="id")
    same_file(a, b, "layer_styles")


def test_what_is_left_to_gdal():
    pts = GEOMS["points"]
    assert not sql_ok(frame(pts).iloc[:0])  # empty
    assert not sql_ok(frame([shapely.Point(X0, Y0)] * SMALL_ROWS))  # large: GDAL, R-tree
    assert not sql_ok(frame([shapely.Point(X0, Y0, 5.0)] * 3))  # Z values
    assert not sql_ok(frame([shapely.Point(X0, Y0), shapely.LineString([(X0, Y0), (X0, 1)])]))
    df = frame(pts)
    df["obj"] = [1, "a", 2, "b", 3, "c", 4]  # text and numbers in one column
    assert not sql_ok(df)
    df = frame(pts)
    df["tz"] = pd.to_datetime(["2024-05-01"] * 7).tz_localize("Asia/Shanghai")
    assert not sql_ok(df)


def test_a_whole_area_file_is_gdals(tmp_path, monkeypatch):
    """write_gpkg with the small layers by SQLite gives the file GDAL alone gives."""
    from tinyproject import make_project

    from riskmap.load.inputs import load_inputs
    from riskmap.pipeline.area import area_context
    from riskmap.pipeline.build import sheet_options
    from riskmap.pipeline.exporters import export_gpkg
    from riskmap.pipeline.project import load_project
    from riskmap.score.engine import compute

    p = load_project(make_project(tmp_path))
    inputs = load_inputs(p)
    s = compute(p, inputs)
    area = area_context(p, inputs, s, "东镇", 1, build_date="2026-12-02T10:00:00+08:00",
                        sheet_opts=sheet_options(p, None, None), t_load=0.0)
    folders = {}
    for how in ("gdal", "sql"):
        if how == "gdal":
            monkeypatch.setattr(gpkg, "sql_ok", lambda df, promote=False: False)
        else:
            monkeypatch.undo()
        folders[how] = tmp_path / how
        folders[how].mkdir()
        export_gpkg(area, folders[how])
    a, b = folders["gdal"] / "risk.gpkg", folders["sql"] / "risk.gpkg"
    layers = pyogrio.list_layers(a)[:, 0]
    assert len(layers) >= 8
    for layer in layers:
        if layer == "layer_styles":
            continue  # the style rows are the same; their update time is the clock's
        same_file(a, b, layer)
    qa, qb = sqlite3.connect(a), sqlite3.connect(b)
    q = "SELECT * FROM gpkg_data_columns ORDER BY table_name, column_name"
    assert qa.execute(q).fetchall() == qb.execute(q).fetchall()
