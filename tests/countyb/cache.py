"""County B generated once per version of its generator, then copied (test speed only).

Nine test files feed county B's files to the commands; generating them takes a few
seconds each time. :func:`county_b` generates them once into the system's temporary
folder, under a key made of every file of this package (and the seed), and copies
them into each test's folder. The generator itself is tested on fresh output
(``tests/test_county_b_data.py`` calls :func:`countyb.make.make_county_b`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from countyb.make import DEFAULT_SEED, make_county_b

HERE = Path(__file__).resolve().parent


def _key(seed: int) -> str:
    h = hashlib.sha256(str(seed).encode())
    for f in sorted(HERE.rglob("*")):
        if f.is_file() and "__pycache__" not in f.parts:
            h.update(f.relative_to(HERE).as_posix().encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def county_b(folder: Path, seed: int = DEFAULT_SEED) -> Path:
    """County B's delivered files in ``folder`` (as :func:`make_county_b`); its project.yaml."""
    cached = Path(tempfile.gettempdir()) / f"riskmap-countyb-{_key(seed)}"
    if not (cached / "project.yaml").is_file():
        tmp = Path(tempfile.mkdtemp(prefix=".riskmap-countyb-", dir=cached.parent))
        make_county_b(tmp, seed)
        try:
            os.rename(tmp, cached)  # whole or not at all; another worker may have won
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
    folder = Path(folder)
    shutil.copytree(cached, folder, dirs_exist_ok=True)
    return folder / "project.yaml"
