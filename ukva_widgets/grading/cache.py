"""Results that outlive a run: a cache of graded submissions, so that a rerun after Ctrl-C resumes
where it stopped and a regrade only runs what changed; and the existing report that `--only`
merges one student's new grades into.

A submission's result is kept under the hash of everything it depends on: the file's bytes, the
grading seed, its owner and variant seed, the items and limits asked for, and the grading code itself
(every module of the package and the items an instructor added), so a changed notebook, a new seed or
a fixed judge is graded afresh, and nothing else is. Manual scores and late penalties are applied when
the report is made, so they never need a regrade.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import asdict, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .output import read_regular, sha256, write_atomic

if TYPE_CHECKING:
    from .batch import Task
    from .grader import SubmissionGrade
    from .sandbox import Limits

PACKAGE = Path(__file__).resolve().parents[1]
# What only plans, reports or prints (never changes what a submission's grade is): not in the key.
REPORT_ONLY = {"assignment.py", "cache.py", "command.py", "copies.py", "feedback.py", "grade_command.py",
               "keys.py", "lms.py", "manual.py", "output.py", "release.py", "report.py"}


@functools.cache
def code_fingerprint(extra: str = "") -> str:
    """A hash of the code and data that run and judge a submission (the engine, the grading package but
    its reporting modules) and of `extra`, the source of the instructor's own items."""
    h = hashlib.sha256(extra.encode())
    for folder in (PACKAGE / "engine", PACKAGE / "grading"):
        for path in sorted(folder.rglob("*")):
            if path.suffix in (".py", ".json") and "__pycache__" not in path.parts and path.name not in REPORT_ONLY:
                h.update(str(path.relative_to(PACKAGE)).encode())
                h.update(path.read_bytes())
    return h.hexdigest()


def grade_from_record(record: dict[str, Any]) -> SubmissionGrade:
    """A SubmissionGrade again, from a cache entry or a JSON report's submission."""
    from .grader import ItemGrade, SubmissionGrade

    items = []
    for i in record.get("items", []):
        manual = bool(i.get("manual")) or i.get("status") in ("awaiting grading", "graded by hand")
        items.append(ItemGrade(i["id"], 0.0 if manual or i.get("points") is None else float(i["points"]),
                               float(i["max_points"]), bool(i.get("passed")) and not manual, i.get("feedback", ""),
                               manual, i.get("answer"), i.get("seed")))
    known = {f.name for f in fields(SubmissionGrade)} - {"items"}
    return SubmissionGrade(**{k: v for k, v in record.items() if k in known}, items=items)


class Cache:
    """Graded submissions on disk (a private folder), by what they depend on."""

    def __init__(self, folder: Path, grading_seed: int, limits: Limits, items_source: str = "") -> None:
        self.folder = folder
        self.base = [code_fingerprint(items_source), grading_seed, repr(limits)]

    def _entry(self, task: Task) -> Path | None:
        digest = sha256(read_regular(task.path))
        if digest is None:
            return None
        key = json.dumps([*self.base, digest, task.owner, task.item_ids, task.chapter])
        return self.folder / (hashlib.sha256(key.encode()).hexdigest() + ".json")

    def get(self, task: Task) -> SubmissionGrade | None:
        entry = self._entry(task)
        if entry is None or not entry.is_file():
            return None
        try:
            g = grade_from_record(json.loads(entry.read_text()))
        except (OSError, ValueError, TypeError, KeyError):
            return None  # a damaged entry is graded afresh
        # The same bytes may have moved, and what the plan says about the file (a later file superseded,
        # late) is today's: only what grading found is kept.
        g.path, g.flags = str(task.path), [*task.flags, *g.flags]
        if task.owner:
            g.student_id, g.name = task.owner[0], task.name
        return g

    def put(self, task: Task, g: SubmissionGrade) -> None:
        entry = self._entry(task)
        if entry is None:
            return
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        found = asdict(g)
        found["flags"] = g.flags[len(task.flags):] if g.flags[:len(task.flags)] == task.flags else g.flags
        write_atomic(entry, json.dumps(found) + "\n")


def partial_path(path: Path) -> Path:
    """Where an interrupted run writes `path`'s report: grades.json -> grades.partial.json."""
    return path.with_name(f"{path.stem}.partial{path.suffix}")


class MergeError(ValueError):
    """The report to merge into cannot be used."""


def load_report(path: Path) -> tuple[int, list[SubmissionGrade]]:
    """The grading seed and the submissions of a complete JSON report (for `--only`)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MergeError(f"--only merges into an existing report: {path} does not exist (grade the whole "
                         "class once with --json first)") from None
    except (OSError, ValueError) as exc:
        raise MergeError(f"cannot read the report {path} to merge into: {exc}") from None
    if not isinstance(data, dict) or "submissions" not in data or "grading_seed" not in data:
        raise MergeError(f"{path} is not a report of `ukva grade --json`")
    if data.get("interrupted"):
        raise MergeError(f"{path} is the report of an interrupted run; rerun the whole class (finished "
                         "notebooks come from the cache) before regrading one student")
    try:
        return int(data["grading_seed"]), [grade_from_record(r) for r in data["submissions"]]
    except (TypeError, KeyError, ValueError) as exc:
        raise MergeError(f"{path} holds a submission that cannot be read back ({exc})") from None
