"""The reference layers on a printed map: the DOM image, roads, rivers and settlements.

Drawn under the class surface and the cells (which stay semi-transparent over
them), each layer as one artist: the DOM one image read for the map's window at
about print resolution (:data:`DOM_DPI`), every layer's lines one
``LineCollection``, its polygons one ``PatchCollection``, its points one scatter.
The township sheet (:mod:`.frame`, :mod:`.panel`) and the plan sheet
(:mod:`.plansheet`, :mod:`.planpanel`) share these functions.
"""

from __future__ import annotations

import numpy as np
import shapely

from riskmap.export.pdf.draw import patches
from riskmap.load.reference import ROLE_LABELS, read_dom

__all__ = ["CLASS_ALPHA_OVER", "DOM_DPI", "STYLES", "draw_reference", "legend_items",
           "named_points"]

#: print resolution of the DOM image (dots per inch of paper)
DOM_DPI = 150
#: the class surface's opacity over reference layers (0.85 without them)
CLASS_ALPHA_OVER = 0.5
#: line colour, line width (pt at A3) and fill of each vector reference layer
STYLES = {
    "rivers": {"color": "#2f78c4", "lw": 0.8, "fill": "#a9cdef"},
    "roads": {"color": "#8c6239", "lw": 0.9, "fill": "#d9c3a5"},
    "settlements": {"color": "#4d4d4d", "lw": 0.4, "fill": "#bdbdbd"},
}
_ORDER = ("rivers", "roads", "settlements")  # drawn bottom to top


def _kinds(geoms):
    """The polygon, line and point parts of ``geoms`` (flattened)."""
    parts = shapely.get_parts(shapely.force_2d(geoms))
    t = shapely.get_type_id(parts)
    return parts[t == 3], parts[(t == 1) | (t == 2)], parts[t == 0]


def _segments(lines) -> list:
    xy, owner = shapely.get_coordinates(lines, return_index=True)
    if not len(xy):
        return []
    cut = np.flatnonzero(np.diff(owner)) + 1
    return [s for s in np.split(xy, cut) if len(s) >= 2]


def draw_reference(ax, ref, extent, box_mm, crs: str, k: float, *, zorder: float = 1.5,
                   dom_zorder: float = 0.5) -> bool:
    """Draw ``ref`` (a :class:`~riskmap.load.reference.Reference`) on a map axes.

    Parameters
    ----------
    ax : matplotlib axes in working-CRS metres
    ref : Reference or None
    extent : (x0, x1, y0, y1)
        The map's extent, metres.
    box_mm : (w, h)
        The map frame on paper, mm (the DOM image's size at :data:`DOM_DPI`).
    crs : str
        The working CRS.
    k : float
        The paper's size factor (1 for A3).

    Returns
    -------
    bool
        Whether anything was drawn.
    """
    from matplotlib.collections import LineCollection

    if not ref:
        return False
    x0, x1, y0, y1 = extent
    if ref.dom is not None:
        w = max(16, min(4000, round(box_mm[0] / 25.4 * DOM_DPI)))
        h = max(16, min(4000, round(box_mm[1] / 25.4 * DOM_DPI)))
        img = read_dom(ref.dom, (x0, y0, x1, y1), crs, (h, w))
        if img[..., 3].any():
            ax.imshow(img, extent=(x0, x1, y0, y1), origin="upper", interpolation="bilinear",
                      zorder=dom_zorder, resample=False)
    frame = shapely.box(x0, y0, x1, y1)
    for role in _ORDER:
        gdf = ref.layers.get(role)
        if gdf is None or not len(gdf):
            continue
        st = STYLES[role]
        geoms = gdf.geometry.values
        geoms = geoms[shapely.intersects(geoms, frame)]
        polys, lines, points = _kinds(geoms)
        z = zorder + 0.01 * _ORDER.index(role)
        if len(polys):
            col = patches(polys, fc=st["fill"], ec=st["color"], lw=0.35 * k, zorder=z)
            if col is not None:
                ax.add_collection(col, autolim=False)
        segs = _segments(lines)
        if segs:
            ax.add_collection(LineCollection(segs, colors=st["color"], linewidths=st["lw"] * k,
                                             capstyle="round", joinstyle="round", zorder=z),
                              autolim=False)
        if len(points):
            ax.scatter(shapely.get_x(points), shapely.get_y(points), marker="s",
                       s=(1.3 * k * 72 / 25.4) ** 2, c=st["fill"], edgecolors=st["color"],
                       linewidths=0.4 * k, zorder=z)
    return True


def named_points(ref, extent) -> tuple[np.ndarray, list[str]]:
    """Where the settlements' names go inside ``extent``: points and names (named ones only)."""
    gdf = None if not ref else ref.layers.get("settlements")
    if gdf is None or not len(gdf):
        return np.zeros(0, dtype=object), []
    x0, x1, y0, y1 = extent
    names = np.asarray(gdf["name"], dtype=object)
    geoms = shapely.clip_by_rect(gdf.geometry.values, x0, y0, x1, y1)
    ok = np.array([bool(str(n).strip()) for n in names]) & ~shapely.is_empty(geoms)
    if not ok.any():
        return np.zeros(0, dtype=object), []
    return shapely.point_on_surface(geoms[ok]), [str(n) for n in names[ok]]


def legend_items(ref, k: float) -> list[tuple[str, dict, str]]:
    """Legend rows of what ``ref`` draws: ``(kind, style, label)``, kind line/fill/square/image.

    A layer of lines shows as a line, of polygons as a filled box, of points as a
    small square; the DOM as an image swatch.
    """
    if not ref:
        return []
    out = []
    if ref.dom is not None:
        out.append(("image", {}, ROLE_LABELS["dom"]))
    for role in _ORDER:
        gdf = ref.layers.get(role)
        if gdf is None or not len(gdf):
            continue
        st = STYLES[role]
        t = set(shapely.get_type_id(shapely.get_parts(gdf.geometry.values)).tolist())
        if t & {1, 2}:
            out.append(("line", {"color": st["color"], "lw": st["lw"] * k}, ROLE_LABELS[role]))
        if 3 in t:
            out.append(("fill", {"fc": st["fill"], "ec": st["color"]}, ROLE_LABELS[role]))
        if 0 in t:
            out.append(("square", {"fc": st["fill"], "ec": st["color"]}, ROLE_LABELS[role]))
    return out


def legend_swatch(ax, kind: str, style: dict, x: float, y: float, w: float, h: float,
                  k: float) -> None:
    """One legend swatch of :func:`legend_items` in a box (axes units, y down)."""
    from matplotlib.patches import Rectangle

    if kind == "line":
        ax.plot([x, x + w], [y + h / 2] * 2, color=style["color"], lw=style["lw"])
    elif kind == "fill":
        ax.add_artist(Rectangle((x, y), w, h, fc=style["fc"], ec=style["ec"], lw=0.35 * k))
    elif kind == "square":
        s = h * 0.6
        ax.add_artist(Rectangle((x + w / 2 - s / 2, y + (h - s) / 2), s, s, fc=style["fc"],
                                ec=style["ec"], lw=0.4 * k))
    else:  # the DOM: a small imagery-like swatch (imshow would reset the limits)
        lims = ax.get_xlim(), ax.get_ylim()
        ax.imshow(np.array([[[96, 120, 80], [150, 140, 110]], [[130, 150, 100], [80, 100, 70]]],
                           dtype=np.uint8), extent=(x, x + w, y + h, y), interpolation="nearest",
                  aspect="auto")
        ax.set_xlim(*lims[0])
        ax.set_ylim(*lims[1])
