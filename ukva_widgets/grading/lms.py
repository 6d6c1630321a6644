"""Learning management systems in and out: whose file an LMS download is, and a grade file it imports.

In: Canvas's "Download Submissions" names each file `<name>_<user id>_<submission id>_<original>`,
with `_late_` (or `_LATE_`) after the name when it came after the due date, and `-1`, `-2`... added to
the original name of a resubmitted file; the user id is the ID column of Canvas's gradebook export
(the roster's `canvas_id`). Moodle's "Download all submissions" names each file (or, with "download
submissions in folders", each folder) `<full name>_<participant>_assignsubmission_file_<original>`;
the participant number is that of "Participant N" in Moodle's grading worksheet (the roster's
`moodle_id`). Moodle's file names carry no late flag.

Out: one numeric column per student, the assignment's total, in the CSV each one imports as it is:
Canvas's gradebook import (Student, ID, SIS User ID, SIS Login ID, Section, then "<assignment>
(<assignment id>)", a Points Possible row first) and Moodle's grading worksheet (Identifier
"Participant N", Full name, Email address, Grade, Maximum Grade).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .roster import RosterError

if TYPE_CHECKING:
    from .roster import Student

SYSTEMS = ("canvas", "moodle")
_CANVAS = re.compile(r"^(?P<name>[^_]*)_(?:(?P<late>late)_)?(?P<user>\d+)_(?P<submission>\d+)_(?P<original>.+)$",
                     re.IGNORECASE)
_MOODLE = re.compile(r"^(?P<name>.*)_(?P<user>\d+)_assignsubmission_[a-z]+_(?P<original>.*)$")
_COLUMN = {"canvas": "canvas_id", "moodle": "moodle_id"}


@dataclass(frozen=True)
class LmsFile:
    """What an LMS file name says: the student's id in the LMS, lateness, and its order of submission."""

    user: str
    late: bool | None   # None: the LMS does not say
    order: int          # larger = submitted later (Canvas's submission id), 0 if unknown
    original: str       # the file name the student gave


def parse(system: str, relative: Path) -> LmsFile | None:
    """What `system`'s download says about the file at `relative` (under the download folder)."""
    if system == "canvas":
        m = _CANVAS.match(relative.name)
        return LmsFile(m["user"], bool(m["late"]), int(m["submission"]), m["original"]) if m else None
    for part in relative.parts:  # a folder per submission, or the file name itself
        m = _MOODLE.match(part)
        if m:
            return LmsFile(m["user"], None, 0, m["original"] or relative.name)
    return None


def ids_of(system: str, students: dict[str, Student], roster: str) -> dict[str, str]:
    """LMS id -> roster student id, from the roster's `canvas_id` or `moodle_id` column, which every
    student must have (checked before anything is graded)."""
    column = _COLUMN[system]
    where = "the ID column of Canvas's gradebook export" if system == "canvas" else \
        "the N of \"Participant N\" in Moodle's grading worksheet"
    lacking = [s.id for s in students.values() if not s.extra.get(column, "").strip()]
    if lacking:
        raise RosterError(f"{system} needs a {column} column in the roster {roster} ({where}); it has none for "
                          f"{', '.join(lacking[:5])}{' ...' if len(lacking) > 5 else ''}")
    mapping: dict[str, str] = {}
    for s in students.values():
        lms_id = s.extra[column].strip()
        if lms_id in mapping:
            raise RosterError(f"the roster {roster} gives two students the {column} {lms_id}")
        mapping[lms_id] = s.id
    return mapping


def _number(x: float) -> str:
    return f"{round(x, 2):g}"


def canvas_csv(rows: list, title: str, assignment_id: str | None, max_points: float) -> str:
    """Canvas's gradebook import: one assignment column (a new one when there is no assignment id)."""
    from .output import csv_cell

    column = f"{title} ({assignment_id})" if assignment_id else title
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL)
    writer.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", column])
    writer.writerow(["Points Possible", "", "", "", "", _number(max_points)])
    for r in rows:
        extra = r.student.extra
        writer.writerow([csv_cell(r.name or r.key), csv_cell(extra.get("canvas_id", "")),
                         csv_cell(extra.get("sis_user_id", "")), csv_cell(extra.get("sis_login_id", "")),
                         csv_cell(extra.get("section", "")), _number(r.total)])
    return out.getvalue()


def moodle_csv(rows: list) -> str:
    """Moodle's grading worksheet (Upload grading worksheet), matched by the Identifier column."""
    from .output import csv_cell

    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL)
    writer.writerow(["Identifier", "Full name", "Email address", "Grade", "Maximum Grade"])
    for r in rows:
        extra = r.student.extra
        writer.writerow([f"Participant {csv_cell(extra.get('moodle_id', ''))}", csv_cell(r.name),
                         csv_cell(extra.get("email", "")), _number(r.total), _number(r.max_points)])
    return out.getvalue()


def lms_csv(system: str, rows: list, title: str, assignment_id: str | None) -> str:
    """The grade file `system` imports: roster students only (unclaimed files have no LMS id; every
    student's id was checked by `ids_of` before grading)."""
    students = [r for r in rows if r.student is not None]
    if system == "canvas":
        return canvas_csv(students, title, assignment_id, max((r.max_points for r in students), default=0.0))
    return moodle_csv(students)
