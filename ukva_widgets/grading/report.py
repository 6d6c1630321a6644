"""Reports an instructor can rely on: JSON per notebook, CSV per student, HTML feedback per student,
and a terminal summary — written atomically, never through a symbolic link, with whatever a
submission controls (file names, error text, answers) escaped for where it is shown.
"""

from __future__ import annotations

import csv
import html
import io
import json
import os
import re
import tempfile
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .items import get_item

if TYPE_CHECKING:
    from .grader import SubmissionGrade
    from .roster import Student

# Control characters (C0, DEL, C1) and the invisible format characters that reorder or hide text
# (zero-width, bidi overrides and isolates, line/paragraph separators).
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]")


def printable(text: Any) -> str:
    """`text` safe for a terminal: every control or invisible format character shown escaped."""
    def escape(m: re.Match) -> str:
        code = ord(m.group())
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    return _UNPRINTABLE.sub(escape, str(text))


def csv_cell(value: Any) -> str:
    """A CSV cell a spreadsheet never runs as a formula: a leading = + - @ (or tab, carriage
    return) gets a quote before it, as OWASP's CSV-injection advice says."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


class ReportError(OSError):
    pass


def write_atomic(path: Path, text: str, mode: int = 0o600) -> str | None:
    """Write `text` to `path` through a temporary file in the same directory and os.replace: a
    reader sees the old file or the whole new one, never half. rename(2) replaces a symbolic link
    at `path` itself and never writes through it; returns a note when it did. The file gets
    `mode` (0600 by default: grades are private)."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        raise ReportError(f"cannot write the report {path}: it is a directory")
    was_link = path.is_symlink()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return f"{path} was a symbolic link: it was replaced by the report (its target was not touched)" \
        if was_link else None


@dataclass
class StudentRow:
    """One line of the CSV: a roster student (or, without a roster, one submission)."""

    student_id: str
    name: str
    points: dict[str, float] = field(default_factory=dict)
    total: float = 0.0
    max_points: float = 0.0
    files: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    grades: list[SubmissionGrade] = field(default_factory=list)
    manual: set[str] = field(default_factory=set)  # items answered for the instructor to grade


@dataclass
class Report:
    grades: list[SubmissionGrade]
    grading_seed: int
    students: dict[str, Student] | None = None  # the roster, if one was given
    roster_path: str = ""
    interrupted: bool = False
    isolation: str = ""

    def __post_init__(self) -> None:
        self._flag_identical_answers()

    def _flag_identical_answers(self) -> None:
        groups: dict[tuple, list[SubmissionGrade]] = defaultdict(list)
        for g in self.grades:
            if g.answers_digest:
                groups[(g.chapter, g.answers_digest)].append(g)
        for same in groups.values():
            owners = {g.student_id or g.path for g in same}
            if len(owners) < 2:
                continue
            for g in same:
                others = ", ".join(f"{o.path} ({o.student_id})" if o.student_id else o.path
                                   for o in same if (o.student_id or o.path) != (g.student_id or g.path))
                flag = f"identical answers to {others}"
                if flag not in g.flags:
                    g.flags.append(flag)

    @property
    def variants(self) -> str:
        if self.students is None:
            return ("unchecked: no --roster, so each notebook was judged on the seed it shows and "
                    "nothing ties a notebook to a student")
        return (f"checked against the roster {self.roster_path} ({len(self.students)} students): "
                "each notebook judged on its owner's own variant")

    def columns(self) -> list[str]:
        ids = {i.id for g in self.grades for i in g.items}
        return sorted(ids, key=lambda i: tuple(int(x) for x in i.split(".")))

    def rows(self) -> list[StudentRow]:
        """One row per roster student (then one per unclaimed file), or one per submission."""
        columns = self.columns()
        # A manually graded item is the instructor's to add: it is in no automatic maximum.
        maxima = {i.id: 0.0 if get_item(i.id).kind == "manual" else i.max_points
                  for g in self.grades for i in g.items}
        rows: list[StudentRow] = []
        if self.students is None:
            for g in self.grades:
                said = g.notebook.get("STUDENT")
                rows.append(self._row(said if isinstance(said, str) else "", "", [g], columns, maxima))
            return rows
        mine: dict[str, list[SubmissionGrade]] = defaultdict(list)
        for g in self.grades:
            mine[g.student_id or ""].append(g)
        for student in self.students.values():
            rows.append(self._row(student.id, student.name, mine.get(student.id, []), columns, maxima))
        for g in mine.get("", []):
            rows.append(self._row("", "", [g], columns, maxima))
        return rows

    def _row(self, sid: str, name: str, grades: list[SubmissionGrade], columns: list[str],
             maxima: dict[str, float]) -> StudentRow:
        row = StudentRow(sid, name, files=[g.path for g in grades], grades=grades)
        by_item: dict[str, list[tuple[float, str]]] = defaultdict(list)
        for g in grades:
            row.flags += [f"{Path(g.path).name}: {f}" for f in g.flags]
            for i in g.items:
                by_item[i.id].append((i.points, g.path))
                if i.manual:
                    row.manual.add(i.id)
        for item_id, got in by_item.items():
            if len(got) > 1:
                row.flags.append(f"{len(got)} files answer item {item_id}; the best counts: "
                                 + ", ".join(Path(p).name for _, p in got))
        row.points = {c: max(p for p, _ in by_item[c]) for c in columns if c in by_item}
        row.total = round(sum(row.points.values()), 6)
        # With a roster every student is out of the same total: a missing notebook scores 0.
        if self.students is not None and sid:
            row.max_points = sum(maxima[c] for c in columns)
            if not grades:
                row.flags.append("no submission")
        else:
            row.max_points = sum(maxima[c] for c in columns if c in by_item)
        return row

    # --- the files ---------------------------------------------------------------------

    def to_json(self) -> str:
        submissions = []
        for g in self.grades:
            record = asdict(g)
            record["isolation"] = g.isolation or self.isolation
            submissions.append(record)
        students = [{"student_id": r.student_id, "name": r.name, "points": r.total, "max_points": r.max_points,
                     "items": r.points, "files": r.files, "flags": r.flags} for r in self.rows()]
        return json.dumps({
            "grading_seed": self.grading_seed, "interrupted": self.interrupted,
            "isolation": self.isolation, "variants": self.variants,
            "flags": [{"path": g.path, "student_id": g.student_id, "flag": f} for g in self.grades for f in g.flags],
            "students": students, "submissions": submissions,
        }, indent=2) + "\n"

    def to_csv(self) -> str:
        columns = self.columns()
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["student_id", "name", *columns, "total", "max_points", "files", "flags", "error"])
        for r in self.rows():
            errors = "; ".join(f"{Path(g.path).name}: {g.error}" for g in r.grades if g.error)
            writer.writerow([csv_cell(c) for c in (
                r.student_id, r.name,
                *("manual" if c in r.manual else f"{r.points[c]:g}" if c in r.points else "" for c in columns),
                f"{r.total:g}", f"{r.max_points:g}", "; ".join(r.files), "; ".join(r.flags), errors)])
        return out.getvalue()

    def summary(self) -> str:
        """For the terminal: a line per submission, the flags, and how it was all judged."""
        lines = []
        for g in self.grades:
            who = f"  [{g.student_id}]" if g.student_id else ""
            tail = f"  ({g.error})" if g.error else ""
            manual = sum(1 for i in g.items if i.manual)
            by_hand = f" + {manual} to grade by hand" if manual else ""
            lines.append(printable(f"{g.points:g}/{g.max_points:g}{by_hand}  {g.path}{who}{tail}"))
        flagged = [(g, f) for g in self.grades for f in g.flags]
        if self.students is not None:
            missing = [s.id for s in self.students.values() if not any(g.student_id == s.id for g in self.grades)]
            if missing:
                flagged.append((None, f"no submission from {len(missing)} student(s): {', '.join(missing)}"))
        for g, f in flagged:
            lines.append(printable(f"FLAG {g.path + ': ' if g else ''}{f}"))
        lines.append(printable(f"isolation: {self.isolation or 'not reported'}"))
        lines.append(printable(f"variants: {self.variants}"))
        if self.interrupted:
            done = sum(1 for g in self.grades if not (g.error or "").startswith("not graded: interrupted"))
            lines.append(f"INTERRUPTED: {done} of {len(self.grades)} submissions graded; the report is partial")
        return "\n".join(lines)

    def feedback_pages(self) -> dict[str, str]:
        """One self-contained HTML page per student (file name -> page). Flags stay with the
        instructor: they may name classmates."""
        pages: dict[str, str] = {}
        for n, r in enumerate(self.rows()):
            if not r.grades:
                continue
            # Without a roster the id is whatever the notebook says: only safe characters, no dot-files.
            base = re.sub(r"[^A-Za-z0-9._@-]", "_", r.student_id or Path(r.files[0]).stem)[:64].lstrip(".")
            base = base or f"submission-{n}"
            name = f"{base}.html"
            if name in pages:
                name = f"{base}-{n}.html"
            pages[name] = _feedback_html(r)
        return pages


_STYLE = ("body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}"
          "table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:.4rem;"
          "vertical-align:top;text-align:left}td.pts{white-space:nowrap}.ok{color:#1b7837}.no{color:#b35806}"
          "pre{white-space:pre-wrap}")


def _feedback_html(row: StudentRow) -> str:
    e = html.escape
    who = e(f"{row.name} ({row.student_id})" if row.name else row.student_id or Path(row.files[0]).name)
    parts = [f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
             f"<title>Feedback: {who}</title><style>{_STYLE}</style></head><body>",
             f"<h1>Feedback for {who}</h1>",
             f"<p>Total: <strong>{row.total:g} / {row.max_points:g}</strong> points.</p>"]
    for g in row.grades:
        parts.append(f"<h2>{e(Path(g.path).name)}</h2>")
        if g.chapter:
            parts.append(f"<p>Chapter {e(g.chapter)}: {g.points:g} / {g.max_points:g} points.</p>")
        if g.error:
            parts.append(f"<p>While running your notebook:</p><pre>{e(g.error)}</pre>")
        parts.append("<table><tr><th>item</th><th>points</th><th>why</th></tr>")
        for i in g.items:
            mark = ('<span class="ok">&#10004; correct</span>' if i.passed
                    else '<span class="no">&#10008; not yet</span>')
            parts.append(f"<tr><td>{e(i.id)}</td><td class=\"pts\">{i.points:.3g} / {i.max_points:g} {mark}</td>"
                         f"<td>{e(i.feedback)}</td></tr>")
        parts.append("</table>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
