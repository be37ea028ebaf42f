"""Sheet layout figures: paper sizes, round scales, km-grid spacing, scale bars, short labels."""

from __future__ import annotations

import math

from riskmap.errors import ExportError

#: Paper sizes in mm, (long side, short side).
PAPER_MM = {"A3": (420.0, 297.0), "A4": (297.0, 210.0)}
#: Most rows of the top-cell table.
TABLE_MAX_ROWS = 40
#: Outline and label colour of the top cells.
CELL_EDGE = "#7f0000"
#: Outline (hatched) of the mining-right polygons.
RIGHTS_EDGE = "#54278f"
#: The confidentiality mark and the area in the inset.
RED = "#c00000"
#: Inches per mm.
MM = 1 / 25.4
_SCALES = (1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.5, 8.0)


def paper_size(paper: str, orientation: str) -> tuple[str, tuple[float, float]]:
    """The paper key and page size (width, height) in mm.

    Parameters
    ----------
    paper : {"A3", "A4"}
        Case-insensitive.
    orientation : {"landscape", "portrait"}

    Returns
    -------
    tuple
        ``(paper_key, (width_mm, height_mm))``.

    Raises
    ------
    ExportError
        Unknown paper or orientation.
    """
    key = str(paper).upper()
    if key not in PAPER_MM:
        raise ExportError(f"unknown paper {paper!r}; use one of {', '.join(PAPER_MM)}")
    if orientation not in ("landscape", "portrait"):
        raise ExportError(f"unknown orientation {orientation!r}; use landscape or portrait")
    long_, short = PAPER_MM[key]
    return key, ((long_, short) if orientation == "landscape" else (short, long_))


def nice_scale(required: float) -> int:
    """Smallest round scale denominator ≥ ``required`` (1, 1.25, 1.5, 2, … × 10^k).

    Parameters
    ----------
    required : float

    Returns
    -------
    int
    """
    exp = 10 ** math.floor(math.log10(max(required, 1.0)))
    for m in (*_SCALES, 10.0):
        if m * exp >= required - 1e-9:
            return round(m * exp)
    return round(10 * exp)  # pragma: no cover


def km_spacing(scale: int, min_mm: float = 11.0) -> int:
    """Kilometre-grid spacing: 1, 2 or 5 km (10 km beyond), the finest ≥ ``min_mm`` apart.

    One kilometre is preferred because a cell id names its kilometre square
    (``456-4190-37``): with a 1 km grid the square is read off the labels.

    Parameters
    ----------
    scale : int
        Scale denominator of the map.
    min_mm : float
        Least distance between grid lines on paper, mm.

    Returns
    -------
    int
        Spacing in km.
    """
    for k in (1, 2, 5):
        if k * 1000 / scale * 1000 >= min_mm:
            return k
    return 10


def scale_bar_length(scale: int, max_mm: float) -> int:
    """Longest round length (m) whose bar is at most ``max_mm`` on paper.

    Parameters
    ----------
    scale : int
        Scale denominator.
    max_mm : float

    Returns
    -------
    int
    """
    best = 10
    for exp in range(1, 6):
        for m in (1, 2, 2.5, 5):
            length = m * 10 ** exp
            if length / scale * 1000 <= max_mm and length == int(length):
                best = max(best, int(length))
    return best


def short_label(cell_id: str) -> str:
    """The part of a cell id printed on the map: ``"37"`` of ``"456-4190-37"``.

    Parameters
    ----------
    cell_id : str

    Returns
    -------
    str
        The last part, or the whole id when it is only a km square (``"456-4190"``).
    """
    parts = str(cell_id).split("-")
    return parts[-1] if len(parts) >= 3 else str(cell_id)


def fmt_scale(n: int) -> str:
    """A scale denominator with thin thousands gaps: ``25 000``."""
    return f"{n:,}".replace(",", " ")


def convergence(crs: str, x: float, y: float) -> float | None:
    """Meridian convergence (degrees) of the working CRS at ``x, y``, if pyproj knows it."""
    try:
        from pyproj import CRS, Proj

        from riskmap.crs.transform import transformer

        c = CRS.from_user_input(crs)
        lon, lat = transformer(c, c.geodetic_crs).transform(x, y)
        return float(Proj(c).get_factors(lon, lat).meridian_convergence)
    except Exception:  # a nicety only: never fail a map for it
        return None
