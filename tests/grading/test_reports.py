"""Reports an instructor can rely on: atomic writes that never follow a symbolic link, CSV cells a
spreadsheet never runs, control characters escaped on the terminal, and Ctrl-C that stops the batch,
kills every kernel and still writes a partial report (a real `ukva grade` process, real kernels)."""

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
from ukva_widgets.grading.report import Report, csv_cell, printable, write_atomic

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
    with pytest.raises(TypeError):
        write_atomic(target, None)  # fails while writing
    assert target.read_text() == "old\n" and not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize("value, cell", [
    ("=1+1", "'=1+1"), ("+cmd", "'+cmd"), ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=x", "'\t=x"), ("ada", "ada"), ("4", "4"), ("", ""),
])
def test_csv_cells_never_start_a_formula(value, cell):
    assert csv_cell(value) == cell


def test_student_controlled_text_is_neutralised_in_the_csv_and_escaped_on_the_terminal():
    evil = SubmissionGrade("subs/\x1b]0;owned\x07=x.ipynb", 1.0, 2.0, "cell 1 raised Boom: \x1b[2J",
                           [ItemGrade("1.1", 1.0, 1.0, True, "correct"), ItemGrade("1.2", 0.0, 1.0, False, "no")],
                           notebook={"STUDENT": "=cmd|' /C calc'!A0"})
    report = Report([evil], 1)
    rows = list(csv.reader(io.StringIO(report.to_csv())))
    assert rows[1][0] == "'=cmd|' /C calc'!A0"
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)
    shown = report.summary()
    assert "\x1b" not in shown and "\x07" not in shown
    assert "\\x1b]0;owned\\x07=x.ipynb" in shown and "\\x1b[2J" in shown
    assert printable("a\u202eb\nc") == "a\\u202eb\\x0ac"  # bidi override and newline too


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


def test_ctrl_c_kills_every_kernel_and_writes_a_partial_report(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "a-honest.ipynb").write_text(SOL01.read_text())
    for n in range(3):
        nb = nbformat.read(SOL01, as_version=4)
        nb.cells.insert(3, new_code_cell(SLEEPER))
        nbformat.write(nb, subs / f"b-sleeps-{n}.ipynb")
    runtime = tmp_path / "runtime"  # the Jupyter runtime dir, where connection files would go
    (tmp_path / "seed").write_text("5\n")
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
    report = json.loads((tmp_path / "g.json").read_text())
    assert report["interrupted"] is True
    by_name = {Path(s["path"]).name: s for s in report["submissions"]}
    honest = by_name["a-honest.ipynb"]
    assert honest["error"] is None and honest["points"] == honest["max_points"] > 0
    for n in range(3):
        assert by_name[f"b-sleeps-{n}.ipynb"]["error"].startswith("not graded: interrupted")
    assert "INTERRUPTED: 1 of 4" in out
    assert len(list(csv.reader(io.StringIO((tmp_path / "g.csv").read_text())))) == 5
    time.sleep(0.5)
    assert _still_alive(running) == []  # every kernel (and sandbox) the grader had started is gone
    leftover = [pid for pid, (_, _, cmd) in _processes().items() if any(w in cmd for w in workdirs)]
    assert leftover == [] and not any(Path(w).exists() for w in workdirs)
    assert not runtime.exists() or list(runtime.iterdir()) == []  # no connection file left


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


def test_feedback_pages_are_named_safely_whatever_the_notebook_says():
    said = ["../../escape", "/etc/passwd", "..", "ok.name", "<b>x</b>"]
    grades = [SubmissionGrade(f"subs/{n}.ipynb", 0.0, 1.0, None, [ItemGrade("1.1", 0.0, 1.0, False, "<i>no</i>")],
                              notebook={"STUDENT": s}) for n, s in enumerate(said)]
    pages = Report(grades, 1).feedback_pages()
    assert len(pages) == len(said)
    for name, page in pages.items():
        assert "/" not in name and not name.startswith(".") and name.endswith(".html")
        assert "<i>" not in page and "&lt;i&gt;no&lt;/i&gt;" in page
    assert "ok.name.html" in pages
