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

from ..engine import Machine, address_space, ukva_shows, ukva_view
from ..engine.layout import PAGE_OFFSET, UKVA_BASE
from ..engine.machine import DESIGNS
from .base import BAD_COLOUR, OK_COLOUR, OKABE_ITO, USER_ERRORS, ErrorBox, UkvaWidget, esc, scroll_box
from .design_lab import tasks_for

# Region colours, each with its name written in the row as the second cue.
REGION_STYLE = {"user": OKABE_ITO["sky"], "ukva": OKABE_ITO["orange"], "kernel": OKABE_ITO["grey"]}
TEXT = "fill:var(--jp-ui-font-color1);font-family:var(--jp-ui-font-family);font-size:12px"
CODE = "fill:var(--jp-ui-font-color2);font-family:var(--jp-code-font-family);font-size:11px"
BAR_X, BAR_W, BAR_H, TOP = 42, 54, 300, 18
ZOOM_X, ZOOM_W, SLOT_H = 150, 250, 40
GIB = 1 << 30


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
            control = W.Dropdown(description=f"cpu{c} runs", layout=W.Layout(width="240px", max_width="100%"))
            control.add_class(f"ukva-asm-cpu{c}")
            control.observe(lambda change, c=c: self._on_schedule(c, change["new"]), "value")
            self.cpu_controls.append(control)
        self.regions = W.HTML()
        self.regions.add_class("ukva-regions")
        self.shows = W.HTML()
        self.shows.add_class("ukva-ukva-shows")
        self.error = ErrorBox()
        self._syncing = False
        self.task.layout = W.Layout(width="240px", max_width="100%")
        self.design.layout = W.Layout(width="240px", max_width="100%")
        wrap = W.Layout(flex_flow="row wrap")
        super().__init__([W.HBox([self.design, self.task], layout=wrap), W.HBox(self.cpu_controls, layout=wrap),
                          self.error, self.shows, self.regions])
        self.add_class("ukva-address-space-map")
        self._sync_controls()
        self.redraw()

    def _user_tasks(self) -> list:
        return [t for t in self.machine.tasks if t.mm is not None]

    def _sync_controls(self) -> None:
        m = self.machine
        self._syncing = True
        try:
            tasks = self._user_tasks()
            chosen = self.task.value
            self.task.options = [(m.task_label(m.task_index(t)), t.pid) for t in tasks]
            self.task.value = chosen if chosen in [t.pid for t in tasks] else tasks[0].pid
            options = [("idle", -1)] + [(m.task_label(i), i) for i in range(len(m.tasks))]
            for c, control in enumerate(self.cpu_controls):
                control.options = options
                control.value = m.state[0][c][0]
        finally:
            self._syncing = False

    def _on_design(self, change: dict) -> None:
        """A new machine under the new design, with every CPU running what it ran before."""
        running = [cpu[0] for cpu in self.machine.state[0]]
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
        self.shows.value = self._columns_html()
        self.regions.value = self._map_html()

    def _running(self) -> list[tuple[int, object]]:
        """(cpu, task) for every CPU running a user task."""
        m = self.machine
        return [(c, m.tasks[cpu[0]]) for c, cpu in enumerate(m.state[0])
                if cpu[0] >= 0 and m.layout.task_mm[cpu[0]] >= 0]

    def _columns_html(self) -> str:
        """One column per CPU: who runs, what the UKVA should show, what the page table maps, ✓/✗."""
        m = self.machine
        running = dict(self._running())
        columns = []
        for c in range(m.options.cpus):
            task = running.get(c)
            if task is None:
                cur = m.state[0][c][0]
                body = (f'<div style="color:var(--jp-ui-font-color2)">{esc(m.task_label(cur))}: no user task, '
                        f"nothing reads the UKVA</div>")
                cls, border = "", "var(--jp-border-color1)"
            else:
                view = ukva_view(m, task, c)
                mark = "✓ right" if view.correct else "✗ wrong"
                colour = OK_COLOUR if view.correct else BAD_COLOUR
                cls, border = ("ukva-ok" if view.correct else "ukva-wrong"), colour
                body = (f"<div><b>{esc(m.task_label(m.task_index(task)))}</b> of {esc(view.mm)}</div>"
                        f'<div style="font-size:11px;color:var(--jp-ui-font-color2)">reads {view.address:#010x}</div>'
                        f"<div>expected: {esc(view.should)}</div><div>page table: {esc(view.maps)}</div>"
                        f'<div style="font-weight:700;font-size:15px;color:{colour}">{mark}</div>')
            columns.append(f'<div class="ukva-cpu-column {cls}" style="flex:1 1 150px;min-width:0;border:2px solid {border};'
                           f'border-radius:6px;padding:4px 6px;overflow-wrap:anywhere">'
                           f'<div style="font-weight:600">cpu{c}</div>{body}</div>')
        return (f'<div style="display:flex;flex-wrap:wrap;gap:6px;color:var(--jp-ui-font-color1);font-size:12px;'
                f'margin:4px 0">{"".join(columns)}</div>')

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
        height = max(BAR_H, zoom_h) + TOP + 20

        def y_of(address: int) -> float:  # highest address on top
            return TOP + BAR_H * (1 - address / (4 * GIB))

        parts = [f'<text x="0" y="12" style="{TEXT};font-weight:600">{esc(space.mm)}, to scale</text>',
                 f'<rect x="{BAR_X}" y="{y_of(PAGE_OFFSET)}" width="{BAR_W}" height="{y_of(0) - y_of(PAGE_OFFSET)}" '
                 f'style="fill:{REGION_STYLE["user"]};opacity:.15"/>']
        for r in space.regions:
            kind = _region_kind(r.name)
            if kind == "ukva":
                continue
            top, bottom = y_of(r.end), y_of(r.start)
            parts.append(f'<rect class="ukva-region-{kind}" x="{BAR_X}" y="{top}" width="{BAR_W}" '
                         f'height="{max(bottom - top, 1.5)}" style="fill:{REGION_STYLE[kind]};opacity:.85">'
                         f"<title>{esc(r.text())}</title></rect>")
        parts.append(f'<rect x="{BAR_X}" y="{TOP}" width="{BAR_W}" height="{BAR_H}" '
                     f'style="fill:none;stroke:var(--jp-ui-font-color2)"/>')
        for address, label in ((0, "0"), (PAGE_OFFSET, "3 GiB"), (4 * GIB, "4 GiB")):
            parts.append(f'<text x="{BAR_X - 4}" y="{y_of(address) + 4}" text-anchor="end" style="{CODE}">{label}</text>')
        parts.append(f'<text x="{BAR_X + 4}" y="{y_of(PAGE_OFFSET) - 8}" style="{TEXT};font-size:11px;fill:#000">kernel</text>'
                     f'<text x="{BAR_X + 4}" y="{y_of(PAGE_OFFSET) + 16}" style="{TEXT};font-size:11px">user</text>')
        # The UKVA: a sliver just under 3 GiB, joined to its zoomed-out slots by a wedge.
        uy = y_of(UKVA_BASE)
        parts.append(f'<rect class="ukva-region-ukva" x="{BAR_X}" y="{uy - 2}" width="{BAR_W}" height="3" '
                     f'style="fill:{REGION_STYLE["ukva"]}"/>')
        zy = TOP
        parts.append(f'<path d="M{BAR_X + BAR_W},{uy - 2} L{ZOOM_X},{zy} L{ZOOM_X},{zy + zoom_h} '
                     f'L{BAR_X + BAR_W},{uy + 1} z" style="fill:{REGION_STYLE["ukva"]};opacity:.25"/>')
        parts.append(f'<text x="{ZOOM_X}" y="12" style="{TEXT};font-weight:600">the UKVA (4 MiB under 3 GiB), zoomed</text>')
        for n, r in enumerate(reversed(ukva)):
            y = zy + n * SLOT_H
            who = readers.get(r.start, [])
            cls = "ukva-region-ukva" + (" ukva-slot-read" if who else "")
            parts.append(f'<g class="{cls}"><rect x="{ZOOM_X}" y="{y}" width="{ZOOM_W}" height="{SLOT_H - 3}" rx="3" '
                         f'style="fill:var(--jp-layout-color1);stroke:{REGION_STYLE["ukva"]};stroke-width:{3 if who else 1.5}"/>'
                         f'<text x="{ZOOM_X + 6}" y="{y + 15}" style="{TEXT};font-weight:600">{esc(r.name)}</text>'
                         f'<text x="{ZOOM_X + 6}" y="{y + 30}" style="{CODE}">{r.start:#010x} {esc(r.detail)}</text>'
                         + (f'<text x="{ZOOM_X + ZOOM_W + 6}" y="{y + 22}" style="{TEXT};font-weight:600">◀ '
                            f'{esc(", ".join(who))}</text>' if who else "") + "</g>")
        width = ZOOM_X + ZOOM_W + 80
        return scroll_box(f'<svg viewBox="-2 -2 {width + 4} {height + 4}" width="100%" style="max-width:{width + 4}px;'
                          f'min-width:420px;display:block" role="img" aria-label="the address space of {esc(space.mm)}, '
                          f'to scale, with the UKVA zoomed">{"".join(parts)}</svg>')

    def _pairs(self) -> list:
        return [(t, c) for t in self._user_tasks() for c in range(self.machine.options.cpus)]

    def text(self) -> str:
        m = self.machine
        running = ", ".join(f"cpu{c} runs {m.task_label(cpu[0])}" for c, cpu in enumerate(m.state[0]))
        lines = [f"AddressSpaceMap: {m.options.text()}; {running}", address_space(m, self._selected()).text()]
        lines += [f"  task {t.pid} on cpu{c}: {ukva_shows(m, t, c)}" for t, c in self._pairs()]
        for c, t in self._running():
            view = ukva_view(m, t, c)
            lines.append(f"  now cpu{c}: {m.task_label(m.task_index(t))} expects {view.should}, "
                         f"the page table gives {view.maps}: {'right' if view.correct else 'WRONG'}")
        return "\n".join(lines)
