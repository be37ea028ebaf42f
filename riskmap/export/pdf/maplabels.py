"""Where the township sheet's map labels go: village and township names, then the top cells.

All in paper millimetres from the map frame's lower-left corner, chosen at once
per kind with :func:`riskmap.export.pdf.labels.place` (earlier labels win):

1. village names at a point on each village (on it, else a little above or
   below); on a crowded sheet (over 60 villages, the district) a name that
   finds no free place is left out, otherwise it goes where it overlaps least;
2. the names of neighbouring townships where enough of them shows;
3. the top cells' short labels beside their cell (right, left, above, below),
   best score first: those of the table (the first :data:`TABLE_MAX_ROWS`) are
   always written, the others only where they collide with nothing (no label,
   no other top cell, no map furniture).
"""

from __future__ import annotations

import numpy as np

from riskmap.export.pdf.labels import boxes_at, overlaps, place

__all__ = ["box_size", "cell_candidates", "name_candidates", "settle"]

#: the box of a label: its text's width plus this margin (mm) by 1.05 em
MARGIN_MM = 0.6
#: mm per point
PT_MM = 25.4 / 72


def box_size(widths_mm, size: float) -> tuple[np.ndarray, np.ndarray]:
    """(width, height) in mm of label boxes of texts ``widths_mm`` wide at ``size`` pt."""
    w = np.asarray(widths_mm, float) + MARGIN_MM
    return w, np.full(len(w), size * PT_MM * 1.05)


def name_candidates(x, y, w, h) -> np.ndarray:
    """Candidate boxes of a name at a point: centred on it, then 2.5 mm above, below."""
    z = np.zeros((len(w), 1))
    h2 = np.asarray(h, float)[:, None] / 2
    off = np.stack([np.hstack([z, z, z]), np.hstack([z, 2.5 + h2, -2.5 - h2])], axis=-1)
    return boxes_at(x, y, off, w, h)


def cell_candidates(cx, cy, half_w, half_h, w, h, gap: float = 0.4) -> np.ndarray:
    """Candidate boxes beside a cell (centre and half sizes in mm).

    Right and left of its middle (above the line, then below), then above and below it.
    """
    cx, cy = np.asarray(cx, float), np.asarray(cy, float)
    hw, hh = np.asarray(half_w, float), np.asarray(half_h, float)
    w, h = np.asarray(w, float), np.asarray(h, float)
    right, left = cx + hw + gap + w / 2, cx - hw - gap - w / 2
    xs = np.stack([right, left, right, left, cx, cx], axis=1)
    ys = np.stack([cy + h / 2, cy + h / 2, cy - h / 2, cy - h / 2,
                   cy + hh + gap + h / 2, cy - hh - gap - h / 2], axis=1)
    return np.stack([xs - w[:, None] / 2, ys - h[:, None] / 2, xs + w[:, None] / 2,
                     ys + h[:, None] / 2], axis=-1)


def settle(cands: np.ndarray, *, frame, obstacles: np.ndarray, must: np.ndarray,
           soft: np.ndarray | None = None) -> np.ndarray:
    """Boxes (n × 4, NaN where left out) of labels placed without collision where they can.

    A label of ``must`` that finds no free place takes its in-frame candidate
    that overlaps the fewest obstacles and placed labels (a ``soft`` obstacle
    counting half); the others are left out.

    Parameters
    ----------
    cands : numpy.ndarray
        n × K × 4 candidate boxes, best first.
    frame : tuple
        ``(x0, y0, x1, y1)`` a label must lie in.
    obstacles : numpy.ndarray
        m × 4 boxes no label may overlap.
    must : numpy.ndarray
        n bools.
    soft : numpy.ndarray, optional
        Boxes a label should not overlap either (the top cells), half as bad.

    Returns
    -------
    numpy.ndarray
    """
    n, k = cands.shape[:2]
    if not n:
        return np.zeros((0, 4))
    soft = np.zeros((0, 4)) if soft is None else np.asarray(soft, float).reshape(-1, 4)
    hard = np.asarray(obstacles, float).reshape(-1, 4)
    got = place(cands, obstacles=np.vstack([hard, soft]), frame=frame)
    boxes = got.boxes.copy()
    late = np.flatnonzero(~got.placed & np.asarray(must, bool))
    if len(late):
        f = frame
        flat = cands[late].reshape(-1, 4)
        inside = ((flat[:, 0] >= f[0]) & (flat[:, 1] >= f[1]) & (flat[:, 2] <= f[2])
                  & (flat[:, 3] <= f[3]))
        taken = np.vstack([hard, boxes[got.placed]])
        cost = overlaps(flat, taken).sum(axis=1) + 0.5 * overlaps(flat, soft).sum(axis=1)
        cost = np.where(inside, cost, np.inf).reshape(len(late), k)
        best = cost.argmin(axis=1)
        ok = np.isfinite(cost[np.arange(len(late)), best])
        boxes[late[ok]] = cands[late[ok], best[ok]]
    return boxes
