"""Speed of the SMP machine's explorer and of the cost simulator (their goals: a verdict within 2 s,
50k states/s, 1M references/s), and a verdict within 2 s for every machine the DesignLab widget
can build (its slowest configuration and the count over 2 s)."""

from __future__ import annotations

import itertools
import os
import re
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from harness import Result, samples_ms

from ukva_widgets.engine import Kernel, Machine, explore, make_tasks
from ukva_widgets.engine.costs import simulate_costs
from ukva_widgets.engine.options import DESIGNS, FILLS
from ukva_widgets.widgets.design_lab import CACHES, MAX_CPUS, MAX_STATES, MAX_TASKS, SLOTS, WORKLOADS, tasks_for


def _threads(n: int) -> tuple[Kernel, list]:
    return make_tasks(threads=n)


def _processes() -> tuple[Kernel, list]:
    return make_tasks(threads=1, processes=1)


def _vm_not_files() -> tuple[Kernel, list]:
    return make_tasks(threads=2, sibling="CLONE_VM")


def _unequal_processes() -> tuple[Kernel, list]:
    """Two MMs of different layouts: each allocator puts the shared page at another colour."""
    return make_tasks(threads=2, sibling="CLONE_VM|CLONE_FILES", processes=1)


VERDICTS = [  # the design table (tests/engine/test_verdicts.py): (number, tasks, options)
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


BIG_MAX_STATES = 1_000_000
SPIN_MODEL = Path(__file__).parent / "spin" / "permm.pml"


def _big_check(updates: int, tlb_size: int = 4) -> Machine:
    """The big check: per-mm, SMP-safe, dynamic slots, hardware fill, 3 CPUs, four
    tasks made with CLONE_VM|CLONE_FS from one process (each its own files and sighand
    tables: 8 slots)."""
    k = Kernel()
    p = k.fork(k.init)
    tasks = [p] + [k.clone(p, "CLONE_VM|CLONE_FS") for _ in range(3)]
    return Machine(k, tasks, cpus=3, design="per-mm", smp_safe=True, slots="dynamic", fill="hardware",
                   updates=updates, tlb_size=tlb_size)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def spin_reference() -> Result:
    """SPIN on the hand-written reference model: spin -a, gcc -O2 -DSAFETY -DNOREDUCE, ./pan
    -m100000; CPU seconds of all three (children's CPU time).  Without spin or gcc the row
    says what to install instead of failing."""
    missing = [tool for tool in ("spin", "gcc") if shutil.which(tool) is None]
    name = "SPIN permm.pml (3 CPUs, 4 tasks, 4 slots, 3 updates)"
    if missing:
        return Result(name, float("nan"), "s", 60, False,
                      f"not run: {' and '.join(missing)} missing (apt-get install spin gcc)")
    with tempfile.TemporaryDirectory(prefix="ukva-spin-") as tmp:
        shutil.copy(SPIN_MODEL, tmp)
        t0 = _children_cpu()
        steps = [["spin", "-a", SPIN_MODEL.name], ["gcc", "-O2", "-DSAFETY", "-DNOREDUCE", "-o", "pan", "pan.c"],
                 ["./pan", "-m100000"]]
        out = ""
        for cmd in steps:
            proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, env={**os.environ, "LC_ALL": "C"})
            out = proc.stdout + proc.stderr
            if proc.returncode != 0 and cmd[0] != "./pan":
                return Result(name, float("nan"), "s", 60, False, f"not run: {' '.join(cmd)} failed: {out[-300:]}")
        seconds = _children_cpu() - t0
    stored = re.search(r"(\d+) states, stored", out)
    errors = re.search(r"errors: (\d+)", out)
    verdict = ("proven" if errors and errors.group(1) == "0" else "violation") if stored else "no result"
    return Result(name, seconds, "s", 60, False,
                  f"{verdict}, {stored.group(1) if stored else '?'} states stored; CPU time of spin+gcc+pan")


def big_checks() -> list[Result]:
    """The Python explorer on the big check for updates 1, 2, 3 (bounded at BIG_MAX_STATES),
    beside SPIN on the smaller reference model measured in the same run."""
    spin = spin_reference()
    goal = spin.value if spin.value == spin.value else 60.0  # faster than SPIN (60 s without it)
    results = []
    for updates in (1, 2, 3):
        m = _big_check(updates)
        t0 = time.process_time()
        r = explore(m, max_states=BIG_MAX_STATES)
        seconds = time.process_time() - t0
        # Only a complete search meets the goal: a bounded one counts as never finishing.
        results.append(Result(f"big check per-mm 3cpu 4task(VM|FS) u{updates}",
                              seconds if r.complete else float("inf"), "s", goal, False,
                              f"{'complete' if r.complete else 'NOT complete'} ({r.verdict}), {r.states} states "
                              f"in {seconds:.1f} s CPU, {r.states / seconds:.0f} states/s"))
    return results + [spin]


SPIN_WHOLE_MAX_STATES = 5_000_000


def big_checks_spin() -> list[Result]:
    """The same big checks through engine="spin" (part by part, as explore cuts a per-mm
    machine), and for updates=1 the whole machine at once (parts=False): SPIN searches the
    plain transition system, none of the Python explorer's reductions, so that one is bounded
    at SPIN_WHOLE_MAX_STATES.  CPU seconds of spin + cc + pan (children's CPU time) plus this
    process's (export, replay)."""
    from ukva_widgets.engine.spin import available

    runs = [(u, True) for u in (1, 2, 3)] + [(1, False)]
    names = [f"big check per-mm 3cpu 4task(VM|FS) u{u} engine=spin{'' if parts else ' whole'}" for u, parts in runs]
    missing = available()
    if missing:
        return [Result(name, float("nan"), "s", 60, False, f"not run: {missing}") for name in names]
    results = []
    for name, (updates, parts) in zip(names, runs):
        t0, c0 = time.process_time(), _children_cpu()
        r = explore(_big_check(updates), max_states=BIG_MAX_STATES if parts else SPIN_WHOLE_MAX_STATES,
                    engine="spin", parts=parts)
        seconds = time.process_time() - t0 + _children_cpu() - c0
        results.append(Result(name, seconds if r.complete else float("inf"), "s", 60, False,
                              f"{'complete' if r.complete else 'NOT complete'} ({r.verdict}), {r.states} states "
                              f"in {seconds:.1f} s CPU (spin+cc+pan), {r.states / seconds:.0f} states/s; {r.method}"))
    return results


def lab_configurations():
    """Every machine DesignLab can build: (workload, tasks, options), over 1 to MAX_CPUS CPUs, 1 to
    MAX_TASKS tasks, every workload, design, fill and option (the per-MM options only under per-mm,
    where the lab enables them).  Some are refused (a shared page needs two MMs): callers skip those."""
    for cpus, n, workload, design, fill in itertools.product(range(1, MAX_CPUS + 1), range(1, MAX_TASKS + 1),
                                                             WORKLOADS, DESIGNS, FILLS):
        per_mm = itertools.product((True, False), SLOTS, CACHES, (False, True)) if design == "per-mm" \
            else [(True, "dynamic", "physical", False)]
        for pcid, flush, (smp_safe, slots, cache, shared_page) in itertools.product((False, True), (False, True),
                                                                                    per_mm):
            yield workload, n, dict(cpus=cpus, design=design, fill=fill, pcid=pcid, flush_on_same_mm_switch=flush,
                                    smp_safe=smp_safe, slots=slots, cache=cache, shared_page=shared_page)


def lab_check() -> list[Result]:
    """Every DesignLab configuration through explore at the lab's bound: the slowest (CPU time)
    and how many took over 2 s or got no verdict."""
    times, undecided = [], 0
    for workload, n, options in lab_configurations():
        try:
            m = Machine(*tasks_for(workload, n), **options)
        except ValueError:
            continue
        t0 = time.process_time()
        r = explore(m, max_states=MAX_STATES)
        times.append((time.process_time() - t0, r.verdict, r.states, workload, n, options))
        undecided += r.verdict == "not proven"
    slowest = max(times, key=lambda row: row[0])
    seconds, verdict, states, workload, n, options = slowest
    where = f"{workload} x{n}, " + ", ".join(f"{k}={v}" for k, v in options.items())
    over = sum(row[0] > 2 for row in times)
    total = sum(row[0] for row in times)
    return [Result("design lab: slowest configuration", seconds, "s", 2, False,
                   f"{where}: {verdict}, {states} states; CPU time; {len(times)} configurations in "
                   f"{total:.0f} s CPU, {undecided} without a verdict"),
            Result("design lab: configurations over 2 s", over, "count", 0, False,
                   f"of {len(times)} (every CPU and task count, workload, design, fill and option)")]


def run() -> list[Result]:
    results = lab_check() + big_checks() + big_checks_spin()
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
