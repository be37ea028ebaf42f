import warnings

import geopandas as gpd
import numpy as np
import pytest
import shapely
from pyproj import Transformer

from riskmap.errors import LayerError, RiskmapWarning
from riskmap.load.layers import file_sha256, list_layers, read_source
from riskmap.load.project import Source

CRS = "EPSG:4547"
X0, Y0 = 450000.0, 4190000.0


def read(path, **kw):
    return read_source(Source(path=path, **kw), CRS)


def test_read_gpkg_layer(gpkg):
    gdf, info = read(gpkg, layer="mines")
    assert len(gdf) == 3 and info.features == 3
    assert gdf.crs.to_epsg() == 4547
    assert info.crs == "EPSG:4547"
    assert info.geom_types == ["Point"]
    assert list(gdf["kind"]) == ["a", "b", "a"]
    assert info.bounds == pytest.approx((X0 + 40, Y0 - 170, X0 + 210, Y0 - 30))
    assert sorted(list_layers(gpkg)) == ["mines", "rights"]


def test_missing_file(tmp_path):
    with pytest.raises(LayerError, match=r"absent\.gpkg.*file not found"):
        read(tmp_path / "absent.gpkg")


def test_missing_layer_lists_available_layers(gpkg):
    with pytest.raises(LayerError, match=r"layers\.gpkg.*'rivers'.*layers in the file: .*mines"):
        read(gpkg, layer="rivers")
    with pytest.raises(LayerError, match="rights"):
        read(gpkg, layer="rivers")


def test_several_layers_need_a_name(gpkg):
    with pytest.raises(LayerError, match=r"holds 2 layers.*file:layer"):
        read(gpkg)


def test_not_a_vector_file(tmp_path):
    path = tmp_path / "junk.gpkg"
    path.write_bytes(b"not a geopackage at all")
    with pytest.raises(LayerError, match=r"junk\.gpkg.*cannot open"):
        read(path)


def test_layer_without_crs(tmp_path):
    path = tmp_path / "nocrs.gpkg"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # pyogrio: "'crs' was not provided"
        gpd.GeoDataFrame(geometry=[shapely.Point(X0 + 10, Y0 - 10)]).to_file(path)
    with pytest.raises(LayerError, match=r"nocrs\.gpkg.*no CRS.*'crs:'"):
        read(path)
    # the project file may supply it
    gdf, info = read(path, crs=CRS)
    assert info.crs == CRS and gdf.geometry[0].x == X0 + 10


def test_empty_layer(tmp_path):
    path = tmp_path / "empty.gpkg"
    empty = gpd.GeoDataFrame({"a": np.array([], dtype=int)},
                             geometry=gpd.GeoSeries([], crs=CRS))
    empty.to_file(path, layer="e", geometry_type="Point")
    with pytest.raises(LayerError, match=r"empty\.gpkg.*no features"):
        read(path)


def test_empty_csv(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("name,经度,纬度\n", encoding="utf-8")
    with pytest.raises(LayerError, match=r"empty\.csv.*no features"):
        read(path)


def test_where_filter(gpkg):
    gdf, info = read(gpkg, layer="mines", where="kind = 'a'")
    assert len(gdf) == 2 and info.features == 2
    with pytest.raises(LayerError, match="where"):
        read(gpkg, layer="mines", where="kind = 'z'")


def test_csv_lonlat_is_reprojected(tmp_path):
    path = tmp_path / "tips.csv"
    path.write_text("名称,经度,纬度,日期\n甲,114.0,37.8,2026-01-02\n乙,113.5,37.85,2026-02-03\n",
                    encoding="utf-8")
    gdf, info = read(path)
    assert info.crs == "EPSG:4326"
    assert info.encoding == "utf-8-sig"
    assert gdf.crs.to_epsg() == 4547
    t = Transformer.from_crs("EPSG:4326", CRS, always_xy=True)
    x, y = t.transform([114.0, 113.5], [37.8, 37.85])
    np.testing.assert_allclose(gdf.geometry.x, x, atol=1e-6)
    np.testing.assert_allclose(gdf.geometry.y, y, atol=1e-6)
    assert gdf.geometry.x[0] == pytest.approx(500000.0, abs=1e-3)  # on the central meridian
    assert list(gdf["名称"]) == ["甲", "乙"]
    assert "经度" not in gdf.columns


def test_csv_gbk_encoding(tmp_path):
    path = tmp_path / "gbk.csv"
    path.write_bytes("名称,经度,纬度\n煤矿井口,114.0,37.8\n".encode("gbk"))
    gdf, info = read(path)
    assert info.encoding == "gb18030"
    assert gdf["名称"][0] == "煤矿井口"


def test_csv_projected_xy_takes_the_working_crs_meridian(tmp_path):
    """Unprefixed eastings: the zone from the project's working CRS, and said so; with
    nothing to go on (a geographic working CRS) the table is refused with the fix."""
    path = tmp_path / "xy.csv"
    path.write_text(f"id,X,Y\n1,{X0 + 100},{Y0 - 100}\n", encoding="utf-8")
    gdf, info = read(path)
    assert (gdf.geometry.x[0], gdf.geometry.y[0]) == (X0 + 100, Y0 - 100)
    assert any("from the project's working CRS" in d for d in info.detected), info.detected
    with pytest.raises(LayerError, match=r"xy\.csv.*zone is unknown.*EPSG:4547"):
        read_source(Source(path=path), "EPSG:3857")
    gdf, _ = read(path, crs=CRS)
    assert (gdf.geometry.x[0], gdf.geometry.y[0]) == (X0 + 100, Y0 - 100)


def test_csv_named_coordinate_fields(tmp_path):
    path = tmp_path / "pits.csv"
    path.write_text("编号;东;北\n1;450100;4189900\n", encoding="utf-8")
    gdf, _ = read(path, x_field="东", y_field="北", crs=CRS)
    assert (gdf.geometry.x[0], gdf.geometry.y[0]) == (450100.0, 4189900.0)
    with pytest.raises(LayerError, match=r"no column 'east'"):
        read(path, x_field="east", y_field="北", crs=CRS)


def test_csv_without_coordinate_columns(tmp_path):
    path = tmp_path / "nocoords.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(LayerError, match=r"no header row.*cannot find coordinate columns.*x_field"):
        read(path)


def test_csv_blank_coordinates_skipped_and_counted(tmp_path):
    path = tmp_path / "blank.csv"
    path.write_text("name,lon,lat\na,114.0,37.8\nb,,\nc,114.01,\nd,114.02,37.82\n",
                    encoding="utf-8")
    with pytest.warns(RiskmapWarning, match=r"skipped 2 row\(s\) without coordinates.*rows 3, 4"):
        gdf, info = read(path)
    assert info.dropped_rows == 2
    assert info.features == 2
    assert list(gdf["name"]) == ["a", "d"]


def test_csv_non_numeric_coordinate_names_the_row(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("name,经度,纬度\na,114.0,37.8\nb,114°71′,37.8\n", encoding="utf-8")
    with pytest.raises(LayerError, match=r"bad\.csv.*row 3.*114°71′.*not numbers"):
        read(path)


def test_invalid_polygon_is_repaired(tmp_path):
    bowtie = shapely.Polygon([(X0, Y0 - 100), (X0 + 100, Y0), (X0 + 100, Y0 - 100), (X0, Y0)])
    assert not bowtie.is_valid
    ok = shapely.box(X0 + 200, Y0 - 100, X0 + 300, Y0)
    path = tmp_path / "bowtie.gpkg"
    gpd.GeoDataFrame({"name": ["bad", "good"]}, geometry=[bowtie, ok], crs=CRS).to_file(path)
    with pytest.warns(RiskmapWarning, match=r"repaired 1 invalid polygon"):
        gdf, info = read(path)
    assert info.repaired == 1
    assert gdf.geometry.is_valid.all()
    assert gdf.geometry[0].area == pytest.approx(5000.0)  # the two triangles of the bow tie
    assert gdf.geometry[1].equals(ok)
    assert list(gdf["name"]) == ["bad", "good"]


def test_empty_geometries_dropped(tmp_path):
    path = tmp_path / "some_empty.gpkg"
    gpd.GeoDataFrame({"n": [1, 2]}, geometry=[shapely.Point(X0 + 5, Y0 - 5), None],
                     crs=CRS).to_file(path)
    gdf, info = read(path)
    assert info.empty == 1 and info.features == 1 and len(gdf) == 1


def test_reprojects_vector_layer(tmp_path):
    path = tmp_path / "wgs.gpkg"
    gpd.GeoDataFrame(geometry=[shapely.Point(114.0, 37.8)], crs="EPSG:4326").to_file(path)
    gdf, info = read(path)
    assert info.crs == "EPSG:4326"
    assert gdf.crs.to_epsg() == 4547
    assert gdf.geometry[0].x == pytest.approx(500000.0, abs=1e-3)


def test_file_sha256(tmp_path):
    path = tmp_path / "x.txt"
    path.write_bytes(b"abc")
    assert file_sha256(path) == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
