"""What jupyter_client starts as "the kernel" when grading in the sandbox: it prepares, then
becomes bwrap (see isolation.py). Standard library only; run as `python -I -S isolation_exec.py PLAN`.

In order: join the submission's cgroups (so everything the kernel starts is counted and can be
killed as one); as root, stage the read-only sources in a private mount namespace (so that uid
65534 can bind the Python environment even where it lives under /root) and become uid/gid 65534
with no supplementary groups; ask to be killed when the grader dies (after the uid change, which
clears that setting); open the notebook for bwrap to copy; exec bwrap.
"""

import ctypes
import json
import os
import signal
import sys

CLONE_NEWNS = 0x00020000
MS_BIND, MS_REC, MS_PRIVATE = 0x1000, 0x4000, 0x40000
PR_SET_PDEATHSIG = 1


def _check(result: int, what: str, libc) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def main() -> int:
    with open(sys.argv[1]) as f:
        plan = json.load(f)
    parent = os.getppid()
    for procs in plan["cgroup_procs"]:
        with open(procs, "w") as f:
            f.write(str(os.getpid()))
    libc = ctypes.CDLL(None, use_errno=True)
    if plan["stage"]:
        _check(libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)", libc)
        _check(libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "making / private", libc)
        for source, stage in plan["stage"]:
            _check(libc.mount(source.encode(), stage.encode(), None, MS_BIND | MS_REC, None),
                   f"binding {source}", libc)
    notebook = os.open(plan["notebook"], os.O_RDONLY)  # opened before the uid change
    if plan["drop_to"] is not None:
        uid = plan["drop_to"]
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    _check(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PR_SET_PDEATHSIG)", libc)
    if os.getppid() != parent:  # the grader died before the line above
        return 1
    os.set_inheritable(notebook, True)
    argv = [str(notebook) if a == "@NOTEBOOK_FD@" else a for a in plan["argv"]]
    os.execv(argv[0], argv)
    return 1


if __name__ == "__main__":
    sys.exit(main())
