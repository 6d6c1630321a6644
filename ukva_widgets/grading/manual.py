"""Manually graded items: the sheet a teaching assistant fills in, and its scores in the reports.

`ukva grade ... --manual manual.csv` writes every answer awaiting grading into manual.csv (one row
per student and item, with the problem the student was given and their whole answer). Fill in
`points` (and, if you like, `comment`, which the student's feedback page shows), then run the same
command again: the scores go into the totals, the CSV, the JSON and the feedback pages, and answers
that are new since are added to the sheet. Rows already in the sheet are never changed. A score
belongs to one answer (`answer_id`): if the student hands in a different text, the old score no
longer applies and the new answer gets a row of its own.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .grader import ItemGrade, SubmissionGrade

COLUMNS = ["student_id", "file", "item", "max_points", "points", "comment", "answer_id", "prompt", "answer"]


class ManualError(ValueError):
    """The sheet cannot be used; the message says where and how to fix it."""


@dataclass(frozen=True)
class HandScore:
    points: float
    comment: str
    where: str  # "manual.csv, line 4"


def answer_id(answer: Any) -> str:
    """Which answer a score belongs to: the answer's text, whitespace aside."""
    return hashlib.sha256(" ".join(str(answer).split()).encode()).hexdigest()[:12]


def owner_key(g: SubmissionGrade) -> str:
    """Whose answer a row is: the roster student, else the file, as the sheet's cell shows it."""
    from .output import csv_cell

    return csv_cell(g.student_id or g.path)


def _rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return list(COLUMNS), []
    except (OSError, UnicodeDecodeError) as exc:
        raise ManualError(f"cannot read the manual sheet {path}: {exc}") from None
    reader = csv.DictReader(io.StringIO(text))
    header = list(reader.fieldnames or [])
    missing = [c for c in ("student_id", "file", "item", "points", "answer_id") if c not in header]
    if missing:
        raise ManualError(f"the manual sheet {path} lacks the column(s) {', '.join(missing)}; keep the columns "
                          "ukva grade wrote (delete the file to start a new sheet)")
    return header, list(reader)


def read_scores(path: Path, maxima: dict[str, float]) -> dict[tuple[str, str, str], HandScore]:
    """The scores given in the sheet, by (student id or file, item, answer id); `maxima` is each
    item's maximum. A score that is not a number from 0 to the maximum is an error naming its line."""
    _, rows = _rows(path)
    scores = {}
    for line, row in enumerate(rows, 2):
        given = (row.get("points") or "").strip()
        if not given:
            continue
        item = (row.get("item") or "").strip()
        where = f"{path.name}, line {line}"
        if item not in maxima:
            raise ManualError(f"{where}: there is no manually graded item {item!r}")
        try:
            points = float(given.replace(",", "."))
        except ValueError:
            points = -1.0
        if not 0 <= points <= maxima[item]:
            raise ManualError(f"{where}: points {given!r} is not a number from 0 to {maxima[item]:g}")
        key = (row.get("student_id") or row.get("file") or "").strip()
        scores[(key, item, (row.get("answer_id") or "").strip())] = \
            HandScore(round(points, 2), (row.get("comment") or "").strip(), where)
    return scores


def score_of(scores: dict[tuple[str, str, str], HandScore], g: SubmissionGrade, i: ItemGrade) -> HandScore | None:
    return scores.get((owner_key(g), i.id, answer_id(i.answer)))


def awaiting(grades: list[SubmissionGrade]) -> list[tuple[SubmissionGrade, ItemGrade]]:
    """Every manually graded answer handed in (recorded, long enough to grade)."""
    return [(g, i) for g in grades for i in g.items if i.manual]


def sheet_text(path: Path, grades: list[SubmissionGrade], prompt) -> str | None:
    """The sheet with a row added for every answer it does not have yet (None: nothing to add).
    `prompt(item_grade)` gives the problem text the student was given."""
    header, rows = _rows(path)
    have = {((r.get("student_id") or r.get("file") or "").strip(), (r.get("item") or "").strip(),
             (r.get("answer_id") or "").strip()) for r in rows}
    new = []
    for g, i in awaiting(grades):
        key = (owner_key(g), i.id, answer_id(i.answer))
        if key in have:
            continue
        have.add(key)
        new.append({"student_id": g.student_id or "", "file": g.path, "item": i.id,
                    "max_points": f"{i.max_points:g}", "points": "", "comment": "", "answer_id": key[2],
                    "prompt": prompt(i), "answer": str(i.answer)})
    if not new:
        return None
    from .output import csv_cell

    out = io.StringIO()
    writer = csv.DictWriter(out, header + [c for c in COLUMNS if c not in header], quoting=csv.QUOTE_ALL,
                            extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    for row in new:
        writer.writerow({k: csv_cell(v) for k, v in row.items()})
    return out.getvalue()
