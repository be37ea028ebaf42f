"""``riskmap import-rights``: mining-right licences from a corner-coordinate table."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import click

from riskmap.cli import cli, setup
from riskmap.cli.options import debug_opt, overwrite_opt, quiet_opt, verbose_opt
from riskmap.cli.text import echo_table
from riskmap.errors import ExportError

#: layer name of the licences in the GeoPackage written
LAYER = "mining_rights"


@cli.command("import-rights")
@click.argument("table", type=click.Path(dir_okay=False))
@click.option("--out", "out", type=click.Path(dir_okay=False), metavar="FILE",
              help="GeoPackage to write (default: TABLE with suffix .gpkg).")
@click.option("--sheet", metavar="S", help="Sheet of an XLSX workbook (name or 0-based index).")
@click.option("--encoding", metavar="ENC", help="Text encoding of a CSV/TXT (default: detected).")
@click.option("--datum", type=click.Choice(["cgcs2000", "xian80", "beijing54"],
                                           case_sensitive=False),
              default="cgcs2000", show_default=True, help="Geodetic datum of the coordinates.")
@click.option("--towgs84", metavar="PARAMS",
              help='Helmert parameters to WGS84 for xian80/beijing54: "dx,dy,dz,rx,ry,rz,ds".')
@click.option("--crs", metavar="CRS", help="CRS of the coordinates (overrides the detection), "
              "e.g. EPSG:4547.")
@click.option("--central-meridian", type=float, metavar="DEG",
              help="Central meridian (°E) for eastings without a zone prefix, e.g. 114.")
@overwrite_opt
@verbose_opt
@quiet_opt
@debug_opt
@click.pass_context
def import_rights(ctx, table, out, sheet, encoding, datum, towgs84, crs, central_meridian,
                  overwrite, verbose, quiet, debug):
    """Read a corner-coordinate TABLE into licence polygons (导入采矿权拐点坐标).

    One row per corner: licence number/name, block, point number, X, Y (X =
    northing), optionally 开采标高, 有效期 and 生产规模. Writes layer
    'mining_rights' to a GeoPackage.
    """
    from riskmap.load.rights import read_corner_table

    setup(ctx, verbose, quiet, debug)
    src = Path(table)
    dest = Path(out) if out else src.with_suffix(".gpkg")
    if dest.resolve() == src.resolve():
        raise ExportError(f"{dest}: 输出会覆盖输入表格 (the output would replace the table); "
                          "give another --out")
    if dest.exists() and not overwrite:
        raise ExportError(f"{dest}: 输出已存在 (output exists) and won't be overwritten "
                          "without --overwrite")
    gdf, report = read_corner_table(src, sheet=sheet, encoding=encoding, datum=datum.lower(),
                                    towgs84=towgs84, crs=crs, central_meridian=central_meridian)
    write_gpkg(gdf, dest, overwrite=overwrite)
    if quiet < 2:
        for line in report.lines():
            click.echo(line)
        _table(gdf)
        click.echo(f"已写出 (written): {dest} (图层 {LAYER}, {len(gdf)} 个采矿权)")


def write_gpkg(gdf, dest: Path, *, overwrite: bool = False, layer: str = LAYER) -> None:
    """Write one layer to a GeoPackage atomically (temporary file, then ``os.replace``).

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        Features to write.
    dest : Path
        GeoPackage path; replaced whole if it exists and ``overwrite``.
    overwrite : bool
        Allow replacing an existing file.
    layer : str
        Layer name.

    Raises
    ------
    ExportError
        ``dest`` exists without ``overwrite``, or the folder is not writable.
    """
    import pyogrio

    dest = Path(dest)
    if dest.exists() and not overwrite:
        raise ExportError(f"{dest}: 输出已存在 (output exists) and won't be overwritten "
                          "without --overwrite")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{dest.stem}.tmp-", suffix=".gpkg",
                                    dir=dest.parent)
    except OSError as e:
        raise ExportError(f"{dest.parent}: 无法写入 (cannot write there): {e.strerror}; "
                          "choose another --out") from None
    os.close(fd)
    tmp = Path(name)
    try:
        tmp.unlink()  # GDAL creates the file itself
        pyogrio.write_dataframe(gdf, tmp, layer=layer, driver="GPKG")
        os.replace(tmp, dest)
    except (OSError, RuntimeError) as e:  # pyogrio's errors are RuntimeErrors
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ExportError(f"{dest}: 无法写入 (cannot write): {first}; check the folder and "
                          "disk space") from None
    finally:
        tmp.unlink(missing_ok=True)


def _table(gdf) -> None:
    head = ["采矿许可证号", "矿山名称", "块段", "拐点", "面积 km²"]
    rows = [[str(r.licence_no or ""), str(r.name or ""), str(r.blocks), str(r.corners),
             f"{r.area_km2:.4f}"] for r in gdf.itertuples()]
    echo_table(head, rows)
