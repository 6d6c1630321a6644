"""The objects tasks share, each with the reference counter the kernel keeps for it (notebooks/sources.ipynb §3).

MM is mm_struct, FS fs_struct, Files files_struct, SigHand sighand_struct, Signal signal_struct
(the thread group), IOContext io_context, SemUndo the SysV semaphore undo list. The Kernel changes
the counters through get()/put() only, and check() compares them with who really holds the object.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class ObjectFreedError(RuntimeError):
    """An engine bug: something touched an object after its last reference was dropped."""


@dataclass(eq=False, repr=False)
class SharedObject:
    """Common part: a kind ("mm", "fs", ...), an id numbered per kind per Kernel, a freed flag."""

    # Unannotated, so class attributes rather than dataclass fields: the kind's name and the
    # name of the field holding the kernel's counter of users.
    kind = ""
    counter = ""
    id: int
    freed: bool = False

    @property
    def label(self) -> str:
        return f"{self.kind}#{self.id}"

    @property
    def refcount(self) -> int:
        """The kernel's counter of users (mm_users, fs->users, files->count, ...)."""
        return getattr(self, self.counter)

    def get(self) -> None:
        """Take one more reference (the kernel's mmget, fs->users++, atomic_inc(&files->count)...)."""
        if self.freed:
            raise ObjectFreedError(f"{self.label} is already freed; nothing may take a reference to it")
        setattr(self, self.counter, getattr(self, self.counter) + 1)

    def put(self) -> None:
        """Drop one reference; the last one frees the object."""
        n = getattr(self, self.counter)
        if self.freed or n <= 0:
            raise ObjectFreedError(f"{self.label}: reference dropped twice")
        setattr(self, self.counter, n - 1)
        if n == 1:
            self._release()

    def _release(self) -> None:
        self.freed = True

    def __repr__(self) -> str:
        return f"{self.label}" if not self.freed else f"{self.label}(freed)"


@dataclass(eq=False, repr=False)
class MM(SharedObject):
    """mm_struct: mm_users counts tasks using the address space; all of them together hold one
    mm_count reference, and a kernel thread given the MM as its active_mm holds one (mmgrab).
    The SMP machine does not grab: its lazy CPUs' references are counted in the machine
    (Machine.lazy_references, Machine.mm_count), one per lazy CPU."""

    kind, counter = "mm", "mm_users"
    mm_users: int = 1
    mm_count: int = 1

    def _release(self) -> None:
        # __mmput: the address space goes, then the users' shared mm_count reference.
        self.mmdrop()

    def mmgrab(self) -> None:
        """Pin the mm_struct (not the address space), as a lazy-TLB CPU does."""
        if self.freed:
            raise ObjectFreedError(f"{self.label} is already freed; it cannot be grabbed")
        self.mm_count += 1

    def mmdrop(self) -> None:
        """Unpin; the last mm_count reference frees the mm_struct."""
        if self.freed or self.mm_count <= 0:
            raise ObjectFreedError(f"{self.label}: mm_count dropped twice")
        if self.mm_count == 1 and self.mm_users > 0:
            raise ObjectFreedError(f"{self.label}: mmdrop would free an mm that {self.mm_users} tasks "
                                   "still use; drop only what mmgrab took")
        self.mm_count -= 1
        if self.mm_count == 0:
            self.freed = True


@dataclass(eq=False, repr=False)
class FS(SharedObject):
    """fs_struct: root, cwd and umask; `users` counts tasks; `in_exec` is set while an execve
    runs with an unshared fs (a concurrent CLONE_FS then gets EAGAIN)."""

    kind, counter = "fs", "users"
    users: int = 1
    cwd: str = "/"
    umask: int = 0o022
    in_exec: bool = False


@dataclass(eq=False, repr=False)
class Files(SharedObject):
    """files_struct: the open-file table; `count` counts tasks; fds maps fd -> path."""

    kind, counter = "files", "count"
    count: int = 1
    fds: dict[int, str] = field(default_factory=dict)
    close_on_exec: set[int] = field(default_factory=set)


SIG_DFL = "SIG_DFL"
SIG_IGN = "SIG_IGN"
SA_NOCLDWAIT = 2   # include/uapi/asm-generic/signal-defs.h: do not keep zombies of children


@dataclass(eq=False, repr=False)
class SigHand(SharedObject):
    """sighand_struct: the signal handlers; `action` holds only signals not at SIG_DFL, and
    `sa_flags` the non-zero sa_flags (only SA_NOCLDWAIT matters to the engine)."""

    kind, counter = "sighand", "count"
    count: int = 1
    action: dict[int, str] = field(default_factory=dict)
    sa_flags: dict[int, int] = field(default_factory=dict)

    def flush_handlers(self) -> None:
        """flush_signal_handlers(force_default=0): caught signals go back to SIG_DFL, ignored
        ones stay ignored, every sa_flags is cleared (what execve and CLONE_CLEAR_SIGHAND do)."""
        self.action = {sig: act for sig, act in self.action.items() if act == SIG_IGN}
        self.sa_flags = {}

    def reaps_children_at_once(self, sigchld: int) -> bool:
        """do_notify_parent(): a child whose exit signal is SIGCHLD is reaped as it dies (never a
        zombie) when its parent ignores SIGCHLD or set SA_NOCLDWAIT (kernel/signal.c)."""
        return (self.action.get(sigchld) == SIG_IGN
                or bool(self.sa_flags.get(sigchld, 0) & SA_NOCLDWAIT))


class SignalFlags(enum.IntFlag):
    """The signal_struct->flags the engine uses (include/linux/sched/signal.h)."""

    SIGNAL_GROUP_EXIT = 0x00000004  # exit_group() ran: group_exit_code is the status
    SIGNAL_UNKILLABLE = 0x00000040  # global (or container) init


@dataclass(eq=False, repr=False)
class Signal(SharedObject):
    """signal_struct, the thread group: sigcnt counts tasks holding it (zombies too, until reaped);
    nr_threads the members not yet released; live the members not yet exited.

    group_exit_code is an encoded wait status (exit code << 8), set by exit_group() or, when the
    last thread ends with a plain exit(), by synchronize_group_exit() (kernel/exit.c): so the
    status a parent reads is the code of the group's last thread, not the leader's.
    is_child_subreaper: prctl(PR_SET_CHILD_SUBREAPER) was set on this process."""

    kind, counter = "signal", "sigcnt"
    sigcnt: int = 1
    nr_threads: int = 1
    live: int = 1
    flags: SignalFlags = SignalFlags(0)
    group_exit_code: int = 0
    is_child_subreaper: bool = False


@dataclass(eq=False, repr=False)
class IOContext(SharedObject):
    """io_context, allocated on a task's first block I/O or ioprio_set(); nr_tasks counts tasks
    (the kernel's active_ref). ioprio 0 is IOPRIO_CLASS_NONE, i.e. not a valid priority."""

    kind, counter = "io", "nr_tasks"
    nr_tasks: int = 1
    ioprio: int = 0


@dataclass(eq=False, repr=False)
class SemUndo(SharedObject):
    """sem_undo_list, allocated on the first semop(SEM_UNDO) or CLONE_SYSVSEM; refcnt counts tasks."""

    kind, counter = "sysvsem", "refcnt"
    refcnt: int = 1


KINDS: tuple[type[SharedObject], ...] = (MM, FS, Files, SigHand, Signal, IOContext, SemUndo)
