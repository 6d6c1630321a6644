"""Probes of the Linux kernel that runs the notebook: clone() with given flags, judged by kcmp(2).

Stands alone: imports nothing from the engine (see probe.py).
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
