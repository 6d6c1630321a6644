"""CacheAliasing: two MMs map one physical page into their per-MM areas at different virtual
addresses; with a virtually indexed write-back cache a write through one mapping is not seen by a
read through the other (the stale read), and with a physically indexed cache it is (the cure).

Why it matters: Linus's third condition on a per-MM UKVA — nothing shared between MMs may go in
it on virtual caches (seed, <Pine.LNX.4.44.0208162134440.2497-100000@home.transmeta.com>;
Documentation/core-api/cachetlb.rst, FACTS.md §7). The machine (per-mm design, shared_page=True)
models the cache and judges every read; this view adds the cache panel and the cache switch to
the SMPStepper it extends.

CSS classes for browser tests: "ukva-cache-aliasing", "ukva-cache-mode" (virtual / physical
toggle), "ukva-cache-lines" (the cache table), plus every SMPStepper class ("ukva-choice",
"ukva-back", "ukva-reset", "ukva-run-to-violation", "ukva-violation"...).
"""

from __future__ import annotations

import ipywidgets as W

from ..engine import Kernel, Machine, slot_address
from ..engine.machine import SHARED_KEY_PHYSICAL
from .base import KIND_COLOUR, OKABE_ITO, USER_ERRORS, badge, esc, themed_table
from .smp_stepper import SMPStepper

MODES = {"virtual cache (aliases)": "virtual", "physical cache (the cure)": "physical"}


def aliasing_machine(cache: str = "virtual", cpus: int = 1) -> Machine:
    """Two forked processes (two MMs) sharing one page in their per-MM areas.  Each MM's slot
    allocator puts the page at its first free slot; a's MM also holds the sighand table of a
    CLONE_VM|CLONE_FILES sibling, so the two slots differ in colour."""
    k = Kernel()
    a = k.fork(k.init)
    sibling = k.clone(a, "CLONE_VM|CLONE_FILES")
    b = k.fork(k.init)
    return Machine(k, [a, sibling, b], cpus=cpus, design="per-mm", fill="hardware", shared_page=True,
                   cache=cache)


class CacheAliasing(SMPStepper):
    """Step writes and reads of a page two MMs share, through a virtual or a physical cache."""

    def __init__(self, cache: str = "virtual", cpus: int = 1) -> None:
        self.cache_lines = W.HTML()
        self.cache_lines.add_class("ukva-cache-lines")
        self.mode = W.ToggleButtons(options=list(MODES), style={"button_width": "200px"})
        self.mode.add_class("ukva-cache-mode")
        self._cpus = cpus
        super().__init__(aliasing_machine(cache, cpus))
        self.mode.value = next(label for label, value in MODES.items() if value == self.machine.options.cache)
        self.mode.observe(self._on_mode, "value")
        self.children = (self.children[0], self.mode, self.cache_lines, *self.children[1:])
        self.add_class("ukva-cache-aliasing")

    def _on_mode(self, change: dict) -> None:
        try:
            self.set_machine(aliasing_machine(MODES[change["new"]], self._cpus))
        except USER_ERRORS as e:
            self.error.show(e)

    def redraw_extra(self) -> None:
        m = self.machine
        s = m.setup
        truth, memory, lines = m.state[4][s.shared_index]
        cached = {key: (gen, dirty) for key, gen, dirty in lines}
        rows = []
        for i, mm in enumerate(s.mms):
            address = slot_address(s.shared_vpage[i])
            # The cache line the machine indexes this mapping by: the virtual page, or the physical one.
            key = s.cache_key(s.shared_index, i)
            line = cached.get(key)
            held = ("empty" if line is None else
                    badge(f"v{line[0]}" + (" dirty" if line[1] else " clean"),
                          OKABE_ITO["vermillion"] if line[0] != truth else OKABE_ITO["green"], dashed=not line[1]))
            rows.append([badge(m.mm_label(i), KIND_COLOUR["mm"]), f"{address:#010x}", held])
        index = "virtual address" if s.virtual_cache else "physical address (one line for both)"
        self.cache_lines.value = (
            f'<div style="color:var(--jp-ui-font-color1)">one physical page, mapped by each MM at its own '
            f"address; the cache is indexed by <b>{esc(index)}</b>. Last written: <b>v{truth}</b>; "
            f"memory holds <b>v{memory}</b>.</div>"
            + themed_table(["MM", "shared page at", "its cache line"], rows))

    def text(self) -> str:
        return "CacheAliasing: " + super().text()
