"""The rank interval of a calibration (the ``interval`` key), read as ``build`` and ``plan`` do.

One row: the file, its cells and bootstrap draws, its median width; a file that
is missing or not on the district's patrol grid (another CRS, cell size, origin
or extent: stale) is refused with the message ``build`` and ``plan`` give
(:func:`riskmap.score.cells.require_interval`), which names the fix: re-run
``riskmap calibrate --write``.
"""

from __future__ import annotations

import numpy as np

from riskmap.pipeline.checks import Run
from riskmap.score.cells import require_interval

__all__ = ["INTERVAL_COMMANDS", "check_interval"]

#: the commands that read the interval (the cells' columns, popups, ledgers, exploration)
INTERVAL_COMMANDS = ("build", "plan")


def check_interval(run: Run) -> None:
    """A row for the project's ``interval`` file; a refusal if ``build`` would refuse it."""
    p = run.project
    if p.interval is None:
        return
    row = run.row("interval (排名区间)", p.relative(p.interval), INTERVAL_COMMANDS)
    row.geom_types = "raster (3 bands)"
    row.crs = p.crs
    if run.district is None or run.district.is_empty:
        run.note(row, "区界未读入, 未对照巡查网格 (the district was not read: the grid is "
                      "not compared)")
        return
    iv = run.attempt(row, require_interval, p, run.district)
    if iv is None:
        return
    known = iv.known
    row.features = int(known.sum())
    width = (iv.hi - iv.lo)[known]
    draws = f"自助法 {iv.draws} 次, " if iv.draws else ""
    run.note(row, f"{draws}区间宽度中位数 {np.median(width):.1f} 个百分位 (bootstrap draws, "
                  "median width in rank percentiles); 用于网格列、弹窗、台账与探索抽样 "
                  "(cells' columns, popups, ledgers and the plan's exploration)"
             if width.size else "区间文件没有任何网格的值 (no cell has a value)")
