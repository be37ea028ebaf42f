import numpy as np
import pytest

from riskmap.errors import GridError
from riskmap.grid import Grid
from riskmap.grid.cellid import cell_ids, check_patrol_size, locate, parse_cell_id

CRS = "EPSG:4547"


def test_documented_example():
    assert cell_ids([456300.0], [4190700.0], 100)[0] == "456-4190-37"
    assert parse_cell_id("456-4190-37", 100) == (456300.0, 4190700.0)


@pytest.mark.parametrize(("size", "expected"), [
    (50, "456-4190-0614"), (100, "456-4190-37"), (250, "456-4190-12"), (1000, "456-4190"),
])
def test_id_format(size, expected):
    x, y = 456300.0, 4190700.0
    assert cell_ids([x], [y], size)[0] == expected


@pytest.mark.parametrize("size", [50, 100, 1000])
@pytest.mark.parametrize("sign", [1, -1])
def test_round_trip_random_cells(size, sign):
    rng = np.random.default_rng(size)
    n = 500
    cols = rng.integers(-20_000, 20_000, n)
    rows = rng.integers(0, 50_000, n)
    x = cols * float(size)
    y = sign * rows * float(size)
    ids = cell_ids(x, y, size)
    assert ids.dtype == object
    back = np.array([parse_cell_id(i, size) for i in ids])
    np.testing.assert_array_equal(back[:, 0], x)
    np.testing.assert_array_equal(back[:, 1], y)
    # distinct cells, distinct ids
    assert len(set(ids)) == len({(a, b) for a, b in zip(x, y, strict=True)})


def test_negative_coordinates():
    # lower-left corner in the kilometre square [-2000, -1000) x [-1000, 0)
    ids = cell_ids([-1500.0], [-100.0], 100)
    assert ids[0] == "-2--1-59"
    assert parse_cell_id(ids[0], 100) == (-1500.0, -100.0)


@pytest.mark.parametrize("size", [50, 100, 1000])
def test_locate_round_trip(size):
    pgrid = Grid.from_bounds((448_123.0, 4_183_456.0, 453_789.0, 4_190_001.0), size, CRS)
    rng = np.random.default_rng(1)
    rows = rng.integers(0, pgrid.nrows, 200)
    cols = rng.integers(0, pgrid.ncols, 200)
    x, y = pgrid.xy(rows, cols)
    ids = cell_ids(x - size / 2, y - size / 2, size)
    for cid, r, c in zip(ids, rows, cols, strict=True):
        assert locate(cid, pgrid) == (r, c)


def test_locate_outside_grid_raises():
    pgrid = Grid("EPSG:4547", 450000.0, 4190000.0, 100.0, 10, 10)
    assert locate("450-4189-00", pgrid) == (9, 0)
    with pytest.raises(GridError, match="outside this project's grid"):
        locate("449-4189-99", pgrid)


def test_locate_rejects_id_off_the_multi_km_lattice():
    # 2 km patrol cells have corners on even kilometres; "457-4188" is no cell's id,
    # and must not silently be taken for its neighbour
    pgrid = Grid.from_bounds((450000.0, 4180000.0, 460000.0, 4190000.0), 2000, CRS)
    assert locate("456-4188", pgrid) == (0, 3)
    with pytest.raises(GridError):
        locate("457-4188", pgrid)


@pytest.mark.parametrize("bad", [
    "", "abc", "456", "456-4190", "456-4190-3", "456-4190-377", "456-4190-3x", "456_4190_37",
    "456-4190-37-1", None, "4.5-4190-37",
])
def test_malformed_ids_raise_with_example(bad):
    with pytest.raises(GridError, match=r"is not a 100 m patrol cell id.*'456-4190-37'"):
        parse_cell_id(bad, 100)


def test_km_id_with_column_row_is_malformed():
    with pytest.raises(GridError, match=r"expected the form '456-4190'"):
        parse_cell_id("456-4190-37", 1000)


def test_column_row_beyond_square():
    # 250 m cells: 4 per km, column/row digits 0-3 only
    assert parse_cell_id("456-4190-33", 250) == (456750.0, 4190750.0)
    with pytest.raises(GridError, match="beyond the kilometre square"):
        parse_cell_id("456-4190-40", 250)


def test_whitespace_around_id_is_tolerated():
    assert parse_cell_id("  456-4190-37\n", 100) == (456300.0, 4190700.0)


@pytest.mark.parametrize("size", [10, 20, 25, 50, 100, 125, 200, 250, 500, 1000, 2000, 100.0])
def test_check_patrol_size_accepts(size):
    assert check_patrol_size(size) == int(size)


@pytest.mark.parametrize("size", [150, 30, 75, 1500, 0, -100, 100.5])
def test_check_patrol_size_rejects(size):
    with pytest.raises(GridError, match=f"patrol cell size {size} m cannot carry cell ids"):
        check_patrol_size(size)


def test_cell_ids_reject_bad_size():
    with pytest.raises(GridError, match="150"):
        cell_ids([456300.0], [4190700.0], 150)


@pytest.mark.parametrize("size", [100, 250, 1000])
def test_no_cells_no_ids(size):
    ids = cell_ids(np.zeros(0), np.zeros(0), size)
    assert ids.shape == (0,) and ids.dtype == object
