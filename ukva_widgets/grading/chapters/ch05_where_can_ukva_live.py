"""Chapter 05 exercises: where can a UKVA live — write the schedules that break per-task and
per-CPU, and predict the model checker's verdicts.

A schedule is checked by replaying it, step by step, on a fresh engine machine (the same one
`explore` searches); verdicts come from `explore` itself. The argument is Linus Torvalds',
<Pine.LNX.4.44.0208162134440.2497-100000@home.transmeta.com>; the machine is notebooks/sources.ipynb §6.
"""

from __future__ import annotations

import functools
import random
from typing import Any

from ...engine import explore
from ..items import AnswerError, Item, Part, explain, register
from ..shapes import as_list, as_str
from .machines import machine, pick_balanced, replay, setup_text
from .reasons import manual_item, reason_item


# Variants of equal difficulty, none of them chapter 05's printed counterexample: a per-task UKVA
# on ONE CPU (the chapter prints the two-CPU schedule; one CPU needs a read that fills the TLB
# before the same-MM switch: 4 steps in every variant), and a per-CPU UKVA where the wrong read must
# happen on a CPU other than cpu0 (3 steps in every variant). tests/grading/test_variants.py
# measures the shortest answer of every variant.
def _make_per_task_breaker(rng: random.Random) -> tuple[dict[str, Any], str]:
    threads = rng.choice([2, 3])
    opts = {"cpus": 1, "design": "per-task", "fill": "hardware", "pcid": rng.choice([False, True])}
    victim = {"pid": rng.randrange(2, 2 + threads)}
    return _breaker_problem("per-task", threads, opts, victim,
                            f"task {victim['pid']} must be the one that reads the wrong data")


def _make_per_cpu_breaker(rng: random.Random) -> tuple[dict[str, Any], str]:
    threads, cpus = rng.choice([2, 3]), rng.choice([2, 3])
    opts = {"cpus": cpus, "design": "per-cpu", "fill": "hardware"}
    victim = {"cpu": rng.randrange(1, cpus)}
    return _breaker_problem("per-cpu", threads, opts, victim,
                            f"the wrong read must happen on cpu{victim['cpu']}")


def _breaker_problem(design: str, threads: int, opts: dict[str, Any], victim: dict[str, int],
                     condition: str) -> tuple[dict[str, Any], str]:
    cpus = opts["cpus"]
    pcid = " with PCID" if opts.get("pcid") else ""
    return ({"threads": threads, "options": opts, "victim": victim},
            f"A {design} UKVA with hardware TLB fill, {cpus} CPU(s){pcid}, and {threads} threads of one "
            f"process (tasks 2 to {threads + 1}):\n\n{setup_text(threads, 0, **opts)}\n\nWrite a schedule "
            f"that makes a task read the wrong data through the UKVA; {condition}. Give a list of choice "
            "labels exactly as `m.choices()` prints them, e.g. [\"cpu0: switch to task 2 (sh)\", ...]. "
            "The violation must happen at its last step.")


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
    design = settings["options"]["design"]
    if m.violation is None:
        if design == "per-task":
            why = ("with one CPU no other walker reads the shared page table, so the wrong page must come "
                   "from the TLB: which entry survives a switch that does not reload CR3?")
        else:
            why = ("the UKVA must show this CPU's data, but the page table it lives in is shared by every "
                   "thread of the MM and walked by every CPU: who else rewrites that entry?")
        return [Part("schedule", 0.0, 1.0, f"All {taken} steps ran and every read returned the right "
                     f"data. {why}")]
    victim = settings.get("victim", {})
    if "pid" in victim and m.violation.pid != victim["pid"]:
        return [Part("schedule", 0.0, 1.0, f"The schedule breaks the design, but the wrong read is task "
                     f"{m.violation.pid}'s; the problem asks for task {victim['pid']} to read wrong data.")]
    if "cpu" in victim and m.violation.cpu != victim["cpu"]:
        return [Part("schedule", 0.0, 1.0, f"The schedule breaks the design, but the wrong read happens "
                     f"on cpu{m.violation.cpu}; the problem asks for it on cpu{victim['cpu']}.")]
    return [Part("schedule", 1.0, 1.0)]


register(Item("5.1", "a schedule that breaks a per-task UKVA on one CPU", 1.0,
              _make_per_task_breaker, _judge_breaker))
register(Item("5.2", "a schedule that breaks a per-CPU UKVA", 1.0, _make_per_cpu_breaker, _judge_breaker))

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


@functools.cache
def setup_verdict(case: int) -> str:
    """The model checker's verdict on SETUPS[case] (each explores in a few milliseconds)."""
    threads, processes, opts = SETUPS[case]
    return explore(machine(threads, processes, **opts)).verdict


def _make_verdicts(rng: random.Random) -> tuple[dict[str, Any], str]:
    cases = pick_balanced(rng, [setup_verdict(c) for c in range(len(SETUPS))], 4)
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
        want = setup_verdict(c)
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


# 5.4 predict-then-explain: why a design holds or breaks (the seed message; notebooks/sources.ipynb §6).
reason_item("5.4", "predict, then explain a verdict")  # its questions: answers/questions.py

manual_item("5.5", "explain per-thread and per-CPU kernel data (manually graded)", (
    ("Per-CPU data and kernel stacks that work on x86",
     "x86 keeps per-CPU kernel data reachable through the %gs segment base, and every task has its own "
     "kernel stack (allocated with vmalloc), all with one page table per MM and hardware TLB fill. "
     "Explain why that does not contradict chapter 05's verdict that per-task and per-CPU UKVAs break."),
    ("A flush on every switch between threads",
     "Martin Bligh proposed giving each thread its own copy of the kernel page tables, accepting a TLB "
     "flush on every switch between threads of one MM. Explain why that flush is needed for a per-task "
     "UKVA, and what it costs on 2002's x86 without tagged TLBs."),
))  # the rubric is in the solution notebook, never in this package
