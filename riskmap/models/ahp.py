"""Expert weights from an AHP pairwise-comparison matrix (Saaty 1–9 scale).

``a_ij`` says how much more factor *i* matters than factor *j* (1 equal, 3
moderately, 5 strongly, 7 very strongly, 9 extremely; 2, 4, 6, 8 between; the
reciprocals the other way round). The weights are the principal (Perron)
eigenvector of the matrix, normalised to sum 1; consistency is judged by
``CR = CI / RI`` with ``CI = (λ_max − n) / (n − 1)`` and a random index ``RI``
from one of two published tables (the result says which). ``CR ≥ 0.1`` is a
:class:`~riskmap.errors.RiskmapWarning` naming the most inconsistent pair.

In a project file::

    ahp:
      factors: [closed_mines, outcrops, licence_ring]
      matrix:                 # full matrix, or the upper triangle as rows
        - [1, 3, 5]           # (from the diagonal: [1, 3, 5], [1, 2], [1];
        - [1/3, 1, 2]         #  or without it: [3, 5], [2])
        - [1/5, 1/2, 1]
      random_index: saaty1980 # or alonso-lamata2006 (alias 2005)
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace
from fractions import Fraction

import numpy as np

from riskmap.errors import ProjectFileError, RiskmapWarning

# Saaty, T. L. (1980). The Analytic Hierarchy Process. McGraw-Hill, New York —
# the table as commonly printed in Chinese texts (note 1.48 at n = 12 as printed).
RI_SAATY_1980 = (0.0, 0.0, 0.58, 0.90, 1.12, 1.24, 1.32, 1.41, 1.45, 1.49, 1.51, 1.48,
                 1.56, 1.57, 1.59)
# Alonso, J. A. & Lamata, M. T. (2006). Consistency in the analytic hierarchy process:
# a new approach. Int. J. Uncertainty, Fuzziness and Knowledge-Based Systems 14(4),
# 445–459, Table 3 (mean λ_max of 500 000 random Saaty-scale matrices per n turned
# into RI). Saaty's 2005 table (0.52, 0.89, 1.11, 1.25, 1.35, 1.40, 1.45, 1.49, …)
# agrees to two decimals within ±0.01 for n ≤ 10; these are the values used.
RI_ALONSO_LAMATA_2006 = (0.0, 0.0, 0.5245, 0.8815, 1.1086, 1.2479, 1.3417, 1.4056, 1.4499,
                         1.4854, 1.5141, 1.5365, 1.5551, 1.5713, 1.5838)
RI_TABLES = {
    "saaty1980": (RI_SAATY_1980, "Saaty 1980 (n = 1–15: 0, 0, 0.58, 0.90, 1.12, 1.24, 1.32, "
                  "1.41, 1.45, 1.49, 1.51, 1.48, 1.56, 1.57, 1.59)"),
    "alonso-lamata2006": (RI_ALONSO_LAMATA_2006, "Alonso & Lamata 2006 / Saaty 2005 era "
                          "(n = 3–15: 0.5245 … 1.5838)"),
}
_RI_ALIASES = {"saaty1980": "saaty1980", "1980": "saaty1980", "saaty": "saaty1980",
               "alonso-lamata2006": "alonso-lamata2006", "alonso2006": "alonso-lamata2006",
               "alonso-lamata": "alonso-lamata2006", "2006": "alonso-lamata2006",
               "2005": "alonso-lamata2006", "saaty2005": "alonso-lamata2006"}
CR_LIMIT = 0.1
_SCALE = np.array(sorted({*range(1, 10), *(1 / k for k in range(2, 10))}))
_REL_TOL = 0.025  # 0.33 for 1/3 and 0.14 for 1/7 are accepted (and snapped)


@dataclass(frozen=True)
class AHPResult:
    """Weights and consistency of one AHP matrix.

    Attributes
    ----------
    weights : numpy.ndarray
        Principal-eigenvector weights, sum 1, in matrix order.
    lambda_max : float
        Principal eigenvalue.
    ci : float
        Consistency index ``(λ_max − n) / (n − 1)`` (0 for n ≤ 2).
    cr : float
        Consistency ratio ``CI / RI`` (0 for n ≤ 2, where every matrix is consistent).
    ri : float
        Random index used.
    ri_table : str
        Key of the random-index table (``saaty1980`` or ``alonso-lamata2006``).
    ri_label : str
        The table in words, with its source.
    most_inconsistent : tuple
        ``(i, j, a_ij, w_i / w_j)`` for the pair with the largest
        ``|log(a_ij · w_j / w_i)|`` (0-based indices).
    matrix : numpy.ndarray
        The full, checked matrix (reciprocals filled, near-scale values snapped).
    names : tuple of str
        Factor names in matrix order (``f1``, ``f2`` … when none were given).
    """

    weights: np.ndarray
    lambda_max: float
    ci: float
    cr: float
    ri: float
    ri_table: str
    ri_label: str
    most_inconsistent: tuple
    matrix: np.ndarray
    names: tuple

    @property
    def consistent(self) -> bool:
        """``CR < 0.1``."""
        return self.cr < CR_LIMIT

    def weight_of(self) -> dict[str, float]:
        """Weights by factor name."""
        return {n: float(w) for n, w in zip(self.names, self.weights, strict=True)}

    def pair_text(self) -> str:
        """The most inconsistent pair in words."""
        i, j, a, implied = self.most_inconsistent
        return (f"{self.names[i]} vs {self.names[j]}: judged {_fmt_scale(a)} but the weights "
                f"imply {implied:.2f}")


def ahp_weights(matrix, random_index: str = "saaty1980", *, names=None,
                where: str = "") -> AHPResult:
    """Weights and consistency ratio of a pairwise-comparison matrix.

    Parameters
    ----------
    matrix : sequence of sequences or numpy.ndarray
        Either the full ``n × n`` matrix (lower entries may be ``None`` to be
        filled), or the upper triangle as rows: lengths ``n, n−1, …, 1`` starting
        at the diagonal, or — when ``names`` fixes ``n`` — lengths ``n−1, …, 1``
        without it. Entries are numbers or fractions such as ``"1/3"``; each must
        be a Saaty value (1–9 or 1/2–1/9, within 2.5 %, then snapped to it).
    random_index : {"saaty1980", "alonso-lamata2006"}
        Random-index table (aliases ``1980``; ``2005``, ``saaty2005``, ``alonso2006``).
    names : sequence of str, optional
        Factor names in matrix order (used in messages and the warning).
    where : str, optional
        Prefix for error messages, e.g. the project file path.

    Returns
    -------
    AHPResult

    Raises
    ------
    ProjectFileError
        Naming ``ahp.matrix`` row and column (1-based) for a value that is not
        positive, not on the Saaty scale, not reciprocal, or a diagonal ≠ 1.

    Warns
    -----
    RiskmapWarning
        When ``CR ≥ 0.1``, naming the most inconsistent pair.
    """
    pre = f"{where}: " if where else ""
    key = _RI_ALIASES.get(str(random_index).strip().lower())
    if key is None:
        raise ProjectFileError(f"{pre}ahp.random_index: unknown table {random_index!r}; use "
                               "saaty1980 or alonso-lamata2006 (alias 2005)")
    n_known = len(names) if names is not None else None
    a = _full_matrix(matrix, n_known, pre, names)
    n = a.shape[0]
    names = tuple(names) if names is not None else tuple(f"f{i + 1}" for i in range(n))
    table, label = RI_TABLES[key]
    if n > len(table):
        raise ProjectFileError(f"{pre}ahp.matrix: {n} factors; the random-index tables go up "
                               f"to {len(table)} (split the comparison into groups)")
    vals, vecs = np.linalg.eig(a)
    k = int(np.argmax(vals.real))
    lam = float(vals[k].real)
    w = np.abs(vecs[:, k].real)
    w = w / w.sum()
    ri = float(table[n - 1])
    ci = max((lam - n) / (n - 1), 0.0) if n > 2 else 0.0
    cr = ci / ri if ri > 0 else 0.0
    err = np.abs(np.log(a * w[None, :] / w[:, None]))
    iu = np.triu_indices(n, 1)
    if len(iu[0]):
        m = int(np.argmax(err[iu]))
        i, j = int(iu[0][m]), int(iu[1][m])
        worst = (i, j, float(a[i, j]), float(w[i] / w[j]))
    else:
        worst = (0, 0, 1.0, 1.0)
    res = AHPResult(w, lam, ci, cr, ri, key, label, worst, a, names)
    if cr >= CR_LIMIT:
        warnings.warn(f"{pre}AHP consistency ratio CR = {cr:.3f} ≥ {CR_LIMIT} (RI table "
                      f"{key}, RI = {ri:g}); most inconsistent pair: {res.pair_text()}; "
                      "revise that judgement", RiskmapWarning, stacklevel=2)
    return res


def ahp_from_project(project) -> AHPResult:
    """Check ``project.ahp`` and compute its weights.

    Parameters
    ----------
    project : riskmap.load.project.Project
        Its ``ahp`` mapping has ``factors`` (names of project factors, in matrix
        order), ``matrix`` and optionally ``random_index`` (default saaty1980).

    Returns
    -------
    AHPResult

    Raises
    ------
    ProjectFileError
        When there is no ``ahp`` key, a factor name is unknown or repeated, or the
        matrix is invalid (naming row and column and the project file).
    """
    where = str(project.path)
    raw = project.ahp
    if not raw:
        raise ProjectFileError(f"{where}: no 'ahp' section (factors, matrix) in the project")
    fac = raw.get("factors")
    if not isinstance(fac, list) or len(fac) < 2 or not all(isinstance(f, str) for f in fac):
        raise ProjectFileError(f"{where}: ahp.factors: must be a list of at least two factor "
                               "names (in the order of the matrix rows)")
    known = [f.name for f in project.factors]
    for i, f in enumerate(fac):
        if f not in known:
            raise ProjectFileError(f"{where}: ahp.factors[{i}]: unknown factor {f!r}; factors: "
                                   f"{', '.join(known)}")
        if fac.index(f) != i:
            raise ProjectFileError(f"{where}: ahp.factors[{i}]: {f!r} is listed twice")
    return ahp_weights(raw.get("matrix"), raw.get("random_index", "saaty1980"), names=fac,
                       where=where)


def project_with_ahp_weights(project):
    """A copy of ``project`` whose AHP-listed factors take their weights from the matrix.

    The listed factors' new weights sum to the sum of their original absolute
    weights (so the balance with unlisted factors is kept); each keeps the sign
    of its original weight (a factor that lowers risk, e.g. inside a licence,
    keeps lowering it; AHP gives the magnitude). Unlisted factors are unchanged.

    Parameters
    ----------
    project : riskmap.load.project.Project

    Returns
    -------
    (Project, dict)
        The copy (``dataclasses.replace``) and a report: ``ahp`` (the
        :class:`AHPResult`), ``scale`` (the sum the weights were scaled to) and
        ``weights`` (name → (old, new)).

    Raises
    ------
    ProjectFileError
        As :func:`ahp_from_project`, or when the new weights leave no positive one.
    """
    res = ahp_from_project(project)
    wmap = res.weight_of()
    total = sum(abs(f.weight) for f in project.factors if f.name in wmap)
    if total <= 0:
        total = 100.0  # every listed factor had weight 0: fall back to a 100 scale
    new, table = [], {}
    for f in project.factors:
        if f.name in wmap:
            sign = -1.0 if f.weight < 0 else 1.0
            w = round(sign * total * wmap[f.name], 6)
            table[f.name] = (f.weight, w)
            new.append(replace(f, weight=w))
        else:
            new.append(f)
    if not any(f.weight > 0 for f in new):
        raise ProjectFileError(f"{project.path}: ahp: the AHP weights leave no factor with a "
                               "positive weight")
    return replace(project, factors=tuple(new)), {"ahp": res, "scale": total, "weights": table}


# --- parsing -------------------------------------------------------------------
def _fmt_scale(v: float) -> str:
    return f"{v:g}" if v >= 1 else f"1/{round(1 / v)}"


def _cell(v, i, j, pre, names):
    loc = _loc(i, j, pre, names)
    if isinstance(v, bool):
        raise ProjectFileError(f"{loc}: {v!r} is not a number")
    if isinstance(v, str):
        s = v.strip().replace("／", "/")
        try:
            v = float(Fraction(s))
        except (ValueError, ZeroDivisionError):
            raise ProjectFileError(f"{loc}: {v!r} is not a number or fraction like 1/3") from None
    if not isinstance(v, int | float) or not math.isfinite(v):
        raise ProjectFileError(f"{loc}: {v!r} is not a number")
    if v <= 0:
        raise ProjectFileError(f"{loc}: {v:g} must be positive (Saaty scale 1–9 or 1/2–1/9)")
    k = int(np.argmin(np.abs(np.log(_SCALE / v))))
    if abs(_SCALE[k] / v - 1) > _REL_TOL:
        raise ProjectFileError(f"{loc}: {v:g} is not on the Saaty scale (1–9 or their "
                               "reciprocals 1/2–1/9)")
    return float(_SCALE[k])


def _loc(i, j, pre, names):
    who = ""
    if names is not None and i < len(names) and j < len(names):
        who = f" ({names[i]} vs {names[j]})"
    return f"{pre}ahp.matrix row {i + 1} col {j + 1}{who}"


def _full_matrix(matrix, n_known, pre, names) -> np.ndarray:
    if isinstance(matrix, np.ndarray):
        matrix = matrix.tolist()
    if not isinstance(matrix, list | tuple) or not matrix or not all(
            isinstance(r, list | tuple) for r in matrix):
        raise ProjectFileError(f"{pre}ahp.matrix: must be a list of rows (the full matrix or "
                               "its upper triangle)")
    rows = [list(r) for r in matrix]
    while rows and not rows[-1] and len(rows) > 1:
        rows.pop()  # a trailing empty row of a strictly upper triangle
    lens = [len(r) for r in rows]
    r = len(rows)
    if all(n == r for n in lens):
        n, offset = r, 0  # full square (lower entries may be None)
        if n_known is not None and n_known != n:
            # a strictly upper triangle of n = r + 1 can never be square unless r = 1
            if not (r == 1 and n_known == 2):
                raise ProjectFileError(f"{pre}ahp.matrix: {n} x {n} but ahp.factors names "
                                       f"{n_known} factors")
            n, offset = 2, 1
    elif lens == list(range(r, 0, -1)) and (n_known is None or n_known == r):
        n, offset = r, 0  # upper triangle from the diagonal
    elif lens == list(range(r, 0, -1)) and n_known == r + 1:
        n, offset = r + 1, 1  # strictly upper triangle
    else:
        want = f"{n_known} rows of {n_known}" if n_known else "n rows of n"
        raise ProjectFileError(f"{pre}ahp.matrix: rows have lengths {lens}; give {want} "
                               "numbers, or the upper triangle (lengths n, n−1, …, 1)")
    if n < 1:
        raise ProjectFileError(f"{pre}ahp.matrix: empty")
    a = np.full((n, n), np.nan)
    square = offset == 0 and all(len(x) == n for x in rows)
    for i, row in enumerate(rows):
        for c, v in enumerate(row):
            j = c if square else i + offset + c
            if v is None:
                if j > i:
                    raise ProjectFileError(f"{_loc(i, j, pre, names)}: missing (only the lower "
                                           "triangle may be left empty)")
                continue
            a[i, j] = _cell(v, i, j, pre, names)
    for i in range(n):
        if np.isnan(a[i, i]):
            a[i, i] = 1.0
        elif a[i, i] != 1.0:
            raise ProjectFileError(f"{_loc(i, i, pre, names)}: the diagonal must be 1, "
                                   f"got {a[i, i]:g}")
    for i in range(n):
        for j in range(i + 1, n):
            up, lo = a[i, j], a[j, i]
            if np.isnan(up) and np.isnan(lo):
                raise ProjectFileError(f"{_loc(i, j, pre, names)}: missing")
            if np.isnan(lo):
                a[j, i] = 1.0 / up
            elif np.isnan(up):
                a[i, j] = 1.0 / lo
            elif abs(up * lo - 1.0) > 1e-9:
                raise ProjectFileError(
                    f"{_loc(j, i, pre, names)}: {_fmt_scale(lo)} is not the reciprocal of "
                    f"row {i + 1} col {j + 1} = {_fmt_scale(up)} (a_ji must be 1/a_ij, "
                    f"here {_fmt_scale(1 / up)}); or give only the upper triangle")
    return a
