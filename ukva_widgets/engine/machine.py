"""`Machine`: the SMP machine of transitions.py as a thing to step, undo and read.

It keeps the current state, the history (so a view can go back), the counters (TLB misses,
page walks or refill traps, page and full flushes, CR3 writes, IPIs), and turns raw choices
and violations into words.  The model itself, numbered and explained, is in transitions.py.

For views it also computes, in the engine: `stale_entries()` (TLB entries that differ from
their page table's current entry, from the step that made them stale), `effects` /
`last_effects()` (what each step changed: flushes, fills, page-table writes, IPIs, CR3 writes,
counters), `page_table(m, cpu)`, and the lazy-TLB mm_count references its CPUs hold
(`lazy_references()`, `mm_count(m)`: one per lazy CPU, passed along kernel -> kernel).
"""

from __future__ import annotations

import copy
import difflib
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from .layout import slot_address
from .options import CACHES, COUNTERS, DESIGNS, FILLS, MAX_TASKS, PAGE_TABLES, PLACEMENTS, SLOTS, Options
from .transitions import (
    COLOURS,
    FINISH,
    HOLE,
    PER_CPU,
    PER_MM,
    PER_TASK,
    READ,
    SHARED,
    SHARED_KEY_PHYSICAL,
    SWITCH,
    UPDATE,
    WRITE,
    Setup,
)

if TYPE_CHECKING:
    from .kernel import Kernel
    from .task import Task

# The settings' names live in options.py; views import them from here with the Machine.
__all__ = ["CACHES", "COLOURS", "COUNTERS", "DESIGNS", "FILLS", "PAGE_TABLES", "PLACEMENTS", "SLOTS",
           "SHARED_KEY_PHYSICAL",
           "Choice", "Effects", "Machine", "Options", "Pick", "StaleEntry", "Violation"]


@dataclass(frozen=True)
class Choice:
    """One enabled step, printable ("cpu1: switch to task 3 (sh)"); `code` is its raw form."""

    code: tuple[int, int, int]
    label: str

    @property
    def cpu(self) -> int:
        """The CPU that acts, or -1 for the cache."""
        return self.code[1]

    @property
    def action(self) -> str:
        return ("switch", "read", "update", "write", "evict", "finish")[self.code[0]]

    def __str__(self) -> str:
        return self.label

    def __repr__(self) -> str:
        return f"Choice({self.label!r})"


@dataclass(frozen=True)
class Violation:
    """A read that returned the wrong data, or an update that lost another: `kind` is one of
    "wrong-task", "wrong-cpu", "wrong-slot", "stale-tlb", "half-updated", "stale-alias",
    "lost-update"; `explanation` says what was read (or mapped), what should have been, and why."""

    kind: str
    cpu: int
    pid: int
    address: int
    got: str
    expected: str
    explanation: str
    # Where the wrong data came from ("tlb", "walk", "refill", "cache", "memory"; "lost" for a
    # lost update) and the UKVA page: a view marks the TLB entry or cache line that served it.
    source: str = field(default="", compare=False)
    vpage: int = field(default=-1, compare=False)

    def __str__(self) -> str:
        return f"violation ({self.kind}): {self.explanation}"

    __repr__ = __str__


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

    choice: Choice
    counters: dict
    flushed: tuple
    filled: tuple
    ptes: tuple
    ipis: tuple
    cr3: tuple
    lines: tuple

    def text(self) -> str:
        return "\n".join((str(self.choice),) + tuple("  " + line for line in self.lines))


Pick = Choice | str | int


class Machine:
    """The SMP machine over tasks of one Kernel; see the module docstring for the model.

    >>> m = Machine(k, tasks=[p, t], cpus=2, design="per-task", fill="hardware")
    >>> m.choices()        # enabled steps, printable
    >>> m.step("cpu0: switch to task 2 (sh)")   # a Choice, its label, or its index
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
        self.setup = Setup(tasks, opts)
        if opts.shared_page and len(self.setup.mms) < 2:
            raise ValueError("shared_page needs tasks of at least two MMs (fork one without CLONE_VM): "
                             "a page shared by one MM cannot alias")
        self._initial = self.setup.initial()
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
        self.state: tuple = self._initial
        self.violation: Violation | None = None
        self.counters: dict[str, int] = dict.fromkeys(COUNTERS, 0)
        self.history: list[Choice] = []
        self.effects: list[Effects] = []
        # Per CPU, the MM whose mm_count reference it holds for lazy TLB (-1 none).
        self.lazy: tuple[int, ...] = (-1,) * self.setup.ncpu
        self._lazy_undo: list[tuple[int, ...]] = []
        self._undo: list[tuple[tuple, Violation | None, dict[str, int]]] = []

    def fresh(self) -> Machine:
        """An identical machine (same kernel, tasks, options) at the start.  It shares this
        one's Setup, which never changes, so it works even after the kernel's tasks moved on."""
        twin = copy.copy(self)
        twin.reset()
        return twin

    def choices(self) -> list[Choice]:
        """The steps enabled now; none once a violation happened."""
        if self.violation is not None:
            return []
        return [Choice(code, self.label(code)) for code, *_ in self.setup.enabled(self.state)]

    def step(self, pick: Pick) -> list[Choice]:
        """Take one enabled step (a Choice, its label, or its index in choices());
        returns the choices enabled after it."""
        choice = self._resolve(pick)
        counts = [0] * len(COUNTERS)
        state, bad = self.setup.next(self.state, choice.code, counts)
        self._undo.append((self.state, self.violation, dict(self.counters)))
        self.history.append(choice)
        self.state = state
        for name, n in zip(COUNTERS, counts):
            self.counters[name] += n
        self.violation = None if bad is None else self.explain(bad)
        before = self._undo[-1][0]
        self._lazy_undo.append(self.lazy)
        self.lazy = self._pass_lazy(choice, before, state)
        self.effects.append(self._effects(choice, before, state, counts))
        return self.choices()

    def _resolve(self, pick: Pick) -> Choice:
        if self.violation is not None:
            raise ValueError(f"the machine stopped at a violation; undo() or reset() first ({self.violation.kind})")
        enabled = self.choices()
        if isinstance(pick, bool) or not isinstance(pick, (Choice, str, int)):
            raise TypeError(f"step() takes a Choice, its label or its index; got {type(pick).__name__}")
        if isinstance(pick, int):
            if not 0 <= pick < len(enabled):
                raise ValueError(f"choice index {pick} is out of range: {len(enabled)} choices are enabled")
            return enabled[pick]
        label = pick.label if isinstance(pick, Choice) else pick
        for ch in enabled:
            if ch.label == label:
                return ch
        close = difflib.get_close_matches(label, [ch.label for ch in enabled], n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"{label!r} is not enabled now.{hint} Enabled: {'; '.join(ch.label for ch in enabled)}")

    def undo(self) -> None:
        """Go back one step."""
        if not self._undo:
            raise ValueError("nothing to undo: the machine is at the start")
        self.state, self.violation, self.counters = self._undo.pop()
        self.history.pop()
        self.effects.pop()
        self.lazy = self._lazy_undo.pop()

    # -- lazy TLB references ---------------------------------------------------------------
    def _pass_lazy(self, choice: Choice, before: tuple, after: tuple) -> tuple[int, ...]:
        """The lazy mm_count references after a step, by the scheduler's rules (notebooks/sources.ipynb §6,
        kernel/sched/core.c context_switch): user -> kernel grabs the MM it leaves loaded
        (mmgrab_lazy_tlb); kernel -> kernel passes that reference along; kernel -> user drops it
        once the switch is done.  Then checked: exactly one reference per lazy CPU, on the MM it
        has loaded, and none elsewhere, so a grab that leaked would stop the machine here."""
        lazy = list(self.lazy)
        if choice.code[0] == SWITCH:
            c, user = choice.cpu, self.setup.user
            prev, nxt = before[0][c][0], after[0][c][0]
            was_kernel, is_kernel = prev < 0 or not user[prev], nxt < 0 or not user[nxt]
            if not was_kernel and is_kernel:
                lazy[c] = after[0][c][1]
            elif was_kernel and not is_kernel:
                lazy[c] = -1
        expected = [loaded if loaded >= 0 and (cur < 0 or not self.setup.user[cur]) else -1
                    for cur, loaded, *_ in after[0]]
        if lazy != expected:
            raise RuntimeError(f"engine bug: lazy-TLB references {lazy} after {choice}, but the lazy CPUs "
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
        return self.setup.mms[m].mm_count + self.lazy_references().get(m, 0)

    # -- facts for views ----------------------------------------------------------------------
    def stale_entries(self) -> list[StaleEntry]:
        """Every TLB entry that differs from the current entry of its MM's page table, from the
        step that made it stale (not only once a read uses it).

        Left out: entries under an ASID whose tlb_gen is behind its MM's (an SMP-safe update
        skipped a lazy or switched-away CPU; switch_mm flushes them before anyone can read
        them), so SMP-safe updates leave none; and, under software fill of per-task or
        per-cpu, the UKVA has no page-table entry to compare with (the refill handler is the
        source), so nothing there is stale."""
        s = self.setup
        if s.design != PER_MM and not s.hardware:
            return []
        cpus, ptes, mm_gen = self.state[0], self.state[1], self.state[2]
        out = []
        for c, (_, _, _, _, asids, tlb) in enumerate(cpus):
            for a, vpage, page in tlb:
                m, gen = asids[a]
                if m < 0 or gen < mm_gen[m]:
                    continue
                now = ptes[s.table(m, c)][vpage]
                if page != now:
                    out.append(StaleEntry(c, vpage, page, now, a, m, slot_address(vpage),
                                          self.page_label(page), self.page_label(now)))
        return out

    def last_effects(self) -> Effects | None:
        """What the last step changed (see `Effects`), or None at the start."""
        return self.effects[-1] if self.effects else None

    def _effects(self, choice: Choice, before: tuple, after: tuple, counts: list[int]) -> Effects:
        """The difference between two states, in data and words (machine.effects keeps one
        per step; a view highlights it)."""
        delta = {name: n for name, n in zip(COUNTERS, counts) if n}
        flushed, filled, cr3, ipis, lines = [], [], [], [], []
        actor = choice.cpu
        for c, (old, new) in enumerate(zip(before[0], after[0])):
            if old is new:
                continue
            gone = [e for e in old[5] if e not in new[5]]
            came = [e for e in new[5] if e not in old[5]]
            flushed += [(c, a, v, p) for a, v, p in gone]
            filled += [(c, a, v, p) for a, v, p in came]
            if old[1] != new[1] and new[1] >= 0:
                cr3.append(c)
                lines.append(f"cpu{c} writes CR3: loads {self.mm_label(new[1])}")
            if c != actor and choice.action in ("update", "finish") and old[4] != new[4]:
                ipis.append((actor, c))
                lines.append(f"cpu{actor} sends a shootdown IPI to cpu{c}")
            for _a, v, p in gone:
                lines.append(f"cpu{c} drops its TLB entry {slot_address(v):#010x}->{self.page_label(p)}")
            for _a, v, p in came:
                lines.append(f"cpu{c} loads a TLB entry {slot_address(v):#010x}->{self.page_label(p)}")
        ptes = []
        s = self.setup
        for row, (old, new) in enumerate(zip(before[1], after[1])):
            m, copy_ = divmod(row, s.copies)
            for v, (p, q) in enumerate(zip(old, new)):
                if p != q:
                    if (m, v, p, q) not in ptes:
                        ptes.append((m, v, p, q))
                    whose = f"cpu{copy_}'s copy of " if s.per_cpu_tables else ""
                    lines.append(f"{whose}{self.mm_label(m)}'s page table: {slot_address(v):#010x} now maps "
                                 f"{self.page_label(q)} (was {self.page_label(p)})")
        for p, (old, new) in enumerate(zip(before[4], after[4])):
            if old != new:
                lines.append(f"{self.cached_label(p)}: last written v{old[0]}->v{new[0]}, memory "
                             f"v{old[1]}->v{new[1]}, cache lines {len(old[2])}->{len(new[2])}")
        if delta:
            lines.append("counters: " + ", ".join(f"{k} +{n}" for k, n in delta.items()))
        return Effects(choice, delta, tuple(flushed), tuple(filled), tuple(ptes), tuple(ipis), tuple(cr3),
                       tuple(lines))

    # -- words ----------------------------------------------------------------------------
    def task_index(self, task: Task) -> int:
        for i, t in enumerate(self.setup.tasks):
            if t is task:
                return i
        raise ValueError(f"task {getattr(task, 'pid', task)} is not on this machine; "
                         f"its tasks are {', '.join(self.task_label(i) for i in range(len(self.setup.tasks)))}")

    def task_label(self, i: int) -> str:
        if i < 0:
            return "idle"
        t = self.setup.tasks[i]
        return f"task {t.pid} ({t.comm})"

    def mm_label(self, m: int) -> str:
        return "-" if m < 0 else self.setup.mms[m].label

    def page_label(self, page: int) -> str:
        s = self.setup
        if page < 0:
            return "nothing (unmapped)"
        if s.design == PER_TASK:
            return f"{self.task_label(page)}'s page"
        if s.design == PER_CPU:
            return f"cpu{page}'s page"
        o, gen = divmod(page, s.stride)
        return f"{s.objects[o][1].label} v{gen}"

    def object_label(self, o: int) -> str:
        return self.setup.objects[o][1].label

    def cached_label(self, p: int) -> str:
        """The name of a page mapped in several MMs: "the shared page" or its object's."""
        o = self.setup.cached[p]
        return "the shared page" if o == SHARED else self.object_label(o)

    def page_table(self, m: int, cpu: int = 0) -> tuple[int, ...]:
        """MM `m`'s UKVA page-table entries as CPU `cpu` walks them (its own copy under
        page_tables="per-cpu"; the one table otherwise): a page number per UKVA page."""
        return self.state[1][self.setup.table(m, cpu)]

    def label(self, code: tuple[int, int, int]) -> str:
        """The words for a choice enabled in the current state (a read names the slot the
        running task reads, so label a choice before stepping it)."""
        s = self.setup
        kind, c, arg = code
        if kind == SWITCH:
            return f"cpu{c}: switch to " + ("idle (lazy TLB)" if arg < 0 else self.task_label(arg))
        if kind == READ:
            if s.design != PER_MM:
                return f"cpu{c}: read UKVA"
            cur = self.state[0][c][0]
            o = next((x for v, x in s.task_reads[cur] if v == arg), None)
            return f"cpu{c}: read the shared page" if o is None else f"cpu{c}: read slot {self.object_label(o)}"
        if kind in (UPDATE, FINISH):
            o, k = arg & 0xFF, arg >> 8
            maps = s.obj_maps[o]
            name = self.object_label(o)
            where = f" in {self.mm_label(maps[k][0])}" if len(maps) > 1 else ""
            if not maps:
                return f"cpu{c}: update {name} (no slot maps it)"
            if kind == UPDATE and not s.safe:
                return f"cpu{c}: begin updating slot {name} (copy it to a new page)"
            if kind == FINISH and not s.safe:
                return f"cpu{c}: finish updating slot {name}{where} (map the new page)"
            return f"cpu{c}: update slot {name}{where} (remap to {'a' if kind == UPDATE else 'the'} new page)"
        if kind == WRITE:
            return f"cpu{c}: write {self.cached_label(arg)}" + ("" if s.cached[arg] == SHARED else " (in place)")
        p, key = arg // 8, arg % 8 - 1
        line = "line" if key < 0 else f"line of colour {key}"
        return f"cache: write back and evict the {line} of {self.cached_label(p)}"

    def _stale_cause(self, c: int, m: int, vpage: int) -> str:
        """Why cpu `c` still held an old translation of (m, vpage): the step that remapped it
        last, and whether c then had m loaded (no shootdown reached it) or kept m's entries
        under a PCID while it ran another MM (switch_mm reused the ASID unflushed)."""
        for i in range(len(self.effects) - 1, -1, -1):
            e = self.effects[i]
            if not any(mm == m and v == vpage for mm, v, _, _ in e.ptes):
                continue
            before = self._undo[i][0] if i < len(self._undo) else self.state
            loaded = before[0][c][1]
            who = e.choice.cpu
            if loaded != m:
                actor = "it" if who == c else f"cpu{who}"
                return (f"cpu{c} had {self.mm_label(loaded)} loaded when {actor} remapped the slot in "
                        f"{self.mm_label(m)} ({e.choice}), and kept {self.mm_label(m)}'s entries under "
                        f"its PCID: a plain update (smp_safe=False) flushes only the loaded ASID and does "
                        f"not bump {self.mm_label(m)}'s tlb_gen, so when cpu{c} switched back, switch_mm "
                        f"reused that ASID without flushing it.")
            if who == c:
                break
            return (f"The translation came from an entry in cpu{c}'s TLB loaded before cpu{who} remapped "
                    f"the slot ({e.choice}): a plain update (smp_safe=False) wrote the page table and "
                    f"flushed only its own CPU's TLB: no lock, no shootdown IPI.")
        return (f"The translation came from an entry in cpu{c}'s TLB loaded before the slot was remapped, "
                f"and no flush reached it.")

    def explain(self, bad: tuple) -> Violation:
        """Turn the raw violation of Setup.next into words."""
        return replace(self._explain(bad), source=bad[5], vpage=bad[2])

    def _explain(self, bad: tuple) -> Violation:
        c, cur, vpage, got, want, source = bad
        s = self.setup
        m = s.task_mm[cur]
        who = f"cpu{c} runs {self.task_label(cur)} of {self.mm_label(m)}"
        addr = slot_address(vpage)
        pid = s.tasks[cur].pid
        if source == "lost":
            name = self.object_label(got // s.stride)
            return Violation("lost-update", c, pid, addr, self.page_label(got), self.page_label(want),
                             f"{who} and finished updating the slot of {name} at {addr:#010x}: it copied "
                             f"v{want % s.stride}, but another CPU had meanwhile mapped v{got % s.stride}, so "
                             f"mapping this copy throws that update away. Without the lock (smp_safe=False) "
                             f"two updates of one slot interleave: a lost update.")
        if source in ("cache", "memory"):
            p = s.vpage_cached[m][vpage]
            name = self.cached_label(p)
            where = ("its own line in the virtually indexed cache" if source == "cache" else "memory")
            others = sorted({s.cached_vpage[p][x] % COLOURS for x in range(len(s.mms)) if s.cached_vpage[p][x] >= 0})
            return Violation("stale-alias", c, pid, addr, f"{name} data v{got}", f"{name} data v{want}",
                             f"{who} and read {name} at {addr:#010x}: it got data v{got} from {where}, "
                             f"but v{want} was written last. The write went through another MM's mapping "
                             f"at an address of another colour (the MMs map it at colours "
                             f"{', '.join(map(str, others))}; shared_placement={s.opts.shared_placement!r}), "
                             f"so in a virtually indexed write-back cache it sits in another line: two "
                             f"virtual addresses of one physical page are aliases. Mapping every copy at "
                             f"one colour (shared_placement='same colour', as SHMLBA alignment does) or "
                             f"flushing the lines (flush_dcache_page) cures it.")
        got_s, want_s = self.page_label(got), self.page_label(want)
        stale = s.design == PER_MM and got // s.stride == want // s.stride
        table_now = self.state[1][s.table(m, c)][vpage] if m >= 0 else -1
        if stale and got == table_now:
            name = self.object_label(want // s.stride)
            mms = ", ".join(self.mm_label(x) for x, _ in s.obj_maps[want // s.stride])
            return Violation("half-updated", c, pid, addr, got_s, want_s,
                             f"{who} and read the slot of {name} at {addr:#010x}: it got {got_s}, but "
                             f"{want_s} is already mapped elsewhere. {name} is mapped in several MMs "
                             f"({mms}), each with its own page table, lock and cpumask, so an update "
                             f"reaches one MM per step: in between, tasks of different MMs see different "
                             f"versions of one table. A per-MM area must hold nothing shared across MMs.")
        if source == "tlb" and stale:
            how = self._stale_cause(c, m, vpage)
        elif source == "tlb":
            how = (f"The translation came from an entry in cpu{c}'s TLB, loaded before and never flushed: "
                   f"switch_mm skips the reload when the next task has the loaded MM, and no shootdown reached it.")
        elif source == "walk":
            whose = (f"cpu{c}'s own copy of {self.mm_label(m)}'s page table" if s.per_cpu_tables else
                     f"{self.mm_label(m)}'s page table, which all tasks of {self.mm_label(m)} share")
            how = f"The TLB missed and the hardware walker read {whose}: it maps {addr:#010x} to {got_s}."
        else:
            how = f"The TLB missed and the software refill handler loaded {got_s} from the page table."
        if s.design == PER_TASK:
            kind, rule = "wrong-task", "a per-task UKVA must show the running task's own data"
        elif s.design == PER_CPU:
            kind, rule = "wrong-cpu", "a per-CPU UKVA must show this CPU's own data"
        elif not stale:
            kind, rule = "wrong-slot", (f"one fixed address cannot show two {s.objects[want // s.stride][0]} "
                                        f"tables of one MM (slots='fixed')")
        else:
            kind, rule = "stale-tlb", "a remapped slot must never be read through its old translation"
        return Violation(kind, c, pid, addr, got_s, want_s,
                         f"{who} and read the UKVA at {addr:#010x}: it got {got_s}, "
                         f"but should have got {want_s}; {rule}. {how}")

    def text(self) -> str:
        """The machine in plain words: options, CPUs, page tables, caches, counters, violation."""
        s = self.setup
        cpus, ptes, mm_gen, (_, pending), caches = self.state
        lines = [self.options.text()]
        for c, (cur, loaded, _asid, _, _, tlb) in enumerate(cpus):
            lazy = (" (lazy, holds an mm_count reference)" if loaded >= 0 and (cur < 0 or not s.user[cur])
                    else "")
            if cur >= 0 and pending[cur] is not None:
                o, base, k = pending[cur]
                lazy = f" (updating {self.object_label(o)}: copied v{base}, mapped in {k} of {len(s.obj_maps[o])} MMs)"
            entries = ", ".join(f"{f'asid{a} ' if s.n_asids > 1 else ''}{slot_address(v):#010x}->"
                                f"{self.page_label(p)}" for a, v, p in tlb) or "empty"
            lines.append(f"cpu{c}: {self.task_label(cur)}, loaded {self.mm_label(loaded)}{lazy}; TLB: {entries}")
        for m in range(len(s.mms)):
            mask = [f"cpu{c}" for c, cpu in enumerate(cpus) if cpu[1] == m]
            for copy_ in range(s.copies):
                row = ptes[s.table(m, copy_)]
                maps = ", ".join(f"{slot_address(v):#010x}->{self.page_label(p)}" for v, p in enumerate(row)
                                 if s.mm_slots[m][v] != HOLE)
                whose = f"cpu{copy_}'s copy of " if s.per_cpu_tables else ""
                lines.append(f"{whose}{self.mm_label(m)} page table: {maps}; tlb_gen {mm_gen[m]}; "
                             f"cpumask {{{', '.join(mask)}}}; mm_count {self.mm_count(m)}")
        for p, (truth, memory, cache) in enumerate(caches):
            held = ", ".join(f"{'phys' if k < 0 else f'colour {k}'}=v{g}{'*' if d else ''}"
                             for k, g, d in cache) or "empty"
            at = ", ".join(f"{self.mm_label(m)} at {slot_address(v):#010x}"
                           for m, v in enumerate(s.cached_vpage[p]) if v >= 0)
            lines.append(f"{self.cached_label(p)} ({at}): last written v{truth}, memory v{memory}, "
                         f"cache {held} (* dirty)")
        lines.append("counters: " + ", ".join(f"{k}={v}" for k, v in self.counters.items()))
        lines.append(str(self.violation) if self.violation else "no violation")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Machine {self.options.text()}; {len(self.history)} steps; " \
               f"{'violation ' + self.violation.kind if self.violation else 'no violation'}>"
