"""Widget redraw times: p95 of the Python-side time from a control change (sent as the browser
sends it, through the widget's comm) to the redrawn state, per widget's main interaction."""

from __future__ import annotations

from harness import Result, p95, samples_ms

N = 60
GOAL_MS = 20.0
COST_GOAL_MS = 100.0
CHECK_GOAL_MS = 2000.0
THREADS = "CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD"


def _send(widget, state: dict) -> None:
    widget.comm.handle_msg({"content": {"data": {"method": "update", "state": state, "buffer_paths": []}},
                            "buffers": []})


def _click(button) -> None:
    button.comm.handle_msg({"content": {"data": {"method": "custom", "content": {"event": "click"}}},
                            "buffers": []})


def _toggler(widget, states: list[dict]):
    """A callable that sends the next of `states` each time (so every call is a real change)."""
    turn = [0]

    def change() -> None:
        _send(widget, states[turn[0] % len(states)])
        turn[0] += 1
    return change


def _result(name: str, times: list[float], goal: float, detail: str) -> Result:
    return Result(name, round(p95(times), 2), "ms", goal, detail=f"p95 of {len(times)}; {detail}")


def _step_or_back(w):
    """Alternately take the first enabled step and go back, as a user exploring a machine does."""
    def interact() -> None:
        if w.machine.history:
            _click(w.back_button)
        else:
            _click(next(b for b in w.choices.slots.values() if not b.disabled))
    return interact


def _unsafe_trace(k, p, th) -> list:
    """The model checker's shortest stale-TLB trace for per-mm with plain (not SMP-safe) updates."""
    from ukva_widgets.engine import explore
    from ukva_widgets.engine.machine import Machine
    return explore(Machine(k, [p, th], cpus=2, design="per-mm", smp_safe=False)).trace


def run() -> list[Result]:
    from ukva_widgets.engine import Kernel
    from ukva_widgets.engine.machine import Machine
    from ukva_widgets.widgets import (
        AddressSpaceMap,
        CacheAliasing,
        CloneExplorer,
        CostPlot,
        DesignLab,
        SMPStepper,
        TaskTree,
    )
    from ukva_widgets.widgets.cost_plot import RATES

    out = []
    w = CloneExplorer(flags="CLONE_VM")
    box = w.checkboxes["CLONE_SIGHAND"]
    out.append(_result("widgets: CloneExplorer tick a flag", samples_ms(
        _toggler(box, [{"value": True}, {"value": False}]), N), GOAL_MS, "checkbox -> clone -> picture"))

    t = TaskTree(f"sh = fork init\nt = clone sh {THREADS}\np = fork sh\nexit p 0\nwait sh\nexit t 0")
    t.position = 3
    out.append(_result("widgets: TaskTree step/back", samples_ms(
        lambda: _click(t.step_button if t.position == 3 else t.back_button), N), GOAL_MS,
        "6-call script, replayed from boot"))

    k = Kernel()
    p = k.fork(k.init)
    th = k.clone(p, THREADS)
    s = SMPStepper(Machine(k, [p, th], cpus=2, design="per-mm", fill="hardware"))

    out.append(_result("widgets: SMPStepper step/back", samples_ms(_step_or_back(s), N), GOAL_MS, "per-mm, 2 CPUs"))
    s.set_machine(Machine(k, [p, th], cpus=2, design="per-mm", smp_safe=False))
    s.play(_unsafe_trace(k, p, th))
    rows = [row.children[0] for row in s.trace_chart.children]
    out.append(_result("widgets: SMPStepper jump along the trace", samples_ms(
        lambda: _click(rows[0] if len(s.machine.history) == len(rows) else rows[-1]), N), GOAL_MS,
        f"per-mm unsafe, {len(rows)}-step trace, first <-> last row"))

    d = DesignLab()
    out.append(_result("widgets: DesignLab change an option", samples_ms(
        _toggler(d.controls["cpus"], [{"value": 3}, {"value": 2}]), N), GOAL_MS,
        "rebuild machine + stepper (its buttons laid out anew)"))
    d.cpus = 2
    d.design = "per-mm"
    d.workload = "tasks sharing only the VM"
    out.append(_result("widgets: DesignLab check (per-mm, 2 CPUs)", samples_ms(d.check, 5, warmup=1),
                       CHECK_GOAL_MS, f"model checker, {d.result.states} states" if d.result else "model checker"))

    a = AddressSpaceMap()
    designs = list(a.design_control.options)
    out.append(_result("widgets: AddressSpaceMap change design", samples_ms(
        _toggler(a.design_control, [{"index": designs.index("per-task")}, {"index": designs.index("per-mm")}]), N),
        GOAL_MS, "rebuild machine, replay the CPUs, redraw map + columns"))

    c = CacheAliasing()

    out.append(_result("widgets: CacheAliasing step/back", samples_ms(_step_or_back(c), N), GOAL_MS, "1 CPU, 2 MMs"))

    cp = CostPlot()
    out.append(_result("widgets: CostPlot move the CPU slider", samples_ms(
        _toggler(cp.controls["cpus"], [{"value": 2}, {"value": 4}]), 30), COST_GOAL_MS,
        f"defaults: {cp.threads} threads, update rates {len(RATES)}, {cp.refs} refs per run, 3 designs re-simulated"))
    return out
