"""More of a hostile class, graded for real (the attacks test_attacks.py does not cover): a kernel
that turns its socket directory into a symlink to the instructor's files, that sends the grader
forged, deeply nested, non-JSON, badly signed or enormous messages, that forges its answer records,
that signals everything in its pid namespace, that leaves a daemon behind, and notebooks that are
themselves hostile (corrupt JSON, thousands of cells, another kernel in the kernelspec), answers
made to hurt whoever reads the report, ptrace, and the same again with the grader as uid 65534.

Same pattern as test_attacks.py: each attack is the chapter-01 solution plus one cell; one batch
graded by `ukva grade` in a subprocess next to an honest copy; each test asserts the attack failed,
the honest neighbour got full marks, the batch finished and nothing outlived the grader.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_raw_cell
from test_attacks import FULL01, SOL01, _grade_batch, _nonroot_wrapper, _processes_of, _result

SURVIVOR = "ukvasurvivor" + secrets.token_hex(6)

# Sending on the kernel's own sockets with its own session (it knows the HMAC key): messages
# the grader's jupyter_client will check, parse and hand to nbclient.
RAW = """
k = get_ipython().kernel
s = k.session
parent = k.get_parent()
def send(stream, kind, content, ident=None):
    try:
        s.send(stream, kind, content=content, parent=parent, ident=ident)
        return 'sent'
    except Exception as e:
        return E(e)
"""

ATTACKS = {
    # Its socket directory becomes a symlink to a host directory; each socket a symlink to a host
    # file. The grader reaches the sockets through /proc/PID/root: does it follow them out?
    "ipc_symlinks": """
home = os.path.expanduser('~')
victim = os.path.join(os.path.dirname({tmp!r}), 'victim')
os.rename(home + '/.ipc', home + '/.ipc-real')
os.symlink(victim, home + '/.ipc')
res['ipc'] = os.readlink(home + '/.ipc')
# The same one level down, in case the directory is pinned: each socket -> a host file.
for n in range(1, 6):
    try:
        p = home + '/.ipc-real/kernel-%d' % n
        os.rename(p, p + '.real')
        os.symlink(victim + '/kernel-%d' % n, p)
    except OSError as e:
        res.setdefault('sock', []).append(E(e))
""",
    # Then it makes the grader reconnect: its sockets' paths become symlinks to a Unix socket of
    # the instructor's, and it cuts every connection it accepted.
    "ipc_redirect": """
import socket
target = os.path.join(os.path.dirname({tmp!r}), 'victim.sock')
home = os.path.expanduser('~')
for n in range(1, 6):
    p = home + '/.ipc/kernel-%d' % n
    os.rename(p, p + '.real')
    os.symlink(target, p)
cut = 0
for fd in os.listdir('/proc/self/fd'):
    try:
        s = socket.socket(fileno=os.dup(int(fd)))
    except OSError:
        continue
    if s.family == socket.AF_UNIX and not s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
        s.shutdown(socket.SHUT_RDWR)
        cut += 1
time.sleep(2)  # the grader reconnects within 0.1 s
res['cut'] = cut
""",
    # A message of 400 MiB: the grader must not take it in.
    "huge_message": RAW + """
big = b'{{"name": "stdout", "text": "' + b'x' * (400 << 20) + b'"}}'
res['huge'] = send(k.iopub_socket, 'stream', big)
del big
time.sleep(2)
""",
    # A hundred messages of 15 MiB as fast as it can: the grader must not queue them all.
    "message_flood": RAW + """
one = b'{{"name": "stdout", "text": "' + b'y' * (15 << 20) + b'"}}'
res['flood'] = [send(k.iopub_socket, 'stream', one) for _ in range(100)].count('sent')
time.sleep(2)
""",
    # Its own collector, answering every item with a forged record: another item's id, a stolen
    # nonce shape, NaN, a 5000-digit seed, a 100000-deep answer (sent raw: json cannot nest so deep).
    "forged_records": RAW + """
import ukva_widgets.grading.collect as c
calls = []
def emit(nonce, item_id, ns, inputs='null'):
    calls.append(item_id)
    n = len(calls)
    if n == 1:
        rec = {{'item': '9.9', 'nonce': nonce, 'answer': 1, 'seed': None}}
    elif n == 2:
        rec = {{'item': item_id, 'nonce': nonce, 'answer': float('nan'), 'seed': None}}
    else:
        rec = {{'item': item_id, 'nonce': 'f' * 32, 'answer': 1, 'seed': None}}
    from IPython.display import display
    display({{c.MIME: rec}}, raw=True)
c.emit = emit
res['patched'] = True
""",
    # Signals to everything it can see: pid 1 of its namespace (bwrap), then every process.
    "signals": """
import signal
try:
    os.kill(1, signal.SIGKILL)
    res['init'] = 'sent'
except Exception as e:
    res['init'] = E(e)
res['alive'] = True
""",
    # Then every process it may signal.
    "kill_all": """
import signal
os.kill(-1, signal.SIGKILL)
""",
    # A daemon (setsid + double fork) meant to outlive the submission and act afterwards.
    "daemon": """
import subprocess, sys
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(600)', {survivor!r}])
    os._exit(0)
time.sleep(0.5)
res['daemon'] = True
""",
    # Ptrace and process_vm_readv of the only other process it can see (bwrap, pid 1).
    "ptrace": """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
res['ptrace'] = libc.ptrace(16, 1, None, None)  # PTRACE_ATTACH
res['ptrace_errno'] = errno.errorcode.get(ctypes.get_errno())
try:
    res['mem'] = len(open('/proc/1/mem', 'rb').read(16))
except Exception as e:
    res['mem'] = E(e)
status = dict(l.split(':', 1) for l in open('/proc/1/status').read().splitlines() if ':' in l)
res['pid1'] = dict(uid=status['Uid'].split()[0], caps=status['CapEff'].strip(), me=os.getuid(),
                   fds=sorted(os.listdir('/proc/1/fd')) if os.access('/proc/1/fd', os.R_OK) else 'no')
""",
    # Answers made to hurt whoever reads the report: ANSI escapes, a bidi override, a formula,
    # NaN, and a 1 MB string.
    "hostile_answers": """
answer_1_1 = '\\x1b[2J\\x1b]0;pwned\\x07\\u202e=cmd|calc!A0'
answer_1_2 = float('nan')
answer_1_3 = ['=HYPERLINK("http://x")', '+1', '@SUM(A1)', '\\u202egnp.exe']
answer_1_4 = 'z' * 1_000_000
answer_1_5 = ['\\x1b[31m', '\\u202e=cmd']
res['set'] = True
""",
}


# Messages no honest kernel sends, each from its own submission: the first one the grader reads
# stops that submission (0 points, every item unread), and only that one.
RAW_PAYLOADS = {
    "deep_iopub": "send(k.iopub_socket, 'display_data', b'[' * 200000 + b']' * 200000)",
    "deep_shell": "send(k.shell_stream, 'execute_reply', b'[' * 200000 + b']' * 200000, k._parent_ident['shell'])",
    "deep_parent": "s.send(k.iopub_socket, 'stream', {'name': 'stdout', 'text': 'x'}, "
                   "parent={'header': {'a': json.loads('[' * 500 + ']' * 500)}})",
    "not_json": "send(k.iopub_socket, 'display_data', b'{not json')",
    "list_content": "send(k.iopub_socket, 'display_data', b'[1, 2]')",
    "big_int": "send(k.iopub_socket, 'display_data', b'{\"data\": {\"text/plain\": ' + b'9' * 5000 + b'}, \"metadata\": {}}')",
    "bad_signature": "k.iopub_socket.send_multipart([b'<IDS|MSG>', b'0' * 64, b'{}', b'{}', b'{}', b'{}'])",
    "no_delimiter": "k.iopub_socket.send_multipart([b'garbage'])",
    "deep_record": "import ukva_widgets.grading.collect as c\n"
                   "def emit(nonce, item_id, ns, inputs='null'):\n"
                   "    send(k.iopub_socket, 'display_data', b'{\"data\": {\"' + c.MIME.encode() + b'\": {\"item\": \"'"
                   " + item_id.encode() + b'\", \"nonce\": \"' + nonce.encode() + b'\", \"answer\": '"
                   " + b'[' * 100000 + b']' * 100000 + b'}}, \"metadata\": {}}')\n"
                   "c.emit = emit",
}


def _raw_notebooks(subs: Path, names=tuple(RAW_PAYLOADS)) -> None:
    for name in names:
        nb = nbformat.read(SOL01, as_version=4)
        nb.cells.append(new_code_cell("import json, time\nE = lambda e: type(e).__name__\n" + RAW.strip() + "\n"
                                      + RAW_PAYLOADS[name] + "\ntime.sleep(1)\nraise RuntimeError('ATTACK survived')"))
        nbformat.write(nb, subs / f"raw_{name}.ipynb")


def _victim(base: Path) -> Path:
    """Host files named like the kernel's sockets, where a symlink planted by a kernel points."""
    victim = base / "victim"
    victim.mkdir()
    for n in range(1, 10):
        (victim / f"kernel-{n}").write_text("instructor's file\n")
    return victim


def _hostile_notebooks(subs: Path) -> dict[str, str]:
    """Notebooks that are hostile as files: name -> what the report must say."""
    (subs / "corrupt.ipynb").write_text('{"cells": [ {"cell_type": "code", "source": "x"')
    many = nbformat.read(SOL01, as_version=4)
    many.cells += [new_code_cell("pass") for _ in range(2_000)]
    nbformat.write(many, subs / "many_cells.ipynb")
    other = nbformat.read(SOL01, as_version=4)
    other.metadata["kernelspec"] = {"name": "/bin/sh", "display_name": "x", "language": "sh"}
    other.cells.insert(0, new_raw_cell("%load_ext evil\n!touch /tmp/raw"))
    other.cells.append(new_code_cell(f"!echo {SURVIVOR}-bang > ~/bang\n%load_ext nonexistent_ext\n"
                                     "%run /etc/passwd\n"))
    nbformat.write(other, subs / "kernelspec_shell.ipynb")
    _raw_notebooks(subs)
    return {"corrupt.ipynb": "", "many_cells.ipynb": "", "kernelspec_shell.ipynb": ""}


class UnixListener:
    """A Unix socket of the instructor's that records every connection reaching it."""

    def __init__(self, path: Path) -> None:
        import socket

        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(str(path))
        os.chmod(path, 0o777)
        self.sock.listen(64)
        self.got: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.settimeout(1)
            try:
                self.got.append(b"connection:" + conn.recv(100))
            except OSError:
                self.got.append(b"connection")
            conn.close()


class HighWater:
    """The largest resident size (VmHWM) the grader process reached, polled while it runs."""

    def __init__(self, marker: str) -> None:
        self.marker, self.kib, self.stop = marker, 0, False
        threading.Thread(target=self._poll, daemon=True).start()

    def _poll(self) -> None:
        while not self.stop:
            for p in Path("/proc").iterdir():
                try:
                    if p.name.isdigit() and self.marker in (p / "cmdline").read_bytes().decode(errors="replace"):
                        for line in (p / "status").read_text().splitlines():
                            if line.startswith("VmHWM:"):
                                self.kib = max(self.kib, int(line.split()[1]))
                except (OSError, ValueError):
                    continue
            time.sleep(0.1)


@pytest.fixture(scope="module")
def batch():
    base = Path(tempfile.mkdtemp(prefix="ukva-attack-more-"))
    victim = _victim(base)
    listener = UnixListener(base / "victim.sock")
    attacks = {k: v.replace("{survivor!r}", repr(SURVIVOR)) for k, v in ATTACKS.items()}
    hw = HighWater(str(base / "subs"))
    try:
        out = _grade_batch(base, attacks, honest=1, prepare=_hostile_notebooks)
        hw.stop = True
        out["grader_kib"] = hw.kib
        out["victim"] = sorted(p.name for p in victim.iterdir())
        out["unix_listener"] = listener.got
        out["survivors"] = _processes_of([SURVIVOR])
        yield out
    finally:
        hw.stop = True
        shutil.rmtree(base, ignore_errors=True)


def test_the_batch_finished_the_honest_neighbour_got_full_marks_and_nothing_survived(batch):
    proc = batch["proc"]
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    for name in ("honest_a0.ipynb", "honest_a.ipynb"):
        s = batch["by_name"][name]
        assert s["error"] is None and s["points"] == s["max_points"] == FULL01, s
    assert batch["left"] == [] and batch["survivors"] == [] and batch["tmp_left"] == set()
    assert batch["cgroups_left"] == []


def test_symlinks_in_the_kernels_socket_directory_lead_nowhere(batch):
    res = _result(batch, "ipc_symlinks")
    assert res["ipc"].endswith("/victim"), res  # it did plant them
    assert batch["victim"] == [f"kernel-{n}" for n in range(1, 10)]  # nothing of the host removed


def test_the_grader_never_reconnects_through_a_path_the_kernel_changed(batch):
    # Before the fix the grader (root) reconnected hundreds of times to the instructor's socket.
    assert _result(batch, "ipc_redirect")["cut"] > 0
    assert batch["unix_listener"] == []
    s = batch["by_name"]["attack_ipc_redirect.ipynb"]
    assert s["points"] == 0 and "cut a connection to the grader" in s["error"], s


@pytest.mark.parametrize("name", RAW_PAYLOADS)
def test_a_malformed_or_forged_message_stops_only_its_sender(batch, name):
    s = batch["by_name"][f"raw_{name}.ipynb"]
    assert s["points"] == 0 and s["max_points"] == FULL01, s
    assert "the kernel sent" in s["error"] and "none of its answers were read" in s["error"], s["error"]
    assert "grader failed" not in s["error"], s["error"]
    if name != "deep_record":  # that one sends its message only when its answers are collected
        assert "ATTACK survived" not in s["error"], s["error"]


def test_a_huge_message_or_a_flood_of_big_ones_never_fills_the_grader(batch):

    huge = batch["by_name"]["attack_huge_message.ipynb"]
    assert huge["points"] == 0 and huge["max_points"] == FULL01, huge
    assert "larger than 32 MiB" in huge["error"] and "none of its answers were read" in huge["error"], huge
    # 1.5 GB it tried to send: the meter cut it off at the byte budget of a submission (128 MiB).
    flood = batch["by_name"]["attack_message_flood.ipynb"]
    assert flood["points"] == 0 and "more than 128 MiB in all" in flood["error"], flood
    # Without the caps the grader held the 400 MiB message several times over, and the whole flood.
    assert batch["grader_kib"] < 512 * 1024, batch["grader_kib"]


def test_forged_answer_records_score_nothing(batch):
    s = batch["by_name"]["attack_forged_records.ipynb"]
    assert _result(batch, "forged_records") == {"patched": True}
    assert s["points"] == 0 and s["max_points"] == FULL01, s
    assert "grader failed" not in s["error"], s["error"]


def test_signals_inside_the_sandbox_reach_nothing_outside(batch):
    # pid 1 of its namespace ignores it; killing everything it can see kills only its own kernel,
    # which is restarted with the cells before replayed: its answers still count.
    assert _result(batch, "signals") == {"init": "sent", "alive": True}
    # kill(-1) reaches every process but itself and pid 1: in its namespace, nothing.
    s = batch["by_name"]["attack_kill_all.ipynb"]
    assert "ProcessLookupError" in s["error"] and s["points"] == FULL01, s


def test_ptrace_reaches_nothing(batch):
    # The seccomp filter refuses ptrace outright; its sandbox's init holds no capability, no
    # file of the host open, and nothing the kernel does not have already.
    res = _result(batch, "ptrace")
    assert res["ptrace"] == -1 and res["ptrace_errno"] == "EPERM", res
    assert res["mem"] == "OS", res  # its memory stays unreadable
    pid1 = res["pid1"]
    assert pid1["caps"] == "0000000000000000" and pid1["uid"] == str(pid1["me"]), res
    assert pid1["fds"] in ("no", ["0", "1", "2"]) or len(pid1["fds"]) <= 4, res


def test_hostile_answers_reach_no_terminal_or_spreadsheet_raw(batch):
    s = batch["by_name"]["attack_hostile_answers.ipynb"]
    assert _result(batch, "hostile_answers") == {"set": True}
    assert s["points"] == 0 and s["max_points"] == FULL01, s
    shown = batch["proc"].stdout + batch["proc"].stderr
    assert "\x1b" not in shown and "\u202e" not in shown and "\x07" not in shown
    for line in batch["csv"].splitlines():
        for cell in line.split(","):
            assert not cell.lstrip('"').startswith(("=", "+", "@", "-")), line
    assert len(json.dumps(s)) < 100_000  # the 1 MB answer is not copied into the report


def test_hostile_notebook_files_get_a_clear_error(batch):
    corrupt = batch["by_name"]["corrupt.ipynb"]
    assert corrupt["points"] == 0 and "corrupt JSON" in corrupt["error"], corrupt
    many = batch["by_name"]["many_cells.ipynb"]
    assert many["points"] == FULL01, many  # bounded by --timeout, and graded
    shell = batch["by_name"]["kernelspec_shell.ipynb"]  # graded by python3 in the sandbox anyway
    assert shell["points"] == FULL01 and "nonexistent_ext" in shell["error"], shell


NONROOT = ["ipc_symlinks", "ipc_redirect", "huge_message", "daemon", "ptrace"]


def test_the_attacks_fail_as_well_when_the_grader_is_not_root():
    if os.geteuid() != 0:
        pytest.skip("this test becomes a non-root user (setpriv); run as root, as CI does")
    if not shutil.which("setpriv") or not shutil.which("unshare"):
        pytest.skip("setpriv/unshare (util-linux) are needed to become a non-root user here")
    base = Path(tempfile.mkdtemp(prefix="ukva-attack-more-nr-"))
    os.chmod(base, 0o755)
    victim = _victim(base)
    for p in [victim, *victim.iterdir()]:  # the grader's own files: it could delete them
        shutil.chown(p, 65534, 65534)
    listener = UnixListener(base / "victim.sock")
    attacks = {k: ATTACKS[k].replace("{survivor!r}", repr(SURVIVOR)) for k in NONROOT}
    try:
        batch = _grade_batch(base, attacks, honest=0, user=_nonroot_wrapper(base),
                             prepare=lambda subs: _raw_notebooks(subs, ("deep_iopub", "bad_signature")))
        proc = batch["proc"]
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
        assert batch["report_uid"] == 65534
        assert batch["by_name"]["honest_a.ipynb"]["points"] == FULL01
        assert batch["left"] == [] and _processes_of([SURVIVOR]) == [] and batch["tmp_left"] == set()
        assert sorted(p.name for p in victim.iterdir()) == [f"kernel-{n}" for n in range(1, 10)]
        assert _result(batch, "ipc_symlinks")["ipc"].endswith("/victim")
        assert _result(batch, "ipc_redirect")["cut"] > 0 and listener.got == []
        for name in ("raw_deep_iopub.ipynb", "raw_bad_signature.ipynb", "attack_huge_message.ipynb"):
            s = batch["by_name"][name]
            assert s["points"] == 0 and "none of its answers were read" in s["error"], s
        assert _result(batch, "ptrace")["pid1"]["caps"] == "0000000000000000"
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_a_submission_stuck_everywhere_costs_its_time_budget_and_no_more():
    # A cell that ignores the interrupt, then a collector that sleeps through every item and
    # ignores interrupts too: all of it, kernel starts and the replay included, ends with the one
    # budget (before, cells, replays and collection had a budget each: about 3 x --timeout).
    from ukva_widgets.grading.sandbox import Limits, run_submission

    nb = nbformat.read(SOL01, as_version=4)
    nb.cells.append(new_code_cell("import signal, time, ukva_widgets.grading.collect as c\n"
                                  "def emit(*a):\n    signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                                  "    while True:\n        time.sleep(60)\n"
                                  "c.emit = emit"))
    nb.cells.append(new_code_cell("signal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"))
    limits = Limits(cell_seconds=3, total_seconds=20)
    run = run_submission(nb, {i: None for i in ("1.1", "1.2", "1.3", "1.4")}, limits)
    assert len(run.records) == 4 and all("unread" in r for r in run.records.values()), run.records
    assert any("did not stop when interrupted" in p for p in run.problems), run.problems
    # The meter kills the sandbox at the budget's end; closing it takes a moment more.
    assert run.seconds < limits.total_seconds + 4, run.seconds
