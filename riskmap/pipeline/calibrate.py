"""Calibration from project to file: check the target, calibrate, write the calibrated project."""

from __future__ import annotations

from pathlib import Path

from riskmap.errors import ExportError
from riskmap.export.atomic import write_text
from riskmap.export.calibration import INTERVAL_TIF, write_calibration, write_residual
from riskmap.load.project import Project
from riskmap.models.calibrate import CalibrationResult, calibrate
from riskmap.models.calibrate.projectfile import project_yaml, residual_file

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
    raster = target.parent / residual_file(target)
    if raster.exists() and not overwrite:
        raise ExportError(f"{raster}: exists (the residual raster of {target.name}); add "
                          "--overwrite to replace it")
    return target


def calibrate_project(project: Project, *, until=None, seed: int | None = None, write=None,
                      overwrite: bool = False, out=None, progress=None
                      ) -> tuple[CalibrationResult, Path | None]:
    """Calibrate ``project`` and, with ``write``, write the calibrated project file.

    With ``write`` the residual term's raster (when kept) is written beside the
    project file, and ``calibration.json`` and ``score_interval.tif`` (the
    per-cell interval) into ``out`` (default ``<output>/calibration``); the
    calibrated project names that interval (its ``interval`` key, written last)
    for ``build`` and ``plan``. With ``out`` alone, only those two files.

    Parameters
    ----------
    project : Project
    until, seed, progress
        As for :func:`riskmap.models.calibrate.calibrate`.
    write : path-like, optional
        A ``.yaml`` file for the calibrated project (checked before the work;
        written atomically).
    overwrite : bool
        Replace ``write`` (and its residual raster) if they exist.
    out : path-like, optional
        Folder of ``calibration.json`` and ``score_interval.tif``.

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
    folder = Path(out) if out else project.output / "calibration"
    if target is not None:
        # the calibrated project names the interval it comes with (build and plan read it)
        interval = folder / INTERVAL_TIF if res.interval is not None else None
        text = project_yaml(res, target, interval)
        if res.residual is not None:
            write_residual(target.parent / residual_file(target), res.residual, overwrite)
    if out is not None or target is not None:
        res.written = write_calibration(folder, res, overwrite=True)
    if target is not None:  # last: the project never names an interval not yet written
        write_text(target, text, overwrite=overwrite)
    return res, target
