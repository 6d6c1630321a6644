"""AddressSpaceMap: one MM's address space as a map — a bar drawn to scale (user space, the kernel
half, the 4 MiB UKVA a sliver between them) with the UKVA zoomed out beside it, slot by slot — and
one column per CPU: what runs there, what the fixed UKVA address should show for it, what the MM's
one page table maps there now, ✓ or ✗.

The layout and the answers are the engine's (engine/layout.py: address_space, ukva_view); the
machine moves only when the learner schedules a task on a CPU (a Machine step). The addresses are
i386's with the 3G/1G split the 2002 thread kept (notebooks/sources.ipynb §1), as engine/layout.py models them.

CSS classes for browser tests: "ukva-address-space-map", "ukva-asm-design" (design dropdown),
"ukva-asm-task" (whose address space), "ukva-asm-cpu<N>" (what runs on CPU N), "ukva-regions"
(the map; each region has "ukva-region-user", "ukva-region-ukva" or "ukva-region-kernel", and a
slot read by a running task "ukva-slot-read"), "ukva-ukva-shows" (the CPU columns:
"ukva-cpu-column", "ukva-ok" or "ukva-wrong"), plus "ukva-error".
"""

from __future__ import annotations

import ipywidgets as W
import traitlets

from ..engine import Machine, address_space, ukva_shows, ukva_view
from ..engine.layout import PAGE_OFFSET, UKVA_BASE
from ..engine.machine import DESIGNS
from . import draw as d
from . import machine_state as ms
from .base import USER_ERRORS, ErrorBox, UkvaWidget, changed_chip
from .design_lab import tasks_for
from .palette import BAD_COLOUR, CHANGE_FILL, OK_COLOUR, OKABE_ITO

# Region colours, each with its name written in the row as the second cue.
REGION_STYLE = {"user": OKABE_ITO["sky"], "ukva": OKABE_ITO["orange"], "kernel": OKABE_ITO["grey"]}
# One layout that fits the narrowest output area (about 356 px) at its natural size.
BAR_X, BAR_W, BAR_H, TOP = 40, 40, 300, 34
ZOOM_X, ZOOM_W, SLOT_H = 100, 250, 50
GIB = 1 << 30


def _region_kind(name: str) -> str:
    return "ukva" if name.startswith("UKVA") else "kernel" if name == "kernel" else "user"


class AddressSpaceMap(UkvaWidget):
    """The address space of a task's MM on a Machine, and what the UKVA shows for whom.

    Public state, as traitlets the view observes: `machine`, `design` (assigning another design
    rebuilds the machine with every CPU running what it ran) and `task` (the pid whose MM is drawn)."""

    machine = traitlets.Instance(Machine)
    design = traitlets.Unicode("per-mm")
    task = traitlets.Int(0)

    def __init__(self, machine: Machine | None = None) -> None:
        if machine is None:
            kernel, tasks = tasks_for("tasks sharing only the VM")
            machine = Machine(kernel, tasks, cpus=2, design="per-mm")
        if not isinstance(machine, Machine):
            raise TypeError("AddressSpaceMap shows a Machine (ukva_widgets.engine.Machine); "
                            f"got {type(machine).__name__}")
        self._syncing = True
        self.machine = machine
        self.design = machine.options.design
        self.task = ms.user_tasks(machine)[0].pid
        narrow = W.Layout(width="240px", max_width="100%")
        self.design_control = W.Dropdown(options=DESIGNS, description="design", layout=narrow)
        self.design_control.add_class("ukva-asm-design")
        self.task_control = W.Dropdown(description="MM of", layout=W.Layout(width="240px", max_width="100%"))
        self.task_control.add_class("ukva-asm-task")
        self.cpu_controls = []
        for c in range(machine.options.cpus):
            control = W.Dropdown(description=f"cpu{c} runs", layout=W.Layout(width="240px", max_width="100%"))
            control.add_class(f"ukva-asm-cpu{c}")
            control.observe(lambda change, c=c: self._on_schedule(c, change["new"]), "value")
            self.cpu_controls.append(control)
        self.regions = W.HTML()
        self.regions.add_class("ukva-regions")
        self.shows = W.HTML()
        self.shows.add_class("ukva-ukva-shows")
        self.error = ErrorBox()
        self._last: dict[int, str] = {}
        self._sync_controls()
        traitlets.link((self, "design"), (self.design_control, "value"))
        traitlets.link((self, "task"), (self.task_control, "value"))
        self._syncing = False
        wrap = W.Layout(flex_flow="row wrap")
        super().__init__([W.HBox([self.design_control, self.task_control], layout=wrap),
                          W.HBox(self.cpu_controls, layout=wrap), self.error, self.shows, self.regions])
        self.add_class("ukva-address-space-map")
        self.redraw()

    def _sync_controls(self) -> None:
        m = self.machine
        was, self._syncing = self._syncing, True
        try:
            tasks = ms.user_tasks(m)
            self.task_control.options = [(m.task_label(m.task_index(t)), t.pid) for t in tasks]
            if self.task not in [t.pid for t in tasks]:
                self.task = tasks[0].pid
            self.task_control.value = self.task
            options = [("idle", -1)] + [(m.task_label(i), i) for i in range(len(m.tasks))]
            for c, control in enumerate(self.cpu_controls):
                control.options = options
                control.value = m.cpu(c).current
        finally:
            self._syncing = was

    @traitlets.validate("design")
    def _valid_design(self, proposal: dict) -> str:
        if proposal["value"] not in DESIGNS:
            raise traitlets.TraitError(f"design must be one of {', '.join(DESIGNS)}, not {proposal['value']!r}")
        return proposal["value"]

    @traitlets.observe("design")
    def _on_design(self, change: dict) -> None:
        """A new machine under the new design, with every CPU running what it ran before."""
        if self._syncing:
            return
        running = [cpu.running for cpu in ms.cpus(self.machine)]
        try:
            machine = Machine(self.machine.kernel, self.machine.tasks,
                              **{**vars(self.machine.options), "design": change["new"]})
            for c, task in enumerate(running):
                if task >= 0:
                    machine.step(f"cpu{c}: switch to {machine.task_label(task)}")
        except USER_ERRORS as e:
            self.error.show(e)
            return
        self.machine = machine
        self._sync_controls()
        self.redraw()

    @traitlets.observe("task")
    def _on_task(self, change: dict) -> None:
        if not self._syncing:
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
        return next(t for t in ms.user_tasks(self.machine) if t.pid == self.task)

    def redraw(self) -> None:
        self.error.clear()
        self.shows.value = self._columns_html()
        self.regions.value = self._map_html()

    def _running(self) -> list[tuple[int, object]]:
        """(cpu, task) for every CPU running a user task."""
        m = self.machine
        return [(c, m.tasks[cpu.running]) for c, cpu in enumerate(ms.cpus(m))
                if cpu.running >= 0 and ms.task_mm(m, cpu.running) >= 0]

    def _columns_html(self, remember: bool = True) -> str:
        """One column per CPU: who runs, what the UKVA should show, what the page table maps, ✓/✗;
        a column whose answer the last change altered is marked."""
        m = self.machine
        running = dict(self._running())
        columns, now = [], {}
        for c in range(m.options.cpus):
            task = running.get(c)
            if task is None:
                body = d.tag("div", d.esc(f"{m.task_label(m.cpu(c).current)}: no user task, nothing reads the UKVA"),
                             style=d.style(color=d.MUTED))
                cls, border, answer = "", d.BORDER, "idle"
            else:
                view = ukva_view(m, task, c)
                colour = OK_COLOUR if view.correct else BAD_COLOUR
                cls, border = ("ukva-ok" if view.correct else "ukva-wrong"), colour
                answer = f"{task.pid} {view.maps} {view.correct}"
                body = "".join([d.tag("div", d.tag("b", d.esc(m.task_label(m.task_index(task)))),
                                      d.esc(f" of {view.mm}")),
                                d.tag("div", f"reads {view.address:#010x}", style=d.style(font_size="11px",
                                                                                         color=d.MUTED)),
                                d.tag("div", d.esc(f"expected: {view.should}")),
                                d.tag("div", d.esc(f"page table: {view.maps}")),
                                d.tag("div", "✓ right" if view.correct else "✗ wrong",
                                      style=d.style(font_weight=700, font_size="15px", color=colour))])
            now[c] = answer
            changed = c in self._last and self._last[c] != answer
            columns.append(d.tag("div", d.tag("div", f"cpu{c}", changed_chip("changed") if changed else "",
                                              style="font-weight:600"),
                                 body, cls=f"ukva-cpu-column {cls}" + (" ukva-changed" if changed else ""),
                                 style=d.style(flex="1 1 150px", min_width=0, border=f"2px solid {border}",
                                               border_radius="6px", padding="4px 6px", overflow_wrap="anywhere")))
        if remember:
            self._last = now
        return d.tag("div", *columns, style=d.style(display="flex", flex_wrap="wrap", gap="6px", color=d.FG,
                                                    font_size="12px", margin="4px 0"))

    def _map_html(self) -> str:
        """The whole 4 GiB to scale on the left; the UKVA, too thin to see there, zoomed on the right."""
        m = self.machine
        space = address_space(m, self._selected())
        readers: dict[int, list[str]] = {}
        for c, task in self._running():
            if task.mm is self._selected().mm:
                readers.setdefault(ukva_view(m, task, c).address, []).append(f"cpu{c}")
        ukva = [r for r in space.regions if _region_kind(r.name) == "ukva"]
        zoom_h = max(len(ukva), 1) * SLOT_H
        height = max(BAR_H, zoom_h) + TOP + 12

        def y_of(address: int) -> float:  # highest address on top
            return TOP + BAR_H * (1 - address / (4 * GIB))

        parts = [d.label(0, 12, space.mm, weight=600), d.label(0, 26, "to scale", size=d.MIN_FONT, colour=d.MUTED),
                 d.rect(BAR_X, y_of(PAGE_OFFSET), BAR_W, y_of(0) - y_of(PAGE_OFFSET), fill=REGION_STYLE["user"],
                        stroke="none", width=0, rx=0, opacity=0.15)]
        for r in space.regions:
            kind = _region_kind(r.name)
            if kind == "ukva":
                continue
            top, bottom = y_of(r.end), y_of(r.start)
            parts.append(d.group(d.rect(BAR_X, top, BAR_W, max(bottom - top, 1.5), fill=REGION_STYLE[kind],
                                        stroke="none", width=0, rx=0), cls=f"ukva-region-{kind}", title=r.text()))
        parts.append(d.rect(BAR_X, TOP, BAR_W, BAR_H, fill="none", stroke=d.MUTED, width=1, rx=0))
        for address, words in ((0, "0"), (PAGE_OFFSET, "3 GiB"), (4 * GIB, "4 GiB")):
            parts.append(d.label(BAR_X - 4, y_of(address) + 4, words, size=d.MIN_FONT, colour=d.MUTED, mono=True,
                                 anchor="end"))
        parts += [d.label(BAR_X + 3, y_of(PAGE_OFFSET) - 8, "kernel", size=d.MIN_FONT, colour="#000"),
                  d.label(BAR_X + 3, y_of(PAGE_OFFSET) + 16, "user", size=d.MIN_FONT)]
        # The UKVA: a sliver just under 3 GiB, joined to its zoomed-out slots by a wedge.
        uy = y_of(UKVA_BASE)
        parts.append(d.group(d.rect(BAR_X, uy - 2, BAR_W, 3, fill=REGION_STYLE["ukva"], stroke="none", width=0, rx=0),
                             cls="ukva-region-ukva"))
        parts.append(d.tag("path", d=f"M{BAR_X + BAR_W},{d.num(uy - 2)} L{ZOOM_X},{TOP} L{ZOOM_X},{TOP + zoom_h} "
                                     f"L{BAR_X + BAR_W},{d.num(uy + 1)} z",
                           style=d.style(fill=REGION_STYLE["ukva"], opacity=".25")))
        parts.append(d.label(ZOOM_X, 12, "the UKVA, zoomed:", size=d.MIN_FONT, weight=600))
        parts.append(d.label(ZOOM_X, 26, "4 MiB just under 3 GiB", size=d.MIN_FONT, colour=d.MUTED))
        for n, r in enumerate(reversed(ukva)):
            y = TOP + n * SLOT_H
            who = readers.get(r.start, [])
            inner = ZOOM_W - 12
            slot = [d.rect(ZOOM_X, y, ZOOM_W, SLOT_H - 4, stroke=REGION_STYLE["ukva"], width=3 if who else 1.5),
                    d.label(ZOOM_X + 6, y + 15, d.fit(r.name, inner - (60 if who else 0)), weight=600),
                    d.label(ZOOM_X + 6, y + 29, f"{r.start:#010x}", size=d.MIN_FONT, colour=d.MUTED, mono=True),
                    d.label(ZOOM_X + 6, y + 42, d.fit(r.detail, inner, d.MIN_FONT), size=d.MIN_FONT)]
            if who:
                slot.append(d.chip_svg(ZOOM_X + ZOOM_W - 4, y + 3, "◀ " + ",".join(who), fill=CHANGE_FILL,
                                       anchor="end"))
            parts.append(d.group(*slot, cls="ukva-region-ukva" + (" ukva-slot-read" if who else ""),
                                 title=f"{r.text()}" + (f"; read now by {', '.join(who)}" if who else "")))
        return d.svg(ZOOM_X + ZOOM_W + 2, height, *parts,
                     label=f"the address space of {space.mm}, to scale, with the UKVA zoomed")

    def _pairs(self) -> list:
        return [(t, c) for t in ms.user_tasks(self.machine) for c in range(self.machine.options.cpus)]

    def snapshot(self) -> str:
        return self._columns_html(remember=False) + self.regions.value

    def text(self) -> str:
        m = self.machine
        running = ", ".join(f"cpu{c} runs {m.task_label(cpu.running)}" for c, cpu in enumerate(ms.cpus(m)))
        lines = [f"AddressSpaceMap: {m.options.text()}; {running}", address_space(m, self._selected()).text()]
        lines += [f"  task {t.pid} on cpu{c}: {ukva_shows(m, t, c)}" for t, c in self._pairs()]
        for c, t in self._running():
            view = ukva_view(m, t, c)
            lines.append(f"  now cpu{c}: {m.task_label(m.task_index(t))} expects {view.should}, "
                         f"the page table gives {view.maps}: {'right' if view.correct else 'WRONG'}")
        return "\n".join(lines)
