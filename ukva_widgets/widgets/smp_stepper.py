"""SMPStepper: a person as the SMP machine's decider. The enabled choices are buttons; step, back,
reset, or run to the shortest violation the model checker finds. The machine is a picture (CPUs with
their TLB entries, the MMs' page tables, arrows to the physical pages; stale entries marked from the
step that made them stale) and the steps taken are a sequence chart whose rows jump back and forth.

The machine (ukva_widgets.engine.machine) decides what is enabled and what each step does; this view
only reads its state, words and records (task_label, page_label, stale_entries, effects, text) and
passes clicks to step().

CSS classes for browser tests: "ukva-smp-stepper", "ukva-choice" on every choice button (plus
"ukva-choice-<n>" for the n-th enabled choice), "ukva-back", "ukva-reset", "ukva-run-to-violation",
"ukva-machine" (the picture: "ukva-tlb-entry", "ukva-stale" on a stale entry, "ukva-bad-read" on the
entry the violating read used, "ukva-pte", "ukva-page"), "ukva-trace" (the chart: "ukva-trace-step"
and "ukva-trace-step-<k>" on each step's button, "ukva-trace-row", "ukva-current", "ukva-flushed",
"ukva-counter-delta", "ukva-ipi"), "ukva-counters", "ukva-violation" (shown when one happened),
"ukva-step-label", plus "ukva-error".
"""

from __future__ import annotations

import ipywidgets as W

from ..engine import Machine, explore
from .base import BAD_COLOUR, USER_ERRORS, ErrorBox, UkvaWidget, badge, esc, scroll_box, themed_table
from .machine_picture import machine_svg, stale_words
from .trace_chart import TraceChart


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
        self.picture = W.HTML(layout=W.Layout(width="100%"))
        self.picture.add_class("ukva-machine")
        self.trace_chart = TraceChart(self.jump)
        self.counters = W.HTML()
        self.counters.add_class("ukva-counters")
        self.message = ""
        self.proven = False
        self.trace = list(machine.history)  # the steps as far as the reader went (back keeps them)
        super().__init__([self.header, W.HBox([self.back_button, self.reset_button, self.run_button],
                                              layout=W.Layout(flex_flow="row wrap")),
                          self.step_label, self.choice_box, self.violation_box, self.error, self.picture,
                          self.trace_chart, self.counters])
        self.add_class("ukva-smp-stepper")
        self.redraw()

    # -- actions (what the buttons call; usable from Python too) ----------------------------------------

    def set_machine(self, machine: Machine) -> None:
        """Show another machine in this same view (no new widgets, so no jitter)."""
        self.machine = machine
        self.message = ""
        self.proven = False
        self.trace = list(machine.history)
        self.redraw()

    def step(self, pick) -> None:
        """Take one enabled step (a Choice, its label or its index); a refused pick shows the error."""
        try:
            self.machine.step(pick)
        except USER_ERRORS as e:
            self.error.show(e)
            return
        self._remember()
        self.message = ""
        self.redraw()

    def _remember(self) -> None:
        """Keep the remembered steps ahead if the reader retook the next one, else forget them."""
        taken = self.machine.history
        if [c.label for c in self.trace[:len(taken)]] != [c.label for c in taken]:
            self.trace = list(taken)

    def jump(self, k: int) -> None:
        """Move to just after step `k` of the remembered steps (0: the start), going back or forth."""
        if not 0 <= k <= len(self.trace):
            self.error.show(ValueError(f"step {k} does not exist: the trace has steps 1 to {len(self.trace)}"))
            return
        m = self.machine
        while len(m.history) > k:
            m.undo()
        while len(m.history) < k:
            m.step(self.trace[len(m.history)].label)
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
        self.trace = list(self.machine.history)
        self.redraw()

    def run_to_violation(self) -> None:
        result = explore(self.machine.fresh())
        if result.violation is not None:
            self.play(result.trace)
            self.message = f"the model checker found this shortest violating trace ({result.states} states explored)"
        else:
            self.message = str(result)
            self.proven = result.complete
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
            # After a proof there is no violation to run to: say so instead of offering it.
            self.run_button.disabled = self.proven
            self.run_button.tooltip = ("the model checker proved there is none" if self.proven else
                                       "find the shortest violating trace with the model checker and play it")
            last = esc(m.history[-1].label) if m.history else "start"
            self.step_label.value = (f'<span style="color:var(--jp-ui-font-color1)">step {len(m.history)}: '
                                     f"{last}{' — ' + esc(self.message) if self.message else ''}</span>")
            self.violation_box.value = self._violation_html()
            if m.violation is not None:
                self.violation_box.add_class("ukva-violation")
            else:
                self.violation_box.remove_class("ukva-violation")
            self.picture.value = scroll_box(machine_svg(m))
            self.trace_chart.draw(m, self.trace)
            self.counters.value = themed_table(list(m.counters), [[esc(v) for v in m.counters.values()]])
            self.redraw_extra()

    def redraw_extra(self) -> None:
        """Hook for views built on this one (CacheAliasing) to redraw their own panels."""

    def _violation_html(self) -> str:
        m = self.machine
        v = m.violation
        if v is None:
            stale = m.stale_entries()
            if stale:
                return badge(f"⚠ {len(stale)} stale TLB entr{'y' if len(stale) == 1 else 'ies'}: "
                             f"a read through {'it' if len(stale) == 1 else 'one'} would be wrong", BAD_COLOUR,
                             dashed=True)
            # Neutral, not a green tick: steps taken by hand prove nothing about the other interleavings.
            return (f'<span style="color:var(--jp-ui-font-color2)">no wrong read in the {len(m.history)} '
                    f"step{'' if len(m.history) == 1 else 's'} taken</span>")
        return (f'<div role="alert" style="border:3px solid {BAD_COLOUR};border-radius:4px;padding:6px;'
                f'color:var(--jp-ui-font-color1);background:var(--jp-layout-color2)">'
                f"<b>✗ violation ({esc(v.kind)})</b> on cpu{v.cpu}, task {v.pid}: {esc(v.explanation)}</div>")

    def text(self) -> str:
        m = self.machine
        choices = m.choices()
        lines = [f"SMPStepper: step {len(m.history)}" + (f" ({self.message})" if self.message else ""), m.text()]
        lines += [f"cpu{e.cpu}: {e.address:#010x}->{e.cached_label} is {stale_words(e)}" for e in m.stale_entries()]
        if self.trace:
            lines.append("trace: " + "; ".join(f"{'>' if k == len(m.history) else ''}{k} {c.label}"
                                               for k, c in enumerate(self.trace, 1)))
        effects = m.last_effects()
        if effects is not None and effects.lines:
            lines.append("last step changed: " + "; ".join(effects.lines))
        lines.append("enabled: " + ("; ".join(c.label for c in choices) if choices else "none"))
        return "\n".join(lines)
