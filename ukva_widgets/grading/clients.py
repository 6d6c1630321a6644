"""The jupyter_client and nbclient classes the grader runs a submission's kernel with.

Each is the library's own class with the few changes the sandbox needs: kernels start in the
sandbox and are reached through its meter; only signed, plain JSON messages are read; a reply
must answer a request this client made; widget messages, display updates and binary attachments
are dropped unread; student output is capped. Some of these override or call private methods of
jupyter_client and nbclient, so pyproject.toml pins both to the versions checked here, and
importing this module checks that every such name still exists on its base class: a release that
renamed one stops the grader with a clear error instead of silently bypassing the sandbox.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time
from queue import Empty
from typing import TYPE_CHECKING, Any

import jupyter_client
import nbclient
import traitlets
import zmq
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.channels import AsyncZMQSocketChannel
from jupyter_client.connect import channel_socket_types
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.session import Session
from nbclient import NotebookClient
from traitlets import Type

from .meter import MESSAGE_BYTES, KernelMessageError

if TYPE_CHECKING:
    from .isolation import Sandbox

MIB = 1 << 20
COLLECTED_BYTES = 16 * MIB  # one item's record (to_plain bounds an honest one far below this)
QUEUED_MESSAGES = 8         # messages waiting per socket in the grader
MESSAGE_DEPTH = 100         # nesting of a message's JSON

# The private names of the libraries the classes below override or call, by base class.
PRIVATE = {
    AsyncKernelManager: ("_async_pre_start_kernel", "_async_launch_kernel", "_async_interrupt_kernel",
                         "_create_connected_socket", "_connect_control_socket", "_control_socket", "_make_url"),
    AsyncKernelClient: ("_create_connected_socket", "_handle_kernel_info_reply", "_make_url"),
    NotebookClient: ("_async_poll_kernel_alive",),
}
PINS = {"jupyter_client": ">=8,<9", "nbclient": ">=0.10,<0.12"}
# traitlets turns a trait's class named by a string ("jupyter_client.session.Session") into the
# class the first time it checks a value, and two grading threads can meet there (a TypeError from
# import_item): the classes below are constructed under this lock.
_TRAITS = threading.RLock()


def check_private_names(private: dict[type, tuple[str, ...]] = PRIVATE) -> None:
    """Raise ImportError naming every private name the grader relies on that a base class lacks."""
    missing = [f"{base.__module__}.{base.__qualname__}.{name}" for base, names in private.items()
               for name in names if not hasattr(base, name)]
    if missing:
        versions = f"jupyter_client {jupyter_client.__version__}, nbclient {nbclient.__version__}"
        raise ImportError(
            f"the grading sandbox overrides or calls {', '.join(missing)}, which this release ({versions}) "
            f"no longer has; install the versions pyproject.toml pins (jupyter_client{PINS['jupyter_client']}, "
            f"nbclient{PINS['nbclient']}) or grade nothing until the sandbox is updated")


check_private_names()


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


class GuardedSession(Session):
    """A Session that turns whatever a hostile kernel sends that is not a signed message of plain,
    reasonably shaped JSON into one KernelMessageError, never into an error somewhere deep in
    jupyter_client or nbclient; binary attachments are dropped unread (and counted in `tally`,
    the sandbox's)."""

    tally = traitlets.Any(None)  # a trait, so that the clone each kernel client gets shares it

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
        if msg.get("buffers"):
            _count_refused(self)
            msg["buffers"] = []
        return msg


def _count_refused(session: Session) -> None:
    if getattr(session, "tally", None) is not None:
        session.tally["refused"] += 1


class ReplyChannel(AsyncZMQSocketChannel):
    """A shell or control channel on which every reply answers a request this client sent, once:
    anything else is a protocol violation (a flood of replies to other requests would otherwise
    keep nbclient waiting for its own reply forever)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pending: set[str] = set()

    def send(self, msg: dict[str, Any]) -> None:
        self.pending.add(msg["header"]["msg_id"])
        super().send(msg)

    async def get_msg(self, timeout: float | None = None) -> dict[str, Any]:
        msg = await super().get_msg(timeout)
        parent = msg["parent_header"].get("msg_id")
        if parent not in self.pending:
            raise KernelMessageError("the kernel sent a reply to a request the grader never made (or a "
                                     "second reply to one)")
        self.pending.discard(parent)
        return msg


class OutputChannel(AsyncZMQSocketChannel):
    """The IOPub channel, without widget messages and display updates: a grader shows no widgets
    and keeps each output as first shown (an update could replace a small output by a large one)."""

    async def get_msg(self, timeout: float | None = None) -> dict[str, Any]:
        while True:
            msg = await super().get_msg(timeout)
            if msg["msg_type"].startswith("comm_") or msg["msg_type"] == "update_display_data":
                _count_refused(self.session)
                continue
            msg["content"].pop("transient", None)  # no display ids: nothing can be updated later
            return msg


def _guarded_socket(self, channel: str, identity: bytes | None = None):
    """jupyter_client's _create_connected_socket, with ZMQ's own caps under the meter's: a frame
    over MESSAGE_BYTES cuts the connection, at most QUEUED_MESSAGES wait."""
    sock = self.context.socket(channel_socket_types[channel])
    sock.linger = 1000
    sock.setsockopt(zmq.MAXMSGSIZE, MESSAGE_BYTES)
    sock.setsockopt(zmq.RCVHWM, QUEUED_MESSAGES)
    if identity:
        sock.identity = identity
    sock.connect(self._make_url(channel))
    return sock


class PromptClient(AsyncKernelClient):
    """A kernel client that is ready as soon as the kernel answered kernel_info on both the shell
    and the IOPub channel. (jupyter_client's own wait_for_ready then listens to IOPub for 0.2 s of
    silence, which for a short-lived grading kernel is a large part of its life.)"""

    _create_connected_socket = _guarded_socket
    shell_channel_class = Type(ReplyChannel)
    control_channel_class = Type(ReplyChannel)
    iopub_channel_class = Type(OutputChannel)

    def __init__(self, **kwargs: Any) -> None:
        with _TRAITS:
            super().__init__(**kwargs)

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


def kernel_manager_class(box: Sandbox) -> type[AsyncKernelManager]:
    """A kernel manager for nbclient whose kernels start in `box`, reached through its meter."""

    class SandboxKernelManager(AsyncKernelManager):
        _create_connected_socket = _guarded_socket

        def __init__(self, **kwargs) -> None:
            with _TRAITS:
                super().__init__(**kwargs)
                self.session = GuardedSession(parent=self, key=self.session.key)
                self.session.tally = box.tally
                self.client_factory = PromptClient
                self.transport = "ipc"  # Unix sockets: the kernel's network namespace is empty
                self.connection_file = box.connection_file()
                self.ip = box.socket_prefix

        def client(self, **kwargs):
            with _TRAITS:  # it clones the session and makes a PromptClient
                return super().client(**kwargs)

        def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
            return box.kernel_command()

        async def _async_pre_start_kernel(self, **kw):
            self.ip = box.socket_prefix  # where the kernel binds (a restart follows the meter)
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
            # Before any student code runs: from now on the grader reaches the kernel's sockets
            # through the meter, which holds descriptors of them, never a path the kernel could change.
            ports = [self.shell_port, self.iopub_port, self.stdin_port, self.hb_port, self.control_port]
            deadline = time.monotonic() + 60
            while (prefix := box.pin_sockets(ports)) is None:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the kernel did not start in its sandbox (no sockets)")
                await asyncio.sleep(0.005)
            self.ip = prefix
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


class CappedClient(NotebookClient):
    """A NotebookClient that keeps at most `budget` bytes of student output; while answers are
    collected, only each collector cell's first answer record and first error (anything else a
    submission prints then, e.g. from a thread, is dropped unread)."""

    budget = 0
    dropped = False
    dropped_collecting = False
    collecting = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        with _TRAITS:
            super().__init__(*args, **kwargs)

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
