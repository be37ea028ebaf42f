"""Make test county B (孝义市, synthetic except its real outline) as its data are delivered.

``make_county_b(folder)`` writes the county's files in the conventions real
county data arrive in (issue 13) and returns the path of its project file;
``build_world(seed)`` gives the hidden world and truth in memory (nothing of
the truth is written). ``scripts/make_county_b.py`` is the command line.
"""

from __future__ import annotations

import datetime as dt
import shutil
import string
from pathlib import Path

import numpy as np

from . import geo, hidden, power, returns, tables, vectors, world
from .files import save_xlsx, title_sheet

DEFAULT_SEED = 20251201
HERE = Path(__file__).resolve().parent
#: seed-sequence children, one stream per part (adding a part changes no other file)
STREAMS = ("townships", "villages", "outcrops", "licences", "closed", "premises", "latent",
           "cases", "tips", "ledger", "meters", "roster", "returns", "vectors")


def build_world(seed: int = DEFAULT_SEED) -> dict:
    """The synthetic world of county B in EPSG:4546, with its hidden process and draws.

    Returns
    -------
    dict
        ``district``/``neighbours`` (real records), ``townships``, ``villages``,
        ``village_points``, ``outcrops``, ``licences``, ``closed_mines``,
        ``premises`` (GeoDataFrames), ``cov`` and ``lam`` (hidden intensity on a
        100 m grid), ``cases``, ``tips``, ``rng`` (one generator per stream).
    """
    rng = dict(zip(STREAMS, (np.random.default_rng(s) for s in
                             np.random.SeedSequence(seed).spawn(len(STREAMS))), strict=True))
    district, neighbours = geo.read_boundaries()
    w: dict = {"seed": seed, "district": district, "neighbours": neighbours, "rng": rng}
    d = district["geom"]
    w["townships"] = world.make_townships(d, rng["townships"])
    w["villages"] = world.make_villages(w["townships"], rng["villages"])
    w["village_points"] = world.make_village_points(w["villages"])
    w["outcrops"] = world.make_outcrops(d, rng["outcrops"])
    w["licences"] = world.make_licences(d, w["outcrops"], w["villages"], rng["licences"])
    w["closed_mines"] = world.make_closed_mines(d, w["outcrops"], w["licences"], w["villages"],
                                                rng["closed"])
    w["premises"] = world.make_premises(w["villages"], w["village_points"], w["licences"],
                                        rng["premises"])
    w["cov"] = hidden.covariates(w, rng["latent"])
    w["lam"] = hidden.intensity(w["cov"])
    cases = hidden.draw_cases(w, w["cov"], w["lam"], rng["cases"])
    cases["township"], cases["village"] = world.locate(
        np.column_stack([cases.geometry.x, cases.geometry.y]), w["villages"])
    w["cases"] = cases
    tips = hidden.draw_tips(w, cases, rng["tips"])
    tips["township"], tips["village"] = world.locate(
        np.column_stack([tips.geometry.x, tips.geometry.y]), w["villages"])
    w["tips"] = tips
    return w


def lam_at(w: dict):
    """A function giving the hidden relative intensity at ``(n, 2)`` points."""
    r, lam = w["cov"]["raster"], w["lam"]
    return lambda xy: r.at(lam, xy) + 1e-12


def make_county_b(folder: Path, seed: int = DEFAULT_SEED) -> Path:
    """Write county B's delivered files into ``folder``; return its ``project.yaml``.

    Parameters
    ----------
    folder : Path
        Created if missing; files of an earlier run are overwritten.
    seed : int
        Seed of every random stream; the same seed gives the same files.

    Returns
    -------
    Path
        ``folder / "project.yaml"``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    w = build_world(seed)
    rng = w["rng"]
    info: dict = {"seed": seed}
    info["areas"] = vectors.write_areas(w, folder)
    info["closed"] = vectors.write_closed_mines(w, folder / "关闭矿井及取缔坑口.geojson",
                                                rng["vectors"])
    info["kml"] = vectors.write_outcrops(w, folder / "露头线.kml")
    info["premises"] = vectors.write_premises(w, folder / "场所.gpkg", folder / "高德导出_场所.csv",
                                              rng["vectors"])
    info["corners"] = tables.write_corner_table(w["licences"], folder / "采矿权拐点坐标.xlsx",
                                                rng["licences"])
    info["ledger"] = tables.write_ledger(w["cases"], folder / "案件台账.xlsx", rng["ledger"])
    info["tips"] = tables.write_tips(w["tips"], folder / "举报线索.csv", rng["tips"])
    meters, truth = power.make_meters(w, rng["meters"])
    write_meters(meters, folder / "供电台账.xlsx")
    info["meters"] = {"users": len(meters), "illegal": len(truth["illegal"]),
                      "decoy": len(truth["decoy"]), "heated": truth["heated"]}
    info["roster"] = tables.write_roster(w["villages"], folder / "网格责任人名单.xlsx",
                                         rng["roster"])
    info["returns"] = returns.write_returns(w, lam_at(w), folder / "returns", rng["returns"])
    shutil.copyfile(HERE / "project.yaml", folder / "project.yaml")
    write_readme(w, info, folder / "README.md")
    return folder / "project.yaml"


def write_meters(table, path: Path) -> None:
    """The meter table as the supply station exports it: title row, header, footer note."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "用电量"
    header = list(table.columns)
    title_sheet(ws, "孝义市农村低压用户月度用电量台账（2024年12月—2025年11月）（合成数据，虚构）",
                ["序号", *header], [6, 13, 18, 14, 10, 14, 10, 10, 11, 11] + [10] * 12)
    for k, rec in enumerate(table.itertuples(index=False), start=1):
        vals = [None if isinstance(v, float) and np.isnan(v) else v for v in rec]
        ws.append([k, *vals])
        ws.cell(ws.max_row, 2).number_format = "@"
        ws.cell(ws.max_row, 4).number_format = "@"
    ws.cell(ws.max_row + 1, 1, "注：电量单位千瓦时；经纬度为WGS84（部分用户未采集）。")
    save_xlsx(wb, path)


def write_readme(w: dict, info: dict, path: Path) -> None:
    """The folder's README: files, conventions checklist, hidden process, with this run's counts."""
    vil = w["villages"]
    dup = sorted(set(vil["name"][vil["name"].duplicated(keep=False)]))
    pairs = "; ".join(f"{n} ({'、'.join(vil.loc[vil['name'] == n, 'township'])})" for n in dup)
    led = info["ledger"]
    text = string.Template((HERE / "county_readme.md").read_text(encoding="utf-8")).substitute(
        seed=info["seed"], made=dt.date(2025, 12, 1).isoformat(),
        n_townships=len(w["townships"]), n_villages=len(vil), dup_pairs=pairs,
        n_licences=len(w["licences"]), n_corners=info["corners"],
        n_closed=info["closed"]["rows"], far_outside="、".join(info["closed"]["far_outside"]),
        n_outcrops=info["kml"]["lines"], n_premises=info["premises"]["gpkg_rows"],
        n_amap=info["premises"]["amap_rows"], n_cases=len(w["cases"]),
        n_repeat=int((w["cases"]["parent"] >= 0).sum()), n_ledger=led["rows"],
        swapped=", ".join(map(str, led["swapped"])), prefixed=", ".join(map(str, led["prefixed"])),
        duplicate=", ".join(map(str, led["duplicate"])),
        same_place=", ".join(map(str, led["same_place"])), n_tips=info["tips"],
        n_users=info["meters"]["users"], n_illegal=info["meters"]["illegal"],
        n_decoy=info["meters"]["decoy"], heated="、".join(info["meters"]["heated"]),
        returns="\n".join(f"| `returns/{k}` | {v['rows']} | {', '.join(map(str, v['failed']))} "
                          f"| {v['finds']} / {v['suspect']} |"
                          for k, v in info["returns"].items()),
    )
    path.write_text(text, encoding="utf-8")
