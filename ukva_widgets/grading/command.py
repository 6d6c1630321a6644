"""`ukva student` and `ukva grade`: the instructor's two commands."""

from __future__ import annotations

import argparse
import secrets
import sys
from pathlib import Path

EXERCISES = Path(__file__).resolve().parents[2] / "exercises"


def register(subparsers: argparse._SubParsersAction) -> None:
    student = subparsers.add_parser(
        "student", help="write the student exercise notebooks from exercises/solutions/",
        description="Write exercises/NN-topic.ipynb from exercises/solutions/NN-topic.ipynb: each "
                    "solution block becomes a stub, then the notebook is executed and stored.")
    student.add_argument("solutions", nargs="*", type=Path,
                         help="solution notebooks (default: every exercises/solutions/*.ipynb)")
    student.add_argument("--no-execute", action="store_true", help="write the notebooks without running them")
    student.set_defaults(func=run_student)

    grade = subparsers.add_parser(
        "grade", help="grade submissions in fresh, time- and memory-limited kernels",
        description="Run each submission in a fresh kernel, collect its answers and judge them here. "
                    "Exit status 0 when the batch ran (whatever the grades); 2 for bad arguments.")
    grade.add_argument("target", type=Path, help="a submission .ipynb, or a directory of them")
    grade.add_argument("--json", type=Path, help="write the JSON report here")
    grade.add_argument("--csv", type=Path, help="write the CSV report here (a row per submission)")
    grade.add_argument("--jobs", type=int, default=1, help="submissions graded at once (default 1; two per "
                                                          "core keep the cores busy)")
    grade.add_argument("--seed", type=int, help="grading seed for hidden inputs (default: a fresh random "
                                                "one, written to the JSON report)")
    grade.add_argument("--chapter", help="grade every item of this chapter, e.g. 02 (default: the chapter "
                                         "the notebook's metadata, else its answer variables, name)")
    grade.add_argument("--cell-timeout", type=float, default=20.0, help="seconds per cell (default 20)")
    grade.add_argument("--timeout", type=float, default=90.0, help="seconds for all cells (default 90)")
    grade.add_argument("--memory", type=int, default=2048, help="kernel memory limit in MiB (default 2048)")
    grade.add_argument("--max-output", type=int, default=1024, help="KiB of output kept (default 1024)")
    grade.add_argument("--quiet", action="store_true", help="no progress bar")
    grade.set_defaults(func=run_grade)


def run_student(args: argparse.Namespace) -> int:
    from .student import SolutionMarkupError, write_student_versions

    solutions = args.solutions or sorted((EXERCISES / "solutions").glob("*.ipynb"))
    missing = [p for p in solutions if not p.is_file()]
    if missing or not solutions:
        print(f"ukva student: no such solution notebook: {missing[0] if missing else EXERCISES / 'solutions'}",
              file=sys.stderr)
        return 2
    try:
        for path in write_student_versions(solutions, execute=not args.no_execute):
            print(f"wrote {path}")
    except SolutionMarkupError as exc:
        print(f"ukva student: {exc}", file=sys.stderr)
        return 2
    return 0


def _bad(message: str) -> int:
    print(f"ukva grade: {message}", file=sys.stderr)
    return 2


def run_grade(args: argparse.Namespace) -> int:
    from .batch import grade_all, submissions_in, summary, to_json, write_csv
    from .items import all_items
    from .sandbox import Limits

    if not args.target.exists():
        return _bad(f"{args.target} does not exist; give a submission .ipynb or a directory of them")
    if args.jobs < 1:
        return _bad(f"--jobs must be at least 1, not {args.jobs}")
    item_ids = None
    if args.chapter is not None:
        chapter = args.chapter.lstrip("0") or "0"
        item_ids = [i.id for i in all_items() if i.id.split(".")[0] == chapter]
        if not item_ids:
            chapters = sorted({i.id.split('.')[0].zfill(2) for i in all_items()})
            return _bad(f"there is no chapter {args.chapter!r}; chapters with exercises: {', '.join(chapters)}")
    for out in (args.json, args.csv):
        if out is not None and not out.parent.is_dir():
            return _bad(f"cannot write {out}: the directory {out.parent} does not exist")
    try:
        limits = Limits(args.cell_timeout, args.timeout, args.memory, args.max_output * 1024)
    except ValueError as exc:
        return _bad(str(exc))
    paths = submissions_in(args.target)
    if not paths:
        return _bad(f"no .ipynb files under {args.target}")
    seed = args.seed if args.seed is not None else secrets.randbelow(1_000_000)
    from .sandbox import SandboxUnavailable

    try:
        grades = grade_all(paths, seed, limits, args.jobs, item_ids, progress=not args.quiet)
    except SandboxUnavailable as exc:  # nothing was graded unprotected, and no report is written
        return _bad(str(exc))
    print(summary(grades))
    print(f"grading seed {seed} (pass --seed {seed} to reproduce)", file=sys.stderr)
    if args.json:
        args.json.write_text(to_json(grades, seed))
    if args.csv:
        write_csv(grades, args.csv)
    return 0
