"""A backtest from project to files: check the outputs, evaluate, write them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from riskmap.export.evaluation import check_outputs, write_evaluation
from riskmap.load.project import Project
from riskmap.models.evaluate import evaluate

__all__ = ["backtest"]


def backtest(project: Project, split: dt.date, out_dir=None, *, overwrite: bool = False,
             raster=None, rolling: str | None = None, folds: int = 4, offset: bool = False,
             blocks: float | None = None, block_folds: int = 5, progress=None
             ) -> tuple[dict, dict[str, Path]]:
    """Backtest ``project`` at ``split`` and write its evaluation files.

    Parameters
    ----------
    project : Project
    split : datetime.date
        First day of the test period.
    out_dir : path-like, optional
        Where the files go (default: ``<output>/evaluation``). Checked before
        the work: existing files without ``overwrite`` stop it at once.
    overwrite : bool
        Replace existing evaluation files.
    raster, rolling, folds, offset, blocks, block_folds, progress
        As for :func:`riskmap.models.evaluate.evaluate`.

    Returns
    -------
    (dict, dict)
        The result (as ``evaluation.json``) and file name → path.

    Raises
    ------
    ExportError
        An output exists without ``overwrite``, or cannot be written.
    EvaluationError
        See :func:`riskmap.models.evaluate.evaluate`.
    """
    out_dir = Path(out_dir) if out_dir else project.output / "evaluation"
    check_outputs(out_dir, overwrite)  # before the work, not after
    result = evaluate(project, split, raster=raster, progress=progress, rolling=rolling,
                      folds=folds, offset=offset, blocks=blocks, block_folds=block_folds)
    return result, write_evaluation(out_dir, result, overwrite=overwrite)
