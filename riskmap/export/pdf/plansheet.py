"""plan.pdf: the week's plan on paper, a township's cells numbered in visiting order.

Every page shows only this week's cells, at 1:25 000 or larger (pages and scales:
:mod:`riskmap.export.pdf.planpages`): each cell drawn in its class colour with
an edge by why it was chosen, labelled with its visit number (written beside the
cell, with a leader line where crowded, or inside it at large scales; numbers never
collide: :mod:`riskmap.export.pdf.labels`), the route of each village from its
committee point and back, village boundaries and names, the township outline,
a kilometre grid, scale bar and north arrow. The side panel holds an index of
the pages over the township, the legend, and the table keyed by the numbers:
编号, 网格编号, 村, 优先级, 主要原因, 责任人, a box to tick (已查) and a column for the
result. The numbers are those of the ledger's 序号 and of the KMZ, GPX and 奥维
placemarks. Drawn with matplotlib like the township sheet
(:mod:`riskmap.export.pdf.sheet`, whose page frame, header and footer it reuses).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import shapely

from riskmap import __version__
from riskmap.errors import ExportError
from riskmap.export.atomic import atomic_file
from riskmap.export.fieldfiles import RANDOM_COLOUR, ROUTE_COLOUR, START_COLOUR
from riskmap.export.fonts import check_covers, cjk_font_properties, find_cjk_font
from riskmap.export.fontsubset import embeddable_font
from riskmap.export.pdf.draw import geom_path, patches, text_width_mm, widths_mm
from riskmap.export.pdf.labels import boxes_at, place, shift_offsets
from riskmap.export.pdf.layout import CELL_EDGE, MM, convergence, paper_size
from riskmap.export.pdf.planpages import CellSet, PageSpec, plan_pages
from riskmap.export.pdf.planpanel import _PlanPanel
from riskmap.export.pdf.reference import draw_reference, named_points
from riskmap.export.pdf.sheet import _Sheet, page_texts, sheet_rc, use_font
from riskmap.marks import CLASS_COLOURS, INTERNAL

if TYPE_CHECKING:
    from riskmap.field.plan import TownshipPlan

__all__ = ["ADDED_COLOUR", "EXPLORE_COLOUR", "NEAR_COLOUR", "PlanAreas", "PlanSheetInfo",
           "label_metrics", "plan_layout",
           "plan_sheet_pages", "write_plan_pdf"]

log = logging.getLogger(__name__)

#: edge of the cells chosen near a recent find (重点 cells: CELL_EDGE, random: RANDOM_COLOUR)
NEAR_COLOUR = "#e6550d"
#: edge of the exploration picks (long unvisited) and of the analyst's added cells
EXPLORE_COLOUR = "#1b9e77"
ADDED_COLOUR = "#7b3294"
#: grey of the cells (and numbers) that belong to another page
OTHER_GREY = "#8a8a8a"


@dataclass
class PlanAreas:
    """The outlines a plan sheet draws under the cells (working CRS).

    Attributes
    ----------
    township : shapely geometry, optional
        The township's polygon(s).
    villages : geopandas.GeoDataFrame, optional
        ``name`` and geometry of the villages (others' too: they are clipped).
    reference : riskmap.load.reference.Reference, optional
        Roads, rivers, settlements and the DOM, drawn under the cells.
    """

    township: object = None
    villages: object = None
    reference: object = None


@dataclass
class PlanSheetInfo:
    """What :func:`write_plan_pdf` wrote."""

    path: Path
    pages: int
    scales: list[int]
    seconds: float
    unplaced: int = 0  # planned cells whose number found no free place (0 is the rule)


@dataclass
class _Page:
    """What the sheet's header and footer read (as :class:`~riskmap.export.pdf.SheetPage`)."""

    title: str
    build_date: str
    area_name: str
    sources: str
    crs_name: str


def plan_layout(paper: str = "A4") -> dict:
    """Boxes (x, y, w, h in mm from the page's top-left) of a plan page's parts.

    The page frame, header and footer are the township sheet's
    (:class:`~riskmap.export.pdf.sheet._Sheet`); the map takes the left, the
    panel (index, legend, table) the right.

    Returns
    -------
    dict
        ``size`` (w, h), ``k``, ``map``, ``inset``, ``legend``, ``table``, ``rows``
        (table rows that fit), ``row_h`` and ``table_pt``.
    """
    key, (W, H) = paper_size(paper, "landscape")
    k = 1.0 if key == "A3" else 0.8
    m = 10.0 if k == 1 else 8.0  # as _Sheet.draw
    x0, x1 = m + 4, W - m - 4
    top, bottom = m + 3 + 17 * k + 3 * k, H - m - 3 - 11 * k - 2 * k
    pw = 160 * k
    lab = 6 * k  # km labels around the map
    mx1 = x1 - pw - 5 * k
    map_box = (x0 + lab, top + 5 * k, mx1 - x0 - 2 * lab, bottom - top - 10 * k)
    px = x1 - pw
    ih = 55 * k
    inset = (px, top, pw * 0.42, ih)
    legend = (px + pw * 0.42 + 3 * k, top, pw * 0.58 - 3 * k, ih)
    table = (px, top + ih + 3 * k, pw, bottom - top - ih - 3 * k)
    row_h, head = 4.4 * k, 13 * k
    rows = int((table[3] - head - row_h) // row_h)
    return {"size": (W, H), "k": k, "map": map_box, "inset": inset, "legend": legend,
            "table": table, "rows": rows, "row_h": row_h, "head": head, "table_pt": 8 * k,
            "number_pt": 9.0 if k < 1 else 10.0}


def label_metrics(fp, size: float) -> tuple[float, float, float]:
    """(width of one digit, box height, descent) in mm of numbers at ``size`` pt.

    The box is the text's metric box as PDF readers report it: the font's
    ascent to its descent (``pdftotext -bbox``), the glyphs standing on the
    baseline ``descent`` above its bottom.
    """
    from matplotlib.font_manager import findfont, get_font

    font = get_font(findfont(fp))
    em = size * 25.4 / 72
    asc, desc = font.ascender / font.units_per_EM, -font.descender / font.units_per_EM
    digit = text_width_mm("0000000000", fp, size) / 10
    return digit, (asc + desc) * em, desc * em


def _cellset(tp: TownshipPlan, fp, size: float) -> CellSet:
    cells = tp.cells
    names = [v.village for v in tp.villages]
    digit, h, _ = label_metrics(fp, size)
    nd = np.array([len(str(c.no)) for c in cells], dtype=float)
    return CellSet(np.array([c.x for c in cells], float), np.array([c.y for c in cells], float),
                   np.array([names.index(c.village) for c in cells], int),
                   np.array([v.start for v in tp.villages], float).reshape(-1, 2),
                   float(tp.cell_size), nd * digit, np.full(len(cells), h))


def plan_sheet_pages(tp: TownshipPlan, *, paper: str = "A4", font=None) -> list[PageSpec]:
    """The pages of a township's plan sheet (cells, scale, extent, placed numbers).

    Parameters
    ----------
    tp : TownshipPlan
    paper : {"A4", "A3"}
    font : path, optional
        CJK font (default :func:`~riskmap.export.fonts.find_cjk_font`).

    Returns
    -------
    list of PageSpec
    """
    lay = plan_layout(paper)
    fp = cjk_font_properties(Path(font) if font else find_cjk_font())
    cs = _cellset(tp, fp, lay["number_pt"])
    return plan_pages(cs, map_mm=lay["map"][2:], rows=lay["rows"], k=lay["k"])


def write_plan_pdf(tp: TownshipPlan, path, *, areas: PlanAreas | None = None,
                   paper: str = "A4", font=None, overwrite: bool = False) -> PlanSheetInfo:
    """Write ``plan.pdf`` of one township: as many landscape pages as its cells need.

    Parameters
    ----------
    tp : TownshipPlan
    path : path-like
        Written atomically (:func:`riskmap.export.atomic.atomic_file`).
    areas : PlanAreas, optional
        Township and village outlines (and reference layers) to draw.
    paper : {"A4", "A3"}
    font : path, optional
        CJK font (default :func:`~riskmap.export.fonts.find_cjk_font`).
    overwrite : bool
        Replace an existing file.

    Returns
    -------
    PlanSheetInfo

    Raises
    ------
    ExportError
        An existing file without ``overwrite``, no CJK font, text the font
        cannot show, or the file cannot be written.
    """
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure

    t0 = time.perf_counter()
    path = Path(path)
    font = Path(font) if font else find_cjk_font()
    areas = areas or PlanAreas()
    specs = plan_sheet_pages(tp, paper=paper, font=font)
    lay = plan_layout(paper)
    meta = {"Title": f"{tp.township} {tp.week} 巡查计划图", "Subject": INTERNAL,
            "Creator": f"riskmap {__version__}", "Keywords": f"riskmap; 巡查计划; {tp.week}"}
    try:
        with atomic_file(path, overwrite) as tmp, sheet_rc(), \
                PdfPages(tmp, metadata=meta) as pdf:
            sheets = []
            for i, spec in enumerate(specs or [None]):
                fig = Figure()
                fig.set_size_inches(lay["size"][0] * MM, lay["size"][1] * MM)
                sheets.append(_PlanSheet(fig, tp, areas, specs, i, spec, paper, font, lay))
                sheets[-1].draw()
            # one font subset for the whole file (a CFF face: see export.fontsubset)
            texts = [t for s in sheets for t in s.texts]
            emb = embeddable_font(font, "".join(t.get_text() for t in texts))
            for s in sheets:
                use_font(s.texts, font, emb)
                pdf.savefig(s.fig)
    except ExportError:
        raise
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc}") from exc
    unplaced = sum(int((~s.labels.placed[:len(s.cells)]).sum()) for s in specs)
    if unplaced:
        log.warning("%s: %d cell numbers found no free place on plan.pdf", tp.township, unplaced)
    return PlanSheetInfo(path, max(1, len(specs)), [s.scale for s in specs],
                         time.perf_counter() - t0, unplaced)


class _PlanSheet(_Sheet, _PlanPanel):
    """One plan page: the sheet's frame, header and footer; a plan map and panel."""

    def __init__(self, fig, tp, areas: PlanAreas, specs, i: int, spec, paper, font, lay):
        w = tp.week
        n = max(1, len(specs))
        title = (f"{tp.township} 巡查计划图 {w} ({w.monday:%m-%d} 至 {w.sunday:%m-%d})"
                 + (f" 第 {i + 1}/{n} 页" if n > 1 else ""))
        sources = ("编号 = 巡查顺序 (全乡镇连续), 与 ledger.xlsx 序号、patrol.kmz / patrol.gpx / "
                   "patrol_ovital.txt 名称一致; 选点规则见 ledger.xlsx 汇总页; 路线为直线, "
                   "含返回村委会")
        page = _Page(title, tp.build_date, tp.township, sources, str(tp.crs))
        super().__init__(fig, page, lay["size"], "A3" if lay["k"] == 1 else "A4", Path(font))
        self.tp, self.areas, self.specs, self.index, self.spec, self.lay = (
            tp, areas, specs, i, spec, lay)
        self.cs = _cellset(tp, self.fp, lay["number_pt"])

    def layout(self, x0, x1, top, bottom):
        """Map on the left, index / legend / table on the right (:func:`plan_layout`)."""
        lay = self.lay
        self.plan_map(*lay["map"])
        self.index_map(*lay["inset"])
        self.plan_legend(*lay["legend"])
        self.plan_table(*lay["table"])

    def check_text(self):
        """Refuse text the font cannot show (the font is swapped once for all pages)."""
        # text sets too (findobj sees only Text): else they embed the CFF face as it is
        self.texts = page_texts(self.fig)
        check_covers(self.font, "".join(t.get_text() for t in self.texts),
                     what=f"plan.pdf of {self.tp.township}")

    # --- the map ----------------------------------------------------------------
    def plan_map(self, x, y, w, h):
        from matplotlib.patches import PathPatch

        k, spec = self.k, self.spec
        ax = self.fig.add_axes(self.rect(x, y, w, h))
        self.ax, self.map_box = ax, (x, y, w, h)
        if spec is None:  # nothing planned: an empty frame that says so
            self.scale, self.mpm, self.km_step, self.convergence = 25000, 25.0, 1, None
            ax.set_axis_off()
            ax.text(0.5, 0.5, "本周无巡查网格 (no cells planned this week)", ha="center",
                    va="center", transform=ax.transAxes, fontproperties=self.fp,
                    fontsize=12 * k)
            return
        ex = spec.extent
        self.scale, self.mpm, self.extent = spec.scale, spec.mpm, ex
        ax.set_xlim(ex[0], ex[1])
        ax.set_ylim(ex[2], ex[3])
        ax.set_aspect("auto")
        self.convergence = convergence(self.tp.crs, (ex[0] + ex[1]) / 2, (ex[2] + ex[3]) / 2)
        fr = shapely.box(ex[0], ex[2], ex[1], ex[3])
        town = self.areas.township
        if town is not None and not shapely.is_empty(town):
            town = shapely.force_2d(town)
            mask = geom_path(fr.difference(town))
            if mask is not None:
                ax.add_patch(PathPatch(mask, fc="#ececec", ec="none", zorder=1))
        draw_reference(ax, self.areas.reference, ex, (w, h), self.tp.crs, k, zorder=2,
                       dom_zorder=0.5)
        vill = self.areas.villages
        if vill is not None and len(vill):
            col = patches(vill.geometry.values, fc="none", ec="#555555", lw=0.45 * k,
                          linestyle=(0, (4, 2)), zorder=3)
            if col is not None:
                ax.add_collection(col)
        self.km_grid(ax, ex)
        if town is not None and not shapely.is_empty(town):
            tp_ = geom_path(town)
            if tp_ is not None:
                ax.add_patch(PathPatch(tp_, fc="none", ec="white", lw=3.2 * k, zorder=4.6))
                ax.add_patch(PathPatch(tp_, fc="none", ec="black", lw=1.7 * k, zorder=4.7))
        self.routes(ax)
        self.cells(ax)
        self.numbers(ax)
        self.village_names(ax)
        furn = spec.furniture
        self.scale_bar(ax, furn["scale_bar"], furn["bar_m"])
        self.north_arrow(ax, furn["north_arrow"])
        for s in ax.spines.values():
            s.set_linewidth(0.9)
            s.set_zorder(20)

    def routes(self, ax):
        """Each village's tour: committee point, its cells in order, back (straight lines)."""
        from matplotlib.collections import LineCollection

        k, cs = self.k, self.cs
        lines = []
        for vi in range(len(self.tp.villages)):
            pts = np.vstack([cs.starts[vi], np.c_[cs.x, cs.y][cs.village == vi], cs.starts[vi]])
            lines.append(pts)
        ax.add_collection(LineCollection(lines, colors=ROUTE_COLOUR, linewidths=0.8 * k,
                                         linestyles=(0, (5, 2)), alpha=0.85, zorder=5))
        ax.scatter(cs.starts[:, 0], cs.starts[:, 1], marker="p", s=(3.4 * k * 72 / 25.4) ** 2,
                   c=START_COLOUR, edgecolors="white", linewidths=0.6, zorder=7)

    def cells(self, ax):
        """The shown cells: class colour, edge by reason; other pages' cells greyed."""
        from matplotlib.collections import PolyCollection
        from matplotlib.colors import to_rgba_array

        k, cs, spec = self.k, self.cs, self.spec
        cells = self.tp.cells
        sh = spec.shown
        own = np.arange(len(sh)) < len(spec.cells)
        hh = cs.cell_m / 2
        x, y = cs.x[sh], cs.y[sh]
        verts = np.stack([np.c_[x - hh, y - hh], np.c_[x + hh, y - hh], np.c_[x + hh, y + hh],
                          np.c_[x - hh, y + hh]], axis=1)
        edge = {"重点": CELL_EDGE, "发现点周边": NEAR_COLOUR, "随机抽查": RANDOM_COLOUR,
                "探索": EXPLORE_COLOUR, "指定": ADDED_COLOUR}
        fc = [CLASS_COLOURS.get(cells[i].cls, "#ffffff") for i in sh]
        ec = [edge.get(cells[i].reason, CELL_EDGE) if o else OTHER_GREY
              for i, o in zip(sh, own, strict=True)]
        face = to_rgba_array(fc)
        face[:, 3] = np.where(own, 0.9, 0.35)
        ax.add_collection(PolyCollection(verts, facecolors=face, edgecolors=ec,
                                         linewidths=1.0 * k, zorder=6))

    def numbers(self, ax):
        """Visit numbers at their placed boxes; leader lines where they stand off."""
        from matplotlib.collections import LineCollection

        k, cs, spec = self.k, self.cs, self.spec
        mpm, ex = spec.mpm, spec.extent
        _, _, desc = label_metrics(self.fp, self.lay["number_pt"])
        sh = spec.shown
        ok = spec.labels.placed
        b = spec.labels.boxes
        # leader: from the cell edge to the box's nearest point
        px, py = (cs.x[sh] - ex[0]) / mpm, (cs.y[sh] - ex[2]) / mpm
        half = cs.cell_m / 2 / mpm
        lead = spec.leader & ok
        if lead.any():
            tx = np.clip(px[lead], b[lead, 0], b[lead, 2])
            ty = np.clip(py[lead], b[lead, 1], b[lead, 3])
            sx = np.clip(tx, px[lead] - half, px[lead] + half)
            sy = np.clip(ty, py[lead] - half, py[lead] + half)
            segs = np.stack([np.c_[ex[0] + sx * mpm, ex[2] + sy * mpm],
                             np.c_[ex[0] + tx * mpm, ex[2] + ty * mpm]], axis=1)
            ax.add_collection(LineCollection(segs, colors="#333333", linewidths=0.45 * k,
                                             zorder=8))
        own = np.arange(len(sh)) < len(spec.cells)
        size = self.lay["number_pt"]
        cells = self.tp.cells
        for j in np.flatnonzero(ok):  # one Text per planned cell on the page
            cx = ex[0] + (b[j, 0] + b[j, 2]) / 2 * mpm
            base = ex[2] + (b[j, 1] + desc) * mpm
            _halo_text(ax, cx, base, str(cells[sh[j]].no), k, lw=2.0, fontproperties=self.fp,
                       fontsize=size, zorder=9, color="black" if own[j] else "#666666")
        self.number_boxes = b[ok]

    def village_names(self, ax):
        """Village names where they collide with nothing (else left out)."""
        vill = self.areas.villages
        spec, k = self.spec, self.k
        ex, mpm = spec.extent, spec.mpm
        names, pts = np.zeros(0, dtype=object), np.zeros(0, dtype=object)
        if vill is not None and len(vill) and "name" in vill:
            fr = shapely.box(ex[0], ex[2], ex[1], ex[3])
            vis = shapely.intersection(shapely.force_2d(vill.geometry.values), fr)
            keep = ~shapely.is_empty(vis) & (shapely.area(vis) > (15 * mpm) ** 2)
            names = vill["name"].astype(str).to_numpy(dtype=object)[keep]
            pts = shapely.point_on_surface(vis[keep])
        spts, snames = named_points(self.areas.reference, ex)  # settlements, after villages
        names = np.concatenate([names, np.array(snames, dtype=object)])
        pts = np.concatenate([pts, spts])
        self.name_boxes = np.zeros((0, 4))
        if not len(names):
            return
        px = (shapely.get_x(pts) - ex[0]) / mpm
        py = (shapely.get_y(pts) - ex[2]) / mpm
        size = 7.5 * k
        _, hbox, desc = label_metrics(self.fp, size)
        w = np.array(widths_mm(names, self.fp, size))
        h = np.full(len(names), hbox)
        cand = boxes_at(px, py, shift_offsets(w, h), w, h)
        cs, half = self.cs, self.cs.cell_m / 2 / mpm
        sx, sy = (cs.x[spec.shown] - ex[0]) / mpm, (cs.y[spec.shown] - ex[2]) / mpm
        furn = np.array([spec.furniture["scale_bar"], spec.furniture["north_arrow"]])
        fb = np.c_[(furn[:, 0] - ex[0]) / mpm, (furn[:, 1] - ex[2]) / mpm,
                   (furn[:, 2] - ex[0]) / mpm, (furn[:, 3] - ex[2]) / mpm]
        stx, sty = (cs.starts[:, 0] - ex[0]) / mpm, (cs.starts[:, 1] - ex[2]) / mpm
        r = 1.6 * k
        obstacles = np.vstack([np.c_[sx - half, sy - half, sx + half, sy + half],
                               self.number_boxes, fb,
                               np.c_[stx - r, sty - r, stx + r, sty + r]])
        mw, mh = self.lay["map"][2:]
        got = place(cand, obstacles=obstacles, frame=(0.5, 0.5, mw - 0.5, mh - 0.5))
        for j in np.flatnonzero(got.placed):
            bj = got.boxes[j]
            _halo_text(ax, ex[0] + (bj[0] + bj[2]) / 2 * mpm, ex[2] + (bj[1] + desc) * mpm,
                       names[j], k, fontproperties=self.fp, fontsize=size, color="#222222",
                       zorder=8.5)
        self.name_boxes = got.boxes[got.placed]


def _halo_text(ax, x, y, s: str, k: float, lw: float = 2.2, **kw):
    """Text on a white halo that stays real text (searchable; ``pdftotext`` finds it).

    A path effect turns a text into outlines; so the halo is a second, white
    copy drawn as a stroked path under the plain text.
    """
    from matplotlib import patheffects

    under = {**kw, "color": "white", "zorder": kw.get("zorder", 9) - 0.01}
    ax.text(x, y, s, ha="center", va="baseline",
            path_effects=[patheffects.Stroke(linewidth=lw * k, foreground="white")], **under)
    return ax.text(x, y, s, ha="center", va="baseline", **kw)
