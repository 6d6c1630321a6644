"""DesignLab: choose a UKVA design and a machine, let the model checker judge it, and play the
shortest counterexample in an embedded SMPStepper, whose picture shows the page the CPU read and
the page it should have read.

The tasks come from the task engine (threads share an MM by CLONE_VM, processes get their own by
dup_mm: kernel/fork.c copy_mm, notebooks/sources.ipynb §3) and are named as the chapters name them
("thread A", "process B"); the machine, its options and their validation, and the verdict are the
engine's (Machine, explore).

Public state, as traitlets the view observes: the settings `design`, `fill`, `cpus`, `workload`,
`tasks` and the options (`pcid`, `flush_on_same_mm_switch`, `smp_safe`, `slots`, `cache`,
`shared_page`), each linked to its control; `machine` (the Machine they describe) and `verdict`
(the verdict in words, "" until checked).  Assigning a setting from code moves its control too.

The "check" button runs the search in a background thread, so the kernel stays free to show its
progress (states, rate) and to take a press of "cancel"; the controls that would change the
machine are disabled while it runs (a change made from code cancels the run and its verdict is
dropped).  `check()` called from Python blocks until the verdict is in, so a notebook cell that
calls it stays deterministic.  Past the bound the verdict offers "check with SPIN" where SPIN is
installed (ukva_widgets.engine.spin), and says why not where it is not.

CSS classes for browser tests: "ukva-design-lab", "ukva-design" (dropdown), "ukva-fill",
"ukva-cpus-slider", "ukva-workload", "ukva-tasks-slider", "ukva-workload-note" (what the workload's
tasks share and the slots they need), "ukva-opt-<option>" on each option control (e.g.
"ukva-opt-smp_safe", "ukva-opt-slots", "ukva-opt-cache", "ukva-opt-shared_page",
"ukva-opt-flush_on_same_mm_switch", "ukva-opt-pcid"), "ukva-check" (run the model checker),
"ukva-cancel" (shown while a check runs in the background), "ukva-progress" (shown while it runs),
"ukva-verdict", "ukva-check-spin" (the SPIN button) or "ukva-spin-missing" (why SPIN cannot run),
plus the SMPStepper's classes and "ukva-error".
"""

from __future__ import annotations

import threading

import ipywidgets as W
import traitlets

from ..browser import IN_BROWSER
from ..engine import Kernel, Machine, explore, make_tasks
from ..engine.explore import ExploreResult, Progress
from ..engine.machine import CACHES, DESIGNS, FILLS, SLOTS
from ..engine.options import int_in, pick
from ..engine.slots import SLOT_KINDS
from . import draw as d
from .base import USER_ERRORS, ErrorBox, UkvaWidget
from .palette import BAD_COLOUR, OK_COLOUR, OKABE_ITO
from .smp_stepper import SMPStepper

# How the tasks are made: the clone flags that decide what they share (notebooks/sources.ipynb §5 for
# pthreads), and what the chapters call them.  Without CLONE_FILES and CLONE_SIGHAND each clone gets
# its own files and sighand tables (dup_fd, a fresh sighand: notebooks/sources.ipynb §3), so under
# per-mm each needs slots of its own.  Only the first workload's tasks are threads (CLONE_THREAD).
WORKLOADS = {
    "threads": ("CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM", "thread"),
    "tasks sharing only the VM": ("CLONE_VM", "task"),
    "CLONE_VM|CLONE_FS tasks": ("CLONE_VM|CLONE_FS", "task"),
    "processes": (None, "process"),
}
MAX_STATES = 300_000
# SPIN stores states in C, far more compactly, so it may go further (a few GB of memory at most);
# it searches without the Python explorer's reductions, so it needs the room.
SPIN_MAX_STATES = 10_000_000
MAX_CPUS = 4   # the engine allows more (options.MAX_CPUS); past 4 the lab's pictures stop fitting
MAX_TASKS = 4
# The options that only the per-MM design reads (the other designs have no slots or shared pages).
PER_MM_OPTIONS = ("smp_safe", "slots", "cache", "shared_page")
SETTINGS = ("design", "fill", "cpus", "workload", "tasks", "pcid", "flush_on_same_mm_switch", *PER_MM_OPTIONS)


def tasks_for(workload: str, n: int = 2) -> tuple[Kernel, list]:
    """A fresh kernel and `n` tasks: a process forked from init plus n-1 clones of it (or forks),
    named "thread A", "thread B"... (prctl(PR_SET_NAME), as a program names its threads)."""
    if workload not in WORKLOADS:
        raise ValueError(f"unknown workload {workload!r}: use one of {', '.join(WORKLOADS)}")
    flags, noun = WORKLOADS[workload]
    kernel, tasks = (make_tasks(threads=1, processes=n - 1) if flags is None
                     else make_tasks(threads=n, sibling=flags))
    for i, task in enumerate(tasks):
        kernel.set_comm(task, f"{noun} {'ABCDEFGH'[i]}")
    return kernel, tasks


def spin_missing() -> str | None:
    """None where `explore(..., engine="spin")` can run here; else a line saying why not and what to do."""
    try:
        from ..engine import spin
    except ImportError:
        return "SPIN is not wired into this version of ukva_widgets (no ukva_widgets.engine.spin)"
    return spin.available()


def _verdict_html(words: str, colour: str | None, *, dashed: bool = False) -> str:
    """The verdict as one block with its mark and colour (a chip that wraps stays one box)."""
    if colour is None:
        return d.tag("span", d.esc(words), style=d.style(color=d.FG))
    return d.tag("div", d.esc(words), role="status", aria_live="polite",
                 style=d.style(display="inline-block", max_width="100%", box_sizing="border-box",
                               border=f"2px {'dashed' if dashed else 'solid'} {colour}", border_radius="4px",
                               padding="1px 6px", color=d.FG, background=d.BG1))


class DesignLab(UkvaWidget):
    """Design x fill x CPUs x workload x tasks x per-MM options -> the model checker's verdict.

    `cpus` and `tasks` go from 1 to 4; `workload` is a key of WORKLOADS; `max_states` bounds the
    Python search (past it the verdict is "not proven" and SPIN is offered); the other keyword
    arguments set the options (pcid, flush_on_same_mm_switch, smp_safe, slots, cache, shared_page)."""

    design = traitlets.Unicode("per-task")
    fill = traitlets.Unicode("hardware")
    cpus = traitlets.Int(2)
    workload = traitlets.Unicode("threads")
    tasks = traitlets.Int(2)
    pcid = traitlets.Bool(False)
    flush_on_same_mm_switch = traitlets.Bool(False)
    smp_safe = traitlets.Bool(True)
    slots = traitlets.Unicode("dynamic")
    cache = traitlets.Unicode("physical")
    shared_page = traitlets.Bool(False)
    machine = traitlets.Instance(Machine, allow_none=True)
    verdict = traitlets.Unicode("")

    def __init__(self, design: str = "per-task", fill: str = "hardware", cpus: int = 2,
                 workload: str = "threads", tasks: int = 2, *, max_states: int = MAX_STATES, **options) -> None:
        for name in options:
            if name not in SETTINGS[5:]:
                raise ValueError(f"unknown option {name!r}: DesignLab has {', '.join(SETTINGS[5:])}")
        self.max_states = int_in("max_states", max_states, 1, 10**9)
        self.controls = {
            "design": W.Dropdown(options=DESIGNS, description="design"),
            "fill": W.ToggleButtons(options=FILLS, description="TLB fill", style={"button_width": "90px"}),
            "cpus": W.IntSlider(min=1, max=MAX_CPUS, description="CPUs"),
            "workload": W.Dropdown(options=list(WORKLOADS), description="workload"),
            "tasks": W.IntSlider(min=1, max=MAX_TASKS, description="tasks"),
            "pcid": W.Checkbox(description="PCID (tagged TLB)", indent=False),
            "flush_on_same_mm_switch": W.Checkbox(description="flush on same-MM switch", indent=False),
            "smp_safe": W.Checkbox(description="SMP-safe updates (lock + shootdown)", indent=False),
            "slots": W.Dropdown(options=SLOTS, description="slots"),
            "cache": W.Dropdown(options=CACHES, description="data cache"),
            "shared_page": W.Checkbox(description="a page shared by every MM", indent=False),
        }
        css = {"cpus": "ukva-cpus-slider", "tasks": "ukva-tasks-slider"}
        for name, control in self.controls.items():
            control.add_class(css.get(name, f"ukva-{name}" if name in SETTINGS[:5] else f"ukva-opt-{name}"))
        self.workload_note = W.HTML()
        self.workload_note.add_class("ukva-workload-note")
        self.check_button = W.Button(description="check all interleavings", icon="search",
                                     button_style="primary", layout=W.Layout(width="220px"))
        self.check_button.add_class("ukva-check")
        self.check_button.on_click(lambda _: self.check(wait=False))
        self.cancel_button = W.Button(description="cancel", icon="stop", layout=W.Layout(width="100px", display="none"),
                                      tooltip="stop the search; the verdict is then 'not proven'")
        self.cancel_button.add_class("ukva-cancel")
        self.cancel_button.on_click(lambda _: self.cancel())
        self.progress = W.HTML(layout=W.Layout(display="none"))
        self.progress.add_class("ukva-progress")
        self.verdict_box = W.HTML()
        self.verdict_box.add_class("ukva-verdict")
        self.spin_button = W.Button(description="check with SPIN", icon="search-plus", layout=W.Layout(width="180px"),
                                    tooltip="export this machine to Promela and let the SPIN model checker search it")
        self.spin_button.add_class("ukva-check-spin")
        self.spin_button.on_click(lambda _: self.check(wait=False, engine="spin"))
        self.spin_missing = W.HTML()
        self.spin_missing.add_class("ukva-spin-missing")
        self.spin_row = W.HBox([self.spin_button, self.spin_missing], layout=W.Layout(display="none"))
        self.error = ErrorBox()
        self.result: ExploreResult | None = None
        self.stepper: SMPStepper | None = None
        self.status = ""            # while a check runs: its progress, in words
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self._running = False
        self._bound = max_states
        self._engine = "python"
        self._error_from = "refused"
        self._spin_missing: str | None = None
        self._building = True
        settings = {"design": design, "fill": fill, "cpus": cpus, "workload": workload, "tasks": tasks, **options}
        for name in SETTINGS:
            if name in settings:
                setattr(self, name, settings[name])
            self.controls[name].value = getattr(self, name)
            traitlets.link((self, name), (self.controls[name], "value"))
        self._building = False
        self._build()
        c = self.controls
        per_mm = W.VBox([W.HTML(d.tag("b", "per-MM options", style=d.style(color=d.FG)) + " "
                                + d.tag("span", "(used by the per-mm design only)", style=d.style(color=d.MUTED))),
                         c["smp_safe"], c["slots"], c["cache"], c["shared_page"]])
        general = W.VBox([c["design"], c["fill"], c["cpus"], c["workload"], c["tasks"], self.workload_note,
                          c["pcid"], c["flush_on_same_mm_switch"]])
        super().__init__([W.HBox([general, per_mm], layout=W.Layout(flex_flow="row wrap")),
                          W.HBox([self.check_button, self.cancel_button, self.progress],
                                 layout=W.Layout(flex_flow="row wrap", align_items="center")),
                          self.error, self.verdict_box, self.spin_row, self.stepper])
        self.add_class("ukva-design-lab")

    # -- the settings and the machine they describe ------------------------------------------------------

    @traitlets.validate("design", "fill", "workload", "slots", "cache", "cpus", "tasks")
    def _valid_setting(self, proposal: dict) -> object:
        name, value = proposal["trait"].name, proposal["value"]
        allowed = {"design": DESIGNS, "fill": FILLS, "workload": tuple(WORKLOADS), "slots": SLOTS, "cache": CACHES}
        try:
            if name in ("cpus", "tasks"):
                return int_in(name, value, 1, MAX_CPUS if name == "cpus" else MAX_TASKS)
            return pick(name, value, allowed[name])
        except (TypeError, ValueError) as e:
            raise traitlets.TraitError(str(e)) from e

    @traitlets.observe(*SETTINGS)
    def _on_setting(self, change: dict) -> None:
        if self._building:
            return
        if self._running:  # only code can get here: the controls are disabled while a check runs
            self._cancel.set()
        self._build()

    @traitlets.observe("verdict")
    def _on_verdict(self, change: dict) -> None:
        self.verdict_box.value = self._verdict_html()

    def _settings(self) -> dict:
        return {name: getattr(self, name) for name in SETTINGS if name not in ("workload", "tasks")}

    def _build(self) -> bool:
        """Build the machine the settings describe; on a refused combination show why, keep the old one."""
        try:
            kernel, tasks = tasks_for(self.workload, self.tasks)
            machine = Machine(kernel, tasks, **self._settings())
        except USER_ERRORS as e:
            self.error.show(e)
            self._error_from = "refused"
            return False
        self.error.clear()
        self._error_from = "refused"
        self.result = None
        self.machine = machine
        for name in PER_MM_OPTIONS:
            self.controls[name].disabled = self.design != "per-mm"
        self.workload_note.value = d.tag("span", d.esc(self.tasks_text()).replace("|", "|<wbr>"),
                                         style=d.style(color=d.MUTED))
        self._say("")
        self.verdict_box.value = self._verdict_html()
        self.spin_row.layout.display = "none"
        if self.stepper is None:
            self.stepper = SMPStepper(machine)
        else:
            self.stepper.machine = machine
        return True

    def tasks_text(self) -> str:
        """The tasks in words: how they were made, what each keeps to itself, the MMs and UKVA slots."""
        layout, (flags, noun) = self.machine.layout, WORKLOADS[self.workload]
        n, mms = len(layout.tasks), len(layout.mms)
        names = ", ".join(t.comm for t in layout.tasks)
        if flags is None:
            how = f"{n} process{'es' * (n > 1)} forked from init ({names})"
        else:
            how = f"{n} {noun}{'s' * (n > 1)} ({names}): a process"
            if n > 1:
                shares = self.machine.kernel.shares(layout.tasks[0], layout.tasks[1])
                own = [kind for kind in SLOT_KINDS if not shares[kind]]
                how += f" and {n - 1} clone{'s' * (n > 2)} of it with {flags}"
                if own:
                    how += f", each with its own {' and '.join(own)} table{'s' * (len(own) > 1)}"
        where = f"{mms} MM{'s' * (mms != 1)}"
        if self.design == "per-mm":
            slots = sum(s >= 0 for row in layout.mm_slots for s in row)
            where += f", {slots} UKVA slot{'s' * (slots != 1)}"
        return f"{how} ({where})"

    # -- the model checker -----------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True while a check runs."""
        return self._running

    def check(self, wait: bool = True, engine: str = "python") -> None:
        """Run the model checker on the current machine and play its counterexample, if any.

        With `wait=True` (the default, for code and notebook cells) it returns when the verdict
        is in; the button passes `wait=False`, which searches in a background thread and returns
        at once (`wait()` waits for it).  `engine="spin"` lets SPIN search instead of Python."""
        if self._running:
            if not wait:
                raise RuntimeError("a check is already running: cancel() it or wait() for it first")
            self.wait()
            if self.result is not None:  # that run was of this machine (a change drops its verdict)
                return
        machine = self.machine
        self._bound = SPIN_MAX_STATES if engine == "spin" else self.max_states
        self._engine = engine
        self._cancel = threading.Event()
        # A browser page (the live book) has no threads: there the button's check runs to its bound
        # before the kernel takes the next message, showing its progress but offering no cancel.
        background = not wait and not IN_BROWSER
        self._set_running(True, background=background)
        if not background:
            self._run(machine, engine, reraise=wait)
            return
        self._thread = threading.Thread(target=self._run, args=(machine, engine), daemon=True,
                                        name="ukva-design-lab-check")
        self._thread.start()

    def cancel(self) -> None:
        """Stop a running check; its verdict is then "cancelled, not proven"."""
        if self._running:
            self._cancel.set()
            self.cancel_button.disabled = True
            self.progress.value = self._progress_html(f"{self.status} — cancelling…")

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a check running in the background; True once none runs."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def _run(self, machine: Machine, engine: str, reraise: bool = False) -> None:
        try:
            result = explore(machine.fresh(), max_states=self._bound, engine=engine, progress=self._on_progress)
        except Exception as e:  # noqa: BLE001 - whatever stopped the search is shown, never lost
            self._set_running(False)
            self._say("no verdict: the model checker stopped (the error above says why)")
            self.error.show(e, f"the {engine} model checker stopped")
            self._error_from = "the model checker stopped"
            if reraise:
                raise
            return
        self._set_running(False)
        if machine is self.machine:  # else the settings changed under it: its verdict is of another machine
            self._show(result)

    def _on_progress(self, p: Progress) -> bool:
        # SPIN first generates and compiles its verifier: no states to count yet.
        self.status = p.text() if p.states or self._engine != "spin" else \
            f"SPIN builds its verifier (spin -a, then cc): {p.seconds:.1f} s"
        if not self._cancel.is_set():
            how = "exploring with SPIN" if self._engine == "spin" else "exploring"
            self.progress.value = self._progress_html(f"{how}: {self.status} · bound {self._bound:,} states")
        return not self._cancel.is_set()

    @staticmethod
    def _progress_html(words: str) -> str:
        # Font Awesome (which ipywidgets' buttons use) draws the spinner; an emoji may have no glyph.
        return d.tag("span", d.tag("i", cls="fa fa-spinner fa-spin", aria_hidden="true"), " ", d.esc(words),
                     role="status", style=d.style(color=d.FG))

    def _set_running(self, running: bool, background: bool = False) -> None:
        """Show the progress line (and, for a background run, the cancel button) and lock the controls."""
        self._running = running
        if not running:  # hide the progress before the controls come back: never both at once
            self.progress.layout.display = "none"
        for name, control in self.controls.items():
            control.disabled = running or (name in PER_MM_OPTIONS and self.design != "per-mm")
        self.check_button.disabled = running
        self.spin_button.disabled = running
        self.cancel_button.disabled = False
        self.cancel_button.layout.display = None if running and background else "none"
        if running:
            self.status = "starting"
            self.progress.value = self._progress_html(f"exploring every interleaving (up to {self._bound:,} "
                                                      f"states)…")
            self.progress.layout.display = None
            self._say("checking: the verdict appears here when the search ends")
            self.spin_row.layout.display = "none"
        else:
            self.status = ""

    def _say(self, words: str, colour: str | None = None, dashed: bool = False) -> None:
        self._colour, self._dashed = colour, dashed
        self.verdict = words

    def _verdict_html(self) -> str:
        if not self.verdict:
            return d.tag("span", "not checked yet: press ", d.tag("i", "check all interleavings"),
                         style=d.style(color=d.FG))
        return _verdict_html(self.verdict, getattr(self, "_colour", None), dashed=getattr(self, "_dashed", False))

    def _show(self, r: ExploreResult) -> None:
        self.result = r
        self.spin_row.layout.display = "none"
        by = " (SPIN)" if r.engine == "spin" else ""
        if r.violation is not None:
            self.stepper.play(r.trace)
            self._say(f"✗ violation{by} ({r.violation.kind}) after {len(r.trace)} steps — the shortest trace, "
                      f"played below", BAD_COLOUR)
            return
        self.stepper.reset()
        self.stepper.proven = r.complete  # nothing to run to: the stepper says so on its button
        self.stepper.redraw()
        if r.complete:
            how = " (slot by slot)" if r.method.startswith("part by part") else ""
            self._say(f"✓ proven{by}: no violation in any reachable state{how} — {r.states:,} states searched",
                      OK_COLOUR)
        elif r.cancelled:
            self._say(f"■ cancelled{by} after {r.states:,} states: not proven — press check to start again",
                      OKABE_ITO["grey"], dashed=True)
        else:
            if r.engine == "python":  # the offer shows first: whoever sees the verdict sees the offer with it
                self._offer_spin()
            self._say(f"? not proven{by}: no violation in {r.states:,} states, but the search stopped at its "
                      f"bound before it saw them all", OKABE_ITO["yellow"])

    def _offer_spin(self) -> None:
        self._spin_missing = missing = spin_missing()
        self.spin_button.layout.display = "none" if missing else None
        self.spin_missing.value = ("" if missing is None else
                                   d.tag("span", d.esc(f"SPIN could search further, but it cannot run here: "
                                                       f"{missing}"), style=d.style(color=d.MUTED)))
        self.spin_row.layout.display = None

    def snapshot(self) -> str:
        settings = self.machine.options.text() + f"; workload: {self.workload}"
        return "".join([d.tag("div", d.tag("b", "DesignLab"), ": ", d.esc(settings), style=d.style(color=d.FG)),
                        d.tag("div", d.esc(self.tasks_text()), style=d.style(color=d.MUTED)),
                        self._verdict_html(), self.stepper.snapshot()])

    def text(self) -> str:
        lines = [f"DesignLab: {self.machine.options.text()}; workload: {self.workload}", self.tasks_text()]
        if self.error.message:
            lines.append(f"{self._error_from}: {self.error.message}")
        if self._running:
            cancelling = " (cancelling)" if self._cancel.is_set() else ""
            lines.append(f"checking{cancelling}: {self.status}")
        else:
            by = " (SPIN)" if self.result and self.result.engine == "spin" else ""
            lines.append(f"verdict{by}: {self.result.text()}" if self.result else "verdict: not checked yet")
        if self.spin_row.layout.display != "none":
            missing = self._spin_missing
            lines.append("offers: check with SPIN" if missing is None else f"SPIN cannot run here: {missing}")
        lines.append(self.stepper.text())
        return "\n".join(lines)
