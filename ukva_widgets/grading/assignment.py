"""Which file of whose to grade: the assignment manifest, LMS downloads, and one file per student and
chapter.

An assignment manifest (TOML) says what was handed out and when it was due:

    name = "Exercises 01-02"                  # the column title in the LMS export
    notebooks = ["01-unix-process.ipynb", "02-tasks-and-clone.ipynb"]
    due = 2025-03-14T23:59:00+01:00           # optional
    late_penalty = 0.2                        # optional: the share of a late notebook's points taken
    canvas_assignment_id = "12345"            # optional: export into that Canvas column

With a roster, each student's files are grouped by the chapter their name says, and only the latest
of a group is graded (the LMS's order of submission, else the file's modification time): handing in
many files never earns the best of many tries. With a manifest, files of other chapters are not
graded, and a notebook a student did not hand in is flagged and counts 0. A notebook is late when its
LMS says so (Canvas), else (without --from) when its file was last modified after the due date;
`ukva collect` keeps each file's modification time.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .roster import RosterError, chapter_in_name, owner_of, student_seed

if TYPE_CHECKING:
    from .batch import Task
    from .roster import Student


class ManifestError(ValueError):
    """The manifest cannot be used; the message says what and how to fix it."""


@dataclass(frozen=True)
class Manifest:
    name: str
    notebooks: tuple[str, ...]
    due: datetime | None = None
    late_penalty: float = 0.0
    canvas_assignment_id: str | None = None

    @property
    def chapters(self) -> dict[str, str]:
        """chapter -> the notebook handed out for it."""
        return {chapter_in_name(n): n for n in self.notebooks}


def read_manifest(path: Path) -> Manifest:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ManifestError(f"cannot read the manifest {path}: {exc.strerror}") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ManifestError(f"the manifest {path} is not valid TOML: {exc}") from None
    unknown = sorted(set(data) - {"name", "notebooks", "due", "late_penalty", "canvas_assignment_id"})
    if unknown:
        raise ManifestError(f"the manifest {path} has unknown key(s) {', '.join(unknown)}; it knows name, "
                            "notebooks, due, late_penalty, canvas_assignment_id")
    notebooks = data.get("notebooks")
    if not isinstance(notebooks, list) or not notebooks or not all(isinstance(n, str) for n in notebooks):
        raise ManifestError(f"the manifest {path} needs notebooks = [\"01-unix-process.ipynb\", ...]")
    bad = [n for n in notebooks if chapter_in_name(n) is None]
    if bad:
        raise ManifestError(f"the manifest {path}: {bad[0]!r} names no chapter; use the names handed out "
                            "(NN-topic.ipynb)")
    due = data.get("due")
    if due is not None and not isinstance(due, datetime):
        raise ManifestError(f"the manifest {path}: due must be a TOML date-time like 2025-03-14T23:59:00+01:00")
    if isinstance(due, datetime) and due.tzinfo is None:
        due = due.astimezone()  # a local date-time means this machine's time zone
    penalty = data.get("late_penalty", 0.0)
    if isinstance(penalty, bool) or not isinstance(penalty, (int, float)) or not 0 <= penalty <= 1:
        raise ManifestError(f"the manifest {path}: late_penalty is a share of the points from 0 to 1, not {penalty!r}")
    canvas = data.get("canvas_assignment_id")
    return Manifest(str(data.get("name") or path.stem), tuple(notebooks), due, float(penalty),
                    None if canvas is None else str(canvas))


@dataclass
class Handed:
    """One file handed in: whose, for which chapter, when, and whether late."""

    path: Path
    owner: str | None
    chapter: str | None
    order: tuple[Any, ...]  # sorts in order of submission
    late: bool = False
    said: str = ""  # what the LMS file name said, for the report


@dataclass
class Plan:
    tasks: list[Task]
    manifest: Manifest | None = None
    handed: dict[str, Handed] = field(default_factory=dict)      # by path, the files graded
    superseded: list[Handed] = field(default_factory=list)       # handed in, not graded (a later one was)
    outside: list[Handed] = field(default_factory=list)          # not part of the manifest's assignment
    missing: dict[str, list[str]] = field(default_factory=dict)  # student -> notebooks not handed in


def _mtime(path: Path) -> float:
    try:
        return path.lstat().st_mtime
    except OSError:
        return 0.0


def _handed(path: Path, root: Path, students: dict[str, Student] | None, lms: str | None,
            lms_ids: dict[str, str], manifest: Manifest | None) -> Handed:
    from . import lms as lms_files

    try:
        relative = path.relative_to(root)
    except ValueError:
        relative = Path(path.name)
    mtime = _mtime(path)
    if lms is not None:
        said = lms_files.parse(lms, relative)
        if said is not None:
            owner = lms_ids.get(said.user)
            late = bool(said.late)
            text = f"{lms} user {said.user}{', late' if late else ''}"
            return Handed(path, owner, chapter_in_name(said.original), (said.order, mtime, str(path)), late, text)
    owner = owner_of(path, root, students) if students is not None else None
    late = lms is None and bool(manifest and manifest.due and mtime > manifest.due.timestamp())
    return Handed(path, owner, chapter_in_name(path.name), (0, mtime, str(path)), late)


def plan(paths: list[Path], root: Path, students: dict[str, Student] | None, key: bytes | None,
         item_ids: list[str] | None = None, chapter: str | None = None, manifest: Manifest | None = None,
         lms: str | None = None, roster: str = "") -> Plan:
    """A grading task per file to grade, with its owner's variant seed; with a roster, the latest
    file per student and chapter only."""
    from .batch import Task
    from .lms import ids_of

    if lms is not None and students is None:
        raise RosterError(f"--from {lms} needs --roster (with the students' {lms} ids)")
    lms_ids = ids_of(lms, students, roster) if lms is not None else {}
    handed = [_handed(p, root, students, lms, lms_ids, manifest) for p in paths]
    result = Plan([], manifest)
    wanted = manifest.chapters if manifest is not None else None
    groups: dict[tuple[str, str | None], list[Handed]] = {}
    for h in handed:
        if wanted is not None and h.chapter not in wanted:
            result.outside.append(h)
            continue
        if h.owner is None:
            groups[(str(h.path), h.chapter)] = [h]
        else:
            groups.setdefault((h.owner, h.chapter), []).append(h)
    for (_, chapter_of), group in groups.items():
        group.sort(key=lambda h: h.order)
        latest = group[-1]
        result.superseded += group[:-1]
        result.handed[str(latest.path)] = latest
        task = Task(latest.path, item_ids, chapter, root=root if root.is_dir() else latest.path.parent)
        if students is not None:
            if latest.owner is None:
                what = f"{latest.said}: no roster line has that {lms} id" if latest.said else \
                    "no roster line claims this file (put it in the folder of its student)"
                task.flags.append(f"{what}; judged on the seeds it shows")
            else:
                task.owner, task.name = (latest.owner, student_seed(key, latest.owner)), students[latest.owner].name
        if len(group) > 1:
            task.flags.append(f"graded the latest of {len(group)} files for chapter {chapter_of or '(none named)'}; "
                              "not graded: " + ", ".join(h.path.name for h in group[:-1]))
        if latest.late:
            task.flags.append("late" + (f" ({latest.said})" if latest.said else
                                        f" (modified after the due date {manifest.due.isoformat()})"))
        result.tasks.append(task)
    result.tasks.sort(key=lambda t: str(t.path))
    if manifest is not None and students is not None:
        for sid in students:
            have = {h.chapter for h in result.handed.values() if h.owner == sid}
            lacking = [n for c, n in manifest.chapters.items() if c not in have]
            if lacking:
                result.missing[sid] = lacking
    return result
