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

__all__ = ["INTERVAL_KEY", "project_yaml", "with_interval"]

#: the calibrated project's key naming the per-cell interval (``score_interval.tif``)
INTERVAL_KEY = "interval"
_INTERVAL_LINE = re.compile(rf"^{INTERVAL_KEY}\s*:")
_INTERVAL_NOTE = "# calibrate: 每格排名区间 (per-cell rank interval"

_ITEM = re.compile(r"^(?P<ind>\s*)-\s+(?P<rest>.*)$")
_KEY = re.compile(r"^(?P<key>[A-Za-z_]\w*)\s*:(?P<val>.*?)(?P<com>\s+#.*)?$")


def residual_file(project_path) -> str:
    """File name of the residual raster written beside a calibrated project file."""
    return f"{Path(project_path).stem}.residual.tif"


def project_yaml(res: CalibrationResult, project_path, interval=None) -> str:
    """Project-file text with the calibrated weights, shapes, ranges and added terms.

    See :meth:`CalibrationResult.to_project_yaml`. The residual term (when kept)
    reads ``raster:<stem>.residual.tif`` beside ``project_path``, which the
    pipeline writes (:func:`residual_file`). With ``interval`` (the path of the
    ``score_interval.tif`` the pipeline writes) the text names it as the
    top-level ``interval`` key, relative to ``project_path``; without, a key the
    project had is removed (it belonged to another calibration), see
    :func:`with_interval`.

    Raises
    ------
    RiskmapError
        When no factor with a positive weight was kept.
    """
    if not any(f.kept and f.weight > 0 for f in res.factors):
        raise RiskmapError("calibration kept no factor with a positive weight; nothing "
                           "to write (the project's weights are left as they are)")
    target = Path(project_path)
    return with_interval(_without_ahp(_project_text(res, target)), target, interval)


def with_interval(text: str, target, interval) -> str:
    """``text`` with its top-level ``interval`` key set to ``interval`` (or removed if None).

    The path is written relative to ``target``'s folder (absolute when on
    another drive), on the last line, under a comment saying what it is.
    """
    import os

    import yaml

    lines, out, drop = text.splitlines(), [], False
    for ln in lines:
        if _INTERVAL_LINE.match(ln):
            drop = True  # the old key and its continuation lines, if any
            if out and out[-1].startswith(_INTERVAL_NOTE):
                out.pop()
            continue
        if drop and ln[:1] in (" ", "\t") and ln.strip():
            continue
        drop = False
        out.append(ln)
    while out and not out[-1].strip():
        out.pop()
    rel = None
    if interval is not None:
        p = Path(interval).resolve()
        try:
            rel = Path(os.path.relpath(p, Path(target).resolve().parent)).as_posix()
        except ValueError:  # another drive (Windows)
            rel = p.as_posix()
        out += [f"{_INTERVAL_NOTE}), build 与 plan 读取 (read by build and plan)",
                f"{INTERVAL_KEY}: {_yaml_value(rel)}"]
    new = "\n".join(out) + "\n"
    got = yaml.safe_load(new)
    if (got or {}).get(INTERVAL_KEY) != rel:  # never expected: the key is one plain line
        raise RiskmapError(f"calibrate: could not write the interval key into the project "
                           f"text (got {(got or {}).get(INTERVAL_KEY)!r}, wanted {rel!r})")
    return new


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


def _fmt(v) -> str:
    if isinstance(v, bool) or v is None:
        return str(v).lower()
    if isinstance(v, int | float):
        return _num(float(v))
    return str(v)


def _changes(res: CalibrationResult) -> dict:
    """Per project factor: new weight and the keys its chosen form sets, with notes."""
    out = {}
    orig = {f.name: f for f in res.project.factors}
    for f in res.factors:
        if f.added:
            continue
        ch = {"weight": f.weight if f.kept else 0.0, "keys": {}}
        if f.kept:
            lo, hi = f.rr_ci
            ch["weight_note"] = (f"calibrate: was {_num(f.original_weight)}; RR {f.rr:.2f} "
                                 f"[{lo:.2f}, {hi:.2f}]")
            for key, v in f.changes.items():
                was = orig[f.name].params.get(key)
                ch["keys"][key] = (v, "calibrate: " + (f"was {_fmt(was)}" if was is not None
                                                       else "set from the data"))
        else:
            ch["weight_note"] = f"calibrate: dropped, {f.reason}; was {_num(f.original_weight)}"
        out[f.name] = ch
    return out


def _added(res: CalibrationResult, raw_inc_source, target: Path) -> list[dict]:
    """The terms calibration adds (kept ones), as project-file factor mappings."""
    out = []
    for f in res.factors:
        if not (f.added and f.kept):
            continue
        if f.kind == "raster":
            out.append({"name": f.name, "label": f.label,
                        "source": f"raster:{residual_file(target)}", "kind": "raster",
                        "weight": round(f.weight, 2)})
            continue
        d = {"name": f.name, "label": f.label, "source": raw_inc_source, "kind": f.kind}
        spec = res.specs.get(f.name)
        params = dict(spec.params) if spec is not None else {}
        params.update(f.changes)
        for key in ("bandwidth", "date_field", "half_life_days", "normalize"):
            if key in params and not (key == "normalize" and params[key] == "max"):
                d[key] = params[key]
        d["weight"] = round(f.weight, 2)
        out.append(d)
    return out


def _header(res: CalibrationResult) -> str:
    o = res.options
    return (f"# calibrated by `riskmap calibrate` on {dt.date.today()} from "
            f"{res.project.path.name}: {res.n_events} incidents in {res.n_cells} cells of "
            f"{_num(res.project.patrol_cell_size)} m"
            f"{', before ' + str(res.until) if res.until else ''}"
            f"{'; periods ' + res.periods[0] + '–' + res.periods[-1] if res.periods else ''}\n"
            f"# spatial-block CV ({o.folds} folds, {_num(o.block_size)} m blocks, seed {o.seed}): "
            f"Poisson deviance {res.cv_deviance:.1f} vs {res.null_cv_deviance:.1f} (null); "
            f"ridge λ = {res.penalty:g}\n"
            "# weights = fitted β scaled so the positive ones sum to 100 (signs kept)\n")


def _yaml_value(v) -> str:
    import yaml

    return yaml.safe_dump(v, allow_unicode=True, default_flow_style=True,
                          width=10_000).strip().removesuffix("...").strip()


def _item_lines(d: dict, ind: int) -> list[str]:
    """One factor mapping as block YAML lines at item indentation ``ind``."""
    out = []
    for i, (k, v) in enumerate(d.items()):
        lead = " " * ind + ("- " if i == 0 else "  ")
        out.append(f"{lead}{k}: {_yaml_value(v)}")
    return out


def _edit_text(text: str, changes: dict, added: list[dict]) -> str | None:
    """Edit weights and keys in block-style YAML text; None when the layout is not simple."""
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
    done, inserts = set(), {}
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
        if "name" not in keys or "weight" not in keys:
            return None
        name = keys["name"][1]["val"].strip().strip("'\"")
        ch = changes.get(name)
        if ch is None:
            continue
        edits = {"weight": (ch["weight"], ch["weight_note"]), **ch["keys"]}
        for key, (v, note) in edits.items():
            if key in keys:
                i, km = keys[key]
                if km["val"].strip() in ("", "|", ">"):
                    return None  # a block value on the lines below: not edited in place
                lines[i] = f"{lines[i][:col]}{key}: {_yaml_value(v)}  # {note}"
            else:  # a key the project leaves at its default: added after the weight line
                i = keys["weight"][0]
                inserts.setdefault(i, []).append(f"{' ' * col}{key}: {_yaml_value(v)}  # {note}")
        done.add(name)
    if done != set(changes):
        return None
    out = []
    for i, ln in enumerate(lines):
        out.append(ln)
        out.extend(inserts.get(i, []))
    new = []
    for d in added:
        new += _item_lines(d, ind)
    if new:
        shift = len(out) - len(lines)
        at = end + shift
        while at > start + 1 and not out[at - 1].strip():
            at -= 1
        out[at:at] = ["# calibrate: terms the factors miss, fitted from the cases"
                      if ind == 0 else " " * ind + "# calibrate: terms the factors miss, "
                      "fitted from the cases", *new]
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


def _raw_incidents_source(raw: dict):
    inc = raw.get("incidents") or {}
    return inc.get("source")


def _project_text(res: CalibrationResult, target: Path) -> str:
    import tomllib

    import yaml

    src = res.project.path
    text = src.read_text(encoding="utf-8-sig")
    changes = _changes(res)
    toml = src.suffix.lower() == ".toml"
    raw = tomllib.loads(text) if toml else yaml.safe_load(text)
    same = target.resolve().parent == src.parent.resolve()
    if same and not toml:
        added = _added(res, _raw_incidents_source(raw), target)
        edited = _edit_text(text, changes, added)
        if edited is not None and _check_text(edited, changes, added):
            return _header(res) + edited
    rebase_paths(raw, src.parent, target.resolve().parent)
    for f in raw["factors"]:
        ch = changes.get(f.get("name"))
        if ch:
            f["weight"] = ch["weight"]
            for key, (v, _) in ch["keys"].items():
                f[key] = v
    raw["factors"] += _added(res, _raw_incidents_source(raw), target)
    body = yaml.safe_dump(raw, allow_unicode=True, sort_keys=False, default_flow_style=False)
    note = "# (written anew: paths rebased to this file's folder; comments not kept)\n"
    return _header(res) + note + body


def _check_text(text: str, changes: dict, added: list[dict]) -> bool:
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
        for key, (v, _) in ch["keys"].items():
            if f.get(key) != v and not (isinstance(v, float) and isinstance(f.get(key), int | float)
                                        and abs(float(f[key]) - v) < 1e-9):
                return False
    return all(d["name"] in got for d in added)
