"""SMPStepper: a person as the SMP machine's decider. The enabled choices are buttons; step, back,
reset, or run to the shortest violation the model checker finds; every CPU, TLB and page table shown.

The machine (ukva_widgets.engine.machine) decides what is enabled and what each step does; this view
only reads its state and words (task_label, mm_label, page_label, text) and passes clicks to step().

CSS classes for browser tests: "ukva-smp-stepper", "ukva-choice" on every choice button (plus
"ukva-choice-<n>" for the n-th enabled choice), "ukva-back", "ukva-reset", "ukva-run-to-violation",
"ukva-cpus" (CPU table), "ukva-page-tables", "ukva-counters", "ukva-violation" (shown when one
happened), "ukva-step-label", plus "ukva-error".
"""

from __future__ import annotations

import ipywidgets as W

from ..engine import Machine, explore, slot_address
from .base import BAD_COLOUR, KIND_COLOUR, OK_COLOUR, USER_ERRORS, ErrorBox, UkvaWidget, badge, esc, themed_table

CPU_COLOUR = KIND_COLOUR["task"]


class SMPStepper(UkvaWidget):
    """Step a Machine by hand; back and reset use the machine's own undo() and reset()."""

    def __init__(self, machine: Machine) -> None:
        if not isinstance(machine, Machine):
            raise TypeError(f"SMPStepper shows a Machine (ukva_widgets.engine.Machine); got {type(machine).__name__}")
        self.machine = machine
        self.header = W.HTML()
        self.back_button = W.Button(description="back", icon="step-backward", layout=W.Layout(width="90px"))
        self.reset_button = W.Button(description="reset", icon="undo", layout=W.Layout(width="90px"))
        self.run_button = W.Button(description="run to violation", icon="bug", layout=W.Layout(width="160px"),
                                   tooltip="find the shortest violating trace with the model checker and play it")
        for button, cls, action in ((self.back_button, "ukva-back", self.back),
                                    (self.reset_button, "ukva-reset", self.reset),
                                    (self.run_button, "ukva-run-to-violation", self.run_to_violation)):
            button.add_class(cls)
            button.on_click(lambda _b, act=action: act())
        self.step_label = W.HTML()
        self.step_label.add_class("ukva-step-label")
        self.choice_box = W.HBox(layout=W.Layout(flex_flow="row wrap"))
        self.choice_buttons: list[W.Button] = []
        self.violation_box = W.HTML()
        self.error = ErrorBox()
        self.cpus = W.HTML()
        self.cpus.add_class("ukva-cpus")
        self.page_tables = W.HTML()
        self.page_tables.add_class("ukva-page-tables")
        self.counters = W.HTML()
        self.counters.add_class("ukva-counters")
        self.message = ""
        super().__init__([self.header, W.HBox([self.back_button, self.reset_button, self.run_button,
                                               self.step_label]),
                          self.choice_box, self.violation_box, self.error, self.cpus, self.page_tables,
                          self.counters])
        self.add_class("ukva-smp-stepper")
        self.redraw()

    # -- actions (what the buttons call; usable from Python too) ----------------------------------------

    def set_machine(self, machine: Machine) -> None:
        """Show another machine in this same view (no new widgets, so no jitter)."""
        self.machine = machine
        self.message = ""
        self.redraw()

    def step(self, pick) -> None:
        """Take one enabled step (a Choice, its label or its index); a refused pick shows the error."""
        try:
            self.machine.step(pick)
        except USER_ERRORS as e:
            self.error.show(e)
            return
        self.message = ""
        self.redraw()

    def back(self) -> None:
        if self.machine.history:
            self.machine.undo()
        self.message = ""
        self.redraw()

    def reset(self) -> None:
        self.machine.reset()
        self.message = ""
        self.redraw()

    def play(self, trace: list) -> None:
        """Reset and take the steps of `trace` (e.g. a model checker's counterexample)."""
        self.machine.reset()
        for choice in trace:
            self.machine.step(choice)
        self.redraw()

    def run_to_violation(self) -> None:
        result = explore(self.machine.fresh())
        if result.violation is not None:
            self.play(result.trace)
            self.message = f"the model checker found this shortest violating trace ({result.states} states explored)"
        else:
            self.message = str(result)
        self.redraw()

    # -- views ----------------------------------------------------------------------------------------

    def _choice_button(self, i: int) -> W.Button:
        # A pool of buttons reused across redraws: fewer DOM rebuilds, no jitter.
        while len(self.choice_buttons) <= i:
            button = W.Button(layout=W.Layout(width="auto"))
            button.add_class("ukva-choice")
            button.add_class(f"ukva-choice-{len(self.choice_buttons)}")
            button.on_click(lambda b: self.step(b.description))
            self.choice_buttons.append(button)
        return self.choice_buttons[i]

    def redraw(self) -> None:
        m = self.machine
        choices = m.choices()
        with self.hold_sync():
            self.error.clear()
            self.header.value = (f'<div style="color:var(--jp-ui-font-color1)"><b>SMP machine</b>: '
                                 f"{esc(m.options.text())}</div>")
            buttons = [self._choice_button(i) for i in range(len(choices))]
            for button, choice in zip(buttons, choices):
                button.description = choice.label
                button.tooltip = choice.label
            self.choice_box.children = buttons
            self.back_button.disabled = not m.history
            last = esc(m.history[-1].label) if m.history else "start"
            self.step_label.value = (f'<span style="color:var(--jp-ui-font-color1)">step {len(m.history)}: '
                                     f"{last}{' — ' + esc(self.message) if self.message else ''}</span>")
            self.violation_box.value = self._violation_html()
            if m.violation is not None:
                self.violation_box.add_class("ukva-violation")
            else:
                self.violation_box.remove_class("ukva-violation")
            self.cpus.value = self._cpus_html()
            self.page_tables.value = self._page_tables_html()
            self.counters.value = themed_table(list(m.counters), [[esc(v) for v in m.counters.values()]])
            self.redraw_extra()

    def redraw_extra(self) -> None:
        """Hook for views built on this one (CacheAliasing) to redraw their own panels."""

    def _violation_html(self) -> str:
        v = self.machine.violation
        if v is None:
            return badge("✓ no violation so far", OK_COLOUR)
        return (f'<div role="alert" style="border:3px solid {BAD_COLOUR};border-radius:4px;padding:6px;'
                f'color:var(--jp-ui-font-color1);background:var(--jp-layout-color2)">'
                f"<b>✗ violation ({esc(v.kind)})</b> on cpu{v.cpu}, task {v.pid}: {esc(v.explanation)}</div>")

    def _cpus_html(self) -> str:
        m, s = self.machine, self.machine.setup
        rows = []
        for c, (cur, loaded, asid, _rr, _asids, tlb) in enumerate(m.state[0]):
            lazy = loaded >= 0 and (cur < 0 or not s.user[cur])
            hit = m.violation is not None and m.violation.cpu == c
            entries = " ".join(self._entry(f"{'asid%d ' % a if s.n_asids > 1 else ''}", v, p, hit)
                               for a, v, p in tlb) or "empty"
            name = badge(f"cpu{c}" + (" ✗" if hit else ""), BAD_COLOUR if hit else CPU_COLOUR)
            rows.append([name, esc(m.task_label(cur)), esc(m.mm_label(loaded)) + (" (lazy)" if lazy else ""), entries])
        return themed_table(["CPU", "running", "loaded MM (CR3)", "TLB entries"], rows)

    def _entry(self, prefix: str, vpage: int, page: int, suspect: bool) -> str:
        """One translation; the one the violating read went through is marked (colour and ✗)."""
        v = self.machine.violation
        text = f"{prefix}{slot_address(vpage):#010x}→{self.machine.page_label(page)}"
        if suspect and v is not None and slot_address(vpage) == v.address:
            return badge("✗ " + text, BAD_COLOUR)
        return badge(text, KIND_COLOUR["mm"])

    def _page_tables_html(self) -> str:
        m = self.machine
        _cpus, ptes, mm_gen, _, _ = m.state
        rows = []
        for i, row in enumerate(ptes):
            mask = ", ".join(f"cpu{c}" for c, cpu in enumerate(m.state[0]) if cpu[1] == i) or "-"
            hit = m.violation is not None and m.setup.mms[i] is m.kernel.task(m.violation.pid).mm
            maps = "<br>".join(self._entry("", v, p, hit) for v, p in enumerate(row))
            rows.append([badge(m.mm_label(i), KIND_COLOUR["mm"]), maps, esc(mm_gen[i]), esc(mask)])
        return themed_table(["MM", "UKVA page table entries", "tlb_gen", "cpumask"], rows)

    def text(self) -> str:
        m = self.machine
        choices = m.choices()
        lines = [f"SMPStepper: step {len(m.history)}" + (f" ({self.message})" if self.message else ""), m.text()]
        lines.append("enabled: " + ("; ".join(c.label for c in choices) if choices else "none"))
        return "\n".join(lines)
