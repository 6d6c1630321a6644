"""Reports an instructor can rely on: atomic writes that never follow a symbolic link, CSV cells a
spreadsheet never runs, control characters escaped on the terminal, and Ctrl-C that stops the batch,
kills every kernel and still writes a partial report (a real `ukva grade` process, real kernels)."""

import csv
import io
import json
import os
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


def _descendants_named(marker: str) -> list[str]:
    """Processes whose command line names `marker` (the test's own temp directory)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline:
            found.append(f"{proc.name}: {cmdline[:200]}")
    return found


def test_ctrl_c_kills_every_kernel_and_writes_a_partial_report(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "a-honest.ipynb").write_text(SOL01.read_text())
    for n in range(3):
        nb = nbformat.read(SOL01, as_version=4)
        nb.cells.insert(3, new_code_cell(SLEEPER))
        nbformat.write(nb, subs / f"b-sleeps-{n}.ipynb")
    work = tmp_path / "work"  # TMPDIR and the Jupyter runtime dir: every kernel's files and names are here
    work.mkdir()
    (tmp_path / "seed").write_text("5\n")
    env = {**os.environ, "TMPDIR": str(work), "JUPYTER_RUNTIME_DIR": str(work / "runtime")}
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
        running = _descendants_named(str(work))
        assert running, "no kernel was running when Ctrl-C came: the test would prove nothing"
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
    assert by_name["a-honest.ipynb"]["points"] == by_name["a-honest.ipynb"]["max_points"] > 0
    for n in range(3):
        assert by_name[f"b-sleeps-{n}.ipynb"]["error"].startswith("not graded: interrupted")
    assert "INTERRUPTED: 1 of 4" in out
    assert len(list(csv.reader(io.StringIO((tmp_path / "g.csv").read_text())))) == 5
    time.sleep(0.5)
    assert _descendants_named(str(work)) == []
    left = [p for p in work.rglob("*") if p.name.startswith(("ukva-", "kernel-")) or p.suffix == ".json"]
    assert left == [], left
