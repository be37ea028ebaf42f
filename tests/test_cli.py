"""The command line, run as a user runs it: the console script in a subprocess."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from tinyproject import CRS, X0, Y0, make_project

ROOT = Path(__file__).resolve().parents[1]
RISKMAP = shutil.which("riskmap")


def run(*args, cwd=None):
    cmd = [RISKMAP, *args] if RISKMAP else [sys.executable, "-m", "riskmap.cli", *args]
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


def one_line_error(r):
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    # progress lines may come first; the error is the one last line
    lines = [ln for ln in r.stderr.strip().splitlines() if not ln.startswith("[")]
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.stderr
    return lines[0]


def test_console_script_installed():
    assert RISKMAP, "the riskmap console script is not on PATH (pip install -e .)"
    r = run("--help")
    assert r.returncode == 0 and "build" in r.stdout and "check" in r.stdout


def test_build_tiny_project(tmp_path):
    proj = make_project(tmp_path)
    r = run("build", str(proj), "-q")
    assert r.returncode == 0, r.stderr
    for area in ("全区", "东镇", "西镇"):
        folder = tmp_path / "out" / area
        assert {p.name for p in folder.iterdir()} >= {"risk.gpkg", "risk.tif", "map.html",
                                                      "summary.json"}
    assert "东镇" in r.stdout and "总用时" in r.stdout
    # nothing temporary left behind
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]


def test_a_new_output_is_one_exporter(tmp_path):
    """An extra entry in the exporter list: its file is in every folder and in the summary."""
    from riskmap.pipeline.build import EXPORTERS, build
    from riskmap.pipeline.exporters import export_summary
    from riskmap.pipeline.project import load_project

    def export_counts(area, folder):
        (folder / "counts.csv").write_text(
            "".join(f"{c},{n}\n" for c, n in area.counts.items()), encoding="utf-8")

    assert EXPORTERS[-1] is export_summary  # it lists the sizes of the others
    project = load_project(make_project(tmp_path))
    report = build(project, out=tmp_path / "o", exporters=(*EXPORTERS[:-1], export_counts,
                                                            export_summary))
    for a in report.areas:
        summary = json.loads((a.folder / "summary.json").read_text(encoding="utf-8"))
        assert summary["outputs"]["counts.csv"] == (a.folder / "counts.csv").stat().st_size
        assert "map.pdf" in summary["outputs"] or a.name == "全区"


def test_existing_output_needs_overwrite(tmp_path):
    proj = make_project(tmp_path)
    assert run("build", str(proj), "-q").returncode == 0
    before = (tmp_path / "out" / "东镇" / "summary.json").read_bytes()
    msg = one_line_error(run("build", str(proj), "-q"))
    assert "--overwrite" in msg
    assert (tmp_path / "out" / "东镇" / "summary.json").read_bytes() == before
    assert run("build", str(proj), "-q", "--overwrite").returncode == 0


def test_unknown_township_lists_valid_names(tmp_path):
    proj = make_project(tmp_path)
    msg = one_line_error(run("build", str(proj), "--township", "北镇"))
    assert "北镇" in msg and "东镇" in msg and "西镇" in msg
    assert not (tmp_path / "out").exists()


def test_one_township_only(tmp_path):
    proj = make_project(tmp_path)
    r = run("build", str(proj), "--township", "西镇", "-q", "--out", str(tmp_path / "o"))
    assert r.returncode == 0, r.stderr
    assert [p.name for p in (tmp_path / "o").iterdir()] == ["西镇"]


def test_project_option_is_a_hidden_alias(tmp_path):
    proj = make_project(tmp_path)
    r = run("build", "--project", str(proj), "-q", "--township", "西镇",
            "--out", str(tmp_path / "a"))
    assert r.returncode == 0, r.stderr
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["西镇"]
    # a PROJECT on the command line replaces a --project given before it (build_map.py)
    r = run("build", "--project", str(tmp_path / "nope.yaml"), str(proj), "-q",
            "--township", "西镇", "--out", str(tmp_path / "b"))
    assert r.returncode == 0, r.stderr
    assert "--project" not in run("build", "--help").stdout
    assert "PROJECT" in one_line_error(run("build"))


def test_missing_project_file(tmp_path):
    msg = one_line_error(run("build", str(tmp_path / "nope.yaml")))
    assert "nope.yaml" in msg


def test_unknown_key_names_key_and_file(tmp_path):
    proj = make_project(tmp_path, lambda d: d["factors"][0].update(rnage=5))
    msg = one_line_error(run("build", str(proj)))
    assert "rnage" in msg and "project.yaml" in msg and "mines" in msg


def test_debug_shows_traceback(tmp_path):
    proj = make_project(tmp_path, lambda d: d.update(colour="red"))
    r = run("build", str(proj), "--debug")
    assert r.returncode != 0 and "Traceback" in r.stderr and "colour" in r.stderr


@pytest.mark.parametrize(
    ("case", "expect"),
    [
        ("missing_file", "missing.gpkg"),
        ("missing_layer", "layers in the file"),
        ("no_crs", "CRS"),
        ("wrong_geometry", "cannot use"),
        ("outside", "outside the district"),
        ("missing_field", "no field"),
    ],
)
def test_layer_errors_are_one_line(tmp_path, case, expect):
    def edit(d):
        f = d["factors"]
        if case == "missing_file":
            f[0]["source"] = "missing.gpkg:mines"
        elif case == "missing_layer":
            f[0]["source"] = "tiny.gpkg:mines_typo"
        elif case == "no_crs":
            gpd.GeoDataFrame({"a": [1]}, geometry=[shapely.Point(X0 + 5, Y0 + 5)]).to_file(
                tmp_path / "nocrs.geojson")
            f[0]["source"] = "nocrs.geojson"
        elif case == "wrong_geometry":
            f[4]["source"] = "tiny.gpkg:outcrops"  # lines for a density
        elif case == "outside":
            gpd.GeoDataFrame({"a": [1]}, geometry=[shapely.Point(X0 + 90_000, Y0)],
                             crs=CRS).to_file(tmp_path / "extra.gpkg", layer="far")
            f[0]["source"] = "extra.gpkg:far"
        elif case == "missing_field":
            d["townships"]["name_field"] = "NAME_CN"

    proj = make_project(tmp_path, edit)
    for cmd in ("build", "check"):
        r = run(cmd, str(proj), "-q")
        assert r.returncode != 0, (cmd, r.stdout)
        assert "Traceback" not in r.stderr
        assert expect in r.stderr, (cmd, r.stderr)
    assert not (tmp_path / "out").exists()


def test_an_empty_factor_layer_is_a_warning_and_the_build_carries_on(tmp_path):
    def edit(d):
        gpd.GeoDataFrame({"a": []}, geometry=[], crs=CRS).to_file(
            tmp_path / "extra.gpkg", layer="empty")
        d["factors"][0]["source"] = "extra.gpkg:empty"

    proj = make_project(tmp_path, edit)
    for cmd in ("check", "build"):
        r = run(cmd, str(proj), "-q")
        assert r.returncode == 0, (cmd, r.stderr)
        assert "图层为空" in r.stdout + r.stderr and "Traceback" not in r.stderr


def test_check_reports_layers(tmp_path):
    proj = make_project(tmp_path)
    r = run("check", str(proj))
    assert r.returncode == 0, r.stderr
    out = r.stdout
    for word in ("district", "townships", "mines", "Point", "LineString", "EPSG:4547",
                 "100% 在区内", "可以生成"):
        assert word in out, word
    # a feature outside the district shows in the extent column
    assert "67% 在区内" in out


def test_cell_size_option(tmp_path):
    proj = make_project(tmp_path)
    r = run("build", str(proj), "-q", "--cell-size", "50", "--township", "东镇")
    assert r.returncode == 0, r.stderr
    s = json.loads((tmp_path / "out" / "东镇" / "summary.json").read_text(encoding="utf-8"))
    assert s["grid"]["cell_size_m"] == 50 and s["grid"]["patrol_cell_size_m"] == 100
    msg = one_line_error(run("build", str(proj), "--cell-size", "30"))
    assert "cell_size" in msg


def test_html_escapes_names(tmp_path):
    import pyogrio

    proj = make_project(tmp_path)
    gpkg = tmp_path / "tiny.gpkg"
    v = pyogrio.read_dataframe(gpkg, layer="villages")
    v["name"] = ["<img src=x onerror=alert(1)>", "东二村", "西村"]
    pyogrio.write_dataframe(v, gpkg, layer="villages")
    t = pyogrio.read_dataframe(gpkg, layer="townships")
    t["name"] = ["<b>东</b>镇", "西镇"]
    pyogrio.write_dataframe(t, gpkg, layer="townships")
    r = run("build", str(proj), "-q")
    assert r.returncode == 0, r.stderr
    folder = next(p for p in (tmp_path / "out").iterdir() if p.name.startswith("_b_"))
    html = (folder / "map.html").read_text(encoding="utf-8")
    assert "<img src=x" not in html and "<b>东</b>" not in html
    # names travel as JSON with < and > escaped, and reach the DOM as text only
    assert "\\u003cimg src=x onerror=alert(1)\\u003e" in html


def test_invalid_polygons_repaired_with_a_warning(tmp_path):
    def edit(d):
        bowtie = shapely.Polygon([(X0 + 800, Y0 + 200), (X0 + 1300, Y0 + 700),
                                  (X0 + 1300, Y0 + 200), (X0 + 800, Y0 + 700)])
        gpd.GeoDataFrame({"licence_no": ["C1", "C2"]},
                         geometry=[bowtie, shapely.box(X0 + 100, Y0 + 100, X0 + 300, Y0 + 300)],
                         crs=CRS).to_file(tmp_path / "extra.gpkg", layer="rights")
        for f in d["factors"]:
            if f["source"] == "tiny.gpkg:rights":
                f["source"] = "extra.gpkg:rights"

    proj = make_project(tmp_path, edit)
    r = run("build", str(proj))
    assert r.returncode == 0, r.stderr
    warn = [ln for ln in r.stderr.splitlines() if ln.startswith("警告")]
    assert any("repaired 1 invalid polygon" in ln and "extra.gpkg" in ln for ln in warn), r.stderr
    assert "Traceback" not in r.stderr and "py.warnings" not in r.stderr


@pytest.mark.parametrize(("n_far", "code"), [(1, 0), (3, 1)])
def test_layer_mostly_outside_is_refused(tmp_path, n_far, code):
    def edit(d):
        near = [shapely.Point(X0 + 500, Y0 + 500), shapely.Point(X0 + 1500, Y0 + 900)]
        far = [shapely.Point(X0 + 50_000 + i, Y0) for i in range(n_far)]
        gpd.GeoDataFrame({"name": list("abcde"[: 2 + n_far])}, geometry=near + far,
                         crs=CRS).to_file(tmp_path / "extra.gpkg", layer="pits")
        d["factors"][0]["source"] = "extra.gpkg:pits"

    proj = make_project(tmp_path, edit)
    r = run("build", str(proj), "-q")
    assert r.returncode == code, r.stderr
    assert f"{n_far} of {2 + n_far} features" in r.stderr
    assert "row 3" in r.stderr  # a sample row
    if code:
        assert "allow_outside" in r.stderr
        import yaml

        d = yaml.safe_load(proj.read_text(encoding="utf-8"))
        d["factors"][0]["source"] = {"path": "extra.gpkg", "layer": "pits",
                                     "allow_outside": True}
        proj.write_text(yaml.safe_dump(d, allow_unicode=True), encoding="utf-8")
        assert run("build", str(proj), "-q").returncode == 0


def test_atlas_and_township_pdfs(tmp_path):
    proj = make_project(tmp_path)
    r = run("build", str(proj), "-q", "--atlas", "--paper", "A4", "--orientation", "portrait")
    assert r.returncode == 0, r.stderr
    info = subprocess.run(["pdfinfo", str(tmp_path / "out" / "atlas.pdf")], capture_output=True,
                          text=True, check=True).stdout
    assert "Pages:           3" in info  # the district's overview, then one per township
    assert "595.276 x 841.89" in info or "595.28 x 841.89" in info  # A4 portrait
    for t in ("东镇", "西镇"):
        text = subprocess.run(["pdftotext", str(tmp_path / "out" / t / "map.pdf"), "-"],
                              capture_output=True, text=True, check=True).stdout
        assert f"{t} 非法采矿巡查优先级图" in text and "内部资料" in text
    # the district's overview: no cell labels, the class-5 and class-4 cells per township
    text = subprocess.run(["pdftotext", "-layout", str(tmp_path / "out" / "全区" / "map.pdf"),
                           "-"], capture_output=True, text=True, check=True).stdout
    assert "全区 非法采矿巡查优先级图" in text and "各乡镇重点巡查网格" in text
    for t in ("东镇", "西镇"):
        s = json.loads((tmp_path / "out" / t / "summary.json").read_text(encoding="utf-8"))
        n5, n4 = s["counts"]["5"], s["counts"]["4"]
        assert re.search(rf"{t}\s+{n5}\s+{n4}", text), (t, n5, n4, text)


def test_ahp_weights_reach_the_build(tmp_path):
    import json

    proj = make_project(tmp_path, lambda d: d.update(ahp={
        "factors": ["mines", "outcrop", "ring"], "matrix": [[1, 3, 5], [None, 1, 2],
                                                            [None, None, 1]]}))
    r = run("build", str(proj), "-q", "--township", "东镇")
    assert r.returncode == 0, r.stderr
    s = json.loads((tmp_path / "out" / "东镇" / "summary.json").read_text(encoding="utf-8"))
    w = {f["name"]: f["weight"] for f in s["factors"]}
    assert w["mines"] > w["outcrop"] > w["ring"] > 0 and w["inlic"] == -10
    assert abs(w["mines"] + w["outcrop"] + w["ring"] - 70) < 1e-3  # their old sum is kept
    assert s["ahp"]["cr"] < 0.1 and "Saaty 1980" in s["ahp"]["random_index"]


def test_unforeseen_error_is_one_line(tmp_path, monkeypatch):
    from click.testing import CliRunner

    import riskmap.cli.build
    import riskmap.pipeline.build
    from riskmap.cli import cli

    def boom(*a, **k):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(riskmap.pipeline.build, "build", boom)
    proj = make_project(tmp_path)
    r = CliRunner().invoke(cli, ["build", str(proj), "-q"])
    assert r.exit_code == 1
    assert "内部错误 (internal error) ZeroDivisionError: division by zero" in r.output
    assert "--debug" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(cli, ["build", str(proj), "-q", "--debug"])
    assert isinstance(r.exception, ZeroDivisionError)


HAN = "[\u4e00-\u9fff]"


def _command_names() -> list[str]:
    r = run("--help")
    assert r.returncode == 0, r.stderr
    section = r.stdout.split("Commands:", 1)[1]
    return [ln.split()[0] for ln in section.splitlines() if ln.strip()]


def test_every_help_reads_cleanly():
    """Each command's --help, run as a user runs it: no slips, Chinese and English, 80 columns."""
    import re

    from riskmap.cli.text import width

    names = _command_names()
    assert {"build", "check", "plan", "ingest", "weekly", "power-check", "score", "calibrate",
            "evaluate", "ahp", "import-rights"} <= set(names)
    env = {**os.environ, "PYTHONIOENCODING": "utf-8", "COLUMNS": "80"}
    for args in (["--help"], *([n, "--help"] for n in names), ["check", "-h"]):
        cmd = [RISKMAP, *args] if RISKMAP else [sys.executable, "-m", "riskmap.cli", *args]
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
        assert r.returncode == 0 and r.stderr == "", (args, r.stderr)
        out = r.stdout
        assert "\\b" not in out and "\b" not in out, args  # click's no-rewrap mark, shown
        assert "`" not in out, args  # reStructuredText left in a docstring
        assert "{'" not in out and "['" not in out, args  # a Python dict or list printed
        assert re.search(HAN, out) and "(" in out, args
        assert not re.search(f"{HAN} {HAN}", out), args  # a source line break between 字 字
        assert max(width(line) for line in out.splitlines()) <= 80, args


def test_every_command_and_option_says_it_in_both_languages():
    import re

    import click

    from riskmap.cli import cli, main

    with pytest.raises(SystemExit):
        main(["--help"])  # registers every command
    english = re.compile(r"\([^()]*[A-Za-z]{3}")
    assert cli.commands
    for name, command in cli.commands.items():
        for text in (command.help, command.short_help):
            assert text and re.search(HAN, text) and english.search(text), name
        assert re.match(HAN, command.short_help), name  # Chinese first
        for p in command.params:
            if isinstance(p, click.Option) and not p.hidden:
                assert p.help and re.search(HAN, p.help) and english.search(p.help), \
                    (name, p.opts)


def test_verbose_build_ends_with_a_stage_table_and_no_library_chatter(tmp_path):
    proj = make_project(tmp_path)
    r = run("build", str(proj), "-v")
    assert r.returncode == 0, r.stderr
    out = r.stdout + r.stderr
    assert "阶段 (stage)" in out and "读取 (read)" in out and "risk.gpkg" in out
    assert "每张 (per sheet" in out  # the township sheets, drawn side by side
    # fontTools logs a line per table it subsets and pyogrio one per layer: not for users
    assert "fontTools" not in out and "pyogrio" not in out
    rows = {line.rsplit(None, 1)[0].strip(): line.rsplit(None, 1)[1]
            for line in r.stdout.splitlines() if line.startswith(("读取", "计算 (compute) "))}
    assert all(float(v) >= 0 for v in rows.values()), rows
