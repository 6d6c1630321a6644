"""The sandbox one submission's kernel runs in: bubblewrap namespaces, a dedicated uid, cgroups.

Each kernel is started by bubblewrap (`bwrap`, Debian's `bubblewrap` package) in new user, mount,
pid, network, IPC, UTS and cgroup namespaces, as uid 65534 inside, with no way to make further
user namespaces. Its file system is a fresh tmpfs root holding only: read-only binds of the Python
environment (interpreter, standard library, site-packages) and of this package (which may be an
editable checkout: only `ukva_widgets/` is shown, not the rest of the checkout), /usr, a new /proc
(its own processes only), a minimal /dev, a size-capped tmpfs as $HOME and working directory with a
copy of the submission's notebook, a size-capped /dev/shm, and its connection file (read-only). Its
ZMQ sockets are Unix sockets (ipc transport: the network namespace is empty, there is no TCP at
all) in $HOME/.ipc, inside its own tmpfs: the grader reaches them through /proc/PID/root of the
sandbox, via a symlink only the grader's private work directory holds, so nothing the kernel
writes ever lands on the host's disks. Once the kernel has bound them (before any student code
runs), `pin_sockets` opens them without following symlinks and the submission's meter (meter.py)
relays the grader's connections to those descriptors only: whatever the kernel does to its
$HOME/.ipc afterwards, a reconnection reaches the same sockets, never a path of the host. The
environment is an allow-list.
bwrap was chosen over our own unshare/clone code because it is small,
audited, used by Flatpak, and fails closed: any namespace or mount it cannot make stops it.

Inside, a seccomp filter (seccomp.py) refuses the keyring calls, ptrace and its cousins, larger
socket buffers and a few large kernel interfaces; and before bwrap starts, the launcher joins a
fresh, empty session keyring, so nothing of the instructor's keyring is even inherited.

Limits per submission, across all its processes, where a cgroup can be made (cgroups.py: as root,
or as a user in a delegated cgroup): memory (which counts socket buffers and other kernel memory
too), processes, and CPU (`cpus` cores at most). Without one (an ordinary user, nothing delegated):
each process's address space is capped by RLIMIT_AS and the processes by RLIMIT_NPROC, which Linux
counts per uid within the sandbox's own user namespace, and a watchdog sums the memory of the
sandbox's processes; kernel memory is not counted and CPU share is not capped, which
`totals_warning` says. Everywhere: open files (RLIMIT_NOFILE), disk (the tmpfs size), CPU time per
process (RLIMIT_CPU), and the grader's wall clock (meter.py), after which the whole sandbox is killed.

`UKVA_BWRAP` names the bwrap binary to use (default: `bwrap` on PATH); setting it to a missing
file is how the tests make the sandbox unavailable for real.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import site
import stat
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import seccomp
from .cgroups import Cgroup, cgroup_parents
from .meter import Meter

SANDBOX_UID = 65534                       # "nobody", inside and (for a root grader) outside
HOME = "/home/student"
NOTEBOOK = "submission.ipynb"
CONNECTION = "/run/ukva/kernel.json"     # inside the sandbox, read-only
SHM_MIB = 8                              # /dev/shm (multiprocessing's semaphores), counted in the disk
PACKAGE = Path(__file__).resolve().parents[1]  # the ukva_widgets directory
EXEC = Path(__file__).with_name("isolation_exec.py")
ENTRY = Path(__file__).with_name("kernel_stub.py")


class SandboxUnavailable(RuntimeError):
    """The sandbox cannot be made on this machine; the message says what is missing and the fix."""


def bwrap_path() -> str | None:
    """The bwrap binary to use: $UKVA_BWRAP, else `bwrap` on PATH (None when there is none)."""
    named = os.environ.get("UKVA_BWRAP")
    if named:
        return named if os.path.isfile(named) and os.access(named, os.X_OK) else None
    return shutil.which("bwrap")


# ------------------------------------------------------------------------------- the bwrap command

def python_sources() -> list[str]:
    """The directories a kernel needs read-only: the interpreter's prefixes, site-packages, and
    this package (for an editable install, only its `ukva_widgets/` directory)."""
    candidates = [sys.base_prefix, sys.base_exec_prefix, sys.prefix, sys.exec_prefix,
                  os.path.dirname(os.path.dirname(os.path.realpath(sys.executable))),
                  sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["purelib"],
                  sysconfig.get_paths()["platlib"], *site.getsitepackages(), str(PACKAGE)]
    real = sorted({os.path.realpath(p) for p in candidates if p and os.path.isdir(p)})
    out: list[str] = []
    for p in real:  # drop what an earlier (parent) directory already shows; /usr is bound anyway
        if not any(p == q or p.startswith(q.rstrip("/") + "/") for q in [*out, "/usr"]) and p != "/":
            out.append(p)
    # The venv's own path may be a symlink farm: bind the unresolved prefix too.
    for p in (sys.prefix, os.path.dirname(sys.executable)):
        if p and os.path.isdir(p) and not any(p == q or p.startswith(q.rstrip("/") + "/") for q in out):
            out.append(os.path.abspath(p))
    return out


ENV_ALLOWED = {
    "HOME": HOME, "USER": "student", "LOGNAME": "student", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
    "TMPDIR": f"{HOME}/.tmp", "PYTHONHASHSEED": "0", "MPLBACKEND": "Agg",
    "MPLCONFIGDIR": f"{HOME}/.config/matplotlib", "PYDEVD_DISABLE_FILE_VALIDATION": "1",
}


def kernel_env() -> dict[str, str]:
    """The whole environment a kernel gets: nothing of the instructor's."""
    path = ":".join(dict.fromkeys([os.path.dirname(sys.executable), "/usr/local/bin", "/usr/bin", "/bin"]))
    return {**ENV_ALLOWED, "PATH": path}


def _etc_files() -> list[str]:
    return [f for f in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/localtime", "/etc/alternatives")
            if os.path.exists(f)]


@dataclass
class Plan:
    """What isolation_exec.py does before it becomes bwrap (written as JSON, read by it)."""

    argv: list[str]
    cgroup_procs: list[str] = field(default_factory=list)
    stage: list[list[str]] = field(default_factory=list)   # [source, staging dir] (root only)
    drop_to: int | None = None                             # uid/gid to become (root only)
    notebook: str | None = None                            # opened and passed to bwrap as an fd
    connection: str | None = None                          # likewise, the connection file
    link: str | None = None                                # symlink to make: -> /proc/PID/root
    seccomp: str | None = None                             # the filter, passed to bwrap as an fd
    keyctl: int | None = None                              # keyctl's number: join a fresh keyring


def bwrap_argv(bwrap: str, binds: list[tuple[str, str]], link: str, disk_mib: int,
               entry_argv: list[str]) -> list[str]:
    """The bwrap command line; `binds` are (source as bwrap sees it, path inside)."""
    a = [bwrap, "--unshare-user", "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
         "--unshare-cgroup-try", "--disable-userns", "--die-with-parent", "--new-session",
         "--seccomp", "@SECCOMP_FD@",
         "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID), "--hostname", "sandbox",
         "--ro-bind", "/usr", "/usr"]
    for top in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        p = f"/{top}"
        if os.path.islink(p):
            a += ["--symlink", os.readlink(p), p]
        elif os.path.isdir(p):
            a += ["--ro-bind", p, p]
    for f in _etc_files():
        a += ["--ro-bind", f, f]
    for source, inside in binds:
        a += ["--ro-bind", source, inside]
    # A checkout's answer key (grading/answers/, never in the wheel) is not the kernel's to read: an
    # empty, read-only directory in its place.
    key = os.path.realpath(PACKAGE / "grading" / "answers")
    if os.path.isdir(key):
        a += ["--perms", "0555", "--size", "4096", "--tmpfs", key, "--remount-ro", key]
    a += ["--proc", "/proc"]
    for f in ("/proc/keys", "/proc/key-users"):  # which keys this uid has, by name: nothing to see
        if os.path.exists(f):
            a += ["--ro-bind", "/dev/null", f]
    a += ["--dev", "/dev", "--size", str(SHM_MIB << 20), "--tmpfs", "/dev/shm",
          "--remount-ro", "/dev",
          "--size", str(disk_mib << 20), "--perms", "0700", "--tmpfs", HOME,
          "--dir", f"{HOME}/.tmp", "--dir", f"{HOME}/.ipc",
          "--perms", "0644", "--file", "@NOTEBOOK_FD@", f"{HOME}/{NOTEBOOK}",
          "--perms", "0400", "--ro-bind-data", "@CONNECTION_FD@", CONNECTION,
          "--symlink", "/", link,  # so the socket paths in the connection file work inside too
          "--remount-ro", "/", "--chdir", HOME, "--clearenv"]
    for k, v in kernel_env().items():
        a += ["--setenv", k, v]
    return [*a, "--", *entry_argv]


def entry_argv(rlimits: dict[str, int]) -> list[str]:
    """The kernel's own command (inside the sandbox, or directly without one); -f FILE follows."""
    return [sys.executable, "-I", str(ENTRY), json.dumps(rlimits, separators=(",", ":"))]


def _launcher(plan_path: str) -> list[str]:
    return [sys.executable, "-I", "-S", str(EXEC), plan_path]


# ------------------------------------------------------------------------------ availability check

_checked: dict[tuple[str, int], str] = {}
_check_lock = threading.Lock()


def _explain(stderr: str, bwrap: str) -> str:
    hint = ""
    low = stderr.lower()
    if any(w in low for w in ("namespace", "uid map", "unshare", "setting up uid")):
        hint = ("user namespaces look disabled or restricted: allow them with "
                "`sysctl -w kernel.unprivileged_userns_clone=1` (Debian), "
                "`sysctl -w user.max_user_namespaces=15000`, or on Ubuntu 24.04+ "
                "`sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`; inside a container, "
                "run it with user namespaces allowed (e.g. docker --security-opt seccomp=unconfined)")
    elif "unrecognized option" in low or "unknown option" in low:
        hint = "this bwrap is too old: bubblewrap 0.8 or newer is needed (--disable-userns, --size)"
    return (f"the grading sandbox cannot be made: {bwrap} failed: {stderr.strip()[:300] or 'no message'}"
            + (f"; {hint}" if hint else "") + "; or grade without a sandbox with --no-sandbox "
            "(only for submissions you trust)")


def check_bwrap() -> str:
    """The bwrap path, after proving once (per process) that it makes every namespace here."""
    bwrap = bwrap_path()
    if bwrap is None:
        named = os.environ.get("UKVA_BWRAP")
        what = f"UKVA_BWRAP={named} is not an executable file" if named else "bubblewrap (bwrap) is not installed"
        raise SandboxUnavailable(
            f"the grading sandbox cannot be made: {what}; install it with `apt-get install bubblewrap` "
            "(Debian/Ubuntu) or `dnf install bubblewrap`, or grade without a sandbox with --no-sandbox "
            "(only for submissions you trust)")
    key = (bwrap, os.geteuid())
    with _check_lock:
        if key in _checked:
            return bwrap
        with tempfile.TemporaryDirectory(prefix="ukva-check-") as d:
            nb = os.path.join(d, "nb")
            Path(nb).write_text("{}")
            ipc = os.path.join(d, "ipc")
            os.mkdir(ipc)
            argv = bwrap_argv(bwrap, [], os.path.join(ipc, "root"), 1, ["/bin/true"])
            plan = _plan(argv, None, [], nb, d, nb, os.path.join(ipc, "root"))
            try:
                proc = subprocess.run(_launcher(plan), capture_output=True, text=True, timeout=30,
                                      stdin=subprocess.DEVNULL)
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise SandboxUnavailable(_explain(str(exc), bwrap)) from None
            if proc.returncode != 0:
                raise SandboxUnavailable(_explain(proc.stderr or proc.stdout, bwrap))
        _checked[key] = bwrap
    return bwrap


def _plan(argv: list[str], cgroup: Cgroup | None, binds: list[tuple[str, str]], notebook: str,
          workdir: str, connection: str, link: str) -> str:
    root = os.geteuid() == 0
    try:
        program, keyctl = seccomp.program(), seccomp.syscalls()["keyctl"]
    except seccomp.SeccompUnsupported as exc:
        raise SandboxUnavailable(f"the grading sandbox cannot be made: {exc}; grade without a sandbox "
                                 "with --no-sandbox (only for submissions you trust)") from None
    filter_path = os.path.join(workdir, "seccomp.bpf")
    with open(os.open(filter_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
        f.write(program)
    plan = Plan(argv, cgroup.procs_files() if cgroup else [],
                [list(b) for b in binds] if root else [], SANDBOX_UID if root else None, notebook,
                connection, link, filter_path, keyctl)
    path = os.path.join(workdir, "plan.json")
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        json.dump(plan.__dict__, f)
    return path


# ---------------------------------------------------------------------------- one submission's box

_live: dict[int, Sandbox] = {}


@dataclass(frozen=True)
class BoxLimits:
    """What one sandbox enforces (sandbox.Limits says what each is for)."""

    memory_mib: int = 2048
    processes: int = 256
    disk_mib: int = 64
    cpu_seconds: int = 120
    open_files: int = 256
    cpus: float = 1.0
    received_mib: int = 128
    seconds: float = 90.0


class Sandbox:
    """The per-submission pieces that outlive one kernel (a submission may restart its kernel):
    a private work directory, the directory shared with the kernel for its sockets, the cgroups and
    the meter (its relay and clock). `close()` kills everything in it and removes it all."""

    def __init__(self, nb_json: str, limits: BoxLimits, enabled: bool = True) -> None:
        self.enabled = enabled
        self.closed = False
        self.watch_bytes = 0          # >0: no memory cgroup; the watchdog sums the sandbox's memory
        self.memory_killed = False
        self.bwrap = check_bwrap() if enabled else None
        # Short enough for the sockets' paths (a Unix socket's path has at most 107 bytes).
        tmp = tempfile.gettempdir()
        self.workdir = tempfile.mkdtemp(prefix="ukva-grade-", dir=tmp if len(tmp) <= 48 else "/tmp")
        self.cgroup: Cgroup | None = None
        self.launched: list[subprocess.Popen] = []
        self.pinned: list[int] = []  # O_PATH descriptors of the running kernel's sockets
        self.dying: set[int] = set()  # sandbox processes killed, maybe not gone yet
        self.meter: Meter | None = None
        self.tally = {"refused": 0}  # widget messages and binary attachments dropped unread
        try:
            # The kernel's connection file; without a sandbox, its sockets too. With one, `link`
            # (in `ipc_dir`, which only the grader and the launcher may write) leads to the
            # sandbox's root, and the sockets are in the sandbox's own $HOME/.ipc.
            self.ipc_dir = os.path.join(self.workdir, "ipc")
            os.mkdir(self.ipc_dir, 0o700)
            self.link = os.path.join(self.ipc_dir, "root")
            self.notebook = os.path.join(self.workdir, NOTEBOOK)
            with open(os.open(self.notebook, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
                f.write(nb_json)
            self.cwd, self.env = self.workdir, kernel_env()
            rlimits = {"RLIMIT_AS": limits.memory_mib << 20, "RLIMIT_CORE": 0,
                       "RLIMIT_FSIZE": limits.disk_mib << 20, "RLIMIT_CPU": limits.cpu_seconds,
                       "RLIMIT_NOFILE": limits.open_files}
            if enabled:
                root = os.geteuid() == 0
                self.cgroup = Cgroup.create(limits.memory_mib, limits.processes, limits.cpus)
                rlimits["RLIMIT_NPROC"] = limits.processes
                binds = []
                for i, src in enumerate(python_sources()):
                    if root:  # staged by isolation_exec.py, which can still read it as root
                        binds.append((f"/tmp/ukva-stage{i}", src))
                    else:
                        binds.append((src, src))
                argv = bwrap_argv(self.bwrap, binds, self.link, limits.disk_mib,
                                  [*entry_argv(rlimits), "-f", CONNECTION])
                self.command = _launcher(_plan(argv, self.cgroup, [(src, st) for st, src in binds]
                                               if root else [], self.notebook, self.workdir,
                                               self.connection_file(), self.link))
                self.socket_prefix = f"{self.link}{HOME}/.ipc/kernel"
                self.isolation = _describe(limits, self.cgroup, root)
                if self.cgroup is None:
                    self.watch_bytes = limits.memory_mib << 20
            else:
                self.cwd = os.path.join(self.workdir, "home")
                os.mkdir(self.cwd, 0o700)
                os.mkdir(os.path.join(self.cwd, ".tmp"))
                shutil.copy(self.notebook, os.path.join(self.cwd, NOTEBOOK))
                self.env = {k: v.replace(HOME, self.cwd) for k, v in self.env.items()}
                self.command = [*entry_argv(rlimits), "-f", self.connection_file()]
                self.socket_prefix = os.path.join(self.ipc_dir, "kernel")
                self.isolation = "none (--no-sandbox)"
            self.meter = Meter(os.path.join(self.workdir, "pin"), limits.received_mib << 20,
                               time.monotonic() + limits.seconds, self.kill)
        except BaseException:
            self.close()
            raise
        _live[id(self)] = self
        if self.watch_bytes:
            _start_watch()

    def kernel_alive(self, grace: float = 1.0) -> bool:
        """Whether the last kernel still runs `grace` seconds from now (a kernel that just died
        closes its connections a moment before its launcher exits)."""
        deadline = time.monotonic() + grace
        while self.launched and self.launched[-1].poll() is None:
            if time.monotonic() > deadline:
                return True
            time.sleep(0.02)
        return False

    def hit_memory_limit(self) -> bool:
        return self.memory_killed or (self.cgroup is not None and self.cgroup.hit_memory_limit())

    def kernel_command(self) -> list[str]:
        return self.command

    def connection_file(self) -> str:
        return os.path.join(self.ipc_dir, "kernel.json")

    def before_launch(self) -> None:
        """No link to a previous kernel's root and no connection to a previous kernel may stay
        while the next one starts; and no kernel starts in a sandbox that was closed (by
        shutdown_all, say, while its grading thread was about to restart the kernel)."""
        if self.closed:
            raise RuntimeError("grading was stopped: this submission's sandbox is closed")
        self.meter.reset()
        try:
            os.unlink(self.link)
        except FileNotFoundError:
            pass

    def pin_sockets(self, ports: list[int]) -> str | None:
        """Open the kernel's Unix sockets without following any symlink (its $HOME/.ipc is its
        own to change) and have the meter listen for the grader and relay to those descriptors:
        whatever the kernel later renames or replaces, the grader's (re)connections reach those
        same sockets and nothing else. The prefix the grader connects to; None while the sockets
        are not all there yet."""
        flags = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
        start, parts = (self.link, [*HOME.strip("/").split("/"), ".ipc"]) if self.enabled else (self.ipc_dir, [])
        try:
            d = os.open(start, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)  # our own directory or link
        except OSError:
            return None
        fds: list[int] = []
        try:
            for part in parts:
                d, old = os.open(part, flags | os.O_DIRECTORY, dir_fd=d), d
                os.close(old)
            for port in ports:
                fds.append(os.open(f"kernel-{port}", flags, dir_fd=d))
                if not stat.S_ISSOCK(os.fstat(fds[-1]).st_mode):
                    raise OSError(f"kernel-{port} is not a socket")
        except OSError:
            for fd in fds:
                os.close(fd)
            return None
        finally:
            os.close(d)
        self.unpin()
        self.pinned = fds
        return self.meter.serve({port: f"/proc/self/fd/{fd}" for port, fd in zip(ports, fds)})

    def unpin(self) -> None:
        for fd in self.pinned:
            try:
                os.close(fd)
            except OSError:
                pass
        self.pinned = []

    def _sandbox_pids(self) -> set[int]:
        """The bwrap processes of the live kernels: the launchers' children and the sandbox's init."""
        pids = set()
        try:
            pids.add(int(os.readlink(self.link).split("/")[2]))  # /proc/PID/root
        except (OSError, ValueError, IndexError):
            pass
        for proc in self.launched:
            if proc.returncode is None:
                try:
                    pids.update(int(c) for c in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split())
                except (OSError, ValueError):
                    pass
        return pids

    def kill(self) -> None:
        """SIGKILL every kernel of this submission (bwrap's process group; then its pid
        namespace dies with its first process) and everything in its cgroups."""
        if self.meter:
            self.meter.killing = True
        self.dying.update(self._sandbox_pids())
        for proc in self.launched:
            if proc.returncode is not None:  # reaped already: its pid may belong to another process
                continue
            for target in (lambda p=proc: os.killpg(p.pid, signal.SIGKILL), proc.kill):
                try:
                    target()
                except (ProcessLookupError, PermissionError, OSError):
                    pass
        if self.cgroup:
            self.cgroup.kill()

    def close(self) -> None:
        self.closed = True
        _live.pop(id(self), None)
        self.kill()
        if self.meter:
            self.meter.close()
        self.unpin()
        for proc in self.launched:
            try:
                proc.wait(timeout=5)
            except Exception:
                pass
        if self.cgroup:
            self.cgroup.remove()
        # A pid namespace's init exits only once all its processes are gone, which on a busy
        # machine takes a moment: nothing of this submission may outlive close().
        deadline = time.monotonic() + 10
        while self.dying and time.monotonic() < deadline:
            self.dying = {p for p in self.dying if _alive(p)}
            if self.dying:
                time.sleep(0.01)
        shutil.rmtree(self.workdir, ignore_errors=True)


def _describe(limits: BoxLimits, cgroup: Cgroup | None, root: bool) -> str:
    """The isolation line of the report."""
    if cgroup:
        totals = (f"memory {limits.memory_mib} MiB in all (cgroup {cgroup.version}{'' if root else ', delegated'}); "
                  f"pids {limits.processes}; "
                  + (f"cpu {limits.cpus:g} core(s)" if cgroup.cpu_capped else "cpu share not capped (no cpu cgroup)"))
    else:
        totals = (f"memory {limits.memory_mib} MiB per process (RLIMIT_AS) and in all (polled every "
                  f"{WATCH_SECONDS:g} s; no cgroup writable{'' if root else ', not root'}: kernel memory "
                  f"such as socket buffers not counted); processes {limits.processes} (RLIMIT_NPROC in its "
                  "user ns); cpu share not capped")
    return (f"bwrap: user,mount,pid,net,ipc,uts ns; uid {SANDBOX_UID}"
            f"{'' if root else ' (mapped to the grader uid)'}; seccomp; fresh keyring; {totals}; "
            f"open files {limits.open_files}; tmpfs {limits.disk_mib} MiB (+{SHM_MIB} MiB /dev/shm); "
            f"cpu time {limits.cpu_seconds} s per process")


def totals_warning() -> str | None:
    """What an instructor must know when no cgroup can be made here (None when one can)."""
    if cgroup_parents() is not None:
        return None
    why = ("its cgroup has no memory and pids controllers to give" if os.geteuid() == 0
           else "not root, and no cgroup is delegated to this user")
    return (f"no cgroup can be made here ({why}): a "
            "submission's memory total is approximate (socket buffers and other kernel memory are not "
            "counted) and its CPU share is not capped, so one submission can slow or starve the machine; "
            "grade as root, or inside a delegated cgroup (`systemd-run --user --scope -p Delegate=yes "
            "ukva grade ...`)")


def _alive(pid: int) -> bool:
    """Whether `pid` is a process that has not exited yet (a zombie has)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


# ----------------------------------------------------- the memory total without cgroups (non-root)

WATCH_SECONDS = 0.2
_watching = threading.Event()
_watch_lock = threading.Lock()


def _sandbox_rss(box: Sandbox) -> int | None:
    """Memory of every process in the sandbox's pid namespace, in bytes (None: not up)."""
    try:
        init = int(os.readlink(box.link).split("/")[2])  # /proc/PID/root
        ns = os.readlink(f"/proc/{init}/ns/pid")
    except (OSError, ValueError, IndexError):
        return None
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{entry.name}/ns/pid") == ns or entry.name == str(init):
                # Proportional set size: a page a fork shares with its parent counts once in all.
                with open(f"/proc/{entry.name}/smaps_rollup") as f:
                    for line in f:
                        if line.startswith("Pss:"):
                            total += int(line.split()[1]) << 10
                            break
        except (OSError, ValueError, IndexError):
            continue
    return total


def _watch() -> None:
    """Poll the sandboxes that have no memory cgroup; kill one whose processes together hold more
    than its limit. An approximation: a burst between two polls can overshoot, each process is
    still capped by RLIMIT_AS."""
    while True:
        with _watch_lock:
            boxes = [b for b in list(_live.values()) if b.watch_bytes]
            if not boxes:
                _watching.clear()
                return
        for box in boxes:
            rss = _sandbox_rss(box)
            if rss is not None and rss > box.watch_bytes:
                box.memory_killed = True
                box.kill()
        time.sleep(WATCH_SECONDS)


def _start_watch() -> None:
    with _watch_lock:
        if not _watching.is_set():
            _watching.set()
            threading.Thread(target=_watch, name="ukva-memory-watch", daemon=True).start()


def shutdown_all() -> None:
    """Kill every live kernel and helper process the sandboxes started, and remove their
    directories and cgroups. Idempotent; safe to call from a signal handler's path."""
    for box in list(_live.values()):
        box.kill()
    for box in list(_live.values()):
        box.close()


atexit.register(shutdown_all)  # a grader that exits normally leaves nothing behind either
