"""The weekly summary's files: ``weekly.html``, ``weekly.xlsx`` and ``weekly.png``.

``weekly.html`` is self-contained (the chart inlined, every text escaped) and
reads for a leader: this week's finds first, then planned against checked (per
township, responsible cadre and village), then the villages that did not report,
then the trend; a blank value is a blank cell, a week without a plan a gap.
Where inspections came from (provenance) follows the finds, the overdue cells
(never checked, or not for ``plan.overdue_weeks`` weeks) follow the villages that
did not report. ``weekly.xlsx`` has the sheets 本周发现, 汇总, 责任人, 未上报,
趋势 (with the chart), 来源 and 久未巡查 (every overdue cell);
``weekly.png`` is the week-over-week chart. Each is written atomically
(:mod:`riskmap.export.atomic`).
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from riskmap.export.atomic import atomic_file, write_bytes, write_text
from riskmap.marks import INTERNAL

if TYPE_CHECKING:
    from riskmap.field.weekly import WeeklySummary

__all__ = ["TITLES", "WEEKLY_FILES", "cell_text", "trend_png", "weekly_html", "write_weekly",
           "write_weekly_xlsx"]

WEEKLY_FILES = ("weekly.html", "weekly.xlsx", "weekly.png")


#: display names of the summary's English columns
TITLES = {"no": "编号", "cell_id": "网格编号", "township": "乡镇", "village": "村",
          "responsible": "责任人", "date": "日期", "result": "排查结果", "note": "备注",
          "week": "周次", "planned": "计划网格", "checked": "已排查", "found": "发现",
          "has_plan": "计划", "provenance": "来源", "cells": "网格", "share": "占比",
          "share_found": "发现占比"}
_PERCENT = {"完成率", "share", "share_found"}


def cell_text(value, column: str = "") -> str:
    """How a table cell reads: blank for None/NaN/NA, 是 for True, percentages, integers.

    Parameters
    ----------
    value : object
    column : str
        The column's name (完成率 and share are percentages, 未上报 and has_plan flags).

    Returns
    -------
    str
    """
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, float | np.floating) and np.isnan(value):
        return ""
    if column == "has_plan":
        return "" if value else "无计划"
    if isinstance(value, bool | np.bool_):
        return "是" if value else ""
    if column in _PERCENT:
        return f"{float(value):.0%}"
    if column == "未上报" and isinstance(value, int | np.integer):
        return str(value) if value else ""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def trend_png(summary: WeeklySummary, font_path=None) -> bytes:
    """The week-over-week chart (PNG bytes): planned / checked per week, finds as a line.

    A week without a plan is a gap (shaded, 无计划), not a zero.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from riskmap.export.fonts import cjk_font_properties, find_cjk_font, quiet_fonts

    with quiet_fonts():
        props = cjk_font_properties(font_path or find_cjk_font(None), size=9)
        t = summary.trend
        fig = Figure(figsize=(7.5, 3.2), dpi=120)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot(1, 1, 1)
        x = np.arange(len(t))
        planned = t["planned"].astype(float)
        checked = t["checked"].astype(float)
        found = t["found"].astype(float)
        ax.bar(x - 0.2, planned.fillna(0), width=0.4, color="#bdbdbd", label="计划网格")
        ax.bar(x + 0.2, checked.fillna(0), width=0.4, color="#3182bd", label="已排查")
        top = max(1.0, float(np.nanmax(np.r_[planned, checked, 0])))
        for i in np.flatnonzero(~t["has_plan"].to_numpy(bool)):
            ax.axvspan(i - 0.45, i + 0.45, color="#f0f0f0", hatch="///", ec="#c8c8c8", lw=0,
                       zorder=0)
            ax.text(i, top * 0.5, "无计划", ha="center", va="center", rotation=90,
                    fontproperties=props, color="#888888")
        ax.set_ylim(0, top * 1.15)
        ax2 = ax.twinx()
        ax2.plot(x, found, color="#d73027", marker="o", label="发现")  # NaN: a gap
        ax2.set_ylim(bottom=0, top=max(1, int(np.nanmax(np.r_[found, 0])) + 1))
        ax.set_xticks(x, [w[5:] for w in t["week"]])
        for lab in ax.get_xticklabels() + ax.get_yticklabels() + ax2.get_yticklabels():
            lab.set_fontproperties(props)
        ax.set_ylabel("网格数", fontproperties=props)
        ax2.set_ylabel("发现", fontproperties=props, color="#d73027")
        ax.set_title(f"近 {len(t)} 周巡查情况 (至 {summary.week}) · {INTERNAL}",
                     fontproperties=props)
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = ax2.get_legend_handles_labels()
        ax.legend(h1 + h2, l1 + l2, prop=props, loc="upper left", fontsize=8)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def _late(df: pd.DataFrame) -> np.ndarray:
    """Rows of villages that did not report (a 未上报 flag column), to be marked."""
    if "未上报" not in df:
        return np.zeros(len(df), bool)
    return np.array([isinstance(v, bool | np.bool_) and bool(v) for v in df["未上报"]], bool)


def _table(df: pd.DataFrame, empty: str = "无") -> str:
    """An HTML table, every text escaped, blank cells blank; late villages marked."""
    e = html.escape
    if not len(df):
        return f'<p class="none">{e(empty)}</p>'
    cols = list(df.columns)
    head = "".join(f"<th>{e(TITLES.get(c, str(c)))}</th>" for c in cols)
    rows = []
    for r, is_late in zip(df.itertuples(index=False), _late(df), strict=True):
        cells = "".join(f"<td>{e(cell_text(v, c))}</td>" for v, c in zip(r, cols, strict=True))
        rows.append(f'<tr{" class=late" if is_late else ""}>{cells}</tr>')
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def weekly_html(summary: WeeklySummary, png: bytes, project_name: str = "") -> str:
    """A self-contained HTML page for leaders (every text escaped, the chart inlined).

    In this order: this week's finds; planned against checked per township,
    responsible cadre and village; the villages that did not report; the trend.
    """
    e = html.escape
    w = summary.week
    img = base64.b64encode(png).decode("ascii")
    nf = len(summary.finds)
    late = summary.not_reported
    nr = "".join(f"<li>{e(t)} {e(v)}</li>" for t, v in late) or "<li>无 (all reported)</li>"
    prov = (f"<h3>来源 (provenance: planned, random, outside the plan, or independent)</h3>"
            f"{_table(summary.provenance, '本周无排查记录 (no inspections)')}")
    trend = summary.trend
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(f"{project_name} 巡查周报 {w}")}</title>
<style>
body {{ font-family: "Microsoft YaHei", "Noto Sans CJK SC", sans-serif; margin: 1.2em; }}
.mark {{ color: #c00000; font-weight: bold; }}
table {{ border-collapse: collapse; margin: .4em 0 1.2em; }}
th, td {{ border: 1px solid #999; padding: 2px 8px; }}
th {{ background: #ddd; }} td {{ text-align: right; }}
td:nth-child(-n+3) {{ text-align: left; }}
tr.late td {{ background: #fde0dd; }}
.none {{ color: #555; }}
section {{ max-width: 100%; overflow-x: auto; }}
img {{ max-width: 100%; }}
</style></head><body>
<p class="mark">{e(INTERNAL)}</p>
<h1>{e(project_name)} 巡查周报 {e(str(w))} ({w.monday:%Y-%m-%d} 至 {w.sunday:%Y-%m-%d})</h1>
<p>生成 {e(dt.datetime.now().astimezone().isoformat(timespec="seconds"))}。
本周发现 {nf} 个网格; 未上报 {len(late)} 个村 (按"未发现"计, 请督办)。</p>
<section id="finds"><h2>本周发现 (finds this week): {nf} 个网格</h2>
{_table(summary.finds, "本周无发现 (no finds)")}{prov}</section>
<section id="planned"><h2>计划与完成 (planned vs checked)</h2>
<h3>乡镇</h3>{_table(summary.townships, "本周没有计划 (no plan)")}
<h3>按责任人 (per responsible cadre)</h3>{_table(summary.cadres, "无")}
<h3>各村</h3>{_table(summary.villages, "无")}</section>
<section id="late"><h2>未上报的村 (no return): {len(late)} 个</h2><ul>{nr}</ul></section>
{_overdue_section(summary)}
<section id="trend"><h2>近 {len(trend)} 周 (trend)</h2>
<img alt="trend" src="data:image/png;base64,{img}">
{_table(trend)}
<p class="none">无计划的周为空白 (a week without a plan is blank, not zero).</p></section>
{"".join(f"<p>{e(n)}</p>" for n in summary.notes)}
<p class="mark">{e(INTERNAL)}</p>
</body></html>
"""


def _overdue_section(summary: WeeklySummary) -> str:
    """Overdue cells per village, or why they are not listed."""
    e = html.escape
    od = summary.overdue
    if od is None:
        return ('<section id="overdue"><h2>久未巡查 (overdue cells)</h2><p class="none">未列出 '
                "(not listed): 见下方说明 (see the notes below)</p></section>")
    n = int(od["久未巡查"].sum()) if len(od) else 0
    never = int(od["从未排查"].sum()) if len(od) else 0
    return (f'<section id="overdue"><h2>久未巡查 (overdue cells): {n} 个网格, 其中从未排查 '
            f"{never} 个</h2><p>等级达到计划标准、从未排查或 {e(str(summary.overdue_weeks))} 周"
            "以上未查的网格, 按村; 最需补查按风险分 (cells of the plan's classes never "
            "checked or not for that many weeks; the best by score first; weekly.xlsx lists "
            f"all)</p>{_table(od, '无 (none)')}</section>")


def write_weekly_xlsx(summary: WeeklySummary, path, png: bytes, *, overwrite: bool = False,
                      project_name: str = "") -> None:
    """``weekly.xlsx``: 本周发现, 汇总 (townships, villages), 责任人, 未上报, 趋势 (+ chart)."""
    import xlsxwriter

    with atomic_file(path, overwrite) as tmp:
        wb = xlsxwriter.Workbook(str(tmp), {"strings_to_formulas": False,
                                            "strings_to_numbers": False,
                                            "strings_to_urls": False})
        head = wb.add_format({"bold": True, "bg_color": "#D9D9D9", "border": 1})
        cell = wb.add_format({"border": 1})
        pct = wb.add_format({"border": 1, "num_format": "0%"})
        late = wb.add_format({"border": 1, "bg_color": "#FDE0DD"})
        bold = wb.add_format({"bold": True, "font_size": 13})
        w = summary.week

        def sheet(name, df, title):
            ws = wb.add_worksheet(name)
            ws.write_string(0, 0, f"{project_name} {title} {w} · {INTERNAL}", bold)
            cols = list(df.columns)
            for c, h in enumerate(cols):
                ws.write_string(2, c, TITLES.get(h, str(h)), head)
                ws.set_column(c, c, 14 if c < 3 else 11)
            flags = _late(df)
            for r, row in enumerate(df.itertuples(index=False), start=3):
                f = late if flags[r - 3] else cell
                for c, (h, v) in enumerate(zip(cols, row, strict=True)):
                    text = cell_text(v, h)
                    if not text:
                        ws.write_blank(r, c, None, f)
                    elif h in _PERCENT:
                        ws.write_number(r, c, float(v), pct)
                    elif (isinstance(v, int | float | np.integer | np.floating)
                          and not isinstance(v, bool | np.bool_) and h != "has_plan"):
                        ws.write_number(r, c, float(v), f)
                    else:
                        ws.write_string(r, c, text, f)
            ws.freeze_panes(3, 0)
            ws.set_header(f"&L{INTERNAL}")
            ws.set_landscape()
            ws.set_paper(9)
            return ws

        sheet("本周发现", summary.finds, "本周发现")
        sheet("汇总", pd.concat([summary.townships, summary.villages], ignore_index=True),
              "巡查周报")
        sheet("责任人", summary.cadres, "按责任人")
        sheet("未上报", pd.DataFrame(summary.not_reported, columns=["乡镇", "村"]),
              "未上报的村 (按未发现计, 请督办)")
        ws = sheet("趋势", summary.trend, "近几周 (无计划的周为空白)")
        ws.insert_image(4 + len(summary.trend), 0, "trend.png",
                        {"image_data": io.BytesIO(png), "x_scale": 0.8, "y_scale": 0.8})
        sheet("来源", summary.provenance, "排查与发现的来源 (provenance)")
        weeks = summary.overdue_weeks
        sheet("久未巡查", summary.overdue_cells,
              "久未巡查网格 (从未排查或 " + (f"{weeks} 周以上未查)" if weeks else "未列出)"))
        wb.close()


def write_weekly(summary: WeeklySummary, folder, *, overwrite: bool = False,
                 project_name: str = "", font_path=None) -> list[Path]:
    """Write ``weekly.png``, ``weekly.html`` and ``weekly.xlsx`` into ``folder``.

    Parameters
    ----------
    summary : WeeklySummary
    folder : Path
        Created if missing.
    overwrite : bool
        Replace existing files.
    project_name : str
        Shown in titles.
    font_path : str or Path, optional
        CJK font of the chart (default: found on the system).

    Returns
    -------
    list of Path
        In the order of :data:`WEEKLY_FILES`.

    Raises
    ------
    ExportError
        An existing file without ``overwrite``.
    """
    folder = Path(folder)
    png = trend_png(summary, font_path)
    write_bytes(folder / "weekly.png", png, overwrite)
    write_text(folder / "weekly.html", weekly_html(summary, png, project_name), overwrite)
    write_weekly_xlsx(summary, folder / "weekly.xlsx", png, overwrite=overwrite,
                      project_name=project_name)
    return [folder / f for f in WEEKLY_FILES]
