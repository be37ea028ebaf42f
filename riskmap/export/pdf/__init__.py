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

Modules: :mod:`~riskmap.export.pdf.layout` (paper, scales, km spacing, scale
bar, short labels), :mod:`~riskmap.export.pdf.draw` (geometry paths, patches,
text fitting), :mod:`~riskmap.export.pdf.frame` (the map frame),
:mod:`~riskmap.export.pdf.panel` (inset, legend, table) and
:mod:`~riskmap.export.pdf.sheet` (the page, :func:`write_pdf`, :func:`write_atlas`).
"""

from riskmap.export.pdf.layout import (
    PAPER_MM,
    TABLE_MAX_ROWS,
    km_spacing,
    nice_scale,
    scale_bar_length,
    short_label,
)
from riskmap.export.pdf.sheet import SheetPage, render_sheet, sheet_rc, write_atlas, write_pdf

__all__ = [
    "PAPER_MM",
    "TABLE_MAX_ROWS",
    "SheetPage",
    "km_spacing",
    "nice_scale",
    "render_sheet",
    "scale_bar_length",
    "sheet_rc",
    "short_label",
    "write_atlas",
    "write_pdf",
]
