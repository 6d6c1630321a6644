"""The exercise model: an `Item` makes a `Problem` from a seed and judges an answer to it.

Every graded item of every chapter is an `Item` in one registry. The same judge runs in
the learner's kernel (`check`) and in the grader's own process (`ukva grade`), so the
feedback a learner sees while practising is the feedback the grade report gives.
"""

from __future__ import annotations

import difflib
import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

# The answer a student notebook starts with (`answer_2_1 = ...`): "not answered yet".
UNANSWERED = ...


@dataclass(frozen=True)
class Problem:
    """One variant of an item: what the learner is asked, and the settings that reproduce it."""

    item_id: str
    seed: int
    text: str
    settings: dict[str, Any] = field(default_factory=dict)

    def reproduce(self) -> str:
        return f'exercise("{self.item_id}", seed={self.seed})'

    def __repr__(self) -> str:
        return f"{self.text}\n(reproduce this problem with {self.reproduce()})"


@dataclass(frozen=True)
class Part:
    """The judgement of one part of an answer: points earned and why."""

    name: str
    points: float
    max_points: float
    feedback: str = ""

    @property
    def passed(self) -> bool:
        return self.points >= self.max_points


def explain(parts: list[Part], feedback: str) -> None:
    """Give an item's feedback to its last part, where the report shows it; points stay as judged."""
    parts[-1] = replace(parts[-1], feedback=feedback)


@dataclass(frozen=True)
class Verdict:
    """The judgement of a whole answer: its parts, or the reason there was nothing to judge."""

    item_id: str
    parts: tuple[Part, ...]
    max_points: float
    answered: bool = True
    problem: str = ""  # how to reproduce the problem that was judged
    manual: bool = False  # recorded for the instructor, who grades it with the rubric; 0 points here

    @property
    def points(self) -> float:
        return round(sum(p.points for p in self.parts), 6)

    @property
    def passed(self) -> bool:
        return self.answered and self.points >= self.max_points

    @property
    def feedback(self) -> str:
        if not self.answered:
            return "not answered yet"
        if self.manual:
            return " ".join(p.feedback for p in self.parts)
        if self.passed:
            return "correct"
        wrong = [p.feedback for p in self.parts if p.feedback]
        return " ".join(wrong) or "not correct"


class AnswerError(ValueError):
    """The answer has the wrong shape (a list where a dict was asked...): nothing to judge."""


# Scoring that pays only for knowledge: what a guess that knows nothing earns is 0.
SCORING = ("Scoring: an empty, None or all-the-same answer (every part the same option) earns 0 "
           "unless it is entirely right; in a set answer each wrong pick cancels a right one "
           "(never below 0), and picking every option earns 0.")


def _leaves(answer: Any) -> list[Any]:
    """The scalar parts of an answer: the members of lists, tuples and dict values, nested."""
    if isinstance(answer, (list, tuple)):
        return [leaf for a in answer for leaf in _leaves(a)]
    if isinstance(answer, dict):
        return [leaf for a in answer.values() for leaf in _leaves(a)]
    return [answer]


def knows_nothing(answer: Any) -> str | None:
    """Why `answer` shows no knowledge whatever the question (None, empty, or every part the
    same option), or None. Such an answer earns points only when it is entirely right."""
    if answer is None:
        return "the answer is None"
    if isinstance(answer, (str, bytes, list, tuple, set, frozenset, dict)) and not answer:
        return "the answer is empty"
    if isinstance(answer, str) and not answer.strip():
        return "the answer is blank"
    leaves = _leaves(answer)
    if all(leaf is None or (isinstance(leaf, (str, list, tuple, set, frozenset, dict)) and not leaf)
           for leaf in leaves):
        return "every part of the answer is empty"
    first = leaves[0]
    if len(leaves) >= 2 and all(type(leaf) is type(first) and leaf == first for leaf in leaves):
        return f"every part of the answer is the same ({first!r:.40})"
    return None


def score_picks(name: str, chosen: frozenset, truth: frozenset, options: Any, max_points: float) -> Part:
    """A set answer's points: each right pick gains max/|truth|, each wrong pick loses as much
    (never below 0); no pick, or every option, earns 0 unless that is exactly the answer."""
    chosen, truth, options = frozenset(chosen), frozenset(truth), frozenset(options)
    if chosen == truth:
        return Part(name, max_points, max_points)
    if not truth or not chosen or chosen >= options:
        return Part(name, 0.0, max_points)
    net = len(chosen & truth) - len(chosen - truth)
    return Part(name, round(max(0.0, net) * max_points / len(truth), 6), max_points)


@dataclass(frozen=True)
class Item:
    """A graded item. `make(rng)` builds the problem's settings and text; `judge(settings,
    answer)` returns the parts. `kind` is "data" (a value about the problem) or "code"
    (a function or class, run by the grader on inputs drawn from the grading seed) or
    "manual" (a short text the instructor grades from the report with `rubric`; never
    auto-scored: it earns 0 points here and the report marks it "manual")."""

    id: str
    title: str
    max_points: float
    make: Callable[[random.Random], tuple[dict[str, Any], str]]
    judge: Callable[[dict[str, Any], Any], list[Part]]
    # Code items only: `inputs(rng)` draws test inputs (visible ones from the learner's
    # seed, hidden ones from the grading seed); `observe(answer, inputs)` runs the learner's
    # code on them inside the learner's kernel and returns plain data, which `judge` reads
    # next to the inputs the judge itself drew (settings["inputs"]).
    inputs: Callable[[random.Random], dict[str, Any]] | None = None
    observe: Callable[[Any, dict[str, Any]], Any] | None = None
    rubric: str | None = None  # manual items only: what the instructor looks for

    @property
    def kind(self) -> str:
        if self.rubric is not None:
            return "manual"
        return "data" if self.observe is None else "code"

    @property
    def variable(self) -> str:
        """The notebook variable that holds this item's answer (`answer_2_1`)."""
        return "answer_" + self.id.replace(".", "_")

    def problem(self, seed: int) -> Problem:
        settings, text = self.make(random.Random(f"{self.id}/{seed}"))
        return Problem(self.id, seed, f"Exercise {self.id}: {self.title}\n{text}", settings)

    def visible_inputs(self, seed: int) -> dict[str, Any]:
        """Test inputs `check` uses in the learner's kernel (from the learner's seed)."""
        return self.inputs(random.Random(f"{self.id}/visible/{seed}"))

    def hidden_inputs(self, grading_seed: int) -> dict[str, Any]:
        """Test inputs the grader uses, from a seed the learner never saw."""
        return self.inputs(random.Random(f"{self.id}/hidden/{grading_seed}"))

    def verdict(self, problem: Problem, answer: Any, inputs: dict[str, Any] | None = None) -> Verdict:
        """Judge `answer` to `problem` (for a code item: its observations on `inputs`);
        an answer of the wrong shape earns 0 and says why."""
        if answer is UNANSWERED:
            return Verdict(self.id, (), self.max_points, answered=False, problem=problem.reproduce())
        if self.kind == "manual":
            return self._recorded(problem, answer)
        settings = problem.settings if inputs is None else {**problem.settings, "inputs": inputs}
        try:
            parts = tuple(self.judge(settings, answer))
        except AnswerError as exc:
            parts = (Part("shape", 0.0, self.max_points, str(exc)),)
        except TypeError as exc:  # e.g. a list inside what must be a set: unhashable
            parts = (Part("shape", 0.0, self.max_points, f"the answer could not be read ({exc})"),)
        guess = knows_nothing(answer) if self.kind == "data" else None
        if guess and round(sum(p.points for p in parts), 6) < self.max_points:  # 6 x 1/6 is not 1.0
            # The judge's hints stay; the points of a guess that knows nothing do not.
            parts = (Part("scoring", 0.0, 0.0, f"0 points: {guess}. {SCORING}"),
                     *(replace(p, points=0.0) for p in parts))
        return Verdict(self.id, parts, self.max_points, problem=problem.reproduce())

    def _recorded(self, problem: Problem, answer: Any) -> Verdict:
        """A manual item's answer, recorded for the instructor (too short or not text: said so)."""
        words = len(answer.split()) if isinstance(answer, str) else 0
        if not isinstance(answer, str):
            why = f"a manually graded answer is a text (a string in quotes), not {type(answer).__name__}"
        elif words < MIN_MANUAL_WORDS:
            why = f"write your explanation in a few sentences ({words} word(s) is too short to grade)"
        else:
            text = " ".join(answer.split())
            return Verdict(self.id, (Part("manual", 0.0, self.max_points,
                                          f"manual: recorded for the instructor ({words} words), who "
                                          f"grades it with the rubric: {text[:600]!r}"),),
                           self.max_points, problem=problem.reproduce(), manual=True)
        return Verdict(self.id, (Part("shape", 0.0, self.max_points, why),), self.max_points,
                       problem=problem.reproduce())


MIN_MANUAL_WORDS = 8

ITEMS: dict[str, Item] = {}


def register(item: Item) -> Item:
    if item.id in ITEMS:
        raise ValueError(f"item {item.id} is registered twice")
    ITEMS[item.id] = item
    return item


def get_item(item_id: str) -> Item:
    """The item called `item_id`; an unknown id names the closest known one."""
    from . import chapters  # noqa: F401  (registers every chapter's items)

    if not isinstance(item_id, str):
        raise TypeError(f"an item id is a string like \"2.1\", not {type(item_id).__name__}")
    try:
        return ITEMS[item_id]
    except KeyError:
        close = difflib.get_close_matches(item_id, ITEMS, n=1)
        hint = f' Did you mean "{close[0]}"?' if close else ""
        raise ValueError(f'there is no exercise "{item_id}".{hint} Known: {", ".join(ITEMS)}') from None


def all_items() -> list[Item]:
    from . import chapters  # noqa: F401

    return list(ITEMS.values())

