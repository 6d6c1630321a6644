"""The exercises themselves: seeded variants, check() feedback, and expected answers that the
real kernel (for chapter 01) or the engine (chapters 02-03) confirms."""

import os

import pytest

from ukva_widgets.grading import all_items, check, exercise, get_item, seed_from
from ukva_widgets.grading.chapters.ch01_unix_process import FORK_LOOPS, fork_loop_processes
from ukva_widgets.grading.items import UNANSWERED


def test_the_same_seed_makes_the_same_problem_and_says_how_to_reproduce_it():
    for item in all_items():
        a, b = exercise(item.id, seed=1234), exercise(item.id, seed=1234)
        assert a == b
        assert f'exercise("{item.id}", seed=1234)' in repr(a)


FIXED_QUESTIONS = {"2.2"}  # files-without-memory and glibc's thread flags have one answer


def test_different_seeds_make_different_variants():
    for item in all_items():
        if item.kind == "code":  # the question is fixed; its test inputs come from the seed
            variants = {repr(item.visible_inputs(s)) for s in range(40)}
        else:
            variants = {exercise(item.id, seed=s).text for s in range(40)}
        assert len(variants) > 1 or item.id in FIXED_QUESTIONS, f"{item.id} has a single variant"


def test_hidden_inputs_come_from_the_grading_seed_not_the_learners():
    item = get_item("6.2")
    assert item.hidden_inputs(5) == item.hidden_inputs(5)
    assert item.hidden_inputs(5) != item.visible_inputs(5)


def test_seed_from_a_name_is_stable_and_ignores_case_and_spaces():
    assert seed_from("Ada.Lovelace ") == seed_from("ada.lovelace")
    assert seed_from("ada") != seed_from("alan")
    with pytest.raises(ValueError, match="non-empty"):
        seed_from("  ")


def test_every_item_reports_not_answered_yet_for_the_student_stub():
    for item in all_items():
        exercise(item.id, seed=7)
        assert check(item.id, UNANSWERED).text() == f"[{item.id}] not answered yet"


def test_an_unknown_item_suggests_the_closest():
    with pytest.raises(ValueError, match='Did you mean "2.1"'):
        exercise("21", seed=0)


def test_check_before_exercise_says_to_show_the_problem_first():
    from ukva_widgets.grading import notebook

    notebook._shown.pop("1.3", None)
    with pytest.raises(ValueError, match="show the problem first"):
        check("1.3", {"status": 0, "exitcode": 0})


def test_a_wrong_shape_earns_zero_and_says_what_was_expected():
    exercise("2.1", seed=3)
    fb = check("2.1", ["vm"])
    assert fb.verdict.points == 0
    assert "dict with the keys" in fb.text()


def _real_fork_loop(shape: str, n: int) -> int:
    """Run the fork loop for real; every process writes one byte to a pipe."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # a sub-process runs the loop, so the test runner itself never forks N times
        try:
            os.close(r)
            children = []
            for _ in range(n):
                child = os.fork()
                if child:
                    children.append(child)
                else:
                    children = []  # a new process has no children of its own yet
                if (shape == "child-breaks" and child == 0) or (shape == "parent-breaks" and child != 0):
                    break
            for c in children:
                os.waitpid(c, 0)
            os.write(w, b"x")
        finally:
            os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    count = 0
    while chunk := os.read(r, 64):
        count += len(chunk)
    os.close(r)
    return count


@pytest.mark.parametrize("shape", sorted(FORK_LOOPS))
def test_fork_loop_answers_match_real_forks(shape):
    for n in (2, 3):
        assert fork_loop_processes(shape, n) == _real_fork_loop(shape, n)


def test_wait_status_answer_matches_a_real_child():
    p = exercise("1.3", seed=11)
    code = p.settings["code"]
    pid = os.fork()
    if pid == 0:
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert check("1.3", {"status": status, "exitcode": os.waitstatus_to_exitcode(status)}).verdict.passed


def test_fork_copy_feedback_explains_without_giving_the_number():
    p = exercise("1.2", seed=5)
    a, b, c = p.settings["a"], p.settings["b"], p.settings["c"]
    fb = check("1.2", (a + b) * c)
    assert not fb.verdict.passed and "copy of the address space" in fb.text()
    assert str(a * c) not in fb.text()


def test_clone_shares_partial_credit_counts_each_resource():
    from ukva_widgets.engine import Kernel

    p = exercise("2.1", seed=21)
    k = Kernel()
    caller = k.fork(k.init)
    truth = k.shares(caller, k.clone(caller, p.settings["flags"]))
    answer = {r: truth[r] for r in ("vm", "fs", "files", "sighand", "signal")}
    assert check("2.1", answer).verdict.passed
    answer["files"] = not answer["files"]
    fb = check("2.1", answer)
    assert fb.verdict.points == pytest.approx(0.8)
    assert "1 of 5 predictions are wrong" in fb.text()
    assert "files" not in fb.text().split("wrong")[0]  # the wrong key is not named


def test_files_without_vm_accepts_any_flags_that_work_and_explains_refusals():
    exercise("2.2", seed=0)
    thread = "CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SYSVSEM|CLONE_SIGHAND|CLONE_THREAD|CLONE_SETTLS|" \
             "CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID"
    for ok in ("CLONE_FILES", "CLONE_FILES|CLONE_FS", ["CLONE_FILES", "CLONE_IO"]):
        assert check("2.2", {"files_not_vm": ok, "pthread": thread}).verdict.passed
    fb = check("2.2", {"files_not_vm": "CLONE_FILES|CLONE_SIGHAND", "pthread": thread})
    assert fb.verdict.points == 0.5 and "sighand_without_vm" in fb.text()
    fb = check("2.2", {"files_not_vm": "CLONE_FILEZ", "pthread": thread})
    assert "did you mean CLONE_FILES" in fb.text()


def test_rule_prediction_judges_each_call_by_the_engine():
    from ukva_widgets.grading.chapters.ch02_tasks_and_clone import clone_outcome

    p = exercise("2.3", seed=2)
    truth = [clone_outcome(*c) for c in p.settings["cases"]]
    assert check("2.3", truth).verdict.passed
    flipped = [None if t else "sighand_without_vm" for t in truth]
    assert check("2.3", flipped).verdict.points == 0


def test_refcount_prediction_is_judged_against_an_engine_replay():
    from ukva_widgets.grading.chapters.ch03_lifetimes import HELD, replay

    p = exercise("3.1", seed=8)
    _, tasks, _ = replay(p.settings["script"])
    truth = {key: getattr(tasks["P"], f).refcount for key, f in HELD.items()}
    assert check("3.1", truth).verdict.passed
    fb = check("3.1", {**truth, "mm": truth["mm"] + 1})
    assert fb.verdict.points == pytest.approx(0.75) and "too high" in fb.text()


def test_feedback_renders_as_text_and_as_html_with_a_symbol_not_only_colour():
    exercise("1.1", seed=1)
    fb = check("1.1", 1)
    assert repr(fb) == fb.text()
    assert "&#10008;" in fb._repr_html_() and "not yet" in fb._repr_html_()


def test_every_item_has_points_and_a_known_kind():
    for item in all_items():
        assert item.max_points > 0 and item.kind in ("data", "code")
        assert get_item(item.id) is item


@pytest.mark.parametrize("protocol, flaw", [
    (["read_pte", "write_pte", "flush_local", "shootdown", "wait_acks"], "were lost"),
    (["lock", "read_pte", "write_pte", "flush_local", "shootdown", "unlock"], "the old page"),
    (["lock", "read_pte", "flush_local", "shootdown", "wait_acks", "write_pte", "unlock"], "the old page"),
    (["lock", "read_pte", "write_pte", "shootdown", "wait_acks", "unlock"], "the old page"),
])
def test_the_protocol_checker_finds_each_flaw_with_a_schedule(protocol, flaw):
    exercise("6.1", seed=0)
    fb = check("6.1", protocol)
    assert not fb.verdict.passed and flaw in fb.text() and "A shortest schedule: cpu0:" in fb.text()


def test_a_correct_protocol_is_proven_on_every_configuration():
    from ukva_widgets.grading.chapters.ch06_living_with_per_mm import CONFIGS, ProtocolModel, verify

    protocol = ("lock", "read_pte", "write_pte", "flush_local", "shootdown", "wait_acks", "unlock")
    for cpus, updaters in CONFIGS:
        trace, flaw, states = verify(ProtocolModel(protocol, cpus, updaters))
        assert trace is None and flaw == "" and states > 10


def test_a_protocol_with_unknown_or_unpaired_steps_is_refused_with_a_reason():
    exercise("6.1", seed=0)
    assert "is not a step" in check("6.1", ["lock", "grab"]).text()
    assert "released" in check("6.1", ["read_pte", "write_pte", "lock"]).text()
