"""Put geometries onto a grid: masks, labels and point counts (pure, in memory)."""

from __future__ import annotations

import warnings

import numpy as np
import shapely
from rasterio.errors import NotGeoreferencedWarning
from rasterio.features import rasterize

from riskmap.grid import Grid


def _quiet() -> None:
    """Ignore rasterio's spurious NotGeoreferencedWarning from worker threads.

    Every call here passes an explicit transform (tiled == untiled and window ==
    whole are tested cell by cell). Set again before each rasterize: a
    ``warnings.catch_warnings`` block (pytest runs each test in one) drops a
    filter set while it was open.
    """
    warnings.filterwarnings("ignore", category=NotGeoreferencedWarning, module="rasterio")


_quiet()


def shapes(geoms, values) -> list:
    """``(shape, int value)`` pairs for rasterize, missing and empty geometries left out.

    Polygons and multipolygons become GeoJSON-like polygons (one per part, in
    order, as rasterize splits them itself) with their coordinates listed in
    one call per layer: shapely's ``__geo_interface__`` makes a tuple per
    vertex in Python, which cost more than the burn at coarse cells. Other
    geometries are passed as they are.
    """
    geoms = np.asarray(geoms, dtype=object)
    values = np.asarray(values).astype(np.int64)
    keep = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    geoms, values = geoms[keep], values[keep]
    if not np.isin(shapely.get_type_id(geoms), (3, 6)).all():
        return list(zip(geoms, values.tolist(), strict=True))
    parts, owner = shapely.get_parts(geoms, return_index=True)
    whole = ~shapely.is_empty(parts)
    parts, owner = parts[whole], owner[whole]
    rings, of = shapely.get_rings(parts, return_index=True)  # exterior first, then holes
    xy = shapely.get_coordinates(rings).tolist()
    ends = np.cumsum(shapely.get_num_coordinates(rings)).tolist()
    coords = [[] for _ in range(len(parts))]
    for r, a, b in zip(of.tolist(), [0, *ends][:-1], ends, strict=True):
        coords[r].append(xy[a:b])
    return [({"type": "Polygon", "coordinates": c}, v)
            for c, v in zip(coords, values[owner].tolist(), strict=True)]


def point_cells(xs, ys, grid: Grid) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows, columns and a keep mask of points that fall inside ``grid``."""
    row, col = grid.rowcol(xs, ys)
    inside = (row >= 0) & (row < grid.nrows) & (col >= 0) & (col < grid.ncols)
    return row, col, inside


def point_xy(geoms) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates of point geometries (multipoints contribute every part)."""
    geoms = np.asarray(geoms)
    if np.isin(shapely.get_type_id(geoms), (-1, 0, 4)).all():
        # points, multipoints and missing ones only: their coordinates are those of
        # their parts, in the same order, without making a Python object per part
        xy = shapely.get_coordinates(geoms)
        return xy[:, 0], xy[:, 1]
    parts = shapely.get_parts(geoms)
    pts = parts[shapely.get_type_id(parts) == 0]
    xy = shapely.get_coordinates(pts)
    return xy[:, 0], xy[:, 1]


def mask(geoms, grid: Grid, all_touched: bool = False) -> np.ndarray:
    """Boolean mask of cells covered by ``geoms`` (cell-centre rule by default)."""
    pairs = shapes(geoms, np.ones(len(np.asarray(geoms)), np.int64))
    if not pairs:
        return np.zeros(grid.shape, dtype=bool)
    _quiet()
    out = rasterize(
        pairs,
        out_shape=grid.shape,
        transform=grid.transform,
        fill=0,
        all_touched=all_touched,
        dtype="uint8",
    )
    return out.astype(bool)


def labels(geoms, values, grid: Grid, all_touched: bool = False) -> np.ndarray:
    """int32 raster of ``values`` burnt from ``geoms`` (0 where none)."""
    return labels_of(shapes(geoms, values), grid, all_touched)


def labels_of(pairs: list, grid: Grid, all_touched: bool = False) -> np.ndarray:
    """int32 raster burnt from ``(shape, value)`` pairs made by :func:`shapes`."""
    if not pairs:
        return np.zeros(grid.shape, dtype=np.int32)
    _quiet()
    return rasterize(pairs, out_shape=grid.shape, transform=grid.transform, fill=0,
                     all_touched=all_touched, dtype="int32")


def feature_mask(geoms, grid: Grid, target: str = "edges") -> np.ndarray:
    """Cells that hold a feature: points, lines, polygon edges or areas.

    Lines and edges burn every cell they touch so that thin features are never
    lost; polygon areas (``target="area"``) burn touched cells as well.
    """
    geoms = np.asarray(geoms)
    tid = shapely.get_type_id(geoms)
    out = np.zeros(grid.shape, dtype=bool)
    pts = np.isin(tid, (0, 4))
    if pts.any():
        x, y = point_xy(geoms[pts])
        r, c, ok = point_cells(x, y, grid)
        out[r[ok], c[ok]] = True
    lines = np.isin(tid, (1, 2, 5))
    poly = np.isin(tid, (3, 6))
    burn = list(geoms[lines])
    if poly.any():
        burn += list(geoms[poly]) if target == "area" else list(shapely.boundary(geoms[poly]))
    if burn:
        out |= mask(burn, grid, all_touched=True)
    return out
