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
runs), `pin_sockets` opens them without following symlinks and the grader connects only through
/proc/self/fd links to those descriptors: whatever the kernel does to its $HOME/.ipc afterwards,
a reconnection reaches the same sockets, never a path of the host. The environment is an allow-list.
bwrap was chosen over our own unshare/clone code because it is small,
audited, used by Flatpak, and fails closed: any namespace or mount it cannot make stops it.

Limits per submission, across all its processes: when the grader is root, a memory cgroup
(memory.limit_in_bytes, or memory.max on cgroup v2) and a pids cgroup; the kernel runs as the real
uid 65534 ("nobody"), never as root. When not root (no cgroup to write), each process's address
space is capped by RLIMIT_AS and the processes by RLIMIT_NPROC, which Linux counts per uid within
the sandbox's own user namespace; total memory is then at most processes x memory (the README
says so). Disk is the tmpfs size; CPU time is RLIMIT_CPU per process plus the grader's wall-clock
limits, after which the whole sandbox is killed.

`UKVA_BWRAP` names the bwrap binary to use (default: `bwrap` on PATH); setting it to a missing
file is how the tests make the sandbox unavailable for real.
"""

from __future__ import annotations

import atexit
import errno
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


# ---------------------------------------------------------------------------------------- cgroups

def _own_cgroups() -> dict[str, str]:
    """controller name (or "" for cgroup v2) -> this process's cgroup path."""
    out = {}
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for c in controllers.split(",") if controllers else [""]:
                out[c] = path
    except OSError:
        pass
    return out


def _cgroup_mounts() -> dict[str, str]:
    """controller (or "" for the cgroup v2 mount) -> its mount point."""
    out: dict[str, str] = {}
    try:
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            left, right = line.split(" - ", 1)
            fstype, _, options = right.split(" ", 2)
            mount = left.split(" ")[4]
            if fstype == "cgroup2":
                out.setdefault("", mount)
            elif fstype == "cgroup":
                for opt in options.split(","):
                    if opt in ("memory", "pids"):
                        out.setdefault(opt, mount)
    except (OSError, ValueError):
        pass
    return out


def cgroup_parents() -> tuple[str, dict[str, str]] | None:
    """("v1"|"v2", {"memory": dir, "pids": dir}): where this process may make child cgroups for
    both controllers, under its own cgroups (so the grader's own limits still cover the kernels);
    None when it may not (not root, or no such controllers)."""
    own, mounts = _own_cgroups(), _cgroup_mounts()
    v1 = {}
    for c in ("memory", "pids"):
        if c in mounts and c in own:
            d = os.path.join(mounts[c], own[c].lstrip("/"))
            if os.path.isdir(d) and os.access(d, os.W_OK):
                v1[c] = d
    if len(v1) == 2:
        return "v1", v1
    if "" in mounts and "" in own:
        d = os.path.join(mounts[""], own[""].lstrip("/"))
        try:
            enabled = Path(d, "cgroup.subtree_control").read_text().split()
        except OSError:
            enabled = []
        if {"memory", "pids"} <= set(enabled) and os.access(d, os.W_OK):
            return "v2", {"memory": d, "pids": d}
    return None


_counter = iter(range(1, 1 << 62))


def _remove_stale(parent: str) -> None:
    """Remove the cgroups a grader that was killed outright (SIGKILL) left behind."""
    try:
        names = os.listdir(parent)
    except OSError:
        return
    for name in names:
        parts = name.split("-")
        if name.startswith("ukva-grade-") and len(parts) == 4 and parts[2].isdigit() \
                and not os.path.exists(f"/proc/{parts[2]}"):
            Cgroup("v1", [os.path.join(parent, name)]).remove()


@dataclass
class Cgroup:
    """One submission's memory and pids cgroups (the same directory on cgroup v2)."""

    version: str
    dirs: list[str]

    @classmethod
    def create(cls, memory_mib: int, processes: int) -> Cgroup | None:
        parents = cgroup_parents()
        if parents is None:
            return None
        version, where = parents
        for parent in set(where.values()):
            _remove_stale(parent)
        name = f"ukva-grade-{os.getpid()}-{next(_counter)}"
        made = []
        try:
            for c in dict.fromkeys(where.values()):
                path = os.path.join(c, name)
                os.mkdir(path)
                made.append(path)
            limit = str(memory_mib << 20)
            if version == "v1":
                mem, pids = os.path.join(where["memory"], name), os.path.join(where["pids"], name)
                Path(mem, "memory.limit_in_bytes").write_text(limit)
                try:  # memory + swap, where swap accounting is on
                    Path(mem, "memory.memsw.limit_in_bytes").write_text(limit)
                except OSError:
                    pass
                Path(pids, "pids.max").write_text(str(processes))
            else:
                d = made[0]
                Path(d, "memory.max").write_text(limit)
                try:
                    Path(d, "memory.swap.max").write_text("0")
                except OSError:
                    pass
                Path(d, "pids.max").write_text(str(processes))
        except OSError:
            for path in made:
                try:
                    os.rmdir(path)
                except OSError:
                    pass
            return None
        return cls(version, made)

    def procs_files(self) -> list[str]:
        return [os.path.join(d, "cgroup.procs") for d in self.dirs]

    def pids(self) -> set[int]:
        found = set()
        for f in self.procs_files():
            try:
                found.update(int(p) for p in Path(f).read_text().split())
            except (OSError, ValueError):
                pass
        return found

    def kill(self) -> None:
        """SIGKILL every process in the cgroups, until none is left (a fork racing the kill is
        caught on the next round)."""
        deadline = time.monotonic() + 5
        while True:
            pids = self.pids()
            if not pids or time.monotonic() > deadline:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            time.sleep(0.01)

    def remove(self) -> None:
        self.kill()
        for d in self.dirs:
            for _ in range(100):
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    if exc.errno != errno.EBUSY:
                        break
                    self.kill()
                    time.sleep(0.01)

    def hit_memory_limit(self) -> bool:
        """Whether the kernel's out-of-memory killer ran in this cgroup."""
        for d in self.dirs:
            for name in ("memory.oom_control", "memory.events"):
                try:
                    for line in Path(d, name).read_text().splitlines():
                        key, _, value = line.partition(" ")
                        if key == "oom_kill" and int(value) > 0:
                            return True
                except (OSError, ValueError):
                    continue
        return False


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


def bwrap_argv(bwrap: str, binds: list[tuple[str, str]], link: str, disk_mib: int,
               entry_argv: list[str]) -> list[str]:
    """The bwrap command line; `binds` are (source as bwrap sees it, path inside)."""
    a = [bwrap, "--unshare-user", "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
         "--unshare-cgroup-try", "--disable-userns", "--die-with-parent", "--new-session",
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
    a += ["--proc", "/proc", "--dev", "/dev", "--size", str(SHM_MIB << 20), "--tmpfs", "/dev/shm",
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
    plan = Plan(argv, cgroup.procs_files() if cgroup else [],
                [list(b) for b in binds] if root else [], SANDBOX_UID if root else None, notebook,
                connection, link)
    path = os.path.join(workdir, "plan.json")
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        json.dump(plan.__dict__, f)
    return path


# ---------------------------------------------------------------------------- one submission's box

_live: dict[int, Sandbox] = {}


class Sandbox:
    """The per-submission pieces that outlive one kernel (a submission may restart its kernel):
    a private work directory, the directory shared with the kernel for its sockets, and the
    cgroups. `close()` kills everything in it and removes it all."""

    def __init__(self, nb_json: str, memory_mib: int, processes: int, disk_mib: int,
                 cpu_seconds: int, enabled: bool = True) -> None:
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
        try:
            # The kernel's connection file; without a sandbox, its sockets too. With one, `link`
            # (in `ipc_dir`, which only the grader and the launcher may write) leads to the
            # sandbox's root, and the sockets are in the sandbox's own $HOME/.ipc.
            self.ipc_dir = os.path.join(self.workdir, "ipc")
            os.mkdir(self.ipc_dir, 0o700)
            self.link = os.path.join(self.ipc_dir, "root")
            self.pin_dir = os.path.join(self.workdir, "pin")
            self.pinned_prefix = os.path.join(self.pin_dir, "kernel")
            self.notebook = os.path.join(self.workdir, NOTEBOOK)
            with open(os.open(self.notebook, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
                f.write(nb_json)
            self.cwd, self.env = self.workdir, kernel_env()
            rlimits = {"RLIMIT_AS": memory_mib << 20, "RLIMIT_CORE": 0, "RLIMIT_FSIZE": disk_mib << 20,
                       "RLIMIT_CPU": cpu_seconds}
            if enabled:
                root = os.geteuid() == 0
                if root:
                    self.cgroup = Cgroup.create(memory_mib, processes)
                rlimits["RLIMIT_NPROC"] = processes
                binds = []
                for i, src in enumerate(python_sources()):
                    if root:  # staged by isolation_exec.py, which can still read it as root
                        binds.append((f"/tmp/ukva-stage{i}", src))
                    else:
                        binds.append((src, src))
                argv = bwrap_argv(self.bwrap, binds, self.link, disk_mib,
                                  [*entry_argv(rlimits), "-f", CONNECTION])
                self.command = _launcher(_plan(argv, self.cgroup, [(src, st) for st, src in binds]
                                               if root else [], self.notebook, self.workdir,
                                               self.connection_file(), self.link))
                self.socket_prefix = f"{self.link}{HOME}/.ipc/kernel"
                cg = (f"memory {memory_mib} MiB in all (cgroup {self.cgroup.version}); pids {processes}"
                      if self.cgroup else f"memory {memory_mib} MiB per process (RLIMIT_AS) and in all "
                      f"(polled every {WATCH_SECONDS:g} s; no cgroup writable{'' if root else ', not root'}); "
                      f"processes "
                      f"{processes} (RLIMIT_NPROC in its user ns)")
                if self.cgroup is None:
                    self.watch_bytes = memory_mib << 20
                self.isolation = (f"bwrap: user,mount,pid,net,ipc,uts ns; uid {SANDBOX_UID}"
                                  f"{'' if root else ' (mapped to the grader uid)'}; {cg}; "
                                  f"tmpfs {disk_mib} MiB (+{SHM_MIB} MiB /dev/shm); cpu {cpu_seconds} s")
            else:
                self.cwd = os.path.join(self.workdir, "home")
                os.mkdir(self.cwd, 0o700)
                os.mkdir(os.path.join(self.cwd, ".tmp"))
                shutil.copy(self.notebook, os.path.join(self.cwd, NOTEBOOK))
                self.env = {k: v.replace(HOME, self.cwd) for k, v in self.env.items()}
                self.command = [*entry_argv(rlimits), "-f", self.connection_file()]
                self.socket_prefix = os.path.join(self.ipc_dir, "kernel")
                self.isolation = "none (--no-sandbox)"
        except BaseException:
            self.close()
            raise
        _live[id(self)] = self
        if self.watch_bytes:
            _start_watch()

    def hit_memory_limit(self) -> bool:
        return self.memory_killed or (self.cgroup is not None and self.cgroup.hit_memory_limit())

    def kernel_command(self) -> list[str]:
        return self.command

    def connection_file(self) -> str:
        return os.path.join(self.ipc_dir, "kernel.json")

    def before_launch(self) -> None:
        """No link to a previous kernel's root may stay while the next one starts; and no kernel
        starts in a sandbox that was closed (by shutdown_all, say, while its grading thread was
        about to restart the kernel)."""
        if self.closed:
            raise RuntimeError("grading was stopped: this submission's sandbox is closed")
        try:
            os.unlink(self.link)
        except FileNotFoundError:
            pass

    def pin_sockets(self, ports: list[int]) -> bool:
        """Open the kernel's Unix sockets without following any symlink (its $HOME/.ipc is its
        own to change) and point `pinned_prefix`-PORT at them through /proc/self/fd: whatever
        the kernel later renames or replaces, the grader's (re)connections reach those same
        sockets and nothing else. False while they are not all there yet."""
        flags = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            d = os.open(self.link, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)  # our link: /proc/PID/root
        except OSError:
            return False
        fds: list[int] = []
        try:
            for part in [*HOME.strip("/").split("/"), ".ipc"]:
                d, old = os.open(part, flags | os.O_DIRECTORY, dir_fd=d), d
                os.close(old)
            for port in ports:
                fds.append(os.open(f"kernel-{port}", flags, dir_fd=d))
                if not stat.S_ISSOCK(os.fstat(fds[-1]).st_mode):
                    raise OSError(f"kernel-{port} is not a socket")
        except OSError:
            for fd in fds:
                os.close(fd)
            return False
        finally:
            os.close(d)
        self.unpin()
        self.pinned = fds
        os.makedirs(self.pin_dir, 0o700, exist_ok=True)
        for port, fd in zip(ports, fds):
            link = os.path.join(self.pin_dir, f"kernel-{port}")
            os.symlink(f"/proc/self/fd/{fd}", link + ".new")
            os.replace(link + ".new", link)
        return True

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
