"""The side panel of a plan page: the page index, the legend and the table keyed by the numbers."""

from __future__ import annotations

import numpy as np
import shapely

from riskmap.export.fieldfiles import RANDOM_COLOUR, ROUTE_COLOUR, START_COLOUR
from riskmap.export.pdf.draw import ellipsize_fast as ellipsize
from riskmap.export.pdf.draw import geom_path, patches
from riskmap.export.pdf.layout import CELL_EDGE, RED
from riskmap.export.pdf.reference import legend_items, legend_swatch
from riskmap.marks import CLASS_COLOURS, CLASS_NAMES

#: the table's columns: header, relative width, alignment
TABLE_COLUMNS = (("编号", 7, "center"), ("网格编号", 17, "left"), ("村", 13, "left"),
                 ("优先级", 14, "left"), ("主要原因", 33, "left"), ("责任人", 12, "left"),
                 ("已查", 7, "center"), ("结果", 17, "left"))
#: the column after 优先级 of a plan with a calibration's rank interval ("前 3–20 %"),
#: its width taken from 主要原因
RANK_COLUMN = ("排名区间", 12, "left")


def table_columns(interval: bool) -> tuple[tuple[str, int, str], ...]:
    """The table's columns: :data:`TABLE_COLUMNS`, with :data:`RANK_COLUMN` for ``interval``."""
    if not interval:
        return TABLE_COLUMNS
    i = [c[0] for c in TABLE_COLUMNS].index("优先级") + 1
    why = TABLE_COLUMNS[i]
    return (*TABLE_COLUMNS[:i], RANK_COLUMN, (why[0], why[1] - RANK_COLUMN[1], why[2]),
            *TABLE_COLUMNS[i + 1:])


class _PlanPanel:
    """The panel part of :class:`~riskmap.export.pdf.plansheet._PlanSheet` (mm from top-left).

    Expects ``fig``, ``k``, ``fp``, ``rect``, ``text``, ``tp``, ``areas``, ``specs``,
    ``index``, ``spec`` and ``lay`` from the sheet.
    """

    def index_map(self, x, y, w, h):
        """The township with every page's frame; this page's in red."""
        from matplotlib.patches import PathPatch, Rectangle

        k = self.k
        n = len(self.specs)
        self.text(x, y + 2 * k, f"图幅索引 (共 {max(n, 1)} 页, 本页红框)", 8 * k, va="center")
        ax = self.fig.add_axes(self.rect(x, y + 5 * k, w, h - 5 * k))
        ax.set_xticks([])
        ax.set_yticks([])
        for s in ax.spines.values():
            s.set_linewidth(0.5)
        parts = []
        town = self.areas.township
        if town is not None and not shapely.is_empty(town):
            town = shapely.force_2d(town)
            parts.append(town)
            vill = self.areas.villages
            if vill is not None and len(vill):
                col = patches(vill.geometry.values, fc="none", ec="#b0b0b0", lw=0.25)
                if col is not None:
                    ax.add_collection(col)
            tpth = geom_path(town)
            if tpth is not None:
                ax.add_patch(PathPatch(tpth, fc="#f7f7f7", ec="black", lw=0.7, zorder=2))
        xy = np.array([(c.x, c.y) for c in self.tp.cells], float).reshape(-1, 2)
        if len(xy):
            ax.scatter(xy[:, 0], xy[:, 1], s=1.2, c="#555555", linewidths=0, zorder=3)
        for j, sp in enumerate(self.specs):
            ex = sp.extent
            me = j == self.index
            ax.add_patch(Rectangle((ex[0], ex[2]), ex[1] - ex[0], ex[3] - ex[2],
                                   fc=RED if me else "none", alpha=0.25 if me else 1.0,
                                   ec=RED if me else "#555555", lw=0.8 if me else 0.4,
                                   ls="-" if me else (0, (2, 1.5)), zorder=4 + me))
            parts.append(shapely.box(ex[0], ex[2], ex[1], ex[3]))
        if not parts:
            return
        bx0, by0, bx1, by1 = shapely.union_all(parts).bounds
        aw, ah = w, h - 5 * k
        span = max((bx1 - bx0) / aw, (by1 - by0) / ah) * 1.06
        cx, cy = (bx0 + bx1) / 2, (by0 + by1) / 2
        ax.set_xlim(cx - aw * span / 2, cx + aw * span / 2)
        ax.set_ylim(cy - ah * span / 2, cy + ah * span / 2)

    def plan_legend(self, x, y, w, h):
        """Cell colours and edges, committee point, route, outlines, the numbers."""
        from matplotlib.patches import Rectangle

        k = self.k
        ax = self.fig.add_axes(self.rect(x, y, w, h))
        ax.set_xlim(0, w)
        ax.set_ylim(h, 0)
        ax.axis("off")
        size, row = 6.8 * k, 4.1 * k
        sw, sh = 5 * k, 3 * k
        ax.text(0, 2 * k, "图例", fontproperties=self.fp, fontsize=8 * k, va="center")
        items = [("fill", CLASS_COLOURS[c], f"{CLASS_NAMES[c]} (风险等级)")
                 for c in (5, 4, 3, 2, 1)]
        items += [("edge", CELL_EDGE, "重点网格"), ("edge", "#e6550d", "发现点周边"),
                  ("edge", RANDOM_COLOUR, "随机抽查"), ("edge", "#1b9e77", "探索 (久未巡查)"),
                  ("edge", "#7b3294", "指定 (分析员)"), ("edge", "#8a8a8a", "其他页的网格 (灰)"),
                  ("start", START_COLOUR, "村委会 (路线起终点)"),
                  ("route", ROUTE_COLOUR, "巡查路线 (直线)"), ("vill", "#555555", "村界"),
                  ("town", "black", "乡镇界"), ("num", "black", "12 编号 = 巡查顺序")]
        items += [(f"ref_{kind}", style, label)
                  for kind, style, label in legend_items(self.areas.reference, k)]
        half = (len(items) + 1) // 2
        colw = w / 2
        for i, (kind, colour, label) in enumerate(items):
            cx = 0 if i < half else colw
            yy = 5 * k + (i % half) * row
            if kind.startswith("ref_"):
                legend_swatch(ax, kind[4:], colour, cx, yy, sw, sh, k)
            elif kind == "fill":
                ax.add_patch(Rectangle((cx, yy), sw, sh, fc=colour, ec="#555555", lw=0.3))
            elif kind == "edge":
                ax.add_patch(Rectangle((cx + sw / 2 - sh / 2, yy), sh, sh, fc="white",
                                       ec=colour, lw=1.0 * k))
            elif kind == "start":
                ax.scatter([cx + sw / 2], [yy + sh / 2], marker="p",
                           s=(2.6 * k * 72 / 25.4) ** 2, c=colour, linewidths=0)
            elif kind == "num":
                ax.text(cx + sw / 2, yy + sh / 2, "12", fontproperties=self.fp, fontsize=size,
                        ha="center", va="center")
                label = label[3:]
            else:
                style = {"route": {"color": colour, "lw": 0.8 * k, "ls": (0, (5, 2))},
                         "vill": {"color": colour, "lw": 0.45 * k, "ls": (0, (4, 2))},
                         "town": {"color": colour, "lw": 1.7 * k}}[kind]
                ax.plot([cx, cx + sw], [yy + sh / 2] * 2, **style)
            text = ellipsize(label, self.fp, size, colw - sw - 2.5 * k)
            ax.text(cx + sw + 1.5 * k, yy + sh / 2, text, fontproperties=self.fp,
                    fontsize=size, va="center")

    def plan_table(self, x, y, w, h):
        """The page's cells by number: the columns of :data:`TABLE_COLUMNS`."""
        from matplotlib.patches import Rectangle

        k, lay = self.k, self.lay
        ax = self.fig.add_axes(self.rect(x, y, w, h))
        ax.set_xlim(0, w)
        ax.set_ylim(h, 0)
        ax.axis("off")
        size, rh, top = lay["table_pt"], lay["row_h"], lay["head"]
        cells = [] if self.spec is None else [self.tp.cells[i] for i in self.spec.cells]
        ax.text(0, 2 * k, "本页巡查网格 (按编号, 已查请打 √)", fontproperties=self.fp,
                fontsize=8.5 * k, va="center")
        villages = list(dict.fromkeys(c.village for c in cells))
        resp = {v.village: f"{v.responsible} {v.phone}".strip() for v in self.tp.villages}
        who = "; ".join(f"{v} {resp.get(v, '')}".strip() for v in villages)
        ax.text(0, 7.5 * k, ellipsize(f"村: {who}" if who else "", self.fp, 6.5 * k, w),
                fontproperties=self.fp, fontsize=6.5 * k, va="center", color="#333333")
        interval = bool(getattr(self.tp, "interval", False))
        columns = table_columns(interval)
        tick = [c[0] for c in columns].index("已查")
        rel = np.array([c[1] for c in columns], float)
        widths = rel / rel.sum() * w
        xs = np.concatenate([[0], np.cumsum(widths)[:-1]])
        ax.add_patch(Rectangle((0, top), w, rh, fc="#d9d9d9", ec="none"))
        for (head, _, ha), xi, wi in zip(columns, xs, widths, strict=True):
            ax.text(xi + (wi / 2 if ha == "center" else 0.8), top + rh / 2, head,
                    fontproperties=self.fp, fontsize=size, ha=ha, va="center")
        for r, c in enumerate(cells):
            ry = top + (r + 1) * rh
            if r % 2:
                ax.add_patch(Rectangle((0, ry), w, rh, fc="#f2f2f2", ec="none"))
            why = c.top_factors or "无明显风险因素"
            if c.override:  # the analyst's reason: why the cell is on the list
                why = f"{c.override}; {why}"
            values = [str(c.no), c.cell_id, c.village, c.priority,
                      *([c.rank.replace(" ", "")] if interval else []),  # 前3–20%: fits
                      why, c.responsible, "", ""]
            for j, ((_, _, ha), xi, wi, v) in enumerate(zip(columns, xs, widths, values,
                                                           strict=True)):
                if j == tick:  # the box to tick
                    b = rh * 0.62
                    ax.add_patch(Rectangle((xi + wi / 2 - b / 2, ry + (rh - b) / 2), b, b,
                                           fc="white", ec="black", lw=0.5))
                    continue
                if not v:
                    continue
                v = ellipsize(v, self.fp, size, wi - 1.2)
                ax.text(xi + (wi / 2 if ha == "center" else 0.8), ry + rh / 2, v,
                        fontproperties=self.fp, fontsize=size, ha=ha, va="center")
        end = top + (len(cells) + 1) * rh
        ys = top + rh * np.arange(2, len(cells) + 1)
        ax.hlines(ys, 0, w, colors="#bdbdbd", linewidth=0.3)
        ax.vlines(xs[1:], top, end, colors="#bdbdbd", linewidth=0.3)
        ax.plot([0, w], [top, top], color="black", lw=0.6)
        ax.plot([0, w], [top + rh, top + rh], color="black", lw=0.4)
        ax.plot([0, w], [end, end], color="black", lw=0.6)
        ax.text(0, end + 3 * k, "结果填: 未发现 / 发现疑似 / 发现非法采矿 / 已取缔; "
                "回填 ledger.xlsx 同编号行", fontproperties=self.fp, fontsize=6.2 * k,
                va="center", color="#444444")
        gone = "; ".join(f"{o.cell_id} {o.reason} ({o.date[:10]})"
                         for o in getattr(self.tp, "suppressed", []))
        if gone:  # the analyst's suppressions: not drawn, but said
            ax.text(0, end + 6.5 * k, ellipsize(f"本周取消 (分析员): {gone}", self.fp, 6.2 * k, w),
                    fontproperties=self.fp, fontsize=6.2 * k, va="center", color="#7b3294")
