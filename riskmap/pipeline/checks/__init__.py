"""The parts of ``riskmap check PROJECT``: every input, read by the readers the commands use.

:mod:`riskmap.pipeline.check` runs them in order on one :class:`Run`, which
holds what was read and collects one :class:`InputRow` per input and every
:class:`Problem`, each with the commands it would stop: :mod:`.layers`
(district, townships, villages, factors, incidents as layers), :mod:`.incidents`
(the cases as ``calibrate`` and ``evaluate`` read them), :mod:`.power` (meter
table, expansion list), :mod:`.field` (village points, roster, history, plan
options, map font, output folders).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

from riskmap.errors import RiskmapError, RiskmapWarning
from riskmap.load.diagnose import CheckRow
from riskmap.load.project import Project

__all__ = ["COMMANDS", "LAYER_COMMANDS", "InputRow", "Problem", "Run"]

#: the commands whose refusals ``check`` predicts, in the order they are run
COMMANDS = ("build", "calibrate", "evaluate", "plan", "ingest", "weekly", "power-check")
#: the commands that read every layer (:func:`riskmap.load.inputs.load_inputs`)
LAYER_COMMANDS = ("build", "calibrate", "evaluate", "plan", "ingest")


@dataclass
class InputRow(CheckRow):
    """One input of a project as ``riskmap check`` sees it, and the commands that read it."""

    used_by: tuple[str, ...] = ()
    problems: list[str] = field(default_factory=list)


@dataclass
class Problem:
    """What would stop a command: its message (as the command says it) and the commands."""

    message: str
    commands: tuple[str, ...]


@dataclass
class Run:
    """One check of a project: what was read, the rows and the problems so far."""

    project: Project
    cache: dict = field(default_factory=dict)  # Source.key -> (gdf, info)
    rows: list[InputRow] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # command -> why it does not apply
    district: object = None  # shapely geometry in the working CRS, once read
    inputs: object = None  # Inputs of the areas (district, townships, villages), once loaded
    power: object = None  # PowerResult, once scored
    power_error: Exception | None = None
    timings: dict[str, float] = field(default_factory=dict)

    def row(self, role: str, source, used_by) -> InputRow:
        """A new row, listed in the order rows are made."""
        r = InputRow(role=role, source=str(source), used_by=tuple(used_by))
        self.rows.append(r)
        return r

    def find(self, role: str) -> InputRow | None:
        """The row of ``role``, if any."""
        return next((r for r in self.rows if r.role == role), None)

    def refuse(self, row: InputRow | None, message: str, commands=None) -> None:
        """Record a problem on ``row`` for ``commands`` (default: the row's)."""
        commands = tuple(commands if commands is not None else (row.used_by if row else ()))
        if row is not None:
            if message not in row.problems:
                row.problems.append(message)
            row.problem = row.problem or message
        for p in self.problems:
            if p.message == message:
                p.commands = tuple(dict.fromkeys(p.commands + commands))
                return
        self.problems.append(Problem(message, commands))

    def note(self, row: InputRow, *notes) -> None:
        """Add notes to ``row``, each once."""
        for n in notes:
            if n and n not in row.notes:
                row.notes.append(str(n))

    def attempt(self, row: InputRow | None, fn, *args, commands=None, **kwargs):
        """``fn(*args, **kwargs)``; its riskmap warnings become notes of ``row``.

        A refusal becomes a problem with the message the command would print
        (its :class:`~riskmap.errors.RiskmapError`, else the CLI's internal-error
        line); the result is then None.
        """
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                out = fn(*args, **kwargs)
            except RiskmapError as e:
                self.refuse(row, str(e), commands)
                out = None
            except Exception as e:  # what the CLI would call an internal error
                msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
                self.refuse(row, f"内部错误 (internal error) {type(e).__name__}: {msg}; rerun "
                                 "with --debug and report the traceback", commands)
                out = None
        if row is not None:
            self.note(row, *(str(w.message) for w in caught
                             if issubclass(w.category, RiskmapWarning)))
        return out

    def skip(self, command: str, why: str) -> None:
        """``command`` does not apply to this project (a section it needs is absent)."""
        self.skipped.setdefault(command, why)
