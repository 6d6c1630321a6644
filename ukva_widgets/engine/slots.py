"""Where the UKVA's pages are: the machine's layout, fixed before it runs.

From the tasks and the options: which MMs there are and whose tasks use them; under per-mm,
which objects each MM needs a slot for (each files and sighand table its tasks use, or one
fixed slot per kind) and at which UKVA page each slot sits; which pages are mapped in several
MMs and so go through the data cache, and where each MM places them; and what each task reads,
updates and writes.  model.py steps over states and looks all of this up here; it never
changes while the machine runs.  The rules are those of the module docstring of model.py,
sections 5 and 8 (notebooks/sources.ipynb §1 and §7).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .options import DESIGNS, Options

if TYPE_CHECKING:
    from .task import Task

SLOT_KINDS = ("files", "sighand")
# Page colours of the virtually indexed cache: ARM's SHMLBA is 4 pages (notebooks/sources.ipynb §7).
COLOURS = 4
PER_TASK, PER_CPU, PER_MM = range(3)
DESIGN_PAGE = -1          # in `mm_slots`, per-task and per-cpu: the one UKVA page, showing the design's page
HOLE = -2                 # in `mm_slots`: a UKVA page no slot uses (the shared page, or left free by "same colour")
SHARED = -1               # in `cached`: the shared page (otherwise an object index)
SHARED_KEY_PHYSICAL = -1  # the cache key of a page under a physically indexed cache


@dataclass(frozen=True)
class Layout:
    """The machine's layout (see the module docstring); every field is a tuple indexed by task,
    MM, object or cached page number.

    - `tasks`, `mms`: the Kernel's objects; `task_mm[i]` is task i's MM (-1: a kernel thread);
      `user[i]` whether task i has an MM.
    - `objects`: per slot object (per-mm only), (kind, the Kernel's files or sighand table).
    - `mm_slots[m]`: per UKVA page of MM m, the object whose slot it is, HOLE, or DESIGN_PAGE
      (per-task, per-cpu); empty for an MM whose UKVA a part of the search leaves out.
    - `cached`: the pages mapped in several MMs (slot objects, then SHARED for the shared page);
      `cached_vpage[p][m]`: the UKVA page where MM m maps cached page p (-1: it does not).
    - `task_reads[i]`: per slot task i reads, (UKVA page, the object it expects there; -1 for the
      design's page); `read_pages[i]` the UKVA pages it may read (slots and the shared page);
      `update_objects[i]` the objects it may update; `task_writes[i]` the cached pages it writes.
    - `read_info[i][v]`: for a read of UKVA page v by task i, (the object expected there, None
      for the shared page, -1 for the design's page; the cached page there or -1; its cache key).
    - `obj_maps[o]`: (MM, UKVA page) of every slot that maps object o, in update order.
    - `stride`: pages per object (one per version); `copies`: page tables per MM (1, or one per
      CPU under per-CPU page tables); `design`: PER_TASK, PER_CPU or PER_MM."""

    tasks: tuple[Task, ...]
    mms: tuple[Any, ...]
    objects: tuple[tuple[str, Any], ...]
    design: int
    stride: int
    copies: int
    virtual_cache: bool
    task_mm: tuple[int, ...]
    user: tuple[bool, ...]
    mm_slots: tuple[tuple[int, ...], ...]
    cached: tuple[int, ...]
    cached_vpage: tuple[tuple[int, ...], ...]
    task_reads: tuple[tuple[tuple[int, int], ...], ...]
    read_pages: tuple[tuple[int, ...], ...]
    update_objects: tuple[tuple[int, ...], ...]
    task_writes: tuple[tuple[int, ...], ...]
    read_info: tuple[dict[int, tuple[int | None, int, int]], ...]
    obj_maps: tuple[tuple[tuple[int, int], ...], ...]

    @property
    def shared_index(self) -> int:
        """The cached page that is the shared page, or -1."""
        return self.cached.index(SHARED) if SHARED in self.cached else -1

    @property
    def shared_vpage(self) -> tuple[int, ...]:
        """Per MM, the UKVA page of the shared page (empty without one)."""
        p = self.shared_index
        return self.cached_vpage[p] if p >= 0 else ()

    def table(self, m: int, c: int) -> int:
        """The page table (row of State.page_tables) that CPU `c` walks for MM `m`."""
        return m * self.copies + c if self.copies > 1 else m

    def cache_key(self, p: int, m: int) -> int:
        """The line cached page `p` occupies when reached through MM `m`'s mapping."""
        return self.cached_vpage[p][m] % COLOURS if self.virtual_cache else SHARED_KEY_PHYSICAL

    def vpage_cached(self, m: int, v: int) -> int:
        """The cached page MM `m` maps at UKVA page `v`, or -1."""
        for p, where in enumerate(self.cached_vpage):
            if where[m] == v:
                return p
        return -1

    def pages_per_mm(self) -> int:
        """The UKVA pages of the MM that has most: slots and the shared page."""
        return max([len(s) for s in self.mm_slots] + [v + 1 for v in self.shared_vpage] + [0])

    def replace(self, **changes: Any) -> Layout:
        return dataclasses.replace(self, **changes)


def build(tasks: list[Task], opts: Options) -> Layout:
    """The layout of a machine running `tasks` with options `opts`."""
    design = DESIGNS.index(opts.design)
    mms: list[Any] = []
    for t in tasks:
        if t.mm is not None and all(t.mm is not m for m in mms):
            mms.append(t.mm)
    task_mm = tuple(-1 if t.mm is None else next(i for i, m in enumerate(mms) if m is t.mm) for t in tasks)
    objects: list[tuple[str, Any]] = []
    needs = _slot_needs(tasks, task_mm, len(mms), objects, design, opts.slots)
    # Pages mapped in several MMs go through the cache: objects first, then the shared page.
    cached = tuple(o for o in range(len(objects)) if sum(o in objs for objs in needs) > 1)
    if opts.shared_page:
        cached += (SHARED,)
    mm_slots, cached_vpage = _place(needs, cached, design, opts.shared_placement == "same colour")
    task_reads = tuple(_reads(tasks[i], m, mm_slots, objects, design) for i, m in enumerate(task_mm))
    shared_vpage = cached_vpage[cached.index(SHARED)] if opts.shared_page else ()
    # The UKVA pages a task can read (one choice each): its slots, and the shared page.
    read_pages = tuple(tuple(dict.fromkeys([v for v, _ in reads] + ([shared_vpage[m]] if shared_vpage and m >= 0
                                                                    else [])))
                       for reads, m in zip(task_reads, task_mm))
    layout = Layout(
        tasks=tuple(tasks), mms=tuple(mms), objects=tuple(objects), design=design, stride=opts.updates + 1,
        copies=opts.cpus if opts.page_tables == "per-cpu" else 1, virtual_cache=opts.cache == "virtual",
        task_mm=task_mm, user=tuple(m >= 0 for m in task_mm), mm_slots=mm_slots, cached=cached,
        cached_vpage=cached_vpage, task_reads=task_reads, read_pages=read_pages,
        # Per task, the slot objects it may update (per-mm: the tables it reads), in order.
        update_objects=tuple(tuple(dict.fromkeys(o for _, o in reads)) if design == PER_MM else ()
                             for reads in task_reads),
        task_writes=tuple(tuple(p for p, o in enumerate(cached)
                                if m >= 0 and (o == SHARED or any(o == x for _, x in reads)))
                          for reads, m in zip(task_reads, task_mm)),
        read_info=(), obj_maps=tuple(tuple((m, v) for m, slots in enumerate(mm_slots)
                                           for v, s in enumerate(slots) if s == o) for o in range(len(objects))))
    return layout.replace(read_info=read_info(layout))


def read_info(layout: Layout) -> tuple[dict[int, tuple[int | None, int, int]], ...]:
    """Per task and UKVA page it may read: (the object expected there, None for the shared page;
    the cached page there or -1; that page's cache line through the task's MM)."""
    out = []
    for reads, pages, m in zip(layout.task_reads, layout.read_pages, layout.task_mm):
        info = {}
        for v in pages:
            p = layout.vpage_cached(m, v)
            info[v] = (next((x for w, x in reads if w == v), None), p, layout.cache_key(p, m) if p >= 0 else 0)
        out.append(info)
    return tuple(out)


def _slot_needs(tasks: list[Task], task_mm: tuple[int, ...], nmm: int, objects: list[tuple[str, Any]],
                design: int, slots: str) -> list[list[int]]:
    """Per MM, the objects it needs a slot for, in allocation order (per-mm only): each files
    and sighand table one of its tasks uses (slots="dynamic"), or the first of each kind
    ("fixed").  Fills `objects` as it meets them."""
    needs: list[list[int]] = []
    for m in range(nmm):
        objs: list[int] = []
        if design == PER_MM:
            for kind in SLOT_KINDS:
                for i in (i for i, x in enumerate(task_mm) if x == m):
                    o = _object(objects, kind, getattr(tasks[i], kind))
                    if o not in objs and (slots == "dynamic" or not any(objects[s][0] == kind for s in objs)):
                        objs.append(o)
        needs.append(objs)
    return needs


def _object(objects: list[tuple[str, Any]], kind: str, obj: Any) -> int:
    for i, (k, o) in enumerate(objects):
        if k == kind and o is obj:
            return i
    objects.append((kind, obj))
    return len(objects) - 1


def _place(needs: list[list[int]], cached: tuple[int, ...], design: int,
           same_colour: bool) -> tuple[tuple[tuple[int, ...], ...], tuple[tuple[int, ...], ...]]:
    """Per MM, what each UKVA page holds; and per cached page its UKVA page in each MM.

    Each MM allocates its slots in order from the bottom of the UKVA.  A page mapped in several
    MMs takes, under "per-mm allocator", the MM's own slot for it (the shared page the next free
    one), so its colour differs between MMs whose layouts differ; under "same colour" it sits at
    a UKVA page whose colour is its own (its index modulo COLOURS) in every MM, as SHMLBA
    alignment does, leaving holes where it must."""
    nmm = len(needs)
    mm_slots: list[tuple[int, ...]] = []
    cached_vpage = [[-1] * nmm for _ in cached]
    for m in range(nmm):
        if design != PER_MM:
            mm_slots.append((DESIGN_PAGE,))
            continue
        row = [o for o in needs[m] if not (same_colour and o in cached)]
        for p, o in enumerate(cached):
            if o != SHARED and o not in needs[m]:
                continue
            if same_colour:
                v = next(v for v in range(len(row), len(row) + COLOURS) if v % COLOURS == p % COLOURS)
                v = min([h for h, x in enumerate(row) if x == HOLE and h % COLOURS == p % COLOURS] + [v])
                row += [HOLE] * (v + 1 - len(row))
            else:
                v = row.index(o) if o in row else len(row)
                if v == len(row):
                    row.append(HOLE)
            if o != SHARED:
                row[v] = o
            cached_vpage[p][m] = v
        # The shared page is not a slot (never remapped): a HOLE in the slot row, trimmed at the end.
        while row and row[-1] == HOLE:
            row.pop()
        mm_slots.append(tuple(row))
    return tuple(mm_slots), tuple(tuple(row) for row in cached_vpage)


def _reads(task: Task, m: int, mm_slots: tuple[tuple[int, ...], ...], objects: list[tuple[str, Any]],
           design: int) -> tuple[tuple[int, int], ...]:
    """The slots `task` (of MM `m`) reads: (UKVA page, the object it expects there).  A task
    reads its own files and sighand tables; under fixed slots one of them may sit in no slot of
    its own, and the task reads the fixed slot of its kind (where another table is mapped)."""
    if m < 0:
        return ()
    if design != PER_MM:
        return ((0, DESIGN_PAGE),)
    slots = mm_slots[m]
    reads = []
    for kind in SLOT_KINDS:
        o = _object(objects, kind, getattr(task, kind))
        vpage = slots.index(o) if o in slots else next(
            v for v, s in enumerate(slots) if s >= 0 and objects[s][0] == kind)
        reads.append((vpage, o))
    return tuple(reads)
