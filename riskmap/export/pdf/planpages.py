"""Pages of the plan sheet: which cells go on which page, at what scale, and where the numbers go.

A page shows its cells at 1:``max_scale`` or larger (1:25 000: a 100 m cell is
4 mm): the whole township when it fits, else a village per page, neighbouring
villages merged while they fit, and a village too large for one page cut along
its tour. The scale of a page is the smallest round one that holds its cells
(never larger than 1:``min_scale``). A page whose numbers cannot all be placed
without collision is split in two (each half at a larger scale); at a scale
where a number fits inside its cell it is written there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from riskmap.export.pdf.labels import Placed, around_offsets, boxes_at, place
from riskmap.export.pdf.layout import nice_scale, scale_bar_length

__all__ = ["CellSet", "PageSpec", "furniture_boxes", "plan_pages"]

#: least scale denominator of a plan page (1:5 000: a 100 m cell is 20 mm)
MIN_SCALE = 5000
#: largest scale denominator of a plan page (1:25 000: a 100 m cell is 4 mm)
MAX_SCALE = 25000


@dataclass(frozen=True)
class CellSet:
    """The township's planned cells as arrays (working CRS, metres), in visit order.

    Attributes
    ----------
    x, y : numpy.ndarray
        Cell centres.
    village : numpy.ndarray
        Village index per cell (0 … V-1).
    starts : numpy.ndarray
        V × 2 start points (village committees) of the villages.
    cell_m : float
        Patrol cell size.
    label_w, label_h : numpy.ndarray
        Each cell's number box on paper, mm.
    """

    x: np.ndarray
    y: np.ndarray
    village: np.ndarray
    starts: np.ndarray
    cell_m: float
    label_w: np.ndarray
    label_h: np.ndarray

    def __len__(self) -> int:
        return len(self.x)


@dataclass
class PageSpec:
    """One page: its cells, scale and extent, and the placed numbers.

    Attributes
    ----------
    cells : numpy.ndarray
        Indices of the page's own cells (the table's rows), in visit order.
    scale : int
        Scale denominator.
    extent : tuple
        ``(x0, x1, y0, y1)`` of the map frame, metres.
    shown : numpy.ndarray
        Every cell drawn (own first, then other pages' cells in the frame).
    labels : Placed
        The numbers of ``shown`` (boxes in mm from the frame's lower left).
    leader : numpy.ndarray
        Per shown cell: its number needs a leader line.
    inside : bool
        Numbers written inside their cells.
    furniture : dict
        ``scale_bar`` and ``north_arrow`` boxes (metres), ``bar_m`` the bar length.
    """

    cells: np.ndarray
    scale: int
    extent: tuple[float, float, float, float]
    shown: np.ndarray
    labels: Placed
    leader: np.ndarray
    inside: bool
    furniture: dict = field(default_factory=dict)

    @property
    def mpm(self) -> float:
        """Metres per mm of paper."""
        return self.scale / 1000


def _bbox(cs: CellSet, idx, starts=None) -> np.ndarray:
    h = cs.cell_m / 2
    xs, ys = cs.x[idx], cs.y[idx]
    b = np.array([xs.min() - h, ys.min() - h, xs.max() + h, ys.max() + h])
    if starts is not None and len(starts):
        b = np.r_[np.minimum(b[:2], starts.min(axis=0)), np.maximum(b[2:], starts.max(axis=0))]
    return b


def _runs(cs: CellSet, idx: np.ndarray, cap: tuple[float, float], rows: int) -> list:
    """Cut a village's tour into consecutive runs that fit one page (cap in metres)."""
    out, start = [], 0
    h = cs.cell_m
    while start < len(idx):
        sx, sy = cs.x[idx[start:]], cs.y[idx[start:]]
        w = np.maximum.accumulate(sx) - np.minimum.accumulate(sx) + h
        ht = np.maximum.accumulate(sy) - np.minimum.accumulate(sy) + h
        ok = (w <= cap[0]) & (ht <= cap[1])
        ok[rows:] = False
        n = len(ok) if ok.all() else max(1, int(np.argmin(ok)))
        out.append(idx[start:start + n])
        start += n
    return out


def _groups(cs: CellSet, cap, rows: int) -> list[np.ndarray]:
    """Villages (or runs of one) merged greedily with their nearest neighbours while they fit."""
    units = []
    for v in np.unique(cs.village):
        units += _runs(cs, np.flatnonzero(cs.village == v), cap, rows)
    units.sort(key=lambda u: int(u[0]))
    boxes = [_bbox(cs, u) for u in units]
    left = list(range(len(units)))
    groups = []
    while left:
        members = [left.pop(0)]
        b = boxes[members[0]].copy()
        n = len(units[members[0]])
        while True:
            best, best_d = None, None
            for j in left:
                u = np.r_[np.minimum(b[:2], boxes[j][:2]), np.maximum(b[2:], boxes[j][2:])]
                if (u[2] - u[0] > cap[0] or u[3] - u[1] > cap[1]
                        or n + len(units[j]) > rows):
                    continue
                d = np.hypot(*((b[:2] + b[2:]) / 2 - (boxes[j][:2] + boxes[j][2:]) / 2))
                if best_d is None or d < best_d:
                    best, best_d = j, d
            if best is None:
                break
            left.remove(best)
            members.append(best)
            b = np.r_[np.minimum(b[:2], boxes[best][:2]), np.maximum(b[2:], boxes[best][2:])]
            n += len(units[best])
        groups.append(np.sort(np.concatenate([units[m] for m in members])))
    return groups


def furniture_boxes(extent, scale: int, k: float, cells_xy: np.ndarray) -> dict:
    """Scale bar and north arrow boxes (metres) in the corners holding the fewest cells.

    The sizes are those the township sheet draws
    (:meth:`riskmap.export.pdf.frame._MapFrame.scale_bar` / ``north_arrow``).
    """
    mpm = scale / 1000
    w_mm = (extent[1] - extent[0]) / mpm
    bar_m = scale_bar_length(scale, min(50 * k, w_mm * 0.3))
    sizes = {"scale_bar": (bar_m / mpm + 16 * k, 13 * k), "north_arrow": (14 * k, 19 * k)}
    inset = 2.5 * k

    def corner_box(corner, bw, bh):
        x = extent[0] + inset * mpm if "l" in corner else extent[1] - (inset + bw) * mpm
        y = extent[2] + inset * mpm if "b" in corner else extent[3] - (inset + bh) * mpm
        return (x, y, x + bw * mpm, y + bh * mpm)

    def cost(b):
        if not len(cells_xy):
            return 0
        pad = 2 * mpm  # the numbers beside the cells want room too
        return int(((cells_xy[:, 0] > b[0] - pad) & (cells_xy[:, 0] < b[2] + pad)
                    & (cells_xy[:, 1] > b[1] - pad) & (cells_xy[:, 1] < b[3] + pad)).sum())

    corners = ["bl", "br", "tl", "tr"]
    sb = min(corners, key=lambda c: (cost(corner_box(c, *sizes["scale_bar"])),
                                     corners.index(c)))
    rest = [c for c in ["tr", "tl", "br", "bl"] if c != sb]
    na = min(rest, key=lambda c: (cost(corner_box(c, *sizes["north_arrow"])), rest.index(c)))
    return {"scale_bar": corner_box(sb, *sizes["scale_bar"]),
            "north_arrow": corner_box(na, *sizes["north_arrow"]), "bar_m": bar_m}


def _page(cs: CellSet, own: np.ndarray, map_mm, k: float, pad_mm: float,
          max_scale: int, min_scale: int, sep_mm: float) -> PageSpec:
    """Scale, extent, furniture and numbers of one page of ``own`` cells."""
    mw, mh = map_mm
    starts = cs.starts[np.unique(cs.village[own])]
    cap = ((mw - 2 * pad_mm) * max_scale / 1000, (mh - 2 * pad_mm) * max_scale / 1000)
    b = _bbox(cs, own, starts)
    if b[2] - b[0] > cap[0] or b[3] - b[1] > cap[1]:
        b = _bbox(cs, own)  # the committee points do not fit as well: the cells do
    req = max((b[2] - b[0]) / (mw - 2 * pad_mm), (b[3] - b[1]) / (mh - 2 * pad_mm)) * 1000
    scale = max(nice_scale(req), min_scale)
    mpm = scale / 1000
    cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
    ext = (cx - mw * mpm / 2, cx + mw * mpm / 2, cy - mh * mpm / 2, cy + mh * mpm / 2)
    half_m = cs.cell_m / 2
    inframe = ((cs.x + half_m > ext[0]) & (cs.x - half_m < ext[1])
               & (cs.y + half_m > ext[2]) & (cs.y - half_m < ext[3]))
    inframe[own] = False
    shown = np.r_[own, np.flatnonzero(inframe)].astype(int)
    xy = np.c_[cs.x[shown], cs.y[shown]]
    furn = furniture_boxes(ext, scale, k, xy)
    # paper mm from the frame's lower-left corner
    px, py = (xy[:, 0] - ext[0]) / mpm, (xy[:, 1] - ext[2]) / mpm
    half = half_m / mpm
    w, h = cs.label_w[shown], cs.label_h[shown]
    cells_mm = np.c_[px - half, py - half, px + half, py + half]
    fb = np.array([furn["scale_bar"], furn["north_arrow"]], float)
    fb_mm = np.c_[(fb[:, 0] - ext[0]) / mpm, (fb[:, 1] - ext[2]) / mpm,
                  (fb[:, 2] - ext[0]) / mpm, (fb[:, 3] - ext[2]) / mpm]
    st = starts[(starts[:, 0] > ext[0]) & (starts[:, 0] < ext[1])
                & (starts[:, 1] > ext[2]) & (starts[:, 1] < ext[3])]
    r = 1.6 * k  # committee markers
    st_mm = np.c_[(st[:, 0] - ext[0]) / mpm - r, (st[:, 1] - ext[2]) / mpm - r,
                  (st[:, 0] - ext[0]) / mpm + r, (st[:, 1] - ext[2]) / mpm + r]
    obstacles = np.vstack([cells_mm, fb_mm, st_mm])
    inside = bool(2 * half >= max(w.max(), h.max()) + 0.8)
    offsets, leader = around_offsets(half, w, h)
    owner = None
    if inside:  # in the cell first (moved off a committee point if need be), else beside it
        qx, qy = np.maximum(0, half - w / 2 - 0.3), np.maximum(0, half - h / 2 - 0.3)
        z = np.zeros_like(qx)
        within = np.stack([np.c_[z, z, z, qx, -qx, qx, -qx, qx, -qx],
                           np.c_[z, qy, -qy, z, z, qy, qy, -qy, -qy]], axis=-1)
        offsets = np.concatenate([within, offsets], axis=1)
        leader = np.r_[np.zeros(within.shape[1], bool), leader]
        owner = np.arange(len(shown))
    boxes = boxes_at(px, py, offsets, w, h)
    placed = place(boxes, obstacles=obstacles, frame=(0.5, 0.5, mw - 0.5, mh - 0.5), own=owner,
                   sep=sep_mm)
    lead = np.where(placed.placed, leader[np.clip(placed.choice, 0, None)], False)
    return PageSpec(own, scale, ext, shown, placed, lead, inside, furn)


def plan_pages(cs: CellSet, *, map_mm: tuple[float, float], rows: int, k: float = 1.0,
               pad_mm: float = 8.0, max_scale: int = MAX_SCALE,
               min_scale: int = MIN_SCALE, sep_mm: float = 1.2) -> list[PageSpec]:
    """Split a township's cells into pages and place every page's numbers.

    Parameters
    ----------
    cs : CellSet
    map_mm : (float, float)
        Width and height of a page's map frame, mm.
    rows : int
        Most cells per page (the rows of its table).
    k : float
        Size factor of the paper (1 for A3, 0.8 for A4), as the sheet uses.
    pad_mm : float
        Room kept between the outermost cells and the frame, mm.
    max_scale, min_scale : int
        Smallest and largest scale allowed (denominators).
    sep_mm : float
        Least gap between two numbers, mm.

    Returns
    -------
    list of PageSpec
        Ordered by their lowest visit number; every cell is on exactly one
        page, and every page's own numbers are placed.
    """
    if not len(cs):
        return []
    mw, mh = map_mm
    cap = ((mw - 2 * pad_mm) * max_scale / 1000, (mh - 2 * pad_mm) * max_scale / 1000)
    todo = _groups(cs, cap, max(1, rows))
    pages = []
    while todo:
        own = todo.pop(0)
        pg = _page(cs, own, map_mm, k, pad_mm, max_scale, min_scale, sep_mm)
        if pg.labels.placed[:len(own)].all() or len(own) == 1 or pg.scale <= min_scale:
            pages.append(pg)
            continue
        # numbers collide: split along the longer side, each half at a larger scale
        xs, ys = cs.x[own], cs.y[own]
        along = xs if np.ptp(xs) >= np.ptp(ys) else ys
        order = np.argsort(along, kind="stable")
        half = len(own) // 2
        todo[:0] = [np.sort(own[order[:half]]), np.sort(own[order[half:]])]
    pages.sort(key=lambda p: int(p.cells.min()))
    return pages
