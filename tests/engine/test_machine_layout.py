"""The address-space layout: user regions, the UKVA's slots per design, the kernel half."""

from __future__ import annotations

import pytest

from ukva_widgets.engine import Kernel, Machine, address_space, slot_address, ukva_shows
from ukva_widgets.engine.layout import PAGE_OFFSET, PAGE_SIZE, UKVA_BASE
from ukva_widgets.engine.slots import COLOURS

THREAD = "CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD"


@pytest.fixture
def vm_not_files():
    k = Kernel()
    p = k.fork(k.init)
    return k, p, k.clone(p, "CLONE_VM")


def ukva_regions(space):
    return [r for r in space.regions if r.name.startswith("UKVA")]


def test_the_ukva_sits_between_the_user_stack_and_page_offset(vm_not_files):
    k, p, t = vm_not_files
    space = address_space(Machine(k, [p, t], design="per-task"), p)
    starts = [r.start for r in space.regions]
    assert starts == sorted(starts)
    stack = next(r for r in space.regions if r.name == "user stack")
    ukva = ukva_regions(space)
    assert stack.end == UKVA_BASE == ukva[0].start and ukva[-1].end <= PAGE_OFFSET
    assert space.regions[-1].name == "kernel" and space.regions[-1].start == PAGE_OFFSET


def test_dynamic_slots_give_each_file_table_and_sighand_of_an_mm_its_own_page(vm_not_files):
    k, p, t = vm_not_files
    space = address_space(Machine(k, [p, t], design="per-mm"), t)
    details = [r.detail for r in ukva_regions(space)]
    for obj in (p.files, t.files, p.sighand, t.sighand):
        assert sum(d.startswith(obj.label + ",") for d in details) == 1
    assert len({r.start for r in ukva_regions(space)}) == 4


def test_threads_sharing_files_share_one_slot():
    k = Kernel()
    p = k.fork(k.init)
    t = k.clone(p, THREAD)
    space = address_space(Machine(k, [p, t], design="per-mm"), p)
    assert [r.detail for r in ukva_regions(space)] == [
        f"{p.files.label}, read by tasks {p.pid}, {t.pid}", f"{p.sighand.label}, read by tasks {p.pid}, {t.pid}"]


def test_a_fixed_slot_shows_one_file_table_to_a_task_that_has_another(vm_not_files):
    k, p, t = vm_not_files
    m = Machine(k, [p, t], design="per-mm", slots="fixed")
    assert len(ukva_regions(address_space(m, t))) == 2
    assert ukva_shows(m, t, 0) == (f"{slot_address(0):#010x} should show the slot of {t.files.label}; "
                                  f"{p.mm.label}'s page table maps it to {p.files.label} v0")


def test_per_task_ukva_shows_what_the_last_switch_wrote_into_the_shared_table(vm_not_files):
    k, p, t = vm_not_files
    m = Machine(k, [p, t], cpus=2, design="per-task")
    m.step(f"cpu1: switch to {m.task_label(0)}")
    assert ukva_shows(m, t, 0).endswith(f"maps it to task {p.pid} (init)'s page")
    assert "should show task" in ukva_shows(m, t, 0)


def shared_page_addresses(m: Machine, tasks: list) -> list[list[int]]:
    return [[r.start for r in address_space(m, task).regions if "shared page" in r.detail] for task in tasks]


def test_each_mm_allocator_puts_the_shared_page_at_its_first_free_slot():
    k = Kernel()
    p = k.fork(k.init)
    t = k.clone(p, "CLONE_VM")          # mm of p: four slots (two files, two sighand tables)
    q = k.fork(k.init)                  # mm of q: two slots
    m = Machine(k, [p, t, q], design="per-mm", shared_page=True)
    assert shared_page_addresses(m, [p, q]) == [[slot_address(4)], [slot_address(2)]]
    same = Machine(k, [p, t, q], design="per-mm", shared_page=True, shared_placement="same colour")
    (a,), (b,) = shared_page_addresses(same, [p, q])
    assert (a - b) % (COLOURS * PAGE_SIZE) == 0  # one colour in every MM
    equal = Machine(k, [p, q], design="per-mm", shared_page=True)
    assert shared_page_addresses(equal, [p, q]) == [[slot_address(2)]] * 2  # same layout, same slot


def test_a_kernel_thread_has_no_address_space_to_draw():
    k = Kernel()
    p = k.fork(k.init)
    kw = k.kthread("kworker")
    m = Machine(k, [p, kw], design="per-mm")
    with pytest.raises(ValueError, match="kernel thread"):
        address_space(m, kw)
    assert "no UKVA" in ukva_shows(m, kw, 0)


def test_asking_about_a_cpu_or_task_the_machine_does_not_have_is_refused(vm_not_files):
    k, p, t = vm_not_files
    m = Machine(k, [p], design="per-mm")
    with pytest.raises(ValueError, match="cpu 5 does not exist"):
        ukva_shows(m, p, 5)
    with pytest.raises(ValueError, match="not on this machine"):
        address_space(m, t)


def test_the_text_is_deterministic_and_readable(vm_not_files):
    k, p, t = vm_not_files
    space = address_space(Machine(k, [p, t], design="per-mm"), p)
    assert repr(space) == space.text() == address_space(Machine(k, [p, t], design="per-mm"), p).text()
    assert space.text().splitlines()[0] == f"address space of {p.mm.label}"
    assert "0xc0000000-0xffffffff  kernel" in space.text()


def test_ukva_view_marks_a_per_task_entry_another_cpu_rewrote_as_wrong(vm_not_files):
    from ukva_widgets.engine import ukva_view
    k, p, t = vm_not_files
    m = Machine(k, [p, t], cpus=2, design="per-task")
    m.step(f"cpu0: switch to task {p.pid} (init)")
    assert ukva_view(m, p, 0).correct
    m.step(f"cpu1: switch to task {t.pid} (init)")
    view = ukva_view(m, p, 0)
    assert not view.correct and view.text() == ukva_shows(m, p, 0)
