"""``riskmap import-rights``: mining-right licences from a corner-coordinate table."""

from __future__ import annotations

from pathlib import Path

import click

from riskmap.cli import cli, setup
from riskmap.cli.options import debug_opt, quiet_opt, verbose_opt
from riskmap.cli.text import echo_table
from riskmap.errors import ExportError


@cli.command("import-rights", short_help="导入采矿权拐点坐标 (licences from corner tables).")
@click.argument("table", type=click.Path(dir_okay=False))
@click.option("--out", "out", type=click.Path(dir_okay=False), metavar="FILE",
              help="要写入的 GeoPackage; 默认与 TABLE 同名, 后缀 .gpkg (GeoPackage to write; "
                   "default: TABLE with suffix .gpkg).")
@click.option("--sheet", metavar="S",
              help="XLSX 工作表: 名称或从 0 起的序号 (sheet of an XLSX workbook: name or "
                   "0-based index).")
@click.option("--encoding", metavar="ENC",
              help="CSV/TXT 的文本编码; 默认自动检测 (text encoding of a CSV/TXT; default: "
                   "detected).")
@click.option("--datum", type=click.Choice(["cgcs2000", "xian80", "beijing54"],
                                           case_sensitive=False),
              default="cgcs2000", show_default=True,
              help="坐标的大地基准 (geodetic datum of the coordinates).")
@click.option("--towgs84", metavar="PARAMS",
              help='西安80/北京54 到 WGS84 的七参数 "dx,dy,dz,rx,ry,rz,ds" (Helmert '
                   "parameters to WGS84 for xian80/beijing54).")
@click.option("--crs", metavar="CRS",
              help="坐标的坐标系, 覆盖自动识别, 如 EPSG:4547 (CRS of the coordinates; "
                   "overrides the detection).")
@click.option("--central-meridian", type=float, metavar="DEG",
              help="无带号东坐标的中央经线 (°E), 如 114 (central meridian for eastings "
                   "without a zone prefix).")
@click.option("--overwrite", is_flag=True,
              help="替换已有的 GeoPackage (replace the GeoPackage if it exists).")
@verbose_opt
@quiet_opt
@debug_opt
@click.pass_context
def import_rights(ctx, table, out, sheet, encoding, datum, towgs84, crs, central_meridian,
                  overwrite, verbose, quiet, debug):
    """导入采矿权拐点坐标: 将拐点表 TABLE 读成许可证多边形 (corner table to licence polygons).

    每行一个拐点: 许可证号或矿山名称、块段、点号、X、Y (X 为北坐标), 可含开采
    标高、有效期和生产规模; 写入 GeoPackage 的 mining_rights 图层 (one row per
    corner: licence, block, point number, X = northing, Y = easting; writes the
    layer mining_rights).
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
