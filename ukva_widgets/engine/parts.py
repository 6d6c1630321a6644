"""Cutting a machine into parts that can be searched one at a time.

- Per-mm: one part per group of slot objects, UKVA pages and cached pages that reads, maps and
  the cache tie together (with dynamic slots, one per files or sighand table, and one for the
  shared page).  Tasks take only that part's reads, updates and writes, and TLBs never evict.
- Per-task and per-cpu, where no TLB can fill up: one part per MM, in which only that MM's
  tasks read the UKVA.

In a part, the MMs none of its steps touch (no task of theirs reads, updates or writes
anything of the part, and they map nothing of it) are merged into one MM without a UKVA
(`merge_others`): their tasks become interchangeable, which is what keeps a part of a machine
of several processes small.  Parts that a renaming maps onto each other are searched once.
`explore._by_parts` combines the parts' verdicts and says why that is sound.
"""

from __future__ import annotations

from typing import NamedTuple

from .model import Model
from .slots import PER_MM, SHARED, Layout


class Part(NamedTuple):
    """One part: its label ("slot files#2"), its model, and how many parts it stands for."""

    label: str
    model: Model
    count: int


class OtherMMs:
    """Stands, in a part's layout, for the MMs merged into one (merge_others)."""

    label = "the other MMs"


def cut(model: Model) -> list[Part] | None:
    """The parts of `model`'s machine, or None where there is nothing to cut; parts of one
    shape (`_shape`) are searched once, the first standing for the others."""
    pieces = _slot_parts(model) if model.layout.design == PER_MM else _mm_parts(model)
    if pieces is None:
        return None
    classes: dict[tuple, list[Part]] = {}
    for piece in pieces:
        classes.setdefault(_shape(piece.model.layout), []).append(piece)
    return [group[0]._replace(count=len(group)) for group in classes.values()]


def _slot_parts(model: Model) -> list[Part] | None:
    """Per-mm: one part per group of slots (`_groups`)."""
    L = model.layout
    groups = _groups(model)
    if len(groups) < 2:
        return None
    base = model.unbounded()
    out = []
    for g in groups:
        layout = L.replace(
            read_pages=tuple(tuple(v for v in pages if ("v", m, v) in g) for pages, m in zip(L.read_pages, L.task_mm)),
            update_objects=tuple(tuple(o for o in objs if ("o", o) in g) for objs in L.update_objects),
            task_writes=tuple(tuple(p for p in ps if ("p", p) in g) for ps in L.task_writes))
        out.append(Part(_label(model, g), _part_model(base, layout), 1))
    return out


def _mm_parts(model: Model) -> list[Part] | None:
    """Per-task and per-cpu: one part per MM whose tasks read (see `explore._by_parts`), only
    where no TLB can fill up."""
    L = model.layout
    mms = sorted({m for m, pages in zip(L.task_mm, L.read_pages) if m >= 0 and pages})
    if len(mms) < 2 or model.can_evict():
        return None
    return [Part(f"the tasks of {L.mms[m].label}",
                 _part_model(model, L.replace(read_pages=tuple(pages if x == m else ()
                                                               for pages, x in zip(L.read_pages, L.task_mm)))), 1)
            for m in mms]


def _shape(L: Layout) -> tuple:
    """A part's layout as its steps see it, with tasks, MMs, objects, UKVA pages and cached
    pages named in the order they first appear when the tasks are taken in the order of what
    they do.  Two parts of one shape are one machine up to that renaming: every step looks at
    exactly what the shape holds (a slot that no step of the part reads or updates keeps its
    page throughout), and since a part's TLBs never evict, the order in which a TLB keeps its
    entries, which renaming UKVA pages may change, never matters.  So their searches find the
    same verdict at the same depth, and one stands for the other."""
    def does(i: int) -> tuple:
        m = L.task_mm[i]
        return (m < 0, m >= 0 and not L.mm_slots[m], len(L.read_pages[i]), len(L.update_objects[i]),
                len(L.task_writes[i]), L.user[i])

    mm: dict[int, int] = {}
    obj: dict[int, int] = {}
    page: dict[int, int] = {}
    vpage: dict[int, dict[int, int]] = {}

    def name(names: dict, x: int) -> int:
        return x if x < 0 else names.setdefault(x, len(names))

    tasks = []
    for i in sorted(range(len(L.tasks)), key=lambda i: (does(i), i)):
        m = L.task_mm[i]
        here = vpage.setdefault(m, {})
        reads = tuple((name(here, v), (o if o is None else name(obj, o), name(page, p), key))
                      for v in L.read_pages[i] for o, p, key in [L.read_info[i][v]])
        writes = tuple((name(page, p), L.cache_key(p, m)) for p in L.task_writes[i])
        tasks.append((name(mm, m), bool(m >= 0 and L.mm_slots[m]), reads,
                      tuple(name(obj, o) for o in L.update_objects[i]), writes))
    def where(m: int, v: int) -> tuple[int, int]:
        return mm[m], name(vpage.setdefault(m, {}), v)

    maps = tuple(sorted((obj[o], tuple(where(m, v) for m, v in L.obj_maps[o])) for o in obj))
    cached = tuple(sorted((page[p], -1 if L.cached[p] == SHARED else name(obj, L.cached[p]),
                           tuple(sorted(where(m, v) for m, v in enumerate(L.cached_vpage[p]) if v >= 0 and m in mm)))
                          for p in page))
    return (tuple(tasks), maps, cached, len(L.mms))


def _part_model(model: Model, layout: Layout) -> Model:
    """The model of a part: `layout`'s steps, the untouched MMs merged where that is sound."""
    if not model.opts.pcid or model.static_asids:
        layout = merge_others(layout, relevant_mms(layout))
    return model.derived(layout=layout)


def relevant_mms(L: Layout) -> set[int]:
    """The MMs a part's steps touch: those of tasks that read, update or write, and those that
    map an object it updates or a cached page it reads or writes."""
    out = {m for m, reads, updates, writes in zip(L.task_mm, L.read_pages, L.update_objects, L.task_writes)
           if m >= 0 and (reads or updates or writes)}
    for i in range(len(L.tasks)):
        out |= {mm for o in L.update_objects[i] for mm, _ in L.obj_maps[o]}
        pages = set(L.task_writes[i]) | {L.read_info[i][v][1] for v in L.read_pages[i]} - {-1}
        out |= {mm for p in pages for mm, v in enumerate(L.cached_vpage[p]) if v >= 0}
    return out


def merge_others(L: Layout, keep: set[int]) -> Layout:
    """`L` with every MM outside `keep` merged into one MM that has no UKVA (its tasks switch,
    and read, update and write nothing); `L` itself when every MM is kept.

    Why a part may do this.  Let X be the MMs outside `keep`.  Nothing of the part reads or
    changes their page tables, slots or tlb_gen, and no TLB entry under their ASIDs is ever
    filled (their tasks read nothing).  What their tasks do that the part sees is only this:
    they occupy a CPU, and loading their MM takes the CPU out of the kept MMs' cpumasks, and,
    without PCID, the CR3 write empties its TLB.  Whether the CPU then had MM x or MM y of X
    loaded changes nothing else: without PCID the TLB holds no entry while an MM of X is loaded
    (the CR3 write that loaded it emptied it, and nothing of X reads), so a second CR3 write
    between two MMs of X empties an empty TLB; with one ASID slot per MM (PCID, no more MMs
    than slots) loading an MM of X touches only its own slot.  So the part with X merged into
    one MM makes the same steps with the same effect on everything the part reads, and the
    same violations at the same depths.  With PCID and more MMs than slots, which slot an MM
    gets depends on every MM: there `_part_model` keeps them apart."""
    others = [m for m in range(len(L.mms)) if m not in keep]
    if not others:
        return L
    kept = [m for m in range(len(L.mms)) if m in keep]
    new = {m: i for i, m in enumerate(kept)} | dict.fromkeys(others, len(kept))
    return L.replace(
        mms=tuple(L.mms[m] for m in kept) + (OtherMMs(),),
        task_mm=tuple(-1 if m < 0 else new[m] for m in L.task_mm),
        mm_slots=tuple(L.mm_slots[m] for m in kept) + ((),),
        cached_vpage=tuple(tuple(row[m] for m in kept) + (-1,) for row in L.cached_vpage),
        obj_maps=tuple(tuple((new[m], v) for m, v in maps if m in keep) for maps in L.obj_maps))


def _groups(model: Model) -> list[set]:
    """The groups of ("o", object), ("v", MM, UKVA page) and ("p", cached page) that a read, a
    mapping or the cache ties together, each holding an object or a cached page, in order."""
    L = model.layout
    parent: dict[tuple, tuple] = {}

    def find(x: tuple) -> tuple:
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    def join(a: tuple, b: tuple) -> None:
        parent[find(a)] = find(b)

    for o, maps in enumerate(L.obj_maps):
        find(("o", o))
        for m, v in maps:
            join(("o", o), ("v", m, v))
    for i, m in enumerate(L.task_mm):
        for v in L.read_pages[i]:
            o, p, _ = L.read_info[i][v]
            if o is not None:
                join(("v", m, v), ("o", o))
            if p >= 0:
                join(("v", m, v), ("p", p))
    for p, o in enumerate(L.cached):
        if o != SHARED:
            join(("p", p), ("o", o))
    groups: dict[tuple, set] = {}
    for x in list(parent):
        groups.setdefault(find(x), set()).add(x)
    cut = [g for g in groups.values() if any(x[0] in "op" for x in g)]
    return sorted(cut, key=lambda g: min(x for x in g if x[0] in "op"))


def _label(model: Model, group: set) -> str:
    L = model.layout
    names = []
    for x in sorted(x for x in group if x[0] in "op"):
        if x[0] == "o":
            kind, obj = L.objects[x[1]]
            names.append(getattr(obj, "label", kind))
        elif L.cached[x[1]] == SHARED:
            names.append("the shared page")
    return "slot " + " + ".join(names) if names else "the shared page"
