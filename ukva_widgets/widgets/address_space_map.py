"""AddressSpaceMap: one MM's address space — user mappings, the UKVA area and its slots, the kernel
half — and, under the chosen design, what the fixed UKVA address should show for each task on each
CPU and what the MM's one page table maps there now.

The layout and the answers are the engine's (engine/layout.py: address_space, ukva_shows); the
machine moves only when the learner schedules a task on a CPU (a Machine step). Regions are drawn
one row each, highest address on top, not to scale (4 KiB slots next to a 1 GiB kernel half: the
i386 3G/1G split the 2002 thread kept, FACTS.md §1, as engine/layout.py models it).

CSS classes for browser tests: "ukva-address-space-map", "ukva-asm-design" (design dropdown),
"ukva-asm-task" (whose address space), "ukva-asm-cpu<N>" (what runs on CPU N), "ukva-regions"
(the map; each row has "ukva-region-user", "ukva-region-ukva" or "ukva-region-kernel"),
"ukva-ukva-shows" (the task x CPU table), plus "ukva-error".
"""

from __future__ import annotations

import ipywidgets as W

from ..engine import Machine, address_space, ukva_shows
from ..engine.machine import DESIGNS
from .base import OKABE_ITO, USER_ERRORS, ErrorBox, UkvaWidget, esc, themed_table
from .design_lab import tasks_for

# Region colours, each with its name written in the row as the second cue.
REGION_STYLE = {"user": OKABE_ITO["sky"], "ukva": OKABE_ITO["orange"], "kernel": OKABE_ITO["grey"]}


def _region_kind(name: str) -> str:
    return "ukva" if name.startswith("UKVA") else "kernel" if name == "kernel" else "user"


class AddressSpaceMap(UkvaWidget):
    """The address space of a task's MM on a Machine, and what the UKVA shows for whom."""

    def __init__(self, machine: Machine | None = None) -> None:
        if machine is None:
            kernel, tasks = tasks_for("threads sharing only the VM")
            machine = Machine(kernel, tasks, cpus=2, design="per-mm")
        if not isinstance(machine, Machine):
            raise TypeError(f"AddressSpaceMap shows a Machine (ukva_widgets.engine.Machine); got {type(machine).__name__}")
        self.machine = machine
        self.design = W.Dropdown(options=DESIGNS, value=machine.options.design, description="design")
        self.design.add_class("ukva-asm-design")
        self.design.observe(self._on_design, "value")
        self.task = W.Dropdown(description="MM of")
        self.task.add_class("ukva-asm-task")
        self.task.observe(lambda _: self.redraw(), "value")
        self.cpu_controls = []
        for c in range(machine.options.cpus):
            control = W.Dropdown(description=f"cpu{c} runs", layout=W.Layout(width="260px"))
            control.add_class(f"ukva-asm-cpu{c}")
            control.observe(lambda change, c=c: self._on_schedule(c, change["new"]), "value")
            self.cpu_controls.append(control)
        self.regions = W.HTML()
        self.regions.add_class("ukva-regions")
        self.shows = W.HTML()
        self.shows.add_class("ukva-ukva-shows")
        self.error = ErrorBox()
        self._syncing = False
        super().__init__([W.HBox([self.design, self.task]), W.HBox(self.cpu_controls), self.error,
                          self.regions, self.shows])
        self.add_class("ukva-address-space-map")
        self._sync_controls()
        self.redraw()

    def _user_tasks(self) -> list:
        return [t for t in self.machine.setup.tasks if t.mm is not None]

    def _sync_controls(self) -> None:
        m = self.machine
        self._syncing = True
        try:
            tasks = self._user_tasks()
            chosen = self.task.value
            self.task.options = [(m.task_label(m.task_index(t)), t.pid) for t in tasks]
            self.task.value = chosen if chosen in [t.pid for t in tasks] else tasks[0].pid
            options = [("idle", -1)] + [(m.task_label(i), i) for i in range(len(m.setup.tasks))]
            for c, control in enumerate(self.cpu_controls):
                control.options = options
                control.value = m.state[0][c][0]
        finally:
            self._syncing = False

    def _on_design(self, change: dict) -> None:
        try:
            machine = Machine(self.machine.kernel, self.machine.setup.tasks,
                              **{**vars(self.machine.options), "design": change["new"]})
        except USER_ERRORS as e:
            self.error.show(e)
            return
        self.machine = machine
        self._sync_controls()
        self.redraw()

    def _on_schedule(self, cpu: int, task_index: int) -> None:
        if self._syncing:
            return
        label = f"cpu{cpu}: switch to " + ("idle (lazy TLB)" if task_index < 0 else self.machine.task_label(task_index))
        try:
            self.machine.step(label)
        except USER_ERRORS as e:
            self.error.show(e)
            self._sync_controls()
            return
        self._sync_controls()
        self.redraw()

    def _selected(self):
        return next(t for t in self._user_tasks() if t.pid == self.task.value)

    def redraw(self) -> None:
        self.error.clear()
        space = address_space(self.machine, self._selected())
        rows = []
        for r in reversed(space.regions):
            kind = _region_kind(r.name)
            colour = REGION_STYLE[kind]
            rows.append(f'<div class="ukva-region-{kind}" style="display:flex;gap:8px;align-items:center;'
                        f"border-left:10px solid {colour};border-bottom:1px solid var(--jp-border-color2);"
                        f'padding:2px 6px;color:var(--jp-ui-font-color1)">'
                        f'<code style="min-width:190px">{r.start:#010x}–{r.end - 1:#010x}</code>'
                        f"<b>{esc(kind)}</b>&nbsp;{esc(r.name)}<span style=\"opacity:.8\">{esc(r.detail)}</span></div>")
        self.regions.value = (f'<div style="color:var(--jp-ui-font-color1)"><b>address space of '
                              f"{esc(space.mm)}</b> (highest address on top, not to scale)</div>" + "".join(rows))
        self.shows.value = themed_table(["task", "CPU", "the fixed UKVA address"], [
            [esc(t.pid), esc(f"cpu{c}"), esc(ukva_shows(self.machine, t, c))] for t, c in self._pairs()])

    def _pairs(self) -> list:
        return [(t, c) for t in self._user_tasks() for c in range(self.machine.options.cpus)]

    def text(self) -> str:
        m = self.machine
        running = ", ".join(f"cpu{c} runs {m.task_label(cpu[0])}" for c, cpu in enumerate(m.state[0]))
        lines = [f"AddressSpaceMap: {m.options.text()}; {running}", address_space(m, self._selected()).text()]
        lines += [f"  task {t.pid} on cpu{c}: {ukva_shows(m, t, c)}" for t, c in self._pairs()]
        return "\n".join(lines)
