"""The SMP machine as a state transition system: CPUs with TLBs, page tables per MM, and a
UKVA design on top.

In the manner of MOSAIC: `Setup.enabled` lists what may happen in a state and `Setup.next`
gives the state after one of them; whoever decides (explore.py's breadth-first checker, the
SMPStepper widget through machine.py's `Machine`, `random_run`) is separate from the model.

1. Tasks.  The machine runs tasks of a `Kernel` (kernel.py, task.py).  Which page table a task uses is
   decided by its `mm`: tasks made with CLONE_VM share one MM and so one page table, a forked
   task gets its own (notebooks/sources.ipynb §3).  Kernel threads have no MM.  Each CPU also has an idle task.
2. CPUs and TLBs.  Each CPU has a current task, a loaded MM (its CR3) and a TLB of bounded size
   (tlb.py).  Without PCID entries are untagged and a CR3 write drops them all; with PCID each
   CPU keeps 6 ASID slots, reused by MM and flushed only when stale (notebooks/sources.ipynb §6).
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
5. The UKVA.  A kernel area at a fixed address (layout.py).  What it shows is the `design`
   (the three places Linus Torvalds weighed in his reply to Martin Bligh, 16 Aug 2002,
   <Pine.LNX.4.44.0208162134440.2497-100000@home.transmeta.com>; notebooks/sources.ipynb §1):
   - "per-task": the running task's page.  With hardware fill the switch rewrites the UKVA
     entry of the task's page table (this CPU's copy under per-CPU page tables), which the MM's
     other tasks share; with software fill the switch drops the CPU's UKVA entry and the
     refill handler loads the current task's page.
   - "per-cpu": this CPU's page; hardware fill rewrites the entry likewise, software refill
     loads the CPU's own page.
   - "per-mm": one page per slot, never rewritten on a switch.  Each files table and sighand
     table a task of the MM uses has its own slot (`slots="dynamic"`), or every object of a
     kind shares one fixed slot that maps the first one (`slots="fixed"`).  A read targets one
     slot (the task's files table or its sighand table, or the shared page), so no verdict
     depends on the order in which a read would look slots up.
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
   each MM puts such a page is `shared_placement`: "per-mm allocator" takes each MM's first
   free slot, so the colours differ whenever the MMs' layouts do; "same colour" puts every
   mapping of a page at a slot of one colour, as SHMLBA alignment does, and no alias can form.
   The cache is one for the machine, as if the CPUs shared it or kept it coherent by physical
   address; a page with one mapping cannot alias and does not go through it.  A remap copies
   the data coherently (the kernel flushes the old mapping first); the data's version is kept
   per page across remaps.
9. The invariant.  A read of the UKVA by a task must return its own page (per-task), its CPU's
   page (per-cpu), the current version of its own object in that slot (per-mm), and the last
   data written to a page mapped in several MMs; and no update may overwrite a version it did
   not start from.  The first step that breaks this is a `Violation`, and the machine stops.

Counters (TLB misses, page walks or refill traps, page and full flushes, CR3 writes, IPIs)
are kept by the Machine along its history and are not part of the state the explorer hashes.
"""

from __future__ import annotations

import copy
import math
from bisect import bisect_left, insort
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import tlb as T
from .options import DESIGNS, Options

if TYPE_CHECKING:
    from .task import Task

SLOT_KINDS = ("files", "sighand")
N_PCID_ASIDS = 6  # TLB_NR_DYN_ASIDS on x86 (notebooks/sources.ipynb §6)
COLOURS = 4       # page colours of the virtually indexed cache: ARM's SHMLBA is 4 pages (notebooks/sources.ipynb §7)

# Choice kinds and the counters' positions, as small ints for the explorer's hot loop.
SWITCH, READ, UPDATE, WRITE, EVICT, FINISH = range(6)
MISS, WALK, REFILL, PFLUSH, FFLUSH, CR3, IPI = range(7)
PER_TASK, PER_CPU, PER_MM = range(3)
SHARED_KEY_PHYSICAL = -1  # the cache key of a page under a physically indexed cache
HOLE = -2                 # a UKVA page no slot uses (left free by "same colour" placement)
SHARED = -1               # in `cached`: the shared page (otherwise an object index)


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
        self.safe = opts.smp_safe
        self.mms: list[Any] = []
        self.objects: list[Any] = []
        for t in self.tasks:
            if t.mm is not None and all(t.mm is not m for m in self.mms):
                self.mms.append(t.mm)
        nmm = len(self.mms)
        self.task_mm = tuple(-1 if t.mm is None else self._index(self.mms, t.mm) for t in self.tasks)
        self.user = tuple(m >= 0 for m in self.task_mm)
        # Page tables: one per MM, or one per MM and CPU (row m * ncpu + c).
        self.per_cpu_tables = opts.page_tables == "per-cpu"
        self.copies = self.ncpu if self.per_cpu_tables else 1
        # Per MM, the objects it needs a slot for, in allocation order (per-mm only).
        needs: list[list[int]] = []
        for m in range(nmm):
            users = [i for i, t in enumerate(self.tasks) if self.task_mm[i] == m]
            objs: list[int] = []
            if self.design == PER_MM:
                for kind in SLOT_KINDS:
                    for i in users:
                        o = self._object(kind, getattr(self.tasks[i], kind))
                        if o not in objs and (opts.slots == "dynamic" or not any(
                                self.objects[s][0] == kind for s in objs)):
                            objs.append(o)
            needs.append(objs)
        # Pages mapped in several MMs go through the cache: objects first, then the shared page.
        self.cached: tuple[int, ...] = tuple(o for o in range(len(self.objects))
                                             if sum(o in objs for objs in needs) > 1)
        if opts.shared_page:
            self.cached += (SHARED,)
        self.obj_cache = tuple(self.cached.index(o) if o in self.cached else -1 for o in range(len(self.objects)))
        self.shared = opts.shared_page
        self.shared_index = len(self.cached) - 1 if opts.shared_page else -1
        self.virtual_cache = opts.cache == "virtual"
        self.same_colour = opts.shared_placement == "same colour"
        # Placement: per MM, what each UKVA page holds; and per cached page its page in each MM.
        self.mm_slots: list[tuple[int, ...]] = []
        self.cached_vpage: list[list[int]] = [[-1] * nmm for _ in self.cached]
        for m in range(nmm):
            if self.design != PER_MM:
                self.mm_slots.append((-1,))
                continue
            row: list[int] = []
            wanted = [p for p, o in enumerate(self.cached) if o == SHARED or o in needs[m]]
            for o in needs[m]:
                if self.same_colour and self.obj_cache[o] >= 0:
                    continue
                row.append(o)
            for p in wanted:
                o = self.cached[p]
                if self.same_colour:
                    v = next(v for v in range(len(row), len(row) + COLOURS) if v % COLOURS == p % COLOURS)
                    v = min([h for h, x in enumerate(row) if x == HOLE and h % COLOURS == p % COLOURS] + [v])
                    row += [HOLE] * (v + 1 - len(row))
                else:
                    v = row.index(o) if o in row else len(row)
                    if v == len(row):
                        row.append(HOLE)
                if o != SHARED:
                    row[v] = o
                self.cached_vpage[p][m] = v
            # The shared page is not a slot (never remapped): a HOLE in the slot row, trimmed at the end.
            while row and row[-1] == HOLE:
                row.pop()
            self.mm_slots.append(tuple(row))
        self.shared_vpage = tuple(self.cached_vpage[self.shared_index]) if self.shared else ()
        # Per task, the slots it reads: (vpage, the object it expects there).
        self.task_reads: list[tuple[tuple[int, int], ...]] = [()] * len(self.tasks)
        for i, m in enumerate(self.task_mm):
            if m < 0:
                continue
            if self.design != PER_MM:
                self.task_reads[i] = ((0, -1),)
                continue
            slots = self.mm_slots[m]
            reads = []
            for kind in SLOT_KINDS:
                o = self._object(kind, getattr(self.tasks[i], kind))
                vpage = slots.index(o) if o in slots else next(
                    v for v, s in enumerate(slots) if s >= 0 and self.objects[s][0] == kind)
                reads.append((vpage, o))
            self.task_reads[i] = tuple(reads)
        # The UKVA pages a task can read (one choice each) and the cached pages it may write.
        self.read_pages = tuple(tuple(dict.fromkeys([v for v, _ in reads] + (
            [self.shared_vpage[m]] if self.shared and m >= 0 and self.design == PER_MM else [])))
            for reads, m in zip(self.task_reads, self.task_mm))
        # Per task, the slot objects it may update (per-mm: the tables it reads), in order.
        self.update_objects = tuple(tuple(dict.fromkeys(o for _, o in reads)) if self.design == PER_MM else ()
                                    for reads in self.task_reads)
        self.task_writes = tuple(tuple(p for p, o in enumerate(self.cached)
                                       if m >= 0 and (o == SHARED or any(o == x for _, x in reads)))
                                 for reads, m in zip(self.task_reads, self.task_mm))
        # Per MM and UKVA page, the cached page it maps (or -1).
        self.vpage_cached = tuple({v: p for p, maps in enumerate(self.cached_vpage) if maps[m] >= 0
                                   for v in [maps[m]]} for m in range(nmm))
        # Per task and UKVA page it reads: (the object it expects there or None for the shared
        # page, the cached page there or -1, that page's cache line through this MM).
        self.read_info = tuple({v: (next((x for w, x in reads if w == v), None),
                                    self.vpage_cached[m].get(v, -1) if m >= 0 else -1,
                                    self.cache_key(self.vpage_cached[m][v], m)
                                    if m >= 0 and v in self.vpage_cached[m] else 0)
                                for v in pages}
                               for reads, pages, m in zip(self.task_reads, self.read_pages, self.task_mm))
        # PCID with no more MMs than ASIDs: one slot per MM, never recycled (tlb.switch_mm).
        self.static_asids = opts.pcid and nmm <= N_PCID_ASIDS
        if self.static_asids:
            self.n_asids = max(nmm, 2)  # two at least: one slot would mean "no PCID"
        self.obj_maps = tuple(tuple((m, v) for m, slots in enumerate(self.mm_slots)
                                    for v, s in enumerate(slots) if s == o)
                              for o in range(len(self.objects)))
        self._enabled: dict[tuple, list] = {}
        # Indexed by choice kind (SWITCH, READ, ...); each takes (state, cpu, arg, counts).
        self.handlers = (self._switch, self._read, self._update, self._write, self._evict, self._finish)
        # Designs whose switch rewrites nothing when the MM stays: per-mm, software per-cpu.
        self.plain_switch = self.design == PER_MM or (self.design == PER_CPU and not self.hardware)
        # CPU numbers matter under per-cpu (pages name CPUs) and where a switch rewrites one
        # CPU's copy of a page table; otherwise the CPUs may be sorted.
        self.symmetric = self.design != PER_CPU and not (self.per_cpu_tables and self.design != PER_MM)
        self.prune = self.design == PER_MM and opts.smp_safe  # only then does tlb_gen move
        self._symmetries()

    def _symmetries(self) -> None:
        """The search's reductions that depend on what tasks may do: twins and renamings."""
        # Per task, the first task it is interchangeable with (Setup.enabled with search):
        # under per-mm, same MM and same slots; under the other designs pages name tasks.
        signature = [(self.task_mm[i], self.task_reads[i]) if self.design == PER_MM else i
                     for i in range(len(self.tasks))]
        self.twin = tuple(signature.index(sig) for sig in signature)
        # Under per-mm a running task can be renamed to its first twin too (key): then the
        # state names no task but through its class, and its update in progress rides on its CPU.
        self.rename = self.design == PER_MM and any(t != i for i, t in enumerate(self.twin))
        # Symmetry up to renaming (per-mm): permutations of tasks that carry each task's
        # private objects and slots along and leave the machine the same (`_automorphisms`).
        # When one renames objects, `key` takes the least image of the state under all of
        # them, which subsumes the twins' renaming.
        self.perms = self._automorphisms() if self.design == PER_MM else []
        if self.perms:
            self.rename = False
        # The orbits of the tasks under the renamings; when the renamings are every
        # permutation of each orbit, `key` finds the sorting one by its inverse.
        orbits = {tuple(sorted({g[0][i] for g in self.perms})) for i in range(len(self.tasks))}
        self.orbits = [list(o) for o in sorted(orbits) if len(o) > 1]
        full = self.perms and len(self.perms) == math.prod(math.factorial(len(o)) for o in self.orbits)
        self.by_inverse = {g[4]: g for g in self.perms} if full else {}

    # -- slot by slot (per-mm) --------------------------------------------------------------
    def pages_per_mm(self) -> int:
        """The UKVA pages of the MM that has most: slots and the shared page."""
        return max([len(s) for s in self.mm_slots] + [v + 1 for v in self.shared_vpage] + [0])

    def can_evict(self) -> bool:
        """Whether a fill can find its TLB full (and so evict an entry)."""
        return self.tlb_size < self.n_asids * self.pages_per_mm()

    def derived(self, **changes: Any) -> Setup:
        """A copy of this Setup with some attributes changed: its own memo of enabled choices,
        and handlers bound to the copy (a plain copy would keep the original's bound methods,
        which read the original's attributes)."""
        out = copy.copy(self)
        out.__dict__.update(changes)
        out._enabled = {}
        out.handlers = (out._switch, out._read, out._update, out._write, out._evict, out._finish)
        return out

    def unbounded(self) -> Setup:
        """This machine with TLBs large enough never to evict (everything else the same)."""
        if not self.can_evict():
            return self
        big = self.derived(tlb_size=self.n_asids * self.pages_per_mm())
        big._symmetries()
        return big

    def parts(self) -> list[tuple[str, Setup, int]] | None:
        """Under per-mm, the machine cut into independent parts: one per group of slot
        objects, UKVA pages and cached pages that reads, maps and the cache tie together
        (with dynamic slots, one per files or sighand table, and one for the shared page),
        each a Setup in which tasks take only that part's reads, updates and writes, with TLBs
        that never evict; one part per class of parts that a renaming of the machine maps
        onto each other.  Returns [(label, setup, parts it stands for)], or None where there
        is nothing to cut (other designs, or one part).  `explore` says why this is sound."""
        if self.design != PER_MM:
            return None
        base = self.unbounded()
        parent: dict[tuple, tuple] = {}

        def find(x: tuple) -> tuple:
            while parent.setdefault(x, x) != x:
                x = parent[x]
            return x

        def join(a: tuple, b: tuple) -> None:
            parent[find(a)] = find(b)

        for o, maps in enumerate(self.obj_maps):
            find(("o", o))
            for m, v in maps:
                join(("o", o), ("v", m, v))
        for i, _reads in enumerate(self.task_reads):
            m = self.task_mm[i]
            for v in self.read_pages[i]:
                o, p, _ = self.read_info[i][v]
                if o is not None:
                    join(("v", m, v), ("o", o))
                if p >= 0:
                    join(("v", m, v), ("p", p))
        for p, o in enumerate(self.cached):
            if o != SHARED:
                join(("p", p), ("o", o))
        groups: dict[tuple, set] = {}
        for x in list(parent):
            groups.setdefault(find(x), set()).add(x)
        cut = [g for g in groups.values() if any(x[0] in "op" for x in g)]
        if len(cut) < 2:
            return None
        cut.sort(key=lambda g: min(x for x in g if x[0] in "op"))
        # Parts that a renaming of the (never evicting) machine maps onto each other: one search.
        classes: list[list[set]] = []
        for g in cut:
            objs = {x[1] for x in g if x[0] == "o"}
            for cls in classes:
                rep = {x[1] for x in cls[0] if x[0] == "o"}
                if objs and any(g2[1] is not None and {g2[1][o] for o in objs} == rep for g2 in base.perms):
                    cls.append(g)
                    break
            else:
                classes.append([g])
        out = []
        for cls in classes:
            g = cls[0]
            part = base.derived(
                read_pages=tuple(tuple(v for v in pages if ("v", m, v) in g)
                                 for pages, m in zip(self.read_pages, self.task_mm)),
                update_objects=tuple(tuple(o for o in objs if ("o", o) in g) for objs in self.update_objects),
                task_writes=tuple(tuple(p for p in ps if ("p", p) in g) for ps in self.task_writes))
            # Tasks that do the same in this part are twins (other parts' tables do not count).
            signature = [(self.task_mm[i], tuple((v, self.read_info[i][v][0]) for v in part.read_pages[i]),
                          part.update_objects[i], part.task_writes[i]) for i in range(len(self.tasks))]
            part.twin = tuple(signature.index(sig) for sig in signature)
            part.rename = any(t != i for i, t in enumerate(part.twin))
            part.perms, part.orbits, part.by_inverse = [], [], {}
            out.append((self._part_label(g), part, len(cls)))
        return out

    def _part_label(self, group: set) -> str:
        names = []
        for x in sorted(x for x in group if x[0] in "op"):
            if x[0] == "o":
                kind, obj = self.objects[x[1]]
                names.append(getattr(obj, "label", kind))
            elif self.cached[x[1]] == SHARED:
                names.append("the shared page")
        return "slot " + " + ".join(names) if names else "the shared page"

    MAX_PERMUTATIONS = 5040  # task permutations tried when looking for automorphisms

    def _automorphisms(self) -> list[tuple]:
        """The renamings of the machine that rename at least one object: each a tuple
        (tasks, objects, vpages per MM, pages) of index maps, as `_rename` applies them.

        A permutation pi of the tasks (each kept in its MM, user tasks with user tasks)
        induces sigma on the slot objects (task i's files table to task pi(i)'s) and, per MM,
        tau on the UKVA pages (the slot of o to the slot of sigma(o)); it is kept only when
        sigma and tau are well defined bijections with every task reading, through tau and
        sigma, exactly what its image reads, every object mapped at the images of its slots in
        the same MMs in the same order, and every page that goes through the cache (and its
        cache line) left where it is.  Such a renaming g maps the start to itself and
        commutes with every step: next(g s, g ch) = g next(s, ch), a violation for a
        violation (every handler looks tasks, objects, slots and pages up only through
        these tables, and compares pages only for equality), with one exception: a fill into
        a full TLB evicts the lowest entry, an order tau does not keep.  So renamings are
        used only when no TLB can fill up (tlb_size at least ASIDs x UKVA pages of an MM).
        Two states that are images of each other then have the same futures up to g: the
        same verdicts at the same depths, and the search may keep one of them."""
        import itertools

        if self.can_evict():
            return []
        groups: dict[int, list[int]] = {}
        for i, m in enumerate(self.task_mm):
            groups.setdefault(m, []).append(i)
        if math.prod(math.factorial(len(g)) for g in groups.values()) > self.MAX_PERMUTATIONS:
            return []
        nobj = len(self.objects)
        fixed_objs = {o for o in self.cached if o != SHARED}
        fixed_pages = [{maps[m] for maps in self.cached_vpage if maps[m] >= 0} for m in range(len(self.mms))]
        kinds = [(i, r) for i, r in enumerate(self.task_reads)]
        out = []
        for combo in itertools.product(*(itertools.permutations(g) for g in groups.values())):
            pi = [0] * len(self.tasks)
            for g, image in zip(groups.values(), combo):
                for a, b in zip(g, image):
                    pi[a] = b
            sigma = [-1] * nobj
            ok = True
            for i, reads in kinds:
                for (_, o), (_, o2) in zip(reads, self.task_reads[pi[i]]):
                    if sigma[o] not in (-1, o2):
                        ok = False
                    sigma[o] = o2
            if not ok:
                continue
            for o in range(nobj):
                if sigma[o] < 0:
                    sigma[o] = o
            if sorted(sigma) != list(range(nobj)) or all(sigma[o] == o for o in range(nobj)):
                continue  # not a bijection; or only twins swapped (the twins' renaming does that)
            if any(sigma[o] != o for o in fixed_objs):
                continue
            taus = []
            for m, slots in enumerate(self.mm_slots):
                size = max([len(slots)] + [v + 1 for v in fixed_pages[m]])
                tau = list(range(size))
                for v, o in enumerate(slots):
                    if o >= 0:
                        w = slots.index(sigma[o]) if sigma[o] in slots else -1
                        if w < 0:
                            ok = False
                            break
                        tau[v] = w
                if not ok or sorted(tau) != list(range(size)) or any(tau[v] != v for v in fixed_pages[m]):
                    ok = False
                    break
                taus.append(tuple(tau))
            if not ok:
                continue
            for i, reads in kinds:
                m = self.task_mm[i]
                if self.task_writes[pi[i]] != self.task_writes[i] or (m >= 0 and self.task_reads[pi[i]] != tuple(
                        (taus[m][v], sigma[o]) for v, o in reads)):
                    ok = False
            for o in range(nobj):
                if self.obj_maps[sigma[o]] != tuple((m, taus[m][v]) for m, v in self.obj_maps[o]):
                    ok = False
            if not ok:
                continue
            pages = tuple(sigma[p // self.stride] * self.stride + p % self.stride
                          for p in range(nobj * self.stride))
            out.append((tuple(pi), tuple(sigma), tuple(taus), pages, tuple(pi.index(j) for j in range(len(pi))), False))
        # Per task, each page it reads: (its position in the task's reads, the object's first page).
        self.read_at = [{v: (k, o * self.stride) for k, (v, o) in enumerate(reads)} for reads in self.task_reads]
        if out:
            n = len(self.tasks)
            out.append((tuple(range(n)), None, None, None, tuple(range(n)), True))  # the identity
        return out

    def _summaries(self, cpus: list, ptes: tuple, updates: tuple) -> list[tuple]:
        """Per task, what the state says about it in terms that a renaming carries along
        (positions in its own list of reads instead of objects and slots) and that do not
        depend on CPU order: a renaming g maps summary i of s to summary pi(i) of g s."""
        versions, pending = updates
        stride = self.stride
        out = []
        for i, reads in enumerate(self.task_reads):
            m = self.task_mm[i]
            if m < 0:
                out.append((sum(cpu[0] == i for cpu in cpus),))
                continue
            row = ptes[self.table(m, 0)]
            mine = tuple((versions[o], row[v] - o * stride if v < len(row) else -1) for v, o in reads)
            p = pending[i]
            if p:
                p = (next(k for k, (_, o) in enumerate(reads) if o == p[0]),) + p[1:]
            at = self.read_at[i]
            seen = []
            for cpu in cpus:
                asids = cpu[4]
                seen.append((cpu[0] == i, sorted([(at[v][0], pg - at[v][1]) for a, v, pg in cpu[5]
                                                  if v in at and asids[a][0] == m])))
            seen.sort()
            out.append((mine, p, seen))
        return out

    def _rename(self, g: tuple, cpus: list, ptes: tuple, updates: tuple) -> tuple:
        """The image of a state's (cpus, ptes, updates) under renaming `g`, CPUs unsorted."""
        pi, sigma, taus, pages = g[:4]
        out = []
        for cur, loaded, asid, rr, asids, tlb in cpus:
            if tlb:
                tlb = tuple(sorted([(a, taus[asids[a][0]][v], pages[pg] if pg >= 0 else pg) for a, v, pg in tlb]))
            out.append((pi[cur] if cur >= 0 else cur, loaded, asid, rr, asids, tlb))
        rows = []
        for t, row in enumerate(ptes):
            tau = taus[t // self.copies]
            new = list(row)
            for v, x in enumerate(row):
                new[tau[v]] = pages[x] if x >= 0 else x
            rows.append(tuple(new))
        versions, pending = updates
        vs = list(versions)
        for o, x in enumerate(versions):
            vs[sigma[o]] = x
        pd = list(pending)
        for i, x in enumerate(pending):
            pd[pi[i]] = (sigma[x[0]],) + x[1:] if x else ()
        return out, tuple(rows), (tuple(vs), tuple(pd))

    @staticmethod
    def _index(items: list[Any], obj: Any) -> int:
        return next(i for i, x in enumerate(items) if x is obj)

    def _object(self, kind: str, obj: Any) -> int:
        for i, (k, o) in enumerate(self.objects):
            if k == kind and o is obj:
                return i
        self.objects.append((kind, obj))
        return len(self.objects) - 1

    def table(self, m: int, c: int) -> int:
        """The row of `state[1]` that CPU `c` walks for MM `m`."""
        return m * self.copies + c if self.per_cpu_tables else m

    def cache_key(self, p: int, m: int) -> int:
        """The line cached page `p` occupies when accessed through MM `m`'s mapping."""
        return self.cached_vpage[p][m] % COLOURS if self.virtual_cache else SHARED_KEY_PHYSICAL

    # -- states ---------------------------------------------------------------------------
    def initial(self) -> tuple:
        """All CPUs idle with no MM loaded and empty TLBs; every slot maps version 0.

        A state is the tuple (cpus, ptes, mm_gen, updates, caches): the CPUs (tlb.py); the page
        tables' UKVA entries, a row per MM (per MM and CPU under per-CPU page tables, see
        `table`) with a page number per UKVA page; per MM its tlb_gen; the pair (per slot
        object its version, per task its update in progress: None, or (object, version it
        copied, how many of the object's MMs it has mapped)); per page mapped in several MMs
        (`cached`) its data as (last written, in memory, cache lines (key, version, dirty))."""
        cpu = (-1, -1, 0, 0, ((-1, 0),) * self.n_asids, ())
        ptes = tuple(tuple(-1 if o < 0 else o * self.stride for o in slots)
                     for slots in self.mm_slots for _ in range(self.copies))
        updates = ((0,) * len(self.objects), (None,) * len(self.tasks))
        return ((cpu,) * self.ncpu, ptes, (0,) * len(self.mms), updates, ((0, 0, ()),) * len(self.cached))

    def enabled(self, state: tuple, search: bool = False) -> list[tuple[tuple[int, int, int], Callable, int, int]]:
        """The raw choices enabled in `state`: (code, handler, cpu, arg), the code being
        (kind, cpu, arg).  They depend only on who runs where, the updates and the caches, so
        they are memoised on those.

        With `search` (the explorer), a CPU is offered only one of several interchangeable
        tasks that are not running: under per-mm, tasks of one MM that read the same slots
        differ in nothing but their pid, and a task that is not running appears nowhere in
        the state, so switching to one or to its twin leads to states that differ only by
        a renaming of tasks, with the same futures.  The stepper still offers every task."""
        cpus, _, _, updates, caches = state
        key = (tuple([cpu[0] for cpu in cpus]), updates, caches, search)
        out = self._enabled.get(key)
        if out is None:
            codes = self._compute_enabled(key[0], updates, caches, search)
            out = self._enabled[key] = [(code, self.handlers[code[0]], code[1], code[2]) for code in codes]
        return out

    def _compute_enabled(self, running: tuple[int, ...], updates: tuple,
                         caches: tuple, search: bool) -> list[tuple[int, int, int]]:
        out: list[tuple[int, int, int]] = []
        versions, pending = updates
        limit = self.stride - 1
        waiting = [n for n in range(len(self.tasks)) if n not in running]
        if search:
            waiting = sorted({self.twin[n]: n for n in reversed(waiting)}.values())
        # Under the lock, an object being updated cannot be updated again until done.
        locked = {p[0] for p in pending if p is not None} if self.safe else set()
        # An SMP-safe update of an object of one MM leaves the same state whichever CPU makes
        # it (every CPU running the MM ends flushed and current), and a write depends only on
        # the cache line it goes to; the search takes each once.
        done: set[tuple[int, int]] = set()
        for c, cur in enumerate(running):
            if cur >= 0 and pending[cur] is not None:
                o, _, k = pending[cur]
                out.append((FINISH, c, (k << 8) | o))
                continue
            out += [(SWITCH, c, n) for n in waiting]
            if cur < 0:
                continue
            out.append((SWITCH, c, -1))
            if not self.user[cur]:
                continue
            out += [(READ, c, v) for v in self.read_pages[cur]]
            if self.design == PER_MM:
                for o in self.update_objects[cur]:
                    if versions[o] < limit and o not in locked and (UPDATE, o) not in done:
                        out.append((UPDATE, c, o))
                        if search and self.safe and len(self.obj_maps[o]) == 1:
                            done.add((UPDATE, o))
                m = self.task_mm[cur]
                for p in self.task_writes[cur]:
                    line = (WRITE, p * 8 + self.cache_key(p, m) + 1)
                    if caches[p][0] < limit and line not in done:
                        out.append((WRITE, c, p))
                        if search:
                            done.add(line)
        for p, (_, _, lines) in enumerate(caches):
            out += [(EVICT, -1, p * 8 + key + 1) for key, _, _ in lines]
        return out

    def key(self, state: tuple) -> tuple:
        """The state as the explorer's visited set sees it, with reductions that keep
        every future the same:
        - twins: under per-mm, tasks of one MM that read the same slots differ only by their
          pid, so a running task is named by the first of its twins;
        - renamings (per-mm, `_automorphisms`): where tasks are interchangeable together with
          their private objects and slots, the state is replaced by its least image among
          the renamings that put the tasks' summaries in least order (this subsumes twins);
        - symmetry: under per-task and per-mm nothing depends on a CPU's number, so the CPUs
          are sorted (per-cpu pages name their CPU, so there they are not; nor where a switch
          rewrites one CPU's copy of a page table);
        - stale ASIDs: entries under an ASID whose tlb_gen is behind its MM's will be flushed
          before anyone reads them (switch_mm checks tlb_gen), so they are left out."""
        cpus = state[0]
        if self.has_stale(state):
            cpus = [self._prune(cpu, state[2]) for cpu in cpus]
        updates = state[3]
        if self.rename:
            # Twins: a running task is named by its first twin (only running tasks can have an
            # update in progress, so it moves onto the CPU that runs it).
            twin, pending = self.twin, updates[1]
            cpus = [cpu if cpu[0] < 0 else (twin[cpu[0]],) + cpu[1:] + (pending[cpu[0]] or (),) for cpu in cpus]
            updates = updates[0]
        if self.perms:
            cpus = list(cpus)
            updates = (updates[0], tuple([x or () for x in updates[1]]))  # comparable
            # Only renamings whose image has the least list of per-task summaries (invariant
            # under renaming and CPU order) are candidates: that set of images is the same
            # for every state of an orbit, so the least candidate image is still one per
            # orbit, and there is usually one candidate.
            d = self._summaries(cpus, state[1], updates)
            candidates = None
            if self.by_inverse:
                # Every permutation of each orbit is a renaming: the least image puts each
                # orbit's summaries in order, and without ties one renaming does that.
                inv = list(range(len(d)))
                for orbit in self.orbits:
                    members = sorted(orbit, key=d.__getitem__)
                    if any(d[a] == d[b] for a, b in zip(members, members[1:])):
                        break
                    for pos, i in zip(orbit, members):
                        inv[pos] = i
                else:
                    candidates = [self.by_inverse[tuple(inv)]]
            if candidates is None:
                images = [[d[x] for x in g[4]] for g in self.perms]
                order = min(images)
                candidates = [g for g, image in zip(self.perms, images) if image == order]
            best = None
            for g in candidates:
                if g[5]:
                    c, p, u = cpus, state[1], updates
                else:
                    c, p, u = self._rename(g, cpus, state[1], updates)
                cand = (tuple(sorted(c)) if self.symmetric else tuple(c), p, u)
                if best is None or cand < best:
                    best = cand
            return (best[0], best[1], state[2], best[2], state[4])
        if self.symmetric:
            cpus = sorted(cpus)
        return (tuple(cpus), state[1], state[2], updates, state[4])

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

    # A CPU with its stale ASID slots forgotten (tlb.py, memoised): what `key` keeps of it.
    _prune = staticmethod(T.forget_stale)

    def next(self, state: tuple, ch: tuple[int, int, int], counts: list[int]) -> tuple[tuple, tuple | None]:
        """The state after choice `ch`, and the raw violation it caused (or None).
        `counts` (indexed by MISS, WALK, ...) is incremented in place."""
        return self.handlers[ch[0]](state, ch[1], ch[2], counts)

    def _switch(self, state: tuple, c: int, n: int, counts: list[int]) -> tuple[tuple, None]:
        cpus, ptes, mm_gen, updates, caches = state
        cpu = cpus[c]
        _, loaded, asid, rr, asids, tlb = cpu
        if n >= 0 and self.user[n]:
            m = self.task_mm[n]
            if not (self.plain_switch and loaded == m and asids[asid][1] >= mm_gen[m]):
                # Anything but the hot path (same MM, tlb_gen current, nothing the design rewrites).
                cpu, cr3, full = T.switch_mm(cpu, m, mm_gen[m], self.n_asids, self.static_asids)
                counts[CR3] += cr3
                counts[FFLUSH] += full
                _, loaded, asid, rr, asids, tlb = cpu
                if self.design != PER_MM:
                    if self.hardware:
                        # The switch points the UKVA entry of the MM's page table (this CPU's copy
                        # under per-CPU page tables) at the new task's (or CPU's) page.
                        page = n if self.design == PER_TASK else c
                        t = self.table(m, c)
                        if ptes[t][0] != page:
                            ptes = ptes[:t] + ((page,),) + ptes[t + 1:]
                        drop = self.opts.flush_on_same_mm_switch
                    else:
                        # Software refill: per-task drops the CPU's entry so the handler reloads it.
                        drop = self.design == PER_TASK
                    if drop and not full:
                        tlb = T.flush_page(tlb, asid, 0)
                        counts[PFLUSH] += 1
        # else lazy TLB: the idle task and kernel threads keep the previous MM loaded.
        cpus = list(cpus)
        cpus[c] = (n, loaded, asid, rr, asids, tlb)
        return (tuple(cpus), ptes, mm_gen, updates, caches), None

    def _read(self, state: tuple, c: int, vpage: int, counts: list[int]) -> tuple[tuple, tuple | None]:
        """Read one UKVA page: a slot (its translation is checked), and the data of a page
        mapped in several MMs (through the cache).  A read that hits and is right changes
        nothing: it returns `state` itself, which tells the explorer it has seen the result
        without hashing it."""
        cpus = state[0]
        cpu = cpus[c]
        cur = cpu[0]
        o, p, key = self.read_info[cur][vpage]
        if o is not None:
            asid = cpu[2]
            page = -1
            for a, v, pg in cpu[5]:
                if a == asid and v == vpage:
                    page = pg
                    break
            design = self.design
            if design == PER_MM:
                want = o * self.stride + state[3][0][o]
            else:
                want = cur if design == PER_TASK else c
            if page >= 0:
                if page == want and p < 0:
                    return state, None        # the hot path: a hit, and right
                source = "tlb"
            else:
                counts[MISS] += 1
                if self.hardware or design == PER_MM:
                    counts[WALK if self.hardware else REFILL] += 1
                    m = self.task_mm[cur]
                    page = state[1][m * self.copies + c if self.per_cpu_tables else m][vpage]
                    source = "walk" if self.hardware else "refill"
                else:
                    counts[REFILL] += 1
                    page = want
                    source = "refill"
                cpus = list(cpus)
                cpus[c] = (cur, cpu[1], asid, cpu[3], cpu[4], T.fill(cpu[5], asid, vpage, page, self.tlb_size))
                cpus = tuple(cpus)
            if page != want:
                return (cpus, state[1], state[2], state[3], state[4]), (c, cur, vpage, page, want, source)
        caches = state[4]
        if p >= 0:
            truth, memory, lines = caches[p]
            got = -1
            for k, g, _ in lines:
                if k == key:
                    got = g
                    break
            source = "cache"
            if got < 0:
                got, source = memory, "memory"
                line = (key, memory, 0)
                at = bisect_left(lines, line)  # `lines` is sorted: inserting here keeps it so
                lines = lines[:at] + (line,) + lines[at:]
                caches = caches[:p] + ((truth, memory, lines),) + caches[p + 1:]
            if got != truth:
                return (cpus, state[1], state[2], state[3], caches), (c, cur, vpage, got, truth, source)
        if cpus is state[0] and caches is state[4]:
            return state, None
        return (cpus, state[1], state[2], state[3], caches), None

    def _update(self, state: tuple, c: int, o: int, counts: list[int]) -> tuple[tuple, tuple | None]:
        """Under the lock: remap the slot in the object's first MM and shoot down (the other
        MMs follow as FINISH steps).  Without it: only begin, copying the version the
        updater's MM maps (FINISH maps it)."""
        versions, pending = state[3]
        cur = state[0][c][0]
        maps = self.obj_maps[o]
        if not maps:
            # No slot maps it (a fixed slot shows another object of its kind): only the data changes.
            versions = versions[:o] + (versions[o] + 1,) + versions[o + 1:]
            return (state[0], state[1], state[2], (versions, pending), state[4]), None
        m = self.task_mm[cur]
        for mm, vpage in maps:
            if mm == m:
                row = state[1][m * self.copies + c if self.per_cpu_tables else m]
                base = row[vpage] - o * self.stride
                break
        else:
            base = versions[o]
        if not self.safe:
            pending = pending[:cur] + ((o, base, 0),) + pending[cur + 1:]
            return (state[0], state[1], state[2], (versions, pending), state[4]), None
        return self._install(state, c, cur, o, base, 0, counts)

    def _finish(self, state: tuple, c: int, arg: int, counts: list[int]) -> tuple[tuple, tuple | None]:
        """Map the copy of a pending update into the object's next MM."""
        cur = state[0][c][0]
        o, base, k = state[3][1][cur]
        return self._install(state, c, cur, o, base, k, counts)

    def _install(self, state: tuple, c: int, cur: int, o: int, base: int, k: int,
                 counts: list[int]) -> tuple[tuple, tuple | None]:
        """Map version base + 1 of object `o` into the k-th MM that has a slot for it, and
        flush: the local TLB always, the other CPUs of the cpumask (not lazy) only when
        SMP-safe.  If that MM no longer maps version `base`, this overwrites an update it
        never saw: a lost update."""
        cpus, ptes, mm_gen, (versions, pending), caches = state
        maps = self.obj_maps[o]
        m, vpage = maps[k]
        first = o * self.stride + base  # the page of version `base`
        page = first + 1
        if versions[o] <= base:
            versions = versions[:o] + (base + 1,) + versions[o + 1:]
        k += 1
        mine = (o, base, k) if k < len(maps) else None
        if pending[cur] != mine:
            pending = pending[:cur] + (mine,) + pending[cur + 1:]
        rows = list(ptes)
        if self.per_cpu_tables:
            first = m * self.copies
            old = rows[first + c][vpage]
            for t in range(first, first + self.copies):
                row = list(rows[t])
                row[vpage] = page
                rows[t] = tuple(row)
        else:
            row = list(rows[m])
            old = row[vpage]
            row[vpage] = page
            rows[m] = tuple(row)
        current = None
        if self.safe:
            now = mm_gen[m] + 1
            mm_gen = mm_gen[:m] + (now,) + mm_gen[m + 1:]
            current = (m, now)
        cpus, ipis, flushes = T.shoot_down(cpus, c, m, vpage, current, self.user)
        counts[IPI] += ipis
        counts[PFLUSH] += flushes
        nxt = (cpus, tuple(rows), mm_gen, (versions, pending), caches)
        if old != first:
            return nxt, (c, cur, vpage, old, first, "lost")
        return nxt, None

    def _write(self, state: tuple, c: int, p: int, counts: list[int]) -> tuple[tuple, None]:
        cpus, ptes, mm_gen, updates, caches = state
        truth, memory, lines = caches[p]
        key = self.cache_key(p, self.task_mm[cpus[c][0]])
        truth += 1
        kept = [line for line in lines if line[0] != key]
        insort(kept, (key, truth, 1))  # `lines` is sorted: inserting here keeps it so
        return (cpus, ptes, mm_gen, updates, caches[:p] + ((truth, memory, tuple(kept)),) + caches[p + 1:]), None

    def _evict(self, state: tuple, _: int, arg: int, counts: list[int]) -> tuple[tuple, None]:
        cpus, ptes, mm_gen, updates, caches = state
        p, key = arg // 8, arg % 8 - 1
        truth, memory, lines = caches[p]
        for k, gen, dirty in lines:
            if k == key and dirty:
                memory = gen
        lines = tuple([line for line in lines if line[0] != key])
        return (cpus, ptes, mm_gen, updates, caches[:p] + ((truth, memory, lines),) + caches[p + 1:]), None
