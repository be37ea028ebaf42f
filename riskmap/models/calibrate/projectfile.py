"""The calibrated project file, as text: the original edited in place, or written anew.

Nothing is written here: :func:`project_yaml` returns the text and the
pipeline writes it (atomically).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING

from riskmap.errors import RiskmapError
from riskmap.load.project import rebase_paths

if TYPE_CHECKING:
    from riskmap.models.calibrate.result import CalibrationResult

__all__ = ["project_yaml"]

_ITEM = re.compile(r"^(?P<ind>\s*)-\s+(?P<rest>.*)$")
_KEY = re.compile(r"^(?P<key>[A-Za-z_]\w*)\s*:(?P<val>.*?)(?P<com>\s+#.*)?$")


def project_yaml(res: CalibrationResult, project_path) -> str:
    """Project-file text with the calibrated weights and ranges.

    See :meth:`CalibrationResult.to_project_yaml`.

    Raises
    ------
    RiskmapError
        When no factor with a positive weight was kept.
    """
    if not any(f.kept and f.weight > 0 for f in res.factors):
        raise RiskmapError("calibration kept no factor with a positive weight; nothing "
                           "to write (the project's weights are left as they are)")
    return _without_ahp(_project_text(res, Path(project_path)))


def _without_ahp(text: str) -> str:
    """Comment out a top-level ``ahp:`` block: loading would re-apply its weights."""
    import yaml

    try:
        has = isinstance(yaml.safe_load(text), dict) and "ahp" in yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if not has:
        return text
    out, inside = [], False
    for line in text.splitlines(keepends=True):
        top = line[:1] not in (" ", "\t", "#", "\n", "\r", "-") and line.strip()
        if top:
            inside = line.startswith("ahp:")
            if inside:
                out.append("# calibrate: the ahp section below is commented out: the calibrated "
                           "weights replace the expert weights (they were the fit's prior)\n")
        out.append("# " + line if inside else line)
    return "".join(out)


def _num(v: float) -> str:
    return f"{v:.2f}".rstrip("0").rstrip(".") if v != int(v) else str(int(v))


def _changes(res: CalibrationResult) -> dict:
    out = {}
    for f in res.factors:
        ch = {"weight": f.weight if f.kept else 0.0}
        if f.kept:
            lo, hi = f.rr_ci
            ch["weight_note"] = (f"calibrate: was {_num(f.original_weight)}; RR {f.rr:.2f} "
                                 f"[{lo:.2f}, {hi:.2f}]")
        else:
            ch["weight_note"] = f"calibrate: dropped, {f.reason}; was {_num(f.original_weight)}"
        if f.param and f.value is not None and f.kept:
            ch[f.param] = f.value
            ch["param"] = f.param
            ch["param_note"] = f"calibrate: was {_num(f.original_value)}"
        out[f.name] = ch
    return out


def _header(res: CalibrationResult) -> str:
    o = res.options
    return (f"# calibrated by `riskmap calibrate` on {dt.date.today()} from "
            f"{res.project.path.name}: {res.n_events} incidents in {res.n_cells} cells of "
            f"{_num(res.project.patrol_cell_size)} m"
            f"{', before ' + str(res.until) if res.until else ''}"
            f"{', counted from ' + str(res.split) if res.split else ''}\n"
            f"# spatial-block CV ({o.folds} folds, {_num(o.block_size)} m blocks, seed {o.seed}): "
            f"Poisson deviance {res.cv_deviance:.1f} vs {res.null_cv_deviance:.1f} (null); "
            f"ridge λ = {res.penalty:g}\n"
            "# weights = fitted β scaled so the positive ones sum to 100 (signs kept)\n")


def _edit_text(text: str, changes: dict) -> str | None:
    """Edit weights and ranges in block-style YAML text; None when the layout is not simple."""
    lines = text.splitlines()
    start = next((i for i, ln in enumerate(lines) if re.match(r"^factors\s*:\s*(#.*)?$", ln)),
                 None)
    if start is None:
        return None
    end = next((i for i in range(start + 1, len(lines))
                if lines[i].strip() and not lines[i].startswith((" ", "\t", "#", "-"))),
               len(lines))
    items = [i for i in range(start + 1, end) if _ITEM.match(lines[i])]
    if not items:
        return None
    ind = len(_ITEM.match(lines[items[0]])["ind"])
    items = [i for i in items if len(_ITEM.match(lines[i])["ind"]) == ind]
    done = set()
    for a, b in zip(items, [*items[1:], end], strict=True):
        m = _ITEM.match(lines[a])
        col = len(lines[a]) - len(m["rest"])
        keys = {}
        for i in range(a, b):
            ln = lines[i]
            body = m["rest"] if i == a else (ln[col:] if ln[:col].strip() == "" else None)
            if body is None or (i > a and len(ln) > col and ln[col] == " "):
                continue
            km = _KEY.match(body)
            if km:
                keys[km["key"]] = (i, km)
        if "name" not in keys:
            return None
        name = keys["name"][1]["val"].strip().strip("'\"")
        ch = changes.get(name)
        if ch is None:
            continue
        for key, note in (("weight", "weight_note"), (ch.get("param"), "param_note")):
            if key is None:
                continue
            if key not in keys:
                return None
            i, km = keys[key]
            lines[i] = f"{lines[i][:col]}{key}: {_num(ch[key])}  # {ch[note]}"
        done.add(name)
    if done != set(changes):
        return None
    return "\n".join(lines) + ("\n" if text.endswith("\n") else "")


def _project_text(res: CalibrationResult, target: Path) -> str:
    import tomllib

    import yaml

    src = res.project.path
    text = src.read_text(encoding="utf-8-sig")
    changes = _changes(res)
    same = target.resolve().parent == src.parent.resolve()
    if same and src.suffix.lower() in (".yaml", ".yml"):
        edited = _edit_text(text, changes)
        if edited is not None and _check_text(edited, changes):
            return _header(res) + edited
    raw = tomllib.loads(text) if src.suffix.lower() == ".toml" else yaml.safe_load(text)
    rebase_paths(raw, src.parent, target.resolve().parent)
    for f in raw["factors"]:
        ch = changes.get(f.get("name"))
        if ch:
            f["weight"] = ch["weight"]
            if ch.get("param"):
                f[ch["param"]] = ch[ch["param"]]
    body = yaml.safe_dump(raw, allow_unicode=True, sort_keys=False, default_flow_style=False)
    note = "# (written anew: paths rebased to this file's folder; comments not kept)\n"
    return _header(res) + note + body


def _check_text(text: str, changes: dict) -> bool:
    import yaml

    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError:
        return False
    got = {f.get("name"): f for f in raw.get("factors", [])}
    for name, ch in changes.items():
        f = got.get(name)
        if f is None or abs(float(f.get("weight", math.nan)) - ch["weight"]) > 1e-9:
            return False
        if ch.get("param") and abs(float(f.get(ch["param"], math.nan)) - ch[ch["param"]]) > 1e-9:
            return False
    return True
