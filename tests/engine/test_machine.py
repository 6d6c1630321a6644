"""The SMP machine step by step: validation, stepping and undo, switch_mm, lazy TLB,
shootdowns to the cpumask only, PCID ASID reuse, and the plain-text view."""

from __future__ import annotations

import pytest

from ukva_widgets.engine import Kernel, Machine, random_run

THREAD = "CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD"


@pytest.fixture
def threads():
    k = Kernel()
    p = k.fork(k.init)
    return k, [p, k.clone(p, THREAD)]


def switch(m: Machine, cpu: int, task) -> None:
    m.step(f"cpu{cpu}: switch to {m.task_label(m.task_index(task))}")


# -- validation ---------------------------------------------------------------------------
def test_unknown_design_is_refused_with_the_closest_name(threads):
    with pytest.raises(ValueError, match="did you mean 'per-mm'|Did you mean 'per-mm'"):
        Machine(*threads, design="per_mm")


def test_zero_cpus_is_refused(threads):
    with pytest.raises(ValueError, match="cpus=0 is out of range"):
        Machine(*threads, cpus=0)


def test_cpus_given_as_a_string_is_a_type_error(threads):
    with pytest.raises(TypeError, match="cpus must be an int"):
        Machine(*threads, cpus="2")


def test_tasks_from_another_kernel_are_refused(threads):
    k, tasks = threads
    other = Kernel()
    with pytest.raises(ValueError, match="belongs to another Kernel"):
        Machine(other, tasks)


def test_a_zombie_cannot_be_scheduled(threads):
    k, tasks = threads
    child = k.fork(tasks[0])
    k.exit(child)
    with pytest.raises(ValueError, match="zombie"):
        Machine(k, [tasks[0], child])


def test_a_task_listed_twice_is_refused(threads):
    k, tasks = threads
    with pytest.raises(ValueError, match="listed twice"):
        Machine(k, [tasks[0], tasks[0]])


def test_only_kernel_threads_is_refused():
    k = Kernel()
    with pytest.raises(ValueError, match="only kernel threads"):
        Machine(k, [k.kthread("kworker")])


def test_shared_page_needs_the_per_mm_design_and_two_mms(threads):
    with pytest.raises(ValueError, match="design='per-mm'"):
        Machine(*threads, shared_page=True)
    with pytest.raises(ValueError, match="at least two MMs"):
        Machine(*threads, design="per-mm", shared_page=True)


def test_step_refuses_a_choice_that_is_not_enabled_and_changes_nothing(threads):
    m = Machine(*threads)
    with pytest.raises(ValueError, match="not enabled now.*Enabled: cpu0: switch to"):
        m.step("cpu0: read UKVA")
    assert m.history == [] and m.state == m.fresh().state


def test_step_index_out_of_range_is_refused(threads):
    m = Machine(*threads)
    with pytest.raises(ValueError, match="out of range"):
        m.step(len(m.choices()))


# -- stepping -----------------------------------------------------------------------------
def test_choices_are_printable_and_step_takes_a_choice_a_label_or_an_index(threads):
    k, (p, t) = threads
    m = Machine(k, [p, t], cpus=2)
    labels = [str(c) for c in m.choices()]
    assert labels == [f"cpu0: switch to task {p.pid} (init)", f"cpu0: switch to task {t.pid} (init)",
                      f"cpu1: switch to task {p.pid} (init)", f"cpu1: switch to task {t.pid} (init)"]
    m.step(m.choices()[0])
    m.step(f"cpu1: switch to task {t.pid} (init)")
    m.step(0)
    assert len(m.history) == 3


def test_undo_restores_state_counters_and_violation(threads):
    k, (p, t) = threads
    m = Machine(k, [p, t], cpus=1)
    for step in [lambda: switch(m, 0, p), lambda: m.step("cpu0: read UKVA"),
                 lambda: switch(m, 0, t)]:
        step()
    before = (m.state, dict(m.counters))
    m.step("cpu0: read UKVA")
    assert m.violation is not None and m.choices() == []
    with pytest.raises(ValueError, match="stopped at a violation"):
        m.step(0)
    m.undo()
    assert m.violation is None and (m.state, m.counters) == before
    m.reset()
    assert m.history == [] and m.counters["tlb_misses"] == 0
    with pytest.raises(ValueError, match="nothing to undo"):
        m.undo()


def test_switch_mm_skips_the_cr3_write_between_threads_of_one_mm(threads):
    k, (p, t) = threads
    m = Machine(k, [p, t], cpus=1, design="per-mm")
    switch(m, 0, p)
    switch(m, 0, t)
    switch(m, 0, p)
    assert m.counters["cr3_writes"] == 1


def test_a_kernel_thread_borrows_the_loaded_mm_lazily():
    k = Kernel()
    p = k.fork(k.init)
    kw = k.kthread("kworker")
    m = Machine(k, [p, kw], cpus=1, design="per-mm")
    switch(m, 0, p)
    switch(m, 0, kw)
    assert "loaded mm" in m.text() and "(lazy, holds an mm_count reference)" in m.text()
    assert "cpu0: read UKVA" not in [c.label for c in m.choices()]  # a kernel thread has no UKVA
    switch(m, 0, p)
    assert m.counters["cr3_writes"] == 1 and m.counters["full_flushes"] == 1


def test_shootdown_ipis_go_only_to_cpus_in_the_mm_cpumask():
    k = Kernel()
    p = k.fork(k.init)
    t = k.clone(p, THREAD)
    other = k.fork(k.init)
    m = Machine(k, [p, t, other], cpus=3, design="per-mm")
    switch(m, 0, p)
    switch(m, 1, t)
    switch(m, 2, other)
    m.step(f"cpu0: update slot {p.files.label} (remap to a new page)")
    assert m.counters["ipis"] == 1
    assert m.counters["page_flushes"] == 2


def test_a_lazy_cpu_is_skipped_by_the_shootdown_and_catches_up_on_tlb_gen():
    k = Kernel()
    p = k.fork(k.init)
    t = k.clone(p, THREAD)
    kw = k.kthread("kworker")
    m = Machine(k, [p, t, kw], cpus=2, design="per-mm")
    switch(m, 1, t)
    m.step(f"cpu1: read slot {t.files.label}")
    switch(m, 1, kw)
    switch(m, 0, p)
    flushes = m.counters["full_flushes"]
    m.step(f"cpu0: update slot {p.files.label} (remap to a new page)")
    assert m.counters["ipis"] == 0
    switch(m, 1, t)
    assert m.counters["full_flushes"] == flushes + 1
    m.step(f"cpu1: read slot {t.files.label}")
    assert m.violation is None


def test_pcid_keeps_an_asid_across_an_mm_switch_and_recycles_the_seventh():
    k = Kernel()
    procs = [k.fork(k.init) for _ in range(7)]
    m = Machine(k, procs, cpus=1, design="per-mm", pcid=True)
    switch(m, 0, procs[0])
    switch(m, 0, procs[1])
    switch(m, 0, procs[0])
    assert m.counters["cr3_writes"] == 3 and m.counters["full_flushes"] == 2  # two new ASIDs, one reuse
    for p in procs[2:]:
        switch(m, 0, p)                    # ASIDs 2..5, then the seventh MM takes slot 0 again
    flushes = m.counters["full_flushes"]
    switch(m, 0, procs[0])
    assert m.counters["full_flushes"] == flushes + 1


def test_without_pcid_every_mm_switch_flushes_the_whole_tlb():
    k = Kernel()
    a, b = k.fork(k.init), k.fork(k.init)
    m = Machine(k, [a, b], cpus=1, design="per-mm")
    for task in (a, b, a):
        switch(m, 0, task)
    assert m.counters["cr3_writes"] == 3 and m.counters["full_flushes"] == 3


def test_a_read_counts_a_miss_and_a_walk_then_hits(threads):
    k, (p, t) = threads
    m = Machine(k, [p, t], cpus=1, design="per-task", fill="hardware")
    switch(m, 0, p)
    m.step("cpu0: read UKVA")
    m.step("cpu0: read UKVA")
    assert (m.counters["tlb_misses"], m.counters["page_walks"], m.counters["refill_traps"]) == (1, 1, 0)


def test_software_fill_counts_refill_traps_not_walks(threads):
    k, (p, t) = threads
    m = Machine(k, [p, t], cpus=1, design="per-cpu", fill="software")
    switch(m, 0, p)
    m.step("cpu0: read UKVA")
    assert (m.counters["page_walks"], m.counters["refill_traps"]) == (0, 1)


def test_text_names_cpus_page_tables_and_counters_deterministically(threads):
    k, (p, t) = threads
    m = Machine(k, [p, t], cpus=2)
    switch(m, 0, p)
    m.step("cpu0: read UKVA")
    text = m.text()
    assert text.splitlines()[0] == "per-task UKVA, hardware fill, 2 CPUs, no PCID"
    assert f"cpu0: task {p.pid} (init), loaded {p.mm.label}; TLB: 0xbfc00000->task {p.pid} (init)'s page" in text
    assert "cpu1: idle, loaded -; TLB: empty" in text
    assert text == m.text() and "at 0x7" not in repr(m)


def test_random_run_with_a_seed_is_reproducible_and_stops_at_a_violation(threads):
    a = Machine(*threads, cpus=2)
    b = a.fresh()
    taken = random_run(a, 200, seed=7)
    assert [c.label for c in random_run(b, 200, seed=7)] == [c.label for c in taken]
    assert a.violation is not None and len(taken) < 200
    assert a.choices() == []


def test_a_full_tlb_drops_an_entry_and_the_next_read_walks_again():
    k = Kernel()
    p = k.fork(k.init)
    t = k.clone(p, "CLONE_VM")          # two file tables and two sighands: four slots in mm
    m = Machine(k, [p, t], cpus=1, design="per-mm", tlb_size=1)
    switch(m, 0, p)
    for _ in range(2):                  # files slot, then sighand slot: the second evicts the first
        m.step(f"cpu0: read slot {p.files.label}")
        m.step(f"cpu0: read slot {p.sighand.label}")
    assert m.counters["tlb_misses"] == 4 and m.violation is None
    cpu0 = m.text().splitlines()[1]
    assert cpu0.count("->") == 1


def test_a_fresh_machine_starts_over_and_shares_nothing_that_changes(threads):
    k, (p, t) = threads
    m = Machine(k, [p, t], cpus=1)
    switch(m, 0, p)
    twin = m.fresh()
    k.exit(t)                           # the kernel moves on; the machine keeps its snapshot
    assert twin.history == [] and twin.state == m.model.initial()
    twin.step(0)
    assert len(m.history) == 1 and m.fresh().state == m.model.initial()


def test_one_lazy_reference_per_cpu_is_passed_along_kernel_to_kernel_and_dropped_for_a_user_task():
    k = Kernel()
    p = k.fork(k.init)
    kw, kd = k.kthread("kworker"), k.kthread("kswapd")
    m = Machine(k, [p, kw, kd], cpus=2, design="per-mm")
    base = p.mm.mm_count
    switch(m, 0, p)
    assert m.lazy_references() == {} and m.mm_count(0) == base
    switch(m, 0, kw)                    # user -> kernel: mmgrab_lazy_tlb
    assert m.lazy_references() == {0: 1} and m.mm_count(0) == base + 1
    switch(m, 0, kd)                    # kernel -> kernel: the reference is passed along, not grabbed again
    m.step("cpu0: switch to idle (lazy TLB)")
    assert m.lazy_references() == {0: 1}
    switch(m, 0, p)                     # kernel -> user: dropped
    assert m.lazy_references() == {} and m.mm_count(0) == base
    m.undo()
    assert m.lazy_references() == {0: 1}
    assert "mm_count 2" in m.text()


def test_an_idle_cpu_with_nothing_loaded_holds_no_reference(threads):
    m = Machine(*threads, cpus=2, design="per-mm")
    m.step("cpu1: switch to " + m.task_label(0))
    assert m.lazy == (-1, -1)


def test_the_kernel_invariant_counts_mm_count_exactly_so_a_leaked_grab_is_caught():
    k = Kernel()
    p = k.fork(k.init)
    k.check()
    p.mm.mmgrab()                       # a grab nobody holds: the old lower bound let it pass
    with pytest.raises(AssertionError, match="mm_count=2"):
        k.check()
