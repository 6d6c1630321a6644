"""The objects tasks share, each with the reference counter the kernel keeps for it (FACTS.md §3).

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

    kind = ""  # unannotated: a class attribute, not a dataclass field
    id: int
    freed: bool = False

    @property
    def label(self) -> str:
        return f"{self.kind}#{self.id}"

    @property
    def refcount(self) -> int:
        """The kernel's counter of users (mm_users, fs->users, files->count, ...)."""
        raise NotImplementedError

    def _set_refcount(self, value: int) -> None:
        raise NotImplementedError

    def get(self) -> None:
        """Take one more reference (the kernel's mmget, fs->users++, atomic_inc(&files->count)...)."""
        if self.freed:
            raise ObjectFreedError(f"{self.label} is already freed; nothing may take a reference to it")
        self._set_refcount(self.refcount + 1)

    def put(self) -> None:
        """Drop one reference; the last one frees the object."""
        if self.freed or self.refcount <= 0:
            raise ObjectFreedError(f"{self.label}: reference dropped twice")
        self._set_refcount(self.refcount - 1)
        if self.refcount == 0:
            self._release()

    def _release(self) -> None:
        self.freed = True

    def __repr__(self) -> str:
        return f"{self.label}" if not self.freed else f"{self.label}(freed)"


@dataclass(eq=False, repr=False)
class MM(SharedObject):
    """mm_struct: mm_users counts tasks using the address space; all of them together hold one
    mm_count reference, and lazy-TLB borrowers (kernel threads, part 2) hold one each (mmgrab)."""

    kind = "mm"
    mm_users: int = 1
    mm_count: int = 1

    @property
    def refcount(self) -> int:
        return self.mm_users

    def _set_refcount(self, value: int) -> None:
        self.mm_users = value

    def _release(self) -> None:
        # __mmput: the address space goes, then the users' shared mm_count reference.
        self.mmdrop()

    def mmgrab(self) -> None:
        """Pin the mm_struct (not the address space), as a lazy-TLB CPU does."""
        if self.freed:
            raise ObjectFreedError(f"{self.label} is already freed; it cannot be grabbed")
        self.mm_count += 1

    def mmdrop(self) -> None:
        if self.freed or self.mm_count <= 0:
            raise ObjectFreedError(f"{self.label}: mm_count dropped twice")
        self.mm_count -= 1
        if self.mm_count == 0:
            self.freed = True


@dataclass(eq=False, repr=False)
class FS(SharedObject):
    """fs_struct: root, cwd and umask; `users` counts tasks; `in_exec` is set while an execve
    runs with an unshared fs (a concurrent CLONE_FS then gets EAGAIN)."""

    kind = "fs"
    users: int = 1
    cwd: str = "/"
    umask: int = 0o022
    in_exec: bool = False

    @property
    def refcount(self) -> int:
        return self.users

    def _set_refcount(self, value: int) -> None:
        self.users = value


@dataclass(eq=False, repr=False)
class Files(SharedObject):
    """files_struct: the open-file table; `count` counts tasks; fds maps fd -> path."""

    kind = "files"
    count: int = 1
    fds: dict[int, str] = field(default_factory=dict)
    close_on_exec: set[int] = field(default_factory=set)

    @property
    def refcount(self) -> int:
        return self.count

    def _set_refcount(self, value: int) -> None:
        self.count = value


SIG_DFL = "SIG_DFL"
SIG_IGN = "SIG_IGN"


@dataclass(eq=False, repr=False)
class SigHand(SharedObject):
    """sighand_struct: the signal handlers; `action` holds only signals not at SIG_DFL."""

    kind = "sighand"
    count: int = 1
    action: dict[int, str] = field(default_factory=dict)

    @property
    def refcount(self) -> int:
        return self.count

    def _set_refcount(self, value: int) -> None:
        self.count = value

    def flush_handlers(self) -> None:
        """flush_signal_handlers(force_default=0): caught signals go back to SIG_DFL, ignored
        ones stay ignored (what execve and CLONE_CLEAR_SIGHAND do)."""
        self.action = {sig: act for sig, act in self.action.items() if act == SIG_IGN}


class SignalFlags(enum.IntFlag):
    """The signal_struct->flags the engine uses (include/linux/sched/signal.h)."""

    SIGNAL_GROUP_EXIT = 0x00000004  # exit_group() ran: group_exit_code is the status
    SIGNAL_UNKILLABLE = 0x00000040  # global (or container) init


@dataclass(eq=False, repr=False)
class Signal(SharedObject):
    """signal_struct, the thread group: sigcnt counts tasks holding it (zombies too, until reaped);
    nr_threads the members not yet released; live the members not yet exited."""

    kind = "signal"
    sigcnt: int = 1
    nr_threads: int = 1
    live: int = 1
    flags: SignalFlags = SignalFlags(0)
    group_exit_code: int = 0

    @property
    def refcount(self) -> int:
        return self.sigcnt

    def _set_refcount(self, value: int) -> None:
        self.sigcnt = value


@dataclass(eq=False, repr=False)
class IOContext(SharedObject):
    """io_context, allocated on a task's first block I/O or ioprio_set(); nr_tasks counts tasks
    (the kernel's active_ref). ioprio 0 is IOPRIO_CLASS_NONE, i.e. not a valid priority."""

    kind = "io"
    nr_tasks: int = 1
    ioprio: int = 0

    @property
    def refcount(self) -> int:
        return self.nr_tasks

    def _set_refcount(self, value: int) -> None:
        self.nr_tasks = value


@dataclass(eq=False, repr=False)
class SemUndo(SharedObject):
    """sem_undo_list, allocated on the first semop(SEM_UNDO) or CLONE_SYSVSEM; refcnt counts tasks."""

    kind = "sysvsem"
    refcnt: int = 1

    @property
    def refcount(self) -> int:
        return self.refcnt

    def _set_refcount(self, value: int) -> None:
        self.refcnt = value


KINDS: tuple[type[SharedObject], ...] = (MM, FS, Files, SigHand, Signal, IOContext, SemUndo)
