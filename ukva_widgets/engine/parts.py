"""Cutting a per-mm machine into parts that can be searched one at a time.

Each part is one group of slot objects, UKVA pages and cached pages that reads, maps and the
cache tie together (with dynamic slots, one per files or sighand table, and one for the shared
page): a model in which tasks take only that part's reads, updates and writes, with TLBs that
never evict.  Parts that a renaming of the machine maps onto each other are searched once.
`explore._by_parts` combines their verdicts and says why that is sound.
"""

from __future__ import annotations

from typing import NamedTuple

from .model import Model
from .slots import PER_MM, SHARED
from .symmetry import Reduction


class Part(NamedTuple):
    """One part: its label ("slot files#2"), its model, and how many parts it stands for."""

    label: str
    model: Model
    count: int


def cut(model: Model) -> list[Part] | None:
    """The parts of `model`'s machine, or None where there is nothing to cut (other designs,
    or one part)."""
    L = model.layout
    if L.design != PER_MM:
        return None
    groups = _groups(model)
    if len(groups) < 2:
        return None
    base = model.unbounded()
    perms = Reduction(base).perms
    # Parts that a renaming of the (never evicting) machine maps onto each other: one search.
    classes: list[list[set]] = []
    for g in groups:
        objs = {x[1] for x in g if x[0] == "o"}
        for cls in classes:
            rep = {x[1] for x in cls[0] if x[0] == "o"}
            if objs and any(r.objects is not None and {r.objects[o] for o in objs} == rep for r in perms):
                cls.append(g)
                break
        else:
            classes.append([g])
    out = []
    for cls in classes:
        g = cls[0]
        layout = L.replace(
            read_pages=tuple(tuple(v for v in pages if ("v", m, v) in g) for pages, m in zip(L.read_pages, L.task_mm)),
            update_objects=tuple(tuple(o for o in objs if ("o", o) in g) for objs in L.update_objects),
            task_writes=tuple(tuple(p for p in ps if ("p", p) in g) for ps in L.task_writes))
        out.append(Part(_label(model, g), base.derived(layout=layout), len(cls)))
    return out


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
