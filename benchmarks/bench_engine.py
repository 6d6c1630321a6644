"""The task engine: how fast `import ukva_widgets.engine` is in a fresh interpreter (and that it
loads no Jupyter package), and how many clone+exit+wait cycles it runs per second."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

from harness import Result

from ukva_widgets.engine import PRESETS, Kernel

RUNS = 7
CYCLES = 20_000
JUPYTER = ("ipywidgets", "bqplot", "traitlets", "IPython", "ipykernel", "jupyter_client", "comm")

# Runs in a fresh interpreter: times the import alone (not the interpreter's start), in wall
# time and in CPU time (which a busy machine inflates less), and lists what it loaded.
IMPORT_PROBE = f"""
import json, sys, time
before = set(sys.modules)
t0, c0 = time.perf_counter(), time.process_time()
import ukva_widgets.engine
ms, cpu_ms = (time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000
loaded = sorted(set(sys.modules) - before)
jupyter = sorted(m for m in loaded if m.split('.')[0] in {JUPYTER!r})
print(json.dumps({{"ms": ms, "cpu_ms": cpu_ms, "loaded": len(loaded), "jupyter": jupyter}}))
"""


def import_in_fresh_interpreter() -> dict:
    done = subprocess.run([sys.executable, "-c", IMPORT_PROBE], capture_output=True, text=True,
                          timeout=60, check=True)
    return json.loads(done.stdout)


def cycles_per_second(flags: int | str, exit_signal: int | None = None) -> tuple[float, float]:
    """clone from a shell, exit the child, reap it: CYCLES times, in one fresh Kernel.
    Returns (cycles per wall-clock second, cycles per CPU second)."""
    k = Kernel()
    sh = k.fork(k.init)
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(CYCLES):
        child = k.clone(sh, flags, exit_signal)
        k.exit(child)
        k.wait(sh)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    k.check()
    if len(k.tasks) != 2:
        raise RuntimeError(f"the benchmark leaked tasks: {k.tasks}")
    return CYCLES / seconds, CYCLES / cpu


def _per_cpu(rates: list[tuple[float, float]]) -> str:
    return f"{statistics.median(c for _, c in rates):,.0f} per CPU second"


def run() -> list[Result]:
    imports = [import_in_fresh_interpreter() for _ in range(RUNS)]
    jupyter = sorted({m for r in imports for m in r["jupyter"]})
    fork_rates = [cycles_per_second(0) for _ in range(3)]
    thread_rates = [cycles_per_second(PRESETS["pthread_create"], 0) for _ in range(3)]
    load = os.getloadavg()[0]
    return [
        Result("import ukva_widgets.engine", statistics.median(r["ms"] for r in imports), "ms", 50.0,
               detail=f"median of {RUNS} fresh interpreters (min {min(r['ms'] for r in imports):.1f} ms, "
                      f"CPU {statistics.median(r['cpu_ms'] for r in imports):.1f} ms); "
                      f"{imports[0]['loaded']} modules loaded; load average {load:.1f}"),
        Result("Jupyter modules loaded by that import", len(jupyter), "modules", 0,
               detail=", ".join(jupyter) or f"none of {', '.join(JUPYTER)}"),
        Result("fork+exit+wait cycles", statistics.median(w for w, _ in fork_rates), "ops/s", 20_000,
               higher_is_better=True, detail=f"median of 3 x {CYCLES} cycles ({_per_cpu(fork_rates)}); "
                                             "k.check() after"),
        Result("pthread_create+exit cycles", statistics.median(w for w, _ in thread_rates), "ops/s",
               20_000, higher_is_better=True,
               detail=f"median of 3 x {CYCLES} ({_per_cpu(thread_rates)}); threads reap themselves"),
    ]
