"""Backtest metrics against tiny cases computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from riskmap.models import metrics

# 10 cells of equal area, distinct scores (highest first), 4 events
S = np.array([10, 9, 8, 7, 6, 5, 4, 3, 2, 1], dtype=float)
E = np.array([2, 0, 1, 0, 0, 0, 1, 0, 0, 0], dtype=float)


def test_hand_computed_distinct_scores():
    # top 10 % = the top cell: 2 of 4 events; top 20 % adds a cell without events
    assert metrics.hit_rate(S, E, 0.1) == pytest.approx(0.5)
    assert metrics.hit_rate(S, E, 0.2) == pytest.approx(0.5)
    assert metrics.pai(S, E, 0.1) == pytest.approx(5.0)
    assert metrics.pai(S, E, 0.2) == pytest.approx(2.5)
    # best possible: cells with 2, 1, 1 events first -> H*(0.1) = 2/4, H*(0.2) = 3/4
    assert metrics.pei(S, E, 0.1) == pytest.approx(1.0)
    assert metrics.pei(S, E, 0.2) == pytest.approx(0.5 / 0.75)
    # curve after each cell: .5 .5 .75 .75 .75 .75 1 1 1 1 -> trapezoids sum to 0.75
    assert metrics.auc(S, E) == pytest.approx(0.75)
    # halfway through a cell: linear within it
    assert metrics.hit_rate(S, E, 0.05) == pytest.approx(0.25)
    out = metrics.summarize(S, E)
    assert out["hit@10"] == pytest.approx(0.5) and out["PAI@20"] == pytest.approx(2.5)
    assert out["PEI@10"] == pytest.approx(1.0) and out["AUC"] == pytest.approx(0.75)
    assert out["n_test"] == 4 and out["cells"] == 10 and out["tie_groups"] == 10
    assert {"hit@5", "PAI@5", "hit@10", "PAI@10", "hit@20", "PAI@20", "PEI@10", "AUC",
            "n_test"} <= set(out)


def test_ties_are_split_in_proportion_not_by_order():
    # groups: {0,1} area .2 with 1 event, {2..5} area .4 with 2, {6..9} area .4 with 1
    s = np.array([3, 3, 2, 2, 2, 2, 1, 1, 1, 1], dtype=float)
    e = np.array([1, 0, 0, 2, 0, 0, 0, 1, 0, 0], dtype=float)
    x, y = metrics.hit_rate_curve(s, e)
    np.testing.assert_allclose(x, [0, 0.2, 0.6, 1.0])
    np.testing.assert_allclose(y, [0, 0.25, 0.75, 1.0])
    assert metrics.hit_rate(s, e, 0.1) == pytest.approx(0.125)  # half of the top group
    assert metrics.hit_rate(s, e, 0.4) == pytest.approx(0.5)
    assert metrics.auc(s, e) == pytest.approx(0.2 * 0.125 + 0.4 * 0.5 + 0.4 * 0.875)
    # the order of the tied cells in the input changes nothing
    rng = np.random.default_rng(0)
    for _ in range(5):
        perm = rng.permutation(10)
        assert metrics.summarize(s[perm], e[perm]) == metrics.summarize(s, e)


def test_uniform_map_is_chance():
    e = np.array([0, 3, 0, 0, 1, 0, 0, 0, 2, 0, 0, 1], dtype=float)
    out = metrics.summarize(np.full(12, 7.0), e)
    for p in (5, 10, 20):
        assert out[f"hit@{p}"] == pytest.approx(p / 100)
        assert out[f"PAI@{p}"] == pytest.approx(1.0)
    assert out["AUC"] == pytest.approx(0.5)
    assert out["tie_groups"] == 1


def test_perfect_map_has_pei_one():
    e = np.array([0, 5, 0, 1, 0, 0, 2, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 1], dtype=float)
    p = np.array([0.05, 0.1, 0.2, 0.3, 0.5, 0.9])
    np.testing.assert_allclose(metrics.pei(e, e, p), 1.0)
    # the reverse ranking catches nothing at 10 %
    assert metrics.pei(-e, e, 0.1) == pytest.approx(0.0)
    assert metrics.auc(-e, e) < 0.5 < metrics.auc(e, e)


def test_cell_areas_weight_the_area_axis():
    # a small cell (1) with 1 event ranked above a large one (3) with 1 event
    s, e, a = np.array([2.0, 1.0]), np.array([1.0, 1.0]), np.array([1.0, 3.0])
    x, y = metrics.hit_rate_curve(s, e, a)
    np.testing.assert_allclose(x, [0, 0.25, 1])
    np.testing.assert_allclose(y, [0, 0.5, 1])
    assert metrics.hit_rate(s, e, 0.1, a) == pytest.approx(0.2)
    assert metrics.pai(s, e, 0.1, a) == pytest.approx(2.0)
    assert metrics.pei(s, e, 0.1, a) == pytest.approx(1.0)  # densest cell first is best


def test_nan_cells_left_out_and_minus_inf_ranked_last():
    s = np.array([3.0, np.nan, 2.0, 1.0])
    e = np.array([1.0, 5.0, 0.0, 1.0])
    out = metrics.summarize(s, e)
    assert out["n_test"] == 2 and out["cells"] == 3
    s2 = np.array([3.0, -np.inf, -np.inf, 1.0])
    assert metrics.hit_rate(s2, np.array([0, 1, 1, 0.0]), 0.5) == pytest.approx(0.0)
    assert metrics.auc(s2, np.array([0, 1, 1, 0.0])) == pytest.approx(0.25)


def test_fractional_events_and_no_events():
    s = np.array([2.0, 1.0])
    assert metrics.hit_rate(s, np.array([0.5, 0.5]), 0.5) == pytest.approx(0.5)
    assert metrics.summarize(s, np.array([0.5, 0.25]))["n_test"] == pytest.approx(0.75)
    out = metrics.summarize(s, np.zeros(2))
    assert np.isnan(out["hit@10"]) and np.isnan(out["AUC"]) and out["n_test"] == 0


def test_curve_sampling_and_bad_input():
    out = metrics.summarize(S, E, curve_step=0.1)
    assert len(out["curve"]["area"]) == 11
    np.testing.assert_allclose(out["curve"]["hit"][:3], [0, 0.5, 0.5])
    np.testing.assert_allclose(out["curve"]["best"][:4], [0, 0.5, 0.75, 1.0])
    with pytest.raises(ValueError):
        metrics.hit_rate(S, E[:5], 0.1)
    with pytest.raises(ValueError):
        metrics.hit_rate(S, -E, 0.1)
    with pytest.raises(ValueError):
        metrics.pai(S, E, 0.0)
    with pytest.raises(ValueError):
        metrics.hit_rate(S, E, 1.5)
