"""Kernel: boots init, creates tasks with clone() as kernel/fork.c does, and answers kcmp().

The lifecycle after creation (exit, wait, execve, unshare) lives in lifecycle.py and the
invariants check() verifies in invariants.py; Kernel is the one object the book talks to.

The calls at a glance (each checked against the running kernel in sequences, real/sequences.py):

    k.clone(task, flags, exit_signal=None, clone3=None) -> Task   # fork(task) = clone(task, 0)
    k.execve(task, path)            # comm = basename, exit_signal = SIGCHLD, new mm, ...
    k.exit(task, code, group=False) # exit(2) / exit_group(2); code 0..255
    k.wait(task) -> WaitResult | None   # (pid, exit_code) with .status = exit_code << 8
    k.unshare(task, flags)
    k.sigaction(task, "SIGCHLD", "SIG_IGN" | "SIG_DFL" | handler, flags=0 | "SA_NOCLDWAIT")
    k.set_child_subreaper(task, on=True)    # prctl(PR_SET_CHILD_SUBREAPER)
    k.set_comm(task, name)                  # prctl(PR_SET_NAME), cut to 15 bytes
    k.ioprio_set(task, ioprio), k.semop_undo(task), k.open/close/chdir(...)
    k.kcmp(a, b, "KCMP_VM"), k.shares(a, b), k.children_of(task), k.check()

Who reaps an exited process: its parent's wait(); nobody needs to when the parent ignores
SIGCHLD or set SA_NOCLDWAIT and the child's exit signal is (or, the parent having exec'd since,
becomes) SIGCHLD. Who adopts an orphan: a live thread of the dead parent's group, else the
nearest ancestor marked child subreaper, else init (k.child_reaper).
"""

from __future__ import annotations

import errno
import signal
from collections.abc import Iterable

from . import invariants, lifecycle
from .flags import CLONE3_ONLY, CSIGNAL, NSIG, SIGCHLD, CloneFlags, check_flag_bits, format_flags, parse_flags
from .objects import (
    FS,
    MM,
    SA_NOCLDWAIT,
    SIG_DFL,
    Files,
    IOContext,
    SemUndo,
    SharedObject,
    SigHand,
    Signal,
    SignalFlags,
)
from .rules import CLONE_RULES, CloneError, CloneRequest, first_failure, refuse_unmodelled
from .task import ZOMBIE, Task, TaskStateError, WaitResult, truncate_comm

FlagSpec = int | str | Iterable[str]

_VM, _FS, _FILES, _SIGHAND, _THREAD, _PARENT, _SYSVSEM, _IO, _VFORK, _PIDFD, _CLEAR = (
    CloneFlags[f"CLONE_{n}"].value for n in
    "VM FS FILES SIGHAND THREAD PARENT SYSVSEM IO VFORK PIDFD CLEAR_SIGHAND".split())
_NEWTIME = CloneFlags.CLONE_NEWTIME.value
_CLONE3_ONLY = CLONE3_ONLY.value

# kcmp(2) types (include/uapi/linux/kcmp.h) the engine answers, and the Task field each compares.
KCMP_FIELDS = {"KCMP_VM": "mm", "KCMP_FILES": "files", "KCMP_FS": "fs", "KCMP_SIGHAND": "sighand",
               "KCMP_IO": "io_context", "KCMP_SYSVSEM": "sysvsem"}
KCMP_NUMBERS = {1: "KCMP_VM", 2: "KCMP_FILES", 3: "KCMP_FS", 4: "KCMP_SIGHAND", 5: "KCMP_IO",
                6: "KCMP_SYSVSEM"}
SHARES_KEYS = {"vm": "mm", "fs": "fs", "files": "files", "sighand": "sighand", "signal": "signal",
               "io": "io_context", "sysvsem": "sysvsem"}


class Kernel:
    """A kernel with its tasks. `Kernel()` boots init (pid 1, SIGNAL_UNKILLABLE, exit_signal
    SIGCHLD as the real init has after its execve, comm "init").

    privileged=True (the default) gives every task CAP_SYS_ADMIN, as init has; False models an
    ordinary user, to whom creating a namespace is EPERM.
    """

    def __init__(self, privileged: bool = True) -> None:
        self.privileged = privileged
        self._next_pid = 1
        self._next_id: dict[str, int] = {}
        self._objects: dict[tuple[str, int], SharedObject] = {}
        self._tasks: dict[int, Task] = {}
        self._kthreadd: Task | None = None
        self.init = self._new_task("init", parent=None, mm=self._alloc(MM), fs=self._alloc(FS),
                                   files=self._alloc(Files), exit_signal=SIGCHLD)
        self.init.signal.flags |= SignalFlags.SIGNAL_UNKILLABLE
        # pid_ns->child_reaper: init, or another thread of init once init's leader has exited.
        self.child_reaper = self.init

    # -- bookkeeping shared with lifecycle.py ---------------------------------------------------

    def _alloc(self, cls: type, **fields: object) -> SharedObject:
        n = self._next_id.get(cls.kind, 0) + 1
        self._next_id[cls.kind] = n
        obj = cls(id=n, **fields)
        self._objects[(cls.kind, n)] = obj
        return obj

    def _alloc_pid(self) -> int:
        # Pids only grow: the engine never wraps around pid_max, so a pid names one task for good.
        pid = self._next_pid
        self._next_pid += 1
        return pid

    def _put(self, obj: SharedObject | None) -> None:
        """Drop a task's reference; forget the object once it is freed."""
        if obj is None:
            return
        obj.put()
        if obj.freed:
            self._objects.pop((obj.kind, obj.id), None)

    def _new_task(self, comm: str, parent: Task | None, mm: MM | None, fs: FS, files: Files,
                  exit_signal: int, sighand: SigHand | None = None, **more: object) -> Task:
        pid = self._alloc_pid()
        task = Task(pid=pid, tgid=pid, comm=comm, parent=parent, mm=mm, fs=fs, files=files,
                    sighand=sighand or self._alloc(SigHand), signal=self._alloc(Signal),
                    exit_signal=exit_signal, **more)
        self._tasks[pid] = task
        if parent is not None:
            parent.children.append(task)
        return task

    def _caller(self, task: Task, what: str, killable: bool = False) -> Task:
        """The task, if it can make this call now; else a clear TaskStateError. `killable`: the
        call can reach a task asleep in vfork(), whose wait the kernel lets SIGKILL end."""
        if not isinstance(task, Task):
            raise TypeError(f"{what} needs a Task (e.g. k.init or k.task(pid)), not {type(task).__name__}")
        if self._tasks.get(task.pid) is not task:
            raise TaskStateError(f"{what}: pid {task.pid} has been reaped; it no longer exists")
        if task.state == ZOMBIE:
            raise TaskStateError(f"{what}: pid {task.pid} has exited (a zombie until its parent waits "
                                 f"for it); it can make no more calls")
        if task.vfork_child is not None and not killable:
            raise TaskStateError(f"{what}: pid {task.pid} sleeps in vfork() until pid "
                                 f"{task.vfork_child.pid} calls execve or exits")
        return task

    # -- creating tasks -------------------------------------------------------------------------

    def clone(self, task: Task, flags: FlagSpec, exit_signal: int | None = None, *,
              clone3: bool | None = None) -> Task:
        """clone() from `task`: validate like copy_process(), then share or copy each object.

        A plain int is the clone(2) word: its low byte (CSIGNAL) is the exit signal. Flags above
        bit 31 or CLONE_NEWTIME can only come through clone3(2), whose extra checks then apply;
        clone3=True asks for clone3 explicitly, clone3=False insists on legacy clone(2).
        exit_signal defaults to SIGCHLD, what fork() passes; give 0 for none. Legacy clone(2)
        takes any value of its CSIGNAL byte (0..255, even ones that are no signal: the parent is
        then sent nothing); clone3 refuses one above 64 with CloneError(EINVAL).

        Refusals: CloneError (a kernel rule, with .errno and .rule), NotModelled (valid, but
        namespaces or cgroups), TaskStateError (the caller has exited, is a kernel thread or
        sleeps in vfork), ValueError/TypeError (flags or exit_signal malformed). A refusal changes
        nothing, with one exception the kernel has too: a CloneError from a rule marked
        after_semundo (see rules.py) leaves a CLONE_SYSVSEM caller the undo list it was given.
        """
        caller = self._caller(task, "clone")
        bits, word_signal, csignal_bits = _decode(flags)
        if exit_signal is not None and word_signal and exit_signal != word_signal:
            raise ValueError(f"two exit signals given: {word_signal} in the flags word and "
                             f"exit_signal={exit_signal}; give one")
        given = exit_signal if exit_signal is not None else (word_signal or None)
        needs_clone3 = bool(bits & _CLONE3_ONLY or csignal_bits)
        if clone3 is None:
            clone3 = needs_clone3
        elif not isinstance(clone3, bool):
            raise TypeError(f"clone3 is True, False or None (decide from the flags), not {clone3!r}")
        elif needs_clone3 and not clone3:
            raise ValueError(f"{format_flags(bits & _CLONE3_ONLY) if bits & _CLONE3_ONLY else 'these flags'} "
                             "can only be passed by clone3(2); leave clone3=False out")
        if given is not None and (isinstance(given, bool) or not isinstance(given, int) or given < 0
                                  or (not clone3 and given > CSIGNAL)):
            raise ValueError(f"exit_signal must be an int 0..{CSIGNAL} for clone(2) (its CSIGNAL byte) "
                             f"or 0..{NSIG} for clone3, not {given!r}")
        if caller.is_kthread:
            raise TaskStateError(f"clone: pid {caller.pid} is a kernel thread; create kernel threads "
                                 "with k.kthread(name)")
        request = CloneRequest(flags=bits, caller=caller, exit_signal=given, clone3=clone3,
                               csignal_bits=csignal_bits, privileged=self.privileged)
        rule = first_failure(CLONE_RULES, request)
        if rule is not None:
            if rule.after_semundo and bits & _SYSVSEM and caller.sysvsem is None:
                caller.sysvsem = self._alloc(SemUndo)      # copy_semundo ran before the check
            raise CloneError(rule, bits)
        refuse_unmodelled(bits, "clone")
        return self._copy_process(caller, bits, SIGCHLD if given is None else given)

    def _copy_process(self, caller: Task, bits: int, exit_signal: int) -> Task:
        # Everything below succeeds: the rules above are every way clone can fail here.
        if bits & _SYSVSEM and caller.sysvsem is None:
            caller.sysvsem = self._alloc(SemUndo)          # copy_semundo: get_undo_list()
        files = _share(caller.files, bits & _FILES) or self._alloc(
            Files, fds=dict(caller.files.fds), close_on_exec=set(caller.files.close_on_exec))
        fs = _share(caller.fs, bits & _FS) or self._alloc(FS, cwd=caller.fs.cwd, umask=caller.fs.umask)
        sighand = _share(caller.sighand, bits & _SIGHAND)
        if sighand is None:
            sighand = self._alloc(SigHand, action=dict(caller.sighand.action),
                                  sa_flags=dict(caller.sighand.sa_flags))
            if bits & _CLEAR:
                sighand.flush_handlers()
        mm = _share(caller.mm, bits & _VM) or self._alloc(MM)
        io = caller.io_context
        if io is not None:
            io = _share(io, bits & _IO) or (self._alloc(IOContext, ioprio=io.ioprio)
                                           if _ioprio_valid(io.ioprio) else None)
        sysvsem = _share(caller.sysvsem, bits & _SYSVSEM)

        if bits & (_THREAD | _PARENT):
            parent = caller.parent
            exit_signal = -1 if bits & _THREAD else caller.group_leader.exit_signal
        else:
            parent = caller
        pid = self._alloc_pid()
        if bits & _THREAD:
            signal = caller.signal
            signal.get()
            signal.nr_threads += 1
            signal.live += 1
        else:
            signal = self._alloc(Signal)
        child = Task(pid=pid, tgid=pid, comm=caller.comm, parent=parent, mm=mm, fs=fs, files=files,
                     sighand=sighand, signal=signal, exit_signal=exit_signal, io_context=io,
                     sysvsem=sysvsem, self_exec_id=caller.self_exec_id,
                     parent_exec_id=(caller.parent_exec_id if bits & (_THREAD | _PARENT)
                                     else caller.self_exec_id))
        if bits & _THREAD:
            child.group_leader = caller.group_leader
            child.tgid = caller.tgid
        elif parent is not None:
            parent.children.append(child)
        self._tasks[pid] = child
        if bits & _PIDFD:
            fd = lifecycle.lowest_free_fd(caller.files)
            caller.files.fds[fd] = f"pidfd:{pid}"
            caller.files.close_on_exec.add(fd)
        if bits & _VFORK:
            caller.vfork_child, child.vfork_parent = child, caller
        return child

    def fork(self, task: Task) -> Task:
        """fork(2): clone with no sharing flags and SIGCHLD."""
        return self.clone(task, 0, SIGCHLD)

    def kthread(self, name: str) -> Task:
        """A kernel thread: no MM of its own (it borrows active_mm when scheduled, see part 2).
        Like the kernel's, it is a child of kthreadd and shares kthreadd's fs and files; the engine
        starts kthreadd on the first call, so that call uses two pids."""
        if not isinstance(name, str) or not name:
            raise TypeError("a kernel thread needs a non-empty name, e.g. k.kthread('kworker/0:1')")
        if self._kthreadd is None:
            self._kthreadd = self._new_task("kthreadd", parent=None, mm=None, fs=self._alloc(FS),
                                            files=self._alloc(Files), exit_signal=0, is_kthread=True)
        d = self._kthreadd
        d.fs.get()
        d.files.get()
        return self._new_task(truncate_comm(name), parent=d, mm=None, fs=d.fs, files=d.files,
                              exit_signal=SIGCHLD, is_kthread=True)

    # -- the rest of a task's life (lifecycle.py) -----------------------------------------------

    def exit(self, task: Task, code: int = 0, group: bool = False) -> None:
        """exit(2) (group=False) or exit_group(2): see lifecycle.do_exit."""
        lifecycle.do_exit(self, self._caller(task, "exit", killable=True), code, group)

    def wait(self, task: Task) -> WaitResult | None:
        """Reap one exited child, as waitpid(-1, &status, WNOHANG | __WALL): a WaitResult, which
        unpacks as (pid, exit_code) and has .status, the encoded word (exit_code << 8); None when
        no child has exited yet or there is none (the kernel's 0 and ECHILD; tell them apart
        with k.children_of(task)). See lifecycle.do_wait."""
        return lifecycle.do_wait(self, self._caller(task, "wait"))

    def execve(self, task: Task, path: str) -> None:
        """execve(2): see lifecycle.do_execve."""
        lifecycle.do_execve(self, self._caller(task, "execve"), path)

    def unshare(self, task: Task, flags: FlagSpec) -> None:
        """unshare(2): see lifecycle.do_unshare."""
        lifecycle.do_unshare(self, self._caller(task, "unshare"), parse_flags(flags))

    def set_comm(self, task: Task, name: str) -> None:
        """prctl(PR_SET_NAME): rename the calling thread (only it, not its group); the kernel
        keeps the first 15 bytes. Forked children inherit the name; execve replaces it."""
        t = self._caller(task, "set_comm")
        if not isinstance(name, str):
            raise TypeError(f"a task's name is a string such as 'sh', not {type(name).__name__}")
        t.comm = truncate_comm(name)

    def set_child_subreaper(self, task: Task, on: bool = True) -> None:
        """prctl(PR_SET_CHILD_SUBREAPER): while set, orphaned descendants of this process are
        given to it (to a live thread of it) instead of to init; kernel/exit.c find_new_reaper
        takes the nearest such ancestor. The mark is on the process (signal_struct), survives
        execve and is not inherited by children."""
        t = self._caller(task, "set_child_subreaper")
        if not isinstance(on, bool):
            raise TypeError(f"on is True or False, not {on!r}")
        t.signal.is_child_subreaper = on

    def children_of(self, task: Task) -> list[Task]:
        """The children a wait() from `task` can reap: those of every thread of its group."""
        self._listed(task, task, "children_of")
        return [c for t in lifecycle.thread_group(self, task) for c in t.children]

    # -- small calls that make sharing visible ----------------------------------------------------

    def chdir(self, task: Task, path: str) -> None:
        """chdir(2): changes the cwd in the fs_struct, so every CLONE_FS sharer sees it."""
        t = self._caller(task, "chdir")
        if not isinstance(path, str) or not path.startswith("/"):
            raise ValueError(f"chdir takes an absolute path such as '/tmp', not {path!r}")
        t.fs.cwd = path

    def open(self, task: Task, path: str, cloexec: bool = False) -> int:
        """open(2): the lowest free fd in the files_struct, seen by every CLONE_FILES sharer."""
        t = self._caller(task, "open")
        if not isinstance(path, str) or not path:
            raise ValueError(f"open takes a non-empty path such as '/etc/passwd', not {path!r}")
        fd = lifecycle.lowest_free_fd(t.files)
        t.files.fds[fd] = path
        if cloexec:
            t.files.close_on_exec.add(fd)
        return fd

    def close(self, task: Task, fd: int) -> None:
        """close(2); an fd that is not open is EBADF, as in the kernel."""
        t = self._caller(task, "close")
        if fd not in t.files.fds:
            raise OSError(errno.EBADF, f"close: fd {fd!r} is not open in {t.files.label} (EBADF); "
                             f"open fds: {sorted(t.files.fds)}")
        del t.files.fds[fd]
        t.files.close_on_exec.discard(fd)

    def sigaction(self, task: Task, signum: int | str, action: str, flags: int | str = 0) -> None:
        """sigaction(2): set a handler ("SIG_DFL", "SIG_IGN" or a handler's name) and its sa_flags
        in the sighand_struct, so every CLONE_SIGHAND sharer sees it. `signum` is a number or a
        name ("SIGCHLD"); SIGKILL and SIGSTOP are EINVAL. The one flag modelled is SA_NOCLDWAIT
        (flags=SA_NOCLDWAIT or "SA_NOCLDWAIT"): with it, or with SIGCHLD at SIG_IGN, a child
        that exits with exit_signal SIGCHLD is reaped at once and wait() finds nothing."""
        t = self._caller(task, "sigaction")
        signum = _signal_number(signum)
        if signum in (9, 19):
            raise OSError(errno.EINVAL, "SIGKILL and SIGSTOP cannot be caught or ignored (EINVAL)")
        if not isinstance(action, str) or not action:
            raise ValueError("the action is 'SIG_DFL', 'SIG_IGN' or a handler's name")
        if flags == "SA_NOCLDWAIT":
            flags = SA_NOCLDWAIT
        if isinstance(flags, bool) or not isinstance(flags, int) or flags & ~SA_NOCLDWAIT:
            raise ValueError(f"the engine models one sa_flags bit, SA_NOCLDWAIT ({SA_NOCLDWAIT}); "
                             f"not {flags!r}")
        if action == SIG_DFL:
            t.sighand.action.pop(signum, None)
        else:
            t.sighand.action[signum] = action
        if flags:
            t.sighand.sa_flags[signum] = flags
        else:
            t.sighand.sa_flags.pop(signum, None)

    def ioprio_set(self, task: Task, ioprio: int) -> None:
        """ioprio_set(IOPRIO_WHO_PROCESS, 0, ioprio) on one task: checked like block/ioprio.c
        ioprio_check_cap(), then allocates the task's io_context if it has none yet. ioprio is
        IOPRIO_PRIO_VALUE(class, data): class (bits 13-15) 0 NONE, 1 RT, 2 BE, 3 IDLE; the level
        is data's low 3 bits. OSError(EINVAL) for class NONE with a non-zero level or a class
        above 3; OSError(EPERM) for RT without privilege. A class other than NONE is a valid
        priority, which makes a later plain clone give the child its own copy (copy_io)."""
        t = self._caller(task, "ioprio_set")
        if isinstance(ioprio, bool) or not isinstance(ioprio, int) or not 0 <= ioprio < 1 << 16:
            raise ValueError(f"ioprio is IOPRIO_PRIO_VALUE(class, data), a 16-bit value, not {ioprio!r}")
        klass, level = ioprio >> 13, ioprio & 7
        if klass > 3:
            raise IoprioError(errno.EINVAL, f"ioprio_set: class {klass} is not an I/O priority class "
                              "(0 NONE, 1 RT, 2 BE, 3 IDLE) (EINVAL)")
        if klass == 0 and level:
            raise IoprioError(errno.EINVAL, f"ioprio_set: class NONE takes no level, got {level} (EINVAL); "
                              "give IOPRIO_PRIO_VALUE(0, 0) or choose a class")
        if klass == 1 and not self.privileged:
            raise IoprioError(errno.EPERM, "ioprio_set: the real-time class needs CAP_SYS_ADMIN or "
                              "CAP_SYS_NICE (EPERM)")
        if t.io_context is None:
            t.io_context = self._alloc(IOContext)
        t.io_context.ioprio = ioprio

    def semop_undo(self, task: Task) -> None:
        """A semop(2) with SEM_UNDO: allocates the task's undo list if it has none yet."""
        t = self._caller(task, "semop")
        if t.sysvsem is None:
            t.sysvsem = self._alloc(SemUndo)

    # -- questions ------------------------------------------------------------------------------

    @property
    def tasks(self) -> list[Task]:
        """Live and zombie tasks, ordered by pid."""
        return [self._tasks[pid] for pid in sorted(self._tasks)]

    def task(self, pid: int) -> Task:
        """The task with this pid; ProcessLookupError (ESRCH) if there is none."""
        try:
            return self._tasks[pid]
        except KeyError:
            raise ProcessLookupError(errno.ESRCH, f"no task with pid {pid} (ESRCH); live pids: "
                                        f"{sorted(self._tasks)}") from None

    def objects(self) -> list[SharedObject]:
        """The shared objects not yet freed, by kind then id."""
        order = {kind: i for i, kind in enumerate(("mm", "fs", "files", "sighand", "signal", "io",
                                                   "sysvsem"))}
        for key in [key for key, o in self._objects.items() if o.freed]:
            del self._objects[key]   # an mm freed by a lazy-TLB mmdrop outside the kernel's calls
        return sorted(self._objects.values(), key=lambda o: (order[o.kind], o.id))

    def kcmp(self, a: Task, b: Task, kind: str | int) -> int:
        """kcmp(2) (kernel/kcmp.c, notebooks/sources.ipynb §4): 0 if both tasks point at the same object (or both
        at none, as with a lazily allocated io_context or undo list), else 1 or 2 ordering the two;
        the kernel orders obfuscated pointers, the engine object ids."""
        name = KCMP_NUMBERS.get(kind, kind) if isinstance(kind, int) else kind
        if name not in KCMP_FIELDS:
            raise ValueError(f"kcmp type {kind!r} is not one the engine answers; use one of "
                             f"{', '.join(KCMP_FIELDS)} (KCMP_FILE and KCMP_EPOLL_TFD need fds)")
        self._listed(a, b, "kcmp")
        x, y = getattr(a, KCMP_FIELDS[name]), getattr(b, KCMP_FIELDS[name])
        kx, ky = (0 if x is None else x.id), (0 if y is None else y.id)
        return 0 if x is y else (1 if kx < ky else 2)

    def shares(self, a: Task, b: Task) -> dict[str, bool]:
        """What the two tasks share: the same object, not merely both having none (unlike kcmp)."""
        self._listed(a, b, "shares")
        return {key: getattr(a, f) is not None and getattr(a, f) is getattr(b, f)
                for key, f in SHARES_KEYS.items()}

    def _listed(self, a: Task, b: Task, what: str) -> None:
        """Both are tasks of this kernel, live or zombie; else TypeError or ESRCH, as kcmp says."""
        for t in (a, b):
            if not isinstance(t, Task):
                raise TypeError(f"{what} compares Tasks, not {type(t).__name__}")
            if self._tasks.get(t.pid) is not t:
                raise ProcessLookupError(errno.ESRCH, f"{what}: pid {t.pid} has been reaped (ESRCH)")

    def check(self) -> None:
        """Raise AssertionError naming the first broken invariant (see invariants.py)."""
        invariants.check(self)

    def __repr__(self) -> str:
        return f"Kernel(tasks={len(self._tasks)}, objects={len(self.objects())})"


def _share(obj: SharedObject | None, wanted: int) -> SharedObject | None:
    """Take a reference to the caller's object when the flag asks to share it."""
    if wanted and obj is not None:
        obj.get()
        return obj
    return None


class IoprioError(OSError, ValueError):
    """ioprio_set() refused as the kernel refuses it (.errno EINVAL or EPERM). Also a ValueError,
    as the engine's earlier refusals of a bad priority were."""


def _signal_number(signum: int | str) -> int:
    """1..64 from a number or a name ("SIGCHLD" or "CHLD"), else a ValueError saying what is wrong."""
    if isinstance(signum, str):
        name = signum if signum.startswith("SIG") else "SIG" + signum
        try:
            return int(signal.Signals[name])
        except KeyError:
            raise ValueError(f"{signum!r} is not a signal name such as 'SIGCHLD'") from None
    if isinstance(signum, bool) or not isinstance(signum, int) or not 1 <= signum <= NSIG:
        raise ValueError(f"signal numbers are 1..{NSIG}, not {signum!r}")
    return signum


def _ioprio_valid(ioprio: int) -> bool:
    return (ioprio >> 13) != 0  # IOPRIO_PRIO_CLASS != IOPRIO_CLASS_NONE


def _decode(flags: FlagSpec) -> tuple[int, int, int]:
    """(flag bits, exit signal from a clone(2) word, CSIGNAL bits of a clone3 word)."""
    if isinstance(flags, int) and not isinstance(flags, (bool, CloneFlags)):
        if 0 <= flags < 1 << 32:
            return check_flag_bits(flags & ~CSIGNAL), flags & CSIGNAL, 0
        stray = flags & CSIGNAL & ~_NEWTIME if flags > 0 else 0
        return check_flag_bits(flags & ~stray), 0, stray
    return parse_flags(flags).value, 0, 0
