"""`ukva student`: solution blocks become stubs, and the committed student notebooks are what it makes."""

from pathlib import Path

import nbformat
import pytest

from ukva_widgets.grading.student import SolutionMarkupError, strip_solutions, student_path, student_version

ROOT = Path(__file__).resolve().parents[2]
SOLUTIONS = sorted((ROOT / "exercises" / "solutions").glob("*.ipynb"))


def test_an_answer_block_becomes_an_unanswered_assignment():
    src = "### BEGIN SOLUTION\nanswer_2_1 = {'vm': True}\n### END SOLUTION\ncheck('2.1', answer_2_1)"
    assert strip_solutions(src) == "answer_2_1 = ...  # YOUR ANSWER HERE\ncheck('2.1', answer_2_1)"


def test_a_code_block_becomes_not_implemented_at_its_indentation():
    src = "def f(x):\n    ### BEGIN SOLUTION\n    return x + 1\n    ### END SOLUTION\n"
    assert strip_solutions(src) == 'def f(x):\n    raise NotImplementedError("YOUR CODE HERE")\n'


@pytest.mark.parametrize("src, message", [
    ("### BEGIN SOLUTION\nx = 1\n", "never closed"),
    ("x = 1\n### END SOLUTION\n", "without"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n", "inside another"),
])
def test_broken_markup_is_an_error_that_names_the_place(src, message):
    with pytest.raises(SolutionMarkupError, match=message):
        strip_solutions(src, "cell 3")


def test_there_are_solution_notebooks_for_the_chapters():
    assert [p.name[:2] for p in SOLUTIONS][:3] == ["01", "02", "03"]


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.name)
def test_committed_student_version_is_what_ukva_student_makes(solution):
    made = student_version(nbformat.read(solution, as_version=4))
    committed = nbformat.read(student_path(solution), as_version=4)
    assert [(c.cell_type, c.source) for c in committed.cells] == [(c.cell_type, c.source) for c in made.cells], \
        f"{student_path(solution).name} drifted: run `ukva student`"
    assert committed.metadata.get("ukva") == made.metadata.get("ukva")


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.name)
def test_student_versions_hold_no_solution(solution):
    text = student_path(solution).read_text()
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text


def test_ukva_student_writes_the_student_version_next_to_the_solutions_folder(tmp_path, capsys):
    from ukva_widgets.cli import main

    (tmp_path / "solutions").mkdir()
    source = tmp_path / "solutions" / SOLUTIONS[0].name
    source.write_text(SOLUTIONS[0].read_text())
    assert main(["student", str(source), "--no-execute"]) == 0
    written = nbformat.read(tmp_path / SOLUTIONS[0].name, as_version=4)
    assert "BEGIN SOLUTION" not in str(written) and "YOUR ANSWER HERE" in str(written)


def test_ukva_student_refuses_a_missing_notebook(capsys):
    from ukva_widgets.cli import main

    assert main(["student", "/nonexistent/solutions/09-x.ipynb"]) == 2
    assert "no such solution notebook" in capsys.readouterr().err


def test_a_hidden_tests_block_is_removed_from_the_student_version():
    src = ("item = new_item('1.7', 't')\n@item.make\ndef make(rng):\n    return {}, 'x'\n"
           "### BEGIN HIDDEN TESTS\n@item.judge\ndef judge(settings, answer):\n    return answer == 4\n"
           "### END HIDDEN TESTS\n")
    assert strip_solutions(src) == "item = new_item('1.7', 't')\n@item.make\ndef make(rng):\n    return {}, 'x'\n"


@pytest.mark.parametrize("src, message", [
    ("### BEGIN HIDDEN TESTS\nx = 1\n", "never closed by ### END HIDDEN TESTS"),
    ("### BEGIN HIDDEN TESTS\nx = 1\n### END SOLUTION\n", "### END SOLUTION without ### BEGIN SOLUTION"),
    ("### BEGIN SOLUTION\n### BEGIN HIDDEN TESTS\n", "inside another block"),
])
def test_broken_hidden_tests_markup_names_the_place(src, message):
    with pytest.raises(SolutionMarkupError, match=message):
        strip_solutions(src, "cell 5")
