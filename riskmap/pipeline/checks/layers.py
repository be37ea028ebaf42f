"""The layers of a project (district, townships, villages, factors, incidents).

They are read and cross-checked by :func:`riskmap.load.diagnose.check_project`
(the readers and :func:`~riskmap.load.inputs.load_inputs` every command uses,
every problem listed); here each row gets the commands that read its layer and
each problem the commands it stops. The areas are then loaded once more, alone
(small), for the checks of the field inputs and the output folders.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import asdict, replace

from riskmap.errors import RiskmapError
from riskmap.load.diagnose import check_project
from riskmap.load.inputs import derived_reader, load_inputs, read_any
from riskmap.pipeline.checks import LAYER_COMMANDS, InputRow, Run

__all__ = ["check_layers", "layer_commands"]


def layer_commands(run: Run, role: str) -> tuple[str, ...]:
    """The commands that read the layer of ``role`` (a row of ``check_project``)."""
    p = run.project
    if role == "incidents":
        return ("calibrate", "evaluate")
    if role == "villages" and p.power:
        return (*LAYER_COMMANDS, "power-check")  # users are placed in the villages
    for f in p.factors:
        if role.startswith(f"factor {f.name} ("):
            return (*LAYER_COMMANDS, "power-check") if _is_derived(f.source) else \
                LAYER_COMMANDS
    return LAYER_COMMANDS


def check_layers(run: Run) -> None:
    """The layer rows and their problems; the district, areas and incidents kept on ``run``."""
    t0 = time.perf_counter()
    rows, problems = check_project(run.project)
    for r in rows:
        row = InputRow(**asdict(r), used_by=layer_commands(run, r.role))
        if r.problem:
            row.problems.append(r.problem)
        run.rows.append(row)
    layer_rows = list(run.rows[-len(rows):]) if rows else []
    for msg in problems:
        hit = _rows_of(layer_rows, msg)
        commands = tuple(dict.fromkeys(c for r in hit for c in r.used_by)) or LAYER_COMMANDS
        run.refuse(hit[0] if hit else None, msg, commands)
        for r in hit[1:]:
            if msg not in r.problems:
                r.problems.append(msg)
                r.problem = r.problem or msg
    run.timings["layers_s"] = time.perf_counter() - t0
    _areas(run)
    _incidents_layer(run)


def _is_derived(src) -> bool:
    try:
        return derived_reader(src) is not None
    except RiskmapError:  # an unknown prefix: reading it names the problem
        return True


def _rows_of(rows: list[InputRow], msg: str) -> list[InputRow]:
    """The rows a problem belongs to: refused when read, else the source it names."""
    hit = [r for r in rows if r.problem == msg]
    if hit:
        return hit
    named = [r for r in rows if r.source and msg.startswith(r.source)]
    if named:
        longest = max(len(r.source) for r in named)
        return [r for r in named if len(r.source) == longest]
    return [r for r in rows if r.role == "district"][:1]


def _areas(run: Run) -> None:
    """District, townships and villages as :func:`load_inputs` gives them (no factor)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # said on the layer rows already
        try:
            run.inputs = load_inputs(replace(run.project, factors=[]), cache=run.cache,
                                     problems=[])
        except RiskmapError:
            return  # refused on the layer rows
    run.district = run.inputs.district
    if run.inputs.townships is None:
        run.inputs = None


def _incidents_layer(run: Run) -> None:
    """The incidents layer, read as every command reads it, for :mod:`.incidents`."""
    p = run.project
    row = run.find("incidents")
    if not p.incidents or row is None or row.problem:
        return
    src = p.incidents["source"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if src.key not in run.cache:
                run.cache[src.key] = read_any(p, src)
        except RiskmapError:
            return
