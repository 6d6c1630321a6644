"""The invariants Kernel.check() verifies after any sequence of calls (the stateful test runs it
after every step): counters equal the holders the kernel would find, nothing freed is reachable,
thread groups hang together, every task has a live parent, and orphans have a live thread of
init to go to (the child reaper)."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from .objects import SharedObject
from .task import RUNNING, ZOMBIE

if TYPE_CHECKING:
    from .kernel import Kernel

HELD = ("mm", "fs", "files", "sighand", "signal", "io_context", "sysvsem")


def _fail(message: str) -> None:
    raise AssertionError(f"invariant broken: {message}")


def check(k: Kernel) -> None:
    tasks = k.tasks
    holders: Counter[SharedObject] = Counter()
    for t in tasks:
        for name in HELD:
            obj = getattr(t, name)
            if obj is None:
                continue
            if obj.freed:
                _fail(f"pid {t.pid} still points at freed {obj.label}")
            holders[obj] += 1
        if t.active_mm is not None and t.active_mm.freed:
            _fail(f"pid {t.pid}'s active_mm {t.active_mm.label} is freed")
    _check_counts(k, holders)
    for t in tasks:
        _check_task(k, t)
    reaper = k.child_reaper
    if reaper.state != RUNNING or reaper.signal is not k.init.signal or k._tasks.get(reaper.pid) is not reaper:
        _fail(f"the child reaper pid {reaper.pid} is not a live thread of init ({reaper.state})")


def _check_counts(k: Kernel, holders: Counter[SharedObject]) -> None:
    live = set(k.objects())
    for obj, n in holders.items():
        if obj.refcount != n:
            _fail(f"{obj.label} has refcount {obj.refcount} but {n} tasks hold it")
        if obj not in live:
            _fail(f"{obj.label} is held but missing from k.objects()")
    borrowed = Counter(t.active_mm for t in k.tasks if t.is_kthread and t.active_mm is not None)
    for obj in live:
        if obj.kind != "mm":
            if obj not in holders:
                _fail(f"{obj.label} is not freed but no task holds it")
            continue
        # mm_count, exactly: one reference for all the users together, one per kernel thread
        # borrowing the MM as its active_mm (lazy TLB).  A grab nobody holds is a leak.
        # (The SMP machine's lazy CPUs hold theirs in the machine: Machine.mm_count.)
        exact = (1 if obj.mm_users > 0 else 0) + borrowed[obj]
        if obj.mm_users != holders[obj] or obj.mm_count != exact or obj.mm_count == 0:
            _fail(f"{obj.label}: mm_users={obj.mm_users}, mm_count={obj.mm_count}, but "
                  f"{holders[obj]} tasks use it and {borrowed[obj]} kernel threads borrow it")


def _check_task(k: Kernel, t) -> None:
    sig, leader = t.signal, t.group_leader
    if t.state not in (RUNNING, ZOMBIE):
        _fail(f"pid {t.pid} is listed but its state is {t.state!r}")
    if t.tgid != leader.pid or leader.signal is not sig or k._tasks.get(leader.pid) is not leader:
        _fail(f"pid {t.pid}: tgid {t.tgid} does not name a listed leader sharing its signal_struct")
    group = [x for x in k.tasks if x.signal is sig]
    if sig.nr_threads != len(group) or sig.live != sum(x.state == RUNNING for x in group):
        _fail(f"{sig.label}: nr_threads={sig.nr_threads}, live={sig.live} but the group is "
              f"{[(x.pid, x.state) for x in group]}")
    if not t.is_leader and (t.state != RUNNING or t.exit_signal != -1):
        _fail(f"pid {t.pid} is a non-leader thread but is {t.state} with exit_signal {t.exit_signal}")
    if t.state == RUNNING and not t.is_leader and (t.mm is not leader.mm and leader.state == RUNNING
                                                   or t.sighand is not leader.sighand):
        _fail(f"pid {t.pid} does not share mm and sighand with its group leader {leader.pid}")
    if t.state == ZOMBIE and any(getattr(t, n) is not None for n in ("mm", "fs", "files", "io_context",
                                                                   "sysvsem")):
        _fail(f"zombie pid {t.pid} still holds resources exit() releases")
    if t.state == RUNNING and (t.sighand is None or t.fs is None or t.files is None):
        _fail(f"live pid {t.pid} lacks sighand, fs or files")
    if t.state == RUNNING and not t.is_kthread and (t.mm is None or t.active_mm is not t.mm):
        _fail(f"user task pid {t.pid} has mm {t.mm!r} and active_mm {t.active_mm!r}")
    parent = t.parent
    if parent is None:
        if not (sig is k.init.signal or t is k._kthreadd):
            _fail(f"pid {t.pid} has no parent but is neither in init's group nor kthreadd")
    elif k._tasks.get(parent.pid) is not parent or parent.state != RUNNING:
        _fail(f"pid {t.pid}'s parent {parent.pid} is not a live task")
    elif t.is_leader and t not in parent.children:
        _fail(f"leader pid {t.pid} is missing from its parent {parent.pid}'s children")
    for c in t.children:
        if c.parent is not t or not c.is_leader or k._tasks.get(c.pid) is not c:
            _fail(f"pid {t.pid}'s children list holds pid {c.pid}, whose parent is not it")
