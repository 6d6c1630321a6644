"""Every variant is answerable and of equal difficulty: over many seeds, the model answer (the answer
key's, answers/model.py: what the engine gives run as the chapters show) gets full marks and a changed
answer loses points (a variant whose own truth fails its judge would be a broken problem), and where
difficulty can be measured (the shortest breaking schedule, the number of options and distractors) it
is the same for every seed."""

import pytest

from ukva_widgets.grading import check, exercise
from ukva_widgets.grading.answers.model import MODEL_ANSWERS, breaking_schedule, right_reason
from ukva_widgets.grading.chapters import ch07_what_linux_did as ch07
from ukva_widgets.grading.chapters.reasons import QUESTIONS


def verdict_mix(item_id, settings):
    """How many of a verdict item's machines break, by the model answer."""
    return MODEL_ANSWERS[item_id](settings).count("violation")

SEEDS = range(0, 3000, 97)  # 31 seeds spread over the range
ENGINE_CHECKED = ("2.1", "2.3", "2.4", "3.1", "3.2", "3.3", "4.1", "4.2", "5.1", "5.2", "5.3", "6.3", "7.1")


@pytest.mark.parametrize("item_id", ENGINE_CHECKED)
def test_the_model_answer_gets_full_marks_on_every_variant(item_id):
    for seed in SEEDS:
        problem = exercise(item_id, seed=seed)
        feedback = check(item_id, MODEL_ANSWERS[item_id](problem.settings))
        assert feedback.verdict.passed, f"seed {seed}: {feedback.text()}"


@pytest.mark.parametrize("item_id", sorted(QUESTIONS))
def test_the_right_prediction_and_reason_get_full_marks_on_every_variant(item_id):
    for seed in SEEDS:
        problem = exercise(item_id, seed=seed)
        assert check(item_id, right_reason(item_id, problem.settings)).verdict.passed
        # Equal difficulty: every variant offers four reasons, one right and three misconceptions,
        # and the right one is never given away by being the longest.
        question = QUESTIONS[item_id][problem.settings["question"]]
        assert len(problem.settings["reasons"]) == 4 and len(question.misconceptions) == 3
        assert len(question.reason) <= max(len(wrong) for wrong, _ in question.misconceptions)


def test_a_wrong_prediction_loses_points_on_every_variant():
    for seed in SEEDS:
        problem = exercise("3.1", seed=seed)
        wrong = {k: v + 1 for k, v in MODEL_ANSWERS["3.1"](problem.settings).items()}
        assert check("3.1", wrong).verdict.points == 0
        problem = exercise("5.1", seed=seed)
        assert check("5.1", breaking_schedule(problem.settings)[:-1]).verdict.points == 0


# The schedule chapter 05 prints for both per-task and per-CPU (two threads, two CPUs).
CHAPTER_05_TRACE = ["cpu0: switch to task 2 (init)", "cpu1: switch to task 3 (init)", "cpu0: read UKVA"]


@pytest.mark.parametrize("item_id, depth", [("5.1", 4), ("5.2", 3)])
def test_breaking_schedules_are_equally_deep_on_every_variant_and_never_the_chapters(item_id, depth):
    settings_seen = set()
    for seed in SEEDS:
        problem = exercise(item_id, seed=seed)
        settings_seen.add(repr(problem.settings))
        assert len(breaking_schedule(problem.settings)) == depth, f"seed {seed}"
        assert not check(item_id, CHAPTER_05_TRACE).verdict.passed, f"seed {seed} accepts chapter 05's trace"
    assert len(settings_seen) >= 4


def test_the_default_variant_is_not_the_chapters_printed_counterexample():
    from ukva_widgets.grading import seed_from

    for item_id in ("5.1", "5.2"):
        exercise(item_id, seed=seed_from("your.name"))
        assert not check(item_id, CHAPTER_05_TRACE).verdict.passed


def test_every_mapping_placement_variant_asks_the_same_mix():
    for seed in SEEDS:
        mappings = exercise("7.1", seed=seed).settings["mappings"]
        kinds = [ch07.MAPPINGS[m] for m in mappings]
        assert len(set(mappings)) == 5 and kinds.count("per-mm") == 2 and len(set(kinds)) == 4


def test_the_stored_per_mm_verdicts_are_the_model_checkers():
    from ukva_widgets.engine import explore
    from ukva_widgets.grading.chapters import ch06_living_with_per_mm as ch06
    from ukva_widgets.grading.chapters.machines import machine

    assert len(ch06.PER_MM_VERDICTS) == len(ch06.PER_MM)
    for (threads, processes, options), stored in zip(ch06.PER_MM, ch06.PER_MM_VERDICTS):
        assert explore(machine(threads, processes, sibling="CLONE_VM", **options)).verdict == stored, options


@pytest.mark.parametrize("item_id", ["5.3", "6.3"])
def test_every_verdict_variant_has_two_broken_and_two_proven_machines(item_id):
    for seed in SEEDS:
        assert verdict_mix(item_id, exercise(item_id, seed=seed).settings) == 2, f"seed {seed}"


def test_every_clone_failure_variant_has_three_refusals_by_different_rules_and_two_successes():
    for seed in SEEDS:
        truth = MODEL_ANSWERS["2.3"](exercise("2.3", seed=seed).settings)
        refused = [t for t in truth if t is not None]
        assert len(truth) == 5 and len(refused) == len(set(refused)) == 3, f"seed {seed}: {truth}"
