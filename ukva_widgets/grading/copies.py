"""Copy detection that does not accuse honest students: shared *wrong* answers and shared failures,
item by item, weighed by how likely they are by chance.

Two right answers to the same question prove nothing, and neither does a wrong answer many students
give (a common misconception) or one from a question with few possible answers (a yes/no prediction).
So for each pair of submissions (one per student and chapter), an item counts only when both gave the
same answer and at least one of them is wrong for its own variant (a copied answer is right for the
student it came from), or both failed a code item the same way, or both wrote the same text (at least
8 words) for a manually graded item; items with fewer than 20 possible answers are left out. The
chance that two students who worked alone share one such answer is estimated as the larger of 1 / (the
item's number of possible answers) and (how many other students gave it + 1) / (the others + 1); the
pair's chance is the product over its shared items, and multiplied by the number of pairs in the class
it is the number of such pairs expected by chance. A pair is flagged when that is below 1 in 100.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .items import MIN_MANUAL_WORDS, find_item

if TYPE_CHECKING:
    from .grader import SubmissionGrade

SMALL = 20  # fewer possible answers than this: a shared answer is no evidence
FLAG_BELOW = 0.01  # flag a pair when fewer than this many pairs would share as much by chance
TEXT_CHANCE = 1e-6  # two identical texts of 8 words or more written alone
# About how many well-formed answers each item has (answers/measure.py measures it again in a test);
# items not listed (code items, manual items, an instructor's items) are taken as large.
SPACES: dict[str, int] = {
    "1.1": 7, "1.2": 15, "1.3": 3136, "1.4": 128, "1.5": 8, "2.1": 32, "2.2": 4, "2.3": 16807, "2.4": 9,
    "2.5": 12, "3.1": 16, "3.2": 32768, "3.3": 27, "3.4": 8, "4.1": 46656, "4.2": 512, "4.3": 32, "4.4": 12,
    "5.1": 256, "5.2": 125, "5.3": 16, "5.4": 8, "6.1": 823543, "6.3": 16, "6.4": 8, "6.5": 16, "6.6": 8, "7.1": 3125,
    "7.2": 8,
}
LARGE = 10 ** 6


@dataclass(frozen=True)
class Shared:
    """Two submissions that share more than chance explains."""

    first: SubmissionGrade
    second: SubmissionGrade
    items: tuple[str, ...]  # the items where they share a wrong answer, a failure or a text
    chance: float           # that two students who worked alone share this much
    expected: float         # pairs sharing this much expected by chance in a class this size

    def text(self, who: SubmissionGrade) -> str:
        other = self.second if who is self.first else self.first
        name = f"{other.path} ({other.student_id})" if other.student_id else other.path
        return (f"shares wrong answers, failures or texts with {name} in {', '.join(self.items)}: by chance "
                f"about 1 in {_round(1 / self.chance)} pairs, {self.expected:.2g} such pairs expected in a "
                f"class this size")


def _round(x: float) -> str:
    if x >= 1e6:
        return f"{x:.1e}"
    return f"{round(x, -int(math.log10(x)) + 1):,.0f}" if x >= 10 else f"{x:.0f}"


def _kind(i: Any) -> str:
    """An item grade's kind: manual, code or data (an item this process does not know: data)."""
    if i.manual:
        return "manual"
    item = find_item(i.id)
    return item.kind if item is not None else "data"


def _signature(i: Any) -> tuple[str, bool] | None:
    """What two submissions must share on an item to count (an item grade `i`), and whether `i` is right."""
    kind = _kind(i)
    if kind == "code":
        return (i.feedback.split(" [judged on")[0], True) if not i.passed else None
    if kind == "manual":
        text = " ".join(str(i.answer).lower().split()) if isinstance(i.answer, str) else ""
        return (text, True) if len(text.split()) >= MIN_MANUAL_WORDS else None
    if i.answer in (None, "", [], {}, {"$unanswered": True}, {"$set": []}):
        return None
    return json.dumps(i.answer, sort_keys=True), i.passed


def _space(i: Any) -> int:
    return SPACES.get(i.id, LARGE) if _kind(i) == "data" else LARGE


def shared_work(grades: list[SubmissionGrade]) -> list[Shared]:
    """The pairs of submissions (of one chapter, different owners) that share more than chance."""
    by_item: dict[str, dict[int, tuple[str, bool]]] = defaultdict(dict)
    space: dict[str, int] = {}
    manual: dict[str, bool] = {}
    for n, g in enumerate(grades):
        for i in g.items:
            space[i.id], manual[i.id] = _space(i), _kind(i) == "manual"
            if space[i.id] < SMALL:
                continue
            sig = _signature(i)
            if sig is not None:
                by_item[i.id][n] = sig
    owners = [g.student_id or g.path for g in grades]
    pairs: dict[tuple[int, int], list[tuple[str, float]]] = defaultdict(list)
    for item_id, sigs in by_item.items():
        groups: dict[str, list[int]] = defaultdict(list)
        for n, (sig, _) in sigs.items():
            groups[sig].append(n)
        for members in groups.values():
            if len(members) < 2:
                continue
            others, same = len(sigs) - 2, len(members) - 2  # the other submissions, and those giving it too
            chance = max(TEXT_CHANCE, same / (others + 1)) if manual[item_id] else \
                max(1 / space[item_id], (same + 1) / (others + 1))
            for a_i, a in enumerate(members):
                for b in members[a_i + 1:]:
                    if owners[a] == owners[b] or grades[a].chapter != grades[b].chapter:
                        continue
                    if not manual[item_id] and sigs[a][1] and sigs[b][1]:
                        continue  # both right for their own variants: nothing shared but knowledge
                    pairs[(a, b)].append((item_id, chance))
    found = []
    size = len(set(owners))
    n_pairs = size * (size - 1) / 2
    for (a, b), shared in pairs.items():
        chance = math.prod(c for _, c in shared)
        expected = n_pairs * chance
        if expected < FLAG_BELOW:
            items = tuple(sorted(i for i, _ in shared))
            found.append(Shared(grades[a], grades[b], items, chance, expected))
    return sorted(found, key=lambda s: s.chance)
