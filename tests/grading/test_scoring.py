"""Scoring against a guessing baseline: an answer earns what it knows beyond the best answer that gives
every part the same option, whatever options it uses itself; a set answer loses for a wrong pick what
it gains for a right one; the rule is stated once (in the notebook header and the report), never in
each item's feedback. Judged here, without kernels."""

import itertools

import pytest

from ukva_widgets.grading import all_items, exercise, get_item
from ukva_widgets.grading.answers.measure import SEEDS, _constant, _leaves, measure_all
from ukva_widgets.grading.answers.model import model_answer
from ukva_widgets.grading.chapters.ch02_tasks_and_clone import RESOURCES
from ukva_widgets.grading.items import score_picks
from ukva_widgets.grading.scoring import BASELINES, RULE, score

DATA_ITEMS = [i.id for i in all_items() if i.kind == "data"]
EMPTY = [None, "", "   ", [], (), {}, set(), frozenset(), [None, None], {"a": None}]


def _verdict(item_id, seed, answer):
    item = get_item(item_id)
    return item.verdict(item.problem(seed), answer)


def test_the_stored_baselines_are_what_the_best_all_the_same_answer_earns():
    assert measure_all() == BASELINES


@pytest.mark.parametrize("item_id", DATA_ITEMS)
def test_an_empty_or_none_answer_scores_zero_on_every_variant(item_id):
    for seed, answer in itertools.product(SEEDS[:8], EMPTY):
        v = _verdict(item_id, seed, answer)
        assert v.points == 0 or v.passed, f"{item_id} seed {seed}: {answer!r} earned {v.points}"


@pytest.mark.parametrize("item_id", ["2.3", "4.3", "5.3", "6.3", "7.1"])
def test_on_balanced_items_an_all_the_same_answer_scores_zero_on_every_variant(item_id):
    # Every variant of these has the same mix of answers (three refusals and two successes, two broken
    # and two proven machines...), so no all-the-same answer beats the baseline anywhere.
    item = get_item(item_id)
    for seed in SEEDS:
        problem = item.problem(seed)
        model = model_answer(item_id, problem.settings)
        for value in {leaf for leaf in _leaves(model)} | {None, True, False}:
            v = item.verdict(problem, _constant(model, value))
            assert v.points == 0 or v.passed, f"{item_id} seed {seed}: all {value!r} earned {v.points}"


def _one_wrong(item_id, model):
    """`model` with its first part changed to a wrong value of the same kind."""
    if item_id == "2.1":
        return {**model, "vm": not model["vm"]}
    key = next(iter(model))
    return {**model, key: model[key] + 1}


# The honest answers the old "all-the-same earns 0" rule zeroed: 2.1 with four of five right, 3.1 with
# three of four, 2.4 and 1.3 with one of two.
@pytest.mark.parametrize("item_id", ["2.1", "3.1", "2.4", "1.3"])
def test_an_honest_answer_with_one_part_wrong_earns_points_on_every_variant(item_id):
    item = get_item(item_id)
    for seed in SEEDS:
        problem = item.problem(seed)
        v = item.verdict(problem, _one_wrong(item_id, model_answer(item_id, problem.settings)))
        raw = v.raw_points / item.max_points
        assert not v.passed and v.points == score(raw, 1.0, BASELINES[item_id]) > 0, f"seed {seed}"


def test_a_learner_whose_belief_is_uniform_scores_what_anyone_with_as_many_right_parts_scores():
    # 2.1 where four of the five resources are shared: "all True" has four right, as has an answer that
    # gets the unshared one right and misses another. Both earn the same, and more than nothing.
    found = 0
    for seed in range(400):
        settings = exercise("2.1", seed=seed).settings
        truth = model_answer("2.1", settings)
        if sum(truth.values()) != 4:
            continue
        uniform = dict.fromkeys(RESOURCES, True)
        shared = [r for r in RESOURCES if truth[r]]
        mixed = {**truth, shared[0]: False}
        a, b = _verdict("2.1", seed, uniform), _verdict("2.1", seed, mixed)
        assert a.raw_points == b.raw_points == pytest.approx(0.8)
        assert a.points == b.points > 0
        found += 1
    assert found, "no variant of 2.1 shares four of five resources in 400 seeds"


def test_the_score_scales_above_the_baseline_rounds_to_two_decimals_and_never_goes_below_zero():
    assert score(1.0, 1.0, 0.66) == 1.0
    assert score(0.8, 1.0, 0.66) == 0.41            # (0.8 - 0.66) / 0.34 = 0.4118 -> 0.41
    assert score(0.6, 1.0, 0.66) == 0.0             # below a guess: nothing, not a negative score
    assert score(0.75, 1.0, 0.0) == 0.75
    assert score(1 / 3, 1.0, 0.0) == 0.33
    assert score(0.5, 2.0, 0.5) == 0.0 and score(1.5, 2.0, 0.5) == 1.0


def test_a_right_answer_that_is_all_the_same_still_earns_full_marks():
    # 2.1 with flags that share everything: every resource is True, and that is the answer.
    for seed in range(300):
        settings = exercise("2.1", seed=seed).settings
        if settings["flags"] == "CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD":
            assert _verdict("2.1", seed, dict.fromkeys(RESOURCES, True)).passed
            return
    pytest.fail("no variant of 2.1 shares every resource in 300 seeds")


def test_set_answers_lose_for_a_wrong_pick_what_a_right_one_gains():
    truth, options = frozenset({0, 1, 2, 3}), range(7)
    assert score_picks("p", {0, 1, 2, 3}, truth, options, 1.0).points == 1.0
    assert score_picks("p", {0, 1, 2}, truth, options, 1.0).points == 0.75
    assert score_picks("p", {0, 1, 2, 4}, truth, options, 1.0).points == 0.5   # 3 right - 1 wrong
    assert score_picks("p", {0, 4, 5, 6}, truth, options, 1.0).points == 0.0   # floor 0, not -0.5
    assert score_picks("p", set(), truth, options, 1.0).points == 0.0
    assert score_picks("p", set(range(7)), truth, options, 1.0).points == 0.0  # everything picked
    assert score_picks("p", set(), frozenset(), options, 1.0).points == 1.0    # none is the answer


def test_the_u_area_item_scores_picks_by_the_rule():
    from ukva_widgets.grading.chapters.ch01_unix_process import U_AREA

    for seed in SEEDS:
        options = exercise("1.4", seed=seed).settings["options"]
        inside = [i for i, o in enumerate(options) if U_AREA[o]]
        outside = [i for i, o in enumerate(options) if not U_AREA[o]]
        assert _verdict("1.4", seed, set(inside)).passed
        assert _verdict("1.4", seed, set(inside[:-1]) | {outside[0]}).points == \
            round((len(inside) - 2) / len(inside), 2)


def test_the_rule_is_in_no_items_feedback_but_once_in_each_exercise_notebook():
    from pathlib import Path

    import nbformat

    from ukva_widgets.grading.grader import judge_record

    for item_id in DATA_ITEMS:
        g = judge_record(get_item(item_id), {"kernel": {"item": item_id, "seed": 3, "answer": None}}, None)
        assert g.points == 0 and "Scoring" not in g.feedback and "baseline" not in g.feedback
    for path in sorted((Path(__file__).resolve().parents[2] / "exercises").glob("*.ipynb")):
        cells = nbformat.read(path, as_version=4).cells
        assert "beyond a guess" in cells[0].source, path.name
        assert not any("beyond a guess" in "".join(str(o) for o in c.get("outputs", [])) for c in cells)
    assert "beyond a guess" in RULE
