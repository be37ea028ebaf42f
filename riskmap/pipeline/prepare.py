"""What a command settles before the big layers: sheet options, drawing, grid, townships.

Shared by the one-grid build (:mod:`riskmap.pipeline.build`), the tiled build
(:mod:`riskmap.pipeline.tiledbuild`) and the weekly loop (:mod:`riskmap.pipeline.field`).
"""

from __future__ import annotations

from riskmap.load.project import Project

__all__ = ["WarmDrawing", "require_grid_fits", "require_townships", "sheet_options",
           "warm_drawing"]


def require_townships(names, wanted) -> None:
    """Refuse township names of ``wanted`` that are not in ``names`` (the townships layer's).

    Raises
    ------
    RiskmapError
        Naming every unknown one and the valid names.
    """
    from riskmap.errors import RiskmapError

    unknown = [t for t in wanted or () if t not in names]
    if unknown:
        raise RiskmapError(f"未知乡镇 (unknown township) {', '.join(unknown)}; "
                           f"valid names: {', '.join(names)}")


def sheet_options(project: Project, paper: str | None, orientation: str | None) -> dict:
    """Paper, orientation and CJK font of map.pdf: the options, else the project's ``map``."""
    from riskmap.export.fonts import find_cjk_font

    return {"paper": paper or project.map.get("paper", "A3"),
            "orientation": orientation or project.map.get("orientation", "landscape"),
            "font": find_cjk_font(project.map.get("font"))}


class WarmDrawing:
    """:func:`warm_drawing` in a thread; :meth:`join` waits and raises what it raised.

    Importing matplotlib and finding the font take ~0.5 s of Python, and reading
    the layers and scoring spend much of their time in GDAL, GEOS and numpy with
    the GIL released: on two cores the two overlap.
    """

    def __init__(self, font):
        import threading

        self.error = None
        self.thread = threading.Thread(target=self._run, args=(font,), daemon=True)
        self.thread.start()

    def _run(self, font):
        try:
            warm_drawing(font)
        except BaseException as e:  # handed to the build at join()
            self.error = e

    def join(self) -> None:
        """Wait for the drawing modules; raise what loading them raised."""
        self.thread.join()
        if self.error is not None:
            raise self.error


def warm_drawing(font) -> None:
    """Import the drawing modules and convert the font before the drawing workers fork.

    Forked workers share what the parent has loaded: without this each of them
    imports matplotlib and finds the font again (about 0.4 s a sheet).
    """
    import importlib

    from riskmap.export.fontsubset import prepare_font

    # what a sheet imports (figures without pyplot: the user's backend is left alone)
    for name in ("matplotlib.backends.backend_pdf", "matplotlib.figure", "matplotlib.collections",
                 "matplotlib.patches", "matplotlib.textpath", "matplotlib.patheffects",
                 "matplotlib.font_manager"):
        importlib.import_module(name)
    prepare_font(font)


def require_grid_fits(project: Project, district) -> None:
    """Refuse, with the numbers, a district grid the one-grid engine cannot hold."""
    from riskmap.score.engine import district_grid
    from riskmap.score.memory import grid_budget, require_fits

    if not district.is_empty:
        require_fits(grid_budget(district_grid(project, district), len(project.factors)),
                     project.path)
