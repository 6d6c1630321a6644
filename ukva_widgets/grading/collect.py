"""Turning a notebook's answers into plain data — the only thing that leaves the learner's kernel.

This module runs inside the kernel that executed the submission. The grader asks it for one
item at a time; it answers with JSON-able data (numbers, strings, lists, dicts, sets), never
with a verdict. Whatever the submission did to this module, the worst it can send is a wrong
answer: the judging happens in the grader's own process (`grader.py`).
"""

from __future__ import annotations

import json
import traceback
from typing import Any

from .items import UNANSWERED, Item, get_item

MIME = "application/vnd.ukva.answer+json"
MAX_ITEMS = 100_000  # elements in one answer: ten times what 6.2's observations need, still bounded


class NotPlainData(TypeError):
    pass


def to_plain(value: Any, budget: list[int] | None = None) -> Any:
    """`value` as JSON-able data; sets become {"$set": [...]}, `...` becomes {"$unanswered": true}."""
    budget = [MAX_ITEMS] if budget is None else budget
    budget[0] -= 1
    if budget[0] < 0:
        raise NotPlainData(f"the answer has more than {MAX_ITEMS} elements")
    if value is UNANSWERED:
        return {"$unanswered": True}
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):  # IntFlag values included
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, (list, tuple)):
        return [to_plain(v, budget) for v in value]
    if isinstance(value, (set, frozenset)):
        items = [to_plain(v, budget) for v in value]
        return {"$set": sorted(items, key=repr)}
    if isinstance(value, dict):
        out = {}
        for key, v in value.items():
            if not isinstance(key, str):
                raise NotPlainData(f"dictionary keys must be strings, not {type(key).__name__} ({key!r})")
            out[str.__str__(key)] = to_plain(v, budget)
        return out
    raise NotPlainData(f"an answer is built of numbers, strings, lists, sets and dicts, "
                       f"not {type(value).__name__}")


def from_plain(data: Any) -> Any:
    """The inverse of `to_plain`, run by the grader on what the kernel sent."""
    if isinstance(data, list):
        return [from_plain(v) for v in data]
    if isinstance(data, dict):
        if set(data) == {"$set"} and isinstance(data["$set"], list):
            members = [from_plain(v) for v in data["$set"]]
            try:
                return frozenset(members)
            except TypeError:
                return members
        if data == {"$unanswered": True}:
            return UNANSWERED
        return {k: from_plain(v) for k, v in data.items()}
    return data


def _error(exc: BaseException) -> dict[str, str]:
    last = traceback.format_exception_only(type(exc), exc)[-1].strip()
    return {"$error": last[:500]}


def observe_code(item: Item, answer: Any, inputs: dict[str, Any]) -> Any:
    """Run a code answer on `inputs` (in this, the learner's, kernel); plain data or an error."""
    if answer is UNANSWERED:
        return UNANSWERED
    try:
        return item.observe(answer, inputs)
    except NotImplementedError:
        return UNANSWERED
    except Exception as exc:  # the learner's code failing is feedback, not a crash
        return _error(exc)


def answer_record(item_id: str, namespace: dict[str, Any], inputs: dict[str, Any] | None) -> dict:
    """What the grader receives for one item: the seed of the problem shown, and the answer."""
    from .notebook import _shown

    item = get_item(item_id)
    seed = _shown.get(item_id, namespace.get("SEED"))
    record: dict[str, Any] = {"item": item_id, "seed": seed if isinstance(seed, int) else None}
    if item.variable not in namespace:
        record["missing"] = f"the notebook defines no variable {item.variable}"
        return record
    answer = namespace[item.variable]
    if item.kind == "code":
        answer = observe_code(item, answer, inputs or {})
    try:
        record["answer"] = to_plain(answer)
    except NotPlainData as exc:
        record["missing"] = str(exc)
    except Exception as exc:
        record["missing"] = f"the answer could not be read: {_error(exc)['$error']}"
    return record


def emit(nonce: str, item_id: str, namespace: dict[str, Any], inputs_json: str = "null") -> None:
    """Publish one item's record as display data the grader reads (called by the grader's cell)."""
    from IPython.display import display

    record = answer_record(item_id, namespace, json.loads(inputs_json))
    record["nonce"] = nonce
    display({MIME: record}, raw=True)
