"""``raster``: a GeoTIFF's values in [0, 1] as a factor (e.g. calibration's residual term).

The factor's source is ``raster:<file>.tif`` (the file beside the project file,
or ``folder/raster:<file>.tif``): a derived source whose reader (registered in
:data:`riskmap.load.sources.DERIVED` when this module is imported) gives one
feature, the raster's footprint, carrying the file's path; :func:`raster`
reads the band itself and resamples it onto any grid (a tile, the patrol
grid), so the tiled engine gets the values the whole grid would.

Keys: ``band`` (default 1), ``resampling`` (``bilinear``, ``nearest`` or
``average``; default bilinear) and ``fill`` (the value where the raster has no
data or does not reach; default 0).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from riskmap.errors import LayerError
from riskmap.factors.base import POLYGONS, Factor, Kind, Params
from riskmap.grid import Grid

__all__ = ["KIND", "PATH_COLUMN", "PREFIX", "raster", "raster_file"]

PREFIX = "raster"
#: the footprint's column holding the GeoTIFF's path (kept out of the privacy filter)
PATH_COLUMN = "_raster_path"
RESAMPLING = ("bilinear", "nearest", "average")


def raster_file(source) -> Path:
    """The GeoTIFF a ``raster:<file>`` source names (beside the path's folder)."""
    p = Path(source.path)
    return p.parent / p.name.partition(":")[2]


def _open(path: Path):
    import rasterio

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            return rasterio.open(path)
    except (rasterio.errors.RasterioIOError, OSError) as e:
        raise LayerError(f"{path}: cannot open as a raster: {str(e).splitlines()[0]}; "
                         "give a GeoTIFF (riskmap calibrate --write makes one)") from None


def raster(path, grid: Grid, band: int = 1, resampling: str = "bilinear",
           fill: float = 0.0) -> Factor:
    """A GeoTIFF band resampled onto ``grid``, clipped to [0, 1] (``fill`` where it has none).

    Raises
    ------
    LayerError
        The file cannot be read, has no CRS, or lacks the band.
    """
    from rasterio.enums import Resampling
    from rasterio.warp import reproject

    with _open(Path(path)) as src:
        if src.crs is None:
            raise LayerError(f"{path}: the raster has no CRS; write it with its CRS "
                             f"(the project's is {grid.crs})")
        if not 1 <= band <= src.count:
            raise LayerError(f"{path}: no band {band} (the raster has {src.count})")
        out = np.full(grid.shape, np.nan, dtype=np.float32)
        reproject(source=np.asarray(src.read(band), np.float32), destination=out,
                  src_transform=src.transform, src_crs=src.crs, src_nodata=src.nodata,
                  dst_transform=grid.transform, dst_crs=grid.crs, dst_nodata=np.nan,
                  resampling=getattr(Resampling, resampling))
    out[~np.isfinite(out)] = np.float32(fill)
    np.clip(out, 0, 1, out=out)
    return Factor(out, out, "")


class Raster(Kind):
    """A GeoTIFF's values in [0, 1]."""

    name = "raster"
    keys = frozenset({"band", "resampling", "fill"})
    geometries = POLYGONS
    needs = "a GeoTIFF (source: raster:<file>.tif)"

    def check(self, p: Params) -> dict:
        band = p.raw.get("band", 1)
        if isinstance(band, bool) or not isinstance(band, int) or band < 1:
            p.fail("band", f"must be a band number ≥ 1, got {band!r}")
        fill = p.number("fill", p.raw.get("fill", 0.0))
        if not 0 <= fill <= 1:
            p.fail("fill", f"must lie in [0, 1], got {fill!r}")
        return {"band": band, "resampling": p.choice("resampling", RESAMPLING, "bilinear"),
                "fill": fill}

    def columns(self, params: dict) -> set[str]:
        return {PATH_COLUMN}

    def compute(self, gdf, grid, params, as_of, *, splat_points=None, top=None) -> Factor:
        if len(gdf) == 0:
            v = np.full(grid.shape, np.float32(params["fill"]))
            return Factor(v, v, "")
        return raster(gdf[PATH_COLUMN].iloc[0], grid, params["band"], params["resampling"],
                      params["fill"])

    def describe(self, label, points, explain, params):
        import pandas as pd

        v = pd.Series(np.asarray(explain, float)).map("{:.2f}".format)
        return (label + " " + v + " (" + points + ")").to_numpy(dtype=object)

    def map_layers(self, label, gdf, params):
        return []


KIND = Raster()


def _read(project, source):
    """The ``raster:`` reader: the GeoTIFF's footprint in the working CRS, with its path."""
    import geopandas as gpd
    import shapely
    from rasterio.warp import transform_bounds

    from riskmap.load.layers import LayerInfo

    path = raster_file(source)
    if not path.exists():
        raise LayerError(f"{path}: 文件不存在 (file not found): the raster of {source}; "
                         "riskmap calibrate --write writes it beside the calibrated project")
    with _open(path) as src:
        if src.crs is None:
            raise LayerError(f"{path}: the raster has no CRS")
        b = transform_bounds(src.crs, project.crs, *src.bounds)
        crs = src.crs.to_string()
    gdf = gpd.GeoDataFrame({PATH_COLUMN: [str(path.resolve())]},
                           geometry=[shapely.box(*b)], crs=project.crs)
    info = LayerInfo(source=source, format="GeoTIFF raster", crs=crs, features=1,
                     geom_types=["Polygon"], geom_counts={"Polygon": 1}, bounds=tuple(b))
    return gdf, info


def _files(project):
    return [raster_file(f.source) for f in project.factors
            if Path(f.source.path).name.startswith(PREFIX + ":")]


def _register() -> None:
    from riskmap.load.inputs import DerivedReader
    from riskmap.load.sources import DERIVED

    DERIVED.setdefault(PREFIX, DerivedReader(read=_read, files=_files))


_register()
