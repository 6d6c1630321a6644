"""The steps taken so far as a message-sequence chart: one lane per CPU, one numbered row per step.

A row shows what the acting CPU did, shootdown IPIs as arrows to the lanes they reach, the TLB
entries each CPU lost (struck through) and the counters that moved ("+1 miss"). Its number is a
button (class "ukva-trace-step", plus "ukva-trace-step-<k>") that moves the machine to just after
that step. Everything drawn comes from the engine's per-step records (Machine.effects).
"""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as W

from ..engine import Machine, slot_address
from .base import BAD_COLOUR, KIND_COLOUR, esc

COUNTER_WORDS = {"tlb_misses": "miss", "page_walks": "walk", "refill_traps": "refill trap",
                 "page_flushes": "page flush", "full_flushes": "full flush", "cr3_writes": "CR3 write",
                 "ipis": "IPI"}
ACTION_COLOUR = {"switch": KIND_COLOUR["task"], "read": KIND_COLOUR["files"], "update": KIND_COLOUR["fs"],
                 "write": KIND_COLOUR["sighand"], "evict": KIND_COLOUR["sysvsem"], "finish": KIND_COLOUR["fs"]}
PILL = ("display:inline-block;border-radius:4px;padding:0 4px;margin:1px 0;color:var(--jp-ui-font-color1);"
        "background:var(--jp-layout-color1);font-size:12px;line-height:1.35;overflow-wrap:anywhere")


class TraceChart(W.VBox):
    """Rows of (step button, lanes); `draw(machine, trace)` redraws, a click calls `on_jump(k)`."""

    def __init__(self, on_jump: Callable[[int], None]) -> None:
        self.on_jump = on_jump
        self.head = W.HTML()
        self.rows: list[W.HBox] = []
        super().__init__([self.head], layout=W.Layout(width="100%"))
        self.add_class("ukva-trace")

    def _row(self, k: int) -> W.HBox:
        # A pool reused across redraws (fewer DOM rebuilds, no jitter).
        while len(self.rows) < k:
            n = len(self.rows) + 1
            button = W.Button(description=str(n), tooltip=f"go to just after step {n}",
                              layout=W.Layout(width="40px", min_width="40px", height="auto"))
            button.add_class("ukva-trace-step")
            button.add_class(f"ukva-trace-step-{n}")
            button.on_click(lambda _b, n=n: self.on_jump(n))
            lanes = W.HTML(layout=W.Layout(flex="1 1 auto", width="100%", margin="0"))
            row = W.HBox([button, lanes], layout=W.Layout(width="100%", align_items="stretch"))
            row.add_class("ukva-trace-row")
            self.rows.append(row)
        return self.rows[k - 1]

    def draw(self, machine: Machine, trace: list) -> None:
        m = machine
        ncpu = m.options.cpus
        lanes = "".join(f'<div style="text-align:center;font-weight:600">cpu{c}</div>' for c in range(ncpu))
        self.head.value = (f'<div style="display:flex;color:var(--jp-ui-font-color1);font-size:12px">'
                           f'<div style="width:40px;min-width:40px">step</div>'
                           f'<div style="flex:1;display:grid;grid-template-columns:repeat({ncpu},minmax(0,1fr))">'
                           f"{lanes}</div></div>" if trace else
                           '<div style="color:var(--jp-ui-font-color2);font-size:12px">no steps yet: pick one '
                           "of the enabled steps above, and each appears here as a row you can jump back to</div>")
        rows = []
        for k, choice in enumerate(trace, 1):
            row = self._row(k)
            taken = k <= len(m.history)
            effects = m.effects[k - 1] if taken else None
            current = k == len(m.history)
            bad = current and m.violation is not None
            row.children[1].value = _lanes_html(m, choice, effects, current, bad, ncpu)
            row.children[0].button_style = "info" if current else ""
            for cls, on in (("ukva-current", current), ("ukva-ahead", not taken)):
                (row.add_class if on else row.remove_class)(cls)
            rows.append(row)
        self.children = [self.head, *rows]


def _lanes_html(m: Machine, choice, effects, current: bool, bad: bool, ncpu: int) -> str:
    cells: list[list[str]] = [[] for _ in range(ncpu)]
    what = choice.label.split(": ", 1)[1] if ": " in choice.label else choice.label
    colour = BAD_COLOUR if bad else ACTION_COLOUR.get(choice.action, KIND_COLOUR["task"])
    pill = (f'<span class="ukva-trace-action" style="{PILL};border:{3 if bad else 2}px solid {colour}">'
            f"{'✗ ' if bad else ''}{esc(what)}</span>")
    notes = []
    if choice.cpu >= 0:
        cells[choice.cpu].append(pill)
    else:
        notes.append(pill)
    arrows = []
    if effects is not None:
        for src, dst in effects.ipis:
            lo, hi = min(src, dst), max(src, dst)
            head, tail = ("", " ▶") if dst > src else ("◀ ", "")
            arrows.append(f'<div class="ukva-ipi" style="grid-column:{lo + 1}/{hi + 2};margin:1px 12%;'
                          f'border-bottom:2px solid {KIND_COLOUR["fs"]};text-align:center;font-size:11px;'
                          f'line-height:1.2">{head}⚡ shootdown IPI cpu{src} → cpu{dst}{tail}</div>')
        for c in effects.cr3:
            cells[c].append(f'<span style="{PILL}">CR3 write</span>')
        for c, _a, vpage, page in effects.flushed:
            cells[c].append(f'<span class="ukva-flushed" style="{PILL};opacity:.85" title="flushed from cpu{c}\'s TLB">'
                            f"<s>{slot_address(vpage):#010x}→{esc(m.page_label(page))}</s></span>")
        for mm, vpage, _old, new in effects.ptes:
            host = choice.cpu if choice.cpu >= 0 else 0
            cells[host].append(f'<span style="{PILL}">{esc(m.mm_label(mm))} PTE {slot_address(vpage):#010x} '
                               f"→ {esc(m.page_label(new))}</span>")
        if effects.counters:
            notes.append('<span class="ukva-counter-delta" style="color:var(--jp-ui-font-color2);font-size:11px">'
                         + " · ".join(f"+{n} {COUNTER_WORDS.get(name, name)}" for name, n in effects.counters.items())
                         + "</span>")
    lane_style = ("border-left:1px dashed var(--jp-border-color2);padding:2px 4px;min-width:0;"
                  "display:flex;flex-direction:column;align-items:center;gap:1px")
    grid = "".join(f'<div style="{lane_style}">{"".join(cell)}</div>' for cell in cells)
    background = "var(--jp-layout-color2)" if current else "transparent"
    return (f'<div style="position:relative;background:{background};color:var(--jp-ui-font-color1);'
            f'border-bottom:1px solid var(--jp-border-color2);padding:2px 0;'
            f"{'opacity:.55;' if effects is None else ''}\">"
            f'<div style="display:grid;grid-template-columns:repeat({ncpu},minmax(0,1fr))">{grid}{"".join(arrows)}</div>'
            + (f'<div style="padding:0 4px">{" ".join(notes)}</div>' if notes else "") + "</div>")
