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
    (dict(cpus=64, refs=10_000_000), ValueError, "more than this simulator keeps in memory"),
])
def test_bad_input_says_what_was_wrong(kwargs, error, message):
    args = dict(threads=4, cpus=2, refs=1000, design="per-mm") | kwargs
    with pytest.raises(error, match=message):
        simulate_costs(**args)


def test_empty_thread_counts_are_refused():
    with pytest.raises(ValueError, match="thread_counts is empty"):
        cost_curves([])


def reference_costs(threads: int, cpus: int, refs: int, design: str, fill: str, pcid: bool, seed: int) -> dict:
    """The workload of costs.py replayed one reference at a time, with the obvious state."""
    import numpy as np

    from ukva_widgets.engine.costs import P_SWITCH, P_UPDATE

    rng = np.random.default_rng(seed)
    cpu_of, u, target = rng.integers(0, cpus, refs), rng.random(refs), rng.integers(0, threads + 1, refs)

    def mm(task: int) -> int:  # MM 0: the threads; MM 1: the other process
        return int(task == threads)

    cur = [c % (threads + 1) for c in range(cpus)]
    valid: dict[tuple[int, int], bool] = {}
    asids = [{mm(cur[c])} for c in range(cpus)]
    synced: dict[tuple[int, int], int] = {}
    updates_of = [0, 0]
    n = dict.fromkeys(["tlb_misses", "page_flushes", "full_flushes", "cr3_writes", "ipis", "switches", "updates"], 0)
    for x, r, tgt in zip(cpu_of.tolist(), u.tolist(), target.tolist()):
        here = mm(cur[x])
        if r < P_SWITCH:
            if tgt == cur[x]:
                continue
            n["switches"] += 1
            there = mm(tgt)
            full = False
            if there != here:
                n["cr3_writes"] += 1
                synced[(x, here)] = updates_of[here]
                if not pcid or there not in asids[x]:
                    full = True
                    asids[x].add(there)
                elif design == "per-mm" and updates_of[there] > synced.get((x, there), 0):
                    full = True
            if full:
                n["full_flushes"] += 1
                valid[(x, there)] = False
            elif design == "per-task" or (design == "per-cpu" and fill == "hardware"):
                n["page_flushes"] += 1
                valid[(x, there)] = False
            cur[x] = tgt
        elif r < P_SWITCH + P_UPDATE:
            n["updates"] += 1
            if design == "per-mm":
                updates_of[here] += 1
                for y in range(cpus):
                    if mm(cur[y]) == here:
                        n["page_flushes"] += 1
                        n["ipis"] += y != x
                        valid[(y, here)] = False
        elif not valid.get((x, here), False):
            n["tlb_misses"] += 1
            valid[(x, here)] = True
    return n


@pytest.mark.parametrize("design", ["per-task", "per-cpu", "per-mm"])
@pytest.mark.parametrize("fill", ["hardware", "software"])
@pytest.mark.parametrize("pcid", [False, True])
@pytest.mark.parametrize("threads,cpus", [(1, 1), (3, 2), (6, 4)])
def test_the_vectorised_simulator_agrees_with_a_reference_by_reference_replay(design, fill, pcid, threads, cpus):
    got = simulate_costs(threads, cpus, 4000, design, fill, pcid, seed=11)
    want = reference_costs(threads, cpus, 4000, design, fill, pcid, seed=11)
    assert {key: got[key] for key in want} == want
