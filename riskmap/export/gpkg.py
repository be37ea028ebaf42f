"""GeoPackages: risk.gpkg (patrol cells, zones, clipped inputs, metadata) and one-layer files."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from rasterio.features import shapes

from riskmap.errors import ExportError
from riskmap.export.atomic import atomic_file
from riskmap.grid import Grid

#: Layer name of the mining-right licences written by ``riskmap import-rights``.
RIGHTS_LAYER = "mining_rights"


def zones(classes: np.ndarray, score: np.ndarray, grid: Grid, keep: np.ndarray,
          township_names: np.ndarray, min_class: int = 4) -> gpd.GeoDataFrame:
    """Dissolve contiguous patrol cells of class ≥ ``min_class`` into zones.

    Parameters
    ----------
    classes, score : numpy.ndarray
        Patrol-cell class and score on ``grid``.
    grid : Grid
        The patrol grid.
    keep : numpy.ndarray of bool
        Cells that belong to the exported area.
    township_names : numpy.ndarray of object
        Township name per patrol cell.
    """
    hot = (classes >= min_class) & keep
    cols = ["zone_id", "township", "cells", "area_km2", "max_class", "max_score", "geometry"]
    if not hot.any():
        return gpd.GeoDataFrame(columns=cols, geometry="geometry", crs=grid.crs)
    # label 4-connected components, then polygonise the labels in one GDAL pass
    from scipy import ndimage

    lab, n = ndimage.label(hot)
    geoms, ids = [], []
    for geom, val in shapes(lab.astype(np.int32), mask=hot, transform=grid.transform,
                            connectivity=4):
        geoms.append(shapely.geometry.shape(geom))
        ids.append(int(val))
    g = gpd.GeoSeries(geoms, crs=grid.crs).groupby(np.array(ids)).agg(shapely.union_all)
    idx = np.arange(1, n + 1)
    flat_lab = lab.ravel()
    sel = flat_lab > 0
    cells = np.bincount(flat_lab[sel], minlength=n + 1)[1:]
    mx = ndimage.maximum(score, lab, idx)
    mc = ndimage.maximum(classes, lab, idx)
    # township of a zone: that of its hottest cell
    pos = ndimage.maximum_position(score, lab, idx)
    town = [township_names[p] for p in pos]
    df = pd.DataFrame({"label": idx, "township": town, "cells": cells,
                       "area_km2": np.round(cells * grid.cell**2 / 1e6, 4),
                       "max_class": np.asarray(mc, dtype=np.int16),
                       "max_score": np.round(np.asarray(mx, dtype=float), 2)})
    df = df.sort_values(["max_score", "cells", "label"], ascending=[False, False, True])
    df.insert(0, "zone_id", [f"Z{i:03d}" for i in range(1, len(df) + 1)])
    out = gpd.GeoDataFrame(df.drop(columns="label"), geometry=g.loc[df["label"]].values,
                           crs=grid.crs)
    return out.reset_index(drop=True)


def write_gpkg(path, cells: gpd.GeoDataFrame, zone_df: gpd.GeoDataFrame,
               inputs: dict[str, gpd.GeoDataFrame], metadata: dict) -> None:
    """Write the GeoPackage layers ``cells``, ``zones``, ``input_*`` and ``metadata``.

    The file is written under a temporary name and replaces ``path`` whole.
    """
    meta = pd.DataFrame({
        "key": list(metadata),
        "value": [v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
                  for v in metadata.values()],
    })
    with atomic_file(path, overwrite=True, create=False) as tmp:
        pyogrio.write_dataframe(cells, tmp, layer="cells", driver="GPKG")
        pyogrio.write_dataframe(zone_df, tmp, layer="zones", driver="GPKG",
                                promote_to_multi=True)
        for name, gdf in inputs.items():
            if len(gdf):
                pyogrio.write_dataframe(_plain(gdf), tmp, layer=f"input_{name}", driver="GPKG",
                                        promote_to_multi=True)
        pyogrio.write_dataframe(meta, tmp, layer="metadata", driver="GPKG")


def write_layer(gdf: gpd.GeoDataFrame, dest, *, layer: str, overwrite: bool = False) -> Path:
    """Write one layer as a GeoPackage of its own, atomically.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        Features to write.
    dest : path-like
        GeoPackage path; replaced whole if it exists and ``overwrite``.
    layer : str
        Layer name.
    overwrite : bool
        Allow replacing an existing file.

    Returns
    -------
    Path

    Raises
    ------
    ExportError
        ``dest`` exists without ``overwrite``, the folder is not writable, or
        GDAL cannot write the layer.
    """
    dest = Path(dest)
    try:
        with atomic_file(dest, overwrite, create=False) as tmp:  # GDAL creates the file
            pyogrio.write_dataframe(gdf, tmp, layer=layer, driver="GPKG")
    except ExportError:
        raise
    except (OSError, RuntimeError) as e:  # pyogrio's errors are RuntimeErrors
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ExportError(f"{dest}: 无法写入 (cannot write): {first}; check the folder and "
                          "disk space") from None
    return dest


def _plain(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Columns GPKG can hold: dates and objects as text."""
    out = gdf.copy()
    for c in out.columns:
        if c != out.geometry.name and out[c].dtype == object:
            out[c] = out[c].astype("string")
    return out


def clip_inputs(layers: dict[str, gpd.GeoDataFrame], area) -> dict[str, gpd.GeoDataFrame]:
    """Each input layer clipped to ``area`` (a township package holds only its own area)."""
    out = {}
    for name, gdf in layers.items():
        hit = shapely.intersects(gdf.geometry.values, area)
        sub = gdf.loc[hit]
        if len(sub):
            before = sub.geometry.values
            cut = shapely.intersection(before, area)
            # a neighbour that only touches the area leaves a point or a line:
            # keep only parts of the feature's own dimension
            cut = _same_dimension(cut, shapely.get_dimensions(before))
            sub = sub.set_geometry(gpd.GeoSeries(cut, index=sub.index, crs=gdf.crs))
            sub = sub.loc[~(sub.geometry.is_empty | sub.geometry.isna())]
        out[name] = sub
    return out


def _same_dimension(geoms: np.ndarray, dims: np.ndarray) -> np.ndarray:
    """Parts of each geometry whose dimension is ``dims`` (collections filtered)."""
    out = np.asarray(geoms).copy()
    mixed = (shapely.get_dimensions(out) != dims) | (shapely.get_type_id(out) == 7)
    for i in np.flatnonzero(mixed):  # only the few features cut along an edge
        parts = shapely.get_parts(out[i])
        keep = parts[shapely.get_dimensions(parts) == dims[i]]
        out[i] = shapely.union_all(keep) if len(keep) else shapely.Point()
    return out
