"""The SMP machine as a state transition system: CPUs with TLBs, page tables per MM, and a
UKVA design on top.

In the manner of MOSAIC: `Model.enabled` lists the choices open in a state and `Model.next`
gives the state after one of them; whoever decides (explore.py's searches, the SMPStepper
widget through machine.py's `Machine`, `random_run`) is separate from the model.  The state is
made of named tuples (state.py); where each page lives is fixed before the machine runs
(slots.py); the TLB rules are tlb.py's; what must never happen is properties.py's.

1. Tasks.  The machine runs tasks of a `Kernel` (kernel.py, task.py).  Which page table a task uses is
   decided by its `mm`: tasks made with CLONE_VM share one MM and so one page table, a forked
   task gets its own (notebooks/sources.ipynb §3).  Kernel threads have no MM.  Each CPU also has an idle task.
2. CPUs and TLBs.  Each CPU has a current task, a loaded MM (its CR3) and a TLB of bounded size
   (tlb.py).  Without PCID entries are untagged and a CR3 write drops them all; with PCID each
   CPU keeps 6 ASID slots, reused by MM and flushed only when stale (notebooks/sources.ipynb §6).
   A fill into a full TLB drops its lowest entry, a fixed victim rather than LRU.
3. switch_mm.  Switching to a task of the loaded MM skips the CR3 write, as x86
   switch_mm_irqs_off does; a kernel thread or the idle task keeps the previous MM loaded
   (lazy TLB).  A CPU is in an MM's cpumask while it has that MM loaded.  A lazy CPU holds one
   mm_count reference on the MM it keeps: taken on a user -> kernel switch, passed along on
   kernel -> kernel switches, dropped on kernel -> user (kernel/sched/core.c, notebooks/sources.ipynb §6);
   machine.py's `Machine` keeps and checks these (they are not part of the explored state).
4. Page tables.  `page_tables="shared"`: one page table per MM, which every CPU running the MM
   walks, as on Linux.  `page_tables="per-cpu"`: each CPU has its own copy of each MM's page
   table, so a switch can rewrite this CPU's copy without touching what the other CPUs walk
   (what Linus Torvalds' reply calls per-CPU page tables; notebooks/sources.ipynb §1).  An update of a slot
   writes every copy.
5. The UKVA.  A kernel area at a fixed address (slots.py, layout.py).  What it shows is the `design`
   (the three places Linus Torvalds weighed in his reply to Martin Bligh, 16 Aug 2002,
   <Pine.LNX.4.44.0208162134440.2497-100000@home.transmeta.com>; notebooks/sources.ipynb §1):
   - "per-task": the running task's page.  With hardware fill the switch rewrites the UKVA
     entry of the task's page table (this CPU's copy under per-CPU page tables), which the MM's
     other tasks share.  With software refill the switch flushes this CPU's UKVA entry, and the
     refill handler loads the current task's page at the next read: that flush is part of the
     design (tlb.switch_flushes_ukva_entry), counted as a page flush, since a TLB hit never
     reaches the handler.
   - "per-cpu": this CPU's page; hardware fill rewrites the entry likewise, software refill
     loads the CPU's own page (no flush: it does not change with the task).
   - "per-mm": one page per slot, never rewritten on a switch.  Each files table and sighand
     table a task of the MM uses has its own slot (`slots="dynamic"`), or every object of a
     kind shares one fixed slot that maps the first one (`slots="fixed"`).  A read targets one
     slot (the task's files table or its sighand table, or the shared page), so no verdict
     depends on the order in which a read would look slots up.
   `flush_on_same_mm_switch` makes every switch to a user task flush the UKVA entry under
   hardware fill too: the fix that makes per-task right on one CPU.
6. Fills.  A TLB miss under `fill="hardware"` walks the page table the CPU has loaded, as x86
   does; under `fill="software"` it traps to a handler that loads the current task's
   (per-task) or this CPU's (per-cpu) page, or walks the page table (per-mm), as MIPS's
   generated handlers or sparc64's TSB miss trap may (notebooks/sources.ipynb §6).
7. Updates (per-mm).  "update slot files#2" remaps the slot to a fresh page (a copy of the
   version the updater's MM maps, one version newer), as growing a file table would.
   - `smp_safe=True` takes the lock, bumps the MM's tlb_gen, flushes the local entry and sends
     a shootdown IPI to every other CPU in the cpumask that is not lazy; lazy or switched-away
     CPUs catch up on tlb_gen when they load the MM again (flush_tlb_mm_range, notebooks/sources.ipynb §6).
     For an object mapped in one MM that is one step.
   - `smp_safe=False` takes no lock, bumps no tlb_gen and sends no IPI: the update is two steps,
     "begin" (copy the version its MM maps to a new page) and "finish" (map the copy and flush
     the local TLB, which is all a uniprocessor needs).  Two CPUs can both copy v and both map
     v+1: the second finish overwrites a version it never saw, a lost update.  A CPU finishes
     its update before it does anything else (it edits the page table with preemption off).
   - An object mapped in several MMs (a files table shared with CLONE_FILES but not CLONE_VM)
     sits in each MM's own page table, under each MM's own lock and cpumask: its update maps
     the copy one MM per step, the updater doing nothing else in between.  Between two such
     steps tasks of the two MMs see different versions of one table.
8. Pages mapped in several MMs.  The shared page (`shared_page=True`, per-mm only: one
   physical page in the UKVA of every MM, like the vDSO data page) and every slot object mapped
   in more than one MM hold data that tasks write in place ("write files#2") and read.  That
   data goes through a write-back data cache indexed by the virtual address (`cache="virtual"`)
   or the physical one (`cache="physical"`).  A virtually indexed cache has COLOURS page
   colours (ARM's SHMLBA is 4 pages): two mappings of one page at addresses of different
   colour are held in two lines, aliases, which is why Linux needs flush_dcache_page there and
   not on physically indexed IA32 (Documentation/core-api/cachetlb.rst, notebooks/sources.ipynb §7).  Where
   each MM puts such a page is `shared_placement` (slots.py).  The cache is one for the
   machine, as if the CPUs shared it or kept it coherent by physical address; a page with one
   mapping cannot alias and does not go through it.  A remap copies the data coherently (the
   kernel flushes the old mapping first); the data's version is kept per page across remaps.
9. The invariant (properties.py).  A read of the UKVA by a task must return its own page
   (per-task), its CPU's page (per-cpu), the current version of its own object in that slot
   (per-mm), and the last data written to a page mapped in several MMs; and no update may
   overwrite a version it did not start from.  The first step that breaks this returns a
   `Bad` beside the state, and the machine stops.

Counters (TLB misses, page walks or refill traps, page and full flushes, CR3 writes, IPIs)
are added to a list the caller passes; they are not part of the state the explorer hashes.
"""

from __future__ import annotations

import copy
from bisect import bisect_left, insort
from collections.abc import Callable
from typing import Any

from . import tlb as T
from .options import Options
from .properties import expected_page, lost_update
from .slots import PER_MM, PER_TASK, Layout
from .state import EVICT, FINISH, READ, SWITCH, UPDATE, WRITE, Bad, CachedPage, Choice, State, Updates

# The counters' positions in the list `next` adds to (options.COUNTERS names them in this order).
MISS, WALK, REFILL, PFLUSH, FFLUSH, CR3, IPI = range(7)

Handler = Callable[[State, Choice, list], tuple[State, Bad | None]]


class Model:
    """The transition system of one machine: `initial()`, `enabled(state)`, `next(state, choice)`."""

    def __init__(self, layout: Layout, opts: Options) -> None:
        self.layout = layout
        self.opts = opts
        self.ncpu = opts.cpus
        self.hardware = opts.fill == "hardware"
        self.tlb_size = opts.tlb_size
        self.safe = opts.smp_safe
        # PCID with no more MMs than ASIDs: one slot per MM, never recycled (tlb.switch_mm);
        # two at least, since one slot would mean "no PCID".
        self.static_asids = opts.pcid and len(layout.mms) <= T.N_PCID_ASIDS
        self.n_asids = (max(len(layout.mms), 2) if self.static_asids else T.N_PCID_ASIDS) if opts.pcid else 1
        self.switch_flush = T.switch_flushes_ukva_entry(opts.design, opts.fill, opts.flush_on_same_mm_switch)
        # Designs whose switch rewrites nothing when the MM stays: per-mm, software per-cpu.
        self.plain_switch = layout.design == PER_MM or not (self.hardware or self.switch_flush)
        self._bind()

    def _bind(self) -> None:
        """The memo of enabled choices, and the handlers bound to this model (kind -> handler)."""
        self._enabled: dict[tuple, list[Choice]] = {}
        self.handlers: tuple[Handler, ...] = (self._switch, self._read, self._update, self._write, self._evict,
                                              self._finish)

    def derived(self, layout: Layout | None = None, **changes: Any) -> Model:
        """A copy of this model with another layout or other attributes (a part of the search,
        a TLB that never evicts): its own memo and handlers bound to the copy."""
        out = copy.copy(self)
        if layout is not None:
            out.layout = layout
        out.__dict__.update(changes)
        out._bind()
        return out

    def can_evict(self) -> bool:
        """Whether a fill can find its TLB full (and so evict an entry)."""
        return self.tlb_size < self.n_asids * self.layout.pages_per_mm()

    def unbounded(self) -> Model:
        """This machine with TLBs large enough never to evict (everything else the same)."""
        return self.derived(tlb_size=self.n_asids * self.layout.pages_per_mm()) if self.can_evict() else self

    # -- states and choices -----------------------------------------------------------------
    def initial(self) -> State:
        """All CPUs idle with no MM loaded and empty TLBs; every slot maps version 0."""
        L = self.layout
        cpu = (-1, -1, 0, 0, ((-1, 0),) * self.n_asids, ())
        tables = tuple(tuple(-1 if o < 0 else o * L.stride for o in slots)
                       for slots in L.mm_slots for _ in range(L.copies))
        updates = ((0,) * len(L.objects), (None,) * len(L.tasks))
        return ((cpu,) * self.ncpu, tables, (0,) * len(L.mms), updates, ((0, 0, ()),) * len(L.cached))

    def enabled(self, state: State) -> list[Choice]:
        """The choices enabled in `state`.  They depend only on who runs where, the updates and
        the caches, so they are memoised on those."""
        key = (tuple([cpu[0] for cpu in state[0]]), state[3], state[4])
        out = self._enabled.get(key)
        if out is None:
            out = self._enabled[key] = self.choices(*key)
        return out

    def choices(self, running: tuple[int, ...], updates: Updates, caches: tuple[CachedPage, ...]) -> list[Choice]:
        """What each CPU may do, CPU by CPU, then what the cache may do."""
        L, out = self.layout, []
        versions, pending = updates
        limit = L.stride - 1
        waiting = [n for n in range(len(L.tasks)) if n not in running]
        # Under the lock, an object being updated cannot be updated again until done.
        locked = {p[0] for p in pending if p is not None} if self.safe else set()
        for c, cur in enumerate(running):
            if cur >= 0 and pending[cur] is not None:
                o, _, k = pending[cur]
                out.append(Choice(FINISH, c, o, k))  # it does nothing else until done
                continue
            out += [Choice(SWITCH, c, n) for n in waiting]
            if cur < 0:
                continue
            out.append(Choice(SWITCH, c, -1))
            if not L.user[cur]:
                continue
            out += [Choice(READ, c, v) for v in L.read_pages[cur]]
            out += [Choice(UPDATE, c, o) for o in L.update_objects[cur] if versions[o] < limit and o not in locked]
            out += [Choice(WRITE, c, p) for p in L.task_writes[cur] if caches[p][0] < limit]
        for p, (_, _, lines) in enumerate(caches):
            out += [Choice(EVICT, -1, p, key) for key, _, _ in lines]
        return out

    def next(self, state: State, choice: Choice, counts: list[int] | None = None) -> tuple[State, Bad | None]:
        """The state after `choice`, and what it broke (a `Bad`) or None.  `counts` (indexed
        by MISS, WALK, ...), if given, is incremented in place."""
        return self.handlers[choice.kind](state, choice, [0] * 7 if counts is None else counts)

    # -- the steps ----------------------------------------------------------------------------
    # The handlers read and build states as plain tuples laid out as state.State says (see
    # there why): they unpack them into named variables.
    def _switch(self, state: State, choice: Choice, counts: list[int]) -> tuple[State, None]:
        L = self.layout
        _, c, n, _ = choice
        cpus, tables, tlb_gen, updates, caches = state
        _, loaded, asid, rr, asids, tlb = cpu = cpus[c]
        if n >= 0 and L.user[n]:
            m = L.task_mm[n]
            if not (self.plain_switch and loaded == m and asids[asid][1] >= tlb_gen[m]):
                # Anything but the hot path (same MM, tlb_gen current, nothing the design rewrites).
                cpu, cr3, full = T.switch_mm(cpu, m, tlb_gen[m], self.n_asids, self.static_asids)
                counts[CR3] += cr3
                counts[FFLUSH] += full
                _, loaded, asid, rr, asids, tlb = cpu
                if L.design != PER_MM and L.mm_slots[m]:  # (a part of the search may leave an MM's UKVA out)
                    if self.hardware:
                        # The switch points the UKVA entry of the MM's page table (this CPU's copy
                        # under per-CPU page tables) at the new task's (or CPU's) page.
                        page, t = (n if L.design == PER_TASK else c), L.table(m, c)
                        if tables[t][0] != page:
                            tables = tables[:t] + ((page,),) + tables[t + 1:]
                    if self.switch_flush and not full:
                        tlb = T.flush_page(tlb, asid, 0)
                        counts[PFLUSH] += 1
        # else lazy TLB: the idle task and kernel threads keep the previous MM loaded.
        cpus = cpus[:c] + ((n, loaded, asid, rr, asids, tlb),) + cpus[c + 1:]
        return (cpus, tables, tlb_gen, updates, caches), None

    def _read(self, state: State, choice: Choice, counts: list[int]) -> tuple[State, Bad | None]:
        """Read one UKVA page: a slot (its translation is checked), and the data of a page
        mapped in several MMs (through the cache).  A read that hits and is right changes
        nothing: it returns `state` itself, which tells the explorer it has seen the result
        without hashing it."""
        L = self.layout
        _, c, vpage, _ = choice
        cpus, tables, tlb_gen, updates, caches = state
        cur, loaded, asid, rr, asids, tlb = cpus[c]
        o, p, key = L.read_info[cur][vpage]
        if o is not None:
            page = -1
            for a, v, pg in tlb:  # the TLB lookup, the hottest loop of the search
                if a == asid and v == vpage:
                    page = pg
                    break
            want = expected_page(L.design, L.stride, updates[0], c, cur, o)
            if page >= 0:
                if page == want and p < 0:
                    return state, None        # the hot path: a hit, and right
                source = "tlb"
            else:
                counts[MISS] += 1
                if self.hardware or L.design == PER_MM:
                    counts[WALK if self.hardware else REFILL] += 1
                    page = tables[L.table(L.task_mm[cur], c)][vpage]
                    source = "walk" if self.hardware else "refill"
                else:
                    counts[REFILL] += 1
                    page, source = want, "refill"
                tlb = T.fill(tlb, asid, vpage, page, self.tlb_size)
                cpus = cpus[:c] + ((cur, loaded, asid, rr, asids, tlb),) + cpus[c + 1:]
            if page != want:
                return (cpus, tables, tlb_gen, updates, caches), Bad(c, cur, vpage, page, want, source)
        if p >= 0:
            written, memory, lines = caches[p]
            got, source = -1, "cache"
            for k, version, _ in lines:
                if k == key:
                    got = version
                    break
            if got < 0:
                got, source = memory, "memory"
                line = (key, memory, 0)
                at = bisect_left(lines, line)  # `lines` is sorted: inserting here keeps it so
                caches = caches[:p] + ((written, memory, lines[:at] + (line,) + lines[at:]),) + caches[p + 1:]
            if got != written:
                return (cpus, tables, tlb_gen, updates, caches), Bad(c, cur, vpage, got, written, source)
        if cpus is state[0] and caches is state[4]:
            return state, None
        return (cpus, tables, tlb_gen, updates, caches), None

    def _update(self, state: State, choice: Choice, counts: list[int]) -> tuple[State, Bad | None]:
        """Under the lock: remap the slot in the object's first MM and shoot down (the other
        MMs follow as FINISH steps).  Without it: only begin, copying the version the
        updater's MM maps (FINISH maps it)."""
        L = self.layout
        _, c, o, _ = choice
        cpus, tables, tlb_gen, (versions, pending), caches = state
        cur = cpus[c][0]
        maps = L.obj_maps[o]
        if not maps:
            # No slot maps it (a fixed slot shows another object of its kind): only the data changes.
            versions = versions[:o] + (versions[o] + 1,) + versions[o + 1:]
            return (cpus, tables, tlb_gen, (versions, pending), caches), None
        m = L.task_mm[cur]
        base = versions[o]  # the version the updater's MM maps (if it maps the object at all)
        for mm, v in maps:
            if mm == m:
                base = tables[L.table(m, c)][v] - o * L.stride
                break
        if not self.safe:
            pending = pending[:cur] + ((o, base, 0),) + pending[cur + 1:]
            return (cpus, tables, tlb_gen, (versions, pending), caches), None
        return self._install(state, c, cur, o, base, 0, counts)

    def _finish(self, state: State, choice: Choice, counts: list[int]) -> tuple[State, Bad | None]:
        """Map the copy of a pending update into the object's next MM."""
        c = choice[1]
        cur = state[0][c][0]
        o, base, k = state[3][1][cur]
        return self._install(state, c, cur, o, base, k, counts)

    def _install(self, state: State, c: int, cur: int, o: int, base: int, k: int,
                 counts: list[int]) -> tuple[State, Bad | None]:
        """Map version base + 1 of object `o` into the k-th MM that has a slot for it, and
        flush: the local TLB always, the other CPUs of the cpumask (not lazy) only when
        SMP-safe.  If that MM no longer maps version `base`, this overwrites an update it
        never saw: a lost update."""
        L = self.layout
        maps = L.obj_maps[o]
        m, vpage = maps[k]
        copied = o * L.stride + base  # the page of version `base`
        cpus, tables, tlb_gen, (versions, pending), caches = state
        if versions[o] <= base:
            versions = versions[:o] + (base + 1,) + versions[o + 1:]
        mine = (o, base, k + 1) if k + 1 < len(maps) else None
        if pending[cur] != mine:
            pending = pending[:cur] + (mine,) + pending[cur + 1:]
        rows = list(tables)
        old = rows[L.table(m, c)][vpage]
        first = L.table(m, 0)
        for t in range(first, first + L.copies):  # every CPU's copy under per-CPU page tables
            rows[t] = rows[t][:vpage] + (copied + 1,) + rows[t][vpage + 1:]
        context = None
        if self.safe:
            tlb_gen = tlb_gen[:m] + (tlb_gen[m] + 1,) + tlb_gen[m + 1:]
            context = (m, tlb_gen[m])
        cpus, ipis, flushes = T.shoot_down(cpus, c, m, vpage, context, L.user)
        counts[IPI] += ipis
        counts[PFLUSH] += flushes
        nxt = (cpus, tuple(rows), tlb_gen, (versions, pending), caches)
        if lost_update(old, copied):
            return nxt, Bad(c, cur, vpage, old, copied, "lost")
        return nxt, None

    def _write(self, state: State, choice: Choice, counts: list[int]) -> tuple[State, None]:
        """Write the data of a cached page in place: a dirty line under this MM's key."""
        L = self.layout
        _, c, p, _ = choice
        cpus, tables, tlb_gen, updates, caches = state
        written, memory, lines = caches[p]
        key = L.cache_key(p, L.task_mm[cpus[c][0]])
        kept = [line for line in lines if line[0] != key]
        insort(kept, (key, written + 1, 1))  # `lines` is sorted: inserting here keeps it so
        caches = caches[:p] + ((written + 1, memory, tuple(kept)),) + caches[p + 1:]
        return (cpus, tables, tlb_gen, updates, caches), None

    def _evict(self, state: State, choice: Choice, counts: list[int]) -> tuple[State, None]:
        """The cache writes one line back (if dirty) and drops it."""
        _, _, p, key = choice
        cpus, tables, tlb_gen, updates, caches = state
        written, memory, lines = caches[p]
        for k, version, dirty in lines:
            if k == key and dirty:
                memory = version
        caches = caches[:p] + ((written, memory, tuple([line for line in lines if line[0] != key])),) + caches[p + 1:]
        return (cpus, tables, tlb_gen, updates, caches), None
