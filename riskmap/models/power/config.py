"""The project's ``power`` keys (the meter table and how to read and flag it), checked."""

from __future__ import annotations

import re
from dataclasses import dataclass

from riskmap.errors import ProjectFileError
from riskmap.load.project import Project, Source

__all__ = ["DEFAULT_MIN_SCORE", "DEFAULT_TOP", "PowerConfig", "power_config"]

#: defaults of the project's power keys
DEFAULT_TOP, DEFAULT_MIN_SCORE = 20, 50.0


@dataclass(frozen=True)
class PowerConfig:
    """The project's ``power`` keys, checked.

    Attributes
    ----------
    source : Source
        The meter table (CSV/TXT/XLSX).
    user_field, category_field, village_field : str or None
        Column names, when the defaults (户号, 用户类别, 村 and their variants) do
        not match.
    month_fields : tuple of str or None
        The monthly kWh columns in time order (default: every column whose
        header reads as a month: ``2026-01``, ``2026年1月``, ``202601``, ``1月``).
    long_format : bool or None
        One row per user and month (columns 户号, 月份, 电量); ``None`` detects it.
    expansions : Source or None
        Declared capacity expansions (户号 and the month they were completed).
    top : int
        Users printed by ``riskmap power-check``.
    min_score : float
        Users at or above this score (0–100) form the anomaly layer.
    """

    source: Source
    user_field: str | None = None
    category_field: str | None = None
    village_field: str | None = None
    month_fields: tuple[str, ...] | None = None
    long_format: bool | None = None
    expansions: Source | None = None
    top: int = DEFAULT_TOP
    min_score: float = DEFAULT_MIN_SCORE


def power_config(project: Project) -> PowerConfig:
    """Check the raw ``power`` keys of a project.

    Parameters
    ----------
    project : Project
        A project with a ``power`` section.

    Returns
    -------
    PowerConfig

    Raises
    ------
    ProjectFileError
        No ``power`` section, or a key of the wrong type (naming the key).
    """
    raw = project.power
    where = f"{project.path}: power"
    if not raw:
        raise ProjectFileError(f"{project.path}: no 'power' section; add power: source: "
                               "<meter table> to the project file")

    def text(key):
        v = raw.get(key)
        if v is not None and (not isinstance(v, str) or not v.strip()):
            raise ProjectFileError(f"{where}.{key}: must be a column name, got {v!r}")
        return v.strip() if v else None

    months = raw.get("month_fields")
    if months is not None:
        if isinstance(months, str):
            months = [m for m in re.split(r"[,，]", months) if m.strip()]
        if not isinstance(months, list) or not months or not all(
                isinstance(m, str | int) for m in months):
            raise ProjectFileError(f"{where}.month_fields: must be a list of column names "
                                   "(the monthly kWh columns in time order)")
        months = tuple(str(m).strip() for m in months)
    long_format = raw.get("long_format")
    if long_format is not None and not isinstance(long_format, bool):
        raise ProjectFileError(f"{where}.long_format: must be true or false")
    top = raw.get("top", DEFAULT_TOP)
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise ProjectFileError(f"{where}.top: must be a whole number ≥ 1, got {top!r}")
    ms = raw.get("min_score", DEFAULT_MIN_SCORE)
    if isinstance(ms, bool) or not isinstance(ms, int | float) or not 0 <= ms <= 100:
        raise ProjectFileError(f"{where}.min_score: must be a number in 0–100, got {ms!r}")
    for key in ("source", "expansions"):
        if raw.get(key) is not None and not isinstance(raw[key], Source):
            raise ProjectFileError(f"{where}.{key}: must be a file path")
    return PowerConfig(source=raw["source"], user_field=text("user_field"),
                       category_field=text("category_field"),
                       village_field=text("village_field"), month_fields=months,
                       long_format=long_format, expansions=raw.get("expansions"), top=top,
                       min_score=float(ms))
