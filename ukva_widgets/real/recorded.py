"""A Linux kernel's answers to every probe (probe_all), kept for where no kernel can be asked: the live
book, whose Python runs in a web browser. There `probe()` shows these stored answers and says, in one
line, that asking a kernel needs a Linux machine with ukva_widgets installed.

Regenerate on Linux (tests/real/test_recorded.py checks the stored answers against the running kernel):

    python -m ukva_widgets.real.recorded
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

from .probe import ProbeResult, probe_all, result_of

STORED = Path(__file__).with_name("recorded.json")


def load(path: Path = STORED) -> tuple[str, dict[int, dict]]:
    """(the kernel that answered, e.g. "Linux 6.1.0 x86_64"; its answer per flag word, as the worker writes one)."""
    data = json.loads(path.read_text())
    return data["kernel"], {int(flags): line for flags, line in data["answers"].items()}


def results(words: list[int]) -> list[ProbeResult]:
    """The stored answers for `words`, each marked with the kernel that gave it."""
    kernel, answers = load()
    return [result_of(flags, answers[flags], recorded=kernel) if flags in answers else
            ProbeResult(flags, available=False, why=f"no stored answer for this flag word (only {kernel}'s to the "
                                                     "probed flags' subsets)")
            for flags in words]


def record(path: Path = STORED) -> str:
    """Ask the running kernel every probe and store its answers in `path`; returns the kernel's name."""
    answers = probe_all()
    missing = next((r for r in answers if not r.available), None)
    if missing is not None:
        raise RuntimeError(f"cannot record: the kernel did not answer ({missing.why})")
    kernel = f"{platform.system()} {platform.release()} {platform.machine()}"
    lines = {str(r.flags): {"errno": r.errno, "error": r.error} if r.errno else
             {"errno": 0, "shares": dict(r.shares), "same_thread_group": r.same_thread_group, "parent_is": r.parent_is}
             for r in answers}
    body = ",\n".join(f"{json.dumps(k)}: {json.dumps(v, sort_keys=True)}" for k, v in sorted(lines.items()))
    path.write_text(f'{{"kernel": {json.dumps(kernel)}, "answers": {{\n{body}\n}}}}\n')  # one answer a line
    return kernel


if __name__ == "__main__":
    print(f"stored {record()}'s answers in {STORED}", file=sys.stderr)
