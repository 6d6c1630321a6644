"""Grading many submissions: in parallel, with a progress bar, and to the end even on Ctrl-C.

Worker threads grade one submission at a time. The threads mostly wait on their kernels
(separate processes), so threads are enough to keep the cores busy; whatever happens to one
submission is in its report and never stops the others. The main thread only waits and
watches for Ctrl-C (SIGINT): then no new submission starts, every kernel is killed, and the
batch returns what was finished, marked interrupted, for a partial report.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from .grader import SubmissionGrade, grade
from .sandbox import Limits, SandboxUnavailable, shutdown_all, totals_warning

INTERRUPTED = "not graded: interrupted (Ctrl-C) before this submission was finished"
STRAGGLER_SECONDS = 20.0  # how long, after Ctrl-C, running submissions get to wind down


def submissions_in(target: Path) -> list[Path]:
    """The files to grade: `target` itself, or every *.ipynb under a directory (sorted), found
    without following symbolic links; a link named *.ipynb is listed, and refused when graded."""
    if not target.is_dir():
        return [target]
    found = []
    for folder, dirs, files in os.walk(target):  # followlinks=False: a linked folder is not entered
        dirs[:] = [d for d in dirs if d != ".ipynb_checkpoints"]
        found += [Path(folder, n) for n in [*files, *dirs] if n.endswith(".ipynb")]
    return sorted(found)


@dataclass
class Task:
    """One submission to grade: which items (None: from its file name, else the notebook), and
    for a roster, its owner's (student id, variant seed); assignment.plan makes them."""

    path: Path
    item_ids: list[str] | None = None
    chapter: str | None = None
    owner: tuple[str, int] | None = None
    name: str = ""
    flags: list[str] = field(default_factory=list)
    root: Path | None = None  # the folder the instructor named (nothing below it is followed)


def _grade_safely(task: Task, seed: int, limits: Limits, stop: threading.Event) -> SubmissionGrade | None:
    if stop.is_set():
        return None
    try:
        g = grade(task.path, seed, limits, task.item_ids, task.chapter, task.owner, task.root)
    except SandboxUnavailable:
        raise  # never grade unprotected: the whole batch stops with the reason
    except Exception as exc:  # a grader bug on one file is reported on that file, not fatal
        g = SubmissionGrade(str(task.path), 0.0, 0.0, f"the grader failed on this file: "
                            f"{type(exc).__name__}: {exc}", [])
    if task.owner:
        g.student_id, g.name = task.owner[0], task.name
    g.flags[:0] = task.flags
    return g


@dataclass
class Batch:
    grades: list[SubmissionGrade]
    interrupted: bool = False


def run_batch(tasks: list[Task], seed: int, limits: Limits, jobs: int = 1, progress: bool = True) -> Batch:
    """Grade `tasks` with `jobs` worker threads; grades come back in the order of `tasks`."""
    from tqdm import tqdm

    if limits.sandbox and (warning := totals_warning()):
        print(f"ukva grade: warning: {warning}", file=sys.stderr)
    stop = threading.Event()
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set()) if main else None
    bar = tqdm(total=len(tasks), unit="nb", desc="grading", disable=not progress, file=sys.stderr)
    results: dict[int, SubmissionGrade] = {}
    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="ukva-grade")
    refused: BaseException | None = None
    try:
        futures = {pool.submit(_grade_safely, t, seed, limits, stop): n for n, t in enumerate(tasks)}
        pending = set(futures)
        while pending and not stop.is_set():
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            for future in done:
                if isinstance(future.exception(), SandboxUnavailable):
                    refused = future.exception()
                    stop.set()
                elif future.result() is not None:
                    results[futures[future]] = future.result()
                bar.update()
        if stop.is_set():
            for future in [f for f in pending if f.done() and f.exception() is None and f.result() is not None]:
                results[futures[future]] = future.result()  # finished before the kill: it counts
                pending.discard(future)
            for future in pending:
                future.cancel()
            # What runs now ends fast: its kernel dies (again, should it have started another).
            for _ in range(int(STRAGGLER_SECONDS / 0.2)):
                shutdown_all()
                pending = {f for f in pending if not f.done()}
                if not pending:
                    break
                wait(pending, timeout=0.2)
            shutdown_all()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        if main:
            signal.signal(signal.SIGINT, previous)
        bar.close()
    if refused is not None:
        raise refused
    grades = []
    for n, task in enumerate(tasks):
        g = results.get(n)
        if g is None:
            g = SubmissionGrade(str(task.path), 0.0, 0.0, INTERRUPTED, [], flags=list(task.flags))
            if task.owner:
                g.student_id, g.name = task.owner[0], task.name
        grades.append(g)
    return Batch(grades, stop.is_set())


def grade_all(paths: list[Path], seed: int, limits: Limits, jobs: int = 1,
              item_ids: list[str] | None = None, progress: bool = True) -> list[SubmissionGrade]:
    """Grade `paths` (no roster); reports come back in the order of `paths`."""
    return run_batch([Task(p, item_ids) for p in paths], seed, limits, jobs, progress).grades
