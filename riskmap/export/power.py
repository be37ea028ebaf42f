"""The outputs of a power check: the anomaly layer (GeoPackage) and the 供电台账 workbook.

Both are moved into place by :mod:`riskmap.export.atomic`: a reader never sees a
half-written file, and an interrupted run leaves the previous one whole.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from riskmap.export.atomic import atomic_file, check_free
from riskmap.export.gpkg import GPKG_OPTIONS
from riskmap.load.project import Project
from riskmap.load.roster import Roster
from riskmap.models.power import PowerResult, anomaly_users, ledger_frame, spread_points
from riskmap.models.power.ledger import LEDGER_COLUMNS

__all__ = ["GPKG_NAME", "LEDGER_NAME", "write_anomalies", "write_ledger"]

#: file names of ``riskmap power-check --out``
GPKG_NAME, LEDGER_NAME = "power_anomalies.gpkg", "供电台账.xlsx"
_WIDTHS = (6, 16, 8, 10, 12, 8, 10, 8, 70, 50, 12, 16)  # columns A..L of the ledger


def write_ledger(result: PowerResult, path, *, project: Project | None = None,
                 min_score: float | None = None, roster: Roster | None = None,
                 overwrite: bool = False) -> int:
    """Write the 供电台账 workbook (户号 as text, so leading zeros stay).

    Parameters
    ----------
    result : PowerResult
    path : str or Path
        ``.xlsx`` to write.
    project : Project, optional
        For the title.
    min_score : float, optional
        Default: ``power.min_score``.
    roster : Roster, optional
        The responsible cadres (责任人) per (township, village).
    overwrite : bool
        Replace an existing file.

    Returns
    -------
    int
        Rows written.

    Raises
    ------
    ExportError
        ``path`` exists without ``overwrite``, or cannot be written.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    df = ledger_frame(result, min_score=min_score, roster=roster)
    wb = Workbook()
    ws = wb.active
    ws.title = "供电台账"
    name = project.name if project else ""
    ws.append([f"用电异常用户核查台账 {name}（内部资料 注意保密）"])
    ws.append([f"生成日期 {dt.date.today().isoformat()}；风险分 ≥ "
               f"{result.config.min_score if min_score is None else min_score:g}；"
               "只列户号，不含户名、电话、证件号"])
    ws.append(LEDGER_COLUMNS)
    for row in df.itertuples(index=False):  # one row per flagged user (tens, not cells)
        ws.append([v.item() if hasattr(v, "item") else v for v in row])
        for cell in ws[ws.max_row]:  # text is text: =, +, -, @ never become formulas
            if isinstance(cell.value, str) and cell.value[:1] in "=+-@":
                cell.data_type = "s"
    for cell in ws["B"][3:]:
        cell.number_format = "@"
    ws["A1"].font = Font(bold=True, size=13)
    for c, w in zip("ABCDEFGHIJKL", _WIDTHS, strict=True):
        ws.column_dimensions[c].width = w
    for row in ws.iter_rows(min_row=4, min_col=9, max_col=10):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    with atomic_file(path, overwrite) as tmp:
        wb.save(tmp)
    return len(df)


def write_anomalies(result: PowerResult, path, *, min_score: float | None = None,
                    overwrite: bool = False) -> int:
    """Write the anomaly layers to a GeoPackage.

    Layers ``anomalies`` (one point per flagged user) and ``anomaly_points``
    (the factor layer, village-placed users spread; use ``weight``). With no
    flagged user nothing is written (and an existing file, when it may be
    replaced, is removed: it would show users that are no longer flagged).

    Parameters
    ----------
    result : PowerResult
    path : str or Path
        ``.gpkg`` to write.
    min_score : float, optional
        Default: ``power.min_score``.
    overwrite : bool
        Replace an existing file.

    Returns
    -------
    int
        Users written.

    Raises
    ------
    ExportError
        ``path`` exists without ``overwrite``, or cannot be written.
    """
    path = Path(path)
    users = anomaly_users(result, min_score)
    if users.empty:
        check_free(path, overwrite)
        path.unlink(missing_ok=True)
        return 0
    with atomic_file(path, overwrite, create=False) as tmp:  # GDAL creates the file
        users.to_file(tmp, layer="anomalies", driver="GPKG", engine="pyogrio",
                      dataset_options=GPKG_OPTIONS)  # GeoPackage 1.2: no version warnings
        spread_points(result, users).to_file(tmp, layer="anomaly_points", driver="GPKG",
                                             engine="pyogrio")
    return len(users)
