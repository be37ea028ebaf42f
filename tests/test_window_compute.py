"""A window of the district grid scored alone gets the whole district's values (compute_window)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from riskmap.grid.cellid import cell_ids
from riskmap.load.inputs import load_inputs
from riskmap.models import power as _power  # noqa: F401  (registers power:anomalies)
from riskmap.pipeline.project import load_project
from riskmap.score.engine import (
    compute,
    compute_window,
    district_grid,
    district_plan,
    township_window,
    with_classes,
)

SAMPLE = Path(__file__).resolve().parents[1] / "layers" / "project.yaml"


@pytest.fixture(scope="module")
def sample():
    project = load_project(SAMPLE).with_cell_size(50)  # 50 m: the same code, a quarter the cells
    inputs = load_inputs(project)
    return project, inputs, compute(project, inputs)


def _ids(pg):
    rows, cols = np.divmod(np.arange(pg.size), pg.ncols)
    x0 = pg.x0 + cols * pg.cell
    y0 = pg.y0 - (rows + 1) * pg.cell
    return cell_ids(x0, y0, pg.cell).reshape(pg.shape)


def _same_as_full(w, full):
    r0, c0 = w.origin
    n, m = w.grid.shape
    win = (slice(r0, r0 + n), slice(c0, c0 + m))
    k = w.k
    pwin = (slice(r0 // k, (r0 + n) // k), slice(c0 // k, (c0 + m) // k))
    assert w.grid == full.grid.window(r0, c0, n, m)
    np.testing.assert_array_equal(w.area, full.area[win])
    np.testing.assert_array_equal(w.score, full.score[win])  # NaN outside in both
    for name, f in w.factors.items():
        np.testing.assert_array_equal(f.explain, full.factors[name].explain[win], err_msg=name)
        np.testing.assert_array_equal(f.value, full.factors[name].value[win], err_msg=name)
    for a in ("p_max", "p_mean", "p_score", "township", "village"):
        np.testing.assert_array_equal(getattr(w, a), getattr(full, a)[pwin], err_msg=a)
    np.testing.assert_array_equal(_ids(w.patrol_grid), _ids(full.patrol_grid)[pwin])
    return pwin


def test_township_window_equals_the_full_compute(sample):
    project, inputs, full = sample
    name = "荫营镇"
    rows, cols = township_window(project, inputs, name)
    w = compute_window(project, inputs, rows, cols, thresholds=full.thresholds)
    assert w.grid.size < full.grid.size / 3  # only the window was scored
    pwin = _same_as_full(w, full)
    np.testing.assert_array_equal(w.p_class, full.p_class[pwin])
    # every patrol cell of the township lies in the window
    t = full.township == full.township_names.index(name) + 1
    assert t.sum() == (w.township == full.township_names.index(name) + 1).sum() > 0


@pytest.mark.parametrize("rows, cols", [(slice(37, 211), slice(101, 377)),  # not on patrol cells
                                        (slice(None, 40), slice(-10**6, 90)),  # a grid corner
                                        (slice(300, None), slice(500, 10**6))])
def test_any_window_equals_the_full_compute(sample, rows, cols):
    project, inputs, full = sample
    w = compute_window(project, inputs, rows, cols, thresholds=full.thresholds)
    r0, c0 = w.origin
    assert r0 % w.k == 0 and c0 % w.k == 0  # grown outward to whole patrol cells
    assert r0 <= max(rows.start or 0, 0) and c0 <= max(cols.start or 0, 0)
    _same_as_full(w, full)


def test_quantile_window_is_left_for_the_caller_to_classify(sample):
    project, inputs, full = sample
    assert project.class_method == "quantile"
    plan = district_plan(project, inputs)
    w = compute_window(project, inputs, slice(0, 200), slice(0, 200), plan=plan)
    assert w.thresholds is None and w.p_class is None
    with_classes(w, full.thresholds)
    r0, c0 = w.origin
    k = w.k
    pr, pc = w.p_class.shape
    np.testing.assert_array_equal(w.p_class, full.p_class[r0 // k:r0 // k + pr,
                                                          c0 // k:c0 // k + pc])


def test_fixed_breaks_classify_a_window(sample):
    project, inputs, _ = sample
    fixed = replace(project, class_method="fixed", class_breaks=(20.0, 30.0, 40.0, 50.0))
    full = compute(fixed, inputs)
    w = compute_window(fixed, inputs, slice(100, 300), slice(200, 400))
    np.testing.assert_array_equal(w.thresholds, [20, 30, 40, 50])
    pwin = _same_as_full(w, full)
    np.testing.assert_array_equal(w.p_class, full.p_class[pwin])


def test_density_normalisers_are_the_districts(sample):
    project, inputs, full = sample
    plan = district_plan(project, inputs)
    for spec in project.factors:
        if spec.is_density:
            assert plan[spec.name]["top"] == pytest.approx(
                float(full.factors[spec.name].explain.max()), rel=0, abs=0)


def test_a_window_outside_the_grid_is_refused(sample):
    project, inputs, full = sample
    with pytest.raises(ValueError, match="outside the grid"):
        compute_window(project, inputs, slice(full.grid.nrows + 8, None), slice(0, 10))
    with pytest.raises(KeyError):
        township_window(project, inputs, "no such township")
    assert district_grid(project, inputs.district) == full.grid
