"""Helpers for the real-kernel tests: the skip-or-fail gate, fresh interpreters, a kcmp denier."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ukva_widgets.real.probe import KCMP_SYSCALL

ROOT = Path(__file__).resolve().parents[2]
RANDOM_SEQUENCES = 1000   # ~15 s here, with the listed cases (benchmarks/bench_real.py measures it)


def skip_or_fail(why: str) -> None:
    """Skip when the kernel cannot be asked; fail instead when UKVA_REQUIRE_KERNEL=1 (CI)."""
    if os.environ.get("UKVA_REQUIRE_KERNEL") == "1":
        pytest.fail(f"{why} (UKVA_REQUIRE_KERNEL=1 requires the real kernel)")
    pytest.skip(why)


def run_python(script: str, *prefix: str, python: str = sys.executable, prelude: str = "",
               env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run `prelude` then `script` in a fresh interpreter that can import ukva_widgets (started
    through `prefix`, e.g. setpriv); with `check`, assert it exited 0."""
    done = subprocess.run([*prefix, python, "-c", prelude + textwrap.dedent(script)], cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 or not check, done.stderr
    return done


# The unprivileged runs drop to uid 65534 with setpriv and run the system's python3 on the tree.
can_drop_privileges = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("setpriv") or not os.access("/usr/bin/python3", os.X_OK),
    reason="needs root, setpriv and /usr/bin/python3 to drop to an unprivileged user")


def run_as_nobody(script: str, keep: str = "") -> str:
    """The stdout of `script` run as uid/gid 65534 with no capabilities (use can_drop_privileges)
    but the one named by `keep` (e.g. "sys_nice"), if any."""
    caps = [f"--inh-caps=-all,+{keep}", f"--ambient-caps=+{keep}", f"--bounding-set=-all,+{keep}"] if keep \
        else ["--inh-caps=-all", "--bounding-set=-all"]
    return run_python(script, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *caps,
                      python="/usr/bin/python3").stdout


def deny_kcmp(errno: int) -> str:
    """Python source that installs a seccomp filter making kcmp(2) fail with `errno` in this
    process and everything it starts (filters survive fork and exec); all else is allowed."""
    return textwrap.dedent(f"""
        import ctypes, struct
        _prog = b"".join([
            struct.pack("HBBI", 0x20, 0, 0, 0),                       # load seccomp_data.nr
            struct.pack("HBBI", 0x15, 0, 1, {KCMP_SYSCALL[platform.machine()]}),  # kcmp? next : skip
            struct.pack("HBBI", 0x06, 0, 0, 0x00050000 | {errno}),    # SECCOMP_RET_ERRNO | errno
            struct.pack("HBBI", 0x06, 0, 0, 0x7FFF0000),              # SECCOMP_RET_ALLOW
        ])
        _buf = ctypes.create_string_buffer(_prog)
        _libc = ctypes.CDLL(None, use_errno=True)
        assert _libc.prctl(38, 1, 0, 0, 0) == 0                       # PR_SET_NO_NEW_PRIVS
        _fprog = struct.pack("HxxxxxxQ", 4, ctypes.addressof(_buf))
        assert _libc.prctl(22, 2, ctypes.c_char_p(_fprog), 0, 0) == 0, ctypes.get_errno()
    """)
