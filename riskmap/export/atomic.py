"""Outputs appear whole or not at all.

A build writes an area's files into a hidden temporary folder beside the
destination and moves it into place only when every file is complete; an
existing folder is replaced only with ``overwrite``.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from riskmap.errors import ExportError

_BAD = re.compile(r'[\\/:*?"<>|\x00-\x1f]')


def safe_name(name: str) -> str:
    """A folder name that is safe on Windows and cannot leave its parent."""
    s = _BAD.sub("_", str(name)).strip().strip(".")
    return s or "_"


def check_free(dest: Path, overwrite: bool) -> None:
    """Raise if ``dest`` exists and may not be replaced."""
    if dest.exists() and not overwrite:
        raise ExportError(f"{dest}: 输出已存在 (output exists) and won't be overwritten "
                          "without --overwrite")


@contextmanager
def atomic_folder(dest: Path, overwrite: bool = False):
    """Yield a temporary folder; on success it replaces ``dest`` in one move."""
    dest = Path(dest)
    check_free(dest, overwrite)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; outputs are shared
    except OSError as e:
        raise ExportError(f"{dest.parent}: cannot create the output folder: {e.strerror}; "
                          "choose another --out") from None
    try:
        yield tmp
        old = None
        if dest.exists():
            old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
            os.replace(dest, old)
        os.replace(tmp, dest)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
