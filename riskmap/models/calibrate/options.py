"""The ``calibration`` options of a project, checked, and the method's constants."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from riskmap.errors import ProjectFileError
from riskmap.load.project import Project

__all__ = ["DECAY_SHAPES", "DEFAULT_PENALTIES", "DEFAULT_RANGES", "PERIODS", "PRIOR_PENALTIES",
           "RANGE_SEARCH_PENALTY", "SHAPE_MARGIN", "Z95", "Options", "options_from_project"]

#: influence ranges tried (m): a log grid (×10^0.2) from 100 m to 6.3 km
DEFAULT_RANGES = (100.0, 160.0, 250.0, 400.0, 630.0, 1000.0, 1600.0, 2500.0, 4000.0, 6300.0)
DEFAULT_PENALTIES = (0.01, 0.1, 0.3, 1.0, 3.0, 10.0)
PRIOR_PENALTIES = (0.01, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
RANGE_SEARCH_PENALTY = 0.1
Z95 = 1.959963984540054
#: decays tried for distance factors (the project's own decay is one of them)
DECAY_SHAPES = ("linear", "exponential", "gaussian", "step")
#: CV deviance a shape other than the project's must gain to replace it (an AIC-like price)
SHAPE_MARGIN = 2.0
#: the periods of the rolling-origin design
PERIODS = ("quarter", "half", "year")
#: patrol finds (来源 巡查) weigh this much by default: a patrol finds where it looks
PATROL_WEIGHT = 0.5


@dataclass(frozen=True)
class Options:
    """Checked ``calibration`` options of a project."""

    ranges: tuple[float, ...] = DEFAULT_RANGES
    folds: int = 5
    block_size: float = 2000.0
    seed: int = 0
    penalty: tuple[float, ...] | None = None  # None: the default grid
    period: str = "quarter"  # length of the rolling-origin periods
    shapes: bool = True  # search decays (and proximity vs density for typed points)
    signs: dict = field(default_factory=dict)  # factor -> +1 (only raises) / -1 (only lowers)
    #: provenance of the events: None = detect the column; False = off; else a dict
    provenance: dict | bool | None = None
    near_repeat: bool = True  # try a near-repeat term (recent cases nearby)
    residual: bool = True  # try a residual spatial term (what the factors miss)
    bootstrap: int = 200  # parametric bootstrap draws of the per-cell interval
    min_months: int = 3  # months of a meter table before a period for it to count
    history: bool = True  # use the field history (checked cells) when the project has one
    ranges_given: bool = False  # the project set calibration.ranges


def _signs(project: Project, raw, fail) -> dict:
    if raw is None:
        return {}
    if raw == "weights":  # the project's weights say which way each factor goes
        return {f.name: (1 if f.weight > 0 else -1) for f in project.factors if f.weight}
    if not isinstance(raw, dict):
        fail("signs", "must map factor names to '+' (only raises risk) or '-' (only lowers "
             "it), or be 'weights' (the sign of each project weight)")
    names = {f.name for f in project.factors}
    out = {}
    for k, v in raw.items():
        if k not in names:
            fail(f"signs.{k}", f"no factor {k!r}; factors: {', '.join(sorted(names))}")
        s = {"+": 1, "-": -1, "+1": 1, "-1": -1, 1: 1, -1: -1}.get(v)
        if s is None:
            fail(f"signs.{k}", f"must be '+' or '-', got {v!r}")
        out[str(k)] = s
    return out


def _provenance(raw, fail):
    if raw is None or raw is True:
        return None
    if raw is False:
        return False
    if not isinstance(raw, dict):
        fail("provenance", "must be false or a mapping {field: 来源, patrol: [巡查], "
             "weight: 0.5}")
    unknown = set(raw) - {"field", "patrol", "weight"}
    if unknown:
        fail(f"provenance.{sorted(unknown)[0]}", "unknown key; use field, patrol, weight")
    w = raw.get("weight", PATROL_WEIGHT)
    if isinstance(w, bool) or not isinstance(w, int | float) or not 0 <= w <= 1:
        fail("provenance.weight", f"must be a number in 0–1, got {w!r}")
    patrol = raw.get("patrol", ["巡查", "巡逻"])
    patrol = [patrol] if isinstance(patrol, str) else patrol
    if not isinstance(patrol, list) or not patrol:
        fail("provenance.patrol", "must be a list of words that mark a patrol find (巡查)")
    fld = raw.get("field")
    return {"field": None if fld is None else str(fld), "patrol": [str(p) for p in patrol],
            "weight": float(w)}


def options_from_project(project: Project, seed: int | None = None) -> Options:
    """Check ``project.calibration``.

    Keys: ranges, folds, block_size, seed, penalty, and (when the project schema
    admits them) period, shapes, signs, provenance, near_repeat, residual,
    bootstrap, min_months, history.

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

    def whole(key, default, low):
        v = raw.get(key, default)
        if not isinstance(v, int) or isinstance(v, bool) or v < low:
            fail(key, f"must be a whole number ≥ {low}, got {v!r}")
        return v

    def flag(key, default):
        v = raw.get(key, default)
        if not isinstance(v, bool):
            fail(key, f"must be true or false, got {v!r}")
        return v

    ranges = raw.get("ranges", list(DEFAULT_RANGES))
    if not isinstance(ranges, list) or not ranges or not all(num(r) and r > 0 for r in ranges):
        fail("ranges", "must be a list of positive distances in metres, e.g. "
             "[100, 250, 500, 1000, 2500, 5000]")
    folds = whole("folds", 5, 2)
    block = raw.get("block_size", 2000)
    if not num(block) or block <= 0:
        fail("block_size", f"must be a positive number of metres, got {block!r}")
    s = whole("seed", 0, 0) if seed is None else seed
    if not isinstance(s, int) or isinstance(s, bool) or s < 0:
        fail("seed", f"must be a whole number ≥ 0, got {s!r}")
    pen = raw.get("penalty")
    if pen is not None:
        pen = pen if isinstance(pen, list) else [pen]
        if not pen or not all(num(p) and p >= 0 for p in pen):
            fail("penalty", "must be a number ≥ 0 (ridge λ) or a list of them to choose from "
                 "by cross-validation")
        pen = tuple(float(p) for p in pen)
    period = raw.get("period", "quarter")
    if period not in PERIODS:
        fail("period", f"must be one of {', '.join(PERIODS)}, got {period!r}")
    return Options(
        ranges=tuple(sorted({float(r) for r in ranges})), folds=folds, block_size=float(block),
        seed=s, penalty=pen, period=period, shapes=flag("shapes", True),
        signs=_signs(project, raw.get("signs"), fail),
        provenance=_provenance(raw.get("provenance"), fail),
        near_repeat=flag("near_repeat", True), residual=flag("residual", True),
        bootstrap=whole("bootstrap", 200, 0), min_months=whole("min_months", 3, 1),
        history=flag("history", True), ranges_given="ranges" in raw)
