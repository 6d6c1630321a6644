"""Chapter 05 exercises: where can a UKVA live — write the schedules that break per-task and
per-CPU, and predict the model checker's verdicts.

A schedule is checked by replaying it, step by step, on a fresh engine machine (the same one
`explore` searches); verdicts come from `explore` itself. The argument is Linus Torvalds',
<Pine.LNX.4.44.0208162134440.2497-100000@home.transmeta.com>; the machine is FACTS.md section 6.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from ...engine import explore
from ..items import AnswerError, Item, Part, explain, register
from ..shapes import as_list, as_str
from .machines import machine, replay, setup_text


def _make_breaker(design: str, cpu_choices: list[int]) -> Callable[[random.Random], tuple[dict[str, Any], str]]:
    def make(rng: random.Random) -> tuple[dict[str, Any], str]:
        threads, cpus = rng.choice([2, 3]), rng.choice(cpu_choices)
        opts = {"cpus": cpus, "design": design, "fill": "hardware"}
        return ({"threads": threads, "options": opts},
                f"A {design} UKVA with hardware TLB fill, {cpus} CPU(s), and {threads} threads of one "
                f"process:\n\n{setup_text(threads, 0, **opts)}\n\nWrite a schedule that makes a task "
                "read the wrong data through the UKVA: a list of choice labels exactly as `m.choices()` "
                "prints them, e.g. [\"cpu0: switch to task 2 (init)\", ...]. The violation must happen "
                "at its last step.")
    return make


def _judge_breaker(settings: dict[str, Any], answer: Any) -> list[Part]:
    schedule = as_list(answer, "the schedule")
    if not schedule:
        raise AnswerError("the schedule is empty: give the steps, as labels from m.choices()")
    if len(schedule) > 50:
        raise AnswerError("a breaking schedule needs only a few steps; give at most 50")
    m = machine(settings["threads"], 0, **settings["options"])
    taken, stopped = replay(m, schedule)
    if stopped:
        return [Part("schedule", 0.0, 1.0, f"The schedule cannot be replayed: {stopped}.")]
    if m.violation is None:
        design = settings["options"]["design"]
        owner = "the running task" if design == "per-task" else "this CPU"
        return [Part("schedule", 0.0, 1.0, f"All {taken} steps ran and every read returned the right "
                     f"data. The UKVA must show {owner}'s data, but the page table it lives in is shared "
                     "by every thread of the MM: who else rewrites that entry, and which TLB entries "
                     "survive a switch that does not reload CR3?")]
    return [Part("schedule", 1.0, 1.0)]


register(Item("5.1", "a schedule that breaks a per-task UKVA", 1.0,
              _make_breaker("per-task", [1, 2]), _judge_breaker))
register(Item("5.2", "a schedule that breaks a per-CPU UKVA", 1.0,
              _make_breaker("per-cpu", [2, 3]), _judge_breaker))

# Setups from DESIGN.md's table: (threads, processes, options).
SETUPS = (
    (2, 0, {"cpus": 2, "design": "per-task", "fill": "hardware"}),
    (2, 0, {"cpus": 1, "design": "per-task", "fill": "hardware"}),
    (2, 0, {"cpus": 1, "design": "per-task", "fill": "hardware", "flush_on_same_mm_switch": True}),
    (2, 0, {"cpus": 2, "design": "per-task", "fill": "software"}),
    (1, 1, {"cpus": 2, "design": "per-task", "fill": "hardware"}),
    (2, 0, {"cpus": 2, "design": "per-cpu", "fill": "hardware"}),
    (2, 0, {"cpus": 2, "design": "per-cpu", "fill": "software"}),
    (2, 0, {"cpus": 2, "design": "per-mm", "fill": "hardware", "smp_safe": True}),
    (2, 0, {"cpus": 2, "design": "per-mm", "fill": "hardware", "smp_safe": False}),
)
VERDICTS = ("violation", "proven")


def _describe(threads: int, processes: int, opts: dict[str, Any]) -> str:
    who = f"{threads} threads of one MM" if threads > 1 else f"{threads + processes} processes (own MMs)"
    extra = "".join(f", {k}={v}" for k, v in opts.items() if k not in ("cpus", "design", "fill"))
    return f"{opts['design']}, {opts['fill']} fill, {opts['cpus']} CPU(s), {who}{extra}"


def _make_verdicts(rng: random.Random) -> tuple[dict[str, Any], str]:
    cases = rng.sample(range(len(SETUPS)), 4)
    listing = "\n".join(f"  {i}: {_describe(*SETUPS[c])}" for i, c in enumerate(cases))
    return ({"cases": cases},
            f"For each machine, does the model checker find a violation, or prove there is none?\n"
            f"{listing}\nAnswer with a list of 4 strings, each \"violation\" or \"proven\".")


def _judge_verdicts(settings: dict[str, Any], answer: Any) -> list[Part]:
    cases = settings["cases"]
    answer = [as_str(a, "each verdict") for a in as_list(answer, "the answer", len(cases))]
    bad = [a for a in answer if a not in VERDICTS]
    if bad:
        raise AnswerError(f"{bad[0]!r} is not a verdict; use \"violation\" or \"proven\"")
    each = 1.0 / len(cases)
    parts, optimistic, pessimistic = [], 0, 0
    for i, (c, got) in enumerate(zip(cases, answer)):
        threads, processes, opts = SETUPS[c]
        want = explore(machine(threads, processes, **opts)).verdict
        parts.append(Part(f"machine {i}", each if got == want else 0.0, each))
        optimistic += got == "proven" and want != "proven"
        pessimistic += got == "violation" and want != "violation"
    hints = []
    if optimistic:
        hints.append(f"{optimistic} machine(s) you think safe break: with hardware fill the walker reads "
                     "the one page table all threads of an MM share, on every CPU.")
    if pessimistic:
        hints.append(f"{pessimistic} machine(s) you think break are proven safe: what lets a design "
                     "show different data to different tasks (a refill handler that decides, a flush "
                     "on every switch, tasks that share nothing)?")
    if hints:
        explain(parts, " ".join(hints))
    return parts


register(Item("5.3", "predict the model checker's verdicts", 1.0, _make_verdicts, _judge_verdicts))
