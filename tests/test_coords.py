"""riskmap.load.values, riskmap.crs: cell parsing, GCJ-02/BD-09, Gauss-Krüger detection and CRSs.

GCJ-02 and BD-09 forward formulas are checked against `prcoords` (PyPI, the
public-domain PRCoords by Mingye Wang), which uses the Krasovsky constants of
the widely published formula.
"""

import math

import numpy as np
import pandas as pd
import prcoords
import pytest
from pyproj import CRS, Geod, Transformer

from riskmap.crs.china import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    looks_swapped_lonlat,
    out_of_china,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from riskmap.crs.gk import GKGuess, detect_gk, gk_crs
from riskmap.errors import LayerError
from riskmap.load.values import parse_angles, parse_numbers

GEOD = Geod(ellps="WGS84")
NAN = float("nan")


def _grid(lon0, lon1, lat0, lat1, n_lon, n_lat):
    lon, lat = np.meshgrid(np.linspace(lon0, lon1, n_lon), np.linspace(lat0, lat1, n_lat))
    return lon.ravel(), lat.ravel()


DISTRICT = _grid(113.35, 113.75, 37.70, 38.02, 41, 33)
CHINA = _grid(73.6, 134.7, 18.2, 53.5, 123, 72)


def _metres(lon0, lat0, lon1, lat1):
    return GEOD.inv(lon0, lat0, lon1, lat1)[2]


# ---------------------------------------------------------------------------
# parse_numbers
# ---------------------------------------------------------------------------

NUMBER_CASES = [
    # (cell, value or None for NaN, bad)
    ("4190123.5", 4190123.5, False),
    ("  4190123.5  ", 4190123.5, False),
    ("４１９０１２３．５", 4190123.5, False),
    ("－１２．５", -12.5, False),
    ("＋１２", 12.0, False),
    ("\u30004190123.5\u3000", 4190123.5, False),
    ("4,190,123.5", 4190123.5, False),
    ("４，１９０，１２３．５", 4190123.5, False),
    ("4 190 123.5", 4190123.5, False),
    ("38\u00a0512\u00a0345.6", 38512345.6, False),
    ("'4190123.5", 4190123.5, False),
    ('"4190123.5"', 4190123.5, False),
    ("“4190123.5”", 4190123.5, False),
    ("4190123.5m", 4190123.5, False),
    ("4190123.5 m", 4190123.5, False),
    ("4190123.5米", 4190123.5, False),
    ("'512345.6 米", 512345.6, False),
    ("-0.5", -0.5, False),
    (".5", 0.5, False),
    ("4190123.", 4190123.0, False),
    ("4.19e6", 4190000.0, False),
    (4190123, 4190123.0, False),
    (4190123.5, 4190123.5, False),
    (np.float32(2.5), 2.5, False),
    (np.int64(7), 7.0, False),
    ("", None, False),
    ("   ", None, False),
    ("\u3000", None, False),
    (None, None, False),
    (NAN, None, False),
    (np.nan, None, False),
    (pd.NA, None, False),
    ("abc", None, True),
    ("4190123,5", None, True),  # decimal comma: ambiguous, refused
    ("4,19,0123", None, True),
    ("4 190 123,5", None, True),
    ("4,190 123", None, True),  # mixed separators
    ("12 km", None, True),
    ("m", None, True),
    ("米", None, True),
    ("1.2.3", None, True),
    ("--5", None, True),
    ("inf", None, True),
    ("nan", None, True),
    (math.inf, None, True),
    (True, None, True),
    ("4190123.5N", None, True),
]


@pytest.mark.parametrize(("cell", "value", "bad"), NUMBER_CASES)
def test_parse_numbers_cases(cell, value, bad):
    values, mask = parse_numbers([cell])
    assert values.dtype == np.float64 and mask.dtype == bool
    assert bool(mask[0]) is bad
    if value is None:
        assert np.isnan(values[0])
    else:
        assert values[0] == pytest.approx(value, rel=1e-12)


def test_parse_numbers_whole_column_keeps_positions():
    cells = [case[0] for case in NUMBER_CASES]
    values, bad = parse_numbers(pd.Series(cells, index=range(100, 100 + len(cells))))
    assert values.shape == bad.shape == (len(cells),)
    for i, (_, value, is_bad) in enumerate(NUMBER_CASES):
        assert bad[i] == is_bad, cells[i]
        assert np.isnan(values[i]) if value is None else values[i] == pytest.approx(value)


def test_parse_numbers_numeric_arrays():
    values, bad = parse_numbers(np.array([1.5, np.nan, np.inf, 4190123.0]))
    np.testing.assert_array_equal(bad, [False, False, True, False])
    np.testing.assert_array_equal(values, [1.5, np.nan, np.nan, 4190123.0])
    values, bad = parse_numbers(pd.Series([3, 4], dtype="int64"))
    np.testing.assert_array_equal(values, [3.0, 4.0])
    assert not bad.any()


def test_parse_numbers_does_not_stringify_mixed_lists():
    # np.asarray(["1", nan]) would turn NaN into the text "nan"
    values, bad = parse_numbers(["1", NAN, None, 2])
    np.testing.assert_array_equal(values, [1.0, np.nan, np.nan, 2.0])
    assert not bad.any()


# ---------------------------------------------------------------------------
# parse_angles
# ---------------------------------------------------------------------------

D = 113 + 31 / 60 + 20.5 / 3600
ANGLE_CASES = [
    ("113.5225", 113.5225, False),
    ("113.5225°", 113.5225, False),
    (113.5225, 113.5225, False),
    ("113°31'20.5\"", D, False),
    ("113°31′20.5″", D, False),
    ("113° 31′ 20.5″", D, False),
    ("113°31'20.5''", D, False),
    ("113°31’20.5”", D, False),
    ("113°31'20.5", D, False),
    ("113度31分20.5秒", D, False),
    ("113:31:20.5", D, False),
    ("113 31 20.5", D, False),
    ("113°31.342'", 113 + 31.342 / 60, False),
    ("113°31'", 113 + 31 / 60, False),
    ("113:31.342", 113 + 31.342 / 60, False),
    ("１１３°３１＇２０．５＂", D, False),
    ("１１３度３１分２０．５秒", D, False),
    ("１１３：３１：２０．５", D, False),
    ("E113°31'20.5\"", D, False),
    ("113°31'20.5\"E", D, False),
    ("113°31'20.5\" E", D, False),
    ("Ｅ１１３．５", 113.5, False),
    ("W113.5", -113.5, False),
    ("37.5S", -37.5, False),
    ("N37°45'", 37.75, False),
    ("东经113°31′20.5″", D, False),
    ("东经：113.5", 113.5, False),
    ("北纬37度45分", 37.75, False),
    ("西经113.5", -113.5, False),
    ("南纬12度30分", -12.5, False),
    ("-37.5", -37.5, False),
    ("'113°31'20.5\"", D, False),
    ("", None, False),
    ("  ", None, False),
    (None, None, False),
    (NAN, None, False),
    ("113°60'", None, True),
    ("113°31'60\"", None, True),
    ("113:75:00", None, True),
    ("113.5°31'", None, True),  # decimals on degrees with minutes
    ("113°31.5'20\"", None, True),  # decimals on minutes with seconds
    ("-113.5E", None, True),
    ("E113.5N", None, True),
    ("E", None, True),
    ("31'20\"", None, True),
    ("abc", None, True),
    ("113°31'20.5\"X", None, True),
    ("4190123.5", None, True),  # a projected coordinate, not an angle
    (200.0, None, True),
    (True, None, True),
]


@pytest.mark.parametrize(("cell", "value", "bad"), ANGLE_CASES)
def test_parse_angles_cases(cell, value, bad):
    values, mask = parse_angles([cell])
    assert bool(mask[0]) is bad
    if value is None:
        assert np.isnan(values[0])
    else:
        assert values[0] == pytest.approx(value, abs=1e-12)


def test_parse_angles_numeric_arrays():
    values, bad = parse_angles(np.array([113.5, np.nan, 181.0, -37.5]))
    np.testing.assert_array_equal(bad, [False, False, True, False])
    np.testing.assert_array_equal(values, [113.5, np.nan, np.nan, -37.5])


# ---------------------------------------------------------------------------
# GCJ-02 / BD-09
# ---------------------------------------------------------------------------

def _reference(fn, lon, lat):
    out = [fn((la, lo)) for lo, la in zip(lon, lat, strict=True)]
    return np.array([p.lon for p in out]), np.array([p.lat for p in out])


@pytest.mark.parametrize("points", [DISTRICT, CHINA], ids=["district", "china"])
def test_forward_transforms_match_reference(points):
    lon, lat = points
    gl, ga = wgs84_to_gcj02(lon, lat)
    rl, ra = _reference(prcoords.wgs_gcj, lon, lat)
    assert np.abs(gl - rl).max() < 1e-11 and np.abs(ga - ra).max() < 1e-11
    # and the offset is the real one: hundreds of metres
    assert _metres(lon, lat, gl, ga).min() > 10

    bl, ba = gcj02_to_bd09(gl, ga)
    rl, ra = _reference(prcoords.gcj_bd, gl, ga)
    assert np.abs(bl - rl).max() < 1e-11 and np.abs(ba - ra).max() < 1e-11

    wl, wa = wgs84_to_bd09(lon, lat)
    rl, ra = _reference(prcoords.wgs_bd, lon, lat)
    assert np.abs(wl - rl).max() < 1e-11 and np.abs(wa - ra).max() < 1e-11


@pytest.mark.parametrize("points", [DISTRICT, CHINA], ids=["district", "china"])
def test_gcj_inverse_is_exact(points):
    lon, lat = points
    gl, ga = wgs84_to_gcj02(lon, lat)
    back_lon, back_lat = gcj02_to_wgs84(gl, ga)
    err = _metres(lon, lat, back_lon, back_lat)
    assert err.max() < 0.5  # the requirement
    assert err.max() < 0.01  # what the iteration achieves
    # the forward transform of the result reproduces the input to 1e-9 degree
    fl, fa = wgs84_to_gcj02(back_lon, back_lat)
    assert np.abs(fl - gl).max() < 1e-9 and np.abs(fa - ga).max() < 1e-9

    # the common one-step inverse (gcj - offset(gcj)) misses by metres
    approx_lon = 2 * gl - wgs84_to_gcj02(gl, ga)[0]
    approx_lat = 2 * ga - wgs84_to_gcj02(gl, ga)[1]
    assert _metres(lon, lat, approx_lon, approx_lat).max() > 1.0


@pytest.mark.parametrize("points", [DISTRICT, CHINA], ids=["district", "china"])
def test_bd_round_trips(points):
    lon, lat = points
    bl, ba = wgs84_to_bd09(lon, lat)
    assert _metres(lon, lat, bl, ba).min() > 100
    back_lon, back_lat = bd09_to_wgs84(bl, ba)
    assert _metres(lon, lat, back_lon, back_lat).max() < 0.01

    gl, ga = wgs84_to_gcj02(lon, lat)
    bl2, ba2 = gcj02_to_bd09(gl, ga)
    np.testing.assert_allclose(bl2, bl, rtol=0, atol=1e-12)
    gl2, ga2 = bd09_to_gcj02(bl2, ba2)
    assert _metres(gl, ga, gl2, ga2).max() < 0.01
    # exact: better than the reference's own bounded iteration needs
    fl, fa = gcj02_to_bd09(gl2, ga2)
    assert np.abs(fl - bl2).max() < 1e-9 and np.abs(fa - ba2).max() < 1e-9


ALL_TRANSFORMS = [wgs84_to_gcj02, gcj02_to_wgs84, gcj02_to_bd09, bd09_to_gcj02,
                  wgs84_to_bd09, bd09_to_wgs84]


@pytest.mark.parametrize("fn", ALL_TRANSFORMS, ids=lambda f: f.__name__)
def test_outside_china_unchanged(fn):
    lon = np.array([2.35, -74.0, 139.7, 113.5, 60.0, 113.5, NAN])
    lat = np.array([48.85, 40.7, 35.7, 56.0, 40.0, 37.8, 37.8])
    out_l, out_a = fn(lon, lat)
    moved = ~np.isclose(out_l, lon, equal_nan=True) | ~np.isclose(out_a, lat, equal_nan=True)
    np.testing.assert_array_equal(moved, [False, False, False, False, False, True, False])
    np.testing.assert_array_equal(out_l[:5], lon[:5])
    np.testing.assert_array_equal(out_a[:5], lat[:5])
    assert np.isnan(out_l[6])


def test_out_of_china_box():
    mask = out_of_china([72.0, 72.005, 137.83, 137.84, 113.5, 113.5, 113.5, NAN],
                        [30.0, 30.0, 30.0, 30.0, 0.8, 0.83, 55.9, 30.0])
    np.testing.assert_array_equal(mask, [True, False, False, True, True, False, True, True])


def test_transforms_keep_shape_and_accept_scalars():
    lon, lat = wgs84_to_gcj02(113.5, 37.8)
    assert lon.shape == lat.shape == () and lon > 113.5
    grid_lon = np.full((3, 4), 113.5)
    grid_lat = np.full((3, 4), 37.8)
    for fn in ALL_TRANSFORMS:
        out_l, out_a = fn(grid_lon, grid_lat)
        assert out_l.shape == out_a.shape == (3, 4)
    # inputs are not modified in place
    assert (grid_lon == 113.5).all() and (grid_lat == 37.8).all()


# ---------------------------------------------------------------------------
# looks_swapped_lonlat
# ---------------------------------------------------------------------------

def test_looks_swapped_lonlat():
    lon = np.array([37.8, 113.5, 37.8, 60.0, 18.0, NAN])
    lat = np.array([113.5, 37.8, 37.8, 113.5, 136.0, 113.5])
    np.testing.assert_array_equal(looks_swapped_lonlat(lon, lat),
                                  [True, False, False, False, True, False])


# ---------------------------------------------------------------------------
# detect_gk
# ---------------------------------------------------------------------------

NORTH = np.array([4190123.45, 4190456.7, NAN, 4191000.0, 4189999.9])
EAST = np.array([512345.6, 512400.0, 512500.0, NAN, 513000.0])


def test_detect_gk_prefixed_in_surveyors_order():
    guess = detect_gk(NORTH, EAST + 38e6)
    assert guess == GKGuess(0, 38, True, guess.message)
    assert "带号38" in guess.message and "zone prefix 38" in guess.message
    assert guess.message.startswith("X列为北坐标, Y列")
    x, y = guess.to_xy(NORTH, EAST + 38e6)
    np.testing.assert_allclose(x, EAST, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(y, NORTH)


def test_detect_gk_unprefixed():
    guess = detect_gk(NORTH, EAST)
    assert (guess.northing_col, guess.zone, guess.prefixed) == (0, None, False)
    assert "without zone prefix" in guess.message
    x, y = guess.to_xy(NORTH, EAST)
    np.testing.assert_array_equal(x, EAST)
    np.testing.assert_array_equal(y, NORTH)


@pytest.mark.parametrize("prefix", [0, 39e6])
def test_detect_gk_swapped_columns(prefix):
    guess = detect_gk(EAST + prefix, NORTH)
    assert guess.northing_col == 1
    assert guess.prefixed is bool(prefix)
    assert guess.message.startswith("Y列为北坐标, X列")
    x, y = guess.to_xy(EAST + prefix, NORTH)
    np.testing.assert_allclose(x, EAST, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(y, NORTH)


def test_detect_gk_uses_given_names():
    guess = detect_gk(EAST, NORTH, names=("东坐标", "北坐标"))
    assert guess.message.startswith("北坐标列为北坐标, 东坐标列")


def test_detect_gk_is_frozen():
    guess = detect_gk(NORTH, EAST)
    with pytest.raises(AttributeError):
        guess.zone = 40


@pytest.mark.parametrize(("a", "b", "row", "words"), [
    # different zone prefixes
    (NORTH, np.array([38512345.6, 39512400.0, 38512500.0, NAN, 38513000.0]), 2, "39"),
    # negative
    (np.array([4190123.4, -4190456.7]), np.array([512345.6, 512400.0]), 2, "negative"),
    # impossible magnitude
    (np.array([4190123.4, 4190456.7, 41904.5]), EAST[:3], 3, "not a Gauss-Kr"),
    # northing too far north for China
    (np.array([4190123.4, 7190456.7]), EAST[:2], 2, "X"),
    # as many rows with the prefix as without: no majority to repair by
    (NORTH[:2], np.array([38512345.6, 512400.0]), 2, "as many rows"),
    # as many rows in each order
    (np.array([4190123.4, 512400.0]), np.array([512345.6, 4190456.7]), 2, "as many other rows"),
    # two northings in one row
    (np.array([4190123.4, 4190456.7, 4190500.0]), np.array([512345.6, 4190456.7, 512500.0]),
     2, "both are northings"),
])
def test_detect_gk_refuses_with_row(a, b, row, words):
    with pytest.raises(LayerError, match=rf"^row {row}: ") as err:
        detect_gk(a, b)
    assert words in str(err.value)


def test_detect_gk_refuses_every_row_at_once():
    # a 6-degree zone prefix on every easting: both rows named, not only the first
    with pytest.raises(LayerError, match=r"^rows 1, 2: .*6-degree") as err:
        detect_gk(NORTH[:2], np.array([19512345.6, 19512400.0]))
    assert "19,512,345.600 on row 1" in str(err.value) and "on row 2" in str(err.value)
    # several kinds of trouble in one message, rows labelled as the sheet numbers them
    a = np.array([4190123.4, -1.0, 4190500.0, 4190600.0, 4190700.0, 41904.5, 4190800.0])
    b = np.array([38512345.6, 38512400.0, 39512500.0, 4190600.0, 38512700.0, 38512800.0,
                  39512900.0])
    with pytest.raises(LayerError) as err:
        detect_gk(a, b, rows=np.arange(11, 18))
    msg = str(err.value)
    for words in ("row 12: X = -1.000 负数", "row 14: X = 4,190,600.000, Y = 4,190,600.000",
                  "both are northings", "row 16: X = 41,904.500",
                  "rows 13, 17: 是带号39的东坐标", "on row 13", "on row 17"):
        assert words in msg, words
    assert "row 11" not in msg and "row 15" not in msg


@pytest.mark.parametrize(("a", "b", "swapped", "added", "removed", "zone", "row_zone"), [
    # one easting without prefix among prefixed ones
    (NORTH, np.array([38512345.6, 38512400.0, 512500.0, NAN, 38513000.0]), (), (2,), (), 38,
     None),
    # the first row is the odd one: the other rows decide
    (NORTH, np.array([512345.6, 38512400.0, 38512500.0, NAN, 38513000.0]), (), (0,), (), 38,
     None),
    # one row's X and Y swapped, and its easting without the others' prefix
    (np.array([4190123.4, 512400.0, 4190500.0]),
     np.array([38512345.6, 4190456.7, 38512500.0]), (1,), (1,), (), 38, None),
    # eastings without prefix, two with it: removed, their zone kept as the table's word
    (np.array([4190123.45, 4190456.7, 4190500.0, 4191000.0, 4189999.9]),
     np.array([512345.6, 37512400.0, 512500.0, 512600.0, 37513000.0]), (), (), (1, 4), None,
     37),
    # columns swapped in most rows (X = easting), one row in surveyors' order
    (np.array([512345.6, 4190456.7, 512500.0]), np.array([4190123.4, 512400.0, 4190500.0]),
     (1,), (), (), None, None),
])
def test_detect_gk_repairs_rows_that_differ(a, b, swapped, added, removed, zone, row_zone):
    guess = detect_gk(a, b, rows=np.arange(len(a)) + 5)
    assert (guess.swapped, guess.prefix_added, guess.prefix_removed) == (swapped, added, removed)
    assert guess.zone == zone and guess.row_zone == row_zone
    assert len(guess.repairs) == bool(swapped) + bool(added) + bool(removed)
    for pos in (*swapped, *added, *removed):  # every repaired row named, as labelled
        assert any(f"{pos + 5}" in r for r in guess.repairs)
    e, n = guess.to_xy(a, b)
    ok = ~np.isnan(e)
    assert ((e[ok] > 5e5) & (e[ok] < 5.2e5)).all()
    assert ((n[~np.isnan(n)] > 4.18e6) & (n[~np.isnan(n)] < 4.2e6)).all()


def test_detect_gk_repair_messages():
    a = np.array([4190123.4, 512400.0, 4190500.0, 4190600.0])
    b = np.array([512345.6, 4190456.7, 37512500.0, 512600.0])
    guess = detect_gk(a, b, rows=[3, 4, 5, 6])
    assert guess.repairs == (
        "第 4 行X与Y对调, 已换回 (rows 4: X and Y swapped, put back: the other rows hold the "
        "northing in X)",
        "第 5 行东坐标带有带号37, 已去除 (rows 5: the easting carries the zone prefix 37 while "
        "the other rows carry none; removed)")
    e, n = guess.to_xy(a, b)
    np.testing.assert_allclose(e, [512345.6, 512400.0, 512500.0, 512600.0], atol=1e-6)
    np.testing.assert_array_equal(n, [4190123.4, 4190456.7, 4190500.0, 4190600.0])


def test_detect_gk_needs_one_northing_and_one_easting():
    with pytest.raises(LayerError, match="northings"):
        detect_gk(NORTH, NORTH)
    with pytest.raises(LayerError, match="eastings"):
        detect_gk(EAST, EAST + 38e6)
    with pytest.raises(LayerError, match="no coordinates"):
        detect_gk(NORTH, [NAN] * 5)


# ---------------------------------------------------------------------------
# gk_crs
# ---------------------------------------------------------------------------

@pytest.mark.parametrize(("kwargs", "epsg"), [
    ({"zone": 25, "prefixed": True}, 4513),
    ({"zone": 38, "prefixed": True}, 4526),
    ({"zone": 45, "prefixed": True}, 4533),
    ({"central_meridian": 114, "prefixed": True}, 4526),
    ({"zone": 38}, 4547),
    ({"central_meridian": 114}, 4547),
    ({"central_meridian": 75}, 4534),
    ({"central_meridian": 135.0}, 4554),
    ({"zone": 38, "central_meridian": 114}, 4547),
])
def test_gk_crs_cgcs2000_epsg(kwargs, epsg):
    crs = gk_crs("cgcs2000", **kwargs)
    assert crs.to_epsg() == epsg
    assert crs == CRS.from_epsg(epsg)


def test_gk_crs_prefixed_and_stripped_agree():
    a, b = np.array([4190123.45]), np.array([38512345.6])
    guess = detect_gk(a, b)
    x, y = guess.to_xy(a, b)
    plain = Transformer.from_crs(gk_crs("cgcs2000", zone=guess.zone), 4490, always_xy=True)
    pref = Transformer.from_crs(gk_crs("cgcs2000", zone=guess.zone, prefixed=True), 4490,
                                always_xy=True)
    p1 = plain.transform(x, y)
    p2 = pref.transform(b, a)
    assert _metres(*p1, *p2)[0] < 1e-6
    assert 113 < p1[0][0] < 115 and 37 < p1[1][0] < 39


def test_gk_crs_cgcs2000_local_meridian():
    crs = gk_crs("cgcs2000", central_meridian=113.5)
    assert crs.is_projected and crs.to_epsg() is None
    assert crs.geodetic_crs == CRS.from_epsg(4490).geodetic_crs
    x, y = Transformer.from_crs(4490, crs, always_xy=True).transform(113.5, 37.8)
    assert x == pytest.approx(500000.0, abs=1e-6) and 4180000 < y < 4200000


@pytest.mark.parametrize("datum", ["xian80", "beijing54", "Xian80"])
def test_gk_crs_old_datums_need_towgs84(datum):
    with pytest.raises(LayerError, match="towgs84") as err:
        gk_crs(datum, zone=38)
    msg = str(err.value)
    assert "never treated as CGCS2000" in msg and "七参数" in msg


@pytest.mark.parametrize(("datum", "towgs84"), [
    ("xian80", [15.0, -20.0, 10.0]),
    ("xian80", [15.0, -20.0, 10.0, 0.1, 0.2, -0.3, 1.5]),
    ("beijing54", [-12.5, 30.0, 18.0]),
    ("beijing54", [15, -20, 10, 0.1, 0.2, -0.3, 1.5]),
])
def test_gk_crs_old_datum_with_towgs84_near_cgcs2000(datum, towgs84):
    crs = gk_crs(datum, zone=38, towgs84=towgs84)
    proj = crs.srs
    assert "+towgs84=" in proj and "+lon_0=114" in proj and "+x_0=500000" in proj
    xy = (456300.0, 4190700.0)
    p_old = Transformer.from_crs(crs, 4326, always_xy=True).transform(*xy)
    p_new = Transformer.from_crs(4547, 4326, always_xy=True).transform(*xy)
    d = _metres(*p_old, *p_new)
    assert 1.0 < d < 200.0  # moved by the datum, but not to another place


def test_gk_crs_old_datum_prefixed():
    plain = gk_crs("xian80", zone=38, towgs84=[15, -20, 10])
    pref = gk_crs("xian80", zone=38, prefixed=True, towgs84=[15, -20, 10])
    assert "+x_0=38500000" in pref.srs
    p1 = Transformer.from_crs(plain, 4326, always_xy=True).transform(512345.6, 4190123.4)
    p2 = Transformer.from_crs(pref, 4326, always_xy=True).transform(38512345.6, 4190123.4)
    assert _metres(*p1, *p2) < 1e-6


def test_gk_crs_wgs84():
    crs = gk_crs("wgs84", central_meridian=114)
    p1 = Transformer.from_crs(crs, 4326, always_xy=True).transform(456300.0, 4190700.0)
    p2 = Transformer.from_crs(4547, 4490, always_xy=True).transform(456300.0, 4190700.0)
    assert _metres(*p1, *p2) < 0.001  # WGS84 and CGCS2000 ellipsoids differ by 0.1 mm


@pytest.mark.parametrize(("args", "kwargs", "words"), [
    (("nad83",), {"zone": 38}, "unknown datum"),
    (("cgcs2000",), {}, "zone"),
    (("cgcs2000",), {"zone": 50}, "25–45"),
    (("cgcs2000",), {"zone": 38, "central_meridian": 111}, "114"),
    (("cgcs2000",), {"central_meridian": 10}, "not in China"),
    (("cgcs2000",), {"central_meridian": 113.5, "prefixed": True}, "prefix"),
    (("cgcs2000",), {"zone": 38, "towgs84": [1, 2, 3]}, "towgs84"),
    (("xian80",), {"zone": 38, "towgs84": [1, 2, 3, 4, 5]}, "3 or 7"),
    (("xian80",), {"zone": 38, "towgs84": [1, 2, NAN]}, "3 or 7"),
    (("beijing54",), {"zone": 38, "towgs84": "abc"}, "3 or 7"),
])
def test_gk_crs_refusals(args, kwargs, words):
    with pytest.raises(LayerError, match=words):
        gk_crs(*args, **kwargs)
