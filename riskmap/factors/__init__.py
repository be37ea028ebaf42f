"""Factor kinds: pure functions ``(geometries, grid, params) -> Factor`` and their registry.

Each kind is one module (``proximity``, ``density``, ``ring``, ``inside``,
``typed``) with a :class:`~riskmap.factors.base.Kind` that declares and checks
its parameters; :data:`KINDS` maps kind names to them. The project check, the
engine, the tiled engine, calibration, legends and popups all read
:data:`KINDS`, so a new kind is one module plus one :func:`register` call.

Each factor yields a float32 value in [0, 1] per cell and a float32 "explain"
raster in physical units (distance in m, or density per km²) so that a cell's
score can be told in words: "关闭矿井 340 m (+28)". Distances come from a
range-limited Euclidean distance transform and densities from a count raster
smoothed by a Gaussian kernel: no per-cell Python loop, no per-cell shapely call.
"""

from __future__ import annotations

from dataclasses import replace

from riskmap.errors import ProjectFileError
from riskmap.factors import density as _density
from riskmap.factors import inside as _inside
from riskmap.factors import proximity as _proximity
from riskmap.factors import raster as _raster
from riskmap.factors import ring as _ring
from riskmap.factors import typed as _typed
from riskmap.factors.base import (
    DECAYS,
    TRUNCATE,
    Factor,
    Kind,
    Params,
    decay,
    halo_cells,
    splat_is_cheaper,
    with_halo,
)
from riskmap.factors.density import age_weights, density, kernel_density
from riskmap.factors.inside import inside
from riskmap.factors.proximity import proximity
from riskmap.factors.ring import ring
from riskmap.factors.typed import typed
from riskmap.load.project import FACTOR_COMMON_KEYS, FactorSpec, Project, Traits

#: kind name -> Kind; read by the project check, engine, tiling, calibrate, legends, popups
KINDS: dict[str, Kind] = {}


def register(kind: Kind) -> Kind:
    """Add a factor kind to :data:`KINDS` (replacing one of the same name); returns it."""
    if not kind.name:
        raise ValueError("a factor kind needs a name")
    KINDS[kind.name] = kind
    return kind


for _m in (_proximity, _density, _ring, _inside, _typed, _raster):
    register(_m.KIND)


def kind_of(spec: FactorSpec) -> Kind:
    """The registered kind of ``spec``."""
    try:
        return KINDS[spec.kind]
    except KeyError:
        raise ProjectFileError(f"factor {spec.name}: unknown kind {spec.kind!r}; use one of "
                               f"{', '.join(KINDS)}") from None


def check_spec(spec: FactorSpec, path=None, where: str | None = None) -> FactorSpec:
    """``spec`` with its parameters checked by its kind and its traits filled in.

    Raises
    ------
    ProjectFileError
        Naming the file and ``factors[i] (name).key`` for an unknown kind, an
        unknown key or a bad parameter.
    """
    where = where or f"factors ({spec.name})"
    kind = KINDS.get(spec.kind)
    if kind is None:
        raise ProjectFileError(f"{path}: {where}.kind: unknown kind {spec.kind!r}; use one "
                               f"of {', '.join(KINDS)}")
    allowed = set(FACTOR_COMMON_KEYS) | set(kind.keys)
    unknown = sorted(set(map(str, spec.params)) - allowed)
    if unknown:
        raise ProjectFileError(f"{path}: {where}.{unknown[0]}: unknown key {unknown[0]!r} in "
                               f"{where}; allowed keys: {', '.join(sorted(allowed))}")
    params = kind.check(Params(spec.params, path, where))
    return replace(spec, params=params, traits=traits_of(kind, params))


def traits_of(kind: Kind, params: dict) -> Traits:
    """What the lower floors need to know of a factor, as plain data."""
    return Traits(reach=float(kind.reach(params)), density=bool(kind.is_density(params)),
                  geometries=frozenset(kind.geometries), needs=kind.needs,
                  columns=tuple(sorted(kind.columns(params))),
                  dates=tuple(sorted(kind.date_columns(params))))


def check_project(project: Project) -> Project:
    """``project`` with every factor checked by its kind (see :func:`check_spec`)."""
    specs = tuple(check_spec(f, project.path, f"factors[{i}] ({f.name})")
                  for i, f in enumerate(project.factors))
    return replace(project, factors=specs)


def with_params(spec: FactorSpec, **changes) -> FactorSpec:
    """``spec`` with some parameters changed (traits re-derived, not re-checked)."""
    kind = kind_of(spec)
    params = {**spec.params, **changes}
    return replace(spec, params=params, traits=traits_of(kind, params))


def with_range(spec: FactorSpec, r: float | None) -> FactorSpec:
    """``spec`` with its spatial range set to ``r`` m (None: unchanged)."""
    kind = kind_of(spec)
    if r is None or kind.range_param(spec.params) is None:
        return spec
    params = kind.with_range(spec.params, r)
    return replace(spec, params=params, traits=traits_of(kind, params))


def compute(spec: FactorSpec, gdf, grid, as_of, *, splat_points=None, top=None) -> Factor:
    """Compute one factor on ``grid`` with its kind (features beyond the edge count).

    ``splat_points`` forces the point method (stamping or grid transform) and
    ``top`` the density normaliser, so that a tile of a larger grid gets exactly
    the values the whole grid would (see :mod:`riskmap.score.tiling`).
    """
    return kind_of(spec).compute(gdf, grid, spec.params, as_of, splat_points=splat_points,
                                 top=top)


__all__ = [
    "DECAYS", "KINDS", "TRUNCATE", "Factor", "Kind", "Params", "age_weights", "check_project",
    "check_spec", "compute", "decay", "density", "halo_cells", "inside", "kernel_density",
    "kind_of", "proximity", "register", "ring", "splat_is_cheaper", "typed", "with_halo",
    "with_params", "with_range",
]
