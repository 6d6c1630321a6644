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
        assert check(item.id, UNANSWERED).verdict.answered is False
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
    assert fb.verdict.raw_points == pytest.approx(0.8) and fb.verdict.points == 0.41  # over 2.1's baseline
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
    assert fb.verdict.raw_points == pytest.approx(0.75) and "too high" in fb.text()


def test_feedback_renders_as_text_and_as_html_with_a_symbol_not_only_colour():
    exercise("1.1", seed=1)
    fb = check("1.1", 1)
    assert repr(fb) == fb.text()
    assert "&#10008;" in fb._repr_html_() and "not yet" in fb._repr_html_()


def test_every_item_has_points_and_a_known_kind():
    for item in all_items():
        assert item.max_points > 0 and item.kind in ("data", "code", "manual")
        assert get_item(item.id) is item
        assert (item.kind == "manual") == item.manual


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


# -- items the engine cannot answer ---------------------------------------

def test_every_chapter_has_an_item_that_needs_reasoning_the_engine_cannot_do():
    from ukva_widgets.grading.chapters.reasons import QUESTIONS

    chapters = {}
    for item in all_items():
        chapters.setdefault(item.id.split(".")[0], []).append(item)
    assert sorted(chapters, key=int) == [str(n) for n in range(1, 8)]
    for chapter, items in chapters.items():
        thinking = [i.id for i in items if i.kind == "manual" or i.id in QUESTIONS]
        assert thinking, f"chapter {chapter} has only items the engine answers"


def test_every_wrong_reason_gets_its_own_rebuttal_and_never_the_right_reason():
    from ukva_widgets.grading.answers.model import right_reason as right_answer
    from ukva_widgets.grading.chapters.reasons import QUESTIONS

    for item_id, questions in QUESTIONS.items():
        seen = set()
        for seed in range(60):
            problem = exercise(item_id, seed=seed)
            question = questions[problem.settings["question"]]
            seen.add(problem.settings["question"])
            right = right_answer(item_id, problem.settings)
            assert check(item_id, right).verdict.passed
            rebuttals = dict(question.misconceptions)
            for n, reason in enumerate(problem.settings["reasons"]):
                if reason == question.reason:
                    continue
                fb = check(item_id, {**right, "why": n})
                assert fb.verdict.points == 0.5 and rebuttals[reason] in fb.text()
                assert question.reason not in fb.text()
            wrong = next(o for o in question.outcomes if o != question.outcome)
            assert check(item_id, {**right, "predict": wrong}).verdict.points == 0.5
        assert seen == set(range(len(questions))), f"{item_id}: some question is never asked"


def test_a_manual_answer_is_recorded_for_the_instructor_never_scored():
    item = get_item("7.3")
    assert item.kind == "manual"
    exercise("7.3", seed=4)
    fb = check("7.3", "The vvar page is shared by every MM, which only matters with virtually indexed caches.")
    assert fb.verdict.manual and fb.verdict.points == 0 and not fb.verdict.passed
    assert fb.text().startswith("[7.3] awaiting grading: your answer (15 words) is recorded in full")
    assert "rubric" not in fb.text()  # the student's own answer is never called the rubric
    assert "&#9675;" in fb._repr_html_()  # grey circle: nothing was judged
    short = check("7.3", "shared page")
    assert not short.verdict.manual and "too short" in short.text()
    assert "is a text" in check("7.3", 42).text()


def test_each_variant_of_a_manual_item_has_its_own_title():
    texts = {exercise("7.3", seed=s).text.splitlines()[1] for s in range(40)}
    assert texts == {"The vDSO's data page, one page in every MM.",
                     "kmap_local's per-CPU slots under hardware TLB fill."}
    for s in range(40):
        text = exercise("7.3", seed=s).text
        assert ("kmap" in text.splitlines()[1]) == ("kmap slots" in text), text  # the title fits its question


def test_the_grade_report_shows_a_manual_item_awaiting_grading_with_the_whole_answer():
    import csv
    import io
    import json

    from ukva_widgets.grading.grader import SubmissionGrade, judge_record
    from ukva_widgets.grading.report import Report

    text = ("Each CPU's kmap slots sit at addresses of their own, so one shared table maps them all. " * 12).strip()
    grade = judge_record(get_item("7.3"), {"kernel": {"item": "7.3", "seed": 3, "answer": text}}, None)
    assert grade.manual and grade.points == 0 and grade.answer == text
    report = Report([SubmissionGrade("a.ipynb", 0.0, 0.0, None, [grade])], grading_seed=1)
    rows = list(csv.DictReader(io.StringIO(report.to_csv())))
    assert rows[0]["7.3"] == "awaiting grading" and rows[0]["max_points"] == "1"
    assert rows[0]["status"] == "awaiting grading" and rows[0]["total"] == "0"
    item = json.loads(report.to_json())["submissions"][0]["items"][0]
    assert item["points"] is None and item["passed"] is None and item["status"] == "awaiting grading"
    assert item["answer"] == text  # kept whole, not cut at 600 characters
    page = next(iter(report.feedback_pages().values()))
    assert '&ndash; / 1<br><span class="wait">&#9675; awaiting grading</span>' in page
    assert "&#10008;" not in page and "0 / 1<br>" not in page  # never "0 / 1 ✘"


def test_every_manual_item_has_its_rubric_in_the_solutions_and_nowhere_in_the_package():
    from pathlib import Path

    from ukva_widgets.grading.bank import rubrics

    root = Path(__file__).resolve().parents[2]
    found = rubrics(sorted((root / "exercises" / "solutions").glob("*.ipynb")))
    package = "".join(p.read_text() for p in (root / "ukva_widgets").rglob("*.py")) + \
        (root / "ukva_widgets" / "grading" / "sealed.json").read_text()
    for item in all_items():
        if item.kind != "manual":
            continue
        rubric = found[item.id]
        chapter = f"{int(item.id.split('.')[0]):02d}-"
        student = next((root / "exercises").glob(chapter + "*.ipynb")).read_text()
        first = rubric[:60]
        assert first not in student and first not in package, item.id


def _auto_solver(item, settings):
    """What a student gets without reasoning: every answer the engine, the kernel or a chapter prints,
    as if all were printed (the engine's truths of test_variants, and every table the chapters show),
    the prediction of a predict-then-explain item, and the first reason offered; no text for a
    manually graded item."""
    from ukva_widgets.grading.answers.model import MODEL_ANSWERS, right_reason
    from ukva_widgets.grading.chapters.reasons import QUESTIONS

    if item.kind == "manual":
        return UNANSWERED
    if item.id in QUESTIONS:
        return {**right_reason(item.id, settings), "why": 0}
    return MODEL_ANSWERS[item.id](settings)


def test_an_auto_solver_that_runs_the_engine_no_longer_gets_full_marks():
    seeds = range(0, 3000, 101)
    by_chapter: dict[str, list[float]] = {}
    for seed in seeds:
        total = 0.0
        for item in all_items():
            if item.kind == "code":  # code items: count them as solved, to be generous to the solver
                points = item.max_points
            else:
                problem = item.problem(seed)
                points = item.verdict(problem, _auto_solver(item, problem.settings)).points
            chapter = item.id.split(".")[0]
            by_chapter.setdefault(chapter, [0.0] * len(seeds))[seeds.index(seed)] += points
            total += points
        assert total < sum(i.max_points for i in all_items()), f"seed {seed}: the auto-solver got full marks"
    for chapter, scores in by_chapter.items():
        most = sum(i.max_points for i in all_items() if i.id.split(".")[0] == chapter)
        mean = sum(scores) / len(scores)
        assert mean <= most - 0.25, f"chapter {chapter}: the auto-solver averages {mean:.2f} of {most}"


# -- feedback that points the right way -------------------------------------

def test_refcount_feedback_names_only_operations_the_script_contains():
    from ukva_widgets.grading.chapters.ch03_lifetimes import HELD, replay

    for seed in range(80):
        problem = exercise("3.1", seed=seed)
        ops = {step[0] for step in problem.settings["script"]}
        _, tasks, _ = replay(problem.settings["script"])
        truth = {key: getattr(tasks["P"], f).refcount for key, f in HELD.items()}
        for key in HELD:
            text = check("3.1", {**truth, key: truth[key] + 1}).text()
            assert f"{key}: too high" in text
            for op, said in (("execve", "execve()"), ("wait", "wait()")):
                if op not in ops:
                    assert said not in text, f"seed {seed}, {key}: mentions {said} with no {op} in the script"


def test_hardware_or_software_fill_feedback_cites_nothing_from_a_later_chapter():
    p = exercise("4.3", seed=2)
    wrong = {a: "software" for a in p.settings["archs"]}
    text = check("4.3", wrong).text()
    assert not check("4.3", wrong).verdict.passed
    assert "Molnar" not in text and "Ingo" not in text and "page tables itself" in text


class _DoubleFreeBlind:
    """The old reference solution: a free list that takes back any slot, even one already free."""

    def __init__(self, nslots):
        self.free_slots = list(range(nslots))

    def alloc(self, obj):
        return self.free_slots.pop(0) if self.free_slots else None

    def free(self, slot):
        self.free_slots.append(slot)


class _IgnoresDoubleFree:
    def __init__(self, nslots):
        self.nslots, self.used = nslots, set()

    def alloc(self, obj):
        slot = next((s for s in range(self.nslots) if s not in self.used), None)
        if slot is not None:
            self.used.add(slot)
        return slot

    def free(self, slot):
        self.used.discard(slot)


class _SpinsWhenFull(_IgnoresDoubleFree):
    def alloc(self, obj):
        slot = 0
        while slot in self.used:
            slot = (slot + 1) % self.nslots
        self.used.add(slot)
        return slot


def test_an_allocator_that_hands_out_a_slot_twice_after_a_double_free_fails():
    from ukva_widgets.grading.collect import observe_code

    item = get_item("6.2")
    for grading_seed in range(5):
        inputs = item.hidden_inputs(grading_seed)
        verdict = item.verdict(item.problem(0), observe_code(item, _DoubleFreeBlind, inputs), inputs)
        assert verdict.points == 0 and "after a double free" in verdict.feedback
        good = item.verdict(item.problem(0), observe_code(item, _IgnoresDoubleFree, inputs), inputs)
        assert good.passed, good.feedback


def test_an_allocator_that_loops_forever_is_stopped_and_told_it_timed_out(monkeypatch):
    from ukva_widgets.grading.chapters import ch06_living_with_per_mm as ch06

    monkeypatch.setattr(ch06, "SECONDS", 1)
    exercise("6.2", seed=0)
    fb = check("6.2", _SpinsWhenFull)
    assert fb.verdict.points == 0 and "timed out" in fb.text() and "loop forever" in fb.text()
    assert "defines no variable" not in fb.text()


def test_the_6_2_answer_is_defined_before_its_check_runs_in_the_notebooks():
    """A check that runs out of time must not leave answer_6_2 undefined for the grader."""
    from pathlib import Path

    import nbformat

    root = Path(__file__).resolve().parents[2] / "exercises"
    for path in (root / "06-living-with-per-mm.ipynb", root / "solutions" / "06-living-with-per-mm.ipynb"):
        cells = [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
        defining = next(i for i, c in enumerate(cells) if "answer_6_2 = " in c)
        checking = next(i for i, c in enumerate(cells) if 'check("6.2"' in c)
        assert checking > defining and 'check("6.2"' not in cells[defining]


def test_the_grader_reports_a_looping_6_2_allocator_as_timed_out_not_as_missing(tmp_path):
    """The issue's case: a 6.2 whose check ran out of time was reported as 'the notebook defines no
    variable answer_6_2'. Graded for real (in a kernel, default limits), it now says it timed out."""
    import inspect
    from pathlib import Path

    import nbformat

    from ukva_widgets.grading.grader import grade

    root = Path(__file__).resolve().parents[2] / "exercises"
    nb = nbformat.read(root / "06-living-with-per-mm.ipynb", as_version=4)
    spinning = inspect.getsource(_IgnoresDoubleFree) + inspect.getsource(_SpinsWhenFull)
    for cell in nb.cells:
        if "class SlotAllocator" in cell.source:
            cell.source = f"{spinning}\nanswer_6_2 = _SpinsWhenFull"
    path = tmp_path / "06-living-with-per-mm.ipynb"
    nbformat.write(nb, path)
    g = grade(path, grading_seed=3)
    feedback = {i.id: i.feedback for i in g.items}["6.2"]
    assert "timed out" in feedback and "loop forever" in feedback
    assert "defines no variable" not in feedback


def test_threads_that_ask_for_the_items_at_once_all_get_every_item():
    """The grader's worker threads may be the first to ask (a fresh process): none gets half a registry."""
    import subprocess
    import sys

    code = ("import threading\nfrom ukva_widgets.grading.items import all_items\nout = []\n"
            "ts = [threading.Thread(target=lambda: out.append(len(all_items()))) for _ in range(8)]\n"
            "[t.start() for t in ts]\n[t.join() for t in ts]\nprint(sorted(set(out)))\n")
    for _ in range(3):
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
        assert done.stdout.strip() == f"[{len(all_items())}]"


# -- 6.6: a files table shared across MMs -------------------------------------------------------

def test_a_files_table_shared_across_mms_is_read_half_updated_and_one_mms_table_never_is():
    """6.6's predictions are the model checker's: a table with a slot in several MMs is read half
    updated (an update reaches one MM per step) even on a physically indexed cache; one MM's table
    is proven."""
    from ukva_widgets.engine import explore
    from ukva_widgets.grading.chapters.ch06_living_with_per_mm import SHARED_TABLES, shared_table_machine
    from ukva_widgets.grading.chapters.reasons import QUESTIONS

    questions = QUESTIONS["6.6"]
    assert len(questions) == len(SHARED_TABLES)
    for case, question in enumerate(questions):
        r = explore(shared_table_machine(case))
        if question.outcome == "yes":
            assert r.violation is not None and r.violation.kind == "half-updated", case
        else:
            assert question.outcome == "no" and r.verdict == "proven", case


def test_the_shared_table_problem_shows_code_that_builds_the_machine_it_asks_about():
    from ukva_widgets.engine import Kernel, Machine, explore
    from ukva_widgets.grading.chapters.ch06_living_with_per_mm import (
        SHARED_TABLES,
        shared_table_machine,
        shared_table_setup,
    )

    for case in range(len(SHARED_TABLES)):
        shown: dict = {"Kernel": Kernel, "Machine": Machine}
        exec(shared_table_setup(case), shown)
        assert explore(shown["m"]).verdict == explore(shared_table_machine(case)).verdict
    from ukva_widgets.grading.chapters.reasons import QUESTIONS

    for case, question in enumerate(QUESTIONS["6.6"]):
        assert shared_table_setup(case) in question.scenario


def test_a_physically_indexed_cache_is_not_accepted_as_the_reason_a_shared_table_is_safe():
    from ukva_widgets.grading.chapters.reasons import QUESTIONS

    for seed in range(40):
        problem = exercise("6.6", seed=seed)
        question = QUESTIONS["6.6"][problem.settings["question"]]
        cache = next(n for n, r in enumerate(problem.settings["reasons"]) if "physically indexed" in r)
        fb = check("6.6", {"predict": question.outcome, "why": cache})
        assert fb.verdict.points == 0.5 and not fb.verdict.passed
