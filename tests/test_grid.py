import math

import numpy as np
import pytest
from pyproj import CRS as PyprojCRS

from riskmap.errors import GridError
from riskmap.grid import Grid

CRS = "EPSG:4547"
X0, Y0, CELL = 450000.0, 4190000.0, 25.0


def test_from_bounds_snaps_outward():
    bounds = (450010.0, 4189020.0, 450990.0, 4189990.0)
    g = Grid.from_bounds(bounds, 25, CRS, snap=100)
    assert g.bounds == (450000.0, 4189000.0, 451000.0, 4190000.0)
    assert g.shape == (40, 40)
    assert g.cell == 25.0
    for v in g.bounds:
        assert v % 100 == 0


@pytest.mark.parametrize("snap", [None, 25, 100, 500])
def test_from_bounds_contains_bounds(snap):
    bounds = (451234.5, 4187654.3, 452345.6, 4189876.5)
    g = Grid.from_bounds(bounds, 25, CRS, snap=snap)
    s = 25 if snap is None else snap
    xmin, ymin, xmax, ymax = g.bounds
    assert xmin <= bounds[0] and ymin <= bounds[1] and xmax >= bounds[2] and ymax >= bounds[3]
    assert all(math.isclose(v / s, round(v / s)) for v in g.bounds)
    # snapped outward by less than one snap step on every side
    assert bounds[0] - xmin < s and bounds[1] - ymin < s
    assert xmax - bounds[2] < s and ymax - bounds[3] < s
    assert g.nrows * g.cell == pytest.approx(ymax - ymin)
    assert g.ncols * g.cell == pytest.approx(xmax - xmin)


def test_from_bounds_normalises_crs():
    g = Grid.from_bounds((X0, Y0 - 100, X0 + 100, Y0), 25, PyprojCRS.from_epsg(4547))
    assert g.crs == "EPSG:4547"


@pytest.mark.parametrize("snap", [30, 10, 37.5])
def test_from_bounds_rejects_snap_not_multiple_of_cell(snap):
    with pytest.raises(GridError, match="whole multiple of the cell size"):
        Grid.from_bounds((X0, Y0 - 100, X0 + 100, Y0), 25, CRS, snap=snap)


@pytest.mark.parametrize(
    "bounds",
    [(X0, Y0, X0, Y0 + 10), (X0 + 10, Y0, X0, Y0 + 10), (X0, Y0, np.nan, Y0 + 10),
     (X0, Y0, np.inf, Y0 + 10)],
)
def test_from_bounds_rejects_empty_or_invalid_bounds(bounds):
    with pytest.raises(GridError, match="empty or invalid bounds"):
        Grid.from_bounds(bounds, 25, CRS)


@pytest.mark.parametrize("cell", [0, -25, np.nan, np.inf])
def test_invalid_cell_size(cell):
    with pytest.raises(GridError, match="cell size"):
        Grid(CRS, X0, Y0, cell, 10, 10)


@pytest.mark.parametrize("shape", [(0, 10), (10, 0), (-1, 5)])
def test_invalid_shape(shape):
    with pytest.raises(GridError, match="grid shape must be positive"):
        Grid(CRS, X0, Y0, CELL, *shape)


def test_geometry_basics(grid):
    assert grid.shape == (10, 10)
    assert grid.size == 100
    assert grid.bounds == (X0, Y0 - 250, X0 + 250, Y0)
    assert grid.x_centres()[0] == X0 + 12.5
    assert grid.y_centres()[0] == Y0 - 12.5
    assert np.all(np.diff(grid.y_centres()) < 0)  # north-up: rows go south
    t = grid.transform
    assert t @ (0, 0) == (X0, Y0)
    assert t @ (10, 10) == (X0 + 250, Y0 - 250)


def test_rowcol_xy_inverse(big_grid):
    rows, cols = np.meshgrid(np.arange(big_grid.nrows), np.arange(big_grid.ncols), indexing="ij")
    x, y = big_grid.xy(rows, cols)
    r, c = big_grid.rowcol(x, y)
    np.testing.assert_array_equal(r, rows)
    np.testing.assert_array_equal(c, cols)
    # any point inside a cell maps to that cell
    rng = np.random.default_rng(0)
    dx, dy = rng.uniform(-12.4, 12.4, size=(2, *rows.shape))
    r, c = big_grid.rowcol(x + dx, y + dy)
    np.testing.assert_array_equal(r, rows)
    np.testing.assert_array_equal(c, cols)


def test_rowcol_outside_grid_is_not_clipped(grid):
    r, c = grid.rowcol([X0 - 1, X0 + 251], [Y0 + 1, Y0 - 251])
    assert list(r) == [-1, 10]
    assert list(c) == [-1, 10]


def test_xy_matches_transform(grid):
    for row, col in [(0, 0), (3, 7), (9, 9)]:
        x, y = grid.xy(row, col)
        assert (float(x), float(y)) == grid.transform @ (col + 0.5, row + 0.5)


def test_window_keeps_coordinates(big_grid):
    w = big_grid.window(5, 7, 12, 20)
    assert w.shape == (12, 20)
    assert w.cell == big_grid.cell and w.crs == big_grid.crs
    rows, cols = np.meshgrid(np.arange(12), np.arange(20), indexing="ij")
    np.testing.assert_array_equal(np.stack(w.xy(rows, cols)),
                                  np.stack(big_grid.xy(rows + 5, cols + 7)))
    wb, pb = w.bounds, big_grid.bounds
    assert pb[0] <= wb[0] and pb[1] <= wb[1] and wb[2] <= pb[2] and wb[3] <= pb[3]


@pytest.mark.parametrize("win", [(-1, 0, 5, 5), (0, -1, 5, 5), (36, 0, 5, 5), (0, 36, 5, 5)])
def test_window_outside_raises(big_grid, win):
    with pytest.raises(GridError, match="outside the 40 x 40 grid"):
        big_grid.window(*win)


def test_coarsen(big_grid):
    p = big_grid.coarsen(4)
    assert p.cell == 100.0
    assert p.shape == (10, 10)
    assert p.bounds == big_grid.bounds
    # a patrol cell's centre is the centre of its 4 x 4 block of analysis cells
    x, y = p.xy(2, 3)
    bx, by = big_grid.xy(np.arange(8, 12), np.arange(12, 16))
    assert float(x) == pytest.approx(bx.mean()) and float(y) == pytest.approx(by.mean())


@pytest.mark.parametrize("factor", [0, 3, 7])
def test_coarsen_rejects_uneven_blocks(big_grid, factor):
    with pytest.raises(GridError, match="does not divide into blocks"):
        big_grid.coarsen(factor)


def test_expand(grid):
    e = grid.expand(3)
    assert e.shape == (16, 16)
    assert e.bounds == (X0 - 75, Y0 - 325, X0 + 325, Y0 + 75)
    x, y = grid.xy(np.arange(10), np.arange(10))
    ex, ey = e.xy(np.arange(10) + 3, np.arange(10) + 3)
    np.testing.assert_array_equal(x, ex)
    np.testing.assert_array_equal(y, ey)
    assert grid.expand(0) == grid


def test_to_dict(grid):
    d = grid.to_dict()
    assert d["crs"] == CRS
    assert d["shape"] == [10, 10]
    assert d["bounds"] == list(grid.bounds)
    assert d["transform"] == [CELL, 0.0, X0, 0.0, -CELL, Y0]
