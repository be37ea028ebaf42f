"""riskmap.load.values.parse_pairs: both coordinates of a point in one cell, every written form."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskmap.load import values
from riskmap.load.values import pairs as pairs_mod
from riskmap.load.values.pairs import DMS, FULL_WIDTH, LABELLED, LAT_FIRST, PROJECTED

LON, LAT = 111.7893, 37.1506
DMS_LON, DMS_LAT = 111 + 47 / 60 + 21.5 / 3600, 37 + 9 / 60 + 2.2 / 3600


@pytest.mark.parametrize(("cell", "lon", "lat", "flags"), [
    ("111.7893,37.1506", LON, LAT, 0),
    ("111.7893，37.1506", LON, LAT, 0),  # full-width comma
    ("111.7893, 37.1506", LON, LAT, 0),
    ("111.78930 37.15060", LON, LAT, 0),
    ("111.7893/37.1506", LON, LAT, 0),
    ("111.7893;37.1506", LON, LAT, 0),
    ("111.7893、37.1506", LON, LAT, 0),
    ("111.7893\t37.1506", LON, LAT, 0),
    ("(111.7893, 37.1506)", LON, LAT, 0),
    ("111.7893-37.1506", LON, LAT, 0),  # a dash glued between digits separates
    ("37.1506,111.7893", LON, LAT, LAT_FIRST),
    ("37.1506 111.7893", LON, LAT, LAT_FIRST),
    ("１１１．７８９３，３７．１５０６", LON, LAT, FULL_WIDTH),
    ("３７．１５０６，１１１．７８９３", LON, LAT, FULL_WIDTH | LAT_FIRST),
    ("111°47'21.5\"E 37°09'02.2\"N", DMS_LON, DMS_LAT, DMS | LABELLED),
    ("111°47′21.5″E，37°09′02.2″N", DMS_LON, DMS_LAT, DMS | LABELLED),
    ("111°47'21.5\" 37°09'02.2\"", DMS_LON, DMS_LAT, DMS),
    ("111°47'21.5 37°09'02.2", DMS_LON, DMS_LAT, DMS),  # seconds without their mark
    ("111度47分21.5秒 37度9分2.2秒", DMS_LON, DMS_LAT, DMS),
    ("东经111°47′21.5″ 北纬37°09′02.2″", DMS_LON, DMS_LAT, DMS | LABELLED),
    ("北纬37°09′02.2″，东经111°47′21.5″", DMS_LON, DMS_LAT, DMS | LABELLED | LAT_FIRST),
    ("东经111.7893 北纬37.1506", LON, LAT, LABELLED),
    ("东经：111.7893，北纬：37.1506", LON, LAT, LABELLED),
    ("E111.7893 N37.1506", LON, LAT, LABELLED),
    ("e111.7893 n37.1506", LON, LAT, LABELLED),
    ("111.7893E 37.1506N", LON, LAT, LABELLED),
    ("N37.1506 E111.7893", LON, LAT, LABELLED | LAT_FIRST),
    ("经度:111.78930 纬度:37.15060", LON, LAT, LABELLED),
    ("纬度：37.1506，经度：111.7893", LON, LAT, LABELLED | LAT_FIRST),
    ("lon=111.7893, lat=37.1506", LON, LAT, LABELLED),
    ("lng: 111.7893 lat: 37.1506", LON, LAT, LABELLED),
    ("Longitude 111.7893 Latitude 37.1506", LON, LAT, LABELLED),
    ("经度111.7893", None, None, None),  # one number: see the bad cases
    ("W111.5 N37.2", -111.5, 37.2, LABELLED),
    ("'111.7893,37.1506", LON, LAT, 0),  # Excel's text marker
])
def test_every_written_form(cell, lon, lat, flags):
    p = values.parse_pairs([cell])
    if lon is None:
        assert p.bad[0]
        return
    assert not p.bad[0] and p.geographic[0] and not p.projected[0]
    assert p.lon[0] == pytest.approx(lon, abs=1e-9) and p.lat[0] == pytest.approx(lat, abs=1e-9)
    assert int(p.flags[0]) == flags, p.how(0)


@pytest.mark.parametrize(("cell", "x", "y"), [
    ("4112345.6, 548123.4", 4112345.6, 548123.4),
    ("4112345.6，548123.4", 4112345.6, 548123.4),
    ("548123.4 4112345.6", 548123.4, 4112345.6),  # as written: detect_gk tells the northing
    ("X:4112345.6 Y:548123.4", 4112345.6, 548123.4),
    ("Y=37548123.4, X=4112345.6", 4112345.6, 37548123.4),  # as labelled
    ("X坐标 4112345.6 Y坐标 548123.4", 4112345.6, 548123.4),
])
def test_projected_pairs(cell, x, y):
    p = values.parse_pairs([cell])
    assert p.projected[0] and not p.geographic[0] and not p.bad[0]
    assert (p.x[0], p.y[0]) == (x, y)
    assert p.flags[0] & PROJECTED and "projected" in p.how(0)


@pytest.mark.parametrize(("cell", "words"), [
    ("定位失败", "not a pair"),
    ("111.7893", "single number"),
    ("111 47 21.5 37 09 02.2", "6 numbers"),
    ("E111.7893 E37.1506", "both labelled longitude"),
    ("N111.7893 N37.1506", "both labelled latitude"),
    ("111°75'00\" 37°09'", "minutes and seconds are below 60"),
    ("111.7893, 4112345.6", "not a longitude/latitude"),  # degrees and metres
    ("111,7893", "not a longitude/latitude"),  # a decimal comma is no pair
    ("2023-12-05", "3 numbers"),
    ("12月6日", "not a pair"),
    ("X:111.78 N37.15", "X/Y labels mixed"),
    ("-111.5 S37.2", "labels do not go"),
    ("W-111.5 N37.2", "a sign together with W/S"),
])
def test_bad_cells_say_why(cell, words):
    p = values.parse_pairs([cell])
    assert p.bad[0] and not p.geographic[0] and not p.projected[0] and p.flags[0] == 0
    assert words in p.reasons[0]


def test_blank_cells_and_numbers():
    p = values.parse_pairs(["", "  ", "\u3000", None, np.nan, pd.NA, 111.5, 37])
    assert p.blank.tolist() == [True] * 6 + [False, False]
    assert p.bad.tolist() == [False] * 6 + [True, True]
    assert "single number" in p.reasons[6]
    assert all(r is None for r in p.reasons[:6])


def test_a_column_keeps_positions_and_reads_each_text_once(monkeypatch):
    calls = []
    real = pairs_mod._parse_text
    monkeypatch.setattr(pairs_mod, "_parse_text", lambda s: calls.append(s) or real(s))
    cells = pd.Series(["111.7893,37.1506", None, "37.1506,111.7893", "111.7893,37.1506",
                       "定位失败", "111.7893,37.1506"] * 500, index=np.arange(3000) * 7)
    p = values.parse_pairs(cells)
    assert sorted(calls) == sorted({c for c in cells if isinstance(c, str)})
    assert len(p.lon) == 3000
    np.testing.assert_allclose(p.lon[[0, 2, 3, 5]], LON)
    assert np.isnan(p.lon[[1, 4]]).all() and p.bad[4] and p.blank[1]
    assert p.how(2) == "纬度在前 (latitude first)" and p.how(0) == ""


def test_summary_counts_the_forms():
    p = values.parse_pairs(["37.1506,111.7893", "E111.7893 N37.1506", "东经111.7893 北纬37.1506",
                            "111.7893,37.1506"])
    assert p.summary() == ["1 格纬度在前已对调 (1 cell(s) latitude first, swapped)",
                           "2 格带标注 (2 cell(s) labelled)"]


def test_values_is_one_package_with_the_old_names():
    # the one value parser: every kind reachable from riskmap.load.values
    for name in ("parse_numbers", "parse_angles", "parse_date", "parse_dates", "date_of",
                 "find_dates", "clean_text", "parse_pairs", "Pairs"):
        assert hasattr(values, name)
    assert values.parse_numbers(["４１９０１２３．５"])[0][0] == 4190123.5
    assert values.parse_angles(["113°31'20.5\""])[0][0] == pytest.approx(113.5223611)
