"""Running a submission in a fresh, sandboxed, limited kernel and collecting its answers as plain data.

Each submission gets its own fresh IPython kernel process (nbclient), started by bubblewrap in
its own namespaces, as an unprivileged uid, with no network, a private tmpfs home and totals on
memory, processes, disk and CPU (isolation.py says exactly what and how). The grader talks to it
over ZMQ on Unix sockets, through a meter that bounds what the kernel can send (meter.py), with
HMAC-signed messages that must answer the grader's own requests (clients.py).

One time budget per submission (`Limits.total_seconds`, `--timeout`) covers everything: kernel
starts, cells, replays and the collection of answers; when it is spent the meter kills the sandbox,
whatever is arriving. Student cells may use it up to its last `reserve` seconds, kept for collecting
the answers. A cell running longer than `cell_seconds` is interrupted; if it does not stop within
a grace the sandbox is killed all the same, a fresh kernel replays the cells that had finished and
the submission goes on, so it is graded as far as it goes. A cell that raises is recorded and the
run goes on. Output beyond a cap is dropped. Then one grader cell per item asks `collect.emit` for
that item's answer, tagged with a nonce; nothing else the kernel printed is read. When
`run_submission` returns, every process the submission started is dead and its directories are gone.

If the sandbox cannot be made, `run_submission` raises `SandboxUnavailable` (never grades
unprotected) unless `Limits(sandbox=False)` (the instructor's --no-sandbox) says otherwise.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from queue import Empty
from typing import TYPE_CHECKING, Any

from .isolation import BoxLimits, Sandbox, SandboxUnavailable, check_bwrap, shutdown_all, totals_warning
from .meter import MESSAGES_PER_SECOND, KernelMessageError

if TYPE_CHECKING:
    from nbformat import NotebookNode

__all__ = ["KernelMessageError", "Limits", "Run", "SandboxUnavailable", "check_available", "run_submission",
           "shutdown_all", "totals_warning"]

MIB = 1 << 20
IOPUB_SECONDS = 2        # after a cell's reply, how long its last output may take to arrive
INTERRUPT_GRACE = 2.0    # how long an interrupted cell gets to stop before its kernel is killed
SHORTEST_CELL = 0.5      # less time left than this: the cell does not start


@dataclass(frozen=True)
class Limits:
    """What one submission may use; `ukva grade` sets them from its options."""

    cell_seconds: float = 20.0      # one cell (student or collector), then it is interrupted
    total_seconds: float = 90.0     # everything: kernel starts, cells, replays and the answers
    memory_mib: int = 2048          # all the submission's processes together (cgroup; see isolation.py)
    output_bytes: int = 1 * MIB     # student output kept per submission
    processes: int = 256            # processes and threads at once (pids cgroup / RLIMIT_NPROC)
    disk_mib: int = 64              # its tmpfs home (and RLIMIT_FSIZE)
    cpu_seconds: int = 120          # CPU time per process (RLIMIT_CPU)
    sandbox: bool = True            # False: the instructor's --no-sandbox (no isolation at all)
    open_files: int = 256           # descriptors per process (RLIMIT_NOFILE)
    cpus: float = 1.0               # cores all its processes together may use (cpu cgroup)
    received_mib: int = 128         # everything its kernel may send the grader (meter.py)

    def __post_init__(self) -> None:
        for name in ("cell_seconds", "total_seconds", "memory_mib", "output_bytes", "processes",
                     "disk_mib", "cpu_seconds", "open_files", "cpus", "received_mib"):
            if not getattr(self, name) > 0:
                raise ValueError(f"the {name.replace('_', ' ')} limit must be positive, not {getattr(self, name)}")

    @property
    def reserve(self) -> float:
        """The last seconds of the budget, kept for collecting the answers."""
        return min(self.cell_seconds, self.total_seconds / 4)

    def box(self) -> BoxLimits:
        return BoxLimits(self.memory_mib, self.processes, self.disk_mib, self.cpu_seconds, self.open_files,
                         self.cpus, self.received_mib, self.total_seconds)


@dataclass
class Run:
    """What came out of running a submission, per item either {"kernel": the record the kernel
    sent} or {"unread": why the grader got none}; and what went wrong on the way."""

    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    isolation: str = ""  # what isolation applied, one line (goes into the JSON report)


def check_available(limits: Limits = Limits()) -> str:
    """A one-line description of the isolation each submission will get, or SandboxUnavailable
    saying what is missing and how to fix it (nothing is run unprotected)."""
    if not limits.sandbox:
        return "none (--no-sandbox)"
    check_bwrap()
    box = Sandbox("{}", limits.box())
    try:
        return box.isolation
    finally:
        box.close()


class _Stopped(Exception):
    """The budget is spent: nothing more of this submission runs."""


def _clients():
    from . import clients  # imports jupyter_client and nbclient, and checks their private names

    return clients


def run_submission(nb: NotebookNode, items: dict[str, Any], limits: Limits = Limits()) -> Run:
    """Execute notebook `nb` and collect `items` (item id -> hidden inputs or None)."""
    import nbformat

    clients = _clients()
    run = Run()
    t0 = time.monotonic()
    end = t0 + limits.total_seconds
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.source.strip()]
    skip: set[int] = set()      # never run again: they overran, were interrupted or killed the kernel
    finished: set[int] = set()  # ran to their end: replayed in a fresh kernel after a restart
    box = Sandbox(nbformat.writes(nb), limits.box(), enabled=limits.sandbox)
    run.isolation = box.isolation
    client = None
    try:
        client = clients.CappedClient(
            nb, kernel_name="python3", kernel_manager_class=clients.kernel_manager_class(box),
            allow_errors=True, interrupt_on_timeout=True, iopub_timeout=IOPUB_SECONDS,
            error_on_timeout={"ename": "CellTimeoutError", "evalue": "timed out", "traceback": []},
            store_widget_state=False, shutdown_kernel="immediate", resources={"metadata": {"path": box.cwd}},
        )
        client.budget = limits.output_bytes
        try:
            while True:
                with client.setup_kernel():
                    outcome = _run_cells(client, box, nb, code, skip, finished, end, limits, run)
                    if outcome == "collect":
                        _collect(client, box, items, end, limits, run)
                        if box.meter.violation:
                            raise KernelMessageError(box.meter.violation)
                        if box.meter.cut and box.kernel_alive():  # before the kernel is shut down
                            raise KernelMessageError("the kernel cut a connection to the grader")
                        break
                box.kill()  # whatever the kernel left running dies with it, before the next one starts
        except _Stopped:
            for item_id in items:
                run.records.setdefault(item_id, {"unread": f"the time budget ({limits.total_seconds:g} s) ran out "
                                                           "before this answer was read"})
        except KernelMessageError:
            raise
        except (RuntimeError, OSError):  # a kernel that did not start: was it the meter?
            if box.meter.violation:
                raise KernelMessageError(box.meter.violation) from None
            if box.meter.fired != "deadline":
                raise
            run.problems.append(f"the time budget ({limits.total_seconds:g} s) ran out while a kernel started")
    except KernelMessageError as exc:
        # Fail closed: a kernel that sends what no honest kernel sends gets nothing judged.
        run.records.clear()
        run.problems.append(f"{exc}; the submission was stopped and none of its answers were read")
    finally:
        box.close()  # every process of this submission is dead and its directories are gone
    _notes(run, client, box, limits)
    run.seconds = time.monotonic() - t0
    return run


def _notes(run: Run, client, box: Sandbox, limits: Limits) -> None:
    """What the submission sent that the grader dropped or slowed."""
    if client is None:
        return
    if client.dropped:
        run.problems.append(f"the submission printed more than {limits.output_bytes // 1024} KiB; "
                            "the rest of its output was dropped")
    if client.dropped_collecting:
        run.problems.append("the submission printed while its answers were collected; that output was dropped")
    if box.tally["refused"]:
        run.problems.append(f"the kernel sent {box.tally['refused']} widget message(s) or binary attachment(s); "
                            "the grader dropped them unread (it shows no widgets)")
    if box.meter.throttled:
        run.problems.append(f"the kernel sent more than {MESSAGES_PER_SECOND} messages a second; the grader "
                            f"read them no faster ({box.meter.messages} messages read in all)")


def _lost(box: Sandbox, what: str, limits: Limits, run: Run) -> None:
    """After a kernel died: a protocol violation stops the submission (KernelMessageError), a spent
    budget stops it (_Stopped); otherwise the caller restarts it."""
    if box.meter.violation:
        raise KernelMessageError(box.meter.violation)
    if box.meter.fired == "deadline":
        run.problems.append(f"the time budget ({limits.total_seconds:g} s) ran out while {what}; "
                            "nothing after it ran")
        raise _Stopped


def _execute(client, box: Sandbox, cell, index: int, seconds: float, **kw) -> str:
    """Run one cell with `seconds` to finish: "done", "interrupted" (it overran and stopped when
    interrupted), "stuck" (it overran and did not stop: the kernel was killed) or "died"."""
    from nbclient.exceptions import DeadKernelError
    from nbclient.util import run_sync

    client.timeout_func = lambda _cell: seconds
    box.meter.arm(seconds + IOPUB_SECONDS + INTERRUPT_GRACE + 1)  # whatever nbclient is doing then
    try:
        client.execute_cell(cell, index, **kw)
        if not client.kc.shell_channel.pending:
            return "done"
        # nbclient gave up waiting and sent an interrupt: does the kernel stop?
        if run_sync(_settle)(client.kc, INTERRUPT_GRACE):
            return "interrupted"
        box.kill()
        return "stuck"
    except DeadKernelError:
        return "stuck" if box.meter.fired == "cell" else "died"
    finally:
        box.meter.disarm()


async def _settle(kc, seconds: float) -> bool:
    """Whether every request the kernel has not answered yet is answered within `seconds`."""
    deadline = time.monotonic() + seconds
    while kc.shell_channel.pending:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        try:
            await kc.shell_channel.get_msg(timeout=left)
        except Empty:
            return False
    return True


def _run_cells(client, box: Sandbox, nb, code: list[int], skip: set[int], finished: set[int], end: float,
               limits: Limits, run: Run) -> str:
    """Run the code cells not in `skip`: "collect" (all ran, or the time for student cells is
    over) or "restart" (the kernel was killed or died: start another, replay what finished)."""
    for i in code:
        if i in skip:
            continue
        # A replay may use the budget to its end; a cell that never finished, and the time to
        # interrupt it, stop before the reserve.
        left = (end if i in finished else end - limits.reserve - IOPUB_SECONDS - INTERRUPT_GRACE) - time.monotonic()
        if left < SHORTEST_CELL:
            if i in finished:
                _lost(box, f"cell {i} was replayed", limits, run)
            run.problems.append(f"the time for student cells ({limits.total_seconds - limits.reserve:g} s of the "
                                f"{limits.total_seconds:g} s budget) was over; cells from {i} on did not run")
            skip.update(j for j in code if j >= i and j not in finished)
            return "collect"
        seconds = min(limits.cell_seconds, left)
        outcome = _execute(client, box, nb.cells[i], i, seconds)
        if outcome in ("stuck", "died"):
            _lost(box, f"cell {i} ran", limits, run)
            skip.add(i)
            why = (f"ran longer than {seconds:g} s and did not stop when interrupted" if outcome == "stuck"
                   else f"killed the kernel (os._exit, a crash, or memory beyond {limits.memory_mib} MiB)")
            if box.hit_memory_limit():
                why += f" (its processes reached the memory limit, {limits.memory_mib} MiB)"
            run.problems.append(f"cell {i} {why}; it was skipped and the cells before it re-run in a fresh kernel")
            return "restart"
        if outcome == "interrupted":
            skip.add(i)
            run.problems.append(f"cell {i} ran longer than {seconds:g} s and was interrupted")
            continue
        finished.add(i)
        for out in nb.cells[i].get("outputs", []):
            if out.get("output_type") == "error":
                run.problems.append(f"cell {i} raised {out.get('ename')}: {str(out.get('evalue'))[:200]}")
    return "collect"


def _collector_source(nonce: str, item_id: str, inputs: Any) -> str:
    import json

    return ("import ukva_widgets.grading.collect as _ukva_collect\n"
            f"_ukva_collect.emit({nonce!r}, {item_id!r}, globals(), {json.dumps(json.dumps(inputs))})")


def _collect(client, box: Sandbox, items: dict[str, Any], end: float, limits: Limits, run: Run) -> None:
    """Ask the kernel for each item's record; only outputs of these cells carrying the nonce count.
    A code answer that loops is interrupted at the cell limit so the items after it can still be
    read; all of it ends with the budget."""
    from nbformat.v4 import new_code_cell

    from .collect import MIME

    def unread_rest(why: str) -> None:
        for rest in [i for i in items if i not in run.records]:
            run.records[rest] = {"unread": why}

    nonce = secrets.token_hex(16)
    client.collecting = True
    for item_id, inputs in items.items():
        left = end - time.monotonic()
        if left < SHORTEST_CELL:
            unread_rest(f"the time budget ({limits.total_seconds:g} s) ran out before this answer was read")
            run.problems.append(f"the time budget ({limits.total_seconds:g} s) ran out while the answers "
                                "were collected")
            return
        seconds = min(limits.cell_seconds, left)
        cell = new_code_cell(_collector_source(nonce, item_id, inputs))
        client.nb.cells.append(cell)  # nbclient indexes outputs by the cell's position
        outcome = _execute(client, box, cell, len(client.nb.cells) - 1, seconds, store_history=False)
        if outcome in ("stuck", "died"):
            _lost(box, "the answers were collected", limits, run)
            run.records[item_id] = {"unread": f"reading the answer took longer than {seconds:g} s and the "
                                              "kernel did not stop, or it died"}
            unread_rest("the kernel was stopped, or died, while an earlier answer was read")
            return
        if outcome == "interrupted":
            run.records[item_id] = {"unread": f"running the answer took longer than {seconds:g} s"}
            continue
        for out in cell.outputs:
            record = out.get("data", {}).get(MIME) if out.get("output_type") == "display_data" else None
            if isinstance(record, dict) and record.get("nonce") == nonce and record.get("item") == item_id:
                run.records[item_id] = {"kernel": record}
                break
        else:
            errors = [o for o in cell.outputs if o.get("output_type") == "error"]
            why = f": {errors[0].get('ename')}" if errors else ""
            run.records[item_id] = {"unread": f"the answer could not be read{why}"}
