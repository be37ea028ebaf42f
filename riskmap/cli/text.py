"""Terminal output shared by the commands: Chinese-aware tables, timed progress."""

from __future__ import annotations

import time

import click


def width(s: str) -> int:
    """Columns ``s`` takes in a terminal (CJK characters take two)."""
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in s)


def echo_table(head, rows, *, right: bool = False, free_last: bool = False) -> None:
    """Print ``head`` and ``rows`` (lists of str) as aligned columns.

    ``right`` aligns every column but the first to the right (numbers);
    ``free_last`` leaves the last column unpadded (long text).
    """
    rows = [list(head), *map(list, rows)]
    n = max(len(r) for r in rows)
    rows = [r + [""] * (n - len(r)) for r in rows]
    sized = n - 1 if free_last else n
    widths = [max(width(r[i]) for r in rows) for i in range(sized)]
    for r in rows:
        cells = []
        for i, v in enumerate(r[:sized]):
            fill = " " * (widths[i] - width(v))
            cells.append(fill + v if right and i else v + fill)
        click.echo("  ".join(cells + r[sized:]).rstrip())


def progress_printer(show: bool = True):
    """A ``progress(msg)`` callable printing ``[  1.2s] msg`` on stderr when ``show``."""
    t0 = time.perf_counter()

    def progress(msg):
        if show:
            click.echo(f"[{time.perf_counter() - t0:6.1f}s] {msg}", err=True)

    return progress
