"""`ukva measure`'s kernel side: make the running kernel shoot TLBs down, and count what it did.

A small C program (measure.c, built here with the system's C compiler) runs each experiment pinned
to CPUs with sched_setaffinity: one CPU remaps a page over and over while the other CPUs run
threads of the same MM (``threads-update``), processes of their own (``processes-update``), or
nothing of it any more (``lazy-update``: its threads asleep, or another process there); and on one
CPU a pipe ping-pong between two threads, then two processes (``switch-thread-vs-process``). Where
the kernel permits it, every task runs at real-time priority (SCHED_FIFO), so no other program's
task comes in between on those CPUs; each figure says whether it did (``real_time``). Every figure
is the median over repeats, with its spread, of what the kernel counted meanwhile:

- the "TLB shootdowns" line of /proc/interrupts: the flush IPIs each CPU received, readable by
  anyone (``flush_tlb_func()`` in arch/x86/mm/tlb.c counts one per IPI, ``inc_irq_stat(irq_tlb_count)``);
- where perf_event_open(2) permits it, the tracepoint tlb:tlb_flush per CPU, split by its reason
  (``enum tlb_flush_reason`` in include/linux/mm_types.h, exported to tracefs by commit
  8b62e64e6d30 "x86/mm/tlb/trace: Export the TLB_REMOTE_WRONG_CPU enum in <trace/events/tlb.h>").

Stands alone: imports nothing from the engine. The engine's prediction of the same schedules, and
where and why the two differ, are measure_lab.py's.
"""

from __future__ import annotations

import atexit
import json
import os
import platform
import re
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ukva_widgets.real.agent import compiler

SOURCE = Path(__file__).with_name("measure.c")
BINARY_NAME = "ukva-measure"
EXPERIMENTS = ("threads-update", "processes-update", "lazy-update", "switch-thread-vs-process")
MAX_CPUS = 4          # the engine predicts with one task per CPU, and lazy-update needs 2N - 1 tasks
REPEATS, UPDATES, ROUND_TRIPS = 5, 500, 2000
# enum tlb_flush_reason's values in order (include/linux/mm_types.h at 0c01ea92f545); a kernel's
# own names are read from the tracepoint's format when it can be read.
REASONS = ("flush on task switch", "remote shootdown", "local shootdown", "local MM shootdown",
           "remote IPI send", "remote wrong CPU")
SWITCH_FLUSH = len(REASONS)   # measure.c's last filter: task switches that flushed the TLB
RECEIVED = (1, 5)             # the reasons flush_tlb_func() traces on a CPU an IPI reached
TRACEFS = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")
PROC_INTERRUPTS = "/proc/interrupts"
SOURCE_INTERRUPTS, SOURCE_TRACEPOINT = "/proc/interrupts", "tlb:tlb_flush"

Progress = Callable[[str], None]


@dataclass
class Measured:
    """What the kernel showed for one experiment: `values` (the "measured" figures) and where the
    counts came from (`source`), or, when it could not be asked, `why` not."""

    name: str
    cpus: list[int]
    repeats: int
    values: dict = field(default_factory=dict)
    source: str = ""
    why: str = ""

    @property
    def available(self) -> bool:
        return not self.why


@dataclass
class Machine:
    """The facts about this machine the experiments and the prediction depend on."""

    kernel: str
    cpus: list[int]            # the CPUs this process may run on (sched_getaffinity)
    pcid: bool                 # the CPU has PCIDs (/proc/cpuinfo "pcid")
    virtual: bool              # a hypervisor is present (/proc/cpuinfo "hypervisor")
    tracepoint: int | None     # tlb:tlb_flush's id, or None
    reasons: tuple[str, ...] = REASONS
    why_no_trace: str = ""     # why the tracepoint cannot be used, when tracepoint is None
    has_tlb_line: bool = False

    def text(self) -> str:
        cpu = f"{len(self.cpus)} CPU{'s' * (len(self.cpus) != 1)} usable"
        return (f"{self.kernel}, {cpu}, {'PCID' if self.pcid else 'no PCID'}"
                + (", virtual machine" if self.virtual else ""))


def unavailable_reason() -> str:
    """Why this machine's kernel cannot be asked at all, or ''."""
    if sys.platform == "emscripten":
        return ("this Python runs in the browser (Pyodide), which has no kernel of its own to ask: "
                "run the book on a Linux machine with ukva_widgets installed")
    if platform.system() != "Linux":
        return f"this is {platform.system()}, not Linux: the counters read here are Linux's"
    if not os.access(PROC_INTERRUPTS, os.R_OK):
        return f"{PROC_INTERRUPTS} cannot be read here (is /proc mounted?)"
    return ""


def cpu_flags() -> set[str]:
    """The first CPU's flags in /proc/cpuinfo (x86), or an empty set."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    found = re.search(r"^flags\s*:(.*)$", text, re.MULTILINE)
    return set(found.group(1).split()) if found else set()


def tlb_columns() -> tuple[list[int], bool]:
    """The CPU number of each column of /proc/interrupts, and whether it has a "TLB:" line."""
    text = Path(PROC_INTERRUPTS).read_text()
    header = text.splitlines()[0] if text else ""
    columns = [int(name[3:]) for name in header.split() if name.startswith("CPU")]
    return columns, bool(re.search(r"^\s*TLB:", text, re.MULTILINE))


def parse_tlb_line(line: str, columns: list[int]) -> dict[int, int]:
    """{cpu: shootdowns received} from the "TLB:" line of /proc/interrupts."""
    counts = line.split(":", 1)[1].split() if ":" in line else []
    return {cpu: int(n) for cpu, n in zip(columns, counts) if n.isdigit()}


def find_tracepoint() -> tuple[int | None, tuple[str, ...], str]:
    """tlb:tlb_flush's id and reason names from tracefs, or (None, REASONS, why not). As root,
    mounts tracefs on /sys/kernel/tracing when nothing is mounted there."""
    if not os.path.exists(f"{TRACEFS[0]}/events") and os.geteuid() == 0 and os.path.isdir(TRACEFS[0]) \
            and shutil.which("mount"):
        import subprocess
        subprocess.run(["mount", "-t", "tracefs", "nodev", TRACEFS[0]], capture_output=True, timeout=10)
    for root in TRACEFS:
        event = Path(root, "events/tlb/tlb_flush")
        try:
            number = int((event / "id").read_text())
        except PermissionError:
            return None, REASONS, f"{root} is readable by root only (run as root to count tlb:tlb_flush)"
        except (OSError, ValueError):
            continue
        try:
            fmt = (event / "format").read_text()
        except OSError:
            fmt = ""
        names = dict((int(v), n) for v, n in re.findall(r'\{\s*(\d+),\s*"([^"]+)"\s*\}', fmt))
        return number, tuple(names.get(i, name) for i, name in enumerate(REASONS)), ""
    return None, REASONS, ("no tlb:tlb_flush tracepoint under " + " or ".join(TRACEFS)
                           + " (tracefs not mounted, or not an x86 kernel)")


def machine() -> Machine:
    """This machine, as the experiments see it."""
    flags = cpu_flags()
    number, reasons, why = find_tracepoint()
    _, has_line = tlb_columns()
    return Machine(kernel=f"Linux {platform.release()} ({platform.machine()})",
                   cpus=sorted(os.sched_getaffinity(0)), pcid="pcid" in flags, virtual="hypervisor" in flags,
                   tracepoint=number, reasons=reasons, why_no_trace=why, has_tlb_line=has_line)


# -- building and running measure.c --------------------------------------------------------------

_built: dict[str, Path] = {}


def build() -> tuple[Path | None, str]:
    """The compiled measure.c, built once per process into a private temporary directory
    (removed at exit); or (None, why it could not be built)."""
    if "binary" in _built:
        return _built["binary"], ""
    cc = compiler()
    if cc is None:
        return None, "no C compiler (cc or gcc) to build the measuring program; install gcc"
    import subprocess
    directory = Path(tempfile.mkdtemp(prefix="ukva-measure-"))
    atexit.register(shutil.rmtree, directory, True)
    binary = directory / BINARY_NAME
    done = subprocess.run([cc, "-O2", "-w", "-pthread", "-o", str(binary), str(SOURCE)],
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        return None, f"building {SOURCE.name} with {cc} failed: {last}"
    try:   # without its arguments the program says how to call it and exits with status 2
        ran = subprocess.run([str(binary)], capture_output=True, timeout=30).returncode
    except OSError as exc:
        ran = exc
    if ran != 2:
        return None, (f"the measuring program built in {directory} does not run ({ran}); is the temporary "
                      "directory mounted noexec? Point TMPDIR at one that allows programs")
    _built["binary"] = binary
    return binary, ""


def run_program(binary: Path, experiment: str, cpus: list[int], repeats: int, count: int,
                tracepoint: int | None, timeout: float, progress: Progress | None) -> tuple[dict, list[dict]]:
    """Run one experiment of measure.c; (its first line: {"perf": why the tracepoint could not be
    counted, "realtime": why it ran at normal priority; "" when it could}, one dict per repeat's
    line). Reports each repeat's end to `progress`. Raises RuntimeError if it fails
    or runs past `timeout` seconds."""
    import subprocess

    args = [str(binary), experiment, ",".join(map(str, cpus)), str(repeats), str(count),
            str(-1 if tracepoint is None else tracepoint)]
    try:
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
    except OSError as exc:
        raise RuntimeError(f"the {experiment} experiment could not start: {exc}") from exc
    lines: list[dict] = []
    per_repeat = 2 if experiment == "switch" else 1      # a switch repeat prints threads, then processes
    timer = _kill_after(proc, timeout)
    try:
        for raw in proc.stdout:
            try:
                lines.append(json.loads(raw))
            except ValueError:
                raise RuntimeError(f"the {experiment} experiment printed {raw.strip()[:80]!r}, not a result") from None
            done = len(lines) - 1
            if progress and done and done % per_repeat == 0:
                progress(f"repeat {done // per_repeat}/{repeats}")
        err = proc.stderr.read()
        proc.wait()
    finally:
        timer.cancel()
    if proc.returncode != 0 or not lines:
        last = (err.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        if proc.returncode == -9:
            last = f"stopped after {timeout:g} s"
        raise RuntimeError(f"the {experiment} experiment failed: {last}")
    return lines[0], lines[1:]


def _kill_after(proc, seconds: float):
    import signal
    import threading

    def kill() -> None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    timer = threading.Timer(seconds, kill)
    timer.daemon = True
    timer.start()
    return timer


# -- the figures ---------------------------------------------------------------------------------

def summary(samples: list[float]) -> dict:
    """The median of the repeats' values and their spread (lowest, highest)."""
    return {"median": round(statistics.median(samples), 4),
            "spread": [round(min(samples), 4), round(max(samples), 4)],
            "samples": [round(s, 4) for s in samples]}


def update_figures(lines: list[dict], cpus: list[int], count: int, columns: list[int],
                   reasons: tuple[str, ...], traced: bool) -> tuple[dict, str]:
    """An update experiment's measured figures and their source: the IPIs the other CPUs received
    per update (median and spread over repeats), where they landed (per CPU) and, when traced, the
    tlb:tlb_flush reasons per update."""
    received: list[dict[int, float]] = []       # per repeat, per CPU
    interrupts: list[dict[int, float]] = []
    for line in lines:
        before, after = parse_tlb_line(line["before"], columns), parse_tlb_line(line["after"], columns)
        interrupts.append({c: (after.get(c, 0) - before.get(c, 0)) / count for c in cpus})
        if traced:
            received.append({c: sum(line["trace"][i][r] for r in RECEIVED) / count for i, c in enumerate(cpus)})
    per_repeat = received if traced else interrupts
    others = summary([sum(r[c] for c in cpus[1:]) for r in per_repeat])
    values = {"shootdowns_per_update": others["median"], "spread": others["spread"],
              "samples": others["samples"], "updates": count,
              "per_cpu": {f"cpu{c}": round(statistics.median(r[c] for r in per_repeat), 4) for c in cpus}}
    if traced:
        values["interrupts_per_update"] = round(statistics.median(sum(r[c] for c in cpus[1:]) for r in interrupts), 4)
        values["reasons_per_update"] = {
            name: {f"cpu{c}": round(statistics.median(line["trace"][i][r] / count for line in lines), 4)
                   for i, c in enumerate(cpus)}
            for r, name in enumerate(reasons)}
    return values, SOURCE_TRACEPOINT if traced else SOURCE_INTERRUPTS


def switch_figures(lines: list[dict], round_trips: int, traced: bool, pcid: bool) -> dict:
    """The switch experiment's figures: the time of a process switch over a thread switch, each
    repeat measuring both (median, spread), and when traced the CR3 writes and flushes per switch."""
    switches = 2 * round_trips
    by_repeat: dict[int, dict[str, dict]] = {}
    for line in lines:
        by_repeat.setdefault(line["repeat"], {})[line["kind"]] = line
    pairs = [kinds for kinds in by_repeat.values() if len(kinds) == 2]
    ratio = summary([k["process"]["ns"] / k["thread"]["ns"] for k in pairs])
    values = {"time_ratio": ratio["median"], "spread": ratio["spread"], "samples": ratio["samples"],
              "switches": switches, "pcid": pcid}
    for kind in ("thread", "process"):
        values[f"ns_per_{kind}_switch"] = round(statistics.median(k[kind]["ns"] / switches for k in pairs), 1)
        if traced:
            values[f"cr3_writes_per_{kind}_switch"] = round(
                statistics.median(k[kind]["trace"][0][0] / switches for k in pairs), 4)
            values[f"flushes_per_{kind}_switch"] = round(
                statistics.median(k[kind]["trace"][0][SWITCH_FLUSH] / switches for k in pairs), 4)
    return values


def priority(header: dict) -> dict:
    """Whether the program's tasks ran at real-time priority ({"real_time": True}), or why not."""
    why = header.get("realtime", "not reported")
    return {"real_time": True} if not why else {"real_time": False, "real_time_unavailable": why}


def check_experiments(names: Sequence[str]) -> list[str]:
    """`names` in EXPERIMENTS order, each checked; a ValueError names the ones there are."""
    if isinstance(names, str):
        names = [names]
    unknown = [n for n in names if n not in EXPERIMENTS]
    if unknown or not names:
        raise ValueError(f"{'no experiment given' if not names else f'unknown experiment {unknown[0]!r}'}: "
                         f"choose from {', '.join(EXPERIMENTS)}")
    return [n for n in EXPERIMENTS if n in names]


def measure_kernel(cpus: int | None = None, repeats: int = REPEATS, updates: int = UPDATES,
                   round_trips: int = ROUND_TRIPS, progress: Progress | None = None, timeout: float = 120.0,
                   experiments: Sequence[str] = EXPERIMENTS) -> tuple[Machine | None, list[Measured]]:
    """Run `experiments` (default: all four) on this kernel: (the machine, one Measured per
    experiment, in EXPERIMENTS order). `cpus` is how many CPUs to use (default: the usable ones,
    up to MAX_CPUS). Whatever cannot be measured says why instead; nothing raises for a machine
    that cannot be asked."""
    names = check_experiments(experiments)
    for name, value, low in (("repeats", repeats, 1), ("updates", updates, 1), ("round_trips", round_trips, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be a whole number >= {low}, not {value!r}")
    why = unavailable_reason()
    if why:
        return None, [Measured(name, [], repeats, why=why) for name in names]
    box = machine()
    usable = box.cpus
    if cpus is not None and (isinstance(cpus, bool) or not isinstance(cpus, int) or not 1 <= cpus <= MAX_CPUS):
        raise ValueError(f"cpus must be a whole number from 1 to {MAX_CPUS}, not {cpus!r}")
    chosen = usable[:min(cpus or MAX_CPUS, MAX_CPUS)]
    if cpus is not None and cpus > len(usable):
        raise ValueError(f"cpus={cpus} but this process may run on only {len(usable)} CPU(s) "
                         f"({', '.join(map(str, usable))}): ask for at most {len(usable)}")
    binary, why = build()
    if binary is None:
        return box, [Measured(name, chosen, repeats, why=why) for name in names]
    columns, _ = tlb_columns()
    out = []
    for name in names:
        try:
            out.append(_one(name, box, binary, chosen, columns, repeats, updates, round_trips, timeout, progress))
        except RuntimeError as exc:
            out.append(Measured(name, chosen, repeats, why=str(exc)))
    return box, out


def _one(name: str, box: Machine, binary: Path, cpus: list[int], columns: list[int], repeats: int,
         updates: int, round_trips: int, timeout: float, progress: Progress | None) -> Measured:
    def tell(part: str) -> Progress | None:
        return None if progress is None else lambda text: progress(f"{name}{part}: {text}")
    if name == "switch-thread-vs-process":
        header, lines = run_program(binary, "switch", cpus[:1], repeats, round_trips, box.tracepoint,
                                    timeout, tell(""))
        traced = box.tracepoint is not None and not header["perf"]
        values = {**switch_figures(lines, round_trips, traced, box.pcid), **priority(header)}
        if not traced:
            values["counts_unavailable"] = box.why_no_trace or header["perf"]
        return Measured(name, cpus[:1], repeats, values, SOURCE_TRACEPOINT if traced else "clock_gettime only")
    if len(cpus) < 2:
        where = (f"only one CPU ({cpus[0]}) is usable by this process (sched_getaffinity)" if len(box.cpus) < 2
                 else "one CPU was asked for")
        return Measured(name, cpus, repeats, why=(
            f"{where}: a shootdown needs a second CPU; run on a machine with two or more CPUs, outside taskset"))
    experiments = ("lazy-sleep", "lazy-other") if name == "lazy-update" else (name,)
    values: dict = {}
    for experiment in experiments:
        part = {"lazy-sleep": " (threads asleep)", "lazy-other": " (another process)"}.get(experiment, "")
        header, lines = run_program(binary, experiment, cpus, repeats, updates, box.tracepoint, timeout,
                                    tell(part))
        traced = box.tracepoint is not None and not header["perf"]
        if not traced and not box.has_tlb_line:
            return Measured(name, cpus, repeats, why=(
                f"{PROC_INTERRUPTS} has no \"TLB\" line on this {platform.machine()} kernel and "
                f"tlb:tlb_flush cannot be counted ({box.why_no_trace or header['perf']})"))
        figures, source = update_figures(lines, cpus, updates, columns, box.reasons, traced)
        figures.update(priority(header))
        if not traced:
            figures["counts_by_reason_unavailable"] = box.why_no_trace or header["perf"]
        values = figures if not values else {**values, "other_mm": figures}
    return Measured(name, cpus, repeats, values, source)
