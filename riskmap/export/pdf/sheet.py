"""The sheet page: SheetPage, render_sheet, write_pdf and write_atlas (one page per township)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from riskmap import __version__
from riskmap.errors import ExportError
from riskmap.export.atomic import atomic_file
from riskmap.export.fonts import check_covers, cjk_font_properties, find_cjk_font, quiet_fonts
from riskmap.export.fontsubset import covers, embeddable_font
from riskmap.export.pdf.draw import fit, text_width_mm
from riskmap.export.pdf.frame import _MapFrame
from riskmap.export.pdf.layout import MM, RED, fmt_scale, paper_size
from riskmap.export.pdf.panel import _SidePanel
from riskmap.export.pdf.textset import is_text_set, text_set
from riskmap.grid import Grid
from riskmap.marks import INTERNAL


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
    reference : riskmap.load.reference.Reference, optional
        Roads, rivers, settlements and the DOM, drawn under the class surface.
    overview : list of (str, int, int), optional
        The district's overview sheet: per township, its class-5 and class-4
        patrol cells, listed instead of the cells (the township sheets list them).
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
    reference: object = None
    overview: list | None = None


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
    return _render(fig_or_pdf, page, paper=paper, orientation=orientation, font=font)


def _render(fig_or_pdf, page, *, paper: str = "A3", orientation: str = "landscape",
            font=None, exact: bool = False):
    """:func:`render_sheet`; ``exact``: the page is the file's only one (its font a slice)."""
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure

    if page is None:
        raise TypeError("render_sheet() needs a SheetPage")
    paper_key, size = paper_size(paper, orientation)
    font = Path(font) if font is not None else find_cjk_font()

    pdf = fig_or_pdf if isinstance(fig_or_pdf, PdfPages) else None
    fig = fig_or_pdf if isinstance(fig_or_pdf, Figure) else Figure()
    with sheet_rc():
        fig.set_size_inches(size[0] * MM, size[1] * MM)
        sheet = _Sheet(fig, page, size, paper_key, Path(font))
        sheet.exact_font = exact
        sheet.draw()
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
        Output file (replaced if it exists); written under a temporary name
        (:func:`riskmap.export.atomic.atomic_file`) and moved into place only
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
    try:
        # the fonts are embedded when the file is closed: keep the settings until then
        with atomic_file(path, overwrite=True) as tmp, sheet_rc(), \
                PdfPages(tmp, metadata=meta) as pdf:
            for page in pages:  # one page: its font cut to its text (embedded in ms)
                _render(pdf, page, exact=len(pages) == 1, **opts)
    except ExportError:
        raise
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc}") from exc
    return path


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
    # matplotlib sizes its font subsets by ps.fonttype: 3 would embed every font
    # twice (ASCII and the rest), each a subsetting pass over the font file
    "ps.fonttype": 42,
    # zlib level 4 (the lightest of the thorough matchers): a sheet's ~1 MB of page
    # operators compress 3x faster than at 6 (~0.045 s a sheet) for ~5% more bytes
    "pdf.compression": 4,
    "hatch.linewidth": 0.35,
    "axes.unicode_minus": False,
    "path.simplify": True,
    "savefig.dpi": 300,
    "figure.dpi": 72,
}


class _Sheet(_MapFrame, _SidePanel):
    """Lays out and draws one page (all positions in mm from the top-left corner)."""

    def __init__(self, fig, page: SheetPage, size, paper: str, font: Path):
        self.fig, self.page, self.font = fig, page, font
        self.W, self.H = size
        self.k = 1.0 if paper == "A3" else 0.8
        self.fp = cjk_font_properties(font)
        self.portrait = self.H > self.W
        self.obstacles: list[tuple[float, float, float, float]] = []
        self.exact_font = False  # True: the figure is the file's only page (font: a slice)

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

    def texts_at(self, x, y, texts, size, **kw):
        """Many figure texts at (x, y) mm from the top-left, as one :mod:`.textset` artist."""
        if not len(texts):
            return None
        ts = text_set(np.asarray(x, float) / self.W, 1 - np.asarray(y, float) / self.H, texts,
                      self.fp, size=size, transform=self.fig.transFigure, **kw)
        self.fig.add_artist(ts)
        return ts

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
        title_size = fit(p.title, self.fp, 20 * k, (x1 - x0) * 0.62, 10)
        self.text(mid, y + 7.5 * k, p.title, title_size, ha="center", va="center")
        sub = f"制图日期 {str(p.build_date)[:10]}    比例尺 1:{fmt_scale(self.scale)}"
        self.text(mid, y + 14 * k, sub, 8.5 * k, ha="center", va="center", color="#333333")
        self.text(x1 - 1.5 * k, y + 6 * k, INTERNAL, 12 * k, ha="right", va="center",
                  color=RED, bbox={"boxstyle": "square,pad=0.35", "fc": "white", "ec": RED,
                                   "lw": 1.0})
        self.line(x0, y + h, x1, y + h, 0.5)

    def footer(self, x0, x1, y, h):
        k, p = self.k, self.page
        self.line(x0, y, x1, y, 0.5)
        right = f"riskmap {__version__}"
        rw = text_width_mm(right, self.fp, 6.5 * k) + 4
        src = str(p.sources)
        self.text(x0, y + 3.6 * k, src, fit(src, self.fp, 7 * k, x1 - x0 - rw, 4.5),
                  va="center")
        conv = ""
        if self.convergence is not None:
            conv = f"; 子午线收敛角 {self.convergence:.2f}°"
        crs = (f"坐标系 {p.crs_name}; 公里网 {self.km_step} km, 坐标单位 km; "
               f"比例尺 1:{fmt_scale(self.scale)} (按原大打印); "
               f"指北针指向坐标北 (grid north){conv}")
        self.text(x0, y + 8 * k, crs, fit(crs, self.fp, 7 * k, x1 - x0 - rw, 4.5),
                  va="center", color="#333333")
        self.text(x1, y + 8 * k, right, 6.5 * k, ha="right", va="center", color="#666666")

    # --- checks -----------------------------------------------------------------
    def check_text(self):
        """Refuse text the font cannot show; swap a CFF font for its TrueType copy."""
        objs = page_texts(self.fig)
        text = "".join(t.get_text() for t in objs)
        if not covers(self.font, text):  # the broad subset answers in ms; else the face
            check_covers(self.font, text, what=f"map.pdf of {self.page.area_name}")
        use_font(objs, self.font, embeddable_font(self.font, text, exact=self.exact_font))


def page_texts(fig) -> list:
    """Every text artist drawn on a figure: ``Text`` objects and :mod:`.textset` sets.

    The figure's and its axes' own texts and artists (the sheets draw no tick
    labels); ``findobj`` would find the same but makes every axis' ticks first.
    """
    from matplotlib.text import Text

    out = []
    for owner in [fig, *fig.axes]:
        for a in [*owner.texts, *owner.artists]:
            if isinstance(a, Text) or is_text_set(a):
                out.append(a)
    return out


def use_font(objs, font: Path, emb: Path) -> None:
    """Point every text of ``objs`` at ``emb`` (the embeddable copy of ``font``)."""
    if Path(emb) == Path(font):
        return
    for t in objs:
        prop = t.get_fontproperties().copy()
        prop.set_file(str(emb))
        t.set_fontproperties(prop)
