"""Measuring what the grader stores per item: its guessing baseline (scoring.py: the best average
share of the points an answer earns that gives every part the same option) and the size of its answer
space (copies.py: how likely two students give one answer by chance), over many variants. Slow, so
the results are stored in scoring.BASELINES and copies.SPACES, and tests measure them again."""

from __future__ import annotations

import json
from typing import Any

from ..chapters.reasons import QUESTIONS
from ..items import all_items
from .model import model_answer

SEEDS = range(0, 3000, 97)
CAP = 10 ** 6  # more than this many answers: large, whatever the exact number


def _leaves(answer: Any) -> list[Any]:
    if isinstance(answer, (list, tuple)):
        return [leaf for a in answer for leaf in _leaves(a)]
    if isinstance(answer, dict):
        return [leaf for a in answer.values() for leaf in _leaves(a)]
    return [answer]


def _constant(answer: Any, value: Any) -> Any:
    """`answer` with every part replaced by `value` (its shape kept)."""
    if isinstance(answer, (list, tuple)):
        return [_constant(a, value) for a in answer]
    if isinstance(answer, dict):
        return {k: _constant(v, value) for k, v in answer.items()}
    return value


def measure(item_id: str, seeds: range = SEEDS) -> float:
    """The item's baseline: 0 where no answer of its shape has two parts to make the same."""
    from ..items import get_item

    item = get_item(item_id)
    problems = [item.problem(seed) for seed in seeds]
    models = [model_answer(item_id, p.settings) for p in problems]
    if any(isinstance(m, (set, frozenset)) or len(_leaves(m)) < 2 for m in models):
        return 0.0
    options = {leaf for m in models for leaf in _leaves(m)} | {None, True, False}
    best = 0.0
    for value in options:
        shares = [item.verdict(p, _constant(m, value)).raw_points / item.max_points for p, m in zip(problems, models)]
        best = max(best, sum(shares) / len(shares))
    return round(best, 2)


def measure_all(seeds: range = SEEDS) -> dict[str, float]:
    """The baselines of the items whose parts are predictions of one kind about a problem that varies
    (non-zero ones only). A predict-then-explain answer's two parts (an outcome, a reason's number) are
    never one option, and a question with one variant (2.2) has no guess to measure: the best fixed
    answer to it is its answer."""
    from .model import MODEL_ANSWERS

    ids = [i.id for i in all_items() if i.kind == "data" and i.id in MODEL_ANSWERS
           and len({i.problem(s).text for s in range(8)}) > 1]
    return {i: b for i in ids if (b := measure(i, seeds))}


def _options(leaves: list[Any]) -> int:
    """How many values one part of this kind takes: two for a bool, else as many as the right answers
    of the item's variants use (at least two)."""
    if all(isinstance(leaf, bool) for leaf in leaves):
        return 2
    return max(2, len({json.dumps(leaf) for leaf in leaves}))


def answer_space(item_id: str, seeds: range = SEEDS) -> int:
    """About how many well-formed answers the item has: the number of subsets of its options for a
    set answer, else the options of one part to the power of the number of parts (capped)."""
    from ..items import get_item

    item = get_item(item_id)
    if item_id in QUESTIONS:
        return max(len(q.outcomes) for q in QUESTIONS[item_id]) * 4
    problems = [item.problem(seed) for seed in seeds]
    models = [model_answer(item_id, p.settings) for p in problems]
    if any(isinstance(m, (set, frozenset)) for m in models):
        options = max(len(p.settings.get("options", p.settings.get("labels", []))) for p in problems)
        return min(CAP, 2 ** options)
    leaves = [leaf for m in models for leaf in _leaves(m)]
    parts = max(len(_leaves(m)) for m in models)
    return min(CAP, _options(leaves) ** parts)


def measure_spaces(seeds: range = SEEDS) -> dict[str, int]:
    """The answer space of every item with a model answer or a predict-then-explain question."""
    from .model import MODEL_ANSWERS

    return {i.id: answer_space(i.id, seeds) for i in all_items()
            if i.id in MODEL_ANSWERS or i.id in QUESTIONS}
