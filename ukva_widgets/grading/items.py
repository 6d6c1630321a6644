"""The exercise model: an `Item` makes a `Problem` from a seed and judges an answer to it.

Every graded item of every chapter is an `Item` in one registry. The same judge runs in
the learner's kernel (`check`) and in the grader's own process (`ukva grade`), so the
feedback a learner sees while practising is the feedback the grade report gives.
"""

from __future__ import annotations

import difflib
import random
import threading
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
    """The judgement of a whole answer: its parts, or the reason there was nothing to judge. The
    parts hold the points as judged; `points` is what they score under the one scoring rule."""

    item_id: str
    parts: tuple[Part, ...]
    max_points: float
    answered: bool = True
    problem: str = ""  # how to reproduce the problem that was judged
    manual: bool = False  # recorded for the instructor to grade by hand: no points here
    baseline: float = 0.0  # what a guess that knows nothing earns, as a share of max_points (scoring.py)

    @property
    def raw_points(self) -> float:
        return round(sum(p.points for p in self.parts), 6)

    @property
    def points(self) -> float:
        from .scoring import score

        return score(self.raw_points, self.max_points, self.baseline)

    @property
    def passed(self) -> bool:
        return self.answered and not self.manual and self.raw_points >= self.max_points

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


@dataclass(frozen=True)
class Question:
    """A predict-then-explain question (chapters/reasons.py): a scenario, the outcome to predict, the right
    reason and every misconception with its rebuttal."""

    scenario: str
    ask: str                              # the prediction asked for
    outcomes: tuple[str, ...]             # the possible predictions
    outcome: str                          # the right one
    reason: str                           # the right reason
    misconceptions: tuple[tuple[str, str], ...]  # (a wrong reason, why it is wrong: no answer given)

    def __post_init__(self) -> None:
        if self.outcome not in self.outcomes or len(self.misconceptions) < 3:
            raise ValueError(f"a question needs its outcome among the outcomes and 3 misconceptions: {self.ask}")


class AnswerError(ValueError):
    """The answer has the wrong shape (a list where a dict was asked...): nothing to judge."""


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
    answer)` returns the parts. `kind` is "data" (a value about the problem), "code" (a function
    or class, run by the grader on inputs drawn from the grading seed) or "manual" (a short text
    the instructor grades by hand: recorded here, never scored, "awaiting grading" until a score
    is given to `ukva grade --manual`)."""

    id: str
    title: str
    max_points: float
    make: Callable[[random.Random], tuple[dict[str, Any], str]]
    judge: Callable[[dict[str, Any], Any], list[Part]] | None  # None: judged only where the grader runs
    # Code items only: `inputs(rng)` draws test inputs (visible ones from the learner's
    # seed, hidden ones from the grading seed); `observe(answer, inputs)` runs the learner's
    # code on them inside the learner's kernel and returns plain data, which `judge` reads
    # next to the inputs the judge itself drew (settings["inputs"]).
    inputs: Callable[[random.Random], dict[str, Any]] | None = None
    observe: Callable[[Any, dict[str, Any]], Any] | None = None
    manual: bool = False
    # check() shows no points for an item whose per-part points would give its answer away.
    hide_points: bool = False
    baseline: float | None = None  # None: the stored one (scoring.BASELINES), else 0

    @property
    def kind(self) -> str:
        if self.manual:
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
        from .scoring import baseline_of

        if answer is UNANSWERED:
            return Verdict(self.id, (), self.max_points, answered=False, problem=problem.reproduce())
        if self.kind == "manual":
            return self._recorded(problem, answer)
        if self.judge is None:
            raise JudgeMissing(f"exercise {self.id} is judged by your instructor's grader only: its judge "
                               "is not in your notebook")
        settings = problem.settings if inputs is None else {**problem.settings, "inputs": inputs}
        try:
            parts = tuple(self.judge(settings, answer))
        except AnswerError as exc:
            parts = (Part("shape", 0.0, self.max_points, str(exc)),)
        except TypeError as exc:  # e.g. a list inside what must be a set: unhashable
            parts = (Part("shape", 0.0, self.max_points, f"the answer could not be read ({exc})"),)
        return Verdict(self.id, parts, self.max_points, problem=problem.reproduce(),
                       baseline=baseline_of(self) if self.kind == "data" else 0.0)

    def _recorded(self, problem: Problem, answer: Any) -> Verdict:
        """A manual item's answer, recorded for the instructor (too short or not text: said so)."""
        words = len(answer.split()) if isinstance(answer, str) else 0
        if not isinstance(answer, str):
            why = f"a manually graded answer is a text (a string in quotes), not {type(answer).__name__}"
        elif words < MIN_MANUAL_WORDS:
            why = f"write your explanation in a few sentences ({words} word(s) is too short to grade)"
        else:
            return Verdict(self.id, (Part("manual", 0.0, self.max_points,
                                          f"awaiting grading: your answer ({words} words) is recorded in "
                                          "full for your instructor, who grades it by hand"),),
                           self.max_points, problem=problem.reproduce(), manual=True)
        return Verdict(self.id, (Part("shape", 0.0, self.max_points, why),), self.max_points,
                       problem=problem.reproduce())


class JudgeMissing(LookupError):
    """The item's judge is not here (an instructor's item judged only by `ukva grade`)."""


MIN_MANUAL_WORDS = 8

ITEMS: dict[str, Item] = {}


def register(item: Item) -> Item:
    if item.id in ITEMS:
        raise ValueError(f"item {item.id} is registered twice")
    ITEMS[item.id] = item
    return item


_loaded = False
_running = False  # True while this module loads the items (only the loading thread can see it so)
_lock = threading.RLock()  # the grader's worker threads may ask for the first item at once


def _load() -> None:
    """Register the chapters' items, then those of installed `ukva.items` plug-ins (once). Another
    thread waits until it is done; a plug-in defining its items meanwhile (in this thread) sees those
    registered so far."""
    global _loaded, _running
    if _loaded:
        return
    with _lock:
        if _loaded or _running:
            return
        _running = True
        try:
            from . import bank, chapters  # noqa: F401  (importing the chapters registers their items)

            bank.mark_built_in()
            bank.load_entry_points()
        finally:
            _running, _loaded = False, True


def get_item(item_id: str) -> Item:
    """The item called `item_id`; an unknown id names the closest known one."""
    _load()
    if not isinstance(item_id, str):
        raise TypeError(f"an item id is a string like \"2.1\", not {type(item_id).__name__}")
    try:
        return ITEMS[item_id]
    except KeyError:
        close = difflib.get_close_matches(item_id, ITEMS, n=1)
        hint = f' Did you mean "{close[0]}"?' if close else ""
        raise ValueError(f'there is no exercise "{item_id}".{hint} Known: {", ".join(ITEMS)}') from None


def find_item(item_id: str) -> Item | None:
    """The item called `item_id`, or None (a report may name one this process does not know: an
    instructor's item whose solution notebook was not given this time)."""
    _load()
    return ITEMS.get(item_id)


def all_items() -> list[Item]:
    _load()
    return list(ITEMS.values())
