"""The SMP machine as a state transition system: CPUs with TLBs, one page table per MM, and a
UKVA design on top.

In the manner of MOSAIC: `Setup.enabled` lists what may happen in a state and `Setup.next`
gives the state after one of them; whoever decides (explore.py's breadth-first checker, the
SMPStepper widget through machine.py's `Machine`, `random_run`) is separate from the model.

1. Tasks.  The machine runs tasks of a `Kernel` (kernel.py, task.py).  Which page table a task uses is
   decided by its `mm`: tasks made with CLONE_VM share one MM and so one page table, a forked
   task gets its own (FACTS.md §3).  Kernel threads have no MM.  Each CPU also has an idle task.
2. CPUs and TLBs.  Each CPU has a current task, a loaded MM (its CR3) and a TLB of bounded size
   (tlb.py).  Without PCID entries are untagged and a CR3 write drops them all; with PCID each
   CPU keeps 6 ASID slots, reused by MM and flushed only when stale (FACTS.md §6).
3. switch_mm.  Switching to a task of the loaded MM skips the CR3 write, as x86
   switch_mm_irqs_off does; a kernel thread or the idle task keeps the previous MM loaded
   (lazy TLB).  A CPU is in an MM's cpumask while it has that MM loaded.
4. The UKVA.  A kernel area at a fixed address (layout.py).  What it shows is the `design`
   (the three places Linus Torvalds weighed in his reply to Martin Bligh, 16 Aug 2002,
   <Pine.LNX.4.44.0208162134440.2497-100000@home.transmeta.com>; FACTS.md §1):
   - "per-task": the running task's page.  With hardware fill the switch rewrites the UKVA
     entry of the task's page table, which the MM's other tasks share; with software fill the
     switch drops the CPU's UKVA entry and the refill handler loads the current task's page.
   - "per-cpu": this CPU's page; hardware fill rewrites the shared entry likewise, software
     refill loads the CPU's own page.
   - "per-mm": one page per slot, never rewritten on a switch.  Each files table and sighand
     table a task of the MM uses has its own slot (`slots="dynamic"`), or every object of a
     kind shares one fixed slot that maps the first one (`slots="fixed"`).
5. Fills.  A TLB miss under `fill="hardware"` walks the loaded MM's page table, as x86 does;
   under `fill="software"` it traps to a handler that loads the current task's (per-task) or
   this CPU's (per-cpu) page, or walks the page table (per-mm), as MIPS's generated handlers
   or sparc64's TSB miss trap may (FACTS.md §6).
6. Updates (per-mm).  "update slot files#2" remaps the slot to a fresh page, as growing a
   file table would.  `smp_safe=True` takes the MM's lock, bumps its tlb_gen, flushes the
   local entry and sends a shootdown IPI to every other CPU in the cpumask that is not lazy;
   lazy or switched-away CPUs catch up on tlb_gen when they load the MM again
   (flush_tlb_mm_range, FACTS.md §6).  `smp_safe=False` writes the entry and flushes only the
   local TLB, which is all a uniprocessor needs.  An update is one step: the model has no lost
   updates, only stale translations.
7. The shared page (`shared_page=True`, per-mm only): one physical page mapped into the UKVA
   of every MM in the machine, each MM at the address its own slot allocator gives it.
   Reads and writes of it go through a write-back data cache indexed by the virtual address
   (`cache="virtual"`) or the physical one (`cache="physical"`); a virtually indexed cache
   holds one physical page in as many lines as it has mappings of different colour, which is
   why Linux needs flush_dcache_page there and not on physically indexed IA32
   (Documentation/core-api/cachetlb.rst, FACTS.md §7).  The cache is one for the
   machine, as if the CPUs shared it or kept it coherent by physical address.  Only the
   shared page goes through the cache: every other page has one mapping, so it cannot alias.
8. The invariant.  A read of the UKVA by a task must return its own page (per-task), its CPU's
   page (per-cpu), the current version of each of its own objects' slots (per-mm), and the
   last value written to the shared page.  The first read that does not is a `Violation`, and
   the machine stops there.

Counters (TLB misses, page walks or refill traps, page and full flushes, CR3 writes, IPIs)
are kept by the Machine along its history and are not part of the state the explorer hashes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from . import tlb as T
from .options import DESIGNS, Options

if TYPE_CHECKING:
    from .task import Task

SLOT_KINDS = ("files", "sighand")
N_PCID_ASIDS = 6  # TLB_NR_DYN_ASIDS on x86 (FACTS.md §6)

# Choice kinds and the counters' positions, as small ints for the explorer's hot loop.
SWITCH, READ, UPDATE, WRITE, EVICT = range(5)
MISS, WALK, REFILL, PFLUSH, FFLUSH, CR3, IPI = range(7)
PER_TASK, PER_CPU, PER_MM = range(3)
SHARED_KEY_PHYSICAL = -1  # the cache key of the shared page under a physically indexed cache


class Setup:
    """What never changes while the machine runs: the tasks, the MMs, the slots, the options;
    and the transition function over states (plain tuples, hashable)."""

    def __init__(self, tasks: list[Task], opts: Options) -> None:
        self.tasks = list(tasks)
        self.opts = opts
        self.ncpu = opts.cpus
        self.design = DESIGNS.index(opts.design)
        self.hardware = opts.fill == "hardware"
        self.n_asids = N_PCID_ASIDS if opts.pcid else 1
        self.tlb_size = opts.tlb_size
        self.stride = opts.updates + 1
        self.mms: list[Any] = []
        self.objects: list[Any] = []
        for t in self.tasks:
            if t.mm is not None and all(t.mm is not m for m in self.mms):
                self.mms.append(t.mm)
        self.task_mm = tuple(-1 if t.mm is None else self._index(self.mms, t.mm) for t in self.tasks)
        self.user = tuple(m >= 0 for m in self.task_mm)
        # Slots: per MM, the object each UKVA page maps (per-mm), or one page (per-task/per-cpu).
        self.mm_slots: list[tuple[int, ...]] = []
        self.task_reads: list[tuple[tuple[int, int], ...]] = [()] * len(self.tasks)
        for m, mm in enumerate(self.mms):
            users = [i for i, t in enumerate(self.tasks) if self.task_mm[i] == m]
            if self.design != PER_MM:
                self.mm_slots.append((-1,))
                for i in users:
                    self.task_reads[i] = ((0, -1),)
                continue
            slots: list[int] = []
            for kind in SLOT_KINDS:
                for i in users:
                    o = self._object(kind, getattr(self.tasks[i], kind))
                    if o not in slots and (opts.slots == "dynamic" or not any(
                            self.objects[s][0] == kind for s in slots)):
                        slots.append(o)
            self.mm_slots.append(tuple(slots))
            for i in users:
                reads = []
                for kind in SLOT_KINDS:
                    o = self._object(kind, getattr(self.tasks[i], kind))
                    vpage = slots.index(o) if o in slots else next(
                        v for v, s in enumerate(slots) if self.objects[s][0] == kind)
                    reads.append((vpage, o))
                self.task_reads[i] = tuple(reads)
        # PCID with no more MMs than ASIDs: one slot per MM, never recycled (tlb.switch_mm).
        self.static_asids = opts.pcid and len(self.mms) <= N_PCID_ASIDS
        if self.static_asids:
            self.n_asids = max(len(self.mms), 2)  # two at least: one slot would mean "no PCID"
        self.obj_maps = tuple(tuple((m, v) for m, slots in enumerate(self.mm_slots)
                                    for v, s in enumerate(slots) if s == o)
                              for o in range(len(self.objects)))
        # The shared page sits after each MM's slots, where that MM's allocator put it
        # (each MM allocates on its own, so the addresses differ: slot count + MM index).
        self.shared_vpage = tuple(len(s) + m for m, s in enumerate(self.mm_slots))
        self.shared = opts.shared_page
        self.virtual_cache = opts.cache == "virtual"
        self._enabled: dict[tuple, list] = {}
        # Indexed by choice kind (SWITCH, READ, ...); each takes (state, cpu, arg, counts).
        self.handlers = (self._switch, self._read, self._update, self._write, self._evict)
        # Designs whose switch rewrites nothing when the MM stays: per-mm, software per-cpu.
        self.plain_switch = self.design == PER_MM or (self.design == PER_CPU and not self.hardware)
        self.symmetric = self.design != PER_CPU
        # Per task, the first task it is interchangeable with (Setup.enabled with search):
        # under per-mm, same MM and same slots; under the other designs pages name tasks.
        signature = [(self.task_mm[i], self.task_reads[i]) if self.design == PER_MM else i
                     for i in range(len(self.tasks))]
        self.twin = tuple(signature.index(sig) for sig in signature)
        self.prune = self.design == PER_MM and opts.smp_safe  # only then does tlb_gen move

    @staticmethod
    def _index(items: list[Any], obj: Any) -> int:
        return next(i for i, x in enumerate(items) if x is obj)

    def _object(self, kind: str, obj: Any) -> int:
        for i, (k, o) in enumerate(self.objects):
            if k == kind and o is obj:
                return i
        self.objects.append((kind, obj))
        return len(self.objects) - 1

    # -- states ---------------------------------------------------------------------------
    def initial(self) -> tuple:
        """All CPUs idle with no MM loaded and empty TLBs; every slot maps version 0.

        A state is the tuple (cpus, ptes, mm_gen, obj_gen, shared): the CPUs (tlb.py); per MM
        its UKVA page-table entries (a page number per UKVA page); per MM its tlb_gen; per
        slot object its version; the shared page as (last written, in memory, cache lines
        (key, version, dirty))."""
        cpu = (-1, -1, 0, 0, ((-1, 0),) * self.n_asids, ())
        ptes = tuple(tuple(-1 if o < 0 else o * self.stride for o in slots) for slots in self.mm_slots)
        return ((cpu,) * self.ncpu, ptes, (0,) * len(self.mms), (0,) * len(self.objects), (0, 0, ()))

    def enabled(self, state: tuple, search: bool = False) -> list[tuple[tuple[int, int, int], Callable, int, int]]:
        """The raw choices enabled in `state`: (code, handler, cpu, arg), the code being
        (kind, cpu, arg).  They depend only on who runs where, the objects' versions and the
        cache, so they are memoised on those.

        With `search` (the explorer), a CPU is offered only one of several interchangeable
        tasks that are not running: under per-mm, tasks of one MM that read the same slots
        differ in nothing but their pid, and a task that is not running appears nowhere in
        the state, so switching to one or to its twin leads to states that differ only by
        a renaming of tasks, with the same futures.  The stepper still offers every task."""
        cpus, _, _, obj_gen, shared = state
        key = (tuple([cpu[0] for cpu in cpus]), obj_gen, shared[0], shared[2], search)
        out = self._enabled.get(key)
        if out is None:
            codes = self._compute_enabled(key[0], obj_gen, shared, search)
            out = self._enabled[key] = [(code, self.handlers[code[0]], code[1], code[2]) for code in codes]
        return out

    def _compute_enabled(self, running: tuple[int, ...], obj_gen: tuple[int, ...],
                         shared: tuple, search: bool) -> list[tuple[int, int, int]]:
        out: list[tuple[int, int, int]] = []
        limit = self.stride - 1
        waiting = [n for n in range(len(self.tasks)) if n not in running]
        if search:
            waiting = sorted({self.twin[n]: n for n in reversed(waiting)}.values())
        # An SMP-safe update leaves the same state whichever CPU makes it (every CPU running
        # the MM ends flushed and current), and a write depends only on the cache line it
        # goes to; the search takes each once.
        done: set[tuple[int, int]] = set()
        for c, cur in enumerate(running):
            out += [(SWITCH, c, n) for n in waiting]
            if cur < 0:
                continue
            out.append((SWITCH, c, -1))
            if not self.user[cur]:
                continue
            out.append((READ, c, 0))
            if self.design == PER_MM:
                for o in dict.fromkeys(o for _, o in self.task_reads[cur]):
                    if obj_gen[o] < limit and (UPDATE, o) not in done:
                        out.append((UPDATE, c, o))
                        if search and self.opts.smp_safe:
                            done.add((UPDATE, o))
                line = self.shared_vpage[self.task_mm[cur]] if self.virtual_cache else SHARED_KEY_PHYSICAL
                if self.shared and shared[0] < limit and (WRITE, line) not in done:
                    out.append((WRITE, c, 0))
                    if search:
                        done.add((WRITE, line))
        out += [(EVICT, -1, key) for key, _, _ in shared[2]]
        return out

    def key(self, state: tuple) -> tuple:
        """The state as the explorer's visited set sees it, with two reductions that keep
        every future the same:
        - symmetry: under per-task and per-mm nothing depends on a CPU's number, so the CPUs
          are sorted (per-cpu pages name their CPU, so there they are not);
        - stale ASIDs: entries under an ASID whose tlb_gen is behind its MM's will be flushed
          before anyone reads them (switch_mm checks tlb_gen), so they are left out."""
        cpus = state[0]
        if self.has_stale(state):
            cpus = [self._prune(cpu, state[2]) for cpu in cpus]
        if self.symmetric:
            cpus = sorted(cpus)
        return (tuple(cpus), state[1], state[2], state[3], state[4])

    def has_stale(self, state: tuple) -> bool:
        """Whether some CPU holds an ASID whose tlb_gen is behind its MM's.  Only an SMP-safe
        update makes one (it skips lazy and switched-away CPUs); every other step keeps or
        clears them, which lets the explorer skip this test after those steps."""
        if not self.prune:
            return False
        mm_gen = state[2]
        for cpu in state[0]:
            for ctx, gen in cpu[4]:
                if ctx >= 0 and gen < mm_gen[ctx]:
                    return True
        return False

    @staticmethod
    def _prune(cpu: tuple, mm_gen: tuple[int, ...]) -> tuple:
        asids = cpu[4]
        stale = [i for i, (ctx, gen) in enumerate(asids) if ctx >= 0 and gen < mm_gen[ctx]]
        if not stale:
            return cpu
        asids = tuple((ctx, -1) if i in stale else (ctx, gen) for i, (ctx, gen) in enumerate(asids))
        return cpu[:4] + (asids, tuple(e for e in cpu[5] if e[0] not in stale))

    def next(self, state: tuple, ch: tuple[int, int, int], counts: list[int]) -> tuple[tuple, tuple | None]:
        """The state after choice `ch`, and the raw violation it caused (or None).
        `counts` (indexed by MISS, WALK, ...) is incremented in place."""
        return self.handlers[ch[0]](state, ch[1], ch[2], counts)

    def _switch(self, state: tuple, c: int, n: int, counts: list[int]) -> tuple[tuple, None]:
        cpus = state[0]
        cpu = cpus[c]
        if n < 0 or not self.user[n]:
            # Lazy TLB: the idle task and kernel threads keep the previous MM loaded.
            return (cpus[:c] + ((n,) + cpu[1:],) + cpus[c + 1:],) + state[1:], None
        m = self.task_mm[n]
        if self.plain_switch and cpu[1] == m and cpu[4][cpu[2]][1] >= state[2][m]:
            # The hot path: same MM, tlb_gen current, nothing the design rewrites.
            return (cpus[:c] + ((n,) + cpu[1:],) + cpus[c + 1:],) + state[1:], None
        _, ptes, mm_gen, obj_gen, shared = state
        cpu, cr3, full = T.switch_mm(cpu, m, mm_gen[m], self.n_asids, self.static_asids)
        counts[CR3] += cr3
        counts[FFLUSH] += full
        cur, loaded, asid, rr, asids, tlb = cpu
        if self.design != PER_MM:
            if self.hardware:
                # The switch points the MM's one UKVA entry at the new task's (or CPU's) page.
                page = n if self.design == PER_TASK else c
                if ptes[m][0] != page:
                    ptes = ptes[:m] + ((page,),) + ptes[m + 1:]
                drop = self.opts.flush_on_same_mm_switch
            else:
                # Software refill: per-task drops the CPU's entry so the handler reloads it.
                drop = self.design == PER_TASK
            if drop and not full:
                tlb = T.flush_page(tlb, asid, 0)
                counts[PFLUSH] += 1
        cpus = cpus[:c] + ((n, loaded, asid, rr, asids, tlb),) + cpus[c + 1:]
        return (cpus, ptes, mm_gen, obj_gen, shared), None

    def _read(self, state: tuple, c: int, _: int, counts: list[int]) -> tuple[tuple, tuple | None]:
        """A read that hits and is right changes nothing: it returns `state` itself, which
        tells the explorer it has seen the result without hashing it."""
        cpus, ptes, mm_gen, obj_gen, shared = state
        cpu = cpus[c]
        cur, loaded, asid, rr, asids, tlb = cpu
        m = self.task_mm[cur]
        bad = None
        for vpage, o in self.task_reads[cur]:
            page = T.lookup(tlb, asid, vpage)
            source = "tlb"
            if page < 0:
                counts[MISS] += 1
                if self.hardware or self.design == PER_MM:
                    counts[WALK if self.hardware else REFILL] += 1
                    page = ptes[m][vpage]
                    source = "walk" if self.hardware else "refill"
                else:
                    counts[REFILL] += 1
                    page = cur if self.design == PER_TASK else c
                    source = "refill"
                tlb = T.fill(tlb, asid, vpage, page, self.tlb_size)
            if self.design == PER_TASK:
                want = cur
            elif self.design == PER_CPU:
                want = c
            else:
                want = o * self.stride + obj_gen[o]
            if page != want:
                bad = (vpage, page, want, source)
                break
        if tlb is not cpu[5]:
            cpus = cpus[:c] + ((cur, loaded, asid, rr, asids, tlb),) + cpus[c + 1:]
        if bad is None and self.shared:
            truth, memory, lines = shared
            key = self.shared_vpage[m] if self.virtual_cache else SHARED_KEY_PHYSICAL
            got = next((g for k, g, _ in lines if k == key), -1)
            source = "cache"
            if got < 0:
                got, source = memory, "memory"
                lines = tuple(sorted(lines + ((key, memory, 0),)))
                shared = (truth, memory, lines)
            if got != truth:
                bad = (self.shared_vpage[m], got, truth, source)
        if bad is None:
            if cpus is state[0] and shared is state[4]:
                return state, None
            return (cpus, ptes, mm_gen, obj_gen, shared), None
        return (cpus, ptes, mm_gen, obj_gen, shared), (c, cur) + bad

    def _update(self, state: tuple, c: int, o: int, counts: list[int]) -> tuple[tuple, None]:
        cpus, ptes, mm_gen, obj_gen, shared = state
        gen = obj_gen[o] + 1
        obj_gen = obj_gen[:o] + (gen,) + obj_gen[o + 1:]
        page = o * self.stride + gen
        safe, user = self.opts.smp_safe, self.user
        cpus = list(cpus)
        for m, vpage in self.obj_maps[o]:
            row = ptes[m]
            ptes = ptes[:m] + (row[:vpage] + (page,) + row[vpage + 1:],) + ptes[m + 1:]
            if safe:
                now = mm_gen[m] + 1
                mm_gen = mm_gen[:m] + (now,) + mm_gen[m + 1:]
            for x, cpu in enumerate(cpus):
                if cpu[1] != m:
                    continue  # not in the cpumask
                cur, loaded, asid, rr, asids, tlb = cpu
                if x != c:
                    if not safe or cur < 0 or not user[cur]:
                        continue  # no shootdown; or lazy: skipped, catches up at its next switch_mm
                    counts[IPI] += 1
                counts[PFLUSH] += 1
                if safe:
                    asids = asids[:asid] + ((m, now),) + asids[asid + 1:]
                cpus[x] = (cur, loaded, asid, rr, asids, T.flush_page(tlb, asid, vpage))
        return (tuple(cpus), ptes, mm_gen, obj_gen, shared), None

    def _write(self, state: tuple, c: int, _: int, counts: list[int]) -> tuple[tuple, None]:
        cpus, ptes, mm_gen, obj_gen, (truth, memory, lines) = state
        m = self.task_mm[cpus[c][0]]
        key = self.shared_vpage[m] if self.virtual_cache else SHARED_KEY_PHYSICAL
        truth += 1
        lines = tuple(sorted(tuple(line for line in lines if line[0] != key) + ((key, truth, 1),)))
        return (cpus, ptes, mm_gen, obj_gen, (truth, memory, lines)), None

    def _evict(self, state: tuple, _: int, key: int, counts: list[int]) -> tuple[tuple, None]:
        cpus, ptes, mm_gen, obj_gen, (truth, memory, lines) = state
        for k, gen, dirty in lines:
            if k == key and dirty:
                memory = gen
        lines = tuple(line for line in lines if line[0] != key)
        return (cpus, ptes, mm_gen, obj_gen, (truth, memory, lines)), None
