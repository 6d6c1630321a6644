"""SMPStepper: a person as the SMP machine's decider.  The steps a CPU may take are buttons in that
CPU's lane; step, back, reset, or run to the shortest violation the model checker finds.  Over the
picture one line says what happened ("cpu0 read files#2 v0 through its TLB; the page table says v1;
no IPI told cpu0"), the engine's whole explanation folded under it; the picture (machine_picture)
keeps its shape, marks the page read ("got") and the one that should have been ("expected"); the
steps taken are a sequence chart whose rows jump back and forth.

Public state, as traitlets the view observes: `machine` (the Machine shown; assigning another one
shows it in this same view) and `position` (the steps taken: assigning k moves to just after step k
of the remembered trace).  `SMPStepper(machine, trace=...)` starts pre-played, e.g. with a model
checker's counterexample.  After a step the reader took, the keyboard focus moves to its row.

The machine (ukva_widgets.engine.machine) decides what is enabled and what each step does; this view
only reads its state, words and records and passes clicks to Machine.step().

CSS classes for browser tests: "ukva-smp-stepper", "ukva-choice" (see choice_grid), "ukva-back",
"ukva-reset", "ukva-run-to-violation", "ukva-headline", "ukva-why" (the fold with the explanation),
"ukva-machine" (the picture, see machine_picture), "ukva-trace" (see trace_chart), "ukva-counters",
"ukva-violation" (shown when one happened), "ukva-step-label", plus "ukva-error".
"""

from __future__ import annotations

import ipywidgets as W
import traitlets

from ..engine import Machine, explore
from . import draw as d
from .base import USER_ERRORS, ErrorBox, Fold, Headline, UkvaWidget, changed_chip
from .choice_grid import ChoiceGrid
from .machine_picture import machine_svg, stale_words
from .palette import BAD_COLOUR, CHANGE_OUTLINE
from .trace_chart import TraceChart, lanes_head


class SMPStepper(UkvaWidget):
    """Step a Machine by hand; back and reset use the machine's own undo() and reset()."""

    machine = traitlets.Instance(Machine)
    position = traitlets.Int(0)
    picture_folded = False  # whether the snapshot folds the machine picture away (as a subclass's view does)

    def __init__(self, machine: Machine, trace: list | None = None) -> None:
        if not isinstance(machine, Machine):
            raise TypeError(f"SMPStepper shows a Machine (ukva_widgets.engine.Machine); got {type(machine).__name__}")
        self.header = W.HTML()
        self.back_button = W.Button(description="back", icon="step-backward", layout=W.Layout(width="90px"))
        self.reset_button = W.Button(description="reset", icon="undo", layout=W.Layout(width="90px"))
        self.run_button = W.Button(description="run to violation", icon="bug", layout=W.Layout(width="160px"),
                                   tooltip="find the shortest violating trace with the model checker and play it")
        for button, cls, action in ((self.back_button, "ukva-back", self.back),
                                    (self.reset_button, "ukva-reset", self.reset),
                                    (self.run_button, "ukva-run-to-violation", self.run_to_violation)):
            button.add_class(cls)
            button.on_click(lambda _b, act=action: act(by_reader=True))
        self.step_label = W.HTML()
        self.step_label.add_class("ukva-step-label")
        self.headline = Headline()
        self.violation_box = W.HTML()
        self.why = Fold("why: the engine's explanation", self.violation_box)
        self.why.add_class("ukva-why")
        self.error = ErrorBox()
        self.picture = W.HTML(layout=W.Layout(width="100%"))
        self.picture.add_class("ukva-machine")
        self.lanes = W.HTML()
        self.choices = ChoiceGrid(lambda label: self.step(label, by_reader=True))
        self.trace_chart = TraceChart(lambda k: self.jump(k, by_reader=True))
        self.trace_caption = W.HTML()
        self.counters = W.HTML()
        self.counters.add_class("ukva-counters")
        self.message = ""
        self.proven = False
        self._moving = False
        self.trace: list = []
        # The picture at each position the reader visited, by the steps that lead there (the machine is
        # deterministic): going back and forth along a trace draws each position once.
        self._pictures: dict[tuple, str] = {}
        # The buttons first, under the lanes' titles: nothing above them changes size as the reader
        # steps, so no button ever moves under the pointer; what a step did is said and drawn below.
        super().__init__([self.header, W.HBox([self.back_button, self.reset_button, self.run_button],
                                              layout=W.Layout(flex_flow="row wrap")),
                          self.lanes, self.choices, self.error, self.headline, self.why, self.step_label,
                          self.picture, self.trace_caption, self.trace_chart, self.counters])
        self.add_class("ukva-smp-stepper")
        self.machine = machine
        if trace is not None:
            self.play(trace)

    # -- public state ------------------------------------------------------------------------------------

    @traitlets.observe("machine")
    def _on_machine(self, change: dict) -> None:
        """Show another machine in this same view (no new widgets, so no jitter)."""
        self.message = ""
        self.proven = False
        self._pictures.clear()
        self.trace = list(change["new"].history)
        self.choices.reset(change["new"])
        self.redraw()

    @traitlets.validate("position")
    def _valid_position(self, proposal: dict) -> int:
        k = proposal["value"]
        if not self._moving and not 0 <= k <= len(self.trace):
            raise traitlets.TraitError(f"position must be between 0 and {len(self.trace)} (the steps of the trace)")
        return k

    @traitlets.observe("position")
    def _on_position(self, change: dict) -> None:
        if not self._moving:
            self.jump(change["new"])

    def _moved(self) -> None:
        """Set `position` to where the machine is, without moving it again."""
        self._moving = True
        try:
            self.position = len(self.machine.history)
        finally:
            self._moving = False

    # -- actions (what the buttons call; usable from Python too) ----------------------------------------

    def set_machine(self, machine: Machine) -> None:
        self.machine = machine

    def step(self, pick, by_reader: bool = False) -> None:
        """Take one enabled step (a Choice, its label or its index); a refused pick shows the error."""
        try:
            self.machine.step(pick)
        except USER_ERRORS as e:
            self.error.show(e)
            return
        self._remember()
        self.message = ""
        self.redraw(focus=by_reader)

    def _remember(self) -> None:
        """Keep the remembered steps ahead if the reader retook the next one, else forget them."""
        taken = self.machine.history
        if [c.label for c in self.trace[:len(taken)]] != [c.label for c in taken]:
            self.trace = list(taken)

    def jump(self, k: int, by_reader: bool = False) -> None:
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
        self.redraw(focus=by_reader)

    def back(self, by_reader: bool = False) -> None:
        if self.machine.history:
            self.machine.undo()
        self.message = ""
        self.redraw(focus=by_reader)

    def reset(self, by_reader: bool = False) -> None:
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

    def run_to_violation(self, by_reader: bool = False) -> None:
        result = explore(self.machine.fresh())
        if result.violation is not None:
            self.play(result.trace)
            self.message = f"the model checker found this shortest violating trace ({result.states} states explored)"
        else:
            self.message = str(result)
            self.proven = result.complete
        self.redraw(focus=by_reader)

    # -- views ----------------------------------------------------------------------------------------

    def redraw(self, focus: bool = False) -> None:
        m = self.machine
        words, colour, mark = headline(m)
        with self.hold_sync():
            self.error.clear()
            self.header.value = d.tag("div", d.tag("b", "SMP machine"), ": ", d.esc(m.options.text()),
                                      style=d.style(color=d.FG))
            self.back_button.disabled = not m.history
            # After a proof there is no violation to run to: say so instead of offering it.
            self.run_button.disabled = self.proven
            self.run_button.tooltip = ("the model checker proved there is none" if self.proven else
                                       "find the shortest violating trace with the model checker and play it")
            last = m.history[-1].label if m.history else "start"
            self.step_label.value = d.tag("span", d.esc(f"step {len(m.history)}: {last}"
                                                        + (f" — {self.message}" if self.message else "")),
                                          style=d.style(color=d.FG))
            self.headline.say(words, colour, mark)
            self.violation_box.value = self._violation_html()
            (self.violation_box.add_class if m.violation is not None else self.violation_box.remove_class)(
                "ukva-violation")
            self.why.layout.display = None if m.violation is not None else "none"
            if self.picture_shown():
                self.picture.value = self._picture(m)
            self.lanes.value = lanes_head(m.options.cpus, "")
            self.choices.draw(m)
            self.trace_caption.value = d.tag("div", "steps taken (press a number to go back or forth to it)"
                                             if self.trace else "no steps yet: each step you take appears "
                                             "here as a row you can come back to",
                                             style=d.style(color=d.MUTED, font_size="11px", margin_top="4px"))
            self.trace_chart.draw(m, self.trace, words)
            self.counters.value = counters_html(m)
            self.redraw_extra()
        self._moved()
        if focus and m.history:
            self.trace_chart.focus_step(len(m.history))

    def _picture(self, m: Machine) -> str:
        key = tuple(c.label for c in m.history)
        if key not in self._pictures:
            if len(self._pictures) >= 64:  # a bounded memo: a long session keeps only recent positions
                self._pictures.clear()
            self._pictures[key] = machine_svg(m)
        return self._pictures[key]

    def picture_shown(self) -> bool:
        """Whether the machine picture is on view (a view that folds it away draws it when unfolded)."""
        return True

    def redraw_extra(self) -> None:
        """Hook for views built on this one (CacheAliasing) to redraw their own panels."""

    def _violation_html(self) -> str:
        v = self.machine.violation
        if v is None:
            return ""
        return d.tag("div", d.tag("b", d.esc(f"✗ violation ({v.kind})")), d.esc(f" on cpu{v.cpu}, task {v.pid}: "),
                     d.esc(v.explanation), role="note",
                     style=d.style(border=f"3px solid {BAD_COLOUR}", border_radius="4px", padding="6px", color=d.FG,
                                   background=d.BG2))

    def snapshot(self) -> str:
        m = self.machine
        parts = [self.header.value, Headline.html(*headline(m))]
        if m.violation is not None:
            parts.append(d.tag("details", d.tag("summary", "why: the engine's explanation"), self._violation_html()))
        picture = self._picture(m)
        if self.picture_folded:
            picture = d.tag("details", d.tag("summary", "the CPUs and their TLBs"), picture)
        parts += [picture, self.trace_chart.snapshot(m, self.trace), self.counters.value]
        return "".join(parts)

    def text(self) -> str:
        m = self.machine
        choices = m.choices()
        lines = [f"SMPStepper: step {len(m.history)}" + (f" ({self.message})" if self.message else ""),
                 headline(m)[0], m.text()]
        lines += [f"cpu{e.cpu}: {e.address:#010x}->{e.cached_label} is {stale_words(e)}" for e in m.stale_entries()]
        if self.trace:
            lines.append("trace: " + "; ".join(f"{'>' if k == len(m.history) else ''}{k} {c.label}"
                                               for k, c in enumerate(self.trace, 1)))
        effects = m.last_effects()
        if effects is not None and effects.lines:
            lines.append("last step changed: " + "; ".join(effects.lines))
        lines.append("enabled: " + ("; ".join(c.label for c in choices) if choices else "none"))
        return "\n".join(lines)


def counters_html(m: Machine) -> str:
    """The counters as name-value pairs that wrap on a narrow output area (a table would scroll)."""
    moved = m.last_effects().counters if m.history else {}
    items = [d.tag("span", d.tag("span", d.esc(name), style=f"color:{d.MUTED}"), " ", d.tag("b", str(value)),
                   changed_chip(f"+{moved[name]}") if name in moved else "",
                   cls="ukva-counter", style="white-space:nowrap")
             for name, value in m.counters.items()]
    return d.tag("div", *items, style=d.style(display="flex", flex_wrap="wrap", gap="2px 14px", color=d.FG,
                                              font_family=d.CODE_FONT, font_size="12px", margin_top="4px"))


def headline(m: Machine) -> tuple[str, str | None, str]:
    """One line on what the machine shows now, (words, colour, mark): the violation if one
    happened, else a stale TLB entry, else the last step and what it changed."""
    v = m.violation
    if v is not None:
        return _violation_words(m, v), BAD_COLOUR, "✗"
    stale = m.stale_entries()
    if stale:
        e = stale[0]
        more = f" (and {len(stale) - 1} more)" if len(stale) > 1 else ""
        return (f"cpu{e.cpu} holds {e.cached_label} for {e.address:#010x}; the page table says "
                f"{_short(e.current_label, e.cached_label)}: a read through it would be wrong{more}"), BAD_COLOUR, "⚠"
    if not m.history:
        return "the start: every CPU idle, every TLB empty; take a step below", None, ""
    effects = m.last_effects()
    said = [line for line in effects.lines if not line.startswith("counters")][:2]
    return (f"step {len(m.history)}: {m.history[-1].label}" + (f" — {'; '.join(said)}" if said else ""),
            CHANGE_OUTLINE, "")


def _short(label: str, other: str) -> str:
    """"v1" for "files#2 v1" beside "files#2 v0": the object said once."""
    if " v" in label and label.rsplit(" v", 1)[0] == other.rsplit(" v", 1)[0]:
        return label.rsplit(" ", 1)[1]
    return label


def _violation_words(m: Machine, v) -> str:
    c = v.cpu
    task = m.task_label(m.cpu(c).current)
    got, expected = v.got, _short(v.expected, v.got)
    via = {"tlb": "through its TLB", "walk": "from the page-table walk", "refill": "from the refill handler",
           "cache": "from its cache line", "memory": "from memory"}.get(v.source, "")
    if v.kind == "stale-tlb":
        why = "no IPI told" if not m.options.smp_safe else "no flush reached"
        return f"cpu{c} read {got} {via}; the page table says {expected}; {why} cpu{c}"
    if v.kind in ("wrong-task", "wrong-cpu"):
        return f"cpu{c} runs {task} and read {got} {via}; it should have read {expected}"
    if v.kind == "wrong-slot":
        return f"cpu{c} read {got} at {v.address:#010x}; it should have read {expected}: one fixed slot, two tables"
    if v.kind == "half-updated":
        return f"cpu{c} read {got}; {expected} is already mapped in another MM: an update reaches one MM per step"
    if v.kind == "stale-alias":
        return f"cpu{c} read {got} {via}; {expected} was written last, through another cache line"
    if v.kind == "lost-update":
        got = _short(v.got, v.expected)
        return f"cpu{c} mapped its copy of {v.expected} over {got}: the update that made {got} is lost"
    return f"cpu{c}: {v.kind}: got {got}, expected {expected}"
