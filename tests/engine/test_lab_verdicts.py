"""Every machine the DesignLab widget can build gets a verdict (a proof or a violation, never "not
proven") within the lab's bound on stored states.  Counts, not times: benchmarks/bench_machine.py
measures the time (its goal, 2 s each)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ukva_widgets.engine import Machine, explore
from ukva_widgets.widgets.design_lab import MAX_STATES, tasks_for

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from bench_machine import lab_configurations  # noqa: E402  (the benchmark and this test build the same list)


def test_the_list_covers_every_control_of_the_lab():
    configs = list(lab_configurations())
    assert {n for _, n, _ in configs} == {1, 2, 3, 4} and {o["cpus"] for _, _, o in configs} == {1, 2, 3, 4}
    assert {o["design"] for _, _, o in configs} == {"per-task", "per-cpu", "per-mm"}
    per_mm = [o for _, _, o in configs if o["design"] == "per-mm"]
    assert {(o["smp_safe"], o["slots"], o["cache"], o["shared_page"]) for o in per_mm} == {
        (s, slots, cache, shared) for s in (True, False) for slots in ("dynamic", "fixed")
        for cache in ("physical", "virtual") for shared in (False, True)}


@pytest.mark.slow
def test_every_design_lab_configuration_gets_a_verdict_within_the_labs_bound():
    verdicts, undecided, refused = {"proven": 0, "violation": 0}, [], 0
    for workload, n, options in lab_configurations():
        try:
            m = Machine(*tasks_for(workload, n), **options)
        except ValueError:
            refused += 1  # a shared page with one MM: the lab refuses it too
            continue
        r = explore(m, max_states=MAX_STATES)
        if r.verdict == "not proven":
            undecided.append((workload, n, options, r.states))
        else:
            verdicts[r.verdict] += 1
    assert not undecided, undecided[:5]
    assert verdicts["proven"] > 1000 and verdicts["violation"] > 1000 and refused > 0, verdicts
