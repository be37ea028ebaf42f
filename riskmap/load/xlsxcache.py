"""The cell values of office workbooks kept on disk, keyed by the file's bytes.

Reading a workbook with openpyxl costs about 0.3 s for loading the library and
as much again for a table of a few thousand rows, and every command reads the
project's workbooks (the licence corner table, returned ledgers) although they
rarely change between two commands. So the values of every sheet, and its merged
ranges, are kept in the per-user cache (:func:`riskmap.load.cachedir.cache_dir`,
``tables/``) under the SHA-256 of the file's bytes: a changed file is another key.

Each kept file is JSON (never a pickle: nothing from the cache is executed),
its digest on the first line; a torn, edited or unreadable file is not used, and
a folder that cannot be written only means the next command reads the workbook
again. Dates, times and durations are tagged; a workbook with any other kind of
value (or a non-finite number) is not kept.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os

from riskmap.load.cachedir import cache_dir

__all__ = ["load", "store", "workbook_key"]

log = logging.getLogger(__name__)

#: kept workbooks per cache folder (the oldest go first)
KEEP = 64
FORMAT = 1

#: ``{"names": [sheet, ...], "sheets": {sheet: [rows, merged]}}``: rows are lists of cell
#: values, merged a list of ``[min_row, min_col, max_row, max_col, "B4:B8"]`` (1-based)
Workbook = dict


def workbook_key(raw: bytes) -> str:
    """The cache key of a workbook's bytes (the format's version included)."""
    return hashlib.sha256(b"riskmap-xlsx %d\n" % FORMAT + raw).hexdigest()[:32]


def load(key: str) -> Workbook | None:
    """The kept values of the workbook with ``key``, or None (not kept, or not readable)."""
    path = _folder() / f"{key}.json"
    try:
        digest, text = path.read_text(encoding="utf-8").split("\n", 1)
        if digest != hashlib.sha256(text.encode("utf-8")).hexdigest():
            return None
        data = json.loads(text, object_hook=_untag)
    except (OSError, UnicodeError, ValueError, TypeError, KeyError):
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return None
    return data


def store(key: str, data: Workbook) -> None:
    """Keep ``data`` under ``key``; silently not when it holds an odd value or cannot be written."""
    try:
        text = json.dumps({**data, "format": FORMAT}, ensure_ascii=False, default=_tag,
                          allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError):  # a value of a kind not kept: read the workbook each time
        return
    folder = _folder()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        # written in place: a torn file fails its digest and is read again from the workbook
        (folder / f"{key}.json").write_text(f"{digest}\n{text}", encoding="utf-8")
        _prune(folder)
    except OSError as e:
        log.debug("workbook cache not written (%s)", e)


def _folder():
    return cache_dir() / "tables"


def _prune(folder) -> None:
    files = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in files[KEEP:]:
        try:
            os.remove(old)
        except OSError:
            pass


def _tag(v):
    """JSON for the values json cannot write itself (``default`` of :func:`json.dumps`)."""
    if isinstance(v, dt.datetime):
        return {"$": "datetime", "v": v.isoformat()}
    if isinstance(v, dt.date):
        return {"$": "date", "v": v.isoformat()}
    if isinstance(v, dt.time):
        return {"$": "time", "v": v.isoformat()}
    if isinstance(v, dt.timedelta):
        return {"$": "timedelta", "v": v.total_seconds()}
    raise TypeError(f"not kept: {type(v).__name__}")


_UNTAG = {"datetime": dt.datetime.fromisoformat, "date": dt.date.fromisoformat,
          "time": dt.time.fromisoformat, "timedelta": lambda s: dt.timedelta(seconds=s)}


def _untag(d: dict):
    if set(d) == {"$", "v"} and d["$"] in _UNTAG:
        return _UNTAG[d["$"]](d["v"])
    return d

