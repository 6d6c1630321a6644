"""What the machine tells a view beyond its text: the stale TLB entries
and what each step changed."""

from __future__ import annotations

import pytest

from ukva_widgets.engine import Machine, make_tasks, random_run


def switch(m: Machine, cpu: int, task) -> None:
    m.step(f"cpu{cpu}: switch to {m.task_label(m.task_index(task))}")


def update(m: Machine, cpu: int, obj) -> None:
    """An update of `obj`'s slot, plain (begin, then finish) or SMP-safe (one step)."""
    for choice in m.choices():
        if choice.cpu == cpu and choice.action in ("update", "finish") and obj.label in choice.label:
            m.step(choice)
            break
    else:
        raise AssertionError(f"no update of {obj.label} on cpu{cpu}: {m.choices()}")
    while any(c.action == "finish" and c.cpu == cpu for c in m.choices()):
        m.step(next(c for c in m.choices() if c.action == "finish" and c.cpu == cpu))


def read(m: Machine, cpu: int) -> None:
    m.step(next(c for c in m.choices() if c.cpu == cpu and c.action == "read"))


def two_cpus_one_entry(smp_safe: bool) -> tuple[Machine, object]:
    k, (p, t) = make_tasks(threads=2)
    m = Machine(k, [p, t], cpus=2, design="per-mm", smp_safe=smp_safe)
    switch(m, 0, p)
    read(m, 0)
    switch(m, 1, t)
    return m, p


def test_a_plain_update_makes_the_other_cpus_entry_stale_at_the_update_not_at_the_read():
    m, p = two_cpus_one_entry(smp_safe=False)
    assert m.stale_entries() == []
    update(m, 1, p.files)
    stale = m.stale_entries()
    assert len(stale) == 1
    cpu, vpage, cached, current = stale[0]
    assert cpu == 0 and cached != current
    assert stale[0].cached_label == f"{p.files.label} v0" and stale[0].current_label == f"{p.files.label} v1"
    assert stale[0].text == f"stale: page table says {p.files.label} v1"
    read(m, 0)
    assert m.violation is not None and m.violation.kind == "stale-tlb"


def test_smp_safe_updates_leave_no_stale_entry_at_any_step():
    m, p = two_cpus_one_entry(smp_safe=True)
    update(m, 1, p.files)
    assert m.stale_entries() == []
    assert m.last_effects().ipis == ((1, 0),)
    for seed in range(20):
        run = m.fresh()
        for _ in range(60):
            if not run.choices():
                break
            random_run(run, 1, seed=seed * 100 + len(run.history))
            assert run.stale_entries() == [], run.text()


def test_per_task_hardware_fill_entry_is_stale_from_the_other_cpus_switch():
    k, (p, t) = make_tasks(threads=2)
    m = Machine(k, [p, t], cpus=2, design="per-task")
    switch(m, 0, p)
    read(m, 0)
    assert m.stale_entries() == []
    switch(m, 1, t)          # the switch rewrites the MM's one UKVA entry to t's page
    (entry,) = m.stale_entries()
    assert entry.cpu == 0 and entry.text.endswith(f"{m.task_label(1)}'s page")


def test_effects_name_the_cr3_write_the_fill_the_flush_and_the_counters():
    m, p = two_cpus_one_entry(smp_safe=True)
    assert m.effects[0].cr3 == (0,) and m.effects[0].counters == {"full_flushes": 1, "cr3_writes": 1}
    assert m.effects[1].filled and m.effects[1].counters["tlb_misses"] == len(m.effects[1].filled)
    update(m, 1, p.files)
    e = m.last_effects()
    assert [f[0] for f in e.flushed] == [0]
    assert len(e.ptes) == 1 and e.counters["ipis"] == 1
    assert any("shootdown IPI to cpu0" in line for line in e.lines)
    n = len(m.effects)
    m.undo()
    assert len(m.effects) == n - 1 == len(m.history)
    m.reset()
    assert m.last_effects() is None


@pytest.mark.parametrize("design", ["per-cpu", "per-task"])
def test_software_fill_has_no_page_table_entry_to_be_stale_against(design):
    k, tasks = make_tasks(threads=2)
    m = Machine(k, tasks, cpus=2, design=design, fill="software")
    random_run(m, 50, seed=1)
    assert m.stale_entries() == []


def test_a_violation_names_the_tlb_entry_that_served_it():
    m, p = two_cpus_one_entry(smp_safe=False)
    update(m, 1, p.files)
    (entry,) = m.stale_entries()
    read(m, 0)
    v = m.violation
    assert (v.cpu, v.vpage, v.source) == (entry.cpu, entry.vpage, "tlb")
