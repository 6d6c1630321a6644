"""The measuring lab: the running kernel's shootdowns and CR3 writes (measure.py) beside the engine's
prediction for the same schedules, and where and why the two differ.

The prediction runs the book's own SMP machine (``ukva_widgets.engine.Machine``, per-MM design,
hardware fill, SMP-safe updates) through the schedule each C program plays, on as many CPUs, and
reads its counters: an update of a slot is the page the program remaps; the threads, processes,
sleeping threads (idle, lazy TLB) and ping-pong partners are the machine's tasks.

When this machine cannot be asked (not Linux, Pyodide, one CPU, no permission), `reference()` is
what the book shows beside it: the same lab, run on the machine named in measure_reference.json.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ukva_widgets.engine import Machine, make_tasks
from ukva_widgets.real.measure import EXPERIMENTS, Measured, measure_kernel
from ukva_widgets.real.measure import Machine as Box

REFERENCE_FILE = Path(__file__).with_name("measure_reference.json")
UPDATES = 3          # the engine's updates per slot (its bound); the figures are per update
SWITCHES = 6         # thread or process switches the engine counts, after both tasks ran once


@dataclass
class Experiment:
    """One experiment: what the kernel showed, what the engine predicts, and why they differ."""

    name: str
    cpus: list[int]
    repeats: int
    measured: dict
    predicted: dict
    source: str
    differences: list[str] = field(default_factory=list)
    why: str = ""       # why it was not measured here ("" when it was)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Lab:
    """A whole run: the machine in words, the experiments in EXPERIMENTS order, and the machine's
    facts (None where it could not be asked)."""

    machine: str
    experiments: list[Experiment]
    box: Box | None = None

    @property
    def measured_any(self) -> bool:
        return any(not e.why for e in self.experiments)

    def as_json(self) -> list[dict]:
        return [e.as_dict() for e in self.experiments]

    def text(self) -> str:
        return render(self)


# -- the engine's prediction ----------------------------------------------------------------------

def _switch_to(m: Machine, cpu: int, task) -> None:
    """Step "cpuN: switch to task PID (comm)", or to idle when `task` is None."""
    for choice in m.choices():
        if choice.action != "switch" or choice.cpu != cpu:
            continue
        if (task is None and "idle" in choice.label) or \
                (task is not None and choice.label.startswith(f"cpu{cpu}: switch to task {task.pid} (")):
            m.step(choice)
            return
    raise RuntimeError(f"engine: cpu{cpu} cannot switch to {task or 'idle'}; enabled: {m.choices()}")


def predict_update(kind: str, ncpus: int, pcid: bool = False) -> dict:
    """The engine's shootdowns for one update experiment on `ncpus` CPUs: cpu0 runs the updating
    thread; every other CPU runs a thread of its MM ("threads"), a process of its own ("processes"),
    ran a thread and went idle ("lazy-sleep"), or ran a thread and then another process
    ("lazy-other"). Then cpu0 updates one slot UPDATES times; per update: the IPIs the other CPUs
    received (`shootdowns_per_update`) and per CPU (`per_cpu`)."""
    if ncpus < 2:
        raise ValueError("a shootdown needs at least two CPUs")
    others = ncpus - 1
    threads = 1 if kind == "processes" else ncpus
    processes = others if kind in ("processes", "lazy-other") else 0
    kernel, tasks = make_tasks(threads=threads, processes=processes)
    m = Machine(kernel, tasks, cpus=ncpus, design="per-mm", fill="hardware", pcid=pcid, updates=UPDATES)
    runs = tasks[:ncpus] if kind != "processes" else tasks
    for cpu, task in enumerate(runs):
        _switch_to(m, cpu, task)
    for cpu in range(1, ncpus):
        if kind == "lazy-sleep":
            _switch_to(m, cpu, None)
        elif kind == "lazy-other":
            _switch_to(m, cpu, tasks[ncpus + cpu - 1])
    before = dict(m.counters)
    landed = [0] * ncpus
    update = next(c for c in m.choices() if c.action == "update" and c.cpu == 0).label
    for _ in range(UPDATES):
        m.step(update)
        for _sender, target in m.last_effects().ipis:
            landed[target] += 1
    ipis = m.counters["ipis"] - before["ipis"]
    out = {"shootdowns_per_update": ipis / UPDATES,
           "per_cpu": {f"cpu{c}": n / UPDATES for c, n in enumerate(landed)},
           "page_flushes_per_update": (m.counters["page_flushes"] - before["page_flushes"]) / UPDATES}
    if kind.startswith("lazy"):
        # Back to their threads: a CPU the updates skipped finds its tlb_gen stale and flushes then.
        flushes = m.counters["full_flushes"]
        for cpu in range(1, ncpus):
            _switch_to(m, cpu, tasks[cpu])
        out["deferred_flushes_per_cpu"] = (m.counters["full_flushes"] - flushes) / others
    return out


def predict_switch(pcid: bool) -> dict:
    """CR3 writes and full TLB flushes per switch on one CPU: between two threads of one MM, and
    between two processes (after each task ran once)."""
    out = {}
    for kind, (threads, processes) in (("thread", (2, 0)), ("process", (1, 1))):
        kernel, tasks = make_tasks(threads=threads, processes=processes)
        m = Machine(kernel, tasks, cpus=1, design="per-mm", fill="hardware", pcid=pcid, updates=0)
        for task in tasks:
            _switch_to(m, 0, task)
        before = dict(m.counters)
        for i in range(SWITCHES):
            _switch_to(m, 0, tasks[i % 2])
        out[f"cr3_writes_per_{kind}_switch"] = (m.counters["cr3_writes"] - before["cr3_writes"]) / SWITCHES
        out[f"flushes_per_{kind}_switch"] = (m.counters["full_flushes"] - before["full_flushes"]) / SWITCHES
    return out


def predict(name: str, ncpus: int, pcid: bool) -> dict:
    """The engine's figures for experiment `name` on `ncpus` CPUs (the "predicted" dict)."""
    if name == "switch-thread-vs-process":
        out = predict_switch(pcid)
        for flag, label in ((True, "pcid"), (False, "no_pcid")):
            out[f"flushes_per_process_switch_{label}"] = predict_switch(flag)["flushes_per_process_switch"]
        return out
    ncpus = max(ncpus, 2)
    if name == "lazy-update":
        return {**predict_update("lazy-sleep", ncpus, pcid), "other_mm": predict_update("lazy-other", ncpus, pcid)}
    return predict_update(name.removesuffix("-update"), ncpus, pcid)


# -- where and why they differ ---------------------------------------------------------------------

def close(measured: float, predicted: float) -> bool:
    """Whether a measured count per update (or switch) matches the engine's, allowing for noise."""
    return abs(measured - predicted) <= 0.1 + 0.1 * predicted


def _reason(values: dict, index: int, cpus: str = "others") -> float:
    """A tlb:tlb_flush reason per update (its place in enum tlb_flush_reason: reasons_per_update
    keeps that order, whatever the kernel calls it), on the updating CPU ("first") or summed over
    the others."""
    by_reason = list(values.get("reasons_per_update", {}).values())
    cells = list(by_reason[index].values()) if index < len(by_reason) else []
    return round(cells[0] if cpus == "first" else sum(cells[1:]), 4) if cells else 0.0


def explain(name: str, measured: dict, predicted: dict, box: Box | None) -> list[str]:
    """Sentences saying where the kernel's figures differ from the engine's and why (kernel files,
    functions and commits named, as in notebooks/sources.ipynb §6)."""
    if name == "switch-thread-vs-process":
        return _explain_switch(measured, predicted, box)
    out = []
    got, want = measured["shootdowns_per_update"], predicted["shootdowns_per_update"]
    traced = "reasons_per_update" in measured
    if name == "threads-update":
        out.append(f"Shootdown IPIs per update: {got:.3g} measured, {want:.3g} in the engine. Like the engine, the "
                   "kernel sends one IPI to each other CPU running the MM per flush, however many pages it covers "
                   "(flush_tlb_mm_range() in arch/x86/mm/tlb.c): an IPI per CPU, not per page.")
        if got < want and not close(got, want):
            out.append("Fewer than the engine: on some updates another CPU was running something else (a busy "
                       "machine), and should_flush_tlb() (arch/x86/mm/tlb.c, commit 6db2526c1d69) sends no IPI "
                       "to a CPU with another MM loaded; the engine's CPUs run their threads throughout.")
            if box is not None and box.virtual:
                out.append("In a virtual machine KVM's paravirtual flush (kvm_flush_tlb_multi() in "
                           "arch/x86/kernel/kvm.c) skips a vCPU the host has preempted; it flushes when it runs "
                           "again. The engine has no hypervisor.")
            if traced:
                out.append(f"The updating CPU traced {_reason(measured, 4, 'first'):.3g} 'remote IPI send' per update; "
                           f"the others traced {_reason(measured, 1):.3g} 'remote shootdown'.")
    elif name == "processes-update":
        out.append(f"Shootdown IPIs per update: {got:.3g} measured, {want:.3g} in the engine. Each process has "
                   "its own MM, so the updating MM is loaded on no other CPU and no IPI is due.")
    else:
        lazy = predicted["deferred_flushes_per_cpu"]
        out.append(f"Shootdown IPIs per update to sleeping threads' CPUs: {got:.3g} measured, {want:.3g} in the "
                   "engine. should_flush_tlb() skips a CPU in lazy TLB mode (is_lazy; commit 145f573b89a6 "
                   "\"x86/mm/tlb: Make lazy TLB mode lazier\") unless page tables were freed; the CPU catches up "
                   f"on the MM's tlb_gen when it switches back (switch_mm_irqs_off()), as in the engine: {lazy:.3g} "
                   f"flush per lazy CPU for all {UPDATES} updates, deferred.")
        other = measured.get("other_mm")
        if other:
            out.append(f"To CPUs running another process: {other['shootdowns_per_update']:.3g} per update measured, "
                       f"{predicted['other_mm']['shootdowns_per_update']:.3g} in the engine: another MM is loaded "
                       "there.")
            got = max(got, other["shootdowns_per_update"])
            traced = traced and "reasons_per_update" in other
    if name != "threads-update" and got > 0:
        wrong = _reason(measured, 5) + _reason(measured.get("other_mm", {}), 5)
        if wrong > 0 or not traced:
            lead = "Some are 'remote wrong CPU' flushes" if traced else "Such IPIs are most likely 'remote wrong CPU'"
            out.append(f"{lead}: since commit 209954cbc7d0 (\"x86/mm/tlb: Update mm_cpumask lazily\") a CPU stays "
                       "in an MM's cpumask after it switched away, and the kernel trims it with one IPI at most once "
                       "a second (should_flush_tlb(), commit 6db2526c1d69); the engine drops the CPU from the "
                       "cpumask at once.")
    if got > want and not close(got, want):
        out.append("More than the engine: the counts are per CPU, not per program, so shootdowns of other programs "
                   "running on those CPUs meanwhile are counted too.")
    if not traced:
        why = measured.get("counts_by_reason_unavailable", "")
        out.append(f"Counted from /proc/interrupts; the reasons need tlb:tlb_flush ({why}).")
    return out + _priority(measured)


def _priority(measured: dict) -> list[str]:
    """A sentence when the experiment's tasks ran at normal priority (measured["real_time"] False)."""
    if measured.get("real_time", True):
        return []
    return [f"It ran at normal priority ({measured.get('real_time_unavailable', '')}), so other programs could run "
            "on these CPUs in between, and their shootdowns and task switches count too. As root, with "
            "CAP_SYS_NICE, or with a real-time limit of 1 or more (ulimit -r), every task of the experiment "
            "runs at real-time priority (SCHED_FIFO, sched(7)) and nothing else comes in between."]


def _explain_switch(measured: dict, predicted: dict, box: Box | None) -> list[str]:
    out = []
    if "cr3_writes_per_process_switch" in measured:
        out.append(f"CR3 writes per switch: {measured['cr3_writes_per_thread_switch']:.3g} between threads and "
                   f"{measured['cr3_writes_per_process_switch']:.3g} between processes, against the engine's "
                   f"{predicted['cr3_writes_per_thread_switch']:.3g} and "
                   f"{predicted['cr3_writes_per_process_switch']:.3g}: "
                   "switch_mm_irqs_off() (arch/x86/mm/tlb.c) returns early when the next task's MM is already "
                   "loaded, and traces every CR3 write as 'flush on task switch' (with 0 pages when a PCID kept "
                   "the TLB).")
    else:
        out.append(f"CR3 writes were not counted: that needs tlb:tlb_flush ({measured.get('counts_unavailable', '')}).")
    pcid = bool(box and box.pcid)
    if pcid:
        out.append(f"This CPU has PCIDs: the kernel keeps 6 address-space ids per CPU (TLB_NR_DYN_ASIDS) and "
                   "choose_new_asid() reuses a current one without a flush; the engine predicts "
                   f"{predicted['flushes_per_process_switch_pcid']:.3g} flushes per process switch with PCID, "
                   f"{predicted['flushes_per_process_switch_no_pcid']:.3g} without.")
    else:
        out.append("This CPU has no PCID, so each CR3 write flushes the whole TLB (choose_new_asid() sets "
                   f"need_flush); with PCIDs the engine predicts {predicted['flushes_per_process_switch_pcid']:.3g} "
                   "flushes per process switch, the kernel keeping 6 address-space ids per CPU.")
    if "time_ratio" in measured:
        out.append(f"The engine counts events, not time: a process switch took {measured['time_ratio']:.3g} times as "
                   "long as a thread switch here, the price of the CR3 write and the TLB entries it loses.")
    return out + _priority(measured)


# -- runs ------------------------------------------------------------------------------------------

def measure(cpus: int | None = None, repeats: int | None = None, progress: Callable[[str], None] | None = None,
            **kwargs) -> Lab:
    """Run the experiments on this machine's kernel and the engine's prediction beside each.
    Nothing raises for a machine that cannot be asked: such an experiment says `why` instead."""
    if repeats is not None:
        kwargs["repeats"] = repeats
    box, measured = measure_kernel(cpus=cpus, progress=progress, **kwargs)
    pcid = bool(box and box.pcid)
    experiments = [_experiment(m, predict(m.name, len(m.cpus), pcid), box) for m in measured]
    return Lab(box.text() if box else "this machine", experiments, box)


def _experiment(m: Measured, predicted: dict, box: Box | None) -> Experiment:
    differences = explain(m.name, m.values, predicted, box) if m.available else []
    return Experiment(m.name, m.cpus, m.repeats, m.values, predicted, m.source, differences, m.why)


def reference(path: Path = REFERENCE_FILE) -> Lab:
    """The lab as run on the reference machine, for beside a reader's: the measurements stored in
    measure_reference.json, with the engine's prediction and the differences made afresh."""
    data = json.loads(path.read_text())
    box = Box(data["machine"], cpus=[], pcid=data["pcid"], virtual=data["virtual"], tracepoint=None)
    measured = [Measured(e["name"], e["cpus"], e["repeats"], e["measured"], e["source"]) for e in data["experiments"]]
    return Lab(data["machine"], [_experiment(m, predict(m.name, len(m.cpus), box.pcid), box) for m in measured], box)


def save_reference(lab: Lab, made_with: str, path: Path = REFERENCE_FILE) -> None:
    """Store a measured `lab`'s measurements as the reference (how measure_reference.json is made:
    `save_reference(measure(), "...")` on the reference machine); reference() recomputes the rest."""
    if lab.box is None or not all(e.measured for e in lab.experiments):
        raise ValueError("the reference must be a lab that measured every experiment")
    data = {"machine": lab.machine, "pcid": lab.box.pcid, "virtual": lab.box.virtual, "made_with": made_with,
            "experiments": [{k: e.as_dict()[k] for k in ("name", "cpus", "repeats", "measured", "source")}
                            for e in lab.experiments]}
    path.write_text(json.dumps(data, indent=1) + "\n")


def headline(experiment: Experiment) -> list[tuple[str, float | None, float | None]]:
    """The figures a chart or a table shows for one experiment: (what, measured, predicted)."""
    m, p = experiment.measured, experiment.predicted
    if experiment.name == "switch-thread-vs-process":
        return [("CR3 writes per thread switch", m.get("cr3_writes_per_thread_switch"),
                 p["cr3_writes_per_thread_switch"]),
                ("CR3 writes per process switch", m.get("cr3_writes_per_process_switch"),
                 p["cr3_writes_per_process_switch"])]
    rows = [("shootdowns per update" + (", threads asleep" if experiment.name == "lazy-update" else ""),
             m.get("shootdowns_per_update"), p["shootdowns_per_update"])]
    if experiment.name == "lazy-update":
        rows.append(("shootdowns per update, another process", m.get("other_mm", {}).get("shootdowns_per_update"),
                     p["other_mm"]["shootdowns_per_update"]))
    return rows


def render(lab: Lab, width: int = 100) -> str:
    """The lab as a table (an experiment, then its figures: measured, spread over repeats, the
    engine's), then where and why measured and predicted differ, in lines of at most `width`."""
    lines = [f"Measured on {lab.machine};",
             "predicted by the engine for the same schedules (per-MM machine, as many CPUs)",
             f"  {'':<40}{'measured':>10}  {'spread':<14}{'engine':>6}"]
    for e in lab.experiments:
        lines.append(e.name + (f" (counted from {e.source})" if e.source else ""))
        for i, (what, got, want) in enumerate(headline(e)):
            spread = "-".join(f"{x:.3g}" for x in _figures(e, i).get("spread", [])) if got is not None else ""
            shown = "-" if got is None else f"{got:.3g}"
            lines.append(f"  {what:<40}{shown:>10}  {spread:<14}{want:>6.3g}")
        if e.name == "switch-thread-vs-process" and "time_ratio" in e.measured:
            ratio = e.measured
            lines.append(f"  {'time, process / thread switch':<40}{ratio['time_ratio']:>10.3g}  "
                         f"{'-'.join(f'{x:.3g}' for x in ratio['spread']):<14}{'-':>6}")
        where = e.measured.get("per_cpu")
        if where:
            lines.append("  where they land: " + ", ".join(f"{c} {v:.3g}" for c, v in where.items())
                         + " (engine: " + ", ".join(f"{c} {v:.3g}" for c, v in e.predicted["per_cpu"].items()) + ")")
        if e.why:
            lines += textwrap.wrap(f"not measured: {e.why}", width, initial_indent="  ", subsequent_indent="    ")
    lines.append("Where they differ, and why:")
    for e in lab.experiments:
        for d in e.differences:
            lines += textwrap.wrap(f"{e.name}: {d}", width, initial_indent="  ", subsequent_indent="    ")
    return "\n".join(lines)


def _figures(e: Experiment, row: int) -> dict:
    if e.name == "lazy-update" and row == 1:
        return e.measured.get("other_mm", {})
    return {} if e.name == "switch-thread-vs-process" else e.measured


__all__ = ["EXPERIMENTS", "Experiment", "Lab", "explain", "headline", "measure", "predict", "reference", "render",
           "save_reference"]
