"""The tiled score: a district too large for one array, scored tile by tile into one GeoTIFF.

Memory stays bounded by the tile size, not the area: the score is streamed to
``risk.tif`` window by window and only patrol-cell scores are held (see
:func:`riskmap.score.tiling.compute_tiled`). The folder holds ``risk.tif`` and
``summary.json`` and appears whole or not at all.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from riskmap import __version__
from riskmap.export.atomic import atomic_folder, check_free
from riskmap.export.summary import SUMMARY, write_summary
from riskmap.export.tif import open_score_tif
from riskmap.grid import Grid
from riskmap.load.inputs import load_inputs
from riskmap.load.project import Project
from riskmap.marks import INTERNAL
from riskmap.score.engine import district_grid
from riskmap.score.tiling import TiledResult, chunk_for_memory, compute_tiled

#: Tile side (analysis cells) when neither a chunk nor a memory limit is given.
DEFAULT_CHUNK = 1024


@dataclass
class TiledReport:
    """What a tiled score wrote."""

    folder: Path
    grid: Grid
    chunk: int
    tiles: int
    counts: dict[str, int]  #: patrol cells per class "1"–"5"
    summary: dict


def score_tiled(project: Project, out: Path | None = None, *, chunk: int | None = None,
                scheduler: str | None = None, memory_limit: float | None = None,
                overwrite: bool = False, progress=None) -> TiledReport:
    """Score ``project`` tile by tile into ``<out>/risk.tif`` and ``summary.json``.

    Parameters
    ----------
    project : Project
    out : Path, optional
        Output folder (default: ``<project output>/tiled``).
    chunk : int, optional
        Tile side in analysis cells (default: from ``memory_limit``, else 1024).
    scheduler : str, optional
        ``threads`` (default), ``processes``, ``synchronous`` or a
        dask.distributed scheduler address.
    memory_limit : float, optional
        MiB per worker for one tile's working set; sets the tile size.
    overwrite : bool
        Replace an existing output folder.
    progress : callable, optional
        Called with a short Chinese message per step.

    Returns
    -------
    TiledReport

    Raises
    ------
    RiskmapError
        Bad layers, or an existing folder without ``overwrite``.
    """
    t0 = time.perf_counter()
    dest = Path(out) if out else project.output / "tiled"
    check_free(dest, overwrite)  # before the layers: an existing output is said at once
    inputs = load_inputs(project, progress)
    if chunk is None:
        chunk = (chunk_for_memory(memory_limit, len(project.factors)) if memory_limit
                 else DEFAULT_CHUNK)
    grid = district_grid(project, inputs.district)
    with atomic_folder(dest, overwrite) as tmp:
        res = stream_score(project, inputs, tmp, chunk=chunk, scheduler=scheduler,
                           progress=progress)
        counts = {str(c): int((res.p_class == c).sum()) for c in range(1, 6)}
        summary = {"project": project.name, "riskmap_version": __version__, "marking": INTERNAL,
                   "engine": "tiled", "grid": grid.to_dict(), "tiles": res.tiles,
                   "chunk": chunk, "scheduler": scheduler or "threads",
                   "classes": {"method": project.class_method,
                               "breaks": list(project.class_breaks),
                               "thresholds": [round(float(t), 4) for t in res.thresholds],
                               "basis": "exact quantiles of every patrol cell's score"},
                   "counts": counts, "inputs": inputs.hashes,
                   "timings": {"total_s": round(time.perf_counter() - t0, 2),
                               **{k: round(v, 3) for k, v in res.timings.items()}}}
        write_summary(tmp / SUMMARY, summary)
    return TiledReport(dest, grid, chunk, res.tiles, counts, summary)


def stream_score(project: Project, inputs, folder: Path | None, *, chunk: int, scheduler=None,
                 progress=None) -> TiledResult:
    """The district tile by tile, its score streamed into ``<folder>/risk.tif``.

    With ``folder`` None nothing is written (the patrol-cell scores and the
    class thresholds are all that is wanted).
    """
    if folder is None:
        return compute_tiled(project, inputs, chunk=chunk, scheduler=scheduler,
                             progress=progress)
    grid = district_grid(project, inputs.district)
    with open_score_tif(Path(folder) / "risk.tif", grid) as tif:
        res = compute_tiled(project, inputs, chunk=chunk, scheduler=scheduler,
                            on_tile=tif.write, progress=progress)
        if progress:
            progress("概览 (overviews)")
        tif.finish({"marking": INTERNAL, "riskmap_version": __version__,
                    "class_thresholds": json.dumps([round(float(t), 3)
                                                    for t in res.thresholds])})
    return res
