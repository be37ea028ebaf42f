"""risk.tif and risk_class.tif: Cloud-Optimized GeoTIFFs of the score and the classes.

Both are written with GDAL's COG driver (internal 256 × 256 tiles, overviews,
IFDs before the data), so QGIS, ArcGIS and web viewers draw them at any zoom
without building pyramids. The class raster carries a colour table and the
class names (a GDAL ``.aux.xml`` beside it, which QGIS reads for its legend).
The tiled engine streams a large score into a tiled GeoTIFF (:func:`open_score_tif`).
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import rasterio
import rasterio.windows

from riskmap.export.atomic import atomic_file, write_text
from riskmap.export.styles import class_raster_qml, score_raster_qml
from riskmap.grid import Grid
from riskmap.marks import CLASS_COLOURS, CLASS_NAMES

NODATA = -9999.0
#: COG creation options shared by the score and the class raster.
#: DEFLATE at level 1: about 3 % larger than the default level 6 at two thirds of the time;
#: DEFLATE, not ZSTD, because ArcMap and older ArcGIS Pro read only the former.
COG = {"driver": "COG", "count": 1, "compress": "deflate", "level": 1, "blocksize": 256,
       "overviews": "auto", "bigtiff": "if_safer"}
#: Name of the class raster beside risk.tif.
CLASS_TIF = "risk_class.tif"
_CLASS_BAND = "priority class 1-5 (0 = outside the area)"
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


def _cog(grid: Grid, **extra) -> dict:
    return {**COG, "width": grid.ncols, "height": grid.nrows, "crs": grid.crs,
            "transform": grid.transform, **extra}


def write_score_tif(path, score: np.ndarray, grid: Grid, tags: dict | None = None, *,
                    thresholds=None) -> None:
    """Write ``score`` (NaN = outside the area) as a Cloud-Optimized GeoTIFF.

    Parameters
    ----------
    path : path-like
        Replaced whole (written under a temporary name, then moved into place).
    score : numpy.ndarray of float32
        Score 0–100 on ``grid``; NaN cells become nodata (-9999).
    grid : Grid
    tags : dict, optional
        Dataset tags (class thresholds, build date, confidentiality mark).
    thresholds : sequence of float, optional
        Class thresholds: ``<name>.qml`` beside it colours the score by class in QGIS.
    """
    path = Path(path)
    profile = _cog(grid, dtype="float32", nodata=NODATA, predictor="YES", resampling="average")
    with atomic_file(path, overwrite=True, create=False) as tmp, \
            rasterio.open(tmp, "w", **profile) as dst:
        dst.write(_data(score), 1)
        dst.set_band_description(1, _BAND)
        if tags:
            dst.update_tags(**{k: str(v) for k, v in tags.items()})
    if thresholds is not None:
        write_text(path.with_suffix(".qml"), score_raster_qml(thresholds), overwrite=True)


def class_colormap() -> dict[int, tuple[int, int, int, int]]:
    """Colour table of the class raster: the map's class colours, 0 transparent."""
    cmap = {0: (0, 0, 0, 0)}
    for c, hexc in CLASS_COLOURS.items():
        cmap[c] = (*(int(hexc[i:i + 2], 16) for i in (1, 3, 5)), 255)
    return cmap


def write_class_tif(path, classes: np.ndarray, grid: Grid, tags: dict | None = None) -> None:
    """Write the priority classes as a paletted Cloud-Optimized GeoTIFF.

    Parameters
    ----------
    path : path-like
        Replaced whole; ``<path>.aux.xml`` beside it holds the class names (GDAL) and
        ``<name>.qml`` the five-class legend (QGIS).
    classes : numpy.ndarray of uint8
        Class 1–5 on ``grid``, 0 outside the area (nodata).
    grid : Grid
    tags : dict, optional
        Dataset tags; the class names are also band tags ``CLASS_1`` … ``CLASS_5``.
    """
    path = Path(path)
    profile = _cog(grid, dtype="uint8", nodata=0, resampling="mode")
    with atomic_file(path, overwrite=True, create=False) as tmp, \
            rasterio.open(tmp, "w", **profile) as dst:
        dst.write(np.asarray(classes, dtype=np.uint8), 1)
        dst.write_colormap(1, class_colormap())
        dst.set_band_description(1, _CLASS_BAND)
        dst.update_tags(1, **{f"CLASS_{c}": CLASS_NAMES[c] for c in CLASS_NAMES})
        if tags:
            dst.update_tags(**{k: str(v) for k, v in tags.items()})
    write_text(path.with_name(path.name + ".aux.xml"), _category_names(), overwrite=True)
    write_text(path.with_suffix(".qml"), class_raster_qml(), overwrite=True)


def _category_names() -> str:
    """GDAL PAM: the category name of every class value (QGIS's palette legend)."""
    names = ["外 (outside)"] + [CLASS_NAMES[c] for c in range(1, 6)]
    cats = "".join(f"      <Category>{escape(n)}</Category>\n" for n in names)
    return ("<PAMDataset>\n  <PAMRasterBand band=\"1\">\n    <CategoryNames>\n"
            f"{cats}    </CategoryNames>\n  </PAMRasterBand>\n</PAMDataset>\n")


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
