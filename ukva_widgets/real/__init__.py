"""Probes of the Linux kernel that runs the notebook: clone() with given flags, judged by kcmp(2)
(probe.py), and scripted sequences of clone/unshare/execve/exit/wait played on it (sequences.py).

Stands alone: imports nothing from the engine (see probe.py). The engine's side of the
comparisons lives in command.py and engine_replay.py, which import the engine when asked.
"""

from ukva_widgets.real.probe import (
    PROBED_FLAGS,
    ProbeResult,
    check_flags,
    disagreements,
    flag_label,
    probe,
    probe_all,
    probe_many,
    subsets,
)

__all__ = ["PROBED_FLAGS", "ProbeResult", "check_flags", "disagreements",
           "flag_label", "probe", "probe_all",
           "probe_many", "subsets"]
