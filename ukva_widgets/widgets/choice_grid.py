"""The steps a reader may take next, as buttons: one column per CPU, under the trace's lanes, each
button in a place of its own for the machine's life (a step not enabled now is disabled, never
removed, so nothing moves under the pointer), its verb's colour on its edge as on the trace's chips.
The cache's steps (write back and evict a line) sit in a row below.

CSS classes: "ukva-choices", "ukva-choice" on every button (plus "ukva-verb-<verb>" and
"ukva-cpu<N>-choice"), "ukva-cache-choices".
"""

from __future__ import annotations

import re
from collections.abc import Callable

import ipywidgets as W

from ..engine import Machine
from . import draw as d
from . import machine_state as ms
from .trace_chart import STEP_W


def button_words(words: str, action: str) -> str:
    """A button's text, short enough for four CPUs' columns side by side (its tooltip keeps the step's
    whole label): "run sh (2)" for "switch to task 2 (sh)", "read files#2" for "read slot files#2",
    "begin update files#2" for "begin updating slot files#2 (copy it to a new page)", "idle (lazy TLB)"."""
    task = re.fullmatch(r"switch to task (\d+) \((.*)\)", words)
    if task:
        return f"run {task.group(2)} ({task.group(1)})"
    if action == "switch":
        return words.removeprefix("switch to ")
    words = re.sub(r" \([^()]*\)$", "", words).replace("updating slot", "update").replace(" slot ", " ")
    return words


class ChoiceGrid(W.VBox):
    """`reset(machine)` lays the buttons out; `draw(machine)` enables those of the steps enabled now.
    A press calls `on_pick(label)` with the step's label."""

    def __init__(self, on_pick: Callable[[str], None]) -> None:
        self.on_pick = on_pick
        self.pool: list[W.Button] = []
        self.slots: dict[tuple, W.Button] = {}    # (cpu, key) -> its button; cpu -1: the cache
        self.labels: dict[int, str] = {}          # id(button) -> the label it takes now
        self.head = W.HTML()
        self.column_boxes: list[W.VBox] = []
        self.columns = W.GridBox(layout=W.Layout(flex="1 1 auto", width="100%"))
        self.cache_row = W.HBox(layout=W.Layout(flex_flow="row wrap"))
        self.cache_row.add_class("ukva-cache-choices")
        body = W.HBox([W.HTML(layout=W.Layout(width=STEP_W, min_width=STEP_W)), self.columns],
                      layout=W.Layout(width="100%"))
        super().__init__([self.head, body, self.cache_row], layout=W.Layout(width="100%"))
        self.add_class("ukva-choices")
        self.ncpu = 0

    def _button(self, n: int) -> W.Button:
        while len(self.pool) <= n:
            button = W.Button(layout=W.Layout(width="100%"))
            button.on_click(lambda b: self.on_pick(self.labels[id(b)]))
            self.pool.append(button)
        return self.pool[n]

    def reset(self, machine: Machine) -> None:
        """Lay out a button per step any CPU of `machine` can be offered (machine_state.choice_catalogue)."""
        mine, cache = ms.choice_catalogue(machine)
        self.ncpu = machine.options.cpus
        self.slots, self.labels = {}, {}
        n = 0
        for cpu in range(self.ncpu):
            for key, words in mine.items():
                self._take(self._button(n), cpu, key, words)
                n += 1
        for key, words in cache.items():
            self._take(self._button(n), -1, key, words)
            n += 1
        self.columns.layout.grid_template_columns = f"repeat({self.ncpu}, minmax(0, 1fr))"
        self._arrange()

    def _take(self, button: W.Button, cpu: int, key: tuple, words: str) -> None:
        action = key[0]
        button.description = button_words(words, action)
        button.tooltip = words if cpu < 0 else f"cpu{cpu}: {words}"
        button._dom_classes = ("ukva-choice", f"ukva-verb-{action}", f"ukva-cpu{cpu}-choice")
        self.slots[(cpu, key)] = button
        self.labels[id(button)] = button.tooltip

    def _arrange(self) -> None:
        columns = [[] for _ in range(self.ncpu)]
        for (cpu, _key), button in self.slots.items():
            if cpu >= 0:
                columns[cpu].append(button)
        while len(self.column_boxes) < self.ncpu:
            self.column_boxes.append(W.VBox(layout=W.Layout(min_width="0")))
        for box, buttons in zip(self.column_boxes, columns):
            box.children = buttons
        self.columns.children = self.column_boxes[:self.ncpu]
        self.cache_row.children = [b for (cpu, _k), b in self.slots.items() if cpu < 0]
        self.head.value = d.tag("div", "next step: a button per step a CPU may take; greyed when it cannot now",
                                style=d.style(color=d.MUTED, font_size="11px"))

    def draw(self, machine: Machine) -> None:
        """Enable the buttons of the steps enabled now (a step met for the first time gets one)."""
        choices = machine.choices()
        enabled = {}
        for choice, key in zip(choices, ms.choice_keys(choices)):
            enabled[(choice.cpu, key)] = choice
        added = False
        for slot, choice in enabled.items():
            if slot not in self.slots:
                self._take(self._button(len(self.slots)), slot[0], slot[1], ms.choice_words(choice))
                added = True
        if added:
            self._arrange()
        for slot, button in self.slots.items():
            choice = enabled.get(slot)
            if choice is not None:
                button.description = button_words(ms.choice_words(choice), choice.action)
                button.tooltip = choice.label
                self.labels[id(button)] = choice.label
            button.disabled = choice is None
