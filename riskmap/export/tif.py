"""risk.tif: the analysis-cell score as a float32 GeoTIFF (whole, or streamed tile by tile)."""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import rasterio
import rasterio.windows

from riskmap.export.atomic import atomic_file
from riskmap.grid import Grid

NODATA = -9999.0
#: GeoTIFF creation options of every score raster (tiling is added where it fits).
PROFILE = {"driver": "GTiff", "dtype": "float32", "count": 1, "nodata": NODATA,
           "compress": "deflate", "predictor": 3}
#: Overview factors tried for a streamed raster (kept while the overview is > 256 cells).
OVERVIEWS = (2, 4, 8, 16, 32)
_BAND = "risk score 0-100"


def _profile(grid: Grid, tiled: bool, **extra) -> dict:
    p = {**PROFILE, "width": grid.ncols, "height": grid.nrows, "crs": grid.crs,
         "transform": grid.transform, "tiled": tiled}
    if tiled:
        p.update(blockxsize=256, blockysize=256)
    return {**p, **extra}


def _data(score: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(score), score, NODATA).astype(np.float32)


def write_score_tif(path, score: np.ndarray, grid: Grid, tags: dict | None = None) -> None:
    """Write ``score`` (NaN = outside the area) as a tiled, compressed GeoTIFF.

    Parameters
    ----------
    path : path-like
        Replaced whole (written under a temporary name, then moved into place).
    score : numpy.ndarray of float32
        Score 0–100 on ``grid``; NaN cells become nodata (-9999).
    grid : Grid
    tags : dict, optional
        Dataset tags (class thresholds, build date, confidentiality mark).
    """
    profile = _profile(grid, grid.nrows >= 256 and grid.ncols >= 256)
    with atomic_file(path, overwrite=True, create=False) as tmp, \
            rasterio.open(tmp, "w", **profile) as dst:
        dst.write(_data(score), 1)
        dst.set_band_description(1, _BAND)
        if tags:
            dst.update_tags(**{k: str(v) for k, v in tags.items()})


class ScoreTif:
    """An open score raster written window by window (see :func:`open_score_tif`)."""

    def __init__(self, dst, grid: Grid):
        self._dst, self.grid = dst, grid

    def write(self, win: tuple[int, int, int, int], block: np.ndarray) -> None:
        """Write ``block`` (NaN = nodata) at ``win`` = (row_off, col_off, n_rows, n_cols)."""
        r0, c0, nr, nc = win
        self._dst.write(_data(block), 1, window=rasterio.windows.Window(c0, r0, nc, nr))

    def finish(self, tags: dict | None = None) -> None:
        """Build the overviews (average) and set the dataset tags, once every tile is in."""
        from rasterio.enums import Resampling

        n = max(self.grid.shape)
        self._dst.build_overviews([f for f in OVERVIEWS if n // f > 256], Resampling.average)
        if tags:
            self._dst.update_tags(**{k: str(v) for k, v in tags.items()})


@contextmanager
def open_score_tif(path, grid: Grid):
    """Open a tiled, compressed score GeoTIFF (BigTIFF where needed) to stream tiles into.

    Parameters
    ----------
    path : path-like
        Replaced whole when the block ends without error (temporary name until then).
    grid : Grid

    Yields
    ------
    ScoreTif
        ``write(win, block)`` per tile, then ``finish(tags)``.
    """
    profile = _profile(grid, True, BIGTIFF="IF_SAFER")
    with atomic_file(path, overwrite=True, create=False) as tmp, \
            rasterio.open(tmp, "w", **profile) as dst:
        yield ScoreTif(dst, grid)
