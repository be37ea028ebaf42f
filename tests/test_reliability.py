"""Nothing lost, nothing changed, the same answer twice."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pyogrio
import pytest
import rasterio
from tinyproject import make_project

from riskmap.export.atomic import atomic_folder


def run(*args, **kw):
    return subprocess.run([sys.executable, "-m", "riskmap", *args], capture_output=True,
                          text=True, **kw)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The tiny project, built once into its own output folder (tests copy it)."""
    folder = tmp_path_factory.mktemp("built")
    proj = make_project(folder)
    assert run("build", str(proj), "-q").returncode == 0
    return folder


def copy_of(built, tmp_path):
    """A copy of the built project in ``tmp_path``: what a first build there would leave."""
    shutil.copytree(built, tmp_path, dirs_exist_ok=True)
    return tmp_path / "project.yaml"


def tree_hashes(folder, skip=()):
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and not any(s in p.name for s in skip):
            out[str(p.relative_to(folder))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def test_inputs_are_never_changed(tmp_path):
    proj = make_project(tmp_path)
    before = tree_hashes(tmp_path)
    out = tmp_path.parent / (tmp_path.name + "_out")
    for args in (["build", str(proj), "-q", "--out", str(out)],
                 ["check", str(proj)],
                 ["plan", str(proj), "--week", "2026-W49", "--out", str(out / "plan"),
                  "--no-record"]):
        r = run(*args)
        assert r.returncode == 0, (args, r.stderr)
    assert tree_hashes(tmp_path) == before  # nothing written, changed or added beside inputs


def _masked_summary(path):
    s = json.loads(path.read_text(encoding="utf-8"))
    for k in ("build_date", "timings", "outputs", "map_html", "map_pdf", "project_file"):
        s.pop(k, None)
    return s


def test_same_inputs_same_outputs(tmp_path):
    proj = make_project(tmp_path)
    for o in ("a", "b"):
        r = run("build", str(proj), "-q", "--out", str(tmp_path / o))
        assert r.returncode == 0, r.stderr
    for area in ("全区", "东镇", "西镇"):
        a, b = tmp_path / "a" / area, tmp_path / "b" / area
        assert _masked_summary(a / "summary.json") == _masked_summary(b / "summary.json")
        with rasterio.open(a / "risk.tif") as x, rasterio.open(b / "risk.tif") as y:
            assert np.array_equal(x.read(1), y.read(1)) and x.transform == y.transform
        for layer in ("cells", "zones"):
            da = pyogrio.read_dataframe(a / "risk.gpkg", layer=layer)
            db = pyogrio.read_dataframe(b / "risk.gpkg", layer=layer)
            assert da.equals(db), layer
        date = re.compile(r"\d{4}-\d{2}-\d{2}(T[\d:+-]+)?")
        ha = date.sub("D", (a / "map.html").read_text(encoding="utf-8"))
        hb = date.sub("D", (b / "map.html").read_text(encoding="utf-8"))
        assert ha == hb


def test_error_inside_leaves_the_previous_folder(tmp_path):
    dest = tmp_path / "out" / "东镇"
    dest.mkdir(parents=True)
    (dest / "summary.json").write_text("old", encoding="utf-8")
    with pytest.raises(RuntimeError), atomic_folder(dest, overwrite=True) as tmp:
        (tmp / "summary.json").write_text("new, half", encoding="utf-8")
        raise RuntimeError("disk full")
    assert (dest / "summary.json").read_text(encoding="utf-8") == "old"
    assert [p.name for p in dest.parent.iterdir()] == ["东镇"]  # no temporary left


@pytest.mark.kill
def test_killed_between_the_two_renames_is_recovered(tmp_path):
    dest = tmp_path / "out" / "东镇"
    dest.parent.mkdir(parents=True)
    # what a build killed after moving the old folder aside leaves behind
    old = dest.with_name(".东镇.old-999999")
    old.mkdir()
    (old / "summary.json").write_text("old", encoding="utf-8")
    stale = dest.with_name(".东镇.tmp-999999-abc")
    stale.mkdir()
    with atomic_folder(dest, overwrite=True) as tmp:
        assert (dest / "summary.json").read_text(encoding="utf-8") == "old"  # put back first
        assert not stale.exists()
        (tmp / "summary.json").write_text("new", encoding="utf-8")
    assert (dest / "summary.json").read_text(encoding="utf-8") == "new"


def test_recover_sweeps_every_temporary_file_of_a_dead_build(tmp_path):
    """A build killed while writing atlas.pdf (beside the area folders) leaves a temporary
    file; the next recovery in that folder removes it, and never one of a running process."""
    from riskmap.export.atomic import recover

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".atlas.pdf.tmp-{dead.pid}-abc.pdf"
    live = tmp_path / f".atlas.pdf.tmp-{os.getpid()}-def.pdf"
    other = tmp_path / ".notes.txt"  # not riskmap's: kept
    for p in (stale, live, other):
        p.write_bytes(b"x")
    (tmp_path / "全区").mkdir()
    recover(tmp_path / "全区")
    assert not stale.exists() and live.exists() and other.exists()


_REBUILD = ("-q", "--overwrite", "--atlas")


@pytest.fixture(scope="module")
def rebuild_s(built, tmp_path_factory):
    """Seconds a whole rebuild of the built project takes here (the kill points are shares)."""
    proj = copy_of(built, tmp_path_factory.mktemp("timed"))
    t = time.perf_counter()
    assert run("build", str(proj), *_REBUILD).returncode == 0
    return time.perf_counter() - t


@pytest.mark.kill
@pytest.mark.parametrize("share", [0.1, 0.25, 0.4, 0.6])
def test_build_killed_at_random_points(tmp_path, share, built, rebuild_s):
    """Kill a rebuild mid-way: every area folder stays whole and readable."""
    proj = copy_of(built, tmp_path)
    out = tmp_path / "out"
    first = {a: _masked_summary(out / a / "summary.json") for a in ("全区", "东镇", "西镇")}
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    p = subprocess.Popen([sys.executable, "-m", "riskmap", "build", str(proj), *_REBUILD],
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(share * rebuild_s)
    assert p.poll() is None, f"the build ended within {share:.0%} of its usual time"
    p.send_signal(signal.SIGKILL)
    p.wait()
    time.sleep(0.5)
    # no drawing worker outlives its build
    left = subprocess.run(["pgrep", "-f", f"{proj} -q --overwrite --atlas"],
                          capture_output=True, text=True).stdout.split()
    assert left == [], left
    # the next command puts things right before it looks
    r = run("build", str(proj), "-q", "--township", "东镇", "--out", str(tmp_path / "other"))
    assert r.returncode == 0, r.stderr
    from riskmap.export.atomic import recover

    for area in ("全区", "东镇", "西镇"):
        recover(out / area)
        s = _masked_summary(out / area / "summary.json")  # whole JSON: old or new
        assert s == first[area]  # same inputs: old and new agree
        assert pyogrio.list_layers(out / area / "risk.gpkg").size
        with rasterio.open(out / area / "risk.tif") as t:
            t.read(1)
    assert not [q for q in out.iterdir() if q.name.startswith(".")]


_KILL_AFTER_FIRST_SWITCH = """
import os, sys
import riskmap.export.atomic as a
real, n = os.replace, [0]
def replace(src, dst):
    real(src, dst)
    if ".tmp-" in os.fspath(src) and os.path.isdir(dst):  # an area folder moved into place
        n[0] += 1
        if n[0] == 1:
            os._exit(9)  # killed: the others still wait in their temporaries
a.os.replace = replace
from riskmap.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _build_dates(out):
    return {p.parent.name: json.loads(p.read_text(encoding="utf-8"))["build_date"]
            for p in out.glob("*/summary.json")}


@pytest.mark.kill
def test_a_kill_during_the_switch_is_completed_by_the_next_command(tmp_path, built):
    """No torn set: after a kill between area moves, the next command finishes the switch
    (saying so) and every area holds the same build."""
    proj = copy_of(built, tmp_path)
    out = tmp_path / "out"
    old = _build_dates(out)
    time.sleep(1.1)  # build dates have second resolution
    r = subprocess.run([sys.executable, "-c", _KILL_AFTER_FIRST_SWITCH, "build", str(proj),
                        "-q", "--overwrite"], capture_output=True, text=True)
    assert r.returncode == 9, r.stderr
    torn = _build_dates(out)
    assert len(set(torn.values())) == 2  # what the kill left: one area new, two old
    assert [q.name for q in out.iterdir() if q.name.startswith(".riskmap-switch")]
    # the next command that writes there (here a build that refuses to overwrite)
    r = run("build", str(proj), "-q", "--township", "西镇", "--out", str(out))
    assert r.returncode == 1 and "--overwrite" in r.stderr  # nothing replaced silently
    assert "interrupted build was completed" in r.stderr
    dates = _build_dates(out)
    assert len(set(dates.values())) == 1 and set(dates.values()) != set(old.values())
    assert not [q for q in out.iterdir() if q.name.startswith(".")]  # no journal, no temporary


_HOLD_INSIDE_THE_LOCK = """
import sys, time
from pathlib import Path
import riskmap.pipeline.build as b
real, gate = b._build, Path(sys.argv.pop(1))
def held(*a, **k):  # the first build waits, holding its lock, until the test opens the gate
    gate.with_suffix(".held").touch()
    while not gate.exists():
        time.sleep(0.02)
    return real(*a, **k)
b._build = held
from riskmap.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_two_builds_into_one_folder_do_not_mix(tmp_path):
    """The second build into a folder in use fails at once with a clear message."""
    proj = make_project(tmp_path)
    gate = tmp_path / "gate"
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    first = subprocess.Popen([sys.executable, "-c", _HOLD_INSIDE_THE_LOCK, str(gate), "build",
                              str(proj), "-q"], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not gate.with_suffix(".held").exists():  # the first build holds the folder
            assert first.poll() is None and time.monotonic() < deadline, first.stderr.read()
            time.sleep(0.05)
        second = run("build", str(proj), "-q", "--overwrite")
        assert first.poll() is None  # refused while the first still ran: it did not wait
    finally:
        gate.touch()
    assert first.wait(timeout=300) == 0, first.stderr.read()
    assert second.returncode == 1
    msg = second.stderr.strip().splitlines()[-1]
    assert "正被另一个 riskmap 使用" in msg and f"pid {first.pid}" in msg
    assert "Traceback" not in second.stderr
    from riskmap.pipeline.project import load_project

    out = load_project(proj).output  # the first build's outputs, whole
    assert len(_build_dates(out)) >= 2 and len(set(_build_dates(out).values())) == 1


def test_plan_waits_for_no_one_while_the_history_is_in_use(tmp_path):
    """A plan that would record into a history another riskmap holds fails at once."""
    from riskmap.export.atomic import lock
    from riskmap.pipeline.project import load_project

    proj = make_project(tmp_path)
    with lock(load_project(proj).history, "历史库 (history database) "):
        r = run("plan", str(proj), "--week", "2026-W49", "--out", str(tmp_path / "p"))
    assert r.returncode == 1, r.stderr
    assert "正被另一个 riskmap 使用" in r.stderr and "历史库" in r.stderr
    assert not (tmp_path / "p").exists()
    r = run("plan", str(proj), "--week", "2026-W49", "--out", str(tmp_path / "p"))
    assert r.returncode == 0, r.stderr  # released with the block


@pytest.fixture
def small_disk(tmp_path):
    """A real 2.2 MB file system (tmpfs): room for one build of the tiny project, not two."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2200k", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {r.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", str(mnt)], check=False)


def test_a_full_disk_is_said_and_changes_nothing(tmp_path, small_disk):
    proj = make_project(tmp_path)
    out = small_disk / "out"
    assert run("build", str(proj), "-q", "--out", str(out)).returncode == 0
    before = tree_hashes(out)
    r = run("build", str(proj), "-q", "--out", str(out), "--overwrite")
    assert r.returncode == 1
    msg = r.stderr.strip().splitlines()[-1]
    assert "磁盘已满 (disk full)" in msg and "previous outputs are unchanged" in msg, msg
    assert ".tmp-" not in msg and "内部错误" not in r.stderr and "Traceback" not in r.stderr
    assert tree_hashes(out) == before  # the previous build, whole
    assert not [q for q in out.iterdir() if q.name.startswith(".")]  # nothing left behind


@pytest.mark.parametrize("content", [b"", None])  # a 0-byte file; an SQLite file with no tables
def test_an_emptied_history_is_refused_never_recreated(tmp_path, content):
    """Only a missing file starts a new history; an emptied one would lose every inspection."""
    import sqlite3

    proj = make_project(tmp_path)
    hist = tmp_path / "project.history.gpkg"
    if content is None:
        sqlite3.connect(hist).close()  # a database file, nothing in it
        assert hist.exists()
    else:
        hist.write_bytes(content)
    before = hist.read_bytes()
    for args in (["plan", str(proj), "--week", "2026-W49", "--out", str(tmp_path / "p")],
                 ["weekly", str(proj), "--week", "2026-W49", "--out", str(tmp_path / "w")],
                 ["check", str(proj)]):
        r = run(*args)
        assert r.returncode == 1, (args, r.stdout, r.stderr)
        assert "历史数据库" in r.stderr and "restore the file from a backup" in r.stderr, r.stderr
    assert hist.read_bytes() == before  # not re-created, not touched


def _read_only(path):
    """Make ``path`` unwritable for this process (chmod; as root, chattr +i); undo callable."""
    import os
    import shutil

    path.chmod(0o444)
    if os.access(path, os.W_OK):  # root ignores modes: the immutable flag stops it
        path.chmod(0o644)
        chattr = shutil.which("chattr")
        if not chattr or subprocess.run([chattr, "+i", str(path)],
                                        capture_output=True).returncode:
            pytest.skip("cannot make a file read-only here (root without chattr +i)")
        return lambda: subprocess.run([chattr, "-i", str(path)], check=True)
    return lambda: path.chmod(0o644)


def test_a_read_only_history_is_refused_before_anything_is_written(tmp_path):
    """plan and ingest say the history cannot be written, with the fix, and write nothing."""
    proj = make_project(tmp_path)
    r = run("plan", str(proj), "--week", "2026-W48", "--out", str(tmp_path / "first"), "-q")
    assert r.returncode == 0, r.stderr
    hist = tmp_path / "project.history.gpkg"
    ledger = next((tmp_path / "first").rglob("ledger.xlsx"))
    before = hist.read_bytes()
    undo = _read_only(hist)
    try:
        r = run("plan", str(proj), "--week", "2026-W49", "--out", str(tmp_path / "p"))
        assert r.returncode == 1, (r.stdout, r.stderr)
        assert "历史数据库不能写入" in r.stderr and "--no-record" in r.stderr, r.stderr
        assert "内部错误" not in r.stderr and "Traceback" not in r.stderr
        assert not (tmp_path / "p").exists() or not any((tmp_path / "p").rglob("*.*"))
        r = run("ingest", str(proj), str(ledger))
        assert r.returncode == 1 and "历史数据库不能写入" in r.stderr, r.stderr
        # without recording, the plan goes through
        r = run("plan", str(proj), "--week", "2026-W49", "--out", str(tmp_path / "q"),
                "--no-record", "-q")
        assert r.returncode == 0, r.stderr
    finally:
        undo()
    assert hist.read_bytes() == before


def test_shared_outputs_carry_no_absolute_paths_and_no_key_order(tmp_path):
    """summary.json and risk.gpkg go to townships: no path of the analyst's machine in them;
    a factor's parameters written in another order give the same bytes."""
    import sqlite3

    import yaml

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = make_project(tmp_path / "a")
    d = yaml.safe_load(a.read_text(encoding="utf-8"))
    d["factors"] = [dict(reversed(list(f.items()))) for f in d["factors"]]  # keys reversed
    b = make_project(tmp_path / "b", lambda p: p.update(factors=d["factors"]))
    texts = {}
    for name, proj in (("a", a), ("b", b)):
        r = run("build", str(proj), "-q", "--township", "东镇")
        assert r.returncode == 0, r.stderr
        folder = proj.parent / "out" / "东镇"
        summary = (folder / "summary.json").read_text(encoding="utf-8")
        with sqlite3.connect(folder / "risk.gpkg") as db:
            meta = {k: v for k, v in db.execute("SELECT key, value FROM metadata")}
        for text in (summary, *meta.values()):
            assert str(tmp_path) not in text and "/tmp/" not in text, text[:200]
        s = _masked_summary(folder / "summary.json")
        s.pop("inputs")  # the files differ (GeoPackages carry their write time)
        texts[name] = (s, {k: v for k, v in meta.items()
                           if k not in ("build_date", "inputs", "timings")})
    assert texts["a"] == texts["b"]
