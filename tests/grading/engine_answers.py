"""The answers a learner gets by running the engine (or the kernel, or reading a chapter's table) the
way the chapters show, per item, from a problem's settings. test_variants.py checks they earn full
marks on every variant; test_exercises.py's auto-solver submits them and must still fall short."""

from collections import deque

from ukva_widgets.engine import Kernel, explore
from ukva_widgets.grading.chapters import ch01_unix_process as ch01
from ukva_widgets.grading.chapters import ch02_tasks_and_clone as ch02
from ukva_widgets.grading.chapters import ch03_lifetimes as ch03
from ukva_widgets.grading.chapters import ch04_tlbs as ch04
from ukva_widgets.grading.chapters import ch05_where_can_ukva_live as ch05
from ukva_widgets.grading.chapters import ch06_living_with_per_mm as ch06
from ukva_widgets.grading.chapters import ch07_what_linux_did as ch07
from ukva_widgets.grading.chapters.machines import machine, replay


def _shares(settings):
    k = Kernel()
    caller = k.fork(k.init)
    truth = k.shares(caller, k.clone(caller, settings["flags"] if settings["flags"] != "0" else 0))
    return {r: truth[r] for r in ch02.RESOURCES}


def _family(settings):
    k = Kernel()
    p = k.fork(k.init)
    child = k.clone(p, settings["flags"])
    return {"tgid": child.tgid, "parent": child.parent.pid}


def _refcounts(settings):
    _, tasks, _ = ch03.replay(settings["script"])
    return {key: getattr(tasks["P"], f).refcount for key, f in ch03.HELD.items()}


def _freed(settings):
    k, _, _ = ch03.replay(settings["script"])
    live = {o.label for o in k.objects()}
    return {label for label in settings["labels"] if label not in live}


def _exec_thread(settings):
    k, tasks, _ = ch03.replay(settings["script"])
    t = tasks[settings["who"]]
    old = t.mm
    k.execve(t, "/bin/sh")
    group = [x for x in k.tasks if x.signal is t.signal and x.state != "dead"]
    return {"pid": t.pid, "tasks": len(group), "same_mm": t.mm is old}


def _counts(settings):
    out = {}
    for mode, pcid in (("no_pcid", False), ("pcid", True)):
        m = machine(2, 1, pcid=pcid, **settings["options"])
        replay(m, settings["schedule"])
        out[mode] = {n: m.counters[n] for n in ch04.COUNTED}
    return out


def _cr3(settings):
    m = machine(2, 1, **settings["options"])
    truth = []
    for label in settings["schedule"]:
        before = m.counters["cr3_writes"]
        m.step(label)
        if ": switch to " in label:
            truth.append(m.counters["cr3_writes"] > before)
    return truth


def breaking_schedules(settings, max_depth=8):
    """Every shortest schedule (one per state) whose last step is a wrong read by the victim the
    problem names, found breadth first over the machine's states: the shortest answer to 5.1/5.2."""
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


def _verdicts(settings):
    return [explore(machine(*ch05.SETUPS[c][:2], **ch05.SETUPS[c][2])).verdict for c in settings["cases"]]


def verdict_mix(item_id, settings):
    """How many of a verdict item's machines break, by the engine's answer."""
    return ENGINE_ANSWERS[item_id](settings).count("violation")


def _per_mm(settings):
    return [ch06.per_mm_verdict(c) for c in settings["cases"]]


ENGINE_ANSWERS = {
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
    "5.1": breaking_schedules, "5.2": breaking_schedules, "5.3": _verdicts,
    "6.1": lambda s: list(ch06.STEPS),
    "6.3": _per_mm,
    "7.1": lambda s: [ch07.MAPPINGS[m] for m in s["mappings"]],
}
