"""``riskmap check FILE --project P``: a returned sheet matched row by row as ingest would."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

from countyb.cache import county_b as make_county_b

RISKMAP = shutil.which("riskmap")
ENV = {**os.environ, "PYTHONIOENCODING": "utf-8"}


def riskmap(*args, cwd):
    return subprocess.run([RISKMAP, *map(str, args)], capture_output=True, text=True, env=ENV,
                          cwd=cwd, timeout=300)


def test_check_predicts_ingest_row_by_row_and_stores_nothing(tmp_path):
    project = make_county_b(tmp_path)
    sheet = sorted((tmp_path / "returns").glob("*.xlsx"))[0]
    history = project.with_suffix(".history.gpkg")
    before = sheet.read_bytes()
    # without a project: the data report, and how to get the row-by-row one
    r = riskmap("check", sheet, cwd=tmp_path)
    assert "这是回收的排查台账" in r.stdout and "--project" in r.stdout, r.stdout
    r = riskmap("check", sheet, "--project", project, cwd=tmp_path)
    assert r.returncode == 1, r.stderr  # some rows would be refused
    head = re.search(r"(\d+) 行可匹配 .*?(\d+) 行会被拒绝", r.stdout)
    assert head, r.stdout
    good, bad = int(head.group(1)), int(head.group(2))
    assert good > 0 and bad > 0 and "尚未导入 (not ingested yet)" in r.stdout
    refused = re.findall(r"拒绝 \(refused\): .*第 (\d+) 行", r.stderr)
    assert len(refused) == bad and "定位失败" in r.stderr  # every refused row named
    assert "周次取自标题" in r.stdout  # where the week came from
    assert not history.exists() and sheet.read_bytes() == before  # nothing stored or changed
    # ingest then does exactly that
    r = riskmap("ingest", project, sheet, cwd=tmp_path)
    assert f"{good}" in r.stdout + r.stderr
    said = re.findall(r"第 (\d+) 行", r.stdout + r.stderr)
    assert sorted(set(said) & set(refused)) == sorted(set(refused))
    # and check now knows the file was read, with refused rows: ingest would read it again
    r = riskmap("check", sheet, "--project", project, cwd=tmp_path)
    assert "导入过但有行被拒绝" in r.stdout, r.stdout
