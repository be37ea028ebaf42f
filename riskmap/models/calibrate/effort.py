"""Patrol effort from the field history: the cells checked, found or not, as information.

A returned sheet says a team checked a cell in some week and found something or
nothing. A check that found nothing is evidence that the cell is quieter than
the map said; a find is evidence of the opposite. Each (cell, period) the
history checked becomes an extra row of the design,

    finds_cp ~ Poisson(checks_cp · exp(δ + x_c·β + z_cp·γ)),

with its own level δ (how often a check finds anything) and the factors'
coefficients shared with the case ledger. The finds of our own planned
patrols thus inform β *given* the effort that made them, instead of being
counted as cases where the patrols went. Optional: a project without a
history, or with an empty one, calibrates on the ledger alone.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from riskmap.models.calibrate.panel import Extra

__all__ = ["history_rows"]


def _history_path(project) -> Path:
    return Path(project.history or Path(project.path).with_suffix(".history.gpkg"))


def _inspections(project):
    """The history's inspections (a DataFrame), or None without a history or any row."""
    import warnings

    from riskmap.errors import RiskmapWarning
    from riskmap.field.history import History, HistoryError
    from riskmap.field.historyfile import check_history

    path = _history_path(project)
    try:
        counts = check_history(path, project.crs)  # read-only: never creates the file
        if not counts or not counts.get("inspections"):
            return None
        with History(path, project.crs) as h:
            df = h.inspections()
    except HistoryError as e:  # the history is optional here: plan and ingest refuse it
        warnings.warn(f"{e}; calibration goes on without the field history",
                      RiskmapWarning, stacklevel=3)
        return None
    return df if len(df) else None


def _dates(df) -> np.ndarray:
    """The day of each inspection: its date, else the Monday of its week."""
    import datetime as dt

    from riskmap.field.week import Week
    from riskmap.load.columns import column_dates

    d = column_dates(df["date"], "date") if "date" in df else np.full(len(df), np.nan)
    d = np.asarray(d, "datetime64[D]")
    miss = np.isnat(d)
    if miss.any():
        mondays = {w: np.datetime64(dt.date.fromisocalendar(Week.parse(w).year,
                                                           Week.parse(w).week, 1), "D")
                   for w in set(df["week"][miss].astype(str))}
        d[miss] = [mondays[str(w)] for w in df["week"][miss]]
    return d


def history_rows(project, design, progress=None) -> dict | None:
    """Put the field history's inspections into ``design.extra``; what was used, or None.

    Only inspections inside the design's periods (before ``until``) and on its
    cells are used.
    """
    df = _inspections(project)
    if df is None or design.periods is None:
        return None
    if progress:
        progress(f"历史核查 (field history): {len(df)} inspections")
    from riskmap.field.provenance import PATROL

    prov = df["provenance"] if "provenance" in df else None
    if prov is not None:  # checks of our own patrols (a tip-led check finds by design)
        df = df[prov.isna().to_numpy() | prov.isin(list(PATROL)).to_numpy()]
        if not len(df):
            return None
    days = _dates(df)
    per = design.periods.of(days)
    r, c = design.grid.rowcol(df["x"].to_numpy(float), df["y"].to_numpy(float))
    g = design.grid
    ok = (r >= 0) & (r < g.nrows) & (c >= 0) & (c < g.ncols) & (per >= 0) & (
        per < len(design.periods))
    pos = np.full(g.size, -1)
    pos[design.cells] = np.arange(len(design.cells))
    cell = np.where(ok, pos[np.where(ok, r * g.ncols + c, 0)], -1)
    ok &= cell >= 0
    if not ok.any():
        return {"inspections": len(df), "used": 0,
                "note": "no inspection falls in the design's cells and periods"}
    key = per[ok] * len(design.cells) + cell[ok]
    uniq, inv = np.unique(key, return_inverse=True)
    checks = np.bincount(inv, minlength=len(uniq)).astype(float)
    finds = np.bincount(inv, weights=df["found"].to_numpy(bool)[ok].astype(float),
                        minlength=len(uniq))
    design.extra = Extra(cell=(uniq % len(design.cells)).astype(np.int64),
                         period=(uniq // len(design.cells)).astype(np.int64), y=finds,
                         off=np.log(checks))
    return {"inspections": len(df), "used": int(ok.sum()), "rows": len(uniq),
            "finds": int(finds.sum()), "checked_empty": int(((finds == 0)).sum()),
            "note": (f"field history: {int(ok.sum())} inspections in {len(uniq)} cell-periods "
                     f"({int(finds.sum())} finds, {int((finds == 0).sum())} checked with "
                     "nothing found) enter as extra rows with their own level: a check that "
                     "found nothing lowers its cell's factors' pull, a find raises it")}
