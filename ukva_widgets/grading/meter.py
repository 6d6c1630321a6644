"""What a submission's kernel may send the grader, metered below ZMQ; and the deadlines that end it.

The grader's ZMQ sockets never touch a kernel's sockets. Each connects to a listening Unix socket
of the submission's `Meter` (in the grader's private directory), which connects on to the kernel's
socket and relays the bytes both ways. From the kernel to the grader it reads the ZMTP 3 framing
as it passes, because ZMQ takes in a whole multipart message before the grader sees any of it: its
high-water mark counts whole messages and its size limit one frame, so a single message of thirty
32 MiB frames (binary attachments) is a gigabyte in the grader's memory before any check can run.
The meter cuts the kernel off at the first frame that makes a message larger than MESSAGE_BYTES or
longer than MESSAGE_FRAMES frames, or everything the kernel sent larger than its byte budget; and
it reads at most MESSAGES_PER_SECOND messages a second (after a burst of BURST): a kernel that
sends faster waits, or its messages are dropped at its own high-water mark.

The same thread keeps the submission's wall clock: at the end of its time budget (`deadline`), or
when a cell has overrun its limit (`arm`), it kills the sandbox and cuts every connection, whatever
the grader's event loop is doing at that moment (a flood of ready messages can keep an asyncio loop
from ever running its timers).
"""

from __future__ import annotations

import collections
import math
import os
import select
import socket
import threading
import time
from collections.abc import Callable

MIB = 1 << 20
MESSAGE_BYTES = 32 * MIB   # one message, all its frames (ZMQ's own MAXMSGSIZE per frame is the same)
MESSAGE_FRAMES = 64        # a Jupyter message has 7 and a few attachments at most
COMMAND_BYTES = 64 * 1024  # a ZMTP command (READY, PING...): a few hundred bytes in practice
MESSAGES_PER_SECOND = 500
BURST = 1000
CHUNK = 64 * 1024
BACKLOG = 4 * MIB          # bytes waiting for the slower side before the meter stops reading


class KernelMessageError(RuntimeError):
    """The kernel broke the protocol (a message not signed, not plain JSON, too deep, too large or
    too many frames, a reply to a request never made, a cut connection...): the submission is stopped."""


class Zmtp:
    """Counts the frames of one ZMTP 3 byte stream as it passes (nothing of it is kept):
    `feed(data)` returns the messages (and commands) completed and, if the stream broke a
    limit, why."""

    def __init__(self, message_bytes: int = MESSAGE_BYTES, message_frames: int = MESSAGE_FRAMES) -> None:
        self.message_bytes, self.message_frames = message_bytes, message_frames
        self.greeting = bytearray()
        self.header = bytearray()   # the flags byte and size of the frame being read
        self.body_left = 0          # bytes of the current frame's body still to come
        self.frame_final = True     # the current frame ends its message (or is a command)
        self.size = 0               # bytes of the message so far
        self.frames = 0

    def feed(self, data: bytes) -> tuple[int, str | None]:
        done, at, n = 0, 0, len(data)
        if len(self.greeting) < 64:
            take = data[:64 - len(self.greeting)]
            self.greeting += take
            at = len(take)
            g = self.greeting
            if g[0] != 0xFF or (len(g) >= 10 and not g[9] & 1):
                return done, "the kernel does not speak ZMTP"
            if len(g) >= 11 and g[10] < 3:
                return done, f"the kernel speaks ZMTP {g[10]}, not 3"
        while at < n:
            if self.body_left:
                step = min(self.body_left, n - at)
                self.body_left -= step
                at += step
                if not self.body_left and self.frame_final:
                    done += 1
                continue
            self.header.append(data[at])
            at += 1
            flags = self.header[0]
            if flags & 0xF8:
                return done, "the kernel sent a malformed ZMTP frame"
            long, more, command = flags & 2, flags & 1, flags & 4
            if len(self.header) < (9 if long else 2):
                continue
            size = int.from_bytes(self.header[1:], "big")
            self.header.clear()
            if command:
                if size > COMMAND_BYTES:
                    return done, f"the kernel sent a ZMTP command of {size} bytes"
                self.frame_final = True
            else:
                self.size += size
                self.frames += 1
                if self.size > self.message_bytes:
                    return done, (f"the kernel sent a message larger than {self.message_bytes // MIB} MiB "
                                  "(which the grader does not read)")
                if self.frames > self.message_frames:
                    return done, (f"the kernel sent a message of more than {self.message_frames} frames "
                                  "(binary attachments, which the grader does not read)")
                self.frame_final = not more
                if not more:
                    self.size = self.frames = 0
            self.body_left = size
            if not size and self.frame_final:
                done += 1
        return done, None


class _Pair:
    """One relayed connection: the grader's side `g`, the kernel's side `k`, and what waits."""

    def __init__(self, g: socket.socket, k: socket.socket) -> None:
        self.g, self.k = g, k
        self.to_k, self.to_g = bytearray(), bytearray()
        self.zmtp = Zmtp()

    def close(self) -> None:
        self.g.close()
        self.k.close()


class Meter:
    """One submission's relay and clock. `serve` (per kernel), `arm`/`disarm` (per cell), `reset`
    (before a new kernel), `close` (at the end). `violation` says why the kernel was cut off;
    `fired` is "deadline" or "cell" once a deadline has killed it; `cut` whether the kernel closed
    a connection itself (an honest kernel never does while it runs)."""

    def __init__(self, directory: str, total_bytes: int, deadline: float, kill: Callable[[], None]) -> None:
        self.directory, self.total_bytes, self.deadline, self._kill = directory, total_bytes, deadline, kill
        self.received = 0
        self.messages = 0
        self.throttled = False     # the kernel sent faster than MESSAGES_PER_SECOND and had to wait
        self.violation: str | None = None
        self.fired: str | None = None
        self.cut = False
        self.killing = False       # the grader is killing the kernel: its connections will close
        self.alarm = math.inf
        self._tokens, self._refilled = float(BURST), time.monotonic()
        self._listeners: dict[socket.socket, str] = {}   # listening socket -> kernel socket path
        self._pairs: list[_Pair] = []
        self._actions: collections.deque = collections.deque()
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="ukva-meter", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ called by the grader
    def serve(self, targets: dict[int, str]) -> str:
        """Listen at DIRECTORY/kernel-PORT for each port, relaying to targets[port] (a path of the
        kernel's socket); returns the prefix the grader's ZMQ connects to."""
        os.makedirs(self.directory, 0o700, exist_ok=True)
        prefix = os.path.join(self.directory, "kernel")
        listeners = {}
        for port, target in targets.items():
            path = f"{prefix}-{port}"
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)
            s.bind(path)
            s.listen(16)
            listeners[s] = target
        self._do(lambda: self._listeners.update(listeners))
        return prefix

    def reset(self) -> None:
        """Before the next kernel: close every listener and connection of the last one."""
        self._do(self._drop_all)
        self.cut, self.killing, self.fired, self.alarm = False, False, None, math.inf

    def arm(self, seconds: float) -> None:
        self.alarm = time.monotonic() + seconds
        self._wake()

    def disarm(self) -> None:
        self.alarm = math.inf

    def close(self) -> None:
        self._do(self._drop_all)
        self._closed = True
        self._wake()
        self._thread.join(5)
        os.close(self._wake_r)
        os.close(self._wake_w)

    def _do(self, action: Callable[[], None]) -> None:
        """Run `action` on the meter's thread and wait for it (sockets are that thread's alone)."""
        if not self._thread.is_alive():
            action()
            return
        done = threading.Event()
        self._actions.append((action, done))
        self._wake()
        done.wait(5)

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b".")
        except OSError:  # full: the thread is awake already
            pass

    # ------------------------------------------------------------------------ the thread
    def _drop_all(self) -> None:
        for s in self._listeners:
            s.close()
        for p in self._pairs:
            p.close()
        self._listeners, self._pairs = {}, []

    def _stop(self, why: str | None = None, fired: str | None = None) -> None:
        """Cut the kernel off: kill its sandbox and drop every connection."""
        if why and not self.violation:
            self.violation = why
        if fired:
            self.fired = fired
        self.killing = True
        self._drop_all()
        self._kill()

    def _run(self) -> None:
        while not self._closed:
            try:
                self._round()
            except Exception as exc:  # a bug here must not leave a kernel unwatched: fail closed
                self._stop(f"the grader's meter failed ({type(exc).__name__}: {exc})")
                time.sleep(0.05)

    def _round(self) -> None:
        """Apply what the grader asked for, keep the clock, move the bytes that are ready."""
        while self._actions:
            action, done = self._actions.popleft()
            try:
                action()
            finally:
                done.set()
        if self._closed:
            return
        now = time.monotonic()
        if now >= self.deadline and self.fired != "deadline":
            self._stop(fired="deadline")
        elif now >= self.alarm:
            self.alarm = math.inf
            self._stop(fired="cell")
        self._tokens = min(BURST, self._tokens + (now - self._refilled) * MESSAGES_PER_SECOND)
        self._refilled = now
        poll = select.poll()
        poll.register(self._wake_r, select.POLLIN)
        for s in self._listeners:
            poll.register(s, select.POLLIN)
        reading = self._tokens >= 1
        for p in self._pairs:
            poll.register(p.g, (select.POLLIN if len(p.to_k) < BACKLOG else 0) | (select.POLLOUT if p.to_g else 0))
            poll.register(p.k, (select.POLLIN if reading and len(p.to_g) < BACKLOG else 0)
                          | (select.POLLOUT if p.to_k else 0))
        wait = min(0.05, max(0.0, min(self.deadline, self.alarm) - now))
        if not reading:
            wait = min(wait, (1 - self._tokens) / MESSAGES_PER_SECOND)
            self.throttled = True
        ready = dict(poll.poll(wait * 1000))
        if self._wake_r in ready:
            try:
                os.read(self._wake_r, 4096)
            except OSError:
                pass
        for s in list(self._listeners):
            if s.fileno() in ready:
                self._accept(s)
        for p in list(self._pairs):
            self._pump(p, ready)

    def _accept(self, listener: socket.socket) -> None:
        try:
            g, _ = listener.accept()
        except OSError:
            return
        g.setblocking(False)
        k = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)
        try:
            k.connect(self._listeners[listener])  # a Unix socket connects at once, or refuses
        except OSError:
            g.close()
            k.close()
            return
        self._pairs.append(_Pair(g, k))

    def _pump(self, p: _Pair, ready: dict[int, int]) -> None:
        try:
            g_events, k_events = ready.get(p.g.fileno(), 0), ready.get(p.k.fileno(), 0)
        except OSError:  # closed by _stop while this round was under way
            return
        try:
            if g_events & (select.POLLIN | select.POLLHUP | select.POLLERR):
                data = p.g.recv(CHUNK)
                if not data:
                    return self._drop(p)
                p.to_k += data
            if k_events & (select.POLLIN | select.POLLHUP | select.POLLERR):
                data = p.k.recv(CHUNK)
                if not data:
                    self.cut = self.cut or not self.killing
                    return self._drop(p)
                self.received += len(data)
                messages, why = p.zmtp.feed(data)
                self.messages += messages
                self._tokens -= messages
                if why is None and self.received > self.total_bytes:
                    why = (f"the kernel sent the grader more than {self.total_bytes // MIB} MiB in all "
                           "(the byte budget of a submission)")
                if why:
                    return self._stop(why)
                p.to_g += data
            if p.to_g:
                del p.to_g[:p.g.send(p.to_g)]
            if p.to_k:
                del p.to_k[:p.k.send(p.to_k)]
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self._drop(p)

    def _drop(self, p: _Pair) -> None:
        p.close()
        if p in self._pairs:
            self._pairs.remove(p)
