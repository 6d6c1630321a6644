"""`ukva grade`: plan who handed in what, grade what is not cached yet, apply the manual scores and the
late penalty, write the reports (a partial report when interrupted), then say what happened."""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path
from typing import Any

from .output import printable, say
from .roster import RosterError

SEED_HELP = ("The grading seed (hidden test inputs of code answers) comes, first found, from --seed, "
             "--seed-file, the environment variable UKVA_GRADING_SEED, the course key, or a fresh random "
             "one; it is written to the JSON report. It never needs to be on a command line (which "
             "other processes can read): prefer --seed-file or UKVA_GRADING_SEED.")
KEY_HELP = "the course key (default: the environment variable UKVA_COURSE_KEY, which keeps it off command lines)"
EXERCISES = Path(__file__).resolve().parents[2] / "exercises"


def add_arguments(grade: argparse.ArgumentParser) -> None:
    grade.add_argument("target", type=Path, help="a submission .ipynb, or a directory of them")
    grade.add_argument("--json", type=Path, help="write the JSON report here (every notebook in detail)")
    grade.add_argument("--csv", type=Path, help="write the CSV report here (a row per student)")
    grade.add_argument("--csv-format", choices=("ukva", "canvas", "moodle"), default="ukva",
                       help="the CSV's format: ukva (every item, default), or the grade file Canvas's gradebook "
                            "or Moodle's grading worksheet imports (one numeric column per student)")
    grade.add_argument("--feedback", type=Path, metavar="DIR",
                       help="write one HTML feedback page per student into DIR")
    grade.add_argument("--roster", type=Path, help="a CSV with the columns student_id,name: check variants")
    grade.add_argument("--key", help=KEY_HELP)
    grade.add_argument("--manifest", type=Path, help="the assignment (TOML): the notebooks expected, the due date "
                                                     "and the late penalty")
    grade.add_argument("--from", dest="lms", choices=("canvas", "moodle"),
                       help="the folder is an LMS download: find each file's student by its LMS file name")
    grade.add_argument("--manual", type=Path, metavar="SHEET",
                       help="the manual grading sheet: its scores are applied, and answers awaiting grading "
                            "are added to it (made if missing)")
    grade.add_argument("--only", metavar="ID", help="regrade one student (their roster id, or without a roster "
                                                    "a file's path) and merge into the existing --json report")
    grade.add_argument("--fresh", action="store_true", help="grade every notebook again, even those whose result "
                                                            "the --json report (or its .partial twin) already holds")
    grade.add_argument("--solutions", type=Path, metavar="DIR",
                       help="the solution notebooks that define an instructor's own items (default: the "
                            "checkout's exercises/solutions)")
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


class Refused(ValueError):
    """A bad argument: nothing is graded; the message says what and how to fix it."""


def solution_notebooks(folder: Path | None) -> list[Path]:
    """The solution notebooks whose item cells define an instructor's items (none outside a checkout)."""
    folder = folder or EXERCISES / "solutions"
    if not folder.is_dir():
        if folder != EXERCISES / "solutions":
            raise Refused(f"--solutions {folder} is not a folder of solution notebooks")
        return []
    return sorted(folder.glob("*.ipynb"))


def grading_seed(args: argparse.Namespace, key: bytes | None) -> tuple[int, str]:
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


def _check_outputs(args: argparse.Namespace) -> None:
    for out in (args.json, args.csv, args.manual):
        if out is None:
            continue
        if not out.parent.is_dir():
            raise Refused(f"cannot write {out}: the directory {out.parent} does not exist")
        if out.is_dir() and not out.is_symlink():
            raise Refused(f"cannot write {out}: it is a directory; give a file name")
    if args.feedback is not None:
        if args.feedback.is_symlink() or (args.feedback.exists() and not args.feedback.is_dir()):
            raise Refused(f"--feedback {args.feedback} must be a directory (not a file or a symbolic link)")
        if not args.feedback.parent.is_dir():
            raise Refused(f"cannot write feedback into {args.feedback}: {args.feedback.parent} does not exist")
    if args.only is not None and args.json is None:
        raise Refused("--only merges into the existing report: give it with --json FILE")
    if args.csv_format != "ukva" and args.roster is None:
        raise Refused(f"--csv-format {args.csv_format} writes a row per roster student: give --roster")


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split()) or "the sandbox cannot be made"


def _prepare(args: argparse.Namespace) -> dict[str, Any]:
    """Everything checked before any kernel starts; raises Refused (or RosterError and the like)."""
    from .assignment import read_manifest
    from .bank import load_solutions
    from .grader import chapter_items
    from .items import all_items
    from .lms import ids_of
    from .roster import course_key, read_roster
    from .sandbox import Limits

    if not args.target.exists():
        raise Refused(f"{args.target} does not exist; give a submission .ipynb or a directory of them")
    if args.jobs < 1:
        raise Refused(f"--jobs must be at least 1, not {args.jobs}")
    _check_outputs(args)
    items_source = load_solutions(solution_notebooks(args.solutions))
    item_ids = None
    if args.chapter is not None:
        item_ids = chapter_items(args.chapter)
        if not args.chapter.isdigit() or not item_ids:
            chapters = sorted({i.id.split('.')[0].zfill(2) for i in all_items()})
            raise Refused(f"there is no chapter {args.chapter!r}; chapters with exercises: {', '.join(chapters)}")
    manifest = read_manifest(args.manifest) if args.manifest is not None else None
    students = read_roster(args.roster) if args.roster is not None else None
    key = course_key(args.key)
    if students is not None and key is None:
        raise Refused("--roster needs the course key the notebooks were made with: --key K, or set UKVA_COURSE_KEY")
    if args.lms and students is None:
        raise Refused(f"--from {args.lms} needs --roster (with each student's {args.lms}_id)")
    for system in {args.lms, None if args.csv_format == "ukva" else args.csv_format} - {None}:
        ids_of(system, students, str(args.roster))
    seed, seed_from = grading_seed(args, key)
    try:
        limits = Limits(args.cell_timeout, args.timeout, args.memory, args.max_output * 1024,
                        sandbox=not args.no_sandbox)
    except ValueError as exc:
        raise Refused(str(exc)) from None
    return {"items_source": items_source, "item_ids": item_ids, "manifest": manifest, "students": students,
            "key": key, "seed": seed, "seed_from": seed_from, "limits": limits}


def run_grade(args: argparse.Namespace) -> int:
    from .assignment import ManifestError, plan
    from .bank import BankError
    from .batch import run_batch, submissions_in
    from .cache import Cache, MergeError, cache_record, load_report
    from .manual import ManualError
    from .sandbox import SandboxUnavailable, check_available

    def bad(message: str) -> int:
        print(f"ukva grade: {printable(message)}", file=sys.stderr)
        return 2

    try:
        ctx = _prepare(args)
        paths = submissions_in(args.target)
        if not paths:
            return bad(f"no .ipynb files under {args.target}")
        root = args.target if args.target.is_dir() else args.target.parent
        the_plan = plan(paths, root, ctx["students"], ctx["key"], ctx["item_ids"],
                        args.chapter and args.chapter.zfill(2), ctx["manifest"], args.lms, str(args.roster or ""))
        tasks, base, base_records = the_plan.tasks, None, {}
        seed = ctx["seed"]
        if args.only is not None:
            base_seed, base, base_records = load_report(args.json)
            if args.seed is not None and args.seed != base_seed:
                return bad(f"--seed {args.seed} differs from the grading seed {base_seed} of {args.json}; a regrade "
                           "merges on the report's own seed (leave --seed out)")
            seed = base_seed
            tasks = [t for t in tasks if (t.owner and t.owner[0] == args.only) or str(t.path) == args.only]
            if not tasks:
                return bad(f"--only {args.only}: no file of that student (or with that path) under {args.target}")
        scores = _scores(args, ctx)
    except (Refused, RosterError, ManifestError, BankError, MergeError, ManualError) as exc:
        return bad(str(exc))
    cache = Cache(None if args.fresh else args.json, seed, ctx["limits"], ctx["items_source"])
    keys = {str(t.path): cache.key(t) for t in tasks}
    found = {str(t.path): cache.get(t, keys[str(t.path)]) for t in tasks}
    todo = [t for t in tasks if found[str(t.path)] is None]
    isolation = ""
    try:  # before anything is graded: refuse rather than grade unprotected
        if todo:
            isolation = check_available(ctx["limits"])
        batch = run_batch(todo, seed, ctx["limits"], args.jobs, progress=not args.quiet)
    except SandboxUnavailable as exc:
        return bad(f"nothing graded: {_one_line(exc)}")
    except KeyboardInterrupt:
        print("ukva grade: interrupted before grading started; nothing graded, nothing written", file=sys.stderr)
        return 130
    fresh = dict(zip((str(t.path) for t in todo), batch.grades))
    records = dict(base_records)
    for t in tasks:
        path = str(t.path)
        g = found[path] or fresh[path]
        if args.no_sandbox and path in fresh:
            g.isolation = isolation
        if not (g.error or "").startswith("not graded: interrupted"):  # an unfinished one is never reused
            records[path] = cache_record(keys[path], t.flags, g)
    grades = [found[str(t.path)] or fresh[str(t.path)] for t in tasks]
    cached = {p for p, g in found.items() if g is not None}
    if base is not None:
        redone = {str(t.path) for t in tasks}
        grades = [g for g in base if g.path not in redone and g.student_id != args.only] + grades
    from .report import Report

    try:
        report = Report(grades, seed, ctx["students"], str(args.roster or ""), batch.interrupted, isolation,
                        the_plan, scores, cached, records, root)
        code = _write(args, report, batch.interrupted)
    except Exception as exc:  # a bug in making the reports must not lose a batch's grades
        return _salvage(args, seed, grades, records, exc)
    say(report.summary())
    print(printable(f"grading seed {seed} (from {ctx['seed_from'] if base is None else args.json}; in the JSON "
                    "report; to reproduce, put it in a --seed-file or UKVA_GRADING_SEED)"), file=sys.stderr)
    return code or (130 if batch.interrupted else 0)


def _salvage(args: argparse.Namespace, seed: int, grades: list, records: dict, exc: Exception) -> int:
    """The reports could not be made: keep the grades as judged in NAME.partial.json (a rerun of the
    same command takes them from there), and say what went wrong in one line."""
    import json
    from dataclasses import asdict

    from .cache import partial_path
    from .output import clean_tree, write_atomic

    kept = ""
    if args.json is not None:
        data = {"grading_seed": seed, "interrupted": True, "error": f"{type(exc).__name__}: {exc}",
                "submissions": [{**asdict(g), "cache": records.get(g.path)} for g in grades]}
        write_atomic(partial_path(args.json), json.dumps(clean_tree(data), indent=1) + "\n")
        kept = f"; the grades are kept in {partial_path(args.json)}, and the same command takes them from there"
    print(printable(f"ukva grade: could not make the reports ({type(exc).__name__}: {exc}){kept}"), file=sys.stderr)
    return 1


def _scores(args: argparse.Namespace, ctx: dict[str, Any]) -> dict:
    """The manual sheet's scores (checked before grading: a bad line is refused now, not after)."""
    from .items import all_items
    from .manual import read_scores

    if args.manual is None:
        return {}
    return read_scores(args.manual, {i.id: i.max_points for i in all_items() if i.kind == "manual"})


def _write(args: argparse.Namespace, report: Any, interrupted: bool) -> int:
    """Write every report asked for; an interrupted run writes NAME.partial.EXT beside each and never
    touches a complete report (nor the feedback pages). Returns 1 if one could not be written."""
    from .cache import partial_path
    from .manual import sheet_text
    from .output import ReportError, write_atomic

    notes = []
    try:
        files = [(args.json, report.to_json), (args.csv, lambda: report.to_csv() if args.csv_format == "ukva"
                                                 else report.lms_csv(args.csv_format))]
        for path, text in files:
            if path is None:
                continue
            target = partial_path(path) if interrupted else path
            notes.append(write_atomic(target, text()))
            if not interrupted and partial_path(path).exists():
                partial_path(path).unlink()  # a complete report now stands where the partial one was
        if args.manual is not None:
            text = sheet_text(args.manual, report.grades, lambda i: _prompt(i))
            if text is not None:
                notes.append(write_atomic(args.manual, text))
        if args.feedback is not None and not interrupted:
            args.feedback.mkdir(exist_ok=True)
            for name, page in report.feedback_pages().items():
                notes.append(write_atomic(args.feedback / name, page))
    except (OSError, ReportError) as exc:
        print(printable(f"ukva grade: could not write a report: {exc}"), file=sys.stderr)
        return 1
    if interrupted:
        resume = (" run the same command again to finish: the notebooks graded so far are taken from the partial "
                  "report" if args.json else " only a --json report lets a rerun resume")
        notes.append("interrupted: the reports went to NAME.partial.EXT (a complete report was left as it was, and "
                     f"no feedback page written);{resume}")
    for note in filter(None, notes):
        print(printable(f"ukva grade: {note}"), file=sys.stderr)
    return 0


def _prompt(i: Any) -> str:
    from .items import get_item

    try:
        return get_item(i.id).problem(i.seed).text if i.seed is not None else ""
    except Exception:  # an item no longer known: the sheet still gets the answer
        return ""
