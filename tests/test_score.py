import numpy as np
import pytest

from riskmap.score.overlay import class_thresholds, classify, weighted_score

BREAKS = [0.5, 0.75, 0.9, 0.97]


@pytest.fixture
def values():
    rng = np.random.default_rng(7)
    v = {n: rng.uniform(0, 1, (20, 20)).astype(np.float32) for n in ("mines", "roads", "licence")}
    v["licence"] = (v["licence"] > 0.7).astype(np.float32)  # an "inside" factor
    v["mines"][0, 0], v["roads"][0, 0], v["licence"][0, 0] = 1, 1, 0  # the worst cell
    v["mines"][0, 1], v["roads"][0, 1], v["licence"][0, 1] = 0, 0, 1  # the safest cell
    return v


WEIGHTS = {"mines": 20.0, "roads": 10.0, "licence": -5.0}


def test_score_is_baseline_plus_contributions(values):
    score, contrib, baseline = weighted_score(values, WEIGHTS)
    assert baseline == pytest.approx(100 * 5 / 35)
    assert score.dtype == np.float32
    assert set(contrib) == set(values)
    assert all(c.dtype == np.float32 for c in contrib.values())
    np.testing.assert_allclose(score, baseline + sum(contrib.values()), atol=1e-4)
    for name, w in WEIGHTS.items():
        np.testing.assert_allclose(contrib[name], 100 * w / 35 * values[name], rtol=1e-6)
    assert np.all(contrib["licence"] <= 0)  # a negative weight lowers the score


def test_score_spans_0_to_100(values):
    score, _, _ = weighted_score(values, WEIGHTS)
    assert score.min() >= 0 and score.max() <= 100
    assert score[0, 0] == pytest.approx(100)
    assert score[0, 1] == pytest.approx(0, abs=1e-5)


def test_score_without_negative_weights_has_zero_baseline(values):
    score, contrib, baseline = weighted_score(values, {"mines": 3, "roads": 1, "licence": 1})
    assert baseline == 0
    np.testing.assert_allclose(score, sum(contrib.values()), atol=1e-4)


def test_score_needs_a_positive_weight(values):
    with pytest.raises(ValueError, match="positive weight"):
        weighted_score(values, {"mines": -1, "roads": 0, "licence": -2})


def test_quantile_thresholds_give_the_asked_shares():
    rng = np.random.default_rng(0)
    scores = rng.uniform(0, 100, 20_000)
    t = class_thresholds(scores, "quantile", BREAKS)
    assert t.shape == (4,)
    assert np.all(np.diff(t) > 0)
    cls = classify(scores, t)
    shares = np.bincount(cls, minlength=6)[1:] / scores.size
    np.testing.assert_allclose(shares, [0.5, 0.25, 0.15, 0.07, 0.03], atol=0.005)


def test_quantile_thresholds_ignore_nan():
    rng = np.random.default_rng(1)
    s = rng.uniform(0, 100, 1000)
    with_nan = np.concatenate([s, np.full(500, np.nan)])
    np.testing.assert_allclose(class_thresholds(with_nan, "quantile", BREAKS),
                               class_thresholds(s, "quantile", BREAKS))


def test_quantile_thresholds_without_any_score():
    t = class_thresholds(np.full(10, np.nan), "quantile", BREAKS)
    np.testing.assert_allclose(t, [50, 75, 90, 97])


def test_fixed_breaks():
    t = class_thresholds(np.array([1.0, 2.0]), "fixed", [20, 40, 60, 80])
    np.testing.assert_array_equal(t, [20, 40, 60, 80])
    s = np.array([0, 19.9, 20, 39.99, 40, 60, 79, 80, 100, np.nan])
    np.testing.assert_array_equal(classify(s, t), [1, 1, 2, 2, 3, 4, 4, 5, 5, 0])


def test_classify_nan_is_zero():
    cls = classify(np.array([np.nan, 50.0, np.inf * 0]), np.array([20.0, 40, 60, 80]))
    assert cls.dtype == np.uint8
    assert list(cls) == [0, 3, 0]


def test_ties_do_not_make_thresholds_decrease():
    rng = np.random.default_rng(2)
    scores = np.concatenate([np.full(8000, 12.5), rng.uniform(12.5, 100, 2000),
                             np.full(300, 100.0)])
    t = class_thresholds(scores, "quantile", BREAKS)
    assert np.all(np.diff(t) >= 0)
    cls = classify(scores, t)
    assert cls.min() >= 1 and cls.max() == 5
    # a higher score never gets a lower class
    order = np.argsort(scores, kind="stable")
    assert np.all(np.diff(cls[order].astype(int)) >= 0)


def test_cells_tied_at_the_lowest_score_stay_in_class_1():
    # 80 % of patrol cells have no factor within reach: they share the baseline score.
    # They are the least suspicious cells and must not be promoted to class 2 or 3
    # (class 3 and up are exported as patrol candidates).
    rng = np.random.default_rng(3)
    baseline = 12.5
    scores = np.concatenate([np.full(8000, baseline), rng.uniform(20, 100, 2000)])
    cls = classify(scores, class_thresholds(scores, "quantile", BREAKS))
    assert np.all(cls[scores == baseline] == 1)
    assert np.all(cls[scores > baseline] >= 2)
