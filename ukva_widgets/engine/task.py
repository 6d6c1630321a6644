"""Task, the engine's task_struct: a pid and pointers to the objects it shares with other tasks."""

from __future__ import annotations

from dataclasses import dataclass, field

from .objects import FS, MM, Files, IOContext, SemUndo, SigHand, Signal

RUNNING, ZOMBIE, DEAD = "running", "zombie", "dead"


class TaskStateError(RuntimeError):
    """The task cannot do this now: it has exited, it is a kernel thread, or it sleeps in vfork()."""


@dataclass(eq=False, repr=False)
class Task:
    """One schedulable task. `parent` is the kernel's real_parent (None for init and kthreadd,
    whose parent is the idle task, pid 0); `children` holds the thread-group leaders whose
    parent this task is, as the kernel's children list does. A kernel thread has mm None; whoever
    sets its active_mm takes an mm_count reference with mmgrab(), which exit drops. (The SMP
    machine sets none: it counts its lazy CPUs' references itself, see Machine.mm_count.)"""

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
