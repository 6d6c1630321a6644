"""The steps taken so far as a message-sequence chart: one lane per CPU, one numbered row per step.

A row shows what the acting CPU did (a chip in the verb's colour), shootdown IPIs as arrows to the
lanes they reach, a dashed "no IPI sent" in the lane of each CPU a plain (not SMP-safe) update left
with the MM loaded, the TLB entries each CPU lost (struck through) and the counters that moved
("+1 miss").  Its number is a button (class "ukva-trace-step", plus "ukva-trace-step-<k>") that moves
the machine to just after that step; its tooltip says what the step did, for a screen reader too.
Everything drawn comes from the engine's per-step records (Machine.effects).
"""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as W

from ..engine import Machine
from . import draw as d
from . import machine_state as ms
from .palette import ACTION_COLOUR, BAD_COLOUR, CHANGE_OUTLINE, KIND_COLOUR

COUNTER_WORDS = {"tlb_misses": "miss", "page_walks": "walk", "refill_traps": "refill trap",
                 "page_flushes": "page flush", "full_flushes": "full flush", "cr3_writes": "CR3 write",
                 "ipis": "IPI"}
STEP_W = "40px"   # the step buttons' column; the choices above the chart keep the same one
PILL = d.style(display="inline-block", border_radius="4px", padding="0 4px", margin="1px 0", color=d.FG,
               background=d.BG1, font_size="12px", line_height="1.35", overflow_wrap="anywhere", max_width="100%",
               box_sizing="border-box")


def lanes_grid(ncpu: int) -> str:
    return d.style(display="grid", grid_template_columns=f"repeat({ncpu},minmax(0,1fr))")


class TraceChart(W.VBox):
    """Rows of (step button, lanes); `draw(machine, trace)` redraws, a click calls `on_jump(k)`."""

    def __init__(self, on_jump: Callable[[int], None]) -> None:
        self.on_jump = on_jump
        self.rows: list[W.HBox] = []
        self._loaded: tuple[tuple, list] = ((), [])
        self._lanes: dict[tuple, str] = {}  # a row's lanes, by the steps up to it and how it is shown
        self._known_machine = None
        super().__init__([], layout=W.Layout(width="100%"))
        self.add_class("ukva-trace")

    def _row(self, k: int) -> W.HBox:
        # A pool reused across redraws (fewer DOM rebuilds, no jitter).
        while len(self.rows) < k:
            n = len(self.rows) + 1
            button = W.Button(description=str(n), tooltip=f"go to just after step {n}",
                              layout=W.Layout(width=STEP_W, min_width=STEP_W, height="auto"))
            button.add_class("ukva-trace-step")
            button.add_class(f"ukva-trace-step-{n}")
            button.on_click(lambda _b, n=n: self.on_jump(n))
            lanes = W.HTML(layout=W.Layout(flex="1 1 auto", width="100%", margin="0"))
            row = W.HBox([button, lanes], layout=W.Layout(width="100%", align_items="stretch"))
            row.add_class("ukva-trace-row")
            self.rows.append(row)
        return self.rows[k - 1]

    def focus_step(self, k: int) -> None:
        """Move the keyboard focus to step k's button (after the reader took that step)."""
        if 1 <= k <= len(self.rows):
            self.rows[k - 1].children[0].focus()

    def draw(self, machine: Machine, trace: list, headline: str = "") -> None:
        m = machine
        ncpu = m.options.cpus
        loaded = self._loaded_after_each(m)
        labels = tuple(c.label for c in m.history)
        if len(self._lanes) > 256 or self._known_machine is not m.layout:  # bounded; one machine's rows
            self._lanes.clear()
            self._known_machine = m.layout
        rows = []
        for k, choice in enumerate(trace, 1):
            row = self._row(k)
            taken = k <= len(m.history)
            effects = m.effects[k - 1] if taken else None
            current = k == len(m.history)
            bad = current and m.violation is not None
            key = (labels[:k], current, bad) if taken else ("ahead", choice.label)
            if key not in self._lanes:
                missed = _missed_ipis(m, effects, loaded[k - 1]) if taken else []
                self._lanes[key] = _lanes_html(m, choice, effects, missed, current, bad, ncpu)
            row.children[1].value = self._lanes[key]
            button = row.children[0]
            button.button_style = "info" if current else ""
            button.tooltip = (f"step {k}: {choice.label}" + (f" — {headline}" if current and headline else "")
                              + ("" if taken else " (not taken now: press to go there)"))
            for cls, on in (("ukva-current", current), ("ukva-ahead", not taken), ("ukva-changed", current)):
                (row.add_class if on else row.remove_class)(cls)
            rows.append(row)
        self.children = rows

    def snapshot(self, m: Machine, trace: list) -> str:
        """The chart as static HTML: the lanes' titles, then a numbered row per step taken."""
        loaded = self._loaded_after_each(m)
        rows = []
        for k, choice in enumerate(trace[:len(m.history)], 1):
            bad = k == len(m.history) and m.violation is not None
            lanes = _lanes_html(m, choice, m.effects[k - 1], _missed_ipis(m, m.effects[k - 1], loaded[k - 1]),
                                k == len(m.history), bad, m.options.cpus)
            rows.append(d.tag("div", d.tag("div", str(k), style=d.style(width=STEP_W, min_width=STEP_W,
                                                                        text_align="center", font_weight=600)),
                              d.tag("div", lanes, style="flex:1;min-width:0"), style="display:flex"))
        return d.tag("div", lanes_head(m.options.cpus), *rows, cls="ukva-trace", style=d.style(color=d.FG))

    def _loaded_after_each(self, m: Machine) -> list[tuple[int, ...]]:
        """Per step taken, the MM each CPU has loaded after it (replayed once per new history)."""
        labels = tuple(c.label for c in m.history)
        known, loaded = self._loaded  # the longest history seen: going back and forth replays nothing
        if labels[:len(known)] != known[:len(labels)]:
            known, loaded = (), []
        if len(known) < len(labels):
            loaded = loaded + ms.loaded_after_each_step(m, start=len(known))
            known = labels
        self._loaded = (known, loaded)
        return loaded[:len(labels)]


def _missed_ipis(m: Machine, effects, loaded_after: tuple[int, ...]) -> list[int]:
    """The CPUs a plain (not SMP-safe) remap left with its MM loaded and no shootdown: no IPI told them."""
    if effects is None or m.options.smp_safe or not effects.ptes:
        return []
    mms = {mm for mm, _v, _old, _new in effects.ptes}
    told = {dst for _src, dst in effects.ipis}
    actor = effects.step.cpu
    return [c for c, mm in enumerate(loaded_after) if mm in mms and c != actor and c not in told]


def _lanes_html(m: Machine, choice, effects, missed: list[int], current: bool, bad: bool, ncpu: int) -> str:
    cells: list[list[str]] = [[] for _ in range(ncpu)]
    what = ms.choice_words(choice)
    colour = BAD_COLOUR if bad else ACTION_COLOUR.get(choice.action, KIND_COLOUR["task"])
    pill = d.tag("span", ("✗ " if bad else "") + d.esc(what), cls="ukva-trace-action",
                 style=f"{PILL};border:{3 if bad else 2}px solid {colour}")
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
            arrows.append(d.tag("div", f"{head}⚡ shootdown IPI cpu{src} → cpu{dst}{tail}", cls="ukva-ipi",
                                style=d.style(grid_column=f"{lo + 1}/{hi + 2}", grid_row=2, margin="1px 12%",
                                              border_bottom=f"2px solid {KIND_COLOUR['fs']}", text_align="center",
                                              font_size="11px", line_height="1.2")))
        for c in missed:
            cells[c].append(d.tag("span", "no IPI sent", cls="ukva-no-ipi",
                                  title=f"cpu{c} has this MM loaded, but a plain update sends no shootdown",
                                  style=f"{PILL};border:2px dashed {BAD_COLOUR};font-size:11px"))
        for c in effects.cr3:
            cells[c].append(d.tag("span", "CR3 write", style=PILL))
        for c, _a, vpage, page in effects.flushed:
            cells[c].append(d.tag("span", d.tag("s", d.esc(f"{ms.address(vpage):#010x}→{m.page_label(page)}")),
                                  cls="ukva-flushed", title=f"flushed from cpu{c}'s TLB", style=f"{PILL};opacity:.85"))
        for mm, vpage, _old, new in effects.ptes:
            host = choice.cpu if choice.cpu >= 0 else 0
            cells[host].append(d.tag("span", d.esc(f"{m.mm_label(mm)} PTE {ms.address(vpage):#010x} → "
                                                   f"{m.page_label(new)}"), style=PILL))
        if effects.counters:
            notes.append(d.tag("span", " · ".join(f"+{n} {COUNTER_WORDS.get(name, name)}"
                                                  for name, n in effects.counters.items()),
                               cls="ukva-counter-delta", style=d.style(color=d.MUTED, font_size="11px")))
    lane = d.style(border_left=f"1px dashed {d.BORDER_FAINT}", padding="2px 4px", min_width=0, display="flex",
                   flex_direction="column", align_items="center", gap="1px", grid_row=1)
    grid = "".join(d.tag("div", "".join(cell), style=f"{lane};grid-column:{c + 1}") for c, cell in enumerate(cells))
    outline = f"2px solid {CHANGE_OUTLINE}" if current and not bad else None
    return d.tag("div", d.tag("div", grid, *arrows, style=lanes_grid(ncpu)),
                 d.tag("div", " ".join(notes), style=d.style(padding="0 4px")) if notes else "",
                 style=d.style(background=d.BG2 if current else "transparent", color=d.FG,
                               border_bottom=f"1px solid {d.BORDER_FAINT}", padding="2px 0",
                               opacity=".55" if effects is None else None, outline=outline,
                               outline_offset="-2px" if outline else None))


def lanes_head(ncpu: int, words: str = "step") -> str:
    """The lanes' titles (cpu0, cpu1, ...) over the chart and over the choices."""
    lanes = "".join(d.tag("div", f"cpu{c}", style="text-align:center;font-weight:600") for c in range(ncpu))
    return d.tag("div", d.tag("div", words, style=d.style(width=STEP_W, min_width=STEP_W)),
                 d.tag("div", lanes, style=f"flex:1;{lanes_grid(ncpu)}"),
                 style=d.style(display="flex", color=d.FG, font_size="12px"))
