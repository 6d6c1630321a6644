"""The widget kit: ipywidgets + bqplot views over the engine. Each widget's text() is its text/plain repr."""

from .clone_explorer import CloneExplorer
from .task_tree import TaskTree

__all__ = ["CloneExplorer", "TaskTree"]
