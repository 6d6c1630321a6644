"""The cost simulator: deterministic, honest about each design's price, strict about input."""

from __future__ import annotations

import pytest

from ukva_widgets.engine.costs import cost_curves, simulate_costs

REFS = 50_000


def test_the_same_seed_gives_the_same_counters_and_another_seed_others():
    a = simulate_costs(8, 4, REFS, "per-mm", seed=3)
    assert simulate_costs(8, 4, REFS, "per-mm", seed=3) == a
    assert simulate_costs(8, 4, REFS, "per-mm", seed=4) != a


def test_only_per_mm_pays_shootdown_ipis():
    for design in ("per-task", "per-cpu"):
        assert simulate_costs(8, 4, REFS, design)["ipis"] == 0
    assert simulate_costs(8, 4, REFS, "per-mm")["ipis"] > 0


def test_one_cpu_never_sends_an_ipi():
    assert simulate_costs(8, 1, REFS, "per-mm")["ipis"] == 0


def test_per_mm_ipis_grow_as_more_threads_keep_more_cpus_in_the_cpumask():
    ipis = cost_curves([1, 4, 16], cpus=4, refs=REFS)["per-mm"]["ipis"]
    assert ipis[0] < ipis[1] < ipis[2]


def test_per_task_flushes_on_every_switch_and_per_cpu_software_never():
    task = simulate_costs(8, 4, REFS, "per-task", "software")
    cpu = simulate_costs(8, 4, REFS, "per-cpu", "software")
    assert task["page_flushes"] + task["full_flushes"] == task["switches"]
    assert cpu["page_flushes"] == 0
    assert cpu["tlb_misses"] < task["tlb_misses"]


def test_pcid_keeps_cr3_writes_but_saves_full_flushes():
    plain = simulate_costs(4, 4, REFS, "per-mm", pcid=False)
    tagged = simulate_costs(4, 4, REFS, "per-mm", pcid=True)
    assert plain["cr3_writes"] == tagged["cr3_writes"] == plain["full_flushes"]
    assert tagged["full_flushes"] < plain["full_flushes"]
    assert tagged["tlb_misses"] < plain["tlb_misses"]


def test_a_miss_is_a_walk_under_hardware_fill_and_a_refill_trap_under_software():
    hw = simulate_costs(4, 2, REFS, "per-mm", "hardware")
    sw = simulate_costs(4, 2, REFS, "per-mm", "software")
    assert hw["page_walks"] == hw["tlb_misses"] > 0 and hw["refill_traps"] == 0
    assert sw["refill_traps"] == sw["tlb_misses"] == hw["tlb_misses"] and sw["page_walks"] == 0


def test_misses_never_exceed_reads():
    r = simulate_costs(16, 8, REFS, "per-task")
    assert 0 < r["tlb_misses"] <= r["references"] - r["switches"] - r["updates"]


def test_curves_have_one_point_per_thread_count_and_match_single_runs():
    curves = cost_curves([1, 2, 8], cpus=2, refs=10_000, seed=5)
    assert set(curves) == {"per-task", "per-cpu", "per-mm"}
    assert all(len(values) == 3 for values in curves["per-mm"].values())
    assert curves["per-cpu"]["tlb_misses"][2] == simulate_costs(8, 2, 10_000, "per-cpu", seed=5)["tlb_misses"]


@pytest.mark.parametrize("kwargs,error,message", [
    (dict(design="per_task"), ValueError, "Did you mean 'per-task'"),
    (dict(threads=0), ValueError, "threads=0 is out of range"),
    (dict(refs=1e5), TypeError, "refs must be an int"),
    (dict(fill="soft"), ValueError, "unknown fill"),
    (dict(pcid=1), TypeError, "pcid must be True or False"),
])
def test_bad_input_says_what_was_wrong(kwargs, error, message):
    args = dict(threads=4, cpus=2, refs=1000, design="per-mm") | kwargs
    with pytest.raises(error, match=message):
        simulate_costs(**args)


def test_empty_thread_counts_are_refused():
    with pytest.raises(ValueError, match="thread_counts is empty"):
        cost_curves([])
