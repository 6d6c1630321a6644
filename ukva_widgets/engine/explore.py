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
renaming and some not at all.  It keeps one parent
pointer per state to rebuild the trace.  With `max_states` it stops when that many distinct
states are stored: the result is then "not proven", never an out-of-memory.  The stepper
widget is the third decider."""

from __future__ import annotations

import gc
import random
import time
from dataclasses import dataclass, field

from .machine import Choice, Machine, Violation
from .transitions import FINISH, UPDATE

DEFAULT_MAX_STATES = 1_000_000


@dataclass
class ExploreResult:
    """What the explorer found: a violation with a shortest `trace` from the start, or none;
    `complete` says whether every reachable state was visited (a proof) or the bound hit
    (after a violation it is False: the search stops at the first one)."""

    violation: Violation | None
    trace: list[Choice]
    states: int
    complete: bool
    seconds: float = field(default=0.0, compare=False)

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
            return f"no violation: proven over all {self.states} reachable states"
        return (f"no violation found in {self.states} states, but the bound was reached before the "
                f"state space was exhausted: not proven (raise max_states)")

    __str__ = text

    def __repr__(self) -> str:
        return f"<ExploreResult {self.verdict}: {self.states} states, trace of {len(self.trace)} steps>"


def explore(machine: Machine, max_states: int = DEFAULT_MAX_STATES) -> ExploreResult:
    """Search every interleaving of `machine` from its start, breadth first."""
    if isinstance(max_states, bool) or not isinstance(max_states, int) or max_states < 1:
        raise ValueError(f"max_states must be a positive int; got {max_states!r}")
    # The search allocates millions of small tuples and no reference cycles; the cyclic
    # collector would only rescan the growing visited set again and again.
    enabled_gc = gc.isenabled()
    gc.disable()
    try:
        return _search(machine, max_states)
    finally:
        if enabled_gc:
            gc.enable()


def _search(machine: Machine, max_states: int) -> ExploreResult:
    t0 = time.perf_counter()
    setup = machine.setup
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
                return _replay(machine, codes[::-1], len(seen), t0)
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
    return ExploreResult(None, [], len(seen), complete, time.perf_counter() - t0)


def _replay(machine: Machine, codes: list, states: int, t0: float) -> ExploreResult:
    """Rebuild the trace as Choices on a fresh machine, which also confirms the violation."""
    fresh = machine.fresh()
    trace = []
    for code in codes:
        choice = Choice(code, fresh.label(code))
        trace.append(choice)
        fresh.step(choice)
    if fresh.violation is None:
        raise RuntimeError("engine bug: the explorer's trace does not reproduce its violation")
    return ExploreResult(fresh.violation, trace, states, False, time.perf_counter() - t0)


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
