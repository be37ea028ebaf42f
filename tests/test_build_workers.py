"""Areas written side by side (forked workers) give the same folders as one by one."""

from __future__ import annotations

import json

import pyogrio
import pytest
from tinyproject import make_project

from riskmap.errors import RiskmapError
from riskmap.pipeline import build as buildmod
from riskmap.pipeline.build import area_workers, build
from riskmap.pipeline.project import load_project


def _cells(folder):
    df = pyogrio.read_dataframe(folder / "risk.gpkg", layer="cells")
    return df.sort_values("id").reset_index(drop=True)


def _counts(folder):
    return json.loads((folder / "summary.json").read_text(encoding="utf-8"))["counts"]


@pytest.mark.skipif(area_workers(2) < 2, reason="one core or no fork: nothing side by side")
def test_side_by_side_equals_one_by_one(tmp_path, monkeypatch):
    project = load_project(make_project(tmp_path))
    monkeypatch.setenv("RISKMAP_WORKERS", "1")
    one = build(project, out=tmp_path / "one")
    monkeypatch.setenv("RISKMAP_WORKERS", "2")
    two = build(project, out=tmp_path / "two")
    assert "areas_wall" in two.stages and "areas_wall" not in one.stages
    assert [a.name for a in one.areas] == [a.name for a in two.areas]
    for a, b in zip(one.areas, two.areas, strict=True):
        assert a.counts == b.counts and a.exported_cells == b.exported_cells
        assert _counts(a.folder) == _counts(b.folder)
        ca, cb = _cells(a.folder), _cells(b.folder)
        assert list(ca["id"]) == list(cb["id"])
        assert (ca["score"] == cb["score"]).all()
        assert sorted(p.name for p in a.folder.iterdir()) == \
            sorted(p.name for p in b.folder.iterdir())
    # the sheets were drawn in the workers, and timed there
    assert two.stages["pdf_sheets"] == one.stages["pdf_sheets"]


def test_workers_capped_by_env(monkeypatch):
    monkeypatch.setenv("RISKMAP_WORKERS", "1")
    assert area_workers(9) == 1
    monkeypatch.delenv("RISKMAP_WORKERS")
    assert area_workers(1) == 1
    assert 1 <= area_workers(9) <= 9


def test_an_error_in_a_worker_reaches_the_caller_and_leaves_nothing(tmp_path, monkeypatch):
    project = load_project(make_project(tmp_path))
    monkeypatch.setenv("RISKMAP_WORKERS", "2")

    def broken(area, folder):
        if not area.is_district:
            raise RiskmapError(f"坏的输出 {area.name}")

    with pytest.raises(RiskmapError, match="坏的输出"):
        build(project, out=tmp_path / "out", exporters=(broken,))
    assert not (tmp_path / "out").exists() or not any(
        p.name in ("东镇", "西镇", "全区") for p in (tmp_path / "out").iterdir())
    assert buildmod._TASK is None
