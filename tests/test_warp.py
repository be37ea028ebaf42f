"""grid.warp: nearest-neighbour warping to Web Mercator without GDAL's per-call set-up."""

import numpy as np
import pytest
from rasterio.warp import Resampling, reproject

from riskmap.crs.transform import transformer
from riskmap.grid import Grid
from riskmap.grid.warp import warp_nearest

CASES = [("EPSG:4547", 450000.0, 4190000.0, 100.0),  # CGCS2000 3° zone 114°E, no prefix
         ("EPSG:4527", 38450000.0, 4190000.0, 50.0),  # the same zone with its prefix 38
         ("EPSG:4546", 380000.0, 4120000.0, 25.0),
         ("EPSG:32650", 300000.0, 2500000.0, 100.0)]  # UTM, far from the central meridian


def blocks(grid, seed=0):
    """Values 1–5 constant over 4 × 4 cells: nearest neighbour is unambiguous inside blocks."""
    rng = np.random.default_rng(seed)
    b = rng.integers(1, 6, size=(grid.nrows // 4 + 1, grid.ncols // 4 + 1)).astype(np.uint8)
    return np.kron(b, np.ones((4, 4), np.uint8))[:grid.nrows, :grid.ncols]


@pytest.mark.parametrize(("crs", "x0", "y0", "cell"), CASES)
def test_every_pixel_takes_the_cell_under_its_centre(crs, x0, y0, cell):
    g = Grid(crs, x0, y0, cell, 150, 210)
    vals = np.arange(1, g.nrows * g.ncols + 1, dtype=np.int32).reshape(g.shape)
    out, tr = warp_nearest(vals, g, "EPSG:3857")
    h, w = out.shape
    gx, gy = np.meshgrid(tr.c + (np.arange(w) + 0.5) * tr.a, tr.f + (np.arange(h) + 0.5) * tr.e)
    sx, sy = transformer("EPSG:3857", crs).transform(gx.ravel(), gy.ravel())
    fc = (np.asarray(sx).reshape(h, w) - g.x0) / g.cell
    fr = (g.y0 - np.asarray(sy).reshape(h, w)) / g.cell
    inside = (fc >= 0) & (fc < g.ncols) & (fr >= 0) & (fr < g.nrows)
    want = np.zeros_like(out)
    want[inside] = vals[fr[inside].astype(int), fc[inside].astype(int)]
    # off only where a pixel centre lies within a thousandth of a cell of a cell edge
    near_edge = (np.abs(fc - np.round(fc)) < 1e-3) | (np.abs(fr - np.round(fr)) < 1e-3)
    assert np.array_equal(out[~near_edge], want[~near_edge])
    assert (out != want).mean() < 1e-3
    # one source cell is about one pixel: the map keeps the source's resolution
    k = 1 / np.cos(np.radians(transformer(crs, "EPSG:4326").transform(g.x0, g.y0)[1]))
    assert 0.9 < tr.a / (cell * k) < 1.1
    assert inside.sum() > 0.98 * g.nrows * g.ncols  # every cell is seen


@pytest.mark.parametrize(("crs", "x0", "y0", "cell"), CASES)
def test_agrees_with_gdal_on_the_same_target(crs, x0, y0, cell):
    g = Grid(crs, x0, y0, cell, 120, 160)
    vals = blocks(g)
    out, tr = warp_nearest(vals, g, "EPSG:3857")
    ref = np.zeros_like(out)
    reproject(vals, ref, src_transform=g.transform, src_crs=g.crs, dst_transform=tr,
              dst_crs="EPSG:3857", src_nodata=0, dst_nodata=0, resampling=Resampling.nearest)
    both = (out > 0) | (ref > 0)
    assert (out == ref)[both].mean() > 0.98  # GDAL's own approximation is 1/8 pixel


def test_nodata_outside_and_dtype_kept():
    g = Grid("EPSG:4547", 450000.0, 4190000.0, 100.0, 40, 40)
    out, _ = warp_nearest(np.full(g.shape, 7, np.uint8), g, "EPSG:3857", nodata=0)
    assert out.dtype == np.uint8 and set(np.unique(out)) <= {0, 7}
    assert (out == 0).any() and (out == 7).mean() > 0.9  # the grid turns a little: corners out
