"""The roster (who is responsible where) and the village committee points of a project.

The roster (CSV/XLSX) maps a village, or a single cell, to a responsible cadre and
a phone number; the village points layer gives each village committee's location
(a polygon gives a point on its surface).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

import numpy as np

from riskmap.errors import LayerError
from riskmap.load.tables import normalize_header, read_table

__all__ = ["Roster", "phone_text", "read_roster", "read_village_points"]


@dataclass
class Roster:
    """Responsible cadres: by cell id, by (township, village), by village."""

    by_cell: dict[str, tuple[str, str]] = field(default_factory=dict)
    by_village: dict[tuple[str | None, str], tuple[str, str]] = field(default_factory=dict)
    source: str = ""

    def lookup(self, township: str, village: str, cell_id: str | None) -> tuple[str, str]:
        """(name, phone) responsible for a cell (or, with ``cell_id`` None, the village)."""
        if cell_id and cell_id in self.by_cell:
            return self.by_cell[cell_id]
        for key in ((township, village), (None, village)):
            if key in self.by_village:
                return self.by_village[key]
        return "", ""


def phone_text(v) -> str:
    """A phone number as text, whatever Excel made of it (``13812345678.0`` → ``"13812345678"``)."""
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    s = unicodedata.normalize("NFKC", str(v)).strip()
    return s[1:] if s.startswith("'") else s


def read_roster(project) -> Roster | None:
    """Read the project's ``roster`` (CSV/XLSX; village or cell → name, phone).

    Columns are found by the configured field names (``village_field``,
    ``cell_field``, ``name_field``, ``phone_field``), else by the usual headers
    (村/村名, 网格编号, 责任人/姓名, 联系电话/电话/手机); an optional 乡镇 column
    tells apart villages of the same name. A row with a cell id assigns that cell,
    a row with only a village assigns the village.

    Returns
    -------
    Roster or None
        None if the project has no roster.

    Raises
    ------
    LayerError
        Missing file or columns, naming them.
    """
    spec = project.roster
    if not spec:
        return None
    src = spec["source"]
    fields = {"village": spec.get("village_field"), "cell": spec.get("cell_field"),
              "name": spec.get("name_field"), "phone": spec.get("phone_field")}
    defaults = {"village": ["村", "村名", "行政村", "村(社区)", "村居", "village"],
                "cell": ["网格编号", "网格号", "网格", "cell_id", "cell"],
                "name": ["责任人", "网格责任人", "姓名", "负责人", "网格员", "name"],
                "phone": ["联系电话", "电话", "手机", "手机号", "联系方式", "phone"]}
    keywords = {r: ([f] if f else defaults[r]) for r, f in fields.items()}
    keywords["township"] = ["乡镇", "乡(镇)", "乡镇(街道)", "镇", "township"]
    required = ["name"] + [r for r, f in fields.items() if f and r != "name"]
    df, _ = read_table(src.path, sheet=src.sheet, encoding=src.encoding, keywords=keywords,
                       required=required)
    if "village" not in df.columns and "cell" not in df.columns:
        raise LayerError(f"{src}: roster needs a village (村) or a cell id (网格编号) column; "
                         "set roster.village_field or roster.cell_field")
    out = Roster(source=str(src))
    for rec in df.to_dict("records"):
        name = unicodedata.normalize("NFKC", str(rec.get("name") or "")).strip()
        if not name:
            continue
        entry = (name, phone_text(rec.get("phone")))
        cell = rec.get("cell")
        if cell:
            out.by_cell[normalize_header(cell).upper()] = entry
            continue
        village = rec.get("village")
        if village:
            town = rec.get("township")
            key = (str(town).strip() if town else None, str(village).strip())
            out.by_village.setdefault(key, entry)
            out.by_village.setdefault((None, key[1]), entry)
    return out


def read_village_points(project):
    """The project's village committee points (``name``, ``township``, point geometry).

    Returns
    -------
    geopandas.GeoDataFrame or None
        In the working CRS; None if the project has no ``village_points``.
    """
    spec = project.village_points
    if spec is None:
        return None
    import geopandas as gpd
    import shapely

    from riskmap.load.layers import read_source

    gdf, _ = read_source(spec.source, project.crs)
    for f in (spec.name_field, spec.township_field):
        if f and f not in gdf.columns:
            raise LayerError(f"{spec.source}: no field {f!r} (village_points.name_field/"
                             f"township_field); fields: {', '.join(map(str, gdf.columns[:-1]))}")
    data = {"name": gdf[spec.name_field].astype(str).str.strip().to_numpy()}
    if spec.township_field:
        data["township"] = gdf[spec.township_field].astype(str).str.strip().to_numpy()
    geom = shapely.point_on_surface(gdf.geometry.values)  # points stay; polygons give a point
    return gpd.GeoDataFrame(data, geometry=geom, crs=gdf.crs)
