"""CacheAliasing: two MMs map one physical page into their per-MM areas at different virtual
addresses; with a virtually indexed write-back cache a write through one mapping is not seen by a
read through the other (the stale read), and with a physically indexed cache it is (the cure).

Why it matters: Linus's third condition on a per-MM UKVA — nothing shared between MMs may go in
it on virtual caches (seed, <Pine.LNX.4.44.0208162134440.2497-100000@home.transmeta.com>;
Documentation/core-api/cachetlb.rst, notebooks/sources.ipynb §7). The machine (per-mm design, shared_page=True)
models the cache and judges every read; this view draws it as a picture (two virtual addresses ->
their cache lines -> one physical page, a line older than the last write marked stale) above the
SMPStepper it extends, whose CPUs and TLBs (which do not matter here) fold away.

CSS classes for browser tests: "ukva-cache-aliasing", "ukva-cache-mode" (virtual / physical
toggle), "ukva-cache-lines" (the picture: "ukva-cache-line" on each line, "ukva-stale-line" on a
line older than the last write), "ukva-machine-fold", plus every SMPStepper class ("ukva-choice",
"ukva-back", "ukva-reset", "ukva-run-to-violation", "ukva-violation", "ukva-trace-step"...).
"""

from __future__ import annotations

import ipywidgets as W

from ..engine import Kernel, Machine, slot_address
from ..engine.machine import SHARED_KEY_PHYSICAL
from .base import BAD_COLOUR, KIND_COLOUR, OK_COLOUR, USER_ERRORS, esc, scroll_box
from .smp_stepper import SMPStepper

TEXT = "fill:var(--jp-ui-font-color1);font-family:var(--jp-ui-font-family);font-size:12px"
CODE = "fill:var(--jp-ui-font-color1);font-family:var(--jp-code-font-family);font-size:12px"
MUTED = "fill:var(--jp-ui-font-color2);font-family:var(--jp-ui-font-family);font-size:11px"
TOP = 36  # below the columns' titles

MODES = {"virtual cache (aliases)": "virtual", "physical cache (the cure)": "physical"}


def _arrow(x1: float, y1: float, x2: float, y2: float) -> str:
    mid = (x1 + x2) / 2
    return (f'<path d="M{x1},{y1} C{mid},{y1} {mid},{y2} {x2 - 2},{y2}" style="fill:none;'
            f'stroke:var(--jp-ui-font-color2);stroke-width:1.5"/>'
            f'<path d="M{x2 - 8},{y2 - 4} L{x2},{y2} L{x2 - 8},{y2 + 4} z" style="fill:var(--jp-ui-font-color2)"/>')


def _line_name(key: int, addresses: list[int]) -> str:
    """"line of 0xbfc02000 (colour 2)": the cache line by the address(es) that index it."""
    if key == SHARED_KEY_PHYSICAL:
        return "the one line"
    return f"line of {addresses[0]:#010x}{' and more' if len(addresses) > 1 else ''} (colour {key})"


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
        self.machine_fold = W.Accordion(children=[self.picture], titles=("the CPUs and their TLBs",),
                                        selected_index=None, layout=W.Layout(width="100%"))
        self.machine_fold.add_class("ukva-machine-fold")
        children = [self.machine_fold if c is self.picture else c for c in self.children[1:]]
        self.children = (self.children[0], self.mode, self.cache_lines, *children)
        self.add_class("ukva-cache-aliasing")

    def _on_mode(self, change: dict) -> None:
        try:
            self.set_machine(aliasing_machine(MODES[change["new"]], self._cpus))
        except USER_ERRORS as e:
            self.error.show(e)

    def redraw_extra(self) -> None:
        self.cache_lines.value = self._picture_html()

    def _picture_html(self) -> str:
        """Each MM's virtual address of the page -> the cache line it indexes -> the one physical page."""
        m = self.machine
        s = m.layout
        truth, memory, lines = m.state[4][s.shared_index]
        cached = {key: (gen, dirty) for key, gen, dirty in lines}
        keys = [s.cache_key(s.shared_index, i) for i in range(len(s.mms))]
        line_keys = list(dict.fromkeys(keys))
        v = m.violation
        read_key = keys[s.task_mm[m.state[0][v.cpu][0]]] if v is not None and v.kind == "stale-alias" else None
        row_h, width = 76, 560
        height = max(len(s.mms), len(line_keys)) * row_h + TOP + 4
        parts = [f'<text x="0" y="12" style="{MUTED}">virtual address (per MM)</text>',
                 f'<text x="210" y="12" style="{MUTED}">cache line, indexed by</text>',
                 f'<text x="210" y="26" style="{MUTED}">{"virtual" if s.virtual_cache else "physical"} address</text>',
                 f'<text x="436" y="12" style="{MUTED}">physical page</text>']
        line_y = {}
        for n, key in enumerate(line_keys):
            y = TOP + (n + 0.5) * (height - TOP) / len(line_keys) - 22
            line_y[key] = y
            line = cached.get(key)
            stale = line is not None and line[0] != truth
            colour = BAD_COLOUR if stale else OK_COLOUR if line is not None else "var(--jp-border-color1)"
            words = ("empty (not cached)" if line is None else f"holds v{line[0]}, {'dirty' if line[1] else 'clean'}")
            parts.append(f'<g class="ukva-cache-line{" ukva-stale-line" if stale else ""}">'
                         f'<rect x="210" y="{y - 6}" width="190" height="58" rx="4" style="fill:'
                         f'{"rgba(213,94,0,0.18)" if stale else "var(--jp-layout-color1)"};stroke:{colour};stroke-width:'
                         f'{3 if stale else 1.5}{";stroke-dasharray:5,3" if stale or line is None else ""}"/>'
                         f'<text x="218" y="{y + 12}" style="{TEXT};font-weight:600">'
                         f'{esc(_line_name(key, [slot_address(s.shared_vpage[i]) for i, k in enumerate(keys) if k == key]))}</text>'
                         f'<text x="218" y="{y + 28}" style="{TEXT}{";fill:" + BAD_COLOUR if stale else ""}">'
                         f'{esc(words)}</text>'
                         + (f'<text x="218" y="{y + 45}" style="{TEXT};fill:{BAD_COLOUR};font-weight:600">'
                            f'{"✗ read here: " if key == read_key else ""}stale, v{truth} written</text>'
                            if stale else "") + "</g>")
        for i, key in enumerate(keys):
            y = TOP + (i + 0.5) * (height - TOP) / len(s.mms) - 22
            parts.append(f'<g class="ukva-alias"><rect x="0" y="{y}" width="170" height="44" rx="4" '
                         f'style="fill:var(--jp-layout-color2);stroke:{KIND_COLOUR["mm"]};stroke-width:2"/>'
                         f'<text x="8" y="{y + 18}" style="{TEXT};font-weight:600">{esc(m.mm_label(i))} maps it at</text>'
                         f'<text x="8" y="{y + 36}" style="{CODE}">{slot_address(s.shared_vpage[i]):#010x}</text></g>'
                         + _arrow(170, y + 22, 210, line_y[key] + 22))
        py = (height + TOP) / 2 - 22
        parts.append(f'<g class="ukva-physical-page"><rect x="436" y="{py}" width="120" height="44" rx="4" '
                     f'style="fill:var(--jp-layout-color1);stroke:var(--jp-ui-font-color2);stroke-width:2"/>'
                     f'<text x="444" y="{py + 18}" style="{TEXT};font-weight:600">one page</text>'
                     f'<text x="444" y="{py + 36}" style="{TEXT}">memory: v{memory}</text></g>')
        parts += [_arrow(400, line_y[key] + 22, 436, py + 22) for key in line_keys]
        svg = (f'<svg viewBox="-2 -2 {width + 4} {height + 4}" width="100%" style="max-width:{width + 4}px;'
               f'min-width:420px;display:block" role="img" aria-label="the shared page\'s virtual addresses, '
               f'cache lines and physical page">{"".join(parts)}</svg>')
        note = (f'<div style="color:var(--jp-ui-font-color1);font-size:12px">last written: <b>v{truth}</b>. '
                + ("Two addresses, two lines: a write through one leaves the other line old."
                   if s.virtual_cache else "Indexed by physical address: one line for both, so both see every write.")
                + "</div>")
        return note + scroll_box(svg)

    def text(self) -> str:
        return "CacheAliasing: " + super().text()
