"""Many short texts as one matplotlib artist: real (searchable) PDF text, optionally on a halo.

A sheet prints hundreds of short texts (cell numbers, village names, kilometre
labels, table cells). One :class:`matplotlib.text.Text` each costs about a
millisecond to make, lay out and draw, and a halo drawn as a path effect turns
the text into outlines (no longer text). :class:`TextSet` draws them all in one
artist: each string is aligned as ``Text`` aligns it (the same font metrics)
and written with the renderer's own ``draw_text``, so it stays real text that
``pdftotext`` and a reader's search find; the halos of the whole set are one
white stroked path of the glyph outlines, under the texts.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from riskmap.export.pdf.pdftext import text_extents, write_texts

__all__ = ["is_text_set", "text_set"]

_HA = ("left", "center", "right")
_VA = ("baseline", "bottom", "center", "top")


def text_set(x, y, texts, prop, **kw):
    """A :class:`TextSet` artist (matplotlib is imported only when one is made).

    Parameters
    ----------
    x, y, texts, prop, **kw
        As :class:`TextSet`.

    Returns
    -------
    TextSet
    """
    return _text_set_class()(x, y, texts, prop, **kw)


def is_text_set(artist) -> bool:
    """Whether ``artist`` is a :class:`TextSet` (for ``figure.findobj``)."""
    return getattr(artist, "_riskmap_text_set", False)


@functools.cache
def _text_set_class():
    from matplotlib.artist import Artist

    class TextSet(_TextSetMixin, Artist):
        __doc__ = _TextSetMixin.__doc__

    return TextSet


class _TextSetMixin:
    """Strings at points, all in one font, size, colour, alignment and rotation.

    Parameters
    ----------
    x, y : array_like
        Positions in the coordinates of ``transform``.
    texts : sequence of str
    prop : matplotlib.font_manager.FontProperties
        The font (its size is replaced by ``size``).
    size : float
        Font size, points.
    transform : matplotlib.transforms.Transform
        E.g. ``ax.transData`` or ``fig.transFigure``.
    color : colour, optional
    ha : {"left", "center", "right"}
    va : {"baseline", "bottom", "center", "top"}
        As :class:`matplotlib.text.Text` aligns a single line.
    rotation : float
        Degrees, counter-clockwise (the alignment applies to the rotated box, as
        ``Text`` does by default).
    halo : float, optional
        Width (points) of a white outline drawn under every text.
    zorder : float
    clip : bool
        Clip to the axes the set is added to.
    """

    _riskmap_text_set = True

    def __init__(self, x, y, texts, prop, *, size: float, transform, color="black",
                 ha: str = "center", va: str = "baseline", rotation: float = 0.0,
                 halo: float | None = None, zorder: float = 3.0, clip: bool = False):
        super().__init__()
        if ha not in _HA or va not in _VA:
            raise ValueError(f"ha must be one of {_HA} and va one of {_VA}; got {ha!r}, {va!r}")
        self._xy = np.c_[np.asarray(x, float).ravel(), np.asarray(y, float).ravel()]
        self._texts = [str(t) for t in texts]
        if len(self._texts) != len(self._xy):
            raise ValueError(f"{len(self._texts)} texts for {len(self._xy)} positions")
        self.set_fontproperties(prop, size)
        self._color, self._ha, self._va = color, ha, va
        self._rotation, self._halo, self._clip = float(rotation), halo, clip
        self.set_transform(transform)
        self.set_zorder(zorder)

    # --- what check_text and tests read --------------------------------------------
    def get_texts(self) -> list[str]:
        """The strings, in order."""
        return list(self._texts)

    def get_text(self) -> str:
        """All strings, one a line (as a multi-line ``Text`` would give them)."""
        return "\n".join(self._texts)

    def get_fontproperties(self):
        """The font properties (size included)."""
        return self._prop

    def set_fontproperties(self, prop, size: float | None = None) -> None:
        """Use another font (e.g. the embeddable TrueType copy of the same face)."""
        size = self._prop.get_size_in_points() if size is None else size
        self._prop = prop.copy()
        self._prop.set_size(size)
        self.stale = True

    # --- drawing ------------------------------------------------------------------
    def draw(self, renderer):
        """Draw the halos (one path), then every string as real text."""
        from matplotlib.colors import to_rgba

        if not self.get_visible() or not self._texts:
            return
        if self._clip and self.axes is not None:
            self.set_clip_box(self.axes.bbox)
        renderer.open_group("textset", self.get_gid())
        origins = self._origins(renderer)
        ok = np.isfinite(origins).all(axis=1)
        if self._halo:
            path = self._halo_path(renderer, origins, ok)
            if path is not None:
                from matplotlib.transforms import IdentityTransform

                gc = renderer.new_gc()
                self._set_gc_clip(gc)
                gc.set_foreground("white")
                gc.set_linewidth(renderer.points_to_pixels(self._halo))
                gc.set_joinstyle("round")
                renderer.draw_path(gc, path, IdentityTransform(), (1.0, 1.0, 1.0, 1.0))
                gc.restore()
        gc = renderer.new_gc()
        gc.set_foreground(to_rgba(self._color), isRGBA=True)
        self._set_gc_clip(gc)
        drawn = [i for i, (s, good) in enumerate(zip(self._texts, ok, strict=True))
                 if good and s]
        texts = [self._texts[i] for i in drawn]
        # on PDF all in one text object (.pdftext); what it leaves, string by string
        rest = write_texts(renderer, gc, origins[drawn], texts, self._prop, self._rotation)
        for j in range(len(drawn)) if rest is None else rest:
            px, py = origins[drawn[j]]
            renderer.draw_text(gc, px, py, texts[j], self._prop, self._rotation)
        gc.restore()
        renderer.close_group("textset")
        self.stale = False

    def _origins(self, renderer) -> np.ndarray:
        """Baseline origins (display units) aligned as :class:`~matplotlib.text.Text` does."""
        xy = self.get_transform().transform(self._xy)
        min_a, min_d = _font_heights(renderer, self._prop)
        uniq = list(dict.fromkeys(self._texts))
        wad = text_extents(renderer, self._prop, uniq)  # on PDF from glyph metrics
        for s in uniq:
            if s not in wad:
                wad[s] = (renderer.get_text_width_height_descent(s, self._prop, False) if s
                          else (0.0, 0.0, 0.0))
        w = np.array([wad[s][0] for s in self._texts])
        h = np.array([wad[s][1] for s in self._texts])
        d_s = np.array([wad[s][2] for s in self._texts])
        a = np.maximum(h - d_s, min_a)
        d = np.maximum(d_s, min_d)
        # the line's box (0, -(a + d)) .. (w, 0) with its baseline at y = -a, rotated
        t = math.radians(self._rotation)
        c, s = math.cos(t), math.sin(t)
        cx = np.stack([0 * w, 0 * w, w, w], axis=1)
        cy = np.stack([-(a + d), 0 * w, 0 * w, -(a + d)], axis=1)
        rx, ry = cx * c - cy * s, cx * s + cy * c
        xmin, xmax, ymin, ymax = rx.min(1), rx.max(1), ry.min(1), ry.max(1)
        off_x = {"left": xmin, "right": xmax, "center": (xmin + xmax) / 2}[self._ha]
        off_y = {"bottom": ymin, "top": ymax, "center": (ymin + ymax) / 2,
                 "baseline": ymin + d}[self._va]
        bx, by = a * s, -a * c  # the baseline origin (0, -a), rotated
        return np.c_[xy[:, 0] + bx - off_x, xy[:, 1] + by - off_y]

    def _halo_path(self, renderer, origins, ok):
        """All glyph outlines as one path in display units (None when there are none)."""
        from matplotlib.path import Path

        size = renderer.points_to_pixels(self._prop.get_size_in_points())
        fname = str(self._prop.get_file() or self._prop.get_family())
        t = math.radians(self._rotation)
        rot = np.array([[math.cos(t), math.sin(t)], [-math.sin(t), math.cos(t)]])
        verts, codes = [], []
        for (px, py), s, good in zip(origins, self._texts, ok, strict=True):
            if not good or not s.strip():
                continue
            v, cd = _glyph_path(fname, self._prop, s)
            if not len(v):
                continue
            verts.append(v * size @ rot + (px, py))
            codes.append(cd)
        if not verts:
            return None
        # to 0.001 pt (the PDF backend writes 6 decimals): a third fewer bytes to
        # write and compress for the thousands of outline points, nothing visible
        return Path(np.round(np.concatenate(verts), 3), np.concatenate(codes))


def _font_heights(renderer, prop) -> tuple[float, float]:
    """The least ascent and descent of a line (display units), as ``Text`` takes them."""
    getter = getattr(renderer, "_get_font_height_metrics", None)
    if getter is not None:
        got = getter(prop)
        if got is not None and None not in got[:2]:
            return float(got[0]), float(got[1])
    size = renderer.points_to_pixels(prop.get_size_in_points())
    return tuple(size * v for v in _unit_heights(str(prop.get_file() or ""), prop))


@functools.lru_cache(maxsize=64)
def _unit_heights_cached(fname: str) -> tuple[float, float]:
    from matplotlib.font_manager import get_font

    font = get_font(fname)
    for table, asc, desc in (("OS/2", "sTypoAscender", "sTypoDescender"),
                             ("hhea", "ascent", "descent")):
        tab = font.get_sfnt_table(table)
        if tab is not None:
            upem = font.get_sfnt_table("head")["unitsPerEm"]
            return tab[asc] / upem, -tab[desc] / upem
    return font.ascender / font.units_per_EM, -font.descender / font.units_per_EM


def _unit_heights(fname: str, prop) -> tuple[float, float]:
    """Ascent and descent of the font per point of size."""
    if not fname:
        from matplotlib.font_manager import findfont

        fname = findfont(prop)
    return _unit_heights_cached(fname)


@functools.lru_cache(maxsize=4096)
def _glyph_path_cached(fname: str, key, s: str) -> tuple[np.ndarray, np.ndarray]:
    t2p = _t2p()
    verts, codes = t2p.get_text_path(key.prop, s)
    return np.asarray(verts, float) / t2p.FONT_SCALE, np.asarray(codes, np.uint8)


def _glyph_path(fname: str, prop, s: str):
    """Outline of ``s`` at 1 pt, origin on the baseline (cached per font and string)."""
    p = prop.copy()
    p.set_size(1.0)
    return _glyph_path_cached(fname, _PropKey(p), s)


class _PropKey:
    """Hashable wrapper of FontProperties for the cache (by font file and family)."""

    def __init__(self, prop):
        self.prop = prop
        self.key = (str(prop.get_file()), tuple(prop.get_family()), prop.get_style(),
                    prop.get_weight())

    def __hash__(self):
        return hash(self.key)

    def __eq__(self, other):
        return isinstance(other, _PropKey) and self.key == other.key


@functools.lru_cache(maxsize=1)
def _t2p():
    from matplotlib.textpath import TextToPath

    return TextToPath()
