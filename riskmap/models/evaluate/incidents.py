"""The incidents of a backtest: read once, judged, dated (one date parser), placed.

The same case entered twice (the same case number and date, :func:`same_cases`)
counts once, in the backtest and in calibration alike.
"""

from __future__ import annotations

import datetime as dt
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import shapely

from riskmap.errors import LayerError, RiskmapWarning
from riskmap.load.cases import (
    CASE_HEADERS,
    SameCases,
    case_column,
    drop_same_cases,
    repeated_rows,
    same_cases,
)
from riskmap.load.columns import required_dates
from riskmap.load.project import Project, Source
from riskmap.models.evaluate.errors import NoIncidentsError

if TYPE_CHECKING:
    import geopandas as gpd

__all__ = ["CASE_HEADERS", "FALSE_CHANGE", "ILLEGAL", "LEGAL", "Incidents", "SameCases",
           "case_column", "day", "drop_same_cases", "read_incidents", "repeated_rows",
           "same_cases"]

ILLEGAL, FALSE_CHANGE, LEGAL = "违法", "伪变化", "合法"


@dataclass
class Incidents:
    """The incidents layer, read and classified.

    Attributes
    ----------
    gdf : geopandas.GeoDataFrame
        Every row, in the working CRS.
    dates : numpy.ndarray
        ``datetime64[D]`` per row (NaT where missing).
    event : numpy.ndarray
        True for rows that are events (all rows, or those judged 违法).
    negative : numpy.ndarray
        True for verified negatives (judged 伪变化).
    inside : numpy.ndarray
        True for rows inside the district (points and centroids: in it;
        ``events_as="area"`` polygons: touching it).
    how : str
        How events are counted, in words.
    ignored : int
        Rows judged neither 违法 nor 伪变化.
    same : SameCases or None
        Rows that repeat a case (excluded from ``event`` and ``negative``).
    """

    gdf: gpd.GeoDataFrame
    dates: np.ndarray
    event: np.ndarray
    negative: np.ndarray
    inside: np.ndarray
    how: str
    ignored: int = 0
    same: SameCases | None = None

    @property
    def repeats(self) -> frozenset:
        """Table rows (``_row``) that repeat a case (for the factors built on the layer)."""
        return frozenset() if self.same is None else repeated_rows(self.gdf, self.same)


def read_incidents(project: Project, district, *, layer=None) -> Incidents:
    """Read the project's incidents layer and say which rows are events.

    A row with the same case number and date as an earlier row (the same case
    entered twice, :func:`same_cases`) is neither an event nor a negative; the
    merged rows are named in a :class:`~riskmap.errors.RiskmapWarning`.

    Parameters
    ----------
    project : Project
        Its ``incidents`` block names the source, ``date_field`` and optionally
        ``judgement_field`` (合法 / 违法 / 伪变化), ``case_field`` and ``events_as``.
    district : shapely.Geometry
        The district, in the working CRS.
    layer : geopandas.GeoDataFrame, optional
        The incidents layer already read (``riskmap check`` passes it); default:
        read here.

    Returns
    -------
    Incidents

    Raises
    ------
    NoIncidentsError
        No ``incidents`` block or no ``date_field``.
    LayerError
        Missing date, judgement or case column; event rows without a readable
        date (every one named, with its row number).
    """
    from riskmap.load.layers import read_source

    inc = project.incidents
    if not inc:
        raise NoIncidentsError(f"{project.path}: no incidents configured; add an 'incidents:' "
                               "block (source, date_field) to the project file")
    if not inc.get("date_field"):
        raise NoIncidentsError(f"{project.path}: incidents.date_field is missing; a backtest "
                               "splits the incidents by date")
    src: Source = inc["source"]
    gdf = read_source(src, project.crs)[0] if layer is None else layer
    dfield = inc["date_field"]
    if dfield not in gdf.columns:
        raise LayerError(f"{src}: no field {dfield!r} (incidents.date_field); fields: "
                         f"{', '.join(map(str, gdf.columns[:-1]))}")
    geoms = gdf.geometry.values
    tid = shapely.get_type_id(geoms)
    polygon = np.isin(tid, (3, 6))
    jfield = inc.get("judgement_field")
    ignored = 0
    if jfield:
        if jfield not in gdf.columns:
            raise LayerError(f"{src}: no field {jfield!r} (incidents.judgement_field); fields: "
                             f"{', '.join(map(str, gdf.columns[:-1]))}")
        j = gdf[jfield].astype("string").str.strip().fillna("").to_numpy(dtype=object)
        event = j == ILLEGAL
        negative = j == FALSE_CHANGE
        other = ~(event | negative | (j == LEGAL))
        ignored = int((j == LEGAL).sum() + other.sum())
        if other.any():
            vals = sorted({str(v) for v in j[other]})[:5]
            warnings.warn(f"{src}: {int(other.sum())} rows judged neither {ILLEGAL}, "
                          f"{FALSE_CHANGE} nor {LEGAL} in {jfield!r} (ignored): "
                          f"{', '.join(vals)}", RiskmapWarning, stacklevel=2)
    else:
        event = np.ones(len(gdf), dtype=bool)
        negative = np.zeros(len(gdf), dtype=bool)
    # every event and verified negative needs its date; other rows are not used
    dates = required_dates(gdf, dfield, src, need=event | negative)
    same = same_cases(gdf, dates, case_column(gdf.columns, inc.get("case_field"), src))
    event, negative = event & ~same.repeat, negative & ~same.repeat
    if same.groups:
        warnings.warn(same.note(src), RiskmapWarning, stacklevel=2)
    area_mode = inc.get("events_as") == "area"
    shapely.prepare(district)
    if area_mode:
        inside = np.where(polygon, shapely.intersects(geoms, district),
                          _contains(district, geoms))
    else:
        inside = _contains(district, geoms)
    if not polygon.any():
        how = "points (each event counts 1 in the patrol cell holding it)"
    elif area_mode:
        how = ("area: each polygon event counts 1, its part inside the district spread over "
               "the patrol cells it covers in proportion to the area in each")
    else:
        how = "centroid: each polygon event counts 1 in the patrol cell holding its centroid"
    if jfield:
        how += f"; only rows judged {ILLEGAL} ({jfield}) are events, {FALSE_CHANGE} rows are " \
               "verified negatives (counted, not scored)"
    return Incidents(gdf, dates, event, negative, inside, how, ignored, same)


def _contains(district, geoms) -> np.ndarray:
    c = shapely.centroid(geoms)
    xy = shapely.get_coordinates(c)
    return shapely.intersects_xy(district, xy[:, 0], xy[:, 1])


def day(d: dt.date) -> np.datetime64:
    """A date as ``datetime64[D]`` (to compare with :attr:`Incidents.dates`)."""
    return np.datetime64(d.isoformat(), "D")
