"""The package layout of DESIGN.md, judged from the code's own imports.

Floors, top to bottom: cli > pipeline > export > models > field > score >
factors > grid > load, crs > marks, errors. A module imports only its own floor
or lower ones (function-level imports too), and the modules form no cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "riskmap"
FLOORS = {"errors": 0, "marks": 0, "load": 1, "crs": 1, "grid": 2, "factors": 3,
          "score": 4, "field": 5, "models": 6, "export": 7, "pipeline": 8, "cli": 9}
TOP_LEVEL = {"__init__.py", "__main__.py", "errors.py", "marks.py", "pipeline.py"}
MAX_LINES = 500


def _modules():
    for f in sorted(PKG.rglob("*.py")):
        parts = f.relative_to(PKG.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield f, name


def _type_only(tree) -> set[int]:
    """Lines inside ``if TYPE_CHECKING:`` blocks (no import at run time)."""
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for sub in node.body:
                lines.update(range(sub.lineno, sub.end_lineno + 1))
    return lines


def _imports(f: Path, name: str, runtime_only: bool = False):
    """(line, imported module) for every import of a riskmap module, at any depth."""
    is_pkg = f.name == "__init__.py"
    tree = ast.parse(f.read_text(encoding="utf-8"))
    skip = _type_only(tree) if runtime_only else set()
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            for a in node.names:
                yield node.lineno, a.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_pkg else 0)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            yield node.lineno, mod
            for a in node.names:  # `from riskmap.x import y` may import module x.y
                yield node.lineno, f"{mod}.{a.name}"


def _floor(mod: str) -> int | None:
    parts = mod.split(".")
    if parts[0] != "riskmap" or len(parts) < 2:
        return None
    return FLOORS.get(parts[1])


def test_every_module_sits_on_a_floor():
    loose = [f.name for f in PKG.iterdir() if f.suffix == ".py" and f.name not in TOP_LEVEL]
    assert not loose, f"modules left at the top of riskmap/: {loose}"
    subs = {p.name for p in PKG.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert subs - set(FLOORS) == set(), f"subpackages without a floor: {subs - set(FLOORS)}"


def test_imports_only_go_down():
    up = []
    for f, name in _modules():
        me = _floor(name)
        if me is None:
            continue
        for line, mod in _imports(f, name):
            other = _floor(mod)
            if other is not None and other > me:
                up.append(f"{f.relative_to(PKG.parent)}:{line} imports {mod}")
    assert not up, "imports that climb a floor:\n" + "\n".join(sorted(set(up)))


def test_no_import_cycles():
    names = {name for _, name in _modules()}
    graph = {}
    for f, name in _modules():
        deps = set()
        for _, mod in _imports(f, name, runtime_only=True):
            while mod and mod not in names:
                mod = mod.rpartition(".")[0]
            if mod and mod != name and not name.startswith(mod + "."):
                deps.add(mod)  # a package's own __init__ is not a cycle of its modules
        graph[name] = deps
    cycles, state = [], {}

    def visit(n, path):
        state[n] = 1
        for d in sorted(graph.get(n, ())):
            if d == "riskmap" or n == "riskmap":
                continue  # the top-level package re-exports names lazily
            if state.get(d) == 1:
                cycles.append(" -> ".join([*path[path.index(d):], d]))
            elif d not in state:
                visit(d, [*path, d])
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n, [n])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


@pytest.mark.parametrize(("f", "name"), list(_modules()), ids=lambda v: str(v)[-40:])
def test_module_size(f, name):
    lines = f.read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES, f"{name}: {lines} lines (at most {MAX_LINES}); split it by job"
