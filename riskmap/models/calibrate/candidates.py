"""Candidate columns: each factor at each shape and range on the design's cells.

A distance factor (``proximity``, ``ring``, typed points) is computed once, as a
distance up to the longest range, and every decay (linear, exponential,
gaussian, step) at every range is made from that distance. Typed points are
also tried as a saturating density (a kernel density that stops rising at a
level: ``normalize`` in points per km²). Other kinds are computed once per
range by their own code (:func:`riskmap.score.engine.factor_on_grid`). A dated
factor is computed per period of the rolling-origin design, from its rows
dated before the period's first day (:mod:`.dated`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from riskmap import factors
from riskmap.factors import TRUNCATE, decay
from riskmap.load.project import FactorSpec
from riskmap.score.engine import factor_on_grid

__all__ = ["SATURATIONS", "Cand", "Column", "cand_params", "cand_spec", "own_shape",
           "saturation_levels", "static_column"]

#: saturation levels of a density, as quantiles of its positive values ("max": none)
SATURATIONS = ("max", 0.99, 0.9, 0.5)
DISTANCE_KINDS = {"proximity": "range", "ring": "distance"}


@dataclass(frozen=True)
class Cand:
    """One candidate form of a factor.

    ``shape`` is a decay name, ``"density"`` (a kernel density; ``range`` is its
    reach, four bandwidths), ``"range"`` (a kind's own range key) or ``""``
    (the factor as it is); ``norm`` a density's ``normalize`` ("max" or per
    km²); ``half_life`` a dated density's half-life in days.
    """

    shape: str
    range: float | None = None
    norm: object = None
    half_life: float | None = None

    def text(self) -> str:
        """'exponential 1600 m', 'density 250 m (R 1000) (sat. 3.2/km²)', '—'."""
        if self.range is None:
            return "—"
        if self.shape == "density":
            s = f"density {self.range / TRUNCATE:g} m (R {self.range:g})"
            if self.norm not in (None, "max"):
                s += f" (sat. {float(self.norm):.3g}/km²)"
            if self.half_life:
                s += f", half-life {self.half_life:g} d"
            return s
        return f"{self.shape} {self.range:g} m" if self.shape != "range" else f"{self.range:g} m"


@dataclass
class Column:
    """The candidates of one factor on the design's cells."""

    name: str
    cands: list[Cand]
    values: list[np.ndarray]  # static: (n,) float32; dated: (P, n) float32
    dated: bool = False
    own: frozenset = frozenset()  # indices of candidates in the project's own shape
    covered: np.ndarray | None = None  # dated: (P,) periods the factor's data cover
    notes: list[str] = field(default_factory=list)

    def drop_flat(self) -> None:
        """Leave out candidates without variation on the cells (in place)."""
        keep = [i for i, v in enumerate(self.values) if np.ptp(v) > 0]
        own = {keep.index(i) for i in self.own if i in keep}
        self.cands = [self.cands[i] for i in keep]
        self.values = [self.values[i] for i in keep]
        self.own = frozenset(own)


def own_shape(spec: FactorSpec) -> str:
    """The shape the project gives a factor (its decay, or density for densities)."""
    kind = factors.kind_of(spec)
    if kind.is_density(spec.params):
        return "density"
    if spec.kind in DISTANCE_KINDS or spec.kind == "typed":
        return spec.params.get("decay", "step" if spec.kind == "ring" else "linear")
    return "range"


def cand_spec(spec: FactorSpec, c: Cand) -> FactorSpec:
    """``spec`` in the form of candidate ``c`` (traits re-derived)."""
    p = dict(spec.params)
    if c.range is None:
        return spec
    if c.shape == "density":
        p.update(bandwidth=float(c.range) / TRUNCATE, normalize=c.norm or "max")
        if spec.kind == "typed":
            p["method"] = "density"
        if c.half_life:
            p["half_life_days"] = float(c.half_life)
        return factors.with_params(spec, **{k: p[k] for k in p})
    if c.shape == "range":
        return factors.with_range(spec, c.range)
    key = DISTANCE_KINDS.get(spec.kind, "range")
    p.update({key: float(c.range), "decay": c.shape})
    if spec.kind == "typed":
        p["method"] = "proximity"
    return factors.with_params(spec, **p)


def cand_params(spec: FactorSpec, c: Cand) -> dict:
    """The project keys candidate ``c`` sets on ``spec`` (only those that change)."""
    new = cand_spec(spec, c).params
    return {k: v for k, v in new.items() if spec.params.get(k) != v}


def _distance(spec: FactorSpec, gdf, grid, cells, as_of, reach: float) -> np.ndarray:
    """Distance (m) from each cell to the factor's features, ``inf`` beyond ``reach``."""
    f = factor_on_grid(cand_spec(spec, Cand("linear", reach)), gdf, grid, as_of)
    return np.asarray(f.explain, np.float32).reshape(-1)[cells]


def _decays(d: np.ndarray, ranges, shapes, weight: float = 1.0):
    for s in shapes:
        for r in ranges:
            yield Cand(s, r), np.float32(weight) * decay(d, r, s)


def _typed_groups(spec: FactorSpec, gdf):
    """Typed points split by type weight: ``[(weight, rows), ...]`` (positive weights)."""
    w = gdf[spec.params["type_field"]].astype(str).map(spec.params["types"]).fillna(0.0)
    w = w.to_numpy(float)
    return [(float(v), gdf[w == v]) for v in sorted(set(w[w > 0]), reverse=True)]


def saturation_levels(per_km2: np.ndarray) -> list:
    """``"max"`` and the saturation levels (per km²) tried for a density.

    The levels are quantiles of its positive values (:data:`SATURATIONS`),
    none when fewer than 10 values are positive.
    """
    pos = per_km2[per_km2 > 0]
    out = ["max"]
    if len(pos) < 10:
        return out
    for q in SATURATIONS[1:]:
        s = float(np.quantile(pos, q))
        if s > 0:
            out.append(float(f"{s:.3g}"))
    return list(dict.fromkeys(out))


def _density_cands(spec, gdf, grid, cells, as_of, ranges, norms: bool):
    for r in ranges:
        f = factor_on_grid(cand_spec(spec, Cand("density", r)), gdf, grid, as_of)
        d = np.asarray(f.explain, np.float32).reshape(-1)
        top = float(d.max())
        dc = d[cells]
        for s in (saturation_levels(dc) if norms else ["max"]):
            scale = top if s == "max" else s
            v = np.clip(dc / np.float32(scale), 0, 1) if scale > 0 else np.zeros_like(dc)
            yield Cand("density", r, s), v.astype(np.float32)


def static_column(spec: FactorSpec, gdf, grid, cells, as_of, ranges, shapes: bool) -> Column:
    """Every candidate of a static factor on the design's cells.

    Parameters
    ----------
    spec : FactorSpec
    gdf : geopandas.GeoDataFrame
        The factor's layer.
    grid : Grid
        The patrol grid.
    cells : numpy.ndarray
        Flat indices of the design's cells.
    as_of : datetime.date
    ranges : sequence of float
        Influence ranges (m) to try.
    shapes : bool
        Try every decay (and typed points as a density); else only the project's shape.
    """
    kind = factors.kind_of(spec)
    own = own_shape(spec)
    out: list[tuple[Cand, np.ndarray]] = []
    if len(gdf) == 0:
        return Column(spec.name, [], [])
    if kind.range_param(spec.params) is None:
        v = factor_on_grid(spec, gdf, grid, as_of).value.reshape(-1)[cells]
        return Column(spec.name, [Cand("")], [np.asarray(v, np.float32)], own=frozenset({0}))
    decays = list(factors.DECAYS) if shapes else [own]
    if spec.kind in DISTANCE_KINDS:
        d = _distance(spec, gdf, grid, cells, as_of, max(ranges))
        out += list(_decays(d, ranges, decays if own != "range" else ["linear"]))
    elif spec.kind == "typed":
        if own != "density" or shapes:
            groups = [(w, _distance(spec, rows, grid, cells, as_of, max(ranges)))
                      for w, rows in _typed_groups(spec, gdf)]
            for s in (decays if own != "density" else factors.DECAYS):
                for r in ranges:
                    v = np.zeros(len(cells), np.float32)
                    for w, d in groups:
                        np.maximum(v, np.float32(w) * decay(d, r, s), out=v)
                    out.append((Cand(s, r), v))
        if own == "density" or shapes:
            out += list(_density_cands(spec, gdf, grid, cells, as_of, ranges, shapes))
    elif kind.is_density(spec.params):
        out += list(_density_cands(spec, gdf, grid, cells, as_of, ranges, shapes))
    else:  # a kind riskmap does not know the insides of: its own range key
        for r in ranges:
            v = factor_on_grid(factors.with_range(spec, r), gdf, grid, as_of).value
            out.append((Cand("range", r), np.asarray(v.reshape(-1)[cells], np.float32)))
    own_i = {i for i, (c, _) in enumerate(out) if c.shape == own
             and (c.shape != "density" or c.norm in (None, "max", spec.params.get("normalize")))}
    col = Column(spec.name, [c for c, _ in out], [v for _, v in out], own=frozenset(own_i))
    col.drop_flat()
    return col
