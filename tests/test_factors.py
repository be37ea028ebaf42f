import datetime as dt
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from riskmap import factors
from riskmap.errors import LayerError
from riskmap.load.project import FactorSpec, Source
from riskmap.score.engine import factor_on_grid

X0, Y0, CELL = 450000.0, 4190000.0, 25.0
DECAYS = ["linear", "exponential", "gaussian", "step"]


def pt(dx, dy):
    """A point ``dx`` m east and ``dy`` m south of the grid origin."""
    return shapely.Point(X0 + dx, Y0 - dy)


# --- decay ----------------------------------------------------------------------
@pytest.mark.parametrize("kind", DECAYS)
def test_decay_shape(kind):
    reach = 300.0
    d = np.array([0, 1, 10, 50, 100, 150, 200, 250, 299, 300, 300.5, 301, 1e6, np.inf])
    v = factors.decay(d, reach, kind)
    assert v.dtype == np.float32
    assert v[0] == 1.0
    assert np.all((v >= 0) & (v <= 1))
    assert np.all(np.diff(v) <= 0), "decay must not increase with distance"
    assert np.all(v[d > reach] == 0)
    assert np.all(v[d < reach] > 0)


@pytest.mark.parametrize(("kind", "at_half"), [
    ("linear", 0.5), ("exponential", np.exp(-1.5)), ("gaussian", np.exp(-0.5 * 1.5**2)),
    ("step", 1.0),
])
def test_decay_formulas(kind, at_half):
    assert factors.decay(np.array([100.0]), 200.0, kind)[0] == pytest.approx(at_half, rel=1e-6)


def test_decay_unknown_kind():
    with pytest.raises(ValueError, match="unknown decay 'cubic'"):
        factors.decay(np.array([0.0]), 100, "cubic")


# --- proximity ------------------------------------------------------------------
def test_proximity_to_a_point_is_euclidean(big_grid, centres):
    p = pt(337.0, 438.6)  # not on a cell centre
    f = factors.proximity([p], big_grid, reach=2000.0)
    cx, cy = centres(big_grid)
    expected = np.hypot(cx - p.x, cy - p.y)
    assert f.unit == "m"
    assert f.explain.dtype == np.float32
    assert np.all(np.isfinite(f.explain))
    np.testing.assert_allclose(f.explain, expected, atol=1e-3)  # exact for a lone point
    np.testing.assert_allclose(f.value, 1 - expected / 2000.0, atol=1e-5)


def test_proximity_beyond_reach_is_zero(big_grid, centres):
    p = pt(500.0, 500.0)
    f = factors.proximity([p], big_grid, reach=200.0, decay_kind="step")
    cx, cy = centres(big_grid)
    d = np.hypot(cx - p.x, cy - p.y)
    assert np.all(np.isinf(f.explain[d > 200.0]))
    np.testing.assert_array_equal(f.value, (d <= 200.0).astype(np.float32))


@pytest.mark.parametrize("n", [3, 300])  # few points (stamped) or many (distance transform)
def test_proximity_to_several_points_takes_the_nearest(big_grid, centres, n):
    rng = np.random.default_rng(n)
    pts = [pt(*xy) for xy in rng.uniform(0, 1000, (n, 2))]
    f = factors.proximity(pts, big_grid, reach=300.0)
    cx, cy = centres(big_grid)
    expected = np.min([np.hypot(cx - p.x, cy - p.y) for p in pts], axis=0)
    near = expected <= 300.0 - CELL
    assert np.all(np.isfinite(f.explain[near]))
    # "sub-cell exact": never worse than the distance to the nearest occupied cell's
    # centre, which is within half a cell diagonal of the truth
    assert np.abs(f.explain[near] - expected[near]).max() <= CELL * np.sqrt(2) / 2
    assert np.all(f.value[expected > 300.0 + CELL] == 0)


def test_proximity_to_a_horizontal_line(big_grid, centres):
    yl = Y0 - 503.0
    line = shapely.LineString([(X0 - 100, yl), (X0 + 1100, yl)])
    f = factors.proximity([line], big_grid, reach=600.0)
    cx, cy = centres(big_grid)
    expected = np.abs(cy - yl) * np.ones_like(cx)
    within = expected <= 600.0 - CELL * np.sqrt(2)
    assert np.all(np.isfinite(f.explain[within]))
    assert np.abs(f.explain[within] - expected[within]).max() <= CELL * np.sqrt(2)
    assert np.all(f.value[np.abs(cy - yl) < CELL / 2] == 1.0)


def test_proximity_polygon_edges_or_area(big_grid, square):
    edges = factors.proximity([square], big_grid, reach=300.0, target="edges")
    area = factors.proximity([square], big_grid, reach=300.0, target="area")
    # cell (15, 15) is in the middle of the square (rows/cols 12:20), 75-100 m from its edges
    assert area.explain[15, 15] == 0.0 and area.value[15, 15] == 1.0
    assert edges.explain[15, 15] > 50.0 and edges.value[15, 15] < 1.0
    # outside, both measure the distance to the square (within a cell)
    both = np.isfinite(edges.explain) & np.isfinite(area.explain)
    both[12:20, 12:20] = False
    assert both.sum() > 100
    assert np.abs(edges.explain[both] - area.explain[both]).max() <= CELL


# --- kernel density / density ---------------------------------------------------
@pytest.mark.parametrize("n", [5, 25, 400])  # few points (stamped) or many (filtered)
def test_kernel_density_sums_to_point_count(big_grid, n):
    rng = np.random.default_rng(n)
    xs = X0 + rng.uniform(300, 700, n)
    ys = Y0 - rng.uniform(300, 700, n)
    kd = factors.kernel_density(xs, ys, big_grid, bandwidth=50.0)
    assert kd.dtype == np.float32
    assert kd.shape == big_grid.shape
    assert np.all(kd >= 0)
    assert kd.sum() == pytest.approx(n, rel=1e-4)
    w = rng.uniform(0.1, 3.0, n)
    kdw = factors.kernel_density(xs, ys, big_grid, bandwidth=50.0, weights=w)
    assert kdw.sum() == pytest.approx(w.sum(), rel=1e-4)


def test_kernel_density_loses_mass_off_the_grid(big_grid):
    kd = factors.kernel_density([X0 + 5.0], [Y0 - 500.0], big_grid, bandwidth=50.0)
    assert 0.3 < kd.sum() < 0.7  # about half the kernel lies west of the grid


def test_kernel_density_is_a_gaussian_of_the_bandwidth(big_grid):
    kd = factors.kernel_density([X0 + 512.5], [Y0 - 512.5], big_grid, bandwidth=50.0)
    r, c = np.unravel_index(kd.argmax(), kd.shape)
    assert (r, c) == (20, 20)
    # sigma = 2 cells: the row profile falls by exp(-1/2) one sigma away
    assert kd[20, 22] / kd[20, 20] == pytest.approx(np.exp(-0.5), rel=0.02)


def test_density_in_unit_range_with_max_one(big_grid, centres):
    rng = np.random.default_rng(4)
    pts = [pt(*xy) for xy in rng.uniform(350, 650, (30, 2))]
    f = factors.density(pts, big_grid, bandwidth=75.0)
    assert f.unit == "/km²"
    assert f.value.dtype == np.float32 and f.explain.dtype == np.float32
    assert f.value.min() >= 0 and f.value.max() == pytest.approx(1.0)
    # explain is points per km²: integrates to the number of points (1 cell = 1/1600 km²)
    assert f.explain.sum() * (CELL**2 / 1e6) == pytest.approx(30.0, rel=1e-3)


def test_density_saturation_number(big_grid):
    pts = [pt(500.0, 500.0)] * 4
    f = factors.density(pts, big_grid, bandwidth=50.0, normalize=100.0)
    np.testing.assert_allclose(f.value, np.clip(f.explain / 100.0, 0, 1), rtol=1e-6)
    assert f.value.max() == 1.0  # peak far above 100 /km²
    assert 0 < f.value.min() or f.value.min() == 0


def test_density_needs_points(big_grid, square):
    with pytest.raises(LayerError, match="needs points"):
        factors.density([square], big_grid, bandwidth=50.0)


# --- ring / inside --------------------------------------------------------------
def test_ring_band(big_grid, square, centres):
    distance = 50.0  # step decay, 2 cells
    f = factors.ring([square], big_grid, distance=distance)
    cx, cy = centres(big_grid)
    edge = shapely.distance(square, shapely.points(cx, cy))  # 0 inside
    inside = shapely.contains_xy(square, cx, cy)
    assert inside.sum() == 64
    assert np.all(f.value[inside] == 0)
    # just outside (distances are measured between cell centres: within half a diagonal)
    slack = CELL * np.sqrt(2) / 2
    band = ~inside & (edge <= distance - slack)
    assert band.sum() >= 32 + 4
    assert np.all(f.value[band] == 1.0)
    assert np.all(f.value[~inside & (edge > distance + slack)] == 0)
    assert f.value.dtype == np.float32
    assert set(np.unique(f.value)) <= {0.0, 1.0}


@pytest.mark.parametrize("kind", ["linear", "exponential", "gaussian"])
def test_ring_decays_away_from_polygon(big_grid, square, kind):
    f = factors.ring([square], big_grid, distance=200.0, decay_kind=kind)
    row = f.value[15, 20:]  # going east from the square's east edge
    assert row[0] == pytest.approx(factors.decay(np.array([CELL]), 200.0, kind)[0])
    assert np.all(np.diff(row) <= 0)
    assert row[-1] == 0


def test_ring_needs_polygons(big_grid):
    with pytest.raises(LayerError, match="needs polygons"):
        factors.ring([pt(10, 10)], big_grid, distance=50.0)


def test_inside(big_grid, square, centres):
    tri = shapely.Polygon([(X0 + 600, Y0 - 900), (X0 + 950, Y0 - 900), (X0 + 950, Y0 - 600)])
    f = factors.inside([square, tri], big_grid)
    cx, cy = centres(big_grid)
    expected = shapely.contains_xy(shapely.union_all([square, tri]), cx, cy)
    np.testing.assert_array_equal(f.value.astype(bool), expected)
    assert f.value.dtype == np.float32
    assert f.value.sum() > 64


# --- typed ----------------------------------------------------------------------
def test_typed_max_of_weight_times_decay(big_grid, centres):
    hi, lo, unknown = pt(200.0, 200.0), pt(800.0, 800.0), pt(800.0, 200.0)
    f = factors.typed([hi, lo, unknown], ["shaft", "pit", "other"], big_grid,
                      {"shaft": 1.0, "pit": 0.4}, reach=300.0)
    cx, cy = centres(big_grid)
    v_hi = 1.0 * (1 - np.hypot(cx - hi.x, cy - hi.y) / 300.0).clip(0)
    v_lo = 0.4 * (1 - np.hypot(cx - lo.x, cy - lo.y) / 300.0).clip(0)
    np.testing.assert_allclose(f.value, np.maximum(v_hi, v_lo), atol=1e-5)
    r, c = big_grid.rowcol(lo.x, lo.y)
    assert 0.3 < f.value[r, c] <= 0.4  # near the low-weight point only: at most its weight
    r, c = big_grid.rowcol(unknown.x, unknown.y)
    assert f.value[r, c] == 0.0  # a type without a weight counts for nothing
    assert f.value.max() <= 1.0


def test_typed_explain_is_distance_of_the_winning_type(big_grid):
    hi, lo = pt(300.0, 500.0), pt(500.0, 500.0)
    f = factors.typed([hi, lo], [1, 2], big_grid, {"1": 1.0, "2": 0.2}, reach=400.0)
    r, c = big_grid.rowcol(lo.x + 10, lo.y)
    # the low-weight point is nearer, but the high-weight one gives the larger value
    assert f.value[r, c] == pytest.approx(1 - np.hypot(lo.x + 10 - 2.5 - hi.x, 0) / 400, abs=0.1)
    assert f.explain[r, c] > 150.0


def test_typed_density(big_grid):
    pts = [pt(300.0, 300.0), pt(700.0, 700.0)]
    f = factors.typed(pts, ["a", "b"], big_grid, {"a": 1.0, "b": 0.25}, method="density",
                      bandwidth=50.0)
    ra, ca = big_grid.rowcol(pts[0].x, pts[0].y)
    rb, cb = big_grid.rowcol(pts[1].x, pts[1].y)
    assert f.value[ra, ca] == pytest.approx(1.0)
    assert f.value[rb, cb] == pytest.approx(0.25, rel=1e-4)


# --- every kind: float32 in [0, 1] ----------------------------------------------
@pytest.fixture(params=["proximity_points", "proximity_lines", "density", "ring", "inside",
                        "typed", "typed_density"])
def any_factor(request, big_grid, square):
    pts = [pt(100.0, 120.0), pt(640.0, 330.0), pt(410.0, 870.0), pt(-60.0, 500.0)]
    line = shapely.LineString([(X0 + 50, Y0 - 950), (X0 + 900, Y0 - 50)])
    kind = request.param
    if kind == "proximity_points":
        return factors.proximity(pts, big_grid, 400.0, "gaussian")
    if kind == "proximity_lines":
        return factors.proximity([line, square], big_grid, 400.0, "exponential")
    if kind == "density":
        return factors.density(pts, big_grid, 100.0, weights=[1, 2, 3, 4])
    if kind == "ring":
        return factors.ring([square], big_grid, 150.0, "linear")
    if kind == "inside":
        return factors.inside([square], big_grid)
    types = ["a", "b", "c", "a"]
    if kind == "typed":
        return factors.typed(pts, types, big_grid, {"a": 0.7, "b": 1.0}, reach=300.0)
    return factors.typed(pts, types, big_grid, {"a": 0.7, "b": 1.0}, method="density",
                         bandwidth=80.0)


def test_values_are_float32_in_unit_range(any_factor, big_grid):
    v = any_factor.value
    assert v.dtype == np.float32
    assert v.shape == big_grid.shape
    assert np.all(np.isfinite(v))
    assert v.min() >= 0.0 and v.max() <= 1.0
    assert v.max() > 0.0
    # explain is a float32 distance or density, or for 'inside' the bool mask itself
    assert any_factor.explain.dtype in (np.float32, np.bool_)
    if any_factor.explain.dtype == np.bool_:
        assert np.array_equal(any_factor.explain, v == 1)


# --- helpers --------------------------------------------------------------------
def test_age_weights():
    as_of = dt.date(2026, 1, 31)
    w = factors.age_weights(["2026-01-31", "2026-01-01", "2025-12-02", "2026-03-01", None],
                            as_of, half_life_days=30)
    np.testing.assert_allclose(w, [1.0, 0.5, 0.25, 0.0, 0.0])


@pytest.mark.parametrize(("reach", "cell", "n"), [(100, 25, 5), (90, 25, 5), (0.1, 25, 2)])
def test_halo_cells(reach, cell, n):
    assert factors.halo_cells(reach, cell) == n


# --- halo: features just outside the grid ---------------------------------------
def _spec(kind, **params):
    return FactorSpec(name="f", label="f", source=Source(path=Path("f.gpkg")), kind=kind,
                      weight=1.0, params=params)


def test_halo_point_outside_grid_reaches_edge_cells(big_grid, centres):
    p = pt(-30.0, 500.0)  # 30 m west of the grid
    gdf = gpd.GeoDataFrame(geometry=[p], crs="EPSG:4547")
    spec = _spec("proximity", range=100.0, decay="linear", target="edges")
    f = factor_on_grid(spec, gdf, big_grid, dt.date(2026, 1, 1))
    assert f.value.shape == big_grid.shape
    cx, cy = centres(big_grid)
    d = np.hypot(cx - p.x, cy - p.y)
    np.testing.assert_allclose(f.explain[d <= 100], d[d <= 100], atol=1e-3)
    assert f.value[19, 0] == pytest.approx(1 - np.hypot(42.5, 12.5) / 100, abs=1e-5)
    assert np.all(f.value[d > 100] == 0)


def test_halo_density_point_outside_grid(big_grid):
    gdf = gpd.GeoDataFrame(geometry=[pt(-20.0, 500.0)], crs="EPSG:4547")
    spec = _spec("density", bandwidth=50.0, normalize="max")
    f = factor_on_grid(spec, gdf, big_grid, dt.date(2026, 1, 1))
    assert f.value[20, 0] > 0.5
    assert f.value[20, 10] == 0


def test_halo_ring_polygon_outside_grid(big_grid):
    poly = shapely.box(X0 - 200, Y0 - 600, X0 - 10, Y0 - 400)
    gdf = gpd.GeoDataFrame(geometry=[poly], crs="EPSG:4547")
    f = factor_on_grid(_spec("ring", distance=60.0, decay="step"), gdf, big_grid,
                       dt.date(2026, 1, 1))
    assert f.value[20, 0] == 1.0 and f.value[20, 1] == 1.0
    assert f.value[20, 5] == 0.0


def test_halo_typed_point_outside_grid(big_grid):
    gdf = gpd.GeoDataFrame({"t": ["shaft", "pit"]}, geometry=[pt(-30.0, 500.0), pt(1040.0, 500.0)],
                           crs="EPSG:4547")
    spec = _spec("typed", type_field="t", types={"shaft": 1.0, "pit": 0.5}, method="proximity",
                 range=100.0, decay="linear")
    f = factor_on_grid(spec, gdf, big_grid, dt.date(2026, 1, 1))
    assert f.value[19, 0] == pytest.approx(1 - np.hypot(42.5, 12.5) / 100, abs=1e-5)
    assert f.value[19, 39] == pytest.approx(0.5 * (1 - np.hypot(52.5, 12.5) / 100), abs=1e-5)
    assert f.value[:, 5:35].max() == 0


@pytest.mark.parametrize("n", [1, 400])  # stamped or transformed
def test_points_beyond_the_edge_count(big_grid, centres, n):
    rng = np.random.default_rng(n)
    xs = X0 - rng.uniform(5, 60, n)  # all west of the grid, within reach
    ys = Y0 - rng.uniform(0, 1000, n)
    f = factors.proximity(shapely.points(xs, ys), big_grid, reach=150.0)
    cx, cy = centres(big_grid)
    expected = np.min(np.hypot(cx[..., None] - xs, cy[..., None] - ys), axis=2)
    near = expected <= 150.0 - CELL
    assert near[:, 0].sum() >= 5
    assert np.all(np.isfinite(f.explain[near]))
    assert np.abs(f.explain[near] - expected[near]).max() <= CELL * np.sqrt(2) / 2
