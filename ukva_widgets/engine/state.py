"""What a state of the SMP machine is made of, and what a raw choice is.

Every part is a NamedTuple: it reads by name (`state.cpus[0].tlb`), and it hashes and compares
exactly like the plain tuple of its fields.  Nothing here changes after it is made: a step
builds new tuples (model.py).

Inside the model and the searches, states are the plain tuples of these layouts: a tuple
subclass is allocated without the tuple free list and compared without sort's fast path for
tuples, which made the search a third slower, and the search builds millions of them.  A
plain state and its named form are equal and hash alike; `named` turns the one into the other,
and `Machine` (the one reader for everything outside the model and the searches) hands out
named states only.

Numbers name things by their index in the machine's layout (slots.py): task i, MM m, slot
object o, UKVA page v of an MM, cached page p.  A "page" (what a translation points at) is a
physical page: under per-task the page of task i is i, under per-cpu the page of CPU c is c,
under per-mm version g of object o is `o * layout.stride + g`; -1 is "nothing mapped".
"""

from __future__ import annotations

from typing import NamedTuple

# The kinds of step, as small ints (the explorer's hot loop compares them), with their names.
SWITCH, READ, UPDATE, WRITE, EVICT, FINISH = range(6)
ACTIONS = ("switch", "read", "update", "write", "evict", "finish")


class Entry(NamedTuple):
    """A TLB entry: UKVA page `vpage` of the address space in ASID slot `asid` maps `page`."""

    asid: int
    vpage: int
    page: int


class AsidSlot(NamedTuple):
    """One of a CPU's ASID slots (the kernel's cpu_tlbstate.ctxs[]): the MM it was last given
    to (-1: never) and the MM's tlb_gen the CPU has caught up with."""

    mm: int
    gen: int


class Cpu(NamedTuple):
    """One CPU: the running task (-1: idle), the MM whose page table it has loaded (CR3; -1:
    none; a kernel thread keeps the previous one, lazy TLB), the ASID slot in use, the next
    slot to give out round-robin, its ASID slots, and its TLB, sorted so that two TLBs holding
    the same entries are equal."""

    current: int
    loaded: int
    asid: int
    next_asid: int
    asids: tuple[AsidSlot, ...]
    tlb: tuple[Entry, ...]


class Pending(NamedTuple):
    """A task's update in progress: the slot object, the version it copied, and how many of the
    object's MMs it has mapped the copy into so far."""

    obj: int
    base: int
    mapped: int


class Line(NamedTuple):
    """A line of the data cache holding a cached page: its key (-1 under a physically indexed
    cache, else the colour of the address it was reached through), the data version it holds,
    and whether it is dirty (1) or clean (0)."""

    key: int
    version: int
    dirty: int


class CachedPage(NamedTuple):
    """The data of a page mapped in several MMs: the version written last, the version in
    memory, and its lines in the cache, sorted."""

    written: int
    memory: int
    lines: tuple[Line, ...]


class Updates(NamedTuple):
    """Per slot object its version, and per task its update in progress (None: none)."""

    versions: tuple[int, ...]
    pending: tuple[Pending | None, ...]


class State(NamedTuple):
    """The whole machine: its CPUs; per page table (per MM, or per MM and CPU under per-CPU page
    tables: Layout.table says which) the page each UKVA page maps; per MM its tlb_gen; the
    updates (versions and updates in progress); per cached page its data."""

    cpus: tuple[Cpu, ...]
    page_tables: tuple[tuple[int, ...], ...]
    tlb_gen: tuple[int, ...]
    updates: Updates
    caches: tuple[CachedPage, ...]


def named(state: tuple) -> State:
    """`state`, a plain tuple laid out as State (as the model makes them), with every part named."""
    cpus, tables, tlb_gen, (versions, pending), caches = state
    return State(tuple(Cpu(cur, loaded, asid, rr, tuple(AsidSlot(*slot) for slot in asids),
                           tuple(Entry(*e) for e in tlb)) for cur, loaded, asid, rr, asids, tlb in cpus),
                 tables, tlb_gen, Updates(versions, tuple(None if p is None else Pending(*p) for p in pending)),
                 tuple(CachedPage(written, memory, tuple(Line(*line) for line in lines))
                       for written, memory, lines in caches))


class Choice(NamedTuple):
    """One enabled step in raw form, as the model and the searches pass it around.

    | kind   | cpu          | arg                          | sub                              |
    |--------|--------------|------------------------------|----------------------------------|
    | SWITCH | the CPU      | the task to run (-1: idle)   | 0                                |
    | READ   | the CPU      | the UKVA page read           | 0                                |
    | UPDATE | the CPU      | the slot object              | 0                                |
    | FINISH | the CPU      | the slot object              | which of its MMs it maps next    |
    | WRITE  | the CPU      | the cached page              | 0                                |
    | EVICT  | -1 (cache)   | the cached page              | the line's key                   |

    Machine.choices() gives the same steps with words (`Step`)."""

    kind: int
    cpu: int
    arg: int
    sub: int = 0

    @property
    def action(self) -> str:
        return ACTIONS[self.kind]


class Bad(NamedTuple):
    """What a step that breaks the invariant returns beside the state (properties.py says when):
    on CPU `cpu` task `task` read UKVA page `vpage` and got `got` where it should have got
    `want` (pages, or data versions when `source` is "cache" or "memory"); `source` says where
    the answer came from: "tlb", "walk", "refill", "cache", "memory", or "lost" for an update
    that mapped its copy over a version it never saw (`got` the page it replaced, `want` the
    page it copied)."""

    cpu: int
    task: int
    vpage: int
    got: int
    want: int
    source: str
