"""Predict-then-explain items and manually graded items, the kinds the engine cannot answer.

A `Question` sets a scenario, asks for a prediction among a few outcomes (something the engine
or the kernel could show) and then for the reason, chosen among options where every wrong one
is a real misconception, each with its own rebuttal. The seed picks the question and the order
of the options. The prediction earns half; the reason the other half: running the engine gives
the first, never the second.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from ..items import AnswerError, Item, Part, register
from ..shapes import as_dict, as_int


@dataclass(frozen=True)
class Question:
    scenario: str
    ask: str                              # the prediction asked for
    outcomes: tuple[str, ...]             # the possible predictions
    outcome: str                          # the right one
    reason: str                           # the right reason
    misconceptions: tuple[tuple[str, str], ...]  # (a wrong reason, why it is wrong: no answer given)

    def __post_init__(self) -> None:
        if self.outcome not in self.outcomes or len(self.misconceptions) < 3:
            raise ValueError(f"a question needs its outcome among the outcomes and 3 misconceptions: {self.ask}")


def _make(questions: tuple[Question, ...]):
    def make(rng: random.Random) -> tuple[dict[str, Any], str]:
        q = rng.randrange(len(questions))
        question = questions[q]
        reasons = [question.reason, *(wrong for wrong, _ in question.misconceptions)]
        rng.shuffle(reasons)
        outcomes = "; ".join(repr(o) for o in question.outcomes)
        listing = "\n".join(f"  {i}: {r}" for i, r in enumerate(reasons))
        return ({"question": q, "reasons": reasons},
                f"{question.scenario}\n\nPredict: {question.ask} (one of {outcomes}).\n"
                f"Then explain: which reason is the right one?\n{listing}\n"
                'Answer with a dict: {"predict": <your prediction>, "why": <the number of the reason>}.')
    return make


def _judge(questions: tuple[Question, ...]):
    def judge(settings: dict[str, Any], answer: Any) -> list[Part]:
        question = questions[settings["question"]]
        reasons = settings["reasons"]
        answer = as_dict(answer, "the answer", ["predict", "why"])
        if isinstance(answer["predict"], int) and not isinstance(answer["predict"], bool):
            answer["predict"] = str(answer["predict"])  # "5" and 5 say the same
        if answer["predict"] not in question.outcomes:
            raise AnswerError(f"predict is one of {', '.join(map(repr, question.outcomes))}; "
                              f"got {answer['predict']!r:.60}")
        why = as_int(answer["why"], "why")
        if not 0 <= why < len(reasons):
            raise AnswerError(f"why is the number of a reason, 0 to {len(reasons) - 1}; got {why}")
        parts = []
        if answer["predict"] == question.outcome:
            parts.append(Part("predict", 0.5, 0.5))
        else:
            parts.append(Part("predict", 0.0, 0.5, "predict: not what happens; you may run it on the "
                              "engine (or the kernel) to see, then find the reason."))
        chosen = reasons[why]
        if chosen == question.reason:
            parts.append(Part("why", 0.5, 0.5))
        else:
            rebuttal = dict(question.misconceptions)[chosen]
            parts.append(Part("why", 0.0, 0.5, f"why: {rebuttal}"))
        return parts
    return judge


# Every predict-then-explain item's questions, by item id.
QUESTIONS: dict[str, tuple[Question, ...]] = {}


def right_answer(item_id: str, settings: dict[str, Any]) -> dict[str, Any]:
    """The full-marks answer to a predict-then-explain problem (for solutions and tests)."""
    question = QUESTIONS[item_id][settings["question"]]
    return {"predict": question.outcome, "why": settings["reasons"].index(question.reason)}


def reason_item(item_id: str, title: str, questions: tuple[Question, ...]) -> Item:
    """Register a predict-then-explain item over `questions` (the seed picks one)."""
    QUESTIONS[item_id] = questions
    return register(Item(item_id, title, 1.0, _make(questions), _judge(questions)))


def _never_judged(settings: dict[str, Any], answer: Any) -> list[Part]:
    raise AssertionError("a manual item is recorded, never judged")  # Item.verdict handles it


def manual_item(item_id: str, title: str, prompts: tuple[str, ...], rubric: str) -> Item:
    """Register a short free-text item the instructor grades from the report with `rubric`."""
    def make(rng: random.Random) -> tuple[dict[str, Any], str]:
        p = rng.randrange(len(prompts))
        return ({"prompt": p}, f"{prompts[p]}\n\nAnswer in a few sentences, as a string. This item is "
                               "graded by your instructor (manually graded), not by check().")
    return register(Item(item_id, title, 1.0, make, _never_judged, rubric=rubric))
