"""Build the patrol-priority maps (the analysts' entry point).

    python scripts/build_map.py                      # sample project, district + all townships
    python scripts/build_map.py --township 荫营镇      # one township
    python scripts/build_map.py my/project.yaml --out D:/maps --overwrite

Same options as ``riskmap build``; the project defaults to the sample in layers/
(passed as the deprecated ``--project``, which a PROJECT given here replaces;
``--project my/project.yaml`` still works too).
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from a checkout even before `pip install -e .`

from riskmap.cli import main  # noqa: E402

SAMPLE = HERE.parent / "layers" / "project.yaml"

if __name__ == "__main__":
    main(["build", "--project", str(SAMPLE), *sys.argv[1:]])
