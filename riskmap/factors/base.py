"""What every factor kind shares: the Factor value, decays, halos, the Kind interface.

A factor kind is a pure function ``(geometries, grid, params) -> Factor`` plus a
small :class:`Kind` object that declares and checks its parameters and tells the
rest of riskmap what it needs (geometry types, reach, columns) and how to say a
cell's value in words. Kinds live one per module and are registered in
:data:`riskmap.factors.KINDS`.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import shapely

from riskmap.errors import LayerError, ProjectFileError
from riskmap.grid import Grid, splat

POINT, LINE, POLY = (0, 4), (1, 2, 5), (3, 6)  # shapely type ids
POINTS = frozenset({"Point", "MultiPoint"})
POLYGONS = frozenset({"Polygon", "MultiPolygon"})
ANY_GEOMETRY = POINTS | POLYGONS | {"LineString", "MultiLineString"}
DECAYS = ("linear", "exponential", "gaussian", "step")
#: longest influence range and kernel bandwidth a factor may have (m): beyond them a
#: "range" is a typo (1e12) that would make every grid transform enormous
MAX_RANGE_M = 50_000.0
MAX_BANDWIDTH_M = 20_000.0
TRUNCATE = 4.0  # Gaussian kernels are cut at 4 sigma


class Factor:
    """One factor on a grid: values in [0, 1] and what they mean.

    ``explain`` is kept in physical units (distance in m, or density per km²).
    Where the value is a function of it (a decay of the distance, a scaled
    density), only ``explain`` is stored and the value is made when asked:
    half the memory per factor, which is what bounds a 10 m district build.
    """

    __slots__ = ("_to_value", "_value", "explain", "support", "unit")

    def __init__(self, value, explain, unit: str, to_value=None, support=None):
        self._value = value
        self.explain = explain
        self.unit = unit  # "m" (distance to nearest), "/km²" (density) or ""
        self._to_value = to_value
        #: int array (n, 4) of cell boxes ``[r0, r1) x [c0, c1)`` outside which the value
        #: is 0 (None: anywhere); the score skips the rest of the grid
        self.support = support

    @property
    def value(self) -> np.ndarray:
        """float32 values in [0, 1] on the grid."""
        return self._value if self._value is not None else self._to_value(self.explain)

    @property
    def lazy(self) -> bool:
        """True when ``value`` makes a new array on every call."""
        return self._value is None

    def value_at(self, flat) -> np.ndarray:
        """Values at flat cell indices (without making the whole grid)."""
        if self._value is not None:
            return self._value.ravel()[flat]
        return self._to_value(self.explain.ravel()[flat])

    def value_block(self, rows: slice, cols: slice = slice(None)) -> tuple[np.ndarray, bool]:
        """Values of a block of cells, and whether the array is fresh (made for the caller)."""
        if self._value is not None:
            return self._value[rows, cols], False
        return self._to_value(self.explain[rows, cols]), True

    def crop(self, rows: slice, cols: slice) -> Factor:
        """The factor on a window of its grid."""
        v = None if self._value is None else self._value[rows, cols]
        return Factor(v, self.explain[rows, cols], self.unit, self._to_value)


def decay(d: np.ndarray, reach: float, kind: str = "linear") -> np.ndarray:
    """Turn distances into closeness in [0, 1], zero beyond ``reach``.

    Parameters
    ----------
    d : numpy.ndarray
        Distances in metres (``inf`` = no feature within reach).
    reach : float
        Influence range in metres.
    kind : {"linear", "exponential", "gaussian", "step"}
        ``linear`` 1 − d/R; ``exponential`` e^(−3d/R); ``gaussian``
        e^(−½(3d/R)²); ``step`` 1 within R. All are 0 beyond R.
    """
    d = np.asarray(d, dtype=np.float32)
    r = np.float32(reach)
    # in-place passes over one float32 buffer: this runs on every cell
    if kind == "linear":
        v = d * (-1 / r)
        v += 1
        np.maximum(v, 0, out=v)  # beyond reach (and inf) -> 0
        return v
    if kind == "step":
        return (d <= r).astype(np.float32)
    if kind == "exponential":
        v = d * (-3 / r)
    elif kind == "gaussian":
        v = d * (3 / r)
        v *= v
        v *= np.float32(-0.5)
    else:
        raise ValueError(f"unknown decay {kind!r}")
    np.exp(v, out=v)
    v[d > r] = 0
    return v


def with_halo(grid: Grid, reach: float, fn) -> np.ndarray:
    """``fn(g)`` on ``grid`` grown by ``reach``, cropped back: features beyond the edge count."""
    h = halo_cells(reach, grid.cell)
    a = fn(grid.expand(h))
    # a copy, not a view: the view would keep the larger halo array alive
    return a[h:h + grid.nrows, h:h + grid.ncols].copy()


def boxes(support) -> np.ndarray:
    """Support boxes as an int64 ``(n, 4)`` array (see :attr:`Factor.support`)."""
    return np.asarray(support, dtype=np.int64).reshape(-1, 4)


def halo_cells(reach: float, cell: float) -> int:
    """Cells of halo needed so that features up to ``reach`` m away are seen."""
    return math.ceil(reach / cell) + 1


def use_splat(forced: bool | None, n_points: int, reach: float, grid: Grid) -> bool:
    """Stamp points (True) or transform the whole grid (False); ``forced`` decides if given."""
    return splat_is_cheaper(n_points, reach, grid) if forced is None else forced


def splat_is_cheaper(n_points: int, reach: float, grid: Grid) -> bool:
    """Whether stamping ``n_points`` windows costs less than one whole-grid transform."""
    # measured on 2 cores: a stamped window cell costs about half a cell of
    # whole-grid EDT or Gaussian filter (grid grown by the halo)
    h = halo_cells(reach, grid.cell)
    cells = (grid.nrows + 2 * h) * (grid.ncols + 2 * h)
    return splat.splat_cost(n_points, reach, grid.cell) < 2.0 * cells


def points_only(geoms):
    """x, y of point geometries; LayerError for lines or polygons."""
    from riskmap.grid.burn import point_xy

    geoms = np.asarray(geoms)
    if len(geoms) and not np.isin(shapely.get_type_id(geoms), POINT).all():
        raise LayerError("this factor needs points but the layer has lines or polygons")
    return point_xy(geoms)


def polygons_only(geoms):
    """The geometries, checked to be polygons."""
    geoms = np.asarray(geoms)
    if len(geoms) and not np.isin(shapely.get_type_id(geoms), POLY).all():
        raise LayerError("this factor needs polygons but the layer has points or lines")
    return geoms


# --- parameters -------------------------------------------------------------------
class Params:
    """Checks one factor's parameters; messages name the project file and the key."""

    def __init__(self, raw: dict, path, where: str):
        self.raw = dict(raw)
        self.path = path
        self.where = where

    def fail(self, key: str, msg: str):
        """Raise ProjectFileError for ``<where>.<key>``."""
        raise ProjectFileError(f"{self.path}: {self.where}.{key}: {msg}")

    def require(self, key: str):
        """The value of a required key."""
        if self.raw.get(key) is None:
            raise ProjectFileError(f"{self.path}: {self.where}.{key}: required key is missing")
        return self.raw[key]

    def number(self, key: str, value=None, *, positive: bool = False,
               at_most: float | None = None) -> float:
        """A finite number (``value`` or the key's), optionally > 0 and ≤ ``at_most``."""
        v = self.raw[key] if value is None else value
        if isinstance(v, bool) or not isinstance(v, int | float):
            self.fail(key, f"must be a number, got {v!r}")
        try:
            f = float(v)
        except OverflowError:  # an integer beyond any float
            f = math.inf
        if not math.isfinite(f):
            self.fail(key, f"must be a finite number, got {v!r}")
        if positive and not f > 0:
            self.fail(key, f"must be > 0, got {v!r}")
        if at_most is not None and f > at_most:
            self.fail(key, f"must be at most {at_most:g}, got {v!r}")
        return f

    def distance(self, key: str, at_most: float = MAX_RANGE_M) -> float:
        """A required distance in metres, > 0 and at most ``at_most``."""
        self.require(key)
        v = self.number(key, positive=True)
        if v > at_most:
            self.fail(key, f"{v:g} m is beyond any sensible reach (at most {at_most:g} m = "
                      f"{at_most / 1000:g} km); is the value in metres?")
        return v

    def choice(self, key: str, options, default, what: str | None = None) -> str:
        """One of ``options`` (default when absent)."""
        v = self.raw.get(key, default)
        if v not in options:
            self.fail(key, what or f"must be one of {', '.join(map(str, options))}, got {v!r}")
        return v

    def decay(self, default: str) -> str:
        """A decay name."""
        v = self.raw.get("decay", default)
        if v not in DECAYS:
            self.fail("decay", f"unknown decay {v!r}; use one of {', '.join(DECAYS)}")
        return v

    def column(self, key: str, required: bool = False) -> str | None:
        """A column name of the layer."""
        v = self.require(key) if required else self.raw.get(key)
        return None if v is None else str(v)


class Kind:
    """A factor kind: its parameters, what it needs, how it is computed and told.

    Subclasses set the class attributes and implement :meth:`check` and
    :meth:`compute`; the other methods have sensible defaults.
    """

    name: ClassVar[str] = ""
    #: parameter keys a factor of this kind may have (besides name, label, source, kind, weight)
    keys: ClassVar[frozenset[str]] = frozenset()
    #: geometry types it can use, and the word for them in messages
    geometries: ClassVar[frozenset[str]] = ANY_GEOMETRY
    needs: ClassVar[str] = "points, lines or polygons"
    #: polygons drawn as outlines on maps (licences), shown on by default
    outline: ClassVar[bool] = False

    def check(self, p: Params) -> dict[str, Any]:
        """Checked, complete parameters (defaults filled in)."""
        raise NotImplementedError

    def reach(self, params: dict) -> float:
        """Largest distance (m) at which a feature still affects a cell."""
        return 0.0

    def is_density(self, params: dict) -> bool:
        """Whether the value is a kernel density (per km²)."""
        return False

    def range_param(self, params: dict) -> str | None:
        """The parameter that sets the factor's spatial range (calibration searches it)."""
        return None

    def with_range(self, params: dict, r: float) -> dict:
        """Parameters with the spatial range set to ``r`` metres (the calibrated range)."""
        key = self.range_param(params)
        return params if key is None else {**params, key: float(r)}

    def columns(self, params: dict) -> set[str]:
        """Columns of the layer the factor reads (kept from the privacy filter, checked)."""
        return set()

    def date_columns(self, params: dict) -> set[str]:
        """Columns of the layer holding dates (each row must have one)."""
        return set()

    def point_mask(self, gdf, params: dict) -> np.ndarray | None:
        """Which features are points the factor stamps (None: never stamped)."""
        return None

    def compute(self, gdf, grid: Grid, params: dict, as_of, *, splat_points=None,
                top=None) -> Factor:
        """The factor on ``grid`` (features up to its reach beyond the edge count)."""
        raise NotImplementedError

    def describe(self, label: str, points, explain: np.ndarray, params: dict):
        """Text per cell for popups: '关闭矿井 340 m (+28)'.

        ``points`` is a pandas Series of signed score points as text ('+28'),
        ``explain`` the factor's explain values at those cells.
        """
        import pandas as pd

        dist = pd.Series(np.where(np.isfinite(explain), explain, -1)).map("{:.0f} m".format)
        return (label + " " + dist + " (" + points + ")").to_numpy(dtype=object)

    def map_layers(self, label: str, gdf, params: dict) -> list[tuple[str, Any, bool]]:
        """Map toggles for the factor's layer: ``(label, features, shown)``."""
        return [(label, gdf, self.outline)]

