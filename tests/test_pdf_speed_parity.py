"""The sheet's speed-ups draw the same sheet: font slices (outlines, metrics, pages)."""

import shutil
import string
import subprocess

import numpy as np
import pytest
from fontTools.pens.recordingPen import RecordingPen
from fontTools.ttLib import TTFont
from test_pdf import tiny_page

from riskmap.export import fontsubset
from riskmap.export.fonts import shipped_font
from riskmap.export.fontslice import cut_font
from riskmap.export.pdf import render_sheet, write_pdf
from riskmap.export.pdf.sheet import sheet_rc

TEXT = "荫营镇 非法采矿巡查优先级图 内部资料 注意保密 ≥ 52.3 (per township) 图例—°"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A cache of its own, seeded with the broad font (converting it again takes 13 s)."""
    font = shipped_font()
    broad = fontsubset.prepare_font(font)  # the user's cache: made once per install
    seeded = tmp_path / "cache" / "fonts"
    seeded.mkdir(parents=True)
    shutil.copy2(broad, seeded / broad.name)
    monkeypatch.setenv("RISKMAP_CACHE", str(tmp_path / "cache"))
    fontsubset._broad.cache_clear()
    yield font, seeded / broad.name
    fontsubset._broad.cache_clear()


def outlines(font: TTFont, ch: str):
    name = font.getBestCmap()[ord(ch)]
    pen = RecordingPen()
    font.getGlyphSet()[name].draw(pen)
    return pen.value, font["hmtx"][name]


def test_slice_keeps_the_outlines_and_metrics_of_its_characters(cache, tmp_path):
    _, broad = cache
    out = cut_font(broad, TEXT, tmp_path / "s.ttf")
    assert out == tmp_path / "s.ttf"
    whole, part = TTFont(broad), TTFont(out, checkChecksums=2)  # checksums right
    assert set(part.getBestCmap()) == {ord(c) for c in TEXT}
    assert part["maxp"].numGlyphs == len(set(TEXT)) + 1  # and .notdef
    for ch in set(TEXT):
        assert outlines(part, ch) == outlines(whole, ch), ch
    for tag in ("OS/2", "hhea", "head"):  # the line metrics text is aligned by
        for attr in ("unitsPerEm", "ascent", "descent", "sTypoAscender", "sTypoDescender"):
            if hasattr(whole[tag], attr):
                assert getattr(part[tag], attr) == getattr(whole[tag], attr)
    assert part.reader.tables.keys() <= whole.reader.tables.keys()
    assert out.stat().st_size < 40_000 < broad.stat().st_size


def test_exact_font_is_a_slice_kept_beside_the_broad_font(cache):
    font, broad = cache
    assert fontsubset.embeddable_font(font, TEXT) == broad
    sl = fontsubset.embeddable_font(font, TEXT, exact=True)
    assert sl != broad and sl.parent == broad.parent and "-slice-" in sl.name
    assert fontsubset.embeddable_font(font, TEXT, exact=True) == sl  # found, not cut again
    cmap = TTFont(sl).getBestCmap()
    assert {ord(c) for c in TEXT + string.digits + string.ascii_letters} <= set(cmap)
    assert len(cmap) < 200
    rare = "䶮村"  # beyond the broad font: its own small conversion, as before
    assert "-extra-" in fontsubset.embeddable_font(font, rare, exact=True).name


def test_cut_font_refuses_fonts_it_cannot_slice(tmp_path):
    import matplotlib

    dejavu = f"{matplotlib.get_data_path()}/fonts/ttf/DejaVuSans.ttf"
    assert cut_font(dejavu, "é", tmp_path / "a.ttf") is None  # a composite glyph
    assert cut_font(shipped_font(), "村", tmp_path / "b.ttf") is None  # a CFF collection
    assert not list(tmp_path.iterdir())


def poppler(*args) -> bytes:
    return subprocess.run([str(a) for a in args], check=True, capture_output=True).stdout


def test_one_page_pdf_with_a_slice_looks_and_reads_the_same(cache, tmp_path):
    from matplotlib.backends.backend_pdf import PdfPages

    font, _ = cache
    page = tiny_page()
    sliced = write_pdf(tmp_path / "slice.pdf", page, font=font)  # one page: a slice
    with sheet_rc(), PdfPages(tmp_path / "broad.pdf") as pdf:  # caller-owned: the broad font
        render_sheet(pdf, page, font=font)
    fonts = poppler("pdffonts", sliced).decode().splitlines()[2:]
    assert fonts and all("CID TrueType" in r and " yes yes yes " in r for r in fonts)
    for pdf in ("slice", "broad"):
        poppler("pdftoppm", "-r", 60, "-png", "-singlefile", tmp_path / f"{pdf}.pdf",
                tmp_path / pdf)
    from PIL import Image

    a, b = (np.asarray(Image.open(tmp_path / f"{p}.png")) for p in ("slice", "broad"))
    assert np.array_equal(a, b)
    # every word at the same place (the pages; the head holds the metadata)
    a, b = (poppler("pdftotext", "-bbox", p, "-").split(b"<page", 1)[1]
            for p in (sliced, tmp_path / "broad.pdf"))
    assert a == b and "荫营镇".encode() in a


def render(path, monkeypatch=None, font=None):
    """tiny_page as one-page PDF; with ``monkeypatch``, every text through draw_text."""
    from riskmap.export.pdf import textset

    if monkeypatch is not None:
        monkeypatch.setattr(textset, "write_texts", lambda *a, **k: None)
    write_pdf(path, tiny_page(), font=font or shipped_font())
    if monkeypatch is not None:
        monkeypatch.undo()
    return path


def test_text_sets_in_one_text_object_look_and_read_as_draw_text_writes_them(
        cache, tmp_path, monkeypatch):
    fast = render(tmp_path / "fast.pdf")
    slow = render(tmp_path / "slow.pdf", monkeypatch)
    for p in (fast, slow):
        poppler("pdftoppm", "-r", 60, "-png", "-singlefile", p, p.with_suffix(""))
    from PIL import Image

    a, b = (np.asarray(Image.open(p.with_suffix(".png"))) for p in (fast, slow))
    assert np.array_equal(a, b)
    words = [poppler("pdftotext", "-bbox", p, "-").split(b"<page", 1)[1] for p in (fast, slow)]
    assert words[0] == words[1]
    for cid in tiny_page().top_cells["id"]:
        assert cid.encode() in words[0]  # the table's ids: real text
    # far fewer text objects: the strings of a set share one
    n_fast, n_slow = (text_objects(p) for p in (fast, slow))
    assert 0 < n_fast < n_slow / 2


def text_objects(path) -> int:
    """How many BT operators the PDF's streams hold."""
    import re
    import zlib

    data = path.read_bytes()
    n = 0
    for m in re.finditer(rb"stream\r?\n", data):
        try:
            n += len(re.findall(rb"(?m)^BT\b", zlib.decompress(data[m.end():])))
        except zlib.error:
            continue
    return n


def test_strings_the_layout_could_change_are_left_to_draw_text(cache, tmp_path):
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure

    from riskmap.export.fonts import cjk_font_properties
    from riskmap.export.pdf import pdftext
    from riskmap.export.pdf.textset import text_set

    font, _ = cache
    texts = ["荫营镇 12.5", "soft\u00adhyphen", "西沟村"]
    sl = fontsubset.embeddable_font(font, "".join(texts), exact=True)
    prop = cjk_font_properties(sl)
    seen = []
    real = pdftext.write_texts

    def spy(*args):
        seen.append(real(*args))
        return seen[-1]

    fig = Figure(figsize=(4, 2))
    fig.add_artist(text_set([0.2, 0.5, 0.8], [0.5, 0.5, 0.5], texts, prop, size=8,
                            transform=fig.transFigure))
    import riskmap.export.pdf.textset as ts

    orig, ts.write_texts = ts.write_texts, spy
    try:
        with sheet_rc(), PdfPages(tmp_path / "t.pdf") as pdf:
            pdf.savefig(fig)
    finally:
        ts.write_texts = orig
    assert seen == [[1]]  # the soft hyphen (a format character): draw_text
    text = poppler("pdftotext", tmp_path / "t.pdf", "-").decode()
    assert "荫营镇 12.5" in text and "西沟村" in text and "soft" in text


def test_text_extents_are_the_renderers(cache, tmp_path):
    from matplotlib.backends.backend_pdf import PdfFile, RendererPdf

    from riskmap.export.fonts import cjk_font_properties
    from riskmap.export.pdf.pdftext import text_extents

    font, _ = cache
    texts = ["荫营镇", "461-4280-57", "≥ 70.0", "- ", " ", "gjy (per township)", "1:60 000"]
    prop = cjk_font_properties(fontsubset.embeddable_font(font, "".join(texts), exact=True))
    with sheet_rc():
        r = RendererPdf(PdfFile(tmp_path / "x.pdf"), 72, 100, 100)
        for size in (5.5, 6.8, 9.0):
            prop.set_size(size)
            got = text_extents(r, prop, texts)
            assert set(got) == set(texts)
            for s in texts:
                assert got[s] == tuple(r.get_text_width_height_descent(s, prop, False)), s


def test_class_image_and_cell_squares_as_before():
    from matplotlib.collections import PolyCollection

    from riskmap.export.pdf.draw import class_rgba, squares_path
    from riskmap.marks import CLASS_COLOURS

    classes = np.random.default_rng(1).integers(0, 6, (37, 53)).astype(np.uint8)
    lut = np.zeros((256, 4), np.uint8)
    for c, hexc in CLASS_COLOURS.items():
        lut[c] = [int(hexc[i:i + 2], 16) for i in (1, 3, 5)] + [round(255 * 0.6)]
    assert np.array_equal(class_rgba(classes, 0.6), lut[classes])
    b = np.array([[0, 0, 100, 100], [100, 0, 200, 100], [5, 7, 9, 11.5]], float)
    sq = np.stack([b[:, [0, 1]], b[:, [2, 1]], b[:, [2, 3]], b[:, [0, 3]]], axis=1)
    one = squares_path(b)
    each = PolyCollection(sq).get_paths()  # closed: 5 points, the last the first
    assert np.array_equal(one.vertices, np.concatenate([p.vertices for p in each]))
    assert np.array_equal(one.codes, np.concatenate([p.codes for p in each]))
    assert not one.should_simplify


def test_covers_is_told_by_the_broad_subset(cache):
    from riskmap.export.fonts import missing_chars

    font, _ = cache
    assert fontsubset.covers(font, TEXT) and not missing_chars(font, TEXT)
    assert not fontsubset.covers(font, "䶮村")  # beyond the broad set: ask the face
    import matplotlib

    dejavu = f"{matplotlib.get_data_path()}/fonts/ttf/DejaVuSans.ttf"
    assert not fontsubset.covers(dejavu, "abc")  # a TrueType face: ask the face
