"""The book: wall time of nbval over every chapter in notebooks/, as CI runs it (goal: under 60 s
on a 2-core machine), and the slowest chapter, so a slow cell is easy to find."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from harness import Result

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
GOAL_S = 60.0
CHAPTER_GOAL_S = 15.0


def nbval(*paths: Path) -> float:
    """Seconds for `pytest --nbval` over `paths` in a fresh interpreter; raises if a chapter fails."""
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval", "--nbval-current-env", "-q", "-p", "no:cacheprovider",
         *map(str, paths)],
        capture_output=True, text=True, cwd=NOTEBOOKS.parent, timeout=600)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"nbval failed on {', '.join(p.name for p in paths)}:\n{done.stdout[-2000:]}")
    return seconds


def run() -> list[Result]:
    chapters = sorted(NOTEBOOKS.glob("*.ipynb"))
    whole = nbval(*chapters)
    each = {path.stem: nbval(path) for path in chapters}
    slowest = max(each, key=each.get)
    return [
        Result("book: nbval over all chapters", whole, "s", GOAL_S,
               detail=f"{len(chapters)} chapters, one pytest run"),
        Result("book: slowest chapter under nbval", each[slowest], "s", CHAPTER_GOAL_S,
               detail=f"{slowest}; " + ", ".join(f"{name[:2]} {s:.1f}" for name, s in each.items())),
    ]
