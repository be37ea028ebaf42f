"""Numbers as bureau tables hold them: full-width digits, thousands separators, units."""

from __future__ import annotations

import math
import re

import numpy as np

from riskmap.load.values._common import (
    PLAIN,
    QUOTES,
    WIDTH,
    numeric_fast_path,
    parse_cells,
)

_GROUPED = re.compile(r"[+-]?\d{1,3}(?P<sep>[, ])\d{3}(?:(?P=sep)\d{3})*(?:\.\d*)?")
_UNIT = re.compile(r"\s*(?:m|米)$")


def _parse_number_str(s: str) -> tuple[float | None, bool]:
    """(value, is_blank) for one text cell."""
    t = s.translate(WIDTH).strip().strip(QUOTES).strip()
    if not t:
        return None, True
    t = _UNIT.sub("", t).strip().strip(QUOTES).strip()
    if PLAIN.fullmatch(t):
        f = float(t)
    elif m := _GROUPED.fullmatch(t):
        f = float(t.replace(m["sep"], ""))
    else:
        return None, False
    return (f if math.isfinite(f) else None), False


def parse_numbers(values) -> tuple[np.ndarray, np.ndarray]:
    """Read numbers from table cells as they come from Excel, CSV or a surveyor.

    Parameters
    ----------
    values : sequence or pandas.Series
        Cells: ``str``, ``int``, ``float``, ``None`` or NaN. Text may use
        full-width digits and punctuation (``４１９０１２３．５``, ``－``, ``＋``,
        full-width space), thousands separators (``4,190,123.5``,
        ``4 190 123.5``; a comma is never a decimal mark), surrounding spaces
        and quotes, a leading ``'`` (Excel's text marker) and the unit suffix
        ``m`` or ``米``.

    Returns
    -------
    numbers : numpy.ndarray
        float64, NaN where a cell is blank or unreadable.
    bad : numpy.ndarray
        bool, True where a cell holds something that is not a number
        (text, ``True``/``False``, infinity). Blank cells (empty or spaces,
        ``None``, NaN) are NaN and *not* bad.
    """
    fast = numeric_fast_path(values)
    if fast is not None:
        bad = np.isinf(fast)
        return np.where(bad, np.nan, fast), bad
    return parse_cells(values, _parse_number_str, lambda f: True)
