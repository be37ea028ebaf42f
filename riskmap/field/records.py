"""What the history database stores from a returned file: its rows and what became of it."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from riskmap.field.schema import FINDS
from riskmap.field.week import Week

__all__ = ["FileOutcome", "Inspection", "file_sha256"]


def file_sha256(path) -> str:
    """SHA-256 (hex) of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass
class Inspection:
    """One returned ledger row, matched to a cell.

    ``provenance`` is what the sheet's 来源 column says
    (:data:`riskmap.field.provenance.PROVENANCES`); None lets the history give
    the one its week's plan implies.
    """

    cell_id: str
    week: Week
    result: str
    x: float
    y: float
    township: str | None = None
    village: str | None = None
    date: dt.date | None = None
    inspector: str | None = None
    note: str | None = None
    sheet: str | None = None
    row: int | None = None
    matched_by: str = "id"
    provenance: str | None = None

    @property
    def found(self) -> bool:
        """True for every result but 未发现."""
        return self.result in FINDS

    def key(self) -> str:
        """Content key: the same inspection sent twice is stored once.

        The provenance is not part of it: the same row sent again with its
        来源 filled in is the same inspection.
        """
        parts = [self.cell_id, str(self.week), self.date.isoformat() if self.date else "",
                 self.result, self.inspector or "", self.note or ""]
        return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


@dataclass
class FileOutcome:
    """What :meth:`riskmap.field.history.History.add_file` did with one file.

    ``already``: the file went in whole before and nothing was read
    (``force`` reads it anyway); ``again``: the file had been read before (with
    refused rows, or forced) and was read again; ``complete``: every row went in
    this time, so the file is done.
    """

    sha256: str
    added: int = 0
    repeated: int = 0
    bad: int = 0
    already: bool = False
    again: bool = False
    complete: bool = False
