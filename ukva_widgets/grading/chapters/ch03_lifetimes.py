"""Chapter 03 exercises: lifetimes — refcounts after clone, exit and execve; what gets freed.

Expected answers come from replaying the problem's script on the engine, which follows
kernel/fork.c, kernel/exit.c and fs/exec.c (begin_new_exec, de_thread); notebooks/sources.ipynb §3.
"""

from __future__ import annotations

import random
from typing import Any

from ...engine import Kernel
from ..items import Item, Part, explain, register, score_picks
from ..shapes import as_bool, as_dict, as_int, as_set
from .reasons import reason_item

THREAD = "CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD"
# Flags for a sibling that execve may run in: no CLONE_THREAD (de_thread would end P).
SIBLING = ("CLONE_FILES", "CLONE_VM", "CLONE_FS|CLONE_FILES", "CLONE_VM|CLONE_SIGHAND", "CLONE_VM|CLONE_FILES")
HELD = {"mm": "mm", "fs": "fs", "files": "files", "sighand": "sighand"}


def replay(script: list[list[str]]) -> tuple[Kernel, dict[str, Any], list[str]]:
    """Run a script of ["fork"|"clone"|"exit"|"execve"|"wait", ...] steps on a fresh engine.
    Returns the kernel, the tasks by name, and the label of every object that ever existed."""
    k = Kernel()
    tasks: dict[str, Any] = {"init": k.init}
    seen = [o.label for o in k.objects()]
    for op, name, *rest in script:
        if op == "fork":
            tasks[name] = k.fork(tasks[rest[0]])
        elif op == "clone":
            tasks[name] = k.clone(tasks[rest[0]], rest[1])
        elif op == "exit":
            k.exit(tasks[name])
        elif op == "execve":
            k.execve(tasks[name], "/bin/sh")
        elif op == "wait":
            k.wait(tasks[name])
        seen += [o.label for o in k.objects() if o.label not in seen]
    return k, tasks, seen


def script_text(script: list[list[str]]) -> str:
    lines = []
    for op, name, *rest in script:
        if op == "fork":
            lines.append(f"{name} = k.fork({rest[0]})")
        elif op == "clone":
            lines.append(f'{name} = k.clone({rest[0]}, "{rest[1]}")')
        elif op == "execve":
            lines.append(f'k.execve({name}, "/bin/sh")')
        else:
            lines.append(f"k.{op}({name})")
    return "k = Kernel(); init = k.init\n" + "\n".join(lines)


def _make_script(rng: random.Random) -> list[list[str]]:
    script = [["fork", "P", "init"], ["clone", "A", "P", rng.choice([THREAD, *SIBLING])],
              ["clone", "B", "P", rng.choice(SIBLING)]]
    endings = [[["exit", "A"]], [["execve", "B"]], [["exit", "B"], ["wait", "P"]]]
    for i in sorted(rng.sample(range(len(endings)), 2)):  # in this order: B can exec, then exit
        script += endings[i]
    return script


def _make_refcounts(rng: random.Random) -> tuple[dict[str, Any], str]:
    script = _make_script(rng)
    return ({"script": script},
            f"On the engine:\n\n{script_text(script)}\n\nAfterwards, what are the kernel's counts on the "
            "objects P holds? Answer with a dict: {\"mm\": P.mm.mm_users, \"fs\": P.fs.users, "
            "\"files\": P.files.count, \"sighand\": P.sighand.count}.")


# What lowers each count, by the operation that does it (kernel/exit.c, fs/exec.c): a hint names
# only operations the learner's script contains, so it never points at a call that is not there.
DROPS = {
    "mm": {"exit": "exit() drops it at once (exit_mm)",
           "execve": "execve() gives up the old mm for a new one (exec_mmap)"},
    "fs": {"exit": "exit() drops it at once (exit_fs)",
           "execve": "execve() keeps it, shared or not"},
    "files": {"exit": "exit() drops it at once (exit_files)",
              "execve": "execve() gives up a file table it shares (unshare_files)"},
    "sighand": {"exit": "an exited thread (CLONE_THREAD) is released at once and drops it, but any "
                        "other exited child keeps it as a zombie until it is reaped",
                "execve": "execve() gives up handlers shared with a task outside its thread group "
                          "(unshare_sighand)",
                "wait": "wait() reaps one zombie child and only then releases its sighand"},
}


def _judge_refcounts(settings: dict[str, Any], answer: Any) -> list[Part]:
    answer = as_dict(answer, "the answer", HELD)
    _, tasks, _ = replay(settings["script"])
    p = tasks["P"]
    ops = {step[0] for step in settings["script"]}
    parts, hints = [], []
    for key, field in HELD.items():
        got, want = as_int(answer[key], f"answer[{key!r}]"), getattr(p, field).refcount
        parts.append(Part(key, 0.25 if got == want else 0.0, 0.25))
        if got > want:
            why = [text for op, text in DROPS[key].items() if op in ops]
            hints.append(f"{key}: too high; " + ("; ".join(why) if why else
                         "count the tasks that took a reference to P's object through a CLONE_ flag") + ".")
        elif got < want:
            hints.append(f"{key}: too low; count every task that still points at P's object, "
                         "including ones that only took a reference through a CLONE_ flag"
                         + (", and a zombie child that has not been reaped" if key == "sighand" else "") + ".")
    if hints:
        explain(parts, " ".join(hints))
    return parts


register(Item("3.1", "predict refcounts at the end of a script", 1.0, _make_refcounts, _judge_refcounts))


def _make_freed(rng: random.Random) -> tuple[dict[str, Any], str]:
    script = _make_script(rng)
    k, _, seen = replay(script)
    seen = seen[len(Kernel().objects()):]  # leave out init's own objects: they live on
    listing = ", ".join(seen)
    return ({"script": script, "labels": seen},
            f"On the engine:\n\n{script_text(script)}\n\nThese objects existed at some point: "
            f"{listing}.\nWhich of them have been freed at the end? Answer with a set of labels, "
            'e.g. {"mm#2"}.')


def _judge_freed(settings: dict[str, Any], answer: Any) -> list[Part]:
    labels = settings["labels"]
    chosen = as_set(answer, "the answer", labels)
    k, _, _ = replay(settings["script"])
    live = {o.label for o in k.objects()}
    parts = [score_picks("picks", chosen, {label for label in labels if label not in live}, labels, 1.0)]
    too_early = sum(1 for label in labels if label in chosen and label in live)
    kept = sum(1 for label in labels if label not in chosen and label not in live)
    hints = []
    if too_early:
        hints.append(f"{too_early} object(s) you call freed still have a user: an object goes only "
                     "with its last reference, and a zombie keeps its sighand and signal_struct until "
                     "it is reaped.")
    if kept:
        hints.append(f"{kept} object(s) you keep have lost their last user: follow each exit, "
                     "execve and wait and count who still points at them.")
    if hints:
        explain(parts, " ".join(hints))
    return parts


register(Item("3.2", "predict which objects are freed", 1.0, _make_freed, _judge_freed))


def _make_exec_thread(rng: random.Random) -> tuple[dict[str, Any], str]:
    threads = rng.randint(2, 4)
    who = rng.randint(1, threads)
    script = [["fork", "P", "init"]] + [["clone", f"T{i}", "P", THREAD] for i in range(1, threads + 1)]
    return ({"script": script, "who": f"T{who}"},
            f"On the engine:\n\n{script_text(script)}\nold_mm = P.mm\nk.execve(T{who}, \"/bin/sh\")\n\n"
            f"Answer with a dict: {{\"pid\": T{who}.pid afterwards, \"tasks\": how many tasks are left "
            f"in its thread group, \"same_mm\": T{who}.mm is old_mm}}.")


def _judge_exec_thread(settings: dict[str, Any], answer: Any) -> list[Part]:
    answer = as_dict(answer, "the answer", ["pid", "tasks", "same_mm"])
    k, tasks, _ = replay(settings["script"])
    t = tasks[settings["who"]]
    old_mm = t.mm
    k.execve(t, "/bin/sh")
    group = [x for x in k.tasks if x.signal is t.signal and x.state != "dead"]
    parts = []
    third = 1.0 / 3
    if as_int(answer["pid"], "pid") == t.pid:
        parts.append(Part("pid", third, third))
    else:
        parts.append(Part("pid", 0.0, third, "pid: after execve the process must still be the one its "
                          "parent knows; de_thread() in fs/exec.c decides which pid survives."))
    if as_int(answer["tasks"], "tasks") == len(group):
        parts.append(Part("tasks", third, third))
    else:
        parts.append(Part("tasks", 0.0, third, "tasks: a new program starts with one thread; what "
                          "does de_thread() do to the others?"))
    if as_bool(answer["same_mm"], "same_mm") == (t.mm is old_mm):
        parts.append(Part("same_mm", third, third))
    else:
        parts.append(Part("same_mm", 0.0, third, "same_mm: can a new program run in the old "
                          "program's address space? (exec_mmap)"))
    return parts


register(Item("3.3", "execve from a thread", 1.0, _make_exec_thread, _judge_exec_thread))


# 3.4 predict-then-explain: what a zombie keeps, and what execve keeps (kernel/exit.c
# release_task; fs/exec.c begin_new_exec; notebooks/sources.ipynb §3).
reason_item("3.4", "predict, then explain what outlives an exit or an execve")  # its questions: answers/questions.py
