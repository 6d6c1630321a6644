"""The engine's half of the sequence comparison: the same sequences, played on the engine.

sequences.py plays a sequence on the running kernel; ``replay()`` plays it on a fresh engine
Kernel and reports the same things in the same form (see sequences.py for the steps and what is
compared); ``compare()`` pairs the two and says where they first differ. ``random_sequences()``
makes short random sequences, choosing each step's actor among the tasks the engine says are
alive, so that every step can be played on both.

Unlike probe.py, sequences.py and the workers, this module imports the engine.
"""

from __future__ import annotations

import errno as errno_mod
import random
from dataclasses import dataclass, field

from ukva_widgets.engine import CloneError, IoprioError, Kernel, NotModelled, TaskStateError
from ukva_widgets.real.agent import AGENT_NAME
from ukva_widgets.real.sequences import FILES, FS, IO, NEWIPC, PARENT, SIGCHLD, SIGHAND, SYSVSEM, THREAD, VFORK, VM

AGENT_PATH = f"/ukva/{AGENT_NAME}"   # only its basename shows (as comm), so any directory will do
KCMP_KINDS = (("vm", "KCMP_VM"), ("files", "KCMP_FILES"), ("fs", "KCMP_FS"), ("sighand", "KCMP_SIGHAND"),
              ("io", "KCMP_IO"), ("sysvsem", "KCMP_SYSVSEM"))


def _errno(code: int) -> str:
    return errno_mod.errorcode.get(code, f"errno {code}")


class Replay:
    """One sequence on a fresh engine: p0 is a process forked by init that ran execve(agent)."""

    def __init__(self, privileged: bool = True) -> None:
        self.k = Kernel(privileged=privileged)
        root = self.k.fork(self.k.init)
        self.k.execve(root, AGENT_PATH)
        self.tasks = [root]

    def live(self, i: int) -> bool:
        """Task i can be given an order: it runs and does not sleep in vfork()."""
        t = self.tasks[i] if 0 <= i < len(self.tasks) else None
        return t is not None and t.state == "running" and t.vfork_child is None

    def name_of(self, task) -> str:
        if task is None:
            return "?"
        if task is self.k.init or task.signal is self.k.init.signal:
            return "init"
        for i, t in enumerate(self.tasks):
            if t is task:
                return f"p{i}"
        return "?"

    def step(self, step: list) -> dict:
        op, actor = step[0], step[1]
        k = self.k
        if op == "wait" and actor == -1:
            return self._wait(k.init)
        if not self.live(actor):
            return {"errno": "actor gone"}
        t = self.tasks[actor]
        try:
            if op == "clone":
                word, child = step[2], step[3]
                while len(self.tasks) <= child:
                    self.tasks.append(None)
                self.tasks[child] = k.clone(t, word & ~0xFF, exit_signal=word & 0xFF, clone3=False)
            elif op == "clone3":
                k.clone(t, step[2], exit_signal=step[3], clone3=True)
                return {"errno": "", "created": True}
            elif op == "unshare":
                k.unshare(t, step[2])
            elif op == "exec":
                k.execve(t, AGENT_PATH)
            elif op == "exit":
                k.exit(t, step[2], group=bool(step[3]))
                return {}
            elif op == "wait":
                return self._wait(t)
            elif op == "sigchld":
                mode = step[2]
                k.sigaction(t, "SIGCHLD", "SIG_IGN" if mode == "SIG_IGN" else "SIG_DFL",
                            flags="SA_NOCLDWAIT" if mode == "SA_NOCLDWAIT" else 0)
            elif op == "subreaper":
                k.set_child_subreaper(t, bool(step[2]))
            elif op == "comm":
                k.set_comm(t, step[2])
            elif op == "ioprio":
                k.ioprio_set(t, step[2])
            else:
                raise ValueError(f"unknown step {op!r}")
        except (CloneError, IoprioError) as exc:
            return {"errno": _errno(exc.errno)} | ({"created": False} if op == "clone3" else {})
        except (NotModelled, TaskStateError) as exc:
            return {"errno": f"engine refused: {exc}"}
        return {"errno": ""}

    def _wait(self, waiter) -> dict:
        before = {t.pid: t for t in self.k.tasks}
        reaped = self.k.wait(waiter)
        if reaped is None:
            return {"errno": "", "reaped": None} if self.k.children_of(waiter) else {"errno": "ECHILD"}
        return {"errno": "", "reaped": self.name_of(before[reaped.pid]), "status": reaped.status}

    def snapshot(self) -> dict:
        tasks, present = {}, []
        for i, t in enumerate(self.tasks):
            if t is None or t.state == "dead":
                continue
            parent = t.parent.group_leader if t.parent is not None else None
            tasks[f"p{i}"] = {"state": "zombie" if t.state == "zombie" else "alive",
                              "ppid": self.name_of(parent), "tgid": self.name_of(t.group_leader),
                              "comm": t.comm, "exit_signal": t.exit_signal,
                              "ignores_sigchld": t.sighand.action.get(SIGCHLD) == "SIG_IGN"}
            if t.state == "zombie":
                tasks[f"p{i}"]["exit_code"] = t.exit_code
            present.append(i)
        shared = {}
        for n, i in enumerate(present):
            for j in present[n + 1:]:
                a, b = self.tasks[i], self.tasks[j]
                shared[f"p{i},p{j}"] = " ".join(name for name, kind in KCMP_KINDS
                                                if self.k.kcmp(a, b, kind) == 0)
        return {"tasks": tasks, "kcmp": shared}


def replay(steps: list[list], privileged: bool = True) -> dict:
    """The engine's {"results", "snapshots"} for one sequence, in sequences.py's form."""
    r = Replay(privileged)
    results, snapshots = [], [r.snapshot()]
    for step in steps:
        results.append(r.step(step))
        snapshots.append(r.snapshot())
    return {"results": results, "snapshots": snapshots}


@dataclass(frozen=True)
class Verdict:
    """One sequence compared: `difference` is '' when kernel and engine agree; `kernel` and
    `engine` hold the two runs ({"results", "snapshots"}; the kernel's may be {"failed": why})."""

    name: str
    steps: list
    difference: str
    kernel: dict = field(default_factory=dict, compare=False, repr=False)
    engine: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def agree(self) -> bool:
        return not self.difference


def compare(name: str, steps: list[list], kernel: dict, engine: dict) -> Verdict:
    """Where the engine's run first differs from the kernel's ('' when nowhere)."""
    return Verdict(name, steps, _first_difference(steps, kernel, engine), kernel, engine)


def _first_difference(steps: list[list], kernel: dict, engine: dict) -> str:
    if "failed" in kernel:
        return f"the kernel side failed: {kernel['failed']}"
    snaps_k, snaps_e = kernel["snapshots"], engine["snapshots"]
    if snaps_k[0] != snaps_e[0]:
        return f"before the first step: {_diff(snaps_k[0], snaps_e[0])}"
    for n, step in enumerate(steps):
        rk, re_ = kernel["results"][n], engine["results"][n]
        if rk != re_:
            return f"step {n + 1} {step}: kernel returned {rk}, engine {re_}"
        if snaps_k[n + 1] != snaps_e[n + 1]:
            return f"after step {n + 1} {step}: {_diff(snaps_k[n + 1], snaps_e[n + 1])}"
    return ""


def _diff(k: dict, e: dict) -> str:
    out = []
    for section in ("tasks", "kcmp"):
        for key in sorted(set(k[section]) | set(e[section])):
            a, b = k[section].get(key, "absent"), e[section].get(key, "absent")
            if a != b:
                out.append(f"{key}: kernel {a}, engine {b}")
    return "; ".join(out[:4])


# -- random sequences ------------------------------------------------------------------------------

_SHAPES = [0, 0, VM, VM | SIGHAND, FILES, FS, FS | FILES, VM | FS | FILES | SIGHAND | THREAD,
           VM | FS | FILES | SIGHAND | THREAD | SYSVSEM, SYSVSEM, PARENT, IO, NEWIPC | SYSVSEM,
           VFORK | VM, VFORK]
_STUDIED = [VM, FS, FILES, SIGHAND, THREAD, SYSVSEM, PARENT, IO]
_SIGNALS = [SIGCHLD, SIGCHLD, SIGCHLD, 0, 10, 65, 0x80, 255]
_OPS = ["clone", "exit", "wait", "exec", "unshare", "sigchld", "subreaper", "comm", "ioprio", "clone3",
        "wait init"]
_WEIGHTS = [34, 14, 14, 8, 8, 6, 5, 3, 4, 2, 2]
_NAMES = ["sh", "worker", "a-name-longer-than-15", "x"]
_IOPRIOS = [0, 1, 7, 8, (2 << 13) | 3, 3 << 13, 4 << 13]


def random_sequences(count: int, seed: int = 0, min_steps: int = 3, max_steps: int = 8) -> list[list[list]]:
    """`count` random sequences of clone/unshare/exec/exit/wait (and the reaping calls), each of
    min_steps..max_steps steps, reproducible from `seed`. Actors are tasks the engine says are
    alive at that point, so the kernel can be asked to play every step too."""
    rng = random.Random(seed)
    return [_one(rng, rng.randint(min_steps, max_steps)) for _ in range(count)]


def _one(rng: random.Random, length: int) -> list[list]:
    r = Replay()
    steps: list[list] = []
    for _ in range(length):
        live = [i for i in range(len(r.tasks)) if r.live(i)]
        if not live:
            break
        op = rng.choices(_OPS, _WEIGHTS)[0]
        actor = rng.choice(live)
        if op == "clone":
            flags = (rng.choice(_SHAPES) if rng.random() < 0.6
                     else sum(f for f in _STUDIED if rng.random() < 0.3))
            step = ["clone", actor, flags | rng.choice(_SIGNALS), len(r.tasks)]
        elif op == "exit":
            step = ["exit", actor, rng.randrange(256), rng.random() < 0.3]
        elif op == "wait":
            step = ["wait", actor]
        elif op == "wait init":
            step = ["wait", -1]
        elif op == "exec":
            step = ["exec", actor]
        elif op == "unshare":
            step = ["unshare", actor, sum(f for f in (FS, FILES, SYSVSEM, VM, SIGHAND, THREAD)
                                          if rng.random() < 0.35) or FILES]
        elif op == "sigchld":
            step = ["sigchld", actor, rng.choice(["SIG_DFL", "SIG_IGN", "SA_NOCLDWAIT"])]
        elif op == "subreaper":
            step = ["subreaper", actor, rng.random() < 0.7]
        elif op == "comm":
            step = ["comm", actor, rng.choice(_NAMES)]
        elif op == "ioprio":
            step = ["ioprio", actor, rng.choice(_IOPRIOS)]
        else:
            step = ["clone3", actor, 0, rng.choice([65, 100, 300])]
        r.step(step)
        steps.append(step)
    return steps


@dataclass
class SequenceReport:
    """`ukva probe --sequences`: the listed cases and `count` random sequences, each compared.
    `why` is set (and `verdicts` empty) when the kernel could not be asked."""

    why: str
    privileged: bool
    listed: list[Verdict]
    random: list[Verdict]
    seed: int

    @property
    def available(self) -> bool:
        return not self.why

    @property
    def verdicts(self) -> list[Verdict]:
        return self.listed + self.random


def check_sequences(count: int = 1000, seed: int = 0, timeout: float = 300.0) -> SequenceReport:
    """Play the listed cases and `count` random sequences on the kernel and on the engine."""
    from ukva_widgets.real.sequences import LISTED, play

    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError(f"the number of random sequences is an int >= 0, not {count!r}")
    randoms = random_sequences(count, seed)
    named = list(LISTED.items()) + [(f"random #{i} (seed {seed})", s) for i, s in enumerate(randoms)]
    run = play([steps for _, steps in named], timeout)
    if not run.available:
        return SequenceReport(run.why, False, [], [], seed)
    verdicts = [compare(name, steps, kernel, replay(steps, run.privileged))
                for (name, steps), kernel in zip(named, run.runs)]
    return SequenceReport("", run.privileged, verdicts[:len(LISTED)], verdicts[len(LISTED):], seed)
