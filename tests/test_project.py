import datetime as dt
import re
from pathlib import Path

import pytest

from riskmap.errors import ProjectFileError
from riskmap.load.project import FactorSpec, Source, split_source
from riskmap.pipeline.project import load_project


def raises_for(path: Path, *fragments: str):
    """pytest.raises for a ProjectFileError naming the file and every fragment."""
    pattern = "".join(f"(?=.*{re.escape(f)})" for f in (path.name, *fragments))
    return pytest.raises(ProjectFileError, match=re.compile(pattern, re.S))


def test_minimal_project(write_project, project_dict, tmp_path):
    path = write_project(project_dict)
    p = load_project(path)
    assert p.crs == "EPSG:4547"
    assert p.cell_size == 25.0 and p.patrol_cell_size == 100.0
    assert p.patrol_score == "max"
    assert p.name == "project"
    assert p.as_of == dt.date.today()
    assert p.class_method == "quantile"
    assert p.class_breaks == (0.5, 0.75, 0.9, 0.97)
    assert p.output == (tmp_path / "outputs").resolve()
    assert p.villages is None and p.incidents is None
    (f,) = p.factors
    assert isinstance(f, FactorSpec)
    assert (f.name, f.label, f.kind, f.weight) == ("mines", "关闭矿井", "proximity", 10.0)
    assert f.params == {"range": 500.0, "decay": "linear", "target": "edges"}
    assert f.reach == 500.0
    assert f.source == Source(path=(tmp_path / "layers.gpkg").resolve(), layer="mines")
    assert p.district.source.layer == "rights"
    assert p.townships.name_field == "name"
    # district and townships share one source: listed once
    assert [s.layer for s in p.sources()] == ["rights", "mines"]


def test_as_of_from_file_and_override(write_project, project_dict):
    project_dict["as_of"] = "2026-11-27"
    path = write_project(project_dict)
    assert load_project(path).as_of == dt.date(2026, 11, 27)
    assert load_project(path, as_of=dt.date(2025, 1, 1)).as_of == dt.date(2025, 1, 1)


def test_all_factor_kinds(write_project, project_dict):
    project_dict["factors"] += [
        {"name": "tips", "source": "tips.csv", "kind": "density", "bandwidth": 200,
         "weight": 5, "date_field": "date", "half_life_days": 90},
        {"name": "ring", "source": "layers.gpkg:rights", "kind": "ring", "distance": 300,
         "weight": 4},
        {"name": "licence", "source": "layers.gpkg:rights", "kind": "inside", "weight": -3},
        {"name": "pits", "source": {"path": "pits.csv", "crs": "EPSG:4326"}, "kind": "typed",
         "type_field": "type", "types": {"shaft": 1, "pit": 0.5}, "range": 400, "weight": 6},
    ]
    p = load_project(write_project(project_dict))
    f = {x.name: x for x in p.factors}
    assert f["tips"].params["normalize"] == "max" and f["tips"].reach == 800.0
    assert f["ring"].params == {"distance": 300.0, "decay": "step"} and f["ring"].reach == 300
    assert f["licence"].reach == 0.0 and f["licence"].weight == -3.0
    assert f["pits"].params["types"] == {"shaft": 1.0, "pit": 0.5}
    assert f["pits"].params["method"] == "proximity" and f["pits"].reach == 400.0
    assert f["pits"].source.crs == "EPSG:4326"


def test_toml_project(tmp_path):
    path = tmp_path / "proj.toml"
    path.write_text(
        'crs = "EPSG:4547"\n'
        "cell_size = 50\n"
        "patrol_cell_size = 200\n"
        'district = { source = "layers.gpkg:district" }\n'
        'townships = { source = "layers.gpkg:townships", name_field = "乡镇" }\n'
        "[[factors]]\n"
        'name = "roads"\n'
        'source = "roads.shp"\n'
        'kind = "proximity"\n'
        "range = 300\n"
        'decay = "gaussian"\n'
        "weight = 2.5\n"
        "[classes]\n"
        'method = "fixed"\n'
        "breaks = [10, 30, 50, 70]\n",
        encoding="utf-8",
    )
    p = load_project(path)
    assert p.cell_size == 50 and p.patrol_cell_size == 200
    assert p.townships.name_field == "乡镇"
    assert p.factors[0].params["decay"] == "gaussian"
    assert p.factors[0].source.layer is None
    assert p.class_method == "fixed" and p.class_breaks == (10, 30, 50, 70)


def test_with_cell_size(write_project, project_dict):
    p = load_project(write_project(project_dict))
    assert p.with_cell_size(50).cell_size == 50.0
    with pytest.raises(ProjectFileError, match="must divide patrol_cell_size"):
        p.with_cell_size(30)


# --- errors -----------------------------------------------------------------------
def test_missing_file(tmp_path):
    with pytest.raises(ProjectFileError, match=r"nope\.yaml.*not found"):
        load_project(tmp_path / "nope.yaml")


def test_unparsable_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("crs: [unclosed\n", encoding="utf-8")
    with raises_for(path, "cannot parse"):
        load_project(path)


def test_not_a_mapping(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n", encoding="utf-8")
    with raises_for(path, "mapping"):
        load_project(path)


def test_unknown_top_level_key(write_project, project_dict):
    project_dict["cellsize"] = 25
    path = write_project(project_dict)
    with raises_for(path, "unknown key 'cellsize'", "top level", "cell_size"):
        load_project(path)


def test_unknown_factor_key(write_project, project_dict):
    project_dict["factors"][0]["rnage"] = 300
    path = write_project(project_dict)
    with raises_for(path, "'rnage'", "mines", "allowed keys"):
        load_project(path)


def test_key_of_another_kind_is_unknown(write_project, project_dict):
    project_dict["factors"][0]["bandwidth"] = 300  # a density key on a proximity factor
    path = write_project(project_dict)
    with raises_for(path, "'bandwidth'", "mines"):
        load_project(path)


@pytest.mark.parametrize("key", ["weight", "source", "kind", "range"])
def test_missing_factor_key(write_project, project_dict, key):
    del project_dict["factors"][0][key]
    path = write_project(project_dict)
    with raises_for(path, f"factors[0] (mines).{key}", "required key is missing"):
        load_project(path)


@pytest.mark.parametrize("key", ["crs", "district", "townships", "factors"])
def test_missing_top_level_key(write_project, project_dict, key):
    del project_dict[key]
    path = write_project(project_dict)
    with raises_for(path, key, "required key is missing"):
        load_project(path)


def test_weight_must_be_a_number(write_project, project_dict):
    project_dict["factors"][0]["weight"] = "high"
    path = write_project(project_dict)
    with raises_for(path, "weight", "must be a number", "'high'"):
        load_project(path)


def test_bad_decay(write_project, project_dict):
    project_dict["factors"][0]["decay"] = "cubic"
    path = write_project(project_dict)
    with raises_for(path, "decay", "'cubic'", "linear, exponential, gaussian, step"):
        load_project(path)


def test_bad_kind(write_project, project_dict):
    project_dict["factors"][0]["kind"] = "nearness"
    path = write_project(project_dict)
    with raises_for(path, "kind", "'nearness'", "proximity"):
        load_project(path)


@pytest.mark.parametrize("crs", ["EPSG:4326", "EPSG:4490"])
def test_geographic_crs_rejected(write_project, project_dict, crs):
    project_dict["crs"] = crs
    path = write_project(project_dict)
    with raises_for(path, "crs", crs, "geographic"):
        load_project(path)


def test_unknown_crs(write_project, project_dict):
    project_dict["crs"] = "EPSG:999999"
    path = write_project(project_dict)
    with raises_for(path, "crs", "unknown coordinate system"):
        load_project(path)


@pytest.mark.parametrize(("cell", "patrol"), [(30, 100), (200, 100), (40, 100)])
def test_cell_size_must_divide_patrol_size(write_project, project_dict, cell, patrol):
    project_dict.update(cell_size=cell, patrol_cell_size=patrol)
    path = write_project(project_dict)
    with raises_for(path, f"cell_size {cell} m must divide patrol_cell_size {patrol} m"):
        load_project(path)


def test_patrol_size_150(write_project, project_dict):
    project_dict.update(cell_size=25, patrol_cell_size=150)
    path = write_project(project_dict)
    with raises_for(path, "patrol_cell_size", "150", "divides 1000 m"):
        load_project(path)


@pytest.mark.parametrize("cell", [0, -25, "25m", True])
def test_cell_size_must_be_a_positive_number(write_project, project_dict, cell):
    project_dict["cell_size"] = cell
    path = write_project(project_dict)
    with raises_for(path, "cell_size"):
        load_project(path)


def test_duplicate_factor_names(write_project, project_dict):
    project_dict["factors"].append(dict(project_dict["factors"][0], weight=3))
    path = write_project(project_dict)
    with raises_for(path, "factors", "unique", "mines"):
        load_project(path)


@pytest.mark.parametrize("name", ["矿井", "Mines", "1mines", "closed-mines", "a" * 40, ""])
def test_factor_name_must_be_ascii_identifier(write_project, project_dict, name):
    project_dict["factors"][0]["name"] = name
    path = write_project(project_dict)
    with raises_for(path, ".name", "ASCII identifier", "label"):
        load_project(path)


def test_factor_name_with_trailing_newline_rejected(write_project, project_dict):
    # the name becomes column names (c_<name>, v_<name>): "mines\n" is no identifier
    project_dict["factors"][0]["name"] = "mines\n"
    path = write_project(project_dict)
    with raises_for(path, ".name", "ASCII identifier"):
        load_project(path)


def test_no_positive_weight(write_project, project_dict):
    project_dict["factors"][0]["weight"] = -1
    path = write_project(project_dict)
    with raises_for(path, "factors", "positive weight"):
        load_project(path)


@pytest.mark.parametrize("classes", [
    {"breaks": [0.5, 0.4, 0.9, 0.97]},
    {"breaks": [0.5, 0.75, 0.9]},
    {"breaks": [0.5, 0.75, 0.9, 1.0]},
    {"breaks": [0, 0.75, 0.9, 0.97]},
    {"breaks": [0.5, 0.75, "0.9", 0.97]},
    {"breaks": "0.5 0.75 0.9 0.97"},
    {"method": "fixed", "breaks": [20, 40, 60, 100]},
    {"method": "fixed", "breaks": [20, 20, 60, 80]},
])
def test_bad_class_breaks(write_project, project_dict, classes):
    project_dict["classes"] = classes
    path = write_project(project_dict)
    with raises_for(path, "classes.breaks"):
        load_project(path)


def test_bad_class_method(write_project, project_dict):
    project_dict["classes"] = {"method": "jenks"}
    path = write_project(project_dict)
    with raises_for(path, "classes.method", "'jenks'"):
        load_project(path)


def test_typed_weights_in_unit_range(write_project, project_dict):
    project_dict["factors"].append({"name": "pits", "source": "pits.csv", "kind": "typed",
                                    "type_field": "t", "types": {"a": 1.5}, "range": 100,
                                    "weight": 1})
    path = write_project(project_dict)
    with raises_for(path, "types.a", "[0, 1]"):
        load_project(path)


def test_half_life_needs_date_field(write_project, project_dict):
    project_dict["factors"].append({"name": "tips", "source": "tips.csv", "kind": "density",
                                    "bandwidth": 100, "half_life_days": 30, "weight": 1})
    path = write_project(project_dict)
    with raises_for(path, "date_field", "half_life_days"):
        load_project(path)


# --- sources ----------------------------------------------------------------------
@pytest.mark.parametrize(("text", "expected"), [
    ("file.gpkg:layer", ("file.gpkg", "layer")),
    ("data/矿井.gpkg:关闭矿井", ("data/矿井.gpkg", "关闭矿井")),
    ("C:/data/x.gpkg:roads", ("C:/data/x.gpkg", "roads")),
    ("C:\\data\\x.gpkg:roads", ("C:\\data\\x.gpkg", "roads")),
    ("C:\\data\\x.shp", ("C:\\data\\x.shp", None)),
    ("C:/data/x.shp", ("C:/data/x.shp", None)),
    ("roads.shp", ("roads.shp", None)),
    ("dir:with/x.shp", ("dir:with/x.shp", None)),
])
def test_split_source(text, expected):
    assert split_source(text) == expected


def test_source_mapping_with_layer_and_options(write_project, project_dict, tmp_path):
    project_dict["factors"][0]["source"] = {
        "path": "sub/layers.gpkg", "layer": "mines", "where": "kind = 'a'", "encoding": "gbk",
    }
    p = load_project(write_project(project_dict))
    s = p.factors[0].source
    assert s.path == (tmp_path / "sub" / "layers.gpkg").resolve()
    assert (s.layer, s.where, s.encoding) == ("mines", "kind = 'a'", "gbk")
    assert not s.is_table
    assert Source(path=Path("tips.CSV")).is_table


def test_unknown_source_key(write_project, project_dict):
    project_dict["factors"][0]["source"] = {"path": "x.gpkg", "lyr": "mines"}
    path = write_project(project_dict)
    with raises_for(path, "'lyr'", "source"):
        load_project(path)
