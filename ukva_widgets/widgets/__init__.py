"""The widget kit: ipywidgets + bqplot views over the engine. Each widget's text() is its text/plain repr."""

from .address_space_map import AddressSpaceMap
from .cache_aliasing import CacheAliasing
from .clone_explorer import CloneExplorer
from .cost_plot import CostPlot
from .design_lab import DesignLab
from .measure_chart import MeasureChart
from .smp_stepper import SMPStepper
from .task_tree import TaskTree

__all__ = ["AddressSpaceMap", "CacheAliasing", "CloneExplorer", "CostPlot", "DesignLab", "MeasureChart", "SMPStepper", "TaskTree"]
