"""The reports of a graded batch: JSON (every notebook in detail), CSV (a row per student, or per file
without a roster), HTML feedback pages (feedback.py), an LMS grade file (lms.py) and a terminal
summary. Points come from the judges, the manual sheet (manual.py) and the late penalty; copies are
found by copies.py. Whatever a submission controls is made safe by output.py where it is shown.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .items import find_item
from .output import clean_tree, csv_cell, printable
from .scoring import RULE

if TYPE_CHECKING:
    from .assignment import Plan
    from .copies import Shared
    from .grader import ItemGrade, SubmissionGrade
    from .manual import HandScore
    from .roster import Student

INTERRUPTED_PREFIX = "not graded: interrupted"
AWAITING = "awaiting grading"
ANSWER_KEPT = 64 * 1024  # characters of an answer the reports keep (a manual answer is a few sentences)


def kept_answer(answer: Any) -> Any:
    """The answer as the reports keep it: whole, unless it is a text longer than any real answer."""
    if isinstance(answer, str) and len(answer) > ANSWER_KEPT:
        return answer[:ANSWER_KEPT] + f" [... {len(answer) - ANSWER_KEPT} more characters not kept]"
    return answer


@dataclass
class ItemView:
    """One item of one submission as the reports show it."""

    id: str
    title: str
    points: float | None  # None: a manually graded answer awaiting grading
    max_points: float
    status: str           # correct, partly right, not yet, not answered, awaiting grading, graded by hand
    feedback: str
    answer: Any
    seed: int | None
    comment: str = ""     # the grader's comment on a manually graded answer

    @property
    def passed(self) -> bool | None:
        return None if self.points is None else self.points >= self.max_points


@dataclass
class Row:
    """One line of the CSV: a roster student, or (unclaimed, or without a roster) one file."""

    key: str                      # the student id, or the file's path
    name: str = ""
    student: Student | None = None
    claimed: str = ""             # without a roster: the STUDENT the notebook claims
    grades: list[SubmissionGrade] = field(default_factory=list)
    points: dict[str, float | None] = field(default_factory=dict)
    total: float = 0.0
    max_points: float = 0.0
    penalty: float = 0.0          # points taken for lateness
    status: str = "graded"
    flags: list[str] = field(default_factory=list)


@dataclass
class Report:
    grades: list[SubmissionGrade]
    grading_seed: int
    students: dict[str, Student] | None = None  # the roster, if one was given
    roster_path: str = ""
    interrupted: bool = False
    isolation: str = ""
    plan: Plan | None = None
    scores: dict[tuple[str, str, str], HandScore] = field(default_factory=dict)  # the manual sheet's
    cached: set[str] = field(default_factory=set)  # paths whose results came from an earlier report
    cache: dict[str, dict[str, Any]] = field(default_factory=dict)  # path -> what a rerun reuses it by
    root: Path | None = None  # the folder graded: feedback pages of files are named relative to it
    shared: list[Shared] = field(init=False)

    def __post_init__(self) -> None:
        from .copies import shared_work

        self.shared = shared_work([g for g in self.grades if not _interrupted(g)])

    # --- what each part says ------------------------------------------------------------

    @property
    def manifest(self) -> Any:
        return self.plan.manifest if self.plan is not None else None

    @property
    def variants(self) -> str:
        if self.students is None:
            return ("unchecked: no --roster, so each notebook was judged on the seed it shows and "
                    "nothing ties a notebook to a student")
        return (f"checked against the roster {self.roster_path} ({len(self.students)} students): "
                "each notebook judged on its owner's own variant")

    def item_view(self, g: SubmissionGrade, i: ItemGrade) -> ItemView:
        from .manual import score_of

        item = find_item(i.id)
        title = item.title if item is not None else ""
        if i.manual:
            hand = score_of(self.scores, g, i)
            if hand is None:
                return ItemView(i.id, title, None, i.max_points, AWAITING, i.feedback, kept_answer(i.answer),
                                i.seed)
            return ItemView(i.id, title, hand.points, i.max_points, "graded by hand",
                            i.feedback, kept_answer(i.answer), i.seed,
                            hand.comment)
        points = round(i.points, 2)
        status = ("not answered" if i.feedback.startswith("not answered yet") else
                  "correct" if i.passed else "partly right" if points > 0 else "not yet")
        return ItemView(i.id, title, points, i.max_points, status, i.feedback, kept_answer(i.answer), i.seed)

    def late(self, g: SubmissionGrade) -> float:
        """The share of `g`'s points taken for lateness."""
        if self.plan is None or self.manifest is None:
            return 0.0
        handed = self.plan.handed.get(g.path)
        return self.manifest.late_penalty if handed is not None and handed.late else 0.0

    def submission_points(self, g: SubmissionGrade) -> tuple[float, float, int]:
        """(points after the late penalty, maximum, answers awaiting grading) of one submission."""
        views = [self.item_view(g, i) for i in g.items]
        got = sum(v.points or 0.0 for v in views) * (1 - self.late(g))
        return round(got, 2), round(sum(v.max_points for v in views), 2), sum(v.points is None for v in views)

    def shared_with(self, g: SubmissionGrade) -> list[str]:
        return [s.text(g) for s in self.shared if g is s.first or g is s.second]

    # --- rows ---------------------------------------------------------------------------

    def columns(self) -> list[str]:
        from .grader import chapter_items

        if self.manifest is not None:
            ids = [i for chapter in self.manifest.chapters for i in chapter_items(chapter)]
        else:
            ids = list({i.id: None for g in self.grades for i in g.items})
        return sorted(ids, key=lambda i: tuple(int(x) for x in i.split(".")))

    def rows(self) -> list[Row]:
        """One row per roster student (then one per unclaimed file), or one per file."""
        columns = self.columns()
        if self.students is None:
            return [self._row(Row(g.path, claimed=_claimed(g)), [g], columns) for g in self.grades]
        mine: dict[str, list[SubmissionGrade]] = defaultdict(list)
        for g in self.grades:
            mine[g.student_id or ""].append(g)
        rows = [self._row(Row(s.id, s.name, s), mine.get(s.id, []), columns) for s in self.students.values()]
        rows += [self._row(Row(g.path, claimed=_claimed(g)), [g], columns) for g in mine.get("", [])]
        return rows

    def _row(self, row: Row, grades: list[SubmissionGrade], columns: list[str]) -> Row:
        order = self.plan.handed if self.plan is not None else {}
        # In order of submission: where two files answer one item, the later one counts.
        row.grades = sorted(grades, key=lambda g: order[g.path].order if g.path in order else (0, 0.0, g.path))
        maxima = {c: item.max_points for c in columns if (item := find_item(c)) is not None}
        for g in row.grades:
            row.flags += [f"{Path(g.path).name}: {f}" for f in g.flags]
            factor = 1 - self.late(g)
            for i in g.items:
                view = self.item_view(g, i)
                row.points[i.id] = view.points
                maxima.setdefault(i.id, i.max_points)
                if view.points and factor < 1:
                    row.penalty += view.points * (1 - factor)
        row.penalty = round(row.penalty, 2)
        row.total = round(sum(p or 0.0 for p in row.points.values()) - row.penalty, 2)
        roster_row = row.student is not None
        row.max_points = round(sum(maxima[c] for c in (maxima if roster_row else row.points)), 2)
        if roster_row and self.plan is not None:
            row.flags += [f"missing {n}" for n in self.plan.missing.get(row.key, [])]
        if not row.grades:
            row.status = "no submission"
            row.flags.append("no submission")
        elif any(_interrupted(g) for g in row.grades):
            row.status = "interrupted"
        elif any(p is None for p in row.points.values()):
            row.status = AWAITING
        return row

    # --- the files ----------------------------------------------------------------------

    def submission_record(self, g: SubmissionGrade) -> dict[str, Any]:
        """A submission in detail: `points` and `max_points` as judged automatically (manually graded
        items are in neither), `total` and `total_max` with the hand scores, out of every item, after
        the late penalty."""
        record = asdict(g)
        total, most, waiting = self.submission_points(g)
        record.update(total=total, total_max=most, awaiting_grading=waiting, late_penalty=self.late(g),
                      isolation=g.isolation or self.isolation, reused=g.path in self.cached,
                      shared_work=self.shared_with(g), cache=self.cache.get(g.path),
                      items=[{**asdict(v), "passed": v.passed} for v in (self.item_view(g, i) for i in g.items)])
        return record

    def not_graded(self) -> list[dict[str, Any]]:
        if self.plan is None:
            return []
        return ([{"path": str(h.path), "student_id": h.owner, "why": "a later file of the same student and "
                  "chapter was graded"} for h in self.plan.superseded] +
                [{"path": str(h.path), "student_id": h.owner, "why": "not part of the assignment (the manifest "
                  "lists " + ", ".join(self.manifest.notebooks) + ")"} for h in self.plan.outside])

    def to_json(self) -> str:
        rows = []
        for r in self.rows():
            who = {"student_id": r.key, "name": r.name} if r.student is not None else \
                {"file": r.key, "claimed_student": r.claimed}
            rows.append({**who, "points": r.total, "max_points": r.max_points, "status": r.status,
                         "late_penalty": r.penalty, "items": r.points, "files": [g.path for g in r.grades],
                         "flags": r.flags})
        manifest = self.manifest
        return json.dumps(clean_tree({
            "scoring": RULE, "grading_seed": self.grading_seed, "interrupted": self.interrupted,
            "isolation": self.isolation, "variants": self.variants,
            "assignment": None if manifest is None else {
                "name": manifest.name, "notebooks": list(manifest.notebooks),
                "due": manifest.due.isoformat() if manifest.due else None, "late_penalty": manifest.late_penalty},
            "flags": [{"path": g.path, "student_id": g.student_id, "flag": f} for g in self.grades for f in g.flags],
            "shared_work": [{"files": [s.first.path, s.second.path],
                             "students": [s.first.student_id, s.second.student_id],
                             "items": list(s.items), "chance": s.chance, "expected_pairs": s.expected}
                            for s in self.shared],
            "students" if self.students is not None else "files": rows,
            "submissions": [self.submission_record(g) for g in self.grades],
            "not_graded": self.not_graded(),
        }), indent=2) + "\n"

    def to_csv(self) -> str:
        columns = self.columns()
        out = io.StringIO()
        writer = csv.writer(out, quoting=csv.QUOTE_ALL)
        who = ["student_id", "name"] if self.students is not None else ["file", "claimed student"]
        writer.writerow([*who, *columns, "total", "max_points", "status", "late_penalty", "files", "flags", "error"])
        for r in self.rows():
            errors = "; ".join(f"{Path(g.path).name}: {g.error}" for g in r.grades if g.error)
            first = [r.key, r.name] if self.students is not None and r.student is not None else \
                [r.key, r.claimed] if self.students is None else ["", f"unclaimed: {r.key}"]
            cells = [AWAITING if c in r.points and r.points[c] is None else
                     f"{r.points[c]:g}" if c in r.points else "" for c in columns]
            shared = [t for g in r.grades for t in self.shared_with(g)]
            writer.writerow([csv_cell(c) for c in (
                *first, *cells, f"{r.total:g}", f"{r.max_points:g}", r.status, f"{r.penalty:g}",
                "; ".join(g.path for g in r.grades), "; ".join(r.flags + shared), errors)])
        return out.getvalue()

    def lms_csv(self, system: str) -> str:
        from .lms import lms_csv

        manifest = self.manifest
        title = manifest.name if manifest is not None else "ukva exercises"
        return lms_csv(system, self.rows(), title, manifest.canvas_assignment_id if manifest else None)

    def summary(self) -> list[str]:
        """For the terminal (escaped for it): a line per submission, then what to look at, then how it
        was judged."""
        lines = []
        for g in self.grades:
            points, most, waiting = self.submission_points(g)
            who = f"  [{g.student_id}]" if g.student_id else ""
            tail = f"  ({g.error})" if g.error else ""
            extra = f" + {waiting} {AWAITING}" if waiting else ""
            late = f" (late: -{self.late(g):.0%})" if self.late(g) else ""
            cached = "  (from the previous report)" if g.path in self.cached else ""
            lines.append(f"{points:g}/{most:g}{extra}{late}  {g.path}{who}{tail}{cached}")
        flagged = [(g.path, f) for g in self.grades for f in g.flags]
        if self.students is not None:
            missing = [s.id for s in self.students.values() if not any(g.student_id == s.id for g in self.grades)]
            if missing:
                flagged.append(("", f"no submission from {len(missing)} student(s): {', '.join(missing)}"))
        if self.plan is not None:
            flagged += [("", f"{sid} did not hand in {', '.join(names)}") for sid, names in self.plan.missing.items()
                        if any(g.student_id == sid for g in self.grades)]
        flagged += [(s.first.path, s.text(s.first)) for s in self.shared]
        lines += [f"FLAG {path + ': ' if path else ''}{f}" for path, f in flagged]
        if self.not_graded():
            lines.append(f"not graded: {len(self.not_graded())} file(s) (a later one of the same student and "
                         "chapter, or not part of the assignment); listed in the JSON report")
        waiting = sum(self.submission_points(g)[2] for g in self.grades)
        if waiting:
            lines.append(f"{waiting} manually graded answer(s) {AWAITING}: score them in the --manual sheet")
        lines.append(f"isolation: {self.isolation}" if self.isolation else
                     "isolation: as recorded with each result (every one came from the previous report)"
                     if self.cached else
                     "isolation: not reported")
        lines.append(f"variants: {self.variants}")
        if self.interrupted:
            done = sum(1 for g in self.grades if not _interrupted(g))
            lines.append(f"INTERRUPTED: {done} of {len(self.grades)} submissions graded; the report is partial")
        return [printable(line) for line in lines]

    def feedback_pages(self) -> dict[str, str]:
        from .feedback import pages

        return pages(self, self.root)


def _interrupted(g: SubmissionGrade) -> bool:
    return (g.error or "").startswith(INTERRUPTED_PREFIX)


def _claimed(g: SubmissionGrade) -> str:
    said = g.notebook.get("STUDENT")
    return said if isinstance(said, str) else ""
