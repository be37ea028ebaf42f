"""The backtest's files: ``evaluation.json``, ``hit_rate.png`` and ``evaluation.html``.

The figures come from :func:`riskmap.models.evaluate.evaluate`; each file is
written through :mod:`riskmap.export.atomic`, so a reader never sees half a file.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from pathlib import Path

import numpy as np

from riskmap.errors import ExportError, RiskmapError
from riskmap.export.atomic import check_free, write_bytes
from riskmap.models.evaluate import MAPS, TABLE_KEYS

__all__ = ["FILES", "check_outputs", "format_value", "hit_rate_png", "report_html",
           "write_evaluation"]

FILES = ("evaluation.json", "hit_rate.png", "evaluation.html")


def check_outputs(out_dir, overwrite: bool = False) -> None:
    """Raise if an evaluation file already exists in ``out_dir`` and may not be replaced."""
    out_dir = Path(out_dir)
    for name in FILES:  # (also clears temporaries a killed run left beside them)
        check_free(out_dir / name, overwrite)


def write_evaluation(out_dir, result: dict, overwrite: bool = False) -> dict[str, Path]:
    """Write ``evaluation.json``, ``hit_rate.png`` and ``evaluation.html`` into ``out_dir``.

    Each file is written to a temporary name in the same folder and moved into
    place (:func:`riskmap.export.atomic.write_bytes`), so a reader never sees
    half a file.

    Parameters
    ----------
    out_dir : path-like
        Created if missing.
    result : dict
        From :func:`riskmap.models.evaluate.evaluate`.
    overwrite : bool
        Replace existing files.

    Returns
    -------
    dict
        File name to path.

    Raises
    ------
    ExportError
        A file exists without ``overwrite``, or the folder cannot be written.
    """
    out_dir = Path(out_dir)
    check_outputs(out_dir, overwrite)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ExportError(f"{out_dir}: cannot create the output folder: {e.strerror}; choose "
                          "another --out") from None
    png = hit_rate_png(result)
    text = json.dumps(_plain(result), ensure_ascii=False, indent=2, allow_nan=False)
    paths = {name: out_dir / name for name in FILES}
    write_bytes(paths["evaluation.json"], (text + "\n").encode("utf-8"), overwrite)
    write_bytes(paths["hit_rate.png"], png, overwrite)
    write_bytes(paths["evaluation.html"], report_html(result, png).encode("utf-8"), overwrite)
    return paths


def _plain(v):
    """JSON-safe copy: numpy scalars to Python, NaN/inf to null."""
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    if isinstance(v, np.ndarray):
        return _plain(v.tolist())
    if isinstance(v, np.integer | np.bool_):
        return v.item()
    if isinstance(v, float | np.floating):
        v = float(v)
        return round(v, 6) if math.isfinite(v) else None
    if isinstance(v, Path):
        return str(v)
    return v


_COLOURS = {"model": "#d7301f", "kde": "#2b8cbe", "uniform": "#737373", "best": "#bdbdbd"}


def hit_rate_png(result: dict) -> bytes:
    """The hit-rate curves of model, kde and uniform (and the best possible) as PNG bytes.

    Marks at 5, 10 and 20 % of the area; Chinese labels with a CJK font when
    one is found (:func:`riskmap.export.fonts.find_cjk_font`), English only otherwise.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from riskmap.export.fonts import cjk_font_properties, find_cjk_font, quiet_fonts

    try:
        font = find_cjk_font()
        fp = cjk_font_properties(font, 10)
        small = cjk_font_properties(font, 8)
        zh = True
    except RiskmapError:
        fp = small = None
        zh = False
    names = {"model": "模型 model" if zh else "model", "kde": "核密度 KDE" if zh else "KDE",
             "uniform": "均匀 uniform" if zh else "uniform",
             "best": "理论最优 best possible" if zh else "best possible"}
    curves = result["curves"]
    x = np.asarray(curves["area"]) * 100
    with quiet_fonts():
        fig = Figure(figsize=(7.2, 5.4), dpi=110)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        ax.plot(x, np.asarray(curves["best"]) * 100, color=_COLOURS["best"], lw=1.2, ls="--",
                label=names["best"])
        for name in ("uniform", "kde", "model"):
            m = result[name]
            ax.plot(x, np.asarray(curves[name]) * 100, color=_COLOURS[name],
                    lw=2.0 if name == "model" else 1.5,
                    label=f"{names[name]}  (PAI@10 {_fmt(m['PAI@10'], 2)}, "
                          f"AUC {_fmt(m['AUC'], 3)})")
        for p in (5, 10, 20):
            ax.axvline(p, color="#999999", lw=0.8, ls=":")
            ax.text(p, 1.5, f"{p}%", ha="center", va="bottom", fontsize=8, color="#555555",
                    bbox={"fc": "white", "ec": "none", "pad": 1})
        ax.set_xlim(0, 100)
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.25)
        xl = "巡查面积占比 (share of area, %)" if zh else "share of area (%)"
        yl = "命中案件占比 (share of test events, %)" if zh else "share of test events (%)"
        title = (f"命中率曲线 hit-rate curve — split {result['split']}, "
                 f"n_test {result['n_test']}, {result['unit']}")
        ax.set_xlabel(xl, fontproperties=fp)
        ax.set_ylabel(yl, fontproperties=fp)
        ax.set_title(title if zh else title.replace("命中率曲线 ", ""), fontproperties=fp)
        ax.legend(loc="lower right", prop=small)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def _fmt(v, nd: int) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return f"{v:.{nd}f}"


def format_value(key: str, v) -> str:
    """A table cell: hit rates in per cent, PAI/PEI 2 decimals, AUC 3, counts as numbers."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if key.startswith("hit@"):
        return f"{v * 100:.1f}%"
    if key.startswith(("PAI@", "PEI@")):
        return f"{v:.2f}"
    if key == "AUC":
        return f"{v:.3f}"
    return f"{v:g}" if isinstance(v, float) else str(v)


def report_html(result: dict, png: bytes) -> str:
    """A small self-contained HTML report: the table, the curve (inline PNG) and notes."""
    from riskmap.marks import INTERNAL

    e = html.escape
    head = "".join(f"<th>{e(k)}</th>" for k in ("", *TABLE_KEYS))
    rows = "".join(
        "<tr><th>" + e(name) + "</th>"
        + "".join(f"<td>{e(format_value(k, result[name].get(k)))}</td>" for k in TABLE_KEYS)
        + "</tr>" for name in MAPS)
    info = [("项目 project", result.get("project")), ("split", result["split"]),
            ("检验期 test period", " – ".join(result["test_period"])),
            ("单元 unit", result["unit"]), ("面积 area", f"{result['area_km2']} km²"),
            ("事件 events", result["events"]), ("n_train", result["n_train"]),
            ("n_test", result["n_test"]), ("伪变化 negatives", result["negatives"]),
            ("model", result["model"].get("source")), ("kde", result["kde"].get("source")),
            ("防泄漏 leakage guard", result["leakage_guard"])]
    if "offset" in result:
        o = result["offset"]
        info.append(("网格偏移 grid offset", "; ".join(
            f"{n}: PAI@10 {_fmt(o[n]['PAI@10_base'], 2)} → {_fmt(o[n]['PAI@10'], 2)} "
            f"(Δ {_fmt(o[n]['delta_PAI@10'], 2)})" for n in ("model", "kde"))
            + f" — shift {o['shift_m'][0]:g} m"))
    info_html = "".join(f"<tr><th>{e(str(k))}</th><td>{e(str(v))}</td></tr>" for k, v in info)
    roll = ""
    if "rolling" in result:
        r = result["rolling"]
        cols = ("PAI@10", "AUC", "hit@10")
        rh = "".join(f"<th>{e(n)} {e(c)}</th>" for n in ("model", "kde") for c in cols)
        body = ""
        for f in r["folds"]:
            if "skipped" in f:
                body += (f"<tr><th>{e(f['quarter'])}</th><td colspan='{len(cols) * 2 + 1}'>"
                         f"{e(f['skipped'])}</td></tr>")
                continue
            body += (f"<tr><th>{e(f['quarter'])}</th><td>{e(str(f['n_test']))}</td>"
                     + "".join(f"<td>{e(format_value(c, f[n][c]))}</td>"
                               for n in ("model", "kde") for c in cols) + "</tr>")
        body += ("<tr class='mean'><th>mean</th><td></td>"
                 + "".join(f"<td>{e(format_value(c, r['mean'][n].get(c)))}</td>"
                           for n in ("model", "kde") for c in cols) + "</tr>")
        roll = (f"<h2>滚动检验 rolling folds ({e(r['period'])}, {r['folds_used']} used)</h2>"
                f"<table><tr><th>fold</th><th>n_test</th>{rh}</tr>{body}</table>")
    img = base64.b64encode(png).decode("ascii")
    title = f"回测 backtest — {result.get('project', '')}"
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(title)}</title>
<style>
body {{ font-family: "Microsoft YaHei", "Noto Sans CJK SC", sans-serif; margin: 1.5em auto;
       max-width: 60em; color: #222; padding: 0 1em; }}
.mark {{ color: #b00; font-weight: bold; }}
table {{ border-collapse: collapse; margin: 0.6em 0 1.2em; }}
th, td {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }}
table.info th, table.info td {{ text-align: left; vertical-align: top; }}
tr.mean {{ font-weight: bold; }}
img {{ max-width: 100%; }}
</style></head><body>
<p class="mark">{e(INTERNAL)}</p>
<h1>{e(title)}</h1>
<p>hit@P: share of test events in the top P % of the area; PAI = hit / P (Chainey et al.
2008); PEI = PAI / best possible PAI (Hunt 2016); AUC: area under the hit-rate curve
(0.5 = uniform).</p>
<table class="metrics"><tr>{head}</tr>{rows}</table>
<img alt="hit-rate curve" src="data:image/png;base64,{img}">
<table class="info">{info_html}</table>
{roll}
<p><small>riskmap {e(str(result.get('riskmap', '')))}, {e(str(result.get('evaluated', '')))}
</small></p>
</body></html>
"""
