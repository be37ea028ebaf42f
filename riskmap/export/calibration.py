"""What ``riskmap calibrate`` writes beside the calibrated project: rasters and the JSON.

* ``<stem>.residual.tif`` — the residual spatial term (values 0–1 on the patrol
  grid), read by the calibrated project's ``raster`` factor;
* ``score_interval.tif`` — per patrol cell, the rank percentile (0–100, 100 =
  the top cell) of the point fit and its 5 % and 95 % bootstrap bounds
  (three bands, nodata outside the district); ``calibrate --write`` names it
  as the calibrated project's ``interval`` key, and build and plan read it
  (:mod:`riskmap.load.interval`);
* ``calibration.json`` — the result as ``riskmap calibrate --json`` prints it.

Every file is written atomically (:mod:`riskmap.export.atomic`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import rasterio

from riskmap.export.atomic import atomic_file, write_text
from riskmap.grid import Grid

__all__ = ["INTERVAL_TIF", "NODATA", "write_calibration", "write_interval", "write_residual"]

NODATA = -9999.0
INTERVAL_TIF = "score_interval.tif"


def _profile(grid: Grid, count: int) -> dict:
    return {"driver": "GTiff", "dtype": "float32", "count": count, "nodata": NODATA,
            "width": grid.ncols, "height": grid.nrows, "crs": grid.crs,
            "transform": grid.transform, "compress": "deflate", "predictor": 3}


def _write(path: Path, bands: np.ndarray, grid: Grid, names, tags: dict,
           overwrite: bool) -> Path:
    data = np.where(np.isfinite(bands), bands, NODATA).astype(np.float32)
    with atomic_file(path, overwrite=overwrite, create=False) as tmp, \
            rasterio.open(tmp, "w", **_profile(grid, len(data))) as dst:
        dst.write(data)
        for i, n in enumerate(names, start=1):
            dst.set_band_description(i, n)
        dst.update_tags(**{k: str(v) for k, v in tags.items()})
    return Path(path)


def write_residual(path, residual, overwrite: bool = False) -> Path:
    """The residual term's raster (one band, 0–1) for the ``raster`` factor kind."""
    tags = {"riskmap": "calibrate residual term", "bandwidth_m": residual.bandwidth,
            "prior_cases": residual.prior, "r_at_0": residual.lo, "r_at_1": residual.hi,
            "beta_r": residual.beta}
    return _write(Path(path), residual.values[None], residual.grid,
                  ["residual log relative risk, rescaled to 0-1"], tags, overwrite)


def write_interval(path, interval, overwrite: bool = False) -> Path:
    """The per-cell interval (three bands: point, 5 %, 95 % rank percentile)."""
    from riskmap.models.calibrate.interval import BANDS

    tags = {"riskmap": "calibrate per-cell interval", "draws": interval.draws,
            "meaning": "rank percentile of the patrol cell among the district's cells "
                       "(100 = top); bounds from a parametric bootstrap of the coefficients"}
    return _write(Path(path), interval.bands(), interval.grid, BANDS, tags, overwrite)


def write_calibration(folder, res, overwrite: bool = False) -> dict[str, Path]:
    """``calibration.json`` and ``score_interval.tif`` (when drawn) into ``folder``."""
    folder = Path(folder)
    out = {"json": write_text(folder / "calibration.json",
                              json.dumps(res.to_dict(), ensure_ascii=False, indent=1,
                                         default=str), overwrite)}
    if res.interval is not None:
        out["interval"] = write_interval(folder / INTERVAL_TIF, res.interval, overwrite)
    return out
