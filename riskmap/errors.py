"""One exception family for everything riskmap refuses.

Messages name the file, layer, row or key, say what is wrong, and what to do.
Subclasses also inherit a builtin so callers may catch either (rasterio style).
"""


class RiskmapError(Exception):
    """Root of every error riskmap raises on purpose."""


class ProjectFileError(RiskmapError, ValueError):
    """The project file is missing, unreadable, or has a wrong or unknown key."""


class LayerError(RiskmapError, ValueError):
    """An input layer is missing, empty, unreadable, or unusable for its factor."""


class GridError(RiskmapError, ValueError):
    """A grid or cell id is invalid (bad size, id outside the grid, ...)."""


class ExportError(RiskmapError, OSError):
    """An output cannot be written (exists without --overwrite, disk, permissions)."""


class RiskmapWarning(UserWarning):
    """Base class of riskmap's warnings (repaired geometries, dropped rows, ...)."""
