"""The last build's patrol cells, kept beside its outputs for plan, ingest, weekly, power-check.

A build writes :data:`SURFACE_FILE` into the district folder (``<out>/全区/``,
by :func:`riskmap.pipeline.exporters.export_surface`); it moves into place with
that folder, so it always holds the cells that folder's maps show. It keeps, on
the patrol grid only, what those commands read of a
:class:`~riskmap.score.engine.Surface`:

* the patrol grid; each patrol cell's score (max, mean, the ranking one), class,
  township and village numbers; the names, the class thresholds;
* per factor, at every patrol cell of the district, the points of score and the
  distance or density behind them, as :func:`riskmap.score.cells.cell_table` finds
  them (at the cell's highest analysis cell, or its mean): a plan's reasons are
  the same words;
* with a ``power`` section, the static factors' map that power-check weighs a
  user's place by (:func:`riskmap.models.power.evidence.place_map`);
* a key: riskmap's version, the project's settings the cells depend on (the
  canonical text of :func:`riskmap.pipeline.derived_cache.canon`, per setting)
  and the SHA-256 of every input file (the meter-table cache's own
  :func:`~riskmap.pipeline.derived_cache.source_files` and
  :func:`~riskmap.pipeline.derived_cache.file_hashes`).

:func:`last_surface` hashes the current inputs (it reads no layer) and returns
the stored cells only when the key is the same, else the reason why not (no
build, another version, a changed setting or file, a file that cannot be read);
:func:`last_place_map` does the same for the static factors' map, with a key
that leaves out the meter table and the dated factors' date (a new month's
meter table is what power-check is run for). The stored cells come back as a
:class:`StoredSurface`: a Surface whose analysis grid is the patrol grid
(``k = 1``), each cell holding the values above, with coefficients of 1 — so the
field code reads it as it reads a computed one, with equal results.
"""

from __future__ import annotations

import hashlib
import json
import logging
import zipfile
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np

from riskmap import __version__
from riskmap.errors import LayerError, RiskmapError
from riskmap.export.atomic import atomic_file, safe_name
from riskmap.factors.base import Factor
from riskmap.grid import Grid
from riskmap.load.inputs import derived_reader
from riskmap.load.project import Project
from riskmap.pipeline.derived_cache import canon, file_hashes, source_files
from riskmap.score.cells import _why as cell_reasons
from riskmap.score.engine import Surface

__all__ = ["SURFACE_FILE", "LastBuild", "StoredSurface", "last_place_map", "last_surface",
           "last_thresholds", "surface_path", "write_surface"]

log = logging.getLogger(__name__)

#: the file in the district folder
SURFACE_FILE = "surface.npz"
FORMAT = 1
#: settings that no cell depends on: read by the commands themselves (plan, map, roster)
_NOT_SCORED = ("path", "name", "output", "map", "plan", "roster", "history", "reference",
               "calibration")


@dataclass
class StoredSurface(Surface):
    """The last build's patrol cells as a :class:`Surface` of ``k = 1`` (see the module)."""

    path: Path | None = None  #: the file it was read from
    built: str = ""  #: the build's time stamp (ISO)


@dataclass
class LastBuild:
    """What :func:`last_surface` or :func:`last_place_map` found.

    ``surface`` (or ``place``) is None when the stored one cannot be used;
    ``reason`` says why.
    """

    path: Path
    surface: StoredSurface | None = None
    place: object | None = None  #: evidence.PlaceMap
    built: str = ""
    reason: str = ""

    @property
    def reused(self) -> bool:
        """Whether the stored cells (or map) are used."""
        return self.surface is not None or self.place is not None

    @property
    def line(self) -> str:
        """What the command says on stderr: reusing, or rescoring and why."""
        if self.reused:
            return (f"沿用上次构建的风险面 (reusing the last build's cells, {self.path}, "
                    f"built {_when(self.built)})")
        return f"重新计算风险面 (rescoring: {self.reason})"


def surface_path(project: Project, out=None) -> Path:
    """``<out>/<district label>/surface.npz`` (``out``: the project's output folder)."""
    from riskmap.pipeline.area import DISTRICT_LABEL

    root = Path(out) if out else project.output
    return root / safe_name(project.district.label or DISTRICT_LABEL) / SURFACE_FILE


# --------------------------------------------------------------------------- the key
def _scored_view(project: Project) -> Project:
    """The project without the settings no cell depends on (and ``as_of`` when nothing is dated)."""
    dated = any(f.traits and f.traits.dates for f in project.factors)
    return replace(project, **dict.fromkeys(_NOT_SCORED), as_of=project.as_of if dated else None)


def _place_view(project: Project) -> Project:
    """What the static factors' map depends on: no meter table, no derived factor, no date."""
    return replace(_scored_view(project), as_of=None, power=None,
                   factors=tuple(f for f in project.factors if not _derived(f)))


def _derived(spec) -> bool:
    try:
        return derived_reader(spec.source) is not None
    except LayerError:  # a derived prefix with no reader: not a file either
        return True


def _parts(project: Project, view: Project) -> dict:
    """The key's parts: version, one hash per setting, one per input file (relative path)."""
    files = source_files(view, plain_paths=True)
    for f in view.factors:  # a derived layer is made from other files (the meter table)
        try:
            reader = derived_reader(f.source)
        except LayerError:
            continue
        if reader is not None:
            files |= {Path(p) for p in reader.files(project)}
    settings = {f.name: hashlib.sha256(canon(getattr(view, f.name)).encode()).hexdigest()[:16]
                for f in fields(view)}
    return {"format": FORMAT, "version": __version__, "settings": settings,
            "as_of": view.as_of.isoformat() if view.as_of else None,
            "files": {project.relative(p): sha for p, sha in file_hashes(files)}}


def _digest(parts: dict) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _why_not(stored: dict, now: dict, built: str) -> str:
    """The first difference between a stored key and the current one, in words."""
    when = f"since the build of {_when(built)}"
    if stored.get("version") != now["version"]:
        return f"built by riskmap {stored.get('version')}, this is {now['version']}"
    if stored.get("as_of") != now["as_of"]:
        return (f"as_of is {now['as_of']}, the build's was {stored.get('as_of')} (dated "
                "factors age with it; set as_of in the project file to keep a build's cells "
                "for the week)")
    old, new = stored.get("settings", {}), now["settings"]
    changed = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
    if changed:
        return f"project settings changed {when}: {', '.join(changed)}"
    old, new = stored.get("files", {}), now["files"]
    for what, names in (("changed", [k for k in new if k in old and old[k] != new[k]]),
                        ("new", [k for k in new if k not in old]),
                        ("no longer named", [k for k in old if k not in new])):
        if names:
            return f"input files {what} {when}: {', '.join(sorted(names)[:5])}"
    return f"inputs differ {when}"


def _when(stamp: str) -> str:
    return stamp[:16].replace("T", " ") if stamp else "?"


# --------------------------------------------------------------------------- writing
def write_surface(area, path: Path) -> Path:
    """Write the district's :data:`SURFACE_FILE` from a build's district area, atomically.

    Parameters
    ----------
    area : riskmap.pipeline.area.AreaContext
        The district's (its surface, inputs, project and build date).
    path : Path

    Returns
    -------
    Path
    """
    project, s = area.project, area.surface
    inside = np.flatnonzero(s.p_area.ravel())
    contrib, explain = cell_reasons(s, project, inside)
    arrays = {"p_score": s.p_score, "p_max": s.p_max, "p_mean": s.p_mean,
              "p_class": s.p_class, "township": s.township, "village": s.village,
              "thresholds": np.asarray(s.thresholds)}
    for i, spec in enumerate(project.factors):  # by number: any name is a key
        arrays[f"c{i}"] = np.asarray(contrib[spec.name])
        arrays[f"e{i}"] = np.asarray(explain[spec.name])
    parts = _parts(project, _scored_view(project))
    meta = {"key": _digest(parts), "format": FORMAT, "version": __version__,
            "built": area.build_date, "parts": parts, "grid": _grid(s.patrol_grid),
            "baseline": float(s.baseline), "townships": list(s.township_names),
            "villages": list(s.village_names),
            "factors": [[spec.name, s.factors[spec.name].unit] for spec in project.factors]}
    place = _place(project, area.inputs)
    if place is not None:
        arrays["place"] = place.rank
        parts = _parts(project, _place_view(project))
        meta["place"] = {"key": _digest(parts), "parts": parts, "grid": _grid(place.grid),
                         "factors": list(place.factors)}
    arrays["meta"] = np.array(json.dumps(meta, ensure_ascii=False))
    with atomic_file(path, overwrite=True) as tmp:
        _savez(tmp, arrays)
    return path


def _savez(path: Path, arrays: dict) -> None:
    """``numpy.savez_compressed`` at zlib level 1: a quarter of the size at half the time."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for name, a in arrays.items():
            with zf.open(f"{name}.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asanyarray(a), allow_pickle=False)


def _place(project: Project, inputs):
    """The static factors' map from the build's layers (None: no power section, or none)."""
    if not project.power:
        return None
    from riskmap.models.power.evidence import place_map

    try:
        return place_map(project, inputs=inputs)
    except RiskmapError as e:  # power-check then makes it (and says what is wrong)
        log.info("static factors' map not kept: %s", e)
        return None


def _grid(g: Grid) -> dict:
    return {"crs": g.crs, "x0": g.x0, "y0": g.y0, "cell": g.cell, "nrows": g.nrows,
            "ncols": g.ncols}


# --------------------------------------------------------------------------- reading
def last_surface(project: Project, out=None, *, rescore: bool = False) -> LastBuild:
    """The last build's cells when its key is that of the current inputs.

    Parameters
    ----------
    project : Project
    out : path, optional
        The build's output root (default: the project's ``output``).
    rescore : bool
        Do not look (``--rescore``): the result says so.

    Returns
    -------
    LastBuild
        ``surface`` set when reused; else None and ``reason``. Never raises for
        a missing, torn, foreign or stale file.
    """
    found = _open(project, out, rescore, "surface")
    if isinstance(found, LastBuild):
        return found
    path, z, meta = found
    try:
        found = LastBuild(path, _surface(z, meta, path), built=meta.get("built", ""))
    except Exception as e:  # arrays missing or torn: rescored
        return LastBuild(path, reason=f"{path} cannot be read ({type(e).__name__}: {e})")
    finally:
        z.close()
    return found


def last_thresholds(project: Project, out=None) -> tuple[np.ndarray | None, str]:
    """The last district build's class thresholds when its key is that of the current inputs.

    What a township-only build needs of the district to class its window as the
    whole build would (``quantile`` classes are quantiles of the district's cells).

    Returns
    -------
    thresholds : numpy.ndarray or None
        The four lower bounds of classes 2–5; None when the stored key does not hold.
    reason : str
        Why not (empty when found).
    """
    found = _open(project, out, False, "surface")
    if isinstance(found, LastBuild):
        return None, found.reason
    path, z, _ = found
    try:
        thr = np.asarray(z["thresholds"], dtype=np.float64)
        if thr.shape != (4,) or not np.isfinite(thr).all():
            raise ValueError(f"thresholds of shape {thr.shape}")
    except Exception as e:
        return None, f"{path} cannot be read ({type(e).__name__}: {e})"
    finally:
        z.close()
    return thr, ""


def last_place_map(project: Project, out=None, *, rescore: bool = False) -> LastBuild:
    """The last build's static factors' map (power-check) when its key still holds.

    As :func:`last_surface`, for ``place``; the key leaves out the meter table.
    """
    found = _open(project, out, rescore, "place")
    if isinstance(found, LastBuild):
        return found
    path, z, meta = found
    from riskmap.models.power.evidence import PlaceMap

    try:
        p = meta["place"]
        place = PlaceMap(Grid(**p["grid"]), z["place"], list(p["factors"]))
        if place.rank.shape != place.grid.shape:
            raise ValueError(f"map of {place.rank.shape} on a grid of {place.grid.shape}")
    except Exception as e:
        return LastBuild(path, reason=f"{path} cannot be read ({type(e).__name__}: {e})")
    finally:
        z.close()
    return LastBuild(path, place=place, built=meta.get("built", ""))


def _open(project, out, rescore: bool, what: str):
    """(path, open npz, meta) when the stored key of ``what`` holds, else a LastBuild saying why."""
    path = surface_path(project, out)
    if rescore:
        return LastBuild(path, reason="--rescore")
    if not path.is_file():
        return LastBuild(path, reason=f"no last build at {path}")
    try:
        z = np.load(path, allow_pickle=False)
    except Exception as e:  # not an npz at all (torn, another file)
        return LastBuild(path, reason=f"{path} cannot be read ({type(e).__name__}: {e})")
    try:
        meta = json.loads(str(z["meta"][()]))
        built = meta.get("built", "")
        if meta.get("format") != FORMAT or meta.get("version") != __version__:
            z.close()
            return LastBuild(path, reason=f"{path} was written by riskmap "
                             f"{meta.get('version')} (format {meta.get('format')}), this is "
                             f"{__version__}")
        stored = meta if what == "surface" else meta.get("place")
        if stored is None:
            z.close()
            return LastBuild(path, reason="the last build kept no static factors' map "
                             "(no power section then, or no static factor)")
        view = _scored_view(project) if what == "surface" else _place_view(project)
        now = _parts(project, view)
    except OSError as e:  # an input that cannot be hashed: the rescoring says what
        z.close()
        return LastBuild(path, reason=f"an input cannot be read ({e})")
    except Exception as e:
        z.close()
        return LastBuild(path, reason=f"{path} cannot be read ({type(e).__name__}: {e})")
    if stored.get("key") != _digest(now):
        z.close()
        return LastBuild(path, reason=_why_not(stored.get("parts", {}), now, built))
    return path, z, meta


def _surface(z, meta: dict, path: Path) -> StoredSurface:
    """The stored arrays as a Surface of ``k = 1`` on the patrol grid (see the module)."""
    pg = Grid(**meta["grid"])
    p_score = z["p_score"]
    arrays = {k: z[k] for k in ("p_max", "p_mean", "p_class", "township", "village")}
    for k, a in (("p_score", p_score), *arrays.items()):
        if a.shape != pg.shape:
            raise ValueError(f"{k} is {a.shape}, the grid {pg.shape}")
    area = np.isfinite(p_score)
    inside = np.flatnonzero(area.ravel())
    factors, coefs = {}, {}
    for i, (name, unit) in enumerate(meta["factors"]):
        c, e = z[f"c{i}"], z[f"e{i}"]
        if len(c) != len(inside) or len(e) != len(inside):
            raise ValueError(f"factor {name}: {len(c)} cells, the district {len(inside)}")
        # each patrol cell is its own analysis cell; value x 1 is the cell's points
        factors[name] = Factor(_spread(c, inside, pg.shape), _spread(e, inside, pg.shape), unit)
        coefs[name] = np.float32(1.0)
    return StoredSurface(
        grid=pg, patrol_grid=pg, k=1, area=area, township_names=list(meta["townships"]),
        township=arrays["township"], village_names=list(meta["villages"]),
        village=arrays["village"], factors=factors, coefs=coefs, score=p_score,
        baseline=float(meta["baseline"]), p_max=arrays["p_max"], p_mean=arrays["p_mean"],
        p_score=p_score, thresholds=z["thresholds"], p_class=arrays["p_class"],
        path=path, built=meta.get("built", ""))


def _spread(values: np.ndarray, inside: np.ndarray, shape) -> np.ndarray:
    """Values of the district's cells on the whole grid (0 outside: never read)."""
    out = np.zeros(int(np.prod(shape)), values.dtype)
    out[inside] = values
    return out.reshape(shape)
