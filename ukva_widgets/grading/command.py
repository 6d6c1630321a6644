"""`ukva student` and `ukva grade`: the instructor's two commands."""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path

from .report import printable
from .roster import RosterError

EXERCISES = Path(__file__).resolve().parents[2] / "exercises"


SEED_HELP = ("The grading seed (hidden test inputs of code answers) comes, first found, from --seed, "
             "--seed-file, the environment variable UKVA_GRADING_SEED, the course key, or a fresh random "
             "one; it is written to the JSON report. It never needs to be on a command line (which "
             "other processes can read): prefer --seed-file or UKVA_GRADING_SEED.")
KEY_HELP = "the course key (default: the environment variable UKVA_COURSE_KEY, which keeps it off command lines)"


def register(subparsers: argparse._SubParsersAction) -> None:
    student = subparsers.add_parser(
        "student", help="write the student exercise notebooks (with --roster: a folder per student)",
        description="Write exercises/NN-topic.ipynb from exercises/solutions/NN-topic.ipynb: each "
                    "solution block becomes a stub, then the notebook is executed and stored. With "
                    "--roster and --out, write instead one folder per student, OUT/<student_id>/, "
                    "whose notebooks carry that student's id and seed (HMAC-SHA256 of the course "
                    "key and the id, so no one can compute a classmate's variant); `ukva grade OUT "
                    "--roster ...` computes the seeds again and judges each student on their own.")
    student.add_argument("solutions", nargs="*", type=Path,
                         help="solution notebooks (default: every exercises/solutions/*.ipynb)")
    student.add_argument("--no-execute", action="store_true", help="write the notebooks without running them")
    student.add_argument("--roster", type=Path, help="a CSV with the columns student_id,name")
    student.add_argument("--out", type=Path, help="with --roster: the folder to write the student folders in")
    student.add_argument("--key", help=KEY_HELP)
    student.set_defaults(func=run_student)

    grade = subparsers.add_parser(
        "grade", help="grade submissions in fresh, sandboxed, time- and memory-limited kernels",
        description="Run each submission in a fresh kernel, collect its answers and judge them here. "
                    "With --roster, each file belongs to the student whose folder it is in "
                    "(DIR/<student_id>/...) and is judged on that student's variant; mismatches, "
                    "unclaimed files and identical answer sets are flagged. " + SEED_HELP +
                    " Exit status 0 when the batch ran (whatever the grades); 2 for bad arguments or "
                    "when the sandbox cannot be made; 130 when interrupted (Ctrl-C: the partial report "
                    "is written, marked \"interrupted\").")
    grade.add_argument("target", type=Path, help="a submission .ipynb, or a directory of them")
    grade.add_argument("--json", type=Path, help="write the JSON report here (every notebook in detail)")
    grade.add_argument("--csv", type=Path, help="write the CSV report here (a row per student)")
    grade.add_argument("--feedback", type=Path, metavar="DIR",
                       help="write one HTML feedback page per student into DIR")
    grade.add_argument("--roster", type=Path, help="a CSV with the columns student_id,name: check variants")
    grade.add_argument("--key", help=KEY_HELP)
    grade.add_argument("--jobs", type=int, default=1, help="submissions graded at once (default 1; two per "
                                                          "core keep the cores busy)")
    grade.add_argument("--seed", type=int, help="the grading seed (see above; --seed-file or "
                                                "UKVA_GRADING_SEED keep it off the command line)")
    grade.add_argument("--seed-file", type=Path, help="a file holding the grading seed")
    grade.add_argument("--chapter", help="grade every item of this chapter, e.g. 02 (default: the chapter "
                                         "the file name says, as in 02-tasks-and-clone.ipynb; for a file "
                                         "whose name says none, the notebook's)")
    grade.add_argument("--no-sandbox", action="store_true",
                       help="grade without the per-submission sandbox (the report says so)")
    grade.add_argument("--cell-timeout", type=float, default=20.0,
                       help="seconds per cell, then it is interrupted (default 20)")
    grade.add_argument("--timeout", type=float, default=90.0,
                       help="seconds for a whole submission: kernel starts, cells, replays and answers (default 90)")
    grade.add_argument("--memory", type=int, default=2048, help="kernel memory limit in MiB (default 2048)")
    grade.add_argument("--max-output", type=int, default=1024, help="KiB of output kept (default 1024)")
    grade.add_argument("--quiet", action="store_true", help="no progress bar")
    grade.set_defaults(func=run_grade)


def run_student(args: argparse.Namespace) -> int:
    from .roster import RosterError
    from .student import SolutionMarkupError, write_roster_versions, write_student_versions

    solutions = args.solutions or sorted((EXERCISES / "solutions").glob("*.ipynb"))
    missing = [p for p in solutions if not p.is_file()]
    if missing or not solutions:
        print(f"ukva student: no such solution notebook: {missing[0] if missing else EXERCISES / 'solutions'}",
              file=sys.stderr)
        return 2
    if (args.roster is None) != (args.out is None):
        print("ukva student: --roster and --out go together (a folder per student on the roster, in OUT)",
              file=sys.stderr)
        return 2
    try:
        if args.roster is not None:
            for path in write_roster_versions(solutions, args.roster, args.out, args.key):
                print(f"wrote {printable(path)}")
            return 0
        for path in write_student_versions(solutions, execute=not args.no_execute):
            print(f"wrote {path}")
    except (SolutionMarkupError, RosterError) as exc:
        print(f"ukva student: {printable(exc)}", file=sys.stderr)
        return 2
    return 0


def _bad(message: str) -> int:
    print(f"ukva grade: {printable(message)}", file=sys.stderr)
    return 2


def _grading_seed(args: argparse.Namespace, key: bytes | None) -> tuple[int, str]:
    """The grading seed and where it came from (see SEED_HELP)."""
    from .roster import SEED_ENV, derived_grading_seed, parse_seed

    if args.seed is not None:
        if args.seed < 0:
            raise RosterError(f"--seed must be a non-negative whole number, not {args.seed}")
        return args.seed, "--seed"
    if args.seed_file is not None:
        try:
            text = args.seed_file.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise RosterError(f"cannot read the seed file {args.seed_file}: {exc}") from None
        return parse_seed(text, f"the seed file {args.seed_file}"), f"the seed file {args.seed_file}"
    if os.environ.get(SEED_ENV, "").strip():
        return parse_seed(os.environ[SEED_ENV], SEED_ENV), SEED_ENV
    if key is not None:
        return derived_grading_seed(key), "the course key"
    return secrets.randbelow(1_000_000), "a random draw"


def _check_outputs(args: argparse.Namespace) -> str | None:
    for out in (args.json, args.csv):
        if out is None:
            continue
        if not out.parent.is_dir():
            return f"cannot write {out}: the directory {out.parent} does not exist"
        if out.is_dir() and not out.is_symlink():
            return f"cannot write {out}: it is a directory; give a file name"
    if args.feedback is not None:
        if args.feedback.is_symlink() or (args.feedback.exists() and not args.feedback.is_dir()):
            return f"--feedback {args.feedback} must be a directory (not a file or a symbolic link)"
        if not args.feedback.parent.is_dir():
            return f"cannot write feedback into {args.feedback}: {args.feedback.parent} does not exist"
    return None


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split()) or "the sandbox cannot be made"


def run_grade(args: argparse.Namespace) -> int:
    from .batch import plan, run_batch, submissions_in
    from .grader import chapter_items
    from .items import all_items
    from .report import Report, ReportError, write_atomic
    from .roster import course_key, read_roster
    from .sandbox import Limits, SandboxUnavailable, check_available

    if not args.target.exists():
        return _bad(f"{args.target} does not exist; give a submission .ipynb or a directory of them")
    if args.jobs < 1:
        return _bad(f"--jobs must be at least 1, not {args.jobs}")
    item_ids = None
    if args.chapter is not None:
        item_ids = chapter_items(args.chapter)
        if not args.chapter.isdigit() or not item_ids:
            chapters = sorted({i.id.split('.')[0].zfill(2) for i in all_items()})
            return _bad(f"there is no chapter {args.chapter!r}; chapters with exercises: {', '.join(chapters)}")
    problem = _check_outputs(args)
    if problem:
        return _bad(problem)
    try:
        students = read_roster(args.roster) if args.roster is not None else None
        key = course_key(args.key)
        if students is not None and key is None:
            return _bad("--roster needs the course key the notebooks were made with: --key K, or set "
                        "UKVA_COURSE_KEY")
        seed, seed_from = _grading_seed(args, key)
    except RosterError as exc:
        return _bad(str(exc))
    try:
        limits = Limits(args.cell_timeout, args.timeout, args.memory, args.max_output * 1024,
                        sandbox=not args.no_sandbox)
    except ValueError as exc:
        return _bad(str(exc))
    paths = submissions_in(args.target)
    if not paths:
        return _bad(f"no .ipynb files under {args.target}")
    try:  # before anything is graded: refuse rather than grade unprotected
        isolation = check_available(limits)
    except SandboxUnavailable as exc:
        return _bad(f"nothing graded: {_one_line(exc)}")
    except KeyboardInterrupt:
        print("ukva grade: interrupted before grading started; nothing graded, nothing written", file=sys.stderr)
        return 130
    tasks = plan(paths, args.target, students, key, item_ids, args.chapter and args.chapter.zfill(2))
    try:
        batch = run_batch(tasks, seed, limits, args.jobs, progress=not args.quiet)
    except SandboxUnavailable as exc:
        return _bad(f"nothing graded: {_one_line(exc)}")
    if args.no_sandbox:
        for g in batch.grades:
            g.isolation = isolation
    report = Report(batch.grades, seed, students, str(args.roster or ""), batch.interrupted, isolation)
    print(report.summary())
    print(printable(f"grading seed {seed} (from {seed_from}; in the JSON report; to reproduce, put it in a "
                    "--seed-file or UKVA_GRADING_SEED)"), file=sys.stderr)
    try:
        notes = []
        if args.json:
            notes.append(write_atomic(args.json, report.to_json()))
        if args.csv:
            notes.append(write_atomic(args.csv, report.to_csv()))
        if args.feedback:
            args.feedback.mkdir(exist_ok=True)
            for name, page in report.feedback_pages().items():
                notes.append(write_atomic(args.feedback / name, page))
    except (OSError, ReportError) as exc:
        print(printable(f"ukva grade: could not write a report: {exc}"), file=sys.stderr)
        return 1
    for note in filter(None, notes):
        print(printable(f"ukva grade: {note}"), file=sys.stderr)
    return 130 if batch.interrupted else 0
