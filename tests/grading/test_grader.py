"""`ukva grade`: full marks for the solutions, zero for the student versions, and the right grade and
reason for submissions that try to cheat or break the grader. Every adversarial submission is made
here, in tmp_path, from the committed chapter 01 and 02 notebooks."""

import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell

from ukva_widgets.cli import main
from ukva_widgets.grading.batch import grade_all
from ukva_widgets.grading.grader import grade
from ukva_widgets.grading.sandbox import Limits

ROOT = Path(__file__).resolve().parents[2]
SOL01 = ROOT / "exercises" / "solutions" / "01-unix-process.ipynb"
SOL02 = ROOT / "exercises" / "solutions" / "02-tasks-and-clone.ipynb"
SOL06 = ROOT / "exercises" / "solutions" / "06-living-with-per-mm.ipynb"
SOLUTIONS = sorted((ROOT / "exercises" / "solutions").glob("*.ipynb"))
# Fitted to what check() shows: correct only for the visible inputs' sizes, slot 0 for anything else.
FITTED = """
class Fitted:
    def __init__(self, nslots):
        import ukva_widgets.grading as g
        visible = g.get_item("6.2").visible_inputs(SEED)
        self.ok = nslots in [case["nslots"] for case in visible["cases"]]
        self.free_slots = list(range(nslots))
    def alloc(self, obj):
        if not self.ok:
            return 0
        return self.free_slots.pop(0) if self.free_slots else None
    def free(self, slot):
        self.free_slots.append(slot)
answer_6_2 = Fitted
"""
LOOPING = """
class Looping:
    def __init__(self, nslots):
        self.nslots = nslots
    def alloc(self, obj):
        while True:
            pass
    def free(self, slot):
        pass
answer_6_2 = Looping
"""
# Cell limits with room for a loaded CI machine (2 cores) to collect 6.2's observations in time.
FAST = Limits(cell_seconds=6, total_seconds=40, memory_mib=1024, output_bytes=64 * 1024)


def _with_cells(source: Path, cells: dict[int, str], answers: dict[str, str] | None = None):
    """The notebook at `source` with `cells` inserted before the given code-cell positions and
    the given answer variables overwritten (a cell appended after each check)."""
    nb = nbformat.read(source, as_version=4)
    for at, code in sorted(cells.items(), reverse=True):
        nb.cells.insert(at, new_code_cell(code))
    for var, value in (answers or {}).items():
        for _i, c in enumerate(nb.cells):
            if c.cell_type == "code" and "### END SOLUTION" in c.source and var in c.source:
                c.source = c.source.replace("### END SOLUTION", f"{var} = {value}\n### END SOLUTION")
    return nb


ADVERSARIAL = {
    # A check() that always says "correct", and wrong answers.
    "redefined_check": (SOL01, {2: 'def check(*args, **kw):\n    return "[1.1] correct: 1/1 points"\n'},
                        {"answer_1_1": "0", "answer_1_2": "0"}),
    # Prints what looks like a grader record for every item, and a "correct" line.
    "forged_output": (SOL01, {2: (
        "from IPython.display import display\n"
        "for i in ['1.1', '1.2', '1.3', '1.4']:\n"
        "    display({'application/vnd.ukva.answer+json': {'nonce': 'guess', 'item': i, 'seed': 0,\n"
        "             'answer': 'correct', 'points': 1}}, raw=True)\n"
        "print('[1.1] correct: 1/1 points')\n")}, {"answer_1_1": "0"}),
    # Patches the engine and the judge inside the kernel so its own check() says "correct".
    "patched_engine": (SOL02, {2: (
        "import ukva_widgets.engine as e, ukva_widgets.grading.items as it\n"
        "e.Kernel.shares = lambda self, a, b: dict.fromkeys(['vm','fs','files','sighand','signal','io','sysvsem'], True)\n"
        "it.Item.verdict = lambda self, problem, answer, inputs=None: it.Verdict(self.id, (it.Part('x', self.max_points, self.max_points),), self.max_points)\n"
        "import ukva_widgets.grading.collect as c\n"
        "_orig = c.answer_record\n"
        "c.answer_record = lambda item_id, ns, inputs: {**_orig(item_id, ns, inputs), 'points': 99, 'passed': True}\n")},
        {"answer_2_1": "dict.fromkeys(['vm','fs','files','sighand','signal'], True)"}),
    "infinite_loop": (SOL01, {5: "while True:\n    pass\n"}, None),
    "loop_ignoring_interrupts": (SOL01, {5: "while True:\n    try:\n        pass\n    except BaseException:\n        pass\n"}, None),
    "exits_the_kernel": (SOL01, {5: "import os\nos._exit(3)\n"}, None),
    "raising_cell": (SOL01, {5: "1 / 0\n"}, None),
    "megabytes_of_output": (SOL01, {5: "for _ in range(50):\n    print('x' * 100_000)\n"}, None),
    "eats_memory": (SOL01, {5: "hog = bytearray(3 << 30)\n"}, None),
    # Answers of the wrong shape or kind: each item reports why, the others still count.
    "malformed_answers": (SOL01, {100: "answer_1_4 = [[0, 1]]\nanswer_1_3 = open\nanswer_1_2 = [[[[[[[[1]]]]]]]]\n"}, None),
    # Code answers: run on hidden inputs in the submission's kernel, judged here.
    "fitted_to_visible_inputs": (SOL06, {100: FITTED}, None),
    "code_answer_loops": (SOL06, {100: LOOPING}, None),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Every submission graded once, as one batch with two workers."""
    d = tmp_path_factory.mktemp("subs")
    for name, (source, cells, answers) in ADVERSARIAL.items():
        nbformat.write(_with_cells(source, cells, answers), d / f"{name}.ipynb")
    (d / "not_a_notebook.ipynb").write_text('{"name": "my homework", "answers": [1, 2, 3]}')
    (d / "corrupt_json.ipynb").write_text(SOL01.read_text()[:-300])
    (d / "plain_text.ipynb").write_text("I did the exercises on paper.\n")
    for sol in SOLUTIONS:
        (d / f"solution_{sol.name}").write_text(sol.read_text())
        (d / f"student_{sol.name}").write_text((ROOT / "exercises" / sol.name).read_text())
    paths = sorted(d.glob("*.ipynb"))
    grades = grade_all(paths, seed=5, limits=FAST, jobs=2, progress=False)
    return {Path(g.path).stem: g for g in grades}


def _points(g) -> dict[str, float]:
    return {i.id: i.points for i in g.items}


@pytest.mark.parametrize("sol", SOLUTIONS, ids=lambda p: p.stem)
def test_solution_notebooks_get_full_marks(graded, sol):
    g = graded[f"solution_{sol.stem}"]
    assert g.error is None and g.max_points > 0 and g.points == g.max_points
    assert all((i.passed and i.feedback.startswith("correct")) or i.manual for i in g.items)
    assert all("judged on exercise(" in i.feedback for i in g.items)  # how to reproduce each problem


@pytest.mark.parametrize("sol", SOLUTIONS, ids=lambda p: p.stem)
def test_student_versions_get_zero_and_say_not_answered(graded, sol):
    g = graded[f"student_{sol.stem}"]
    assert g.points == 0 and g.max_points > 0
    assert all(i.feedback.startswith("not answered yet") for i in g.items)


def test_a_redefined_check_changes_nothing(graded):
    g = graded["redefined_check"]
    assert _points(g) == {"1.1": 0, "1.2": 0, "1.3": 1, "1.4": 1, "1.5": 1, "1.6": 0}


def test_forged_correct_output_is_ignored(graded):
    g = graded["forged_output"]
    assert _points(g)["1.1"] == 0 and g.points == 4


def test_a_patched_engine_and_judge_in_the_kernel_cannot_change_the_grade(graded):
    g = graded["patched_engine"]
    assert _points(g)["2.1"] < 1 and g.points < g.max_points
    assert all(i.points <= i.max_points for i in g.items)


@pytest.mark.parametrize("name, reason", [
    ("infinite_loop", "ran longer than 6 s"),
    ("loop_ignoring_interrupts", "ran longer than 6 s"),
    ("exits_the_kernel", "killed the kernel"),
    ("raising_cell", "raised ZeroDivisionError"),
    ("megabytes_of_output", "printed more than 64 KiB"),
    ("eats_memory", "MemoryError"),
])
def test_a_broken_cell_is_reported_and_everything_else_is_graded(graded, name, reason):
    g = graded[name]
    assert reason in (g.error or "")
    assert g.points == g.max_points == 5  # the answers before and after the bad cell all count


def test_malformed_answers_cost_only_their_own_items(graded):
    g = graded["malformed_answers"]
    feedback = {i.id: i.feedback for i in g.items}
    assert _points(g) == {"1.1": 1, "1.2": 0, "1.3": 0, "1.4": 0, "1.5": 1, "1.6": 0}
    assert "is not one of them" in feedback["1.4"]
    assert "numbers, strings, lists, sets and dicts, not function" in feedback["1.3"]
    assert "whole number" in feedback["1.2"]


def test_a_code_answer_fitted_to_the_visible_inputs_fails_on_the_hidden_ones(graded):
    g = graded["fitted_to_visible_inputs"]
    assert _points(g) == {"6.1": 1, "6.2": 0, "6.3": 1, "6.4": 1, "6.5": 1, "6.6": 1}
    assert "which a live object still holds" in {i.id: i.feedback for i in g.items}["6.2"]


def test_the_same_grading_seed_gives_the_same_report(tmp_path):
    path = tmp_path / "fitted.ipynb"
    nbformat.write(_with_cells(SOL06, {100: FITTED}), path)
    first, second = grade(path, 5, FAST), grade(path, 5, FAST)
    assert [(i.points, i.feedback) for i in first.items] == [(i.points, i.feedback) for i in second.items]


def test_a_code_answer_that_loops_costs_only_its_own_item(graded):
    g = graded["code_answer_loops"]
    assert _points(g) == {"6.1": 1, "6.2": 0, "6.3": 1, "6.4": 1, "6.5": 1, "6.6": 1}
    assert "took longer than 6 s" in {i.id: i.feedback for i in g.items}["6.2"]


@pytest.mark.parametrize("name, reason", [
    ("not_a_notebook", "no \"cells\""),
    ("corrupt_json", "corrupt JSON"),
    ("plain_text", "corrupt JSON"),
])
def test_files_that_are_not_notebooks_get_a_clear_reason(graded, name, reason):
    g = graded[name]
    assert reason in g.error and g.points == 0


def test_items_deleted_from_a_submission_still_count_against_it(tmp_path):
    nb = nbformat.read(SOL01, as_version=4)
    nb.metadata["ukva"]["chapter"] = "01"
    nb.cells = [c for c in nb.cells if "1.4" not in c.source]
    path = tmp_path / "partial.ipynb"
    nbformat.write(nb, path)
    g = grade(path, 1, FAST)
    assert g.max_points == 5 and _points(g) == {"1.1": 1, "1.2": 1, "1.3": 1, "1.4": 0, "1.5": 1, "1.6": 0}


def test_a_loop_that_ignores_interrupts_costs_only_its_own_cell(tmp_path):
    nb = _with_cells(SOL01, {9: "import time\nwhile True:\n    try:\n        time.sleep(1)\n    except BaseException:\n        pass\n"})
    path = tmp_path / "slow.ipynb"
    nbformat.write(nb, path)
    g = grade(path, 1, Limits(cell_seconds=3, total_seconds=20, memory_mib=1024))
    assert "cell 9 ran longer than 3 s and did not stop when interrupted" in g.error, g.error
    # Its kernel was killed, the cells before it replayed in a fresh one and the cells after it run
    # there: every automatic item is graded (1.6 is the instructor's).
    assert _points(g) == {"1.1": 1, "1.2": 1, "1.3": 1, "1.4": 1, "1.5": 1, "1.6": 0}


def test_the_cli_writes_json_and_csv_and_exits_zero_for_a_batch(tmp_path, capsys):
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "alice.ipynb").write_text(SOL01.read_text())
    (subs / "bob.ipynb").write_text("not json")
    code = main(["grade", str(subs), "--json", str(tmp_path / "g.json"), "--csv", str(tmp_path / "g.csv"),
                 "--jobs", "2", "--seed", "9", "--quiet", "--chapter", "01"])
    assert code == 0
    report = json.loads((tmp_path / "g.json").read_text())
    assert report["grading_seed"] == 9
    alice, bob = report["submissions"]
    assert set(alice) >= {"path", "points", "max_points", "error", "items"}
    assert alice["points"] == 5 and alice["error"] is None
    assert set(alice["items"][0]) >= {"id", "points", "max_points", "passed", "feedback"}
    assert bob["points"] == 0 and bob["max_points"] == 5 and "corrupt JSON" in bob["error"]
    rows = (tmp_path / "g.csv").read_text().splitlines()
    assert rows[0] == ('"file","claimed student","1.1","1.2","1.3","1.4","1.5","1.6","total","max_points","status",'
                       '"late_penalty","files","flags","error"')
    assert len(rows) == 3


@pytest.mark.parametrize("argv, message", [
    (["grade", "/nonexistent/sub.ipynb"], "does not exist"),
    (["grade", str(SOL01), "--jobs", "0"], "--jobs"),
    (["grade", str(SOL01), "--chapter", "42"], "no chapter '42'"),
    (["grade", str(SOL01), "--timeout", "0"], "must be positive"),
    (["grade", str(SOL01), "--json", "/nonexistent/dir/g.json"], "does not exist"),
])
def test_bad_arguments_exit_non_zero_with_a_reason(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err
