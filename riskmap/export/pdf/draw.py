"""Drawing helpers of the sheet: geometries as matplotlib paths, the class image, text fitting."""

from __future__ import annotations

import numpy as np
import shapely

from riskmap.marks import CLASS_COLOURS


def geom_path(geom):
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
            sub = geom_path(part)
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


def squares_path(bounds: np.ndarray):
    """One Path of closed rectangles (``minx, miny, maxx, maxy`` rows), as a collection draws them.

    Drawn as one stroke, not a path each: the sheet's hundreds of cell outlines
    are one operator in the PDF. Not simplified (a collection's 5-point squares
    never are).
    """
    from matplotlib.path import Path as MPath

    b = np.asarray(bounds, dtype=float).reshape(-1, 4)
    sq = np.stack([b[:, [0, 1]], b[:, [2, 1]], b[:, [2, 3]], b[:, [0, 3]], b[:, [0, 1]]], axis=1)
    codes = np.tile(np.array([MPath.MOVETO, MPath.LINETO, MPath.LINETO, MPath.LINETO,
                              MPath.CLOSEPOLY], dtype=np.uint8), len(b))
    path = MPath(sq.reshape(-1, 2), codes)
    path.should_simplify = False
    return path


def patches(geoms, **kw):
    """One PatchCollection of the polygon parts of ``geoms`` (None where there are none)."""
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import PathPatch

    out = []
    for g in geoms:
        if g is None or g.is_empty:
            continue
        p = geom_path(g)
        if p is not None:
            out.append(PathPatch(p))
    return PatchCollection(out, match_original=False, **kw) if out else None


def class_rgba(classes: np.ndarray, alpha: float = 0.85) -> np.ndarray:
    """RGBA image of class 0–5 (class 0 transparent) in the class colours."""
    lut = np.zeros((256, 4), dtype=np.uint8)
    for c, hexc in CLASS_COLOURS.items():
        lut[c] = [int(hexc[i:i + 2], 16) for i in (1, 3, 5)] + [round(255 * alpha)]
    # one 4-byte word a pixel: a quarter of the fancy indexing (0.03 s on a district)
    classes = np.asarray(classes, dtype=np.uint8)
    return lut.view(np.uint32)[classes, 0].view(np.uint8).reshape(*classes.shape, 4)


def text_width_mm(s: str, prop, size: float) -> float:
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


def fit(s: str, prop, size: float, max_mm: float, min_size: float) -> float:
    """Largest size ≤ ``size`` (down to ``min_size``) at which ``s`` fits ``max_mm``."""
    w = text_width_mm(s, prop, size)
    if w <= max_mm:
        return size
    return max(min_size, size * max_mm / w * 0.98)


def ellipsize(s: str, prop, size: float, max_mm: float) -> str:
    """``s`` cut and ended with "…" so that it fits ``max_mm`` at ``size`` pt."""
    if text_width_mm(s, prop, size) <= max_mm:
        return s
    while len(s) > 1 and text_width_mm(s + "…", prop, size) > max_mm:
        s = s[:-1]
    return s + "…"


def halo(k: float, lw: float = 2.2) -> list:
    """White outline behind map labels (``k``: the paper's size factor)."""
    from matplotlib import patheffects

    return [patheffects.withStroke(linewidth=lw * k, foreground="white")]


def _char_mm(key: str, prop, ch: str) -> float:
    """Advance width of one character at 1 pt, mm (cached per font)."""
    got = _CHAR_MM.get((key, ch))
    if got is None:
        got = _CHAR_MM[(key, ch)] = text_width_mm(ch, prop, 1.0)
    return got


_CHAR_MM: dict[tuple[str, str], float] = {}


def widths_mm(texts, prop, size: float) -> list[float]:
    """Widths of many texts at ``size`` pt, mm: sums of cached per-character advances.

    Faster than :func:`text_width_mm` per text (one lookup per character); kerning
    is ignored, which CJK text and digits barely use.
    """
    key = str(prop.get_file() or prop.get_family())
    return [size * sum(_char_mm(key, prop, ch) for ch in str(s)) for s in texts]


def ellipsize_fast(s: str, prop, size: float, max_mm: float) -> str:
    """As :func:`ellipsize`, from cached per-character widths (for long tables)."""
    s = str(s)
    key = str(prop.get_file() or prop.get_family())
    w = np.cumsum([size * _char_mm(key, prop, ch) for ch in s])
    if not len(w) or w[-1] <= max_mm:
        return s
    room = max_mm - size * _char_mm(key, prop, "…")
    n = int(np.searchsorted(w, room, side="right"))
    return s[:max(n, 1)] + "…"
