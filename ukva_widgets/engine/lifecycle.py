"""A task's life after clone(): exit, wait, execve and unshare, following kernel/exit.c,
fs/exec.c (begin_new_exec, de_thread) and kernel/fork.c (ksys_unshare); FACTS.md §3.

Each function checks everything first and only then changes state, so a refused call changes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .flags import SIGCHLD, CloneFlags
from .objects import FS, MM, Files, SigHand, SignalFlags
from .rules import UNSHARE_RULES, CloneError, CloneRequest, first_failure, refuse_unmodelled, unshare_implied
from .task import DEAD, RUNNING, ZOMBIE, Task, TaskStateError

if TYPE_CHECKING:
    from .kernel import Kernel

_FS, _FILES, _SYSVSEM = (CloneFlags[f"CLONE_{n}"].value for n in ("FS", "FILES", "SYSVSEM"))
TASK_COMM_LEN = 16  # comm holds 15 characters and a NUL


def lowest_free_fd(files: Files) -> int:
    """The fd open() would return: the lowest one not in use."""
    fd = 0
    while fd in files.fds:
        fd += 1
    return fd


def thread_group(k: Kernel, task: Task) -> list[Task]:
    """The tasks (live or zombie) of `task`'s thread group, oldest first."""
    sig = task.signal
    return [t for t in k._tasks.values() if t.signal is sig]


# -- exit ----------------------------------------------------------------------------------------

def do_exit(k: Kernel, task: Task, code: int, group: bool) -> None:
    """exit(2) ends one task; exit_group(2) (group=True) every thread of its group.

    The task drops its mm, files, fs, undo list and io_context at once (exit_mm, exit_files...)
    but keeps sighand and signal as a zombie until reaped. Its children go to another live
    thread of its group, else to init. A non-leader thread and a kernel thread are reaped at once
    (exit_signal -1; kthreadd ignores SIGCHLD); a leader waits for its parent's wait().
    """
    if isinstance(code, bool) or not isinstance(code, int) or not 0 <= code <= 255:
        raise ValueError(f"exit code must be an int 0..255 (the status byte), not {code!r}")
    victims = thread_group(k, task) if group else [task]
    if any(t is k.init or t is k._kthreadd for t in victims):
        raise TaskStateError("init and kthreadd cannot exit: the kernel would panic "
                             "('Attempted to kill init!')")
    if group:
        task.signal.flags |= SignalFlags.SIGNAL_GROUP_EXIT
        task.signal.group_exit_code = code
    for t in [v for v in victims if v is not task and v.state == RUNNING] + [task]:
        _exit_one(k, t, code)


def _exit_one(k: Kernel, t: Task, code: int) -> None:
    t.exit_code = code
    t.state = ZOMBIE
    _vfork_done(t)
    if t.vfork_child is not None:          # killed while asleep in vfork()
        t.vfork_child.vfork_parent = None
        t.vfork_child = None
    if t.is_kthread and t.active_mm is not None:
        t.active_mm.mmdrop()               # the lazy-TLB reference it borrowed
    t.active_mm = None
    for name in ("mm", "files", "fs", "sysvsem", "io_context"):
        k._put(getattr(t, name))
        setattr(t, name, None)
    t.signal.live -= 1
    _reparent_children(k, t)
    if t.is_kthread or t.exit_signal == -1:
        release_task(k, t)


def _reparent_children(k: Kernel, father: Task) -> None:
    """forget_original_parent(): a live thread of the same group adopts, else init."""
    alive = [t for t in thread_group(k, father) if t.state == RUNNING and t is not father]
    reaper = alive[0] if alive else k.init
    for child in father.children:
        for t in thread_group(k, child):
            t.parent = reaper
        reaper.children.append(child)
    father.children = []


def release_task(k: Kernel, t: Task) -> None:
    """The task is gone: its pid is free, its sighand and signal references dropped."""
    t.signal.nr_threads -= 1
    k._put(t.sighand)
    t.sighand = None
    k._put(t.signal)
    t.state = DEAD
    del k._tasks[t.pid]
    if t.parent is not None and t in t.parent.children:
        t.parent.children.remove(t)


def _vfork_done(t: Task) -> None:
    """mm_release(): a child created with CLONE_VFORK wakes its parent when it execs or exits."""
    if t.vfork_parent is not None:
        t.vfork_parent.vfork_child = None
        t.vfork_parent = None


# -- wait ----------------------------------------------------------------------------------------

def do_wait(k: Kernel, task: Task) -> tuple[int, int] | None:
    """waitpid(-1, WNOHANG | __WALL) from `task`: reap the first zombie child of any thread in
    its group and return (pid, status); None when no child has exited yet or there is no child
    (where the kernel would say ECHILD). A leader whose other threads still run cannot be reaped."""
    for t in thread_group(k, task):
        for child in t.children:
            if child.state == ZOMBIE and child.signal.nr_threads == 1:
                sig = child.signal
                status = (sig.group_exit_code if sig.flags & SignalFlags.SIGNAL_GROUP_EXIT
                          else child.exit_code)
                pid = child.pid
                release_task(k, child)
                return pid, status
    return None


# -- execve --------------------------------------------------------------------------------------

def do_execve(k: Kernel, t: Task, path: str) -> None:
    """begin_new_exec(): de_thread (the other threads die; the exec'ing thread takes the leader's
    pid), unshare_files, a new MM, a private sighand if it was shared outside the group, caught
    signals back to SIG_DFL, close-on-exec fds closed. The fs_struct is kept, shared or not."""
    if not isinstance(path, str):
        raise TypeError(f"execve needs a path string such as '/bin/sh', not {type(path).__name__}")
    if not path.strip():
        raise ValueError("execve needs a non-empty path, such as '/bin/sh'")
    if t.is_kthread:
        raise TaskStateError(f"execve: pid {t.pid} is a kernel thread; the engine gives kernel "
                             "threads no user address space to replace")
    _de_thread(k, t)
    _vfork_done(t)
    if t.files.count > 1:                  # unshare_files()
        _replace(k, t, "files", k._alloc(Files, fds=dict(t.files.fds),
                                         close_on_exec=set(t.files.close_on_exec)))
    _replace(k, t, "mm", k._alloc(MM))      # exec_mmap()
    t.active_mm = t.mm
    if t.sighand.count > 1:                # unshare_sighand(): shared with a CLONE_SIGHAND non-thread
        _replace(k, t, "sighand", k._alloc(SigHand, action=dict(t.sighand.action)))
    t.sighand.flush_handlers()
    for fd in t.files.close_on_exec:       # do_close_on_exec()
        del t.files.fds[fd]
    t.files.close_on_exec.clear()
    t.comm = path.rstrip("/").rsplit("/", 1)[-1][:TASK_COMM_LEN - 1] or "/"


def _de_thread(k: Kernel, t: Task) -> None:
    for other in thread_group(k, t):
        if other is not t and other.state == RUNNING:
            _exit_one(k, other, 0)         # SIGKILLed by zap_other_threads()
    leader = t.group_leader
    if leader is t:
        return
    parent = leader.parent
    slot = parent.children.index(leader) if parent is not None else None
    release_task(k, leader)
    del k._tasks[t.pid]
    t.pid, t.group_leader, t.parent, t.exit_signal = leader.pid, t, parent, SIGCHLD
    k._tasks[t.pid] = t
    if parent is not None:
        parent.children.insert(slot, t)    # t takes the leader's place among its siblings
    if leader is k.init:
        k.init = t                         # a thread of init that execs becomes pid 1


def _replace(k: Kernel, t: Task, name: str, new: object) -> None:
    old = getattr(t, name)
    setattr(t, name, new)
    k._put(old)


# -- unshare -------------------------------------------------------------------------------------

def do_unshare(k: Kernel, t: Task, flags: CloneFlags) -> None:
    """ksys_unshare(): add the implied flags, apply check_unshare_flags(), then copy what is
    still shared. CLONE_VM, CLONE_SIGHAND and CLONE_THREAD pass only when nothing is shared,
    so they do nothing ("pretend it works"); CLONE_SYSVSEM drops the undo list as exit does."""
    bits = unshare_implied(flags.value)
    request = CloneRequest(flags=bits, caller=t, exit_signal=None, clone3=False,
                           privileged=k.privileged)
    rule = first_failure(UNSHARE_RULES, request)
    if rule is not None:
        raise CloneError(rule, bits)
    refuse_unmodelled(bits, "unshare")
    if bits & _FS and t.fs.users > 1:
        _replace(k, t, "fs", k._alloc(FS, cwd=t.fs.cwd, umask=t.fs.umask))
    if bits & _FILES and t.files.count > 1:
        _replace(k, t, "files", k._alloc(Files, fds=dict(t.files.fds),
                                         close_on_exec=set(t.files.close_on_exec)))
    if bits & _SYSVSEM and t.sysvsem is not None:
        _replace(k, t, "sysvsem", None)
