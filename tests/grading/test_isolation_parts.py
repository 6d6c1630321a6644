"""The sandbox's parts one by one, against the real kernel: the seccomp program (its syscall numbers
against this machine's headers, its verdicts under bwrap), the fresh session keyring the launcher
joins, and the check that every private name of jupyter_client and nbclient the grader relies on
still exists. (Whole hostile submissions are in test_attacks*.py.)"""

from __future__ import annotations

import ast
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ukva_widgets.grading import clients, isolation, seccomp

HEADERS = {"x86_64": ("/usr/include/x86_64-linux-gnu/asm/unistd_64.h", r"#define __NR_(\w+)\s+(\d+)"),
           "aarch64": ("/usr/include/asm-generic/unistd.h", r"#define __NR(?:3264)?_(\w+)\s+(\d+)")}


@pytest.mark.parametrize("machine", sorted(seccomp.ARCHES))
def test_the_syscall_numbers_are_the_kernels(machine):
    path, pattern = HEADERS[machine]
    if not os.path.exists(path):
        pytest.skip(f"{path} is missing: install the kernel's headers (Debian: linux-libc-dev, which gcc brings)")
    numbers = {name: int(n) for name, n in re.findall(pattern, Path(path).read_text())}
    assert seccomp.syscalls(machine) == {name: numbers[name] for name in seccomp.syscalls(machine)}


def test_an_unknown_architecture_is_refused_by_name():
    with pytest.raises(seccomp.SeccompUnsupported, match="x86_64 and aarch64, not riscv64"):
        seccomp.program("riscv64")


PROBE = """
import ctypes, errno, socket
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def call(nr, *a):
    ctypes.set_errno(0)
    return errno.errorcode.get(ctypes.get_errno()) if libc.syscall(nr, *a) < 0 else 'ok'
n = {numbers}
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # another option of the same call: allowed
try:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    rcvbuf = 'ok'
except OSError as e:
    rcvbuf = errno.errorcode.get(e.errno)
print(call(n['keyctl'], 0, ctypes.c_long(-3), 0), call(n['add_key'], b'user', b'x', b'y', 1, ctypes.c_long(-3)),
      call(n['ptrace'], 0, 0, 0, 0), rcvbuf, call(39 | 0x40000000) if {x86} else 'EPERM', call(n['getppid']))
"""


def test_the_filter_refuses_what_it_names_and_allows_the_rest(tmp_path):
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        pytest.skip("bubblewrap (bwrap) is not installed: apt-get install bubblewrap")
    numbers = {**seccomp.syscalls(), "getppid": {"x86_64": 110, "aarch64": 173}[platform.machine()]}
    program = tmp_path / "filter.bpf"
    program.write_bytes(seccomp.program())
    code = PROBE.format(numbers=numbers, x86=platform.machine() == "x86_64")
    with open(program, "rb") as f:
        out = subprocess.run([bwrap, "--unshare-user", "--dev-bind", "/", "/", "--seccomp", str(f.fileno()),
                              "/usr/bin/python3", "-c", code], pass_fds=[f.fileno()], capture_output=True,
                             text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["EPERM"] * 5 + ["ok"], out.stdout


FRESH = """
import ctypes, os, struct, subprocess, sys
sys.path[:0] = [{root!r}]
from ukva_widgets.grading import isolation, seccomp
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
keyctl = seccomp.syscalls()['keyctl']
assert libc.syscall(keyctl, 1, b'ukva-instructor') > 0  # this process's own session keyring ...
assert libc.syscall(seccomp.syscalls()['add_key'], b'user', b'ukvacanary', b'secret', 6, ctypes.c_long(-3)) > 0
print(libc.syscall(keyctl, 0, ctypes.c_long(-3), 0))  # ... and its serial
inside = (
    "import ctypes; libc = ctypes.CDLL(None); libc.syscall.restype = ctypes.c_long; "
    "print(libc.syscall({keyctl}, 0, ctypes.c_long(-3), 0), libc.syscall({keyctl}, 11, ctypes.c_long(-3), None, 0))")
d = sys.argv[1]
open(os.path.join(d, 'nb'), 'w').write('{{}}')
os.mkdir(os.path.join(d, 'ipc'))
link = os.path.join(d, 'ipc', 'root')
argv = isolation.bwrap_argv(isolation.check_bwrap(), [], link, 1, ['/usr/bin/python3', '-c', inside])
plan = isolation._plan(argv, None, [], os.path.join(d, 'nb'), d, os.path.join(d, 'nb'), link)
open(os.path.join(d, 'seccomp.bpf'), 'wb').write(struct.pack('=HBBI', 0x06, 0, 0, 0x7FFF0000))  # RET ALLOW
out = subprocess.run(isolation._launcher(plan), capture_output=True, text=True, timeout=60)
print(out.stdout.strip(), out.stderr.strip())
"""


def test_the_sandbox_starts_in_a_fresh_empty_session_keyring(tmp_path):
    # The grader's process joins a session keyring holding a key; the launcher runs bwrap with a
    # filter that allows everything (so the keyring can be looked at from inside) and the sandbox
    # finds a session keyring of its own, with nothing in it.
    try:
        isolation.check_bwrap()
    except isolation.SandboxUnavailable as exc:
        pytest.skip(str(exc))
    os.chmod(tmp_path, 0o755)
    script = FRESH.format(root=str(Path(__file__).resolve().parents[2]), keyctl=seccomp.syscalls()["keyctl"])
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    outside, inside, size = out.stdout.split()[:3]
    assert int(inside) > 0 and inside != outside, out.stdout  # another keyring
    assert int(size) == 0, out.stdout  # with no key in it: KEYCTL_READ of it has nothing to return


def _library_privates() -> dict[str, set[str]]:
    """Private methods clients.py defines in subclasses of library classes, by the base's name."""
    tree = ast.parse(Path(clients.__file__).read_text())
    found: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for base in node.bases:
                name = getattr(base, "id", None)
                if name in {b.__name__ for b in clients.PRIVATE}:
                    found.setdefault(name, set()).update(
                        f.name for f in node.body
                        if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)) and f.name.startswith("_")
                        and not f.name.startswith("__"))
                    found[name].update(t.id for a in node.body if isinstance(a, ast.Assign) for t in a.targets
                                       if isinstance(t, ast.Name) and t.id.startswith("_"))
    return found


def test_every_private_name_the_grader_overrides_is_checked():
    checked = {base.__name__: set(names) for base, names in clients.PRIVATE.items()}
    for base, names in _library_privates().items():
        assert names <= checked[base], f"{base}: {names - checked[base]} overridden but not in clients.PRIVATE"


def test_a_renamed_private_method_stops_the_grader_with_a_clear_error():
    class Base:
        def _kept(self):
            pass

    clients.check_private_names({Base: ("_kept",)})  # present: nothing to say
    with pytest.raises(ImportError) as caught:
        clients.check_private_names({Base: ("_kept", "_async_launch_kernel")})
    message = str(caught.value)
    assert "Base._async_launch_kernel" in message and "_kept" not in message
    assert "jupyter_client>=8,<9" in message and "nbclient>=0.10,<0.12" in message


def test_the_pins_are_the_checked_versions():
    text = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    for name, spec in clients.PINS.items():
        assert f'"{name}{spec}"' in text, (name, spec)
