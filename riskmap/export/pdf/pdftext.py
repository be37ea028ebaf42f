"""Many strings of one font written as one PDF text object: :class:`.textset.TextSet` on PDF.

matplotlib's PDF backend writes each string as its own graphics state, text
matrix and text object after laying it out with libraqm (about 0.25 ms a
string, 0.1 s for a sheet's 430 strings). For a font without shaping tables (no
GSUB, GPOS, kern or morx: the converted CJK font of
:mod:`riskmap.export.fontsubset`) the layout maps each character to its glyph
and advances it by its width rounded to 1/64 pt, which ``draw_text`` writes as
the glyph codes with the rounding as small kerns. :func:`write_texts` writes
the same glyph codes and kerns (the rounding known per glyph and size) for all
the strings in one ``BT … ET``, each placed by the matrix ``draw_text``
concatenates, and registers the glyphs with the backend's character tracker
(the embedded subset and its ToUnicode map): the page shows and reads the
same. It checks its kerns against the layout once per font and size; strings
whose characters the layout could treat otherwise (a missing glyph, combining
marks, format characters, right-to-left scripts) are left to ``draw_text``, and
so is everything where the backend's internals differ from matplotlib 3.11's.
"""

from __future__ import annotations

import functools
import math
import unicodedata
import weakref

__all__ = ["text_extents", "write_texts"]

#: Tables that make shaping more than one glyph per character at its advance.
_SHAPING = (b"GSUB", b"GPOS", b"kern", b"morx", b"mort", b"kerx")


def write_texts(renderer, gc, origins, texts, prop, angle: float) -> list[int] | None:
    """Write ``texts`` at ``origins`` (display units) in one PDF text object.

    Parameters
    ----------
    renderer : matplotlib renderer
        The PDF renderer (or the mixed-mode renderer around it).
    gc : GraphicsContextBase
        Colour and clip of the strings.
    origins : sequence of (float, float)
        Baseline origins, display units (as for ``draw_text``).
    texts : sequence of str
    prop : matplotlib.font_manager.FontProperties
    angle : float
        Degrees, counter-clockwise.

    Returns
    -------
    list of int or None
        Positions of the strings not written (for ``draw_text``); None where
        nothing was (not the PDF backend, another font type, a font with
        shaping tables, or backend internals this does not know).
    """
    r = _pdf_renderer(renderer)
    if r is None:
        return None
    from matplotlib.backends.backend_pdf import Op
    from matplotlib.font_manager import FontPath

    font = r._get_font_ttf(prop)
    size = prop.get_size_in_points()
    if not _plain(font.fname, font.face_index):
        return None
    try:
        runs, rest = _runs(_tracked(r.file), font, size, texts)
    except (AttributeError, TypeError):  # internals other than 3.11's: draw_text
        return None
    if runs is None:
        return None
    if runs:
        from matplotlib.backends.backend_pdf import pdfRepr

        r.check_gc(gc, gc._rgb)
        a = math.radians(angle)
        m = b" ".join(map(_num, (math.cos(a), math.sin(a), -math.sin(a), math.cos(a))))
        name = pdfRepr(r.file.fontName(FontPath(font.fname, font.face_index), 0))
        # the operators written here, not value by value through file.output (the
        # same numbers: pdfRepr's format), one line a string
        lines = [b"%s %s %s %s\n" % (pdfRepr(Op.begin_text), name, _num(size),
                                      pdfRepr(Op.selectfont))]
        tm, tj = pdfRepr(Op.textmatrix), pdfRepr(Op.showkern)
        for i, parts in runs:
            x, y = origins[i]
            ops = b" ".join(pdfRepr(v) if isinstance(v, bytes) else _num(v) for v in parts)
            lines.append(b"%s %s %s %s [ %s ] %s\n" % (m, _num(x), _num(y), tm, ops, tj))
        lines.append(pdfRepr(Op.end_text) + b"\n")
        r.file.write(b"".join(lines))
    return rest


def _num(v: float) -> bytes:
    """A number as the PDF backend writes it (``pdfRepr``: 10 decimals, trailing zeros off)."""
    v = float(v)
    if not math.isfinite(v):
        raise ValueError("Can only output finite numbers in PDF")
    return (b"%.10f" % v).rstrip(b"0").rstrip(b".")


def _tracked(file):
    """``track_glyph`` of the file's character tracker, asked once per font, character and glyph."""
    tracker = file._character_tracker
    seen = _TRACKED.get(file)
    if seen is None or seen[0] is not tracker:
        seen = _TRACKED[file] = (tracker, {})
    known = seen[1]

    def track(font, ch: str, gid: int):
        key = (font.fname, font.face_index, ch, gid)
        got = known.get(key)
        if got is None:
            got = known[key] = tracker.track_glyph(font, ch, gid)
        return got

    return track


def _runs(track, font, size: float, texts):
    """The TJ operands of each string it can write, and the positions of the others."""
    cmap = _cmap_of(font)
    kern = _kerns(font, size)
    rest, runs = [], []
    for i, s in enumerate(texts):
        gids = [cmap(ch) for ch in s]
        if not s or not all(gids) or not all(map(_simple, s)):
            rest.append(i)
            continue
        if not _agrees(font, size, s, gids, kern):
            return None, None
        parts, codes = [], []
        for k, (ch, g) in enumerate(zip(s, gids, strict=True)):
            subset, code = track(font, ch, g)
            if subset:  # an alternate glyph of a character: draw_text's chunks
                break
            dx = kern(gids[k - 1]) if k else 0.0
            if dx:  # as draw_text writes the layout's rounding of the advances
                parts += [_encode(codes), -1000 * dx / size]
                codes = []
            codes.append(code)
        else:
            parts.append(_encode(codes))
            runs.append((i, [p for p in parts if p != b""]))
            continue
        rest.append(i)
    return runs, rest


def _encode(codes) -> bytes:
    return b"".join(c.to_bytes(2, "big") for c in codes)


def _kerns(font, size: float):
    """Glyph id → the shift after it that the layout gives (its advance rounded to 1/64 pt).

    The layout (FreeType through libraqm) places each glyph at the sum of the
    previous advances rounded to 1/64 pt; ``draw_text`` writes the difference
    from the exact advance (which the viewer takes from the font's widths) as a
    kern.
    """
    glyph = _metrics(font, size)
    return lambda gid: glyph(gid)[1]


def _metrics(font, size: float):
    """Glyph id → (advance in 1/64 pt, :func:`_kerns`' shift, bottom, top in 1/64 pt).

    As FreeType loads the glyph unhinted at the font's size; remembered per font
    file and size.
    """
    from matplotlib.ft2font import LoadFlags

    got = _metric_cache(font.fname, font.face_index, float(size))

    def glyph(gid: int):
        v = got.get(gid)
        if v is None:
            g = font.load_glyph(gid, flags=LoadFlags.NO_HINTING)
            v = got[gid] = (g.horiAdvance, g.horiAdvance / 64 - g.linearHoriAdvance / 65536,
                            g.bbox[1], g.bbox[3])
        return v

    return glyph


@functools.lru_cache(maxsize=64)
def _metric_cache(fname: str, index: int, size: float) -> dict[int, tuple]:
    return {}


def text_extents(renderer, prop, texts) -> dict[str, tuple[float, float, float]]:
    """Width, height and descent of strings as the PDF renderer measures them.

    ``get_text_width_height_descent`` lays each string out again (0.2 ms); for
    a font :func:`write_texts` writes, the layout's box is the sum of the glyphs'
    advances and the union of their heights (each rounded to 1/64 pt), made here
    from per-glyph metrics. Checked against the renderer once per font and size.

    Parameters
    ----------
    renderer : matplotlib renderer
    prop : matplotlib.font_manager.FontProperties
    texts : iterable of str

    Returns
    -------
    dict
        ``(width, height, descent)`` in points of the strings it could measure
        (none off the PDF backend); the caller asks the renderer for the others.
    """
    r = _pdf_renderer(renderer)
    if r is None:
        return {}
    font = r._get_font_ttf(prop)
    if not _plain(font.fname, font.face_index):
        return {}
    size = prop.get_size_in_points()
    out = {}
    try:
        cmap, glyph = _cmap_of(font), _metrics(font, size)
        for s in texts:
            gids = [cmap(ch) for ch in s]
            if not s or not all(gids) or not all(map(_simple, s)):
                continue
            m = [glyph(g) for g in gids]
            low, high = min(v[2] for v in m), max(v[3] for v in m)
            ext = (sum(v[0] for v in m) / 64, (high - low) / 64, -low / 64)
            if not _measures(r, font, prop, s, ext):
                return {}
            out[s] = ext
    except (AttributeError, TypeError, IndexError):  # other internals: the renderer's
        return {}
    return out


def _measures(r, font, prop, s: str, ext) -> bool:
    """Whether the renderer measures ``s`` as ``ext`` (asked once per font file and size)."""
    key = ("extent", font.fname, font.face_index, float(prop.get_size_in_points()))
    known = _AGREES.get(key)
    if known is None:
        known = tuple(r.get_text_width_height_descent(s, prop, False)) == ext
        if len(_AGREES) > 256:
            _AGREES.clear()
        _AGREES[key] = known
    return known


def _agrees(font, size: float, s: str, gids: list[int], kern) -> bool:
    """Whether the layout of ``s`` is the glyphs and shifts :func:`write_texts` writes.

    Checked on the first string of two or more characters per font file and size
    (the whole set goes to ``draw_text`` where it is not).
    """
    key = (font.fname, font.face_index, float(size))
    known = _AGREES.get(key)
    if known is not None or len(s) < 2:
        return known is not False
    from matplotlib.ft2font import LoadFlags

    items = list(font._layout(s, LoadFlags.NO_HINTING))
    ok = (len(items) == len(s)
          and [it.glyph_index for it in items] == gids
          and all(it.ft_object is items[0].ft_object for it in items)
          and all(it.y == 0 for it in items)
          and [it.prev_kern for it in items] == [0.0] + [kern(g) for g in gids[:-1]])
    if len(_AGREES) > 256:  # one key per sheet's font slice and size
        _AGREES.clear()
    _AGREES[key] = ok
    return ok


_AGREES: dict[tuple, bool] = {}
_TRACKED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # PdfFile -> glyphs seen


def _pdf_renderer(renderer):
    """The RendererPdf that matplotlib 3.11's internals drive, else None."""
    import matplotlib as mpl

    r = getattr(renderer, "_renderer", renderer)
    try:
        from matplotlib.backends.backend_pdf import Op, RendererPdf
        from matplotlib.font_manager import FontPath  # noqa: F401  (3.11)
    except ImportError:
        return None
    if (not isinstance(r, RendererPdf) or mpl.rcParams["pdf.fonttype"] != 42
            or mpl.rcParams["pdf.use14corefonts"]
            or not all(hasattr(Op, n) for n in ("begin_text", "textmatrix", "showkern"))):
        return None
    tracker = getattr(getattr(r, "file", None), "_character_tracker", None)
    if not callable(getattr(tracker, "track_glyph", None)):
        return None
    if not all(callable(getattr(r, n, None)) for n in ("_get_font_ttf", "check_gc")):
        return None
    return r


@functools.lru_cache(maxsize=32)
def _plain(fname: str, index: int) -> bool:
    """Whether a font file is one TrueType face without shaping tables."""
    import struct

    try:
        with open(fname, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or index or struct.unpack(">I", head[:4])[0] != 0x00010000:
                return False
            n = struct.unpack(">H", head[4:6])[0]
            tags = {f.read(16)[:4] for _ in range(n)}
    except (OSError, TypeError, struct.error):
        return False
    return not tags & set(_SHAPING)


def _cmap_of(font):
    """Character → glyph id of an FT2Font (0 where missing), remembered per font file."""
    got = _glyph_ids(font.fname, font.face_index)

    def look(ch: str) -> int:
        g = got.get(ch)
        if g is None:
            g = got[ch] = font.get_char_index(ord(ch))
        return g

    return look


@functools.lru_cache(maxsize=16)
def _glyph_ids(fname: str, index: int) -> dict[str, int]:
    return {}


@functools.lru_cache(maxsize=4096)
def _simple(ch: str) -> bool:
    """A character shaping maps to its own glyph at its own advance."""
    cat = unicodedata.category(ch)
    return (cat[0] in "LNPS" or cat == "Zs") and unicodedata.bidirectional(ch) not in (
        "R", "AL", "AN", "RLE", "RLO", "RLI")
