"""Reports an instructor can rely on: atomic writes that never follow a symbolic link, CSV cells a
spreadsheet never runs (every field quoted, no formula after any separator), control characters and
lone surrogates escaped wherever they are shown, reports written before anything is printed (a closed
pipe loses nothing), and Ctrl-C that stops the batch, kills every kernel and writes a partial report
beside the complete one, which a rerun then finishes from (a real `ukva grade` process, real kernels)."""

import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell

from ukva_widgets.grading.grader import ItemGrade, SubmissionGrade
from ukva_widgets.grading.output import clean, csv_cell, printable, write_atomic
from ukva_widgets.grading.report import Report

ROOT = Path(__file__).resolve().parents[2]
SOL01 = ROOT / "exercises" / "solutions" / "01-unix-process.ipynb"


def test_an_atomic_write_replaces_a_symbolic_link_and_never_writes_through_it(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    link = tmp_path / "grades.json"
    link.symlink_to(victim)
    note = write_atomic(link, "{}\n")
    assert victim.read_text() == "precious\n"
    assert not link.is_symlink() and link.read_text() == "{}\n"
    assert "symbolic link" in note
    assert oct(link.stat().st_mode & 0o777) == "0o600"
    assert [p.name for p in tmp_path.iterdir()] != [] and not list(tmp_path.glob(".*.tmp"))  # no temp left


def test_an_atomic_write_that_fails_leaves_the_old_report_and_no_temp_file(tmp_path):
    target = tmp_path / "g.csv"
    target.write_text("old\n")
    with pytest.raises(AttributeError):
        write_atomic(target, None)  # fails while writing
    assert target.read_text() == "old\n" and not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize("value, cell", [
    ("=1+1", "'=1+1"), ("+cmd", "'+cmd"), ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\tx", "'\tx"), ("ada", "ada"), ("4", "4"), ("", ""), ("Jean-Luc", "Jean-Luc"),
    # after any separator a spreadsheet may split a cell at, not only at the start
    ("a;=cmd|' /C calc'!A0", "a;'=cmd|' /C calc'!A0"), ("x, +1", "x, '+1"), ("a\t=b", "a\t'=b"),
    ("a\n@SUM(A1)", "a\n'@SUM(A1)"), ("a|-2", "a|'-2"), ("files: =x", "files: =x"),
])
def test_csv_cells_never_start_a_formula_anywhere_a_spreadsheet_may_split_them(value, cell):
    assert csv_cell(value) == cell


def test_every_csv_field_is_quoted():
    g = SubmissionGrade("subs/a.ipynb", 1.0, 1.0, None, [ItemGrade("1.1", 1.0, 1.0, True, "correct")])
    for line in Report([g], 1).to_csv().splitlines():
        fields = next(csv.reader([line], quoting=csv.QUOTE_ALL))
        assert line == ",".join('"' + f.replace('"', '""') + '"' for f in fields)


def test_student_controlled_text_is_neutralised_in_the_csv_and_escaped_on_the_terminal():
    evil = SubmissionGrade("subs/\x1b]0;owned\x07=x.ipynb", 1.0, 2.0, "cell 1 raised Boom: \x1b[2J",
                           [ItemGrade("1.1", 1.0, 1.0, True, "correct"), ItemGrade("1.2", 0.0, 1.0, False, "no")],
                           notebook={"STUDENT": "=cmd|' /C calc'!A0"})
    report = Report([evil], 1)
    rows = list(csv.reader(io.StringIO(report.to_csv())))
    assert rows[0][:2] == ["file", "claimed student"]  # without a roster a row is a file, its STUDENT a claim
    assert rows[1][1] == "'=cmd|' /C calc'!A0"
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)
    shown = "\n".join(report.summary())
    assert "\x1b" not in shown and "\x07" not in shown
    assert "\\x1b]0;owned\\x07=x.ipynb" in shown and "\\x1b[2J" in shown
    assert printable("a\u202eb\nc") == "a\\u202eb\\x0ac"  # bidi override and newline too


# A lone surrogate: from a JSON escape in an error text or a STUDENT value, or (U+DC80-U+DCFF) from a
# file name that is not UTF-8. No UTF-8 writer takes one.
SURROGATES = "\ud800 and \udcff"


def test_a_lone_surrogate_is_escaped_for_the_terminal_the_csv_the_html_and_the_json(tmp_path):
    assert clean(SURROGATES) == "\\ud800 and \\xff"
    name = "subs/\udcff\udc80.ipynb"  # what Python makes of the file name b"\xff\x80.ipynb"
    evil = SubmissionGrade(name, 0.0, 1.0, f"cell 2 raised ValueError: {SURROGATES}",
                           [ItemGrade("1.1", 0.0, 1.0, False, f"no {SURROGATES}", answer=SURROGATES)],
                           notebook={"STUDENT": SURROGATES})
    report = Report([evil], 1)
    for text in (report.to_csv(), report.to_json(), *report.feedback_pages().values(), "\n".join(report.summary())):
        text.encode("utf-8")  # would raise UnicodeEncodeError on a lone surrogate
        assert "\\ud800" in text or "\\\\ud800" in text
    assert json.loads(report.to_json())["submissions"][0]["path"] == "subs/\\xff\\x80.ipynb"
    assert write_atomic(tmp_path / "plain.txt", f"a {SURROGATES}") is None  # the writer's last guard


def test_ukva_grade_writes_every_report_and_survives_surrogates_and_a_closed_pipe(tmp_path):
    """The whole command, on a real kernel: a claimed STUDENT and a file name holding lone surrogates,
    stdout a pipe closed after the first line (`| head -1`)."""
    subs = tmp_path / "subs"
    subs.mkdir()
    nb = nbformat.read(SOL01, as_version=4)
    nb.cells.insert(3, new_code_cell('STUDENT = "\\ud800x"  # the STUDENT the grader reads is the last one set'))
    name = os.fsdecode(b"01-unix-process-\xff.ipynb")
    nbformat.write(nb, subs / name)
    (tmp_path / "seed").write_text("5\n")
    cmd = (f"{sys.executable} -m ukva_widgets.cli grade {subs} --json {tmp_path}/g.json --csv {tmp_path}/g.csv "
           f"--feedback {tmp_path}/fb --seed-file {tmp_path}/seed --quiet | head -1")
    done = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, timeout=600)
    assert done.returncode == 0 and b"Traceback" not in done.stderr and b"Error" not in done.stderr, done.stderr
    assert done.stdout.count(b"\n") == 1 and b"-\\xff.ipynb" in done.stdout
    report = json.loads((tmp_path / "g.json").read_text())
    sub = report["submissions"][0]
    assert sub["notebook"]["STUDENT"] == "\\ud800x" and sub["points"] == sub["max_points"] > 0
    rows = list(csv.DictReader(io.StringIO((tmp_path / "g.csv").read_text())))
    assert rows[0]["claimed student"] == "\\ud800x" and rows[0]["file"].endswith("-\\xff.ipynb")
    (page,) = (tmp_path / "fb").iterdir()
    assert "\\ud800x" not in page.read_text() and page.name == "01-unix-process-_.html"


SLEEPER = "import time\nfor _ in range(600):\n    time.sleep(0.1)\n"


def _processes() -> dict[int, tuple[int, str, str]]:
    """Every live process: pid -> (parent pid, start time, command line). A zombie is left out: it has
    exited and only waits for its parent (init, once the grader is gone) to reap it."""
    table = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] == "Z":
            continue
        table[int(proc.name)] = (int(fields[1]), fields[19], cmdline)
    return table


def _descendants(root: int) -> dict[int, tuple[str, str]]:
    """The processes below `root`: pid -> (start time, command line)."""
    table = _processes()
    found, frontier = {}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, start, cmdline) in table.items():
            if ppid == parent and pid not in found:
                found[pid] = (start, cmdline)
                frontier.append(pid)
    return found


def _still_alive(snapshot: dict[int, tuple[str, str]]) -> list[str]:
    now = _processes()
    return [f"{pid}: {cmd[:160]}" for pid, (start, cmd) in snapshot.items()
            if pid in now and now[pid][1] == start]


def test_ctrl_c_kills_every_kernel_writes_a_partial_report_and_a_rerun_resumes_from_it(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "a-honest.ipynb").write_text(SOL01.read_text())
    for n in range(3):
        nb = nbformat.read(SOL01, as_version=4)
        nb.cells.insert(3, new_code_cell(SLEEPER))
        nbformat.write(nb, subs / f"b-sleeps-{n}.ipynb")
    runtime = tmp_path / "runtime"  # the Jupyter runtime dir, where connection files would go
    (tmp_path / "seed").write_text("5\n")
    complete = '{"an earlier, complete report": true}\n'
    (tmp_path / "g.json").write_text(complete)
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ukva_widgets.cli", "grade", str(subs), "--json", str(tmp_path / "g.json"),
         "--csv", str(tmp_path / "g.csv"), "--jobs", "2", "--seed-file", str(tmp_path / "seed"),
         "--cell-timeout", "120", "--timeout", "240", "--memory", "1024", "--chapter", "01"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True)
    stderr: list[bytes] = []
    reader = threading.Thread(target=lambda: stderr.extend(iter(lambda: proc.stderr.read(1), b"")), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 120
        # The honest notebook finishes first (sorted first, no sleep); then the sleepers run.
        while b"1/4" not in b"".join(stderr) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert b"1/4" in b"".join(stderr), b"".join(stderr).decode(errors="replace")[-2000:]
        time.sleep(1.5)  # the two sleepers' kernels are busy now
        running = _descendants(proc.pid)
        workdirs = {w for _, cmd in running.values() for w in re.findall(r"/tmp/ukva-grade-[A-Za-z0-9_]+", cmd)}
        assert len(running) >= 2 and workdirs, "no kernel was running when Ctrl-C came: the test would prove nothing"
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=90)
        out = proc.stdout.read().decode()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    reader.join(timeout=5)
    assert code == 130, b"".join(stderr).decode(errors="replace")[-2000:]
    assert (tmp_path / "g.json").read_text() == complete  # never replaced by a partial one
    report = json.loads((tmp_path / "g.partial.json").read_text())
    assert report["interrupted"] is True
    by_name = {Path(s["path"]).name: s for s in report["submissions"]}
    honest = by_name["a-honest.ipynb"]
    assert honest["error"] is None and honest["points"] == honest["max_points"] > 0
    for n in range(3):
        assert by_name[f"b-sleeps-{n}.ipynb"]["error"].startswith("not graded: interrupted")
    assert "INTERRUPTED: 1 of 4" in out
    rows = list(csv.DictReader(io.StringIO((tmp_path / "g.partial.csv").read_text())))
    assert [r["status"] for r in rows] == ["awaiting grading"] + ["interrupted"] * 3 and not (tmp_path / "g.csv").exists()
    time.sleep(0.5)
    assert _still_alive(running) == []  # every kernel (and sandbox) the grader had started is gone
    leftover = [pid for pid, (_, _, cmd) in _processes().items() if any(w in cmd for w in workdirs)]
    assert leftover == [] and not any(Path(w).exists() for w in workdirs)
    assert not runtime.exists() or list(runtime.iterdir()) == []  # no connection file left

    # The rerun resumes: the honest notebook's result comes from the partial report (no kernel runs),
    # the complete report takes the place of the old one, and the partial files go.
    for n in range(3):
        (subs / f"b-sleeps-{n}.ipynb").unlink()
    again = subprocess.run(
        [sys.executable, "-m", "ukva_widgets.cli", "grade", str(subs), "--json", str(tmp_path / "g.json"),
         "--csv", str(tmp_path / "g.csv"), "--jobs", "2", "--seed-file", str(tmp_path / "seed"),
         "--cell-timeout", "120", "--timeout", "240", "--memory", "1024", "--chapter", "01", "--quiet"],
        capture_output=True, text=True, env={**env, "UKVA_BWRAP": str(tmp_path / "no-bwrap")}, timeout=300)
    # No sandbox can be made with UKVA_BWRAP pointing nowhere: the rerun could only succeed without a kernel.
    assert again.returncode == 0, again.stderr
    report = json.loads((tmp_path / "g.json").read_text())
    (honest,) = report["submissions"]
    assert report["interrupted"] is False and honest["reused"] is True and honest["points"] == honest["max_points"]
    assert "from the previous report" in again.stdout
    assert not (tmp_path / "g.partial.json").exists() and not (tmp_path / "g.partial.csv").exists()


def test_output_during_answer_collection_is_capped_too():
    from nbformat.v4 import new_notebook

    from ukva_widgets.grading.sandbox import Limits, run_submission

    flood = ("import threading, time\n"
             "def flood():\n"
             "    end = time.monotonic() + 4\n"
             "    while time.monotonic() < end:\n"
             "        print('x' * 100_000, flush=True)\n"
             "threading.Thread(target=flood, daemon=True).start()\n")
    nb = new_notebook(cells=[new_code_cell("answer_1_1 = 5\nanswer_1_2 = 6"), new_code_cell(flood)])
    run = run_submission(nb, {"1.1": None, "1.2": None},
                         Limits(cell_seconds=10, total_seconds=30, memory_mib=1024, output_bytes=64 << 10))
    assert run.records["1.1"]["kernel"]["answer"] == 5 and run.records["1.2"]["kernel"]["answer"] == 6
    assert any("printed while its answers were collected" in p for p in run.problems), run.problems
    collectors = nb.cells[2:]
    assert len(collectors) == 2
    for cell in collectors:  # one answer record each, nothing of the flood
        assert [o["output_type"] for o in cell.outputs] == ["display_data"]


def test_without_a_sandbox_ukva_grade_refuses_in_one_line_and_grades_nothing(tmp_path, monkeypatch, capsys):
    from ukva_widgets.cli import main

    monkeypatch.setenv("UKVA_BWRAP", str(tmp_path / "no-bwrap-here"))
    assert main(["grade", str(SOL01), "--json", str(tmp_path / "g.json"), "--seed", "1"]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ukva grade: nothing graded: the grading sandbox cannot be made")
    assert "--no-sandbox" in lines[0] and captured.out == ""
    assert not (tmp_path / "g.json").exists()


def test_without_a_roster_feedback_pages_are_named_by_file_whatever_the_notebook_claims():
    said = ["../../escape", "/etc/passwd", "..", "ok.name", "<b>x</b>"]
    paths = ["subs/0.ipynb", "subs/a/../1.ipynb", "subs/.hidden.ipynb", "subs/ok.name.ipynb", "subs/<b>.ipynb"]
    grades = [SubmissionGrade(path, 0.0, 1.0, None, [ItemGrade("1.1", 0.0, 1.0, False, "<i>no</i>")],
                              notebook={"STUDENT": s}) for path, s in zip(paths, said)]
    pages = Report(grades, 1, root=Path("subs")).feedback_pages()
    assert sorted(pages) == ["0.html", "_b_.html", "a_.._1.html", "hidden.html", "ok.name.html"]
    for page in pages.values():
        assert "<i>" not in page and "&lt;i&gt;no&lt;/i&gt;" in page


def test_a_report_naming_an_item_this_process_does_not_know_is_still_written():
    """An instructor's item (9.9) graded before, its solution notebook not given this time (--only)."""
    g = SubmissionGrade("subs/a.ipynb", 1.0, 1.0, None, [ItemGrade("9.9", 1.0, 1.0, True, "correct", answer=3)])
    report = Report([g, SubmissionGrade("subs/b.ipynb", 1.0, 1.0, None,
                                        [ItemGrade("9.9", 1.0, 1.0, True, "correct", answer=3)])], 1)
    assert json.loads(report.to_json())["submissions"][0]["items"][0]["points"] == 1
    assert '"9.9"' in report.to_csv() and report.feedback_pages() and report.summary()


def test_a_failure_while_making_the_reports_keeps_the_grades_and_a_rerun_finishes(tmp_path, monkeypatch, capsys):
    from ukva_widgets.cli import main

    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "01-unix-process.ipynb").write_text(SOL01.read_text())
    argv = ["grade", str(subs), "--json", str(tmp_path / "g.json"), "--csv", str(tmp_path / "g.csv"), "--seed", "3",
            "--quiet"]

    def broken(self):
        raise RuntimeError("a bug in the CSV")

    monkeypatch.setattr(Report, "to_csv", broken)
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "could not make the reports (RuntimeError: a bug in the CSV); the grades are kept in" in err
    assert (tmp_path / "g.partial.json").exists() and not (tmp_path / "g.csv").exists()
    monkeypatch.undo()
    monkeypatch.setenv("UKVA_BWRAP", str(tmp_path / "no-bwrap"))  # the rerun could not run a kernel
    assert main(argv) == 0
    (sub,) = json.loads((tmp_path / "g.json").read_text())["submissions"]
    assert sub["reused"] and sub["points"] == sub["max_points"] > 0
    assert not (tmp_path / "g.partial.json").exists()
