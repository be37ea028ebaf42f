"""Stable, human-readable ids of patrol cells, and their inverse.

An id is ``"<E>-<N>-<cr>"``: the kilometre square the cell lies in (its
lower-left corner in working-CRS kilometres, easting then northing) and the
cell's column and row inside that square, counted from its south-west corner.
With 100 m patrol cells ``"456-4190-37"`` is the cell whose lower-left corner is
at x = 456 300 m, y = 4 190 700 m. Ids depend only on the cell's position, so the
same place has the same id in every township build, every week and every output.
Patrol cell sizes must divide 1000 m (10, 20, 25, 50, 100, 125, 200, 250, 500 m)
or be a whole number of kilometres (then the id is ``"<E>-<N>"``).
"""

from __future__ import annotations

import re

import numpy as np

from riskmap.errors import GridError
from riskmap.load.specs import check_patrol_size

__all__ = ["cell_ids", "check_patrol_size", "locate", "parse_cell_id"]

_ID = re.compile(r"^\s*(-?\d+)-(-?\d+)(?:-(\d+))?\s*$")


def _digits(size: int) -> int:
    per_km = 1000 // size
    return len(str(per_km - 1)) if per_km > 1 else 0


def cell_ids(x_ll, y_ll, size: float) -> np.ndarray:
    """Ids of the patrol cells whose lower-left corners are ``x_ll, y_ll``.

    Parameters
    ----------
    x_ll, y_ll : array_like
        Lower-left corners in the working CRS (metres), on the patrol grid.
    size : float
        Patrol cell size in metres.

    Returns
    -------
    numpy.ndarray of str
    """
    size = check_patrol_size(size)
    x = np.rint(np.asarray(x_ll, dtype=float)).astype(np.int64)
    y = np.rint(np.asarray(y_ll, dtype=float)).astype(np.int64)
    if x.size == 0:  # numpy's zfill cannot size an empty array
        return np.zeros(x.shape, dtype=object)
    e, n = np.floor_divide(x, 1000), np.floor_divide(y, 1000)
    ids = np.char.add(np.char.add(e.astype(str), "-"), n.astype(str))
    d = _digits(size)
    if d:
        c = (x - e * 1000) // size
        r = (y - n * 1000) // size
        cr = np.char.add(np.char.zfill(c.astype(str), d), np.char.zfill(r.astype(str), d))
        ids = np.char.add(np.char.add(ids, "-"), cr)
    return ids.astype(object)


def parse_cell_id(cell_id: str, size: float) -> tuple[float, float]:
    """Lower-left corner ``(x, y)`` of the patrol cell ``cell_id``.

    Raises
    ------
    GridError
        If the id is malformed or does not fit the patrol cell size.
    """
    size = check_patrol_size(size)
    m = _ID.match(str(cell_id))
    d = _digits(size)
    if not m or bool(m.group(3)) != bool(d) or (d and len(m.group(3)) != 2 * d):
        example = cell_ids([456300.0], [4190700.0], size)[0]
        raise GridError(
            f"cell id {cell_id!r} is not a {size} m patrol cell id (expected the form "
            f"{example!r}: km easting-km northing{'-column row' if d else ''})"
        )
    x = int(m.group(1)) * 1000.0
    y = int(m.group(2)) * 1000.0
    if size > 1000 and (x % size or y % size):
        raise GridError(f"cell id {cell_id!r} is not on the {size} m patrol grid (corners lie "
                        f"on multiples of {size // 1000} km)")
    if d:
        c, r = int(m.group(3)[:d]), int(m.group(3)[d:])
        if c * size >= 1000 or r * size >= 1000:
            raise GridError(f"cell id {cell_id!r}: column/row beyond the kilometre square")
        x += c * size
        y += r * size
    return x, y


def locate(cell_id: str, patrol_grid) -> tuple[int, int]:
    """Row and column of ``cell_id`` in ``patrol_grid``; raise if outside it."""
    x, y = parse_cell_id(cell_id, patrol_grid.cell)
    row, col = patrol_grid.rowcol(x + patrol_grid.cell / 2, y + patrol_grid.cell / 2)
    row, col = int(row), int(col)
    if not (0 <= row < patrol_grid.nrows and 0 <= col < patrol_grid.ncols):
        raise GridError(f"cell id {cell_id!r} lies outside this project's grid")
    return row, col
