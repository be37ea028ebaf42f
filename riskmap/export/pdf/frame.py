"""The map frame of a sheet: class surface, outlines, km grid, scale bar, north arrow, labels."""

from __future__ import annotations

import math

import numpy as np
import shapely

from riskmap.export.pdf.draw import class_rgba, geom_path, halo, patches, text_width_mm
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

        # outside the area: light grey
        mask = geom_path(fr.difference(area))
        if mask is not None:
            ax.add_patch(PathPatch(mask, fc="#ececec", ec="none", zorder=1))
        # class surface
        g = p.grid
        gx0, gy0, gx1, gy1 = g.bounds
        ax.imshow(class_rgba(p.classes), extent=(gx0, gx1, gy0, gy1), origin="upper",
                  interpolation="none", zorder=2, resample=False)
        # townships (thin) and villages
        if p.townships is not None and len(p.townships):
            col = patches(p.townships.geometry.values, fc="none", ec="#8c8c8c", lw=0.6 * k,
                           zorder=3)
            if col is not None:
                ax.add_collection(col)
        if p.villages is not None and len(p.villages):
            col = patches(p.villages.geometry.values, fc="none", ec="#555555", lw=0.45 * k,
                           linestyle=(0, (4, 2)), zorder=3)
            if col is not None:
                ax.add_collection(col)
        # mining rights
        if p.rights is not None and len(p.rights):
            col = patches(p.rights.geometry.values, fc="none", ec=RIGHTS_EDGE, lw=0.8 * k,
                           hatch="////", zorder=4)
            if col is not None:
                ax.add_collection(col)
        # km grid
        self.km_grid(ax, ex)
        # the area outline, bold
        ap = geom_path(area)
        if ap is not None:
            ax.add_patch(PathPatch(ap, fc="none", ec="white", lw=3.2 * k, zorder=5))
            ax.add_patch(PathPatch(ap, fc="none", ec="black", lw=1.7 * k, zorder=5.1))
        # top cells
        tc = p.top_cells
        if tc is not None and len(tc):
            col = patches(tc.geometry.values, fc="none", ec=CELL_EDGE, lw=0.9 * k, zorder=6)
            if col is not None:
                ax.add_collection(col)
        # furniture first (its corners become obstacles), then labels
        self.furniture(ax, area)
        self.names(ax, area)
        self.cell_labels(ax)
        for s in ax.spines.values():
            s.set_linewidth(0.9)
            s.set_zorder(20)

    def km_grid(self, ax, ex):
        from matplotlib.ticker import FixedLocator, NullLocator

        k = self.k
        step = km_spacing(self.scale, 11 * k) * 1000
        self.km_step = step // 1000
        xs = np.arange(math.ceil(ex[0] / step) * step, ex[1] + 1e-6, step)
        ys = np.arange(math.ceil(ex[2] / step) * step, ex[3] + 1e-6, step)
        # keep lines off the frame edge itself (labels would crowd the corner)
        xs = xs[(xs - ex[0] > 2 * self.mpm) & (ex[1] - xs > 2 * self.mpm)]
        ys = ys[(ys - ex[2] > 2 * self.mpm) & (ex[3] - ys > 2 * self.mpm)]
        for v in xs:
            ax.axvline(v, color="#3b3b3b", lw=0.3 * k, alpha=0.7, zorder=4.5)
        for v in ys:
            ax.axhline(v, color="#3b3b3b", lw=0.3 * k, alpha=0.7, zorder=4.5)
        ax.xaxis.set_major_locator(FixedLocator(xs))
        ax.yaxis.set_major_locator(FixedLocator(ys))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.yaxis.set_minor_locator(NullLocator())
        ax.set_xticklabels([f"{v / 1000:.0f}" for v in xs], fontproperties=self.fp)
        ax.set_yticklabels([f"{v / 1000:.0f}" for v in ys], fontproperties=self.fp,
                           rotation=90, va="center")
        ax.tick_params(axis="both", which="major", direction="out", length=2.2 * k * 72 / 25.4,
                       width=0.5, labelsize=7 * k, pad=1.2, top=True, right=True,
                       labeltop=True, labelright=True, bottom=True, left=True)
        for lab in ax.get_yticklabels(which="both"):
            lab.set_rotation(90)
            lab.set_va("center")
            lab.set_fontproperties(self.fp)
            lab.set_fontsize(7 * k)
        for lab in ax.get_xticklabels(which="both"):
            lab.set_fontproperties(self.fp)
            lab.set_fontsize(7 * k)
        # the top/right labels are separate Text objects in tick2label
        for t in [*ax.xaxis.get_major_ticks(), *ax.yaxis.get_major_ticks()]:
            for lab in (t.label1, t.label2):
                lab.set_fontproperties(self.fp)
                lab.set_fontsize(7 * k)
        for t in ax.yaxis.get_major_ticks():
            t.label1.set_rotation(90)
            t.label2.set_rotation(90)
            t.label1.set_va("center")
            t.label2.set_va("center")

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
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fc="white", ec="#444444",
                               lw=0.4, alpha=0.92, zorder=10))
        bx = x0 + 5 * k * mpm
        by = y0 + 6.2 * k * mpm
        bh = 1.6 * k * mpm
        n = 4
        seg = length / n
        for i in range(n):
            ax.add_patch(Rectangle((bx + i * seg, by), seg, bh, fc="black" if i % 2 == 0 else
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
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fc="white", ec="#444444",
                               lw=0.4, alpha=0.92, zorder=10))
        cx = (x0 + x1) / 2
        tip = y1 - 5.5 * k * mpm
        base = y0 + 5.0 * k * mpm
        notch = base + 2.2 * k * mpm
        half = 2.6 * k * mpm
        ax.add_patch(Polygon([(cx, tip), (cx - half, base), (cx, notch)], closed=True,
                             fc="black", ec="black", lw=0.5, zorder=11))
        ax.add_patch(Polygon([(cx, tip), (cx + half, base), (cx, notch)], closed=True,
                             fc="white", ec="black", lw=0.5, zorder=11))
        ax.text(cx, tip + 0.6 * k * mpm, "北", ha="center", va="bottom", fontproperties=self.fp,
                fontsize=8 * k, zorder=12)
        ax.text(cx, y0 + 1.2 * k * mpm, "坐标北", ha="center", va="bottom",
                fontproperties=self.fp, fontsize=5.5 * k, zorder=12, color="#333333")

    def _place(self, ax, x, y, s, size, candidates, avoid_cells=(), must=True, **kw):
        """Put a label at the first candidate offset that hits no placed label.

        With ``must`` false the label is left out unless a candidate is free.
        """
        mpm = self.mpm
        w = (text_width_mm(s, self.fp, size) + 0.6) * mpm
        h = size * 0.3528 * 1.05 * mpm
        ex = self.extent
        best, best_cost = None, None
        for dx, dy, ha, va in candidates:
            lx = x + dx * mpm
            ly = y + dy * mpm
            bx0 = lx - (w if ha == "right" else w / 2 if ha == "center" else 0)
            by0 = ly - (h if va == "top" else h / 2 if va == "center" else 0)
            bb = (bx0, by0, bx0 + w, by0 + h)
            if bb[0] < ex[0] or bb[2] > ex[1] or bb[1] < ex[2] or bb[3] > ex[3]:
                c = 1000
            else:
                c = sum(1 for o in self.obstacles
                        if bb[0] < o[2] and o[0] < bb[2] and bb[1] < o[3] and o[1] < bb[3])
                c += 0.5 * sum(1 for o in avoid_cells
                               if bb[0] < o[2] and o[0] < bb[2] and bb[1] < o[3] and o[1] < bb[3])
            if best_cost is None or c < best_cost:
                best, best_cost = (lx, ly, ha, va, bb), c
            if c == 0:
                break
        if best is None or best_cost >= 1000 or (not must and best_cost > 0):
            return None
        lx, ly, ha, va, bb = best
        self.obstacles.append(bb)
        return ax.text(lx, ly, s, ha=ha, va=va, fontproperties=self.fp, fontsize=size,
                       path_effects=halo(self.k), clip_on=True, **kw)

    def names(self, ax, area):
        """Village names (and neighbouring township names) at representative points."""
        p, k = self.page, self.k
        centre = [(0, 0, "center", "center"), (0, 2.5, "center", "bottom"),
                  (0, -2.5, "center", "top")]
        if p.villages is not None and len(p.villages) and "name" in p.villages:
            pts = shapely.point_on_surface(p.villages.geometry.values)
            crowded = len(p.villages) > 60  # a district sheet: drop names that collide
            for name, pt in zip(p.villages["name"], pts, strict=True):
                if name is None or pt is None or pt.is_empty or not str(name).strip():
                    continue
                self._place(ax, pt.x, pt.y, str(name), 7.5 * k, centre, color="#222222",
                            zorder=8, must=not crowded)
        if p.townships is not None and len(p.townships) and "name" in p.townships:
            fr = shapely.box(self.extent[0], self.extent[2], self.extent[1], self.extent[3])
            for name, geom in zip(p.townships["name"], p.townships.geometry.values,
                                  strict=True):
                if geom is None or geom.is_empty or str(name) == str(p.area_name):
                    continue
                vis = geom.intersection(fr).difference(area)
                if vis.is_empty or vis.area < (20 * self.mpm) ** 2:
                    continue
                pt = shapely.point_on_surface(vis)
                self._place(ax, pt.x, pt.y, str(name), 9 * k, centre, color="#7a7a7a",
                            zorder=8)

    def cell_labels(self, ax):
        p, k = self.page, self.k
        tc = p.top_cells
        if tc is None or not len(tc):
            return
        order = np.argsort(-np.asarray(tc["score"], dtype=float), kind="stable")
        b = shapely.bounds(tc.geometry.values)
        cells = [tuple(r) for r in b]
        off = 0.4
        size = 6 * k
        for rank, i in enumerate(order):
            x0, y0, x1, y1 = b[i]
            cands = [
                ((x1 - x0) / self.mpm / 2 + off, 0, "left", "bottom"),
                (-(x1 - x0) / self.mpm / 2 - off, 0, "right", "bottom"),
                ((x1 - x0) / self.mpm / 2 + off, 0, "left", "top"),
                (-(x1 - x0) / self.mpm / 2 - off, 0, "right", "top"),
                (0, (y1 - y0) / self.mpm / 2 + off, "center", "bottom"),
                (0, -(y1 - y0) / self.mpm / 2 - off, "center", "top"),
            ]
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            # (cx + dx, cy) with dy = 0 and va bottom/top sits beside the cell's middle
            # the cells of the table are always labelled; the others where there is room
            self._place(ax, cx, cy, short_label(tc["id"].iloc[i]), size, cands,
                        avoid_cells=cells, color=CELL_EDGE, zorder=9,
                        must=rank < TABLE_MAX_ROWS)

