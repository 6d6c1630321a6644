"""Grading many submissions: in parallel, with a progress bar, into JSON and CSV.

A worker thread grades one submission at a time. The threads mostly wait on their kernels
(separate processes, forked by one shared fork server), so threads are enough to keep the
cores busy; whatever happens to one submission is in its report and never stops the others.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict
from pathlib import Path

from .forkserver import server_for
from .grader import SubmissionGrade, grade
from .sandbox import Limits


def submissions_in(target: Path) -> list[Path]:
    """The files to grade: `target` itself, or every *.ipynb under a directory (sorted)."""
    if target.is_dir():
        return sorted(p for p in target.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    return [target]


def _grade_safely(path: Path, seed: int, limits: Limits, item_ids: list[str] | None) -> SubmissionGrade:
    try:
        return grade(path, seed, limits, item_ids)
    except Exception as exc:  # a grader bug on one file is reported on that file, not fatal
        return SubmissionGrade(str(path), 0.0, 0.0, f"the grader failed on this file: "
                               f"{type(exc).__name__}: {exc}", [])


def grade_all(paths: list[Path], seed: int, limits: Limits, jobs: int = 1,
              item_ids: list[str] | None = None, progress: bool = True) -> list[SubmissionGrade]:
    """Grade `paths` with `jobs` worker processes; reports come back in the order of `paths`."""
    from tqdm import tqdm

    bar = tqdm(total=len(paths), unit="nb", desc="grading", disable=not progress, file=sys.stderr)
    results: dict[Path, SubmissionGrade] = {}
    if jobs == 1:
        for path in paths:
            results[path] = _grade_safely(path, seed, limits, item_ids)
            bar.update()
    else:
        # Start the fork server from this thread: Linux ties its parent-death signal to the
        # thread that started it, and the pool's threads end with the batch.
        server_for(limits.memory_mib)
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = {pool.submit(_grade_safely, p, seed, limits, item_ids): p for p in paths}
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                bar.update()
    bar.close()
    return [results[p] for p in paths]


def to_json(grades: list[SubmissionGrade], seed: int) -> str:
    return json.dumps({"grading_seed": seed, "submissions": [asdict(g) for g in grades]}, indent=2) + "\n"


def item_columns(grades: list[SubmissionGrade]) -> list[str]:
    ids = {i.id for g in grades for i in g.items}
    return sorted(ids, key=lambda i: tuple(int(x) for x in i.split(".")))


def csv_rows(grades: list[SubmissionGrade]) -> Iterator[list[str]]:
    columns = item_columns(grades)
    yield ["path", "points", "max_points", *columns, "error"]
    for g in grades:
        by_id = {i.id: "manual" if i.manual else f"{i.points:g}" for i in g.items}
        yield [g.path, f"{g.points:g}", f"{g.max_points:g}",
               *(by_id.get(c, "") for c in columns), g.error or ""]


def write_csv(grades: list[SubmissionGrade], path: Path) -> None:
    with path.open("w", newline="") as f:
        csv.writer(f).writerows(csv_rows(grades))


def summary(grades: list[SubmissionGrade]) -> str:
    """One line per submission, for the terminal."""
    lines = []
    for g in grades:
        tail = f"  ({g.error})" if g.error else ""
        lines.append(f"{g.points:g}/{g.max_points:g}  {g.path}{tail}")
    return "\n".join(lines)
