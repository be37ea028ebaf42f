"""The fast paths of calibration give what the plain formulas give.

Each check holds a piece of :mod:`riskmap.models.calibrate` that is laid out
for speed (per-period blocks, counts' sums made once, ranks by merging, ages
from dates read once) against the straightforward computation it replaced.
"""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import numpy as np
import pytest
import shapely

from riskmap.factors import check_spec
from riskmap.grid import Grid
from riskmap.load.project import FactorSpec
from riskmap.models.calibrate.candidates import Cand
from riskmap.models.calibrate.dated import DAY, dated_rows, value_at, with_ages
from riskmap.models.calibrate.interval import _pct
from riskmap.models.calibrate.panel import Panel, fit_panel, predict
from riskmap.models.calibrate.search import Binned, FoldRows, score_candidates, score_rows
from riskmap.score.engine import factor_on_grid


def _panel(seed=0, n=3000, P=5, ps=3, pd=3, weights=False):
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 1, (n, ps))
    Z = rng.uniform(0, 1, (pd, P, n))
    if pd:
        Z[0, :2] = 0.0  # a factor without data in the first periods
    if pd > 1:
        Z[1, 3] = 0.0
        Z[1][:, rng.uniform(size=n) < 0.7] = 0.0  # mostly zero
    off = np.log(rng.uniform(0.3, 1, n))
    eta = -3.0 + off + X @ rng.normal(0, 1, ps) + np.tensordot(rng.normal(0, 1, pd), Z, 1)
    y = rng.poisson(np.exp(eta)).astype(float)
    w = rng.choice([1.0, 3.5], n) if weights else None
    if w is not None:
        w[y.sum(0) > 0] = 1.0
    return Panel(y, off, X, Z, None, w), rng


def _dense(pn: Panel) -> np.ndarray:
    """The stacked design of a panel: one row per (period, cell)."""
    P, n = pn.y.shape
    ps, pd = pn.X.shape[1], len(pn.Z)
    D = np.zeros((P * n, P + ps + pd))
    for p in range(P):
        D[p * n:(p + 1) * n, p] = 1.0
        D[p * n:(p + 1) * n, P:P + ps] = pn.X
        D[p * n:(p + 1) * n, P + ps:] = pn.Z[:, p, :].T
    return D


@pytest.mark.parametrize(("ps", "pd", "weights"), [(3, 3, False), (3, 3, True), (0, 2, False),
                                                   (2, 0, True), (0, 0, False)])
def test_newton_blocks_are_the_stacked_gradient_and_information(ps, pd, weights):
    pn, rng = _panel(1, ps=ps, pd=pd, weights=weights)
    P = pn.P
    coef = np.concatenate([rng.normal(-3, 0.2, P), rng.normal(0, 0.5, ps + pd)])
    rows = pn.rows()
    eta = rows.eta(coef)
    D = _dense(pn)
    lw = 0.0 if pn.w is None else np.tile(np.log(pn.w), P)
    ref_eta = D @ coef + np.tile(pn.off, P) + lw
    np.testing.assert_allclose(eta.ravel(), ref_eta, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(predict(pn, coef).ravel(), ref_eta - lw, rtol=1e-12, atol=1e-12)
    mu = np.exp(eta)
    k = P + ps + pd
    g, H = np.empty(k), np.zeros((k, k))
    rows.blocks(mu, g, H)
    H = np.triu(H) + np.triu(H, 1).T
    np.testing.assert_allclose(g, D.T @ (pn.y.ravel() - mu.ravel()), rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(H, (D.T * mu.ravel()) @ D, rtol=1e-10, atol=1e-9)


def test_fit_on_a_subset_of_cells_is_the_fit_of_those_cells():
    pn, rng = _panel(2)
    idx = np.sort(rng.choice(pn.y.shape[1], 2000, replace=False))
    sub = pn.cells(idx)
    assert sub.Z.flags.c_contiguous
    plain = Panel(pn.y[:, idx].copy(), pn.off[idx], pn.X[idx], pn.Z[:, :, idx].copy())
    a, Ha = fit_panel(sub, 0.3, signs=[1, 0, 0, 0, 0, -1])
    b, Hb = fit_panel(plain, 0.3, signs=[1, 0, 0, 0, 0, -1])
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(Ha, Hb, rtol=1e-12)
    c, none = fit_panel(sub, 0.3, signs=[1, 0, 0, 0, 0, -1], hessian=False)
    assert none is None and np.array_equal(a, c)


def _pct_plain(eta, ref=None):
    eta = np.atleast_2d(eta)
    out = np.empty(eta.shape, np.float32)
    for i, row in enumerate(eta):
        base = np.sort(row if ref is None else row[ref])
        lo = np.searchsorted(base, row, side="left")
        hi = np.searchsorted(base, row, side="right")
        out[i] = 100.0 * (lo + hi) / (2.0 * len(base))
    return out


def test_rank_percentiles_equal_two_searches_per_cell():
    rng = np.random.default_rng(4)
    for t in range(60):
        n = int(rng.integers(1, 400))
        e = rng.integers(0, int(rng.integers(1, 30)), (3, n)).astype(float)  # many ties
        if t % 3 == 0:
            e += rng.uniform(0, 1e-3, (3, n))
        ref = None if t % 2 else np.sort(rng.choice(n, int(rng.integers(1, n + 1)),
                                                    replace=False))
        np.testing.assert_array_equal(_pct(e, ref), _pct_plain(e, ref))


def _score_plain(B, y, E, test, lam):
    """The scoring as first written: four columns through the sparse product."""
    from riskmap.models.calibrate.search import NBINS, _ylogy, binned_fits

    if B.periods is None:
        Yr, Mr, te_r = y.sum(0), np.exp(E).sum(0), test
        yt, et = y[:, test], E[:, test]
    else:
        yp, Ep = y[B.periods], E[B.periods]
        Yr, Mr = yp.ravel(), np.exp(Ep).ravel()
        te_r = np.broadcast_to(test, yp.shape).ravel()
        yt, et = yp[:, test], Ep[:, test]
    tr_r = ~te_r
    W = np.column_stack([Yr * tr_r, Mr * tr_r, Yr * te_r, Mr * te_r])
    sm = B.sums(W)
    a, b = binned_fits(sm[..., 0], sm[..., 1], lam)
    x = np.arange(NBINS) / (NBINS - 1.0)
    lin = a[:, None] + b[:, None] * x[None, :]
    const = 2.0 * (_ylogy(yt) - float(np.sum(yt * et)) - float(yt.sum()))
    dev = const + 2.0 * (np.sum(sm[..., 3] * np.exp(lin), 1) - np.sum(sm[..., 2] * lin, 1))
    ytr, mtr = float(W[:, 0].sum()), float(W[:, 1].sum())
    shift = np.log(max(ytr, 0.5) / mtr)
    none = const + 2.0 * (float(W[:, 3].sum()) * np.exp(shift) - float(W[:, 2].sum()) * shift)
    return dev, none, a, b


@pytest.mark.parametrize("dated", [False, True])
def test_candidate_scores_equal_the_four_column_product(dated):
    rng = np.random.default_rng(5)
    n, P = 5000, 4
    d = rng.uniform(0, 3000, (P, n) if dated else n)
    cands = [np.clip(1 - d / r, 0, 1).astype(np.float32) for r in (250, 500, 1000, 2000)]
    B = Binned(cands, np.array([1, 2, 3]) if dated else None)
    E = rng.normal(-4, 0.3, (P, n))
    y = rng.poisson(np.exp(E + 1.2 * (cands[1] if dated else cands[1][None, :]))).astype(float)
    fold = rng.integers(0, 5, n)
    for k in range(5):
        got = score_candidates(B, y, E, fold == k, 0.1)
        ref = _score_plain(B, y, E, fold == k, 0.1)
        for g, r in zip(got, ref, strict=True):
            np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-9)
        F = FoldRows(B, y, fold == k)
        Mr = np.exp(E).sum(0) if not dated else np.exp(E[B.periods]).ravel()
        again = score_rows(B, F, Mr, E.ravel()[F.at], 0.1)
        np.testing.assert_array_equal(again[0], got[0])


def test_ages_from_dates_read_once_equal_the_kinds_own():
    """A dated density aged from the dates read once: the values of the kind's own aging."""
    rng = np.random.default_rng(6)
    grid = Grid.from_bounds((0.0, 0.0, 5000.0, 4000.0), 100.0, "EPSG:4547")
    k = 300
    days = np.datetime64("2023-01-01") + rng.integers(0, 900, k).astype("timedelta64[D]")
    gdf = gpd.GeoDataFrame(
        {"d": days.astype(str), "w": rng.uniform(0.2, 2.0, k)},
        geometry=shapely.points(rng.uniform(0, 5000, k), rng.uniform(0, 4000, k)),
        crs="EPSG:4547")
    for wf in (None, "w"):
        params = {"bandwidth": 150.0, "date_field": "d", "half_life_days": 90.0}
        if wf:
            params["weight_field"] = wf
        spec = check_spec(FactorSpec(name="f", label="f", source="x.gpkg", kind="density",
                                     weight=1.0, params=params), "p.yaml")
        rows_at = dated_rows(_NoIncidents(), spec, gdf, frozenset())
        cells = np.arange(grid.size)
        for day in (dt.date(2024, 1, 1), dt.date(2025, 6, 1)):
            rows = rows_at(day)
            assert DAY in rows.columns
            for c in (Cand("density", 600.0, "max", 30.0), Cand("density", 1200.0, "max", None),
                      Cand("density", 400.0, "max", 120.0)):
                from riskmap.models.calibrate.candidates import cand_spec

                plain = factor_on_grid(cand_spec(spec, c), rows.drop(columns=DAY), grid, day)
                want = np.asarray(plain.value.reshape(-1), np.float32)
                np.testing.assert_array_equal(value_at(spec, c, rows, grid, cells, day), want)
                aged = with_ages(spec, rows, day, [30.0, 120.0])
                np.testing.assert_array_equal(value_at(spec, c, aged, grid, cells, day), want)


class _NoIncidents:
    """A project without an incidents section (the factor's own dates are used)."""

    incidents = None
