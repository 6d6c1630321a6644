"""The widget kit: ipywidgets + bqplot views over the engine. Each widget's text() is its text/plain repr."""

from .address_space_map import AddressSpaceMap
from .cache_aliasing import CacheAliasing
from .clone_explorer import CloneExplorer
from .design_lab import DesignLab
from .smp_stepper import SMPStepper
from .task_tree import TaskTree

__all__ = ["AddressSpaceMap", "CacheAliasing", "CloneExplorer", "CostPlot", "DesignLab", "SMPStepper", "TaskTree"]


def __getattr__(name: str) -> object:
    # CostPlot needs bqplot and numpy: imported when asked, so the other widgets load without them
    # (the live book fetches those from Pyodide's distribution only for a page that draws costs).
    if name == "CostPlot":
        from .cost_plot import CostPlot
        return CostPlot
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
