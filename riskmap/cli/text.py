"""Terminal output shared by the commands: Chinese-aware tables and help, timed progress."""

from __future__ import annotations

import re
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


# --- help texts: wrapped by the columns they take (a CJK character takes two) -------------

_WIDE = "\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef"
_UNIT = re.compile(rf"(\s+)|([{_WIDE}])|([^\s{_WIDE}]+)")
_NO_LINE_START = set(",.;:!?)]}，。；：、！？）」』》")


def _is_wide(ch: str) -> bool:
    return width(ch) == 2


def _join(lines: list[str]) -> str:
    """A paragraph's lines as one: no space where a line break fell between CJK characters."""
    out = ""
    for line in (ln.strip() for ln in lines):
        if out and line:
            out += "" if _is_wide(out[-1]) and _is_wide(line[0]) else " "
        out += line
    return out


def fill(text: str, columns: int, indent: str = "") -> str:
    """Wrap ``text`` (blank-line paragraphs) into lines of at most ``columns`` terminal columns.

    Lines break at spaces and between Chinese characters (never before a comma,
    a full stop or a closing bracket), so a Chinese sentence wraps like an
    English one and a line break in the source adds no space between characters.
    """
    paragraphs, buf = [], []
    for line in [*text.expandtabs().splitlines(), ""]:
        if line.strip():
            buf.append(line)
        elif buf:
            paragraphs.append(_join(buf))
            buf = []
    limit = max(columns - width(indent), 10)
    out = []
    for par in paragraphs:
        lines, cur, space = [], "", False
        for sp, wide, word in _UNIT.findall(par):
            if sp:
                space = bool(cur)
                continue
            tok = wide or word
            gap = " " if space else ""
            breakable = space or ((_is_wide(tok[0]) or _is_wide(cur[-1:] or "a"))
                                  and tok[0] not in _NO_LINE_START)
            if cur and breakable and width(cur + gap + tok) > limit:
                lines.append(cur)
                cur = tok
            else:
                cur += gap + tok
            space = False
        lines.append(cur)
        out.append("\n".join(indent + ln for ln in lines))
    return "\n\n".join(out)


class HelpFormatter(click.HelpFormatter):
    """Click's help layout, with help texts wrapped by :func:`fill`."""

    def write_text(self, text: str) -> None:
        """A paragraph of help, indented and wrapped."""
        self.write(fill(text, self.width, " " * self.current_indent) + "\n")

    def write_dl(self, rows, col_max: int = 30, col_spacing: int = 2) -> None:
        """Options or commands and their help, the help wrapped in its column."""
        rows = list(rows)
        first_col = min(max((width(r[0]) for r in rows), default=0), col_max) + col_spacing
        for first, second in rows:
            self.write(f"{'':>{self.current_indent}}{first}")
            if not second:
                self.write("\n")
                continue
            if width(first) <= first_col - col_spacing:
                self.write(" " * (first_col - width(first)))
            else:
                self.write("\n" + " " * (first_col + self.current_indent))
            lines = fill(second, max(self.width - first_col - 2, 10)).splitlines() or [""]
            self.write(lines[0] + "\n")
            for line in lines[1:]:
                self.write(f"{'':>{first_col + self.current_indent}}{line}\n")
