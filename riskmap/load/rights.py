"""Mining-right licences from corner-coordinate tables (采矿权拐点坐标表).

The registry gives a licence as a table, one row per corner (拐点): licence number
and mine name (often merged cells), block (块段), point number (点号), X and Y in
the surveyors' convention (X = northing, Y = easting, the easting often prefixed
with the 3-degree zone number: ``38 461 383.50``), the mining depth range
(开采标高), the validity dates (有效期) and the production scale (生产规模).
:func:`read_corner_table` turns it into one (Multi)Polygon per licence and says
what it detected, repaired and found suspicious.
"""

from __future__ import annotations

import logging
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.polygon import orient

from riskmap.crs.meridian import CoordHints
from riskmap.errors import LayerError, RiskmapWarning
from riskmap.load import licences
from riskmap.load.tables import TableInfo, read_table

log = logging.getLogger(__name__)

#: role → header names, in order of preference (matched ignoring case, width,
#: spaces and brackets; see :func:`riskmap.load.tables.match_columns`)
CORNER_KEYWORDS: dict[str, tuple[str, ...]] = {
    "licence_no": ("采矿许可证号", "采矿许可证编号", "许可证号", "许可证编号", "采矿证号",
                   "采矿权证号", "证号", "licence_no", "license_no", "licence", "license"),
    "name": ("矿山名称", "矿权名称", "采矿权名称", "矿山", "矿名", "名称", "mine_name", "name"),
    "block": ("块段", "块段号", "块段编号", "区块", "区块号", "块号", "block"),
    "point": ("点号", "拐点号", "拐点编号", "拐点序号", "拐点", "点名", "point", "序号"),
    "x": ("x坐标", "x", "纵坐标", "北坐标", "x(北)", "x北"),
    "y": ("y坐标", "y", "横坐标", "东坐标", "y(东)", "y东"),
    "depth_top": ("开采标高上", "开采标高上限", "标高上限", "上限标高", "最高标高", "开采上限",
                  "开采深度上", "开采深度上限", "起始标高", "上限"),
    "depth_bottom": ("开采标高下", "开采标高下限", "标高下限", "下限标高", "最低标高", "开采下限",
                     "开采深度下", "开采深度下限", "终止标高", "下限"),
    "depth": ("开采标高", "开采深度", "开采深度标高", "标高", "开采标高范围"),
    "valid_from": ("有效期起", "有效期自", "有效期开始", "有效期起始", "有效期限起",
                   "起始日期", "开始日期", "有效期始"),
    "valid_to": ("有效期止", "有效期至", "有效期结束", "有效期截止", "有效期限止", "截止日期",
                 "终止日期", "到期日期"),
    "validity": ("有效期", "有效期限"),
    "scale": ("生产规模", "设计规模", "规模", "生产能力"),
}
_DATUM_WORDS = {  # how a title or note names the coordinate system
    "xian80": re.compile(r"西安\s*(?:19)?80|1980\s*西安|xian\s*(?:19)?80|80\s*坐标系", re.I),
    "beijing54": re.compile(r"北京\s*(?:19)?54|1954\s*北京|beijing\s*(?:19)?54|54\s*坐标系", re.I),
    "cgcs2000": re.compile(r"2000\s*国家大地|国家\s*2000|cgcs\s*2000|2000\s*坐标系", re.I),
}


@dataclass
class RightsReport:
    """What :func:`read_corner_table` detected, repaired and found.

    Attributes
    ----------
    path : Path
        The table read.
    order : str
        Axis order detected (e.g. "X = 北坐标 (northing), Y = 东坐标 (easting)").
    zone : int or None
        3-degree (or 6-degree) zone from the prefix of the easting.
    prefixed : bool
        Whether the eastings carry the zone prefix.
    crs : str
        CRS of the output ("EPSG:4547" or a PROJ description).
    detection : str
        :func:`riskmap.crs.gk.detect_gk`'s message.
    meridian : str
        Where the central meridian of eastings without prefix was taken from
        (:func:`riskmap.crs.meridian.resolve_meridian`), else ``""``.
    licences, blocks, corners : int
        Counts in the output.
    skipped_rows : int
        Rows without coordinates (skipped).
    closing_points : int
        Closing points (repeating the first corner of their block) dropped.
    table : TableInfo
        What :func:`riskmap.load.tables.read_table` found (header row, dropped rows).
    warnings : list of str
        Repairs and suspicious findings, one line each (also issued as
        :class:`~riskmap.errors.RiskmapWarning` for the repairs).
    overlaps : list of tuple
        ``(licence_a, licence_b, m²)`` for licences overlapping each other.
    notes : list of str
        Other information (columns found, datum, dropped rows).
    """

    path: Path
    order: str = ""
    zone: int | None = None
    prefixed: bool = False
    crs: str = ""
    detection: str = ""
    meridian: str = ""
    licences: int = 0
    blocks: int = 0
    corners: int = 0
    skipped_rows: int = 0
    closing_points: int = 0
    table: TableInfo | None = None
    warnings: list[str] = field(default_factory=list)
    overlaps: list[tuple[str, str, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The report as lines for a terminal (detected, counts, warnings, overlaps)."""
        out = [f"坐标轴 (axes): {self.order}",
               f"坐标系 (CRS): {self.crs}" + (f"; 带号 (zone) {self.zone}" if self.zone else ""),
               f"检测 (detected): {self.detection}",
               *([f"中央经线 (central meridian): {self.meridian}"] if self.meridian else []),
               f"采矿权 {self.licences} 个, 块段 {self.blocks} 个, 拐点 {self.corners} 个 "
               f"(licences, blocks, corners)"]
        if self.closing_points:
            out.append(f"闭合点 (closing points repeating the first corner) {self.closing_points} "
                       "个已去除 (dropped)")
        out += [f"说明 (note): {n}" for n in self.notes]
        out += [f"警告 (warning): {w}" for w in self.warnings]
        out += [f"重叠 (overlap): {a} × {b}: {m2:,.1f} m²" for a, b, m2 in self.overlaps]
        return out


def read_corner_table(path, *, sheet: str | int | None = None, encoding: str | None = None,
                      datum: str = "cgcs2000", towgs84=None, crs=None,
                      central_meridian: float | None = None, hints: CoordHints | None = None
                      ) -> tuple[gpd.GeoDataFrame, RightsReport]:
    """Read a corner-coordinate table into one polygon per mining-right licence.

    Parameters
    ----------
    path : str or Path
        CSV/TXT/XLSX table, one row per corner; title rows, footers and merged
        cells are fine (:func:`riskmap.load.tables.read_table`). Columns (by header
        name, see :data:`CORNER_KEYWORDS`): licence number and/or mine name,
        optional block, point number, X, Y, and optionally the depth range
        (two columns or one text such as "由1200米至800米标高"), validity (two
        columns or one text "2015-03-01至2025-03-01") and scale.
    sheet : str or int, optional
        Sheet of a workbook (default: the first with a corner-table header).
    encoding : str, optional
        Text encoding of a CSV/TXT (default: detected).
    datum : {"cgcs2000", "xian80", "beijing54", "wgs84"}
        Geodetic datum of the coordinates. Xi'an 1980 and Beijing 1954 need
        ``towgs84``. A table whose title or notes name another datum is refused
        rather than silently read as CGCS2000.
    towgs84 : str or sequence of float, optional
        Helmert parameters to WGS84 ("dx,dy,dz,rx,ry,rz,ds", m / arc-seconds / ppm).
    crs : str or pyproj.CRS, optional
        CRS of the coordinates, overriding the detection (the axis order is still
        detected; a zone prefix is kept or removed to fit the CRS's false easting).
    central_meridian : float, optional
        Central meridian (degrees E) for eastings without a zone prefix.
    hints : CoordHints, optional
        The project's working CRS and district: without ``central_meridian``
        or ``crs``, eastings without prefix take their meridian from the
        table's prefixed rows, the working CRS or the district
        (:func:`riskmap.crs.meridian.resolve_meridian`), said in
        :attr:`RightsReport.meridian`.

    Returns
    -------
    (geopandas.GeoDataFrame, RightsReport)
        One row per licence: ``licence_no``, ``name``, ``blocks``, ``corners``,
        ``area_km2``, ``depth_top``, ``depth_bottom``, ``valid_from``, ``valid_to``
        (ISO dates), ``scale`` (``None`` where absent) and a MultiPolygon
        ``geometry`` (exterior rings counter-clockwise) in the detected CRS
        (eastings without the zone prefix unless ``crs`` wants it).

    Raises
    ------
    LayerError
        Naming the file, every offending row (as numbered in the sheet) and the
        fix: missing columns, coordinates that are not numbers, mixed or
        impossible zones,
        a block with fewer than three corners, an unknown zone without
        ``central_meridian``/``crs``, Xi'an 1980/Beijing 1954 without ``towgs84``.
    """
    path = Path(path)
    # cached: a public register (licences, mines, corners), read by every command
    df, tinfo = read_table(path, sheet=sheet, encoding=encoding, keywords=CORNER_KEYWORDS,
                           numeric=("x", "y"), required=("x", "y"), cache=True)
    report = RightsReport(path=path, table=tinfo)
    report.notes += tinfo.notes
    if "licence_no" not in df and "name" not in df:
        raise LayerError(f"{path}: 第 {tinfo.header_row} 行表头缺少采矿许可证号或矿山名称列 "
                         "(no licence number or mine name column); name a column 采矿许可证号 "
                         "or 矿山名称")
    if len(df) == 0:
        raise LayerError(f"{path}: 表头下没有数据行 (no data rows under the header on row "
                         f"{tinfo.header_row})")
    df, rows, xy, out_crs = _corners_xy(path, df, tinfo, report, datum, towgs84, crs,
                                        central_meridian, hints)
    gdf = _licence_polygons(path, df, rows, xy, out_crs, report)
    report.licences = len(gdf)
    report.overlaps = licences.licence_overlaps(gdf, report)
    return gdf, report


def _corners_xy(path, df, tinfo, report, datum, towgs84, crs, central_meridian, hints):
    """Rows with coordinates, their easting/northing (m) and the CRS they are in."""
    from riskmap.crs import gk
    from riskmap.load import values

    rows = df["_row"].to_numpy()
    a, bad_a = values.parse_numbers(df["x"].to_numpy())
    b, bad_b = values.parse_numbers(df["y"].to_numpy())
    bad = bad_a | bad_b
    if bad.any():
        cells = {int(r): f"{df['x'].iat[i]!r}, {df['y'].iat[i]!r}"
                 for i, r in zip(np.flatnonzero(bad), rows[bad], strict=True)}
        raise LayerError(f"{path}: {_each_row(cells, '坐标不是数字 (not numbers)')}; "
                         "fix the cells")
    blank_a, blank_b = np.isnan(a), np.isnan(b)
    half = blank_a ^ blank_b
    if half.any():
        r = ", ".join(map(str, rows[half]))
        raise LayerError(f"{path}: 第 {r} 行 (row{'s' if half.sum() > 1 else ''} {r}): 只有一个"
                         "坐标 (only one of X/Y is filled); fill the other or delete the row")
    skip = blank_a & blank_b
    report.skipped_rows = int(skip.sum())
    if report.skipped_rows:
        report.notes.append(f"跳过 {report.skipped_rows} 行无坐标 (rows without coordinates "
                            f"skipped): {licences.rows_text(rows[skip])}")
    df, a, b, rows = df.loc[~skip].reset_index(drop=True), a[~skip], b[~skip], rows[~skip]
    if len(df) == 0:
        raise LayerError(f"{path}: 没有带坐标的行 (no row has coordinates)")

    try:
        guess = gk.detect_gk(a, b, rows=rows)
    except LayerError as e:  # rows named as the sheet numbers them
        raise LayerError(f"{path}: {e}") from None
    for msg in guess.repairs:  # rows unambiguous from the others: repaired and named
        report.warnings.append(msg)
        warnings.warn(f"{path}: {msg}", RiskmapWarning, stacklevel=3)
    easting, northing = guess.to_xy(a, b)
    easting, northing = np.asarray(easting, float), np.asarray(northing, float)
    report.detection = guess.message
    report.zone, report.prefixed = guess.zone, bool(guess.prefixed)
    report.order = ("X = 北坐标 (northing), Y = 东坐标 (easting) — 测量坐标顺序 (surveyors' order)"
                    if guess.northing_col == 0 else
                    "X = 东坐标 (easting), Y = 北坐标 (northing) — 数学顺序 (swapped/math order)")
    out_crs, easting = _resolve_crs(path, tinfo, guess, easting, northing, rows, datum, towgs84,
                                    crs, central_meridian, hints, report)
    report.crs = _crs_label(out_crs)
    # removing the prefix leaves float noise (463176.799999997): keep micrometres
    easting, northing = np.round(easting, 6), np.round(northing, 6)

    return df, rows, np.c_[easting, northing], out_crs


def _each_row(cells: dict[int, str], what: str) -> str:
    """``第 4 行 (row 4): 坐标 '…' 不是数字`` for one row; every row listed for several."""
    if len(cells) == 1:
        (r, c), = cells.items()
        return f"第 {r} 行 (row {r}): 坐标 {c} {what}"
    rows = ", ".join(map(str, cells))
    return f"第 {rows} 行 (rows {rows}): {what}: " + "; ".join(
        f"row {r}: {c}" for r, c in cells.items())


def _licence_polygons(path, df, rows, xy, out_crs, report) -> gpd.GeoDataFrame:
    """One MultiPolygon per licence from its blocks' corner rings, with attributes."""
    lic_key, lic_no, name = licences.licences(df)
    first_blank = lic_key.isna().to_numpy()
    if first_blank.any():
        i = int(np.flatnonzero(first_blank)[0])
        raise LayerError(f"{path}: 第 {rows[i]} 行 (row {rows[i]}): 没有采矿许可证号或矿山名称 "
                         "(no licence number or mine name above or on this row); fill it in")
    block = (licences.text(df["block"]) if "block" in df
             else pd.Series(None, index=df.index, dtype=object))
    block = block.groupby(lic_key.to_numpy()).ffill().fillna("1")
    if "point" in df:
        pnum = licences.point_numbers(df["point"])
    else:
        pnum = pd.Series(np.nan, index=df.index)
        report.notes.append("没有点号列, 按表格顺序连接拐点 (no point-number column: corners "
                            "joined in table order)")

    attrs = licences.attributes(df, lic_key)

    # ---- polygons per block, then per licence
    work = pd.DataFrame({"lic": lic_key, "block": block, "p": pnum,
                         "pos": np.arange(len(df))})
    licence_geoms: dict[str, list] = {}
    licence_corners: dict[str, int] = {}
    for (lic, blk), g in work.groupby(["lic", "block"], sort=False):
        ring_xy, ring_rows = licences.block_ring(path, lic, blk, g, xy, rows, report)
        poly = Polygon(ring_xy)
        if not poly.is_valid:
            reason = shapely.is_valid_reason(poly)
            poly = licences.polygonal(shapely.make_valid(poly))
            msg = (f"{lic} 块段 {blk} (block {blk}, rows {licences.rows_text(ring_rows)}): "
                   f"拐点连线自相交, 已修复 (self-intersecting ring repaired with make_valid: "
                   f"{reason}); check the point order")
            report.warnings.append(msg)
            warnings.warn(f"{path}: {msg}", RiskmapWarning, stacklevel=2)
        licence_geoms.setdefault(lic, []).append((blk, poly))
        licence_corners[lic] = licence_corners.get(lic, 0) + len(ring_xy)
        report.blocks += 1
        report.corners += len(ring_xy)

    records, geoms = [], []
    for lic, parts in licence_geoms.items():
        licences.block_overlaps(lic, parts, report)
        polys = [p for _, poly in parts for p in shapely.get_parts(poly)]
        geom = MultiPolygon(polys)
        if not geom.is_valid:  # touching or overlapping blocks: dissolve
            geom = licences.polygonal(shapely.union_all(polys))
        geom = MultiPolygon([orient(p, 1.0) for p in shapely.get_parts(geom)])
        rec = {"licence_no": lic_no.get(lic), "name": name.get(lic), "blocks": len(parts),
               "corners": licence_corners[lic], "area_km2": geom.area / 1e6}
        rec.update(attrs.get(lic, {}))
        records.append(rec)
        geoms.append(geom)
    cols = ["licence_no", "name", "blocks", "corners", "area_km2", "depth_top", "depth_bottom",
            "valid_from", "valid_to", "scale"]
    out = pd.DataFrame.from_records(records).reindex(columns=cols)
    out = out.astype({"blocks": "int32", "corners": "int32", "area_km2": "float64",
                      "depth_top": "float64", "depth_bottom": "float64"})
    for c in ("licence_no", "name", "valid_from", "valid_to", "scale"):
        out[c] = out[c].astype(object).where(out[c].notna(), None)
    return gpd.GeoDataFrame(out, geometry=geoms, crs=out_crs)


# --------------------------------------------------------------------------- CRS
def _resolve_crs(path, tinfo, guess, easting, northing, rows, datum, towgs84, crs,
                 central_meridian, hints, report):
    """The output CRS and the eastings that go with it."""
    from riskmap.crs import gk
    from riskmap.crs.meridian import resolve_meridian

    text = " ".join(tinfo.titles + tinfo.footers)
    if crs is not None:
        try:
            out = CRS.from_user_input(crs)
        except CRSError as e:
            raise LayerError(f"{path}: 坐标系 {crs!r} 无法识别 (unknown CRS): {e}; give e.g. "
                             "EPSG:4547") from None
        if out.is_geographic:
            raise LayerError(f"{path}: 坐标系 {crs} 是经纬度 (geographic); a corner table holds "
                             "projected metres: give a Gauss-Krüger CRS such as EPSG:4547")
        fe, cm = _false_easting_cm(out)
        if fe is not None and fe > 1e6:
            easting = easting + (fe - 500000.0)  # the CRS wants the zone prefix
        zone = guess.zone or guess.row_zone
        if zone and cm is not None and not _cm_fits_zone(cm, zone):
            raise LayerError(f"{path}: 坐标带号 {zone} 与坐标系 {crs} 的中央经线 {cm:g}° "
                             f"不符 (zone prefix {zone} does not fit the central meridian "
                             f"of {crs}); check --crs")
        report.notes.append(f"坐标系由用户指定 (CRS given by the user): {crs}")
        return out, easting
    mention = [d for d, pat in _DATUM_WORDS.items() if pat.search(text)]
    if mention and datum not in mention and len(mention) == 1:
        raise LayerError(f"{path}: 表格标题/注释写明 {mention[0]} 坐标系 (the title or notes "
                         f"name {mention[0]}: {text[:60]!r}) but the datum is {datum}; give "
                         f"--datum {mention[0]} (with --towgs84 for xian80/beijing54) or --crs "
                         "if the coordinates were already converted")
    zone_rows = ", ".join(map(str, rows[list(guess.prefix_removed)]))
    if guess.zone is None and central_meridian is None:
        central_meridian, note = resolve_meridian(easting, northing, row_zone=guess.row_zone,
                                                  zone_rows=zone_rows, hints=hints)
        if central_meridian is None:
            raise LayerError(f"{path}: 东坐标没有带号 (eastings carry no zone prefix), so the "
                             f"central meridian is unknown{'; ' + note if note else ''}; give "
                             "--central-meridian (e.g. 114) or --crs (e.g. EPSG:4547)")
        report.meridian = note
    kw = {"towgs84": _towgs84(path, towgs84)}
    if central_meridian is not None:
        zone = guess.zone or guess.row_zone
        if zone is not None and not _cm_fits_zone(float(central_meridian), zone):
            raise LayerError(f"{path}: 坐标带号 {zone} 与中央经线 {central_meridian}° 不符 "
                             f"(zone prefix does not fit the central meridian); check "
                             "--central-meridian")
        kw["central_meridian"] = float(central_meridian)
    else:
        kw["zone"] = guess.zone
    try:
        out = gk.gk_crs(datum, prefixed=False, **kw)
    except LayerError as e:
        hint = ("; 命令行 (command line): --towgs84 \"dx,dy,dz,rx,ry,rz,ds\""
                if "towgs84" in str(e) else "")
        raise LayerError(f"{path}: {e}{hint}") from None
    return out, easting


def _towgs84(path, towgs84):
    if towgs84 is None or towgs84 == "":
        return None
    if isinstance(towgs84, str):
        parts = [p for p in re.split(r"[,，\s]+", towgs84.strip()) if p]
    else:
        parts = list(towgs84)
    try:
        vals = tuple(float(p) for p in parts)
    except ValueError:
        vals = ()
    if len(vals) not in (3, 7):
        raise LayerError(f"{path}: towgs84 {towgs84!r} 应为 3 或 7 个数 (must be 3 or 7 numbers: "
                         "dx,dy,dz[,rx,ry,rz,ds])")
    return vals


def _false_easting_cm(crs: CRS) -> tuple[float | None, float | None]:
    op = crs.coordinate_operation
    if op is None:
        return None, None
    fe = cm = None
    for p in op.params:
        n = p.name.lower()
        if "false easting" in n:
            fe = float(p.value)
        elif "longitude of natural origin" in n or "central meridian" in n:
            cm = float(p.value)
    return fe, cm


def _cm_fits_zone(cm: float, zone: int) -> bool:
    return abs(cm - 3 * zone) < 1e-6


def _crs_label(crs: CRS) -> str:
    auth = crs.to_authority(min_confidence=90)
    return f"{auth[0]}:{auth[1]}" if auth else crs.name
