"""The bureau's reference layers: roads, rivers, settlements and an orthophoto (DOM).

They are drawn under the risk on the sheets and in ``map.html`` so that a team
finds a cell in the hills; they are never factors and never change a score.
Vector layers are any source :func:`riskmap.load.layers.read_source` reads
(checks, repairs and reprojection included); the DOM is a georeferenced raster
in any CRS, opened here once (:func:`open_dom`) and read later only in the
window a map shows, at about the map's resolution (:func:`read_dom`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from riskmap.errors import LayerError
from riskmap.load.layers import LayerInfo, read_source
from riskmap.load.specs import Project, ReferenceSpec

__all__ = ["ROLE_LABELS", "Dom", "Reference", "open_dom", "read_dom", "read_reference",
           "read_reference_layer"]

#: what each reference layer is called on the maps and in ``check``
ROLE_LABELS = {"roads": "道路", "rivers": "水系", "settlements": "居民点",
               "dom": "正射影像 (DOM)"}


@dataclass(frozen=True)
class Dom:
    """An orthophoto, opened and checked: where it is, not its pixels.

    ``bounds`` are in the working CRS (left, bottom, right, top); ``crs`` is the
    raster's own (WKT), ``res`` its pixel size in its own units.
    """

    path: Path
    crs: str
    bounds: tuple
    width: int
    height: int
    bands: int
    dtype: str
    res: float
    crs_name: str = ""


@dataclass
class Reference:
    """The reference layers of a build: vectors in the working CRS, the DOM opened.

    ``layers`` maps a role (roads, rivers, settlements) to a GeoDataFrame with a
    ``name`` column (empty text where the project gives no ``name_field``).
    """

    layers: dict = field(default_factory=dict)
    dom: Dom | None = None
    infos: dict = field(default_factory=dict)  #: role → LayerInfo

    def __bool__(self) -> bool:
        return bool(self.layers) or self.dom is not None

    def clip(self, bounds) -> Reference:
        """The vectors cut to ``bounds`` (left, bottom, right, top; working CRS)."""
        out = {}
        for role, gdf in self.layers.items():
            geoms = shapely.clip_by_rect(gdf.geometry.values, *bounds)
            keep = ~(shapely.is_empty(geoms) | shapely.is_missing(geoms))
            if keep.any():
                out[role] = gpd.GeoDataFrame({"name": gdf["name"].to_numpy()[keep]},
                                             geometry=geoms[keep], crs=gdf.crs)
        return Reference(out, self.dom, self.infos)


def read_reference(project: Project, cache: dict | None = None) -> Reference:
    """Read every reference layer of ``project`` (none: an empty :class:`Reference`).

    Parameters
    ----------
    project : Project
    cache : dict, optional
        Layers already read, :attr:`Source.key` → ``(GeoDataFrame, LayerInfo)``.

    Raises
    ------
    LayerError
        A layer that cannot be read (the message of :func:`read_source`), a
        ``name_field`` the layer lacks, a DOM that cannot be opened or has no CRS.
    """
    ref = Reference()
    for spec in project.reference:
        if spec.role == "dom":
            ref.dom = open_dom(spec, project.crs)
        else:
            ref.layers[spec.role], ref.infos[spec.role] = read_reference_layer(
                project, spec, cache)
    return ref


def read_reference_layer(project: Project, spec: ReferenceSpec, cache: dict | None = None
                         ) -> tuple[gpd.GeoDataFrame, LayerInfo]:
    """One vector reference layer: ``name`` and geometry in the working CRS, and its info."""
    cache = {} if cache is None else cache
    src = spec.source
    if src.key not in cache:
        cache[src.key] = read_source(src, project.crs)
    gdf, info = cache[src.key]
    names = np.full(len(gdf), "", dtype=object)
    if spec.name_field:
        if spec.name_field not in gdf.columns:
            fields = ", ".join(str(c) for c in gdf.columns if c != gdf.geometry.name)
            raise LayerError(f"{src}: reference.{spec.role}.name_field {spec.name_field!r} is "
                             f"not a field of the layer (its fields: {fields}); fix name_field "
                             "in the project file")
        col = gdf[spec.name_field]
        names = col.astype("string").fillna("").str.strip().to_numpy(dtype=object)
    return gpd.GeoDataFrame({"name": names}, geometry=gdf.geometry.values, crs=gdf.crs), info


def open_dom(spec: ReferenceSpec, working_crs: str) -> Dom:
    """Open the orthophoto and check that it can be placed (its CRS and geotransform).

    Raises
    ------
    LayerError
        The file is missing or not a raster, or it has no CRS (and the project
        gives none) or no geotransform: naming the file and the fix.
    """
    import rasterio
    from rasterio.warp import transform_bounds

    path = spec.source.path
    if not path.is_file():
        raise LayerError(f"{path}: 文件不存在 (file not found); check reference.dom in the "
                         "project file (paths are relative to the project file)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            src = rasterio.open(path)
    except (rasterio.errors.RasterioIOError, OSError) as e:
        raise LayerError(f"{path}: 正射影像无法读取 (cannot open the DOM as a raster: "
                         f"{str(e).splitlines()[0]}); give a GeoTIFF for reference.dom") from None
    with src:
        crs = src.crs
        if spec.source.crs and spec.source.crs not in ("GCJ02", "BD09"):
            crs = rasterio.crs.CRS.from_user_input(spec.source.crs)
        no_transform = src.transform.is_identity
        if crs is None or no_transform:
            missing = " and ".join(w for w, gone in (("no CRS", crs is None),
                                                      ("no geotransform", no_transform)) if gone)
            raise LayerError(f"{path}: 正射影像没有地理参考 (the DOM is not georeferenced: "
                             f"{missing}); give its CRS as reference.dom: {{path: {path.name}, "
                             "crs: EPSG:4547}} in the project file, or georeference it (a .prj "
                             "or .aux.xml beside it, QGIS, or gdal_translate -a_srs/-a_ullr)")
        bounds = transform_bounds(crs, working_crs, *src.bounds, densify_pts=21)
        return Dom(path=path, crs=crs.to_wkt(), bounds=tuple(float(b) for b in bounds),
                   width=src.width, height=src.height, bands=src.count,
                   dtype=str(src.dtypes[0]), res=float(max(abs(src.res[0]), abs(src.res[1]))),
                   crs_name=_crs_name(crs))


def _crs_name(crs) -> str:
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else (crs.to_dict().get("proj") or "WKT")


def read_dom(dom: Dom, bounds, crs: str, shape: tuple[int, int]) -> np.ndarray:
    """The DOM over ``bounds`` as an RGBA image of ``shape`` (rows, cols) in ``crs``.

    Only the window under ``bounds`` is read, decimated to about the output's
    resolution (the file's overviews serve where it has them), then warped
    into ``crs``. Pixels outside the DOM or masked in it are transparent;
    16-bit and float images are stretched (2–98 %) to bytes.
    """
    import rasterio
    from affine import Affine
    from rasterio.enums import Resampling
    from rasterio.transform import from_bounds as transform_from_bounds
    from rasterio.warp import reproject, transform_bounds
    from rasterio.windows import Window, WindowError
    from rasterio.windows import from_bounds as window_from_bounds

    h, w = int(shape[0]), int(shape[1])
    out = np.zeros((h, w, 4), dtype=np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        src = rasterio.open(dom.path)
    with src:
        src_crs = rasterio.crs.CRS.from_wkt(dom.crs)
        sb = transform_bounds(crs, src_crs, *bounds, densify_pts=21)
        try:
            win = window_from_bounds(*sb, transform=src.transform).intersection(
                Window(0, 0, src.width, src.height))
        except WindowError:
            return out  # the DOM does not reach this map
        win = win.round_offsets().round_lengths()
        if win.width < 1 or win.height < 1:
            return out
        f = min(1.0, float(np.sqrt(1.5 * w * h / (win.width * win.height))))
        oh, ow = max(1, round(win.height * f)), max(1, round(win.width * f))
        bands = [1, 1, 1] if src.count < 3 else [1, 2, 3]
        arr = src.read(sorted(set(bands)), window=win, out_shape=(len(set(bands)), oh, ow),
                       resampling=Resampling.average)
        mask = src.dataset_mask(window=win, out_shape=(oh, ow))
        wt = src.window_transform(win) @ Affine.scale(win.width / ow, win.height / oh)
    arr = _to_bytes(arr, mask > 0)
    dst_t = transform_from_bounds(*bounds, w, h)
    for i, b in enumerate(bands):
        reproject(arr[b - 1 if len(arr) == 3 else 0], out[..., i], src_transform=wt,
                  src_crs=src_crs, dst_transform=dst_t, dst_crs=crs,
                  resampling=Resampling.bilinear)
    reproject(np.where(mask > 0, 255, 0).astype(np.uint8), out[..., 3], src_transform=wt,
              src_crs=src_crs, dst_transform=dst_t, dst_crs=crs, src_nodata=None,
              resampling=Resampling.nearest)
    return out


def _to_bytes(arr: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Bands as bytes: uint8 as they are, anything else stretched 2–98 % over valid pixels."""
    if arr.dtype == np.uint8:
        return arr
    out = np.zeros(arr.shape, dtype=np.uint8)
    for i, band in enumerate(arr.astype(np.float64)):
        v = band[valid & np.isfinite(band)]
        if not v.size:
            continue
        lo, hi = np.percentile(v, [2, 98])
        out[i] = np.clip((band - lo) / max(hi - lo, 1e-12) * 255, 0, 255).astype(np.uint8)
    return out
