"""Task, the engine's task_struct: a pid and pointers to the objects it shares with other tasks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from .objects import FS, MM, Files, IOContext, SemUndo, SigHand, Signal

RUNNING, ZOMBIE, DEAD = "running", "zombie", "dead"
TASK_COMM_LEN = 16  # include/linux/sched.h: comm holds 15 bytes and a NUL


def truncate_comm(name: str) -> str:
    """`name` cut to the 15 bytes (UTF-8) a task's comm holds, as __set_task_comm() cuts it."""
    return name.encode()[:TASK_COMM_LEN - 1].decode(errors="ignore")


class WaitResult(NamedTuple):
    """One child reaped by Kernel.wait(), i.e. waitpid(-1, &status, WNOHANG | __WALL).

    It unpacks and compares as the pair (pid, exit_code), exit_code being WEXITSTATUS(status),
    the number the child passed to exit(); `status` is the encoded word waitpid() stores
    (exit_code << 8: the engine models no death by signal, so WIFEXITED(status) always holds).
    """

    pid: int
    exit_code: int

    @property
    def status(self) -> int:
        """The wait status as the kernel encodes it (wait_task_zombie): exit code << 8."""
        return self.exit_code << 8

    def __repr__(self) -> str:
        return f"WaitResult(pid={self.pid}, status={self.status:#06x}, exit_code={self.exit_code})"


class TaskStateError(RuntimeError):
    """The task cannot do this now: it has exited, it is a kernel thread, or it sleeps in vfork()."""


@dataclass(eq=False, repr=False)
class Task:
    """One schedulable task. `parent` is the kernel's real_parent (None for init and kthreadd,
    whose parent is the idle task, pid 0); `children` holds the thread-group leaders whose
    parent this task is, as the kernel's children list does. A kernel thread has mm None; whoever
    sets its active_mm takes an mm_count reference with mmgrab(), which exit drops. (The SMP
    machine sets none: it counts its lazy CPUs' references itself, see Machine.mm_count.)

    comm is the task's name as /proc/PID/comm shows it (at most TASK_COMM_LEN-1 = 15 bytes):
    inherited by clone, set by execve to the basename of the path and by Kernel.set_comm
    (prctl(PR_SET_NAME)). exit_signal is what the parent is sent when this process dies
    (/proc/PID/stat field 38): SIGCHLD (17) after fork, execve or a reparenting, anything a
    legacy clone() word asked for (0..255), -1 for a thread. exit_code is the encoded wait
    status the kernel keeps (exit(n) stores n << 8)."""

    pid: int
    tgid: int
    comm: str
    parent: Task | None
    mm: MM | None
    fs: FS | None
    files: Files | None
    sighand: SigHand | None
    signal: Signal
    exit_signal: int
    io_context: IOContext | None = None
    sysvsem: SemUndo | None = None
    is_kthread: bool = False
    active_mm: MM | None = None
    group_leader: Task = field(init=False)
    state: str = RUNNING
    exit_code: int = 0
    children: list[Task] = field(default_factory=list)
    vfork_child: Task | None = None   # set while this task sleeps in vfork() for that child
    vfork_parent: Task | None = None  # set on the child until it execs or exits
    # Counts of execve: this task's own (self_exec_id, copied at clone, +1 at each execve), and
    # its parent's when this task was made (parent_exec_id). When they differ at exit, the parent
    # has run a new program since, and is sent SIGCHLD whatever exit_signal says (do_notify_parent).
    self_exec_id: int = 0
    parent_exec_id: int = 0

    def __post_init__(self) -> None:
        self.group_leader = self
        if self.active_mm is None:
            self.active_mm = self.mm

    @property
    def is_leader(self) -> bool:
        return self.group_leader is self

    def __repr__(self) -> str:
        mm = self.mm.label if self.mm is not None else "None"
        state = "" if self.state == RUNNING else f", state={self.state!r}"
        return f"Task(pid={self.pid}, tgid={self.tgid}, comm={self.comm!r}, mm={mm}{state})"
