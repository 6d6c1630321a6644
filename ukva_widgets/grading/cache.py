"""Results that outlive a run, kept in the JSON reports themselves: a rerun after Ctrl-C resumes where
it stopped, a regrade only runs what changed, and `--only` merges one student's new grades into the
existing report.

Every submission in a JSON report carries the hash of everything its result depends on: the file's
bytes, the grading seed, its owner and variant seed, the items and limits asked for, and the code that
runs and judges it (the engine and the grading package but its reporting modules, and the items an
instructor added), so a changed notebook, a new seed or a fixed judge is graded afresh and nothing else
is. A rerun with the same --json reuses, from that report and from its .partial twin, every result whose
hash matches. Manual scores and late penalties are applied when the report is made: they never need a
regrade.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .output import read_regular, sha256

if TYPE_CHECKING:
    from .batch import Task
    from .grader import SubmissionGrade
    from .sandbox import Limits

PACKAGE = Path(__file__).resolve().parents[1]
# What only plans, reports or prints (never changes what a submission's grade is): not in the hash.
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
    """A SubmissionGrade again, from a JSON report's submission (or the grades a failed run kept)."""
    from .grader import ItemGrade, SubmissionGrade

    items = []
    for i in record.get("items", []):
        manual = bool(i.get("manual")) or i.get("status") in ("awaiting grading", "graded by hand")
        items.append(ItemGrade(i["id"], 0.0 if manual or i.get("points") is None else float(i["points"]),
                               float(i["max_points"]), bool(i.get("passed")) and not manual, i.get("feedback", ""),
                               manual, i.get("answer"), i.get("seed")))
    known = {f.name for f in fields(SubmissionGrade)} - {"items"}
    return SubmissionGrade(**{k: v for k, v in record.items() if k in known}, items=items)


def partial_path(path: Path) -> Path:
    """Where an interrupted run writes `path`'s report: grades.json -> grades.partial.json."""
    return path.with_name(f"{path.stem}.partial{path.suffix}")


class Cache:
    """The results of earlier runs (the reports at `report` and its .partial twin), by hash."""

    def __init__(self, report: Path | None, grading_seed: int, limits: Limits, items_source: str = "") -> None:
        self.base = [code_fingerprint(items_source), grading_seed, repr(limits)]
        self.found: dict[str, dict[str, Any]] = {}
        for path in (partial_path(report), report) if report is not None else ():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue  # no such report yet, or one that cannot be read: nothing to reuse from it
            for record in data.get("submissions", []) if isinstance(data, dict) else []:
                cached = record.get("cache") if isinstance(record, dict) else None
                if isinstance(cached, dict) and isinstance(cached.get("key"), str):
                    self.found[cached["key"]] = record

    def key(self, task: Task) -> str | None:
        """The hash a task's result is kept under (None: its file cannot be read as a regular file)."""
        digest = sha256(read_regular(task.path))
        if digest is None:
            return None
        return hashlib.sha256(json.dumps([*self.base, digest, task.owner, task.item_ids, task.chapter]).encode()
                              ).hexdigest()

    def get(self, task: Task, key: str | None) -> SubmissionGrade | None:
        record = self.found.get(key) if key is not None else None
        if record is None:
            return None
        try:
            g = grade_from_record(record)
        except (TypeError, KeyError, ValueError):
            return None  # a record this version cannot read back is graded afresh
        # The same bytes may have moved, and what the plan says about the file (a later file superseded,
        # late) is today's: only what grading found is kept.
        g.path, g.flags = str(task.path), [*task.flags, *record["cache"].get("found_flags", [])]
        if task.owner:
            g.student_id, g.name = task.owner[0], task.name
        return g


def cache_record(key: str | None, task_flags: list[str], g: SubmissionGrade) -> dict[str, Any] | None:
    """What a report keeps to reuse `g`: its hash and the flags grading found (not the plan's)."""
    if key is None:
        return None
    found = g.flags[len(task_flags):] if g.flags[:len(task_flags)] == task_flags else g.flags
    return {"key": key, "found_flags": found}


class MergeError(ValueError):
    """The report to merge into cannot be used."""


def load_report(path: Path) -> tuple[int, list[SubmissionGrade], dict[str, Any]]:
    """The grading seed, the submissions and their cache records (by path) of a JSON report (for
    `--only`)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MergeError(f"--only merges into an existing report: {path} does not exist (grade the whole "
                         "class once with --json first)") from None
    except (OSError, ValueError) as exc:
        raise MergeError(f"cannot read the report {path} to merge into: {exc}") from None
    if not isinstance(data, dict) or "submissions" not in data or "grading_seed" not in data:
        raise MergeError(f"{path} is not a report of `ukva grade --json`")
    try:
        grades = [grade_from_record(r) for r in data["submissions"]]
        records = {g.path: r["cache"] for g, r in zip(grades, data["submissions"]) if r.get("cache")}
        return int(data["grading_seed"]), grades, records
    except (TypeError, KeyError, ValueError) as exc:
        raise MergeError(f"{path} holds a submission that cannot be read back ({exc})") from None
