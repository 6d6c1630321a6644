"""The SMP machine's settings and their validation, shared by the machine and the cost simulator."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

DESIGNS = ("per-task", "per-cpu", "per-mm")
FILLS = ("hardware", "software")
SLOTS = ("dynamic", "fixed")
CACHES = ("physical", "virtual")
PLACEMENTS = ("per-mm allocator", "same colour")
PAGE_TABLES = ("shared", "per-cpu")
COUNTERS = ("tlb_misses", "page_walks", "refill_traps", "page_flushes", "full_flushes", "cr3_writes", "ipis")
MAX_CPUS = 8
MAX_TASKS = 8


def pick(name: str, value: object, allowed: tuple[str, ...]) -> str:
    """`value` if it is one of `allowed`; else an error naming the choices and the closest."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, one of {', '.join(allowed)}; got {type(value).__name__}")
    if value not in allowed:
        close = difflib.get_close_matches(value, allowed, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown {name} {value!r}: use one of {', '.join(allowed)}.{hint}")
    return value


def int_in(name: str, value: object, low: int, high: int) -> int:
    """`value` if it is an int from `low` to `high` (a bool is not an int here)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int from {low} to {high}; got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name}={value} is out of range: use {low} to {high}")
    return value


def boolean(name: str, value: object) -> bool:
    """`value` if it is True or False (1 and 0 are refused: a typo more often than not)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False; got {value!r}")
    return value


@dataclass(frozen=True)
class Options:
    """The machine's settings, validated (model.py's docstring says what each does)."""

    cpus: int = 2
    design: str = "per-task"
    fill: str = "hardware"
    pcid: bool = False
    flush_on_same_mm_switch: bool = False
    smp_safe: bool = True
    slots: str = "dynamic"
    cache: str = "physical"
    shared_page: bool = False
    tlb_size: int = 4
    updates: int = 1
    shared_placement: str = "per-mm allocator"
    page_tables: str = "shared"

    def __post_init__(self) -> None:
        int_in("cpus", self.cpus, 1, MAX_CPUS)
        pick("design", self.design, DESIGNS)
        pick("fill", self.fill, FILLS)
        pick("slots", self.slots, SLOTS)
        pick("cache", self.cache, CACHES)
        pick("shared_placement", self.shared_placement, PLACEMENTS)
        pick("page_tables", self.page_tables, PAGE_TABLES)
        for name in ("pcid", "flush_on_same_mm_switch", "smp_safe", "shared_page"):
            boolean(name, getattr(self, name))
        int_in("tlb_size", self.tlb_size, 1, 64)
        int_in("updates", self.updates, 0, 3)
        if self.shared_page and self.design != "per-mm":
            raise ValueError("shared_page maps one page into the per-MM area of several MMs: "
                             "use design='per-mm' with it")

    def text(self) -> str:
        parts = [f"{self.design} UKVA", f"{self.fill} fill", f"{self.cpus} CPU{'s' * (self.cpus > 1)}",
                 "PCID" if self.pcid else "no PCID"]
        if self.flush_on_same_mm_switch:
            parts.append("flush on same-MM switch")
        if self.page_tables == "per-cpu":
            parts.append("per-CPU page tables")
        if self.design == "per-mm":
            parts += [f"{self.slots} slots", "SMP-safe updates" if self.smp_safe else "plain updates"]
        if self.shared_page:
            parts.append("shared page")
        if self.design == "per-mm" and (self.shared_page or self.cache != "physical"):
            parts.append(f"{self.cache} cache, {self.shared_placement} placement")
        return ", ".join(parts)
