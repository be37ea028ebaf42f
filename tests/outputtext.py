"""Every text a person could read out of an output file (for the privacy tests)."""

from __future__ import annotations

import sqlite3
import subprocess
import zipfile
from pathlib import Path


def output_texts(path: Path):
    """Every text a person could read out of a shared output file."""
    data = path.read_bytes()
    yield data.decode("utf-8", "ignore")
    if path.suffix == ".pdf":
        yield subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True,
                             check=True).stdout
    elif path.suffix in (".kmz", ".xlsx"):
        with zipfile.ZipFile(path) as z:
            for n in z.namelist():
                yield z.read(n).decode("utf-8", "ignore")
    elif path.suffix in (".csv", ".txt"):
        for enc in ("utf-8-sig", "gb18030"):
            yield data.decode(enc, "ignore")
    elif path.suffix == ".gpkg":
        with sqlite3.connect(path) as db:
            tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE "
                                               "type='table'")]
            for t in tables:
                for row in db.execute(f'SELECT * FROM "{t}"'):
                    yield " ".join(str(v) for v in row if isinstance(v, str))
