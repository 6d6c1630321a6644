"""The twelve verdicts of the SMP machine (the design table of DESIGN and chapter 05), one test each.

Each builds the tasks with the real task engine, so CLONE_VM decides who shares a page table,
explores every interleaving, and checks the verdict; for a violation it also replays the
shortest trace on a fresh machine and checks the same violation comes back.
"""

from __future__ import annotations

import pytest

from ukva_widgets.engine import Kernel, Machine, explore, make_tasks


def two_threads() -> tuple[Kernel, list]:
    return make_tasks(threads=2)


def two_processes() -> tuple[Kernel, list]:
    return make_tasks(threads=1, processes=1)


def vm_not_files() -> tuple[Kernel, list]:
    return make_tasks(threads=2, sibling="CLONE_VM")


def unequal_processes() -> tuple[Kernel, list]:
    """Two MMs whose slot allocators place the shared page at slots of different colours:
    one MM has three slots (a files table, two sighands), the other two."""
    return make_tasks(threads=2, sibling="CLONE_VM|CLONE_FILES", processes=1)


def violation_of(k: Kernel, tasks: list, **options) -> object:
    m = Machine(k, tasks, **options)
    r = explore(m)
    assert r.verdict == "violation", r.text()
    replay = m.fresh()
    for choice in r.trace:
        replay.step(choice.label)
    assert replay.violation == r.violation
    return r


def proven(k: Kernel, tasks: list, **options) -> object:
    r = explore(Machine(k, tasks, **options))
    assert r.violation is None, r.text()
    assert r.complete and r.verdict == "proven"
    assert r.states > 1
    return r


def test_1_per_task_hardware_two_cpus_threads_break_through_the_other_cpus_walker():
    r = violation_of(*two_threads(), cpus=2, design="per-task", fill="hardware")
    assert r.violation.kind == "wrong-task"
    assert "walker" in r.violation.explanation
    cpus_in_trace = {c.cpu for c in r.trace}
    assert cpus_in_trace == {0, 1}


def test_2_per_task_hardware_one_cpu_same_mm_switch_keeps_the_stale_entry():
    r = violation_of(*two_threads(), cpus=1, design="per-task", fill="hardware")
    assert r.violation.kind == "wrong-task"
    assert "TLB" in r.violation.explanation
    assert [c.action for c in r.trace] == ["switch", "read", "switch", "read"]


def test_3_flush_on_same_mm_switch_fixes_one_cpu_and_the_flush_counter_shows_the_price():
    k, tasks = two_threads()
    proven(k, tasks, cpus=1, design="per-task", fill="hardware", flush_on_same_mm_switch=True)
    m = Machine(k, tasks, cpus=1, design="per-task", flush_on_same_mm_switch=True)
    for label in [f"cpu0: switch to {m.task_label(0)}", "cpu0: read UKVA",
                  f"cpu0: switch to {m.task_label(1)}", "cpu0: read UKVA"]:
        m.step(label)
    assert m.violation is None
    assert m.counters["page_flushes"] == 1 and m.counters["cr3_writes"] == 1


def test_4_per_task_software_refill_two_cpus_threads_holds():
    proven(*two_threads(), cpus=2, design="per-task", fill="software")


def test_5_per_task_hardware_two_forked_processes_holds():
    proven(*two_processes(), cpus=2, design="per-task", fill="hardware")


def test_6_per_cpu_hardware_two_cpus_threads_breaks():
    r = violation_of(*two_threads(), cpus=2, design="per-cpu", fill="hardware")
    assert r.violation.kind == "wrong-cpu"


def test_7_per_cpu_software_refill_two_cpus_threads_holds():
    proven(*two_threads(), cpus=2, design="per-cpu", fill="software")


def test_8_per_mm_smp_safe_dynamic_slots_vm_without_files_holds():
    options = dict(cpus=2, design="per-mm", fill="hardware", smp_safe=True, slots="dynamic")
    r = proven(*vm_not_files(), **options)
    whole = explore(Machine(*vm_not_files(), **options), parts=False)
    assert whole.verdict == "proven"
    assert whole.states > 1000  # updates, shootdowns and switches really were interleaved
    assert r.states < whole.states / 10  # part by part: each table's slot on its own


def test_9_per_mm_plain_updates_on_two_cpus_read_a_stale_entry():
    r = violation_of(*two_threads(), cpus=2, design="per-mm", smp_safe=False)
    assert r.violation.kind == "stale-tlb"
    assert "update" in [c.action for c in r.trace]
    assert "no shootdown IPI" in r.violation.explanation


def test_10_per_mm_fixed_slot_cannot_show_two_file_tables():
    r = violation_of(*vm_not_files(), cpus=2, design="per-mm", slots="fixed")
    assert r.violation.kind == "wrong-slot"
    assert "files" in r.violation.expected


def test_11_per_mm_shared_page_under_a_virtual_cache_returns_stale_data_through_an_alias():
    r = violation_of(*unequal_processes(), cpus=2, design="per-mm", cache="virtual", shared_page=True)
    assert r.violation.kind == "stale-alias"
    assert "write" in [c.action for c in r.trace]


def test_11b_the_same_colour_placement_cures_the_alias():
    """One CPU: the model's cache is one for the machine, so aliasing needs no second CPU (and
    two CPUs would only multiply the TLB states of this proof)."""
    proven(*unequal_processes(), cpus=1, design="per-mm", cache="virtual", shared_page=True,
           shared_placement="same colour")


def test_12_per_mm_shared_page_under_a_physical_cache_holds():
    proven(*two_processes(), cpus=2, design="per-mm", cache="physical", shared_page=True)


@pytest.mark.parametrize("design", ["per-task", "per-cpu"])
def test_hardware_fill_designs_break_even_with_the_local_flush_on_two_cpus(design):
    violation_of(*two_threads(), cpus=2, design=design, flush_on_same_mm_switch=True)
