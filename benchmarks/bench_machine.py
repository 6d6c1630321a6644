"""Speed of the SMP machine's explorer and of the cost simulator (issue 3's goals)."""

from __future__ import annotations

import time

from harness import Result, samples_ms

from ukva_widgets.engine import Kernel, Machine, explore, make_tasks
from ukva_widgets.engine.costs import simulate_costs


def _threads(n: int) -> tuple[Kernel, list]:
    return make_tasks(threads=n)


def _processes() -> tuple[Kernel, list]:
    return make_tasks(threads=1, processes=1)


def _vm_not_files() -> tuple[Kernel, list]:
    return make_tasks(threads=2, sibling="CLONE_VM")


def _unequal_processes() -> tuple[Kernel, list]:
    """Two MMs of different layouts: each allocator puts the shared page at another colour."""
    return make_tasks(threads=2, sibling="CLONE_VM|CLONE_FILES", processes=1)


VERDICTS = [  # issue 3's table (tests/engine/test_verdicts.py): (number, tasks, options)
    (1, lambda: _threads(2), dict(cpus=2, design="per-task")),
    (2, lambda: _threads(2), dict(cpus=1, design="per-task")),
    (3, lambda: _threads(2), dict(cpus=1, design="per-task", flush_on_same_mm_switch=True)),
    (4, lambda: _threads(2), dict(cpus=2, design="per-task", fill="software")),
    (5, _processes, dict(cpus=2, design="per-task")),
    (6, lambda: _threads(2), dict(cpus=2, design="per-cpu")),
    (7, lambda: _threads(2), dict(cpus=2, design="per-cpu", fill="software")),
    (8, _vm_not_files, dict(cpus=2, design="per-mm", smp_safe=True)),
    (9, lambda: _threads(2), dict(cpus=2, design="per-mm", smp_safe=False)),
    (10, _vm_not_files, dict(cpus=2, design="per-mm", slots="fixed")),
    (11, _unequal_processes, dict(cpus=2, design="per-mm", cache="virtual", shared_page=True)),
    (12, _processes, dict(cpus=2, design="per-mm", cache="physical", shared_page=True)),
]


def _best_run(machine: Machine, repeats: int) -> tuple[float, object]:
    """The fastest of `repeats` full explorations, in seconds of this process's CPU time (the
    search is single-threaded; CPU time leaves out the other jobs sharing the machine), and
    its result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        t0 = time.process_time()
        result = explore(machine)
        best = min(best, time.process_time() - t0)
    return best, result


def run() -> list[Result]:
    results = []
    k, tasks = _threads(4)
    for updates in (1, 2):
        m = Machine(k, tasks, cpus=3, design="per-mm", updates=updates)
        seconds, r = _best_run(m, 15)  # short runs: the best of many rides out load spikes
        detail = f"per-mm, 3 CPUs, 4 threads, updates={updates}: {r.verdict}, {r.states} states; CPU time"
        results.append(Result(f"explore per-mm 3cpu 4thr u{updates} rate", r.states / seconds, "states/s",
                              50_000, True, detail))
        results.append(Result(f"explore per-mm 3cpu 4thr u{updates} time", seconds * 1000, "ms", 5000, False,
                              detail))
    for number, make, options in VERDICTS:
        m = Machine(*make(), **options)
        seconds, r = _best_run(m, 3)
        results.append(Result(f"verdict {number}", seconds * 1000, "ms", 2000, False,
                              f"{r.verdict}, {r.states} states; CPU time"))
    refs = 1_000_000
    ms = min(samples_ms(lambda: simulate_costs(8, 4, refs, "per-mm", "hardware", True, 1), 5, warmup=1))
    results.append(Result("cost simulator rate", refs / (ms / 1000), "refs/s", 1_000_000, True,
                          "8 threads, 4 CPUs, per-mm, PCID, 1M references"))
    ms = min(samples_ms(lambda: simulate_costs(8, 4, 100_000, "per-mm", "hardware", True, 1), 20))
    results.append(Result("cost simulator 100k refs", ms, "ms", 100, False, "what a widget re-simulates"))
    return results
