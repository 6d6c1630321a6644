"""One submission's cgroups: its memory, process and CPU totals, and the way to kill all it started.

The grader makes them below its own cgroups, so the grader's own limits still cover the kernels:
- as root, in its own cgroup v1 hierarchies (memory, pids, cpu) or its cgroup v2 directory;
- as an ordinary user, in a cgroup delegated to it: cgroup v1 directories chowned to the user
  (what an administrator does to delegate them), or a cgroup v2 directory it owns whose memory and
  pids controllers it may enable, as in a systemd user scope made with
  `systemd-run --user --scope -p Delegate=yes ukva grade ...`.
In a cgroup v2 directory whose controllers are available but not enabled for children, the grader
first moves itself into a leaf (`ukva-grader`), as cgroup v2 wants processes only in leaves.
Without one, `cgroup_parents()` says so (None) and isolation.py falls back on rlimits, which count
no kernel memory (socket buffers) and cap no CPU share: `ukva grade` then warns.
"""

from __future__ import annotations

import errno
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

CONTROLLERS = ("memory", "pids", "cpu")  # memory and pids are required, cpu is used where it is there
CPU_PERIOD_US = 100_000
LEAF = "ukva-grader"


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
                    if opt in CONTROLLERS:
                        out.setdefault(opt, mount)
    except (OSError, ValueError):
        pass
    return out


def _words(path: str) -> set[str]:
    try:
        return set(Path(path).read_text().split())
    except OSError:
        return set()


def _delegated_v2(d: str) -> bool:
    """In a cgroup v2 directory this process may write and sits in, with memory and pids available
    but not enabled for children (a delegated systemd scope): move into a leaf and enable them.
    False if it cannot (another process in `d`, say: cgroup v2 allows processes only in leaves)."""
    if not {"memory", "pids"} <= _words(os.path.join(d, "cgroup.controllers")):
        return False
    try:
        os.makedirs(os.path.join(d, LEAF), exist_ok=True)
        Path(d, LEAF, "cgroup.procs").write_text(str(os.getpid()))
        Path(d, "cgroup.subtree_control").write_text("+memory +pids")
    except OSError:
        return False
    try:
        Path(d, "cgroup.subtree_control").write_text("+cpu")
    except OSError:
        pass  # no CPU cap there; the isolation line says so
    return True


_parents: tuple[str, dict[str, str]] | None = None


def cgroup_parents() -> tuple[str, dict[str, str]] | None:
    """("v1"|"v2", {controller: directory}): where this process may make child cgroups, with memory
    and pids at least (and cpu where it may); None where it may not."""
    global _parents
    if _parents is not None:
        return _parents
    own, mounts = _own_cgroups(), _cgroup_mounts()
    v1 = {}
    for c in CONTROLLERS:
        if c in mounts and c in own:
            d = os.path.join(mounts[c], own[c].lstrip("/"))
            if os.path.isdir(d) and os.access(d, os.W_OK):
                v1[c] = d
    if "memory" in v1 and "pids" in v1:
        _parents = ("v1", v1)
    elif "" in mounts and "" in own:
        d = os.path.join(mounts[""], own[""].lstrip("/"))
        if os.access(d, os.W_OK):
            enabled = _words(os.path.join(d, "cgroup.subtree_control"))
            if not {"memory", "pids"} <= enabled and _delegated_v2(d):
                enabled = _words(os.path.join(d, "cgroup.subtree_control"))
            if {"memory", "pids"} <= enabled:
                _parents = ("v2", {c: d for c in CONTROLLERS if c in enabled})
    return _parents


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
    """One submission's cgroups (one directory per controller on v1, one in all on v2)."""

    version: str
    dirs: list[str]
    cpu_capped: bool = False

    @classmethod
    def create(cls, memory_mib: int, processes: int, cpus: float) -> Cgroup | None:
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
                os.mkdir(os.path.join(c, name))
                made.append(os.path.join(c, name))
            at = {c: os.path.join(d, name) for c, d in where.items()}
            limit, quota = str(memory_mib << 20), int(cpus * CPU_PERIOD_US)
            if version == "v1":
                Path(at["memory"], "memory.limit_in_bytes").write_text(limit)
                _try(Path(at["memory"], "memory.memsw.limit_in_bytes"), limit)  # where swap is accounted
                Path(at["pids"], "pids.max").write_text(str(processes))
                cpu = "cpu" in at and _try(Path(at["cpu"], "cpu.cfs_period_us"), str(CPU_PERIOD_US)) \
                    and _try(Path(at["cpu"], "cpu.cfs_quota_us"), str(quota))
            else:
                Path(at["memory"], "memory.max").write_text(limit)
                _try(Path(at["memory"], "memory.swap.max"), "0")
                Path(at["pids"], "pids.max").write_text(str(processes))
                cpu = "cpu" in at and _try(Path(at["cpu"], "cpu.max"), f"{quota} {CPU_PERIOD_US}")
        except OSError:
            for path in made:
                try:
                    os.rmdir(path)
                except OSError:
                    pass
            return None
        return cls(version, made, bool(cpu))

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


def _try(path: Path, value: str) -> bool:
    """Write a setting a kernel may not have (swap accounting, a CPU quota): whether it took."""
    try:
        path.write_text(value)
        return True
    except OSError:
        return False
