"""Predict-then-explain items and manually graded items, the kinds the engine cannot answer.

A `Question` sets a scenario, asks for a prediction among a few outcomes (something the engine
or the kernel could show) and then for the reason, chosen among options where every wrong one
is a real misconception, each with its own rebuttal. The seed picks the question and the order
of the options. The prediction earns half; the reason the other half: running the engine gives
the first, never the second.
"""

from __future__ import annotations

import random
from typing import Any

from ..items import AnswerError, Item, Part, Question, register
from ..shapes import as_dict, as_int


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


# Every predict-then-explain item's questions, by item id (from the answer key, or sealed.json).
QUESTIONS: dict[str, tuple[Question, ...]] = {}


def reason_item(item_id: str, title: str) -> Item:
    """Register a predict-then-explain item over its questions (the seed picks one); the questions
    and their answers are in the answer key (answers/questions.py), sealed in a student's package."""
    from ..sealed import questions

    QUESTIONS[item_id] = questions(item_id)
    return register(Item(item_id, title, 1.0, _make(QUESTIONS[item_id]), _judge(QUESTIONS[item_id])))


def _never_judged(settings: dict[str, Any], answer: Any) -> list[Part]:
    raise AssertionError("a manual item is recorded, never judged")  # Item.verdict handles it


def manual_item(item_id: str, title: str, prompts: tuple[tuple[str, str], ...]) -> Item:
    """Register a short free-text item the instructor grades by hand: the seed picks one of `prompts`,
    each (its own title, the question). Its rubric is in the solution notebook only."""
    def make(rng: random.Random) -> tuple[dict[str, Any], str]:
        p = rng.randrange(len(prompts))
        heading, prompt = prompts[p]
        return ({"prompt": p}, f"{heading}.\n{prompt}\n\nAnswer in a few sentences, as a string. Your "
                               "instructor grades this item by hand; check() only records it.")
    return register(Item(item_id, title, 1.0, make, _never_judged, manual=True))
