"""Deciders over the SMP machine's choices: the model checker (`explore`), its plain reference
(`reference_search`), and a random runner.

`explore` visits every state reachable from the machine's start, each once, level by level,
so the first violation it meets is at the smallest depth and the trace it returns is a
shortest one.  It answers what `reference_search` answers, only faster: its visited set is
keyed by `symmetry.Reduction.key`, which identifies states that are the same up to a renaming
(of CPUs, of interchangeable tasks, of tasks with their private objects and slots) or that
differ only by stale TLB entries no one can read, and it skips choices whose results another
choice already gives (symmetry.py says when each is sound).  Each reduction keeps one state of
a class whose states have the same futures up to renaming, so the verdict and the depth of the
first violation are those of the reference search; tests compare the two on hundreds of small
machines.  A machine is first cut into parts searched one at a time where it can be
(`_by_parts`, parts.py): under per-mm each table's slot is checked with the other tables'
steps left out, under per-task and per-cpu each MM's reads, which turns a product of every
slot's (or MM's) TLB entries into a sum.  It keeps one parent pointer per state to
rebuild the trace.  With `max_states` it stops when that many distinct states are stored: the
result is then "not proven", never an out-of-memory.  The stepper widget is the third decider.
"""

from __future__ import annotations

import gc
import random
import time
from collections.abc import Callable

from .machine import Machine, Step
from .model import Model
from .parts import Part, cut
from .results import PROGRESS_EVERY, ExploreResult, Outcome, Progress
from .state import FINISH, UPDATE, Choice, State
from .symmetry import Reduction

__all__ = ["DEFAULT_MAX_STATES", "ENGINES", "ExploreResult", "Progress", "explore", "random_run", "reference_search"]

DEFAULT_MAX_STATES = 1_000_000
ENGINES = ("python", "spin")
ProgressFn = Callable[[Progress], "bool | None"]
# An engine: (model, max_states, progress, renamings) -> Outcome; renamings is False for a part.
Search = Callable[[Model, int, "ProgressFn | None", bool], Outcome]


def reference_search(machine: Machine, max_states: int = DEFAULT_MAX_STATES) -> ExploreResult:
    """The model checker at its plainest: breadth first from the start, every state once.

    Each round takes the states first reached in the previous round (`level`), tries every
    enabled choice in each, and keeps the states never seen before for the next round.  So
    the first violation it meets is at the least depth there is: its trace, rebuilt from the
    `parent` pointers, is a shortest one.  If no round finds one and no new state is left,
    every reachable state has been checked: the machine is proven within its bounds.

    `explore` gives the same verdict and the same trace length, far faster (symmetry.py, parts.py
    say how, and tests check the two agree); this one is here to be read."""
    model, t0 = machine.model, time.perf_counter()
    start = model.initial()
    parent: dict[State, tuple[State, Choice] | None] = {start: None}
    level = [start]
    while level:
        following = []
        for state in level:
            for choice in model.enabled(state):
                after, broken = model.next(state, choice)
                if broken is not None:
                    return _replay(machine, _path(parent, state) + [choice], len(parent), t0)
                if after not in parent:
                    if len(parent) == max_states:
                        return ExploreResult(None, [], len(parent), False, assumptions=_assumes(machine))
                    parent[after] = (state, choice)
                    following.append(after)
        level = following
    return ExploreResult(None, [], len(parent), True, assumptions=_assumes(machine))


def _path(parent: dict[State, tuple[State, Choice] | None], state: State) -> list[Choice]:
    """The choices that lead from the start to `state`, following the parent pointers back."""
    path = []
    while parent[state] is not None:
        state, choice = parent[state]
        path.append(choice)
    return path[::-1]


def explore(machine: Machine, max_states: int = DEFAULT_MAX_STATES, *, engine: str = "python",
            progress: ProgressFn | None = None, bitstate: bool = False, parts: bool = True) -> ExploreResult:
    """Search every interleaving of `machine` from its start, breadth first.

    `engine="spin"` exports the same transition system to Promela and lets SPIN search it
    (spin.py); `bitstate` (SPIN only) hashes states into a bit array for spaces too big to
    store, and a result found that way is "not proven" unless a violation turns up.
    `progress`, if given, is called about every PROGRESS_EVERY seconds with a `Progress`;
    returning False cancels the search (the result says "cancelled", not proven).
    With `parts` (the default) a machine is searched part by part where it can be (`_by_parts`:
    one group of slots, or one MM's reads, at a time, which is what makes machines with many
    private tables or processes tractable); `parts=False` searches the whole machine at once,
    for comparison."""
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
    search = _engine(engine, bitstate)
    model = machine.model
    pieces = cut(model) if parts else None
    method = "the whole machine"
    if pieces is not None:
        out, method = _by_parts(model, pieces, search, max_states, progress, t0)
        if out.choices is not None and model.can_evict() and not _violates_at_end(model, out.choices):
            # A part's TLBs never evict; the machine's may, and here they prevented that
            # violation: only the whole machine can say (its search starts afresh).
            method = "the whole machine (a part found a violation its TLB size prevents)"
            budget = max_states - out.states
            if budget < 1:
                return ExploreResult(None, [], out.states, False, time.perf_counter() - t0,
                                     engine=engine, method=method, assumptions=_assumes(machine))
            whole = search(model, budget, _offset(progress, out.states, "the whole machine", t0), True)
            whole.states += out.states
            out = whole
    else:
        out = search(model, max_states, progress, True)
    if out.choices is not None:
        result = _replay(machine, out.choices, out.states, t0, engine)
        result.method = method
        return result
    return ExploreResult(None, [], out.states, out.complete, time.perf_counter() - t0, cancelled=out.cancelled,
                         engine=engine, method=method, assumptions=_assumes(machine, method))


def _assumes(machine: Machine, method: str = "") -> tuple[str, ...]:
    """What a verdict on `machine` rests on (words.MachineWords.assumptions), and, for a proof
    found part by part, that the parts' TLBs never evict (which covers any TLB: _by_parts)."""
    return tuple(machine.assumptions(by_parts=method.startswith("part by part")))


def _engine(engine: str, bitstate: bool) -> Search:
    if engine == "spin":
        from . import spin

        return lambda model, budget, progress, renamings: spin.search(model, budget, progress, bitstate=bitstate)
    return _search


def _offset(progress: ProgressFn | None, before: int, part: str, t0: float) -> ProgressFn | None:
    """`progress` as one part of a longer search sees it: states so far added, time from t0."""
    if progress is None:
        return None
    start = time.perf_counter() - t0

    def report(p: Progress) -> bool | None:
        return progress(Progress(before + p.states, start + p.seconds, part))
    return report


def _violates_at_end(model: Model, choices: list[Choice]) -> bool:
    """Whether taking `choices` from the start breaks the invariant at the last one, not before."""
    state = model.initial()
    for n, choice in enumerate(choices, 1):
        state, bad = model.next(state, choice)
        if bad is not None:
            return n == len(choices)
    return False


def _by_parts(model: Model, parts: list[Part], search: Search, max_states: int, progress: ProgressFn | None,
              t0: float) -> tuple[Outcome, str]:
    """Search each part of a machine (parts.cut) on its own and combine.

    Why this is sound, per-mm first.  Call a step a part's when it reads one of the part's UKVA pages,
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
    (2) the shortest violation of the machine is no shorter than the shortest among the
    parts', and where the machine's own TLBs cannot fill up either (`Model.can_evict`) every
    path of a part is a path of the machine, so it is that one; where they can, `explore` takes
    the part's trace on the machine itself, and if the machine's evictions prevent it there,
    searches the whole machine.
    Per-task and per-cpu are cut (one part per MM) only where no TLB can fill up.  A part's
    steps are then the reads of one MM's tasks, and another part's read only fills its own
    ASID's entry (or, without PCID, an entry that the CR3 write into this MM drops): it changes
    nothing this part reads, so each path of the machine, less the other parts' reads, is a
    path of a part with the same violations, and each path of a part is one of the machine.
    Parts that a renaming of the machine maps onto each other have isomorphic searches: one
    stands for all.  A part merges the MMs its steps never touch (parts.merge_others says why
    that changes nothing it can see).  The slow test that compares the explorer with the
    reference search on hundreds of machines covers all of this."""
    best: Outcome | None = None
    total, complete, cancelled = 0, True, False
    for n, part in enumerate(parts):
        name = f"{part.label} ({n + 1} of {len(parts)})"
        budget = max_states - total
        if budget < 1:
            complete = False
            break
        out = search(part.model, budget, _offset(progress, total, name, t0), False)
        total += out.states
        if out.cancelled:
            cancelled, complete = True, False
            break
        if out.choices is not None:
            if best is None or len(out.choices) < len(best.choices):
                best = out
            continue
        complete = complete and out.complete
        if not out.complete:
            break
    shown = sum(part.count for part in parts)
    method = f"part by part: {shown} parts, " + (
        "each searched" if shown == len(parts) else
        f"{len(parts)} searched (the others are the same up to a renaming)")
    if best is not None and not cancelled:
        return Outcome(best.choices, total, False), method
    return Outcome(None, total, complete, cancelled), method


def _search(model: Model, max_states: int, progress: ProgressFn | None = None, renamings: bool = True) -> Outcome:
    """The Python engine: breadth first over `model`'s states from its start, reduced."""
    # The search allocates millions of small tuples and no reference cycles; the cyclic
    # collector would only rescan the growing visited set again and again.
    enabled_gc = gc.isenabled()
    gc.disable()
    try:
        return _bfs(model, Reduction(model, renamings), max_states, progress)
    finally:
        if enabled_gc:
            gc.enable()


def _bfs(model: Model, reduction: Reduction, max_states: int, progress: ProgressFn | None) -> Outcome:
    t0 = time.perf_counter()
    next_report = t0 + PROGRESS_EVERY
    enabled, key, has_stale = reduction.enabled, reduction.key, reduction.has_stale
    plain, prune = reduction.plain, reduction.prune
    start = model.initial()
    seen = {key(start)}
    # States in the order they were found, which is also the breadth-first order to expand
    # them in; back[i] = (index of the parent, the choice that led here).
    states: list[State | None] = [start]
    back: list[tuple[int, Choice] | None] = [None]
    add_state, add_back, mark = states.append, back.append, seen.add
    counts = [0] * 8  # the explorer keeps no counters; the handlers need somewhere to add them
    complete = True
    i = 0
    # The hot loop: each handler called directly; Reduction.key inlined when it has only CPUs to
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
        for choice, handler in enabled(state):
            nxt, bad = handler(state, choice, counts)
            if bad is not None:
                path = [choice]
                j = i
                while j > 0:
                    j, step = back[j]
                    path.append(step)
                return Outcome(path[::-1], len(seen), False)
            if nxt is state:
                continue
            if stale or not plain or (prune and (choice[0] == UPDATE or choice[0] == FINISH)):
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
            add_back((i, choice))
        if not complete:
            break
        i += 1
    return Outcome(None, len(seen), complete)


def _replay(machine: Machine, choices: list[Choice], states: int, t0: float, engine: str = "python") -> ExploreResult:
    """Rebuild the trace as Steps on a fresh machine, which also confirms the violation."""
    fresh = machine.fresh()
    trace = []
    for choice in choices:
        step = Step(choice, fresh.label(choice))
        trace.append(step)
        fresh.step(step)
    if fresh.violation is None:
        raise RuntimeError(f"engine bug: the {engine} engine's trace does not reproduce its violation")
    return ExploreResult(fresh.violation, trace, states, False, time.perf_counter() - t0, engine=engine,
                         assumptions=_assumes(machine))


def random_run(machine: Machine, steps: int, seed: int = 0) -> list[Step]:
    """Take up to `steps` random enabled steps on `machine` (from where it is), stopping at a
    violation or when nothing is enabled; returns the steps taken.  The same seed on the
    same machine takes the same steps."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be a non-negative int; got {steps!r}")
    rng = random.Random(seed)
    taken = []
    for _ in range(steps):
        options = machine.choices()
        if not options:
            break
        step = rng.choice(options)
        machine.step(step)
        taken.append(step)
    return taken
