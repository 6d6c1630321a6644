"""What one MM's address space looks like with a UKVA in it, and what the UKVA shows.

The addresses are those of i386 with the 3G/1G split the 2002 thread argued about (notebooks/sources.ipynb §1:
Linus kept 3/1G): user space below PAGE_OFFSET, the kernel above it, and the UKVA as Martin
Bligh proposed it, a fixed amount of space between the top of the user stack and PAGE_OFFSET
(<2156501334.1029532543@[10.10.2.3]>).  The user regions are illustrative, not read from a
process.  The AddressSpaceMap widget draws `address_space(...)`; `ukva_shows(...)` says what
the fixed UKVA address shows for one task on one CPU under the machine's design.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .slots import HOLE

if TYPE_CHECKING:
    from .machine import Machine
    from .task import Task

PAGE_SIZE = 0x1000
PAGE_OFFSET = 0xC0000000          # i386 3G/1G split: the kernel half starts here
UKVA_SIZE = 0x400000              # 4 MiB: room for 1024 slots of one page
UKVA_BASE = PAGE_OFFSET - UKVA_SIZE
USER_REGIONS = (                  # (start, end, name): a typical i386 ELF process
    (0x08048000, 0x08100000, "text and data"),
    (0x08100000, 0x10000000, "heap"),
    (0x40000000, 0x40200000, "shared libraries"),
    (0xBF800000, UKVA_BASE, "user stack"),
)


def slot_address(vpage: int) -> int:
    """The virtual address of UKVA page number `vpage` (slot 0 is the fixed UKVA address)."""
    return UKVA_BASE + vpage * PAGE_SIZE


@dataclass(frozen=True)
class Region:
    """One range of an address space; `detail` says what is mapped there."""

    start: int
    end: int
    name: str
    detail: str = ""

    def text(self) -> str:
        extra = f"  {self.detail}" if self.detail else ""
        return f"{self.start:#010x}-{self.end - 1:#010x}  {self.name}{extra}"

    __repr__ = text


@dataclass(frozen=True)
class AddressSpace:
    """The regions of one MM, lowest address first."""

    mm: str
    regions: tuple[Region, ...]

    def text(self) -> str:
        return "\n".join([f"address space of {self.mm}"] + ["  " + r.text() for r in self.regions])

    __repr__ = text


def address_space(machine: Machine, task: Task) -> AddressSpace:
    """The address space `task` runs in on `machine`: its user regions, the UKVA pages the
    machine's design puts in its MM (one per slot, plus the shared page), and the kernel half."""
    s, opts = machine.layout, machine.options
    i = machine.task_index(task)
    m = s.task_mm[i]
    if m < 0:
        raise ValueError(f"{machine.task_label(i)} is a kernel thread: it has no user address space "
                         "(it borrows the last MM lazily); pick a user task")
    regions = [Region(a, b, name) for a, b, name in USER_REGIONS]
    for vpage, o in enumerate(s.mm_slots[m]):
        if o == HOLE:
            continue
        if o < 0:
            what = {"per-task": "the running task's page", "per-cpu": "this CPU's page"}[opts.design]
            regions.append(Region(slot_address(vpage), slot_address(vpage + 1), "UKVA (fixed address)", what))
        else:
            kind = s.objects[o][0]
            users = sorted(s.tasks[t].pid for t, reads in enumerate(s.task_reads)
                           if any(v == vpage for v, _ in reads) and s.task_mm[t] == m)
            name = f"UKVA slot {vpage}" + (f" (the fixed {kind} address)" if opts.slots == "fixed" else "")
            also = (f"; also mapped by {len(s.obj_maps[o]) - 1} other MM{'s' * (len(s.obj_maps[o]) > 2)}"
                    if len(s.obj_maps[o]) > 1 else "")
            regions.append(Region(slot_address(vpage), slot_address(vpage + 1), name,
                                  f"{s.objects[o][1].label}, read by task{'s' * (len(users) > 1)} "
                                  f"{', '.join(map(str, users))}{also}"))
    if opts.shared_page:
        v = s.shared_vpage[m]
        regions.append(Region(slot_address(v), slot_address(v + 1), f"UKVA slot {v}",
                              "the shared page (also mapped by the other MMs, at " +
                              ("slots of the same colour)" if opts.shared_placement == "same colour"
                               else "their own slots)")))
        regions.sort(key=lambda r: r.start)
    regions.append(Region(PAGE_OFFSET, 0x1_0000_0000, "kernel", "the same in every MM"))
    return AddressSpace(machine.mm_label(m), tuple(regions))


@dataclass(frozen=True)
class UkvaView:
    """What the fixed UKVA address should show for one task on one CPU (`should`), what its MM's
    page table maps there now (`maps`, the walker's answer), and whether a walk now gives the
    right page (`correct`; under software refill of per-task or per-cpu there is no entry and the
    handler loads the right page)."""

    address: int
    mm: str
    should: str
    maps: str
    correct: bool

    def text(self) -> str:
        return f"{self.address:#010x} should show {self.should}; {self.mm}'s page table maps it to {self.maps}"


def ukva_view(machine: Machine, task: Task, cpu: int) -> UkvaView:
    """`ukva_shows` as data, for a view that marks right and wrong (raises ValueError for a kernel
    thread, which has no UKVA of its own, and for a CPU the machine does not have)."""
    s, design = machine.layout, machine.options.design
    i = machine.task_index(task)
    machine.cpu(cpu)  # refuses a CPU the machine does not have
    m = s.task_mm[i]
    if m < 0:
        raise ValueError(f"{machine.task_label(i)} is a kernel thread: it has no UKVA of its own")
    vpage, o = s.task_reads[i][0]
    page = machine.page_table(m, cpu)[vpage]
    if design == "per-task":
        want, right = f"{machine.task_label(i)}'s page", i
    elif design == "per-cpu":
        want, right = f"cpu{cpu}'s page", cpu
    else:
        want, right = f"the slot of {s.objects[o][1].label}", o * s.stride + machine.version(o)
    if machine.options.fill == "hardware" or design == "per-mm":
        return UkvaView(slot_address(vpage), machine.mm_label(m), want, machine.page_label(page), page == right)
    return UkvaView(slot_address(vpage), machine.mm_label(m), want, "no entry: software refill", True)


def ukva_shows(machine: Machine, task: Task, cpu: int) -> str:
    """What the fixed UKVA address should show when `task` runs on `cpu`, and what the page
    table of its MM actually maps there now (the walker's answer)."""
    try:
        return ukva_view(machine, task, cpu).text()
    except ValueError:
        if machine.layout.task_mm[machine.task_index(task)] < 0:
            return f"{machine.task_label(machine.task_index(task))} is a kernel thread: it has no UKVA of its own"
        raise
