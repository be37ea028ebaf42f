r"""Finding a CJK font for the printed maps, and making sure it covers the text.

A printed sheet must never show tofu boxes, so every page is drawn with one
font that has a glyph for every character on it, or it is not drawn at all.

Search order of :func:`find_cjk_font`
-------------------------------------
1. ``preferred`` — the project file's ``font:`` — either a path to a font file
   (``.ttf``, ``.ttc``, ``.otf``, ``.otc``; ``~`` is expanded, a relative path is
   taken from the current directory, so resolve it against the project file
   first) or a family name (``Microsoft YaHei``, ``Noto Sans CJK SC``) that
   matplotlib's font list or the file names below know. If it is given and not
   found, that is an error: it is never silently replaced.
2. Microsoft YaHei (``msyh.ttc``, ``msyh.ttf``),
3. SimHei (``simhei.ttf``),
4. Noto Sans CJK (``NotoSansCJK*.ttc``/``.otf``, ``NotoSansSC*``),
5. Source Han Sans (``SourceHanSans*``),
6. WenQuanYi (``wqy-*.ttc``),

   each looked for (file names compared case-insensitively, regular weights
   before bold or light ones) in the usual font folders, in this order:

   - Windows: ``%WINDIR%\Fonts``, ``%LOCALAPPDATA%\Microsoft\Windows\Fonts``;
   - Linux: ``/usr/share/fonts``, ``/usr/local/share/fonts``, ``~/.fonts``,
     ``~/.local/share/fonts`` (with sub-folders);
   - macOS: ``/System/Library/Fonts``, ``/Library/Fonts``, ``~/Library/Fonts``.

   A family earlier in the list wins wherever it is found.
7. Noto Sans CJK Regular shipped by the ``noto-cjk-sans-otc`` package (a
   dependency of riskmap, OFL-1.1), so a fresh machine prints too.

If nothing is found :class:`~riskmap.errors.ExportError` says what to install.

In a font collection (``.ttc``) the Simplified Chinese face (``… SC``) is used
when there is one, else the first face. A face with CFF outlines is converted,
per page, to a small TrueType subset before it goes into a PDF
(:func:`riskmap.export.fontsubset.embeddable_font`), because matplotlib embeds
CFF data wrongly.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import sys
import unicodedata
import warnings
from pathlib import Path

from riskmap.errors import ExportError

FONT_SUFFIXES = (".ttf", ".ttc", ".otf", ".otc")

#: Font families in search order: (family names, file-name patterns). Patterns
#: are lower-case ``fnmatch`` patterns matched against lower-case file names.
CANDIDATES: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("Microsoft YaHei", "微软雅黑"), ("msyh.ttc", "msyh.ttf")),
    (("SimHei", "黑体"), ("simhei.ttf",)),
    (("Noto Sans CJK SC", "Noto Sans CJK", "Noto Sans SC"),
     ("notosanscjk*.ttc", "notosanscjk*.otf", "notosanscjk*.otc", "notosanssc*.otf",
      "notosanssc*.ttf")),
    (("Source Han Sans SC", "Source Han Sans", "思源黑体"),
     ("sourcehansans*.ttc", "sourcehansans*.otf", "sourcehansans*.otc")),
    (("WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "文泉驿微米黑", "文泉驿正黑"),
     ("wqy-*.ttc", "wqy-*.ttf")),
)

_NOT_REGULAR = ("bold", "black", "heavy", "light", "thin", "medium", "semibold", "extralight",
                "demilight", "italic")
_REGION = re.compile(r"(?:cjk|sans)(sc|cn|tc|hk|jp|kr|j|k)?(?=[-_.]|$)")

INSTALL_HINT = (
    "install one: `pip install noto-cjk-sans-otc` (Noto Sans CJK, shipped with riskmap), "
    "or on Debian/Ubuntu `sudo apt install fonts-noto-cjk`, or give `font:` (a font file "
    "or family name) in the project file"
)

_registered: set[str] = set()
_face_hint: dict[str, int] = {}


def font_dirs() -> list[Path]:
    """The system and user font folders searched, for this platform, existing or not.

    Returns
    -------
    list of Path
        Windows, Linux or macOS folders as listed in the module docstring.
    """
    home = Path.home()
    if sys.platform.startswith("win"):
        dirs = [Path(os.environ.get("WINDIR", r"C:\Windows")) / "Fonts"]
        if os.environ.get("LOCALAPPDATA"):
            dirs.append(Path(os.environ["LOCALAPPDATA"]) / "Microsoft" / "Windows" / "Fonts")
        return dirs
    if sys.platform == "darwin":
        return [Path("/System/Library/Fonts"), Path("/Library/Fonts"), home / "Library" / "Fonts"]
    return [Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), home / ".fonts",
            home / ".local" / "share" / "fonts"]


def shipped_font() -> Path | None:
    """The Noto Sans CJK collection of the ``noto-cjk-sans-otc`` package, if installed.

    Returns
    -------
    Path or None
    """
    try:
        from importlib.resources import files

        ref = files("noto_cjk_sans_otc").joinpath("NotoSansCJK-Regular.ttc")
    except (ImportError, TypeError):
        return None
    path = Path(str(ref))
    return path if path.is_file() else None


def _font_files(dirs) -> list[Path]:
    """Every font file under ``dirs`` (recursively, in a stable order)."""
    out = []
    for d in dirs:
        d = Path(d)
        if not d.is_dir():
            continue
        for root, subdirs, names in os.walk(d, onerror=lambda e: None):
            subdirs.sort()
            out.extend(Path(root) / n for n in sorted(names)
                       if n.lower().endswith(FONT_SUFFIXES))
    return out


def _rank(path: Path) -> tuple:
    """Sort key: regular Simplified-Chinese files first."""
    name = path.name.lower()
    weight = "mono" in name or (any(w in name for w in _NOT_REGULAR) and "regular" not in name)
    m = _REGION.search(Path(name).stem)
    region = m.group(1) if m else None
    return (weight, 0 if region in ("sc", "cn") else 1 if region is None else 2, name)


def _match(files: list[Path], patterns) -> Path | None:
    from fnmatch import fnmatchcase

    hits = [f for f in files if any(fnmatchcase(f.name.lower(), p) for p in patterns)]
    return min(hits, key=_rank) if hits else None


def _by_family(name: str) -> Path | None:
    """A font file for family ``name``: matplotlib's font list, then known file names."""
    from matplotlib import font_manager

    want = name.casefold().strip()
    for entry in font_manager.fontManager.ttflist:
        if entry.name.casefold() == want and Path(entry.fname).is_file():
            path = Path(entry.fname)
            _face_hint[str(path)] = int(getattr(entry, "index", 0) or 0)
            return path
    for families, patterns in CANDIDATES:
        if any(f.casefold() == want for f in families):
            hit = _match(_font_files(font_dirs()), patterns)
            if hit is not None:
                return hit
            if families[0].startswith("Noto Sans CJK"):
                return shipped_font()
    return None


def find_cjk_font(preferred: str | Path | None = None) -> Path:
    """The font file to print Chinese text with (search order: see the module docstring).

    Parameters
    ----------
    preferred : str or Path, optional
        A font file or a family name (the project file's ``font:``).

    Returns
    -------
    Path
        An existing font file.

    Raises
    ------
    ExportError
        ``preferred`` is given and cannot be found, or no CJK font is found at all.
    """
    if preferred is not None and str(preferred).strip():
        text = str(preferred).strip()
        as_path = Path(text).expanduser()
        looks_like_path = (isinstance(preferred, Path) or text.lower().endswith(FONT_SUFFIXES)
                           or "/" in text or "\\" in text)
        if as_path.is_file():
            return as_path.resolve()
        if looks_like_path:
            raise ExportError(f"字体文件不存在 (font file not found): {text} — fix `font:` in the "
                              f"project file, or remove it to use the first CJK font found")
        hit = _by_family(text)
        if hit is not None:
            return hit
        raise ExportError(f"字体未找到 (font family not found): {text!r} — give a font file path "
                          f"in `font:` instead, or remove it; otherwise {INSTALL_HINT}")
    files = _font_files(font_dirs())
    for _families, patterns in CANDIDATES:
        hit = _match(files, patterns)
        if hit is not None:
            return hit
    shipped = shipped_font()
    if shipped is not None:
        return shipped
    raise ExportError(f"找不到中文字体 (no CJK font found) for map.pdf; {INSTALL_HINT}")


@functools.lru_cache(maxsize=16)
def _faces(path: str) -> tuple[str, ...]:
    """Family names of the faces in a font file (one for .ttf/.otf)."""
    from fontTools.ttLib import TTCollection, TTFont, TTLibError

    try:
        if path.lower().endswith((".ttc", ".otc")):
            coll = TTCollection(path, lazy=True)
            fonts = list(coll.fonts)
        else:
            fonts = [TTFont(path, lazy=True)]
        names = tuple((f["name"].getBestFamilyName() or "") for f in fonts)
    except (OSError, TTLibError, KeyError, AssertionError) as exc:
        raise ExportError(f"cannot read font {path}: {exc}; choose another `font:`") from exc
    return names


def face_index(path: str | Path) -> int:
    """Index of the face used in a font collection: the ``… SC`` face, else 0.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    int
    """
    path = str(path)
    if path in _face_hint:
        return _face_hint[path]
    names = _faces(path)
    for i, n in enumerate(names):
        if n.rstrip().endswith((" SC", " CN")) and "mono" not in n.lower():
            return i
    return 0


def face_name(path: str | Path) -> str:
    """Family name of the face :func:`face_index` chooses.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    str
    """
    return _faces(str(path))[face_index(path)]


@functools.lru_cache(maxsize=16)
def _cmap(path: str, index: int) -> frozenset[int]:
    from fontTools.ttLib import TTFont, TTLibError

    try:
        kw = {"fontNumber": index} if path.lower().endswith((".ttc", ".otc")) else {}
        font = TTFont(path, lazy=True, **kw)
        cmap = font.getBestCmap() or {}
    except (OSError, TTLibError, KeyError, AssertionError) as exc:
        raise ExportError(f"cannot read font {path}: {exc}; choose another `font:`") from exc
    return frozenset(cmap)


def missing_chars(path: str | Path, text: str) -> list[str]:
    """Characters of ``text`` the font has no glyph for (whitespace and controls ignored).

    Parameters
    ----------
    path : str or Path
        Font file (the face of :func:`face_index` is checked).
    text : str

    Returns
    -------
    list of str
        Each missing character once, in order of appearance.
    """
    have = _cmap(str(path), face_index(path))
    out = []
    for ch in dict.fromkeys(text):
        if ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf"):
            continue
        if ord(ch) not in have:
            out.append(ch)
    return out


def check_covers(path: str | Path, text: str, what: str = "text") -> None:
    """Raise if the font lacks a glyph for any character of ``text`` (no tofu).

    Parameters
    ----------
    path : str or Path
        Font file.
    text : str
        Everything that will be printed with it.
    what : str
        What is being printed, for the message (``"map.pdf of 荫营镇"``).

    Raises
    ------
    ExportError
        Naming the missing characters (with their code points) and the font.
    """
    miss = missing_chars(path, text)
    if miss:
        shown = ", ".join(f"{c!r} U+{ord(c):04X}" for c in miss[:10])
        more = f" and {len(miss) - 10} more" if len(miss) > 10 else ""
        raise ExportError(
            f"字体缺字 (font lacks glyphs): {Path(path).name} has no glyph for {shown}{more} "
            f"in the {what}; give a fuller CJK font in `font:` (e.g. Noto Sans CJK SC, "
            f"`pip install noto-cjk-sans-otc`) or correct the text"
        )


def cjk_font_properties(path: str | Path, size: float | None = None):
    """Register the font with matplotlib (once) and return properties that select it.

    Parameters
    ----------
    path : str or Path
        Font file, e.g. from :func:`find_cjk_font`.
    size : float, optional
        Font size in points.

    Returns
    -------
    matplotlib.font_manager.FontProperties
        Properties naming the chosen face's family; matplotlib resolves them to
        this very file (checked).

    Raises
    ------
    ExportError
        The file cannot be read as a font, or matplotlib resolves the family to
        another file.
    """
    from matplotlib import font_manager

    path = str(Path(path))
    if path not in _registered:
        try:
            with quiet_fonts():
                font_manager.fontManager.addfont(path)
        except (OSError, RuntimeError, ValueError) as exc:
            raise ExportError(f"cannot use font {path}: {exc}; choose another `font:`") from exc
        _registered.add(path)
    family = face_name(path)
    props = font_manager.FontProperties(family=family or "sans-serif", size=size)
    with quiet_fonts():
        found = font_manager.fontManager.findfont(props, fallback_to_default=False)
    if not family or os.path.realpath(str(found)) != os.path.realpath(path):
        # Another file carries the same family name: point at ours directly.
        props = font_manager.FontProperties(
            fname=font_manager.FontPath(path, face_index(path)), size=size)
    return props


@contextlib.contextmanager
def quiet_fonts():
    """Within the block, mute matplotlib's font-lookup log and missing-glyph warnings.

    Only the ``matplotlib.font_manager`` logger is raised to ERROR (and restored
    after); the application's other logging is untouched.
    """
    logger = logging.getLogger("matplotlib.font_manager")
    old = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from")
            warnings.filterwarnings("ignore", message=r"findfont")
            yield
    finally:
        logger.setLevel(old)
