"""`Machine`: the SMP machine of model.py as a thing to step, undo and read.

It keeps the current state, the history (so a view can go back) and the counters (TLB misses,
page walks or refill traps, page and full flushes, CR3 writes, IPIs), and it is the one reader
of the state for everything outside the model and the searches: views read `cpu(c)`,
`page_table(m, c)`, `tlb_gen(m)`, `cpumask(m)`, `cache(p)`, `pending(i)`, `layout` and the
words of words.py (labels, `text()`, `assumptions()`), never the tuples by position.  The model
itself, numbered and explained, is in model.py.

For views it also computes, in the engine: `stale_entries()` (TLB entries that differ from
their page table's current entry, from the step that made them stale), `effects` /
`last_effects()` (what each step changed: flushes, fills, page-table writes, IPIs, CR3 writes,
counters), and the lazy-TLB mm_count references its CPUs hold (`lazy_references()`,
`mm_count(m)`: one per lazy CPU, passed along kernel -> kernel).
"""

from __future__ import annotations

import copy
import difflib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .layout import slot_address
from .model import Model
from .options import CACHES, COUNTERS, DESIGNS, FILLS, MAX_TASKS, PAGE_TABLES, PLACEMENTS, SLOTS, Options
from .properties import Violation
from .slots import COLOURS, PER_MM, SHARED_KEY_PHYSICAL, SLOT_KINDS, Layout
from .slots import build as build_layout
from .state import ACTIONS, SWITCH, CachedPage, Choice, Cpu, Pending, State, named
from .words import MachineWords

if TYPE_CHECKING:
    from .kernel import Kernel
    from .task import Task

# The settings' names live in options.py; views import them from here with the Machine.
__all__ = ["CACHES", "COLOURS", "COUNTERS", "DESIGNS", "FILLS", "PAGE_TABLES", "PLACEMENTS", "SLOTS", "SLOT_KINDS",
           "SHARED_KEY_PHYSICAL", "Effects", "Machine", "Options", "Pick", "StaleEntry", "Step", "Violation"]


@dataclass(frozen=True)
class Step:
    """One enabled step, printable ("cpu1: switch to task 3 (sh)"); `choice` is its raw form."""

    choice: Choice
    label: str

    @property
    def cpu(self) -> int:
        """The CPU that acts, or -1 for the cache."""
        return self.choice.cpu

    @property
    def action(self) -> str:
        """"switch", "read", "update", "write", "evict" or "finish"."""
        return ACTIONS[self.choice.kind]

    def __str__(self) -> str:
        return self.label

    def __repr__(self) -> str:
        return f"Step({self.label!r})"


@dataclass(frozen=True)
class StaleEntry:
    """A TLB entry that differs from its page table's current entry: `cpu` holds `vpage` ->
    page `cached` (under ASID slot `asid`, for MM number `mm`) while the page table says
    `current`.  `cached_label` and `current_label` name the pages ("files#2 v0"); `text` is
    what a view prints beside the entry."""

    cpu: int
    vpage: int
    cached: int
    current: int
    asid: int
    mm: int
    address: int
    cached_label: str
    current_label: str

    @property
    def text(self) -> str:
        return f"stale: page table says {self.current_label}"

    def __iter__(self):
        # Unpacks as (cpu, vpage, cached, current), the short form a test or a reader can write.
        return iter((self.cpu, self.vpage, self.cached, self.current))


@dataclass(frozen=True)
class Effects:
    """What one step changed, for a view to highlight: the step; the counters that moved
    (name -> increase); TLB entries flushed and filled as (cpu, asid, vpage, page); page-table
    entries rewritten as (mm, vpage, old page, new page); shootdown IPIs as (from cpu, to
    cpu); the CPUs that wrote CR3; and `lines`, the same in words."""

    step: Step
    counters: dict
    flushed: tuple
    filled: tuple
    ptes: tuple
    ipis: tuple
    cr3: tuple
    lines: tuple

    def text(self) -> str:
        return "\n".join((str(self.step),) + tuple("  " + line for line in self.lines))


Pick = Step | Choice | str | int


class Machine(MachineWords):
    """The SMP machine over tasks of one Kernel; see the module docstring for the model.

    >>> m = Machine(k, tasks=[p, t], cpus=2, design="per-task", fill="hardware")
    >>> m.choices()        # enabled steps, printable
    >>> m.step("cpu0: switch to task 2 (sh)")   # a Step, its label, or its index
    """

    def __init__(self, kernel: Kernel, tasks: list[Task], cpus: int = 2, design: str = "per-task",
                 fill: str = "hardware", *, pcid: bool = False, flush_on_same_mm_switch: bool = False,
                 smp_safe: bool = True, slots: str = "dynamic", cache: str = "physical",
                 shared_page: bool = False, tlb_size: int = 4, updates: int = 1,
                 shared_placement: str = "per-mm allocator", page_tables: str = "shared") -> None:
        opts = Options(cpus=cpus, design=design, fill=fill, pcid=pcid,
                       flush_on_same_mm_switch=flush_on_same_mm_switch, smp_safe=smp_safe, slots=slots,
                       cache=cache, shared_page=shared_page, tlb_size=tlb_size, updates=updates,
                       shared_placement=shared_placement, page_tables=page_tables)
        tasks = self._check_tasks(kernel, tasks)
        self.kernel = kernel
        self.options = opts
        self.model = Model(build_layout(tasks, opts), opts)
        if opts.shared_page and len(self.model.layout.mms) < 2:
            raise ValueError("shared_page needs tasks of at least two MMs (fork one without CLONE_VM): "
                             "a page shared by one MM cannot alias")
        self._initial = named(self.model.initial())
        self.reset()

    @staticmethod
    def _check_tasks(kernel: Kernel, tasks: list[Task]) -> list[Task]:
        if isinstance(tasks, (str, bytes)) or not hasattr(tasks, "__iter__"):
            raise TypeError(f"tasks must be a list of Tasks of the kernel; got {type(tasks).__name__}")
        tasks = list(tasks)
        if not tasks or len(tasks) > MAX_TASKS:
            raise ValueError(f"give 1 to {MAX_TASKS} tasks; got {len(tasks)}")
        for t in tasks:
            pid = getattr(t, "pid", None)
            if not isinstance(pid, int) or not hasattr(t, "mm"):
                raise TypeError(f"tasks must be Tasks of the kernel; got {t!r}")
            try:
                mine = kernel.task(pid) is t
            except (LookupError, ProcessLookupError):
                mine = False
            if not mine:
                raise ValueError(f"task {pid} ({t.comm}) belongs to another Kernel: "
                                 "run a Machine only on tasks of the kernel you pass it")
            if t.state != "running":
                raise ValueError(f"task {pid} ({t.comm}) is a {t.state}: only running tasks can be scheduled")
        if len({t.pid for t in tasks}) < len(tasks):
            raise ValueError("a task is listed twice: list each task once")
        if all(t.mm is None for t in tasks):
            raise ValueError("only kernel threads given: they have no UKVA; add a user task")
        return tasks

    # -- stepping -------------------------------------------------------------------------
    def reset(self) -> None:
        """Back to the start: CPUs idle, TLBs empty, counters zero, no history."""
        self.state: State = self._initial
        self.violation: Violation | None = None
        self.counters: dict[str, int] = dict.fromkeys(COUNTERS, 0)
        self.history: list[Step] = []
        self.effects: list[Effects] = []
        # Per CPU, the MM whose mm_count reference it holds for lazy TLB (-1 none).
        self.lazy: tuple[int, ...] = (-1,) * self.model.ncpu
        self._lazy_undo: list[tuple[int, ...]] = []
        self._undo: list[tuple[State, Violation | None, dict[str, int]]] = []

    def fresh(self) -> Machine:
        """An identical machine (same kernel, tasks, options) at the start.  It shares this
        one's model, which never changes, so it works even after the kernel's tasks moved on."""
        twin = copy.copy(self)
        twin.reset()
        return twin

    def choices(self) -> list[Step]:
        """The steps enabled now; none once a violation happened."""
        if self.violation is not None:
            return []
        return [Step(choice, self.label(choice)) for choice in self.model.enabled(self.state)]

    def step(self, pick: Pick) -> list[Step]:
        """Take one enabled step (a Step, its label, its index in choices(), or its raw
        Choice); returns the choices enabled after it."""
        step = self._resolve(pick)
        counts = [0] * len(COUNTERS)
        before = self.state
        state, bad = self.model.next(before, step.choice, counts)
        state = named(state)
        self._undo.append((before, self.violation, dict(self.counters)))
        self.history.append(step)
        self.state = state
        for name, n in zip(COUNTERS, counts):
            self.counters[name] += n
        self.violation = None if bad is None else self.explain(bad)
        self._lazy_undo.append(self.lazy)
        self.lazy = self._pass_lazy(step, before, state)
        self.effects.append(self._effects(step, before, state, counts))
        return self.choices()

    def _resolve(self, pick: Pick) -> Step:
        if self.violation is not None:
            raise ValueError(f"the machine stopped at a violation; undo() or reset() first ({self.violation.kind})")
        enabled = self.choices()
        if isinstance(pick, Choice):
            for step in enabled:
                if step.choice == pick:
                    return step
            raise ValueError(f"{pick} is not enabled now. Enabled: {'; '.join(s.label for s in enabled)}")
        if isinstance(pick, bool) or not isinstance(pick, (Step, str, int)):
            raise TypeError(f"step() takes a Step, its label, its index or its Choice; got {type(pick).__name__}")
        if isinstance(pick, int):
            if not 0 <= pick < len(enabled):
                raise ValueError(f"choice index {pick} is out of range: {len(enabled)} choices are enabled")
            return enabled[pick]
        label = pick.label if isinstance(pick, Step) else pick
        for step in enabled:
            if step.label == label:
                return step
        close = difflib.get_close_matches(label, [step.label for step in enabled], n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"{label!r} is not enabled now.{hint} Enabled: {'; '.join(s.label for s in enabled)}")

    def undo(self) -> None:
        """Go back one step."""
        if not self._undo:
            raise ValueError("nothing to undo: the machine is at the start")
        self.state, self.violation, self.counters = self._undo.pop()
        self.history.pop()
        self.effects.pop()
        self.lazy = self._lazy_undo.pop()

    # -- readers ------------------------------------------------------------------------------
    @property
    def layout(self) -> Layout:
        """Where the UKVA's pages are (slots.Layout: tasks, MMs, slots, cached pages, reads)."""
        return self.model.layout

    @property
    def tasks(self) -> tuple[Task, ...]:
        return self.model.layout.tasks

    @property
    def mms(self) -> tuple[Any, ...]:
        return self.model.layout.mms

    @property
    def tlb_size(self) -> int:
        return self.model.tlb_size

    @property
    def n_asids(self) -> int:
        """ASID slots per CPU (1 without PCID)."""
        return self.model.n_asids

    @property
    def cpus(self) -> tuple[Cpu, ...]:
        """Every CPU now (state.Cpu: current, loaded, asid, next_asid, asids, tlb)."""
        return self.state.cpus

    def cpu(self, c: int) -> Cpu:
        """CPU `c` now: `cpu(0).tlb`, `cpu(0).loaded`, `cpu(0).current`..."""
        if not 0 <= c < self.model.ncpu:
            raise ValueError(f"cpu {c} does not exist: the machine has cpus 0 to {self.model.ncpu - 1}")
        return self.state.cpus[c]

    def is_lazy(self, c: int) -> bool:
        """Whether CPU `c` keeps an MM loaded while it runs idle or a kernel thread."""
        cpu = self.cpu(c)
        return cpu.loaded >= 0 and (cpu.current < 0 or not self.model.layout.user[cpu.current])

    def page_table(self, m: int, cpu: int = 0) -> tuple[int, ...]:
        """MM `m`'s UKVA page-table entries as CPU `cpu` walks them (its own copy under
        page_tables="per-cpu"; the one table otherwise): a page number per UKVA page."""
        return self.state.page_tables[self.model.layout.table(m, cpu)]

    def tlb_gen(self, m: int) -> int:
        return self.state.tlb_gen[m]

    def cpumask(self, m: int) -> list[int]:
        """The CPUs that have MM `m` loaded."""
        return [c for c, cpu in enumerate(self.state.cpus) if cpu.loaded == m]

    def version(self, o: int) -> int:
        """The current version of slot object `o`."""
        return self.state.updates.versions[o]

    def pending(self, task: int) -> Pending | None:
        """Task `task`'s update in progress (state.Pending), or None."""
        return self.state.updates.pending[task]

    def cache(self, p: int) -> CachedPage:
        """The data of cached page `p` (state.CachedPage: written, memory, lines)."""
        return self.state.caches[p]

    # -- lazy TLB references ---------------------------------------------------------------
    def _pass_lazy(self, step: Step, before: State, after: State) -> tuple[int, ...]:
        """The lazy mm_count references after a step, by the scheduler's rules (notebooks/sources.ipynb §6,
        kernel/sched/core.c context_switch): user -> kernel grabs the MM it leaves loaded
        (mmgrab_lazy_tlb); kernel -> kernel passes that reference along; kernel -> user drops it
        once the switch is done.  Then checked: exactly one reference per lazy CPU, on the MM it
        has loaded, and none elsewhere, so a grab that leaked would stop the machine here."""
        lazy = list(self.lazy)
        user = self.model.layout.user
        if step.choice.kind == SWITCH:
            c = step.cpu
            prev, nxt = before.cpus[c].current, after.cpus[c].current
            was_kernel, is_kernel = prev < 0 or not user[prev], nxt < 0 or not user[nxt]
            if not was_kernel and is_kernel:
                lazy[c] = after.cpus[c].loaded
            elif was_kernel and not is_kernel:
                lazy[c] = -1
        expected = [cpu.loaded if cpu.loaded >= 0 and (cpu.current < 0 or not user[cpu.current]) else -1
                    for cpu in after.cpus]
        if lazy != expected:
            raise RuntimeError(f"engine bug: lazy-TLB references {lazy} after {step}, but the lazy CPUs "
                               f"have loaded {expected}")
        return tuple(lazy)

    def lazy_references(self) -> dict[int, int]:
        """Per MM (index), how many mm_count references the machine's lazy CPUs hold: one per
        CPU that runs a kernel thread or idle with that MM still loaded."""
        out: dict[int, int] = {}
        for m in self.lazy:
            if m >= 0:
                out[m] = out.get(m, 0) + 1
        return out

    def mm_count(self, m: int) -> int:
        """MM `m`'s mm_count as the kernel would have it with this machine's CPUs: the kernel's
        own (one for all its users, one per kernel thread borrowing it) plus one per lazy CPU."""
        return self.mms[m].mm_count + self.lazy_references().get(m, 0)

    # -- facts for views ----------------------------------------------------------------------
    def stale_entries(self) -> list[StaleEntry]:
        """Every TLB entry that differs from the current entry of its MM's page table, from the
        step that made it stale (not only once a read uses it).

        Left out: entries under an ASID whose tlb_gen is behind its MM's (an SMP-safe update
        skipped a lazy or switched-away CPU; switch_mm flushes them before anyone can read
        them), so SMP-safe updates leave none; and, under software fill of per-task or
        per-cpu, the UKVA has no page-table entry to compare with (the refill handler is the
        source), so nothing there is stale."""
        L = self.model.layout
        if L.design != PER_MM and not self.model.hardware:
            return []
        out = []
        for c, cpu in enumerate(self.state.cpus):
            for a, vpage, page in cpu.tlb:
                m, gen = cpu.asids[a]
                if m < 0 or gen < self.state.tlb_gen[m]:
                    continue
                now = self.page_table(m, c)[vpage]
                if page != now:
                    out.append(StaleEntry(c, vpage, page, now, a, m, slot_address(vpage),
                                          self.page_label(page), self.page_label(now)))
        return out

    def last_effects(self) -> Effects | None:
        """What the last step changed (see `Effects`), or None at the start."""
        return self.effects[-1] if self.effects else None

    def _effects(self, step: Step, before: State, after: State, counts: list[int]) -> Effects:
        """The difference between two states, in data and words (machine.effects keeps one
        per step; a view highlights it)."""
        delta = {name: n for name, n in zip(COUNTERS, counts) if n}
        flushed, filled, cr3, ipis, lines = [], [], [], [], []
        for c, (old, new) in enumerate(zip(before.cpus, after.cpus)):
            if old == new:
                continue
            gone = [e for e in old.tlb if e not in new.tlb]
            came = [e for e in new.tlb if e not in old.tlb]
            flushed += [(c, a, v, p) for a, v, p in gone]
            filled += [(c, a, v, p) for a, v, p in came]
            if old.loaded != new.loaded and new.loaded >= 0:
                cr3.append(c)
                lines.append(f"cpu{c} writes CR3: loads {self.mm_label(new.loaded)}")
            if c != step.cpu and step.action in ("update", "finish") and old.asids != new.asids:
                ipis.append((step.cpu, c))
                lines.append(f"cpu{step.cpu} sends a shootdown IPI to cpu{c}")
            for _a, v, p in gone:
                lines.append(f"cpu{c} drops its TLB entry {slot_address(v):#010x}->{self.page_label(p)}")
            for _a, v, p in came:
                lines.append(f"cpu{c} loads a TLB entry {slot_address(v):#010x}->{self.page_label(p)}")
        ptes = []
        copies = self.model.layout.copies
        for row, (old, new) in enumerate(zip(before.page_tables, after.page_tables)):
            m, copy_ = divmod(row, copies)
            for v, (p, q) in enumerate(zip(old, new)):
                if p != q:
                    if (m, v, p, q) not in ptes:
                        ptes.append((m, v, p, q))
                    whose = f"cpu{copy_}'s copy of " if copies > 1 else ""
                    lines.append(f"{whose}{self.mm_label(m)}'s page table: {slot_address(v):#010x} now maps "
                                 f"{self.page_label(q)} (was {self.page_label(p)})")
        for p, (old, new) in enumerate(zip(before.caches, after.caches)):
            if old != new:
                lines.append(f"{self.cached_label(p)}: last written v{old.written}->v{new.written}, memory "
                             f"v{old.memory}->v{new.memory}, cache lines {len(old.lines)}->{len(new.lines)}")
        if delta:
            lines.append("counters: " + ", ".join(f"{k} +{n}" for k, n in delta.items()))
        return Effects(step, delta, tuple(flushed), tuple(filled), tuple(ptes), tuple(ipis), tuple(cr3),
                       tuple(lines))

    def __repr__(self) -> str:
        return f"<Machine {self.options.text()}; {len(self.history)} steps; " \
               f"{'violation ' + self.violation.kind if self.violation else 'no violation'}>"
