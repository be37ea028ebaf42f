"""The reference layers in ``map.html``: compact vectors and one downsampled DOM image.

Offline like the rest of the page (never tiles): each vector layer is cut to
the area, simplified to the page's scale and written as integer offsets of
1e-5° (≈ 1 m), each line or ring delta-encoded; a layer is simplified further
until it has at most :data:`VERTICES_MAX` vertices, so the page stays small. The
DOM is read once over the area at most :data:`DOM_PX` pixels on its long side,
warped to Web Mercator and inlined as a JPEG.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import shapely

from riskmap.crs.transform import transformer
from riskmap.export.pdf.reference import STYLES
from riskmap.load.reference import ROLE_LABELS, read_dom

__all__ = ["DOM_PX", "VERTICES_MAX", "reference_data"]

#: long side of the DOM image in map.html, pixels
DOM_PX = 1024
#: most vertices of one reference layer in map.html
VERTICES_MAX = 40_000
_ORDER = ("rivers", "roads", "settlements")


def _ints(xy: np.ndarray, base: np.ndarray) -> np.ndarray:
    return np.rint(xy[:, ::-1] * 1e5).astype(np.int64) - base  # (lat, lon) in 1e-5°


def _line(xy: np.ndarray, base: np.ndarray) -> list[int]:
    """One line or ring: the first point from ``base``, then steps, flattened."""
    q = _ints(xy, base)
    q[1:] = np.diff(q, axis=0)
    return q.ravel().tolist()


def _simplified(geoms, tol: float):
    """``geoms`` simplified until they have at most :data:`VERTICES_MAX` vertices.

    Points cannot be simplified: the tolerance stops growing after 16 doublings.
    """
    for _ in range(16):
        out = shapely.simplify(geoms, tol, preserve_topology=False)
        if int(shapely.get_num_coordinates(out).sum()) <= VERTICES_MAX:
            break
        tol *= 2
    return out


def _layer(role: str, gdf, bounds, crs: str) -> dict | None:
    x0, y0, x1, y1 = bounds
    span = max(x1 - x0, y1 - y0)
    geoms = shapely.clip_by_rect(gdf.geometry.values, x0, y0, x1, y1)
    keep = ~(shapely.is_empty(geoms) | shapely.is_missing(geoms))
    if not keep.any():
        return None
    names = np.asarray(gdf["name"], dtype=object)[keep]
    geoms = _simplified(geoms[keep], max(1.0, span / 3000))
    to_ll = transformer(crs, "EPSG:4326", always_xy=True)
    geoms = shapely.transform(geoms, lambda c: np.column_stack(to_ll.transform(c[:, 0],
                                                                              c[:, 1])))
    allxy = shapely.get_coordinates(geoms)
    if not len(allxy):
        return None
    base = np.rint(allxy.min(axis=0)[::-1] * 1e5).astype(np.int64)
    lines, polys, points, pnames, gnames = [], [], [], [], []
    for g, n in zip(geoms, names, strict=True):
        for part in shapely.get_parts(g):
            t = shapely.get_type_id(part)
            if t in (1, 2):
                lines.append(_line(shapely.get_coordinates(part), base))
            elif t == 3 and not part.is_empty:
                polys.append([_line(np.asarray(r.coords), base)
                              for r in (part.exterior, *part.interiors)])
                gnames.append(str(n or ""))
            elif t == 0:
                points += _ints(shapely.get_coordinates(part), base).ravel().tolist()
                pnames.append(str(n or ""))
    st = STYLES[role]
    out = {"role": role, "label": ROLE_LABELS[role], "colour": st["color"], "fill": st["fill"],
           "weight": 2 if role == "roads" else 1.5, "base": base.tolist(), "lines": lines,
           "polys": polys, "points": points, "count": int(keep.sum())}
    if any(pnames) or any(gnames):
        out["names"] = {"points": pnames, "polys": gnames}
    return out


def _dom(dom, bounds, crs: str) -> dict | None:
    """The DOM over ``bounds`` (working CRS) as a Web Mercator JPEG and its lat/lon bounds."""
    from PIL import Image
    from rasterio.warp import transform_bounds

    mb = transform_bounds(crs, "EPSG:3857", *bounds, densify_pts=21)
    w, h = mb[2] - mb[0], mb[3] - mb[1]
    shape = (DOM_PX, max(1, round(DOM_PX * w / h))) if h >= w else \
        (max(1, round(DOM_PX * h / w)), DOM_PX)
    img = read_dom(dom, mb, "EPSG:3857", shape)
    if not img[..., 3].any():
        return None
    alpha = img[..., 3:4].astype(np.float32) / 255
    rgb = (img[..., :3] * alpha + np.array([244, 244, 240]) * (1 - alpha)).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb, mode="RGB").save(buf, format="JPEG", quality=78, optimize=True)
    t = transformer("EPSG:3857", "EPSG:4326", always_xy=True)
    lon0, lat0 = t.transform(mb[0], mb[1])
    lon1, lat1 = t.transform(mb[2], mb[3])
    return {"url": "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii"),
            "bounds": [[lat0, lon0], [lat1, lon1]], "label": ROLE_LABELS["dom"],
            "size": list(shape), "on": True}


def reference_data(ref, bounds, crs: str) -> dict | None:
    """The page's ``reference`` entry: vector layers and the DOM over ``bounds``; None if none.

    Parameters
    ----------
    ref : riskmap.load.reference.Reference or None
    bounds : (left, bottom, right, top)
        The area's window, working CRS.
    crs : str
        The working CRS.
    """
    if not ref:
        return None
    layers = [lyr for role in _ORDER if role in ref.layers
              for lyr in [_layer(role, ref.layers[role], bounds, crs)] if lyr]
    dom = _dom(ref.dom, bounds, crs) if ref.dom is not None else None
    if not layers and dom is None:
        return None
    return {"layers": layers, "dom": dom}
