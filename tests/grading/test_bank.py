"""An open question bank: an instructor adds an item (make, judge, points) in a solution notebook or in
an installed package's `ukva.items` entry point, without editing this package; its judge can be kept
out of the student's notebook, and then `check` says the grader judges it. (Grading such an item in a
real kernel is in test_course.py.)"""

import sys

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from ukva_widgets.grading import Part, bank, check, exercise, get_item, items, new_item
from ukva_widgets.grading.bank import BankError, load_solutions


@pytest.fixture(autouse=True)
def registry():
    """Each test's items are its own: the registry is restored after it."""
    before, answers, added = dict(items.ITEMS), dict(bank.ANSWERS), set(bank._ADDED)
    yield
    items.ITEMS.clear()
    items.ITEMS.update(before)
    bank.ANSWERS.clear()
    bank.ANSWERS.update(answers)
    bank._ADDED.clear()
    bank._ADDED.update(added)


def _define(item_id="8.1", judge=None, points=2):
    item = new_item(item_id, "square a number", points=points)

    @item.make
    def make(rng):
        n = rng.randint(2, 9)
        return {"n": n}, f"What is {n} squared? Answer with an int."

    if judge is not None:
        item.judge(judge)
    return item


@pytest.mark.parametrize("result, points", [(True, 2.0), (False, 0.0), (1.5, 1.5), (7, 2.0), (-1, 0.0)])
def test_a_judge_may_return_true_false_or_points(result, points):
    _define(judge=lambda settings, answer: result)
    exercise("8.1", seed=3)
    assert check("8.1", 4).verdict.points == points


def test_a_judge_may_return_parts_with_their_own_feedback():
    def judge(settings, answer):
        ok = answer == settings["n"] ** 2
        return [Part("square", 2.0 if ok else 0.0, 2.0, "" if ok else "multiply the number by itself")]

    _define(judge=judge)
    n = exercise("8.1", seed=3).settings["n"]
    assert check("8.1", n * n).verdict.passed
    assert "multiply the number by itself" in check("8.1", n).text()


def test_without_its_judge_check_records_the_answer_and_says_the_grader_judges_it():
    _define()  # as in a student's notebook: the hidden block with the judge was removed
    problem = exercise("8.1", seed=3)
    assert problem.text.startswith("Exercise 8.1: square a number\nWhat is")
    fb = check("8.1", 9)
    assert "judged by your instructor's grader only" in fb.text() and not fb.verdict.passed
    assert "&#9675;" in fb._repr_html_()  # grey: nothing judged here


@pytest.mark.parametrize("item_id, points, message", [
    ("8", 1, "CHAPTER.NUMBER"), ("x.1", 1, "CHAPTER.NUMBER"), ("2.1", 1, "one of the book's own"),
    ("8.2", 0, "positive number"),
])
def test_an_unusable_definition_is_refused_with_a_reason(item_id, points, message):
    with pytest.raises(BankError, match=message):
        new_item(item_id, "t", points=points)


def test_the_item_cells_of_a_solution_notebook_define_items_with_their_hidden_judges(tmp_path):
    source = ("from ukva_widgets.grading import new_item\n"
              "item = new_item('8.3', 'double a number')\n"
              "@item.make\ndef make(rng):\n    return {'n': 4}, 'What is 4 doubled?'\n"
              "### BEGIN HIDDEN TESTS\n@item.judge\ndef judge(settings, answer):\n    return answer == 8\n"
              "@item.answer\ndef answer(settings):\n    return 8\n### END HIDDEN TESTS")
    nbformat.write(new_notebook(cells=[new_code_cell("x = 1"), new_code_cell(source)]), tmp_path / "08-x.ipynb")
    assert load_solutions([tmp_path / "08-x.ipynb"]) == source
    exercise("8.3", seed=0)
    assert check("8.3", 8).verdict.passed and bank.ANSWERS["8.3"]({}) == 8
    nbformat.write(new_notebook(cells=[new_code_cell("new_item(")]), tmp_path / "09-y.ipynb")
    with pytest.raises(BankError, match=r"09-y.ipynb, cell 0: defining an item failed: SyntaxError"):
        load_solutions([tmp_path / "09-y.ipynb"])


def _plugin(tmp_path, module_source: str):
    """A package installed as pip would: a module and its dist-info, with a `ukva.items` entry point."""
    (tmp_path / "course_items.py").write_text(module_source)
    info = tmp_path / "course_items-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: course-items\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[ukva.items]\ncourse = course_items\n")
    sys.path.insert(0, str(tmp_path))
    bank.load_entry_points.cache_clear()


def test_an_installed_package_adds_items_through_the_ukva_items_entry_point(tmp_path):
    _plugin(tmp_path, "from ukva_widgets.grading import new_item\n"
                      "item = new_item('9.1', 'name the flag that makes a thread')\n"
                      "item.make(lambda rng: ({}, 'Which clone() flag joins the caller\\'s thread group?'))\n"
                      "item.judge(lambda settings, answer: answer == 'CLONE_THREAD')\n")
    try:
        assert "course_items" in bank.load_entry_points()
        exercise("9.1", seed=0)
        assert check("9.1", "CLONE_THREAD").verdict.passed and get_item("9.1").kind == "data"
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("course_items", None)
        bank.load_entry_points.cache_clear()


def test_a_broken_entry_point_says_which_one_in_one_line(tmp_path):
    _plugin(tmp_path, "raise RuntimeError('no such table')\n")
    try:
        with pytest.raises(BankError, match=r"the ukva.items entry point course \(course_items\) failed: "
                                            r"RuntimeError: no such table"):
            bank.load_entry_points()
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("course_items", None)
        bank.load_entry_points.cache_clear()
