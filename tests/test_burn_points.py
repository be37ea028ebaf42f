"""Point coordinates for the factors: every part of points and multipoints, in order."""

import numpy as np
import shapely

from riskmap.grid.burn import point_xy


def test_point_xy_points_multipoints_missing_and_empty():
    g = np.array([shapely.Point(1, 2), None, shapely.MultiPoint([(3, 4), (5, 6)]),
                  shapely.Point(), shapely.Point(7, 8, 9)], dtype=object)
    x, y = point_xy(g)
    np.testing.assert_array_equal(x, [1, 3, 5, 7])
    np.testing.assert_array_equal(y, [2, 4, 6, 8])


def test_point_xy_keeps_only_the_points_of_other_geometries():
    g = np.array([shapely.Point(1, 2), shapely.LineString([(0, 0), (9, 9)]),
                  shapely.GeometryCollection([shapely.Point(3, 4), shapely.LineString(
                      [(0, 0), (1, 1)])])], dtype=object)
    x, y = point_xy(g)
    np.testing.assert_array_equal(x, [1, 3])
    np.testing.assert_array_equal(y, [2, 4])


def test_polygon_shapes_burn_as_shapely_ones():
    from rasterio.features import rasterize

    from riskmap.grid import Grid
    from riskmap.grid.burn import labels, shapes

    g = Grid("EPSG:4547", 0.0, 100.0, 5.0, 20, 20)
    hole = shapely.Polygon([(10, 10), (90, 10), (90, 90), (10, 90)], [[(30, 30), (60, 30),
                                                                       (60, 60), (30, 60)]])
    multi = shapely.MultiPolygon([shapely.box(0, 0, 20, 20), shapely.box(70, 70, 99, 99)])
    geoms = np.array([hole, None, shapely.Polygon(), multi], dtype=object)
    values = np.array([1, 2, 3, 4])
    want = rasterize([(hole, 1), (multi, 4)], out_shape=g.shape, transform=g.transform,
                     dtype="int32")
    np.testing.assert_array_equal(labels(geoms, values, g), want)
    assert [v for _, v in shapes(geoms, values)] == [1, 4, 4]
    assert shapes(np.array([], dtype=object), np.array([], int)) == []
