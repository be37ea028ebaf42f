"""Finding a CJK font in the documented order, and refusing text it cannot show."""

import logging
from pathlib import Path

import matplotlib
import pytest
from fontTools.ttLib import TTFont
from matplotlib import font_manager

from riskmap.errors import ExportError
from riskmap.export import fonts, fontsubset


@pytest.fixture
def fake_dirs(tmp_path, monkeypatch):
    """Point the search at empty folders and hide the shipped font."""
    dirs = [tmp_path / "a", tmp_path / "b"]
    for d in dirs:
        d.mkdir()
    monkeypatch.setattr(fonts, "font_dirs", lambda: list(dirs))
    monkeypatch.setattr(fonts, "shipped_font", lambda: None)
    return dirs


def touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def test_finds_an_existing_font_file():
    path = fonts.find_cjk_font()
    assert path.is_file()
    assert path.suffix.lower() in fonts.FONT_SUFFIXES


def test_preferred_path_that_does_not_exist_is_an_error(tmp_path):
    missing = tmp_path / "字体" / "msyh.ttc"
    with pytest.raises(ExportError, match="font file not found") as exc:
        fonts.find_cjk_font(missing)
    assert str(missing) in str(exc.value)
    with pytest.raises(ExportError, match=r"nope\.ttf"):
        fonts.find_cjk_font("nope.ttf")


def test_preferred_path_wins(tmp_path, fake_dirs):
    touch(fake_dirs[0] / "msyh.ttc")
    mine = touch(tmp_path / "my font.otf")
    assert fonts.find_cjk_font(str(mine)) == mine.resolve()


def test_preferred_family_name():
    assert fonts.find_cjk_font("Noto Sans CJK SC").is_file()
    with pytest.raises(ExportError, match="No Such Font"):
        fonts.find_cjk_font("No Such Font")


def test_nothing_found_says_what_to_install(fake_dirs):
    touch(fake_dirs[0] / "DejaVuSans.ttf")
    with pytest.raises(ExportError) as exc:
        fonts.find_cjk_font()
    msg = str(exc.value)
    assert "pip install noto-cjk-sans-otc" in msg
    assert "fonts-noto-cjk" in msg
    assert "font:" in msg


def test_search_order_is_by_family_then_regular_weight(fake_dirs):
    a, b = fake_dirs
    touch(a / "wqy" / "wqy-zenhei.ttc")
    touch(b / "noto" / "NotoSansCJK-Bold.ttc")
    touch(b / "noto" / "NotoSansCJK-Regular.ttc")
    touch(b / "SIMHEI.TTF")  # Windows spells names in capitals
    assert fonts.find_cjk_font().name == "SIMHEI.TTF"
    (b / "SIMHEI.TTF").unlink()
    assert fonts.find_cjk_font().name == "NotoSansCJK-Regular.ttc"
    touch(a / "msyh.ttc")
    assert fonts.find_cjk_font().name == "msyh.ttc"
    for p in (a / "msyh.ttc", b / "noto" / "NotoSansCJK-Bold.ttc",
              b / "noto" / "NotoSansCJK-Regular.ttc"):
        p.unlink()
    assert fonts.find_cjk_font().name == "wqy-zenhei.ttc"


def test_shipped_font_is_last_resort(tmp_path, monkeypatch):
    real = fonts.shipped_font()
    assert real is not None and real.suffix == ".ttc", "pip install noto-cjk-sans-otc"
    monkeypatch.setattr(fonts, "font_dirs", lambda: [tmp_path])
    assert fonts.find_cjk_font() == real
    touch(tmp_path / "wqy-microhei.ttc")
    assert fonts.find_cjk_font().name == "wqy-microhei.ttc"


def test_font_dirs_per_platform(monkeypatch):
    monkeypatch.setattr(fonts.sys, "platform", "win32")
    monkeypatch.setenv("WINDIR", "D:\\Win")
    monkeypatch.setenv("LOCALAPPDATA", "E:\\Users\\me\\AppData\\Local")
    dirs = [str(d) for d in fonts.font_dirs()]
    assert dirs[0].startswith("D:\\Win") and dirs[0].endswith("Fonts")
    assert any("Microsoft" in d for d in dirs)
    monkeypatch.setattr(fonts.sys, "platform", "darwin")
    assert "/System/Library/Fonts" in [str(d) for d in fonts.font_dirs()]
    monkeypatch.setattr(fonts.sys, "platform", "linux")
    assert "/usr/share/fonts" in [str(d) for d in fonts.font_dirs()]


def test_collection_uses_the_simplified_chinese_face():
    path = fonts.shipped_font()
    assert fonts.face_name(path) == "Noto Sans CJK SC"
    assert fonts.face_index(path) > 0


def test_coverage_check():
    path = fonts.find_cjk_font()
    assert fonts.missing_chars(path, "荫营镇 非法采矿巡查优先级图 456-4190-37 ≥ 52.3 °\n") == []
    assert fonts.missing_chars(path, "村\U0001F600村\U0001F600") == ["\U0001F600"]
    fonts.check_covers(path, "内部资料 注意保密")
    with pytest.raises(ExportError, match="U\\+1F600") as exc:
        fonts.check_covers(path, "西沟\U0001F600村", what="map.pdf of 荫营镇")
    assert "荫营镇" in str(exc.value)


def test_font_properties_resolve_to_the_file_and_register_once():
    path = fonts.shipped_font()
    props = fonts.cjk_font_properties(path, size=9)
    n = len(font_manager.fontManager.ttflist)
    again = fonts.cjk_font_properties(path)
    assert len(font_manager.fontManager.ttflist) == n
    found = font_manager.fontManager.findfont(again, fallback_to_default=False)
    assert str(found) == str(path)
    assert props.get_size() == 9


def test_unreadable_font_is_an_export_error(tmp_path):
    junk = tmp_path / "junk.ttf"
    junk.write_bytes(b"not a font")
    with pytest.raises(ExportError, match=r"junk\.ttf"):
        fonts.cjk_font_properties(junk)


def test_quiet_fonts_is_scoped():
    logger = logging.getLogger("matplotlib.font_manager")
    before = logger.level
    with fonts.quiet_fonts():
        assert logger.level == logging.ERROR
    assert logger.level == before


@pytest.fixture(scope="module")
def font_cache(tmp_path_factory):
    """One empty per-install cache for this file: the CFF conversion (seconds) is made in it
    once, by the first test, and only read by the next."""
    return tmp_path_factory.mktemp("fonts") / "cache"


def test_cff_font_becomes_a_truetype_font_cached_once(font_cache, monkeypatch):
    monkeypatch.setenv("RISKMAP_CACHE", str(font_cache))
    path = fonts.shipped_font()
    assert fontsubset.is_cff(path)
    text = "荫营镇 内部资料 注意保密 ≥ 52.3"
    broad = fontsubset.prepare_font(path)
    assert broad.parent.parent == font_cache  # the per-install cache
    sub = fontsubset.embeddable_font(path, text)
    assert sub == broad  # GB2312 covers it: the broad font, not a new conversion
    font = TTFont(sub)
    assert "glyf" in font and "CFF " not in font
    cmap = font.getBestCmap()
    assert all(ord(c) in cmap for c in set(text))
    assert len(cmap) > 7000  # every GB2312 character
    # a rare character outside GB2312 gets a small subset of its own, kept too
    rare = "䶮村"
    extra = fontsubset.embeddable_font(path, rare)
    assert extra != broad and extra.suffix == ".ttf"
    assert all(ord(c) in TTFont(extra).getBestCmap() for c in rare)
    assert 1000 < extra.stat().st_size < 200_000
    assert fontsubset.embeddable_font(path, rare) == extra
    assert [p.name for p in extra.parent.iterdir() if ".tmp-" in p.name] == []  # moved whole


def test_pdf_embeds_only_the_glyphs_it_uses(tmp_path, font_cache, monkeypatch):
    # the broad font is several MB; matplotlib subsets it into each PDF
    monkeypatch.setenv("RISKMAP_CACHE", str(font_cache))
    import matplotlib.pyplot as plt
    from matplotlib.font_manager import FontProperties

    sub = fontsubset.embeddable_font(fonts.shipped_font(), "荫营镇")
    fig = plt.figure(figsize=(3, 2))
    fig.text(0.1, 0.5, "荫营镇 内部资料", fontproperties=FontProperties(fname=str(sub)))
    with matplotlib.rc_context({"pdf.fonttype": 42}):
        fig.savefig(tmp_path / "a.pdf")
    plt.close(fig)
    assert sub.stat().st_size > 1_000_000
    assert (tmp_path / "a.pdf").stat().st_size < 60_000


def test_truetype_font_is_embedded_as_is():
    dejavu = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    assert not fontsubset.is_cff(dejavu)
    assert fontsubset.embeddable_font(dejavu, "abc") == dejavu
    assert fonts.missing_chars(dejavu, "ab村") == ["村"]
