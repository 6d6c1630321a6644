"""Chapter 02 exercises: tasks and clone() — what a child shares, which flags do what, which fail.

Every expected answer comes from the engine (ukva_widgets.engine), which follows kernel/fork.c
copy_process() (notebooks/sources.ipynb §2, §3); glibc's thread flags are notebooks/sources.ipynb §5.
"""

from __future__ import annotations

import random
from typing import Any

from ...engine import CloneError, Kernel, flag_names, parse_flags
from ..items import AnswerError, Item, Part, explain, register
from ..shapes import as_bool, as_dict, as_list
from .reasons import reason_item

RESOURCES = ("vm", "fs", "files", "sighand", "signal")
# The sharing flags and what each needs, by construction of the problems (copy_process rules).
SHARING = ("CLONE_VM", "CLONE_FS", "CLONE_FILES", "CLONE_SIGHAND", "CLONE_THREAD")
# What glibc pthread_create passes to clone: notebooks/sources.ipynb §5.
PTHREAD_FLAGS = frozenset({"CLONE_VM", "CLONE_FS", "CLONE_FILES", "CLONE_SYSVSEM", "CLONE_SIGHAND",
                           "CLONE_THREAD", "CLONE_SETTLS", "CLONE_PARENT_SETTID", "CLONE_CHILD_CLEARTID"})


def flags_of(answer: Any, what: str) -> frozenset[str]:
    """A flags answer ("A|B", an int, or names) as a set of names; bad names say what is close."""
    try:
        return frozenset(flag_names(parse_flags(answer)))
    except (ValueError, TypeError) as exc:
        raise AnswerError(f"{what}: {exc}") from None


def _caller_and_child(flags: str) -> tuple[Kernel, Any, Any]:
    k = Kernel()
    caller = k.fork(k.init)
    return k, caller, k.clone(caller, flags)


def _make_shares(rng: random.Random) -> tuple[dict[str, Any], str]:
    chosen = [f for f in SHARING if rng.random() < 0.5]
    # Keep the combination valid: THREAD needs SIGHAND, SIGHAND needs VM.
    if "CLONE_THREAD" in chosen and "CLONE_SIGHAND" not in chosen:
        chosen.append("CLONE_SIGHAND")
    if "CLONE_SIGHAND" in chosen and "CLONE_VM" not in chosen:
        chosen.append("CLONE_VM")
    flags = "|".join(f for f in SHARING if f in chosen) or "0"
    return ({"flags": flags},
            f"A process (not init) calls clone() with flags {flags} (and SIGCHLD).\n"
            "Which of its resources does the child share with it? Answer with a dict of True/False "
            "for the keys " + ", ".join(map(repr, RESOURCES)) + " (signal = the thread group's "
            "signal_struct).")


def _judge_shares(settings: dict[str, Any], answer: Any) -> list[Part]:
    answer = as_dict(answer, "the answer", RESOURCES)
    k, caller, child = _caller_and_child(settings["flags"] if settings["flags"] != "0" else 0)
    truth = k.shares(caller, child)
    each = 1.0 / len(RESOURCES)
    parts = [Part(key, each if as_bool(answer[key], f"answer[{key!r}]") == truth[key] else 0.0, each)
             for key in RESOURCES]
    wrong = sum(1 for p in parts if not p.passed)
    if wrong:
        explain(parts, (
            f"{wrong} of {len(RESOURCES)} predictions are wrong. For each resource, find the one "
            "flag that makes copy_process() take a reference to the caller's object instead of "
            "making a copy (copy_mm, copy_fs, copy_files, copy_sighand, copy_signal in kernel/fork.c)."))
    return parts


register(Item("2.1", "predict what a child shares", 1.0, _make_shares, _judge_shares))


def _make_pick(rng: random.Random) -> tuple[dict[str, Any], str]:
    return ({}, "Answer with a dict:\n"
                '  "files_not_vm": flags for a clone() whose child shares the caller\'s file table '
                "but not its memory (a string like \"CLONE_FS|CLONE_IO\");\n"
                '  "pthread": the flags glibc\'s pthread_create passes to clone (all of them).')


def _judge_pick(settings: dict[str, Any], answer: Any) -> list[Part]:
    answer = as_dict(answer, "the answer", ["files_not_vm", "pthread"])
    return [_judge_files_not_vm(answer["files_not_vm"]), _judge_pthread(answer["pthread"])]


def _judge_files_not_vm(answer: Any) -> Part:
    k = Kernel()
    caller = k.fork(k.init)
    try:
        flags = flags_of(answer, "files_not_vm")
        shares = k.shares(caller, k.clone(caller, "|".join(sorted(flags)) or 0))
    except AnswerError as exc:
        return Part("files_not_vm", 0.0, 0.5, str(exc))
    except CloneError as exc:
        return Part("files_not_vm", 0.0, 0.5, f"files_not_vm: clone() refuses those flags "
                    f"({exc.rule.name}): {exc.rule.reason}.")
    except NotImplementedError as exc:
        return Part("files_not_vm", 0.0, 0.5, f"files_not_vm: {exc}")
    if shares["files"] and not shares["vm"]:
        return Part("files_not_vm", 0.5, 0.5)
    if not shares["files"]:
        return Part("files_not_vm", 0.0, 0.5, "files_not_vm: the child gets its own copy "
                    "of the file table (dup_fd); which flag shares files_struct?")
    return Part("files_not_vm", 0.0, 0.5, "files_not_vm: the child shares the memory "
                "too (one mm_struct). Which of your flags does that, directly or "
                "because another flag needs it?")


def _judge_pthread(answer: Any) -> Part:
    try:
        pthread = flags_of(answer, "pthread")
    except AnswerError as exc:
        return Part("pthread", 0.0, 0.5, str(exc))
    missing, extra = len(PTHREAD_FLAGS - pthread), len(pthread - PTHREAD_FLAGS)
    if not missing and not extra:
        return Part("pthread", 0.5, 0.5)
    said = []
    if missing:
        said.append(f"{missing} flag(s) missing: a thread shares every process-wide resource, and "
                    "glibc also asks the kernel to set up TLS and to store and clear the thread id "
                    "(think of pthread_join)")
    if extra:
        said.append(f"{extra} flag(s) too many: glibc leaves out what a thread must not share "
                    "or does not need")
    # Partial credit for a subset; none once a wrong flag is in (that would be a different call).
    points = 0.0 if extra else 0.5 * len(pthread) / len(PTHREAD_FLAGS)
    return Part("pthread", points, 0.5, "pthread: " + "; ".join(said) + ".")


register(Item("2.2", "pick the flags: files without memory, and a thread", 1.0, _make_pick, _judge_pick))

# Combinations for 2.3, each paired with who calls: "init" (pid 1) or "process" (an ordinary one).
FAILURE_POOL = (
    ("CLONE_THREAD", "process"), ("CLONE_THREAD|CLONE_VM", "process"), ("CLONE_SIGHAND", "process"),
    ("CLONE_SIGHAND|CLONE_FILES", "process"), ("CLONE_NEWNS|CLONE_FS", "process"),
    ("CLONE_NEWUSER|CLONE_FS", "process"), ("CLONE_PARENT", "init"), ("CLONE_PARENT", "process"),
    ("CLONE_VM|CLONE_SIGHAND|CLONE_THREAD|CLONE_NEWPID", "process"),
    ("CLONE_VM|CLONE_SIGHAND|CLONE_THREAD", "process"), ("CLONE_VM|CLONE_FILES", "process"),
    ("CLONE_VM|CLONE_SIGHAND", "process"), ("CLONE_FS|CLONE_FILES", "init"),
    ("CLONE_THREAD|CLONE_SIGHAND", "process"), ("CLONE_VM|CLONE_THREAD", "process"),
)
RULE_CHOICES = ("newns_with_fs", "newuser_with_fs", "thread_without_sighand", "sighand_without_vm",
                "parent_from_unkillable_init", "thread_with_new_pid_or_user_ns")


def clone_outcome(flags: str, caller: str) -> str | None:
    """The rule that refuses `flags` from `caller` ("init" or "process"), or None if it succeeds."""
    k = Kernel()
    task = k.init if caller == "init" else k.fork(k.init)
    try:
        k.clone(task, flags)
    except CloneError as exc:
        return exc.rule.name
    return None


def _make_failures(rng: random.Random) -> tuple[dict[str, Any], str]:
    # Every variant as hard as the next: three calls refused, each by a different rule, and two
    # that succeed, in a random order (tests/grading/test_variants.py measures it).
    outcomes = {case: clone_outcome(*case) for case in FAILURE_POOL}
    rules = rng.sample(sorted({r for r in outcomes.values() if r}), 3)
    cases = [rng.choice([c for c in FAILURE_POOL if outcomes[c] == rule]) for rule in rules]
    cases += rng.sample([c for c in FAILURE_POOL if outcomes[c] is None], 2)
    rng.shuffle(cases)
    listing = "\n".join(f"  {i}: {flags}, called by {'init (pid 1)' if who == 'init' else 'a process'}"
                        for i, (flags, who) in enumerate(cases))
    return ({"cases": [list(c) for c in cases]},
            f"Which of these clone() calls fail, and by which rule of copy_process()?\n{listing}\n"
            "Answer with a list, one entry per call: None if it succeeds, else the rule's name, one of\n  "
            + ", ".join(RULE_CHOICES))


def _judge_failures(settings: dict[str, Any], answer: Any) -> list[Part]:
    cases = settings["cases"]
    answer = as_list(answer, "the answer", len(cases))
    for a in answer:
        if a is not None and a not in RULE_CHOICES:
            raise AnswerError(f"{a!r} is not a rule name; use None or one of {', '.join(RULE_CHOICES)}")
    each = 1.0 / len(cases)
    parts, said_ok, said_fail, wrong_rule = [], 0, 0, 0
    for i, ((flags, who), got) in enumerate(zip(cases, answer)):
        want = clone_outcome(flags, who)
        if got == want:
            parts.append(Part(f"call {i}", each, each))
            continue
        parts.append(Part(f"call {i}", 0.0, each))
        if want is None:
            said_fail += 1
        elif got is None:
            said_ok += 1
        else:
            wrong_rule += 1
    hints = []
    if said_ok:
        hints.append(f"{said_ok} call(s) you expect to succeed are refused: check each flag's "
                     "requirement (a thread needs shared handlers; shared handlers need one address space).")
    if said_fail:
        hints.append(f"{said_fail} call(s) you expect to fail succeed: every rule needs a specific "
                     "combination; which flag would the rule need that the call lacks?")
    if wrong_rule:
        hints.append(f"{wrong_rule} call(s) fail by another rule than you said: copy_process checks "
                     "its rules in order and stops at the first that fires.")
    if hints:
        explain(parts, " ".join(hints))
    return parts


register(Item("2.3", "predict which clone() calls fail, and why", 1.0, _make_failures, _judge_failures))


def _make_family(rng: random.Random) -> tuple[dict[str, Any], str]:
    flags = rng.choice(["CLONE_VM|CLONE_SIGHAND|CLONE_THREAD", "CLONE_PARENT", "CLONE_VM",
                        "CLONE_PARENT|CLONE_VM", "CLONE_FILES"])
    return ({"flags": flags},
            "init (pid 1) forks P (pid 2). P calls clone() with flags "
            f"{flags} and the child gets pid 3.\nAnswer with a dict: {{\"tgid\": <the child's tgid>, "
            "\"parent\": <the pid of the child's parent>}.")


def _judge_family(settings: dict[str, Any], answer: Any) -> list[Part]:
    from ..shapes import as_int

    answer = as_dict(answer, "the answer", ["tgid", "parent"])
    k = Kernel()
    p = k.fork(k.init)
    child = k.clone(p, settings["flags"])
    parts = []
    if as_int(answer["tgid"], "tgid") == child.tgid:
        parts.append(Part("tgid", 0.5, 0.5))
    else:
        parts.append(Part("tgid", 0.0, 0.5, "tgid: a new task starts its own thread group unless "
                          "one flag makes it join the caller's."))
    if as_int(answer["parent"], "parent") == child.parent.pid:
        parts.append(Part("parent", 0.5, 0.5))
    else:
        parts.append(Part("parent", 0.0, 0.5, "parent: two flags give the child the caller's own "
                          "parent instead of the caller (see copy_process: real_parent)."))
    return parts


register(Item("2.4", "predict a child's thread group and parent", 1.0, _make_family, _judge_family))


# 2.5 predict-then-explain: what makes a thread, and why copy_process refuses a combination
# (kernel/fork.c copy_process, notebooks/sources.ipynb §2).
reason_item("2.5", "predict, then explain what a flag combination makes")  # its questions: answers/questions.py
