"""Ask the Linux kernel running this notebook what clone() does with given flags.

``probe(flags)`` answers for one flag word, ``probe_all()`` for every subset of the
eight flags the book studies. The work happens in a separate worker process
(``worker.py``) that is time-bounded and reaps every task it makes, so the caller's
own process - a notebook kernel, say - never clones. Where the kernel cannot be asked
(not Linux, kcmp(2) missing or refused) the result says so instead of raising.

This module stands alone: it imports nothing from the engine, so it takes flags as a
plain int; turn names into one with ``ukva_widgets.engine.parse_flags``.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

from ..browser import IN_BROWSER, NEEDS_LINUX, note_once

WORKER = Path(__file__).with_name("worker.py")

# The eight flags the book compares, by their <linux/sched.h> values. Copied here, not
# imported from the engine, because the probe must stand alone; the conformance test
# checks they equal the engine's.
PROBED_FLAGS: dict[str, int] = {
    "CLONE_VM": 0x00000100,
    "CLONE_FS": 0x00000200,
    "CLONE_FILES": 0x00000400,
    "CLONE_SIGHAND": 0x00000800,
    "CLONE_THREAD": 0x00010000,
    "CLONE_SYSVSEM": 0x00040000,
    "CLONE_PARENT": 0x00008000,
    "CLONE_IO": 0x80000000,
}

# Flags whose child the probe could not keep alive and compare (kernel/fork.c: a
# CLONE_VFORK caller waits in wait_for_vfork_done; CLONE_SETTLS loads the tls argument).
_REFUSED_FLAGS = {
    0x00004000: "CLONE_VFORK suspends the caller until the child exits or execs, "
                "so there would be no live child to compare",
    0x00080000: "CLONE_SETTLS needs a thread-local-storage block for the child, "
                "which the probe does not build",
}
CSIGNAL = 0xFF   # the low byte of a legacy clone() flag word is the exit signal (notebooks/sources.ipynb §2)

# kcmp(2)'s number per architecture (arch/x86/entry/syscalls/syscall_64.tbl;
# include/uapi/asm-generic/unistd.h for arm64).
KCMP_SYSCALL = {"x86_64": 312, "aarch64": 272}

SHARED_RESOURCES = ("vm", "fs", "files", "sighand", "io", "sysvsem")
# What the conformance check judges. io and sysvsem are left out: both are allocated
# lazily, so whether they compare equal depends on the caller's history, not on the flags.
COMPARED_RESOURCES = ("vm", "fs", "files", "sighand")


def flag_label(flags: int) -> str:
    """'CLONE_VM|CLONE_FS' for the probed flags, any other bits in hex; '0' for none."""
    names = [name for name, value in PROBED_FLAGS.items() if flags & value]
    rest = flags & ~sum(PROBED_FLAGS.values())
    if rest:
        names.append(hex(rest))
    return "|".join(names) or "0"


@dataclass(frozen=True)
class ProbeResult:
    """What clone(flags | SIGCHLD) did: the errno, or what the child shares with its caller.

    ``shares`` maps each kcmp(2) resource to True when caller and child point at the
    same object. kcmp compares pointers, so two tasks that both lack an io_context or a
    SysV undo list (both allocated lazily) compare equal: ``io`` and ``sysvsem`` are
    True for a plain fork (kernel/kcmp.c; notebooks/sources.ipynb §4). None means kcmp refused.
    """

    flags: int
    available: bool = True
    why: str = ""                                   # set when available is False
    errno: int = 0                                  # 0 when clone() succeeded
    error: str = ""                                 # the errno's name, e.g. "EINVAL"
    shares: Mapping[str, bool | None] = field(default_factory=dict)
    same_thread_group: bool | None = None           # the child joined the caller's group
    parent_is: str | None = None                    # "caller" or "caller's parent"
    recorded: str = ""                              # a stored answer: the kernel that gave it (recorded.py)

    @property
    def ok(self) -> bool:
        return self.available and self.errno == 0

    def text(self) -> str:
        """One line: 'EINVAL', 'unavailable: ...' or what is shared, the group, the parent."""
        if not self.available:
            return f"unavailable: {self.why}"
        if self.errno:
            return self.error
        shared = " ".join(name for name in SHARED_RESOURCES if self.shares.get(name)) or "nothing"
        group = "same thread group" if self.same_thread_group else "own thread group"
        return f"shares {shared}; {group}; parent: {self.parent_is}"

    def __str__(self) -> str:
        return f"clone({flag_label(self.flags)}): {self.text()}"


def disagreements(kernel: ProbeResult, engine: ProbeResult) -> list[str]:
    """Where a model's answer (the engine's) differs from the kernel's: errno, the sharing of
    COMPARED_RESOURCES, the thread group and the parent. Empty when they agree.
    An unavailable answer cannot agree with anything: that is a ValueError."""
    for side, r in (("kernel", kernel), ("engine", engine)):
        if not r.available:
            raise ValueError(f"cannot compare: the {side}'s answer is unavailable ({r.why})")
    if kernel.errno != engine.errno:
        return [f"errno: kernel {kernel.error or 'success'}, engine {engine.error or 'success'}"]
    if kernel.errno:
        return []
    fields = [(f"shares {name}", kernel.shares.get(name), engine.shares.get(name))
              for name in COMPARED_RESOURCES]
    fields += [("same thread group", kernel.same_thread_group, engine.same_thread_group),
               ("parent", kernel.parent_is, engine.parent_is)]
    return [f"{what}: kernel {k}, engine {e}" for what, k, e in fields if k != e]


def check_flags(flags: int) -> int:
    """Return `flags` if the probe can try it; else raise saying what is wrong and what to do."""
    if isinstance(flags, bool) or not isinstance(flags, int):
        raise TypeError(f"the probe takes a clone() flag word as an int, not {type(flags).__name__}; "
                        "to use names, parse them first with ukva_widgets.engine.parse_flags")
    if flags < 0 or flags >> 32:
        raise ValueError(f"{flags:#x} is not a legacy clone() flag word: the probe calls clone(), "
                         "whose flags fit in 32 bits; clone3-only flags cannot be probed")
    if flags & CSIGNAL:
        raise ValueError(f"{flags:#x} sets bits of the low byte, which clone() reads as the exit "
                         "signal (CSIGNAL); the probe adds SIGCHLD itself, so pass flags only")
    for bit, reason in _REFUSED_FLAGS.items():
        if flags & bit:
            raise ValueError(f"cannot probe {flags:#x}: {reason}; leave that flag out")
    return int(flags)   # a CloneFlags is welcome; the result holds a plain int


def unavailable_reason(system: str, machine: str) -> str:
    """Why a machine cannot be probed at all, or '' when it can be tried."""
    if system != "Linux":
        return f"this is {system}, not Linux: clone() and kcmp(2) are Linux system calls"
    if machine not in KCMP_SYSCALL:
        return f"the probe does not know kcmp(2)'s system call number on {machine}"
    return ""


def probe(flags: int, timeout: float = 10.0) -> ProbeResult:
    """What the running kernel does with clone(flags | SIGCHLD), asked from a worker process."""
    return probe_many([flags], timeout)[0]


def subsets() -> list[int]:
    """Every subset of PROBED_FLAGS as a flag word, in increasing order (256 of them)."""
    values = list(PROBED_FLAGS.values())
    return sorted(sum(chosen) for size in range(len(values) + 1)
                  for chosen in combinations(values, size))


def probe_all(timeout: float = 60.0) -> list[ProbeResult]:
    """probe() every subset of PROBED_FLAGS in one worker, in the order of subsets()."""
    return probe_many(subsets(), timeout)


def probe_many(flag_words: Iterable[int], timeout: float) -> list[ProbeResult]:
    """probe() each flag word in one worker process, bounded by `timeout` seconds in all."""
    words = [check_flags(flags) for flags in flag_words]
    if not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
    if IN_BROWSER:  # the live book: no kernel to ask, so show what one answered
        from .recorded import results

        answers = results(words)
        note_once(f"No Linux kernel to ask in a browser page: {NEEDS_LINUX}. Below, what "
                  f"{answers[0].recorded or 'Linux'} answered when the book was built.")
        return answers
    why = unavailable_reason(platform.system(), platform.machine())
    if why:
        return [ProbeResult(flags, available=False, why=why) for flags in words]
    lines, why = _run_worker(words, KCMP_SYSCALL[platform.machine()], timeout)
    if why:
        return [ProbeResult(flags, available=False, why=why) for flags in words]
    return [result_of(flags, line) for flags, line in zip(words, lines)]


def _run_worker(words: list[int], kcmp_nr: int, timeout: float) -> tuple[list[dict], str]:
    """Run worker.py over `words`; (one answer per word, '') or ([], why it gave none)."""
    # -I -S: the worker needs only the standard library; skipping site makes it start faster.
    proc = subprocess.Popen([sys.executable, "-I", "-S", str(WORKER), str(kcmp_nr)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        out, err = proc.communicate(json.dumps(words), timeout=timeout)
    except subprocess.TimeoutExpired:
        # The worker is not reaped yet, so its process group id still names only our tasks.
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return [], f"the probe did not finish within {timeout:g} s and was stopped"
    try:
        header, *lines = (json.loads(line) for line in out.splitlines())
    except ValueError:
        header, lines = None, []
    if proc.returncode != 0 or header is None or (header["available"] and len(lines) != len(words)):
        last = err.strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
        return [], f"the probe's worker failed: {last[0]}"
    return lines, header["why"]


def result_of(flags: int, line: Mapping, recorded: str = "") -> ProbeResult:
    """The ProbeResult of one line of the worker's answer (or of a stored one, from the kernel `recorded`)."""
    if "failed" in line:
        return ProbeResult(flags, available=False, why=line["failed"], recorded=recorded)
    if line["errno"]:
        return ProbeResult(flags, errno=line["errno"], error=line["error"], recorded=recorded)
    return ProbeResult(flags, shares=dict(line["shares"]), same_thread_group=line["same_thread_group"],
                       parent_is=line["parent_is"], recorded=recorded)
