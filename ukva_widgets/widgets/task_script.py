"""The scripts TaskTree steps through: a list of lines (or one string with a line per call), each
`[name =] call target [arg]`:

    sh = fork init
    t = clone sh CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD
    execve t /bin/ls          unshare sh CLONE_FILES        exit t 0        wait sh
    kt = kthread kworker      comm t worker   (prctl(PR_SET_NAME): the name ps shows)

A target is `init`, a name bound earlier or a pid.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

CALLS = {"fork": 0, "clone": 1, "execve": 1, "unshare": 1, "exit": (0, 1), "wait": 0, "kthread": None, "comm": 1}


@dataclass(frozen=True)
class Call:
    """One parsed script line."""

    line: str
    name: str | None
    call: str
    target: str
    arg: str | None


def parse_script(script: str | list[str]) -> list[Call]:
    """Parse a script; a bad line raises ValueError naming the line and the expected form."""
    lines = script.splitlines() if isinstance(script, str) else list(script)
    calls = []
    for number, line in enumerate(lines, 1):
        words = shlex.split(line, comments=True)
        if not words:
            continue
        name = None
        if len(words) > 2 and words[1] == "=":
            name, words = words[0], words[2:]
        call, rest = words[0], words[1:]
        if call not in CALLS:
            raise ValueError(f"script line {number} {line!r}: unknown call {call!r}; "
                             f"use one of {', '.join(CALLS)}")
        want = CALLS[call]
        counts = (1,) if call == "kthread" else tuple(1 + n for n in (want if isinstance(want, tuple) else (want,)))
        if len(rest) not in counts:
            raise ValueError(f"script line {number} {line!r}: {call} takes {' or '.join(map(str, counts))} "
                             f"word(s) after it, e.g. 'exit t 0', 'clone sh CLONE_VM', 'kt = kthread kworker'")
        if name is not None and call not in ("fork", "clone", "kthread"):
            raise ValueError(f"script line {number} {line!r}: only fork, clone and kthread return a task to name")
        calls.append(Call(line.strip(), name, call, rest[0], rest[1] if len(rest) > 1 else None))
    return calls
