"""Range-limited distances equal one whole-grid Euclidean transform, cell for cell."""

import numpy as np
import pytest
from scipy import ndimage

from riskmap.grid import distance


def reference(feature, cell, max_distance, halo):
    """scipy's transform of the whole grid (float32), inf beyond the range, cropped."""
    d = ndimage.distance_transform_edt(~feature, sampling=cell).astype(np.float32)
    d[d > np.float32(max_distance)] = np.inf
    n, m = feature.shape
    return d[halo:n - halo, halo:m - halo]


def features(kind, shape, rng):
    f = np.zeros(shape, bool)
    if kind == "points":
        f[rng.integers(0, shape[0], 40), rng.integers(0, shape[1], 40)] = True
    elif kind == "line":
        r = np.arange(shape[0])
        f[r, (r * 0.7 + 5).astype(int) % shape[1]] = True
    elif kind == "blocks":
        f[10:30, 20:45] = True
        f[shape[0] - 12:, :8] = True
    elif kind == "corner":  # one cell in the halo only
        f[0, 0] = True
    return f


@pytest.mark.parametrize("kind", ["points", "line", "blocks", "corner"])
@pytest.mark.parametrize("cell", [25.0, 50.0, 33.3, 12.5, 7.0])
@pytest.mark.parametrize("reach_cells", [1.5, 6.0, 17.2])
def test_distance_to_cells_equals_whole_transform(kind, cell, reach_cells):
    rng = np.random.default_rng(7)
    halo = int(np.ceil(reach_cells)) + 1
    f = features(kind, (150, 131), rng)
    max_distance = reach_cells * cell
    support = []
    got = distance.distance_to_cells(f, cell, max_distance, halo, support)
    want = reference(f, cell, max_distance, halo)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, want)
    # outside the support boxes every distance is inf
    inside = np.zeros(got.shape, bool)
    for r0, r1, c0, c1 in support:
        inside[r0:r1, c0:c1] = True
    assert np.isinf(got[~inside]).all()


def test_distance_to_cells_no_feature():
    d = distance.distance_to_cells(np.zeros((20, 30), bool), 25.0, 100.0, 2)
    assert d.shape == (16, 26) and np.isinf(d).all()


def test_ranged_lookup_matches_scipy_arithmetic():
    """The per-offset table gives scipy's float64 arithmetic, rounded to float32."""
    cell, lim = 33.3, 40
    i, j = np.meshgrid(np.arange(lim + 1), np.arange(lim + 1), indexing="ij")
    di, dj = i * cell, j * cell
    want = np.sqrt(di * di + dj * dj).astype(np.float32)
    np.testing.assert_array_equal(distance.offset_table(cell, lim, np.inf), want)
    cut = distance.offset_table(cell, lim, 500.0)
    np.testing.assert_array_equal(cut, np.where(want > np.float32(500.0), np.inf, want))
