"""Property-based tests (hypothesis) of the parsers at the input edge.

Coordinate strings, cell ids, project files, corner-coordinate tables and the
dates of returned sheets: values written the ways people write them come back,
and anything else is refused with riskmap's own error (a ``bad`` mask for
coordinates), never another exception.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import random
import string
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
import shapely
import yaml
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from tinyproject import project_dict

from riskmap.errors import ProjectFileError, RiskmapWarning
from riskmap.field.history import Week
from riskmap.field.ingest import parse_date
from riskmap.grid.cellid import cell_ids, parse_cell_id
from riskmap.load import values
from riskmap.pipeline.project import load_project

FAST = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=20, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])
FULL = str.maketrans({**{c: chr(ord(c) + 0xFEE0) for c in string.digits + ".-+"}})


# --- coordinate strings -------------------------------------------------------------
def _dms(draw, deg_max):
    d = draw(st.integers(0, deg_max - 1))
    m = draw(st.integers(0, 59))
    s = draw(st.integers(0, 59_999)) / 1000  # three decimals, below 60
    marks = draw(st.sampled_from([("°", "′", "″"), ("°", "'", '"'), ("度", "分", "秒")]))
    text = f"{d}{marks[0]}{m}{marks[1]}{s:.3f}{marks[2]}"
    return text, d + m / 60 + s / 3600


@st.composite
def angle_texts(draw):
    """(text, value) for an angle as a table may hold it."""
    deg_max = draw(st.sampled_from([90, 180]))
    if draw(st.booleans()):
        value = draw(st.floats(-deg_max, deg_max, allow_nan=False))
        text = f"{value:.9f}"
        value = float(text)
    else:
        text, value = _dms(draw, deg_max)
        if draw(st.booleans()):
            text, value = "-" + text, -value
    if draw(st.booleans()):
        text = text.translate(FULL)
    pad = draw(st.sampled_from(["", " ", "\u3000", "\t"]))
    return pad + text + pad, value


@given(st.lists(angle_texts(), min_size=1, max_size=6))
@FAST
def test_angles_come_back(cells):
    got, bad = values.parse_angles([t for t, _ in cells])
    assert not bad.any(), cells
    assert np.allclose(got, [v for _, v in cells], rtol=0, atol=1e-6), cells


@st.composite
def number_texts(draw):
    """(text, value) for a projected coordinate or other number in a table cell."""
    value = draw(st.floats(-1e8, 1e8, allow_nan=False))
    text = f"{value:.{draw(st.integers(0, 4))}f}"
    exact = float(text)
    if draw(st.booleans()) and abs(exact) >= 1000:
        whole, _, frac = text.lstrip("-").partition(".")
        sep = draw(st.sampled_from([",", " "]))
        whole = f"{int(whole):,}".replace(",", sep)
        text = ("-" if text.startswith("-") else "") + whole + ("." + frac if frac else "")
    if draw(st.booleans()):
        text = text.translate(FULL)
    text += draw(st.sampled_from(["", "m", " 米"]))
    return text, exact


@given(st.lists(number_texts(), min_size=1, max_size=6))
@FAST
def test_numbers_come_back(cells):
    got, bad = values.parse_numbers([t for t, _ in cells])
    assert not bad.any(), cells
    assert np.allclose(got, [v for _, v in cells], rtol=1e-12, atol=1e-6), cells


TOKENS = [*"0123456789.,-+ °′″'\"度分秒:ENSWexm米\u3000１２．∞", "东经", "北纬", "nan", "inf"]
CELL = st.one_of(
    st.lists(st.sampled_from(TOKENS), max_size=12).map("".join),
    st.text(max_size=10),
    st.floats(), st.integers(-(10**30), 10**30), st.booleans(), st.none(),
)


@given(st.lists(CELL, min_size=1, max_size=8))
@FAST
@example(["nan", "inf", "-inf", "1e999", "113°60'", "1.5°30'", "E-113", True, float("inf")])
def test_garbage_only_marks_bad(cells):
    for parse in (values.parse_angles, values.parse_numbers):
        got, bad = parse(cells)  # never raises
        assert got.shape == bad.shape == (len(cells),)
        assert np.isnan(got[bad]).all()  # a bad cell has no value
        ok = ~bad & ~np.isnan(got)
        assert np.isfinite(got[ok]).all()
    got, bad = values.parse_angles(cells)
    assert (np.abs(got[~np.isnan(got)]) <= 180).all()


# --- cell ids --------------------------------------------------------------------------
@st.composite
def lattice(draw):
    size = draw(st.sampled_from([50, 100, 250, 1000, 2000]))
    n = draw(st.integers(1, 20))
    step = max(size, 1000)
    e = np.array(draw(st.lists(st.integers(-50, 900), min_size=n, max_size=n)))
    nn = np.array(draw(st.lists(st.integers(-50, 6000), min_size=n, max_size=n)))
    x, y = e * 1000.0, nn * 1000.0
    if size == 2000:
        x, y = (e // 2) * 2000.0, (nn // 2) * 2000.0
    elif size < 1000:
        per = step // size
        x = x + np.array(draw(st.lists(st.integers(0, per - 1), min_size=n, max_size=n))) * size
        y = y + np.array(draw(st.lists(st.integers(0, per - 1), min_size=n, max_size=n))) * size
    return size, x, y


@given(lattice())
@FAST
def test_cell_ids_round_trip(case):
    size, x, y = case
    ids = cell_ids(x, y, size)
    back = np.array([parse_cell_id(i, size) for i in ids])
    assert np.array_equal(back[:, 0], x) and np.array_equal(back[:, 1], y), (size, list(ids))
    # distinct cells have distinct ids
    assert len(set(ids)) == len(set(zip(x.tolist(), y.tolist(), strict=True)))


# --- project files ---------------------------------------------------------------------
def _minimal() -> dict:
    d = project_dict()
    d["factors"][0]["source"] = {"path": "tiny.gpkg", "layer": "mines"}  # a source mapping
    d["classes"] = {"method": "quantile"}
    d["map"] = {"paper": "A3"}
    d["plan"] = {"per_village": 5}
    d["incidents"] = {"source": "tiny.gpkg:mines", "date_field": "date"}
    return d


LEVELS = {  # where an unknown key can go: path in the dict -> allowed keys there
    (): "_TOP_KEYS", ("district",): "_AREA_KEYS", ("townships",): "_AREA_KEYS",
    ("villages",): "_AREA_KEYS", ("classes",): "_CLASS_KEYS", ("map",): "_MAP_KEYS",
    ("plan",): "_PLAN_KEYS", ("incidents",): "_INCIDENT_KEYS",
    ("factors", 0, "source"): "_SOURCE_KEYS",
    **{("factors", i): None for i in range(5)},
}


def _load(d: dict):
    with tempfile.TemporaryDirectory() as folder:
        p = Path(folder) / "project.yaml"
        p.write_text(yaml.safe_dump(d, allow_unicode=True, sort_keys=False), encoding="utf-8")
        return load_project(p)


def _allowed(where) -> set:
    import riskmap.load.project as rp

    name = LEVELS[where]
    if name is not None:
        return getattr(rp, name)
    from riskmap.factors import KINDS

    kind = project_dict()["factors"][where[1]]["kind"]
    return set(rp.FACTOR_COMMON_KEYS) | set(KINDS[kind].keys)


def test_minimal_project_is_valid():
    p = _load(_minimal())
    assert p.cell_size == 25 and len(p.factors) == 5


@given(where=st.sampled_from(sorted(LEVELS, key=str)),
       key=st.one_of(st.text(min_size=1, max_size=12),
                     st.sampled_from(["Name", "cellsize", "weigth", "sources", "范围", " crs"])),
       value=st.one_of(st.none(), st.integers(), st.text(max_size=5)))
@FAST
def test_unknown_key_is_named(where, key, value):
    # the key as the project file will hold it (YAML turns some characters, e.g. U+0085,
    # into others)
    key = next(iter(yaml.safe_load(yaml.safe_dump({key: 1}, allow_unicode=True))))
    assume(str(key) not in _allowed(where))
    d = _minimal()
    node = d
    for k in where:
        node = node[k]
    node[key] = value
    with pytest.raises(ProjectFileError) as e:
        _load(d)
    assert repr(str(key)) in str(e.value) and "unknown key" in str(e.value)


NUMERIC = [("cell_size",), ("patrol_cell_size",), ("factors", 0, "weight"),
           ("factors", 0, "range"), ("factors", 2, "distance"), ("factors", 4, "bandwidth"),
           ("factors", 4, "normalize"), ("incidents", "kde_bandwidth"),
           ("factors", 0, "source", "central_meridian"), ("classes", "breaks")]
ANY_VALUE = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**20), 10**20), st.floats(),
    st.text(max_size=8), st.lists(st.floats(allow_nan=False), max_size=5),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.sampled_from([0, -1, 1e-300, 1e300, float("inf"), float("nan"), "25", "1e3", [1, 2],
                     [0.5, 0.75, 0.9, 0.97], [0.9, 0.5, 0.75, 0.97], 3, 7, 100]),
)


@given(where=st.sampled_from(NUMERIC), value=ANY_VALUE)
@FAST
@example(where=("cell_size",), value=float("inf"))
@example(where=("patrol_cell_size",), value=float("inf"))
@example(where=("patrol_cell_size",), value=1e300)
@example(where=("cell_size",), value=10**400)
@example(where=("cell_size",), value=6.6e-308)
@example(where=("classes", "breaks"), value=[0.5, 0.75, float("nan"), 0.97])
@example(where=("classes", "breaks"), value=[float("nan")] * 4)
@example(where=("classes", "breaks"), value=[0.1, 0.2, 0.3, 10**400])
@example(where=("incidents", "kde_bandwidth"), value="wide")
@example(where=("incidents", "kde_bandwidth"), value=[1])
def test_numeric_values_are_checked(where, value):
    d = _minimal()
    node = d
    for k in where[:-1]:
        node = node[k]
    node[where[-1]] = value
    try:
        p = _load(d)
    except ProjectFileError as e:
        assert str(where[-1]) in str(e) or "cell_size" in str(e), str(e)
        return
    # accepted: the numbers a build will use are finite and positive where they must be
    assert math.isfinite(p.cell_size) and p.cell_size > 0
    assert math.isfinite(p.patrol_cell_size) and p.patrol_cell_size > 0
    for f in p.factors:
        assert math.isfinite(f.weight)
        assert math.isfinite(f.reach) and f.reach >= 0
    assert all(math.isfinite(b) for b in p.class_breaks)
    bw = p.incidents["kde_bandwidth"]
    assert math.isfinite(bw) and bw > 0


# --- corner tables ---------------------------------------------------------------------
HEADER = ["矿山名称", "采矿许可证号", "块段", "点号", "X坐标", "Y坐标"]


@st.composite
def convex_polygons(draw):
    """Corners (easting, northing) of a convex polygon, rounded to the centimetre."""
    n = draw(st.integers(3, 9))
    angles = sorted(draw(st.lists(st.floats(0, 2 * math.pi, exclude_max=True), min_size=n,
                                  max_size=n, unique=True)))
    gaps = np.diff([*angles, angles[0] + 2 * math.pi])
    assume(gaps.min() > 0.05 and gaps.max() < math.pi * 0.95)  # no sliver, centre inside
    r = draw(st.floats(80, 3000))
    cx = draw(st.floats(400_000, 600_000))
    cy = draw(st.floats(4_000_000, 4_300_000))
    xy = [(round(cx + r * math.cos(a), 2), round(cy + r * math.sin(a), 2)) for a in angles]
    return xy


@given(poly=convex_polygons(), start=st.integers(0, 8), clockwise=st.booleans(),
       closing=st.booleans(), seed=st.integers(0, 2**16))
@SLOW
def test_corner_table_area(poly, start, clockwise, closing, seed):
    from riskmap.load.rights import read_corner_table

    want = shapely.Polygon(poly).area
    corners = poly[::-1] if clockwise else list(poly)
    k = start % len(corners)
    corners = corners[k:] + corners[:k]
    if closing:
        corners = [*corners, corners[0]]
    rows = [["甲煤矿", "C1400002010011120000001", 1, i, f"{n:.2f}", f"{38e6 + e:.2f}"]
            for i, (e, n) in enumerate(corners, start=1)]  # surveyors: X = northing
    random.Random(seed).shuffle(rows)  # table order is not point order
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "拐点.csv"
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["测试拐点坐标表"])
            w.writerow(HEADER)
            w.writerows(rows)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RiskmapWarning)
            gdf, _rep = read_corner_table(path)
    assert len(gdf) == 1 and gdf.crs.to_epsg() == 4547
    assert gdf.geometry.iloc[0].area == pytest.approx(want, abs=0.01)


# --- dates of returned sheets --------------------------------------------------------
FORMATS = {
    "dots": lambda d: f"{d.year}.{d.month}.{d.day}",
    "chinese": lambda d: f"{d.year}年{d.month}月{d.day}日",
    "month_day": lambda d: f"{d.month}月{d.day}日",
    "iso": lambda d: d.isoformat(),
    "slashes": lambda d: f"{d.year}/{d.month}/{d.day}",
    "full_width": lambda d: f"{d.year}年{d.month}月{d.day}日".translate(FULL),
    "with_time": lambda d: f"{d.isoformat()} 14:30",
}


@given(day=st.dates(dt.date(2000, 1, 3), dt.date(2099, 12, 28)),
       fmt=st.sampled_from(sorted(FORMATS)), offset=st.integers(-3, 3))
@FAST
@example(day=dt.date(2026, 12, 5), fmt="month_day", offset=0)
@example(day=dt.date(2028, 2, 29), fmt="month_day", offset=3)
@example(day=dt.date(2026, 12, 31), fmt="month_day", offset=3)
def test_dates_come_back(day, fmt, offset):
    iso = (day + dt.timedelta(days=offset)).isocalendar()  # the sheet's week, near the date
    week = Week(iso.year, iso.week)
    assert parse_date(FORMATS[fmt](day), week) == day
    if fmt != "month_day":
        assert parse_date(FORMATS[fmt](day)) == day  # the year is written: no week needed


@given(st.one_of(st.text(max_size=16), st.floats(), st.integers(-(10**12), 10**12)))
@FAST
@example("2026.2.30")
@example("0000-01-01")
@example("2月30日")
@example(1e308)
def test_date_garbage_is_a_value_error(v):
    week = Week(2026, 49)
    try:
        got = parse_date(v, week)
    except ValueError:
        return
    assert got is None or isinstance(got, dt.date)
