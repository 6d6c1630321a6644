"""`ukva measure` as a reader runs it: the whole command (C program built, four experiments with
their default repeats, the engine's predictions), and how its counts came out."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from harness import Result

GOAL_SECONDS = 30.0


def run() -> list[Result]:
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "ukva_widgets.cli", "measure", "--json"],
                          capture_output=True, text=True, timeout=300)
    seconds = time.perf_counter() - t0
    if done.returncode not in (0, 3):     # 3: some experiments cannot be measured on this machine
        raise RuntimeError(f"`ukva measure` failed (exit {done.returncode}): {done.stderr[-500:]}")
    experiments = {e["name"]: e for e in json.loads(done.stdout)}
    figures = "; ".join(f"{name} {e['measured'].get('shootdowns_per_update', '-')} (model "
                        f"{e['predicted']['shootdowns_per_update']:g}) from {e['source'] or 'nowhere: ' + e['why']}"
                        for name, e in experiments.items() if name.endswith("-update"))
    switch = experiments["switch-thread-vs-process"]["measured"]
    return [Result("ukva measure --json wall time", seconds, "s", GOAL_SECONDS,
                   detail=f"one run, default repeats; CPUs {experiments['threads-update']['cpus']}; shootdowns per "
                          f"update: {figures}; process/thread switch time {switch.get('time_ratio', '-')}, "
                          f"CR3 writes per process switch {switch.get('cr3_writes_per_process_switch', '-')}")]
