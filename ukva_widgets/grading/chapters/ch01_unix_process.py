"""Chapter 01 exercises: the traditional Unix process — fork copies, wait reports, one u-area.

Sources: fork(2), wait(2) and Python's os module for 1.1-1.3; 4.2BSD `struct user`
(its user.h, via dspinellis/unix-history-repo; notebooks/sources.ipynb §8) for 1.4.
"""

from __future__ import annotations

import random
from typing import Any

from ..items import Item, Part, explain, register, score_picks
from ..sealed import table
from ..shapes import as_int, as_set
from .reasons import manual_item, reason_item

FORK_LOOPS = {
    "plain": "for i in range({n}):\n    os.fork()",
    "child-breaks": "for i in range({n}):\n    if os.fork() == 0:\n        break",
    "parent-breaks": "for i in range({n}):\n    if os.fork() != 0:\n        break",
}


def fork_loop_processes(shape: str, n: int) -> int:
    """How many processes a fork loop leaves (the original included)."""
    # plain: every process, old and new, forks at each later step -> doubling.
    # child-breaks: only the original keeps forking. parent-breaks: only the newest child does.
    return 2 ** n if shape == "plain" else n + 1


def _make_fork_count(rng: random.Random) -> tuple[dict[str, Any], str]:
    shape, n = rng.choice(sorted(FORK_LOOPS)), rng.randint(2, 5)
    code = FORK_LOOPS[shape].format(n=n)
    return ({"shape": shape, "n": n, "code": code},
            f"One process runs\n\n{code}\n\nHow many processes exist when every loop has ended "
            "(count the original one too)? Answer with an int.")


def _judge_fork_count(settings: dict[str, Any], answer: Any) -> list[Part]:
    got = as_int(answer, "the number of processes")
    want = fork_loop_processes(settings["shape"], settings["n"])
    if got == want:
        return [Part("count", 1.0, 1.0)]
    if got < want:
        hint = ("Too few. After fork() both processes continue from the same point in the program: "
                "trace which of them go round the loop again.")
    else:
        hint = ("Too many. Follow the break: a process that leaves the loop forks no more.")
    return [Part("count", 0.0, 1.0, hint)]


register(Item("1.1", "count the processes a fork loop makes", 1.0, _make_fork_count, _judge_fork_count))


def _make_fork_copy(rng: random.Random) -> tuple[dict[str, Any], str]:
    a, b, c = rng.randint(2, 9), rng.randint(10, 40), rng.randint(2, 5)
    code = (f"x = {a}\npid = os.fork()\nif pid == 0:\n    x += {b}\n    os._exit(0)\n"
            f"os.waitpid(pid, 0)\nx *= {c}\nprint(x)")
    return ({"a": a, "b": b, "c": c, "code": code},
            f"A process runs\n\n{code}\n\nWhat number does it print? Answer with an int.")


def _judge_fork_copy(settings: dict[str, Any], answer: Any) -> list[Part]:
    a, b, c = settings["a"], settings["b"], settings["c"]
    got = as_int(answer, "the printed number")
    if got == a * c:
        return [Part("value", 1.0, 1.0)]
    if got == (a + b) * c:
        hint = ("You let the child's `x += ...` reach the parent. fork() gives the child a copy "
                "of the address space: which x did the child change?")
    else:
        hint = "Trace x in the parent alone: which lines does the parent execute?"
    return [Part("value", 0.0, 1.0, hint)]


register(Item("1.2", "what a forked child's write does to its parent", 1.0, _make_fork_copy, _judge_fork_copy))


def _make_wait_status(rng: random.Random) -> tuple[dict[str, Any], str]:
    code = rng.randint(1, 120)
    prog = (f"pid = os.fork()\nif pid == 0:\n    os._exit({code})\n"
            "_, status = os.wait()")
    return ({"code": code, "program": prog},
            f"A process runs\n\n{prog}\n\nAnswer with a dict: {{\"status\": <the int os.wait() "
            "returned>, \"exitcode\": <os.waitstatus_to_exitcode(status)>}.")


def _judge_wait_status(settings: dict[str, Any], answer: Any) -> list[Part]:
    from ..shapes import as_dict

    answer = as_dict(answer, "the answer", ["status", "exitcode"])
    code = settings["code"]
    parts = []
    status = as_int(answer["status"], "status")
    if status == code << 8:
        parts.append(Part("status", 0.5, 0.5))
    else:
        hint = ("status: the raw wait status packs more than the exit code; "
                "see how WEXITSTATUS extracts it in wait(2).")
        parts.append(Part("status", 0.0, 0.5, hint))
    exitcode = as_int(answer["exitcode"], "exitcode")
    if exitcode == code:
        parts.append(Part("exitcode", 0.5, 0.5))
    else:
        parts.append(Part("exitcode", 0.0, 0.5, "exitcode: what did the child pass to os._exit?"))
    return parts


register(Item("1.3", "read a child's exit status", 1.0, _make_wait_status, _judge_wait_status))

# 4.2BSD struct user (notebooks/sources.ipynb §8): what a process had exactly one of, in its u-area,
# against tables the whole system had one of (never per process); the table is in the answer key.
U_AREA = table("1.4")


def _make_u_area(rng: random.Random) -> tuple[dict[str, Any], str]:
    inside = rng.sample(sorted(k for k, v in U_AREA.items() if v), 4)
    outside = rng.sample(sorted(k for k, v in U_AREA.items() if not v), 3)
    options = inside + outside
    rng.shuffle(options)
    listing = "\n".join(f"  {i}: {o}" for i, o in enumerate(options))
    return ({"options": options},
            "4.2BSD kept what a process had exactly one of in its u-area (`struct user u`). "
            "Which of these were there?\n"
            f"{listing}\nAnswer with the set of numbers, e.g. {{0, 3}}.")


def _judge_u_area(settings: dict[str, Any], answer: Any) -> list[Part]:
    options = settings["options"]
    chosen = as_set(answer, "the answer", range(len(options)))
    wrong_in = sum(1 for i, o in enumerate(options) if U_AREA[o] and i not in chosen)
    wrong_out = sum(1 for i, o in enumerate(options) if not U_AREA[o] and i in chosen)
    parts = [score_picks("picks", chosen, {i for i, o in enumerate(options) if U_AREA[o]},
                         range(len(options)), 1.0)]
    hints = []
    if wrong_in:
        hints.append("A per-process thing is missing: what did one process need its own copy of, to "
                     "open files, catch signals and resolve paths?")
    if wrong_out:
        hints.append("A table the whole system shares is among your picks; the u-area held only what "
                     "belongs to one process.")
    if hints:
        explain(parts, " ".join(hints))
    return parts


register(Item("1.4", "what lived in the u-area", 1.0, _make_u_area, _judge_u_area, hide_points=True))

# 1.5 predict-then-explain: what fork copies and what it shares (fork(2), notebooks/sources.ipynb §8).
reason_item("1.5", "predict, then explain what fork copies")  # its questions: answers/questions.py

manual_item("1.6", "explain the fixed u-area (manually graded)", (
    ("One fixed address for the running process's u-area",
     "Explain why a Unix kernel such as V6 could keep the running process's u-area at one fixed kernel "
     "address (0140000), and what in Linux's clone() makes \"the process's own data at one fixed "
     "address\" ambiguous."),
    ("What clone() does to \"exactly one\"",
     "A traditional Unix process had exactly one of each thing in its u-area (one file table, one set "
     "of signal actions, one current directory). Explain which clone() flags break \"exactly one\", "
     "and what that means for putting such data at one fixed address."),
))  # the rubric is in the solution notebook, never in this package
