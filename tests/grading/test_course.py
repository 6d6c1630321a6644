"""A course run end to end, as README's "Grading a class" walks it, on a generated class of four: a
roster, `ukva student --roster` (with an instructor's own item in the solution notebook), the release
fetched into each student's copy of the book as the JupyterHub start-up hook does, the students' work,
`ukva collect`, `ukva grade` with a manifest (real sandboxed kernels, once), the manual sheet scored and
the batch graded again (no kernel: every result comes from the report), one student regraded with
`--only`, the grades exported for Canvas and Moodle, a Canvas download graded with `--from canvas`,
and `ukva key` for a teaching assistant."""

import contextlib
import csv
import io
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell

from ukva_widgets.cli import main
from ukva_widgets.grading import bank, get_item, items
from ukva_widgets.grading.answers.model import model_answer
from ukva_widgets.grading.roster import student_seed

ROOT = Path(__file__).resolve().parents[2]
SOL07 = ROOT / "exercises" / "solutions" / "07-what-linux-did.ipynb"
NB07 = "07-what-linux-did.ipynb"
KEY = "the-course-key-of-the-tests"
ROSTER = ("student_id,name,canvas_id,sis_user_id,section,moodle_id,email\n"
          "ada,Ada Lovelace,101,S1,A,9001,ada@uni.example\nbob,Bob Byte,102,S2,A,9002,bob@uni.example\n"
          "cy,=Cy Young,103,S3,B,9003,cy@uni.example\ndee,Dee,104,S4,B,9004,dee@uni.example\n")
# An instructor's own item, added in the solution notebook: its judge and model answer are hidden tests.
OWN_ITEM = '''from ukva_widgets.grading import new_item

item = new_item("7.4", "count the fixmap slots of kmap_local", points=1)

@item.make
def make(rng):
    cpus, slots = rng.randint(2, 8), rng.choice([16, 32])
    return {"cpus": cpus, "slots": slots}, (f"kmap_local gives each of {cpus} CPUs {slots} fixmap slots. "
                                            "How many slots are there in all? Answer with an int.")

### BEGIN HIDDEN TESTS
@item.judge
def judge(settings, answer):
    return answer == settings["cpus"] * settings["slots"]

@item.answer
def answer(settings):
    return settings["cpus"] * settings["slots"]
### END HIDDEN TESTS'''
MANUAL_TEXT = ("The data page is one physical page in every MM, so it is shared across MMs; with a virtually "
               "indexed cache its two virtual addresses could alias, which x86's physical caches never do.")
DUE = "2030-03-14T23:59:00+00:00"


def seed_of(sid: str) -> int:
    return student_seed(KEY.encode(), sid)


def right(item_id: str, sid: str):
    problem = get_item(item_id).problem(seed_of(sid))
    if item_id == "7.4":
        return problem.settings["cpus"] * problem.settings["slots"]
    return model_answer(item_id, problem.settings)


def fill(path: Path, answers: dict[str, str]) -> None:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        for item_id, source in answers.items():
            var = "answer_" + item_id.replace(".", "_")
            cell.source = cell.source.replace(f"{var} = ...  # YOUR ANSWER HERE", f"{var} = {source}")
    nbformat.write(nb, path)


def ukva(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def rows_of(path: Path) -> dict[str, dict[str, str]]:
    return {r.get("student_id") or r.get("Student") or r["Identifier"]: r
            for r in csv.DictReader(io.StringIO(path.read_text()))}


GRADE = ["--roster", "{tmp}/roster.csv", "--manifest", "{tmp}/assignment.toml", "--solutions", "{tmp}/solutions",
         "--json", "{tmp}/g.json", "--manual", "{tmp}/manual.csv", "--quiet", "--jobs", "2",
         "--cell-timeout", "20", "--timeout", "60", "--memory", "1024"]


def grade(tmp: Path, *extra: str) -> tuple[int, str, str]:
    return ukva("grade", tmp / "submitted", *[a.format(tmp=tmp) for a in GRADE], *extra)


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("course")
    before = dict(items.ITEMS)  # the instructor's item is this module's: the registry is restored after it
    old_env = {k: os.environ.get(k) for k in ("UKVA_COURSE_KEY", "UKVA_GRADING_SEED")}
    os.environ.update({"UKVA_COURSE_KEY": KEY, "UKVA_GRADING_SEED": "4242"})
    try:
        yield _run_course(tmp)
    finally:
        items.ITEMS.clear()
        items.ITEMS.update(before)
        bank.ANSWERS.pop("7.4", None)
        bank._ADDED.discard("7.4")
        for k, v in old_env.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)


def _run_course(tmp: Path) -> dict:
    (tmp / "roster.csv").write_text(ROSTER)
    (tmp / "assignment.toml").write_text(f'name = "Exercises 07"\nnotebooks = ["{NB07}"]\ndue = {DUE}\n'
                                         'late_penalty = 0.5\ncanvas_assignment_id = "777"\n')
    # The solution notebook with the instructor's item and its answer cell.
    solutions = tmp / "solutions"
    solutions.mkdir()
    nb = nbformat.read(SOL07, as_version=4)
    nb.cells += [new_code_cell(OWN_ITEM), new_code_cell('exercise("7.4", seed=SEED)'),
                 new_code_cell("### BEGIN SOLUTION\nanswer_7_4 = 64\n### END SOLUTION\ncheck(\"7.4\", answer_7_4)")]
    nbformat.write(nb, solutions / NB07)
    made = ukva("student", solutions / NB07, "--roster", tmp / "roster.csv", "--out", tmp / "release")
    bank.load_solutions([solutions / NB07])  # here too, to know the right answers to the instructor's item
    # Each student's server starts: the hub's start-up hook fetches their release into their book.
    homes = tmp / "homes"
    for sid in ("ada", "bob", "cy", "dee"):
        ukva("book", "--dir", homes / sid / "ukva-book", "--copy-only")
    generic = (homes / "bob" / "ukva-book" / "exercises" / NB07)
    generic.write_text(generic.read_text().replace("answer_7_1 = ...", "answer_7_1 = ['per-mm']"))  # bob began
    fetched = {sid: ukva("fetch", "--release", tmp / "release", "--user", sid, "--dir", homes / sid / "ukva-book")
               for sid in ("ada", "bob", "cy", "dee")}
    # The students' work, in their own copies.
    mine = {sid: homes / sid / "ukva-book" / "exercises" / NB07 for sid in ("ada", "bob", "cy")}
    mine["bob"] = mine["bob"].with_name("07-what-linux-did.released.ipynb")
    fill(mine["ada"], {**{i: repr(right(i, "ada")) for i in ("7.1", "7.2", "7.4")}, "7.3": repr(MANUAL_TEXT)})
    fill(mine["bob"], {"7.1": repr(right("7.1", "ada")), "7.2": repr(right("7.2", "ada")),
                       "7.4": repr(right("7.4", "ada")), "7.3": repr(MANUAL_TEXT)})  # ada's answers, copied
    wrong71 = ["per-mm"] * 5
    fill(mine["cy"], {"7.1": repr(wrong71), "7.2": repr(right("7.2", "cy")), "7.4": "1"})
    late = 1_900_000_000 + 10 ** 8  # after the due date (2030-03-14)
    os.utime(mine["cy"], (late, late))
    (homes / "cy" / "ukva-book" / "exercises" / "07-what-linux-did-copy.ipynb").symlink_to("/etc/passwd")
    collected = ukva("collect", "--homes", f"{homes}/{{user}}/ukva-book/exercises", "--roster", tmp / "roster.csv",
                     "--out", tmp / "submitted", "--manifest", tmp / "assignment.toml")
    first = grade(tmp, "--csv", tmp / "g.csv", "--feedback", tmp / "feedback")
    report1 = json.loads((tmp / "g.json").read_text())
    sheet1 = (tmp / "manual.csv").read_text()
    # A teaching assistant scores the manual answers; the batch is graded again.
    lines = list(csv.DictReader(io.StringIO(sheet1)))
    for line in lines:
        line["points"] = {"ada": "0.75", "bob": "0.25"}[line["student_id"]]
        line["comment"] = "say why x86 is safe" if line["student_id"] == "ada" else ""
    with (tmp / "manual.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, list(lines[0]), quoting=csv.QUOTE_ALL)
        writer.writeheader()
        writer.writerows(lines)
    second = grade(tmp, "--csv", tmp / "g.csv", "--feedback", tmp / "feedback")
    report2 = json.loads((tmp / "g.json").read_text())
    # cy asks for a regrade after fixing his notebook: only his is run again, merged into the report.
    fill_cy = tmp / "submitted" / "cy" / NB07
    nb = nbformat.read(fill_cy, as_version=4)
    for cell in nb.cells:
        cell.source = cell.source.replace("answer_7_4 = 1", f"answer_7_4 = {right('7.4', 'cy')}")
    nbformat.write(nb, fill_cy)
    os.utime(fill_cy, (late, late))
    only = grade(tmp, "--only", "cy")
    report3 = json.loads((tmp / "g.json").read_text())
    canvas = grade(tmp, "--csv", tmp / "canvas.csv", "--csv-format", "canvas")
    moodle = grade(tmp, "--csv", tmp / "moodle.csv", "--csv-format", "moodle")
    return {"tmp": tmp, "made": made, "fetched": fetched, "collected": collected, "first": first,
            "report1": report1, "sheet1": sheet1, "second": second, "report2": report2, "only": only,
            "report3": report3, "canvas": canvas, "moodle": moodle, "homes": homes}


def subs(report: dict) -> dict[str, dict]:
    return {s["student_id"]: s for s in report["submissions"]}


def items_of(sub: dict) -> dict[str, dict]:
    return {i["id"]: i for i in sub["items"]}


def test_the_release_holds_each_students_notebook_with_no_key_and_no_hidden_judge(course):
    tmp = course["tmp"]
    assert course["made"][0] == 0
    for sid in ("ada", "bob", "cy", "dee"):
        text = (tmp / "release" / sid / NB07).read_text()
        assert f"SEED = {seed_of(sid)}" in text and KEY not in text
        assert "@item.make" in text and "@item.judge" not in text and "HIDDEN TESTS" not in text


def test_fetch_gives_each_student_their_variant_and_never_overwrites_an_edited_notebook(course):
    homes = course["homes"]
    assert course["fetched"]["ada"][1].strip() == f"fetched {NB07}"
    assert f"kept your edited {NB07}; your own variant is in 07-what-linux-did.released.ipynb" in \
        course["fetched"]["bob"][1]
    assert "['per-mm']" in (homes / "bob" / "ukva-book" / "exercises" / NB07).read_text()  # bob's start kept
    assert f"SEED = {seed_of('dee')}" in (homes / "dee" / "ukva-book" / "exercises" / NB07).read_text()
    # A second start fetches nothing new.
    code, out, _ = ukva("fetch", "--release", course["tmp"] / "release", "--user", "ada", "--dir",
                        homes / "ada" / "ukva-book")
    assert code == 0 and out.strip() == "your released notebooks are up to date"


def test_the_hub_start_up_hook_fetches_the_release_before_the_server_starts(course, tmp_path):
    """deploy/jupyterhub's config, loaded as JupyterHub loads it, and its start command run as a
    student's server runs it (the single-user server itself replaced by `true`)."""
    from traitlets.config import Config

    config = ROOT / "deploy" / "jupyterhub" / "jupyterhub_config.py"
    c = Config()
    env = {"UKVA_HUB_RELEASE": str(course["tmp"] / "release"), "UKVA_COURSE_KEY": KEY}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        exec(compile(config.read_text(), str(config), "exec"), {"get_config": lambda: c})
    finally:
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    assert c.Spawner.env_keep == ["JUPYTERHUB_SINGLEUSER_APP"]  # nothing of the instructor's passes
    script = c.Spawner.cmd[2]
    singleuser = shlex.quote(str(Path(sys.executable).parent / "jupyterhub-singleuser"))
    assert f"exec {singleuser}" in script
    home = tmp_path / "home"
    home.mkdir()
    done = subprocess.run(["sh", "-c", script.replace(f"exec {singleuser}", "exec true"), "ukva-singleuser"],
                          env={"HOME": str(home), "JUPYTERHUB_USER": "cy", "PATH": os.environ["PATH"]},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    text = (home / "ukva-book" / "exercises" / NB07).read_text()
    assert f"SEED = {seed_of('cy')}" in text and (home / "ukva-book" / "notebooks" / "00-start.ipynb").is_file()


def test_collect_takes_each_students_notebooks_keeps_their_times_and_follows_no_link(course):
    tmp = course["tmp"]
    code, out, _ = course["collected"]
    assert code == 0 and "collected 5 new notebook(s)" in out and "nothing from" not in out
    assert "cy: skipped 07-what-linux-did-copy.ipynb (a link" in out
    assert sorted(p.name for p in (tmp / "submitted" / "bob").iterdir()) == [NB07, "07-what-linux-did.released.ipynb"]
    assert [p.name for p in (tmp / "submitted" / "cy").iterdir()] == [NB07]  # the manifest's notebook only
    home = course["homes"] / "ada" / "ukva-book" / "exercises" / NB07
    assert (tmp / "submitted" / "ada" / NB07).stat().st_mtime == home.stat().st_mtime
    assert oct((tmp / "submitted").stat().st_mode & 0o777) == "0o700"


def test_grading_uses_the_hidden_judge_the_latest_file_and_flags_what_an_instructor_must_see(course):
    code, out, err = course["first"]
    assert code == 0, err
    by = subs(course["report1"])
    assert set(by) == {"ada", "bob", "cy", "dee"}
    ada = items_of(by["ada"])
    assert ada["7.4"]["points"] == 1 and ada["7.4"]["status"] == "correct"  # judged by the hidden judge
    assert Path(by["bob"]["path"]).name == "07-what-linux-did.released.ipynb"  # the latest of his two
    assert any("graded the latest of 2 files" in f for f in by["bob"]["flags"])
    assert by["cy"]["late_penalty"] == 0.5 and any(f.startswith("late") for f in by["cy"]["flags"])
    dee = next(r for r in course["report1"]["students"] if r["student_id"] == "dee")
    assert dee["points"] == 0 and dee["status"] == "graded" and by["dee"]["error"] is None
    # bob's copy: his own variant judged, ada's answers shared, the same text, flagged for the instructor.
    shared = course["report1"]["shared_work"]
    assert [sorted(s["students"]) for s in shared] == [["ada", "bob"]] and "7.3" in shared[0]["items"]
    assert "shares wrong answers, failures or texts with" in out


def test_manual_answers_await_grading_then_their_scores_feed_every_report(course):
    tmp = course["tmp"]
    ada1 = items_of(subs(course["report1"])["ada"])["7.3"]
    assert ada1["points"] is None and ada1["passed"] is None and ada1["status"] == "awaiting grading"
    assert ada1["answer"] == MANUAL_TEXT
    sheet = list(csv.DictReader(io.StringIO(course["sheet1"])))
    assert {(r["student_id"], r["item"]) for r in sheet} == {("ada", "7.3"), ("bob", "7.3")}  # cy wrote none
    assert all(r["answer"] == MANUAL_TEXT and r["prompt"].startswith("Exercise 7.3") for r in sheet)
    code, out, err = course["second"]
    assert code == 0, err
    assert out.count("(from the previous report)") == 4 and "awaiting grading" not in out  # no kernel ran
    by = subs(course["report2"])
    ada2 = items_of(by["ada"])["7.3"]
    assert ada2["points"] == 0.75 and ada2["status"] == "graded by hand" and ada2["comment"] == "say why x86 is safe"
    ada_row = next(r for r in course["report2"]["students"] if r["student_id"] == "ada")
    assert ada_row["points"] == 3.75 and ada_row["max_points"] == 4 and ada_row["status"] == "graded"
    assert rows_of(tmp / "g.csv")["ada"]["7.3"] == "0.75" and rows_of(tmp / "g.csv")["ada"]["total"] == "3.75"
    page = (tmp / "feedback" / "ada.html").read_text()
    assert "0.75 / 1" in page and "say why x86 is safe" in page and "3.75 / 4" in page
    assert "Exercise 7.4: count the fixmap slots" in page  # the problem she was given, then her answer
    assert "shares" not in page  # flags stay with the instructor


def test_regrading_one_student_merges_into_the_report_and_runs_only_their_notebook(course):
    code, out, err = course["only"]
    assert code == 0, err
    before, after = subs(course["report2"]), subs(course["report3"])
    assert items_of(after["cy"])["7.4"]["points"] == 1 and items_of(before["cy"])["7.4"]["points"] == 0
    assert not after["cy"]["reused"]
    for sid in ("ada", "bob", "dee"):
        assert after[sid]["items"] == before[sid]["items"] and after[sid]["path"] == before[sid]["path"]
    assert items_of(after["ada"])["7.3"]["points"] == 0.75  # the manual score still applies


def test_the_lms_exports_hold_one_numeric_column_with_the_totals(course):
    tmp = course["tmp"]
    assert course["canvas"][0] == 0 and course["moodle"][0] == 0
    totals = {r["student_id"]: r["points"] for r in json.loads((tmp / "g.json").read_text())["students"]}
    lines = (tmp / "canvas.csv").read_text().splitlines()
    assert lines[0] == '"Student","ID","SIS User ID","SIS Login ID","Section","Exercises 07 (777)"'
    assert lines[1] == '"Points Possible","","","","","4"'
    canvas = {r["ID"]: r for r in csv.DictReader(io.StringIO((tmp / "canvas.csv").read_text()))
              if r["Student"] != "Points Possible"}
    assert {i: float(r["Exercises 07 (777)"]) for i, r in canvas.items()} == \
        {"101": totals["ada"], "102": totals["bob"], "103": totals["cy"], "104": totals["dee"]}
    assert canvas["103"]["Student"] == "'=Cy Young"  # a name is never a formula
    moodle = list(csv.DictReader(io.StringIO((tmp / "moodle.csv").read_text())))
    assert [r["Identifier"] for r in moodle] == ["Participant 9001", "Participant 9002", "Participant 9003",
                                                 "Participant 9004"]
    assert [float(r["Grade"]) for r in moodle] == [totals[s] for s in ("ada", "bob", "cy", "dee")]
    assert {r["Maximum Grade"] for r in moodle} == {"4"}


def test_a_canvas_download_is_mapped_to_students_by_canvas_id_keeping_late_flags(course, tmp_path):
    tmp = course["tmp"]
    download = tmp_path / "download"
    download.mkdir()
    sub = tmp / "submitted"
    shutil.copy(sub / "ada" / NB07, download / f"lovelaceada_101_5001_{NB07}")
    shutil.copy(sub / "bob" / NB07, download / f"bytebob_102_4000_{NB07}")  # an earlier attempt
    shutil.copy(sub / "bob" / "07-what-linux-did.released.ipynb",
                download / "bytebob_LATE_102_5002_07-what-linux-did-1.ipynb")
    shutil.copy(tmp / "g.json", tmp_path / "g.json")  # the graded results are reused: no kernel runs
    code, out, err = ukva("grade", download, "--from", "canvas", "--roster", tmp / "roster.csv", "--manifest",
                          tmp / "assignment.toml", "--solutions", tmp / "solutions", "--json", tmp_path / "g.json",
                          "--quiet", "--cell-timeout", "20", "--timeout", "60", "--memory", "1024", "--jobs", "2")
    assert code == 0, err
    by = subs(json.loads((tmp_path / "g.json").read_text()))
    assert by["ada"]["reused"] and by["ada"]["late_penalty"] == 0
    assert Path(by["bob"]["path"]).name == "bytebob_LATE_102_5002_07-what-linux-did-1.ipynb"
    assert by["bob"]["late_penalty"] == 0.5 and any("canvas user 102, late" in f for f in by["bob"]["flags"])
    assert "no submission from 2 student(s): cy, dee" in out


def test_ukva_key_prints_a_students_problems_with_the_model_answers_and_rubrics(course):
    tmp = course["tmp"]
    code, out, err = ukva("key", "cy", "--roster", tmp / "roster.csv", "--chapter", "07", "--solutions",
                          tmp / "solutions")
    assert code == 0, err
    assert out.startswith(f"Answer key for cy (=Cy Young): variant seed {seed_of('cy')}")
    assert f"Model answer: {right('7.4', 'cy')}" in out  # the instructor's item's own model answer
    assert f"Model answer: {json.dumps(right('7.1', 'cy'))}" in out
    assert "Rubric: (manually graded" in out and "Exercise 7.3:" in out
