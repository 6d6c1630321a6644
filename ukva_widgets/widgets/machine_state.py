"""What the widgets read of an SMP Machine, gathered for drawing: views of the Machine's named
readers (`cpu(c)`, `page_table(m)`, `tlb_gen(m)`, `cache(p)`, `pending(i)`, `layout`) shaped the
way the pictures lay them out (the CPUs' TLBs, the page tables with their slots, the pages).

Widgets read the machine through these functions and the Machine, never a state by position.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from ..engine import Machine, slot_address
from ..engine.slots import HOLE
from ..engine.state import Entry as TlbEntry
from ..engine.state import named


class Cpu(NamedTuple):
    running: int    # task index, -1 idle
    loaded: int     # MM index in CR3, -1 none
    lazy: bool      # a kernel thread or idle with an MM still loaded (lazy TLB)
    tlb: tuple[TlbEntry, ...]


class Table(NamedTuple):
    row: int        # which page table (one per MM, or per MM and CPU)
    mm: int
    copy_of: int    # the CPU whose copy this is under per-CPU page tables, else -1
    pages: tuple[int, ...]   # per UKVA page, the physical page it maps (-1 unmapped)
    slots: tuple[int | None, ...]   # per UKVA page, the object whose slot it is (None: none)
    used: tuple[int, ...]    # the UKVA pages the design uses (not a hole left by "same colour" placement)


class PageGroup(NamedTuple):
    name: str       # "files#2", "task 2 (sh)'s page", "cpu0's page"
    pages: tuple[int, ...]   # the versions side by side (one page for per-task and per-CPU)


class SharedPage(NamedTuple):
    written: int    # the version written last
    memory: int     # the version in memory
    lines: tuple[tuple[int, int, bool], ...]   # cache lines: (key, version, dirty)


def cpus(m: Machine) -> list[Cpu]:
    return [Cpu(cpu.current, cpu.loaded, m.is_lazy(c), cpu.tlb) for c, cpu in enumerate(m.cpus)]


def task_mm(m: Machine, task: int) -> int:
    """The MM index of task `task` (-1 for a kernel thread or idle)."""
    return m.layout.task_mm[task] if task >= 0 else -1


def loaded_after_each_step(m: Machine, start: int = 0) -> list[tuple[int, ...]]:
    """Per step of the history from `start` on, the MM each CPU had loaded just after it (the last
    is read off the machine; earlier ones by replaying its history on a twin)."""
    if start == len(m.history) - 1:
        return [tuple(cpu.loaded for cpu in cpus(m))]
    twin, out = m.fresh(), []
    for k, choice in enumerate(m.history):
        twin.step(choice.label)
        if k >= start:
            out.append(tuple(cpu.loaded for cpu in cpus(twin)))
    return out


def tables(m: Machine) -> list[Table]:
    s = m.layout
    out = []
    for row, pages in enumerate(m.state.page_tables):
        mm, copy = divmod(row, s.copies)
        slots = s.mm_slots[mm] if s.mm_slots else ()
        out.append(Table(row, mm, copy if s.copies > 1 else -1, tuple(pages),
                         tuple(slots[v] if v < len(slots) and slots[v] >= 0 else None for v in range(len(pages))),
                         tuple(v for v in range(len(pages)) if v >= len(slots) or slots[v] != HOLE)))
    return out


def tlb_rows(m: Machine) -> int:
    """How many TLB entries a CPU can ever hold here: room for them, so stepping resizes nothing."""
    return max(1, min(m.tlb_size, max(len(row) for row in m.state.page_tables) * m.n_asids))


def page_groups(m: Machine) -> list[PageGroup]:
    """Every physical page the UKVA can map on this machine, grouped: per-MM, each slot object's
    versions side by side, in the order the page tables hold the slots; per-task and per-CPU,
    each task's or CPU's page.  Fixed for the machine's life, so the picture never reorders."""
    s = m.layout
    if m.options.design != "per-mm":  # per-task pages are task indices, per-CPU pages CPU indices
        per_task = m.options.design == "per-task"
        owners = [i for i in range(len(s.tasks) if per_task else m.options.cpus) if not per_task or s.user[i]]
        return [PageGroup(m.page_label(i), (i,)) for i in owners]
    order = list(dict.fromkeys(o for slots in s.mm_slots for o in slots if o >= 0))
    order += [o for o in range(len(s.objects)) if o not in order]
    return [PageGroup(m.object_label(o), tuple(o * s.stride + g for g in range(s.stride))) for o in order]


def written(m: Machine, page: int) -> bool:
    """Whether this page holds data yet: a newer version exists once an update made it."""
    if m.options.design != "per-mm":
        return True
    o, gen = divmod(page, m.layout.stride)
    return gen <= m.version(o)


def copying(m: Machine) -> dict[int, int]:
    """Per CPU in the middle of a plain (not SMP-safe) update: the page of the copy it is making."""
    out = {}
    for c, cpu in enumerate(m.cpus):
        pending = m.pending(cpu.current) if cpu.current >= 0 else None
        if pending is not None:
            out[c] = pending.obj * m.layout.stride + pending.base + 1
    return out


def page_of(m: Machine, words: str) -> int | None:
    """The page a label names ("files#2 v1", "task 3 (sh)'s page"), or None if none does."""
    for group in page_groups(m):
        for page in group.pages:
            if m.page_label(page) == words:
                return page
    return None


# --- the shared page (CacheAliasing) ---------------------------------------------------------------

def shared_page(m: Machine) -> SharedPage:
    page = m.cache(m.layout.shared_index)
    lines = tuple((line.key, line.version, bool(line.dirty)) for line in page.lines)
    return SharedPage(page.written, page.memory, lines)


def shared_mappings(m: Machine) -> list[tuple[int, int, int]]:
    """Per MM mapping the shared page: (mm, its UKVA page, the cache line that address indexes)."""
    s = m.layout
    p = s.shared_index
    return [(mm, s.shared_vpage[mm], s.cache_key(p, mm)) for mm in range(len(s.mms))]


def user_tasks(m: Machine) -> list:
    """The machine's tasks that have an MM (kernel threads have no UKVA to read)."""
    return [t for t in m.tasks if t.mm is not None]


# --- choices ----------------------------------------------------------------------------------------

ACTIONS = ("switch", "read", "update", "finish", "write", "evict")


def choice_words(choice) -> str:
    """A choice's words without its actor ("read slot files#2" for "cpu0: read slot files#2")."""
    return choice.label.split(": ", 1)[1] if ": " in choice.label else choice.label


def choice_keys(choices: list) -> list[tuple]:
    """Where each choice goes among a CPU's buttons: a switch by its target, any other step by its
    verb and the kind of table it acts on ("read", "files"), the cache's by its words.  A key means
    the same thing whatever runs (a task reads one files table and one sighand table: its own)."""
    keys = []
    for choice in choices:
        words = choice_words(choice)
        if choice.action in ("switch", "evict"):
            keys.append((choice.action, words))
        else:
            table = re.search(r"([a-z]+)#\d+", words)
            keys.append((choice.action, table.group(1) if table else words))
    return keys


def choice_catalogue(m: Machine) -> tuple[dict[tuple, str], dict[tuple, str]]:
    """The buttons a CPU of this machine needs, key -> the words first seen there (see choice_keys),
    in button order; and the cache's.  Found from the choices cpu0 has at the start, after switching
    to each task, and after it then updates or writes (what a CPU may do depends only on what it
    runs, and every CPU may do what cpu0 may).  The stepper lays the buttons out once, so they keep
    their places; a choice met later (another interleaving) gets a button at the end."""
    from ..engine.machine import COUNTERS, Step

    model = m.model
    scratch = m.fresh()
    counts = [0] * len(COUNTERS)
    mine: dict[tuple, str] = {}
    cache: dict[tuple, str] = {}

    def offered(state: tuple) -> list:
        scratch.state = named(state)
        out = [Step(choice, scratch.label(choice)) for choice in model.enabled(state)]
        for choice, key in zip(out, choice_keys(out)):
            if choice.cpu == 0:
                mine.setdefault(key, choice_words(choice))
            elif choice.cpu < 0:
                cache.setdefault(key, choice_words(choice))
        return out

    start = scratch.state
    for switch in offered(start):
        if switch.cpu != 0:
            continue
        running, bad = model.next(start, switch.choice, counts)
        for choice in offered(running) if bad is None else ():
            if choice.cpu == 0 and choice.action in ("update", "write"):
                after, bad = model.next(running, choice.choice, counts)
                if bad is None:
                    offered(after)
    order = sorted(mine, key=lambda k: ACTIONS.index(k[0]))  # stable: first seen within a verb
    return {k: mine[k] for k in order}, cache


def address(vpage: int) -> int:
    """The virtual address of a UKVA page."""
    return slot_address(vpage)
