"""What jupyter_client starts as "the kernel" when grading in the sandbox: it prepares, then
becomes bwrap (see isolation.py). Standard library only; run as `python -I -S isolation_exec.py PLAN`.

In order: join the submission's cgroups (so everything the kernel starts is counted and can be
killed as one); open the notebook, the connection file and the seccomp filter for bwrap; as root, stage the
read-only sources in a private mount namespace (so that uid 65534 can bind the Python environment
even where it lives under /root, or the grader's work directory is in a private TMPDIR); ask to be
killed when the grader dies; fork bwrap, which (as root: after becoming uid/gid 65534 with no
supplementary groups) joins a fresh, empty session keyring (nothing of the grader's keyring is
inherited) and asks to die with this process; point the grader's link at the sandbox's
root (/proc/PID/root, where the kernel's sockets are), and wait for bwrap, exiting with its status.
This process keeps the grader's uid, so the link's directory stays the grader's alone. jupyter_client stops
"the kernel" by killing this process's group, which holds this process and bwrap (the sandbox is in a session
of its own);
bwrap's --die-with-parent and the pid namespace take everything inside down with them.
"""

import ctypes
import json
import os
import signal
import sys

CLONE_NEWNS = 0x00020000
MS_NOSUID, MS_NODEV, MS_BIND, MS_REC, MS_PRIVATE = 0x2, 0x4, 0x1000, 0x4000, 0x40000
PR_SET_PDEATHSIG = 1
KEYCTL_JOIN_SESSION_KEYRING = 1


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
    # Opened before the uid change and before /tmp is covered below.
    fds = {"@NOTEBOOK_FD@": os.open(plan["notebook"], os.O_RDONLY),
           "@CONNECTION_FD@": os.open(plan["connection"], os.O_RDONLY),
           "@SECCOMP_FD@": os.open(plan["seccomp"], os.O_RDONLY)}
    link_dir = os.open(os.path.dirname(plan["link"]), os.O_PATH | os.O_DIRECTORY)
    if plan["stage"]:
        # A private /tmp (in a private mount namespace) that uid 65534 can enter, holding binds
        # of what bwrap will show read-only; nobody else sees these mounts. The sources are opened
        # first and bound through /proc/self/fd: one may live under /tmp itself (a checkout and its
        # venv in /tmp), which the staging tmpfs covers.
        _check(libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)", libc)
        _check(libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "making / private", libc)
        sources = [(source, os.open(source, os.O_PATH), stage) for source, stage in plan["stage"]]
        _check(libc.mount(b"tmpfs", b"/tmp", b"tmpfs", MS_NOSUID | MS_NODEV, b"mode=0755,size=64k"),
               "a tmpfs for staging", libc)
        for source, fd, stage in sources:
            os.mkdir(stage, 0o755)
            _check(libc.mount(f"/proc/self/fd/{fd}".encode(), stage.encode(), None, MS_BIND | MS_REC, None),
                   f"binding {source}", libc)
            os.close(fd)
    _check(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PR_SET_PDEATHSIG)", libc)
    if os.getppid() != parent:  # the grader died before the line above
        return 1
    for fd in fds.values():
        os.set_inheritable(fd, True)
    info_r, info_w = os.pipe()
    os.set_inheritable(info_w, True)
    argv = [str(fds[a]) if a in fds else a for a in plan["argv"]]
    argv[1:1] = ["--info-fd", str(info_w)]
    me = os.getpid()
    bwrap = os.fork()
    if bwrap == 0:  # bwrap runs as the sandbox uid; this process keeps its own (to make the link)
        try:
            os.close(info_r)
            os.close(link_dir)
            if plan["drop_to"] is not None:
                uid = plan["drop_to"]
                os.setgroups([])
                os.setresgid(uid, uid, uid)
                os.setresuid(uid, uid, uid)
            # A new anonymous session keyring, owned by the uid the sandbox runs as.
            if libc.syscall(plan["keyctl"], KEYCTL_JOIN_SESSION_KEYRING, None) < 0:
                _check(-1, "keyctl(KEYCTL_JOIN_SESSION_KEYRING)", libc)
            # After the uid change, which clears it; dies with this process.
            _check(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PR_SET_PDEATHSIG)", libc)
            if os.getppid() == me:
                os.execv(argv[0], argv)
        except BaseException as exc:  # the grader reads this as the reason the sandbox failed
            os.write(2, f"the sandbox launcher failed: {exc}\n".encode())
        finally:
            os._exit(127)
    os.close(info_w)
    for fd in fds.values():
        os.close(fd)
    with os.fdopen(info_r) as f:
        info = f.read()
    if info.strip():
        child = json.loads(info)["child-pid"]
        name = os.path.basename(plan["link"])
        os.symlink(f"/proc/{child}/root", name + ".new", dir_fd=link_dir)
        os.replace(name + ".new", name, src_dir_fd=link_dir, dst_dir_fd=link_dir)
    _, status = os.waitpid(bwrap, 0)
    return os.waitstatus_to_exitcode(status) & 0xFF


if __name__ == "__main__":
    sys.exit(main())
