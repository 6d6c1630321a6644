"""The clone flags of <linux/sched.h> by their real values, and the ways a learner may write them.

Flags can be given as an int (the values of the header), a ``"CLONE_VM|CLONE_FS"`` string or
an iterable of names; ``parse_flags`` turns any of them into a ``CloneFlags``. The low byte of the
legacy clone(2) word (``CSIGNAL``) is the exit signal, not a flag: ``split_legacy_word`` separates it.
"""

from __future__ import annotations

import enum
import signal
from collections.abc import Iterable

# Low byte of the legacy clone(2) flags word: the signal sent to the parent at exit
# (include/uapi/linux/sched.h). CLONE_NEWTIME shares its bit and is usable only via clone3/unshare.
CSIGNAL = 0x000000FF
SIGCHLD = 17  # x86 numbering (arch/x86/include/uapi/asm/signal.h)
NSIG = 64     # _NSIG: valid exit signals are 0..64


class CloneFlags(enum.IntFlag):
    """Every flag of include/uapi/linux/sched.h known to Linux 6.18, by value."""

    CLONE_NEWTIME = 0x00000080         # new time namespace (clone3/unshare only: inside CSIGNAL)
    CLONE_VM = 0x00000100              # share the address space (mm_struct)
    CLONE_FS = 0x00000200              # share root, cwd, umask (fs_struct)
    CLONE_FILES = 0x00000400           # share the open-file table (files_struct)
    CLONE_SIGHAND = 0x00000800         # share signal handlers (sighand_struct)
    CLONE_PIDFD = 0x00001000           # return a pidfd to the parent
    CLONE_PTRACE = 0x00002000          # let tracing continue on the child
    CLONE_VFORK = 0x00004000           # parent sleeps until the child execs or exits
    CLONE_PARENT = 0x00008000          # child gets the caller's parent
    CLONE_THREAD = 0x00010000          # same thread group (signal_struct)
    CLONE_NEWNS = 0x00020000           # new mount namespace
    CLONE_SYSVSEM = 0x00040000         # share the SysV semaphore undo list
    CLONE_SETTLS = 0x00080000          # set the child's TLS
    CLONE_PARENT_SETTID = 0x00100000   # store the child's TID in the parent
    CLONE_CHILD_CLEARTID = 0x00200000  # clear the TID in the child at exit
    CLONE_DETACHED = 0x00400000        # unused, ignored by clone(2)
    CLONE_UNTRACED = 0x00800000        # tracer cannot force CLONE_PTRACE
    CLONE_CHILD_SETTID = 0x01000000    # store the TID in the child
    CLONE_NEWCGROUP = 0x02000000       # new cgroup namespace
    CLONE_NEWUTS = 0x04000000          # new UTS namespace
    CLONE_NEWIPC = 0x08000000          # new IPC namespace
    CLONE_NEWUSER = 0x10000000         # new user namespace
    CLONE_NEWPID = 0x20000000          # new PID namespace
    CLONE_NEWNET = 0x40000000          # new network namespace
    CLONE_IO = 0x80000000              # share the io_context
    CLONE_CLEAR_SIGHAND = 1 << 32      # clone3 only: reset handlers to SIG_DFL
    CLONE_INTO_CGROUP = 1 << 33        # clone3 only: start in the cgroup given by fd


F = CloneFlags
# Flags only clone3(2) can pass: above the legacy 32-bit word, or inside its CSIGNAL byte.
CLONE3_ONLY = F.CLONE_CLEAR_SIGHAND | F.CLONE_INTO_CGROUP | F.CLONE_NEWTIME
NAMESPACE_FLAGS = (F.CLONE_NEWNS | F.CLONE_NEWCGROUP | F.CLONE_NEWUTS | F.CLONE_NEWIPC
                   | F.CLONE_NEWUSER | F.CLONE_NEWPID | F.CLONE_NEWNET | F.CLONE_NEWTIME)

# Newer than the kernel these tests run on (6.18): named so the error can say why they are refused.
NEWER_THAN_THIS_KERNEL = {
    "CLONE_AUTOREAP": 1 << 34,
    "CLONE_NNP": 1 << 35,
    "CLONE_PIDFD_AUTOKILL": 1 << 36,
}

# What glibc passes (notebooks/sources.ipynb §5: glibc nptl/pthread_create.c,
# sysdeps/unix/sysv/linux arch-fork.h, spawni.c).
# Exit signals: fork, vfork and posix_spawn send SIGCHLD (the engine's default for a new
# process); pthread_create passes 0, which CLONE_THREAD turns into -1 anyway.
PRESETS: dict[str, CloneFlags] = {
    "fork": F.CLONE_CHILD_SETTID | F.CLONE_CHILD_CLEARTID,
    "vfork": F.CLONE_VFORK | F.CLONE_VM,
    "pthread_create": (F.CLONE_VM | F.CLONE_FS | F.CLONE_FILES | F.CLONE_SYSVSEM | F.CLONE_SIGHAND
                       | F.CLONE_THREAD | F.CLONE_SETTLS | F.CLONE_PARENT_SETTID
                       | F.CLONE_CHILD_CLEARTID),
    "posix_spawn": F.CLONE_VM | F.CLONE_VFORK | F.CLONE_CLEAR_SIGHAND,
}

_ALL_BITS = sum(f.value for f in CloneFlags)
_NAMES = [f.name for f in CloneFlags]


def _closest(name: str) -> str:
    """A hint naming the flag the learner most likely meant."""
    import difflib  # only on this error path: keeps `import ukva_widgets.engine` fast
    upper = name.upper()
    candidates = _NAMES + [n.removeprefix("CLONE_") for n in _NAMES]
    match = difflib.get_close_matches(upper, candidates, n=1, cutoff=0.5)
    if not match:
        return "; the real names are listed by [f.name for f in CloneFlags]"
    best = match[0] if match[0].startswith("CLONE_") else "CLONE_" + match[0]
    return f"; did you mean {best}?"


def _flag_from_name(name: str) -> CloneFlags:
    key = name.strip()
    if not key:
        raise ValueError("empty flag name in the flag list (two '|' in a row?)")
    full = key if key.startswith("CLONE_") else "CLONE_" + key
    if full in CloneFlags.__members__:
        return CloneFlags[full]
    if full in NEWER_THAN_THIS_KERNEL:
        raise ValueError(f"{full} (value {NEWER_THAN_THIS_KERNEL[full]:#x}) is newer than Linux 6.18, "
                         "the kernel this engine is checked against; it is not modelled")
    if key in signal.Signals.__members__:
        raise ValueError(f"{key} is a signal, not a clone flag: pass it as exit_signal=")
    if key == "CSIGNAL":
        raise ValueError("CSIGNAL is the exit-signal byte of clone(2), not a flag: pass exit_signal=")
    raise ValueError(f"unknown clone flag {key!r}{_closest(key)}")


def parse_flags(spec: int | str | Iterable[str] | CloneFlags) -> CloneFlags:
    """Turn an int, a "CLONE_A|CLONE_B" string or an iterable of names into CloneFlags.

    Names may omit the CLONE_ prefix ("VM|FS"). An unknown name is a ValueError naming the
    closest real flag; anything else than those three forms is a TypeError.
    """
    if isinstance(spec, bool):
        raise TypeError("clone flags must be an int, a 'CLONE_A|CLONE_B' string or names, not a bool")
    if isinstance(spec, int):
        return _flags_from_int(int(spec))
    if isinstance(spec, str):
        names: Iterable[object] = [] if not spec.strip() else spec.split("|")
    elif isinstance(spec, Iterable):
        names = list(spec)
    else:
        raise TypeError(f"clone flags must be an int, a 'CLONE_A|CLONE_B' string or an iterable "
                        f"of names, not {type(spec).__name__}")
    flags = CloneFlags(0)
    for name in names:
        if isinstance(name, CloneFlags):
            flags |= name
        elif isinstance(name, str):
            flags |= _flag_from_name(name)
        else:
            raise TypeError(f"flag names must be strings, got {name!r} ({type(name).__name__})")
    return flags


def _flags_from_int(value: int) -> CloneFlags:
    return CloneFlags(check_flag_bits(value))


def check_flag_bits(value: int) -> int:
    """`value` itself if every set bit is a known flag; else a ValueError saying which are not."""
    if value < 0:
        raise ValueError(f"clone flags cannot be negative ({value}); combine the CLONE_* values with |")
    stray = value & ~_ALL_BITS
    if stray & CSIGNAL:
        raise ValueError(f"bits {stray & CSIGNAL:#x} are in CSIGNAL, the exit-signal byte of clone(2), "
                         "not flags: pass the signal as exit_signal=")
    if stray:
        newer = [n for n, v in NEWER_THAN_THIS_KERNEL.items() if stray & v]
        why = f" ({', '.join(newer)}: newer than Linux 6.18, not modelled)" if newer else ""
        raise ValueError(f"bits {stray:#x} are not clone flags known to Linux 6.18{why}")
    return value


def split_legacy_word(value: int) -> tuple[CloneFlags, int]:
    """Split a legacy clone(2) flags word into (flags, exit signal), as kernel/fork.c does:
    the exit signal is its low byte (CSIGNAL), the flags the rest of the lower 32 bits."""
    return _flags_from_int(value & 0xFFFFFFFF & ~CSIGNAL), value & CSIGNAL


def flag_names(flags: int | CloneFlags) -> list[str]:
    """The names of the flags set in `flags`, in value order (["CLONE_VM", "CLONE_FS"])."""
    flags = parse_flags(flags) if not isinstance(flags, CloneFlags) else flags
    return [f.name for f in CloneFlags if f in flags]


def format_flags(flags: int | CloneFlags) -> str:
    """The "CLONE_A|CLONE_B" spelling of `flags` ("0" when empty)."""
    return "|".join(flag_names(flags)) or "0"
