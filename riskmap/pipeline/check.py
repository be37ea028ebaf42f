"""``riskmap check``: a project's every input read as the commands read them, or loose files.

What ``check`` accepts, every command accepts: it runs the same readers and
parsers as ``build``, ``calibrate``, ``evaluate``, ``plan``, ``ingest`` and
``power-check`` and lists every problem at once.
"""

from __future__ import annotations

from pathlib import Path

import shapely

from riskmap.errors import RiskmapError
from riskmap.load.diagnose import CheckRow, FileReport, check_file, check_project, data_files
from riskmap.load.layers import read_source
from riskmap.load.project import Project, Source, split_source

__all__ = ["check_data", "check_inputs"]


def check_inputs(project: Project) -> tuple[list[CheckRow], list[str]]:
    """Every input of ``project`` read and checked; ``(rows, problems)`` (empty: it can build)."""
    return check_project(project)


def check_data(target, *, district: str | None = None, crs=None, encoding=None,
               table: str = "points", datum=None, central_meridian=None
               ) -> tuple[list[FileReport], int]:
    """Diagnose a data file or every data file of a folder, without a project.

    Parameters
    ----------
    target : str or Path
        A file or a folder.
    district : str, optional
        ``FILE[:LAYER]`` of a district boundary: the share of features inside it.
    crs, encoding, table, datum, central_meridian
        As the source keys of a project file.

    Returns
    -------
    (reports, exit_code)
        One report per file (and layer); 0 usable as is, 1 after repairs, 2 refused.
    """
    area = None
    if district:
        path, layer = split_source(district)
        gdf, _ = read_source(Source(path=Path(path).resolve(), layer=layer), "EPSG:4326")
        area = shapely.union_all(gdf.geometry.values)
    files = data_files(target)
    if not files:
        raise RiskmapError(f"{target}: no data files found (looked for "
                           "GPKG/SHP/GeoJSON/KML/KMZ/CSV/TXT/XLSX)")
    reports = []
    for f in files:
        reports += check_file(f, district=area, crs=crs, encoding=encoding, table=table,
                              datum=datum, central_meridian=central_meridian)
    return reports, max(r.status for r in reports)
