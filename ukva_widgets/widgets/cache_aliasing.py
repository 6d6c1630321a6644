"""CacheAliasing: two MMs map one physical page into their per-MM areas at different virtual
addresses; with a virtually indexed write-back cache a write through one mapping is not seen by a
read through the other (the stale read), and with a physically indexed cache it is (the cure).

Why it matters: Linus's third condition on a per-MM UKVA — nothing shared between MMs may go in
it on virtual caches (seed, <Pine.LNX.4.44.0208162134440.2497-100000@home.transmeta.com>;
Documentation/core-api/cachetlb.rst, notebooks/sources.ipynb §7). The machine (per-mm design, shared_page=True)
models the cache and judges every read; this view draws it (two virtual addresses -> their cache
lines -> one physical page, a line older than the last write marked stale; side by side, or one
above the other where the output is narrow) above the SMPStepper it extends, whose CPUs and TLBs
(which do not matter here) fold away.  Public state: `cache` ("virtual" or "physical"), a traitlet
the mode buttons are linked to, beside the stepper's `machine` and `position`.

CSS classes for browser tests: "ukva-cache-aliasing", "ukva-cache-mode" (virtual / physical
toggle), "ukva-cache-lines" (the picture: "ukva-cache-line" on each line, "ukva-stale-line" on a
line older than the last write, "ukva-alias", "ukva-physical-page"), "ukva-machine-fold", plus
every SMPStepper class ("ukva-choice", "ukva-back", "ukva-reset", "ukva-run-to-violation",
"ukva-violation", "ukva-trace-step"...).
"""

from __future__ import annotations

import ipywidgets as W
import traitlets

from ..engine import Kernel, Machine
from ..engine.machine import SHARED_KEY_PHYSICAL
from . import draw as d
from . import machine_state as ms
from .base import USER_ERRORS, Fold
from .machine_picture import Box, link
from .palette import BAD_COLOUR, MM_COLOUR, OK_COLOUR
from .smp_stepper import SMPStepper

MODES = {"virtual cache (aliases)": "virtual", "physical cache (the cure)": "physical"}
ALIAS_W, LINE_W, PAGE_W, BOX_H, LINE_H = 170, 170, 130, 44, 60


def aliasing_machine(cache: str = "virtual", cpus: int = 1) -> Machine:
    """Two forked processes (two MMs) sharing one page in their per-MM areas.  Each MM's slot
    allocator puts the page at its first free slot; a's MM also holds the sighand table of a
    CLONE_VM|CLONE_FILES sibling, so the two slots differ in colour.  Named "process A", its
    sibling "task A2" and "process B", as the chapter calls them."""
    k = Kernel()
    a = k.fork(k.init)
    sibling = k.clone(a, "CLONE_VM|CLONE_FILES")
    b = k.fork(k.init)
    for task, name in ((a, "process A"), (sibling, "task A2"), (b, "process B")):
        k.set_comm(task, name)
    return Machine(k, [a, sibling, b], cpus=cpus, design="per-mm", fill="hardware", shared_page=True,
                   cache=cache)


def _line_name(key: int, addresses: list[int]) -> tuple[str, str]:
    """("line of 0xbfc02000", "colour 2"): the cache line by the address(es) that index it."""
    if key == SHARED_KEY_PHYSICAL:
        return "the one line", "physical"
    return f"line of {addresses[0]:#010x}{' +' if len(addresses) > 1 else ''}", f"colour {key}"


class CacheAliasing(SMPStepper):
    """Step writes and reads of a page two MMs share, through a virtual or a physical cache."""

    cache = traitlets.Unicode("virtual")

    def __init__(self, cache: str = "virtual", cpus: int = 1) -> None:
        self.cache_lines = W.HTML(layout=W.Layout(width="100%"))
        self.cache_lines.add_class("ukva-cache-lines")
        self.mode = W.ToggleButtons(options=list(MODES), style={"button_width": "200px"})
        self.mode.add_class("ukva-cache-mode")
        self._cpus = cpus
        self._ready = False
        super().__init__(aliasing_machine(cache, cpus))
        self.cache = self.machine.options.cache
        self._ready = True
        self.mode.value = next(label for label, value in MODES.items() if value == self.cache)
        traitlets.link((self.mode, "value"), (self, "cache"),
                       transform=(MODES.get, lambda v: next(k for k, x in MODES.items() if x == v)))
        self.machine_fold = Fold("the CPUs and their TLBs", self.picture)
        self.machine_fold.add_class("ukva-machine-fold")
        self.machine_fold.observe(lambda change: change["new"] and self.redraw(), "shown")
        children = [self.machine_fold if c is self.picture else c for c in self.children[1:]]
        self.children = (self.children[0], self.mode, self.cache_lines, *children)
        self.add_class("ukva-cache-aliasing")

    @traitlets.validate("cache")
    def _valid_cache(self, proposal: dict) -> str:
        if proposal["value"] not in MODES.values():
            raise traitlets.TraitError(f"cache must be one of {', '.join(MODES.values())}, not {proposal['value']!r}")
        return proposal["value"]

    @traitlets.observe("cache")
    def _on_cache(self, change: dict) -> None:
        if not self._ready:
            return
        try:
            self.machine = aliasing_machine(change["new"], self._cpus)
        except USER_ERRORS as e:
            self.error.show(e)

    def picture_shown(self) -> bool:
        fold = getattr(self, "machine_fold", None)  # the first draw comes before the fold is made
        return fold is not None and fold.shown

    def redraw_extra(self) -> None:
        self.cache_lines.value = self._picture_html()

    def _picture_html(self) -> str:
        """Each MM's virtual address of the page -> the cache line it indexes -> the one physical page."""
        m = self.machine
        shared = ms.shared_page(m)
        mappings = ms.shared_mappings(m)
        cached = {key: (gen, dirty) for key, gen, dirty in shared.lines}
        v = m.violation
        read_mm = ms.task_mm(m, m.cpu(v.cpu).current) if v is not None and v.kind == "stale-alias" else None
        note = d.tag("div", "last written: ", d.tag("b", f"v{shared.written}"), ". ",
                     "Two addresses, two lines: a write through one leaves the other line old."
                     if m.layout.virtual_cache else
                     "Indexed by physical address: one line for both, so both see every write.",
                     style=d.style(color=d.FG, font_size="12px"))
        return note + d.two_layouts(_draw(m, mappings, cached, shared, read_mm, narrow=False),
                                    _draw(m, mappings, cached, shared, read_mm, narrow=True))

    picture_folded = True  # the CPUs and TLBs do not matter here: the snapshot folds them too

    def snapshot(self) -> str:
        return self.cache_lines.value + super().snapshot()

    def text(self) -> str:
        return "CacheAliasing: " + super().text()


def _draw(m: Machine, mappings: list, cached: dict, shared: ms.SharedPage, read_mm: int | None,
          narrow: bool) -> str:
    keys = list(dict.fromkeys(key for _mm, _v, key in mappings))
    index = "virtual" if m.layout.virtual_cache else "physical"  # what the cache lines are indexed by
    top = 30
    if narrow:  # the MMs' addresses in a row, the lines below them, the page at the bottom
        aliases = [Box(i * (ALIAS_W + 12), top, ALIAS_W, BOX_H) for i in range(len(mappings))]
        width = max(len(mappings) * (ALIAS_W + 12) - 12, len(keys) * (LINE_W + 12) - 12)
        lines = {key: Box(i * (LINE_W + 12), top + BOX_H + 36, LINE_W, LINE_H) for i, key in enumerate(keys)}
        page = Box((width - PAGE_W) / 2, top + BOX_H + 36 + LINE_H + 36, PAGE_W, BOX_H)
        titles = [(0, 12, "virtual address (per MM) → cache line, indexed by "
                   f"{index} address → physical page")]
    else:  # three columns
        rows = max(len(mappings), len(keys))
        height = rows * (LINE_H + 16)
        aliases = [Box(0, top + (i + 0.5) * height / len(mappings) - BOX_H / 2, ALIAS_W, BOX_H)
                   for i in range(len(mappings))]
        lines = {key: Box(ALIAS_W + 40, top + (i + 0.5) * height / len(keys) - LINE_H / 2, LINE_W, LINE_H)
                 for i, key in enumerate(keys)}
        page = Box(ALIAS_W + 40 + LINE_W + 40, top + height / 2 - BOX_H / 2, PAGE_W, BOX_H)
        width = page.x + PAGE_W
        titles = [(0, 12, "virtual address (per MM)"),
                  (ALIAS_W + 40, 12, f"cache line, indexed by {index}"),
                  (ALIAS_W + 40, 26, "address"), (page.x, 12, "physical page")]
    if narrow and width < 356:
        titles = [(0, 12, "virtual address (per MM) → cache line"),
                  (0, 26, f"(indexed by {index} address) → physical page")]
    arrows, boxes = [], [d.label(x, y, words, size=d.MIN_FONT, colour=d.MUTED) for x, y, words in titles]
    for (mm, vpage, key), box in zip(mappings, aliases):
        arrows.append(link(box, lines[key], colour=d.MUTED))
        boxes.append(d.group(d.rect(box.x, box.y, box.w, box.h, fill=d.BG2, stroke=MM_COLOUR, width=2, rx=4),
                             d.label(box.x + 8, box.y + 18, d.fit(f"{m.mm_label(mm)} maps it at", box.w - 16),
                                     weight=600),
                             d.label(box.x + 8, box.y + 36, f"{ms.address(vpage):#010x}", mono=True),
                             cls="ukva-alias"))
    for key, box in lines.items():
        arrows.append(link(box, page, colour=d.MUTED))
        boxes.append(_line(key, box, cached.get(key), shared.written, mappings, key_read=(
            read_mm is not None and any(mm == read_mm and k == key for mm, _v, k in mappings))))
    boxes.append(d.group(d.rect(page.x, page.y, page.w, page.h, stroke=d.MUTED, width=2, rx=4),
                         d.label(page.x + 8, page.y + 18, "one page", weight=600),
                         d.label(page.x + 8, page.y + 36, f"memory: v{shared.memory}"), cls="ukva-physical-page"))
    height = max(b.y + b.h for b in [page, *aliases, *lines.values()]) + 4
    return d.svg(width, height, *arrows, *boxes,
                 label="the shared page's virtual addresses, cache lines and physical page")


def _line(key: int, box: Box, line: tuple | None, written: int, mappings: list, key_read: bool) -> str:
    stale = line is not None and line[0] != written
    colour = BAD_COLOUR if stale else OK_COLOUR if line is not None else d.BORDER
    name, where = _line_name(key, [ms.address(v) for _mm, v, k in mappings if k == key])
    words = f"{where}: " + ("empty" if line is None else f"v{line[0]}, {'dirty' if line[1] else 'clean'}")
    parts = [d.rect(box.x, box.y, box.w, box.h, fill="rgba(213,94,0,0.18)" if stale else d.BG1, stroke=colour,
                    width=3 if stale else 1.5, dash="5,3" if stale or line is None else None, rx=4),
             d.label(box.x + 8, box.y + 17, d.fit(name, box.w - 16), weight=600, mono=name.startswith("line")),
             d.label(box.x + 8, box.y + 34, d.fit(words, box.w - 16), colour=BAD_COLOUR if stale else d.FG)]
    if stale:
        parts.append(d.label(box.x + 8, box.y + 51, f"✗ stale (v{written} written)", colour=BAD_COLOUR, weight=600))
    if key_read:
        parts.append(d.chip_svg(box.x + box.w - 3, box.y + 3, "read here", fill=BAD_COLOUR, colour="#fff",
                                anchor="end"))
    return d.group(*parts, cls="ukva-cache-line" + (" ukva-stale-line" if stale else ""))
