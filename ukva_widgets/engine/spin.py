"""SPIN as the explorer's second engine: export the machine to Promela (promela.py), let SPIN
generate its verifier, compile it with the system C compiler, run it breadth first (so an
error trail is a shortest one), and read the trail back as the Python choices.

`explore(machine, engine="spin")` calls `search`; explore replays the choices on a fresh
Machine and refuses a trail that does not reproduce its violation.  SPIN searches the plain
transition system, without the Python explorer's reductions: it stores more states, but the
verdict and the depth of a shortest violation are the same (tests/engine/test_spin.py).

`max_states` bounds the search exactly: every step of the model first checks pan's count of
stored states and ends the search, with its statistics, once the bound is reached (a memory
limit, MEMLIM, sized from the bound, is the backstop).  `bitstate`
compiles a supertrace verifier (-DBITSTATE): states are hashed into a bit array, far more fit
in memory, and some may be missed, so a search without a violation is only ever "not proven".

Compiling the verifier takes seconds, most of a small search: each process keeps the last
VERIFIERS_KEPT verifiers it compiled, by what they were made from (model, compiler, defines), so
searching the same machine again (a reader pressing "check with SPIN" twice) starts at once.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import math
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ..browser import IN_BROWSER, NEEDS_LINUX
from . import promela
from .model import Model
from .results import PROGRESS_EVERY, Outcome, Progress
from .state import Choice

INSTALL = "apt-get install spin gcc"
COMPILERS = ("cc", "gcc", "clang")
PART = "spin"
MODEL = "model.pml"
DEPTH = 100_000          # pan's depth bound; a shortest trail is far shorter
MAX_MEMLIM_MB = 16_384   # pan's memory ceiling, whatever the bound asks
FREQ = 20_000            # pan reports progress every FREQ states stored (and every tenth depth)
VERIFIERS_KEPT = 16      # compiled verifiers kept per process, the oldest dropped first
_verifiers: dict[str, Path] = {}   # what a verifier was made from (its digest) -> the compiled pan


class SpinUnavailable(RuntimeError):
    """SPIN or a C compiler is missing: the message says which and how to install it."""


def _compiler() -> str | None:
    return next((cc for cc in COMPILERS if shutil.which(cc)), None)


def available() -> str | None:
    """None when spin and a C compiler are on PATH; else one line saying what is missing and
    how to install it."""
    if IN_BROWSER:  # the live book: a browser page starts no programs
        return f"SPIN runs as a program beside Python, which a browser page cannot start: {NEEDS_LINUX}"
    missing = ([] if shutil.which("spin") else ["spin"]) + ([] if _compiler() else ["a C compiler (cc or gcc)"])
    if not missing:
        return None
    return f"the SPIN engine needs {' and '.join(missing)} on PATH, which it lacks: install with `{INSTALL}`"


class _Run:
    """One child process watched until it ends: its output, while it runs, is scanned for pan's
    progress reports; `progress` is called every PROGRESS_EVERY seconds and may cancel."""

    def __init__(self, cwd: str, progress: Callable[[Progress], bool | None] | None, t0: float) -> None:
        self.cwd, self.progress, self.t0 = cwd, progress, t0
        self.states = 0        # pan's last count of stored states
        self.cancelled_at = 0  # the count `progress` saw when it cancelled

    def __call__(self, cmd: list[str]) -> tuple[str, bool]:
        """(its output, whether `progress` cancelled it)."""
        # Imported here: `import ukva_widgets.engine` must start no process machinery (Pyodide has none).
        import subprocess
        import threading

        proc = subprocess.Popen(cmd, cwd=self.cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env={**os.environ, "LC_ALL": "C"})
        lines: list[str] = []

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append(line)
                found = re.search(r"States=\s*([0-9.e+]+)", line)
                if found:
                    self.states = int(float(found.group(1)))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        cancelled = False
        while True:
            try:
                proc.wait(timeout=PROGRESS_EVERY)
                break
            except subprocess.TimeoutExpired:
                pass
            seen = self.states  # the reader thread moves on; report and keep one figure
            if self.progress is not None and self.progress(
                    Progress(seen, time.perf_counter() - self.t0, PART)) is False:
                cancelled, self.cancelled_at = True, seen
                proc.kill()
                proc.wait()
                break
        reader.join()
        out = "".join(lines)
        if not cancelled and proc.returncode != 0 and Path(cmd[0]).name != "pan":
            raise RuntimeError(f"{' '.join(cmd)} failed (exit {proc.returncode}): {out[-2000:]}")
        return out, cancelled


def _pan_options(model: promela.Promela, max_states: int, bitstate: bool) -> tuple[list[str], list[str]]:
    """(compiler defines, pan's arguments) for a search bounded at `max_states`."""
    per_state = model.vector_bytes + 64  # the stored state, its hash slot and the BFS queue's share
    memlim = min(MAX_MEMLIM_MB, max(256, 3 * max_states * per_state // 2**20 + 128))
    defines = ["-DSAFETY", "-DBFS", "-DNOREDUCE", f"-DBOUND={max_states}", f"-DMEMLIM={memlim}", f"-DFREQ={FREQ}",
               f"-DVECTORSZ={max(1024, 2 * model.vector_bytes)}"]
    log2 = math.ceil(math.log2(max_states + 1))
    if bitstate:
        defines.append("-DBITSTATE")
        width = min(34, max(20, log2 + 6))  # bits: 64 per state asked for, few collisions
    else:
        width = min(26, max(12, log2))      # hash slots: pan grows the table when it fills
    return defines, ["-n", f"-m{DEPTH}", f"-w{width}"]


def _verifier(run: _Run, text: str, defines: list[str]) -> str | None:
    """The compiled verifier of the Promela `text` (written as MODEL in `run`'s folder) with
    `defines`: made there by spin and the C compiler, or the one this process made before from the
    same; None when `progress` cancelled its making."""
    cc = str(_compiler())
    digest = hashlib.sha256("\0".join([cc, *defines, text]).encode()).hexdigest()
    kept = _verifiers.get(digest)
    if kept is not None and kept.exists():
        return str(kept)
    for cmd in (["spin", "-a", MODEL], [cc, "-O1", "-w", *defines, "-o", "pan", "pan.c"]):
        if run(cmd)[1]:
            return None
    for oldest in list(_verifiers)[:max(0, len(_verifiers) + 1 - VERIFIERS_KEPT)]:
        dropped = _verifiers.pop(oldest, None)   # None: another search (a thread) dropped it first
        if dropped is not None:
            dropped.unlink(missing_ok=True)
    kept = _store() / digest
    os.replace(Path(run.cwd, "pan"), kept)
    _verifiers[digest] = kept
    return str(kept)


@functools.cache
def _store() -> Path:
    """This process's folder of compiled verifiers, removed when it exits."""
    store = Path(tempfile.mkdtemp(prefix="ukva-spin-verifiers-"))
    atexit.register(shutil.rmtree, store, True)
    return store


def search(model: Model, max_states: int, progress: Callable[[Progress], bool | None] | None = None, *,
           bitstate: bool = False) -> Outcome:
    """SPIN's breadth-first search of `model`'s machine (see the module docstring)."""
    problem = available()
    if problem is not None:
        raise SpinUnavailable(problem)
    t0 = time.perf_counter()
    exported = promela.export(model)
    defines, args = _pan_options(exported, max_states, bitstate)
    with tempfile.TemporaryDirectory(prefix="ukva-spin-") as tmp:
        Path(tmp, MODEL).write_text(exported.text)
        run = _Run(tmp, progress, t0)
        pan = _verifier(run, exported.text, defines)
        if pan is None:
            return Outcome(None, 0, False, cancelled=True)
        out, cancelled = run([pan, *args])
        if cancelled:
            return Outcome(None, run.cancelled_at, False, cancelled=True)
        stored = re.search(r"([0-9.e+]+) states, stored", out)  # %g: 1.2345679e+08 past 8 digits
        errors = re.search(r"errors: (\d+)", out)
        if stored is None or errors is None:
            raise RuntimeError(f"pan ended without its statistics: {out[-2000:]}")
        states = int(float(stored.group(1)))
        if int(errors.group(1)):
            trail, _ = run([pan, "-r", "-S", f"{MODEL}.trail"])
            choices = [Choice(*(int(x) for x in line.split()[1:5])) for line in trail.splitlines()
                       if line.startswith(promela.STEP + " ")]
            if not choices:
                raise RuntimeError(f"pan found an error but its trail names no step: {out[-2000:]}{trail[-2000:]}")
            return Outcome(choices, states, False)
        cut = any(sign in out for sign in (promela.BOUND_MARK, "Search not completed", "reached -DMEMLIM",
                                           "max search depth too small"))
        return Outcome(None, states, not bitstate and not cut)
