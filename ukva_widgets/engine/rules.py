"""Every check clone() and unshare() make before they change anything, one named Rule each.

Read CLONE_RULES next to kernel/fork.c (torvalds/linux 07c3ef58223e; notebooks/sources.ipynb §2): clone3's own
argument checks (clone3_args_valid), then kernel_clone(), then the guard clauses at the top of
copy_process(), then the checks made while copying resources (copy_fs, copy_namespaces). The first
rule that fires is the error, as in the kernel. UNSHARE_RULES follow check_unshare_flags().

Privilege: the engine's tasks have CAP_SYS_ADMIN when their Kernel was booted privileged (the
default, like the kernel's own init); Kernel(privileged=False) models an ordinary user, for whom
a new namespace other than a user namespace is EPERM. Namespaces themselves are not modelled:
a request that passes every rule but asks for one raises NotModelled (so does CLONE_INTO_CGROUP).
Because no namespace is ever entered, the second half of copy_process()'s CLONE_THREAD check
(the caller's pid namespace differs from pid_ns_for_children, after unshare(CLONE_NEWPID)) cannot
arise here; the rule checks the flags half.

Which refusals leave a trace: the rules marked after_semundo (fs_in_exec,
new_namespace_needs_cap_sys_admin, newipc_with_sysvsem) are checked by copy_fs() and
copy_namespaces(), after copy_semundo() has run. When the request has CLONE_SYSVSEM and the
caller had no SysV undo list yet, get_undo_list() has already given it one, and the failed
clone does not take it back: KCMP_SYSVSEM between the caller and a later fork goes from 0 to 1.
Every other refusal, and every refused unshare(), changes nothing.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from dataclasses import dataclass

from .flags import CSIGNAL, NAMESPACE_FLAGS, NSIG, CloneFlags, format_flags
from .objects import SignalFlags
from .task import Task

F = CloneFlags
# Plain ints: the rules run on every clone, and int arithmetic is ~40x cheaper than IntFlag's.
(VM, FS, SIGHAND, PIDFD, PARENT, THREAD, NEWNS, SYSVSEM, PARENT_SETTID, DETACHED, NEWIPC, NEWUSER,
 NEWPID, NEWTIME, CLEAR_SIGHAND) = (F[f"CLONE_{name}"].value for name in (
    "VM FS SIGHAND PIDFD PARENT THREAD NEWNS SYSVSEM PARENT_SETTID DETACHED NEWIPC NEWUSER "
    "NEWPID NEWTIME CLEAR_SIGHAND").split())
_NAMESPACES, _INTO_CGROUP = NAMESPACE_FLAGS.value, F.CLONE_INTO_CGROUP.value
NEW_NS_BUT_USER = _NAMESPACES & ~NEWUSER
UNSHARE_ALLOWED = THREAD | FS | NEWNS | SIGHAND | VM | F.CLONE_FILES.value | SYSVSEM | _NAMESPACES


@dataclass(frozen=True)
class Rule:
    """One validation rule: a name to cite, the errno the kernel returns, and why.

    after_semundo: copy_process() makes this check after copy_semundo() ran, so a refused
    clone(CLONE_SYSVSEM|...) still leaves the caller the undo list get_undo_list() gave it (the
    one trace a refused call leaves; every other refusal changes nothing)."""

    name: str
    errno: int
    reason: str
    after_semundo: bool = False

    def __str__(self) -> str:
        return f"{self.name} ({errno.errorcode[self.errno]}): {self.reason}"


class CloneError(OSError):
    """clone()/unshare() refused, as the kernel would: .errno is the kernel's, .rule says which
    check fired and why."""

    def __init__(self, rule: Rule, flags: int) -> None:
        super().__init__(rule.errno, f"{errno.errorcode[rule.errno]} from rule {rule.name!r}: "
                         f"{rule.reason} (flags {format_flags(flags)})")
        self.rule = rule
        self.flags = CloneFlags(flags)


class NotModelled(NotImplementedError):
    """The request is valid for the kernel, but the engine does not model what it asks for."""


@dataclass(slots=True)
class CloneRequest:
    """What the rules look at: the flags (a plain int, for speed) and the calling task."""

    flags: int
    caller: Task
    exit_signal: int | None   # as given; None means "the default"
    clone3: bool              # only clone3 can pass the flags above bit 31 and CLONE_NEWTIME
    csignal_bits: int = 0     # low-byte bits found in a clone3 flags word
    privileged: bool = True

    def has(self, flags: int) -> bool:
        return (self.flags & flags) == flags

    def any(self, flags: int) -> bool:
        return bool(self.flags & flags)


Check = Callable[[CloneRequest], bool]


def _caller_unkillable(r: CloneRequest) -> bool:
    return bool(r.caller.signal.flags & SignalFlags.SIGNAL_UNKILLABLE)


def _fs_in_exec(r: CloneRequest) -> bool:
    return r.caller.fs is not None and r.caller.fs.in_exec


# In a new user namespace the child holds every capability, so only that case is exempt.
NAMESPACE_NEEDS_CAP_SYS_ADMIN: tuple[Rule, Check] = (
    Rule("new_namespace_needs_cap_sys_admin", errno.EPERM,
         "creating a namespace (other than a user namespace) needs CAP_SYS_ADMIN", after_semundo=True),
    lambda r: r.any(NEW_NS_BUT_USER) and not r.any(NEWUSER) and not r.privileged)

# (rule, check) pairs in the order the kernel makes them.
CLONE_RULES: tuple[tuple[Rule, Check], ...] = (
    # copy_clone_args_from_user(): clone3 checks the exit signal; legacy clone(2) takes any byte.
    (Rule("clone3_invalid_exit_signal", errno.EINVAL,
          f"clone3 takes an exit_signal of 0..{NSIG} (a valid signal); only legacy clone(2) "
          "accepts any value of its CSIGNAL byte"),
     lambda r: r.clone3 and r.exit_signal is not None and r.exit_signal > NSIG),
    # clone3_args_valid() (kernel/fork.c): only clone3 can carry these, so only clone3 checks them.
    (Rule("clone3_csignal_in_flags", errno.EINVAL,
          "clone3 takes the exit signal in clone_args.exit_signal; the CSIGNAL bits of flags must be 0"),
     lambda r: r.clone3 and bool(r.csignal_bits & CSIGNAL & ~NEWTIME)),
    (Rule("clone3_detached", errno.EINVAL, "clone3 rejects CLONE_DETACHED, which clone(2) ignores"),
     lambda r: r.clone3 and r.any(DETACHED)),
    (Rule("clone3_sighand_and_clear_sighand", errno.EINVAL,
          "sharing the handlers (CLONE_SIGHAND) and resetting them (CLONE_CLEAR_SIGHAND) contradict"),
     lambda r: r.clone3 and r.has(SIGHAND | CLEAR_SIGHAND)),
    (Rule("clone3_thread_or_parent_with_exit_signal", errno.EINVAL,
          "a thread or a CLONE_PARENT sibling signals nobody of its own choosing: exit_signal must be 0"),
     lambda r: r.clone3 and r.any(THREAD | PARENT) and bool(r.exit_signal)),
    # kernel_clone(): legacy clone(2) returns the pidfd through the parent_tid pointer.
    (Rule("pidfd_and_parent_settid_same_pointer", errno.EINVAL,
          "clone(2) writes the pidfd and the parent TID to the same pointer; ask for one of them"),
     lambda r: not r.clone3 and r.has(PIDFD | PARENT_SETTID)),
    # copy_process(): the guard clauses.
    (Rule("newns_with_fs", errno.EINVAL,
          "a new mount namespace cannot share root and cwd (fs_struct) with the old one"),
     lambda r: r.has(NEWNS | FS)),
    (Rule("newuser_with_fs", errno.EINVAL,
          "a task in a new user namespace cannot share root and cwd with one outside it"),
     lambda r: r.has(NEWUSER | FS)),
    (Rule("thread_without_sighand", errno.EINVAL,
          "threads of one group must share signal handlers: CLONE_THREAD needs CLONE_SIGHAND"),
     lambda r: r.any(THREAD) and not r.any(SIGHAND)),
    (Rule("sighand_without_vm", errno.EINVAL,
          "shared handlers point into one address space: CLONE_SIGHAND needs CLONE_VM"),
     lambda r: r.any(SIGHAND) and not r.any(VM)),
    (Rule("parent_from_unkillable_init", errno.EINVAL,
          "a sibling of init (SIGNAL_UNKILLABLE) would be a child of the idle task, which never "
          "reaps: it would stay a zombie, so init cannot use CLONE_PARENT"),
     lambda r: r.any(PARENT) and _caller_unkillable(r)),
    (Rule("thread_with_new_pid_or_user_ns", errno.EINVAL,
          "all threads of a group live in one pid and user namespace: CLONE_THREAD cannot start new ones"),
     lambda r: r.any(THREAD) and r.any(NEWUSER | NEWPID)),
    (Rule("pidfd_with_detached", errno.EINVAL, "CLONE_DETACHED is reserved and cannot go with CLONE_PIDFD"),
     lambda r: r.has(PIDFD | DETACHED)),
    # While copying resources: copy_fs(), then copy_namespaces() (kernel/nsproxy.c).
    (Rule("fs_in_exec", errno.EAGAIN,
          "the caller's fs_struct is being taken over by an execve; CLONE_FS must wait and retry",
          after_semundo=True),
     lambda r: r.any(FS) and _fs_in_exec(r)),
    NAMESPACE_NEEDS_CAP_SYS_ADMIN,
    (Rule("newipc_with_sysvsem", errno.EINVAL,
          "a new IPC namespace cannot share a SysV semaphore undo list with the old one",
          after_semundo=True),
     lambda r: r.has(NEWIPC | SYSVSEM)),
)


def unshare_implied(flags: int) -> int:
    """ksys_unshare() widens the request: a new user namespace needs a private thread and fs,
    a private VM needs private handlers, private handlers a private thread, a new mount ns a private fs."""
    if flags & NEWUSER:
        flags |= THREAD | FS
    if flags & VM:
        flags |= SIGHAND
    if flags & SIGHAND:
        flags |= THREAD
    if flags & NEWNS:
        flags |= FS
    return flags


UNSHARE_RULES: tuple[tuple[Rule, Check], ...] = (
    (Rule("unshare_unsupported_flag", errno.EINVAL,
          "unshare() can only separate thread, fs, files, vm, sighand, sysvsem and namespaces"),
     lambda r: r.any(~UNSHARE_ALLOWED)),
    (Rule("unshare_thread_in_multithreaded_group", errno.EINVAL,
          "a task cannot leave its thread group (or drop VM/handlers implying that) while it has other threads"),
     lambda r: r.any(THREAD | SIGHAND | VM) and r.caller.signal.nr_threads > 1),
    (Rule("unshare_sighand_shared", errno.EINVAL,
          "the signal handlers are shared with another task; unshare() cannot split them"),
     lambda r: r.any(SIGHAND | VM) and r.caller.sighand.count > 1),
    (Rule("unshare_vm_shared", errno.EINVAL,
          "another task uses this address space; unshare() cannot give the caller a private copy"),
     lambda r: r.any(VM) and r.caller.mm is not None and r.caller.mm.mm_users > 1),
    NAMESPACE_NEEDS_CAP_SYS_ADMIN,
)


def first_failure(rules: tuple[tuple[Rule, Check], ...], request: CloneRequest) -> Rule | None:
    """The first rule that refuses `request`, or None when all pass."""
    for rule, check in rules:
        if check(request):
            return rule
    return None


def refuse_unmodelled(flags: int, call: str) -> None:
    """Say clearly that a request passed validation but asks for what the engine does not model."""
    if flags & _NAMESPACES:
        raise NotModelled(f"{call} with {format_flags(flags & _NAMESPACES)} passes the kernel's "
                          "checks, but the engine does not model namespaces; leave the CLONE_NEW* flags out")
    if flags & _INTO_CGROUP:
        raise NotModelled(f"{call} with CLONE_INTO_CGROUP needs a cgroup fd, and the engine does not "
                          "model cgroups; leave the flag out")


def all_rules() -> list[Rule]:
    """Every rule once, clone's then unshare's, for the book's table."""
    rules = [rule for rule, _ in CLONE_RULES]
    return rules + [rule for rule, _ in UNSHARE_RULES if rule not in rules]
