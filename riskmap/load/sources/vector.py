"""Vector files through GDAL (GPKG, SHP, GeoJSON, KML/KMZ, zipped): the ``vector`` source kind.

Shapefile text is decoded with the encoding that decodes it (UTF-8, then
GB18030); GCJ-02/BD-09 layers (AMap, Baidu exports) are shifted to WGS84.
"""

from __future__ import annotations

import glob
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from riskmap.errors import LayerError, RiskmapWarning
from riskmap.load.project import Source
from riskmap.load.sources.base import LayerInfo, crs_label, first_line

#: largest total uncompressed size of the members of a .zip/.kmz that is opened
#: (a zip bomb is refused before GDAL inflates it)
ZIP_LIMIT_BYTES = 200 * 1024 * 1024


def list_layers(path: Path) -> list[str]:
    """Names of the layers in a vector file (empty for tables)."""
    try:
        return [str(n) for n in pyogrio.list_layers(path)[:, 0]]
    except Exception as e:  # GDAL's errors are many; we report one line
        raise LayerError(f"{path}: 无法打开 (cannot open as a vector file): {first_line(e)}; "
                         "check that the file is complete and is GPKG/SHP/GeoJSON/KML") from None


def spatial_layers(path: Path) -> list[str]:
    """Names of the layers of a vector file that hold geometries (tables left out)."""
    try:
        info = pyogrio.list_layers(path)
    except Exception as e:
        raise LayerError(f"{path}: 无法打开 (cannot open as a vector file): {first_line(e)}") \
            from None
    return [str(n) for n, g in info if g is not None] or [str(n) for n, _ in info]


def check_zip(path: Path) -> None:
    """Refuse a .zip/.kmz whose members inflate beyond :data:`ZIP_LIMIT_BYTES`."""
    import zipfile

    if path.suffix.lower() not in (".zip", ".kmz") or not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as z:
            members = z.infolist()
    except (zipfile.BadZipFile, OSError) as e:
        raise LayerError(f"{path}: 压缩包已损坏 (damaged zip archive): {first_line(e)}; copy "
                         "the file again") from None
    total = sum(m.file_size for m in members)
    if total > ZIP_LIMIT_BYTES:
        big = max(members, key=lambda m: m.file_size)
        raise LayerError(
            f"{path}: 压缩包解压后过大 (the archive inflates to {total / 2**20:,.0f} MB, "
            f"member {big.filename!r} alone {big.file_size / 2**20:,.0f} MB; the limit is "
            f"{ZIP_LIMIT_BYTES / 2**20:.0f} MB): not opened (a damaged file or a zip bomb); "
            "unpack it yourself and check the contents")


def _check_shapefile(path: Path) -> None:
    """Refuse a shapefile without its .shx or .dbf (an incomplete copy)."""
    if path.suffix.lower() != ".shp":
        return
    have = {p.suffix.lower() for p in path.parent.glob(glob.escape(path.stem) + ".*")}
    for ext, what in ((".shx", "shape index"), (".dbf", "attribute table")):
        if ext not in have:
            raise LayerError(
                f"{path}: 缺少 {path.stem}{ext} ({what}): the shapefile is incomplete; copy "
                f"every part ({path.stem}.shp, .shx, .dbf, .prj, .cpg) together")


def _dbf_of(path: Path) -> Path | None:
    """The shapefile's .dbf, whatever the case of its suffix (None when it has none)."""
    return next((p for p in path.parent.glob(glob.escape(path.stem) + ".*")
                 if p.suffix.lower() == ".dbf"), None)


def _dbf_count_note(path: Path) -> str | None:
    """Say so when a .dbf header's record count disagrees with the records it holds."""
    import struct

    dbf = _dbf_of(path)
    if dbf is None:
        return None
    try:
        with open(dbf, "rb") as f:
            head = f.read(12)
        size = dbf.stat().st_size
    except OSError:
        return None
    if len(head) < 12:
        return f"{dbf.name}: the .dbf header is truncated; re-export the shapefile"
    claimed, hlen, rlen = struct.unpack("<IHH", head[4:12])
    if rlen == 0 or hlen > size:
        return f"{dbf.name}: the .dbf header is damaged; re-export the shapefile"
    held = (size - hlen) // rlen
    if claimed != held:
        return (f"{dbf.name}: the .dbf header claims {claimed:,} records but the file holds "
                f"{held:,}")
    return None


def _read_vector(source: Source, info: LayerInfo) -> gpd.GeoDataFrame:
    _check_shapefile(source.path)
    layers = list_layers(source.path)
    layer = source.layer
    kml = source.path.suffix.lower() in (".kml", ".kmz")
    if layer is None and kml and len(layers) > 1:
        # phone apps put placemarks in folders; GDAL makes each folder a layer
        parts = [_read_one(source, name, info) for name in layers]
        parts = [p.assign(folder=name) for p, name in zip(parts, layers, strict=True) if len(p)]
        info.notes.append(f"read {len(layers)} KML folders: {', '.join(layers)}")
        if not parts:
            return _read_one(source, layers[0], info)
        return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=parts[0].crs)
    if layer is None:
        if len(layers) > 1 and len(spatial := spatial_layers(source.path)) == 1:
            layers = spatial  # the one layer with geometries (the rest are tables)
        if len(layers) > 1:
            raise LayerError(f"{source.path}: holds {len(layers)} layers "
                             f"({', '.join(layers)}); name one as 'file:layer' in the project file")
        layer = layers[0] if layers else None
    elif layer not in layers:
        raise LayerError(f"{source.path}: 没有图层 {layer!r} (no such layer); layers in the file: "
                         f"{', '.join(layers) or 'none'}")
    return _read_one(source, layer, info)


def _read_one(source: Source, layer, info: LayerInfo) -> gpd.GeoDataFrame:
    shp = source.path.suffix.lower() == ".shp"
    # shapefile text is read byte for byte (latin-1) and decoded after a
    # decode test: a missing or wrong .cpg must not produce mojibake. The
    # 'where' filter runs after decoding (riskmap.load.filters), not in GDAL.
    enc = source.encoding or ("latin1" if shp else None)
    try:
        meta = pyogrio.read_info(source.path, layer=layer, encoding=enc)
        info.format = meta.get("driver") or ""
        gdf = pyogrio.read_dataframe(source.path, layer=layer, encoding=enc, on_invalid="warn")
    except Exception as e:
        raise LayerError(f"{source}: 读取失败 (cannot read): {first_line(e)}") from None
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise LayerError(f"{source}: 没有几何 (layer {layer!r} is a table without geometries); "
                         "name a layer with points, lines or polygons as 'file:layer'")
    if shp and (note := _dbf_count_note(source.path)):
        warnings.warn(f"{source}: {note}; read {len(gdf)} feature(s) — re-export the "
                      "shapefile if rows are missing", RiskmapWarning, stacklevel=4)
    if shp and not source.encoding:
        gdf, info.encoding, why, repair = decode_shapefile_text(
            gdf, _shapefile_cpg(source.path), _dbf_language(source.path))
        if why and repair:
            # a guess (no hint in the file, or a wrong one) is a repair the user should see
            warnings.warn(f"{source}: {why}", RiskmapWarning, stacklevel=4)
        elif why:
            info.notes.append(why)
    else:
        info.encoding = source.encoding or meta.get("encoding")
    return gdf


#: DBF language driver ids (byte 29 of the header) that name an encoding
_LDID = {0x4D: "CP936", 0x7A: "CP936", 0x4E: "CP949", 0x4F: "CP950", 0x78: "CP950",
         0x57: "ANSI", 0x03: "CP1252", 0x01: "CP437", 0x02: "CP850", 0x13: "CP932",
         0x7B: "CP932"}
_GBK_NAMES = ("GBK", "GB2312", "GB18030", "936", "CP936", "ANSI936")


def _dbf_language(path: Path) -> str | None:
    """The code page a shapefile's .dbf names in its language driver byte, if any."""
    dbf = _dbf_of(path)
    if dbf is None:
        return None
    try:
        with open(dbf, "rb") as f:
            head = f.read(30)
    except OSError:
        return None
    if len(head) < 30 or head[29] == 0:
        return None
    return _LDID.get(head[29], f"LDID {head[29]}")


def decode_shapefile_text(gdf, declared: str | None, language: str | None = None):
    """Decode latin-1-read shapefile text, field names and values, with the encoding that fits.

    Tries UTF-8, then GB18030 (a superset of GBK and GB2312), on every
    non-ASCII field name and text value; the .cpg declaration (else the DBF
    language byte) only breaks ties for pure-ASCII data.

    Parameters
    ----------
    gdf : GeoDataFrame
        As read with ``encoding="latin1"`` (every byte one character).
    declared : str or None
        The .cpg's code page.
    language : str or None
        The code page the .dbf's language driver byte names.

    Returns
    -------
    (GeoDataFrame, encoding, note, repair)
        ``note`` explains a choice that differs from the .cpg (or its absence);
        ``repair`` is True when the note states a guess or a correction: the
        file gave no hint at all (no .cpg, no language byte) for non-ASCII
        text, or a hint the text contradicts.
    """
    geom = gdf.geometry.name
    cols = [c for c in gdf.columns if c != geom
            and (gdf[c].dtype == object or pd.api.types.is_string_dtype(gdf[c]))]
    raw = {c: gdf[c].map(lambda v: v.encode("latin1") if isinstance(v, str) else v)
           for c in cols}
    names = {c: c.encode("latin1", errors="replace") for c in gdf.columns if c != geom}
    values = [b for c in cols for b in raw[c] if isinstance(b, bytes) and not b.isascii()]
    values += [b for b in names.values() if not b.isascii()]
    hint = declared or language
    if not values:
        return _strings_from(gdf, raw, names, "ascii"), (hint or "ASCII"), None, False
    chosen = None
    for enc in ("utf-8", "gb18030"):
        try:
            for b in values:
                b.decode(enc)
        except UnicodeDecodeError:
            continue
        chosen = enc
        break
    if chosen is None:
        enc = declared or "latin1"
        return (_strings_from(gdf, raw, names, enc, errors="replace"), enc,
                f"text decodes as neither UTF-8 nor GBK/GB18030; read as {enc} with "
                "replacement characters — give 'encoding:' in the project file", True)
    label = {"utf-8": "UTF-8", "gb18030": "GB18030"}[chosen]
    out = _strings_from(gdf, raw, names, chosen)
    if not declared and not language:
        return (out, label, f"编码未声明 (no .cpg, no language byte in the .dbf): field names "
                f"and text decoded as {label}, a guess (the only encoding that decodes them) — "
                f"add a .cpg holding {'UTF-8' if chosen == 'utf-8' else 'GBK'} or give "
                "'encoding:' in the project file to be sure", True)
    if declared:
        norm = declared.upper().replace("-", "").replace("_", "")
        if (norm == "UTF8" and chosen == "utf-8") or (norm in _GBK_NAMES
                                                      and chosen == "gb18030"):
            return out, label, None, False
        return (out, label, f".cpg says {declared} but the text decodes only as {label}; "
                f"using {label}", True)
    # ESRI writes 0x57 ("ANSI": the system code page, GBK on a Chinese Windows)
    if chosen == "gb18030" and language in ("CP936", "ANSI"):
        return (out, label, f"no .cpg: the .dbf's language byte says {language}; text decodes "
                f"as {label}", False)
    return (out, label, f"no .cpg, and the .dbf's language byte says {language} but the text "
            f"decodes only as {label}; using {label}", True)


def _strings_from(gdf, raw, names, enc, errors="strict"):
    out = gdf.copy()
    for c, col in raw.items():
        out[c] = col.map(lambda b: b.decode(enc, errors) if isinstance(b, bytes) else b)
        out[c] = out[c].astype(object)
    return out.rename(columns={c: b.decode(enc, errors) for c, b in names.items()})


def _shapefile_cpg(path: Path) -> str | None:
    """The code page a shapefile declares in its .cpg (GDAL recodes it to UTF-8)."""
    cpg = path.with_suffix(".cpg")
    if path.suffix.lower() != ".shp" or not cpg.is_file():
        return None
    return cpg.read_text(encoding="ascii", errors="replace").strip()[:20] or None


def from_mars(gdf, kind: str, source: Source, info: LayerInfo) -> gpd.GeoDataFrame:
    """Shift GCJ-02 / BD-09 lon/lat (AMap, Tencent, Baidu exports) to WGS84."""
    from riskmap.crs import china

    if gdf.crs is not None and not gdf.crs.is_geographic:
        raise LayerError(f"{source}: declared {kind} but the layer is in projected "
                         f"{crs_label(gdf.crs)}; {kind} applies to longitude/latitude only")
    inverse = china.gcj02_to_wgs84 if kind == "GCJ02" else china.bd09_to_wgs84

    def shift(xy):
        lon, lat = inverse(xy[:, 0], xy[:, 1])
        return np.column_stack([lon, lat])

    geoms = shapely.transform(gdf.geometry.values, shift)
    info.notes.append(f"coordinates converted from {kind} to WGS84 (exact inverse)")
    return gdf.set_geometry(gpd.GeoSeries(geoms, index=gdf.index), crs="EPSG:4326")




def read(source: Source, info: LayerInfo) -> gpd.GeoDataFrame:
    """Read a vector source (any OGR format) in its own CRS."""
    check_zip(source.path)
    gdf = _read_vector(source, info)
    if source.crs in ("GCJ02", "BD09") and len(gdf):
        gdf = from_mars(gdf, source.crs, source, info)
    return gdf
