"""The SMP machine's finer points, one test (or a few) each: the lock and lost updates (11), pages
mapped in several MMs through the cache and per-MM update steps (9), where those pages are
placed (10), the cause a PCID violation names (13), reads that target one slot (14), and
per-CPU page tables (12)."""

from __future__ import annotations

import pytest

from ukva_widgets.engine import Kernel, Machine, explore, make_tasks, random_run


def switch(m: Machine, cpu: int, task) -> None:
    m.step(f"cpu{cpu}: switch to {m.task_label(m.task_index(task))}")


def files_shared_by_two_mms() -> tuple[Kernel, list]:
    """An object shared across MMs: p; t = clone(p, CLONE_VM); q = clone(t, CLONE_FILES).  t's files table
    is q's too, but t and q have different MMs: mm of p has four slots, q's mm two."""
    k = Kernel()
    p = k.fork(k.init)
    t = k.clone(p, "CLONE_VM")
    q = k.clone(t, "CLONE_FILES")
    assert t.files is q.files and t.mm is not q.mm
    return k, [p, t, q]


# -- 11: the lock ------------------------------------------------------------------------
def test_11_two_interleaved_plain_updates_lose_one():
    k, (p, t) = make_tasks(threads=2)
    m = Machine(k, [p, t], cpus=2, design="per-mm", smp_safe=False)
    switch(m, 0, p)
    switch(m, 1, t)
    name = p.files.label
    m.step(f"cpu0: begin updating slot {name} (copy it to a new page)")
    m.step(f"cpu1: begin updating slot {name} (copy it to a new page)")
    assert [c.label for c in m.choices() if c.cpu == 0] == [f"cpu0: finish updating slot {name} (map the new page)"]
    m.step(f"cpu0: finish updating slot {name} (map the new page)")
    assert m.violation is None
    m.step(f"cpu1: finish updating slot {name} (map the new page)")
    assert m.violation is not None and m.violation.kind == "lost-update"
    assert "lost update" in m.violation.explanation and "smp_safe=False" in m.violation.explanation


def test_11_under_the_lock_an_update_is_one_step_and_none_is_lost():
    k, (p, t) = make_tasks(threads=2)
    m = Machine(k, [p, t], cpus=2, design="per-mm", smp_safe=True, updates=2)
    switch(m, 0, p)
    switch(m, 1, t)
    m.step(f"cpu0: update slot {p.files.label} (remap to a new page)")
    m.step(f"cpu1: update slot {p.files.label} (remap to a new page)")
    assert m.violation is None and m.tasks and m.version(m.layout.task_reads[0][0][1]) == 2


def test_11_random_runs_of_plain_updates_meet_both_lost_updates_and_stale_reads():
    k, (p, t) = make_tasks(threads=2)
    m = Machine(k, [p, t], cpus=2, design="per-mm", smp_safe=False)
    kinds = set()
    for seed in range(200):
        run = m.fresh()
        random_run(run, 30, seed=seed)
        if run.violation is not None:
            kinds.add(run.violation.kind)
    assert {"lost-update", "stale-tlb"} <= kinds


# -- 9: pages mapped in several MMs --------------------------------------------------------
def test_9_a_files_table_shared_by_two_mms_goes_through_the_virtual_cache_and_aliases():
    k, (p, t, q) = files_shared_by_two_mms()
    m = Machine(k, [p, t, q], cpus=2, design="per-mm", cache="virtual")
    r = explore(m)
    assert r.verdict == "violation"
    switch(m, 0, t)
    m.step(f"cpu0: write {t.files.label} (in place)")
    switch(m, 1, q)
    m.step(f"cpu1: read slot {q.files.label}")
    assert m.violation is not None and m.violation.kind == "stale-alias"
    assert t.files.label in m.violation.explanation


def test_9_an_update_of_a_table_in_two_mms_is_one_step_per_mm_and_shows_two_versions():
    k, (p, t, q) = files_shared_by_two_mms()
    m = Machine(k, [p, t, q], cpus=2, design="per-mm", smp_safe=True)
    r = explore(m)
    assert r.verdict == "violation" and r.violation.kind == "half-updated", r.text()
    assert "several MMs" in r.violation.explanation
    switch(m, 0, t)
    switch(m, 1, q)
    m.step(f"cpu0: update slot {t.files.label} in {t.mm.label} (remap to a new page)")
    assert [c.label for c in m.choices() if c.cpu == 0] == [
        f"cpu0: update slot {t.files.label} in {q.mm.label} (remap to the new page)"]
    m.step(f"cpu1: read slot {q.files.label}")
    assert m.violation is not None and m.violation.kind == "half-updated"


def test_9_on_one_cpu_the_per_mm_steps_finish_before_anyone_reads():
    k, tasks = files_shared_by_two_mms()
    r = explore(Machine(k, tasks, cpus=1, design="per-mm", cache="physical", smp_safe=True))
    assert r.verdict == "proven", r.text()


# -- 10: placement -------------------------------------------------------------------------
def test_10_same_colour_placement_cures_the_files_table_alias_but_not_the_per_mm_steps():
    k, (p, t, q) = files_shared_by_two_mms()
    m = Machine(k, [p, t, q], cpus=2, design="per-mm", cache="virtual", shared_placement="same colour")
    switch(m, 0, t)
    m.step(f"cpu0: write {t.files.label} (in place)")
    switch(m, 1, q)
    m.step(f"cpu1: read slot {q.files.label}")
    assert m.violation is None
    r = explore(m)
    assert r.violation.kind == "half-updated"    # what colour cannot cure: nothing shared across MMs


def test_10_placement_is_validated():
    k, tasks = make_tasks(threads=1, processes=1)
    with pytest.raises(ValueError, match="unknown shared_placement 'same color'.*Did you mean 'same colour'"):
        Machine(k, tasks, design="per-mm", shared_placement="same color")


# -- 13: the cause a PCID violation names ------------------------------------------------
def test_13_one_cpu_with_pcid_names_the_retained_asid_not_a_missing_ipi():
    k, tasks = files_shared_by_two_mms()
    r = explore(Machine(k, tasks, cpus=1, design="per-mm", smp_safe=False, pcid=True))
    v = r.violation
    assert v is not None and v.kind == "stale-tlb", r.text()
    assert "PCID" in v.explanation and "tlb_gen" in v.explanation
    assert "IPI" not in v.explanation


# -- 14: a read targets one slot ---------------------------------------------------------
def test_14_a_one_entry_tlb_does_not_hide_the_stale_read():
    k, (p, t) = make_tasks(threads=2)
    m = Machine(k, [p, t], cpus=2, design="per-mm", smp_safe=False, tlb_size=1)
    assert explore(m).verdict == "violation"
    switch(m, 0, p)
    m.step(f"cpu0: read slot {p.files.label}")
    switch(m, 1, t)
    m.step(f"cpu1: begin updating slot {t.files.label} (copy it to a new page)")
    m.step(f"cpu1: finish updating slot {t.files.label} (map the new page)")
    m.step(f"cpu0: read slot {p.files.label}")
    assert m.violation is not None and m.violation.kind == "stale-tlb"


# -- 12: per-CPU page tables -------------------------------------------------------------
def test_12_per_cpu_page_tables_let_per_task_hardware_fill_work_on_smp():
    k, tasks = make_tasks(threads=2)
    ok = explore(Machine(k, tasks, cpus=2, design="per-task", flush_on_same_mm_switch=True, page_tables="per-cpu"))
    assert ok.verdict == "proven", ok.text()
    shared = explore(Machine(k, tasks, cpus=2, design="per-task", flush_on_same_mm_switch=True))
    assert shared.verdict == "violation" and "walker" in shared.violation.explanation
    # A per-CPU table does not make the same-MM switch flush the TLB: that stays needed.
    stale = explore(Machine(k, tasks, cpus=2, design="per-task", page_tables="per-cpu"))
    assert stale.verdict == "violation" and "TLB" in stale.violation.explanation


def test_12_per_cpu_page_tables_hold_per_cpu_pages_under_hardware_fill():
    k, tasks = make_tasks(threads=2)
    assert explore(Machine(k, tasks, cpus=2, design="per-cpu", page_tables="per-cpu")).verdict == "proven"


def test_12_the_walker_reads_its_own_cpus_copy():
    k, (p, t) = make_tasks(threads=2)
    m = Machine(k, [p, t], cpus=2, design="per-task", page_tables="per-cpu")
    switch(m, 0, p)
    switch(m, 1, t)
    assert m.page_table(0, 0) == (0,) and m.page_table(0, 1) == (1,)
    assert "cpu1's copy of" in m.text()
