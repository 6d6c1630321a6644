"""The SMP machine in words: labels of tasks, MMs, pages and choices, violations explained, the
whole machine as text, and the modelling assumptions a verdict rests on.

`MachineWords` is the part of `Machine` (machine.py) that speaks; it reads the machine's model,
state and history, and changes nothing.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from .layout import slot_address
from .properties import RULES, Violation, classify
from .slots import COLOURS, HOLE, PER_CPU, PER_MM, PER_TASK, SHARED
from .state import EVICT, READ, SWITCH, UPDATE, WRITE, Bad, Choice

if TYPE_CHECKING:
    from .machine import Machine
    from .task import Task


class MachineWords:
    """Labels, explanations, `text()` and `assumptions()` of a Machine."""

    # -- labels -----------------------------------------------------------------------------
    def task_index(self: Machine, task: Task) -> int:
        """The number of `task` on this machine."""
        for i, t in enumerate(self.tasks):
            if t is task:
                return i
        raise ValueError(f"task {getattr(task, 'pid', task)} is not on this machine; "
                         f"its tasks are {', '.join(self.task_label(i) for i in range(len(self.tasks)))}")

    def task_label(self: Machine, i: int) -> str:
        if i < 0:
            return "idle"
        t = self.tasks[i]
        return f"task {t.pid} ({t.comm})"

    def mm_label(self: Machine, m: int) -> str:
        return "-" if m < 0 else self.mms[m].label

    def page_label(self: Machine, page: int) -> str:
        L = self.layout
        if page < 0:
            return "nothing (unmapped)"
        if L.design == PER_TASK:
            return f"{self.task_label(page)}'s page"
        if L.design == PER_CPU:
            return f"cpu{page}'s page"
        o, gen = divmod(page, L.stride)
        return f"{L.objects[o][1].label} v{gen}"

    def object_label(self: Machine, o: int) -> str:
        return self.layout.objects[o][1].label

    def cached_label(self: Machine, p: int) -> str:
        """The name of a page mapped in several MMs: "the shared page" or its object's."""
        o = self.layout.cached[p]
        return "the shared page" if o == SHARED else self.object_label(o)

    def label(self: Machine, choice: Choice) -> str:
        """The words for a choice enabled in the current state (a read names the slot the
        running task reads, so label a choice before stepping it)."""
        L, (kind, c, arg, sub) = self.layout, choice
        if kind == SWITCH:
            return f"cpu{c}: switch to " + ("idle (lazy TLB)" if arg < 0 else self.task_label(arg))
        if kind == READ:
            if L.design != PER_MM:
                return f"cpu{c}: read UKVA"
            o = L.read_info[self.state.cpus[c].current][arg][0]
            return f"cpu{c}: read the shared page" if o is None else f"cpu{c}: read slot {self.object_label(o)}"
        if kind == WRITE:
            return f"cpu{c}: write {self.cached_label(arg)}" + ("" if L.cached[arg] == SHARED else " (in place)")
        if kind == EVICT:
            line = "line" if sub < 0 else f"line of colour {sub}"
            return f"cache: write back and evict the {line} of {self.cached_label(arg)}"
        maps, name = L.obj_maps[arg], self.object_label(arg)
        if not maps:
            return f"cpu{c}: update {name} (no slot maps it)"
        where = f" in {self.mm_label(maps[sub][0])}" if len(maps) > 1 else ""
        if not self.model.safe:
            if kind == UPDATE:
                return f"cpu{c}: begin updating slot {name} (copy it to a new page)"
            return f"cpu{c}: finish updating slot {name}{where} (map the new page)"
        return f"cpu{c}: update slot {name}{where} (remap to {'a' if kind == UPDATE else 'the'} new page)"

    # -- violations ---------------------------------------------------------------------------
    def explain(self: Machine, bad: Bad) -> Violation:
        """Turn what a step broke (model.Model.next's `Bad`) into words."""
        return replace(self._explain(bad), source=bad.source, vpage=bad.vpage)

    def _explain(self: Machine, bad: Bad) -> Violation:
        L = self.layout
        c, cur, vpage, got, want, source = bad
        m = L.task_mm[cur]
        who = f"cpu{c} runs {self.task_label(cur)} of {self.mm_label(m)}"
        addr = slot_address(vpage)
        pid = L.tasks[cur].pid
        row = self.page_table(m, c) if m >= 0 else ()
        kind = classify(L, bad, row[vpage] if vpage < len(row) else -1)
        if kind == "lost-update":
            return Violation(kind, c, pid, addr, self.page_label(got), self.page_label(want),
                             f"{who} and finished updating the slot of {self.object_label(got // L.stride)} at "
                             f"{addr:#010x}: it copied v{want % L.stride}, but another CPU had meanwhile mapped "
                             f"v{got % L.stride}, so mapping this copy throws that update away. Without the lock "
                             f"(smp_safe=False) two updates of one slot interleave: a lost update.")
        if kind == "stale-alias":
            p = L.vpage_cached(m, vpage)
            name = self.cached_label(p)
            where = "its own line in the virtually indexed cache" if source == "cache" else "memory"
            others = sorted({v % COLOURS for v in L.cached_vpage[p] if v >= 0})
            return Violation(kind, c, pid, addr, f"{name} data v{got}", f"{name} data v{want}",
                             f"{who} and read {name} at {addr:#010x}: it got data v{got} from {where}, "
                             f"but v{want} was written last. The write went through another MM's mapping "
                             f"at an address of another colour (the MMs map it at colours "
                             f"{', '.join(map(str, others))}; shared_placement={self.options.shared_placement!r}), "
                             f"so in a virtually indexed write-back cache it sits in another line: two "
                             f"virtual addresses of one physical page are aliases. Mapping every copy at "
                             f"one colour (shared_placement='same colour', as SHMLBA alignment does) or "
                             f"flushing the lines (flush_dcache_page) cures it.")
        got_s, want_s = self.page_label(got), self.page_label(want)
        if kind == "half-updated":
            name = self.object_label(want // L.stride)
            mms = ", ".join(self.mm_label(x) for x, _ in L.obj_maps[want // L.stride])
            return Violation(kind, c, pid, addr, got_s, want_s,
                             f"{who} and read the slot of {name} at {addr:#010x}: it got {got_s}, but "
                             f"{want_s} is already mapped elsewhere. {name} is mapped in several MMs "
                             f"({mms}), each with its own page table, lock and cpumask, so an update "
                             f"reaches one MM per step: in between, tasks of different MMs see different "
                             f"versions of one table. A per-MM area must hold nothing shared across MMs.")
        rule = RULES[kind].format(kind=L.objects[want // L.stride][0] if kind == "wrong-slot" else "")
        return Violation(kind, c, pid, addr, got_s, want_s,
                         f"{who} and read the UKVA at {addr:#010x}: it got {got_s}, "
                         f"but should have got {want_s}; {rule}. {self._how(bad, kind == 'stale-tlb')}")

    def _how(self: Machine, bad: Bad, stale: bool) -> str:
        """Where a wrong translation came from."""
        c, cur, vpage, got, _, source = bad
        m = self.layout.task_mm[cur]
        if source == "tlb" and stale:
            return self._stale_cause(c, m, vpage)
        if source == "tlb":
            return (f"The translation came from an entry in cpu{c}'s TLB, loaded before and never flushed: "
                    f"switch_mm skips the reload when the next task has the loaded MM, and no shootdown reached it.")
        if source == "walk":
            whose = (f"cpu{c}'s own copy of {self.mm_label(m)}'s page table" if self.layout.copies > 1 else
                     f"{self.mm_label(m)}'s page table, which all tasks of {self.mm_label(m)} share")
            return (f"The TLB missed and the hardware walker read {whose}: it maps {slot_address(vpage):#010x} "
                    f"to {self.page_label(got)}.")
        return f"The TLB missed and the software refill handler loaded {self.page_label(got)} from the page table."

    def _stale_cause(self: Machine, c: int, m: int, vpage: int) -> str:
        """Why cpu `c` still held an old translation of (m, vpage): the step that remapped it
        last, and whether c then had m loaded (no shootdown reached it) or kept m's entries
        under a PCID while it ran another MM (switch_mm reused the ASID unflushed)."""
        for i in range(len(self.effects) - 1, -1, -1):
            e = self.effects[i]
            if not any(mm == m and v == vpage for mm, v, _, _ in e.ptes):
                continue
            before = self._undo[i][0] if i < len(self._undo) else self.state
            loaded = before.cpus[c].loaded
            who = e.step.cpu
            if loaded != m:
                actor = "it" if who == c else f"cpu{who}"
                return (f"cpu{c} had {self.mm_label(loaded)} loaded when {actor} remapped the slot in "
                        f"{self.mm_label(m)} ({e.step}), and kept {self.mm_label(m)}'s entries under "
                        f"its PCID: a plain update (smp_safe=False) flushes only the loaded ASID and does "
                        f"not bump {self.mm_label(m)}'s tlb_gen, so when cpu{c} switched back, switch_mm "
                        f"reused that ASID without flushing it.")
            if who == c:
                break
            return (f"The translation came from an entry in cpu{c}'s TLB loaded before cpu{who} remapped "
                    f"the slot ({e.step}): a plain update (smp_safe=False) wrote the page table and "
                    f"flushed only its own CPU's TLB: no lock, no shootdown IPI.")
        return (f"The translation came from an entry in cpu{c}'s TLB loaded before the slot was remapped, "
                f"and no flush reached it.")

    # -- the whole machine --------------------------------------------------------------------
    def assumptions(self: Machine, by_parts: bool = False) -> list[str]:
        """The modelling assumptions every verdict on this machine rests on, in words: its bounds,
        what the design's switch, refill or update does, what a full TLB does, and the cache; with
        `by_parts`, those of a proof found part by part (explore._by_parts)."""
        model, L, opts = self.model, self.layout, self.options
        n, times = len(L.tasks), {0: "never", 1: "at most once", 2: "at most twice"}
        out = [f"{opts.cpus} CPU{'s' * (opts.cpus > 1)} and these {n} task{'s' * (n > 1)}"
               + (f", each slot updated {times.get(opts.updates, f'at most {opts.updates} times')}"
                  if L.design == PER_MM else "")]
        entries = f"{model.tlb_size} entr{'ies' if model.tlb_size > 1 else 'y'}"
        if L.design != PER_MM:
            whose = "the running task's" if L.design == PER_TASK else "this CPU's"
            if model.hardware:
                table = "this CPU's copy of the MM's page table" if L.copies > 1 else "the MM's page table"
                out.append(f"a switch points the UKVA entry of {table} at {whose} page")
            else:
                out.append(f"the refill handler loads {whose} page")
            if model.switch_flush:
                why = "flush_on_same_mm_switch" if model.hardware else \
                    "software refill: a TLB hit never reaches the refill handler"
                out.append(f"every switch to a user task flushes this CPU's UKVA entry ({why})")
        elif model.safe:
            out.append("an update takes the MM's lock and shoots down every CPU of the cpumask that is not lazy")
        else:
            out.append("an update takes no lock and flushes only its own CPU's TLB")
        if by_parts and L.design == PER_MM:
            out.append("each part searched with TLBs that never evict, which under per-MM proves any TLB size")
        elif model.can_evict():
            out.append(f"a full TLB ({entries}) evicts its lowest entry, not the least recently used")
        else:
            out.append(f"a TLB ({entries}) has room for every UKVA page it can hold, so none evicts")
        if L.cached:
            out.append("one data cache for the whole machine (shared, or kept coherent by physical address)")
        return out

    def text(self: Machine) -> str:
        """The machine in plain words: options, CPUs, page tables, caches, counters, violation,
        and the assumptions the model makes."""
        L, state = self.layout, self.state
        lines = [self.options.text()]
        for c, cpu in enumerate(state.cpus):
            lazy = " (lazy, holds an mm_count reference)" if self.is_lazy(c) else ""
            pending = state.updates.pending[cpu.current] if cpu.current >= 0 else None
            if pending is not None:
                o, base, k = pending
                lazy = f" (updating {self.object_label(o)}: copied v{base}, mapped in {k} of {len(L.obj_maps[o])} MMs)"
            entries = ", ".join(f"{f'asid{a} ' if self.n_asids > 1 else ''}{slot_address(v):#010x}->"
                                f"{self.page_label(p)}" for a, v, p in cpu.tlb) or "empty"
            lines.append(f"cpu{c}: {self.task_label(cpu.current)}, loaded {self.mm_label(cpu.loaded)}{lazy}; "
                         f"TLB: {entries}")
        for m in range(len(L.mms)):
            mask = [f"cpu{c}" for c in self.cpumask(m)]
            for copy_ in range(L.copies):
                maps = ", ".join(f"{slot_address(v):#010x}->{self.page_label(p)}"
                                 for v, p in enumerate(self.page_table(m, copy_)) if L.mm_slots[m][v] != HOLE)
                whose = f"cpu{copy_}'s copy of " if L.copies > 1 else ""
                lines.append(f"{whose}{self.mm_label(m)} page table: {maps}; tlb_gen {self.tlb_gen(m)}; "
                             f"cpumask {{{', '.join(mask)}}}; mm_count {self.mm_count(m)}")
        for p, data in enumerate(state.caches):
            held = ", ".join(f"{'phys' if k < 0 else f'colour {k}'}=v{g}{'*' if d else ''}"
                             for k, g, d in data.lines) or "empty"
            at = ", ".join(f"{self.mm_label(m)} at {slot_address(v):#010x}" for m, v in enumerate(L.cached_vpage[p])
                           if v >= 0)
            lines.append(f"{self.cached_label(p)} ({at}): last written v{data.written}, memory v{data.memory}, "
                         f"cache {held} (* dirty)")
        lines.append("counters: " + ", ".join(f"{k}={v}" for k, v in self.counters.items()))
        lines.append(str(self.violation) if self.violation else "no violation")
        lines.append("assumes: " + "; ".join(self.assumptions()))
        return "\n".join(lines)
