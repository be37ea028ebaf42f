"""map.pdf: the printable township sheet (A3/A4, landscape/portrait, vector).

One page per area, laid out like a survey map sheet:

- header: title, build date, map scale and the red "内部资料 注意保密" mark;
- map frame at a round scale (1:N, true when printed at 100 %): the class
  surface (one image, class 0 transparent), everything else vector — the
  area outline bold, villages thin with their names, neighbouring areas
  greyed, mining-right outlines hatched, the top cells outlined in dark red and
  labelled with the last part of their id, a Gauss-Krüger kilometre grid
  labelled in km on all four sides, a scale bar in metres and a (grid) north
  arrow placed in the emptiest corners;
- side panel: an inset locating the area in the district, the legend with the
  class breaks, and the table of the top cells by score (序号, 网格编号, 村,
  评分, 等级) to match the ledger;
- footer: the data sources, the CRS and the meridian convergence.

Text is real text (TrueType/CID fonts embedded as Type 42 subsets), so
``pdftotext`` and a PDF reader's search find titles and cell ids. All text uses
one CJK font (:mod:`riskmap.export.fonts`); a page whose text the font cannot show
raises :class:`~riskmap.errors.ExportError` instead of printing tofu.
"""

from __future__ import annotations

import contextlib
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely

from riskmap import __version__
from riskmap.errors import ExportError
from riskmap.export.fonts import (
    check_covers,
    cjk_font_properties,
    embeddable_font,
    find_cjk_font,
    quiet_fonts,
)
from riskmap.grid import Grid
from riskmap.marks import CLASS_COLOURS, CLASS_NAMES, INTERNAL

#: Paper sizes in mm, (long side, short side).
PAPER_MM = {"A3": (420.0, 297.0), "A4": (297.0, 210.0)}
#: Most rows of the top-cell table.
TABLE_MAX_ROWS = 40
_SCALES = (1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.5, 8.0)
_CELL_EDGE = "#7f0000"
_RIGHTS = "#54278f"
_RED = "#c00000"
_MM = 1 / 25.4


@dataclass
class SheetPage:
    """Everything one printed sheet shows.

    Parameters
    ----------
    title : str
        E.g. ``"荫营镇 非法采矿巡查优先级图"``.
    build_date : str
        Build date (``YYYY-MM-DD``; a longer ISO time stamp is cut to the date).
    area_name : str
        Name of the township (or district).
    area : shapely geometry
        The area's polygon(s), working CRS (metres).
    district : shapely geometry
        The district polygon(s), for the inset.
    townships : geopandas.GeoDataFrame
        ``name`` and geometry of every township (inset; neighbours on the map).
    villages : geopandas.GeoDataFrame or None
        ``name`` and geometry of the villages, clipped to the area.
    rights : geopandas.GeoDataFrame or None
        Mining-right polygons.
    classes : numpy.ndarray of uint8
        Class 0–5 on ``grid`` (0 = outside the area).
    grid : Grid
        Grid of ``classes``, working CRS.
    thresholds : sequence of float
        Lower score bounds of classes 2–5.
    top_cells : geopandas.GeoDataFrame
        ``id``, ``class``, ``score``, ``village`` and the cell squares: the cells
        outlined and labelled on the map; the table lists the best by score.
    sources : str
        One line naming the data sources.
    crs_name : str
        E.g. ``"CGCS2000 / 3° GK CM 114E (EPSG:4547)"``.
    """

    title: str
    build_date: str
    area_name: str
    area: object
    district: object
    townships: object
    villages: object
    rights: object
    classes: np.ndarray
    grid: Grid
    thresholds: tuple
    top_cells: object
    sources: str
    crs_name: str


# --------------------------------------------------------------------------- public API
def render_sheet(fig_or_pdf=None, page: SheetPage | None = None, *, paper: str = "A3",
                 orientation: str = "landscape", font: str | Path | None = None):
    """Draw one sheet; onto a new figure, a given figure, or as a new page of a PDF.

    Parameters
    ----------
    fig_or_pdf : matplotlib.figure.Figure or matplotlib.backends.backend_pdf.PdfPages or None
        A ``PdfPages``: the sheet is drawn and saved into it as the next page.
        A ``Figure``: it is resized to the paper and drawn on (the caller saves
        it, within :func:`sheet_rc`). ``None``: a new figure is made. A
        caller-owned ``PdfPages`` must be opened and closed within
        :func:`sheet_rc` so that the fonts are embedded as Type 42.
    page : SheetPage
    paper : {"A3", "A4"}
    orientation : {"landscape", "portrait"}
    font : str or Path, optional
        CJK font file (default: :func:`riskmap.export.fonts.find_cjk_font`).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ExportError
        Unknown paper or orientation, no CJK font, or text the font cannot show.
    """
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure

    if page is None:
        raise TypeError("render_sheet() needs a SheetPage")
    paper_key = str(paper).upper()
    if paper_key not in PAPER_MM:
        raise ExportError(f"unknown paper {paper!r}; use one of {', '.join(PAPER_MM)}")
    if orientation not in ("landscape", "portrait"):
        raise ExportError(f"unknown orientation {orientation!r}; use landscape or portrait")
    font = Path(font) if font is not None else find_cjk_font()
    long_, short = PAPER_MM[paper_key]
    size = (long_, short) if orientation == "landscape" else (short, long_)

    pdf = fig_or_pdf if isinstance(fig_or_pdf, PdfPages) else None
    fig = fig_or_pdf if isinstance(fig_or_pdf, Figure) else Figure()
    with sheet_rc():
        fig.set_size_inches(size[0] * _MM, size[1] * _MM)
        _Sheet(fig, page, size, paper_key, Path(font)).draw()
        if pdf is not None:
            pdf.savefig(fig)
    return fig


def write_pdf(path, page: SheetPage, **opts) -> Path:
    """Write one sheet as a one-page PDF.

    Parameters
    ----------
    path : path-like
        Output file; written under a temporary name and moved into place.
    page : SheetPage
    **opts
        ``paper``, ``orientation``, ``font`` as in :func:`render_sheet`.

    Returns
    -------
    Path
    """
    return write_atlas(path, [page], **opts)


def write_atlas(path, pages: list[SheetPage], **opts) -> Path:
    """Write several sheets (e.g. every township) into one multi-page PDF.

    Parameters
    ----------
    path : path-like
        Output file; written under a temporary name and moved into place only
        when every page is drawn, so a failure leaves no partial file.
    pages : list of SheetPage
    **opts
        ``paper``, ``orientation``, ``font`` as in :func:`render_sheet`.

    Returns
    -------
    Path

    Raises
    ------
    ExportError
        No pages, no font, text the font cannot show, or the file cannot be written.
    """
    from matplotlib.backends.backend_pdf import PdfPages

    path = Path(path)
    if not pages:
        raise ExportError(f"{path}: no pages to write")
    if opts.get("font") is None:
        opts["font"] = find_cjk_font()
    first = pages[0]
    meta = {"Title": first.title if len(pages) == 1 else f"{first.title} 等 {len(pages)} 幅",
            "Subject": INTERNAL, "Creator": f"riskmap {__version__}",
            "Keywords": "riskmap; 非法采矿巡查优先级图"}
    tmp = path.with_name(path.name + ".part")
    try:
        # the fonts are embedded when the file is closed: keep the settings until then
        with sheet_rc(), PdfPages(tmp, metadata=meta) as pdf:
            for page in pages:
                render_sheet(pdf, page, **opts)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, ExportError):
            raise
        raise ExportError(f"cannot write {path}: {exc}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


# --------------------------------------------------------------------------- helpers
@contextlib.contextmanager
def sheet_rc():
    """Matplotlib settings of the sheets (Type 42 fonts, hatch width, …) and quiet font logs.

    Wrap the whole life of a caller-owned ``PdfPages`` in it: fonts are
    embedded when the file is closed, and outside these settings matplotlib
    would embed them as Type 3 (text that ``pdftotext`` cannot always read).
    """
    import matplotlib as mpl

    with quiet_fonts(), mpl.rc_context(_RC):
        yield


_RC = {
    "pdf.fonttype": 42,
    "pdf.compression": 6,
    "hatch.linewidth": 0.35,
    "axes.unicode_minus": False,
    "path.simplify": True,
    "savefig.dpi": 300,
    "figure.dpi": 72,
}


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


def _fmt_scale(n: int) -> str:
    return f"{n:,}".replace(",", " ")


def _geom_path(geom):
    """A matplotlib Path of the polygon parts of ``geom`` (holes included), or None."""
    from matplotlib.path import Path as MPath

    verts, codes = [], []
    for part in shapely.get_parts(shapely.force_2d(geom)):
        if part.geom_type == "Polygon":
            rings = [part.exterior, *part.interiors]
        elif part.geom_type == "MultiPolygon":
            rings = [r for p in part.geoms for r in (p.exterior, *p.interiors)]
        elif part.geom_type in ("LineString", "LinearRing"):
            xy = np.asarray(part.coords)
            if len(xy) >= 2:
                c = np.full(len(xy), MPath.LINETO, dtype=np.uint8)
                c[0] = MPath.MOVETO
                verts.append(xy)
                codes.append(c)
            continue
        elif part.geom_type == "GeometryCollection":
            sub = _geom_path(part)
            if sub is not None:
                verts.append(sub.vertices)
                codes.append(sub.codes)
            continue
        else:
            continue
        for ring in rings:
            xy = np.asarray(ring.coords)
            if len(xy) < 4:
                continue
            c = np.full(len(xy), MPath.LINETO, dtype=np.uint8)
            c[0], c[-1] = MPath.MOVETO, MPath.CLOSEPOLY
            verts.append(xy)
            codes.append(c)
    if not verts:
        return None
    return MPath(np.concatenate(verts), np.concatenate(codes))


def _patches(geoms, **kw):
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import PathPatch

    patches = []
    for g in geoms:
        if g is None or g.is_empty:
            continue
        p = _geom_path(g)
        if p is not None:
            patches.append(PathPatch(p))
    return PatchCollection(patches, match_original=False, **kw) if patches else None


def _class_rgba(classes: np.ndarray, alpha: float = 0.85) -> np.ndarray:
    lut = np.zeros((256, 4), dtype=np.uint8)
    for c, hexc in CLASS_COLOURS.items():
        lut[c] = [int(hexc[i:i + 2], 16) for i in (1, 3, 5)] + [round(255 * alpha)]
    return lut[np.asarray(classes, dtype=np.uint8)]


def _text_width_mm(s: str, prop, size: float) -> float:
    """Advance width of ``s`` at ``size`` pt in mm (no renderer needed)."""
    p = prop.copy()
    p.set_size(size)
    w, _, _ = _T2P.get_text_width_height_descent(s, p, ismath=False)
    return w / 72 * 25.4


class _LazyT2P:
    _obj = None

    def get_text_width_height_descent(self, s, prop, ismath):
        if self._obj is None:
            from matplotlib.textpath import TextToPath

            type(self)._obj = TextToPath()
        return self._obj.get_text_width_height_descent(s, prop, ismath)


_T2P = _LazyT2P()


def _fit(s: str, prop, size: float, max_mm: float, min_size: float) -> float:
    """Largest size ≤ ``size`` (down to ``min_size``) at which ``s`` fits ``max_mm``."""
    w = _text_width_mm(s, prop, size)
    if w <= max_mm:
        return size
    return max(min_size, size * max_mm / w * 0.98)


def _ellipsize(s: str, prop, size: float, max_mm: float) -> str:
    if _text_width_mm(s, prop, size) <= max_mm:
        return s
    while len(s) > 1 and _text_width_mm(s + "…", prop, size) > max_mm:
        s = s[:-1]
    return s + "…"


def _convergence(crs: str, x: float, y: float) -> float | None:
    """Meridian convergence (degrees) of the working CRS at ``x, y``, if pyproj knows it."""
    try:
        from pyproj import CRS, Proj, Transformer

        c = CRS.from_user_input(crs)
        lon, lat = Transformer.from_crs(c, c.geodetic_crs, always_xy=True).transform(x, y)
        return float(Proj(c).get_factors(lon, lat).meridian_convergence)
    except Exception:  # a nicety only: never fail a map for it
        return None


# --------------------------------------------------------------------------- the sheet
class _Sheet:
    """Lays out and draws one page (all positions in mm from the top-left corner)."""

    def __init__(self, fig, page: SheetPage, size, paper: str, font: Path):
        self.fig, self.page, self.font = fig, page, font
        self.W, self.H = size
        self.k = 1.0 if paper == "A3" else 0.8
        self.fp = cjk_font_properties(font)
        self.portrait = self.H > self.W
        self.obstacles: list[tuple[float, float, float, float]] = []

    # --- coordinates --------------------------------------------------------
    def rect(self, x, y, w, h):
        """Figure-fraction rect of a box given in mm from the top-left."""
        return [x / self.W, 1 - (y + h) / self.H, w / self.W, h / self.H]

    def text(self, x, y, s, size, **kw):
        """Figure text at (x, y) mm from the top-left."""
        kw.setdefault("fontproperties", self.fp)
        t = self.fig.text(x / self.W, 1 - y / self.H, s, **kw)
        t.set_fontsize(size)
        return t

    def line(self, x0, y0, x1, y1, lw, color="black"):
        from matplotlib.lines import Line2D

        self.fig.add_artist(Line2D([x0 / self.W, x1 / self.W], [1 - y0 / self.H, 1 - y1 / self.H],
                                   transform=self.fig.transFigure, lw=lw, color=color))

    def box(self, x, y, w, h, lw, color="black"):
        from matplotlib.patches import Rectangle

        self.fig.add_artist(Rectangle((x / self.W, 1 - (y + h) / self.H), w / self.W, h / self.H,
                                      transform=self.fig.transFigure, fill=False, lw=lw,
                                      ec=color))

    # --- page ---------------------------------------------------------------
    def draw(self):
        k, W, H = self.k, self.W, self.H
        m = 10.0 if k == 1 else 8.0
        self.box(m, m, W - 2 * m, H - 2 * m, 1.4)
        self.box(m + 1.2, m + 1.2, W - 2 * m - 2.4, H - 2 * m - 2.4, 0.4)
        x0, x1 = m + 4, W - m - 4
        y0, y1 = m + 3, H - m - 3
        hh, fh = 17 * k, 11 * k
        frame = self.layout(x0, x1, y0 + hh + 3 * k, y1 - fh - 2 * k)
        self.header(x0, x1, y0, hh)
        self.footer(x0, x1, y1 - fh, fh)
        self.check_text()
        return frame

    def layout(self, x0, x1, top, bottom):
        """Place map and panel; draw them."""
        k = self.k
        lab_l, lab_r, lab_t, lab_b = 6 * k, 6 * k, 5 * k, 5 * k
        if not self.portrait:
            pw = 108 * k
            mx0, mx1 = x0, x1 - pw - 5 * k
            self.map(mx0 + lab_l, top + lab_t, mx1 - mx0 - lab_l - lab_r,
                     bottom - top - lab_t - lab_b)
            px = x1 - pw
            th = 60 * k
            iw = pw * 0.5
            self.inset(px, top, iw - 2 * k, th)
            self.legend(px + iw + 1 * k, top, pw - iw - 1 * k, th)
            self.table(px, top + th + 4 * k, pw, bottom - top - th - 4 * k)
        else:
            body = bottom - top
            mh = body * 0.60
            self.map(x0 + lab_l, top + lab_t, x1 - x0 - lab_l - lab_r, mh - lab_t - lab_b)
            py = top + mh + 4 * k
            ph = bottom - py
            lw_ = 62 * k
            ih = ph * 0.5
            self.inset(x0, py, lw_, ih - 2 * k)
            self.legend(x0, py + ih, lw_, ph - ih)
            self.table(x0 + lw_ + 5 * k, py, x1 - x0 - lw_ - 5 * k, ph)

    def header(self, x0, x1, y, h):
        k, p = self.k, self.page
        mid = (x0 + x1) / 2
        title_size = _fit(p.title, self.fp, 20 * k, (x1 - x0) * 0.62, 10)
        self.text(mid, y + 7.5 * k, p.title, title_size, ha="center", va="center")
        sub = f"制图日期 {str(p.build_date)[:10]}    比例尺 1:{_fmt_scale(self.scale)}"
        self.text(mid, y + 14 * k, sub, 8.5 * k, ha="center", va="center", color="#333333")
        self.text(x1 - 1.5 * k, y + 6 * k, INTERNAL, 12 * k, ha="right", va="center",
                  color=_RED, bbox={"boxstyle": "square,pad=0.35", "fc": "white", "ec": _RED,
                                    "lw": 1.0})
        self.line(x0, y + h, x1, y + h, 0.5)

    def footer(self, x0, x1, y, h):
        k, p = self.k, self.page
        self.line(x0, y, x1, y, 0.5)
        right = f"riskmap {__version__}"
        rw = _text_width_mm(right, self.fp, 6.5 * k) + 4
        src = str(p.sources)
        self.text(x0, y + 3.6 * k, src, _fit(src, self.fp, 7 * k, x1 - x0 - rw, 4.5),
                  va="center")
        conv = ""
        if self.convergence is not None:
            conv = f"; 子午线收敛角 {self.convergence:.2f}°"
        crs = (f"坐标系 {p.crs_name}; 公里网 {self.km_step} km, 坐标单位 km; "
               f"比例尺 1:{_fmt_scale(self.scale)} (按原大打印); "
               f"指北针指向坐标北 (grid north){conv}")
        self.text(x0, y + 8 * k, crs, _fit(crs, self.fp, 7 * k, x1 - x0 - rw, 4.5),
                  va="center", color="#333333")
        self.text(x1, y + 8 * k, right, 6.5 * k, ha="right", va="center", color="#666666")

    # --- the map -------------------------------------------------------------
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
        self.convergence = _convergence(p.grid.crs, cx, cy)
        fr = shapely.box(ex[0], ex[2], ex[1], ex[3])

        # outside the area: light grey
        mask = _geom_path(fr.difference(area))
        if mask is not None:
            ax.add_patch(PathPatch(mask, fc="#ececec", ec="none", zorder=1))
        # class surface
        g = p.grid
        gx0, gy0, gx1, gy1 = g.bounds
        ax.imshow(_class_rgba(p.classes), extent=(gx0, gx1, gy0, gy1), origin="upper",
                  interpolation="none", zorder=2, resample=False)
        # townships (thin) and villages
        if p.townships is not None and len(p.townships):
            col = _patches(p.townships.geometry.values, fc="none", ec="#8c8c8c", lw=0.6 * k,
                           zorder=3)
            if col is not None:
                ax.add_collection(col)
        if p.villages is not None and len(p.villages):
            col = _patches(p.villages.geometry.values, fc="none", ec="#555555", lw=0.45 * k,
                           linestyle=(0, (4, 2)), zorder=3)
            if col is not None:
                ax.add_collection(col)
        # mining rights
        if p.rights is not None and len(p.rights):
            col = _patches(p.rights.geometry.values, fc="none", ec=_RIGHTS, lw=0.8 * k,
                           hatch="////", zorder=4)
            if col is not None:
                ax.add_collection(col)
        # km grid
        self.km_grid(ax, ex)
        # the area outline, bold
        ap = _geom_path(area)
        if ap is not None:
            ax.add_patch(PathPatch(ap, fc="none", ec="white", lw=3.2 * k, zorder=5))
            ax.add_patch(PathPatch(ap, fc="none", ec="black", lw=1.7 * k, zorder=5.1))
        # top cells
        tc = p.top_cells
        if tc is not None and len(tc):
            col = _patches(tc.geometry.values, fc="none", ec=_CELL_EDGE, lw=0.9 * k, zorder=6)
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
        ax.text(bx + length / 2, by - 1.0 * k * mpm, f"1:{_fmt_scale(self.scale)}", ha="center",
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

    def _halo(self, lw=2.2):
        from matplotlib import patheffects

        return [patheffects.withStroke(linewidth=lw * self.k, foreground="white")]

    def _place(self, ax, x, y, s, size, candidates, avoid_cells=(), must=True, **kw):
        """Put a label at the first candidate offset that hits no placed label.

        With ``must`` false the label is left out unless a candidate is free.
        """
        mpm = self.mpm
        w = (_text_width_mm(s, self.fp, size) + 0.6) * mpm
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
                       path_effects=self._halo(), clip_on=True, **kw)

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
                        avoid_cells=cells, color=_CELL_EDGE, zorder=9,
                        must=rank < TABLE_MAX_ROWS)

    # --- side panel ------------------------------------------------------------
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
            col = _patches(p.townships.geometry.values, fc="white", ec="#9a9a9a", lw=0.3)
            if col is not None:
                ax.add_collection(col)
        ap = _geom_path(p.area)
        if ap is not None:
            ax.add_patch(PathPatch(ap, fc=_RED, ec=_RED, lw=0.5, alpha=0.85, zorder=3))
        dp = _geom_path(dist)
        if dp is not None:
            ax.add_patch(PathPatch(dp, fc="none", ec="black", lw=0.8, zorder=4))
        ex = self.extent
        ax.add_patch(Rectangle((ex[0], ex[2]), ex[1] - ex[0], ex[3] - ex[2], fc="none",
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
        ax = self.fig.add_axes(self.rect(x, y, w, h))
        ax.set_xlim(0, w)
        ax.set_ylim(h, 0)
        ax.axis("off")
        size = 7 * k
        row = 4.3 * k
        ax.text(0, 2 * k, "图例", fontproperties=self.fp, fontsize=8.5 * k, va="center")
        ax.text(9 * k, 2 * k, "优先级 (巡查网格评分)", fontproperties=self.fp, fontsize=6.5 * k,
                va="center", color="#444444")
        sw, sh = 7 * k, 3 * k
        t = list(p.thresholds)
        yy = 5.5 * k
        for c in range(5, 0, -1):
            fc = CLASS_COLOURS[c]
            ax.add_patch(Rectangle((0, yy), sw, sh, fc=fc, ec="#555555", lw=0.3, alpha=0.85))
            rng = f"< {t[0]:.1f}" if c == 1 else f"≥ {t[c - 2]:.1f}"
            ax.text(sw + 2 * k, yy + sh / 2, f"{CLASS_NAMES[c]}  {rng}", fontproperties=self.fp,
                    fontsize=size, va="center")
            yy += row
        yy += 0.8 * k
        items = [
            ("line", {"color": "black", "lw": 1.7 * k}, f"{p.area_name}界"),
            ("line", {"color": "#8c8c8c", "lw": 0.6 * k}, "乡镇界"),
            ("line", {"color": "#555555", "lw": 0.45 * k, "ls": (0, (4, 2))}, "村界"),
            ("rights", {}, "采矿权范围"),
            ("cell", {}, "重点网格 (编号末段)"),
            ("line", {"color": "#3b3b3b", "lw": 0.3 * k, "alpha": 0.7}, "公里网"),
        ]
        for kind, style, label in items:
            if kind == "line":
                ax.plot([0, sw], [yy + sh / 2] * 2, **style)
            elif kind == "rights":
                ax.add_patch(Rectangle((0, yy), sw, sh, fc="none", ec=_RIGHTS, lw=0.8 * k,
                                       hatch="////"))
            else:
                ax.add_patch(Rectangle((sw / 2 - sh / 2, yy), sh, sh, fc="none", ec=_CELL_EDGE,
                                       lw=0.9 * k))
                ax.text(sw / 2 + sh / 2 + 0.3, yy + sh / 2, "37", fontproperties=self.fp,
                        fontsize=5 * k, va="center", color=_CELL_EDGE)
            label = _ellipsize(label, self.fp, size, w - sw - 3 * k)
            ax.text(sw + 2 * k, yy + sh / 2, label, fontproperties=self.fp, fontsize=size,
                    va="center")
            yy += row

    def table(self, x, y, w, h):
        from matplotlib.patches import Rectangle

        p, k = self.page, self.k
        ax = self.fig.add_axes(self.rect(x, y, w, h))
        ax.set_xlim(0, w)
        ax.set_ylim(h, 0)
        ax.axis("off")
        tc = p.top_cells
        n_all = 0 if tc is None else len(tc)
        ax.text(0, 2 * k, "重点巡查网格 (按评分)", fontproperties=self.fp, fontsize=8.5 * k,
                va="center")
        note = "图上标注为网格编号末段; 完整编号 = 公里格 (东 km-北 km) + 末段"
        ax.text(0, 6 * k, _ellipsize(note, self.fp, 6 * k, w), fontproperties=self.fp,
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
        heads = ["序号", "网格编号", "村", "评分", "等级"]
        ids = tc["id"].astype(str).to_numpy()
        vill = (tc["village"].fillna("").astype(str).to_numpy() if "village" in tc
                else np.full(n_all, "", dtype=object))
        score = np.asarray(tc["score"], dtype=float)
        cls = np.asarray(tc["class"], dtype=int)
        for b in range(blocks):
            rows = order[b * per:(b + 1) * per][: max(0, n_rows - b * per)]
            if not len(rows):
                break
            bx = b * bw
            xs = bx + np.concatenate([[0], np.cumsum(widths)[:-1]])
            ax.add_patch(Rectangle((bx, top), widths.sum(), rh, fc="#d9d9d9", ec="none"))
            for j, (xi, wi, hd) in enumerate(zip(xs, widths, heads, strict=True)):
                ha = "left" if j in (1, 2) else "right" if j == 3 else "center"
                tx = xi + 1 if ha == "left" else xi + wi - 1 if ha == "right" else xi + wi / 2
                ax.text(tx, top + rh / 2, hd, fontproperties=self.fp, fontsize=size, ha=ha,
                        va="center")
            for r, i in enumerate(rows):
                ry = top + (r + 1) * rh
                if r % 2:
                    ax.add_patch(Rectangle((bx, ry), widths.sum(), rh, fc="#f2f2f2", ec="none"))
                seq = b * per + r + 1
                cells = [str(seq), ids[i], _ellipsize(vill[i], self.fp, size, widths[2] - 1),
                         f"{score[i]:.1f}", str(cls[i])]
                for j, (xi, wi, s) in enumerate(zip(xs, widths, cells, strict=True)):
                    if j == 4:
                        ax.add_patch(Rectangle((xi + wi / 2 - 2.6 * k, ry + 0.6 * k), 2.2 * k,
                                               rh - 1.2 * k,
                                               fc=CLASS_COLOURS.get(int(cls[i]), "white"),
                                               ec="#555555", lw=0.3))
                        ax.text(xi + wi / 2 + 0.6 * k, ry + rh / 2, s, fontproperties=self.fp,
                                fontsize=size, ha="left", va="center")
                        continue
                    ha = "left" if j in (1, 2) else "center" if j == 0 else "right"
                    tx = xi + 1 if ha == "left" else xi + wi / 2 if ha == "center" else xi + wi - 1
                    ax.text(tx, ry + rh / 2, s, fontproperties=self.fp, fontsize=size, ha=ha,
                            va="center")
            end = top + (len(rows) + 1) * rh
            ax.plot([bx, bx + widths.sum()], [top, top], color="black", lw=0.6)
            ax.plot([bx, bx + widths.sum()], [top + rh, top + rh], color="black", lw=0.4)
            ax.plot([bx, bx + widths.sum()], [end, end], color="black", lw=0.6)
        if n_all > n_rows:
            last = top + (min(n_rows, per) + 1) * rh + 3 * k
            ax.text(0, last, f"另有 {n_all - n_rows} 个重点网格未列出, 见 risk.gpkg",
                    fontproperties=self.fp, fontsize=6 * k, va="center", color="#444444")

    # --- checks -----------------------------------------------------------------
    def check_text(self):
        """Refuse text the font cannot show; swap a CFF font for a TrueType subset."""
        from matplotlib.text import Text

        objs = self.fig.findobj(Text)
        text = "".join(t.get_text() for t in objs)
        check_covers(self.font, text, what=f"map.pdf of {self.page.area_name}")
        emb = embeddable_font(self.font, text)
        if emb != self.font:
            for t in objs:
                prop = t.get_fontproperties().copy()
                prop.set_file(str(emb))
                t.set_fontproperties(prop)
