"""Running a submission in a fresh, limited kernel and collecting its answers as plain data.

Each submission gets its own fresh IPython kernel process (nbclient; forked by forkserver.py,
with an address-space limit set by `resource.setrlimit`), in a fresh working directory; every
cell has a time limit and the whole run has one. A cell that raises is recorded and the
run goes on; a cell that times out or kills the kernel is recorded, skipped, and the kernel
restarted with the cells before it replayed — so a submission is graded as far as it goes.
Output beyond a cap is dropped. Then one grader cell per item asks `collect.emit` for that
item's answer, tagged with a nonce; nothing else the kernel printed is read.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .forkserver import kernel_manager_class

if TYPE_CHECKING:
    from nbformat import NotebookNode

MIB = 1 << 20


@dataclass(frozen=True)
class Limits:
    """What one submission may use; `ukva grade` sets them from its options."""

    cell_seconds: float = 20.0      # one student cell
    total_seconds: float = 90.0     # all student cells, replays included
    memory_mib: int = 2048          # the kernel's address space (RLIMIT_AS)
    output_bytes: int = 1 * MIB     # student output kept per submission

    def __post_init__(self) -> None:
        for name in ("cell_seconds", "total_seconds", "memory_mib", "output_bytes"):
            if not getattr(self, name) > 0:
                raise ValueError(f"the {name.replace('_', ' ')} limit must be positive, not {getattr(self, name)}")


@dataclass
class Run:
    """What came out of running a submission, per item either {"kernel": the record the kernel
    sent} or {"unread": why the grader got none}; and what went wrong on the way."""

    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _client_class():
    from nbclient import NotebookClient

    class CappedClient(NotebookClient):
        """A NotebookClient that keeps at most `budget` bytes of student output."""

        budget = 0
        dropped = False
        collecting = False

        def output(self, outs, msg, display_id, cell_index):
            if not self.collecting:
                size = len(json.dumps(msg.get("content", {}), default=str))
                if size > self.budget:
                    self.dropped = True
                    self.budget = 0
                    return None
                self.budget -= size
            return super().output(outs, msg, display_id, cell_index)

    return CappedClient


def _collector_source(nonce: str, item_id: str, inputs: Any) -> str:
    return ("import ukva_widgets.grading.collect as _ukva_collect\n"
            f"_ukva_collect.emit({nonce!r}, {item_id!r}, globals(), {json.dumps(json.dumps(inputs))})")


def run_submission(nb: NotebookNode, items: dict[str, Any], limits: Limits = Limits()) -> Run:
    """Execute notebook `nb` and collect `items` (item id -> hidden inputs or None)."""
    run = Run()
    t0 = time.monotonic()
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.source.strip()]
    skip: set[int] = set()
    env = {**os.environ, "PYTHONHASHSEED": "0", "MPLBACKEND": "Agg"}
    clock = {"deadline": t0 + limits.total_seconds, "extended": False}
    with tempfile.TemporaryDirectory(prefix="ukva-grade-") as workdir:
        client = _client_class()(
            nb, kernel_name="python3", kernel_manager_class=kernel_manager_class(limits.memory_mib),
            allow_errors=True, interrupt_on_timeout=False,
            timeout_func=lambda cell: max(1, min(limits.cell_seconds, clock["deadline"] - time.monotonic())),
            shutdown_kernel="immediate", resources={"metadata": {"path": workdir}},
        )
        client.budget = limits.output_bytes
        while True:
            # The kernel process's own stderr is its log (a transport warning per kernel), not the
            # submission's output, which comes over the kernel protocol: keep the terminal quiet.
            with client.setup_kernel(env=env, stderr=subprocess.DEVNULL):
                outcome = _run_cells(client, nb, code, skip, clock["deadline"], limits, run)
                if outcome in ("done", "late"):
                    _collect(client, items, limits, run)
                    break
            if outcome == "stuck":
                if clock["extended"]:
                    run.problems.append("the kernel was stuck twice at the time limit; "
                                        "no answers could be collected")
                    break
                # The kernel was busy when time ran out: re-run what had finished, in a fresh
                # kernel with one more time budget, and collect from that.
                clock.update(deadline=time.monotonic() + limits.total_seconds, extended=True)
                stuck = max(skip)
                skip.update(i for i in code if i > stuck)
        if client.dropped:
            run.problems.append(f"the submission printed more than {limits.output_bytes // 1024} KiB; "
                                "the rest of its output was dropped")
    run.seconds = time.monotonic() - t0
    return run


def _run_cells(client, nb, code: list[int], skip: set[int], deadline: float,
               limits: Limits, run: Run) -> str:
    """Run the code cells not in `skip`: "done", "late" (time ran out between cells),
    "stuck" (it ran out inside one) or "restart" (a cell timed out or killed the kernel)."""
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    for i in code:
        if i in skip:
            continue
        if time.monotonic() >= deadline:
            run.problems.append(f"the total time limit ({limits.total_seconds:g} s) was reached; "
                                f"cells from {i} on did not run")
            skip.update(j for j in code if j >= i)
            return "late"
        cell = nb.cells[i]
        try:
            client.execute_cell(cell, i)
        except CellTimeoutError:
            skip.add(i)
            if time.monotonic() >= deadline - 0.5:
                run.problems.append(f"cell {i} was still running at the total time limit "
                                    f"({limits.total_seconds:g} s); later cells did not run")
                return "stuck"
            run.problems.append(f"cell {i} ran longer than {limits.cell_seconds:g} s and was "
                                "stopped; it was skipped and the cells before it re-run")
            return "restart"
        except DeadKernelError:
            skip.add(i)
            run.problems.append(f"cell {i} killed the kernel (os._exit, a crash, or memory beyond "
                                f"{limits.memory_mib} MiB); it was skipped and the cells before it re-run")
            return "restart"
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                run.problems.append(f"cell {i} raised {out.get('ename')}: {str(out.get('evalue'))[:200]}")
    return "done"


def _collect(client, items: dict[str, Any], limits: Limits, run: Run) -> None:
    """Ask the kernel for each item's record; only outputs of these cells carrying the nonce count."""
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from nbformat.v4 import new_code_cell

    from .collect import MIME

    nonce = secrets.token_hex(16)
    client.collecting = True
    client.timeout_func = lambda cell: limits.cell_seconds
    # A code answer that loops is interrupted so the items after it can still be read.
    client.interrupt_on_timeout = True
    client.error_on_timeout = {"ename": "CellTimeoutError", "evalue": "timed out", "traceback": []}
    for item_id, inputs in items.items():
        cell = new_code_cell(_collector_source(nonce, item_id, inputs))
        client.nb.cells.append(cell)  # nbclient indexes outputs by the cell's position
        started = time.monotonic()
        try:
            client.execute_cell(cell, len(client.nb.cells) - 1, store_history=False)
        except (CellTimeoutError, DeadKernelError) as exc:
            what = "timed out" if isinstance(exc, CellTimeoutError) else "killed the kernel"
            run.records[item_id] = {"unread": f"reading the answer {what}"}
            if isinstance(exc, DeadKernelError):
                return
            continue
        if time.monotonic() - started >= limits.cell_seconds:
            run.records[item_id] = {"unread": f"running the answer took longer than {limits.cell_seconds:g} s"}
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
