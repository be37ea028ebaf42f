"""Will the district's grid fit in memory? Estimated before anything is allocated.

A 25 m county is about a million cells and fits anywhere; ``--cell-size 1`` on
the same county, or a province, does not. The estimate is checked by ``check``
and before the one-grid engine allocates, so such a build is refused in a
second with the numbers and the way out (a coarser cell or the tiled engine),
never after gigabytes and an internal error; ``riskmap build`` reads it first
and runs the tiled build by itself where the one grid would not fit
(:mod:`riskmap.pipeline.tiledbuild`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from riskmap.errors import GridError
from riskmap.grid import Grid

__all__ = ["BYTES_PER_CELL_BASE", "BYTES_PER_CELL_FACTOR", "GridBudget", "grid_budget",
           "require_fits"]

#: bytes per analysis cell: score, masks and labels, plus each factor's explain raster
#: and the transforms' temporaries (measured: a 10 m sample build peaks at ~96 B/cell with
#: 10 factors)
BYTES_PER_CELL_BASE = 16
BYTES_PER_CELL_FACTOR = 8
#: share of the machine's free memory a build may plan to use
MEMORY_SHARE = 0.7


@dataclass(frozen=True)
class GridBudget:
    """Cells of a grid, the memory a one-grid build needs for them, and what is free."""

    cells: int
    shape: tuple[int, int]
    cell_size: float
    needed: int  # bytes
    available: int | None  # bytes free on this machine (None: unknown)
    limit: int | None = None  # bytes the user allows (``--memory-limit``), at most the free share

    @property
    def allowed(self) -> int | None:
        """Bytes a one-grid build may use here (None: unknown)."""
        free = None if self.available is None else int(MEMORY_SHARE * self.available)
        if self.limit is not None:
            return self.limit if free is None else min(self.limit, free)
        return free

    @property
    def fits(self) -> bool:
        """Whether the one-grid engine can hold it (unknown memory: assume it does)."""
        return self.allowed is None or self.needed <= self.allowed

    def text(self) -> str:
        """'1,050 × 980 cells at 25 m: about 0.3 GB of 12.0 GB free'."""
        free = "" if self.available is None else f" of {self.available / 2**30:.1f} GB free"
        if self.limit is not None:
            free = f" of the {self.limit / 2**20:,.4g} MiB allowed (--memory-limit)"
        need = (f"{self.needed / 2**30:.1f} GB" if self.needed >= 2**30
                else f"{self.needed / 2**20:.2f} MiB")
        return (f"{self.shape[0]:,} × {self.shape[1]:,} cells at {self.cell_size:g} m: about "
                f"{need}{free}")


def available_memory() -> int | None:
    """Bytes of physical memory free now (Linux, Windows, macOS), None if unknown."""
    try:
        if hasattr(os, "sysconf") and "SC_AVPHYS_PAGES" in os.sysconf_names:
            return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        if os.name == "nt":
            import ctypes

            class _Status(ctypes.Structure):
                _fields_ = [("dwLength", ctypes.c_ulong), ("dwMemoryLoad", ctypes.c_ulong),
                            ("ullTotalPhys", ctypes.c_ulonglong),
                            ("ullAvailPhys", ctypes.c_ulonglong),
                            ("ullTotalPageFile", ctypes.c_ulonglong),
                            ("ullAvailPageFile", ctypes.c_ulonglong),
                            ("ullTotalVirtual", ctypes.c_ulonglong),
                            ("ullAvailVirtual", ctypes.c_ulonglong),
                            ("sullAvailExtendedVirtual", ctypes.c_ulonglong)]

            st = _Status()
            st.dwLength = ctypes.sizeof(_Status)
            ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(st))
            return int(st.ullAvailPhys)
    except (OSError, ValueError, AttributeError):
        return None
    return None


def grid_budget(grid: Grid, n_factors: int, limit_mib: float | None = None) -> GridBudget:
    """What a one-grid build of ``grid`` with ``n_factors`` factors needs.

    ``limit_mib`` (MiB), when given, is the memory the build may use instead of
    the share of what is free (``riskmap build --memory-limit``).
    """
    cells = int(grid.nrows) * int(grid.ncols)
    needed = cells * (BYTES_PER_CELL_BASE + BYTES_PER_CELL_FACTOR * max(n_factors, 1))
    limit = None if limit_mib is None else int(limit_mib * 2**20)
    return GridBudget(cells, (int(grid.nrows), int(grid.ncols)), float(grid.cell), needed,
                      available_memory(), limit)


def require_fits(budget: GridBudget, project_path=None) -> None:
    """Refuse a grid the one-grid engine cannot hold, with the numbers and the way out.

    Raises
    ------
    GridError
        The estimate exceeds the share of free memory a build may use.
    """
    if budget.fits:
        return
    where = f"{project_path}: " if project_path else ""
    raise GridError(f"{where}网格过大 (the grid is too large for this machine: "
                    f"{budget.text()}); use a coarser cell_size (or drop --cell-size), build "
                    "one township with --township, or run the tiled engine: riskmap build "
                    "PROJECT --tiled (chosen by itself when the grid does not fit) or riskmap "
                    "score PROJECT (add --scheduler tcp://… for a cluster)")
