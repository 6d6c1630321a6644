"""The search's reductions: which states it may treat as one, and which choices it may skip.

Each reduction keeps one state of a class whose states have the same futures up to a renaming,
so the verdict and the depth of the first violation are those of the plain search
(`explore.reference_search`, which tests compare with on many small machines):

- CPU symmetry: nothing depends on a CPU's number but what names it, so the CPUs are sorted.
  Under per-cpu its page names a CPU, and under per-CPU page tables so does its copy of each
  table: there the CPUs are put in order together with their pages and copies (`_by_cpu`).
- Twins: tasks of one MM with the same steps differ only by their pid, unless a page names them
  (per-task).  Of several waiting twins a CPU is offered one (`enabled`), and a running task is
  named by its first twin (`key`; its update in progress rides on its CPU).
- MMs a part leaves out (parts.merge_others): a CPU that has one of them loaded is, to the
  part, a CPU with nothing loaded (`_outside`).
- Cache only: in a part where nothing reads through a TLB or updates a slot (the shared page's),
  only who runs where and the cache decide what happens, and the key keeps only those.
- Renamings (`Renaming`, per-mm): where tasks are interchangeable together with their private
  objects and slots, a state stands for its least image among the renamings (`_automorphisms`
  says when a renaming is sound).
- Once per object and line: an SMP-safe update of an object mapped in one MM leaves the same
  state whichever CPU makes it (every CPU running the MM ends flushed and current), and a write
  depends only on the cache line it goes to; the search takes each once.
- Stale ASIDs: entries under an ASID whose tlb_gen is behind its MM's will be flushed before
  anyone reads them (switch_mm checks tlb_gen), so they are left out of the key.
"""

from __future__ import annotations

import itertools
import math
from typing import NamedTuple

from . import tlb as T
from .model import Handler, Model
from .slots import PER_CPU, PER_MM, PER_TASK, SHARED
from .state import SWITCH, UPDATE, WRITE, Choice, State

MAX_PERMUTATIONS = 5040  # task permutations tried when looking for renamings; past that, none are used
SELF, OTHER = -3, -4     # in a CPU's view of itself (`_by_cpu`): its own page, and another CPU's


def _arrangements(run: list[int], named: set[int]) -> list[list[int]]:
    """The orders of a run of CPUs that tie, up to the order of those no one names (which are
    the same in every way, so their order changes nothing)."""
    ref = [c for c in run if c in named]
    rest = [c for c in run if c not in named]
    if not ref or len(run) == 1:
        return [run]
    out = []
    for places in itertools.permutations(range(len(run)), len(ref)):
        slots: list[int | None] = [None] * len(run)
        for c, k in zip(ref, places):
            slots[k] = c
        others = iter(rest)
        out.append([c if c is not None else next(others) for c in slots])
    return out


class Renaming(NamedTuple):
    """A renaming of the machine onto itself, as index maps: task i -> tasks[i], object o ->
    objects[o], per MM m its UKVA page v -> vpages[m][v], page x -> pages[x]; `inverse` maps
    tasks back; `identity` marks the identity (kept among the candidates of `key`)."""

    tasks: tuple[int, ...]
    objects: tuple[int, ...] | None
    vpages: tuple[tuple[int, ...], ...] | None
    pages: tuple[int, ...] | None
    inverse: tuple[int, ...]
    identity: bool


class Reduction:
    """The reduced view of one model the search works on: `enabled`, `key`, `has_stale`."""

    def __init__(self, model: Model, renamings: bool = True) -> None:
        self.model = model
        L = model.layout
        # Under per-cpu a page names a CPU, and under per-CPU page tables (but per-mm) a switch
        # rewrites its own CPU's copy: there the CPUs are put in order together with what names
        # them (`_by_cpu`); otherwise they are simply sorted.
        self.cpu_pages = L.design == PER_CPU
        self.cpu_rows = L.copies > 1 and L.design != PER_MM
        self.prune = L.design == PER_MM and model.safe  # only then does tlb_gen move
        # Where no task reads through a TLB and none updates a slot (a part for a shared page),
        # nothing but who runs where and the cache decides what happens: the key keeps only those.
        self.cache_only = not any(L.update_objects) and all(
            L.read_info[i][v][0] is None for i, pages in enumerate(L.read_pages) for v in pages)
        # MMs whose UKVA a part leaves out (parts.merge_others): a CPU that has one of them
        # loaded is, to everything the part reads, a CPU with no MM loaded (`_outside`).
        self.outside = {m for m, slots in enumerate(L.mm_slots) if not slots} \
            if not model.opts.pcid or model.static_asids else set()
        self._outside_seen: dict[tuple, tuple] = {}   # `_outside` of each CPU met: many states share one
        self.twin = tuple(self._twins())
        self.perms = self._automorphisms() if renamings and L.design == PER_MM else []
        # A running task can be renamed to its first twin too (key), unless renamings do more.
        self.rename = not self.perms and any(t != i for i, t in enumerate(self.twin))
        # The orbits of the tasks under the renamings; when the renamings are every
        # permutation of each orbit, `key` finds the sorting one by its inverse.
        orbits = {tuple(sorted({g.tasks[i] for g in self.perms})) for i in range(len(L.tasks))}
        self.orbits = [list(o) for o in sorted(orbits) if len(o) > 1]
        full = self.perms and len(self.perms) == math.prod(math.factorial(len(o)) for o in self.orbits)
        self.by_inverse = {g.inverse: g for g in self.perms} if full else {}
        # Per task, each page it reads: (its position in the task's reads, the object's first page).
        self.read_at = [{v: (k, o * L.stride) for k, (v, o) in enumerate(reads)} for reads in L.task_reads]
        # Whether `key` only sorts the CPUs (the explorer then inlines it).
        self.plain = not (self.cpu_pages or self.cpu_rows or self.rename or self.perms or self.cache_only
                          or self.outside)
        self._enabled: dict[tuple, list[tuple[Choice, Handler]]] = {}

    def _twins(self) -> list[int]:
        """Per task, the first task it is interchangeable with: one of the same MM (or, where
        the key keeps no MM, the same cache lines), with the same steps, whose number appears
        nowhere in a state but as a CPU's running task.  Under per-task a user task's page is
        named by its number, so it has no twin; a task of an MM whose UKVA a part leaves out
        (parts.merge_others) shows no page."""
        L = self.model.layout
        signature = []
        for i, m in enumerate(L.task_mm):
            named = L.design == PER_TASK and m >= 0 and bool(L.mm_slots[m])
            writes = tuple((p, L.cache_key(p, m)) for p in L.task_writes[i])
            signature.append((None if self.cache_only else m, i if named else None,
                              tuple((v, L.read_info[i][v]) for v in L.read_pages[i]), L.update_objects[i], writes))
        return [signature.index(sig) for sig in signature]

    # -- choices ------------------------------------------------------------------------------
    def enabled(self, state: State) -> list[tuple[Choice, Handler]]:
        """The model's choices, less those the search may skip (see the module docstring),
        each with the handler that takes it."""
        key = (tuple([cpu[0] for cpu in state[0]]), state[3], state[4])
        out = self._enabled.get(key)
        if out is None:
            out = self._enabled[key] = self._reduce(key[0], self.model.enabled(state))
        return out

    def _reduce(self, running: tuple[int, ...], choices: list[Choice]) -> list[tuple[Choice, Handler]]:
        L, handlers = self.model.layout, self.model.handlers
        # Of interchangeable waiting tasks, the first.
        waiting = [n for n in range(len(L.tasks)) if n not in running]
        offered = set({self.twin[n]: n for n in reversed(waiting)}.values())
        out, done = [], set()
        for choice in choices:
            kind, c, arg, _ = choice
            if kind == SWITCH and arg >= 0 and arg not in offered:
                continue
            if kind == UPDATE and self.model.safe and len(L.obj_maps[arg]) == 1:
                if (UPDATE, arg) in done:
                    continue
                done.add((UPDATE, arg))
            elif kind == WRITE:
                line = (WRITE, arg, L.cache_key(arg, L.task_mm[running[c]]))
                if line in done:
                    continue
                done.add(line)
            out.append((choice, handlers[kind]))
        return out

    # -- keys ---------------------------------------------------------------------------------
    def has_stale(self, state: State) -> bool:
        """Whether some CPU holds an ASID whose tlb_gen is behind its MM's.  Only an SMP-safe
        update makes one (it skips lazy and switched-away CPUs); every other step keeps or
        clears them, which lets the explorer skip this test after those steps."""
        if not self.prune:
            return False
        gens = state[2]
        for cpu in state[0]:
            for ctx, gen in cpu[4]:
                if ctx >= 0 and gen < gens[ctx]:
                    return True
        return False

    def key(self, state: State) -> tuple:
        """The state as the explorer's visited set sees it (see the module docstring)."""
        cpus, tables, tlb_gen, updates, caches = state
        if self.cache_only:
            return (tuple(sorted([self.twin[cpu[0]] if cpu[0] >= 0 else -1 for cpu in cpus])), caches)
        if self.has_stale(state):
            cpus = [T.forget_stale(cpu, tlb_gen) for cpu in cpus]
        if self.outside:
            seen = self._outside_seen
            if len(seen) >= T.MEMO_SIZE:
                seen.clear()
            cpus = [seen.get(cpu) or seen.setdefault(cpu, self._outside(cpu)) for cpu in cpus]
        if self.rename:
            # Twins: a running task is named by its first twin (only running tasks can have an
            # update in progress, so it moves onto the CPU that runs it).
            twin, (versions, pending) = self.twin, updates
            cpus = [cpu if cpu[0] < 0 else (twin[cpu[0]],) + cpu[1:] + (pending[cpu[0]] or (),) for cpu in cpus]
            updates = versions
        if self.perms:
            return self._least_image(state, list(cpus))
        if self.cpu_pages or self.cpu_rows:
            return self._by_cpu(cpus, tables) + (tlb_gen, updates, caches)
        return (tuple(sorted(cpus)), tables, tlb_gen, updates, caches)

    def _outside(self, cpu: tuple) -> tuple:
        """`cpu` with what it holds of MMs a part leaves out (parts.merge_others) forgotten: their
        ASID slots, and, when one of them is loaded (or none), which one, its ASID slot in use
        and the round-robin pointer.  Such an MM's tasks read nothing, so no entry is ever filled
        under its ASID, and without PCID the TLB is empty while it is loaded (the CR3 write
        that loaded it emptied it); a switch to a kept MM then writes CR3 whichever of these it
        leaves, finds that MM's own slot (or, without PCID, starts afresh), and never reads the
        pointer (one slot per MM: `_outside` is used only then).  So the CPU's futures are the same."""
        cur, loaded, asid, rr, asids, tlb = cpu[:6]
        asids = tuple([(-1, 0) if ctx in self.outside else (ctx, gen) for ctx, gen in asids])
        if loaded < 0 or loaded in self.outside:
            loaded, asid, rr = -1, 0, 0
        return (cur, loaded, asid, rr, asids, tlb) + cpu[6:]

    def _by_cpu(self, cpus: list, tables: tuple) -> tuple:
        """(CPUs, page tables) put in a canonical order when pages (per-cpu) or page-table copies
        (per-CPU page tables) name CPUs.  A renaming k of the CPUs, carrying each CPU's page and
        its copies of the page tables along, maps a state onto one with the same futures (the
        model looks CPUs up only through those, and a TLB orders its entries by (ASID, UKVA
        page), which a CPU's page does not change).  So the least image among the orderings
        that sort the CPUs' own views (their page written SELF, their own copies with them) is
        one per class; usually one ordering sorts them."""
        L, n = self.model.layout, len(cpus)
        own = [self._own_view(c, cpu, tables) for c, cpu in enumerate(cpus)]
        order = sorted(range(n), key=own.__getitem__)
        # CPUs named elsewhere: by a shared page table (per-cpu), or by another CPU's TLB entry.
        named = set()
        if self.cpu_pages:
            named = {x for row in tables for x in row}
            named |= {p for c, cpu in enumerate(cpus) for _, _, p in cpu[5] if p != c}
        orders = [order]
        start = 0
        for end in range(1, n + 1):  # a run of CPUs whose own views tie may be ordered any way
            if end == n or own[order[end]] != own[order[start]]:
                orders = [o[:start] + run + o[end:] for o in orders for run in _arrangements(o[start:end], named)]
                start = end
        best = None
        for o in orders:
            at = {c: k for k, c in enumerate(o)}
            rows = [tables[L.table(m, c)] for c in o for m in range(len(L.mms))] if self.cpu_rows else tables
            image = (tuple(self._renamed_cpu(cpus[c], at) for c in o),
                     tuple(tuple(at.get(x, x) for x in row) if self.cpu_pages else row for row in rows))
            if best is None or image < best:
                best = image
        return best

    def _own_view(self, c: int, cpu: tuple, tables: tuple) -> tuple:
        """CPU c as it sees itself: its pages written SELF (per-cpu) and its own page-table copies."""
        L = self.model.layout
        view = cpu
        if self.cpu_pages:
            view = cpu[:5] + (tuple([(a, v, SELF if p == c else OTHER) for a, v, p in cpu[5]]),) + cpu[6:]
        if self.cpu_rows:
            rows = tuple(tables[L.table(m, c)] for m in range(len(L.mms)))
            view += (tuple(tuple(SELF if self.cpu_pages and x == c else x for x in row) for row in rows),)
        return view

    def _renamed_cpu(self, cpu: tuple, at: dict[int, int]) -> tuple:
        """A CPU's tuple with the pages that name CPUs renamed by `at` (per-cpu)."""
        if not self.cpu_pages or not cpu[5]:
            return cpu
        return cpu[:5] + (tuple([(a, v, at.get(p, p)) for a, v, p in cpu[5]]),) + cpu[6:]

    def _least_image(self, state: State, cpus: list) -> tuple:
        """The least image of the state among the renamings that put the tasks' summaries in
        least order.  Only those are candidates: that set of images is the same for every state
        of an orbit, so the least candidate image is still one per orbit, and there is usually
        one candidate."""
        _, tables, tlb_gen, (versions, pending), caches = state
        pending = tuple([x or () for x in pending])  # comparable
        d = self._summaries(cpus, tables, versions, pending)
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
            images = [[d[x] for x in g.inverse] for g in self.perms]
            order = min(images)
            candidates = [g for g, image in zip(self.perms, images) if image == order]
        best = None
        for g in candidates:
            image = (cpus, tables, versions, pending) if g.identity else \
                self._rename(g, cpus, tables, versions, pending)
            c = tuple(sorted(image[0]))
            cand = (c,) + image[1:]
            if best is None or cand < best:
                best = cand
        return (best[0], best[1], tlb_gen, best[2:], caches)

    def _summaries(self, cpus: list, tables: tuple, versions: tuple, pending: tuple) -> list[tuple]:
        """Per task, what the state says about it in terms that a renaming carries along
        (positions in its own list of reads instead of objects and slots) and that do not
        depend on CPU order: a renaming g maps summary i of s to summary g.tasks[i] of g s."""
        L = self.model.layout
        out = []
        for i, reads in enumerate(L.task_reads):
            m = L.task_mm[i]
            if m < 0:
                out.append((sum(cpu[0] == i for cpu in cpus),))
                continue
            row = tables[L.table(m, 0)]
            mine = tuple((versions[o], row[v] - o * L.stride if v < len(row) else -1) for v, o in reads)
            p = pending[i]
            if p:
                p = (next(k for k, (_, o) in enumerate(reads) if o == p[0]),) + tuple(p[1:])
            at = self.read_at[i]
            seen = sorted((cpu[0] == i, sorted([(at[v][0], pg - at[v][1]) for a, v, pg in cpu[5]
                                                if v in at and cpu[4][a][0] == m])) for cpu in cpus)
            out.append((mine, p, seen))
        return out

    def _rename(self, g: Renaming, cpus: list, tables: tuple, versions: tuple, pending: tuple) -> tuple:
        """The image of a state's (cpus, page tables, versions, pending) under `g`, CPUs unsorted."""
        L = self.model.layout
        out = []
        for cpu in cpus:
            cur, loaded, asid, rr, asids, tlb = cpu[:6]
            if tlb:
                tlb = tuple(sorted([(a, g.vpages[asids[a][0]][v], g.pages[pg] if pg >= 0 else pg)
                                    for a, v, pg in tlb]))
            out.append((g.tasks[cur] if cur >= 0 else cur, loaded, asid, rr, asids, tlb))
        rows = []
        for t, row in enumerate(tables):
            tau = g.vpages[t // L.copies]
            new = list(row)
            for v, x in enumerate(row):
                new[tau[v]] = g.pages[x] if x >= 0 else x
            rows.append(tuple(new))
        vs = list(versions)
        for o, x in enumerate(versions):
            vs[g.objects[o]] = x
        pd = list(pending)
        for i, x in enumerate(pending):
            pd[g.tasks[i]] = (g.objects[x[0]],) + tuple(x[1:]) if x else ()
        return out, tuple(rows), tuple(vs), tuple(pd)

    def _automorphisms(self) -> list[Renaming]:
        """The renamings of the machine that rename at least one object.

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
        model, L = self.model, self.model.layout
        if model.can_evict():
            return []
        groups: dict[int, list[int]] = {}
        for i, m in enumerate(L.task_mm):
            groups.setdefault(m, []).append(i)
        if math.prod(math.factorial(len(g)) for g in groups.values()) > MAX_PERMUTATIONS:
            return []
        out = []
        for combo in itertools.product(*(itertools.permutations(g) for g in groups.values())):
            pi = [0] * len(L.tasks)
            for g, image in zip(groups.values(), combo):
                for a, b in zip(g, image):
                    pi[a] = b
            g = self._renaming(pi)
            if g is not None:
                out.append(g)
        if out:
            n = len(L.tasks)
            out.append(Renaming(tuple(range(n)), None, None, None, tuple(range(n)), True))
        return out

    def _renaming(self, pi: list[int]) -> Renaming | None:
        """The renaming that task permutation `pi` induces, if it is one (see _automorphisms)."""
        L = self.model.layout
        nobj = len(L.objects)
        sigma = [-1] * nobj
        for i, reads in enumerate(L.task_reads):
            for (_, o), (_, o2) in zip(reads, L.task_reads[pi[i]]):
                if sigma[o] not in (-1, o2):
                    return None
                sigma[o] = o2
        sigma = [o if s < 0 else s for o, s in enumerate(sigma)]
        if sorted(sigma) != list(range(nobj)) or all(sigma[o] == o for o in range(nobj)):
            return None  # not a bijection; or only twins swapped (the twins' renaming does that)
        if any(sigma[o] != o for o in L.cached if o != SHARED):
            return None
        fixed_pages = [{where[m] for where in L.cached_vpage if where[m] >= 0} for m in range(len(L.mms))]
        taus = []
        for m, slots in enumerate(L.mm_slots):
            size = max([len(slots)] + [v + 1 for v in fixed_pages[m]])
            tau = list(range(size))
            for v, o in enumerate(slots):
                if o >= 0:
                    if sigma[o] not in slots:
                        return None
                    tau[v] = slots.index(sigma[o])
            if sorted(tau) != list(range(size)) or any(tau[v] != v for v in fixed_pages[m]):
                return None
            taus.append(tuple(tau))
        for i, reads in enumerate(L.task_reads):
            m = L.task_mm[i]
            if L.task_writes[pi[i]] != L.task_writes[i] or (m >= 0 and L.task_reads[pi[i]] != tuple(
                    (taus[m][v], sigma[o]) for v, o in reads)):
                return None
        if any(L.obj_maps[sigma[o]] != tuple((m, taus[m][v]) for m, v in L.obj_maps[o]) for o in range(nobj)):
            return None
        pages = tuple(sigma[p // L.stride] * L.stride + p % L.stride for p in range(nobj * L.stride))
        return Renaming(tuple(pi), tuple(sigma), tuple(taus), pages, tuple(pi.index(j) for j in range(len(pi))), False)
