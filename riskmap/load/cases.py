"""The same case entered twice: found by case number and date, counted once everywhere.

A case ledger often holds one case on two rows (entered by two offices, or
corrected and entered again). Build, calibrate and evaluate count it once: the
factor layers built on the incidents drop the repeats (:func:`drop_same_cases`),
and the events are counted without them (:func:`same_cases`).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import numpy as np
import pandas as pd

from riskmap.errors import LayerError

__all__ = ["CASE_HEADERS", "SHOWN_CASES", "SameCases", "case_column", "drop_same_cases",
           "repeated_rows", "same_cases"]

#: headers of a case-number column (案件编号), most specific first; ``incidents.case_field``
#: names another one
CASE_HEADERS = ("案件编号", "案件号", "案号", "立案编号", "立案号", "案卷编号", "案卷号", "编号",
                "case_no", "case_id", "case_number", "caseno")
SHOWN_CASES = 10  # repeated cases named in a note; the rest counted


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
