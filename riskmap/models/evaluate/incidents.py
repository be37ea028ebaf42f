"""The incidents of a backtest: read once, judged, dated (one date parser), placed.

The same case entered twice (the same case number and date, :func:`same_cases`)
counts once, in the backtest and in calibration alike.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import shapely

from riskmap.errors import LayerError, RiskmapWarning
from riskmap.load.columns import required_dates
from riskmap.load.project import Project, Source
from riskmap.models.evaluate.errors import NoIncidentsError

if TYPE_CHECKING:
    import geopandas as gpd

__all__ = ["CASE_HEADERS", "FALSE_CHANGE", "ILLEGAL", "LEGAL", "Incidents", "SameCases",
           "case_column", "day", "drop_same_cases", "read_incidents", "repeated_rows",
           "same_cases"]

ILLEGAL, FALSE_CHANGE, LEGAL = "违法", "伪变化", "合法"
#: headers of a case-number column (案件编号), most specific first; ``incidents.case_field``
#: names another one
CASE_HEADERS = ("案件编号", "案件号", "案号", "立案编号", "立案号", "案卷编号", "案卷号", "编号",
                "case_no", "case_id", "case_number", "caseno")
SHOWN_CASES = 10  # repeated cases named in a note; the rest counted


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


@dataclass
class SameCases:
    """Rows that repeat a case: the same case number and the same date.

    Attributes
    ----------
    column : str or None
        The case-number column (None: no such column, nothing merged).
    repeat : numpy.ndarray
        True for a row whose case was already counted in an earlier row.
    groups : list of (str, str, list of int)
        Case number, date and row numbers of every case written more than once.
    """

    column: str | None
    repeat: np.ndarray
    groups: list

    def note(self, source) -> str | None:
        """What was merged, in words (None when nothing was)."""
        if not self.groups:
            return None
        said = [f"{c} {d}: rows {', '.join(map(str, r))}" for c, d, r in
                self.groups[:SHOWN_CASES]]
        if len(self.groups) > SHOWN_CASES:
            said.append(f"… {len(self.groups) - SHOWN_CASES} more")
        return (f"{source}: {int(self.repeat.sum())} 行与前面的行是同一案件 (same {self.column} "
                f"and date), 只计一次 (counted once): {'; '.join(said)}")


def case_column(columns, configured: str | None = None, source=None) -> str | None:
    """The case-number column of a layer: ``configured``, else found by its header.

    Parameters
    ----------
    columns : sequence of str
        The layer's columns (tables keep their header names).
    configured : str, optional
        ``incidents.case_field``.
    source : object, optional
        Named in the message.

    Returns
    -------
    str or None
        None when no column looks like a case number.

    Raises
    ------
    LayerError
        ``configured`` is not a column.
    """
    cols = [c for c in columns if c != "geometry"]
    if configured:
        if configured not in cols:
            raise LayerError(f"{source}: no field {configured!r} (incidents.case_field); "
                             f"fields: {', '.join(map(str, cols))}")
        return configured
    norm = {re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(c))).lower(): c for c in cols}
    return next((norm[h] for h in CASE_HEADERS if h in norm), None)


def same_cases(gdf, dates: np.ndarray, column: str | None) -> SameCases:
    """Rows that repeat an earlier row's case: the same case number and the same date.

    Distinct cases at one place stay distinct (the place is not compared); a
    blank case number or date never matches.

    Parameters
    ----------
    gdf : pandas.DataFrame
        The layer (``_row`` holds sheet rows when it has them).
    dates : numpy.ndarray
        ``datetime64[D]`` per row (NaT never matches).
    column : str or None
        The case-number column (:func:`case_column`).

    Returns
    -------
    SameCases
    """
    n = len(gdf)
    repeat = np.zeros(n, dtype=bool)
    if column is None or n == 0:
        return SameCases(column, repeat, [])
    key = (pd.Series(gdf[column].to_numpy(), dtype="string").str.normalize("NFKC")
           .str.replace(r"\s+", "", regex=True))
    ok = (key.notna() & (key != "")).to_numpy() & ~np.isnat(dates)
    frame = pd.DataFrame({"case": key.to_numpy()[ok], "date": dates[ok]})
    repeat[np.flatnonzero(ok)[frame.duplicated(["case", "date"]).to_numpy()]] = True
    rows = gdf["_row"].to_numpy() if "_row" in gdf.columns else np.arange(1, n + 1)
    rows = rows[ok]
    many = frame.duplicated(["case", "date"], keep=False).to_numpy()
    groups = []
    if many.any():  # a loop over repeated cases only
        for (case, date), idx in frame[many].groupby(["case", "date"], sort=False).indices.items():
            groups.append((str(case), str(np.datetime64(date, "D")),
                           [int(r) for r in rows[many][idx]]))
    return SameCases(column, repeat, groups)


def repeated_rows(gdf, same: SameCases) -> frozenset:
    """The table rows (``_row``) of the rows that repeat a case; empty without ``_row``."""
    if "_row" not in gdf.columns or not same.repeat.any():
        return frozenset()
    return frozenset(int(r) for r in gdf["_row"].to_numpy()[same.repeat])


def drop_same_cases(gdf, date_field: str | None, case_field: str | None = None, source=None,
                    repeats: frozenset = frozenset()):
    """A factor's layer built on the incidents, without the rows that repeat a case.

    A factor's layer may have lost the case-number column (personal and
    administrative columns are kept out of factor layers): its rows are then
    matched to the incidents by their table row (``_row``), ``repeats`` being
    the incidents' :func:`repeated_rows`.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
    date_field : str or None
        Its date column (no merge without one: a case is its number *and* date).
    case_field : str, optional
        ``incidents.case_field`` (default: found by header, :func:`case_column`).
    source : object, optional
        Named in messages.
    repeats : frozenset of int, optional
        Table rows of the incidents that repeat a case.

    Returns
    -------
    (geopandas.GeoDataFrame, int)
        The layer and how many rows were dropped.
    """
    from riskmap.load.columns import column_dates

    column = case_column(gdf.columns, None, source) if not case_field else (
        case_field if case_field in gdf.columns else None)
    if column is not None and date_field and date_field in gdf.columns:
        drop = same_cases(gdf, column_dates(gdf[date_field], str(date_field)), column).repeat
    elif repeats and "_row" in gdf.columns:
        drop = gdf["_row"].isin(list(repeats)).to_numpy()
    else:
        return gdf, 0
    if not drop.any():
        return gdf, 0
    return gdf.loc[~drop].reset_index(drop=True), int(drop.sum())


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
