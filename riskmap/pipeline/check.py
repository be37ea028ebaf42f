"""``riskmap check``: a project's every input read as the commands read them, or loose files.

What ``check`` accepts, every command accepts: it runs the same readers and
parsers as ``build``, ``calibrate``, ``evaluate``, ``plan``, ``ingest``,
``weekly`` and ``power-check`` (:mod:`riskmap.pipeline.checks`), lists every
input with a row and every problem at once, each with the commands it would
stop. It scores the meter table (fast: no grid) but builds nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import shapely

from riskmap.errors import RiskmapError
from riskmap.load.diagnose import CheckRow, FileReport, check_file, data_files
from riskmap.load.layers import read_source
from riskmap.load.project import Project, Source, split_source
from riskmap.pipeline.checks import COMMANDS, InputRow, Problem, Run
from riskmap.pipeline.checks.field import check_build_settings, check_field_inputs
from riskmap.pipeline.checks.incidents import check_incidents
from riskmap.pipeline.checks.interval import check_interval
from riskmap.pipeline.checks.layers import check_layers
from riskmap.pipeline.checks.power import check_meters
from riskmap.pipeline.checks.reference import check_reference

__all__ = ["COMMANDS", "InputRow", "Problem", "ProjectCheck", "check_data", "check_inputs",
           "check_project_inputs"]

# the order of the table: areas, field inputs, factors, cases, meters, the rest
_ORDER = ("district", "townships", "villages", "village_points", "roster", "factor",
          "incidents", "power (", "power expansions", "reference", "plan", "history", "map font",
          "output")


@dataclass
class ProjectCheck:
    """What ``riskmap check PROJECT`` found.

    Attributes
    ----------
    rows : list of InputRow
        One per input, with the commands that read it.
    problems : list of Problem
        Every refusal, with the message the command gives and the commands it stops.
    skipped : dict
        Command → why it does not apply to this project (a section it needs is absent).
    seconds : float
    timings : dict
        ``layers_s``, ``power_s`` (scoring the meter table), ...
    """

    rows: list[InputRow]
    problems: list[Problem]
    skipped: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    timings: dict = field(default_factory=dict)

    def status(self, command: str) -> str:
        """``"ok"``, ``"refused"`` or ``"n/a"`` (the project has no section it needs)."""
        if any(command in p.commands for p in self.problems):
            return "refused"
        return "n/a" if command in self.skipped else "ok"

    def refusals(self, command: str) -> list[str]:
        """The messages that would stop ``command``."""
        return [p.message for p in self.problems if command in p.commands]

    @property
    def ok(self) -> bool:
        """True when no command that applies would refuse the project."""
        return not self.problems


def check_project_inputs(project: Project) -> ProjectCheck:
    """Read and check every input of ``project`` as each command reads it.

    Parameters
    ----------
    project : Project
        From :func:`riskmap.pipeline.project.load_project`.

    Returns
    -------
    ProjectCheck
        Nothing is written: the history database is opened read-only (a missing
        one is not created).
    """
    t0 = time.perf_counter()
    run = Run(project)
    check_meters(run)  # first: a factor reading power:anomalies reuses the scores
    check_layers(run)
    check_incidents(run)
    check_field_inputs(run)
    check_reference(run)
    check_interval(run)
    check_build_settings(run)
    rows = sorted(run.rows, key=_rank)
    return ProjectCheck(rows, run.problems, run.skipped, time.perf_counter() - t0, run.timings)


def _rank(row: CheckRow) -> int:
    return next((i for i, k in enumerate(_ORDER) if row.role.startswith(k)), len(_ORDER))


def check_inputs(project: Project) -> tuple[list[CheckRow], list[str]]:
    """Every input of ``project`` read and checked; ``(rows, problems)`` (empty: it can build).

    See :func:`check_project_inputs` for the commands each problem stops.
    """
    res = check_project_inputs(project)
    return res.rows, [p.message for p in res.problems]


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
