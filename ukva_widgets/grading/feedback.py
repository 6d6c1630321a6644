"""One self-contained HTML feedback page per student (or per file, without a roster): the scoring rule
once, then for every item the problem the student was given, their answer, the points and why. Flags
and shared-work notes stay in the instructor's reports: they may name classmates."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .items import get_item
from .output import html_text as e
from .scoring import RULE

if TYPE_CHECKING:
    from .report import Report, Row

_STYLE = ("body{font-family:system-ui,sans-serif;max-width:62rem;margin:2rem auto;padding:0 1rem;color:#222}"
          "table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:.4rem;"
          "vertical-align:top;text-align:left}td.pts{white-space:nowrap}.ok{color:#1b7837}.no{color:#b35806}"
          ".wait{color:#6c757d}pre{white-space:pre-wrap;margin:.2rem 0}details summary{cursor:pointer}")
_MARKS = {"correct": ('ok', "&#10004; correct"), "graded by hand": ('ok', "&#10004; graded by hand"),
          "partly right": ('no', "&#9680; partly right"), "not yet": ('no', "&#10008; not yet"),
          "not answered": ('no', "&#10008; not answered"), "awaiting grading": ('wait', "&#9675; awaiting grading")}


def _page_name(row: Row, root: Path | None, n: int) -> str:
    """A safe file name: the student id, else the file's path (relative to the graded folder)."""
    if row.student is not None:
        base = row.key
    else:
        path = Path(row.key)
        try:
            path = path.relative_to(root) if root is not None else path
        except ValueError:
            pass
        base = "_".join(path.with_suffix("").parts)
    base = re.sub(r"[^A-Za-z0-9._@-]", "_", base)[:96].lstrip(".")
    return f"{base or f'submission-{n}'}.html"


def _answer_text(answer: Any) -> str:
    if isinstance(answer, str):
        return answer
    if isinstance(answer, dict) and set(answer) == {"$set"}:
        answer = answer["$set"]
        return "{" + ", ".join(json.dumps(a) for a in answer) + "}"
    return json.dumps(answer, ensure_ascii=False)


def _problem(item_id: str, seed: int | None) -> str:
    if seed is None:
        return ""
    try:
        return get_item(item_id).problem(seed).text
    except Exception:  # an item no longer known here: the page still shows the rest
        return ""


def page(report: Report, row: Row) -> str:
    who = e(f"{row.name} ({row.key})" if row.name else row.key)
    parts = [f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
             f"<title>Feedback: {who}</title><style>{_STYLE}</style></head><body>",
             f"<h1>Feedback for {who}</h1>",
             f"<p>Total: <strong>{row.total:g} / {row.max_points:g}</strong> points"
             + (f" (late: {row.penalty:g} points taken)" if row.penalty else "")
             + (" &mdash; some answers are still awaiting grading." if row.status == "awaiting grading" else ".")
             + "</p>", f"<p><small>{e(RULE)}</small></p>"]
    for g in row.grades:
        points, most, _ = report.submission_points(g)
        parts.append(f"<h2>{e(Path(g.path).name)}</h2>")
        if g.chapter:
            parts.append(f"<p>Chapter {e(g.chapter)}: {points:g} / {most:g} points.</p>")
        if g.error:
            parts.append(f"<p>While running your notebook:</p><pre>{e(g.error)}</pre>")
        parts.append("<table><tr><th>item</th><th>points</th><th>the problem, your answer, and why</th></tr>")
        for i in g.items:
            v = report.item_view(g, i)
            css, mark = _MARKS.get(v.status, ("no", e(v.status)))
            shown = "&ndash;" if v.points is None else f"{v.points:g}"
            problem = _problem(v.id, v.seed)
            cell = [f"<details><summary>the problem</summary><pre>{e(problem)}</pre></details>" if problem else "",
                    f"<p>Your answer:</p><pre>{e(_answer_text(v.answer))}</pre>" if v.answer is not None else "",
                    f"<p>{e(v.feedback)}</p>" if v.status != "graded by hand" else "",
                    f"<p>Your instructor's comment: {e(v.comment)}</p>" if v.comment else ""]
            parts.append(f"<tr><td>{e(v.id)}<br><small>{e(v.title)}</small></td><td class=\"pts\">{shown} / "
                         f"{v.max_points:g}<br><span class=\"{css}\">{mark}</span></td><td>{''.join(cell)}</td></tr>")
        parts.append("</table>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def pages(report: Report, root: Path | None = None) -> dict[str, str]:
    """File name -> page, for every row with something handed in."""
    out: dict[str, str] = {}
    for n, row in enumerate(report.rows()):
        if not row.grades:
            continue
        name = _page_name(row, root, n)
        if name in out:
            name = name.replace(".html", f"-{n}.html")
        out[name] = page(report, row)
    return out
