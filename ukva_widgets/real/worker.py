"""The probe's worker process: asks this Linux kernel what clone() does with given flags.

It runs as its own program (``python worker.py KCMP_NR``), never inside the notebook
kernel, and uses only the standard library, so it can be started with any interpreter.
It reads a JSON list of flag words on stdin and writes JSON lines on stdout: first a
header saying whether the kernel can be asked, then one answer per flag word.

For each flag word it forks a "caller"; the caller calls glibc's clone() with libc's
pause() as the child's function, so the child - which may share the caller's memory -
never runs a line of Python. The caller compares itself with the child through kcmp(2),
reads the child's Tgid and PPid from /proc, reports, and exits: its exit_group() also
ends a CLONE_THREAD child (kernel/exit.c do_group_exit), and it kills any other child
first. Every task made here is reaped before the next flag word is tried.
"""

from __future__ import annotations

import ctypes
import errno as errno_mod
import json
import os
import signal
import sys

# <linux/kcmp.h>: the resources kcmp(2) compares, by the name the result uses.
KCMP_TYPES = {"vm": 1, "fs": 3, "files": 2, "sighand": 4, "io": 5, "sysvsem": 6}

# waitpid(2)'s __WALL: also wait for children whose exit signal is not SIGCHLD (a
# CLONE_PARENT child takes the exit signal of the caller's group leader: kernel/fork.c
# copy_process, notebooks/sources.ipynb §3).
WALL = 0x40000000
# <linux/prctl.h>
PR_SET_NAME = 15
PR_SET_CHILD_SUBREAPER = 36

STACK_SIZE = 64 * 1024          # pause() needs little; 16-byte aligned top below
CALLER_SECONDS = 5              # a caller that hangs is killed by its own alarm
COMM = b"ukva-probe"            # every task made here carries this name, so `ps` says what it is

libc = ctypes.CDLL(None, use_errno=True)
ChildFn = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)


def kcmp(nr: int, pid1: int, pid2: int, kind: int) -> int:
    """kcmp(2): 0 same object, 1/2 different; -1 with ctypes errno set on failure."""
    syscall = libc.syscall
    syscall.restype = ctypes.c_long
    return syscall(ctypes.c_long(nr), ctypes.c_long(pid1), ctypes.c_long(pid2),
                   ctypes.c_long(kind), ctypes.c_long(0), ctypes.c_long(0))


def errno_name(code: int) -> str:
    return errno_mod.errorcode.get(code, f"errno {code}")


def proc_status(tid: int) -> dict[str, int]:
    """The Tgid and PPid lines of /proc/<tid>/status (a thread's tid works as well)."""
    out: dict[str, int] = {}
    with open(f"/proc/{tid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("Tgid", "PPid"):
                out[key] = int(value)
    return out


def glibc_clone(flags: int, stack: ctypes.Array) -> tuple[int, int]:
    """Call glibc clone(pause, stack_top, flags | SIGCHLD, NULL, &ptid, NULL, &ctid).

    The tid pointers are real, so CLONE_PARENT_SETTID, CLONE_CHILD_SETTID,
    CLONE_CHILD_CLEARTID and CLONE_PIDFD have somewhere to write. Returns (tid, errno).
    """
    clone = libc.clone
    clone.restype = ctypes.c_int
    clone.argtypes = [ChildFn, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p,
                      ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    pause = ChildFn(ctypes.cast(libc.pause, ctypes.c_void_p).value)
    top = (ctypes.addressof(stack) + STACK_SIZE) & ~0xF
    word = flags | signal.SIGCHLD
    word = word - (1 << 32) if word & 0x80000000 else word      # C int: CLONE_IO is the sign bit
    ptid, ctid = ctypes.c_int(0), ctypes.c_int(0)
    ctypes.set_errno(0)
    tid = clone(pause, top, word, None, ctypes.byref(ptid), None, ctypes.byref(ctid))
    return (tid, 0) if tid > 0 else (-1, ctypes.get_errno())


def answer(flags: int, kcmp_nr: int) -> dict:
    """Run in the caller: clone, compare, clean up what is the caller's to clean up."""
    stack = ctypes.create_string_buffer(STACK_SIZE)
    tid, err = glibc_clone(flags, stack)
    if tid < 0:
        return {"flags": flags, "errno": err, "error": errno_name(err)}
    me = os.getpid()
    shares: dict[str, bool | None] = {}
    for name, kind in KCMP_TYPES.items():
        ret = kcmp(kcmp_nr, me, tid, kind)
        shares[name] = None if ret < 0 else ret == 0     # None: kcmp refused this pair
    status = proc_status(tid)
    same_group = status["Tgid"] == me
    parent_is = ("caller" if status["PPid"] == me else
                 "caller's parent" if status["PPid"] == os.getppid() else f"pid {status['PPid']}")
    if not same_group:
        # A separate process outlives our exit_group(): end it now. If it is our child,
        # reap it; if it is the worker's (CLONE_PARENT) the worker reaps it by its tid.
        os.kill(tid, signal.SIGKILL)
        if parent_is == "caller":
            os.waitpid(tid, WALL)
    return {"flags": flags, "errno": 0, "error": "", "tid": tid, "shares": shares,
            "same_thread_group": same_group, "parent_is": parent_is}


def run_caller(flags: int, kcmp_nr: int, out_fd: int) -> None:
    """The forked caller's whole life; it ends in _exit(), whose exit_group kills a thread child."""
    code = 0
    try:
        signal.alarm(CALLER_SECONDS)
        line = json.dumps(answer(flags, kcmp_nr))
    except BaseException as exc:   # report anything; never unwind into the worker's code
        line, code = json.dumps({"flags": flags, "failed": f"{type(exc).__name__}: {exc}"}), 1
    try:
        os.write(out_fd, line.encode() + b"\n")
    finally:
        os._exit(code)


def probe_one(flags: int, kcmp_nr: int) -> dict:
    """Fork a caller for one flag word, wait for it, reap what it left to us, return its answer."""
    read_fd, write_fd = os.pipe()
    try:
        pid = os.fork()
        if pid == 0:
            os.close(read_fd)
            run_caller(flags, kcmp_nr, write_fd)
        os.close(write_fd)
        _, status = os.waitpid(pid, WALL)
        os.set_blocking(read_fd, False)
        try:
            data = os.read(read_fd, 65536)
        except BlockingIOError:
            data = b""
    finally:
        os.close(read_fd)
    if not data:
        how = (f"killed by {signal.Signals(os.WTERMSIG(status)).name}" if os.WIFSIGNALED(status)
               else f"exit status {os.waitstatus_to_exitcode(status)}")
        return {"flags": flags, "failed": f"the probe's caller ended without an answer ({how})"}
    result = json.loads(data)
    if result.get("parent_is") == "caller's parent" and not result.get("same_thread_group"):
        os.waitpid(result["tid"], WALL)      # a CLONE_PARENT child is ours; the caller killed it
    return result


def reap_strays() -> None:
    """Reap any task re-parented to us (we are a subreaper) that has already exited."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG | WALL)
        except ChildProcessError:
            return
        if pid == 0:
            return


def kernel_can_be_asked(kcmp_nr: int) -> str:
    """Empty when kcmp(2) compares us with a child of ours; else why the kernel cannot be asked."""
    for name in ("clone", "pause", "syscall"):
        if not hasattr(libc, name):
            return f"the C library has no {name}() (the probe needs glibc or musl)"
    pid = os.fork()
    if pid == 0:
        signal.pause()
        os._exit(0)
    try:
        ctypes.set_errno(0)
        ret = kcmp(kcmp_nr, os.getpid(), pid, KCMP_TYPES["vm"])
        err = ctypes.get_errno()
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    if ret >= 0:
        return ""
    if err == errno_mod.ENOSYS:
        return "this kernel has no kcmp(2) (ENOSYS: built without CONFIG_KCMP or a filter hides it)"
    if err == errno_mod.EPERM:
        return "kcmp(2) was refused (EPERM): a seccomp filter or security policy forbids it here"
    return f"kcmp(2) failed on a plain child ({errno_name(err)})"


def main(argv: list[str]) -> int:
    kcmp_nr = int(argv[1])
    flag_words = json.loads(sys.stdin.read())
    libc.prctl(PR_SET_NAME, ctypes.c_char_p(COMM), 0, 0, 0)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    why = kernel_can_be_asked(kcmp_nr)
    out = sys.stdout
    out.write(json.dumps({"available": not why, "why": why}) + "\n")
    if not why:
        for flags in flag_words:
            out.write(json.dumps(probe_one(flags, kcmp_nr)) + "\n")
            reap_strays()
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
