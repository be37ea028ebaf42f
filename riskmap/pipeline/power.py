"""``riskmap power-check``: score the meter table, then hand the results to the writers.

The outputs are checked before the heavy work (an existing file without
``overwrite`` stops the run before the meter table is read); scoring is
:func:`riskmap.models.power.check_power`, writing :mod:`riskmap.export.power`.
The static factors' map that weighs a user's place is the last build's when
those factors' inputs are unchanged (:func:`riskmap.pipeline.lastbuild.last_place_map`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from riskmap.export.atomic import check_free
from riskmap.export.power import GPKG_NAME, LEDGER_NAME, write_anomalies, write_ledger
from riskmap.load.project import Project
from riskmap.load.roster import read_roster
from riskmap.models.power import PowerResult, check_power
from riskmap.models.power.anomalies import meter_inputs
from riskmap.pipeline.lastbuild import last_place_map

__all__ = ["PowerCheck", "power_check"]


@dataclass
class PowerCheck:
    """What a power check found and wrote.

    Attributes
    ----------
    result : PowerResult
    min_score : float
        The score from which a user was flagged (the option, else ``power.min_score``).
    summary : dict
        :meth:`PowerResult.summary` with ``flagged`` and ``min_score`` at ``min_score``.
    written : dict
        ``gpkg``, ``users``, ``ledger``, ``ledger_rows`` when ``out`` was given.
    reused : bool
        The static factors' map was the last build's (else made again).
    """

    result: PowerResult
    min_score: float
    summary: dict
    written: dict = field(default_factory=dict)
    reused: bool = False


def power_check(project: Project, *, min_score: float | None = None, out=None,
                overwrite: bool = False, progress=None, rescore: bool = False,
                say=None) -> PowerCheck:
    """Score ``project``'s meter table and, with ``out``, write the layer and the ledger.

    Parameters
    ----------
    project : Project
        With a ``power`` section.
    min_score : float, optional
        Flag users from this score (default: ``power.min_score``).
    out : str or Path, optional
        Folder for ``power_anomalies.gpkg`` and ``供电台账.xlsx``.
    overwrite : bool
        Replace those files when they exist.
    progress : callable, optional
        Called with a short message per step.
    rescore : bool
        Make the static factors' map again even when the last build's holds.
    say : callable, optional
        Called with one line: the last build's map reused, or made again and why.

    Returns
    -------
    PowerCheck

    Raises
    ------
    ProjectFileError, LayerError
        From reading the project's power keys and meter table.
    ExportError
        An output exists without ``overwrite``, or cannot be written.
    """
    gpkg = ledger = None
    if out:
        gpkg, ledger = Path(out) / GPKG_NAME, Path(out) / LEDGER_NAME
        for f in (gpkg, ledger):  # both checked first: none is written if one may not be
            check_free(f, overwrite)
    roster = read_roster(project) if out else None  # a bad roster stops before scoring
    inputs, reused = None, False
    if project.power:  # else check_power says what is missing
        last = last_place_map(project, rescore=rescore)  # hashes the inputs, reads no layer
        if say:
            say(last.line)
        inputs, reused = meter_inputs(project, progress, place=last.place), last.reused
    result = check_power(project, progress=progress, inputs=inputs)
    ms = result.config.min_score if min_score is None else min_score
    summary = result.summary()
    summary["flagged"] = int((result.users["score"] >= ms).sum())
    summary["min_score"] = ms
    written = {}
    if out:
        written = {"gpkg": str(gpkg),
                   "users": write_anomalies(result, gpkg, min_score=ms, overwrite=overwrite),
                   "ledger": str(ledger),
                   "ledger_rows": write_ledger(result, ledger, project=project, min_score=ms,
                                               roster=roster, overwrite=overwrite)}
    return PowerCheck(result, ms, summary, written, reused)
