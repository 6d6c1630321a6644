"""The real-kernel probe: `ukva probe --all` as a user runs it, and probe_all() inside Python."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

from harness import Result

from ukva_widgets.real import probe_all
from ukva_widgets.real.engine_replay import check_sequences

RUNS = 3
SEQUENCES = 1000   # what the conformance test plays (tests/real/real_helpers.py RANDOM_SEQUENCES)


def cli_probe_all_seconds() -> tuple[float, str]:
    """Wall time of `ukva probe --all` in a fresh interpreter, and its last line (the count)."""
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "ukva_widgets.cli", "probe", "--all"],
                          capture_output=True, text=True, timeout=120)
    seconds = time.perf_counter() - t0
    if done.returncode not in (0, 1):     # 0 all agree, 1 some disagree: both ran every probe
        raise RuntimeError(f"`ukva probe --all` failed (exit {done.returncode}): {done.stderr[-500:]}")
    return seconds, done.stdout.strip().splitlines()[-1]


def run() -> list[Result]:
    cli = [cli_probe_all_seconds() for _ in range(RUNS)]
    inproc = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        answers = probe_all()
        inproc.append(time.perf_counter() - t0)
    available = sum(r.available for r in answers)
    t0 = time.perf_counter()
    report = check_sequences(SEQUENCES, seed=0)
    sequences_seconds = time.perf_counter() - t0
    agreed = sum(v.agree for v in report.verdicts)
    return [
        Result("ukva probe --all wall time", statistics.median(s for s, _ in cli), "s", 10.0,
               detail=f"median of {RUNS}; interpreter start + 256 clone/kcmp probes + engine; {cli[-1][1]}"),
        Result("probe_all() 256 kernel probes", statistics.median(inproc), "s", 10.0,
               detail=f"median of {RUNS}; one worker process; {available}/256 answered"),
        Result(f"ukva probe --sequences {SEQUENCES} (listed + random), kernel and engine",
               sequences_seconds, "s", 60.0,
               detail=f"one run; C agent built, every sequence played on the kernel and replayed on "
                      f"the engine; agree {agreed}/{len(report.verdicts)}"
                      + (f"; unavailable: {report.why}" if report.why else "")),
    ]
