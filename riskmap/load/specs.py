"""The checked project as values: Source, AreaSpec, FactorSpec, Project (frozen dataclasses)."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path

from riskmap.errors import GridError, ProjectFileError


@dataclass(frozen=True)
class Source:
    """Where a layer comes from: a file, optionally a layer inside it."""

    path: Path
    layer: str | None = None
    where: str | None = None
    x_field: str | None = None
    y_field: str | None = None
    crs: str | None = None
    encoding: str | None = None
    sheet: str | None = None
    table: str = "points"  # for CSV/TXT/XLSX: "points" or "corners" (拐点坐标 licences)
    crs_field: str | None = None  # per-row coordinate system column
    datum: str | None = None  # of GK coordinates: cgcs2000, wgs84, xian80, beijing54
    towgs84: tuple | None = None  # Helmert parameters for xian80 / beijing54
    central_meridian: float | None = None  # of GK eastings without zone prefix
    allow_outside: bool = False  # accept a layer whose features are mostly outside
    #: tolerance (m) of ``shared_boundary``: the layer's polygons become the part of the
    #: district's boundary within this distance of them; None: the layer as it is
    shared_boundary: float | None = None
    #: the sources of a factor that reads several (``source:`` a list), each with its
    #: own options; ``path`` is then the first one's
    parts: tuple = ()

    def __str__(self) -> str:
        if self.parts:
            return " + ".join(str(p) for p in self.parts)
        return f"{self.path}" + (f" (图层 {self.layer})" if self.layer else "")

    @property
    def is_table(self) -> bool:
        """True for CSV/TXT/XLSX point tables (read by pandas, not OGR)."""
        return not self.parts and self.path.suffix.lower() in {".csv", ".txt", ".xlsx", ".xls"}

    @property
    def key(self) -> tuple:
        """What identifies the layer read (a cache key): file, layer, filter, parts."""
        return (self.path, self.layer, self.where, self.shared_boundary,
                tuple(p.key for p in self.parts))

    @property
    def files(self) -> tuple[Path, ...]:
        """Every file the source reads (its parts' for several sources)."""
        return tuple(f for p in self.parts for f in p.files) if self.parts else (self.path,)

    @property
    def label(self) -> str:
        """Short name of the source: the file name and layer (for a column and messages)."""
        return self.path.name + (f":{self.layer}" if self.layer else "")


@dataclass(frozen=True)
class AreaSpec:
    """Township or village polygons with their name field."""

    source: Source
    name_field: str
    township_field: str | None = None
    label: str | None = None


@dataclass(frozen=True)
class ReferenceSpec:
    """One of the bureau's reference layers (``reference.roads``, …): drawn, never scored."""

    role: str  #: roads, rivers, settlements or dom (the orthophoto, a raster)
    source: Source
    name_field: str | None = None  #: the field of the names written beside the features


@dataclass(frozen=True)
class Traits:
    """What a factor's kind tells the lower floors about it, as plain data.

    Filled in when the factor's parameters are checked by its kind
    (:func:`riskmap.factors.check_spec`); loading reads it to check the layer.
    """

    reach: float = 0.0  # largest distance (m) at which a feature still affects a cell
    density: bool = False  # the value is a kernel density (per km²)
    geometries: frozenset = frozenset()  # geometry types the kind can use (empty: any)
    needs: str = ""  # those types in words, for messages
    columns: tuple = ()  # columns of the layer the factor reads
    dates: tuple = ()  # of those, the ones that hold dates (every row must have one)


@dataclass(frozen=True)
class FactorSpec:
    """One risk factor: a layer, a kind, its parameters and a weight."""

    name: str
    label: str
    source: Source
    kind: str
    weight: float
    params: dict = field(default_factory=dict)
    traits: Traits | None = None  # None until checked by the factor's kind

    @property
    def is_density(self) -> bool:
        """A kernel density (``density``, or ``typed`` with ``method: density``)."""
        return bool(self.traits and self.traits.density)

    @property
    def reach(self) -> float:
        """Largest distance (m) at which a feature still affects a cell."""
        return self.traits.reach if self.traits else 0.0


@dataclass(frozen=True)
class Project:
    """A checked project file."""

    path: Path
    name: str
    crs: str
    cell_size: float
    patrol_cell_size: float
    patrol_score: str
    as_of: dt.date
    district: AreaSpec
    townships: AreaSpec
    villages: AreaSpec | None
    factors: tuple[FactorSpec, ...]
    class_method: str
    class_breaks: tuple[float, ...]
    incidents: dict | None
    output: Path
    map: dict = field(default_factory=dict)
    ahp: dict | None = None  # pairwise comparison matrix (checked by riskmap.models.ahp)
    calibration: dict = field(default_factory=dict)  # options of riskmap calibrate
    roster: dict | None = None  # responsible cadres: source + field names (raw, checked later)
    plan: dict = field(default_factory=dict)  # options of riskmap plan (raw, checked later)
    village_points: AreaSpec | None = None  # village committee points (name_field, ...)
    history: Path | None = None  # the project's history database (default beside the file)
    power: dict | None = None  # the power company's meter table (raw, checked by models.power)
    reference: tuple[ReferenceSpec, ...] = ()  # roads, rivers, settlements, DOM (drawn only)
    interval: Path | None = None  # per-cell rank interval of calibrate (score_interval.tif)

    @property
    def folder(self) -> Path:
        """Folder of the project file (paths are relative to it)."""
        return self.path.parent

    def relative(self, path) -> str:
        """``path`` relative to the project folder, as written in shared outputs.

        Summaries and GeoPackages travel to townships: they never carry the
        analyst's absolute paths. A path on another drive keeps only its name.
        """
        import os

        p = Path(path)
        if not p.is_absolute():
            return p.as_posix()
        try:
            return Path(os.path.relpath(p, self.folder)).as_posix()
        except ValueError:  # another drive (Windows)
            return p.name

    def source_text(self, src: Source) -> str:
        """A source as the project file would name it (relative paths, layer after ``:``)."""
        if src.parts:
            return " + ".join(self.source_text(p) for p in src.parts)
        return self.relative(src.path) + (f":{src.layer}" if src.layer else "")

    def sources(self) -> list[Source]:
        """Every input source, in project-file order, without repeats."""
        seen, out = set(), []
        areas = [self.district, self.townships, self.villages]
        factor_sources = [p for f in self.factors for p in (f.source.parts or (f.source,))]
        for s in [a.source for a in areas if a] + factor_sources:
            if (s.path, s.layer) not in seen:
                seen.add((s.path, s.layer))
                out.append(s)
        return out

    def with_cell_size(self, cell_size: float) -> Project:
        """Copy with another analysis cell size (checked against the patrol size)."""
        from dataclasses import replace

        check_cell_sizes(self.path, cell_size, self.patrol_cell_size)
        return replace(self, cell_size=float(cell_size))


def check_patrol_size(size: float) -> int:
    """Return the patrol cell size as int metres, or raise if ids cannot be made.

    Ids (:mod:`riskmap.grid.cellid`) need a size that divides 1000 m or a whole
    number of kilometres.
    """
    s = round(size)
    if abs(size - s) > 1e-9 or s <= 0 or (1000 % s and s % 1000):
        raise GridError(
            f"patrol cell size {size} m cannot carry cell ids: use a size that divides "
            "1000 m (e.g. 50, 100, 200, 250, 500) or a whole number of kilometres"
        )
    return s


#: sizes that make sense for a county's analysis and patrol cells (m)
CELL_RANGE = (1.0, 1000.0)
PATROL_MAX = 5000.0


def check_cell_sizes(path, cell, patrol):
    """Raise unless the sizes are sensible, ``patrol`` carries ids and is a multiple of ``cell``."""
    if not CELL_RANGE[0] <= cell <= CELL_RANGE[1]:
        raise ProjectFileError(f"{path}: cell_size {cell:g} m: the analysis cell must be "
                               f"{CELL_RANGE[0]:g}–{CELL_RANGE[1]:g} m (25 m is usual)")
    if patrol > PATROL_MAX:
        raise ProjectFileError(f"{path}: patrol_cell_size {patrol:g} m: a patrol cell is what a "
                               f"team checks on foot, at most {PATROL_MAX:g} m (100 m is usual)")
    try:
        check_patrol_size(patrol)
    except GridError as e:
        raise ProjectFileError(f"{path}: patrol_cell_size: {e}") from None
    k = patrol / cell if cell > 0 else math.inf
    if not math.isfinite(k) or abs(k - round(k)) > 1e-9:
        raise ProjectFileError(
            f"{path}: cell_size {cell:g} m must divide patrol_cell_size {patrol:g} m "
            "a whole number of times (e.g. 25 m analysis cells in 100 m patrol cells)"
        )


