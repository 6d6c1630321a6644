"""A task's life after clone(): exit, wait, execve and unshare, following kernel/exit.c,
fs/exec.c (begin_new_exec, de_thread) and kernel/fork.c (ksys_unshare); notebooks/sources.ipynb §3.

Each function checks everything first and only then changes state, so a refused call changes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .flags import SIGCHLD, CloneFlags
from .objects import FS, MM, Files, SigHand, SignalFlags
from .rules import UNSHARE_RULES, CloneError, CloneRequest, first_failure, refuse_unmodelled, unshare_implied
from .task import DEAD, RUNNING, ZOMBIE, Task, TaskStateError, WaitResult, truncate_comm

if TYPE_CHECKING:
    from .kernel import Kernel

_FS, _FILES, _SYSVSEM = (CloneFlags[f"CLONE_{n}"].value for n in ("FS", "FILES", "SYSVSEM"))


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
    thread of its group, else to the nearest child subreaper among its ancestors, else to init
    (find_new_reaper); a child handed outside the group gets exit_signal SIGCHLD again
    (reparent_leader). A non-leader thread and a kernel thread are reaped at once; so is a
    process whose exit signal is SIGCHLD when its parent ignores SIGCHLD or set SA_NOCLDWAIT
    (do_notify_parent). Any other process stays a zombie until its parent's wait().

    The status the parent reads: exit_group(n) makes it n << 8 for the whole group; otherwise
    the last thread to exit sets it (synchronize_group_exit), so a leader's exit(3) followed by
    the last thread's exit(7) reads 0x700. init's threads may exit one by one, the leader too
    (another thread becomes the child reaper); the exit that would leave init with no live
    thread is refused, since the kernel would panic.
    """
    if isinstance(code, bool) or not isinstance(code, int) or not 0 <= code <= 255:
        raise ValueError(f"exit code must be an int 0..255 (the status byte), not {code!r}")
    sig = task.signal
    victims = thread_group(k, task) if group else [task]
    last_live = group or sig.live == 1
    if last_live and (sig is k.init.signal or task is k._kthreadd):
        raise TaskStateError("the last live thread of init (or kthreadd) cannot exit: the kernel "
                             "would panic ('Attempted to kill init!')")
    if group:
        sig.flags |= SignalFlags.SIGNAL_GROUP_EXIT
        sig.group_exit_code = code << 8
    for t in [v for v in victims if v is not task and v.state == RUNNING] + [task]:
        _exit_one(k, t, code << 8)


def _exit_one(k: Kernel, t: Task, status: int) -> None:
    sig = t.signal
    if sig.live == 1 and not sig.flags & SignalFlags.SIGNAL_GROUP_EXIT:
        sig.flags |= SignalFlags.SIGNAL_GROUP_EXIT     # synchronize_group_exit(): the last thread
        sig.group_exit_code = status                   # sets the group's status
    t.exit_code = status
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
    sig.live -= 1
    _forget_original_parent(k, t)          # exit_notify()
    if t.is_kthread or not t.is_leader:
        release_task(k, t)
    elif sig.nr_threads == 1 and _notify_parent(t):
        release_task(k, t)


def _notify_parent(t: Task) -> bool:
    """do_notify_parent(): True when the parent wants no zombie (autoreap). The signal is the
    child's exit_signal, but SIGCHLD if the parent has run execve since it made the child
    (parent_exec_id no longer matches): only SIGCHLD can have the parent reap at once."""
    parent = t.parent
    if parent is None or parent.sighand is None:
        return False
    sig = t.exit_signal
    if sig != SIGCHLD and t.parent_exec_id != parent.self_exec_id:
        sig = SIGCHLD
    return sig == SIGCHLD and parent.sighand.reaps_children_at_once(SIGCHLD)


def _alive_thread(k: Kernel, task: Task, but: Task | None = None) -> Task | None:
    """find_alive_thread(): the first live thread of `task`'s group (other than `but`)."""
    return next((t for t in thread_group(k, task) if t.state == RUNNING and t is not but), None)


def _new_reaper(k: Kernel, father: Task) -> Task:
    """find_child_reaper() then find_new_reaper(): a live thread of the father's group, else the
    nearest ancestor that is a child subreaper (a live thread of it), else init's reaper thread."""
    if k.child_reaper is father:           # init's leader (or reaper thread) is leaving
        k.child_reaper = _alive_thread(k, father, but=father)
    thread = _alive_thread(k, father, but=father)
    if thread is not None:
        return thread
    ancestor = father.parent
    while ancestor is not None:
        if ancestor.signal.is_child_subreaper:
            thread = _alive_thread(k, ancestor)
            if thread is not None:
                return thread
        ancestor = ancestor.parent
    return k.child_reaper


def _forget_original_parent(k: Kernel, father: Task) -> None:
    """forget_original_parent(): every child goes to the new reaper; one handed outside the
    father's group is reset to exit_signal SIGCHLD and, if already a zombie, notified anew
    (reaped at once when the new parent ignores SIGCHLD) (reparent_leader)."""
    if not father.children and k.child_reaper is not father:
        return
    reaper = _new_reaper(k, father)
    children, father.children = father.children, []
    outside = reaper.signal is not father.signal
    dead = []
    for child in children:
        for t in thread_group(k, child):
            t.parent = reaper
        if outside:
            child.exit_signal = SIGCHLD
            if child.state == ZOMBIE and child.signal.nr_threads == 1 and _notify_parent(child):
                dead.append(child)
    reaper.children.extend(children)
    for child in dead:
        release_task(k, child)


def release_task(k: Kernel, t: Task) -> None:
    """The task is gone: its pid is free, its sighand and signal references dropped. If it was
    the last thread of a zombie leader, the leader takes the group's exit code as its own, its
    parent is notified now, and the leader is reaped too when that parent wants no zombies
    (release_task's zap_leader)."""
    t.signal.nr_threads -= 1
    k._put(t.sighand)
    t.sighand = None
    k._put(t.signal)
    t.state = DEAD
    del k._tasks[t.pid]
    if t.parent is not None and t in t.parent.children:
        t.parent.children.remove(t)
    leader = t.group_leader
    if (leader is not t and leader.state == ZOMBIE and leader.signal.nr_threads == 1
            and k._tasks.get(leader.pid) is leader):
        if leader.signal.flags & SignalFlags.SIGNAL_GROUP_EXIT:
            leader.exit_code = leader.signal.group_exit_code   # /proc/PID/stat now shows the group's
        if _notify_parent(leader):
            release_task(k, leader)


def _vfork_done(t: Task) -> None:
    """mm_release(): a child created with CLONE_VFORK wakes its parent when it execs or exits."""
    if t.vfork_parent is not None:
        t.vfork_parent.vfork_child = None
        t.vfork_parent = None


# -- wait ----------------------------------------------------------------------------------------

def do_wait(k: Kernel, task: Task) -> WaitResult | None:
    """waitpid(-1, &status, WNOHANG | __WALL) from `task`: reap the first zombie child of any
    thread in its group and return WaitResult(pid, exit_code) (its .status is the encoded word);
    None when no child has exited yet or there is no child (the kernel's 0 and ECHILD). A leader
    whose other threads still run cannot be reaped (delay_group_leader). The status is the
    group's (wait_task_zombie): exit_group's code, or the code of the group's last thread."""
    for t in thread_group(k, task):
        for child in t.children:
            if child.state == ZOMBIE and child.signal.nr_threads == 1:
                sig = child.signal
                status = (sig.group_exit_code if sig.flags & SignalFlags.SIGNAL_GROUP_EXIT
                          else child.exit_code)
                pid = child.pid
                release_task(k, child)
                return WaitResult(pid, status >> 8)
    return None


# -- execve --------------------------------------------------------------------------------------

def do_execve(k: Kernel, t: Task, path: str) -> None:
    """begin_new_exec(): de_thread (the other threads die; the exec'ing thread takes the leader's
    pid), unshare_files, a new MM, a private sighand if it was shared outside the group, caught
    signals back to SIG_DFL, close-on-exec fds closed, exit_signal back to SIGCHLD, comm set to the
    basename of the path (cut to 15 bytes). The fs_struct, the undo list and the io_context are
    kept, shared or not."""
    if not isinstance(path, str):
        raise TypeError(f"execve needs a path string such as '/bin/sh', not {type(path).__name__}")
    if not path.strip():
        raise ValueError("execve needs a non-empty path, such as '/bin/sh'")
    if t.is_kthread:
        raise TaskStateError(f"execve: pid {t.pid} is a kernel thread; the engine gives kernel "
                             "threads no user address space to replace")
    _de_thread(k, t)
    t.exit_signal = SIGCHLD                # de_thread(): "we have changed execution domain"
    t.self_exec_id += 1
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
    t.comm = truncate_comm(path.rsplit("/", 1)[-1])   # __set_task_comm(kbasename(filename))


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
    t.pid, t.group_leader, t.parent = leader.pid, t, parent
    k._tasks[t.pid] = t
    if parent is not None:
        parent.children.insert(slot, t)    # t takes the leader's place among its siblings
    if leader is k.init:
        k.init = t                         # a thread of init that execs becomes pid 1
    if k.child_reaper is leader:
        k.child_reaper = t


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
