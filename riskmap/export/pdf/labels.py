"""Map labels that do not collide: candidate positions per label, chosen in vectorised rounds.

Positions are boxes in paper millimetres (x to the right, y up). A label's box is
its text's metric box as a PDF reader reports it (advance width × font ascent to
descent), so boxes that do not overlap are labels whose text does not collide.

:func:`place` takes every label's candidate boxes (best first) and the ones an
obstacle rules out, and settles all labels at once: each round, every label
still open takes its next free candidate, and a label that overlaps a settled
label or an earlier open one moves on; the others settle. Labels earlier in the
arrays win; a label with no candidate left is not placed. Each round is a few
array operations on an n × n overlap matrix, at most one round per candidate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Placed", "around_offsets", "boxes_at", "overlaps", "place", "shift_offsets"]

#: directions of the leader rings, degrees counter-clockwise from east
_RING_DEG = np.arange(0, 360, 30)


def overlaps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Which boxes of ``a`` (n × 4) overlap which of ``b`` (m × 4): an n × m bool array.

    Boxes are ``(x0, y0, x1, y1)``; touching edges do not overlap; NaN boxes
    overlap nothing.
    """
    a = np.asarray(a, float).reshape(-1, 4)
    b = np.asarray(b, float).reshape(-1, 4)
    return ((a[:, None, 0] < b[None, :, 2]) & (b[None, :, 0] < a[:, None, 2])
            & (a[:, None, 1] < b[None, :, 3]) & (b[None, :, 1] < a[:, None, 3]))


def around_offsets(half: float, w: np.ndarray, h: np.ndarray, *, gap: float = 0.4,
                   rings=(2.5, 5.0, 8.0)) -> tuple[np.ndarray, np.ndarray]:
    """Candidate box centres around a square of half-size ``half`` (mm), best first.

    First the eight places touching the square (east, north, west, south, then
    the corners), then rings ``rings`` mm farther out in twelve directions
    (these need a leader line).

    Parameters
    ----------
    half : float
        Half the side of the labelled square on paper, mm.
    w, h : numpy.ndarray
        Label box widths and heights, mm (one per label).
    gap : float
        Clearance between the square and a touching label, mm.
    rings : sequence of float
        Extra distances of the leader rings, mm.

    Returns
    -------
    offsets : numpy.ndarray
        n × K × 2 offsets of the box centres from the square's centre.
    leader : numpy.ndarray
        K bools: candidates that need a leader line.
    """
    w = np.asarray(w, float)[:, None]
    h = np.asarray(h, float)[:, None]
    ex, ey = half + gap + w / 2, half + gap + h / 2
    z = np.zeros_like(w)
    near_x = np.hstack([ex, z, -ex, z, ex, -ex, ex, -ex])
    near_y = np.hstack([z + 0 * ey, ey, z, -ey, ey, ey, -ey, -ey])
    c, s = np.cos(np.radians(_RING_DEG)), np.sin(np.radians(_RING_DEG))
    far_x = np.hstack([(ex + r) * c[None, :] for r in rings])
    far_y = np.hstack([(ey + r) * s[None, :] for r in rings])
    offsets = np.stack([np.hstack([near_x, far_x]), np.hstack([near_y, far_y])], axis=-1)
    leader = np.r_[np.zeros(8, bool), np.ones(far_x.shape[1], bool)]
    return offsets, leader


def shift_offsets(w: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Candidate box centres for a name at a point: on it, then a little above, below, aside."""
    w = np.asarray(w, float)[:, None]
    h = np.asarray(h, float)[:, None]
    z = np.zeros_like(w)
    xs = np.hstack([z, z, z, w * 0.6, -w * 0.6, z, z])
    ys = np.hstack([z, h, -h, z, z, 2 * h, -2 * h])
    return np.stack([xs, ys], axis=-1)


def boxes_at(x: np.ndarray, y: np.ndarray, offsets: np.ndarray, w: np.ndarray,
             h: np.ndarray) -> np.ndarray:
    """Candidate boxes (n × K × 4) of labels anchored at ``x, y`` (mm), box centre offsets."""
    cx = np.asarray(x, float)[:, None] + offsets[..., 0]
    cy = np.asarray(y, float)[:, None] + offsets[..., 1]
    hw = np.asarray(w, float)[:, None] / 2
    hh = np.asarray(h, float)[:, None] / 2
    return np.stack([cx - hw, cy - hh, cx + hw, cy + hh], axis=-1)


@dataclass
class Placed:
    """Where :func:`place` put each label.

    Attributes
    ----------
    choice : numpy.ndarray
        Candidate index per label, -1 where the label could not be placed.
    boxes : numpy.ndarray
        n × 4 chosen boxes (NaN where not placed).
    """

    choice: np.ndarray
    boxes: np.ndarray

    @property
    def placed(self) -> np.ndarray:
        """Labels that were placed."""
        return self.choice >= 0


def place(boxes: np.ndarray, *, obstacles: np.ndarray | None = None,
          frame: tuple[float, float, float, float] | None = None,
          own: np.ndarray | None = None, sep: float = 0.0) -> Placed:
    """Choose one candidate box per label so that no two labels and no obstacle overlap.

    Parameters
    ----------
    boxes : numpy.ndarray
        n × K × 4 candidate boxes per label, best first; labels earlier in the
        array win.
    obstacles : numpy.ndarray, optional
        m × 4 boxes no label may overlap (cells, map furniture, other labels).
    frame : tuple, optional
        ``(x0, y0, x1, y1)``: a label must lie inside it.
    own : numpy.ndarray, optional
        n ints: the obstacle each label may overlap (its own cell when the
        number is written inside it), -1 for none.
    sep : float
        Least gap between two labels, mm (side by side, "25" and "24" would read
        as "2524").

    Returns
    -------
    Placed
    """
    boxes = np.asarray(boxes, float)
    n, k = boxes.shape[:2]
    flat = boxes.reshape(-1, 4)
    free = np.ones(n * k, bool)
    if frame is not None:
        f = frame
        free &= ((flat[:, 0] >= f[0]) & (flat[:, 1] >= f[1]) & (flat[:, 2] <= f[2])
                 & (flat[:, 3] <= f[3]))
    if obstacles is not None and len(obstacles):
        hit = overlaps(flat, obstacles)
        if own is not None:
            mine = np.repeat(np.asarray(own, int), k)
            ok = mine >= 0
            hit[np.flatnonzero(ok), mine[ok]] = False
        free &= ~hit.any(axis=1)
    free = free.reshape(n, k)
    idx = np.arange(n)
    cols = np.arange(k)[None, :]
    ptr = np.zeros(n, int)
    fixed = np.zeros(n, bool)
    choice = np.full(n, -1)
    earlier = idx[None, :] < idx[:, None]  # [i, j]: j comes before i
    for _ in range(k + 1):
        open_ = free & (cols >= ptr[:, None])
        live = fixed | open_.any(axis=1)
        cand = np.where(fixed, choice, open_.argmax(axis=1))
        b = np.where(live[:, None], boxes[idx, np.clip(cand, 0, k - 1)], np.nan)
        ov = overlaps(b + np.array([-sep, -sep, sep, sep]) / 2, b)
        np.fill_diagonal(ov, False)
        todo = live & ~fixed
        clash = (ov & (fixed[None, :] | earlier)).any(axis=1) & todo
        settle = todo & ~clash
        choice[settle] = cand[settle]
        fixed |= settle
        ptr = np.where(clash, cand + 1, ptr)
        if not (todo & clash).any():
            break
    out = np.where(fixed[:, None], boxes[idx, np.clip(choice, 0, k - 1)], np.nan)
    return Placed(np.where(fixed, choice, -1), out)
