"""Derived layers (``power:anomalies``) kept on disk, keyed by everything they are made from.

Scoring the meter table reads an office workbook (about 2 s for 3,000 users with
openpyxl) and a static-factor map; every command that loads the project's
factors needs the result, and the inputs rarely change between two commands. The
layer is therefore kept in the per-user cache (``RISKMAP_CACHE``, see
:func:`riskmap.export.fontsubset.cache_dir`) under a key made of the riskmap
version, the project's settings as loaded (so a backtest's or calibration's
changed project is another key) and the SHA-256 of every file the project names.
A changed meter table, village layer or factor file is another key; a cache
that cannot be read or written is simply not used. The key's parts (:func:`canon`,
:func:`source_files`, :func:`file_hashes`) also key the last build's cells
(:mod:`riskmap.pipeline.lastbuild`). The warnings the reading gave
are said again when the layer comes from the cache.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import pickle
import warnings
from pathlib import Path

from riskmap import __version__
from riskmap.export.atomic import write_bytes
from riskmap.export.fontsubset import cache_dir
from riskmap.load.inputs import DerivedReader
from riskmap.load.layers import file_sha256
from riskmap.load.specs import Source

__all__ = ["cached_reader", "canon", "file_hashes", "source_files"]

log = logging.getLogger(__name__)

#: cached layers kept per cache folder (the oldest go first)
KEEP = 32
FORMAT = 1


def cached_reader(reader: DerivedReader, name: str) -> DerivedReader:
    """``reader`` with its layers kept in the user cache (see the module docstring).

    Parameters
    ----------
    reader : DerivedReader
    name : str
        The source prefix (``power``): the cache files' prefix.

    Returns
    -------
    DerivedReader
    """

    def read(project, source):
        try:
            key = _key(project, source, reader)
        except OSError:  # a file vanished while hashing: read it the plain way
            return reader.read(project, source)
        path = cache_dir() / "derived" / f"{name}-{key}.pkl"
        hit = _load(path)
        if hit is not None:
            gdf, info, said = hit
            for message in said:
                warnings.warn(message[1], message[0], stacklevel=2)
            info.source = source
            return gdf, info
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            gdf, info = reader.read(project, source)
        said = [(w.category, str(w.message)) for w in caught]
        for category, message in said:
            warnings.warn(message, category, stacklevel=2)
        _store(path, (gdf, info, said))
        return gdf, info

    return DerivedReader(read=read, files=reader.files)


def source_files(obj, plain_paths: bool = False) -> set[Path]:
    """Every file named by a :class:`Source` anywhere in ``obj`` (a project, spec, dict, list).

    With ``plain_paths``, also every other path in ``obj`` that is a file (a
    setting that names a raster, such as a calibration's).
    """
    found: set[Path] = set()
    seen: set[int] = set()

    def walk(v):
        if id(v) in seen:
            return
        seen.add(id(v))
        if isinstance(v, Source):
            found.update(Path(p) for p in v.files)
        elif isinstance(v, Path):
            if plain_paths and v.is_file():
                found.add(v)
        elif dataclasses.is_dataclass(v) and not isinstance(v, type):
            for f in dataclasses.fields(v):
                walk(getattr(v, f.name))
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list | tuple | set | frozenset):
            for x in v:
                walk(x)

    walk(obj)
    return found


def _key(project, source, reader: DerivedReader) -> str:
    files = source_files(project) | {Path(p) for p in reader.files(project)}
    h = hashlib.sha256(f"{FORMAT} {__version__} {source.key!r}".encode())
    # the settings as loaded, every field (paths, parameters, dates), in a canonical order
    h.update(canon(project).encode())
    for p, sha in file_hashes(files):
        h.update(f"{p}\0{sha or 'missing'}\0".encode())
    return h.hexdigest()[:32]


def file_hashes(files) -> list[tuple[Path, str | None]]:
    """``(path, SHA-256)`` of ``files`` and of a shapefile's sidecars, sorted; None: missing.

    Parameters
    ----------
    files : iterable of Path

    Returns
    -------
    list of (Path, str or None)

    Raises
    ------
    OSError
        A file that vanished or cannot be read while hashing.
    """
    out = []
    for p in sorted(files):
        if p.is_file():
            out.append((p, file_sha256(p)))
            if p.suffix.lower() == ".shp":  # its sidecars are read with it
                out += [(side, file_sha256(side)) for side in sorted(p.parent.glob(p.stem + ".*"))
                        if side != p and side.is_file()]
        else:
            out.append((p, None))
    return out


def canon(v) -> str:
    """A text of ``v`` that is the same in every process (sets sorted, dicts by key).

    Dataclasses field by field, paths resolved: two projects loaded from the same file
    have the same text, and any changed setting changes it.
    """
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return (f"{type(v).__name__}("
                + ",".join(f"{f.name}={canon(getattr(v, f.name))}" for f in dataclasses.fields(v))
                + ")")
    if isinstance(v, dict):
        return "{" + ",".join(sorted(f"{canon(k)}:{canon(x)}" for k, x in v.items())) + "}"
    if isinstance(v, set | frozenset):
        return "{" + ",".join(sorted(canon(x) for x in v)) + "}"
    if isinstance(v, list | tuple):
        return "[" + ",".join(canon(x) for x in v) + "]"
    if isinstance(v, Path):
        return repr(str(v.resolve()))
    return repr(v)


def _load(path: Path):
    try:
        with open(path, "rb") as f:
            return pickle.load(f)
    except FileNotFoundError:
        return None
    except Exception as exc:  # a cache from another version, torn or unreadable: ignored
        log.debug("derived cache %s not used: %s", path, exc)
        return None


def _store(path: Path, value) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes(path, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL), overwrite=True)
        files = sorted(path.parent.glob(path.name.split("-")[0] + "-*.pkl"),
                       key=lambda p: p.stat().st_mtime, reverse=True)
        for old in files[KEEP:]:
            old.unlink(missing_ok=True)
    except Exception as exc:  # the cache is an optimisation: never a reason to fail
        log.debug("derived cache %s not written: %s", path, exc)
