"""Each TLB rule is stated once in tlb.py, which the Python model calls; the Promela export and the
cost simulator restate it (tlb.MIRRORS lists where).  These tests run the same schedules through
the mirrors and, when they disagree, name every place that states the rules involved.

- The cost simulator's own traces, replayed step by step on the Python model: every counter
  equal (where the model can take the trace: no violation, and no more updates than it allows).
- SPIN on small machines that each exercise one rule: the verdict and depth of the Python
  search, and for a proof the plain transition system's states exactly.
"""

from __future__ import annotations

import importlib
import os

import numpy as np
import pytest
from test_spin import plain_states

from ukva_widgets.engine import Choice, Kernel, Machine, explore, make_tasks, spin, tlb
from ukva_widgets.engine.costs import P_SWITCH, P_UPDATE, draw, schedule, trace_costs
from ukva_widgets.engine.state import READ, SWITCH, UPDATE

# Which rules decide each counter.
RULES_OF = {"cr3_writes": ["switch_mm"], "full_flushes": ["switch_mm"],
            "page_flushes": ["switch flushes the UKVA entry", "shootdown", "flush_page"],
            "ipis": ["shootdown"], "tlb_misses": ["fill", "flush_page", "switch_mm", "shootdown"],
            "page_walks": ["fill"], "refill_traps": ["fill"]}
COUNTED = tuple(RULES_OF)


def disagreement(what: str, diff: dict, rules: list[str]) -> str:
    """The failure message: what disagrees, and every place each rule involved is stated."""
    lines = [f"{what} disagree: {diff}", "the rules involved and where each is stated (change all or none):"]
    lines += [f"  {rule}: {', '.join(tlb.MIRRORS[rule])}" for rule in dict.fromkeys(rules)]
    return "\n".join(lines)


def test_every_mirror_the_table_names_exists():
    for rule, places in tlb.MIRRORS.items():
        for place in places:
            module, *path = place.split(".")
            obj = importlib.import_module(f"ukva_widgets.engine.{module}")
            for name in path:
                assert hasattr(obj, name), f"tlb.MIRRORS[{rule!r}] names {place}, which does not exist"
                obj = getattr(obj, name)


def replay_on_model(threads: int, cpus: int, design: str, fill: str, pcid: bool, trace) -> tuple[dict, int]:
    """A cost-simulator trace stepped on a Machine of the same tasks: (its counters, how many
    references it took).  It stops before an update the model cannot make (per-task and per-cpu
    have none; per-mm allows three per slot here)."""
    cpu, u, choice = trace
    run = schedule(threads, cpus, cpu, u, choice, design, fill, pcid)
    switches, updates = dict(zip(run.sw_t, run.sw_task)), set(run.up_t)
    m = Machine(*make_tasks(threads, processes=1), cpus=cpus, design=design, fill=fill, pcid=pcid,
                flush_on_same_mm_switch=design == "per-task", tlb_size=64, updates=3)
    running = [c if c <= threads else -1 for c in range(cpus)]
    for c, n in enumerate(running):  # the simulator starts with CPU c running task c
        if n >= 0:
            m.step(Choice(SWITCH, c, n))
    before = dict(m.counters)
    for t, c in enumerate(cpu.tolist()):
        n = running[c]
        if t in switches:
            running[c] = switches[t]
            m.step(Choice(SWITCH, c, switches[t]))
        elif t in updates:
            update = Choice(UPDATE, c, m.layout.task_reads[n][0][1])
            if all(step.choice != update for step in m.choices()):
                return {k: m.counters[k] - before[k] for k in COUNTED}, t
            m.step(update)
        elif u[t] >= P_SWITCH + P_UPDATE and n >= 0:
            m.step(Choice(READ, c, m.layout.task_reads[n][0][0]))
        assert m.violation is None, f"the model finds this design wrong here: {m.violation}"
    return {k: m.counters[k] - before[k] for k in COUNTED}, len(u)


# Where the model has no violation: per-mm; software refill; hardware fill on one CPU.
CASES = [(design, fill, pcid, cpus, threads)
         for design in ("per-task", "per-cpu", "per-mm") for fill in ("hardware", "software")
         for pcid in (False, True) for cpus in (1, 2, 3) for threads in (1, 3)
         if design == "per-mm" or fill == "software" or cpus == 1]
# A few that between them take every rule (the slow test takes them all).
QUICK = [("per-mm", "hardware", True, 3, 3), ("per-mm", "software", False, 2, 3),
         ("per-task", "software", True, 2, 3), ("per-cpu", "software", False, 3, 1),
         ("per-task", "hardware", False, 1, 3)]


def costs_match_model(design: str, fill: str, pcid: bool, cpus: int, threads: int, seeds: range) -> None:
    compared = 0
    for seed in seeds:
        trace = draw(cpus, 600, seed)
        model, taken = replay_on_model(threads, cpus, design, fill, pcid, trace)
        costs = trace_costs(threads, cpus, *(np.asarray(a[:taken]) for a in trace), design, fill, pcid)
        diff = {k: (model[k], costs[k]) for k in COUNTED if model[k] != costs[k]}
        assert not diff, disagreement(f"the Python model (first) and the cost simulator (second), seed {seed}",
                                      diff, [r for k in diff for r in RULES_OF[k]])
        compared += taken
    assert compared > 100 * len(seeds)  # most of each trace was compared, not only a prefix (per-task and
    # per-cpu have no updates: a trace is compared up to its first, about a hundred references in)


@pytest.mark.parametrize("design,fill,pcid,cpus,threads", QUICK)
def test_the_cost_simulator_counts_what_the_model_counts_on_the_same_trace(design, fill, pcid, cpus, threads):
    costs_match_model(design, fill, pcid, cpus, threads, range(2))


@pytest.mark.slow
def test_the_cost_simulator_counts_what_the_model_counts_for_every_design_fill_and_machine():
    for case in CASES:
        costs_match_model(*case, range(4))


# Machines that each exercise one rule (recipe: the tasks; options).
def _tasks(recipe: str):
    k = Kernel()
    p = k.fork(k.init)
    return k, {"threads": lambda: [p, k.clone(p, "CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD")],
               "vm": lambda: [p, k.clone(p, "CLONE_VM")],
               "processes": lambda: [p, k.fork(p), k.fork(p)],
               "lazy": lambda: [p, k.clone(p, "CLONE_VM|CLONE_FILES|CLONE_SIGHAND"), k.kthread("kworker")]}[recipe]()


RULE_MACHINES = [
    ("fill", "vm", dict(cpus=1, design="per-mm", tlb_size=1)),                       # a full TLB evicts
    ("flush_page", "threads", dict(cpus=1, design="per-task", flush_on_same_mm_switch=True)),
    ("switch_mm", "processes", dict(cpus=1, design="per-task", pcid=True)),         # ASID per MM
    ("switch_mm", "processes", dict(cpus=1, design="per-mm", pcid=False, tlb_size=8)),
    ("shootdown", "lazy", dict(cpus=2, design="per-mm", smp_safe=True)),             # a lazy CPU skipped
    ("shootdown", "vm", dict(cpus=2, design="per-mm", smp_safe=False)),
    ("switch flushes the UKVA entry", "threads", dict(cpus=2, design="per-task", fill="software")),
]


@pytest.mark.parametrize("rule,recipe,options", RULE_MACHINES, ids=[f"{r[0]}-{r[1]}" for r in RULE_MACHINES])
def test_spin_and_the_python_model_agree_on_a_machine_that_exercises_each_rule(rule, recipe, options):
    missing = spin.available()
    if missing is not None:
        if os.environ.get("UKVA_REQUIRE_SPIN") == "1":
            pytest.fail(f"UKVA_REQUIRE_SPIN=1 but {missing}")
        pytest.skip(missing)
    m = Machine(*_tasks(recipe), **options)
    python, by_spin = explore(m, parts=False), explore(m, engine="spin", parts=False)
    got = {"verdict": by_spin.verdict, "depth": len(by_spin.trace)}
    want = {"verdict": python.verdict, "depth": len(python.trace)}
    if python.verdict == "proven":
        got["states"], want["states"] = by_spin.states, plain_states(m.model) + 1
    diff = {k: (want[k], got[k]) for k in want if want[k] != got[k]}
    assert not diff, disagreement("the Python model (first) and SPIN (second)", diff, [rule])
