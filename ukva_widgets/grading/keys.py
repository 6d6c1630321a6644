"""A student's answer key for teaching assistants (`ukva key`): every problem of their variant with
its model answer, or the rubric of a manually graded item. It needs the answer key, which only a
checkout of the course holds (answers/ is not in the wheel)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .items import all_items


class KeyUnavailable(RuntimeError):
    """The answer key is not installed here."""


def _shown(answer: Any) -> str:
    if isinstance(answer, (set, frozenset)):
        return "{" + ", ".join(json.dumps(a) for a in sorted(answer, key=repr)) + "}"
    if isinstance(answer, str):
        return json.dumps(answer)
    return json.dumps(answer)


def model_answer(item_id: str, settings: dict[str, Any]) -> Any:
    """The model answer of a built-in item or of an instructor's item that brought one."""
    from .bank import ANSWERS
    from .sealed import is_sealed

    if item_id in ANSWERS:
        return ANSWERS[item_id](settings)
    if is_sealed():
        raise KeyUnavailable("this installation holds no answer key (a student's package): run `ukva key` in a "
                             "checkout of the course")
    from .answers.model import model_answer as built_in

    return built_in(item_id, settings)


def answer_key(seed: int, who: str, chapters: list[str] | None, solutions: list[Path]) -> list[str]:
    """The lines `ukva key` prints."""
    from .bank import rubrics

    wanted = {str(int(c)) for c in chapters} if chapters else None
    notes = rubrics(solutions)
    lines = [f"Answer key for {who}: variant seed {seed}", ""]
    for item in all_items():
        if wanted is not None and item.id.split(".")[0] not in wanted:
            continue
        problem = item.problem(seed)
        lines += problem.text.splitlines()
        if item.kind == "manual":
            rubric = notes.get(item.id)
            lines.append(f"Rubric: {rubric}" if rubric else "Rubric: none found in the solution notebooks")
        elif item.kind == "code":
            lines.append("Model answer: the code in the solution notebook (graded on hidden inputs)")
        else:
            try:
                lines.append(f"Model answer: {_shown(model_answer(item.id, problem.settings))}")
            except KeyError:
                lines.append("Model answer: none given for this item")
        lines.append("")
    return lines
