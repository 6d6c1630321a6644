"""Copy detection that does not accuse honest students: on a class of twelve judged here (no kernels),
two students who share rare wrong answers and a text are flagged with the chance of it, while students
who share right answers, a common misconception, or answers to a question with few possible answers,
are not."""

import math

import pytest

from ukva_widgets.grading import get_item
from ukva_widgets.grading.answers.measure import measure_spaces
from ukva_widgets.grading.answers.model import model_answer
from ukva_widgets.grading.collect import to_plain
from ukva_widgets.grading.copies import SPACES, shared_work
from ukva_widgets.grading.grader import SubmissionGrade, judge_record
from ukva_widgets.grading.report import Report

ITEMS = ("1.1", "1.3", "1.4")  # 1.1 has about 7 possible answers: never evidence
TEXT = ("V6 ran one process at a time and remapped the one address to the running process's u-area on every "
        "switch; with clone() one address space may hold tasks with different file tables.")


def _grade(sid: str, seed: int, answers: dict) -> SubmissionGrade:
    grades = [judge_record(get_item(i), {"kernel": {"item": i, "seed": seed, "answer": to_plain(a)}}, None, seed)
              for i, a in answers.items()]
    return SubmissionGrade(f"class/{sid}/01-unix-process.ipynb", 0.0, 0.0, None, grades, student_id=sid,
                           chapter="01", seed=seed)


def _right(item_id: str, seed: int):
    return model_answer(item_id, get_item(item_id).problem(seed).settings)


@pytest.fixture(scope="module")
def judged():
    grades = []
    for n in range(10):  # ten honest students, each on a variant of their own
        seed = 1000 + n
        answers = {i: _right(i, seed) for i in ITEMS}
        if n < 5:  # a common mistake: five of them pick the first three options
            answers["1.4"] = {0, 1, 2}
        answers["1.1"] = 8  # a small answer space: the same count is common
        grades.append(_grade(f"honest{n}", seed, answers))
    source = _grade("ada", 77, {**{i: _right(i, 77) for i in ITEMS}, "1.6": TEXT})
    copier = _grade("bob", 78, {**{i: _right(i, 77) for i in ITEMS}, "1.6": TEXT})  # ada's answers, his variant
    grades += [source, copier]
    return grades, shared_work(grades)


def test_two_students_sharing_rare_wrong_answers_are_flagged_with_the_chance_of_it(judged):
    grades, shared = judged
    (pair,) = shared
    assert {pair.first.student_id, pair.second.student_id} == {"ada", "bob"}
    assert {"1.3", "1.4", "1.6"} >= set(pair.items) >= {"1.6"}  # ada's right answers, wrong for bob's variant
    assert "1.1" not in pair.items  # few possible answers: left out
    assert pair.expected == pytest.approx(66 * pair.chance) and pair.expected < 0.01
    bob = next(g for g in grades if g.student_id == "bob")
    assert "with class/ada/01-unix-process.ipynb (ada)" in pair.text(bob) and "by chance about 1 in" in pair.text(bob)


def test_a_common_misconception_and_right_answers_accuse_no_one(judged):
    _, shared = judged
    accused = {s for pair in shared for s in (pair.first.student_id, pair.second.student_id)}
    assert not any(s.startswith("honest") for s in accused)


def test_a_shared_text_alone_is_enough_and_both_right_on_one_variant_is_nothing():
    text = ("The thread group is the signal_struct, and only CLONE_THREAD shares it, so the child "
            "has its own thread group and its own tgid.")
    a = _grade("a", 5, {i: _right(i, 5) for i in ITEMS})
    b = _grade("b", 5, {i: _right(i, 5) for i in ITEMS})  # the same variant, both right: no evidence
    assert shared_work([a, b]) == []
    item = get_item("1.6")
    manual = [judge_record(item, {"kernel": {"item": "1.6", "seed": 1, "answer": text}}, None, 1)]
    c = SubmissionGrade("c.ipynb", 0.0, 0.0, None, manual, student_id="c", chapter="01")
    d = SubmissionGrade("d.ipynb", 0.0, 0.0, None, list(manual), student_id="d", chapter="01")
    (pair,) = shared_work([c, d])
    assert pair.items == ("1.6",) and math.isclose(pair.chance, 1e-6)


def test_the_report_shows_shared_work_to_the_instructor_only(judged):
    grades, _ = judged
    report = Report(grades, 1)
    bob = next(g for g in grades if g.student_id == "bob")
    assert report.submission_record(bob)["shared_work"] and any("shares wrong answers" in line for line in report.summary())
    assert all("shares wrong answers" not in page and "by chance" not in page
               for page in report.feedback_pages().values())


def test_the_stored_answer_spaces_are_measured():
    assert measure_spaces() == SPACES
