"""CFF fonts made embeddable: a per-page TrueType subset converted from CFF outlines.

matplotlib's PDF backend embeds every outline font as TrueType (Type 42); a
face with CFF outlines (Noto Sans CJK, Source Han Sans) would come out wrong in
Adobe Reader, so :func:`embeddable_font` hands the sheet a small converted
subset instead (cached per process, see :func:`_subset_dir`).
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import shutil
import string
import tempfile
from pathlib import Path

from riskmap.errors import ExportError
from riskmap.export.atomic import atomic_file
from riskmap.export.fonts import face_index


def is_cff(path: str | Path) -> bool:
    """Whether the chosen face has PostScript (CFF) outlines, as Noto/Source Han OTFs do.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    bool
    """
    return _is_cff(str(path), face_index(path))


@functools.lru_cache(maxsize=16)
def _is_cff(path: str, index: int) -> bool:
    from fontTools.ttLib import TTFont, TTLibError

    try:
        kw = {"fontNumber": index} if path.lower().endswith((".ttc", ".otc")) else {}
        font = TTFont(path, lazy=True, **kw)
        return "glyf" not in font and ("CFF " in font or "CFF2" in font)
    except (OSError, TTLibError, KeyError, AssertionError) as exc:
        raise ExportError(f"cannot read font {path}: {exc}; choose another `font:`") from exc


def embeddable_font(path: str | Path, text: str) -> Path:
    """A font file matplotlib can embed correctly in a PDF for ``text``.

    matplotlib's PDF backend embeds every outline font as TrueType (Type 42);
    a face with CFF outlines (Noto Sans CJK, Source Han Sans — including the
    shipped ``noto-cjk-sans-otc``) then yields a file that poppler reads but
    Adobe Reader and other viewers show wrongly (matplotlib issues #20870,
    #12636). For such a face this returns a small TrueType font holding just
    the glyphs of ``text`` (plus ASCII), converted from the CFF outlines
    (quadratic approximation, error ≤ 1 font unit); a TrueType face is
    returned as is.

    Parameters
    ----------
    path : str or Path
        Font file (the face of :func:`face_index` is used).
    text : str
        Everything that will be drawn with it.

    Returns
    -------
    Path
        ``path`` itself, or a converted subset in a temporary folder removed
        when the process exits (it must live until the PDF is closed).
    """
    if not is_cff(path):
        return Path(path)
    chars = "".join(sorted(set(text) | set(string.printable.strip()) | {" "}))
    index = face_index(path)
    key = hashlib.sha1(f"{Path(path).resolve()}|{index}|{chars}".encode()).hexdigest()[:16]
    out = _subset_dir() / f"riskmap-{key}.ttf"
    if not out.is_file():
        try:
            font = _truetype_subset(str(path), index, chars)
            # another drawing process may write the same subset: whole files only
            with atomic_file(out, overwrite=True) as tmp:
                font.save(str(tmp))
        except (OSError, KeyError, AssertionError, ValueError) as exc:
            raise ExportError(f"cannot prepare font {path} for the PDF: {exc}; give a TrueType "
                              f"CJK font (e.g. msyh.ttc, simhei.ttf, wqy-microhei.ttc) in "
                              f"`font:`") from exc
    return out


def _truetype_subset(path: str, index: int, chars: str):
    """Subset face ``index`` of ``path`` to ``chars`` and convert CFF outlines to glyf."""
    from fontTools import subset
    from fontTools.pens.cu2quPen import Cu2QuPen
    from fontTools.pens.ttGlyphPen import TTGlyphPen
    from fontTools.ttLib import newTable

    opts = subset.Options()
    if path.lower().endswith((".ttc", ".otc")):
        opts.font_number = index
    opts.glyph_names = True
    opts.name_IDs = ["*"]
    opts.name_languages = ["*"]
    opts.notdef_outline = True
    opts.recommended_glyphs = True
    font = subset.load_font(path, opts, lazy=True)
    sub = subset.Subsetter(opts)
    sub.populate(text=chars)
    sub.subset(font)
    order = font.getGlyphOrder()
    glyph_set = font.getGlyphSet()
    glyphs = {}
    for name in order:
        pen = TTGlyphPen(None)
        glyph_set[name].draw(Cu2QuPen(pen, max_err=1.0, reverse_direction=True))
        glyphs[name] = pen.glyph()
    glyf = newTable("glyf")
    glyf.glyphOrder = order
    glyf.glyphs = glyphs
    font["glyf"] = glyf
    font["loca"] = newTable("loca")
    for tag in ("CFF ", "CFF2", "VORG", "fvar", "gvar", "HVAR", "VVAR", "MVAR", "avar", "STAT"):
        if tag in font:
            del font[tag]
    maxp = font["maxp"]
    maxp.tableVersion = 0x00010000
    for attr in ("maxTwilightPoints", "maxStorage", "maxFunctionDefs", "maxInstructionDefs",
                 "maxStackElements", "maxSizeOfInstructions", "maxComponentElements",
                 "maxComponentDepth"):
        setattr(maxp, attr, 0)
    maxp.maxZones = 1
    font["head"].glyphDataFormat = 0
    post = font["post"]
    post.formatType = 2.0
    post.extraNames = []
    post.mapping = {}
    post.glyphOrder = order
    font.sfntVersion = "\0\1\0\0"
    font.recalcBBoxes = True
    return font


_SUBSET_DIR: list[Path] = []


def _subset_dir() -> Path:
    if not _SUBSET_DIR:
        d = Path(tempfile.mkdtemp(prefix="riskmap-fonts-"))
        atexit.register(shutil.rmtree, d, ignore_errors=True)
        _SUBSET_DIR.append(d)
    d = _SUBSET_DIR[0]
    d.mkdir(parents=True, exist_ok=True)
    return d
