"""The weekly summary for leaders: planned, checked, found; who did not report.

From the history database (plans and ingested ledgers) for one ISO week, per
township and village: cells planned (latest plan run), planned cells checked,
cells checked outside the plan, cells with a find, and the villages that
returned nothing (未上报). The plan counts "not reported" as "nothing found", but
those villages are listed so that leaders can follow up. A chart shows the last
weeks (planned / checked / found).

Outputs (``riskmap weekly``): ``weekly.html`` (self-contained, the chart inlined),
``weekly.xlsx`` and ``weekly.png`` in ``<out>/`` (default
``<project output>/weekly/<week>/``), each written atomically.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from riskmap.export.atomic import atomic_file, check_free
from riskmap.field.history import History, Week
from riskmap.marks import INTERNAL

WEEKLY_FILES = ("weekly.html", "weekly.xlsx", "weekly.png")
COLUMNS = ["乡镇", "村", "计划网格", "计划内已查", "计划外排查", "发现网格", "完成率", "未上报"]


@dataclass
class WeeklySummary:
    """One week's numbers."""

    week: Week
    villages: pd.DataFrame  # COLUMNS, one row per village
    townships: pd.DataFrame  # same columns, 村 = "合计"
    not_reported: list[tuple[str, str]]
    trend: pd.DataFrame  # week, planned, checked, found
    finds: pd.DataFrame  # cell_id, township, village, date, result, note
    notes: list[str] = field(default_factory=list)


def weekly_summary(history: History, week, *, weeks: int = 8, townships=None) -> WeeklySummary:
    """Count one week from the history database.

    Parameters
    ----------
    history : History
    week : Week or str
    weeks : int
        Weeks in the trend (ending with ``week``).
    townships : list of str, optional
        Only these townships (default: all with a plan or an inspection).

    Returns
    -------
    WeeklySummary
    """
    week = Week.parse(week)
    plan = history.planned(week)
    insp = history.inspections(week, week)
    if townships:
        plan = plan[plan["township"].isin(townships)]
        insp = insp[insp["township"].isin(townships)]
    insp = insp.fillna({"township": "(区外)", "village": "(未划村)"})
    keys = sorted(set(zip(plan["township"], plan["village"], strict=True))
                  | set(zip(insp["township"], insp["village"], strict=True)))
    planned_ids = set(zip(plan["township"], plan["cell_id"], strict=True))
    rows = []
    for t, v in keys:
        p = plan[(plan["township"] == t) & (plan["village"] == v)]
        i = insp[(insp["township"] == t) & (insp["village"] == v)]
        ids = set(i["cell_id"])
        pids = set(p["cell_id"])
        in_plan = len(ids & pids)
        rows.append({"乡镇": t, "村": v, "计划网格": len(pids), "计划内已查": in_plan,
                     "计划外排查": len(ids - pids),
                     "发现网格": i.loc[i["found"], "cell_id"].nunique(),
                     "未上报": bool(len(pids) and not len(i))})
    vdf = pd.DataFrame(rows, columns=[c for c in COLUMNS if c != "完成率"])
    vdf.insert(6, "完成率", _rate(vdf["计划内已查"], vdf["计划网格"]))
    if len(vdf):
        tdf = vdf.groupby("乡镇", sort=True).agg(
            {"计划网格": "sum", "计划内已查": "sum", "计划外排查": "sum", "发现网格": "sum",
             "未上报": "sum"}).reset_index()
        tdf.insert(1, "村", "合计")
        tdf.insert(6, "完成率", _rate(tdf["计划内已查"], tdf["计划网格"]))
        tdf["未上报"] = tdf["未上报"].astype(int)
    else:
        tdf = pd.DataFrame(columns=COLUMNS)
    not_rep = [(r["乡镇"], r["村"]) for _, r in vdf.iterrows() if r["未上报"]]
    trend = []
    for k in range(weeks - 1, -1, -1):
        w = week.shift(-k)
        pw = history.planned(w)
        iw = history.inspections(w, w)
        if townships:
            pw = pw[pw["township"].isin(townships)]
            iw = iw[iw["township"].isin(townships)]
        trend.append({"week": str(w), "planned": len(pw), "checked": iw["cell_id"].nunique(),
                      "found": iw.loc[iw["found"], "cell_id"].nunique()})
    finds = insp.loc[insp["found"], ["cell_id", "township", "village", "date", "result", "note"]]
    s = WeeklySummary(week, vdf, tdf, not_rep, pd.DataFrame(trend), finds.reset_index(drop=True))
    outside = {(t, c) for t, c in zip(insp["township"], insp["cell_id"], strict=True)}
    if len(outside - planned_ids):
        s.notes.append(f"计划外排查 {len(outside - planned_ids)} 个网格 (cells checked outside the "
                       "plan)")
    return s


def _rate(done, planned) -> pd.Series:
    planned = pd.Series(planned, dtype=float)
    return (pd.Series(done, dtype=float) / planned.where(planned > 0)).round(3)


# --------------------------------------------------------------------------- outputs
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


def run_weekly(project, week, *, out=None, overwrite: bool = False, townships=None,
               weeks: int = 8) -> tuple[WeeklySummary, list[Path]]:
    """Write the weekly summary of ``week`` (HTML, XLSX, PNG).

    Parameters
    ----------
    project : Project
    week : Week or str
    out : Path, optional
        Folder (default ``<project output>/weekly/<week>``).
    overwrite : bool
        Replace existing files.
    townships : list of str, optional
        Only these townships.
    weeks : int
        Weeks in the chart.

    Returns
    -------
    (WeeklySummary, list of Path)

    Raises
    ------
    ExportError
        Existing files without ``overwrite``.
    """
    from riskmap.export.fonts import find_cjk_font
    from riskmap.field.history import open_history

    week = Week.parse(week)
    folder = Path(out) if out else project.output / "weekly" / str(week)
    for f in WEEKLY_FILES:
        check_free(folder / f, overwrite)
    with open_history(project) as hist:
        summary = weekly_summary(hist, week, weeks=weeks, townships=townships)
    png = trend_png(summary, find_cjk_font(project.map.get("font")))
    with atomic_file(folder / "weekly.png", overwrite) as tmp:
        tmp.write_bytes(png)
    with atomic_file(folder / "weekly.html", overwrite) as tmp:
        tmp.write_text(weekly_html(summary, png, project.name), encoding="utf-8")
    write_weekly_xlsx(summary, folder / "weekly.xlsx", png, overwrite=overwrite,
                      project_name=project.name)
    return summary, [folder / f for f in WEEKLY_FILES]
