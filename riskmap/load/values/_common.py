"""What the cell parsers share: width normalisation and the once-per-distinct-text loop."""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Callable

import numpy as np
import pandas as pd

# Full-width ASCII (U+FF01..U+FF5E) to ASCII, and the odd spaces and dashes of
# office software to their plain forms.
WIDTH = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)}
WIDTH.update({
    0x3000: 0x20,  # ideographic space
    0x00A0: 0x20,  # no-break space
    0x2007: 0x20,  # figure space
    0x2009: 0x20,  # thin space
    0x202F: 0x20,  # narrow no-break space
    0x2212: 0x2D,  # minus sign
    0x2013: 0x2D,  # en dash
    0xFE63: 0x2D,  # small hyphen-minus
})
QUOTES = "'\"`‘’“”"
PLAIN = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def as_objects(values) -> np.ndarray:
    """1-D object array of the values, exactly as given (no string coercion)."""
    if isinstance(values, (str, bytes)):
        raise TypeError("values must be a sequence of cells, not one string")
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out


def numeric_fast_path(values) -> np.ndarray | None:
    """Float64 copy of an array/Series with a plain numeric dtype, else None."""
    dtype = getattr(values, "dtype", None)
    if isinstance(dtype, np.dtype) and dtype.kind in "fiu":
        return np.asarray(values, dtype=np.float64).reshape(-1)
    return None


def number_cell(v) -> tuple[float | None, bool]:
    """(value, is_blank) for a non-string cell; value None means unreadable."""
    if v is None or v is pd.NA or v is pd.NaT:
        return None, True
    if isinstance(v, (bool, np.bool_)):
        return None, False
    if isinstance(v, numbers.Real):
        f = float(v)
        if math.isnan(f):
            return None, True
        return (f if math.isfinite(f) else None), False
    return None, False


def parse_cells(values, parse_str: Callable[[str], tuple[float | None, bool]],
                 check: Callable[[float], bool]) -> tuple[np.ndarray, np.ndarray]:
    """Apply a text parser to every cell, once per distinct string."""
    cells = as_objects(values)
    out = np.full(cells.shape, np.nan)
    bad = np.zeros(cells.shape, dtype=bool)
    cache: dict[str, tuple[float | None, bool]] = {}
    for i, v in enumerate(cells):
        if isinstance(v, str):
            if v not in cache:
                cache[v] = parse_str(v)
            f, blank = cache[v]
        else:
            f, blank = number_cell(v)
        if f is not None and check(f):
            out[i] = f
        elif not blank:
            bad[i] = True
    return out, bad
