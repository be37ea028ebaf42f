"""``riskmap import-rights``: mining-right licences from a corner-coordinate table."""

from __future__ import annotations

from pathlib import Path

import click

from riskmap.cli import cli, setup
from riskmap.cli.options import debug_opt, overwrite_opt, quiet_opt, verbose_opt
from riskmap.cli.text import echo_table
from riskmap.errors import ExportError


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
    from riskmap.export.atomic import check_free
    from riskmap.export.gpkg import RIGHTS_LAYER, write_layer
    from riskmap.load.rights import read_corner_table

    setup(ctx, verbose, quiet, debug)
    src = Path(table)
    dest = Path(out) if out else src.with_suffix(".gpkg")
    if dest.resolve() == src.resolve():
        raise ExportError(f"{dest}: 输出会覆盖输入表格 (the output would replace the table); "
                          "give another --out")
    check_free(dest, overwrite)  # before reading the table
    gdf, report = read_corner_table(src, sheet=sheet, encoding=encoding, datum=datum.lower(),
                                    towgs84=towgs84, crs=crs, central_meridian=central_meridian)
    write_layer(gdf, dest, layer=RIGHTS_LAYER, overwrite=overwrite)
    if quiet < 2:
        for line in report.lines():
            click.echo(line)
        _table(gdf)
        click.echo(f"已写出 (written): {dest} (图层 {RIGHTS_LAYER}, {len(gdf)} 个采矿权)")


def _table(gdf) -> None:
    head = ["采矿许可证号", "矿山名称", "块段", "拐点", "面积 km²"]
    rows = [[str(r.licence_no or ""), str(r.name or ""), str(r.blocks), str(r.corners),
             f"{r.area_km2:.4f}"] for r in gdf.itertuples()]
    echo_table(head, rows)
