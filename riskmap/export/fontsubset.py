r"""CFF fonts made embeddable: a TrueType font converted from CFF outlines, once per install.

matplotlib's PDF backend embeds every outline font as TrueType (Type 42); a
face with CFF outlines (Noto Sans CJK, Source Han Sans) would come out wrong in
Adobe Reader, so :func:`embeddable_font` hands the sheet a converted TrueType
font instead. Converting is slow (about 13 s for the broad set below), so it is
done once per font file and kept on disk: :func:`prepare_font` writes a broad
subset (every GB2312 character, ASCII, Latin-1 and the punctuation riskmap
prints: :data:`BROAD_CHARS`) keyed by the font file's path, size and time, and
every sheet whose text it covers uses it (matplotlib then embeds only the
glyphs the page uses). A sheet with a character outside it gets a small subset
of its own characters, kept beside it (rare: a village name in a rare
character). A TrueType face (msyh.ttc, simhei.ttf) is used as it is.

matplotlib subsets the font into each PDF when the file is closed, and for the
broad font that alone takes 0.05–0.15 s (fontTools decodes the tables of all its
glyphs). A PDF whose whole text is known before it is saved (one sheet) asks
for ``exact=True`` and gets a *slice* instead: just its characters (and ASCII),
cut from the broad font in a few milliseconds (:mod:`.fontslice`) and kept
beside it, so that the same sheet next week finds it made.

Where the converted fonts are kept (:func:`cache_dir`)
--------------------------------------------------------
1. ``RISKMAP_CACHE`` (environment variable), if set;
2. Windows: ``%LOCALAPPDATA%\riskmap``; elsewhere ``$XDG_CACHE_HOME/riskmap``,
   else ``~/.cache/riskmap``;

each with a ``fonts`` sub-folder. Where that cannot be written, a temporary
folder of this process is used (removed when it exits; drawing workers forked
after :func:`prepare_font` share it).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import hashlib
import logging
import os
import shutil
import string
import tempfile
import unicodedata
from pathlib import Path

from riskmap.errors import ExportError
from riskmap.export.atomic import atomic_file
from riskmap.export.fonts import face_index
from riskmap.export.fontslice import cut_font, has_chars
from riskmap.load.cachedir import cache_dir

__all__ = ["BROAD_CHARS", "cache_dir", "covers", "embeddable_font", "is_cff", "prepare_font"]

log = logging.getLogger(__name__)

#: Bumped when the conversion changes: the cached fonts of older versions are not reused.
FORMAT = 2
#: Punctuation and signs riskmap prints beyond GB2312 (en dash, superscripts, arrows, …).
_EXTRA = "–‘’“”′″‰€≈≠≤≥±×÷²³°µ·•→←↑↓√…—‐‑‒\u00a0\u2009\u202f"
#: Most cached extra subsets kept per font (the oldest go first).
_MAX_EXTRAS = 64
#: Most cached slices kept per font (about 40 kB each; one per sheet's set of characters).
_MAX_SLICES = 256
#: Tables left out of the converted font. matplotlib embeds a subset of the font in
#: every PDF, and fontTools' subsetting of the layout tables of a 7,500-glyph CJK face
#: costs ~0.3 s per PDF and font; a map's texts (Chinese, digits, Latin names) need no
#: shaping beyond the cmap, and the vertical metrics serve vertical text only.
_DROP = ("GSUB", "GPOS", "GDEF", "BASE", "JSTF", "vhea", "vmtx", "VORG")


def _broad_chars() -> frozenset[str]:
    chars = set(string.printable.strip()) | {" "} | set(_EXTRA)
    chars |= {chr(c) for c in range(0xA1, 0x100)}  # Latin-1 (names of foreign sources)
    for hi in range(0xA1, 0xF8):  # every two-byte GB2312 code
        for lo in range(0xA1, 0xFF):
            try:
                chars.add(bytes((hi, lo)).decode("gb2312"))
            except UnicodeDecodeError:
                continue
    return frozenset(chars)


#: The characters of the broad subset kept per font (what nearly every sheet prints).
BROAD_CHARS: frozenset[str] = _broad_chars()


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


def prepare_font(path: str | Path) -> Path | None:
    """Make the broad TrueType subset of a CFF face, once per font file (then read from disk).

    Call it before drawing processes fork, so that they all find it made. The
    first call for a font file takes about 13 s (7,500 characters converted);
    later calls, in any process, only look it up.

    Parameters
    ----------
    path : str or Path
        Font file (the face of :func:`~riskmap.export.fonts.face_index`).

    Returns
    -------
    Path or None
        The subset (in :func:`cache_dir`), or None for a TrueType face, which
        needs none.

    Raises
    ------
    ExportError
        The font cannot be read or converted.
    """
    if not is_cff(path):
        return None
    return _broad(*_identity(path), _dir())


def embeddable_font(path: str | Path, text: str, *, exact: bool = False) -> Path:
    """A font file matplotlib can embed correctly in a PDF for ``text``.

    matplotlib's PDF backend embeds every outline font as TrueType (Type 42);
    a face with CFF outlines (Noto Sans CJK, Source Han Sans — including the
    shipped ``noto-cjk-sans-otc``) then yields a file that poppler reads but
    Adobe Reader and other viewers show wrongly (matplotlib issues #20870,
    #12636). For such a face this returns a TrueType font converted from the
    CFF outlines (quadratic approximation, error ≤ 1 font unit): the broad
    subset of :func:`prepare_font` when it holds every character of ``text``,
    else a subset of just ``text``'s characters (plus ASCII). Both are kept in
    :func:`cache_dir`. A TrueType face is returned as is.

    Parameters
    ----------
    path : str or Path
        Font file (the face of :func:`~riskmap.export.fonts.face_index` is used).
    text : str
        Everything that will be drawn with it.
    exact : bool
        ``text`` is all that the PDF will show: rather than the broad subset,
        return a slice of it with only ``text``'s characters and ASCII (the same
        outlines and metrics), which matplotlib embeds in milliseconds instead of
        0.05–0.15 s. Kept in :func:`cache_dir` too (the newest
        :data:`_MAX_SLICES`); the broad subset where a slice cannot be made.

    Returns
    -------
    Path
        ``path`` itself, or a converted font (which must stay until the PDF is closed).

    Raises
    ------
    ExportError
        The font cannot be read or converted.
    """
    if not is_cff(path):
        return Path(path)
    ident = _identity(path)
    need = _need(text)
    if need <= BROAD_CHARS:
        broad = _broad(*ident, _dir())
        return _slice(broad, need) if exact else broad
    chars = "".join(sorted(need | set(string.printable.strip()) | {" "}))
    key = _key(*ident, chars)
    out = _dir() / f"{_stem(*ident)}-extra-{key}.ttf"
    if not _usable(out):
        log.info("converting %d characters of %s to TrueType (outside the cached set)",
                 len(chars), Path(ident[0]).name)
        out = _write(ident[0], ident[4], chars, out)
        _prune(out.parent, f"{_stem(*ident)}-extra-", keep=_MAX_EXTRAS)
    return out


def covers(path: str | Path, text: str) -> bool:
    """Whether a CFF face surely has every character of ``text``, told by its broad subset.

    The broad subset's characters are the face's (those of :data:`BROAD_CHARS`
    it has), so its raw cmap answers in milliseconds where reading the face's
    own (:func:`riskmap.export.fonts.check_covers`) takes 0.2 s once per process
    for a CJK collection. False says nothing: check the face itself.

    Parameters
    ----------
    path : str or Path
        Font file.
    text : str
        Whitespace and control characters are not counted (as ``check_covers``).

    Returns
    -------
    bool
    """
    if not is_cff(path):
        return False
    need = _need(text)
    if not need <= BROAD_CHARS:
        return False
    return bool(has_chars(_broad(*_identity(path), _dir()), need))


def _need(text: str) -> set[str]:
    """The characters of ``text`` that need a glyph (as ``fonts.missing_chars`` counts)."""
    return {c for c in text if not c.isspace() and unicodedata.category(c) not in ("Cc", "Cf")}


# --- the cached files --------------------------------------------------------------
def _identity(path) -> tuple[str, int, int, int, int]:
    """(real path, size, mtime ns, format, face): what a cached conversion is keyed by."""
    real = os.path.realpath(str(path))
    try:
        st = os.stat(real)
    except OSError as exc:
        raise ExportError(f"cannot read font {path}: {exc}; choose another `font:`") from exc
    return real, st.st_size, st.st_mtime_ns, FORMAT, face_index(path)


def _key(*parts) -> str:
    return hashlib.sha1("|".join(map(str, parts)).encode()).hexdigest()[:16]


def _stem(real: str, size: int, mtime: int, fmt: int, index: int) -> str:
    """File-name prefix of one font file's face: the same for every version of that file."""
    name = "".join(c if c.isalnum() or c in "-_" else "_" for c in Path(real).stem)[:40]
    return f"{name}-{index}-{_key(real, index)[:8]}"


@functools.lru_cache(maxsize=16)
def _broad(real: str, size: int, mtime: int, fmt: int, index: int, folder: Path) -> Path:
    """The broad subset of one version of one font file in ``folder``: read, or made."""
    stem = _stem(real, size, mtime, fmt, index)
    out = folder / f"{stem}-broad-{_key(real, size, mtime, fmt, index)}.ttf"
    if _usable(out):
        return out
    log.info("converting %s to TrueType once (%d characters; kept in %s)", Path(real).name,
             len(BROAD_CHARS), out.parent)
    out = _write(real, index, "".join(sorted(BROAD_CHARS)), out)
    _prune(out.parent, f"{stem}-broad-", keep=1)  # older versions of the same file
    return out


def _slice(broad: Path, need: set[str]) -> Path:
    """The slice of ``broad`` with ``need`` and ASCII: found, or cut (else ``broad``)."""
    chars = "".join(sorted(need | set(string.printable.strip()) | {" "}))
    out = broad.parent / f"{broad.stem.split('-broad-')[0]}-slice-{_key(broad.name, chars)}.ttf"
    if out.is_file():
        with contextlib.suppress(OSError):  # in use: the newest, the last to be pruned
            os.utime(out)
        return out
    try:
        made = cut_font(broad, chars, out)
    except OSError as exc:  # a read-only cache: the broad font serves (slower to embed)
        log.debug("cannot keep a font slice in %s: %s", out.parent, exc)
        return broad
    if made is None:
        return broad
    _prune(out.parent, f"{out.name.split('-slice-')[0]}-slice-", keep=_MAX_SLICES)
    return made


def _usable(path: Path) -> bool:
    """Whether a cached conversion is there and reads as a TrueType font."""
    if not path.is_file():
        return False
    from fontTools.ttLib import TTFont, TTLibError

    try:
        font = TTFont(str(path), lazy=True)
        return "glyf" in font and font["maxp"].numGlyphs > 1
    except (OSError, TTLibError, KeyError, AssertionError, ValueError):
        return False


def _write(real: str, index: int, chars: str, out: Path) -> Path:
    """Convert ``chars`` of the face and write them to ``out`` whole; returns where they went.

    Where the cache folder cannot be written, the file goes to this process's
    temporary folder instead (and so do the later ones).
    """
    try:
        font = _truetype_subset(real, index, chars)
    except (OSError, KeyError, AssertionError, ValueError) as exc:
        raise ExportError(f"cannot prepare font {real} for the PDF: {exc}; give a TrueType "
                          f"CJK font (e.g. msyh.ttc, simhei.ttf, wqy-microhei.ttc) in "
                          f"`font:`") from exc
    for dest in (out, _temp_dir() / out.name):
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            # another build may write the same file at the same time: whole files only
            with atomic_file(dest, overwrite=True) as tmp:
                font.save(str(tmp))
            return dest
        except OSError as exc:
            if dest.parent == _temp_dir():
                raise ExportError(f"cannot write a font subset to {dest.parent}: {exc}") from exc
            log.warning("cannot write to the font cache %s (%s); using a temporary folder; "
                        "set RISKMAP_CACHE to a writable folder to keep it", out.parent, exc)
            _FALLBACK[:] = [True]
    raise AssertionError("unreachable")  # pragma: no cover


def _prune(folder: Path, prefix: str, keep: int) -> None:
    """Remove all but the newest ``keep`` files named ``prefix*`` (best effort)."""
    try:
        files = sorted((p for p in folder.iterdir() if p.name.startswith(prefix)
                        and p.suffix == ".ttf"), key=lambda p: p.stat().st_mtime, reverse=True)
        for p in files[keep:]:
            p.unlink(missing_ok=True)
    except OSError:
        pass


_FALLBACK: list[bool] = []  # the cache folder could not be written: temp folder from now on
_TEMP: list[Path] = []


def _dir() -> Path:
    """The folder converted fonts go to: the cache, or this process's temp folder."""
    return _temp_dir() if _FALLBACK else cache_dir() / "fonts"


def _temp_dir() -> Path:
    if not _TEMP:
        d = Path(tempfile.mkdtemp(prefix="riskmap-fonts-"))
        atexit.register(shutil.rmtree, d, ignore_errors=True)
        _TEMP.append(d)
    _TEMP[0].mkdir(parents=True, exist_ok=True)
    return _TEMP[0]


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
    opts.layout_features = []
    opts.drop_tables += list(_DROP)
    quiet = logging.getLogger("fontTools")
    level = quiet.level
    quiet.setLevel(max(level, logging.WARNING))  # fontTools logs every table at INFO
    try:
        font = subset.load_font(path, opts, lazy=True)
        sub = subset.Subsetter(opts)
        sub.populate(text=chars)
        sub.subset(font)
    finally:
        quiet.setLevel(level)
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
