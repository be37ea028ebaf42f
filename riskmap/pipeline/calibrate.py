"""Calibration from project to file: check the target, calibrate, write the calibrated project."""

from __future__ import annotations

from pathlib import Path

from riskmap.errors import ExportError
from riskmap.export.atomic import write_text
from riskmap.load.project import Project
from riskmap.models.calibrate import CalibrationResult, calibrate

__all__ = ["calibrate_project", "check_target"]


def check_target(write, overwrite: bool = False) -> Path | None:
    """The ``--write`` target as a path, refused before any work when it cannot be written.

    Raises
    ------
    ExportError
        Not a ``.yaml`` file, exists without ``overwrite``, or its folder is missing.
    """
    if not write:
        return None
    target = Path(write)
    if target.suffix.lower() not in (".yaml", ".yml"):
        raise ExportError(f"{target}: --write takes a .yaml file (the calibrated project "
                          "is written as YAML)")
    if target.exists() and not overwrite:
        raise ExportError(f"{target}: exists; add --overwrite to replace it")
    if not target.parent.is_dir():
        raise ExportError(f"{target.parent}: folder does not exist; create it first")
    return target


def calibrate_project(project: Project, *, until=None, seed: int | None = None, write=None,
                      overwrite: bool = False, progress=None
                      ) -> tuple[CalibrationResult, Path | None]:
    """Calibrate ``project`` and, with ``write``, write the calibrated project file.

    Parameters
    ----------
    project : Project
    until, seed, progress
        As for :func:`riskmap.models.calibrate.calibrate`.
    write : path-like, optional
        A ``.yaml`` file for the calibrated project (checked before the work;
        written atomically).
    overwrite : bool
        Replace ``write`` if it exists.

    Returns
    -------
    (CalibrationResult, Path or None)
        The result and the file written.

    Raises
    ------
    ExportError
        The target cannot be written.
    RiskmapError
        See :func:`riskmap.models.calibrate.calibrate`; no kept factor with a
        positive weight when writing.
    """
    target = check_target(write, overwrite)
    res = calibrate(project, until=until, seed=seed, progress=progress)
    if target is not None:
        write_text(target, res.to_project_yaml(target), overwrite=overwrite)
    return res, target
