"""DesignLab: options in, the model checker's verdict out, its counterexample played in the stepper."""

from __future__ import annotations

import pytest

from ukva_widgets.widgets import DesignLab


def test_per_task_with_hardware_fill_on_threads_is_a_violation_played_below(browser):
    w = DesignLab(design="per-task", fill="hardware", workload="threads")
    browser.click(w.check_button)
    assert w.result.violation is not None and w.result.violation.kind == "wrong-task"
    assert w.stepper.machine.violation == w.result.violation
    assert [c.label for c in w.stepper.machine.history] == [c.label for c in w.result.trace]
    assert "✗ violation" in w.verdict.value and "verdict: violation" in w.text()


def test_choosing_software_fill_in_the_browser_makes_per_task_proven(browser):
    w = DesignLab()
    browser.set(w.fill, index=list(w.fill.options).index("software"))
    assert w.machine.options.fill == "software"
    browser.click(w.check_button)
    assert w.result.violation is None and w.result.complete
    assert "✓ proven" in w.verdict.value


def test_processes_that_share_nothing_are_the_easy_case():
    w = DesignLab(workload="processes")
    w.check()
    assert w.result.verdict == "proven"


def test_per_mm_with_fixed_slots_breaks_when_threads_have_their_own_files():
    w = DesignLab(design="per-mm", workload="threads sharing only the VM", slots="fixed")
    w.check()
    assert w.result.violation.kind == "wrong-slot"


def test_changing_an_option_rebuilds_the_machine_and_forgets_the_old_verdict(browser):
    w = DesignLab()
    w.check()
    browser.set(w.cpus_slider, value=1)
    assert w.machine.options.cpus == 1 and w.result is None
    assert "verdict: not checked yet" in w.text()
    assert w.stepper.machine is w.machine


def test_a_refused_combination_shows_the_engines_error_and_keeps_the_machine(browser):
    w = DesignLab(design="per-task")
    before = w.machine
    browser.set(w.options["shared_page"], value=True)
    assert w.machine is before
    assert "shared_page" in w.error.message and "refused:" in w.text()


def test_the_progress_indicator_shows_while_the_checker_runs_and_hides_after():
    w = DesignLab()
    seen = []
    w.progress.layout.observe(lambda change: seen.append((change["new"], w.check_button.disabled)), "display")
    w.check()
    assert seen == [(None, True), ("none", True)]  # shown, with the button disabled, then hidden
    assert not w.check_button.disabled


def test_an_unknown_option_is_refused_clearly():
    with pytest.raises(ValueError, match="unknown option 'smp_unsafe'"):
        DesignLab(smp_unsafe=True)


def test_per_mm_options_are_disabled_under_the_other_designs_and_enabled_under_per_mm(browser):
    w = DesignLab(design="per-task")
    per_mm = ("smp_safe", "slots", "cache", "shared_page")
    assert all(w.options[name].disabled for name in per_mm)
    assert not w.options["pcid"].disabled
    browser.set(w.design, index=list(w.design.options).index("per-mm"))
    assert not any(w.options[name].disabled for name in per_mm)


def test_not_checked_yet_is_never_shown_beside_a_green_tick():
    w = DesignLab()
    assert "not checked yet" in w.verdict.value
    assert "✓" not in w.stepper.violation_box.value


def test_after_a_proof_run_to_violation_is_disabled_until_the_machine_changes(browser):
    w = DesignLab(fill="software")
    browser.click(w.check_button)
    assert w.result.verdict == "proven" and w.stepper.run_button.disabled
    browser.set(w.cpus_slider, value=1)
    assert not w.stepper.run_button.disabled
