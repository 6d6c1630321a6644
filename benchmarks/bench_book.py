"""The book: wall time of nbval over every chapter in notebooks/, as CI runs it (goal: under 60 s
on a 2-core machine), and the slowest chapter, so a slow cell is easy to find; and the time
`ukva site` takes to write the whole book as static HTML (goal: under 30 s)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import Result

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
GOAL_S = 60.0
CHAPTER_GOAL_S = 15.0
SITE_GOAL_S = 30.0


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


def site_seconds() -> tuple[float, int]:
    """Seconds for `ukva site` over this book in a fresh interpreter, and the pages it wrote."""
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "ukva_widgets.cli", "site", "--root", str(NOTEBOOKS.parent),
                        "--out", out], check=True, capture_output=True, timeout=600)
        return time.perf_counter() - t0, len(list(Path(out).rglob("*.html")))


def run() -> list[Result]:
    site, pages = site_seconds()
    chapters = sorted(NOTEBOOKS.glob("*.ipynb"))
    whole = nbval(*chapters)
    each = {path.stem: nbval(path) for path in chapters}
    slowest = max(each, key=each.get)
    return [
        Result("book: nbval over all chapters", whole, "s", GOAL_S,
               detail=f"{len(chapters)} chapters, one pytest run"),
        Result("book: slowest chapter under nbval", each[slowest], "s", CHAPTER_GOAL_S,
               detail=f"{slowest}; " + ", ".join(f"{name[:2]} {s:.1f}" for name, s in each.items())),
        Result("book: ukva site (static HTML of the whole book)", site, "s", SITE_GOAL_S,
               detail=f"{pages} HTML pages, one process"),
    ]
