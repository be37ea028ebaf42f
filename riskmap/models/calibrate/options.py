"""The ``calibration`` options of a project, checked, and the method's constants."""

from __future__ import annotations

import math
from dataclasses import dataclass

from riskmap.errors import ProjectFileError
from riskmap.load.project import Project

__all__ = ["DEFAULT_PENALTIES", "DEFAULT_RANGES", "PRIOR_PENALTIES", "RANGE_SEARCH_PENALTY",
           "Z95", "Options", "options_from_project"]

DEFAULT_RANGES = (100.0, 250.0, 500.0, 1000.0, 1500.0, 2000.0)
DEFAULT_PENALTIES = (0.01, 0.1, 0.3, 1.0, 3.0, 10.0)
PRIOR_PENALTIES = (0.01, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
RANGE_SEARCH_PENALTY = 0.1
Z95 = 1.959963984540054


@dataclass(frozen=True)
class Options:
    """Checked ``calibration`` options of a project."""

    ranges: tuple[float, ...] = DEFAULT_RANGES
    folds: int = 5
    block_size: float = 2000.0
    seed: int = 0
    penalty: tuple[float, ...] | None = None  # None: the default grid


def options_from_project(project: Project, seed: int | None = None) -> Options:
    """Check ``project.calibration`` (keys ranges, folds, block_size, seed, penalty).

    Raises
    ------
    ProjectFileError
        Naming ``calibration.<key>`` and the project file.
    """
    raw = project.calibration or {}

    def fail(key, msg):
        raise ProjectFileError(f"{project.path}: calibration.{key}: {msg}")

    def num(v):
        return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)

    ranges = raw.get("ranges", list(DEFAULT_RANGES))
    if not isinstance(ranges, list) or not ranges or not all(num(r) and r > 0 for r in ranges):
        fail("ranges", "must be a list of positive distances in metres, e.g. "
             "[100, 250, 500, 1000, 1500, 2000]")
    folds = raw.get("folds", 5)
    if not isinstance(folds, int) or isinstance(folds, bool) or folds < 2:
        fail("folds", f"must be a whole number ≥ 2, got {folds!r}")
    block = raw.get("block_size", 2000)
    if not num(block) or block <= 0:
        fail("block_size", f"must be a positive number of metres, got {block!r}")
    s = raw.get("seed", 0) if seed is None else seed
    if not isinstance(s, int) or isinstance(s, bool) or s < 0:
        fail("seed", f"must be a whole number ≥ 0, got {s!r}")
    pen = raw.get("penalty")
    if pen is not None:
        pen = pen if isinstance(pen, list) else [pen]
        if not pen or not all(num(p) and p >= 0 for p in pen):
            fail("penalty", "must be a number ≥ 0 (ridge λ) or a list of them to choose from "
                 "by cross-validation")
        pen = tuple(float(p) for p in pen)
    return Options(tuple(sorted({float(r) for r in ranges})), folds, float(block), s, pen)


