"""Checking the shape of an answer before judging it, with errors that say what was expected.

Each helper returns the answer normalised (a set of ints, a dict of bools...) or raises
`AnswerError`, which the item turns into 0 points and the message as feedback.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .items import AnswerError


def as_int(answer: Any, what: str) -> int:
    if isinstance(answer, bool) or not isinstance(answer, int):
        raise AnswerError(f"{what} is a whole number, like 3; got {type(answer).__name__} {answer!r:.60}")
    return int(answer)


def as_bool(answer: Any, what: str) -> bool:
    if not isinstance(answer, bool):
        raise AnswerError(f"{what} is True or False; got {answer!r:.60}")
    return answer


def as_str(answer: Any, what: str) -> str:
    if not isinstance(answer, str):
        raise AnswerError(f"{what} is a string; got {type(answer).__name__} {answer!r:.60}")
    return answer


def as_set(answer: Any, what: str, allowed: Iterable[Any]) -> frozenset:
    """A set (or list) drawn from `allowed`."""
    allowed = list(allowed)
    if isinstance(answer, (str, bytes, dict)) or not isinstance(answer, (set, frozenset, list, tuple)):
        raise AnswerError(f"{what} is a set like {{{', '.join(map(repr, allowed[:2]))}}}; "
                          f"got {type(answer).__name__}")
    unknown = [a for a in answer if a not in allowed]
    if unknown:
        raise AnswerError(f"{what} may only contain {', '.join(map(repr, allowed))}; "
                          f"{unknown[0]!r} is not one of them")
    return frozenset(answer)


def as_dict(answer: Any, what: str, keys: Iterable[str]) -> dict[str, Any]:
    """A dict with exactly the keys `keys` (values are checked by the caller)."""
    keys = list(keys)
    if not isinstance(answer, dict):
        raise AnswerError(f"{what} is a dict with the keys {', '.join(map(repr, keys))}; "
                          f"got {type(answer).__name__}")
    missing = [k for k in keys if k not in answer]
    extra = [k for k in answer if k not in keys]
    if missing or extra:
        said = f"missing {', '.join(map(repr, missing))}" if missing else f"unexpected {', '.join(map(repr, extra))}"
        raise AnswerError(f"{what} needs exactly the keys {', '.join(map(repr, keys))} ({said})")
    return dict(answer)


def as_list(answer: Any, what: str, length: int | None = None) -> list:
    if not isinstance(answer, (list, tuple)):
        raise AnswerError(f"{what} is a list; got {type(answer).__name__}")
    if length is not None and len(answer) != length:
        raise AnswerError(f"{what} has {length} entries, one per case; got {len(answer)}")
    return list(answer)
