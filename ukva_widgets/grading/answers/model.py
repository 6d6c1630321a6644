"""A model answer to every automatically judged item, from a problem's settings: what the engine (or
the kernel, or a chapter's table) gives when run the way the chapters show, the right prediction and
reason of a predict-then-explain item. `ukva key` prints them for teaching assistants; the tests check
each earns full marks on every variant. Items an instructor adds bring their own (bank.py)."""

from __future__ import annotations

from collections import deque
from typing import Any

from ...engine import Kernel, explore
from ..chapters import ch01_unix_process as ch01
from ..chapters import ch02_tasks_and_clone as ch02
from ..chapters import ch03_lifetimes as ch03
from ..chapters import ch04_tlbs as ch04
from ..chapters import ch05_where_can_ukva_live as ch05
from ..chapters import ch06_living_with_per_mm as ch06
from ..chapters import ch07_what_linux_did as ch07
from ..chapters.machines import machine, replay
from ..chapters.reasons import QUESTIONS


def _shares(settings: dict[str, Any]) -> dict[str, bool]:
    k = Kernel()
    caller = k.fork(k.init)
    truth = k.shares(caller, k.clone(caller, settings["flags"] if settings["flags"] != "0" else 0))
    return {r: truth[r] for r in ch02.RESOURCES}


def _family(settings: dict[str, Any]) -> dict[str, int]:
    k = Kernel()
    p = k.fork(k.init)
    child = k.clone(p, settings["flags"])
    return {"tgid": child.tgid, "parent": child.parent.pid}


def _refcounts(settings: dict[str, Any]) -> dict[str, int]:
    _, tasks, _ = ch03.replay(settings["script"])
    return {key: getattr(tasks["P"], f).refcount for key, f in ch03.HELD.items()}


def _freed(settings: dict[str, Any]) -> set[str]:
    k, _, _ = ch03.replay(settings["script"])
    live = {o.label for o in k.objects()}
    return {label for label in settings["labels"] if label not in live}


def _exec_thread(settings: dict[str, Any]) -> dict[str, Any]:
    k, tasks, _ = ch03.replay(settings["script"])
    t = tasks[settings["who"]]
    old = t.mm
    k.execve(t, "/bin/sh")
    group = [x for x in k.tasks if x.signal is t.signal and x.state != "dead"]
    return {"pid": t.pid, "tasks": len(group), "same_mm": t.mm is old}


def _counts(settings: dict[str, Any]) -> dict[str, dict[str, int]]:
    out = {}
    for mode, pcid in (("no_pcid", False), ("pcid", True)):
        m = machine(2, 1, pcid=pcid, **settings["options"])
        replay(m, settings["schedule"])
        out[mode] = {n: m.counters[n] for n in ch04.COUNTED}
    return out


def _cr3(settings: dict[str, Any]) -> list[bool]:
    m = machine(2, 1, **settings["options"])
    truth = []
    for label in settings["schedule"]:
        before = m.counters["cr3_writes"]
        m.step(label)
        if ": switch to " in label:
            truth.append(m.counters["cr3_writes"] > before)
    return truth


def breaking_schedule(settings: dict[str, Any], max_depth: int = 8) -> list[str] | None:
    """A shortest schedule whose last step is a wrong read by the victim the problem names, found
    breadth first over the machine's states (one per state): the shortest answer to 5.1/5.2."""
    victim = settings.get("victim", {})
    start = machine(settings["threads"], 0, **settings["options"])
    seen = {start.state}
    frontier = deque([[]])
    while frontier:
        path = frontier.popleft()
        if len(path) >= max_depth:
            break
        m = start.fresh()
        replay(m, path)
        for choice in m.choices():
            m.step(choice)
            v = m.violation
            if v is not None:
                if all(getattr(v, key) == want for key, want in victim.items()):
                    return path + [choice.label]
            elif m.state not in seen:
                seen.add(m.state)
                frontier.append(path + [choice.label])
            m.undo()
    return None


def _verdicts(settings: dict[str, Any]) -> list[str]:
    return [explore(machine(*ch05.SETUPS[c][:2], **ch05.SETUPS[c][2])).verdict for c in settings["cases"]]


def right_reason(item_id: str, settings: dict[str, Any]) -> dict[str, Any]:
    """The full-marks answer to a predict-then-explain problem."""
    question = QUESTIONS[item_id][settings["question"]]
    return {"predict": question.outcome, "why": settings["reasons"].index(question.reason)}


MODEL_ANSWERS = {
    "1.1": lambda s: ch01.fork_loop_processes(s["shape"], s["n"]),
    "1.2": lambda s: s["a"] * s["c"],
    "1.3": lambda s: {"status": s["code"] << 8, "exitcode": s["code"]},
    "1.4": lambda s: {i for i, o in enumerate(s["options"]) if ch01.U_AREA[o]},
    "2.1": _shares,
    "2.2": lambda s: {"files_not_vm": "CLONE_FILES", "pthread": "|".join(sorted(ch02.PTHREAD_FLAGS))},
    "2.3": lambda s: [ch02.clone_outcome(*c) for c in s["cases"]],
    "2.4": _family,
    "3.1": _refcounts, "3.2": _freed, "3.3": _exec_thread,
    "4.1": _counts, "4.2": _cr3, "4.3": lambda s: {a: ch04.FILL[a] for a in s["archs"]},
    "5.1": breaking_schedule, "5.2": breaking_schedule, "5.3": _verdicts,
    "6.1": lambda s: list(ch06.STEPS),
    "6.3": lambda s: [ch06.per_mm_verdict(c) for c in s["cases"]],
    "7.1": lambda s: [ch07.MAPPINGS[m] for m in s["mappings"]],
}
# 6.2 is code: its model answer is the class in the solution notebook.


def model_answer(item_id: str, settings: dict[str, Any]) -> Any:
    """The model answer to one variant of a built-in item (KeyError for code and manual items)."""
    if item_id in QUESTIONS:
        return right_reason(item_id, settings)
    return MODEL_ANSWERS[item_id](settings)
