"""The complete project check every command uses: structure, factor kinds, AHP weights."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from riskmap import factors
from riskmap.load.project import Project, read_project
from riskmap.load.sources import DERIVED
from riskmap.models import power as _power  # registers the power:anomalies reader
from riskmap.models.ahp import project_with_ahp_weights
from riskmap.pipeline.derived_cache import cached_reader

# the meter table's anomaly layer, kept in the user cache by the hash of its inputs
DERIVED["power"] = cached_reader(_power.READER, "power")


def load_project(path, *, as_of: dt.date | None = None) -> Project:
    """Read and check a project file.

    The generic structure is checked by :func:`riskmap.load.project.read_project`,
    each factor's parameters by its kind (:data:`riskmap.factors.KINDS`), and an
    ``ahp`` section replaces the listed factors' weights by the matrix's. Importing
    this module registers the derived sources (``power:anomalies``), so a project
    loaded here can be read by :func:`riskmap.load.inputs.load_inputs`.

    Parameters
    ----------
    path : str or Path
        YAML (``.yaml``/``.yml``) or TOML (``.toml``) project file.
    as_of : datetime.date, optional
        Reference date for ages (tip decay); overrides the file's ``as_of``.
        Default: the file's ``as_of``, else today.

    Raises
    ------
    ProjectFileError
        Naming the file and key for anything missing, unknown or invalid.
    """
    project = factors.check_project(read_project(path, as_of=as_of))
    if project.ahp is not None:  # expert weights from a pairwise matrix replace the listed ones
        ahp = project.ahp
        project, report = project_with_ahp_weights(project)
        res = report["ahp"]
        project = replace(project, ahp={**ahp, "applied": {
            "weights": {k: list(v) for k, v in report["weights"].items()},
            "cr": round(float(res.cr), 4), "random_index": res.ri_label,
        }})
    return project
