"""summary.json: the figures of one output folder (grid, classes, counts, inputs, timings)."""

from __future__ import annotations

import json
from pathlib import Path

from riskmap.export.atomic import write_text

#: File name of the summary in every output folder.
SUMMARY = "summary.json"


def output_sizes(folder, exclude: tuple[str, ...] = (SUMMARY,)) -> dict[str, int]:
    """Size in bytes of every file in ``folder``, by name (sorted), ``exclude`` left out.

    Parameters
    ----------
    folder : path-like
    exclude : tuple of str
        File names not listed (the summary itself).

    Returns
    -------
    dict of str to int
    """
    return {p.name: p.stat().st_size for p in sorted(Path(folder).iterdir())
            if p.name not in exclude}


def write_summary(path, summary: dict, overwrite: bool = False) -> Path:
    """Write ``summary`` as indented UTF-8 JSON, atomically.

    Parameters
    ----------
    path : path-like
        Usually ``<folder>/summary.json``.
    summary : dict
        JSON-able figures; other values (paths, dates) are written as text.
    overwrite : bool
        Replace an existing file (else :class:`~riskmap.errors.ExportError`).

    Returns
    -------
    Path
    """
    text = json.dumps(summary, ensure_ascii=False, indent=2, default=str)
    return write_text(path, text, overwrite)
