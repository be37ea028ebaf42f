"""A tiny project built in code: a 2 km x 2 km district in two townships."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import shapely
import yaml

CRS = "EPSG:4547"
X0, Y0 = 450_000.0, 4_190_000.0


def write_layers(folder: Path) -> Path:
    """Write tiny.gpkg with district, townships, villages, mines, lines, licences."""
    gpkg = folder / "tiny.gpkg"
    box = shapely.box
    district = box(X0, Y0, X0 + 2000, Y0 + 2000)
    gpd.GeoDataFrame({"name": ["郊区"]}, geometry=[district], crs=CRS).to_file(
        gpkg, layer="district")
    gpd.GeoDataFrame(
        {"name": ["东镇", "西镇"]},
        geometry=[box(X0 + 1000, Y0, X0 + 2000, Y0 + 2000), box(X0, Y0, X0 + 1000, Y0 + 2000)],
        crs=CRS,
    ).to_file(gpkg, layer="townships")
    gpd.GeoDataFrame(
        {"name": ["东一村", "东二村", "西村"], "township": ["东镇", "东镇", "西镇"]},
        geometry=[box(X0 + 1000, Y0, X0 + 2000, Y0 + 1000),
                  box(X0 + 1000, Y0 + 1000, X0 + 2000, Y0 + 2000),
                  box(X0, Y0, X0 + 1000, Y0 + 2000)],
        crs=CRS,
    ).to_file(gpkg, layer="villages")
    gpd.GeoDataFrame(
        {"name": ["矿1", "矿2", "矿3"], "type": ["关闭", "关闭", "取缔"]},
        geometry=shapely.points([(X0 + 300, Y0 + 400), (X0 + 1610, Y0 + 1520),
                                 (X0 + 2100, Y0 + 900)]),  # the last one just outside
        crs=CRS,
    ).to_file(gpkg, layer="mines")
    gpd.GeoDataFrame(
        {"name": ["露头"]},
        geometry=[shapely.LineString([(X0 + 200, Y0 + 1800), (X0 + 1800, Y0 + 1700)])],
        crs=CRS,
    ).to_file(gpkg, layer="outcrops")
    gpd.GeoDataFrame(
        {"licence_no": ["C1"]}, geometry=[box(X0 + 800, Y0 + 200, X0 + 1300, Y0 + 700)], crs=CRS,
    ).to_file(gpkg, layer="rights")
    return gpkg


def project_dict() -> dict:
    return {
        "name": "tiny",
        "crs": CRS,
        "cell_size": 25,
        "patrol_cell_size": 100,
        "as_of": "2026-11-27",
        "district": {"source": "tiny.gpkg:district", "name_field": "name"},
        "townships": {"source": "tiny.gpkg:townships", "name_field": "name"},
        "villages": {"source": "tiny.gpkg:villages", "name_field": "name",
                     "township_field": "township"},
        "factors": [
            {"name": "mines", "label": "关闭矿井", "source": "tiny.gpkg:mines",
             "kind": "proximity", "range": 600, "decay": "linear", "weight": 30},
            {"name": "outcrop", "label": "露头煤线", "source": "tiny.gpkg:outcrops",
             "kind": "proximity", "range": 400, "weight": 20},
            {"name": "ring", "label": "采矿权外围", "source": "tiny.gpkg:rights",
             "kind": "ring", "distance": 200, "weight": 20},
            {"name": "inlic", "label": "采矿权", "source": "tiny.gpkg:rights",
             "kind": "inside", "weight": -10},
            {"name": "mine_density", "label": "矿井密度", "source": "tiny.gpkg:mines",
             "kind": "density", "bandwidth": 200, "weight": 10},
        ],
        "output": "out",
    }


def make_project(folder: Path, edit=None) -> Path:
    """Write layers and project.yaml into ``folder``; ``edit(d)`` may change the dict."""
    write_layers(folder)
    d = project_dict()
    if edit:
        edit(d)
    path = folder / "project.yaml"
    path.write_text(yaml.safe_dump(d, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path
