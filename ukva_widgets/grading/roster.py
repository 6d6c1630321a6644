"""Variants that belong to the student: a roster, a course key, and who owns which submission.

`ukva student --roster roster.csv --out DIR` gives every student on the roster a folder of
exercise notebooks whose seed is HMAC-SHA256(course key, student id): a student cannot compute a
classmate's seed, and `ukva grade DIR --roster roster.csv` computes every seed again itself, so a
notebook is always judged on its owner's variant, whatever seed is written in it.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

KEY_ENV = "UKVA_COURSE_KEY"
SEED_ENV = "UKVA_GRADING_SEED"
# A student id is also a folder name: letters, digits and . _ @ - (no separators, no dot-files).
STUDENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


class RosterError(ValueError):
    """The roster, the key or the seed is unusable; the message says what and how to fix it."""


# Optional roster columns: the student's ids in an LMS, for `--from canvas|moodle` and the
# `--csv-format` exports (Canvas: the ID, SIS User ID, SIS Login ID and Section columns of its
# gradebook export; Moodle: the number of "Participant N" in its grading worksheet, and the email).
EXTRA_COLUMNS = ("canvas_id", "sis_user_id", "sis_login_id", "section", "moodle_id", "email")


@dataclass(frozen=True)
class Student:
    id: str
    name: str
    extra: dict[str, str] = field(default_factory=dict, compare=False)  # EXTRA_COLUMNS given


def read_roster(path: Path) -> dict[str, Student]:
    """The students of a roster CSV with the columns student_id,name (in file order)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise RosterError(f"cannot read the roster {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise RosterError(f"the roster {path} is not UTF-8 text; save it as CSV (UTF-8)") from None
    rows = list(csv.DictReader(text.splitlines()))
    header = [h.strip() for h in (csv.DictReader(text.splitlines()).fieldnames or [])]
    if "student_id" not in header or "name" not in header:
        raise RosterError(f"the roster {path} needs a header line with the columns student_id,name "
                          f"(it has {', '.join(header) or 'none'})")
    students: dict[str, Student] = {}
    for line, row in enumerate(rows, 2):
        row = {(k or "").strip(): (v or "").strip() for k, v in row.items() if isinstance(v, str)}
        sid = row.get("student_id", "")
        if not sid and not row.get("name"):
            continue  # a blank line
        if not STUDENT_ID.fullmatch(sid) or sid in (".", ".."):
            raise RosterError(f"{path}, line {line}: the student id {sid!r} is not usable as a folder name "
                              "(use letters, digits and . _ @ -, at most 64, not starting with . _ @ -)")
        if sid.casefold() in {s.casefold() for s in students}:
            raise RosterError(f"{path}, line {line}: the student id {sid!r} appears twice")
        students[sid] = Student(sid, row.get("name", ""), {c: row[c] for c in EXTRA_COLUMNS if row.get(c)})
    if not students:
        raise RosterError(f"the roster {path} lists no students")
    return students


def course_key(given: str | None) -> bytes | None:
    """The course key from --key, else the UKVA_COURSE_KEY environment variable, else None."""
    key = given if given is not None else os.environ.get(KEY_ENV)
    if key is None:
        return None
    if len(key) < 8:
        raise RosterError("the course key must be at least 8 characters (a long random string, e.g. "
                          "from `python -c 'import secrets; print(secrets.token_urlsafe())'`)")
    return key.encode()


def student_seed(key: bytes, student_id: str) -> int:
    """The student's variant seed: unguessable without the course key, stable with it."""
    digest = hmac.new(key, b"ukva-student-seed/" + student_id.casefold().encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:4], "big")


def derived_grading_seed(key: bytes) -> int:
    """A grading seed (for hidden test inputs) derived from the course key."""
    digest = hmac.new(key, b"ukva-grading-seed", hashlib.sha256).digest()
    return int.from_bytes(digest[:4], "big") % 1_000_000


def parse_seed(text: str, where: str) -> int:
    try:
        seed = int(text.strip())
    except ValueError:
        raise RosterError(f"{where} must hold a whole number (the grading seed), not {text.strip()[:40]!r}") from None
    if seed < 0:
        raise RosterError(f"{where} must hold a non-negative grading seed, not {seed}")
    return seed


def owner_of(path: Path, root: Path, students: dict[str, Student]) -> str | None:
    """The roster student a submission belongs to: its folder right under `root` (DIR/<id>/...),
    or for a file directly in `root`, a file name that is the id or starts with "<id>_"."""
    by_fold = {s.casefold(): s for s in students}
    try:
        rel = path.relative_to(root)
    except ValueError:
        rel = Path(path.name)
    if len(rel.parts) > 1:
        return by_fold.get(rel.parts[0].casefold())
    if root == path and path.parent.name.casefold() in by_fold:  # `ukva grade DIR/<id>/x.ipynb`
        return by_fold[path.parent.name.casefold()]
    stem = path.stem.casefold()
    matches = [s for f, s in by_fold.items() if stem == f or stem.startswith(f + "_")]
    return max(matches, key=len) if matches else None


_CHAPTER_IN_NAME = re.compile(r"(?<![0-9])([0-9]{2})-[A-Za-z]")


def chapter_in_name(name: str) -> str | None:
    """The chapter a file name says, like "01" in 01-unix-process.ipynb or ada_01-unix-process.ipynb."""
    found = _CHAPTER_IN_NAME.search(name)
    return found.group(1) if found else None
