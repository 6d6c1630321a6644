"""Graded exercises: `exercise` and `check` for learners, `ukva student` and `ukva grade` for instructors.

In a notebook: `from ukva_widgets.grading import seed_from, exercise, check`.
"""

from .items import Item, Problem, Verdict, all_items, get_item
from .notebook import Feedback, check, exercise, seed_from

__all__ = ["Item", "Problem", "Verdict", "Feedback", "all_items", "get_item",
           "check", "exercise", "seed_from"]
