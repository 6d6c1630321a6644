"""Answers and rubrics stay off students' machines: the package a student installs holds the answer key
only as salted hashes (sealed.json), from which the judges rebuild exactly what the answer key says;
`check` then says it checked against hashes, and shows no per-part points where they would give the
answer away; a grading kernel sees no answer key even in the instructor's checkout."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from nbformat.v4 import new_code_cell, new_notebook

from ukva_widgets.grading import check, exercise
from ukva_widgets.grading.answers.questions import QUESTIONS
from ukva_widgets.grading.answers.tables import TABLES
from ukva_widgets.grading.sealed import SEALED, seal

ROOT = Path(__file__).resolve().parents[2]

# In a fresh interpreter with UKVA_SEALED=1 (as in a student's installation): what the judges rebuild,
# and what check() says.
STUDENT_SIDE = r"""
import dataclasses, json
from ukva_widgets.grading import check, exercise
from ukva_widgets.grading.sealed import is_sealed, table
from ukva_widgets.grading.chapters.ch01_unix_process import U_AREA
from ukva_widgets.grading.chapters.reasons import QUESTIONS
exercise("1.4", seed=3)
options = exercise("1.4", seed=3).settings["options"]
right = {i for i, o in enumerate(options) if U_AREA[o]}
print(json.dumps({
    "sealed": is_sealed(),
    "tables": {i: table(i) for i in ("1.4", "4.3", "7.1")},
    "questions": {i: [dataclasses.asdict(q) for q in qs] for i, qs in QUESTIONS.items()},
    "right": check("1.4", right).text(),
    "wrong": check("1.4", set(list(right)[:-1])).text(),
}))
"""


@pytest.fixture(scope="module")
def student_side():
    env = {**os.environ, "UKVA_SEALED": "1"}
    done = subprocess.run([sys.executable, "-c", STUDENT_SIDE], capture_output=True, text=True, env=env,
                          timeout=300, cwd="/")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_sealed_json_is_what_the_answer_key_seals_to():
    assert SEALED.read_text() == seal(), "sealed.json is stale: run `ukva student` (it seals the answer key)"


def test_sealed_json_holds_no_answer_in_plain_text():
    text = SEALED.read_text()
    for item_id, rows in TABLES.items():
        for option, value in rows.items():
            assert json.dumps({option: value})[1:-1] not in text, (item_id, option)
    for questions in QUESTIONS.values():
        for q in questions:
            for _, rebuttal in q.misconceptions:
                assert rebuttal not in text
            assert f'"outcome": "{q.outcome}"' not in text


def test_a_students_package_rebuilds_exactly_the_answer_key(student_side):
    import dataclasses

    assert student_side["sealed"] is True
    assert student_side["tables"] == TABLES
    key = {i: [dataclasses.asdict(q) for q in qs] for i, qs in QUESTIONS.items()}
    assert student_side["questions"] == json.loads(json.dumps(key))  # tuples as JSON lists


def test_check_says_it_checked_against_hashes_and_hides_the_points_that_would_give_the_answer_away(student_side):
    assert student_side["right"] == ("[1.4] correct (checked against salted hashes: the right answer is not "
                                     "stored on this machine)")
    assert student_side["wrong"].startswith("[1.4] not yet (checked against salted hashes")
    assert "points" not in student_side["wrong"] and "/1" not in student_side["wrong"]
    # In the instructor's checkout the answer key is there: no such note, the same verdicts.
    exercise("1.4", seed=3)
    assert "salted" not in check("1.4", set()).text()


def test_a_grading_kernel_sees_no_answer_key_even_in_a_checkout():
    from ukva_widgets.grading.sandbox import Limits, run_submission

    nb = new_notebook(cells=[new_code_cell(
        "import os, ukva_widgets.grading as g\n"
        "answer_1_1 = sorted(os.listdir(os.path.join(os.path.dirname(g.__file__), 'answers')))\n"
        "from ukva_widgets.grading.sealed import is_sealed\n"
        "answer_1_2 = is_sealed()\n"
        "try:\n"
        "    from ukva_widgets.grading.answers.model import model_answer\n"
        "    answer_1_3 = 'imported'\n"
        "except ImportError as exc:\n"
        "    answer_1_3 = type(exc).__name__\n")])
    run = run_submission(nb, {"1.1": None, "1.2": None, "1.3": None},
                         Limits(cell_seconds=20, total_seconds=60, memory_mib=1024))
    answers = {i: r["kernel"]["answer"] for i, r in run.records.items()}
    assert answers == {"1.1": [], "1.2": True, "1.3": "ModuleNotFoundError"}, run.problems
