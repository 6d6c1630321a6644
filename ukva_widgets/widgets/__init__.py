"""The widget kit: ipywidgets + bqplot views over the engine. Each widget's text() is its text/plain repr."""

from .address_space_map import AddressSpaceMap
from .cache_aliasing import CacheAliasing
from .clone_explorer import CloneExplorer
from .design_lab import DesignLab
from .smp_stepper import SMPStepper
from .task_tree import TaskTree

__all__ = ["AddressSpaceMap", "CacheAliasing", "CloneExplorer", "CostPlot", "DesignLab", "MeasureChart", "SMPStepper",
           "TaskTree"]


def __getattr__(name: str) -> object:
    # CostPlot and MeasureChart draw with bqplot, which needs numpy: imported when asked, so the other
    # widgets load without them (the live book fetches those from Pyodide's distribution only for a
    # page that draws a chart).
    if name == "CostPlot":
        from .cost_plot import CostPlot
        return CostPlot
    if name == "MeasureChart":
        from .measure_chart import MeasureChart
        return MeasureChart
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
