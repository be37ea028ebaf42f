"""Hostile project files are refused at once, naming the key (issue 14, bad project files)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import geopandas as gpd
import pytest
import shapely
import yaml
from tinyproject import CRS, X0, Y0, make_project

from riskmap.errors import ProjectFileError, RiskmapError
from riskmap.pipeline.project import load_project

BOMB = "\n".join(["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
                 + [f"{c}: &{c} [{', '.join(['*' + p] * 9)}]"
                    for p, c in zip("abcdefgh", "bcdefghi", strict=True)]) + "\n"


def run(*args):
    return subprocess.run([sys.executable, "-m", "riskmap", *args], capture_output=True,
                          text=True, timeout=60)


def _project(tmp_path, edit=None) -> os.PathLike:
    return make_project(tmp_path, edit)


def test_an_alias_bomb_is_refused_fast(tmp_path):
    proj = _project(tmp_path)
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB + proj.read_text(encoding="utf-8"), encoding="utf-8")
    t = time.perf_counter()
    with pytest.raises(ProjectFileError, match=r"别名展开过大.*alias bomb"):
        load_project(path)
    assert time.perf_counter() - t < 2
    r = run("check", str(path))
    assert r.returncode == 1 and "alias bomb" in r.stderr and "Traceback" not in r.stderr


def test_a_recursive_alias_is_refused(tmp_path):
    path = tmp_path / "rec.yaml"
    path.write_text("crs: EPSG:4547\nloop: &l [1, *l]\n", encoding="utf-8")
    with pytest.raises(ProjectFileError, match="recursive alias"):
        load_project(path)


def test_small_aliases_still_work(tmp_path):
    def edit(d):
        d["factors"][1]["range"] = 600

    proj = _project(tmp_path, edit)
    text = proj.read_text(encoding="utf-8").replace("range: 600", "range: &r 600", 1)
    proj.write_text(text.replace("range: 400", "range: *r", 1), encoding="utf-8")
    assert {f.params.get("range") for f in load_project(proj).factors} >= {600.0}


def test_a_key_given_twice_is_refused_with_its_line(tmp_path):
    proj = _project(tmp_path)
    text = proj.read_text(encoding="utf-8")
    proj.write_text(text + "name: again\n", encoding="utf-8")
    line = len(text.splitlines()) + 1
    with pytest.raises(ProjectFileError, match=rf"第 {line} 行: 键 'name' 重复.*first on line 1"):
        load_project(proj)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_a_fifo_is_refused_never_read(tmp_path):
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    r = run("check", str(fifo))
    assert r.returncode == 1 and "not a regular file" in r.stderr
    proj = _project(tmp_path, lambda d: d["factors"][0].update(source="pipe.gpkg"))
    os.mkfifo(tmp_path / "pipe.gpkg")
    r = run("check", str(proj))
    assert r.returncode == 1 and "not a regular file" in r.stdout + r.stderr


def test_a_huge_name_is_refused_naming_the_key(tmp_path):
    proj = _project(tmp_path, lambda d: d.update(name="矿" * 200_000))
    with pytest.raises(ProjectFileError, match=r"name: 名称过长 \(200,000 characters"):
        load_project(proj)
    proj = _project(tmp_path, lambda d: d.update(name="矿" * 2_000_000))
    t = time.perf_counter()
    with pytest.raises(ProjectFileError, match=r"项目文件过大 \(5\.7 MB"):
        load_project(proj)  # refused before it is parsed
    assert time.perf_counter() - t < 1


@pytest.mark.parametrize(("edit", "match"), [
    (lambda d: d.update(cell_size=0.001), r"cell_size 0.001 m: the analysis cell must be"),
    (lambda d: d.update(patrol_cell_size=1_000_000), r"patrol_cell_size 1e\+06 m"),
    (lambda d: d["factors"][0].update(range=1e12), r"factors\[0\] \(mines\)\.range: 1e\+12 m is "
                                                    "beyond any sensible reach"),
    (lambda d: d["factors"][4].update(bandwidth=1e9), r"bandwidth: 1e\+09 m is beyond"),
])
def test_absurd_units_are_refused_by_the_schema(tmp_path, edit, match):
    proj = _project(tmp_path, edit)
    with pytest.raises(ProjectFileError, match=match):
        load_project(proj)
    r = run("check", str(proj))
    assert r.returncode == 1 and "Traceback" not in r.stderr


def test_a_grid_no_machine_can_hold_is_refused_before_allocating(tmp_path):
    """A 2,000 km district at 1 m: check and build say so with the numbers, in seconds."""
    def edit(d):
        big = shapely.box(X0, Y0, X0 + 2_000_000, Y0 + 2_000_000)
        gpd.GeoDataFrame({"name": ["大区"]}, geometry=[big], crs=CRS).to_file(
            tmp_path / "big.gpkg", layer="district")
        d["district"]["source"] = "big.gpkg:district"
        d["cell_size"] = 1

    proj = _project(tmp_path, edit)
    for cmd in ("check", "build"):
        t = time.perf_counter()
        r = run(cmd, str(proj), "-q") if cmd == "build" else run(cmd, str(proj))
        assert time.perf_counter() - t < 30
        assert r.returncode == 1, (cmd, r.stdout[-500:], r.stderr[-500:])
        out = r.stdout + r.stderr
        assert "网格过大" in out and "GB" in out and "riskmap score" in out, out[-800:]
    assert not (tmp_path / "out").exists()
    from riskmap.load.inputs import read_areas
    from riskmap.pipeline.build import require_grid_fits

    project = load_project(proj)
    with pytest.raises(RiskmapError, match="网格过大"):
        require_grid_fits(project, read_areas(project)[0])
    yaml.safe_load(proj.read_text(encoding="utf-8"))  # the file itself is fine YAML
