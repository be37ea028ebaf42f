"""Dated densities are also tried saturated, and the written form builds the same values."""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import numpy as np
import pytest
import shapely

from riskmap import factors
from riskmap.grid import Grid
from riskmap.load.project import FactorSpec
from riskmap.models.calibrate.candidates import cand_spec
from riskmap.models.calibrate.dated import dated_cands, dated_column, dated_rows
from riskmap.models.calibrate.periods import make_periods
from riskmap.score.engine import factor_on_grid

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

CRS = "EPSG:4547"


def _cases(n=300, seed=3):
    rng = np.random.default_rng(seed)
    x = 500_000 + rng.normal(3000, 900, n)
    y = 4_200_000 + rng.normal(3000, 900, n)
    days = np.datetime64("2023-01-01") + rng.integers(0, 700, n).astype("timedelta64[D]")
    return gpd.GeoDataFrame({"date": days.astype(str)}, geometry=shapely.points(x, y), crs=CRS)


def _column(saturations):
    gdf = _cases()
    grid = Grid.from_bounds((500_000, 4_200_000, 506_000, 4_206_000), 100, CRS, snap=100)
    cells = np.arange(grid.nrows * grid.ncols)
    spec = factors.check_spec(FactorSpec(
        name="past", label="past", source="x.gpkg", kind="density", weight=1.0,
        params={"bandwidth": 200.0, "date_field": "date", "half_life_days": 365.0}), None)
    until = dt.date(2024, 12, 1)
    periods = make_periods(gdf["date"].to_numpy("datetime64[D]"), until)
    rows_at = dated_rows(_NoIncidents(), spec, gdf, frozenset())
    cands = dated_cands(spec, (400.0, 1600.0))
    col = dated_column(spec, rows_at, grid, cells, periods, cands, saturations=saturations)
    return spec, col, rows_at, grid, cells, periods, cands


class _NoIncidents:
    """Stands in for a project without an incidents section."""

    incidents = None


def test_saturated_candidates_are_added_and_not_own():
    _, plain, *_ = _column(False)
    _, col, _, _, _, _, cands = _column(True)
    assert col.cands[:len(plain.cands)] == plain.cands
    more = col.cands[len(plain.cands):]
    assert more and all(isinstance(c.norm, float) and c.norm > 0 for c in more)
    assert all(c.half_life == cands[0].half_life for c in more)
    assert col.own == plain.own  # a saturated form pays the shape margin
    for v in col.values:
        assert v.shape == plain.values[0].shape and 0 <= v.min() and v.max() <= 1


def test_saturated_values_are_what_the_written_project_builds():
    """The column of a saturated candidate is the factor the project file it writes gives."""
    spec, col, rows_at, grid, cells, periods, _ = _column(True)
    i = next(i for i, c in enumerate(col.cands) if isinstance(c.norm, float))
    p = len(periods) - 1
    start = periods.starts[p]
    built = factor_on_grid(cand_spec(spec, col.cands[i]), rows_at(start), grid, start)
    np.testing.assert_allclose(col.values[i][p], built.value.reshape(-1)[cells], atol=1e-5)
    assert col.values[i][p].max() == 1.0  # the level is below the peak: the top is held level
