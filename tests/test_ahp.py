"""AHP weights, consistency ratio, matrix checks and the project wiring."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from tinyproject import make_project

from riskmap.errors import ProjectFileError, RiskmapWarning
from riskmap.models.ahp import ahp_from_project, ahp_weights, project_with_ahp_weights
from riskmap.pipeline.project import load_project

# Saaty, T. L. (2008). Decision making with the analytic hierarchy process.
# Int. J. Services Sciences 1(1), 83–98: "Which drink is consumed more in the U.S.?"
# (coffee, wine, tea, beer, sodas, milk, water); derived weights
# .177 .019 .042 .116 .190 .129 .327 (actual consumption .180 .010 .040 .120 .180 .140 .330).
DRINKS = [
    [1, 9, 5, 2, 1, 1, "1/2"],
    ["1/9", 1, "1/3", "1/9", "1/9", "1/9", "1/9"],
    ["1/5", 3, 1, "1/3", "1/4", "1/3", "1/9"],
    ["1/2", 9, 3, 1, "1/2", 1, "1/3"],
    [1, 9, 4, 2, 1, 2, "1/2"],
    [1, 9, 3, 1, "1/2", 1, "1/3"],
    [2, 9, 9, 3, 2, 3, 1],
]
DRINK_WEIGHTS = [0.177, 0.019, 0.042, 0.116, 0.190, 0.129, 0.327]


def test_saaty_drinks_textbook_example():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # consistent: no warning
        r = ahp_weights(DRINKS)
    np.testing.assert_allclose(r.weights, DRINK_WEIGHTS, atol=6e-4)
    assert r.weights.sum() == pytest.approx(1.0)
    assert r.lambda_max == pytest.approx(7.1766, abs=1e-3)
    assert r.ri == 1.32 and r.ri_table == "saaty1980" and "Saaty 1980" in r.ri_label
    assert r.ci == pytest.approx((r.lambda_max - 7) / 6)
    assert r.cr == pytest.approx(r.ci / 1.32) and r.cr < 0.1


def test_consistent_matrix_has_cr_zero_and_exact_weights():
    w = np.array([0.5, 0.25, 0.125, 0.125])
    r = ahp_weights(w[:, None] / w[None, :])
    np.testing.assert_allclose(r.weights, w, atol=1e-12)
    assert r.lambda_max == pytest.approx(4.0) and r.cr == pytest.approx(0.0, abs=1e-12)


def test_upper_triangle_rows_are_filled():
    full = ahp_weights([[1, 3, 5], ["1/3", 1, 2], ["1/5", "1/2", 1]])
    with_diag = ahp_weights([[1, 3, 5], [1, 2], [1]])
    without = ahp_weights([[3, 5], [2]], names=["a", "b", "c"])
    lower_empty = ahp_weights([[1, 3, 5], [None, 1, 2], [None, None, 1]])
    for r in (with_diag, without, lower_empty):
        np.testing.assert_allclose(r.matrix, full.matrix)
        np.testing.assert_allclose(r.weights, full.weights)
    assert full.matrix[2, 0] == pytest.approx(0.2)


def test_rounded_reciprocals_are_accepted_and_snapped():
    r = ahp_weights([[1, 3, 7], [0.33, 1, 3], [0.14, 0.33, 1]])
    assert r.matrix[1, 0] == pytest.approx(1 / 3) and r.matrix[2, 0] == pytest.approx(1 / 7)


def test_non_reciprocal_names_the_cell():
    with pytest.raises(ProjectFileError, match=r"ahp\.matrix row 2 col 1 \(b vs a\)"):
        ahp_weights([[1, 3, 5], [3, 1, 2], ["1/5", "1/2", 1]], names=["a", "b", "c"],
                    where="p.yaml")


@pytest.mark.parametrize("bad, where", [
    ([[1, 10], ["1/10", 1]], "row 1 col 2"),      # off the 1–9 scale
    ([[1, 2.5], [0.4, 1]], "row 1 col 2"),        # not a Saaty value
    ([[1, -3], ["1/3", 1]], "row 1 col 2"),       # not positive
    ([[2, 3], ["1/3", 1]], "row 1 col 1"),        # diagonal
    ([[1, "x"], ["1/3", 1]], "row 1 col 2"),      # not a number
])
def test_invalid_cells_are_named(bad, where):
    with pytest.raises(ProjectFileError, match=where):
        ahp_weights(bad, where="proj.yaml")


def test_inconsistent_matrix_warns_with_the_pair():
    # a > b (5), b > c (5) but c > a (3): intransitive
    m = [[1, 5, "1/3"], [1, 5], [1]]
    with pytest.warns(RiskmapWarning, match=r"CR = .* most inconsistent pair: (mines|ring|border)"
                      r" vs (mines|ring|border)"):
        r = ahp_weights(m, names=["mines", "ring", "border"])
    assert r.cr >= 0.1
    i, j, a, implied = r.most_inconsistent
    assert (i, j) in {(0, 1), (0, 2), (1, 2)} and a in (5.0, 1 / 3)
    assert abs(np.log(a / implied)) > 1


def test_the_two_ri_tables_differ_and_the_result_says_which():
    m = [[1, 3, 5, 7], [1, 3, 5], [1, 3], [1]]
    a = ahp_weights(m, "saaty1980")
    b = ahp_weights(m, "2005")
    np.testing.assert_allclose(a.weights, b.weights)
    assert a.ri == 0.90 and b.ri == 0.8815
    assert a.cr != b.cr and a.ri_table == "saaty1980" and b.ri_table == "alonso-lamata2006"
    with pytest.raises(ProjectFileError, match="random_index"):
        ahp_weights(m, "saaty1999")


def _with_ahp(d):
    d["ahp"] = {"factors": ["mines", "outcrop", "ring", "inlic"],
                "matrix": [[1, 2, 2, 4], [1, 1, 2], [1, 2], [1]],
                "random_index": "saaty1980"}


def test_project_ahp_and_weights(tmp_path):
    proj = load_project(make_project(tmp_path, _with_ahp))  # load applies the AHP weights
    r = ahp_from_project(proj)
    assert r.names == ("mines", "outcrop", "ring", "inlic")
    w = {f.name: f.weight for f in proj.factors}
    # listed factors keep the sum of their absolute weights (30+20+20+10) and their signs
    assert sum(abs(w[n]) for n in r.names) == pytest.approx(80)
    assert w["inlic"] < 0 and w["mines"] > w["outcrop"] > 0
    assert w["mine_density"] == 10  # not listed: unchanged
    assert proj.ahp["applied"]["weights"]["mines"][0] == 30
    # applying again to the loaded project changes nothing (weights keep their sum)
    new, report = project_with_ahp_weights(proj)
    assert {f.name: f.weight for f in new.factors} == pytest.approx(w)
    assert report["scale"] == pytest.approx(80)


def test_project_ahp_errors_name_the_file(tmp_path):
    def unknown(d):
        _with_ahp(d)
        d["ahp"]["factors"][1] = "nope"

    with pytest.raises(ProjectFileError, match=r"project\.yaml: ahp\.factors\[1\]: unknown"):
        load_project(make_project(tmp_path, unknown))

    def bad(d):
        _with_ahp(d)
        d["ahp"]["matrix"] = [[1, 2, 2, 4], [1, 1, 2], [1, 11], [1]]

    with pytest.raises(ProjectFileError, match=r"project\.yaml: ahp\.matrix row 3 col 4 "
                                               r"\(ring vs inlic\)"):
        load_project(make_project(tmp_path, bad))
