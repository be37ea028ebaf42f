"""plan.pdf: pages at 1:25 000 or larger, numbers legible and apart, every cell in a table.

Rendered with poppler (``pdftoppm`` at 300 dpi, ``pdftotext -bbox``) and measured:
the glyphs of every number on the map are ≥ 2 mm high, no two numbers (nor a
number and any other map text) overlap, the printed scale is ≤ 1:25 000 and true
(kilometre labels 1 km apart on paper), and every planned cell id is in a table.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess

import geopandas as gpd
import numpy as np
import pytest
import shapely
from PIL import Image
from pyproj import Transformer
from test_plan import Tiny
from tinyproject import CRS, X0, Y0

from riskmap.export.pdf.labels import around_offsets, boxes_at, overlaps, place
from riskmap.export.pdf.planpages import MAX_SCALE, MIN_SCALE, CellSet, plan_pages
from riskmap.export.pdf.plansheet import (
    PlanAreas,
    plan_layout,
    plan_sheet_pages,
    write_plan_pdf,
)
from riskmap.field.plan import PlanCell, TownshipPlan, VillagePlan
from riskmap.field.week import Week
from riskmap.grid.cellid import cell_ids

PT = 72 / 25.4  # points per mm
DPI = 300
_WORD = re.compile(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">'
                   r"([^<]*)</word>")
needs_poppler = pytest.mark.skipif(not shutil.which("pdftotext") or not shutil.which("pdftoppm"),
                                   reason="poppler-utils (pdftotext, pdftoppm) not installed")


# --------------------------------------------------------------------------- a plan in code
def synthetic_plan(seed: int = 4, spread_km: float = 9.0) -> tuple[TownshipPlan, PlanAreas]:
    """A township of four villages: a 3 × 3 block around a find with its top cells beside
    it, scattered cells, a far cluster and a long line: pages, splits and crowded numbers."""
    rng = np.random.default_rng(seed)
    to_wgs = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    cell = 100.0
    layout = {
        "甲村": [(10 + i, 10 + j) for i in range(3) for j in range(3)] + [(13, 10), (13, 11),
                                                                          (9, 12), (14, 11)],
        "乙村": [(30 + int(rng.integers(0, 20)), 5 + int(rng.integers(0, 20))) for _ in range(6)],
        "丙村": [(int(spread_km * 10) - 5 + int(rng.integers(0, 8)),
                  int(spread_km * 10) - 5 + int(rng.integers(0, 8))) for _ in range(6)],
        "丁村": [(5 + 3 * i, 40 + (i % 3)) for i in range(12)],
    }
    villages, boxes = [], []
    reasons = ["重点", "发现点周边", "随机抽查"]
    for vi, (name, cols_rows) in enumerate(layout.items()):
        cols_rows = list(dict.fromkeys(cols_rows))
        xs = np.array([X0 + c * cell + cell / 2 for c, _ in cols_rows])
        ys = np.array([Y0 + r * cell + cell / 2 for _, r in cols_rows])
        ids = cell_ids(xs - cell / 2, ys - cell / 2, cell)
        lon, lat = to_wgs.transform(xs, ys)
        start = (float(xs.min() - 300), float(ys.min() - 200))
        cells = [PlanCell(seq=i + 1, cell_id=str(ids[i]), township="试验镇", village=name,
                          reason=reasons[(i + vi) % 3], cls=1 + (i + vi) % 5, score=50.0,
                          adj_score=50.0, adjustment="", x=float(xs[i]), y=float(ys[i]),
                          lon=float(lon[i]), lat=float(lat[i]),
                          top_factors=f"关闭矿井 {100 + 10 * i} m (+{9 - i % 5})",
                          responsible=f"干部{vi}", phone="13900000000")
                 for i in range(len(xs))]
        villages.append(VillagePlan("试验镇", name, start, to_wgs.transform(*start), "村委会",
                                    cells, 1000.0, 1200.0, f"干部{vi}", "13900000000"))
        boxes.append(shapely.box(xs.min() - 600, ys.min() - 600, xs.max() + 600, ys.max() + 600))
    tp = TownshipPlan("试验", CRS, "试验镇", Week.parse("2026-W49"), "2026-11-27T10:00:00+08:00",
                      ["规则"], villages, cell_size=cell)
    for no, c in enumerate(tp.cells, start=1):
        c.no = no
    vill = gpd.GeoDataFrame({"name": list(layout)}, geometry=boxes, crs=CRS)
    town = shapely.union_all(boxes).buffer(300).envelope
    return tp, PlanAreas(town, vill)


# --------------------------------------------------------------------------- poppler
def pdf_words(path) -> list[list[tuple[str, np.ndarray]]]:
    """Words per page with their boxes (pt, origin top-left), as ``pdftotext -bbox`` gives."""
    out = subprocess.run(["pdftotext", "-bbox", str(path), "-"], capture_output=True,
                         check=True).stdout.decode("utf-8")
    pages = []
    for page in out.split("<page ")[1:]:
        pages.append([(html.unescape(m[4]), np.array(m[:4], float)) for m in _WORD.findall(page)])
    return pages


def page_texts(path, n: int) -> list[str]:
    return [subprocess.run(["pdftotext", "-f", str(i), "-l", str(i), "-layout", str(path), "-"],
                           capture_output=True, check=True).stdout.decode("utf-8")
            for i in range(1, n + 1)]


def render(path, folder) -> list[np.ndarray]:
    # PPM, not PNG: the same pixels without PNG's compression (~4x faster at 300 dpi)
    subprocess.run(["pdftoppm", "-r", str(DPI), str(path), str(folder / "p")], check=True)
    return [np.asarray(Image.open(p).convert("RGB")) for p in sorted(folder.glob("p-*.ppm"))]


def check_sheet(path, tp: TownshipPlan, paper: str, tmp_path, font=None) -> list:
    """Every measurement of the module docstring, page by page; returns the pages."""
    specs = plan_sheet_pages(tp, paper=paper, font=font)
    lay = plan_layout(paper)
    words = pdf_words(path)
    assert len(words) == len(specs) >= 1
    texts = page_texts(path, len(specs))
    images = render(path, tmp_path)
    mx, my, mw, mh = (v * PT for v in lay["map"])
    heights, true_scales = [], []
    for spec, ws, text, img in zip(specs, words, texts, images, strict=True):
        # (b) the printed scale: at most 1:25 000, the page's, and true on paper
        printed = [int(s.replace(" ", "")) for s in re.findall(r"比例尺 1:(\d{1,3}(?: \d{3})+)",
                                                                text)]
        assert printed and set(printed) == {spec.scale} and spec.scale <= 25000
        inside = [(t, b) for t, b in ws if b[0] >= mx - 0.5 and b[2] <= mx + mw + 0.5
                  and b[1] >= my - 0.5 and b[3] <= my + mh + 0.5]
        below = sorted(((b[0] + b[2]) / 2, int(t)) for t, b in ws if t.isdigit() and len(t) == 3
                       and my + mh < b[1] < my + mh + 8 * PT)  # km labels under the frame
        if len(below) >= 2:
            (x0, k0), (x1, k1) = below[0], below[-1]
            mm_per_km = (x1 - x0) / PT / (k1 - k0)
            true_scales.append(1e6 / mm_per_km / spec.scale)
        # the numbers on the map: own and other pages' cells that were placed
        cells = tp.cells
        shown = {str(cells[i].no) for i in spec.shown[spec.labels.placed]}
        own = {str(cells[i].no) for i in spec.cells}
        sb = np.array(spec.furniture["scale_bar"])
        sb_pt = np.array([mx + (sb[0] - spec.extent[0]) / spec.mpm * PT,
                          my + mh - (sb[3] - spec.extent[2]) / spec.mpm * PT,
                          mx + (sb[2] - spec.extent[0]) / spec.mpm * PT,
                          my + mh - (sb[1] - spec.extent[2]) / spec.mpm * PT])
        in_bar = [bool(overlaps(b[None], sb_pt[None])[0, 0]) for _, b in inside]
        nums = [(t, b) for (t, b), bar in zip(inside, in_bar, strict=True)
                if t in shown and not bar]
        assert own <= {t for t, _ in nums}  # (d) every cell of the table is on the map
        assert len(nums) == len({t for t, _ in nums})  # each number once on the page
        nb = np.array([b for _, b in nums])
        ov = overlaps(nb + np.array([0.05, 0.05, -0.05, -0.05]), nb)
        np.fill_diagonal(ov, False)
        assert not ov.any(), [(nums[i][0], nums[j][0]) for i, j in np.argwhere(ov)]
        rest = np.array([b for (t, b), bar in zip(inside, in_bar, strict=True)
                         if (t, b) not in nums or bar]).reshape(-1, 4)
        ovr = overlaps(nb + np.array([0.05, 0.05, -0.05, -0.05]), rest)
        assert not ovr.any()
        # (a) legible at print size: the ink of each number, measured at 300 dpi
        dark = (img < 110).all(axis=2)
        s = DPI / 72
        for _, b in nums:
            crop = dark[int(b[1] * s):int(np.ceil(b[3] * s)), int(b[0] * s):int(np.ceil(b[2] * s))]
            rows = np.flatnonzero(crop.any(axis=1))
            assert len(rows), "a number without ink"
            heights.append((rows[-1] - rows[0] + 1) * 25.4 / DPI)
        # (c) the table lists the page's own cells by id
        for i in spec.cells:
            assert cells[i].cell_id in text
    heights = np.array(heights)
    assert heights.min() >= 2.0, heights.min()
    assert 2.0 <= np.median(heights) <= 3.5  # glyphs measured, not lines
    if true_scales:
        assert np.allclose(true_scales, 1.0, atol=0.01), true_scales
    # (c) every planned cell id exactly once over all tables (ids are not printed on maps)
    allw = [t for ws in words for t, _ in ws]
    for c in tp.cells:
        assert allw.count(c.cell_id) == 1, c.cell_id
    return specs, true_scales


# --------------------------------------------------------------------------- pure parts
def test_place_labels_avoid_each_other_and_obstacles():
    x = np.array([10.0, 10.0, 10.0])
    y = np.array([10.0, 10.0, 10.0])
    w, h = np.full(3, 4.0), np.full(3, 4.0)
    off, lead = around_offsets(2.0, w, h)
    assert off.shape == (3, 8 + 36, 2) and not lead[:8].any() and lead[8:].all()
    boxes = boxes_at(x, y, off, w, h)
    got = place(boxes, obstacles=np.array([[8.0, 8.0, 12.0, 12.0]]), frame=(0, 0, 40, 40),
                sep=0.5)
    assert got.placed.all() and list(got.choice) == [0, 1, 2]  # east, north, west
    ov = overlaps(got.boxes + np.array([-0.25, -0.25, 0.25, 0.25]), got.boxes)
    np.fill_diagonal(ov, False)
    assert not ov.any() and not overlaps(got.boxes, [[8, 8, 12, 12]]).any()
    # one place for two labels: the earlier wins; no room at all: not placed
    same = place(np.array([[[0.0, 0, 4, 4]], [[0.0, 0, 4, 4]]]))
    assert list(same.choice) == [0, -1] and np.isnan(same.boxes[1]).all()
    none = place(boxes, frame=(0, 0, 5, 5))
    assert not none.placed.any() and np.isnan(none.boxes).all()
    # side by side with no gap they would read as one number: sep keeps them apart
    pair = np.array([[[0.0, 0, 4, 4], [0, 0, 4, 4]], [[4.0, 0, 8, 4], [4, 10, 8, 14]]])
    assert list(place(pair).choice) == [0, 0]
    assert list(place(pair, sep=1.0).choice) == [0, 1]


def cellset(tp: TownshipPlan, w=3.5, h=4.6) -> CellSet:
    names = [v.village for v in tp.villages]
    return CellSet(np.array([c.x for c in tp.cells]), np.array([c.y for c in tp.cells]),
                   np.array([names.index(c.village) for c in tp.cells]),
                   np.array([v.start for v in tp.villages]), 100.0, np.full(len(tp.cells), w),
                   np.full(len(tp.cells), h))


@pytest.mark.parametrize("spread", [3.0, 9.0, 30.0])
def test_pages_hold_every_cell_once_at_1_25000_or_larger(spread):
    tp, _ = synthetic_plan(spread_km=spread)
    cs = cellset(tp)
    pages = plan_pages(cs, map_mm=(131.0, 150.0), rows=12, k=0.8)
    got = np.concatenate([p.cells for p in pages])
    assert sorted(got.tolist()) == list(range(len(cs)))  # each cell on exactly one page
    for p in pages:
        assert MIN_SCALE <= p.scale <= MAX_SCALE and len(p.cells) <= 12
        assert p.labels.placed[:len(p.cells)].all()
        half = cs.cell_m / 2
        ext = p.extent
        assert (cs.x[p.cells] - half >= ext[0]).all() and (cs.x[p.cells] + half <= ext[1]).all()
        assert (cs.y[p.cells] - half >= ext[2]).all() and (cs.y[p.cells] + half <= ext[3]).all()
        # placed numbers never overlap each other, nor a cell unless written inside their own
        b = p.labels.boxes[p.labels.placed]
        ov = overlaps(b, b)
        np.fill_diagonal(ov, False)
        assert not ov.any()
        sx = (cs.x[p.shown] - ext[0]) / p.mpm
        sy = (cs.y[p.shown] - ext[2]) / p.mpm
        hm = half / p.mpm
        cb = np.c_[sx - hm, sy - hm, sx + hm, sy + hm]
        hit = overlaps(p.labels.boxes, cb)
        if p.inside:
            np.fill_diagonal(hit, False)
        assert not hit[p.labels.placed].any()
        assert cs.cell_m / p.mpm >= 4.0  # a 100 m cell is at least 4 mm on paper
    # the ordering follows the numbers
    assert [int(p.cells.min()) for p in pages] == sorted(int(p.cells.min()) for p in pages)
    if spread >= 9:
        assert len(pages) >= 2


def test_crowded_block_is_split_or_written_inside():
    """A 6 × 6 block of planned cells: the numbers go inside the cells at a larger scale."""
    to = np.arange(36)
    x = X0 + (to % 6) * 100 + 50.0
    y = Y0 + (to // 6) * 100 + 50.0
    cs = CellSet(x, y, np.zeros(36, int), np.array([[X0 - 200, Y0 - 200]]), 100.0,
                 np.full(36, 3.5), np.full(36, 4.6))
    pages = plan_pages(cs, map_mm=(131.0, 150.0), rows=40, k=0.8)
    assert all(p.labels.placed[:len(p.cells)].all() for p in pages)
    assert any(p.inside for p in pages) and all(p.scale <= 25000 for p in pages)


# --------------------------------------------------------------------------- rendered
@needs_poppler
@pytest.mark.parametrize("paper", ["A4", "A3"])
def test_plan_pdf_synthetic(tmp_path, paper):
    tp, areas = synthetic_plan()
    info = write_plan_pdf(tp, tmp_path / "plan.pdf", areas=areas, paper=paper)
    assert info.pages >= 2 and max(info.scales) <= 25000 and info.unplaced == 0
    specs, true = check_sheet(tmp_path / "plan.pdf", tp, paper, tmp_path)
    assert any(not s.inside for s in specs)  # numbers beside cells were measured too
    assert true  # and the scale was checked on paper at least once
    meta = subprocess.run(["pdfinfo", str(tmp_path / "plan.pdf")], capture_output=True,
                          text=True).stdout
    assert "内部资料" in meta and re.search(rf"Pages:\s+{info.pages}\n", meta)


@needs_poppler
def test_plan_pdf_of_the_tiny_project(tmp_path):
    from riskmap.pipeline.field import plan_areas, write_plan

    tiny = Tiny(tmp_path)
    tp = tiny.plan(townships=["东镇"])[0]
    write_plan(tp, tmp_path / "东镇", areas=plan_areas(tiny.inputs, "东镇"))
    check_sheet(tmp_path / "东镇" / "plan.pdf", tp, "A4", tmp_path)
    text = page_texts(tmp_path / "东镇" / "plan.pdf", 1)[0]
    assert "东镇 巡查计划图 2026-W49" in text and "内部资料 注意保密" in text
    assert "张建国" in text and "已查" in text and "结果" in text
    # every font embedded as TrueType: a CFF face as it is (CID Type 0C) reads wrong in Adobe
    fonts = subprocess.run(["pdffonts", str(tmp_path / "东镇" / "plan.pdf")], capture_output=True,
                           text=True, check=True).stdout.splitlines()[2:]
    assert fonts and all("CID TrueType" in f for f in fonts), fonts


@needs_poppler
def test_plan_pdf_with_nothing_planned(tmp_path):
    tp, areas = synthetic_plan()
    tp.villages = []
    info = write_plan_pdf(tp, tmp_path / "plan.pdf", areas=areas)
    assert info.pages == 1
    assert "本周无巡查网格" in page_texts(tmp_path / "plan.pdf", 1)[0]


@needs_poppler
def test_plan_pdf_of_county_b(tmp_path):
    """The second county as delivered: one township's sheet, measured."""
    from countyb.cache import county_b as make_county_b

    from riskmap.load.inputs import load_inputs
    from riskmap.pipeline.field import run_plan
    from riskmap.pipeline.project import load_project

    project = load_project(make_county_b(tmp_path / "cb"))
    vill = load_inputs(project).villages
    t = vill["township"].value_counts().index[0]  # the township with the most villages
    rep = run_plan(project, "2026-W49", out=tmp_path / "plan", record=False, townships=[t])
    tp = rep.plans[0]
    specs, _ = check_sheet(tmp_path / "plan" / t / "plan.pdf", tp, "A4", tmp_path)
    assert len(specs) == rep.sheets[t].pages >= 2 and rep.sheets[t].unplaced == 0
