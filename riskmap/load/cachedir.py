r"""The per-user folder of riskmap's caches (converted fonts, derived layers, CRS operations).

Precedence:

1. ``RISKMAP_CACHE`` (environment variable), if set;
2. Windows: ``%LOCALAPPDATA%\riskmap``; elsewhere ``$XDG_CACHE_HOME/riskmap``,
   else ``~/.cache/riskmap``.

Each user of the cache keeps its files in a sub-folder and copes with a folder
it cannot write (a cache is never needed for a right answer, only for speed).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["cache_dir"]


def cache_dir() -> Path:
    """The per-user folder of riskmap's caches (precedence: the module docstring).

    Returns
    -------
    Path
        Not created here.
    """
    env = os.environ.get("RISKMAP_CACHE", "").strip()
    if env:
        return Path(env).expanduser()
    if sys.platform.startswith("win"):
        base = os.environ.get("LOCALAPPDATA", "").strip()
        return (Path(base) if base else Path.home() / "AppData" / "Local") / "riskmap"
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(xdg) if xdg else Path.home() / ".cache") / "riskmap"
