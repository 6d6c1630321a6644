"""SMPStepper: a person as the machine's decider; every click goes to Machine.step/undo/reset."""

from __future__ import annotations

import pytest

from ukva_widgets.engine import Kernel
from ukva_widgets.engine.machine import Machine
from ukva_widgets.widgets import SMPStepper

THREAD_FLAGS = "CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD"


def per_task_threads(cpus: int = 2, **options) -> Machine:
    k = Kernel()
    p = k.fork(k.init)
    t = k.clone(p, THREAD_FLAGS)
    return Machine(k, tasks=[p, t], cpus=cpus, design="per-task", fill="hardware", **options)


def click_choice(browser, w: SMPStepper, label: str) -> None:
    button = next(b for b in w.choice_box.children if b.description == label)
    browser.click(button)


def test_every_enabled_choice_is_a_button():
    w = SMPStepper(per_task_threads())
    assert [b.description for b in w.choice_box.children] == [c.label for c in w.machine.choices()]
    assert all("ukva-choice" in b._dom_classes for b in w.choice_box.children)


def test_clicking_a_choice_steps_the_machine_and_redraws(browser):
    w = SMPStepper(per_task_threads())
    click_choice(browser, w, "cpu0: switch to task 2 (init)")
    assert [c.label for c in w.machine.history] == ["cpu0: switch to task 2 (init)"]
    assert "cpu0: task 2 (init), loaded mm#2" in w.text()
    assert "cpu0: init (pid 2)" in w.picture.value and "CR3: mm#2" in w.picture.value
    assert "cpu0: read UKVA" in [b.description for b in w.choice_box.children]


def test_the_per_task_violation_is_shown_with_its_explanation(browser):
    w = SMPStepper(per_task_threads())
    for label in ("cpu0: switch to task 2 (init)", "cpu1: switch to task 3 (init)", "cpu0: read UKVA"):
        click_choice(browser, w, label)
    v = w.machine.violation
    assert v is not None and v.kind == "wrong-task"
    assert v.explanation in w.text()
    assert "ukva-violation" in w.violation_box._dom_classes and "wrong-task" in w.violation_box.value
    assert w.choice_box.children == ()


def test_back_undoes_one_step_and_reset_goes_to_the_start(browser):
    w = SMPStepper(per_task_threads())
    click_choice(browser, w, "cpu0: switch to task 2 (init)")
    click_choice(browser, w, "cpu0: read UKVA")
    browser.click(w.back_button)
    assert len(w.machine.history) == 1
    after_one = w.text()
    browser.click(w.reset_button)
    assert w.machine.history == [] and w.back_button.disabled
    click_choice(browser, w, "cpu0: switch to task 2 (init)")
    assert w.text() == after_one


def test_run_to_violation_plays_the_model_checkers_shortest_trace(browser):
    w = SMPStepper(per_task_threads())
    browser.click(w.run_button)
    assert w.machine.violation is not None
    assert len(w.machine.history) == 3
    assert "shortest violating trace" in w.text()


def test_run_to_violation_on_a_correct_design_says_proven(browser):
    w = SMPStepper(per_task_threads(flush_on_same_mm_switch=True, cpus=1))
    browser.click(w.run_button)
    assert w.machine.violation is None and w.machine.history == []
    assert "proven" in w.text()
    assert w.run_button.disabled  # nothing to run to any more


def test_a_choice_that_is_not_enabled_shows_the_engines_error():
    w = SMPStepper(per_task_threads())
    w.step("cpu0: read UKVA")
    assert "not enabled now" in w.error.message
    assert w.machine.history == []


def test_counters_follow_the_machine(browser):
    w = SMPStepper(per_task_threads())
    click_choice(browser, w, "cpu0: switch to task 2 (init)")
    assert w.machine.counters["cr3_writes"] == 1
    assert "cr3_writes=1" in w.text() and "<td" in w.counters.value


def test_a_non_machine_is_refused_clearly():
    with pytest.raises(TypeError, match="Machine"):
        SMPStepper("per-task")


def test_text_is_the_plain_text_repr():
    w = SMPStepper(per_task_threads())
    assert repr(w) == w.text() and w._repr_mimebundle_()["text/plain"] == w.text()


def test_the_bad_read_is_marked_on_the_tlb_entry_that_served_it_not_on_the_page_table(browser):
    w = SMPStepper(per_task_threads())
    browser.click(w.run_button)
    svg = w.picture.value
    assert svg.count("ukva-bad-read") == 1
    bad = svg[svg.index("ukva-bad-read"):]
    assert f"✗ {w.machine.violation.address:#010x}" in bad[:bad.index("</g>")]
    # The page-table entries are drawn plain: the walker read them correctly.
    assert all("ukva-bad-read" not in g for g in svg.split('<g class="ukva-pte"')[1:])


def per_mm_unsafe(**options) -> Machine:
    k = Kernel()
    p = k.fork(k.init)
    t = k.clone(p, THREAD_FLAGS)
    return Machine(k, tasks=[p, t], cpus=2, design="per-mm", smp_safe=False, **options)


UNSAFE_UPDATE = ["cpu0: switch to task 2 (init)", "cpu0: read slot files#2", "cpu1: switch to task 3 (init)",
                 "cpu1: begin updating slot files#2 (copy it to a new page)",
                 "cpu1: finish updating slot files#2 (map the new page)", "cpu0: read slot files#2"]
SAFE_UPDATE = UNSAFE_UPDATE[:3] + ["cpu1: update slot files#2 (remap to a new page)"]


def stale_groups(w: SMPStepper) -> list[str]:
    svg = w.picture.value
    return [part[:part.index("</g>")] for part in svg.split('<g class="ukva-tlb-entry ukva-stale')[1:]]


def test_a_stale_entry_is_drawn_stale_from_the_update_not_from_the_read(browser):
    w = SMPStepper(per_mm_unsafe())
    for label in UNSAFE_UPDATE[:4]:  # up to the copy: the page table still maps v0
        click_choice(browser, w, label)
        assert stale_groups(w) == []
    click_choice(browser, w, UNSAFE_UPDATE[4])  # the new page mapped: cpu0's entry is stale now
    [entry] = stale_groups(w)
    assert "0xbfc00000" in entry and "stale: page table says v1" in entry
    assert "stale: page table says v1" in w.text() and w.machine.violation is None
    assert "stale TLB entry" in w.violation_box.value
    click_choice(browser, w, UNSAFE_UPDATE[5])
    assert w.machine.violation.kind == "stale-tlb"
    assert "ukva-bad-read" in stale_groups(w)[0]


def test_smp_safe_updates_leave_no_stale_entry(browser):
    w = SMPStepper(Machine(*_threads(), cpus=2, design="per-mm", smp_safe=True))
    for label in SAFE_UPDATE:
        click_choice(browser, w, label)
    assert "ukva-stale" not in w.picture.value and "stale" not in w.text().split("enabled:")[0].lower()


def _threads():
    k = Kernel()
    p = k.fork(k.init)
    return k, [p, k.clone(p, THREAD_FLAGS)]


def test_the_trace_has_one_clickable_row_per_step_and_a_click_moves_the_machine_there(browser):
    w = SMPStepper(per_mm_unsafe())
    for label in UNSAFE_UPDATE:
        click_choice(browser, w, label)
    buttons = [row.children[0] for row in w.trace_chart.children[1:]]
    assert len(buttons) == 6 and all("ukva-trace-step" in b._dom_classes for b in buttons)
    browser.click(buttons[1])
    assert [c.label for c in w.machine.history] == UNSAFE_UPDATE[:2]
    assert "ukva-current" in w.trace_chart.children[2]._dom_classes
    assert len(w.trace_chart.children) == 7  # the steps ahead stay, to jump forward again
    browser.click(buttons[5])
    assert w.machine.violation is not None and len(w.machine.history) == 6


def test_taking_another_step_after_going_back_forgets_the_steps_ahead(browser):
    w = SMPStepper(per_mm_unsafe())
    for label in UNSAFE_UPDATE[:3]:
        click_choice(browser, w, label)
    w.jump(1)
    click_choice(browser, w, "cpu1: switch to task 3 (init)")
    assert [c.label for c in w.trace] == [UNSAFE_UPDATE[0], "cpu1: switch to task 3 (init)"]
    assert len(w.trace_chart.children) == 3


def test_the_current_step_shows_what_it_changed(browser):
    w = SMPStepper(per_task_threads(flush_on_same_mm_switch=True))
    for label in ("cpu0: switch to task 2 (init)", "cpu0: read UKVA", "cpu0: switch to task 3 (init)"):
        click_choice(browser, w, label)
    current = w.trace_chart.children[-1].children[1].value
    assert "ukva-flushed" in current and "<s>0xbfc00000" in current  # the dropped entry, struck through
    assert "+1 page flush" in current
    first = w.trace_chart.children[1].children[1].value
    assert "+1 CR3 write" in first and "CR3 write" in first


def test_a_shootdown_ipi_is_an_arrow_between_lanes(browser):
    w = SMPStepper(Machine(*_threads(), cpus=2, design="per-mm", smp_safe=True))
    for label in SAFE_UPDATE:
        click_choice(browser, w, label)
    current = w.trace_chart.children[-1].children[1].value
    assert "ukva-ipi" in current and "shootdown IPI cpu1 → cpu0" in current and "+1 IPI" in current


def test_no_green_tick_for_steps_taken_by_hand():
    w = SMPStepper(per_task_threads())
    assert "✓" not in w.violation_box.value and "no wrong read in the 0 steps taken" in w.violation_box.value


def test_the_machine_picture_keeps_its_size_while_tlbs_fill_and_empty(browser):
    # (Only a stale entry adds a line under it, "stale: page table says ...": none arises here.)
    w = SMPStepper(Machine(*_threads(), cpus=2, design="per-mm", smp_safe=True))
    sizes = set()
    for label in SAFE_UPDATE + ["cpu1: read slot files#2", "cpu0: switch to idle (lazy TLB)"]:
        sizes.add(w.picture.value.split('viewBox="')[1].split('"')[0])
        click_choice(browser, w, label)
    sizes.add(w.picture.value.split('viewBox="')[1].split('"')[0])
    assert len(sizes) == 1
