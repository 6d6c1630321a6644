"""`Machine`: the SMP machine of transitions.py as a thing to step, undo and read.

It keeps the current state, the history (so a view can go back), the counters (TLB misses,
page walks or refill traps, page and full flushes, CR3 writes, IPIs), and turns raw choices
and violations into words.  The model itself, numbered and explained, is in transitions.py.
"""

from __future__ import annotations

import copy
import difflib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Union

from .layout import slot_address
from .options import CACHES, COUNTERS, DESIGNS, FILLS, MAX_TASKS, SLOTS, Options
from .transitions import PER_CPU, PER_MM, PER_TASK, READ, SHARED_KEY_PHYSICAL, SWITCH, UPDATE, WRITE, Setup

if TYPE_CHECKING:
    from .kernel import Kernel
    from .task import Task

# The settings' names live in options.py; views import them from here with the Machine.
__all__ = ["CACHES", "COUNTERS", "DESIGNS", "FILLS", "SLOTS", "SHARED_KEY_PHYSICAL",
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
        return ("switch", "read", "update", "write", "evict")[self.code[0]]

    def __str__(self) -> str:
        return self.label

    def __repr__(self) -> str:
        return f"Choice({self.label!r})"


@dataclass(frozen=True)
class Violation:
    """A read that returned the wrong data: `kind` is one of "wrong-task", "wrong-cpu",
    "wrong-slot", "stale-tlb", "stale-alias"; `explanation` says what was read, what should
    have been, and why."""

    kind: str
    cpu: int
    pid: int
    address: int
    got: str
    expected: str
    explanation: str

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
        # Unpacks as (cpu, vpage, cached, current), the form issue 11 names.
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


Pick = Union[Choice, str, int]


class Machine:
    """The SMP machine over tasks of one Kernel; see the module docstring for the model.

    >>> m = Machine(k, tasks=[p, t], cpus=2, design="per-task", fill="hardware")
    >>> m.choices()        # enabled steps, printable
    >>> m.step("cpu0: switch to task 2 (sh)")   # a Choice, its label, or its index
    """

    def __init__(self, kernel: Kernel, tasks: list[Task], cpus: int = 2, design: str = "per-task",
                 fill: str = "hardware", *, pcid: bool = False, flush_on_same_mm_switch: bool = False,
                 smp_safe: bool = True, slots: str = "dynamic", cache: str = "physical",
                 shared_page: bool = False, tlb_size: int = 4, updates: int = 1) -> None:
        opts = Options(cpus=cpus, design=design, fill=fill, pcid=pcid,
                       flush_on_same_mm_switch=flush_on_same_mm_switch, smp_safe=smp_safe, slots=slots,
                       cache=cache, shared_page=shared_page, tlb_size=tlb_size, updates=updates)
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
                now = ptes[m][vpage]
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
            if c != actor and choice.action == "update" and old[4] != new[4]:
                ipis.append((actor, c))
                lines.append(f"cpu{actor} sends a shootdown IPI to cpu{c}")
            for a, v, p in gone:
                lines.append(f"cpu{c} drops its TLB entry {slot_address(v):#010x}->{self.page_label(p)}")
            for a, v, p in came:
                lines.append(f"cpu{c} loads a TLB entry {slot_address(v):#010x}->{self.page_label(p)}")
        ptes = []
        for m, (old, new) in enumerate(zip(before[1], after[1])):
            for v, (p, q) in enumerate(zip(old, new)):
                if p != q:
                    ptes.append((m, v, p, q))
                    lines.append(f"{self.mm_label(m)}'s page table: {slot_address(v):#010x} now maps "
                                 f"{self.page_label(q)} (was {self.page_label(p)})")
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

    def label(self, code: tuple[int, int, int]) -> str:
        kind, c, arg = code
        if kind == SWITCH:
            return f"cpu{c}: switch to " + ("idle (lazy TLB)" if arg < 0 else self.task_label(arg))
        if kind == READ:
            return f"cpu{c}: read UKVA"
        if kind == UPDATE:
            return f"cpu{c}: update slot {self.setup.objects[arg][1].label} (remap to a new page)"
        if kind == WRITE:
            return f"cpu{c}: write the shared page"
        return f"cache: write back and evict the line of {slot_address(arg):#010x}" if arg >= 0 else \
            "cache: write back and evict the shared page's line"

    def explain(self, bad: tuple) -> Violation:
        """Turn the raw violation of Setup.next into words."""
        c, cur, vpage, got, want, source = bad
        s = self.setup
        m = s.task_mm[cur]
        who = f"cpu{c} runs {self.task_label(cur)} of {self.mm_label(m)}"
        addr = slot_address(vpage)
        if source in ("cache", "memory"):
            where = ("its own line in the virtually indexed cache" if source == "cache" else "memory")
            return Violation("stale-alias", c, s.tasks[cur].pid, addr, f"shared page v{got}", f"shared page v{want}",
                             f"{who} and read the shared page at {addr:#010x}: it got v{got} from {where}, "
                             f"but v{want} was written last. The write went through another MM's mapping "
                             f"at another address, so in a virtually indexed write-back cache it sits in "
                             f"another line: two virtual addresses of one physical page are aliases.")
        got_s, want_s = self.page_label(got), self.page_label(want)
        stale = s.design == PER_MM and got // s.stride == want // s.stride
        if source == "tlb" and stale:
            how = (f"The translation came from an entry in cpu{c}'s TLB loaded before the slot was remapped: "
                   f"the update wrote the page table and flushed only its own CPU's TLB"
                   f"{' (smp_safe=False: no lock, no shootdown IPI)' if not s.opts.smp_safe else ''}.")
        elif source == "tlb":
            how = (f"The translation came from an entry in cpu{c}'s TLB, loaded before and never flushed: "
                   f"switch_mm skips the reload when the next task has the loaded MM, and no shootdown reached it.")
        elif source == "walk":
            how = (f"The TLB missed and the hardware walker read {self.mm_label(m)}'s page table, "
                   f"which all tasks of {self.mm_label(m)} share: it maps {addr:#010x} to {got_s}.")
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
        return Violation(kind, c, s.tasks[cur].pid, addr, got_s, want_s,
                         f"{who} and read the UKVA at {addr:#010x}: it got {got_s}, "
                         f"but should have got {want_s}; {rule}. {how}")

    def text(self) -> str:
        """The machine in plain words: options, CPUs, page tables, counters, violation."""
        s = self.setup
        cpus, ptes, mm_gen, _, shared = self.state
        lines = [self.options.text()]
        for c, (cur, loaded, asid, _, _, tlb) in enumerate(cpus):
            lazy = " (lazy)" if loaded >= 0 and (cur < 0 or not s.user[cur]) else ""
            entries = ", ".join(f"{'asid%d ' % a if s.n_asids > 1 else ''}{slot_address(v):#010x}->"
                                f"{self.page_label(p)}" for a, v, p in tlb) or "empty"
            lines.append(f"cpu{c}: {self.task_label(cur)}, loaded {self.mm_label(loaded)}{lazy}; TLB: {entries}")
        for m, row in enumerate(ptes):
            mask = [f"cpu{c}" for c, cpu in enumerate(cpus) if cpu[1] == m]
            maps = ", ".join(f"{slot_address(v):#010x}->{self.page_label(p)}" for v, p in enumerate(row))
            lines.append(f"{self.mm_label(m)} page table: {maps}; tlb_gen {mm_gen[m]}; "
                         f"cpumask {{{', '.join(mask)}}}")
        if s.shared:
            truth, memory, cache = shared
            held = ", ".join(f"{'phys' if k < 0 else hex(slot_address(k))}=v{g}{'*' if d else ''}"
                             for k, g, d in cache) or "empty"
            lines.append(f"shared page: last written v{truth}, memory v{memory}, cache {held} (* dirty)")
        lines.append("counters: " + ", ".join(f"{k}={v}" for k, v in self.counters.items()))
        lines.append(str(self.violation) if self.violation else "no violation")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Machine {self.options.text()}; {len(self.history)} steps; " \
               f"{'violation ' + self.violation.kind if self.violation else 'no violation'}>"
