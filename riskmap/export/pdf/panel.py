"""The side panel of a sheet: the inset map, the legend and the table of top cells."""

from __future__ import annotations

import numpy as np
import shapely

from riskmap.export.pdf.draw import ellipsize_fast as ellipsize
from riskmap.export.pdf.draw import geom_path, patches
from riskmap.export.pdf.layout import CELL_EDGE, RED, RIGHTS_EDGE, TABLE_MAX_ROWS
from riskmap.export.pdf.reference import legend_items, legend_swatch
from riskmap.export.pdf.textset import text_set
from riskmap.marks import CLASS_COLOURS, CLASS_NAMES


class _SidePanel:
    """The panel part of :class:`~riskmap.export.pdf.sheet._Sheet` (positions in mm).

    Expects ``fig``, ``page``, ``k``, ``fp``, ``rect``, ``text`` and ``extent``
    (the map frame, drawn first) from the sheet.
    """

    def inset(self, x, y, w, h):
        from matplotlib.patches import PathPatch, Rectangle

        p, k = self.page, self.k
        self.text(x, y + 2 * k, "位置示意", 8.5 * k, va="center")
        ax = self.fig.add_axes(self.rect(x, y + 5 * k, w, h - 5 * k))
        ax.set_xticks([])
        ax.set_yticks([])
        for s in ax.spines.values():
            s.set_linewidth(0.5)
        dist = shapely.force_2d(p.district)
        if p.townships is not None and len(p.townships):
            col = patches(p.townships.geometry.values, fc="white", ec="#9a9a9a", lw=0.3)
            if col is not None:
                ax.add_collection(col, autolim=False)
        ap = geom_path(p.area)
        if ap is not None:
            ax.add_artist(PathPatch(ap, fc=RED, ec=RED, lw=0.5, alpha=0.85, zorder=3))
        dp = geom_path(dist)
        if dp is not None:
            ax.add_artist(PathPatch(dp, fc="none", ec="black", lw=0.8, zorder=4))
        ex = self.extent
        ax.add_artist(Rectangle((ex[0], ex[2]), ex[1] - ex[0], ex[3] - ex[2], fc="none",
                               ec="#333333", lw=0.5, ls=(0, (2, 1.5)), zorder=5))
        g = shapely.union_all([dist, p.area])
        bx0, by0, bx1, by1 = g.bounds
        aw, ah = w, h - 5 * k
        span = max((bx1 - bx0) / aw, (by1 - by0) / ah) * 1.08
        cx, cy = (bx0 + bx1) / 2, (by0 + by1) / 2
        ax.set_xlim(cx - aw * span / 2, cx + aw * span / 2)
        ax.set_ylim(cy - ah * span / 2, cy + ah * span / 2)

    def legend(self, x, y, w, h):
        from matplotlib.patches import Rectangle

        p, k = self.page, self.k
        refs = legend_items(getattr(p, "reference", None), k)
        # the imagery swatch is an image: it needs axes; the rest draws on the figure
        ax = self._box(x, y, w, h, axes=any(r[0] not in _FLAT_SWATCHES for r in refs))
        n_rows = 11 + len(refs)  # classes, the map's lines and marks, the reference layers
        row = min(4.3 * k, (h - 6.3 * k) / n_rows)
        size = min(7 * k, row / 4.3 * 7)
        ax.text(0, 2 * k, "图例", fontproperties=self.fp, fontsize=8.5 * k, va="center")
        ax.text(9 * k, 2 * k, "优先级 (巡查网格评分)", fontproperties=self.fp, fontsize=6.5 * k,
                va="center", color="#444444")
        sw, sh = 7 * k, min(3 * k, row * 0.72)
        t = list(p.thresholds)
        yy = 5.5 * k
        labels, ys = [], []
        for c in range(5, 0, -1):
            fc = CLASS_COLOURS[c]
            ax.add_artist(Rectangle((0, yy), sw, sh, fc=fc, ec="#555555", lw=0.3, alpha=0.85))
            rng = f"< {t[0]:.1f}" if c == 1 else f"≥ {t[c - 2]:.1f}"
            labels.append(f"{CLASS_NAMES[c]}  {rng}")
            ys.append(yy + sh / 2)
            yy += row
        yy += 0.8 * k
        items = [
            ("line", {"color": "black", "lw": 1.7 * k}, f"{p.area_name}界"),
            ("line", {"color": "#8c8c8c", "lw": 0.6 * k}, "乡镇界"),
            ("line", {"color": "#555555", "lw": 0.45 * k, "ls": (0, (4, 2))}, "村界"),
            ("rights", {}, "采矿权范围"),
            ("cell", {}, "重点网格 (编号末段)"),
            ("line", {"color": "#3b3b3b", "lw": 0.3 * k, "alpha": 0.7}, "公里网"),
        ] + [(f"ref_{kind}", style, label) for kind, style, label in refs]
        for kind, style, label in items:
            if kind.startswith("ref_"):
                legend_swatch(ax, kind[4:], style, 0, yy, sw, sh, k)
            elif kind == "line":
                ax.plot([0, sw], [yy + sh / 2] * 2, **style)
            elif kind == "rights":
                ax.add_artist(Rectangle((0, yy), sw, sh, fc="none", ec=RIGHTS_EDGE, lw=0.8 * k,
                                        hatch="////"))
            else:
                ax.add_artist(Rectangle((sw / 2 - sh / 2, yy), sh, sh, fc="none", ec=CELL_EDGE,
                                        lw=0.9 * k))
                ax.text(sw / 2 + sh / 2 + 0.3, yy + sh / 2, "37", fontproperties=self.fp,
                        fontsize=5 * k, va="center", color=CELL_EDGE)
            labels.append(ellipsize(label, self.fp, size, w - sw - 3 * k))
            ys.append(yy + sh / 2)
            yy += row
        ax.add_artist(text_set(np.full(len(ys), sw + 2 * k), ys, labels, self.fp, size=size,
                               transform=ax.transData, ha="left", va="center"))

    def table(self, x, y, w, h):
        p, k = self.page, self.k
        ax = self._box(x, y, w, h)
        if p.overview is not None:
            self._overview(ax, w, h)
            return
        tc = p.top_cells
        n_all = 0 if tc is None else len(tc)
        ax.text(0, 2 * k, "重点巡查网格 (按评分)", fontproperties=self.fp, fontsize=8.5 * k,
                va="center")
        note = "图上标注为网格编号末段; 完整编号 = 公里格 (东 km-北 km) + 末段"
        ax.text(0, 6 * k, ellipsize(note, self.fp, 6 * k, w), fontproperties=self.fp,
                fontsize=6 * k, va="center", color="#444444")
        top = 9 * k
        size = 6.8 * k
        rh = 3.9 * k
        if not n_all:
            ax.text(0, top + rh, "(本区无重点网格)", fontproperties=self.fp, fontsize=size,
                    va="center")
            return
        order = np.argsort(-np.asarray(tc["score"], dtype=float), kind="stable")
        fit = int((h - top - rh - 5 * k) // rh)
        per = max(1, fit)
        need = min(n_all, TABLE_MAX_ROWS)
        blocks = 1 if need <= per else max(1, min(2, int(w // (60 * k))))
        n_rows = min(TABLE_MAX_ROWS, n_all, per * blocks)
        if n_rows > per and blocks == 1:
            n_rows = per
        widths = np.array([9, 30, 27, 13, 10], dtype=float)
        bw = w / blocks if blocks > 1 else w
        widths = widths / widths.sum() * (bw - (2 * k if blocks > 1 else 0))
        ids = tc["id"].astype(str).to_numpy()
        vill = (tc["village"].fillna("").astype(str).to_numpy() if "village" in tc
                else np.full(n_all, "", dtype=object))
        score = np.asarray(tc["score"], dtype=float)
        cls = np.asarray(tc["class"], dtype=int)
        for b in range(blocks):
            rows = order[b * per:(b + 1) * per][: max(0, n_rows - b * per)]
            if not len(rows):
                break
            self._table_block(ax, b * bw, top, rh, widths, size, rows, b * per,
                              (ids, vill, score, cls))
        if n_all > n_rows:
            last = top + (min(n_rows, per) + 1) * rh + 3 * k
            ax.text(0, last, f"另有 {n_all - n_rows} 个重点网格未列出, 见 risk.gpkg",
                    fontproperties=self.fp, fontsize=6 * k, va="center", color="#444444")

    def _box(self, x, y, w, h, axes: bool = False):
        """A panel box in mm from its top-left corner (y down), drawn on without axes.

        An axes costs ~8 ms to make and is drawn as a whole; the legend and the
        table need none of it (no ticks, no frame, nothing outside the box), so
        they draw straight on the figure through :class:`_Flat`. ``axes``: an
        invisible axes all the same (for an image).
        """
        if not axes:
            return _Flat(self, x, y, w, h)
        ax = self.fig.add_axes(self.rect(x, y, w, h))
        ax.set_xlim(0, w)
        ax.set_ylim(h, 0)
        ax.axis("off")
        return ax

    def _overview(self, ax, w, h):
        """The district sheet's table: the patrol cells of class 5 and 4 per township."""
        k, rows = self.k, self.page.overview
        size, rh, top = 6.8 * k, 3.9 * k, 9 * k
        ax.text(0, 2 * k, "各乡镇重点巡查网格 (per township)", fontproperties=self.fp,
                fontsize=8.5 * k, va="center")
        ax.text(0, 6 * k, ellipsize("网格编号与位置见各乡镇图 (the township sheets list the "
                                    "cells)", self.fp, 6 * k, w),
                fontproperties=self.fp, fontsize=6 * k, va="center", color="#444444")
        fit = max(1, int((h - top - 2 * rh) // rh))
        shown = rows[:fit]
        xs = [(0.0, "left"), (0.62 * w, "right"), (0.9 * w, "right")]
        mid = top + (np.arange(len(shown) + 1) + 0.5) * rh
        cols = [["乡镇", *[ellipsize(t, self.fp, size, 0.55 * w) for t, _, _ in shown]],
                ["5级", *[str(a) for _, a, _ in shown]], ["4级", *[str(b) for _, _, b in shown]]]
        for (tx, ha), vals in zip(xs, cols, strict=True):
            ax.add_artist(text_set(np.full(len(vals), tx), mid, vals, self.fp, size=size,
                                   transform=ax.transData, ha=ha, va="center"))
        ax.plot([0, w], [top + rh, top + rh], color="black", lw=0.4)
        if len(rows) > fit:
            ax.text(0, top + (fit + 1.5) * rh, f"另有 {len(rows) - fit} 个乡镇, 见 summary.json",
                    fontproperties=self.fp, fontsize=6 * k, va="center", color="#444444")

    def _table_block(self, ax, bx, top, rh, widths, size, rows, first, cols):
        """One block of the table: header, stripes, class swatches, one text set per column."""
        from matplotlib.collections import PolyCollection

        k = self.k
        ids, vill, score, cls = cols
        n = len(rows)
        xs = bx + np.concatenate([[0], np.cumsum(widths)[:-1]])
        tw = widths.sum()
        ry = top + (np.arange(n) + 1) * rh  # row tops
        odd = ry[1::2]
        stripes = [[(bx, top), (bx + tw, top), (bx + tw, top + rh), (bx, top + rh)]]
        fcs = ["#d9d9d9"] + ["#f2f2f2"] * len(odd)
        stripes += [[(bx, y), (bx + tw, y), (bx + tw, y + rh), (bx, y + rh)] for y in odd]
        ax.add_collection(PolyCollection(stripes, facecolors=fcs, edgecolors="none"),
                          autolim=False)
        sx = xs[4] + widths[4] / 2 - 2.6 * k
        sw, sy0, sh = 2.2 * k, 0.6 * k, rh - 1.2 * k
        swatches = [[(sx, y + sy0), (sx + sw, y + sy0), (sx + sw, y + sy0 + sh), (sx, y + sy0 + sh)]
                    for y in ry]
        ax.add_collection(PolyCollection(swatches, edgecolors="#555555", linewidths=0.3,
                                         facecolors=[CLASS_COLOURS.get(int(c), "white")
                                                     for c in cls[rows]]), autolim=False)
        mid = np.r_[top, ry] + rh / 2
        vw = widths[2] - 1
        values = [
            [str(first + r + 1) for r in range(n)],
            list(ids[rows]),
            [ellipsize(v, self.fp, size, vw) for v in vill[rows]],
            [f"{v:.1f}" for v in score[rows]],
        ]
        heads = ["序号", "网格编号", "村", "评分"]
        place = [("center", xs[0] + widths[0] / 2), ("left", xs[1] + 1), ("left", xs[2] + 1),
                 ("right", xs[3] + widths[3] - 1)]
        for (ha, tx), head, vals in zip(place, heads, values, strict=True):
            ax.add_artist(text_set(np.full(n + 1, tx), mid, [head, *vals], self.fp, size=size,
                                   transform=ax.transData, ha=ha, va="center"))
        ax.add_artist(text_set([xs[4] + widths[4] / 2], [top + rh / 2], ["等级"], self.fp,
                               size=size, transform=ax.transData, ha="center", va="center"))
        ax.add_artist(text_set(np.full(n, xs[4] + widths[4] / 2 + 0.6 * k), mid[1:],
                               [str(c) for c in cls[rows]], self.fp, size=size,
                               transform=ax.transData, ha="left", va="center"))
        end = top + (n + 1) * rh
        ax.plot([bx, bx + tw], [top, top], color="black", lw=0.6)
        ax.plot([bx, bx + tw], [top + rh, top + rh], color="black", lw=0.4)
        ax.plot([bx, bx + tw], [end, end], color="black", lw=0.6)


#: Legend swatches drawn without axes (:func:`~.reference.legend_swatch`' lines and boxes).
_FLAT_SWATCHES = ("line", "fill", "square")


class _Flat:
    """The few Axes calls of the legend and the table, made on the figure itself.

    Coordinates are mm from the box's top-left corner, y down (as the panel's
    axes had them: ``xlim(0, w)``, ``ylim(h, 0)``); artists get that transform,
    are clipped to the box as the axes clipped them (texts of ``text`` not, as
    ``Axes.text``) and go to the figure, in the zorder they had within the axes.
    """

    def __init__(self, sheet, x: float, y: float, w: float, h: float):
        from matplotlib.transforms import Affine2D, Bbox, TransformedBbox

        self.fig = sheet.fig
        self.transData = (Affine2D().translate(x, y).scale(1 / sheet.W, -1 / sheet.H)
                          .translate(0, 1) + sheet.fig.transFigure)
        self.clip = TransformedBbox(Bbox.from_extents(0, 0, w, h), self.transData)

    def add_artist(self, a, clip: bool = True):
        """Add ``a`` to the figure, in box coordinates unless it has a transform."""
        if not a.is_transform_set():
            a.set_transform(self.transData)
        if clip:
            a.set_clip_box(self.clip)
        return self.fig.add_artist(a)

    def add_collection(self, c, autolim: bool = False):
        """As :meth:`add_artist` (there are no limits to update)."""
        return self.add_artist(c)

    def text(self, x, y, s, **kw):
        """A :class:`~matplotlib.text.Text` as ``Axes.text`` makes it (not clipped)."""
        from matplotlib.text import Text

        return self.add_artist(Text(x, y, s, **kw), clip=False)

    def plot(self, xs, ys, **kw):
        """One :class:`~matplotlib.lines.Line2D` (the panel always gives its colour)."""
        from matplotlib.lines import Line2D

        return self.add_artist(Line2D(xs, ys, **kw))
