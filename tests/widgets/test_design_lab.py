"""DesignLab: options in, the model checker's verdict out, its counterexample played in the stepper."""

from __future__ import annotations

import time

import pytest
import traitlets

from ukva_widgets.widgets import DesignLab
from ukva_widgets.widgets.design_lab import spin_missing


def test_per_task_with_hardware_fill_on_threads_is_a_violation_played_below(browser):
    w = DesignLab(design="per-task", fill="hardware", workload="threads")
    browser.click(w.check_button)
    assert w.wait(60)
    assert w.result.violation is not None and w.result.violation.kind == "wrong-task"
    assert w.stepper.machine.violation == w.result.violation
    assert [c.label for c in w.stepper.machine.history] == [c.label for c in w.result.trace]
    assert "✗ violation" in w.verdict_box.value and "verdict: violation" in w.text()


def test_choosing_software_fill_in_the_browser_makes_per_task_proven(browser):
    w = DesignLab()
    browser.set(w.controls["fill"], index=list(w.controls["fill"].options).index("software"))
    assert w.machine.options.fill == "software"
    browser.click(w.check_button)
    assert w.wait(60)
    assert w.result.violation is None and w.result.complete
    assert "✓ proven" in w.verdict_box.value


def test_processes_that_share_nothing_are_the_easy_case():
    w = DesignLab(workload="processes")
    w.check()
    assert w.result.verdict == "proven"


def test_per_mm_with_fixed_slots_breaks_when_threads_have_their_own_files():
    w = DesignLab(design="per-mm", workload="tasks sharing only the VM", slots="fixed")
    w.check()
    assert w.result.violation.kind == "wrong-slot"


def test_changing_an_option_rebuilds_the_machine_and_forgets_the_old_verdict(browser):
    w = DesignLab()
    w.check()
    browser.set(w.controls["cpus"], value=1)
    assert w.machine.options.cpus == 1 and w.result is None
    assert "verdict: not checked yet" in w.text()
    assert w.stepper.machine is w.machine


def test_a_refused_combination_shows_the_engines_error_and_keeps_the_machine(browser):
    w = DesignLab(design="per-task")
    before = w.machine
    browser.set(w.controls["shared_page"], value=True)
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
    assert all(w.controls[name].disabled for name in per_mm)
    assert not w.controls["pcid"].disabled
    browser.set(w.controls["design"], index=list(w.controls["design"].options).index("per-mm"))
    assert not any(w.controls[name].disabled for name in per_mm)


def test_not_checked_yet_is_never_shown_beside_a_green_tick():
    w = DesignLab()
    assert "not checked yet" in w.verdict_box.value
    assert "✓" not in w.stepper.violation_box.value


def test_after_a_proof_run_to_violation_is_disabled_until_the_machine_changes(browser):
    w = DesignLab(fill="software")
    browser.click(w.check_button)
    assert w.wait(60)
    assert w.result.verdict == "proven" and w.stepper.run_button.disabled
    browser.set(w.controls["cpus"], value=1)
    assert not w.stepper.run_button.disabled


# Per workload: (MMs, UKVA slots under per-mm with dynamic slots) for n tasks.
SHAPES = {
    "threads": lambda n: (1, 2),                       # one files and one sighand table for all
    "tasks sharing only the VM": lambda n: (1, 2 * n),
    "CLONE_VM|CLONE_FS tasks": lambda n: (1, 2 * n),   # each its own files and sighand tables
    "processes": lambda n: (n, 2 * n),
}


@pytest.mark.parametrize("workload", list(SHAPES))
@pytest.mark.parametrize("tasks", [1, 2, 3, 4])
def test_the_tasks_slider_builds_that_many_tasks_with_their_mms_and_slots(browser, workload, tasks):
    w = DesignLab(design="per-mm", workload=workload, tasks=2 if tasks != 2 else 1)
    browser.set(w.controls["tasks"], value=tasks)
    layout = w.machine.layout
    mms, slots = SHAPES[workload](tasks)
    assert len(layout.tasks) == tasks and len(layout.mms) == mms
    assert sum(s >= 0 for row in layout.mm_slots for s in row) == slots
    assert f"{mms} MM{'s' * (mms > 1)}, {slots} UKVA slot" in w.text()
    assert "not checked yet" in w.text()


@pytest.mark.parametrize("cpus", [1, 2, 3, 4])
def test_the_cpus_slider_goes_from_1_to_4(browser, cpus):
    w = DesignLab(workload="CLONE_VM|CLONE_FS tasks", tasks=4)
    assert (w.controls["cpus"].min, w.controls["cpus"].max) == (1, 4)
    browser.set(w.controls["cpus"], value=cpus)
    assert w.machine.options.cpus == cpus == len(w.machine.cpus)
    assert f"{cpus} CPU" in w.text().splitlines()[0]


def test_cpus_or_tasks_out_of_range_are_refused_clearly():
    with pytest.raises(traitlets.TraitError, match="cpus=5 is out of range: use 1 to 4"):
        DesignLab(cpus=5)
    with pytest.raises(traitlets.TraitError, match="tasks=0 is out of range: use 1 to 4"):
        DesignLab(tasks=0)
    with pytest.raises(traitlets.TraitError, match="unknown design 'per-thread'"):
        DesignLab().design = "per-thread"


def test_the_settings_are_traitlets_linked_to_their_controls_and_the_verdict_is_one_too():
    w = DesignLab()
    seen = []
    w.observe(lambda change: seen.append(change["new"]), "verdict")
    w.design = "per-mm"
    assert w.controls["design"].value == "per-mm" and w.machine.options.design == "per-mm"
    w.controls["cpus"].value = 3
    assert w.cpus == 3 and w.machine.options.cpus == 3
    w.check()
    assert seen[-1].startswith("✓ proven") and w.verdict in w.verdict_box.value


def test_the_tasks_are_named_as_the_chapters_name_them():
    w = DesignLab(workload="threads")
    assert [t.comm for t in w.machine.tasks] == ["thread A", "thread B"]
    assert "thread A (2)&#x27;s page" in w.stepper.picture.value and "init" not in w.stepper.picture.value
    w.workload = "processes"
    assert [t.comm for t in w.machine.tasks] == ["process A", "process B"]


def test_the_played_counterexample_draws_the_page_the_cpu_should_have_read():
    w = DesignLab(design="per-task", fill="hardware", workload="threads")
    w.check()
    svg = w.stepper.picture.value
    assert "ukva-expected" in svg and "ukva-got" in svg and "ukva-expected-arrow" in svg
    assert "thread A (2)&#x27;s page" in svg and "it should have read task 2 (thread A)'s page" in w.stepper.headline.words


# The book's verdicts through the lab, by the synchronous path a chapter cell uses
# (chapters 05 and 07 call lab.check() in a cell, then show the lab).
@pytest.mark.parametrize("settings, verdict, kind", [
    (dict(design="per-task", fill="hardware", cpus=2, workload="threads"), "violation", "wrong-task"),
    (dict(design="per-task", fill="software", cpus=2, workload="threads"), "proven", None),
    (dict(design="per-mm", workload="threads", smp_safe=True, slots="fixed"), "proven", None),
    (dict(design="per-mm", workload="CLONE_VM|CLONE_FS tasks", slots="fixed"), "violation", "wrong-slot"),
    (dict(design="per-mm", workload="threads", smp_safe=False), "violation", None),
])
def test_the_synchronous_check_gives_the_books_verdicts(settings, verdict, kind):
    w = DesignLab(**settings)
    assert w.check() is None and not w.running  # it returned with the verdict in
    assert w.result.verdict == verdict
    if kind:
        assert w.result.violation.kind == kind
    assert "checking" not in w.text() and w.text().count("verdict: ") == 1


def big_lab(monkeypatch) -> DesignLab:
    """A check that takes minutes: the lab's largest processes machine (per-task with software
    refill and PCID, 4 CPUs, 4 processes) searched whole, without the search's cut into parts
    (by parts it takes a moment), and a bound far beyond what a test waits for."""
    import ukva_widgets.widgets.design_lab as lab

    whole = lab.explore
    monkeypatch.setattr(lab, "explore", lambda *args, **kwargs: whole(*args, parts=False, **kwargs))
    return DesignLab(design="per-task", fill="software", pcid=True, workload="processes", tasks=4, cpus=4,
                     max_states=20_000_000)


def wait_until(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_the_button_checks_in_the_background_with_progress_and_cancel_stops_it(browser, monkeypatch):
    w = big_lab(monkeypatch)
    seen = []
    w.progress.observe(lambda change: seen.append(change["new"]), "value")
    browser.click(w.check_button)
    assert w.running and w.cancel_button.layout.display is None and w.progress.layout.display is None
    assert w.check_button.disabled and w.controls["cpus"].disabled and w.controls["pcid"].disabled
    wait_until(lambda: any("states/s" in v for v in seen))
    assert "checking: " in w.text() and "states/s" in w.text()
    browser.click(w.cancel_button)
    assert w.wait(60)
    assert w.result.cancelled and w.result.verdict == "not proven"
    assert 0 < w.result.states < 20_000_000
    assert "cancelled" in w.verdict_box.value and "verdict: cancelled after" in w.text()
    assert w.progress.layout.display == "none" and w.cancel_button.layout.display == "none"
    assert not w.check_button.disabled and not w.controls["cpus"].disabled and not w.controls["pcid"].disabled
    assert w.spin_row.layout.display == "none"  # a cancel is not the bound: nothing offered


def test_a_change_made_from_code_during_a_check_cancels_it_and_drops_its_verdict(browser, monkeypatch):
    w = big_lab(monkeypatch)
    browser.click(w.check_button)
    wait_until(lambda: "states/s" in w.progress.value)
    w.controls["cpus"].value = 1
    assert w.wait(60)
    assert w.machine.options.cpus == 1 and w.result is None
    assert "verdict: not checked yet" in w.text() and not w.controls["cpus"].disabled


def test_an_error_in_the_background_check_shows_in_the_error_box(browser, monkeypatch):
    import ukva_widgets.widgets.design_lab as lab

    def broken(*args, **kwargs):
        raise RuntimeError("engine bug: the trace does not reproduce its violation")

    monkeypatch.setattr(lab, "explore", broken)
    w = DesignLab()
    browser.click(w.check_button)
    assert w.wait(60)
    assert "engine bug" in w.error.message and "model checker stopped: engine bug" in w.text()
    assert not w.running and not w.check_button.disabled


def test_past_the_bound_the_verdict_offers_spin_or_says_why_it_cannot_run():
    w = DesignLab(design="per-mm", workload="processes", tasks=3, cpus=3, max_states=50)
    w.check()
    assert w.result.verdict == "not proven" and not w.result.cancelled
    assert "not proven" in w.verdict_box.value and w.spin_row.layout.display is None
    missing = spin_missing()
    if missing is None:
        assert w.spin_button.layout.display is None and "offers: check with SPIN" in w.text()
    else:
        assert w.spin_button.layout.display == "none"
        assert missing in w.spin_missing.value and f"SPIN cannot run here: {missing}" in w.text()


needs_spin = pytest.mark.skipif(spin_missing() is not None, reason=f"SPIN cannot run here: {spin_missing()}")


@needs_spin
@pytest.mark.parametrize("settings, verdict", [
    (dict(design="per-task", fill="hardware", workload="threads", max_states=3), "violation"),
    (dict(design="per-mm", workload="threads", max_states=20), "proven"),
])
def test_check_with_spin_past_the_bound_finds_what_a_full_python_search_finds(browser, settings, verdict):
    w = DesignLab(**settings)
    w.check()
    assert w.result.verdict == "not proven" and w.spin_button.layout.display is None
    browser.click(w.spin_button)
    assert w.wait(120)
    full = DesignLab(**{**settings, "max_states": 1_000_000})
    full.check()
    assert w.result.engine == "spin" and w.result.verdict == full.result.verdict == verdict
    assert "verdict (SPIN): " in w.text() and "(SPIN)" in w.verdict_box.value
    if verdict == "violation":  # SPIN's trail, replayed on the machine, is a shortest one too
        assert len(w.result.trace) == len(full.result.trace)
        assert [c.label for c in w.stepper.machine.history] == [c.label for c in w.result.trace]
    assert w.spin_row.layout.display == "none"


@needs_spin
def test_a_spin_check_reports_progress_and_cancel_stops_it(browser):
    # Past the bound, so SPIN is offered; SPIN searches the machine whole (millions of states).
    w = DesignLab(design="per-mm", workload="processes", tasks=4, cpus=4, pcid=True, cache="virtual",
                  shared_page=True, max_states=200)
    w.check()
    browser.click(w.spin_button)
    wait_until(lambda: "SPIN builds its verifier" in w.status)
    wait_until(lambda: "states/s" in w.status, timeout=120)  # pan counts states (the result says it was SPIN)
    browser.click(w.cancel_button)
    assert w.wait(60)
    assert w.result.engine == "spin" and w.result.cancelled and w.result.states > 0
    assert "cancelled (SPIN)" in w.verdict_box.value and "verdict (SPIN): cancelled after" in w.text()


def test_where_spin_is_not_on_path_the_verdict_says_so_and_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no spin, no C compiler
    w = DesignLab(design="per-mm", workload="threads", max_states=20)
    w.check()
    assert w.spin_row.layout.display is None and w.spin_button.layout.display == "none"
    assert "apt-get install spin gcc" in w.spin_missing.value
    assert "SPIN cannot run here: " in w.text() and "apt-get install spin gcc" in w.text()
