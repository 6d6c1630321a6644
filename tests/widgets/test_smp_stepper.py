"""SMPStepper: a person as the machine's decider; every click goes to Machine.step/undo/reset."""

from __future__ import annotations

import html

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
    assert "task 2 (init)" in w.cpus.value
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


def test_the_translation_the_bad_read_used_is_marked_in_tlb_and_page_table(browser):
    w = SMPStepper(per_task_threads())
    browser.click(w.run_button)
    marked = html.escape(f"✗ {w.machine.violation.address:#010x}→task 3 (init)'s page")
    assert marked in w.cpus.value
    assert marked in w.page_tables.value
