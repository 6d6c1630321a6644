"""Deciders over the SMP machine's choices: a breadth-first model checker and a random runner.

`explore` visits every state reachable from the machine's start, each once, level by level,
so the first violation it meets is at the smallest depth and the trace it returns is a
shortest one.  Its visited set is keyed by `Setup.key`, which identifies states that differ
only by a renaming of CPUs, of interchangeable (twin) tasks under per-mm, of tasks together
with their private objects and slots (`Setup._automorphisms` says when that is sound: the
renaming must map the machine onto itself and commute with every step, which rules it out
where a full TLB evicts by slot order), or by stale TLB entries no one can read; of
interchangeable tasks that are not running it switches to one, and it takes once an SMP-safe
update of a one-MM object or a write to one cache line, whichever CPU makes it
(`Setup.enabled`).  Each reduction keeps one state of a class whose states have the same
futures up to renaming, so the verdict and the depth of the first violation are those of the
plain search; a slow test compares the two on 300 small machines, some symmetric only up to
renaming and some not at all.  A per-mm machine is first cut into parts that can be
searched one at a time (`_by_parts`, `Setup.parts`): each table's slot is checked with the
other tables' steps left out, which turns a product of every slot's TLB entries into a sum.
It keeps one parent pointer per state to rebuild the trace.  With `max_states` it stops when that many distinct
states are stored: the result is then "not proven", never an out-of-memory.  The stepper
widget is the third decider."""

from __future__ import annotations

import functools
import gc
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .machine import Choice, Machine, Violation
from .transitions import FINISH, UPDATE, Setup

DEFAULT_MAX_STATES = 1_000_000


ENGINES = ("python", "spin")
PROGRESS_EVERY = 0.25  # seconds between two progress reports


@dataclass(frozen=True)
class Progress:
    """What a running search reports to its `progress` callback: the states stored so far
    (over every part searched), the wall-clock seconds since it began, their rate, and
    which part of the search it is in (e.g. "slot files#2 (1 of 2)")."""

    states: int
    seconds: float
    part: str = ""

    @property
    def rate(self) -> float:
        return self.states / self.seconds if self.seconds > 0 else 0.0

    def text(self) -> str:
        where = f" — {self.part}" if self.part else ""
        return f"{self.states:,} states in {self.seconds:.1f} s ({self.rate:,.0f} states/s){where}"


@dataclass
class Outcome:
    """What one search engine found on one Setup: the choice codes of a shortest path to a
    violation (or None), the states it stored, whether it exhausted the space, and whether
    its `progress` callback stopped it."""

    codes: list | None
    states: int
    complete: bool
    cancelled: bool = False


@dataclass
class ExploreResult:
    """What the explorer found: a violation with a shortest `trace` from the start, or none;
    `complete` says whether every reachable state was visited (a proof) or the search
    stopped first (the bound, or a cancel: `cancelled`); after a violation it is False, the
    search stops at the first one.  `engine` is "python" or "spin"; `method` says how the
    state space was cut (see `explore`)."""

    violation: Violation | None
    trace: list[Choice]
    states: int
    complete: bool
    seconds: float = field(default=0.0, compare=False)
    cancelled: bool = False
    engine: str = "python"
    method: str = field(default="", compare=False)

    @property
    def verdict(self) -> str:
        """"violation", "proven" (no violation in the whole state space) or "not proven"."""
        if self.violation is not None:
            return "violation"
        return "proven" if self.complete else "not proven"

    def text(self) -> str:
        if self.violation is not None:
            steps = "\n".join(f"  {i + 1}. {c}" for i, c in enumerate(self.trace))
            return (f"violation after {len(self.trace)} steps (a shortest trace; "
                    f"{self.states} states explored):\n{steps}\n{self.violation}")
        if self.complete:
            if self.method.startswith("part by part"):
                return (f"no violation: proven over every reachable state, searched {self.method}: "
                        f"{self.states} states in all")
            return f"no violation: proven over all {self.states} reachable states"
        if self.cancelled:
            return f"cancelled after {self.states} states: not proven"
        return (f"no violation found in {self.states} states, but the bound was reached before the "
                f"state space was exhausted: not proven (raise max_states)")

    __str__ = text

    def __repr__(self) -> str:
        return f"<ExploreResult {self.verdict}: {self.states} states, trace of {len(self.trace)} steps>"


def explore(machine: Machine, max_states: int = DEFAULT_MAX_STATES, *, engine: str = "python",
            progress: Callable[[Progress], bool | None] | None = None, bitstate: bool = False,
            parts: bool = True) -> ExploreResult:
    """Search every interleaving of `machine` from its start, breadth first.

    `engine="spin"` exports the same transition system to Promela and lets SPIN search it
    (spin.py); `bitstate` (SPIN only) hashes states into a bit array for spaces too big to
    store, and a result found that way is "not proven" unless a violation turns up.
    `progress`, if given, is called about every PROGRESS_EVERY seconds with a `Progress`;
    returning False cancels the search (the result says "cancelled", not proven).
    With `parts` (the default) a per-mm machine is searched part by part (`_by_parts`: one
    group of slots at a time, which is what makes machines with many private tables
    tractable); `parts=False` searches the whole machine at once, for comparison."""
    if isinstance(max_states, bool) or not isinstance(max_states, int) or max_states < 1:
        raise ValueError(f"max_states must be a positive int; got {max_states!r}")
    if not isinstance(parts, bool):
        raise TypeError(f"parts must be True or False; got {parts!r}")
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}: use one of {', '.join(ENGINES)}")
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be a callable taking a Progress; got {type(progress).__name__}")
    if bitstate and engine != "spin":
        raise ValueError("bitstate hashing is a SPIN option: pass engine=\"spin\" with it")
    t0 = time.perf_counter()
    if engine == "spin":
        from . import spin

        search = functools.partial(spin.search, bitstate=bitstate)
    else:
        search = _search
    setup = machine.setup
    cut = setup.parts() if parts else None
    method = "the whole machine"
    if cut is not None:
        out, exact, method = _by_parts(setup, cut, search, max_states, progress, t0)
        if out.codes is not None and not exact:
            # A part's TLBs never evict; the machine's may, which can hide that violation or
            # delay it: only the whole machine can say (its search starts afresh).
            method = "the whole machine (a part found a violation its TLB size may prevent)"
            budget = max_states - out.states
            if budget < 1:
                return ExploreResult(None, [], out.states, False, time.perf_counter() - t0,
                                     engine=engine, method=method)
            whole = search(setup, budget, _offset(progress, out.states, "the whole machine", t0))
            whole.states += out.states
            out = whole
    else:
        out = search(setup, max_states, progress)
    if out.codes is not None:
        result = _replay(machine, out.codes, out.states, t0, engine)
        result.method = method
        return result
    return ExploreResult(None, [], out.states, out.complete, time.perf_counter() - t0,
                         cancelled=out.cancelled, engine=engine, method=method)


def _offset(progress, before: int, part: str, t0: float):
    """`progress` as one part of a longer search sees it: states so far added, time from t0."""
    if progress is None:
        return None
    start = time.perf_counter() - t0

    def report(p: Progress):
        return progress(Progress(before + p.states, start + p.seconds, part))
    return report


def _by_parts(setup: Setup, parts: list, search, max_states: int, progress, t0: float) -> tuple[Outcome, bool, str]:
    """Search each part of a per-mm machine (Setup.parts) on its own and combine.

    Why this is sound.  Call a step a part's when it reads one of the part's UKVA pages,
    updates one of its objects, or writes or evicts one of its cached pages; switches belong
    to every part.  Within a part, a step looks up and changes only the part's TLB entries,
    page-table entries, versions, updates in progress and cache lines, plus who runs where,
    the ASIDs and tlb_gen; another part's step changes none of the first part's data, and
    what it changes of the rest only removes TLB entries (an SMP-safe update bumps tlb_gen,
    so a lazy CPU flushes its ASID at its next switch) or is its own update's bookkeeping.
    Under per-mm a TLB entry that is right implies the page table is right: an entry is a
    copy of its MM's entry, whose version only grows (a decrease is a lost update, itself a
    violation) and the right version is the newest.  So dropping an entry never creates a
    violation: a read that would have hit it walks the page table, and reads right.  Hence
    (1) removing every other part's steps from a path, and giving TLBs room never to evict,
    keeps its violation at no greater depth (each TLB then holds a superset of the entries,
    with the same pages), so if no part has a violation, neither has the machine: "proven";
    (2) where the machine's own TLBs cannot fill up either (`Setup.can_evict`), every path of
    a part is a path of the machine, so the shortest violation of the machine is the shortest
    among the parts' (exact); otherwise a part's violation may be one the machine's evictions
    prevent, and `explore` searches the whole machine.  Parts that a renaming of the machine
    maps onto each other have isomorphic searches: one stands for all.  A part's search keeps
    the whole state; the other parts' entries and data simply never appear in it.  The slow
    test that compares the explorer with a plain BFS on hundreds of machines covers this."""
    exact = not setup.can_evict()
    best: Outcome | None = None
    total, complete, cancelled = 0, True, False
    for n, (label, part, _count) in enumerate(parts):
        name = f"{label} ({n + 1} of {len(parts)})"
        budget = max_states - total
        if budget < 1:
            complete = False
            break
        out = search(part, budget, _offset(progress, total, name, t0))
        total += out.states
        if out.cancelled:
            cancelled, complete = True, False
            break
        if out.codes is not None:
            if best is None or len(out.codes) < len(best.codes):
                best = out
            if not exact:
                break
            continue
        complete = complete and out.complete
        if not out.complete:
            break
    shown = sum(count for _, _, count in parts)
    method = f"part by part: {shown} parts, " + (
        "each searched" if shown == len(parts) else
        f"{len(parts)} searched (the others are the same up to a renaming of the tasks)")
    if best is not None and not cancelled:
        return Outcome(best.codes, total, False), exact, method
    return Outcome(None, total, complete, cancelled), exact, method


def _search(setup: Setup, max_states: int,
            progress: Callable[[Progress], bool | None] | None = None) -> Outcome:
    """The Python engine: breadth first over `setup`'s states from its start."""
    # The search allocates millions of small tuples and no reference cycles; the cyclic
    # collector would only rescan the growing visited set again and again.
    enabled_gc = gc.isenabled()
    gc.disable()
    try:
        return _bfs(setup, max_states, progress)
    finally:
        if enabled_gc:
            gc.enable()


def _bfs(setup: Setup, max_states: int, progress: Callable[[Progress], bool | None] | None) -> Outcome:
    t0 = time.perf_counter()
    next_report = t0 + PROGRESS_EVERY
    enabled, key, has_stale = setup.enabled, setup.key, setup.has_stale
    symmetric, prune = setup.symmetric and not setup.rename and not setup.perms, setup.prune
    start = setup.initial()
    seen = {key(start)}
    # States in the order they were found, which is also the breadth-first order to expand
    # them in; back[i] = (index of the parent, the choice that led here).
    states: list[tuple | None] = [start]
    back: list[tuple[int, tuple[int, int, int]] | None] = [None]
    add_state, add_back, mark = states.append, back.append, seen.add
    counts = [0] * 8  # the explorer keeps no counters; the handlers need somewhere to add them
    complete = True
    i = 0
    # The hot loop: each handler called directly; Setup.key inlined when it has only CPUs to
    # sort, which is so unless the parent had stale ASIDs or the step maps an update.
    while i < len(states):
        if progress is not None and not i & 1023 and time.perf_counter() >= next_report:
            now = time.perf_counter()
            next_report = now + PROGRESS_EVERY
            if progress(Progress(len(seen), now - t0)) is False:
                return Outcome(None, len(seen), False, cancelled=True)
        state = states[i]
        states[i] = None  # expanded: only its key in `seen` is still needed
        stale = has_stale(state)
        for code, handler, cpu, arg in enabled(state, True):
            nxt, bad = handler(state, cpu, arg, counts)
            if bad is not None:
                codes = [code]
                j = i
                while j > 0:
                    j, step = back[j]
                    codes.append(step)
                return Outcome(codes[::-1], len(seen), False)
            if nxt is state:
                continue
            if stale or (prune and (code[0] == UPDATE or code[0] == FINISH)) or not symmetric:
                k = key(nxt)
            else:
                k = (tuple(sorted(nxt[0])), nxt[1], nxt[2], nxt[3], nxt[4])
            if k in seen:
                continue
            if len(states) >= max_states:
                complete = False
                break
            mark(k)
            add_state(nxt)
            add_back((i, code))
        if not complete:
            break
        i += 1
    return Outcome(None, len(seen), complete)


def _replay(machine: Machine, codes: list, states: int, t0: float, engine: str = "python") -> ExploreResult:
    """Rebuild the trace as Choices on a fresh machine, which also confirms the violation."""
    fresh = machine.fresh()
    trace = []
    for code in codes:
        choice = Choice(code, fresh.label(code))
        trace.append(choice)
        fresh.step(choice)
    if fresh.violation is None:
        raise RuntimeError(f"engine bug: the {engine} engine's trace does not reproduce its violation")
    return ExploreResult(fresh.violation, trace, states, False, time.perf_counter() - t0, engine=engine)


def random_run(machine: Machine, steps: int, seed: int = 0) -> list[Choice]:
    """Take up to `steps` random enabled steps on `machine` (from where it is), stopping at a
    violation or when nothing is enabled; returns the choices taken.  The same seed on the
    same machine takes the same steps."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be a non-negative int; got {steps!r}")
    rng = random.Random(seed)
    taken = []
    for _ in range(steps):
        options = machine.choices()
        if not options:
            break
        choice = rng.choice(options)
        machine.step(choice)
        taken.append(choice)
    return taken
