"""Scores of a backtest on the analysis grid: the map from data before the split, KDE, a raster.

The leakage guard lives here: :func:`training_inputs` keeps the test period
out of every dated layer before the map is built.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import warnings
from pathlib import Path

import numpy as np

from riskmap.errors import LayerError
from riskmap.grid import Grid
from riskmap.load.columns import column_dates
from riskmap.load.project import Project
from riskmap.models.evaluate.incidents import day

__all__ = ["kde_score", "model_surface", "raster_score", "training_inputs"]


def training_inputs(project: Project, inputs, split: dt.date, repeats: frozenset = frozenset()):
    """A copy of ``inputs`` whose dated layers keep only rows dated before ``split``.

    A factor built on the incidents also loses the rows that repeat a case
    (:func:`~riskmap.models.evaluate.incidents.drop_same_cases`).

    Parameters
    ----------
    project : Project
    inputs : Inputs
        From :func:`riskmap.load.inputs.load_inputs` (not changed).
    split : datetime.date
        First day of the test period.
    repeats : frozenset of int, optional
        Table rows of the incidents that repeat a case (:attr:`Incidents.repeats`).

    Returns
    -------
    (Inputs, dict)
        The filtered inputs and, per filtered factor, ``{"date_field", "kept",
        "dropped"}``.
    """
    from riskmap.models.power import is_anomaly_source, read_anomaly_source

    inc_src = project.incidents["source"] if project.incidents else None
    cut = day(split)
    factors, filtered = dict(inputs.factors), {}
    for spec in project.factors:
        if is_anomaly_source(spec.source):  # meter readings from the split on stay out
            before = inputs.factors[spec.name]
            try:
                factors[spec.name] = read_anomaly_source(project, spec.source, until=split)[0]
            except LayerError:  # no readings (or no anomaly) before the split: no factor
                factors[spec.name] = before.iloc[:0]
            filtered[spec.name] = {"date_field": "meter months (re-scored before the split)",
                                   "from_incidents": False, "kept": len(factors[spec.name]),
                                   "dropped": max(0, len(before) - len(factors[spec.name]))}
            continue
        from_incidents = inc_src is not None and (spec.source.path, spec.source.layer) == (
            inc_src.path, inc_src.layer)
        field = spec.params.get("date_field")
        if from_incidents and not field:
            field = project.incidents.get("date_field")
        if not field:
            continue
        gdf = factors[spec.name]
        if field not in gdf.columns:
            raise LayerError(f"{spec.source}: factor {spec.name}: no date field {field!r} to "
                             "keep the test period out of the map")
        # the same case entered twice was dropped when the layer was read (load_inputs)
        merged = inputs.same_case_rows.get(spec.name, 0) if from_incidents else 0
        dates = column_dates(gdf[field], str(field))
        keep = ~np.isnat(dates) & (dates < cut)  # an undated row cannot be proved older
        factors[spec.name] = gdf.loc[keep].reset_index(drop=True)
        filtered[spec.name] = {"date_field": str(field), "from_incidents": bool(from_incidents),
                               "kept": int(keep.sum()), "dropped": int((~keep).sum())}
        if merged:
            filtered[spec.name]["same_case_rows"] = merged
    return dataclasses.replace(inputs, factors=factors), filtered


def model_surface(project: Project, inputs, split: dt.date, progress=None,
                  repeats: frozenset = frozenset()):
    """The project's map built from data dated before ``split`` only.

    Parameters
    ----------
    project : Project
    inputs : Inputs
        All layers (filtered here, not changed).
    split : datetime.date
    progress : callable, optional
    repeats : frozenset of int, optional
        As for :func:`training_inputs`.

    Returns
    -------
    (Surface, dict)
        The scored surface (``as_of`` = ``split``) and what was filtered.
    """
    from riskmap.score.engine import compute

    train, filtered = training_inputs(project, inputs, split, repeats)
    return compute(dataclasses.replace(project, as_of=split), train, progress), filtered


def kde_score(xs, ys, agrid: Grid, area: np.ndarray, bandwidth: float) -> np.ndarray:
    """Kernel density of past events on the analysis grid (NaN outside the district)."""
    from riskmap.factors import kernel_density

    d = kernel_density(xs, ys, agrid, bandwidth).astype(np.float64)
    d[~area] = np.nan
    return d


def raster_score(path, agrid: Grid, area: np.ndarray) -> np.ndarray:
    """A GeoTIFF resampled onto the analysis grid (NaN outside the district or no data).

    Cells of the same size or larger than the analysis cell are sampled
    (nearest); smaller ones are averaged. Another CRS is reprojected.

    Raises
    ------
    LayerError
        Unreadable file, no CRS, or no value over the district.
    """
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.warp import reproject

    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            src = rasterio.open(path)
    except (rasterio.errors.RasterioIOError, OSError) as e:
        raise LayerError(f"{path}: cannot open as a raster: {str(e).splitlines()[0]}; give a "
                         "GeoTIFF such as risk.tif") from None
    with src:
        no_transform = src.transform.is_identity  # (GCPs alone are not used)
        if src.crs is None or no_transform:
            missing = " and ".join(w for w, gone in (("no CRS", src.crs is None),
                                                      ("no geotransform", no_transform)) if gone)
            raise LayerError(f"{path}: the raster is not georeferenced ({missing}); it must "
                             f"carry its CRS (the project's is {agrid.crs}) and its pixel "
                             "position, as risk.tif does — georeference it in QGIS or with "
                             "gdal_translate -a_srs/-a_ullr")
        res = max(abs(src.res[0]), abs(src.res[1]))
        same = src.crs == rasterio.crs.CRS.from_user_input(agrid.crs)
        finer = same and res < agrid.cell * 0.75
        out = np.full(agrid.shape, np.nan, dtype=np.float64)
        reproject(
            source=rasterio.band(src, 1), destination=out, src_nodata=src.nodata,
            dst_transform=agrid.transform, dst_crs=agrid.crs, dst_nodata=np.nan,
            resampling=Resampling.average if finer else Resampling.nearest,
        )
    out[~area] = np.nan
    if not np.isfinite(out).any():
        raise LayerError(f"{path}: the raster has no value inside the district; check its "
                         f"extent and CRS (project CRS {agrid.crs})")
    return out
