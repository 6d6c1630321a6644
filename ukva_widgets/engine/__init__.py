"""The engine: a small model of Linux tasks and what clone() makes them share (part 1), and of
CPUs, TLBs and where a per-address-space kernel area can live (part 2). Pure Python: it imports
no Jupyter package, so `import ukva_widgets.engine` stays fast and headless."""

# Part 1: tasks and clone (flags, rules, objects, task, kernel, lifecycle, invariants).
from .flags import CSIGNAL, PRESETS, SIGCHLD, CloneFlags, flag_names, format_flags, parse_flags
from .kernel import IoprioError, Kernel
from .objects import FS, MM, Files, IOContext, SemUndo, SharedObject, SigHand, Signal
from .rules import CLONE_RULES, UNSHARE_RULES, CloneError, NotModelled, Rule, all_rules
from .task import Task, TaskStateError, WaitResult

__all__ = [
    "CSIGNAL", "PRESETS", "SIGCHLD", "CloneFlags", "flag_names", "format_flags", "parse_flags",
    "IoprioError", "Kernel", "WaitResult",
    "FS", "MM", "Files", "IOContext", "SemUndo", "SharedObject", "SigHand", "Signal",
    "CLONE_RULES", "UNSHARE_RULES", "CloneError", "NotModelled", "Rule", "all_rules",
    "Task", "TaskStateError",
]

# Part 2: the SMP machine (state, slots, model, properties, symmetry, parts, explore; machine and words).
from .explore import ExploreResult, explore, random_run, reference_search
from .layout import AddressSpace, Region, UkvaView, address_space, slot_address, ukva_shows, ukva_view
from .machine import Effects, Machine, Options, StaleEntry, Step, Violation
from .state import Choice, Cpu, State
from .symmetry import Renaming
from .workloads import THREAD_FLAGS, make_tasks

__all__ += [
    "ExploreResult", "explore", "random_run", "reference_search", "AddressSpace", "Region", "address_space",
    "slot_address", "ukva_shows", "UkvaView", "ukva_view", "Effects", "Machine", "Options", "StaleEntry", "Step",
    "Violation", "Choice", "Cpu", "State", "Renaming", "THREAD_FLAGS", "make_tasks",
]
__all__ += ["simulate_costs", "cost_curves"]


def __getattr__(name: str) -> object:
    # The cost simulator needs numpy: import it only when asked, so the engine stays quick to load.
    if name in ("simulate_costs", "cost_curves"):
        from . import costs
        return getattr(costs, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
