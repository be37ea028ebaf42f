"""The project's meter table read, scored and placed, and the anomaly layer made from it.

A factor whose source is ``power:anomalies`` reads this layer: :data:`READER`
is registered for the ``power`` prefix in :data:`riskmap.load.sources.DERIVED`
when :mod:`riskmap.models.power` is imported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np

from riskmap.errors import LayerError
from riskmap.load.inputs import DerivedReader
from riskmap.load.layers import LayerInfo
from riskmap.load.project import Project, Source
from riskmap.load.sources.meters import PowerTable, read_expansions, read_power_table
from riskmap.models.power.config import PowerConfig, power_config
from riskmap.models.power.locate import (
    AMBIGUOUS,
    UNPLACED,
    ambiguity_note,
    fill_villages,
    locate,
    place,
    read_areas,
    spread_points,
)
from riskmap.models.power.score import score_users, table_until

__all__ = ["ANOMALY_SOURCE", "LAYER_COLUMNS", "READER", "MeterInputs", "PowerResult",
           "anomalies_before", "anomaly_layer", "anomaly_users", "check_power",
           "is_anomaly_source", "meter_inputs", "months_before", "read_anomaly_source",
           "read_derived", "shared_reader"]

#: the factor source that means "this project's anomaly layer"
ANOMALY_SOURCE = "power:anomalies"
LAYER_COLUMNS = ["user_id", "category", "township", "village", "score", "weight", "onset",
                 "reasons", "placed_by", "level_kwh", "peer_kwh", "step_kwh", "night_share"]


@dataclass
class PowerResult:
    """A scored meter table, placed on the map.

    Attributes
    ----------
    users : geopandas.GeoDataFrame
        :func:`~riskmap.models.power.score.score_users` columns plus
        ``placed_by`` (坐标 / 村委会 / 村范围 / 村名重复 / 未定位) and the point
        (working CRS; None when not placed: 村名重复 is a user without
        coordinates whose village name is written in two townships), sorted by
        score, highest first.
    table : PowerTable
    config : PowerConfig
    villages : geopandas.GeoDataFrame or None
        Village polygons (``name``, ``township``) used to spread users.
    notes : list of str
    """

    users: gpd.GeoDataFrame
    table: PowerTable
    config: PowerConfig
    villages: gpd.GeoDataFrame | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def flagged(self) -> gpd.GeoDataFrame:
        """Users at or above the project's ``min_score``."""
        return self.users[self.users["score"] >= self.config.min_score]

    def summary(self) -> dict:
        """Counts for a report (JSON-ready)."""
        u, t = self.users, self.table
        placed = u["placed_by"].value_counts().to_dict()
        return {
            "users": len(u), "months": len(t.months),
            "first_month": t.months[0] if t.months else None,
            "last_month": t.months[-1] if t.months else None,
            "blank_readings": t.blank_cells, "estimated_readings": t.estimated_cells,
            "categories": u["category"].value_counts().to_dict(),
            "placed_by": {str(k): int(v) for k, v in placed.items()},
            "flagged": len(self.flagged), "min_score": self.config.min_score,
            "personal_columns_dropped": list(t.dropped_personal),
            "notes": list(t.notes) + list(self.notes),
        }


@dataclass
class MeterInputs:
    """What scoring a meter table reads once: the table, village areas and points."""

    config: PowerConfig
    table: PowerTable
    villages: gpd.GeoDataFrame | None
    vpoints: gpd.GeoDataFrame | None
    place: object | None = None  # evidence.PlaceMap of the static factors
    cases: tuple | None = None  # (x, y, dates) of the dated incidents


def _cases(project: Project):
    """The incidents' points and dates (None without a dated incidents layer)."""
    import shapely

    from riskmap.load.columns import column_dates
    from riskmap.load.layers import read_source

    inc = project.incidents
    if not inc or not inc.get("date_field"):
        return None
    import warnings

    try:
        with warnings.catch_warnings():  # the layer's repairs are said where it is read
            warnings.simplefilter("ignore")
            gdf, _ = read_source(inc["source"], project.crs)
    except LayerError:
        return None
    if inc["date_field"] not in gdf.columns:
        return None
    d = np.asarray(column_dates(gdf[inc["date_field"]], inc["date_field"]), "datetime64[D]")
    xy = shapely.get_coordinates(shapely.point_on_surface(gdf.geometry.values))
    ok = ~np.isnat(d)
    return xy[ok, 0], xy[ok, 1], d[ok]


def meter_inputs(project: Project, progress=None, place=None) -> MeterInputs:
    """Read the project's meter table and the village layers that place its users.

    ``place``, the static factors' map already made (the last build's,
    :mod:`riskmap.pipeline.lastbuild`), is used instead of making it here.

    Raises
    ------
    ProjectFileError, LayerError
    """
    cfg = power_config(project)
    say = progress or (lambda msg: None)
    say(f"读取电表台账 {cfg.source}")
    table = read_power_table(cfg.source, user_field=cfg.user_field,
                             category_field=cfg.category_field,
                             village_field=cfg.village_field, month_fields=cfg.month_fields,
                             long_format=cfg.long_format)
    villages = read_areas(project.villages, project.crs) if project.villages else None
    vpoints = read_areas(project.village_points, project.crs) if project.village_points else None
    from riskmap.models.power.evidence import place_map

    try:
        pm = place_map(project, progress) if place is None else place
    except LayerError:  # a factor layer that cannot be read: no place evidence
        pm = None
    return MeterInputs(cfg, table, villages, vpoints, pm, _cases(project))


def check_power(project: Project, *, progress=None, until=None,
                inputs: MeterInputs | None = None) -> PowerResult:
    """Read, score and place the project's meter table.

    Parameters
    ----------
    project : Project
        With a ``power`` section (and ``villages`` / ``village_points`` to place
        users that have no coordinates).
    progress : callable, optional
        Called with a short message per step.
    until : datetime.date, optional
        Score only the months before this date's month (a backtest builds its
        map from readings before the split).
    inputs : MeterInputs, optional
        The table and village layers already read (:func:`meter_inputs`), so
        that scoring as of several days reads the files once.

    Returns
    -------
    PowerResult

    Raises
    ------
    ProjectFileError, LayerError
    """
    say = progress or (lambda msg: None)
    inputs = inputs or meter_inputs(project, progress)
    cfg, table, villages, vpoints = inputs.config, inputs.table, inputs.villages, inputs.vpoints
    if until is not None:
        table = table_until(table, until)
    x, y, notes = locate(table, cfg.source, project.crs)
    u = table.users
    if villages is not None or vpoints is not None:
        fill_villages(u, x, y, villages, project.crs, vpoints)
    expansions = None
    if cfg.expansions is not None:
        expansions = read_expansions(cfg.expansions, table.months)
        unknown = ~expansions["user_id"].isin(u["user_id"])
        if unknown.any():
            notes.append(f"增容清单中 {int(unknown.sum())} 个户号不在电表台账中 (expansion ids "
                         f"not in the meter table): "
                         f"{', '.join(expansions['user_id'][unknown][:5])}")
    say("评分")
    scores = score_users(table, expansions)
    gx, gy, placed = place(u, x, y, villages, vpoints)
    scores = _weigh(scores, inputs, until, table, gx, gy, placed, u, villages)
    unknown = placed == UNPLACED
    if unknown.any():
        names = sorted(set(u["village"][unknown].fillna("（空）").astype(str)))
        notes.append(f"{int(unknown.sum())} 个用户无坐标且村名无法匹配，未上图 (users without "
                     f"coordinates whose village is unknown, not placed): {', '.join(names[:8])}")
    twice = ambiguity_note(u, placed, villages, vpoints)
    if twice:
        notes.append(twice)
    lost = np.isin(placed, (UNPLACED, AMBIGUOUS))
    geom = np.where(lost, None, gpd.points_from_xy(gx, gy))
    scores["placed_by"] = placed
    gdf = gpd.GeoDataFrame(scores, geometry=gpd.GeoSeries(geom, crs=project.crs))
    gdf = gdf.sort_values(["score", "user_id"], ascending=[False, True], kind="stable")
    return PowerResult(gdf.reset_index(drop=True), table, cfg, villages, notes)


def _weigh(scores, inputs: MeterInputs, until, table, gx, gy, placed, users, villages):
    """The scores weighed by the users' place, their series' shape and the cases nearby."""
    from riskmap.models.power.evidence import apply_evidence, case_drops, place_rank

    q = None
    if inputs.place is not None:
        q = place_rank(inputs.place, gx, gy, placed, users, villages)
    cases = inputs.cases
    if cases is not None and until is not None:
        keep = cases[2] < np.datetime64(until, "D")
        cases = tuple(a[keep] for a in cases)
    hits = case_drops(scores["ended"].to_numpy(), table.months, gx, gy, cases)
    return apply_evidence(scores, q, hits)


def months_before(table: PowerTable, day) -> int:
    """How many of the table's dated months lie before ``day``'s month."""
    cut = f"{day.year:04d}-{day.month:02d}"
    return sum(1 for m in table.months if len(m) == 7 and m[4] == "-" and m < cut)


def anomalies_before(project: Project, min_months: int = 3, progress=None,
                     inputs: MeterInputs | None = None):
    """A function giving the anomaly layer as scored from the readings before a day.

    The meter table is read once; for a day with fewer than ``min_months``
    months of readings before it the function returns None (the table does not
    reach back to that day: a factor built on it is not covered there).
    """
    inputs = inputs or meter_inputs(project, progress)

    def rows(day):
        if months_before(inputs.table, day) < min_months:
            return None
        try:
            res = check_power(project, until=day, inputs=inputs)
        except LayerError:
            return None
        gdf = anomaly_layer(project, result=res)
        return gdf if len(gdf) else None

    rows.table = inputs.table
    return rows


def shared_reader(progress=None) -> tuple[DerivedReader, dict]:
    """A ``power:`` reader that keeps the :class:`MeterInputs` it read (``box["inputs"]``).

    Calibration reads the meter table once for the factor layer and again per
    period: with this reader passed to :func:`riskmap.load.inputs.load_inputs`
    the second read is the first one.
    """
    box: dict = {}

    def read(project, source):
        if not project.power:
            raise LayerError(f"{project.path}: a factor reads power:anomalies but the project "
                             "has no 'power' section (the meter table)")
        if "inputs" not in box:
            box["inputs"] = meter_inputs(project, progress)
        return read_anomaly_source(project, source,
                                   result=check_power(project, inputs=box["inputs"]))

    return DerivedReader(read=read, files=_meter_files), box


def anomaly_users(result: PowerResult, min_score: float | None = None) -> gpd.GeoDataFrame:
    """One point per flagged, placed user (the layer people read).

    Parameters
    ----------
    result : PowerResult
    min_score : float, optional
        Default: the project's ``power.min_score``.

    Returns
    -------
    geopandas.GeoDataFrame
        :data:`LAYER_COLUMNS` (``weight`` = score / 100) and the point; no
        personal data.
    """
    ms = result.config.min_score if min_score is None else min_score
    u = result.users
    sel = u[(u["score"] >= ms) & ~u["placed_by"].isin([UNPLACED, AMBIGUOUS])].copy()
    sel["weight"] = sel["score"] / 100.0
    return gpd.GeoDataFrame(sel[[*LAYER_COLUMNS, "geometry"]].reset_index(drop=True),
                            crs=u.crs)


def anomaly_layer(project: Project, *, min_score: float | None = None, spread: bool = True,
                  result: PowerResult | None = None) -> gpd.GeoDataFrame:
    """The anomaly layer of a project, ready for a ``density`` or ``typed`` factor.

    Parameters
    ----------
    project : Project
        With a ``power`` section.
    min_score : float, optional
        Default: ``power.min_score``.
    spread : bool
        Split village-placed users over
        :data:`~riskmap.models.power.locate.SPREAD_POINTS` points inside the
        village (see :func:`~riskmap.models.power.locate.spread_points`);
        ``False`` gives one point per user.
    result : PowerResult, optional
        A result already computed by :func:`check_power`.

    Returns
    -------
    geopandas.GeoDataFrame
        Points in the working CRS with :data:`LAYER_COLUMNS` (use
        ``weight_field: weight`` in a density factor, or ``type_field:
        placed_by`` / ``category`` in a typed one) and ``part``.
    """
    result = result or check_power(project)
    users = anomaly_users(result, min_score)
    return spread_points(result, users) if spread else users.assign(part=0)


def is_anomaly_source(source: Source) -> bool:
    """True when a factor's source is the special path ``power:anomalies``."""
    return Path(source.path).name == ANOMALY_SOURCE or str(source.path).endswith(ANOMALY_SOURCE)


def read_anomaly_source(project: Project, source: Source | None = None, *, until=None,
                        result: PowerResult | None = None):
    """The anomaly layer as :func:`riskmap.load.layers.read_source` returns a layer.

    Parameters
    ----------
    project : Project
    source : Source, optional
        The factor's source (for the info record).
    until : datetime.date, optional
        Score only the readings before this date (see :func:`check_power`).
    result : PowerResult, optional
        The meter table already scored by :func:`check_power` (``until`` is then
        not used); ``riskmap check`` scores it once for every reader.

    Returns
    -------
    (geopandas.GeoDataFrame, riskmap.load.layers.LayerInfo)

    Raises
    ------
    LayerError
        No users at or above ``min_score`` (an empty layer cannot be a factor).
    """
    result = result or check_power(project, until=until)
    gdf = anomaly_layer(project, result=result)
    src = source or Source(path=project.folder / ANOMALY_SOURCE)
    info = LayerInfo(source=src, format="power anomalies", crs=project.crs,
                     encoding=result.table.users.attrs.get("encoding"))
    if gdf.empty:
        raise LayerError(f"{result.config.source}: no user scores ≥ power.min_score "
                         f"{result.config.min_score:g}; lower it or drop the factor")
    info.features = len(gdf)
    info.geom_counts = {"Point": len(gdf)}
    info.geom_types = ["Point"]
    info.bounds = tuple(float(v) for v in gdf.total_bounds)
    s = result.summary()
    placed = ", ".join(f"{k} {v}" for k, v in s["placed_by"].items())
    info.notes = [f"{s['flagged']} 户 ≥ {s['min_score']:g} 分 (users flagged) of {s['users']}; "
                  f"定位 (placed by) {placed}", *s["notes"]]
    return gdf, info


def read_derived(project: Project, source: Source, *, result: PowerResult | None = None):
    """``power:anomalies`` as a factor layer (the registered reader).

    Parameters
    ----------
    project : Project
    source : Source
        The factor's source.
    result : PowerResult, optional
        The meter table already scored (see :func:`read_anomaly_source`).

    Raises
    ------
    LayerError
        The project has no ``power`` section, or as :func:`read_anomaly_source`.
    """
    if not project.power:
        raise LayerError(f"{project.path}: a factor reads power:anomalies but the project "
                         "has no 'power' section (the meter table)")
    return read_anomaly_source(project, source, result=result)


def _meter_files(project: Project) -> list[Path]:
    """The files the anomaly layer is made from: the meter table and the expansion list."""
    if not project.power:
        return []
    return [s.path for s in (project.power["source"], project.power.get("expansions"))
            if s is not None]


#: the reader of ``power:*`` sources, for :func:`riskmap.load.inputs.load_inputs`
READER = DerivedReader(read=read_derived, files=_meter_files)
