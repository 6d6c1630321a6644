"""ukva_widgets: an interactive textbook on Linux tasks, clone() and the per-MM UKVA argument."""

__version__ = "0.1.0"
