"""Which file of whose is graded, planned before any kernel starts: the manifest, LMS file names, one
file per student and chapter, lateness; and bad manifests, rosters and manual sheets refused in one
line with nothing graded."""

import os
from pathlib import Path

import pytest

from ukva_widgets.cli import main
from ukva_widgets.grading.assignment import ManifestError, plan, read_manifest
from ukva_widgets.grading.lms import parse
from ukva_widgets.grading.roster import read_roster

KEY = b"a-course-key-for-the-tests"
ROSTER = "student_id,name,canvas_id,moodle_id\nada,Ada,101,9001\nbob,Bob,102,9002\n"


@pytest.mark.parametrize("system, name, user, late, order, original", [
    ("canvas", "lovelaceada_101_5001_07-what-linux-did.ipynb", "101", False, 5001, "07-what-linux-did.ipynb"),
    ("canvas", "bob_LATE_102_5002_07-x-1.ipynb", "102", True, 5002, "07-x-1.ipynb"),
    ("canvas", "bob_late_102_5003_a_b.ipynb", "102", True, 5003, "a_b.ipynb"),
    ("moodle", "Ada Lovelace_9001_assignsubmission_file_07-x.ipynb", "9001", None, 0, "07-x.ipynb"),
    ("moodle", "Ada Lovelace_9001_assignsubmission_file_/07-x.ipynb", "9001", None, 0, "07-x.ipynb"),
])
def test_lms_file_names_say_whose_file_it_is(system, name, user, late, order, original):
    said = parse(system, Path(name))
    assert (said.user, said.late, said.order, said.original) == (user, late, order, original)


def test_a_file_name_no_lms_made_is_not_taken_for_one():
    assert parse("canvas", Path("07-what-linux-did.ipynb")) is None
    assert parse("moodle", Path("ada/07-what-linux-did.ipynb")) is None


def _touch(path: Path, mtime: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{}")
    os.utime(path, (mtime, mtime))
    return path


def test_the_plan_grades_the_latest_file_per_student_and_chapter_flags_late_and_missing(tmp_path):
    (tmp_path / "roster.csv").write_text(ROSTER)
    (tmp_path / "a.toml").write_text('notebooks = ["01-unix-process.ipynb", "02-tasks-and-clone.ipynb"]\n'
                                     "due = 2020-01-01T00:00:00Z\nlate_penalty = 0.1\n")
    root = tmp_path / "subs"
    files = [_touch(root / "ada" / f"01-unix-process-try{n}.ipynb", 1_500_000_000 + n) for n in range(25)]
    files.append(_touch(root / "ada" / "02-tasks-and-clone.ipynb", 1_600_000_000))  # after the due date
    files.append(_touch(root / "ada" / "notes.ipynb", 1_500_000_000))               # no chapter: not asked for
    files.append(_touch(root / "bob" / "01-unix-process.ipynb", 1_500_000_000))
    p = plan(sorted(files), root, read_roster(tmp_path / "roster.csv"), KEY,
             manifest=read_manifest(tmp_path / "a.toml"))
    graded = {t.path.name: t for t in p.tasks}
    assert set(graded) == {"01-unix-process-try24.ipynb", "02-tasks-and-clone.ipynb", "01-unix-process.ipynb"}
    assert len(p.superseded) == 24 and [h.path.name for h in p.outside] == ["notes.ipynb"]
    assert "graded the latest of 25 files for chapter 01" in graded["01-unix-process-try24.ipynb"].flags[0]
    assert p.handed[str(root / "ada" / "02-tasks-and-clone.ipynb")].late
    assert not p.handed[str(root / "ada" / "01-unix-process-try24.ipynb")].late
    assert p.missing == {"bob": ["02-tasks-and-clone.ipynb"]}


def test_a_canvas_download_is_planned_by_canvas_id_and_submission_order(tmp_path):
    (tmp_path / "roster.csv").write_text(ROSTER)
    root = tmp_path / "download"
    files = [_touch(root / "bob_102_9_01-unix-process.ipynb", 2_000_000_000),       # older, touched later
             _touch(root / "bob_LATE_102_10_01-unix-process-1.ipynb", 1_000_000_000),
             _touch(root / "zed_999_11_01-unix-process.ipynb", 1_000_000_000)]     # no such canvas id
    p = plan(files, root, read_roster(tmp_path / "roster.csv"), KEY, lms="canvas", roster="roster.csv")
    by_name = {t.path.name: t for t in p.tasks}
    assert set(by_name) == {"bob_LATE_102_10_01-unix-process-1.ipynb", "zed_999_11_01-unix-process.ipynb"}
    assert by_name["bob_LATE_102_10_01-unix-process-1.ipynb"].owner[0] == "bob"
    assert p.handed[str(root / "bob_LATE_102_10_01-unix-process-1.ipynb")].late
    assert by_name["zed_999_11_01-unix-process.ipynb"].owner is None
    assert "canvas user 999: no roster line has that canvas id" in by_name["zed_999_11_01-unix-process.ipynb"].flags[0]


@pytest.mark.parametrize("text, message", [
    ('notebooks = "01-unix-process.ipynb"', "needs notebooks = ["),
    ('notebooks = ["homework.ipynb"]', "names no chapter"),
    ('notebooks = ["01-unix-process.ipynb"]\nlate_penalty = 2', "late_penalty is a share"),
    ('notebooks = ["01-unix-process.ipynb"]\ndue = "friday"', "due must be a TOML date-time"),
    ('notebooks = ["01-unix-process.ipynb"]\ndeadline = 2020-01-01', "unknown key(s) deadline"),
    ("notebooks = [", "not valid TOML"),
])
def test_a_bad_manifest_is_refused_with_what_to_write(tmp_path, text, message):
    (tmp_path / "a.toml").write_text(text)
    with pytest.raises(ManifestError) as raised:
        read_manifest(tmp_path / "a.toml")
    assert message in str(raised.value)


SOL01 = Path(__file__).resolve().parents[2] / "exercises" / "solutions" / "01-unix-process.ipynb"


@pytest.mark.parametrize("files, argv, message", [
    ({"m.csv": "student_id,file,item,points,answer_id\nada,x,1.6,3,abc\n"}, ["--manual", "{tmp}/m.csv"],
     "m.csv, line 2: points '3' is not a number from 0 to 1"),
    ({"m.csv": "student_id,item\nada,1.6\n"}, ["--manual", "{tmp}/m.csv"], "lacks the column(s) file, points"),
    ({"m.csv": "student_id,file,item,points,answer_id\nada,x,1.1,1,abc\n"}, ["--manual", "{tmp}/m.csv"],
     "there is no manually graded item '1.1'"),
    ({"r.csv": "student_id,name\nada,Ada\n"}, ["--roster", "{tmp}/r.csv", "--from", "canvas"],
     "canvas needs a canvas_id column in the roster"),
    ({"r.csv": "student_id,name,canvas_id\nada,Ada,1\nbob,Bob,1\n"},
     ["--roster", "{tmp}/r.csv", "--csv-format", "canvas"], "gives two students the canvas_id 1"),
    ({}, ["--csv-format", "moodle"], "--csv-format moodle writes a row per roster student: give --roster"),
    ({}, ["--only", "ada"], "--only merges into the existing report: give it with --json"),
    ({}, ["--only", "ada", "--json", "{tmp}/none.json"], "none.json does not exist"),
    ({"a.toml": "notebooks = []"}, ["--manifest", "{tmp}/a.toml"], "needs notebooks"),
])
def test_bad_course_arguments_are_refused_in_one_line_before_anything_is_graded(tmp_path, capsys, monkeypatch,
                                                                                   files, argv, message):
    monkeypatch.setenv("UKVA_COURSE_KEY", KEY.decode())
    monkeypatch.setenv("UKVA_BWRAP", str(tmp_path / "no-bwrap"))  # had it got as far as a kernel, it would say so
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    assert main(["grade", str(SOL01), "--quiet", *[a.format(tmp=tmp_path) for a in argv]]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "sandbox" not in err, err
