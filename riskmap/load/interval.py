"""The rank interval of ``riskmap calibrate`` (``score_interval.tif``), read on the patrol grid.

``calibrate --write`` records the file as the calibrated project's ``interval``
key. Three bands, per patrol cell, 0–100 (100 = the district's top cell): the
rank percentile of the point fit and its 5 % and 95 % bootstrap bounds, nodata
where the calibration had no cell (outside the district, mostly-outside cells).

The file is read as the window of a patrol grid (the district's, or a township's
window of it in the tiled build), and only if it lies on the district's grid: the
same CRS, cell size and alignment, and (checked against the district's grid) the
same origin and extent. A file on another grid was written for another district
outline or patrol cell size (stale): :func:`read_interval` refuses it, naming the
file and the fix (re-run ``riskmap calibrate --write``). Plain arrays in, plain
arrays out: this floor knows no :class:`~riskmap.grid.Grid`, callers pass its CRS,
transform and shape.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from riskmap.errors import LayerError

__all__ = ["FIX", "RankInterval", "read_interval"]

#: what to do about an interval file that cannot be used
FIX = ("重新运行 riskmap calibrate --write 生成新的区间文件, 或删去项目文件中的 interval 键 "
       "(re-run riskmap calibrate --write, or remove the project's interval key)")
_BANDS = 3
_TOL = 1e-6  # of a cell: offsets and sizes that are whole cells up to float noise


@dataclass(frozen=True)
class RankInterval:
    """Rank percentiles (0–100) of the patrol cells: point, 5 % and 95 % bound.

    Arrays have the patrol grid's shape (float32); NaN where the file has no value.
    """

    path: Path
    pct: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    draws: int | None = None  #: bootstrap draws behind the bounds (the file's tag)

    @property
    def known(self) -> np.ndarray:
        """Cells with all three values (bool, patrol-grid shape)."""
        return np.isfinite(self.pct) & np.isfinite(self.lo) & np.isfinite(self.hi)


def _fail(path: Path, what: str) -> LayerError:
    return LayerError(f"{path}: {what}; {FIX}")


def read_interval(path, *, crs, transform, shape, window: bool = False) -> RankInterval:
    """Read ``score_interval.tif`` on the patrol grid given by ``crs, transform, shape``.

    Parameters
    ----------
    path : str or Path
        The project's ``interval`` file.
    crs : str
        The patrol grid's CRS (the project's working CRS).
    transform : affine.Affine
        The patrol grid's transform (north-up, square cells).
    shape : tuple of int
        ``(rows, cols)`` of the patrol grid.
    window : bool
        False (default): the grid is the district's, and the file must cover
        exactly it. True: the grid may be a window of the district's (a
        township of the tiled build), which must lie inside the file.

    Returns
    -------
    RankInterval

    Raises
    ------
    LayerError
        The file is missing or not a raster, does not hold three bands of rank
        percentiles, or does not lie on the patrol grid (CRS, cell size, origin
        or extent differ): naming the file, what differs and the fix.
    """
    import rasterio
    from pyproj import CRS
    from rasterio.windows import Window

    path = Path(path)
    if not path.is_file():
        raise _fail(path, "区间文件不存在 (the interval file is missing)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            src = rasterio.open(path)
    except (rasterio.errors.RasterioIOError, OSError) as e:
        raise _fail(path, f"区间文件无法读取 (cannot open it as a raster: "
                          f"{str(e).splitlines()[0]})") from None
    with src:
        if src.count != _BANDS:
            raise _fail(path, f"区间文件应有 3 个波段 (point, 5 %, 95 % rank percentile), "
                              f"此文件 {src.count} 个 (not a score_interval.tif)")
        if src.crs is None or not CRS.from_wkt(src.crs.to_wkt()).equals(
                CRS.from_user_input(crs), ignore_axis_order=True):
            got = "none" if src.crs is None else (src.crs.to_string() or "another CRS")
            raise _fail(path, f"区间文件的坐标系与项目不同 (its CRS {got} is not the "
                              f"project's {crs}): it was written for another project")
        t, cell = src.transform, float(transform.a)
        if abs(t.b) > _TOL or abs(t.d) > _TOL or not (
                math.isclose(t.a, cell, rel_tol=_TOL) and math.isclose(-t.e, cell, rel_tol=_TOL)):
            raise _fail(path, f"区间文件的网格大小与巡查网格不同 (its cells are "
                              f"{abs(t.a):g} × {abs(t.e):g} m, the patrol cells {cell:g} m): "
                              "patrol_cell_size changed since calibration")
        col = (transform.c - t.c) / cell
        row = (t.f - transform.f) / cell
        if abs(col - round(col)) > _TOL or abs(row - round(row)) > _TOL:
            raise _fail(path, "区间文件的网格未对齐巡查网格 (its cells are offset from the "
                              "patrol cells)")
        col, row = round(col), round(row)
        inside = (row >= 0 and col >= 0 and row + shape[0] <= src.height
                  and col + shape[1] <= src.width)
        same = (row, col) == (0, 0) and (src.height, src.width) == tuple(shape)
        if not (inside if window else same):
            raise _fail(path, f"区间文件的范围与本区巡查网格不同 (it covers {src.height} × "
                              f"{src.width} cells, offset {row} rows and {col} columns from "
                              f"the {'window' if window else 'district'}'s {shape[0]} × "
                              f"{shape[1]}): the district outline changed since calibration")
        win = Window(col, row, shape[1], shape[0])  # the patrol grid's window of the file
        data = src.read(window=win, masked=True).astype(np.float32)
        draws = src.tags().get("draws")
    bands = data.filled(np.nan)
    finite = bands[np.isfinite(bands)]
    if finite.size and (finite.min() < -1e-3 or finite.max() > 100 + 1e-3):
        raise _fail(path, f"区间文件的值不是 0–100 的排名百分位 (values {finite.min():g}–"
                          f"{finite.max():g}; not a score_interval.tif)")
    return RankInterval(path, bands[0], bands[1], bands[2],
                        int(draws) if draws and draws.isdigit() else None)
