"""Scripted sequences of clone/unshare/execve/exit/wait, played on the running kernel.

A single clone() shows what one call shares; a sequence shows what the calls do to each other:
exit signals reset by execve or by reparenting, the wait status of a group whose leader exited
first, children reaped at once when SIGCHLD is ignored, orphans adopted by a child subreaper,
the undo list a refused clone leaves behind. ``play(sequences)`` runs each sequence on this
kernel (in a worker process, seqworker.py, whose tasks all run a small C agent, agent.py) and
returns what the kernel showed after every step; the engine's run of the same sequence
(engine_replay.py) must show the same.

A sequence is a list of steps; a step is a list [op, actor, args...]. Tasks are named by index:
p0 is the root (a process forked by init, running the agent), and each clone step names the
child it makes. The actor -1 is init (only for "wait"). The steps:

    ["clone", actor, word, child]    legacy clone(2); word = flags | exit signal (its low byte);
                                     with CLONE_VFORK the actor sleeps until the child execs or exits
    ["clone3", actor, flags, sig]    clone3(2), only for requests the kernel refuses
    ["unshare", actor, flags]        unshare(2)
    ["exec", actor]                  execve(2) of the agent (comm: its first 15 bytes)
    ["exit", actor, code, group]     exit(2), or exit_group(2) when group is true
    ["wait", actor]                  waitpid(-1, &status, WNOHANG | __WALL)
    ["sigchld", actor, mode]         sigaction(SIGCHLD): "SIG_DFL", "SIG_IGN" or "SA_NOCLDWAIT"
    ["subreaper", actor, on]         prctl(PR_SET_CHILD_SUBREAPER, on)
    ["comm", actor, name]            prctl(PR_SET_NAME, name)
    ["ioprio", actor, value]         ioprio_set(IOPRIO_WHO_PROCESS, 0, value)

What is compared after every step: each step's result (errno name, or for wait the task reaped
and its encoded status), and for every task not yet reaped its state (alive or zombie), its
parent and thread group (by name), its comm, its exit signal (/proc/PID/stat field 38), a
zombie's own exit code (field 52: a leader's, not yet the group's), whether it ignores SIGCHLD
(/proc/PID/status SigIgn), and for every two tasks which of vm, files, fs, sighand, io and
sysvsem kcmp(2) finds shared.

Stands alone: imports nothing from the engine.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ukva_widgets.real import agent
from ukva_widgets.real.probe import KCMP_SYSCALL, unavailable_reason

WORKER = Path(__file__).with_name("seqworker.py")

SIGCHLD, SIGUSR1 = 17, 10
VM, FS, FILES, SIGHAND = 0x100, 0x200, 0x400, 0x800
VFORK, PARENT, THREAD, SYSVSEM, NEWIPC, IO = 0x4000, 0x8000, 0x10000, 0x40000, 0x08000000, 0x80000000
T = VM | FS | FILES | SIGHAND | THREAD          # a thread, as pthread_create makes one (less SYSVSEM)

# The lifecycle cases, each a sequence a single call cannot show.
LISTED: dict[str, list[list]] = {
    "exec after a custom exit signal": [
        ["clone", 0, SIGUSR1, 1], ["exec", 1]],
    "reparenting to a child subreaper": [
        ["subreaper", 0, 1], ["clone", 0, SIGCHLD, 1], ["clone", 1, SIGUSR1, 2], ["exit", 1, 0, False],
        ["exit", 2, 4, False], ["wait", 0], ["wait", 0], ["wait", 0]],
    "reparenting to init resets the exit signal": [
        ["clone", 0, SIGCHLD, 1], ["clone", 1, SIGUSR1, 2], ["exit", 1, 0, False], ["exit", 2, 6, False],
        ["wait", -1], ["wait", 0]],
    "subreaper's live thread adopts when its leader has exited": [
        ["subreaper", 0, 1], ["clone", 0, T, 1], ["clone", 0, SIGCHLD, 2], ["clone", 2, SIGCHLD, 3],
        ["exit", 0, 0, False], ["exit", 2, 0, False], ["wait", 1]],
    "leader exits 3, then the last thread 7": [
        ["clone", 0, SIGCHLD, 1], ["clone", 1, T, 2], ["exit", 1, 3, False], ["wait", 0],
        ["exit", 2, 7, False], ["wait", 0]],
    "exit_group from a thread": [
        ["clone", 0, SIGCHLD, 1], ["clone", 1, T, 2], ["exit", 2, 9, True], ["wait", 0]],
    "SIGCHLD ignored": [
        ["sigchld", 0, "SIG_IGN"], ["clone", 0, SIGCHLD, 1], ["exit", 1, 5, False], ["wait", 0]],
    "SA_NOCLDWAIT": [
        ["sigchld", 0, "SA_NOCLDWAIT"], ["clone", 0, SIGCHLD, 1], ["exit", 1, 5, False], ["wait", 0]],
    "SIGCHLD ignored, a child with another exit signal": [
        ["sigchld", 0, "SIG_IGN"], ["clone", 0, SIGUSR1, 1], ["exit", 1, 5, False], ["wait", 0]],
    "SIGCHLD ignored by a parent that exec'd: any exit signal reaps": [
        ["sigchld", 0, "SIG_IGN"], ["clone", 0, SIGUSR1, 1], ["clone", 0, 0x80, 2], ["clone", 0, 0, 3],
        ["exec", 0], ["exit", 1, 5, False], ["exit", 2, 6, False], ["exit", 3, 7, False], ["wait", 0]],
    "SIGCHLD ignored, the last thread releases a zombie leader": [
        ["sigchld", 0, "SIG_IGN"], ["clone", 0, SIGCHLD, 1], ["clone", 1, T, 2], ["exit", 1, 1, False],
        ["exit", 2, 2, False], ["wait", 0]],
    "legacy exit signals 0, 65, 0x80 and 255": [
        ["clone", 0, 65, 1], ["clone", 0, 0x80, 2], ["clone", 0, 255, 3], ["clone", 0, 0, 4],
        ["exit", 1, 1, False], ["exit", 2, 2, False], ["exit", 3, 3, False], ["exit", 4, 4, False],
        ["wait", 0], ["wait", 0], ["wait", 0], ["wait", 0], ["wait", 0]],
    "clone3 refuses exit signals that are no signal": [
        ["clone3", 0, 0, 65], ["clone3", 0, 0, 300]],
    "refused NEWIPC|SYSVSEM leaves the caller an undo list": [
        ["clone", 0, SIGCHLD, 1], ["clone", 0, NEWIPC | SYSVSEM | SIGCHLD, 2], ["clone", 0, SIGCHLD, 3]],
    "exec from a non-leader thread": [
        ["clone", 0, SIGCHLD, 1], ["clone", 1, T, 2], ["clone", 1, T, 3], ["clone", 2, SIGUSR1, 4],
        ["exec", 2]],
    "exec's kcmp sharing bits": [
        ["clone", 0, VM | FS | FILES | SIGCHLD, 1], ["clone", 0, VM | SIGHAND | SIGCHLD, 2],
        ["clone", 0, IO | SYSVSEM | SIGCHLD, 3], ["exec", 0]],
    "vfork: the caller sleeps until the child execs, or exits": [
        ["clone", 0, VFORK | VM | SIGCHLD, 1], ["exec", 1], ["clone", 0, VFORK | SIGCHLD, 2],
        ["exit", 2, 3, False], ["clone", 0, SIGCHLD, 3], ["wait", 0], ["wait", 0]],
    "CLONE_PARENT takes the leader's exit signal": [
        ["clone", 0, SIGUSR1, 1], ["clone", 1, PARENT, 2], ["exit", 2, 1, False], ["wait", 0]],
    "ioprio_set and the io_context a fork copies": [
        ["ioprio", 0, 1], ["ioprio", 0, 4 << 13], ["ioprio", 0, 8], ["clone", 0, SIGCHLD, 1],
        ["ioprio", 0, (2 << 13) | 4], ["clone", 0, SIGCHLD, 2], ["clone", 0, IO | SIGCHLD, 3]],
    "comm: PR_SET_NAME per thread, inherited, replaced by exec": [
        ["comm", 0, "a-name-longer-than-fifteen"], ["clone", 0, SIGCHLD, 1], ["clone", 1, T, 2],
        ["comm", 2, "worker"], ["exec", 1]],
}


@dataclass
class KernelRun:
    """What play() got: one entry per sequence ({"results", "snapshots"} or {"failed": why}),
    or none at all with `why` when the kernel cannot be asked; `privileged` is whether the
    worker had CAP_SYS_ADMIN (the engine must be booted alike)."""

    available: bool
    why: str = ""
    privileged: bool = False
    runs: list[dict] = field(default_factory=list)


def play(sequences: list[list[list]], timeout: float = 300.0, step_seconds: float = 5.0) -> KernelRun:
    """Play each sequence on this kernel, in one worker process bounded by `timeout` seconds."""
    if not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
    why = unavailable_reason(platform.system(), platform.machine())
    if why:
        return KernelRun(False, why)
    with tempfile.TemporaryDirectory(prefix="ukva-sequences-") as tmp:
        binary, why = agent.build(Path(tmp))
        if binary is None:
            return KernelRun(False, why)
        spec = {"agent": str(binary), "kcmp_nr": KCMP_SYSCALL[platform.machine()],
                "header": agent.HEADER_SIZE, "slot_size": agent.SLOT_SIZE, "slots": agent.SLOTS,
                "shm_size": agent.SHM_SIZE, "step_seconds": step_seconds, "sequences": sequences}
        return _run_worker(spec, len(sequences), timeout)


def _run_worker(spec: dict, count: int, timeout: float) -> KernelRun:
    proc = subprocess.Popen([sys.executable, "-I", "-S", str(WORKER)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(json.dumps(spec), timeout=timeout)
    except subprocess.TimeoutExpired:
        # SIGTERM first: the worker then kills and reaps the tasks of the sequence it was playing.
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
        return KernelRun(False, f"the sequences did not finish within {timeout:g} s and were stopped")
    try:
        header, *runs = (json.loads(line) for line in out.splitlines())
    except ValueError:
        header, runs = None, []
    if proc.returncode != 0 or header is None or (header["available"] and len(runs) != count):
        last = err.strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
        return KernelRun(False, f"the sequences' worker failed: {last[0]}")
    if not header["available"]:
        return KernelRun(False, header["why"])
    return KernelRun(True, privileged=header["privileged"], runs=runs)
