"""Scoring that pays only for knowledge: an answer that knows nothing (None, empty, every part the
same option) earns 0 on every item and every variant, unless it happens to be entirely right; a set
answer loses for a wrong pick what it gains for a right one. Judged here, without kernels."""

import itertools

import pytest

from ukva_widgets.grading import all_items, exercise, get_item
from ukva_widgets.grading.chapters.ch02_tasks_and_clone import RESOURCES, RULE_CHOICES
from ukva_widgets.grading.chapters.ch05_where_can_ukva_live import VERDICTS
from ukva_widgets.grading.chapters.reasons import QUESTIONS
from ukva_widgets.grading.items import SCORING, knows_nothing, score_picks

SEEDS = range(0, 400, 13)
DATA_ITEMS = [i.id for i in all_items() if i.kind == "data"]
EMPTY = [None, "", "   ", [], (), {}, set(), frozenset(), [None, None], {"a": None}]
OPTIONS = [None, True, False, 0, 1, "proven", "violation", "software", RULE_CHOICES[0], "per-mm"]
# Dict answers of the items whose parts are named (the keys the judges ask for).
DICT_KEYS = [("status", "exitcode"), RESOURCES, ("files_not_vm", "pthread"), ("tgid", "parent"),
             ("mm", "fs", "files", "sighand"), ("pid", "tasks", "same_mm"),
             ("x86", "MIPS", "PowerPC 4xx", "PowerPC 8xx", "sparc64")]


def _constant_answers():
    """Every 'all the same option' answer of a shape some item asks for."""
    for option in OPTIONS:
        for n in range(2, 9):
            yield [option] * n
        for keys in DICT_KEYS:
            yield dict.fromkeys(keys, option)
        yield {"no_pcid": dict.fromkeys(("cr3_writes", "full_flushes", "ipis"), option),
               "pcid": dict.fromkeys(("cr3_writes", "full_flushes", "ipis"), option)}


def _verdict(item_id, seed, answer):
    item = get_item(item_id)
    return item.verdict(item.problem(seed), answer)


@pytest.mark.parametrize("item_id", DATA_ITEMS)
def test_an_empty_or_none_answer_scores_zero_on_every_variant(item_id):
    for seed, answer in itertools.product(SEEDS[:8], EMPTY):
        v = _verdict(item_id, seed, answer)
        assert v.points == 0 or v.passed, f"{item_id} seed {seed}: {answer!r} earned {v.points}"


@pytest.mark.parametrize("item_id", DATA_ITEMS)
def test_an_all_the_same_answer_scores_zero_unless_entirely_right(item_id):
    judged = 0
    for seed in SEEDS[:6]:
        for answer in _constant_answers():
            v = _verdict(item_id, seed, answer)
            assert v.points == 0 or v.passed, f"{item_id} seed {seed}: {answer!r} earned {v.points}"
            judged += "shape" not in {p.name for p in v.parts}
    # No constant has their shape (a prediction and the number of a reason are never the same option).
    if item_id not in ("1.1", "1.2", "1.4", "3.2", "3.3", "5.1", "5.2", "6.1") and item_id not in QUESTIONS:
        assert judged, f"no constant answer had {item_id}'s shape: the test judged nothing"


# The issue's three examples, on many variants each: they earned 0.43, 0.8 and 0.75.
@pytest.mark.parametrize("item_id, answer", [
    ("1.4", set()),
    ("2.3", [None] * 5),
    ("5.3", ["proven"] * 4),
    ("5.3", ["violation"] * 4),
    ("6.3", ["proven"] * 4),
])
def test_the_issues_guesses_score_zero_and_say_why(item_id, answer):
    for seed in SEEDS[:12]:
        v = _verdict(item_id, seed, answer)
        assert v.points == 0 or v.passed
        if not v.passed and not isinstance(answer, set):
            assert "every part of the answer is" in v.feedback and SCORING in v.feedback


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
    for seed in SEEDS:
        options = exercise("1.4", seed=seed).settings["options"]
        from ukva_widgets.grading.chapters.ch01_unix_process import U_AREA

        inside = [i for i, o in enumerate(options) if U_AREA[o]]
        outside = [i for i, o in enumerate(options) if not U_AREA[o]]
        assert _verdict("1.4", seed, set(inside)).passed
        assert _verdict("1.4", seed, set(inside[:-1]) | {outside[0]}).points == \
            pytest.approx((len(inside) - 2) / len(inside))


@pytest.mark.parametrize("answer, why", [
    (None, "None"), ([], "empty"), ("  ", "blank"), ([None, None], "empty"),
    ({"a": "x", "b": "x"}, "the same"), ([[1, 1], [1]], "the same"),
])
def test_knows_nothing_names_the_reason(answer, why):
    assert why in knows_nothing(answer)


@pytest.mark.parametrize("answer", [3, {0, 1}, [True, False], {"a": 1, "b": True}, ["x"]])
def test_knows_nothing_leaves_real_answers_alone(answer):
    assert knows_nothing(answer) is None


def test_verdicts_in_the_grade_report_state_the_rule():
    from ukva_widgets.grading.grader import judge_record

    for item_id in DATA_ITEMS:
        item = get_item(item_id)
        g = judge_record(item, {"kernel": {"item": item_id, "seed": 3, "answer": None}}, None)
        assert g.points == 0 and SCORING in g.feedback
    assert VERDICTS == ("violation", "proven")
