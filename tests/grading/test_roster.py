"""Variants that belong to the student, and reports an instructor can rely on: `ukva student --roster`
makes a folder per student, and one real `ukva grade --roster` run (real kernels) over a class with
an honest student, a copier, a wrong STUDENT, a renamed chapter, a missing and an empty submission
(handed in after 25 guesses: only the latest file counts), unclaimed files (one named with ANSI
escapes) and a report path that is a symbolic link."""

import csv
import io
import json
import shutil
from pathlib import Path

import nbformat
import pytest

from ukva_widgets.cli import main
from ukva_widgets.grading import get_item
from ukva_widgets.grading.chapters.ch01_unix_process import U_AREA, fork_loop_processes
from ukva_widgets.grading.collect import from_plain, to_plain
from ukva_widgets.grading.grader import chapter_items
from ukva_widgets.grading.roster import student_seed

ROOT = Path(__file__).resolve().parents[2]
SOL01 = ROOT / "exercises" / "solutions" / "01-unix-process.ipynb"
NB01 = "01-unix-process.ipynb"
KEY = "a-course-key-for-the-tests"
ROSTER = "student_id,name\nada,Ada Lovelace\nbob,Bob\ncy,Cy Young\ndee,Dee\neve,=HYPERLINK(\"http://evil\")\n"
ANSI_NAME = "\x1b[2J\x1b[31mred.ipynb"


def right_answers(seed: int) -> dict[str, object]:
    """Chapter 01's right answers for a variant, from the problem's own settings."""
    s = {i: get_item(i).problem(seed).settings for i in ("1.1", "1.2", "1.3", "1.4")}
    return {"1.1": fork_loop_processes(s["1.1"]["shape"], s["1.1"]["n"]),
            "1.2": s["1.2"]["a"] * s["1.2"]["c"],
            "1.3": {"status": s["1.3"]["code"] << 8, "exitcode": s["1.3"]["code"]},
            "1.4": {i for i, o in enumerate(s["1.4"]["options"]) if U_AREA[o]}}


def answer(path: Path, answers: dict[str, str], student: str | None = None) -> None:
    """Fill in a student notebook: `answers` maps an item to the Python source of its answer."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        for item, source in answers.items():
            var = "answer_" + item.replace(".", "_")
            cell.source = cell.source.replace(f"{var} = ...  # YOUR ANSWER HERE", f"{var} = {source}")
        if student is not None and cell.source.startswith("from ukva_widgets.grading"):
            cell.source = "\n".join(f"STUDENT = {student!r}" if line.startswith("STUDENT") else line
                                    for line in cell.source.splitlines())
    nbformat.write(nb, path)


def seed_of(sid: str) -> int:
    return student_seed(KEY.encode(), sid)


def computed(sub: dict) -> dict[str, float]:
    """The points of the items this test answers (chapter 01 may have more: they are not answered)."""
    return {i["id"]: i["points"] for i in sub["items"] if i["id"] in ("1.1", "1.2", "1.3", "1.4")}


FULL = {"1.1": 1, "1.2": 1, "1.3": 1, "1.4": 1}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("roster")
    (tmp / "roster.csv").write_text(ROSTER)
    out = tmp / "class"
    assert main(["student", str(SOL01), "--roster", str(tmp / "roster.csv"), "--out", str(out), "--key", KEY]) == 0
    made = {p.relative_to(out).as_posix() for p in out.rglob("*.ipynb")}
    # The students' work: each fills in their own folder.
    answer(out / "ada" / NB01, {k: repr(v) for k, v in right_answers(seed_of("ada")).items()})
    shutil.copy(out / "ada" / NB01, out / "bob" / NB01)  # bob hands in ada's notebook, her seed included
    answer(out / "cy" / NB01, {k: repr(v) for k, v in right_answers(seed_of("cy")).items()}, student="someone.else")
    shutil.copy(out / "cy" / NB01, out / "cy" / "02-tasks-and-clone.ipynb")  # a chapter 01 notebook, renamed
    (out / "dee" / NB01).unlink()
    answer(out / "eve" / NB01, {"1.1": "None", "1.2": "'<script>alert(1)</script>'",
                                "1.3": '{"status": None, "exitcode": None}', "1.4": "set()"})
    (out / "zed").mkdir()
    shutil.copy(out / "ada" / NB01, out / "zed" / NB01)  # no roster line claims zed
    shutil.copy(out / "eve" / NB01, out / ANSI_NAME)
    # eve tried 25 guesses before handing in her notebook: each a file of its own, all older than it.
    import os

    for n in range(25):
        guess = out / "eve" / f"01-unix-process-guess{n}.ipynb"
        shutil.copy(out / "eve" / NB01, guess)
        answer(guess, {"1.1": str(n + 2), "1.2": str(n), "1.4": repr(set(range(n % 7)))})
        os.utime(guess, (1_000_000 + n, 1_000_000 + n))
    # A report path that is a symbolic link to a file the grader must not touch.
    (tmp / "precious.txt").write_text("do not overwrite\n")
    (tmp / "grades.csv").symlink_to(tmp / "precious.txt")
    (tmp / "seed").write_text("17\n")
    import os

    env = {"UKVA_COURSE_KEY": KEY, "UKVA_GRADING_SEED": "99"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        import contextlib

        stdout = io.StringIO()
        with contextlib.redirect_stdout(stdout):
            code = main(["grade", str(out), "--roster", str(tmp / "roster.csv"), "--json", str(tmp / "g.json"),
                         "--csv", str(tmp / "grades.csv"), "--feedback", str(tmp / "feedback"),
                         "--jobs", "2", "--quiet", "--cell-timeout", "10", "--timeout", "60", "--memory", "1024"])
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    report = json.loads((tmp / "g.json").read_text())
    subs = {Path(s["path"]).relative_to(out).as_posix(): s for s in report["submissions"]}
    return {"tmp": tmp, "out": out, "made": made, "code": code, "report": report, "subs": subs,
            "stdout": stdout.getvalue()}


def test_ukva_student_writes_a_folder_per_student_with_their_own_seed(graded):
    assert graded["made"] == {f"{s}/{NB01}" for s in ("ada", "bob", "cy", "dee", "eve")}
    nb = nbformat.read(graded["out"] / "cy" / "02-tasks-and-clone.ipynb", as_version=4)
    first = next(c.source for c in nb.cells if c.cell_type == "code")
    assert f"SEED = {seed_of('cy')}" in first and "seed_from(STUDENT)" not in first
    assert nb.metadata["ukva"]["student"] == "cy"
    assert len({seed_of(s) for s in ("ada", "bob", "cy", "dee", "eve")}) == 5
    assert student_seed(b"another-course-key", "ada") != seed_of("ada")  # the key makes the seed


def test_the_grading_seed_came_from_the_environment_not_the_command_line(graded):
    assert graded["code"] == 0
    assert graded["report"]["grading_seed"] == 99


def test_an_honest_student_gets_full_marks_on_their_own_variant(graded):
    ada = graded["subs"][f"ada/{NB01}"]
    assert computed(ada) == FULL and ada["student_id"] == "ada"
    assert ada["seed"] == seed_of("ada") and ada["chapter"] == "01" and ada["chapter_from"] == "the file name"
    assert all(f"seed={seed_of('ada')}" in i["feedback"] for i in ada["items"])
    assert ada["flags"] == [] and ada["shared_work"] == []  # copied from, by a copier judged on his own variant


def test_a_copied_notebook_is_flagged_and_judged_on_the_copiers_own_variant(graded):
    bob = graded["subs"][f"bob/{NB01}"]
    flags = " | ".join(bob["flags"])
    assert "STUDENT in the notebook is 'ada', not 'bob'" in flags
    assert "SEED in the notebook" in flags
    assert all(f"seed={seed_of('bob')}" in i["feedback"] for i in bob["items"])
    # Exactly what ada's answers earn on bob's variant: judged here on the same data.
    ada_answers = right_answers(seed_of("ada"))
    want = sum(get_item(i).verdict(get_item(i).problem(seed_of("bob")), from_plain(to_plain(a))).points
               for i, a in ada_answers.items())
    assert sum(computed(bob).values()) == pytest.approx(want) and want < 4


def test_a_wrong_student_and_a_renamed_chapter_are_flagged(graded):
    cy = graded["subs"][f"cy/{NB01}"]
    assert computed(cy) == FULL  # cy's own answers, on cy's own variant
    assert any("STUDENT in the notebook is 'someone.else', not 'cy'" in f for f in cy["flags"])
    renamed = graded["subs"]["cy/02-tasks-and-clone.ipynb"]
    assert renamed["chapter"] == "02" and [i["id"] for i in renamed["items"]] == chapter_items("02")
    assert any("metadata says chapter 01, the file name says 02" in f for f in renamed["flags"])


def test_files_no_roster_line_claims_are_flagged(graded):
    for name in (f"zed/{NB01}", ANSI_NAME):
        sub = graded["subs"][name]
        assert sub["student_id"] is None and any("no roster line claims this file" in f for f in sub["flags"])
    assert any(f["flag"].startswith("no roster line") for f in graded["report"]["flags"])


def test_empty_answers_score_zero_and_say_what_was_expected(graded):
    eve = graded["subs"][f"eve/{NB01}"]
    assert eve["points"] == 0 and eve["error"] is None
    feedback = {i["id"]: i["feedback"] for i in eve["items"]}
    assert "A per-process thing is missing" in feedback["1.4"] and "Scoring" not in feedback["1.4"]
    assert "status is a whole number" in feedback["1.3"]


def test_only_the_latest_file_of_a_student_and_chapter_is_graded(graded):
    """25 guess files cannot beat the guessing rule: the latest file is graded, the others never are."""
    report = graded["report"]
    eve = [s for s in report["submissions"] if s["student_id"] == "eve"]
    assert [Path(s["path"]).name for s in eve] == [NB01] and eve[0]["points"] == 0
    assert any("graded the latest of 26 files for chapter 01" in f for f in eve[0]["flags"])
    skipped = [n for n in report["not_graded"] if n["student_id"] == "eve"]
    assert len(skipped) == 25 and all("a later file" in n["why"] for n in skipped)


def test_the_csv_has_one_row_per_student_and_no_formula_cells(graded):
    tmp = graded["tmp"]
    assert (tmp / "precious.txt").read_text() == "do not overwrite\n"  # the link was not followed
    assert not (tmp / "grades.csv").is_symlink()
    rows = list(csv.DictReader(io.StringIO((tmp / "grades.csv").read_text())))
    by_id = {r["student_id"]: r for r in rows if r["student_id"]}
    assert list(by_id) == ["ada", "bob", "cy", "dee", "eve"]
    ada = graded["subs"][f"ada/{NB01}"]
    assert by_id["ada"]["1.1"] == "1" and float(by_id["ada"]["total"]) == ada["points"]
    assert by_id["ada"]["max_points"] == by_id["dee"]["max_points"]  # chapters 01 and 02, for everyone
    assert float(by_id["dee"]["max_points"]) > ada["max_points"]
    assert by_id["dee"]["total"] == "0" and "no submission" in by_id["dee"]["flags"]
    assert by_id["eve"]["name"] == "'=HYPERLINK(\"http://evil\")"
    assert by_id["dee"]["status"] == "no submission" and by_id["ada"]["status"] == "graded"
    assert len(rows) == 5 + 2  # and one row per unclaimed file
    assert (tmp / "grades.csv").read_text().startswith('"student_id","name",')  # every field quoted
    for row in rows:
        assert not any(cell[:1] in ("=", "+", "-", "@") for cell in row.values() if cell)


def test_the_terminal_shows_escapes_not_control_characters(graded):
    out = graded["stdout"]
    assert "\x1b" not in out and "\\x1b[2J\\x1b[31mred.ipynb" in out
    assert "FLAG" in out and "variants: checked against the roster" in out and "isolation:" in out


def test_each_student_gets_an_html_feedback_page_with_everything_escaped(graded):
    pages = graded["tmp"] / "feedback"
    assert {p.name for p in pages.iterdir()} >= {"ada.html", "bob.html", "cy.html", "eve.html"}
    assert not (pages / "dee.html").exists()  # nothing handed in, nothing to say
    ada = (pages / "ada.html").read_text()
    assert "Ada Lovelace (ada)" in ada and "identical answers" not in ada
    assert '1 / 1<br><span class="ok">&#10004; correct</span>' in ada and "Your answer:" in ada
    eve = (pages / "eve.html").read_text()
    assert "<script>" not in eve and "&lt;script&gt;" in eve and "A per-process thing is missing" in eve


def test_every_record_says_what_isolated_it(graded):
    assert graded["report"]["isolation"] and not graded["report"]["isolation"].startswith("none")
    for sub in graded["report"]["submissions"]:
        assert sub["isolation"] and not sub["isolation"].startswith("none")
    assert graded["stdout"].count("isolation:") == 1  # once per batch


def test_without_a_roster_variants_are_said_to_be_unchecked_and_no_sandbox_is_recorded(graded, capsys):
    out, tmp = graded["out"], graded["tmp"]
    assert main(["grade", str(out / "ada" / NB01), "--quiet", "--seed", "3", "--no-sandbox",
                 "--json", str(tmp / "nosandbox.json")]) == 0
    printed = capsys.readouterr().out
    assert "variants: unchecked" in printed and "isolation: none (--no-sandbox)" in printed
    report = json.loads((tmp / "nosandbox.json").read_text())
    assert computed(report["submissions"][0]) == FULL
    assert report["isolation"] == "none (--no-sandbox)" and "unchecked" in report["variants"]
    assert [s["isolation"] for s in report["submissions"]] == ["none (--no-sandbox)"]


@pytest.mark.parametrize("argv, message", [
    (["--roster", "{tmp}/nope.csv"], "cannot read the roster"),
    (["--roster", "{tmp}/bad.csv", "--key", KEY], "needs a header line with the columns student_id,name"),
    (["--roster", "{tmp}/roster.csv"], "needs the course key"),
    (["--seed-file", "{tmp}/badseed"], "must hold a whole number"),
])
def test_bad_roster_key_or_seed_arguments_are_refused_before_grading(graded, argv, message, capsys, monkeypatch):
    tmp = graded["tmp"]
    monkeypatch.delenv("UKVA_COURSE_KEY", raising=False)
    (tmp / "bad.csv").write_text("id;name\n1;x\n")
    (tmp / "badseed").write_text("twelve\n")
    argv = [a.format(tmp=tmp) for a in argv]
    assert main(["grade", str(graded["out"]), *argv]) == 2
    assert message in capsys.readouterr().err


def test_ukva_student_refuses_to_overwrite_a_class_folder(graded, capsys):
    tmp = graded["tmp"]
    assert main(["student", str(SOL01), "--roster", str(tmp / "roster.csv"), "--out", str(graded["out"]),
                 "--key", KEY]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (graded["out"] / "ada" / NB01).read_text().count("answer_1_1 = ...") == 0  # ada's work is intact


@pytest.mark.parametrize("name, chapter", [
    ("01-unix-process.ipynb", "01"), ("ada_02-tasks-and-clone.ipynb", "02"),
    ("06-living-with-per-mm (1).ipynb", "06"), ("homework.ipynb", None), ("2024-01.ipynb", None),
])
def test_the_chapter_comes_from_the_file_name(name, chapter):
    from ukva_widgets.grading.roster import chapter_in_name

    assert chapter_in_name(name) == chapter


def test_the_owner_is_the_students_folder_or_a_flat_file_names_prefix(tmp_path):
    from ukva_widgets.grading.roster import Student, owner_of

    students = {s: Student(s, "") for s in ("ada", "ada.l", "bob")}
    root = tmp_path
    assert owner_of(root / "ada" / NB01, root, students) == "ada"
    assert owner_of(root / "ADA" / "sub" / NB01, root, students) == "ada"
    assert owner_of(root / "zed" / NB01, root, students) is None
    assert owner_of(root / f"ada.l_{NB01}", root, students) == "ada.l"  # the longest id that fits
    assert owner_of(root / "bob.ipynb", root, students) == "bob"
    assert owner_of(root / NB01, root, students) is None
    assert owner_of(root / "bob" / NB01, root / "bob" / NB01, students) == "bob"  # one file given


@pytest.mark.parametrize("roster, extra, message", [
    ("student_id,name\nada,A\n", [], "needs a course key"),
    ("student_id,name\nada,A\nADA,B\n", ["--key", KEY], "appears twice"),
    ("student_id,name\n../x,A\n", ["--key", KEY], "not usable as a folder name"),
    ("student_id,name\n", ["--key", KEY], "lists no students"),
    ("student_id,name\nada,A\n", ["--key", "short"], "at least 8 characters"),
])
def test_ukva_student_refuses_a_bad_roster_or_key_and_writes_nothing(tmp_path, monkeypatch, capsys,
                                                                     roster, extra, message):
    monkeypatch.delenv("UKVA_COURSE_KEY", raising=False)
    (tmp_path / "roster.csv").write_text(roster)
    argv = ["student", str(SOL01), "--roster", str(tmp_path / "roster.csv"), "--out", str(tmp_path / "out"), *extra]
    assert main(argv) == 2
    assert message in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_ukva_student_needs_roster_and_out_together(capsys):
    assert main(["student", str(SOL01), "--roster", "r.csv"]) == 2
    assert "go together" in capsys.readouterr().err


def test_what_a_notebook_states_is_read_without_running_it_and_kept_small():
    from nbformat.v4 import new_code_cell, new_notebook

    from ukva_widgets.grading.grader import owner_flags, stated

    nb = new_notebook(cells=[new_code_cell("%matplotlib inline\nSTUDENT = 'x' * 10_000\nSEED = 7"),
                             new_code_cell("STUDENT = 'ada'\nSEED = " + "9" * 30),
                             new_code_cell("this is not python (")])
    said = stated(nb)
    assert said == {"STUDENT": "ada", "SEED": "<int>"}
    flags = owner_flags(("ada", 7), {**said, "seeds_shown": [7]})
    assert len(flags) == 1 and "SEED in the notebook ('<int>')" in flags[0]
