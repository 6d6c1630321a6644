"""Running a submission in a fresh, sandboxed, limited kernel and collecting its answers as plain data.

Each submission gets its own fresh IPython kernel process (nbclient), started by bubblewrap in
its own namespaces, as an unprivileged uid, with no network, a private tmpfs home and totals on
memory, processes, disk and CPU (isolation.py says exactly what and how). The grader talks to it
over ZMQ on Unix sockets in a directory only the two share, with HMAC-signed messages. Every
cell has a time limit and the whole run has one. A cell that raises is recorded and the run goes
on; a cell that times out or kills the kernel is recorded, skipped, and the kernel restarted with
the cells before it replayed, so a submission is graded as far as it goes. Output beyond a cap is
dropped. Then one grader cell per item asks `collect.emit` for that item's answer, tagged with a
nonce; nothing else the kernel printed is read. When `run_submission` returns, every process the
submission started is dead and its directories are gone.

If the sandbox cannot be made, `run_submission` raises `SandboxUnavailable` (never grades
unprotected) unless `Limits(sandbox=False)` (the instructor's --no-sandbox) says otherwise.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
import time
from dataclasses import dataclass, field
from queue import Empty
from typing import TYPE_CHECKING, Any

from .isolation import Sandbox, SandboxUnavailable, check_bwrap, shutdown_all

if TYPE_CHECKING:
    from nbformat import NotebookNode

__all__ = ["KernelMessageError", "Limits", "Run", "SandboxUnavailable", "check_available", "run_submission",
           "shutdown_all"]

MIB = 1 << 20
COLLECTED_BYTES = 16 * MIB  # one item's record (to_plain bounds an honest one far below this)
# What the grader takes in from a kernel: a larger message frame disconnects the kernel (ZMQ
# drops it unread); at most this many messages wait per socket; nested at most this deep.
MESSAGE_BYTES = 32 * MIB
QUEUED_MESSAGES = 8
MESSAGE_DEPTH = 100


class KernelMessageError(RuntimeError):
    """The kernel sent something that is not a well-formed, signed Jupyter message of plain JSON
    (too deep, not JSON, a badly signed or truncated message): the submission is stopped."""


@dataclass(frozen=True)
class Limits:
    """What one submission may use; `ukva grade` sets them from its options."""

    cell_seconds: float = 20.0      # one student cell
    total_seconds: float = 90.0     # all student cells, replays included
    memory_mib: int = 2048          # all the submission's processes together (cgroup; see isolation.py)
    output_bytes: int = 1 * MIB     # student output kept per submission
    processes: int = 256            # processes and threads at once (pids cgroup / RLIMIT_NPROC)
    disk_mib: int = 64              # its tmpfs home (and RLIMIT_FSIZE)
    cpu_seconds: int = 120          # CPU time per process (RLIMIT_CPU)
    sandbox: bool = True            # False: the instructor's --no-sandbox (no isolation at all)

    def __post_init__(self) -> None:
        for name in ("cell_seconds", "total_seconds", "memory_mib", "output_bytes", "processes",
                     "disk_mib", "cpu_seconds"):
            if not getattr(self, name) > 0:
                raise ValueError(f"the {name.replace('_', ' ')} limit must be positive, not {getattr(self, name)}")


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
    box = Sandbox("{}", limits.memory_mib, limits.processes, limits.disk_mib, limits.cpu_seconds)
    try:
        return box.isolation
    finally:
        box.close()


def _too_deep(value: Any, limit: int = MESSAGE_DEPTH) -> bool:
    """Whether `value` nests lists/dicts more than `limit` deep (checked without recursion)."""
    stack = [(value, 0)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, (list, dict)):
            if depth >= limit:
                return True
            stack.extend((x, depth + 1) for x in (v.values() if isinstance(v, dict) else v))
    return False


def _guarded_session_class():
    from jupyter_client.session import Session

    class GuardedSession(Session):
        """A Session that turns whatever a hostile kernel sends that is not a signed message of
        plain, reasonably shaped JSON into one KernelMessageError, never into an error somewhere
        deep in jupyter_client or nbclient (RecursionError, ValueError, AttributeError...)."""

        def feed_identities(self, msg_list, copy=True):
            try:
                return super().feed_identities(msg_list, copy)
            except Exception as exc:
                raise KernelMessageError(f"the kernel sent a malformed message ({type(exc).__name__})") from None

        def deserialize(self, msg_list, content=True, copy=True):
            try:
                msg = super().deserialize(msg_list, content, copy)
            except Exception as exc:  # RecursionError included: json cannot parse it here
                raise KernelMessageError(f"the kernel sent a message the grader cannot read "
                                         f"({type(exc).__name__}: {str(exc)[:80]})") from None
            parts = [msg.get(k) for k in ("header", "parent_header", "metadata")] + \
                ([msg.get("content")] if content else [])
            if not all(isinstance(p, dict) for p in parts) or not isinstance(msg.get("msg_type"), str):
                raise KernelMessageError("the kernel sent a message whose parts are not JSON objects")
            if any(_too_deep(p) for p in parts):
                raise KernelMessageError(f"the kernel sent a message nested more than {MESSAGE_DEPTH} levels deep")
            return msg

    return GuardedSession


def _guarded_socket(self, channel: str, identity: bytes | None = None):
    """jupyter_client's _create_connected_socket, with a cap on what the kernel can make the
    grader hold: frames above MESSAGE_BYTES cut the connection, at most QUEUED_MESSAGES wait."""
    import zmq
    from jupyter_client.connect import channel_socket_types

    sock = self.context.socket(channel_socket_types[channel])
    sock.linger = 1000
    sock.setsockopt(zmq.MAXMSGSIZE, MESSAGE_BYTES)
    sock.setsockopt(zmq.RCVHWM, QUEUED_MESSAGES)
    if identity:
        sock.identity = identity
    # ZMQ cuts a connection that brings a frame over MAXMSGSIZE and does not say so: watch it.
    monitor = sock.get_monitor_socket(zmq.EVENT_DISCONNECTED)
    self.__dict__.setdefault("ukva_monitors", []).append(zmq.Socket.shadow(monitor.underlying))
    sock.connect(self._make_url(channel))
    return sock


def _was_cut(kc) -> bool:
    """Whether ZMQ cut any of the grader's connections to this (live) kernel: it sent a frame
    over MESSAGE_BYTES (or broke the protocol); what it sent then was lost."""

    cut = False
    for monitor in getattr(kc, "ukva_monitors", []):
        while monitor.poll(0):
            monitor.recv_multipart()
            cut = True
    return cut


def _prompt_client_class():
    from jupyter_client.asynchronous import AsyncKernelClient

    class PromptClient(AsyncKernelClient):
        _create_connected_socket = _guarded_socket

        """A kernel client that is ready as soon as the kernel answered kernel_info on both the
        shell and the IOPub channel. (jupyter_client's own wait_for_ready then listens to IOPub
        for 0.2 s of silence, which for a short-lived grading kernel is a large part of its life.)"""

        async def wait_for_ready(self, timeout: float | None = None) -> None:
            deadline = time.monotonic() + (timeout or 60)
            while True:
                msg_id = self.kernel_info()
                try:
                    while True:  # the idle status of our request proves IOPub is connected
                        msg = await self.iopub_channel.get_msg(timeout=0.05)
                        if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "status" \
                                and msg["content"]["execution_state"] == "idle":
                            break
                    while True:
                        reply = await self.shell_channel.get_msg(timeout=5)
                        if reply["parent_header"].get("msg_id") == msg_id:
                            self._handle_kernel_info_reply(reply)
                            return
                except Empty:
                    pass  # a slow joiner missed the status: ask again
                if not await self.is_alive():
                    raise RuntimeError("the kernel died before it answered kernel_info")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the kernel did not answer within {timeout} s")

    return PromptClient


def _kernel_manager_class(box: Sandbox):
    """A kernel manager for nbclient whose kernels start in `box`, talking over ipc sockets."""
    from jupyter_client.manager import AsyncKernelManager

    client = _prompt_client_class()
    session = _guarded_session_class()

    class SandboxKernelManager(AsyncKernelManager):
        _create_connected_socket = _guarded_socket

        def __init__(self, **kwargs) -> None:
            super().__init__(**kwargs)
            self.session = session(parent=self, key=self.session.key)
            self.client_factory = client
            self.transport = "ipc"  # Unix sockets: the kernel's network namespace is empty
            self.connection_file = box.connection_file()
            self.ip = box.socket_prefix

        def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
            return box.kernel_command()

        async def _async_pre_start_kernel(self, **kw):
            self.ip = box.socket_prefix  # where the kernel binds (a restart follows a pinned kernel)
            return await super()._async_pre_start_kernel(**kw)

        async def _async_launch_kernel(self, kernel_cmd: list[str], **kw):
            kw["env"] = box.env  # the allow-list; the sandbox clears it again
            kw["cwd"] = box.cwd
            kw["stdin"] = kw["stdout"] = kw["stderr"] = subprocess.DEVNULL
            box.before_launch()
            info = await super()._async_launch_kernel(kernel_cmd, **kw)
            process = self.provisioner.process
            box.launched.append(process)
            if box.closed:  # closed (Ctrl-C) while this kernel was being started: it dies now
                box.close()
                raise RuntimeError("grading was stopped: this submission's sandbox is closed")
            if box.enabled:
                # Before any student code runs: from now on the grader reaches the kernel's
                # sockets through descriptors, never through a path the kernel could change.
                ports = [self.shell_port, self.iopub_port, self.stdin_port, self.hb_port, self.control_port]
                deadline = time.monotonic() + 60
                while not box.pin_sockets(ports):
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError("the kernel did not start in its sandbox (no sockets)")
                    await asyncio.sleep(0.005)
                self.ip = box.pinned_prefix
            return info

        async def _async_interrupt_kernel(self) -> None:
            # By message: ipykernel then signals itself inside its sandbox; no signal from here
            # has to cross into the kernel's pid namespace.
            if self.has_kernel:
                msg = self.session.msg("interrupt_request", content={})
                self._connect_control_socket()
                self.session.send(self._control_socket, msg)

        interrupt_kernel = _async_interrupt_kernel

    return SandboxKernelManager


def _client_class():
    from nbclient import NotebookClient

    class CappedClient(NotebookClient):
        """A NotebookClient that keeps at most `budget` bytes of student output; while answers are
        collected, only each collector cell's first answer record and first error (anything else a
        submission prints then, e.g. from a thread, is dropped unread)."""

        budget = 0
        dropped = False
        dropped_collecting = False
        collecting = False

        async def _async_poll_kernel_alive(self) -> None:
            # nbclient leaves this poll running when a cell ends by an exception (a
            # KernelMessageError, say); once the kernel client is gone it has nothing to check.
            try:
                await super()._async_poll_kernel_alive()
            except AssertionError:
                if self.kc is not None:
                    raise

        def output(self, outs, msg, display_id, cell_index):
            if self.collecting:
                from .collect import MIME

                kind = msg.get("msg_type") or msg.get("header", {}).get("msg_type")
                content = msg.get("content", {})
                wanted = (kind == "display_data" and MIME in content.get("data", {})) or kind == "error"
                if not wanted or any(o.get("output_type") == kind for o in outs) or \
                        len(json.dumps(content, default=str)) > COLLECTED_BYTES:
                    self.dropped_collecting = True
                    return None
            else:
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
    import nbformat

    run = Run()
    t0 = time.monotonic()
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.source.strip()]
    skip: set[int] = set()
    clock = {"deadline": t0 + limits.total_seconds, "extended": False}
    box = Sandbox(nbformat.writes(nb), limits.memory_mib, limits.processes, limits.disk_mib,
                  limits.cpu_seconds, enabled=limits.sandbox)
    run.isolation = box.isolation
    try:
        client = _client_class()(
            nb, kernel_name="python3", kernel_manager_class=_kernel_manager_class(box),
            allow_errors=True, interrupt_on_timeout=False,
            timeout_func=lambda cell: max(1, min(limits.cell_seconds, clock["deadline"] - time.monotonic())),
            shutdown_kernel="immediate", resources={"metadata": {"path": box.cwd}},
        )
        client.budget = limits.output_bytes
        try:
            while True:
                # The kernel process's own stderr is its log (a transport warning per kernel), not the
                # submission's output, which comes over the kernel protocol: keep the terminal quiet.
                with client.setup_kernel():
                    outcome = _run_cells(client, nb, code, skip, clock["deadline"], limits, run)
                    if outcome == "restart" and box.hit_memory_limit():
                        run.problems[-1] += f" (its processes reached the memory limit, {limits.memory_mib} MiB)"
                    if outcome in ("done", "late"):
                        _collect(client, items, limits, run)
                        if _was_cut(client.kc):  # before the kernel is shut down (that cuts them too)
                            raise KernelMessageError(f"the kernel cut a connection to the grader, or sent a "
                                                     f"message larger than {MESSAGE_BYTES // MIB} MiB (which "
                                                     "the grader does not read)")
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
                box.kill()  # whatever the kernel left running dies with it, before the next one starts
        except KernelMessageError as exc:
            # Fail closed: a kernel that sends what no honest kernel sends gets nothing judged.
            run.records.clear()
            run.problems.append(f"{exc}; the submission was stopped and none of its answers were read")
        if client.dropped:
            run.problems.append(f"the submission printed more than {limits.output_bytes // 1024} KiB; "
                                "the rest of its output was dropped")
        if client.dropped_collecting:
            run.problems.append("the submission printed while its answers were collected; that output was dropped")
    finally:
        box.close()  # every process of this submission is dead and its directories are gone
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
    # A code answer that loops is interrupted so the items after it can still be read; all the
    # collection together has the total time limit (a kernel stalling every item costs that, not
    # items x cell limit).
    deadline = time.monotonic() + limits.total_seconds
    allowed = {"s": limits.cell_seconds}
    client.timeout_func = lambda cell: allowed["s"]
    client.interrupt_on_timeout = True
    client.error_on_timeout = {"ename": "CellTimeoutError", "evalue": "timed out", "traceback": []}
    for item_id, inputs in items.items():
        left = deadline - time.monotonic()
        if left < 1:
            for rest in [i for i in items if i not in run.records]:
                run.records[rest] = {"unread": f"collecting the answers took the whole time limit "
                                              f"({limits.total_seconds:g} s) before this one"}
            run.problems.append(f"collecting the answers reached the total time limit ({limits.total_seconds:g} s)")
            return
        allowed["s"] = min(limits.cell_seconds, left)
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
        if time.monotonic() - started >= allowed["s"]:
            run.records[item_id] = {"unread": f"running the answer took longer than {allowed['s']:g} s"}
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
