"""The weekly summary's files: ``weekly.html``, ``weekly.xlsx`` and ``weekly.png``.

``weekly.html`` is self-contained (the chart inlined, every text escaped);
``weekly.xlsx`` has the sheets 汇总, 未上报, 本周发现 and 趋势 (with the chart);
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

import pandas as pd

from riskmap.export.atomic import atomic_file, write_bytes, write_text
from riskmap.marks import INTERNAL

if TYPE_CHECKING:
    from riskmap.field.weekly import WeeklySummary

__all__ = ["WEEKLY_FILES", "trend_png", "weekly_html", "write_weekly", "write_weekly_xlsx"]

WEEKLY_FILES = ("weekly.html", "weekly.xlsx", "weekly.png")


def trend_png(summary: WeeklySummary, font_path=None) -> bytes:
    """The week-over-week chart (PNG bytes): planned / checked / found per week."""
    import numpy as np
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
        ax.bar(x - 0.2, t["planned"], width=0.4, color="#bdbdbd", label="计划网格")
        ax.bar(x + 0.2, t["checked"], width=0.4, color="#3182bd", label="已排查")
        ax2 = ax.twinx()
        ax2.plot(x, t["found"], color="#d73027", marker="o", label="发现")
        ax2.set_ylim(bottom=0, top=max(1, int(t["found"].max() if len(t) else 0) + 1))
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


def weekly_html(summary: WeeklySummary, png: bytes, project_name: str = "") -> str:
    """A self-contained HTML page (every text escaped, the chart inlined)."""
    e = html.escape

    def table(df: pd.DataFrame) -> str:
        head = "".join(f"<th>{e(str(c))}</th>" for c in df.columns)
        body = []
        for _, r in df.iterrows():
            cls = ' class="late"' if r.get("未上报") is True else ""
            cells = []
            for c in df.columns:
                v = r[c]
                if c == "完成率":
                    v = "" if pd.isna(v) else f"{v:.0%}"
                elif c == "未上报" and isinstance(v, bool | int):
                    v = ("是" if v else "") if isinstance(v, bool) else (str(v) if v else "")
                cells.append(f"<td>{e('' if v is None else str(v))}</td>")
            body.append(f"<tr{cls}>{''.join(cells)}</tr>")
        return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"

    nr = "".join(f"<li>{e(t)} {e(v)}</li>" for t, v in summary.not_reported) or "<li>无</li>"
    w = summary.week
    img = base64.b64encode(png).decode("ascii")
    finds = table(summary.finds.rename(columns={"cell_id": "网格编号", "township": "乡镇",
                                                "village": "村", "date": "日期",
                                                "result": "排查结果", "note": "备注"}))
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>{e(f"{project_name} 巡查周报 {w}")}</title>
<style>
body {{ font-family: "Microsoft YaHei", "Noto Sans CJK SC", sans-serif; margin: 1.5em; }}
.mark {{ color: #c00000; font-weight: bold; }}
table {{ border-collapse: collapse; margin: .5em 0 1.5em; }}
th, td {{ border: 1px solid #999; padding: 2px 8px; }}
th {{ background: #ddd; }} td {{ text-align: right; }}
td:nth-child(1), td:nth-child(2) {{ text-align: left; }}
tr.late td {{ background: #fde0dd; }}
</style></head><body>
<p class="mark">{e(INTERNAL)}</p>
<h1>{e(project_name)} 巡查周报 {e(str(w))} ({w.monday:%Y-%m-%d} 至 {w.sunday:%Y-%m-%d})</h1>
<p>生成 {e(dt.datetime.now().astimezone().isoformat(timespec="seconds"))}。
未上报按"未发现"计 (not reported = nothing found), 但下列村未上报, 请督办。</p>
<h2>未上报的村 (no return)</h2><ul>{nr}</ul>
<h2>乡镇汇总</h2>{table(summary.townships)}
<h2>各村</h2>{table(summary.villages)}
<h2>本周发现</h2>{finds}
<h2>近几周</h2><img alt="trend" src="data:image/png;base64,{img}">
{"".join(f"<p>{e(n)}</p>" for n in summary.notes)}
<p class="mark">{e(INTERNAL)}</p>
</body></html>
"""


def write_weekly_xlsx(summary: WeeklySummary, path, png: bytes, *, overwrite: bool = False,
                      project_name: str = "") -> None:
    """``weekly.xlsx``: 汇总 (townships then villages), 未上报, 本周发现, 趋势 (with the chart)."""
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
            for c, h in enumerate(df.columns):
                ws.write_string(2, c, str(h), head)
                ws.set_column(c, c, 14 if c < 2 else 11)
            for r, (_, row) in enumerate(df.iterrows(), start=3):
                is_late = bool(row.get("未上报") is True)
                for c, h in enumerate(df.columns):
                    v = row[h]
                    f = late if is_late else cell
                    if h == "完成率":
                        if pd.isna(v):
                            ws.write_blank(r, c, None, f)
                        else:
                            ws.write_number(r, c, float(v), pct)
                    elif h == "未上报":
                        txt = ("是" if v else "") if isinstance(v, bool) else (str(v) if v else "")
                        ws.write_string(r, c, txt, f)
                    elif isinstance(v, int | float) and not isinstance(v, bool) and not pd.isna(v):
                        ws.write_number(r, c, float(v), f)
                    else:
                        ws.write_string(r, c, "" if v is None or (isinstance(v, float)
                                                                   and pd.isna(v)) else str(v), f)
            ws.freeze_panes(3, 0)
            ws.set_header(f"&L{INTERNAL}")
            ws.set_landscape()
            ws.set_paper(9)
            return ws

        both = pd.concat([summary.townships, summary.villages], ignore_index=True)
        sheet("汇总", both, "巡查周报")
        nr = pd.DataFrame(summary.not_reported, columns=["乡镇", "村"])
        sheet("未上报", nr, "未上报的村 (按未发现计, 请督办)")
        sheet("本周发现", summary.finds.rename(columns={
            "cell_id": "网格编号", "township": "乡镇", "village": "村", "date": "日期",
            "result": "排查结果", "note": "备注"}), "本周发现")
        ws = sheet("趋势", summary.trend.rename(columns={
            "week": "周次", "planned": "计划网格", "checked": "已排查", "found": "发现"}), "近几周")
        ws.insert_image(4 + len(summary.trend), 0, "trend.png",
                        {"image_data": io.BytesIO(png), "x_scale": 0.8, "y_scale": 0.8})
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
