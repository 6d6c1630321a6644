"""Grading throughput: chapter-02 submissions graded per second per core, kernel start included,
in the sandbox (bwrap namespaces, cgroups as root) and without it (--no-sandbox), side by side."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from harness import Result

ROOT = Path(__file__).resolve().parents[1]
SUBMISSION = ROOT / "exercises" / "solutions" / "02-tasks-and-clone.ipynb"


def _throughput(n: int, jobs: int, sandbox: bool) -> tuple[float, float]:
    """(submissions per second, fraction of full marks) for `n` copies graded with `jobs` workers."""
    from ukva_widgets.grading.batch import grade_all
    from ukva_widgets.grading.sandbox import Limits

    limits = Limits(sandbox=sandbox)
    with tempfile.TemporaryDirectory() as d:
        paths = []
        for i in range(n):
            paths.append(Path(d) / f"student{i:03}.ipynb")
            shutil.copy(SUBMISSION, paths[-1])
        grade_all(paths[:1], seed=1, limits=limits, jobs=1, progress=False)  # warm the page cache
        t0 = time.perf_counter()
        grades = grade_all(paths, seed=1, limits=limits, jobs=jobs, progress=False)
        seconds = time.perf_counter() - t0
    full = sum(g.points == g.max_points for g in grades) / n
    return n / seconds, full


def run() -> list[Result]:
    from ukva_widgets.grading.sandbox import Limits, check_available

    cores = os.cpu_count() or 1
    isolation = check_available(Limits())
    results = []
    # Much of a submission's time is the kernel's start-up handshake (waiting, not computing),
    # so two workers per core keep the cores busy: `ukva grade --jobs 2N` on N cores.
    for sandbox in (True, False):
        label = "sandboxed" if sandbox else "--no-sandbox"
        one, full1 = _throughput(6, 1, sandbox)
        many, full_n = _throughput(24, 2 * cores, sandbox)
        results += [
            Result(f"grading ch02 {label}, 1 worker", one, "subs/s", 1.0 if sandbox else 0.0, True,
                   f"6 submissions, all full marks: {full1 == 1}"),
            Result(f"grading ch02 {label}, --jobs {2 * cores}, per core", many / cores, "subs/s/core",
                   1.0 if sandbox else 0.0, True,
                   f"24 submissions on {cores} cores, {many:.2f} subs/s in all; all full marks: {full_n == 1}"
                   + (f"; {isolation}" if sandbox else "")),
        ]
    return results
