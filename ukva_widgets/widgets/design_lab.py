"""DesignLab: choose a UKVA design and a machine, let the model checker judge it, and play the
shortest counterexample in an embedded SMPStepper.

The tasks come from the task engine (threads share an MM by CLONE_VM, processes get their own by
dup_mm: kernel/fork.c copy_mm, FACTS.md §3); the machine, its options and their validation, and
the verdict are the engine's (Machine, explore).

CSS classes for browser tests: "ukva-design-lab", "ukva-design" (dropdown), "ukva-fill",
"ukva-cpus-slider", "ukva-workload", "ukva-opt-<option>" on each option control (e.g.
"ukva-opt-smp_safe", "ukva-opt-slots", "ukva-opt-cache", "ukva-opt-shared_page",
"ukva-opt-flush_on_same_mm_switch", "ukva-opt-pcid"), "ukva-check" (run the model checker),
"ukva-progress" (shown while it runs), "ukva-verdict", plus the SMPStepper's classes and "ukva-error".
"""

from __future__ import annotations

import ipywidgets as W

from ..engine import Kernel, Machine, explore, make_tasks
from ..engine.machine import CACHES, DESIGNS, FILLS, SLOTS
from .base import BAD_COLOUR, OK_COLOUR, OKABE_ITO, USER_ERRORS, ErrorBox, UkvaWidget, badge
from .smp_stepper import SMPStepper

# How the tasks are made: the clone flags that decide what they share (FACTS.md §5 for pthreads).
WORKLOADS = {
    "threads": "CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM",
    "threads sharing only the VM": "CLONE_VM",
    "processes": None,
}
MAX_STATES = 300_000
# The options that only the per-MM design reads (the other designs have no slots or shared pages).
PER_MM_OPTIONS = ("smp_safe", "slots", "cache", "shared_page")


def tasks_for(workload: str, n: int = 2) -> tuple[Kernel, list]:
    """A fresh kernel and `n` tasks: a process forked from init plus n-1 clones of it (or forks)."""
    if workload not in WORKLOADS:
        raise ValueError(f"unknown workload {workload!r}: use one of {', '.join(WORKLOADS)}")
    flags = WORKLOADS[workload]
    return make_tasks(threads=1, processes=n - 1) if flags is None else make_tasks(threads=n, sibling=flags)


class DesignLab(UkvaWidget):
    """Design x fill x CPUs x workload x per-MM options -> the model checker's verdict."""

    def __init__(self, design: str = "per-task", fill: str = "hardware", cpus: int = 2,
                 workload: str = "threads", **options) -> None:
        self.design = W.Dropdown(options=DESIGNS, value=design, description="design")
        self.fill = W.ToggleButtons(options=FILLS, value=fill, description="TLB fill",
                                    style={"button_width": "90px"})
        self.cpus_slider = W.IntSlider(value=cpus, min=1, max=3, description="CPUs")
        self.workload = W.Dropdown(options=list(WORKLOADS), value=workload, description="tasks")
        self.options = {
            "pcid": W.Checkbox(value=False, description="PCID (tagged TLB)", indent=False),
            "flush_on_same_mm_switch": W.Checkbox(value=False, description="flush on same-MM switch", indent=False),
            "smp_safe": W.Checkbox(value=True, description="SMP-safe updates (lock + shootdown)", indent=False),
            "slots": W.Dropdown(options=SLOTS, value="dynamic", description="slots"),
            "cache": W.Dropdown(options=CACHES, value="physical", description="data cache"),
            "shared_page": W.Checkbox(value=False, description="a page shared by two MMs", indent=False),
        }
        for name, value in options.items():
            if name not in self.options:
                raise ValueError(f"unknown option {name!r}: DesignLab has {', '.join(self.options)}")
            self.options[name].value = value
        for control, cls in ((self.design, "ukva-design"), (self.fill, "ukva-fill"),
                             (self.cpus_slider, "ukva-cpus-slider"), (self.workload, "ukva-workload")):
            control.add_class(cls)
            control.observe(self._on_change, "value")
        for name, control in self.options.items():
            control.add_class(f"ukva-opt-{name}")
            control.observe(self._on_change, "value")
        self.check_button = W.Button(description="check all interleavings", icon="search",
                                     button_style="primary", layout=W.Layout(width="220px"))
        self.check_button.add_class("ukva-check")
        self.check_button.on_click(lambda _: self.check())
        self.progress = W.HTML(f'<span style="color:var(--jp-ui-font-color1)">⏳ exploring every interleaving '
                               f"(up to {MAX_STATES:,} states)…</span>", layout=W.Layout(display="none"))
        self.progress.add_class("ukva-progress")
        self.verdict = W.HTML()
        self.verdict.add_class("ukva-verdict")
        self.error = ErrorBox()
        self.result = None
        self.stepper: SMPStepper | None = None
        self._build()
        per_mm = W.VBox([W.HTML('<b style="color:var(--jp-ui-font-color1)">per-MM options</b> '
                                '<span style="color:var(--jp-ui-font-color2)">(used by the per-mm design only)</span>'),
                         self.options["smp_safe"], self.options["slots"], self.options["cache"],
                         self.options["shared_page"]])
        general = W.VBox([self.design, self.fill, self.cpus_slider, self.workload, self.options["pcid"],
                          self.options["flush_on_same_mm_switch"]])
        super().__init__([W.HBox([general, per_mm], layout=W.Layout(flex_flow="row wrap")),
                          W.HBox([self.check_button, self.progress], layout=W.Layout(flex_flow="row wrap")),
                          self.error, self.verdict, self.stepper])
        self.add_class("ukva-design-lab")

    def _settings(self) -> dict:
        return {"cpus": self.cpus_slider.value, "design": self.design.value, "fill": self.fill.value,
                **{name: control.value for name, control in self.options.items()}}

    def _build(self) -> bool:
        """Build the machine the controls describe; on a refused combination show why, keep the old one."""
        try:
            kernel, tasks = tasks_for(self.workload.value)
            machine = Machine(kernel, tasks, **self._settings())
        except USER_ERRORS as e:
            self.error.show(e)
            return False
        self.error.clear()
        self.machine = machine
        self.result = None
        for name in PER_MM_OPTIONS:
            self.options[name].disabled = self.design.value != "per-mm"
        self.verdict.value = (f'<span style="color:var(--jp-ui-font-color1)">not checked yet: press '
                              f"<i>check all interleavings</i></span>")
        if self.stepper is None:
            self.stepper = SMPStepper(machine)
        else:
            self.stepper.set_machine(machine)
        return True

    def _on_change(self, change: dict) -> None:
        self._build()

    def check(self) -> None:
        """Run the model checker on the current machine and play its counterexample, if any."""
        self.check_button.disabled = True
        self.progress.layout.display = None
        try:
            self.result = explore(self.machine.fresh(), max_states=MAX_STATES)
        finally:
            self.progress.layout.display = "none"
            self.check_button.disabled = False
        r = self.result
        if r.violation is not None:
            self.stepper.play(r.trace)
            self.verdict.value = badge(f"✗ violation ({r.violation.kind}) after {len(r.trace)} steps — "
                                       f"the shortest trace, played below", BAD_COLOUR)
        else:
            self.stepper.reset()
            self.stepper.proven = r.complete  # nothing to run to: the stepper says so on its button
            self.stepper.redraw()
            colour = OK_COLOUR if r.complete else OKABE_ITO["yellow"]
            mark = "✓ proven" if r.complete else "? not proven"
            self.verdict.value = badge(f"{mark}: no violation in {r.states:,} states", colour)

    def text(self) -> str:
        lines = [f"DesignLab: {self.machine.options.text()}; tasks: {self.workload.value}"]
        if self.error.message:
            lines.append(f"refused: {self.error.message}")
        lines.append(f"verdict: {self.result.text()}" if self.result else "verdict: not checked yet")
        lines.append(self.stepper.text())
        return "\n".join(lines)
