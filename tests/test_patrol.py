import numpy as np
import pytest

from riskmap.grid.blocks import aggregate, blocks, upsample


def brute_force(a, k):
    n, m = a.shape[0] // k, a.shape[1] // k
    smax = np.full((n, m), np.nan)
    smean = np.full((n, m), np.nan)
    flat = np.full((n, m), -1)
    for i in range(n):
        for j in range(m):
            best, total, count = -np.inf, 0.0, 0
            for r in range(i * k, i * k + k):
                for c in range(j * k, j * k + k):
                    v = a[r, c]
                    if np.isnan(v):
                        continue
                    total += v
                    count += 1
                    if v > best:
                        best, flat[i, j] = v, r * a.shape[1] + c
            if count:
                smax[i, j], smean[i, j] = best, total / count
    return smax, smean, flat


@pytest.fixture
def score():
    rng = np.random.default_rng(11)
    a = rng.uniform(0, 100, (12, 16)).astype(np.float32)
    a[rng.uniform(size=a.shape) < 0.3] = np.nan
    a[0:4, 0:4] = np.nan  # one block wholly outside the area
    a[4:8, 4:8] = np.nan
    a[5, 6] = 42.0  # a block with a single valid cell
    return a


def test_aggregate_matches_brute_force(score):
    smax, smean, flat = aggregate(score, 4)
    emax, emean, eflat = brute_force(score, 4)
    assert smax.shape == smean.shape == flat.shape == (3, 4)
    assert smax.dtype == np.float32 and smean.dtype == np.float32
    np.testing.assert_array_equal(smax, emax.astype(np.float32))
    np.testing.assert_allclose(smean, emean, rtol=1e-6)
    np.testing.assert_array_equal(flat, eflat)
    valid = flat >= 0
    np.testing.assert_array_equal(score.ravel()[flat[valid]], smax[valid])


def test_all_nan_block(score):
    smax, smean, flat = aggregate(score, 4)
    assert np.isnan(smax[0, 0]) and np.isnan(smean[0, 0]) and flat[0, 0] == -1
    assert smax[1, 1] == 42.0 and smean[1, 1] == 42.0
    assert flat[1, 1] == 5 * 16 + 6


@pytest.mark.parametrize("k", [1, 2, 4])
def test_aggregate_without_nan(k):
    a = np.arange(64, dtype=np.float32).reshape(8, 8)
    smax, smean, flat = aggregate(a, k)
    emax, emean, eflat = brute_force(a, k)
    np.testing.assert_array_equal(smax, emax)
    np.testing.assert_allclose(smean, emean)
    np.testing.assert_array_equal(flat, eflat)


def test_blocks_and_upsample():
    a = np.arange(36).reshape(6, 6)
    b = blocks(a, 3)
    assert b.shape == (2, 2, 9)
    np.testing.assert_array_equal(b[1, 0], a[3:6, 0:3].ravel())
    up = upsample(np.array([[1, 2], [3, 4]]), 3)
    assert up.shape == (6, 6)
    np.testing.assert_array_equal(blocks(up, 3).max(axis=2), [[1, 2], [3, 4]])
    np.testing.assert_array_equal(blocks(up, 3).min(axis=2), [[1, 2], [3, 4]])
