"""The grader survives its worst student: a hostile class aimed at the grader process itself (not
the sandbox's walls), graded for real by `ukva grade` next to honest submissions, as root and as an
ordinary user (uid 65534) in a delegated cgroup.

- time: a flood of signed replies to requests the grader never made; a flood of valid output from
  a cell that ignores interrupts (the meter reads 500 messages a second at most, the cell's limit
  and the hard kill still come);
- memory: widget messages and binary attachments (dropped unread), a message of 200 frames or of
  three 31 MiB attachments (cut off), 150 MiB of output (past the byte budget of a submission);
  the grader's resident size stays small;
- the keyring and seccomp: the grader runs in a session keyring holding a canary; the kernel's
  keyctl, add_key, request_key, ptrace, process_vm_readv, larger socket buffers, bpf, io_uring,
  x32 and i386 calls are refused, /proc/keys shows nothing;
- machine share: socket buffers held by 64 processes (past --memory without a cgroup), six
  processes spinning (one core at most), descriptors (256);
- the submissions folder: links to model answers, to a classmate's essay, to /proc/kmsg and to a
  folder, a FIFO and a 21 MiB file are refused with the reason, never followed.
Same pattern as test_attacks.py (whose helpers grade the batch): each attack is the chapter-01
solution plus one cell that raises `RuntimeError("ATTACK <json>")` with what it saw.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell
from test_attacks import CANARY, FULL01, SOL01, _grade_batch, _nonroot_wrapper, _result
from test_attacks_more import RAW, HighWater

from ukva_widgets.grading import meter

MEMORY_MIB = 1024
OPTIONS = ["--cell-timeout", "8", "--timeout", "45", "--memory", str(MEMORY_MIB)]

ATTACKS = {
    # Signed replies to requests the grader never made, as fast as it can (before: nbclient
    # waited for its own reply forever, 0 of 3 graded after 312 s).
    "reply_flood": RAW + """
import uuid
ident = k._parent_ident['shell']
for n in range(1_000_000):
    s.send(k.shell_stream, 'execute_reply', {{'status': 'ok', 'execution_count': 1}},
           parent={{'msg_id': uuid.uuid4().hex, 'msg_type': 'execute_request'}}, ident=ident)
""",
    # Valid output of its own cell, as fast as it can, and deaf to interrupts.
    "output_flood": RAW + """
import signal
signal.signal(signal.SIGINT, signal.SIG_IGN)
while True:
    s.send(k.iopub_socket, 'stream', {{'name': 'stdout', 'text': 'y'}}, parent=parent)
""",
    # 40 widget updates of 1 MB and 20 displays with two 1 MiB binary attachments each.
    "widgets_and_attachments": RAW + """
import ipywidgets
from IPython.display import display
w = ipywidgets.Text()
display(w)
for i in range(40):
    w.value = str(i % 10) * 1_000_000
for i in range(20):
    s.send(k.iopub_socket, 'display_data', {{'data': {{'text/plain': 'att'}}, 'metadata': {{}}}},
           parent=parent, buffers=[b'z' * (1 << 20)] * 2)
res['sent'] = True
""",
    "many_frames": RAW + """
k.iopub_socket.send_multipart([b'<IDS|MSG>'] + [b'f' * 100] * 200)
time.sleep(2)
""",
    "big_attachments": RAW + """
s.send(k.iopub_socket, 'display_data', {{'data': {{'text/plain': 'att'}}, 'metadata': {{}}}},
       parent=parent, buffers=[b'z' * (31 << 20)] * 3)
time.sleep(2)
""",
    "byte_budget": RAW + """
for i in range(150):
    s.send(k.iopub_socket, 'stream', {{'name': 'stdout', 'text': 'b' * (1 << 20)}}, parent=parent)
time.sleep(2)
""",
    # The instructor's keyring, the kernel's other doors, and the i386 and x32 ABIs around them.
    "keyring_and_seccomp": """
import ctypes, mmap, platform, resource
from ukva_widgets.grading.seccomp import syscalls
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
n = syscalls()
L = ctypes.c_long
def sc(name, *a):
    ctypes.set_errno(0)
    r = libc.syscall(n[name], *a)
    return 'ok' if r >= 0 else errno.errorcode.get(ctypes.get_errno())
calls = dict(session=sc('keyctl', 0, L(-3), 0),    # KEYCTL_GET_KEYRING_ID of @s
             user=sc('keyctl', 0, L(-4), 0),       # and of @u
             add=sc('add_key', b'user', b'ukva-note', b'hi', 2, L(-4)),
             request=sc('request_key', b'user', b'ukvacanary-answers', None, 0),
             ptrace=sc('ptrace', 0, 0, 0, 0),      # PTRACE_TRACEME
             vm_readv=sc('process_vm_readv', 1, 0, 0, 0, 0, 0),
             bpf=sc('bpf', 0, 0, 0), io_uring=sc('io_uring_setup', 1, 0))
try:
    socket.socket().setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 22)
    calls['sndbuf'] = 'ok'
except OSError as e:
    calls['sndbuf'] = errno.errorcode.get(e.errno)
res['refused'] = len([v for v in calls.values() if v == 'EPERM'])
res['other'] = {{k: v for k, v in calls.items() if v != 'EPERM'}}
try:
    res['proc_keys'] = 'ukvacanary' in open('/proc/keys').read()
except Exception as e:
    res['proc_keys'] = E(e)
res['getpid'] = os.getpid() > 0
if platform.machine() == 'x86_64':
    ctypes.set_errno(0)
    libc.syscall(39 | 0x40000000)                    # getpid through the x32 ABI
    res['x32'] = errno.errorcode.get(ctypes.get_errno())
    code = bytes([0xb8, 20, 0, 0, 0, 0xcd, 0x80, 0xc3])  # mov eax, 20 (getpid); int 0x80; ret
    m = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    m.write(code)
    res['int80'] = ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(m)))()
""",
    # Kernel memory no rlimit counts: 64 processes filling socket pairs, all alive if they can be.
    "socket_buffers": """
import resource
r, w = os.pipe()
kids = []
for i in range(64):
    pid = os.fork()
    if pid == 0:
        held, pairs = 0, []
        try:
            for j in range(120):
                a, b = socket.socketpair()
                a.setblocking(False)
                try:
                    while True:
                        held += a.send(b'x' * 65536)
                except BlockingIOError:
                    pass
                pairs.append((a, b))
        except OSError:
            pass
        os.write(w, f'{{os.getpid()}}:{{held}}\\n'.encode())
        time.sleep(600)
        os._exit(0)
    kids.append(pid)
lines, deadline = b'', time.time() + 20
while lines.count(b"\\n") < 64 and time.time() < deadline:  # a killed child never reports
    if select.select([r], [], [], 0.2)[0]:
        lines += os.read(r, 100000)
time.sleep(1)
alive = {{p for p in kids if os.waitpid(p, os.WNOHANG) == (0, 0)}}
held = dict(map(int, l.split(b':')) for l in lines.split())
res = dict(reported=len(held), alive=len(alive), held_mib=sum(held.values()) >> 20,
           held_alive_mib=sum(v for p, v in held.items() if p in alive) >> 20)
""",
    # Six processes spinning for four seconds: how many CPU seconds a wall second do they get?
    "cpu_hog": """
kids, t0 = [], time.time()
for i in range(6):
    pid = os.fork()
    if pid == 0:
        end = time.time() + 4
        while time.time() < end:
            pass
        os._exit(0)
    kids.append(pid)
cpu = 0.0
for pid in kids:
    _, _, usage = os.wait4(pid, 0)
    cpu += usage.ru_utime + usage.ru_stime
res = dict(cpu_per_wall=round(cpu / (time.time() - t0), 2))
""",
    "open_files": """
import resource
fds, err = [], None
try:
    while True:
        fds.append(os.open('/dev/null', os.O_RDONLY))
except OSError as e:
    err = errno.errorcode.get(e.errno)
for fd in fds:  # the kernel needs a few descriptors to report
    os.close(fd)
res = dict(opened=len(fds), error=err, limit=list(resource.getrlimit(resource.RLIMIT_NOFILE)))
""",
}

KEYRING_WRAPPER = """
import ctypes, os, sys
from ukva_widgets.grading.seccomp import syscalls
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
n, canary = syscalls(), sys.argv[1].encode()
assert libc.syscall(n['keyctl'], 1, b'ukva-instructor') >= 0               # a session keyring of its own
assert libc.syscall(n['add_key'], b'user', b'ukvacanary-answers', canary, len(canary), ctypes.c_long(-3)) >= 0
os.execv(sys.argv[2], sys.argv[2:])
"""


def _keyring_wrapper(base: Path) -> list[str]:
    """A command prefix that runs the grader in a session keyring of its own holding the canary."""
    script = base / "keyring.py"
    script.write_text(KEYRING_WRAPPER)
    script.chmod(0o644)
    return [sys.executable, str(script), CANARY]


def _hostile_folder(subs: Path) -> None:
    """Links to what the student may not read, a FIFO and an oversized file, in the folder."""
    base = subs.parent
    secret = nbformat.read(SOL01, as_version=4)
    secret.cells.append(new_code_cell(f"raise RuntimeError({CANARY!r})"))
    (base / "other").mkdir(exist_ok=True)
    nbformat.write(secret, base / "answers.ipynb")
    nbformat.write(secret, base / "other" / "essay.ipynb")
    for p in (base / "answers.ipynb", base / "other" / "essay.ipynb"):
        p.chmod(0o600)  # the instructor's, and a classmate's: not readable by uid 65534
    (subs / "link_answers.ipynb").symlink_to(base / "answers.ipynb")
    (subs / "link_essay.ipynb").symlink_to(base / "other" / "essay.ipynb")
    (subs / "link_kmsg.ipynb").symlink_to("/proc/kmsg")
    (subs / "linked_folder").symlink_to(base / "other")
    (subs / "linked_folder.ipynb").symlink_to(base / "other")
    os.mkfifo(subs / "fifo.ipynb")
    with open(subs / "huge.ipynb", "wb") as f:
        f.truncate(21 << 20)


def _messages_read(error: str) -> int:
    return int(re.search(r"\((\d+) messages read in all\)", error).group(1))


@pytest.fixture(scope="module")
def batch():
    base = Path(tempfile.mkdtemp(prefix="ukva-attack-grader-"))
    hw = HighWater(str(base / "subs"))
    try:
        out = _grade_batch(base, ATTACKS, honest=1, prepare=_hostile_folder, wrap=_keyring_wrapper(base),
                           options=OPTIONS)
        hw.stop = True
        out["grader_kib"] = hw.kib
        yield out
    finally:
        hw.stop = True
        shutil.rmtree(base, ignore_errors=True)


def _sub(batch, name: str) -> dict:
    return batch["by_name"][name if name.endswith(".ipynb") else f"attack_{name}.ipynb"]


def test_the_batch_finished_the_honest_got_full_marks_and_nothing_leaked(batch):
    proc = batch["proc"]
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    for name in ("honest_a0.ipynb", "honest_a.ipynb"):
        s = batch["by_name"][name]
        assert s["error"] is None and s["points"] == FULL01, s
    assert CANARY not in proc.stdout + proc.stderr + batch["csv"] + json.dumps(batch["report"])
    assert batch["left"] == [] and batch["tmp_left"] == set() and batch["cgroups_left"] == []
    assert "warning: no cgroup" not in proc.stderr  # as root, cgroups give exact totals


def test_replies_to_requests_never_made_stop_their_sender_at_once(batch):
    s = _sub(batch, "reply_flood")
    assert s["points"] == 0 and "a reply to a request the grader never made" in s["error"], s
    assert s["seconds"] < 45, s  # well inside its budget: the first forged reply stopped it


def test_a_flood_of_output_is_read_no_faster_than_the_cap_and_ends_at_the_cell_limit(batch):
    s = _sub(batch, "output_flood")
    assert "more than 500 messages a second" in s["error"], s["error"]
    assert "did not stop when interrupted" in s["error"], s["error"]
    # What it sent meanwhile the meter left unread: at most a burst and the rate over its time.
    assert _messages_read(s["error"]) <= meter.BURST + meter.MESSAGES_PER_SECOND * s["seconds"], s
    # Killed, restarted, its cells before replayed: its answers still count.
    assert s["points"] == FULL01, s


def test_widget_messages_and_attachments_are_dropped_unread(batch):
    s = _sub(batch, "widgets_and_attachments")
    assert s["points"] == FULL01, s
    dropped = int(re.search(r"the kernel sent (\d+) widget message", s["error"]).group(1))
    assert dropped >= 60, s["error"]  # 40 widget updates and 20 displays with attachments at least
    assert "att" not in json.dumps(s["items"])


@pytest.mark.parametrize("name, why", [("many_frames", "more than 64 frames"),
                                       ("big_attachments", "larger than 32 MiB"),
                                       ("byte_budget", "more than 128 MiB in all")])
def test_a_message_too_large_or_a_kernel_too_talkative_is_cut_off(batch, name, why):
    s = _sub(batch, name)
    assert s["points"] == 0 and why in s["error"] and "none of its answers were read" in s["error"], s


def test_the_grader_stays_small_whatever_the_kernels_send(batch):
    # 93 MiB in one message, 150 MiB of output, 80 MB of widgets and attachments: before the meter
    # a single message of thirty 32 MiB frames was a gigabyte in the grader.
    assert batch["grader_kib"] < 512 * 1024, batch["grader_kib"]


def _assert_keyring_and_seccomp(res: dict) -> None:
    assert res["refused"] == 9 and res["other"] == {}, res
    assert res["proc_keys"] == "Permission" and res["getpid"] is True, res
    if platform.machine() == "x86_64":
        assert res["x32"] == "EPERM" and res["int80"] == -1, res  # -EPERM in eax, not a pid


def test_the_keyring_and_the_kernels_other_doors_are_shut(batch):
    _assert_keyring_and_seccomp(_result(batch, "keyring_and_seccomp"))


def _assert_socket_buffers_counted(batch) -> None:
    """64 processes tried to hold about 1.5 GiB of socket buffers: the cgroup's OOM killer ended
    enough of them (or the kernel itself, which is then restarted and graded)."""
    s = _sub(batch, "socket_buffers")
    if "ATTACK" in (s["error"] or ""):
        res = _result(batch, "socket_buffers")
        assert res["reported"] > 0 and res["held_alive_mib"] <= MEMORY_MIB, res
    else:
        assert f"reached the memory limit, {MEMORY_MIB} MiB" in s["error"], s
    assert s["points"] == FULL01, s


def test_socket_buffers_count_in_the_memory_total(batch):
    _assert_socket_buffers_counted(batch)


def test_a_submission_gets_one_core_at_most(batch):
    assert "cpu 1 core(s)" in _sub(batch, "cpu_hog")["isolation"]
    assert _result(batch, "cpu_hog")["cpu_per_wall"] <= 1.3


def test_open_files_stop_at_the_limit(batch):
    res = _result(batch, "open_files")
    assert res["error"] == "EMFILE" and res["limit"] == [256, 256] and 100 < res["opened"] < 256, res


@pytest.mark.parametrize("name, why", [("link_answers.ipynb", "symbolic link"), ("link_essay.ipynb", "symbolic link"),
                                       ("link_kmsg.ipynb", "symbolic link"),
                                       ("linked_folder.ipynb", "symbolic link"),
                                       ("fifo.ipynb", "not a regular file"), ("huge.ipynb", "larger than 20 MiB")])
def test_links_fifos_and_huge_files_in_the_folder_are_refused(batch, name, why):
    s = batch["by_name"][name]
    assert s["points"] == 0 and why in s["error"], s


def test_a_linked_folder_is_not_entered(batch):
    assert not any("linked_folder/" in s["path"] for s in batch["report"]["submissions"])


# ---------------------------------------------------------------- as an ordinary user, delegated

NONROOT = ["reply_flood", "output_flood", "big_attachments", "keyring_and_seccomp", "socket_buffers", "cpu_hog",
           "open_files"]


class Delegated:
    """cgroup v1 memory, pids and cpu directories made by root and handed to uid 65534, as an
    administrator delegates them; the grader (as 65534) runs inside them."""

    def __init__(self) -> None:
        from ukva_widgets.grading import cgroups

        own, mounts = cgroups._own_cgroups(), cgroups._cgroup_mounts()
        self.dirs = []
        for c in cgroups.CONTROLLERS:
            if c not in mounts or c not in own:
                pytest.skip(f"no cgroup v1 {c} hierarchy here to delegate (a cgroup v2 machine delegates "
                            "through systemd, which this test cannot make)")
            self.dirs.append(Path(mounts[c], own[c].lstrip("/"), f"ukva-test-delegated-{os.getpid()}"))
        for d in self.dirs:
            d.mkdir()
            for p in [d, d / "cgroup.procs", d / "tasks"]:
                os.chown(p, 65534, 65534)

    def prefix(self) -> list[str]:
        procs = " ".join(str(d / "cgroup.procs") for d in self.dirs)
        return ["sh", "-c", f'for f in {procs}; do echo $$ > "$f"; done; exec "$@"', "sh"]

    def remove(self) -> None:
        for d in self.dirs:
            for _ in range(50):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.1)


def test_as_an_ordinary_user_a_delegated_cgroup_gives_the_same_totals():
    if os.geteuid() != 0:
        pytest.skip("this test delegates a cgroup to uid 65534 (as root), then becomes it; run as root, as CI does")
    if not shutil.which("setpriv") or not shutil.which("unshare"):
        pytest.skip("setpriv/unshare (util-linux) are needed to become a non-root user here")
    delegated = Delegated()
    base = Path(tempfile.mkdtemp(prefix="ukva-attack-grader-nr-"))
    os.chmod(base, 0o755)
    try:
        user = [*delegated.prefix(), *_nonroot_wrapper(base)]
        batch = _grade_batch(base, {k: ATTACKS[k] for k in NONROOT}, honest=0, user=user,
                             wrap=_keyring_wrapper(base), options=OPTIONS,
                             prepare=lambda subs: (subs / "link_answers.ipynb").symlink_to(base / "home" / "secret.txt"))
        proc = batch["proc"]
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
        assert batch["report_uid"] == 65534 and "warning: no cgroup" not in proc.stderr, proc.stderr[-2000:]
        assert batch["by_name"]["honest_a.ipynb"]["points"] == FULL01
        isolations = {s["isolation"] for s in batch["report"]["submissions"] if s.get("isolation")}
        assert all("cgroup v1, delegated" in i and "cpu 1 core(s)" in i for i in isolations), isolations
        assert "a reply to a request the grader never made" in _sub(batch, "reply_flood")["error"]
        flood = _sub(batch, "output_flood")
        assert "more than 500 messages a second" in flood["error"] and flood["points"] == FULL01, flood
        assert "larger than 32 MiB" in _sub(batch, "big_attachments")["error"]
        _assert_keyring_and_seccomp(_result(batch, "keyring_and_seccomp"))
        _assert_socket_buffers_counted(batch)
        assert _result(batch, "cpu_hog")["cpu_per_wall"] <= 1.3
        assert _result(batch, "open_files")["error"] == "EMFILE"
        link = batch["by_name"]["link_answers.ipynb"]
        assert link["points"] == 0 and "symbolic link" in link["error"], link
        assert CANARY not in proc.stdout + proc.stderr + batch["csv"] + json.dumps(batch["report"])
        assert batch["left"] == [] and batch["tmp_left"] == set()
    finally:
        delegated.remove()
        shutil.rmtree(base, ignore_errors=True)
