"""Writers of county B's files, each in the convention county data arrive in.

Every writer is deterministic: the same content gives the same bytes (the
shapefile's DBF date and the XLSX timestamps are fixed).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

import geopandas as gpd
import numpy as np
import pandas as pd

FIXED = dt.datetime(2025, 12, 1)
SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj")


def write_gbk_shapefile(gdf: gpd.GeoDataFrame, path: Path) -> None:
    """A shapefile whose .dbf field names and values are GBK bytes, with no encoding hint.

    GDAL writes the GBK bytes (``encoding="GBK"``); the ``.cpg`` it adds is
    deleted and the DBF language-driver byte is zeroed, so nothing in the files
    says GBK (a GDAL reader then sees ISO-8859-1 mojibake). The DBF's
    last-update date is fixed so the bytes are reproducible.
    """
    for name in [c for c in gdf.columns if c != "geometry"]:
        if len(str(name).encode("gbk")) > 10:
            raise ValueError(f"DBF field name {name!r} is longer than 10 GBK bytes")
    for ext in (*SHAPEFILE_PARTS, ".cpg"):
        path.with_suffix(ext).unlink(missing_ok=True)
    gdf.to_file(path, engine="pyogrio", driver="ESRI Shapefile", encoding="GBK")
    path.with_suffix(".cpg").unlink(missing_ok=True)
    dbf = path.with_suffix(".dbf")
    raw = bytearray(dbf.read_bytes())
    raw[1:4] = bytes([FIXED.year - 1900, FIXED.month, FIXED.day])
    raw[29] = 0  # language driver id: no code page
    dbf.write_bytes(bytes(raw))


def write_geojson(gdf: gpd.GeoDataFrame, path: Path, name: str) -> None:
    """A WGS84 GeoJSON FeatureCollection with Chinese property names (UTF-8, no CRS member)."""
    feats = []
    for rec, geom in zip(gdf.drop(columns="geometry").to_dict("records"), gdf.geometry,
                         strict=True):
        props = {k: _plain(v) for k, v in rec.items()}
        coords = [round(geom.x, 6), round(geom.y, 6)]
        feats.append({"type": "Feature", "properties": props,
                      "geometry": {"type": "Point", "coordinates": coords}})
    doc = {"type": "FeatureCollection", "name": name, "features": feats}
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def _plain(v):
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return None if np.isnan(v) else float(v)
    return v


def write_kml(path: Path, title: str, folders: list[tuple[str, list[tuple[str, str, object]]]],
              nested_in: str) -> None:
    """A KML as a phone app exports it: folders of placemarks inside one outer folder.

    Parameters
    ----------
    folders : list
        ``(folder name, [(placemark name, description, geometry or None), …])``;
        a ``None`` geometry is written as a LineString with empty coordinates.
    nested_in : str
        Name of the outer folder holding all the folders.
    """
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<kml xmlns="http://www.opengis.net/kml/2.2">',
           "<Document>", f"<name>{escape(title)}</name>",
           '<Style id="line"><LineStyle><color>ff0000ff</color><width>3</width></LineStyle>'
           "</Style>",
           f"<Folder><name>{escape(nested_in)}</name>"]
    for fname, marks in folders:
        out.append(f"<Folder><name>{escape(fname)}</name>")
        for name, desc, geom in marks:
            out.append(f"<Placemark><name>{escape(name)}</name>"
                       f"<description>{escape(desc)}</description><styleUrl>#line</styleUrl>")
            if geom is None:
                out.append("<LineString><tessellate>1</tessellate><coordinates></coordinates>"
                           "</LineString>")
            else:
                xyz = " ".join(f"{x:.6f},{y:.6f},0" for x, y in np.asarray(geom.coords))
                out.append(f"<LineString><tessellate>1</tessellate><coordinates>{xyz}"
                           "</coordinates></LineString>")
            out.append("</Placemark>")
        out.append("</Folder>")
    out += ["</Folder>", "</Document>", "</kml>"]
    path.write_text("\n".join(out) + "\n", encoding="utf-8")


def write_csv(df: pd.DataFrame, path: Path, encoding: str, title: str | None = None) -> None:
    """A CSV in ``encoding`` (CRLF, as Excel saves it), optionally under a title line."""
    buf = io.StringIO()
    if title:
        buf.write(title + "," * (len(df.columns) - 1) + "\r\n")
    df.to_csv(buf, index=False, lineterminator="\r\n")
    path.write_bytes(buf.getvalue().encode(encoding))


def save_xlsx(wb, path: Path) -> None:
    """Save an openpyxl workbook with fixed timestamps (byte-for-byte reproducible)."""
    wb.properties.creator = "make_county_b.py (合成数据)"
    wb.properties.created = FIXED
    wb.properties.modified = FIXED
    buf = io.BytesIO()
    wb.save(buf)
    buf.seek(0)
    with zipfile.ZipFile(buf) as zin, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>2025-12-01T00:00:00Z",
                              data)
            zout.writestr(zipfile.ZipInfo(item.filename, (1980, 1, 1, 0, 0, 0)), data,
                          zipfile.ZIP_DEFLATED)


def title_sheet(ws, title: str, header: list[str], widths: list[int] | None = None) -> None:
    """Row 1 a bold title merged across the header's width, row 2 the header."""
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    last = get_column_letter(len(header))
    ws.append([title])
    ws.merge_cells(f"A1:{last}1")
    ws["A1"].font = Font(bold=True, size=14)
    ws["A1"].alignment = Alignment(horizontal="center")
    ws.append(header)
    for c in ws[2]:
        c.font = Font(bold=True)
    for i, wdt in enumerate(widths or [], start=1):
        ws.column_dimensions[get_column_letter(i)].width = wdt
