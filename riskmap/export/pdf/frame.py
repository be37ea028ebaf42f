"""The map frame of a sheet: class surface, outlines, km grid, scale bar, north arrow, labels."""

from __future__ import annotations

import math

import numpy as np
import shapely

from riskmap.export.pdf.draw import class_rgba, geom_path, patches, squares_path, widths_mm
from riskmap.export.pdf.layout import (
    CELL_EDGE,
    RIGHTS_EDGE,
    TABLE_MAX_ROWS,
    convergence,
    fmt_scale,
    km_spacing,
    nice_scale,
    scale_bar_length,
    short_label,
)
from riskmap.export.pdf.maplabels import box_size, cell_candidates, name_candidates, settle
from riskmap.export.pdf.reference import CLASS_ALPHA_OVER, draw_reference, named_points
from riskmap.export.pdf.textset import text_set


class _MapFrame:
    """The map part of :class:`~riskmap.export.pdf.sheet._Sheet` (positions in map metres).

    Expects ``fig``, ``page``, ``k`` (size factor), ``fp`` (font properties),
    ``obstacles`` and ``rect`` from the sheet; sets ``scale``, ``mpm`` (metres per
    mm of paper), ``extent``, ``km_step`` and ``convergence`` for the rest of the page.
    """

    def map(self, x, y, w, h):
        from matplotlib.patches import PathPatch

        p, k = self.page, self.k
        ax = self.fig.add_axes(self.rect(x, y, w, h))
        self.ax, self.map_box = ax, (x, y, w, h)
        area = shapely.force_2d(p.area)
        bx0, by0, bx1, by1 = area.bounds
        pad = 0.03
        req = max((bx1 - bx0) * (1 + 2 * pad) / w, (by1 - by0) * (1 + 2 * pad) / h) * 1000
        self.scale = nice_scale(req)
        mpm = self.scale / 1000  # metres per mm of paper
        cx, cy = (bx0 + bx1) / 2, (by0 + by1) / 2
        ex = (cx - w * mpm / 2, cx + w * mpm / 2, cy - h * mpm / 2, cy + h * mpm / 2)
        self.extent, self.mpm = ex, mpm
        ax.set_xlim(ex[0], ex[1])
        ax.set_ylim(ex[2], ex[3])
        ax.set_aspect("auto")
        self.convergence = convergence(p.grid.crs, cx, cy)
        fr = shapely.box(ex[0], ex[2], ex[1], ex[3])

        # the reference layers (DOM, rivers, roads, settlements) under everything
        ref = getattr(p, "reference", None)
        under = draw_reference(ax, ref, ex, (w, h), p.grid.crs, k)
        # outside the area: light grey (see-through over an orthophoto)
        mask = geom_path(fr.difference(area))
        if mask is not None:
            ax.add_artist(PathPatch(mask, fc="#ececec", ec="none", zorder=1,
                                    alpha=0.55 if ref and ref.dom is not None else 1.0))
        # class surface, semi-transparent over the reference layers
        g = p.grid
        gx0, gy0, gx1, gy1 = g.bounds
        ax.imshow(class_rgba(p.classes, CLASS_ALPHA_OVER if under else 0.85),
                  extent=(gx0, gx1, gy0, gy1), origin="upper", interpolation="none", zorder=2,
                  resample=False)
        # townships (thin) and villages
        if p.townships is not None and len(p.townships):
            col = patches(p.townships.geometry.values, fc="none", ec="#8c8c8c", lw=0.6 * k,
                           zorder=3)
            if col is not None:
                ax.add_collection(col, autolim=False)
        if p.villages is not None and len(p.villages):
            col = patches(p.villages.geometry.values, fc="none", ec="#555555", lw=0.45 * k,
                           linestyle=(0, (4, 2)), zorder=3)
            if col is not None:
                ax.add_collection(col, autolim=False)
        # mining rights
        if p.rights is not None and len(p.rights):
            col = patches(p.rights.geometry.values, fc="none", ec=RIGHTS_EDGE, lw=0.8 * k,
                           hatch="////", zorder=4)
            if col is not None:
                ax.add_collection(col, autolim=False)
        # km grid
        self.km_grid(ax, ex)
        # the area outline, bold
        ap = geom_path(area)
        if ap is not None:
            ax.add_artist(PathPatch(ap, fc="none", ec="white", lw=3.2 * k, zorder=5))
            ax.add_artist(PathPatch(ap, fc="none", ec="black", lw=1.7 * k, zorder=5.1))
        # top cells
        tc = p.top_cells
        if tc is not None and len(tc):  # squares from the bounds, one path (one stroke)
            ax.add_artist(PathPatch(squares_path(shapely.bounds(tc.geometry.values)),
                                    fc="none", ec=CELL_EDGE, lw=0.9 * k, joinstyle="round",
                                    zorder=6))
        # furniture first (its corners become obstacles), then labels
        self.furniture(ax, area)
        self.map_labels(ax, area)
        for s in ax.spines.values():
            s.set_linewidth(0.9)
            s.set_zorder(20)

    def km_grid(self, ax, ex):
        """Kilometre lines over the map, ticks and labels (km) on all four sides."""
        from matplotlib.collections import LineCollection

        k = self.k
        step = km_spacing(self.scale, 11 * k) * 1000
        self.km_step = step // 1000
        xs = np.arange(math.ceil(ex[0] / step) * step, ex[1] + 1e-6, step)
        ys = np.arange(math.ceil(ex[2] / step) * step, ex[3] + 1e-6, step)
        # keep lines off the frame edge itself (labels would crowd the corner)
        xs = xs[(xs - ex[0] > 2 * self.mpm) & (ex[1] - xs > 2 * self.mpm)]
        ys = ys[(ys - ex[2] > 2 * self.mpm) & (ex[3] - ys > 2 * self.mpm)]
        lines = [[(v, ex[2]), (v, ex[3])] for v in xs] + [[(ex[0], v), (ex[1], v)] for v in ys]
        if lines:
            ax.add_collection(LineCollection(lines, colors="#3b3b3b", linewidths=0.3 * k,
                                             alpha=0.7, zorder=4.5), autolim=False)
        ax.set_xticks([])
        ax.set_yticks([])
        self.km_ticks(xs, ys)

    def km_ticks(self, xs, ys):
        """Ticks out of the map frame at ``xs``/``ys`` (metres), labelled in km (figure mm)."""
        from matplotlib.collections import LineCollection

        k, ex, mpm = self.k, self.extent, self.mpm
        x, y, w, h = self.map_box
        tick, pad, size = 2.2 * k, 1.2 * 25.4 / 72, 7 * k
        px = x + (np.asarray(xs, float) - ex[0]) / mpm
        py = y + h - (np.asarray(ys, float) - ex[2]) / mpm
        segs = ([[(v, y + h), (v, y + h + tick)] for v in px]
                + [[(v, y), (v, y - tick)] for v in px]
                + [[(x, v), (x - tick, v)] for v in py]
                + [[(x + w, v), (x + w + tick, v)] for v in py])
        if segs:
            fr = np.array(segs, float) / (self.W, -self.H) + (0, 1)
            self.fig.add_artist(LineCollection(fr, colors="black", linewidths=0.5,
                                               transform=self.fig.transFigure, zorder=21))
        xl = [f"{v / 1000:.0f}" for v in xs]
        yl = [f"{v / 1000:.0f}" for v in ys]
        at = tick + pad
        self.texts_at(px, np.full(len(px), y + h + at), xl, size, va="top")
        self.texts_at(px, np.full(len(px), y - at), xl, size, va="bottom")
        self.texts_at(np.full(len(py), x - at), py, yl, size, ha="right", va="center",
                      rotation=90)
        self.texts_at(np.full(len(py), x + w + at), py, yl, size, ha="left", va="center",
                      rotation=90)

    def furniture(self, ax, area):
        """Scale bar and north arrow in the two corners least covered by the area."""
        k, mpm = self.k, self.mpm
        ex = self.extent
        w_mm = (ex[1] - ex[0]) / mpm
        bar_len = scale_bar_length(self.scale, min(50 * k, w_mm * 0.3))
        sb_w, sb_h = bar_len / mpm + 16 * k, 13 * k
        na_w, na_h = 14 * k, 19 * k
        inset = 2.5 * k

        def corner_box(corner, bw, bh):
            x = ex[0] + inset * mpm if "l" in corner else ex[1] - (inset + bw) * mpm
            y = ex[2] + inset * mpm if "b" in corner else ex[3] - (inset + bh) * mpm
            return (x, y, x + bw * mpm, y + bh * mpm)

        def cost(b):
            return shapely.box(*b).intersection(area).area

        corners = ["bl", "br", "tl", "tr"]
        sb_c = min(corners, key=lambda c: (cost(corner_box(c, sb_w, sb_h)), corners.index(c)))
        rest = [c for c in ["tr", "tl", "br", "bl"] if c != sb_c]
        na_c = min(rest, key=lambda c: (cost(corner_box(c, na_w, na_h)), rest.index(c)))
        self.scale_bar(ax, corner_box(sb_c, sb_w, sb_h), bar_len)
        self.north_arrow(ax, corner_box(na_c, na_w, na_h))

    def scale_bar(self, ax, b, length):
        from matplotlib.patches import Rectangle

        k, mpm = self.k, self.mpm
        x0, y0, x1, y1 = b
        self.obstacles.append(b)
        ax.add_artist(Rectangle((x0, y0), x1 - x0, y1 - y0, fc="white", ec="#444444",
                               lw=0.4, alpha=0.92, zorder=10))
        bx = x0 + 5 * k * mpm
        by = y0 + 6.2 * k * mpm
        bh = 1.6 * k * mpm
        n = 4
        seg = length / n
        for i in range(n):
            ax.add_artist(Rectangle((bx + i * seg, by), seg, bh, fc="black" if i % 2 == 0 else
                                   "white", ec="black", lw=0.5, zorder=11))
        size = 6.5 * k
        for v in (0, length / 2, length):
            lab = f"{v:g}"
            ax.text(bx + v, by + bh + 0.8 * k * mpm, lab, ha="center", va="bottom",
                    fontproperties=self.fp, fontsize=size, zorder=12)
        ax.text(bx + length + 1.2 * k * mpm, by + bh / 2, "米", ha="left", va="center",
                fontproperties=self.fp, fontsize=size, zorder=12)
        ax.text(bx + length / 2, by - 1.0 * k * mpm, f"1:{fmt_scale(self.scale)}", ha="center",
                va="top", fontproperties=self.fp, fontsize=size, zorder=12)

    def north_arrow(self, ax, b):
        from matplotlib.patches import Polygon, Rectangle

        k, mpm = self.k, self.mpm
        x0, y0, x1, y1 = b
        self.obstacles.append(b)
        ax.add_artist(Rectangle((x0, y0), x1 - x0, y1 - y0, fc="white", ec="#444444",
                               lw=0.4, alpha=0.92, zorder=10))
        cx = (x0 + x1) / 2
        tip = y1 - 5.5 * k * mpm
        base = y0 + 5.0 * k * mpm
        notch = base + 2.2 * k * mpm
        half = 2.6 * k * mpm
        ax.add_artist(Polygon([(cx, tip), (cx - half, base), (cx, notch)], closed=True,
                             fc="black", ec="black", lw=0.5, zorder=11))
        ax.add_artist(Polygon([(cx, tip), (cx + half, base), (cx, notch)], closed=True,
                             fc="white", ec="black", lw=0.5, zorder=11))
        ax.text(cx, tip + 0.6 * k * mpm, "北", ha="center", va="bottom", fontproperties=self.fp,
                fontsize=8 * k, zorder=12)
        ax.text(cx, y0 + 1.2 * k * mpm, "坐标北", ha="center", va="bottom",
                fontproperties=self.fp, fontsize=5.5 * k, zorder=12, color="#333333")

    # --- labels -------------------------------------------------------------------
    def _mm(self, x, y):
        """Map metres to paper mm from the frame's lower-left corner."""
        ex = self.extent
        return (np.asarray(x, float) - ex[0]) / self.mpm, (np.asarray(y, float) - ex[2]) / self.mpm

    def _label(self, ax, group_boxes, texts, size, color, zorder):
        """Draw placed labels (box centres in frame mm) as one halo text set."""
        ok = np.isfinite(group_boxes).all(axis=1)
        if not ok.any():
            return
        b = group_boxes[ok]
        ex, mpm = self.extent, self.mpm
        cx = ex[0] + (b[:, 0] + b[:, 2]) / 2 * mpm
        cy = ex[2] + (b[:, 1] + b[:, 3]) / 2 * mpm
        ax.add_artist(text_set(cx, cy, [t for t, o in zip(texts, ok, strict=True) if o],
                               self.fp, size=size, transform=ax.transData, color=color,
                               ha="center", va="center", halo=2.2 * self.k, zorder=zorder,
                               clip=True))

    def map_labels(self, ax, area):
        """Village and township names, then the top cells' labels (:mod:`.maplabels`)."""
        p, k = self.page, self.k
        ex = self.extent
        frame = (0.0, 0.0, (ex[1] - ex[0]) / self.mpm, (ex[3] - ex[2]) / self.mpm)
        o = np.array(self.obstacles, float).reshape(-1, 4)  # the furniture, metres
        taken = np.c_[self._mm(o[:, 0], o[:, 1])[0], self._mm(o[:, 0], o[:, 1])[1],
                      self._mm(o[:, 2], o[:, 3])[0], self._mm(o[:, 2], o[:, 3])[1]]
        # village names
        if p.villages is not None and len(p.villages) and "name" in p.villages:
            names = p.villages["name"]
            geoms = p.villages.geometry.values
            ok = np.array([n is not None and str(n).strip() != "" for n in names])
            ok &= ~(shapely.is_empty(geoms) | shapely.is_missing(geoms))
            if ok.any():
                pts = shapely.point_on_surface(geoms[ok])
                texts = [str(n) for n in np.asarray(names, object)[ok]]
                taken = self._names(ax, pts, texts, 7.5 * k, "#222222", taken, frame,
                                    must=len(p.villages) <= 60)  # a district: drop collisions
        # settlement names (reference layer), where they find room
        pts, texts = named_points(getattr(p, "reference", None), ex)
        if texts:
            taken = self._names(ax, pts, texts, 6 * k, "#3a3a3a", taken, frame, must=False)
        # neighbouring townships' names where enough of them shows
        if p.townships is not None and len(p.townships) and "name" in p.townships:
            fr = shapely.box(ex[0], ex[2], ex[1], ex[3])
            others = np.array([str(n) != str(p.area_name) for n in p.townships["name"]])
            geoms = p.townships.geometry.values
            others &= ~(shapely.is_empty(geoms) | shapely.is_missing(geoms))
            if others.any():
                vis = shapely.difference(shapely.intersection(geoms[others], fr), area)
                big = ~shapely.is_empty(vis) & (shapely.area(vis) >= (20 * self.mpm) ** 2)
                if big.any():
                    texts = [str(n) for n in np.asarray(p.townships["name"], object)[others][big]]
                    taken = self._names(ax, shapely.point_on_surface(vis[big]), texts, 9 * k,
                                        "#7a7a7a", taken, frame, must=True)
        self.cell_labels(ax, taken, frame)

    def _names(self, ax, pts, texts, size, color, taken, frame, must):
        """Place and draw names at points; returns the obstacles with their boxes added."""
        px, py = self._mm(shapely.get_x(pts), shapely.get_y(pts))
        w, h = box_size(widths_mm(texts, self.fp, size), size)
        boxes = settle(name_candidates(px, py, w, h), frame=frame, obstacles=taken,
                       must=np.full(len(texts), must))
        self._label(ax, boxes, texts, size, color, zorder=8)
        return np.vstack([taken, boxes[np.isfinite(boxes).all(axis=1)]])

    def cell_labels(self, ax, taken, frame):
        """The top cells' short ids beside them, best first; the table's always."""
        tc = self.page.top_cells
        if tc is None or not len(tc):
            return
        size = 6 * self.k
        order = np.argsort(-np.asarray(tc["score"], dtype=float), kind="stable")
        b = shapely.bounds(tc.geometry.values)[order]
        x0, y0 = self._mm(b[:, 0], b[:, 1])
        x1, y1 = self._mm(b[:, 2], b[:, 3])
        texts = [short_label(v) for v in np.asarray(tc["id"], object)[order]]
        w, h = box_size(widths_mm(texts, self.fp, size), size)
        cands = cell_candidates((x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2, w, h)
        boxes = settle(cands, frame=frame, obstacles=taken, soft=np.c_[x0, y0, x1, y1],
                       must=np.arange(len(texts)) < TABLE_MAX_ROWS)
        self._label(ax, boxes, texts, size, CELL_EDGE, zorder=9)
