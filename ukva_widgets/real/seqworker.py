"""The sequences' worker process: plays scripted sequences of system calls on this Linux kernel.

Runs as its own program (``python -I -S seqworker.py``) and uses only the standard library. It
reads one JSON object on stdin (the agent's path, the kcmp(2) number, the shared-memory layout
and the sequences) and writes JSON lines: a header saying whether the kernel can be asked, then
one line per sequence.

For each sequence it forks a root task, which starts a new session and executes the agent (see
agent.py); every task the sequence makes runs the agent too. This process is the root's parent
and a child subreaper, so it plays the part of init: orphans come to it, and "wait" with actor
-1 is its own waitpid. After each step it reads what the kernel shows - /proc/TID/stat (state,
parent, comm, exit signal in field 38, a zombie's exit code in field 52), /proc/TID/status (Tgid,
SigIgn) and kcmp(2) between every two tasks - and names every pid by the task that holds it, so
that the engine's run of the same sequence can be compared field by field. When the sequence
ends (or fails, or this worker is told to stop) every task of it is killed and reaped.
"""

from __future__ import annotations

import ctypes
import errno as errno_mod
import json
import mmap
import os
import signal
import struct
import sys
import time
from itertools import combinations

WALL = 0x40000000                     # waitpid's __WALL
CLONE_VFORK = 0x4000
PR_SET_CHILD_SUBREAPER = 36
FUTEX = {"x86_64": 202, "aarch64": 98}
FUTEX_WAIT, FUTEX_WAKE = 0, 1
KCMP_TYPES = (("vm", 1), ("files", 2), ("fs", 3), ("sighand", 4), ("io", 5), ("sysvsem", 6))
OPS = {"clone": 1, "unshare": 2, "exec": 3, "exit": 4, "wait": 5, "sigchld": 6, "subreaper": 7,
       "comm": 8, "ioprio": 9, "clone3": 10}
SIGCHLD_MODES = {"SIG_DFL": 0, "SIG_IGN": 1, "SA_NOCLDWAIT": 2}

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


class StepFailed(Exception):
    """The kernel side could not play a step (a task did not answer in time, a tid vanished)."""


STOP = []   # set by SIGTERM: finish tidily (kill and reap the current sequence), then leave


def check_stop() -> None:
    if STOP:
        raise StepFailed("stopped by SIGTERM")


class Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def errno_name(code: int) -> str:
    return errno_mod.errorcode.get(code, f"errno {code}")


class Controller:
    def __init__(self, spec: dict) -> None:
        self.agent = spec["agent"]
        self.kcmp_nr = spec["kcmp_nr"]
        self.futex_nr = FUTEX[os.uname().machine]
        self.header, self.slot_size, self.slots = spec["header"], spec["slot_size"], spec["slots"]
        self.step_seconds = spec.get("step_seconds", 5.0)
        self.fd = os.memfd_create("ukva-sequences", 0)
        os.set_inheritable(self.fd, True)
        os.ftruncate(self.fd, spec["shm_size"])
        self.shm = mmap.mmap(self.fd, spec["shm_size"])
        path = self.agent.encode() + b"\0"
        self.shm[:len(path)] = path
        self.words = {}      # (slot, field offset) -> ctypes.c_int32 over the shared memory
        self.me = os.getpid()
        self.root = 0        # the current sequence's root pid (its session id), 0 when none
        self.tids: list[int | None] = []
        self.broken = ""     # set when no sequence can start: the others fail at once

    # -- the shared memory ------------------------------------------------------------------------

    def _off(self, idx: int, field: int) -> int:
        return self.header + idx * self.slot_size + field

    def _word(self, idx: int, field: int) -> ctypes.c_int32:
        key = (idx, field)
        if key not in self.words:
            self.words[key] = ctypes.c_int32.from_buffer(self.shm, self._off(idx, field))
        return self.words[key]

    def _futex(self, word: ctypes.c_int32, op: int, val: int, seconds: float | None = None) -> None:
        ts = None
        if seconds is not None:
            ts = ctypes.byref(Timespec(int(seconds), int((seconds % 1) * 1e9)))
        libc.syscall(ctypes.c_long(self.futex_nr), ctypes.c_void_p(ctypes.addressof(word)),
                     ctypes.c_int(op), ctypes.c_int(val), ts, None, ctypes.c_int(0))

    def reset_slot(self, idx: int) -> None:
        base = self._off(idx, 0)
        self.shm[base:base + self.slot_size] = bytes(self.slot_size)
        self._word(idx, 4).value = -1                      # done_seq: not started

    def wait_done(self, idx: int, seq: int) -> None:
        done = self._word(idx, 4)
        deadline = time.monotonic() + self.step_seconds
        while done.value != seq:
            check_stop()
            left = deadline - time.monotonic()
            if left <= 0:
                raise StepFailed(f"task {idx} did not answer within {self.step_seconds:g} s")
            self._futex(done, FUTEX_WAIT, done.value, min(left, 0.5))

    def wait_either(self, caller: int, child: int) -> int:
        """A vfork caller's error (-errno) if it answered first, else 0 once the child started."""
        seq = self._word(caller, 0).value
        deadline = time.monotonic() + self.step_seconds
        while self._word(child, 4).value != 0:
            check_stop()
            if self._word(caller, 4).value == seq:
                return struct.unpack_from("q", self.shm, self._off(caller, 48))[0]
            if time.monotonic() > deadline:
                raise StepFailed(f"neither task {caller} nor its vfork child answered in time")
            time.sleep(0.0002)
        return 0

    def command(self, idx: int, op: str, args=(), text: str = "", wait: bool = True) -> tuple[int, int]:
        base = self._off(idx, 0)
        struct.pack_into("i", self.shm, base + 8, OPS[op])
        struct.pack_into("4q", self.shm, base + 16, *(list(args) + [0] * (4 - len(args))))
        raw = text.encode()[:55] + b"\0"
        self.shm[base + 72:base + 72 + len(raw)] = raw
        cmd = self._word(idx, 0)
        seq = cmd.value + 1
        cmd.value = seq
        self._futex(cmd, FUTEX_WAKE, 1 << 30)
        if wait:
            self.wait_done(idx, seq)
        ret, ret2, tid = struct.unpack_from("3q", self.shm, base + 48)
        return ret, ret2

    def slot_tid(self, idx: int) -> int:
        return struct.unpack_from("q", self.shm, self._off(idx, 64))[0]

    # -- what the kernel shows ------------------------------------------------------------------------

    @staticmethod
    def stat(tid: int) -> tuple[str, int, str, int, int] | None:
        """(state, ppid, comm, exit_signal, exit_code) from /proc/TID/stat (fields 3, 4, 2, 38, 52);
        None when the tid is gone."""
        try:
            with open(f"/proc/{tid}/stat", "rb") as f:
                raw = f.read()
        except (FileNotFoundError, ProcessLookupError):
            return None
        comm = raw[raw.index(b"(") + 1:raw.rindex(b")")].decode(errors="replace")
        rest = raw[raw.rindex(b")") + 2:].split()
        return rest[0].decode(), int(rest[1]), comm, int(rest[35]), int(rest[49])

    @staticmethod
    def status(tid: int) -> tuple[int, bool] | None:
        """(Tgid, whether SIGCHLD is ignored: bit 16 of SigIgn) from /proc/TID/status."""
        tgid, ignored = None, False
        try:
            with open(f"/proc/{tid}/status") as f:
                for line in f:
                    if line.startswith("Tgid:"):
                        tgid = int(line.split()[1])
                    elif line.startswith("SigIgn:"):
                        ignored = bool(int(line.split()[1], 16) >> 16 & 1)
        except (FileNotFoundError, ProcessLookupError):
            return None
        return None if tgid is None else (tgid, ignored)

    def tgid(self, tid: int) -> int | None:
        st = self.status(tid)
        return None if st is None else st[0]

    def name_of(self, pid: int) -> str:
        if pid == self.me:
            return "init"
        for i, tid in enumerate(self.tids):
            if tid == pid:
                return f"p{i}"
        return "?"

    def kcmp(self, a: int, b: int, kind: int) -> int:
        ctypes.set_errno(0)
        r = libc.syscall(ctypes.c_long(self.kcmp_nr), ctypes.c_long(a), ctypes.c_long(b),
                         ctypes.c_long(kind), ctypes.c_long(0), ctypes.c_long(0))
        return r if r >= 0 else -ctypes.get_errno()

    def snapshot(self) -> dict:
        tasks = {}
        present = []
        for i, tid in enumerate(self.tids):
            if tid is None:
                continue
            st = self.stat(tid)
            if st is None or st[0] == "X":
                self.tids[i] = None
                continue
            state, ppid, comm, exit_signal, exit_code = st
            tg, ignores = self.status(tid) or (None, None)
            tasks[f"p{i}"] = {"state": "zombie" if state == "Z" else "alive", "ppid": self.name_of(ppid),
                              "tgid": self.name_of(tg) if tg is not None else "?", "comm": comm,
                              "exit_signal": exit_signal, "ignores_sigchld": ignores}
            if state == "Z":
                tasks[f"p{i}"]["exit_code"] = exit_code    # the task's own encoded status
            present.append(i)
        shared = {}
        for i, j in combinations(present, 2):
            same = []
            for name, kind in KCMP_TYPES:
                r = self.kcmp(self.tids[i], self.tids[j], kind)
                if r == 0:
                    same.append(name)
                elif r < 0:
                    same.append(f"{name}:{errno_name(-r)}")
            shared[f"p{i},p{j}"] = " ".join(same)
        return {"tasks": tasks, "kcmp": shared}

    def settle(self, targets: list[int]) -> None:
        """Wait until every target tid is gone or a zombie and no named task is half-reaped (X)."""
        deadline = time.monotonic() + self.step_seconds
        pause = 0.0001
        while True:
            busy = False
            for tid in targets:
                st = self.stat(tid)
                if st is not None and st[0] not in ("Z",):
                    busy = True
            for tid in self.tids:
                if tid is not None:
                    st = self.stat(tid)
                    if st is not None and st[0] == "X":
                        busy = True
            if not busy:
                return
            check_stop()
            if time.monotonic() > deadline:
                raise StepFailed(f"tasks {targets} did not finish exiting within {self.step_seconds:g} s")
            time.sleep(pause)
            pause = min(pause * 2, 0.01)

    # -- one sequence ------------------------------------------------------------------------------

    def start_root(self) -> None:
        self.reset_slot(0)
        pid = os.fork()
        if pid == 0:
            try:
                os.setsid()
                os.execve(self.agent, [self.agent, str(self.fd), "0"], {})
            finally:
                os._exit(127)
        self.root = pid
        self.wait_done(0, 0)
        self.tids = [pid]

    def step(self, step: list) -> dict:
        check_stop()
        op, actor = step[0], step[1]
        if op == "wait" and actor == -1:
            try:
                pid, status, _ = os.wait4(-1, os.WNOHANG | WALL)
            except ChildProcessError:
                return {"errno": "ECHILD"}
            return self._reaped(pid, status)
        if actor >= len(self.tids) or self.tids[actor] is None:
            return {"errno": "actor gone"}
        if op == "clone":
            word, child = step[2], step[3]
            while len(self.tids) <= child:
                self.tids.append(None)
            self.reset_slot(child)
            if word & CLONE_VFORK:
                # The caller sleeps in clone() until the child execs or exits: wait for whichever
                # comes first, the child starting or the caller failing. The caller's answer
                # arrives later, before any next order to it is served.
                self.command(actor, "clone", [word, child], wait=False)
                ret = self.wait_either(actor, child)
            else:
                ret, _ = self.command(actor, "clone", [word, child])
            if ret < 0:
                return {"errno": errno_name(-ret)}
            self.wait_done(child, 0)
            self.tids[child] = self.slot_tid(child)
            return {"errno": ""}
        if op == "clone3":
            ret, _ = self.command(actor, "clone3", [step[2], 0, step[3]])
            return {"errno": errno_name(-ret) if ret < 0 else "", "created": ret > 0}
        if op == "exec":
            ret, _ = self.command(actor, "exec", [0, actor])
            if ret < 0:
                return {"errno": errno_name(-ret)}
            tid = self.slot_tid(actor)
            self.tids = [None if t == tid else t for t in self.tids]   # de_thread: the leader's pid
            self.tids[actor] = tid
            self.settle([])
            return {"errno": ""}
        if op == "exit":
            tid = self.tids[actor]
            targets = [tid]
            if step[3]:
                tg = self.tgid(tid)
                try:
                    targets = [int(t) for t in os.listdir(f"/proc/{tg}/task")] + [tg]
                except (FileNotFoundError, TypeError):
                    pass
            self.command(actor, "exit", [step[2], int(bool(step[3]))], wait=False)
            self.settle(targets)
            return {}
        if op == "wait":
            ret, status = self.command(actor, "wait")
            if ret < 0:
                return {"errno": errno_name(-ret)}
            if ret == 0:
                return {"errno": "", "reaped": None}
            return self._reaped(ret, status)
        args = {"unshare": lambda: [step[2]], "sigchld": lambda: [SIGCHLD_MODES[step[2]]],
                "subreaper": lambda: [int(step[2])], "comm": lambda: [], "ioprio": lambda: [step[2]]}
        text = step[2] if op == "comm" else ""
        ret, _ = self.command(actor, op, args[op](), text=text)
        return {"errno": errno_name(-ret) if ret < 0 else ""}

    def _reaped(self, pid: int, status: int) -> dict:
        if pid == 0:
            return {"errno": "", "reaped": None}
        name = self.name_of(pid)
        self.tids = [None if t == pid else t for t in self.tids]
        return {"errno": "", "reaped": name, "status": status}

    def teardown(self) -> None:
        """Kill every task of the sequence (all are in the root's session) and reap them all."""
        deadline = time.monotonic() + 10
        while True:
            if self.root:
                try:
                    os.killpg(self.root, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                while True:
                    pid, _ = os.waitpid(-1, os.WNOHANG | WALL)
                    if pid == 0:
                        break
            except ChildProcessError:
                break
            if time.monotonic() > deadline:
                break
            time.sleep(0.001)
        self.root = 0
        self.tids = []

    def run(self, steps: list) -> dict:
        if self.broken:
            return {"failed": self.broken}
        results, snapshots = [], []
        try:
            try:
                self.start_root()
            except StepFailed as exc:   # the agent cannot start at all: no sequence will
                self.broken = f"the root task did not start: {exc}"
                raise
            snapshots.append(self.snapshot())
            for step in steps:
                results.append(self.step(step))
                snapshots.append(self.snapshot())
        except StepFailed as exc:
            return {"failed": f"step {len(results) + 1}: {exc}"}
        finally:
            self.teardown()
        return {"results": results, "snapshots": snapshots}


def privileged() -> bool:
    """CAP_SYS_ADMIN in the effective set (what creating a namespace needs)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> 21 & 1)
    return False


def _stop(signum, frame):
    STOP.append(signum)    # no exception here: it could cut a teardown short and leave tasks


def main() -> int:
    spec = json.loads(sys.stdin.read())
    signal.signal(signal.SIGTERM, _stop)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))   # -I left our folder out
    from worker import kernel_can_be_asked  # the probe's own check
    why = kernel_can_be_asked(spec["kcmp_nr"])
    out = sys.stdout
    out.write(json.dumps({"available": not why, "why": why, "privileged": privileged()}) + "\n")
    out.flush()
    if why:
        return 0
    controller = Controller(spec)
    for steps in spec["sequences"]:
        if STOP:
            return 1
        out.write(json.dumps(controller.run(steps)) + "\n")
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
