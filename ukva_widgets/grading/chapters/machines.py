"""The SMP machines chapters 04-06 ask about, built the same way for the problem and for its judge."""

from __future__ import annotations

import random
from typing import Any

from ...engine import THREAD_FLAGS, Machine, make_tasks


def machine(threads: int = 2, processes: int = 0, sibling: str = THREAD_FLAGS, **options: Any) -> Machine:
    """A Machine over one process with `threads` tasks sharing its MM (the first is the leader,
    the others cloned with `sibling` flags) plus `processes` forked processes with MMs of their own."""
    return Machine(*make_tasks(threads, processes, sibling), **options)


def setup_text(threads: int, processes: int, **options: Any) -> str:
    """The Python that builds the machine, for the learner to replay it on the engine."""
    opts = ", ".join(f"{k}={v!r}" for k, v in options.items())
    return f"from ukva_widgets.grading.chapters.machines import machine\nm = machine(threads={threads}, " \
           f"processes={processes}, {opts})"



def random_schedule(m: Machine, rng: random.Random, steps: int, kinds: tuple[str, ...]) -> list[str]:
    """`steps` random enabled choices of the given kinds, as labels (the machine is stepped)."""
    taken = []
    for _ in range(steps):
        options = [c for c in m.choices() if c.action in kinds]
        if not options:
            break
        pick = rng.choice(options)
        m.step(pick)
        taken.append(pick.label)
    return taken


def replay(m: Machine, schedule: list[str]) -> tuple[int, str | None]:
    """Step `schedule` (labels) on `m`: (steps taken, why it stopped early or None)."""
    for i, label in enumerate(schedule):
        if m.violation is not None:
            return i, f"step {i + 1} comes after the violation, which ended the run"
        if not isinstance(label, str):
            return i, f"step {i + 1} is {type(label).__name__}, not a choice label (a string)"
        enabled = [c.label for c in m.choices()]
        if label not in enabled:
            return i, f"step {i + 1} ({label!r}) is not enabled at that point; enabled were: " + "; ".join(enabled)
        m.step(label)
    return len(schedule), None


def pick_balanced(rng: random.Random, verdicts: list[str], count: int) -> list[int]:
    """`count` indices into `verdicts`, half "violation" and half "proven", in a random order: every
    variant is as hard as the next, and no single guess such as "all proven" is right."""
    broken = [i for i, v in enumerate(verdicts) if v == "violation"]
    proven = [i for i, v in enumerate(verdicts) if v == "proven"]
    cases = rng.sample(broken, count // 2) + rng.sample(proven, count - count // 2)
    rng.shuffle(cases)
    return cases
