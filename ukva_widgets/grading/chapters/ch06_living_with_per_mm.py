"""Chapter 06 exercises: living with a per-MM UKVA — an SMP-safe update protocol, a dynamic slot
allocator, and which per-MM machines still break.

6.1's protocol is a list of steps; `ProtocolModel` runs it on every CPU that updates, against
readers and IPIs on all CPUs, and `verify` searches every interleaving breadth first (each state
once), so a flaw comes back as a shortest schedule. 6.2's allocator is the learner's code: the
grader drives it in the learner's kernel on every operation sequence up to a bound plus longer
random ones from the grading seed, and checks the slots it returned here. 6.3's verdicts are the engine's
`explore`, kept as data (tests check them). 6.5 asks for the engine's shootdown count of a schedule that
`ukva measure` also runs on the kernel, and for the reason the two differ. 6.6 asks why a files table
shared by several MMs is read half updated. Sources: Linus Torvalds' 2002 reply (SMP-safe updates,
nothing shared across MMs, dynamic allocation), x86 flush_tlb_mm_range and the PTI LDT slots
(notebooks/sources.ipynb §1, §6, §7).
"""

from __future__ import annotations

import functools
import itertools
import random
from collections import deque
from dataclasses import dataclass
from typing import Any

from ..items import AnswerError, Item, Part, explain, register
from ..shapes import as_list, as_str
from .machines import pick_balanced
from .reasons import reason_item

STEPS = ("lock", "read_pte", "write_pte", "flush_local", "shootdown", "wait_acks", "unlock")


@dataclass(frozen=True)
class ProtocolModel:
    """`cpus` CPUs share one MM; the first `updaters` of them run `protocol` once each to remap a
    UKVA slot (version n -> n+1). Any CPU may read the slot (a TLB miss walks the page table and
    caches the version it finds) or take a pending shootdown IPI (flushing its entry) at any time.
    The rules: when an update finishes no TLB may still hold an older version
    than the one it installed (the old page could be freed), and at the end every update must be
    in (none lost)."""

    protocol: tuple[str, ...]
    cpus: int
    updaters: int

    # state: (pcs, lock, pte, pending bitmask, tlbs, locals)
    def initial(self) -> tuple:
        return ((0,) * self.updaters, -1, 0, 0, (0,) * self.cpus, (-1,) * self.updaters)

    def moves(self, state: tuple) -> list[tuple[str, tuple, str | None]]:
        """(label, next state, violation or None) for every enabled move."""
        pcs, lock, pte, pending, tlbs, local = state
        out = []
        for c in range(self.cpus):
            if tlbs[c] < 0:  # a hit changes nothing, so only a miss is a move
                out.append((f"cpu{c}: read the slot (TLB miss, walk: v{pte})",
                            (pcs, lock, pte, pending, _set(tlbs, c, pte), local), None))
            if pending >> c & 1:
                out.append((f"cpu{c}: take the shootdown IPI (flush)",
                            (pcs, lock, pte, pending & ~(1 << c), _set(tlbs, c, -1), local), None))
        steps = [self._step(state, c) for c in range(self.updaters) if pcs[c] < len(self.protocol)]
        return out + [s for s in steps if s is not None]

    def _step(self, state: tuple, c: int) -> tuple[str, tuple, str | None] | None:
        pcs, lock, pte, pending, tlbs, local = state
        op = self.protocol[pcs[c]]
        pcs2 = _set(pcs, c, pcs[c] + 1)
        if op == "lock":
            if lock >= 0:
                return None  # spins until the holder unlocks
            nxt = (pcs2, c, pte, pending, tlbs, local)
        elif op == "unlock":
            nxt = (pcs2, -1, pte, pending, tlbs, local)
        elif op == "read_pte":
            nxt = (pcs2, lock, pte, pending, tlbs, _set(local, c, pte))
        elif op == "write_pte":
            nxt = (pcs2, lock, local[c] + 1, pending, tlbs, local)
        elif op == "flush_local":
            nxt = (pcs2, lock, pte, pending, _set(tlbs, c, -1), local)
        elif op == "shootdown":
            nxt = (pcs2, lock, pte, pending | (((1 << self.cpus) - 1) & ~(1 << c)), tlbs, local)
        else:  # wait_acks
            if pending & ~(1 << c):
                return None
            nxt = (pcs2, lock, pte, pending, tlbs, local)
        label = f"cpu{c}: {op}"
        bad = None
        if pcs2[c] == len(self.protocol):
            mine = local[c] + 1  # the version this CPU's update installed
            stale = [x for x in range(self.cpus) if 0 <= nxt[4][x] < mine]
            if stale:
                bad = (f"cpu{c} finished its update to v{mine}, but cpu{stale[0]}'s TLB still maps "
                       f"the slot to v{nxt[4][stale[0]]}, the old page")
            elif all(p == len(self.protocol) for p in pcs2) and nxt[2] != self.updaters:
                bad = (f"all {self.updaters} updates finished but the page table says v{nxt[2]}: "
                       f"{self.updaters - nxt[2]} update(s) were lost")
        return label, nxt, bad


def _set(t: tuple, i: int, v: Any) -> tuple:
    return t[:i] + (v,) + t[i + 1:]


def verify(model: ProtocolModel, max_states: int = 200_000) -> tuple[list[str] | None, str, int]:
    """Breadth-first search of every interleaving: (shortest trace to a violation or None,
    the violation or "", states seen). No protocol that passes the judge's shape checks can
    deadlock: a lock holder always proceeds, and pending IPIs can always be taken."""
    start = model.initial()
    parent: dict[tuple, tuple[tuple, str] | None] = {start: None}
    frontier = deque([start])
    while frontier:
        state = frontier.popleft()
        for label, nxt, bad in model.moves(state):
            if bad is not None:
                return _trace(parent, state) + [label], bad, len(parent)
            if nxt not in parent:
                if len(parent) >= max_states:
                    raise AnswerError("the protocol's state space is too large to check; keep it short")
                parent[nxt] = (state, label)
                frontier.append(nxt)
    return None, "", len(parent)


def _trace(parent: dict, state: tuple) -> list[str]:
    labels = []
    while parent[state] is not None:
        state, label = parent[state]
        labels.append(label)
    return labels[::-1]


CONFIGS = ((2, 1), (2, 2), (3, 2))  # (cpus, updaters) the protocol must survive


def _make_protocol(rng: random.Random) -> tuple[dict[str, Any], str]:
    vocabulary = list(STEPS)
    rng.shuffle(vocabulary)
    return ({}, "Write the protocol a CPU follows to remap one slot of a per-MM UKVA, as a list of steps "
                f"from: {', '.join(vocabulary)}. Each step may appear once. It must stay correct when "
                "several CPUs update at once while others read the slot and take IPIs at any moment. "
                "It is checked on every interleaving for " +
                ", ".join(f"{c} CPUs with {u} updating" for c, u in CONFIGS) + ".")


def _judge_protocol(settings: dict[str, Any], answer: Any) -> list[Part]:
    steps = [as_str(s, "each step") for s in as_list(answer, "the protocol")]
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        raise AnswerError(f"{unknown[0]!r} is not a step; use steps from {', '.join(STEPS)}")
    if len(set(steps)) != len(steps):
        raise AnswerError("each step may appear once")
    if ("lock" in steps) != ("unlock" in steps) or ("lock" in steps and steps.index("lock") > steps.index("unlock")):
        raise AnswerError("a lock must be taken before it is released, and released before the end")
    if "write_pte" in steps and ("read_pte" not in steps or steps.index("read_pte") > steps.index("write_pte")):
        raise AnswerError("write_pte stores the version read_pte read plus one: read_pte must come first")
    if "write_pte" not in steps:
        raise AnswerError("the protocol never changes the page table (write_pte)")
    each = 1.0 / len(CONFIGS)
    parts = []
    for cpus, updaters in CONFIGS:
        trace, bad, states = verify(ProtocolModel(tuple(steps), cpus, updaters))
        name = f"{cpus} CPUs, {updaters} updating"
        if trace is None:
            parts.append(Part(name, each, each))
        else:
            shown = "; ".join(trace)
            parts.append(Part(name, 0.0, each, f"With {name}: {bad}. A shortest schedule: {shown}."))
    return parts


register(Item("6.1", "an SMP-safe update protocol for a per-MM UKVA", 1.0, _make_protocol, _judge_protocol))

# 6.2: a dynamic slot allocator. Operations: "a" allocates a slot for a new object (say a new
# files table of the MM); an int k frees the slot of the k-th live object, if there is one; "d"
# frees again the slot freed last, if no one holds it now (a double free: a caller's bug the
# allocator must survive, by ignoring it or raising, without ever handing one slot out twice).
DOUBLE_FREE = "d"
SECONDS = 10  # for a whole drive in the learner's kernel: the grader's cell limit is 20 s


@functools.cache
def operation_sequences(nslots: int, depth: int) -> list[list]:
    """Every sequence of `depth` operations over {alloc, double free, free 0..nslots-1}
    (made once per size and shared: callers only read it)."""
    alphabet = ["a", DOUBLE_FREE, *range(nslots)]
    return [list(seq) for seq in itertools.product(alphabet, repeat=depth)]


def _allocator_inputs(rng: random.Random) -> dict[str, Any]:
    # Exhaustive up to five operations on two slots (where a double free already shows), and long
    # random runs on a larger area.
    big = rng.randint(3, 8)
    ops = ["a", "a", "a", DOUBLE_FREE, *range(big)]
    return {"cases": [{"nslots": 2, "sequences": operation_sequences(2, 5)},
                      {"nslots": big, "sequences": [[rng.choice(ops) for _ in range(40)] for _ in range(30)]}]}


class _Deadline:
    """Stop a learner's allocator that loops forever with a TimeoutError that says so (in the
    kernel's main thread, where `check` and the grader run; elsewhere, and in a browser, no limit is set)."""

    def __init__(self, where: list) -> None:
        self.where = where

    def _alarm(self, signum: int, frame: Any) -> None:
        raise TimeoutError(f"the allocator did not finish within {SECONDS} s (it was running operation "
                           f"sequence {self.where[0]!r}): does alloc() or free() loop forever, say "
                           "searching for a free slot when there is none?")

    def __enter__(self) -> None:
        import signal
        import threading

        # A browser page (the live book, Pyodide) has no interval timer: there no limit is set either.
        self.armed = threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")
        if self.armed:
            self.old = signal.signal(signal.SIGALRM, self._alarm)
            signal.setitimer(signal.ITIMER_REAL, SECONDS)

    def __exit__(self, *exc: Any) -> None:
        import signal

        if self.armed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.old)


def drive_allocator(cls: Any, inputs: dict[str, Any]) -> list:
    """Run in the learner's kernel: what the allocator returned, per case and sequence
    ("f" a free, "-" an operation with nothing to do, "d"/"x" a double free ignored/refused)."""
    results: list = []
    where = [None]
    with _Deadline(where):
        for case in inputs["cases"]:
            per_case = []
            for seq in case["sequences"]:
                where[0] = seq
                per_case.append(_drive_one(cls(case["nslots"]), seq))
            results.append(per_case)
    return results


def _drive_one(allocator: Any, seq: list) -> list:
    live, out, made, last_freed = [], [], 0, None
    for op in seq:
        if op == "a":
            made += 1
            slot = allocator.alloc(f"files#{made}")
            out.append(slot if slot is None or isinstance(slot, int) else repr(slot)[:40])
            if slot is not None:
                live.append(slot)
        elif op == DOUBLE_FREE:
            if last_freed is None or last_freed in live:
                out.append("-")
                continue
            try:
                allocator.free(last_freed)
                out.append("d")
            except Exception:  # refusing a double free is right too
                out.append("x")
        elif op < len(live):
            last_freed = live.pop(op)
            allocator.free(last_freed)
            out.append("f")
        else:
            out.append("-")
    return out


def _judge_allocator(settings: dict[str, Any], observed: Any) -> list[Part]:
    if isinstance(observed, dict) and "$error" in observed:
        error = str(observed["$error"])
        if error.startswith("TimeoutError"):
            return [Part("allocator", 0.0, 1.0, f"Your allocator timed out: {error[len('TimeoutError: '):]}")]
        return [Part("allocator", 0.0, 1.0, f"Your allocator raised: {error}")]
    cases = settings["inputs"]["cases"]
    observed = as_list(observed, "the observations", len(cases))
    checked = 0
    for case, results in zip(cases, observed):
        results = as_list(results, "the observations", len(case["sequences"]))
        for seq, out in zip(case["sequences"], results):
            problem = _check_sequence(case["nslots"], seq, out)
            if problem:
                return [Part("allocator", 0.0, 1.0, f"{problem} (after {checked} sequences passed).")]
            checked += 1
    return [Part("allocator", 1.0, 1.0)]


def _check_sequence(nslots: int, seq: list, out: Any) -> str | None:
    if not isinstance(out, list) or len(out) != len(seq):
        return "the observations do not match the operations"
    live: list[int] = []
    last_freed, double_freed = None, False
    for _i, (op, got) in enumerate(zip(seq, out)):
        if op == "a":
            if got is None:
                if len(live) < nslots:
                    return (f"with {nslots} slots and {len(live)} in use, alloc() returned None: a freed "
                            "slot must be reusable, or the MM runs out of room after a few clone/exit cycles")
                continue
            if not isinstance(got, int) or isinstance(got, bool):
                return f"alloc() returned {got!r}; it must return a slot number or None when full"
            if not 0 <= got < nslots:
                return f"alloc() returned slot {got}, outside 0..{nslots - 1}"
            if got in live:
                if double_freed:
                    return (f"alloc() returned slot {got}, which a live object still holds, after a double "
                            "free (free() of a slot that was already free): free() must ignore a slot that "
                            "is not in use, or refuse it with an exception, so that no slot is handed out twice")
                return (f"alloc() returned slot {got}, which a live object still holds: two file tables "
                        "of one MM at one address is exactly what a fixed slot gets wrong")
            live.append(got)
        elif op == DOUBLE_FREE:
            expect = ("-",) if last_freed is None or last_freed in live else ("d", "x")
            if got not in expect:
                return "the observations do not match the operations"
            double_freed = double_freed or got == "d"
        else:
            expect = "f" if op < len(live) else "-"
            if got != expect:
                return "the observations do not match the operations"
            if op < len(live):
                last_freed = live.pop(op)
    return None


register(Item("6.2", "a dynamic slot allocator", 1.0,
              lambda rng: ({}, "Write a class whose instances hand out the slots of a per-MM area: "
                               "SlotAllocator(nslots), .alloc(obj) -> a free slot number 0..nslots-1 or None "
                               "when all are in use, .free(slot). free() of a slot that is not in use (a double "
                               "free) must not corrupt it: ignore it or raise an exception. Set answer_6_2 to "
                               "the class. It is run on every sequence of operations up to a length, and on "
                               "longer random ones."),
              _judge_allocator, inputs=_allocator_inputs, observe=drive_allocator))

# 6.3: per-MM machines from DESIGN.md's table; tasks share the VM but not the file table. The
# shared-page machines add a forked process, so the two MMs place the page at different slots
# (each allocator's first free one): with a virtual cache those are two colours.
PER_MM = (
    (2, 0, {"cpus": 2, "design": "per-mm", "smp_safe": True, "slots": "dynamic"}),
    (2, 0, {"cpus": 2, "design": "per-mm", "smp_safe": True, "slots": "fixed"}),
    (2, 0, {"cpus": 2, "design": "per-mm", "smp_safe": False}),
    (2, 1, {"cpus": 1, "design": "per-mm", "shared_page": True, "cache": "virtual"}),
    (2, 1, {"cpus": 1, "design": "per-mm", "shared_page": True, "cache": "physical"}),
    (2, 1, {"cpus": 1, "design": "per-mm", "shared_page": True, "cache": "virtual",
            "shared_placement": "same colour"}),
)


# The model checker's verdict on each machine above. Exploring the proven ones takes seconds, too
# long for a judge that runs inside check() and the grader's time limits, so the verdicts are kept
# here and tests/grading/test_variants.py checks every one against `explore`.
PER_MM_VERDICTS = ("proven", "violation", "violation", "violation", "proven", "proven")


def per_mm_verdict(case: int) -> str:
    return PER_MM_VERDICTS[case]


def _who(threads: int, processes: int) -> str:
    if processes:
        return ", two tasks sharing one MM but not the file table, and a forked process (a second MM)"
    return ", two tasks sharing the MM but not the file table"


def _make_per_mm(rng: random.Random) -> tuple[dict[str, Any], str]:
    cases = pick_balanced(rng, list(PER_MM_VERDICTS), 4)
    listing = "\n".join(f"  {i}: " + ", ".join(f"{k}={v!r}" for k, v in PER_MM[c][2].items()) +
                        _who(*PER_MM[c][:2]) for i, c in enumerate(cases))
    return ({"cases": cases}, "Which of these per-MM machines does the model checker break?\n"
                              f"{listing}\nAnswer with a list of 4 strings, \"violation\" or \"proven\".")


def _judge_per_mm(settings: dict[str, Any], answer: Any) -> list[Part]:
    cases = settings["cases"]
    answer = [as_str(a, "each verdict") for a in as_list(answer, "the answer", len(cases))]
    each = 1.0 / len(cases)
    parts, wrong = [], 0
    for i, (c, got) in enumerate(zip(cases, answer)):
        want = per_mm_verdict(c)
        wrong += got != want
        parts.append(Part(f"machine {i}", each if got == want else 0.0, each))
    if wrong:
        explain(parts, (
            f"{wrong} wrong. Per-MM is the only place that can work, and then only with all three of "
            "Linus Torvalds' conditions: SMP-safe updates, nothing shared across MMs (where caches are "
            "virtual, a shared page aliases unless every mapping has one colour), and dynamic slots for "
            "what an MM can have several of."))
    return parts


register(Item("6.3", "which per-MM machines still break", 1.0, _make_per_mm, _judge_per_mm))


# 6.4 predict-then-explain: what each step of the update protocol is for (ProtocolModel above;
# flush_tlb_mm_range waits for the other CPUs to flush, notebooks/sources.ipynb §6).
reason_item("6.4", "predict, then explain a flawed update protocol")  # its questions: answers/questions.py


# 6.5 predict with the engine, measure on the kernel, explain the difference (real/measure_lab.py,
# `ukva measure`). The measured figures in the scenarios are the reference machine's kind of
# result, so the item grades the prediction and the reason, never a machine's noise. The kernel's
# side: arch/x86/mm/tlb.c flush_tlb_mm_range(), flush_tlb_func(), should_flush_tlb() (commits
# 209954cbc7d0, 6db2526c1d69); notebooks/sources.ipynb §6. Its questions: answers/questions.py.
reason_item("6.5", "predict shootdowns with the engine, measure them, explain the difference")


# 6.6 predict-then-explain: "nothing shared across MMs" is about more than caches. A files table
# shared by several MMs (CLONE_FILES without CLONE_VM) has a slot in each MM's own page table, under
# each MM's own lock and cpumask, so even an SMP-safe update remaps it one MM per step, and a task of
# another MM can read the old version in between: a "half-updated" read on a physically indexed
# cache (the engine's machine, model.py; notebooks/sources.ipynb §1). Each question's machine is kept
# here, its answer in answers/questions.py; tests/grading/test_exercises.py checks the engine agrees.
SHARED_TABLES = (  # (flags of t = clone(p, ...), flags of q = clone(t, ...)), on 2 CPUs
    ("CLONE_VM", "CLONE_FILES"),
    ("CLONE_FILES", "CLONE_FILES"),
    ("CLONE_VM|CLONE_FILES", "CLONE_VM|CLONE_FILES"),
)


def shared_table_setup(case: int) -> str:
    """The engine code that builds SHARED_TABLES[case], as the problem shows it."""
    t_flags, q_flags = SHARED_TABLES[case]
    return (f"k = Kernel(); p = k.fork(k.init)\nt = k.clone(p, {t_flags!r})\nq = k.clone(t, {q_flags!r})\n"
            "m = Machine(k, tasks=[p, t, q], cpus=2, design='per-mm', cache='physical')")


def shared_table_machine(case: int) -> Any:
    """SHARED_TABLES[case] as an engine Machine (per-MM, SMP-safe updates, dynamic slots)."""
    from ...engine import Kernel, Machine

    t_flags, q_flags = SHARED_TABLES[case]
    k = Kernel()
    p = k.fork(k.init)
    t = k.clone(p, t_flags)
    q = k.clone(t, q_flags)
    return Machine(k, tasks=[p, t, q], cpus=2, design="per-mm", cache="physical")


reason_item("6.6", "predict, then explain a files table shared across MMs")
