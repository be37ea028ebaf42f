"""riskmap: where to look first for illegal mining, cell by cell.

The library never prints and never configures logging: applications attach
their own handlers (the ``riskmap`` CLI does).
"""

import logging

__version__ = "0.1.0"

from riskmap.errors import (
    ExportError,
    GridError,
    LayerError,
    ProjectFileError,
    RiskmapError,
)

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "ExportError",
    "GridError",
    "LayerError",
    "ProjectFileError",
    "RiskmapError",
    "__version__",
]
