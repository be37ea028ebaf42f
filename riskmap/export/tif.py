"""risk.tif: the analysis-cell score as a float32 GeoTIFF."""

from __future__ import annotations

import numpy as np
import rasterio

from riskmap.grid import Grid

NODATA = -9999.0


def write_score_tif(path, score: np.ndarray, grid: Grid, tags: dict | None = None) -> None:
    """Write ``score`` (NaN = outside the area) as a tiled, compressed GeoTIFF.

    Parameters
    ----------
    path : path-like
    score : numpy.ndarray of float32
        Score 0–100 on ``grid``; NaN cells become nodata (-9999).
    grid : Grid
    tags : dict, optional
        Dataset tags (class thresholds, build date, confidentiality mark).
    """
    data = np.where(np.isfinite(score), score, NODATA).astype(np.float32)
    tiled = grid.nrows >= 256 and grid.ncols >= 256
    profile = {
        "driver": "GTiff", "dtype": "float32", "count": 1, "nodata": NODATA,
        "width": grid.ncols, "height": grid.nrows, "crs": grid.crs, "transform": grid.transform,
        "compress": "deflate", "predictor": 3, "tiled": tiled,
    }
    if tiled:
        profile.update(blockxsize=256, blockysize=256)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
        dst.set_band_description(1, "risk score 0-100")
        if tags:
            dst.update_tags(**{k: str(v) for k, v in tags.items()})
