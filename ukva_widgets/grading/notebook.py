"""What a learner calls in an exercise notebook: `seed_from`, `exercise` and `check`.

    SEED = seed_from("ada.lovelace")          # a seed from your name or student id
    exercise("2.1", seed=SEED)                # the problem, and how to reproduce it
    check("2.1", answer_2_1)                  # correct, or what is wrong and a hint why

`check` judges in the learner's own kernel for instant feedback only; the grade comes
from `ukva grade`, which judges in its own process.
"""

from __future__ import annotations

import hashlib
import html
from dataclasses import dataclass
from typing import Any

from .items import Problem, Verdict, get_item

# The seed of the last problem shown per item, so `check("2.1", ...)` judges that problem.
_shown: dict[str, int] = {}


def seed_from(name_or_id: str | int) -> int:
    """A stable seed from a learner's name or id (the same on every machine and run)."""
    if not isinstance(name_or_id, (str, int)) or isinstance(name_or_id, bool):
        raise TypeError("seed_from takes your name or student id, as a string or an integer")
    text = str(name_or_id).strip().lower()
    if not text:
        raise ValueError("seed_from needs a non-empty name or id, e.g. seed_from(\"ada.lovelace\")")
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") % 100_000


def exercise(item_id: str, seed: int = 0) -> Problem:
    """The variant of item `item_id` for `seed`: the same problem for the same seed, everywhere."""
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer (e.g. seed_from(\"your name\")), not {seed!r}")
    problem = get_item(item_id).problem(seed)
    _shown[item_id] = seed
    return problem


@dataclass(frozen=True)
class Feedback:
    """The answer to `check`: plain text everywhere, a coloured box in JupyterLab and Voila."""

    verdict: Verdict
    note: str = ""  # what the judgement was based on, when the grader will look further
    hide_points: bool = False  # the points of the parts would give the answer away: "not yet" only

    def text(self) -> str:
        v = self.verdict
        if not v.answered:
            return f"[{v.item_id}] not answered yet"
        if v.manual:
            return f"[{v.item_id}] {v.feedback}"
        mark = "correct" if v.passed else "not yet"
        head = f"[{v.item_id}] {mark}" if self.hide_points else \
            f"[{v.item_id}] {mark}: {v.points:g}/{v.max_points:g} points"
        if self.note:
            head = f"{head} ({self.note})"
        return head if v.passed else f"{head}\n{v.feedback}"

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        v = self.verdict
        # Colour plus a word and a symbol, so the state never rests on colour alone.
        if not v.answered or v.manual:
            colour, symbol = "#6c757d", "&#9675;"  # grey, empty circle: nothing judged here
        elif v.passed:
            colour, symbol = "#1b7837", "&#10004;"  # green, check mark
        else:
            colour, symbol = "#b35806", "&#10008;"  # orange, cross
        body = html.escape(self.text()).replace("\n", "<br>")
        return (f'<div style="border-left:4px solid {colour};padding:4px 8px">'
                f'<span style="color:{colour}">{symbol}</span> {body}</div>')


SEALED_NOTE = "checked against salted hashes: the right answer is not stored on this machine"


def check(item_id: str, answer: Any, seed: int | None = None) -> Feedback:
    """Judge `answer` to the problem last shown by `exercise(item_id, ...)` (or to `seed`'s)."""
    from .items import JudgeMissing
    from .sealed import holds, is_sealed

    item = get_item(item_id)
    if seed is None:
        if item_id not in _shown:
            raise ValueError(f'show the problem first: exercise("{item_id}", seed=SEED), then check it')
        seed = _shown[item_id]
    problem = item.problem(seed)
    try:
        if item.kind == "code":
            from .collect import observe_code

            inputs = item.visible_inputs(seed)
            # Say so, so that "correct" here is never mistaken for the grade: the grader runs the
            # same checks on inputs drawn from its own seed.
            return Feedback(item.verdict(problem, observe_code(item, answer, inputs), inputs),
                            "on the visible inputs; the grader also tries inputs you have not seen")
        verdict = item.verdict(problem, answer)
    except JudgeMissing as exc:
        return _recorded_only(item_id, item.max_points, str(exc))
    return Feedback(verdict, SEALED_NOTE if is_sealed() and holds(item_id) else "", item.hide_points)


def _recorded_only(item_id: str, max_points: float, why: str) -> Feedback:
    """An item this kernel cannot judge: the answer is recorded, the grader judges it."""
    from .items import Part

    return Feedback(Verdict(item_id, (Part("recorded", 0.0, max_points, f"recorded: {why}"),), max_points,
                            manual=True))
