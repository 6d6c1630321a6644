"""The one scoring rule: an answer earns what it knows beyond a guess.

A guess that knows nothing gives every part the same option (all True, all "proven", all None...).
For each item, the best such answer earns on average, over the item's variants, a share b of the
points (its baseline, measured once and stored below; tests/grading/test_scoring.py measures it
again). An answer that earns a share r scores (r - b) / (1 - b) of the points, never below 0; a fully
right answer scores full marks. Guessing then earns nothing on average, while an honest answer scores
by how much of it is right, whatever options it uses: four of 2.1's five predictions right is worth
the same whether they are all True or not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .items import Item

RULE = ("Scoring: each item's points are what your answer earns beyond a guess. For each item, the best "
        "answer that gives every part the same option (all True, all \"proven\", all None...) earns on "
        "average a share b of the points; an answer that earns a share r scores (r - b) / (1 - b) of them, "
        "never below 0, and a fully right answer scores full marks. In a set answer each wrong pick cancels "
        "a right one, and picking every option earns 0. Points are rounded to 2 decimals.")

# Measured by ukva_widgets.grading.answers.baselines.measure() (tests/grading/test_scoring.py checks).
BASELINES: dict[str, float] = {
    "1.3": 0.03, "2.1": 0.66, "2.3": 0.4, "2.4": 0.4, "3.1": 0.71, "4.1": 0.29, "4.2": 0.7, "4.3": 0.8,
    "5.3": 0.5, "6.3": 0.5, "7.1": 0.4,
}


def baseline_of(item: Item) -> float:
    return item.baseline if item.baseline is not None else BASELINES.get(item.id, 0.0)


def score(raw: float, max_points: float, baseline: float) -> float:
    """The points of an answer that earned `raw` of `max_points` as judged, over a guess's `baseline`."""
    if raw >= max_points:
        return round(max_points, 2)
    share = raw / max_points if max_points else 0.0
    if baseline >= 1:
        return 0.0
    return round(max(0.0, (share - baseline) / (1 - baseline)) * max_points, 2)
