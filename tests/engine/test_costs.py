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


def test_per_task_flushes_only_between_tasks_of_one_mm_and_per_cpu_never():
    task = simulate_costs(8, 4, REFS, "per-task", "software")
    cpu = simulate_costs(8, 4, REFS, "per-cpu", "software")
    mm = simulate_costs(8, 4, REFS, "per-mm", "software")
    assert task["page_flushes"] > task["updates"] and cpu["page_flushes"] == cpu["updates"]
    assert cpu["tlb_misses"] < task["tlb_misses"]
    assert mm["tlb_misses"] < task["tlb_misses"]


@pytest.mark.parametrize("cpus", [1, 2, 4])
@pytest.mark.parametrize("pcid", [False, True])
@pytest.mark.parametrize("fill", ["hardware", "software"])
def test_with_one_thread_per_mm_per_task_costs_per_mm_plus_its_switch_flushes(cpus, pcid, fill):
    """With one thread per MM a task's page and its MM's page are one page: per-task is per-mm
    plus the flush of the UKVA entry its switch makes (tlb.switch_flushes_ukva_entry), and the
    misses those flushes cause."""
    task = simulate_costs(1, cpus, REFS, "per-task", fill, pcid, seed=9)
    mm = simulate_costs(1, cpus, REFS, "per-mm", fill, pcid, seed=9)
    same = ("full_flushes", "cr3_writes", "ipis", "references", "reads", "switches", "updates")
    assert {key: task[key] for key in same} == {key: mm[key] for key in same}
    assert task["page_flushes"] > mm["page_flushes"] and task["tlb_misses"] > mm["tlb_misses"]
    assert mm["ipis"] == 0  # one thread: no other CPU ever runs the MM


def test_a_task_runs_on_one_cpu_at_a_time():
    """One thread per MM on four CPUs: no two CPUs ever run one MM, so per-MM sends no IPI
    (the old trace ran one task on two CPUs and sent 165 here)."""
    r = simulate_costs(1, 4, REFS, "per-mm", seed=2)
    assert r["switches"] > 0 and r["updates"] > 0 and r["ipis"] == 0
    assert r["reads"] < 0.9 * REFS  # idle CPUs neither read nor update


def test_pcid_keeps_cr3_writes_but_saves_full_flushes():
    plain = simulate_costs(4, 4, REFS, "per-mm", pcid=False)
    tagged = simulate_costs(4, 4, REFS, "per-mm", pcid=True)
    # Without PCID every CR3 write flushes, and so does a lazy CPU's catch-up on its MM's tlb_gen.
    assert plain["cr3_writes"] == tagged["cr3_writes"] < plain["full_flushes"]
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
    cpu_of, u, pick = rng.integers(0, cpus, refs), rng.random(refs), None
    u = u
    pick = rng.random(refs)

    def mm(task: int) -> int:  # MM 0: the threads; MM 1: the other process
        return int(task == threads)

    def page(c: int, task: int) -> tuple:
        return {"per-task": ("task", task), "per-cpu": ("cpu", c), "per-mm": ("mm", mm(task))}[design]

    ntasks = threads + 1
    cur = [c if c < ntasks else -1 for c in range(cpus)]
    loaded = [mm(t) if t >= 0 else -1 for t in cur]
    entry: dict[tuple[int, int], tuple | None] = {}      # (cpu, MM) -> (page, generation) or None
    asids = [{mm(t)} if t >= 0 else set() for t in cur]
    gen: dict[tuple, int] = {}
    held: dict[tuple[int, int], tuple] = {(c, mm(t)): page(c, t) for c, t in enumerate(cur) if t >= 0}
    seen: dict[tuple[int, int], int] = {}
    n = dict.fromkeys(["tlb_misses", "page_flushes", "full_flushes", "cr3_writes", "ipis", "switches",
                       "updates", "reads"], 0)
    for x, r, choice in zip(cpu_of.tolist(), u.tolist(), pick.tolist()):
        if r < P_SWITCH:
            free = [t for t in range(ntasks) if t not in cur]
            options = free + [-1] + ([cur[x]] if cur[x] >= 0 else [])
            tgt = options[int(choice * len(options))]
            if tgt == cur[x]:
                continue
            n["switches"] += 1
            if tgt < 0:
                cur[x] = -1
                continue
            there = mm(tgt)
            flushed = False
            stale = seen.get((x, there), 0) < gen.get(held.get((x, there)), 0)
            if loaded[x] != there:
                n["cr3_writes"] += 1
                loaded[x] = there
                if not pcid or there not in asids[x] or stale:
                    n["full_flushes"] += 1
                    asids[x].add(there)
                    flushed = True
            elif stale:  # back to the loaded MM, whose shootdown skipped this CPU while it was lazy
                n["full_flushes"] += 1
                flushed = True
            if not flushed and design == "per-task":  # per-task flushes its entry on every switch
                n["page_flushes"] += 1
                flushed = True
            if flushed:
                entry[(x, there)] = None
            held[(x, there)] = page(x, tgt)
            seen[(x, there)] = gen.get(page(x, tgt), 0)
            cur[x] = tgt
        elif cur[x] < 0:
            continue
        elif r < P_SWITCH + P_UPDATE:
            n["updates"] += 1
            here, target = mm(cur[x]), page(x, cur[x])
            gen[target] = gen.get(target, 0) + 1
            for y in range(cpus):
                if cur[y] >= 0 and mm(cur[y]) == here and held.get((y, here)) == target:
                    n["page_flushes"] += 1
                    n["ipis"] += y != x
                    entry[(y, here)] = None
                    seen[(y, here)] = gen[target]
        else:
            n["reads"] += 1
            here = mm(cur[x])
            if not entry.get((x, here)):
                n["tlb_misses"] += 1
                entry[(x, here)] = (page(x, cur[x]),)
    return n


@pytest.mark.parametrize("design", ["per-task", "per-cpu", "per-mm"])
@pytest.mark.parametrize("fill", ["hardware", "software"])
@pytest.mark.parametrize("pcid", [False, True])
@pytest.mark.parametrize("threads,cpus", [(1, 1), (3, 2), (6, 4), (1, 3)])
def test_the_vectorised_simulator_agrees_with_a_reference_by_reference_replay(design, fill, pcid, threads, cpus):
    got = simulate_costs(threads, cpus, 4000, design, fill, pcid, seed=11)
    want = reference_costs(threads, cpus, 4000, design, fill, pcid, seed=11)
    assert {key: got[key] for key in want} == want


def test_the_update_share_drives_the_updates_and_their_shootdowns():
    quiet = simulate_costs(4, 4, 10_000, "per-mm", p_update=0)
    busy = simulate_costs(4, 4, 10_000, "per-mm", p_update=0.05)
    assert quiet["updates"] == quiet["ipis"] == 0
    assert busy["updates"] > simulate_costs(4, 4, 10_000, "per-mm")["updates"] > 0 and busy["ipis"] > 0
    with pytest.raises(ValueError, match="p_update=1.5 is not a share of references"):
        simulate_costs(4, 4, 100, "per-mm", p_update=1.5)
