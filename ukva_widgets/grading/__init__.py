"""Graded exercises: `exercise` and `check` for learners, `ukva student` and `ukva grade` for instructors.

In a notebook: `from ukva_widgets.grading import seed_from, exercise, check`; an instructor's own
items: `new_item` (bank.py).
"""

from .bank import new_item
from .items import Item, Part, Problem, Verdict, all_items, get_item
from .notebook import Feedback, check, exercise, seed_from

__all__ = ["Item", "Part", "Problem", "Verdict", "Feedback", "all_items", "get_item",
           "check", "exercise", "seed_from", "new_item"]
