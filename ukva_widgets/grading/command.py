"""The instructor's commands: `ukva student` (make and release the notebooks), `ukva grade`,
`ukva key` (a student's answer key, for teaching assistants), and on JupyterHub `ukva fetch` (run on
a student's server) and `ukva collect` (release.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .grade_command import EXERCISES, KEY_HELP, SEED_HELP, add_arguments, run_grade
from .output import printable, say
from .roster import RosterError


def register(subparsers: argparse._SubParsersAction) -> None:
    from .release import register as register_release

    student = subparsers.add_parser(
        "student", help="write the student exercise notebooks (with --roster: a folder per student)",
        description="Write exercises/NN-topic.ipynb from exercises/solutions/NN-topic.ipynb: each "
                    "solution block becomes a stub and each hidden-tests block goes, then the notebook is "
                    "executed and stored (and, in a checkout, the answer key is sealed into the package's "
                    "sealed.json). With --roster and --out, write instead one folder per student, "
                    "OUT/<student_id>/, whose notebooks carry that student's id and seed (HMAC-SHA256 of the "
                    "course key and the id, so no one can compute a classmate's variant): hand it out, or on "
                    "JupyterHub make it the release folder that `ukva fetch` reads; `ukva grade OUT --roster "
                    "...` computes the seeds again and judges each student on their own.")
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
                    "(DIR/<student_id>/...), or with --from canvas|moodle whose LMS name it has, and is judged "
                    "on that student's variant; only the latest file per student and chapter is graded; "
                    "mismatches, unclaimed files and work shared beyond chance are flagged. Graded notebooks "
                    "are cached, so a rerun only grades what changed. " + SEED_HELP +
                    " Exit status 0 when the batch ran (whatever the grades); 2 for bad arguments or "
                    "when the sandbox cannot be made; 1 when a report could not be written; 130 when "
                    "interrupted (Ctrl-C: the reports go to NAME.partial.EXT, a complete report is left alone).")
    add_arguments(grade)
    grade.set_defaults(func=run_grade)

    key = subparsers.add_parser(
        "key", help="print a student's answer key (their problems and the model answers), for TAs",
        description="Print every item of a student's variant: the problem they were given, the model answer "
                    "(a predict-then-explain item's outcome and reason) and, for a manually graded item, its "
                    "rubric. Needs the answer key (a checkout of the course) and, for a roster student, the "
                    "course key.")
    key.add_argument("student", nargs="?", help="the student id on the roster")
    key.add_argument("--roster", type=Path, help="the roster (with the course key: the student's variant)")
    key.add_argument("--key", help=KEY_HELP)
    key.add_argument("--seed", type=int, help="instead of a student: the variant seed a notebook shows")
    key.add_argument("--chapter", action="append", help="only this chapter (e.g. 02; may be repeated)")
    key.add_argument("--solutions", type=Path, metavar="DIR",
                     help="the solution notebooks (rubrics, an instructor's own items; default: the checkout's)")
    key.set_defaults(func=run_key)
    register_release(subparsers)


def run_student(args: argparse.Namespace) -> int:
    from .sealed import SEALED, SealedError, is_sealed, seal
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
            say(f"wrote {path}" for path in write_roster_versions(solutions, args.roster, args.out, args.key))
            return 0
        written = write_student_versions(solutions, execute=not args.no_execute)
        if not is_sealed() and all(p.parent == EXERCISES for p in written):
            SEALED.write_text(seal())
            written.append(SEALED)
        say(f"wrote {path}" for path in written)
    except (SolutionMarkupError, RosterError, SealedError) as exc:
        print(f"ukva student: {printable(exc)}", file=sys.stderr)
        return 2
    return 0


def run_key(args: argparse.Namespace) -> int:
    from .bank import BankError, load_solutions
    from .grade_command import Refused, solution_notebooks
    from .keys import KeyUnavailable, answer_key
    from .roster import course_key, read_roster, student_seed

    def bad(message: str) -> int:
        print(f"ukva key: {printable(message)}", file=sys.stderr)
        return 2

    try:
        solutions = solution_notebooks(args.solutions)
        load_solutions(solutions)
        if args.seed is not None:
            if args.student is not None or args.roster is not None:
                return bad("give a student (with --roster) or --seed, not both")
            seed, who = args.seed, f"seed {args.seed}"
        else:
            if args.student is None or args.roster is None:
                return bad("give a student id and --roster (or --seed N for a notebook's own variant)")
            students = read_roster(args.roster)
            secret = course_key(args.key)
            if secret is None:
                return bad("a roster student's variant needs the course key: --key K, or set UKVA_COURSE_KEY")
            by_fold = {s.casefold(): s for s in students}
            if args.student.casefold() not in by_fold:
                return bad(f"{args.student!r} is not on the roster {args.roster}")
            sid = by_fold[args.student.casefold()]
            seed, who = student_seed(secret, sid), f"{sid} ({students[sid].name})" if students[sid].name else sid
        lines = answer_key(seed, who, args.chapter, solutions)
    except (Refused, RosterError, BankError, KeyUnavailable) as exc:
        return bad(str(exc))
    say(lines)
    return 0
