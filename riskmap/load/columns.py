"""A layer's value columns checked as a whole: every bad row named in one message.

Loading, calibration and the backtest read a date column the same way (one
parser, :mod:`riskmap.load.values`), so what ``check`` accepts every command
accepts, and a table with bad dates is refused with every bad row at once.
"""

from __future__ import annotations

import numpy as np

from riskmap.errors import LayerError
from riskmap.load.values import parse_dates

__all__ = ["column_dates", "required_dates"]

DETAILED = 20  # bad rows shown with their value; the rest by number only
_HINT = "; write it like 2023-12-05"


def column_dates(values, what: str = "日期") -> np.ndarray:
    """``datetime64[D]`` per cell; NaT for blank and unreadable cells (no error).

    For filtering a layer by date: a row that cannot be proved older than a day
    is left out by the caller.
    """
    return parse_dates(values, what=what)[0]


def required_dates(gdf, field: str, source, need: np.ndarray | None = None,
                   key: str = "incidents.date_field") -> np.ndarray:
    """``datetime64[D]`` of ``gdf[field]``, refusing rows of ``need`` without a date.

    Parameters
    ----------
    gdf : pandas.DataFrame
        The layer as read (``_row`` holds table row numbers when it has them).
    field : str
        The date column.
    source : object
        Named in the message (the layer's source).
    need : numpy.ndarray of bool, optional
        Rows that must have a date (default: every row).
    key : str
        The project key that names ``field``, for the message.

    Returns
    -------
    numpy.ndarray
        ``datetime64[D]``, NaT where a row has no readable date.

    Raises
    ------
    LayerError
        Naming every needed row whose date is blank or unreadable, with its
        row number and what is wrong with it.
    """
    dates, _, errors = parse_dates(gdf[field], what=str(field))
    missing = np.isnat(dates) if need is None else (np.asarray(need, bool) & np.isnat(dates))
    if not missing.any():
        return dates
    pos = np.flatnonzero(missing)
    rows = gdf["_row"].to_numpy()[pos] if "_row" in gdf.columns else pos + 1
    said = []
    for i, row in zip(pos[:DETAILED], rows[:DETAILED], strict=False):
        why = errors.get(int(i), f"{field} 为空 (blank)").removesuffix(_HINT)
        said.append(f"row {int(row)}: {why}")
    if len(pos) > DETAILED:
        said.append("also rows " + ", ".join(str(int(r)) for r in rows[DETAILED:]))
    raise LayerError(f"{source}: {len(pos)} row(s) without a date in {field!r} ({key}): "
                     f"{'; '.join(said)}; write dates like 2025-03-17")
