"""The answers a student's package holds, and how: salted hashes, never plain text.

In a checkout the judges read the answer key (`answers/`, which setup.py leaves out of the wheel).
`ukva student` seals that key into sealed.json, which the wheel ships: each table value and each
predict-then-explain answer as an HMAC-SHA256 of (item, place, value) under a salt, each rebuttal
encrypted under a key made from the reason it rebuts. Where the key is absent (a student's
installation, or UKVA_SEALED=1), `table` and `questions` rebuild what the judges need by trying the
values the problem itself offers against the hashes: what can be read there is nothing, what can be
found is what trying every answer with check() finds too. Answers with few options can always be found
by trying; the grade is what the handed-in notebook says.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .items import Question

SEALED = Path(__file__).with_name("sealed.json")
FORCE_ENV = "UKVA_SEALED"  # "1": judge from sealed.json even where the answer key is installed


class SealedError(RuntimeError):
    """sealed.json is missing, stale or does not hold the answer an item needs."""


@functools.cache
def _key() -> Any:
    """The answer key package, or None where it is not installed (or UKVA_SEALED=1)."""
    if os.environ.get(FORCE_ENV) == "1":
        return None
    try:  # a directory without the key (a grading kernel sees an empty one) imports but holds nothing
        from . import answers
        from .answers import questions, tables  # noqa: F401
    except ImportError:
        return None
    return answers


def holds(item_id: str) -> bool:
    """Whether the item's right answers are in the answer key (sealed in a student's package)."""
    sealed = _sealed()
    return item_id in sealed["tables"] or item_id in sealed["questions"]


def is_sealed() -> bool:
    """Whether the judges here verify against sealed.json (a student's installation)."""
    return _key() is None


def _digest(salt: str, *place: Any) -> str:
    message = json.dumps(place, sort_keys=True, ensure_ascii=True).encode()
    return hmac.new(salt.encode(), message, hashlib.sha256).hexdigest()[:32]


def _stream(salt: str, place: tuple, length: int) -> bytes:
    blocks = (hmac.new(salt.encode(), json.dumps([*place, n]).encode(), hashlib.sha256).digest()
              for n in range(length // 32 + 1))
    return b"".join(blocks)[:length]


def _encrypt(salt: str, place: tuple, text: str) -> str:
    data = text.encode()
    return base64.b64encode(bytes(a ^ b for a, b in zip(data, _stream(salt, place, len(data))))).decode()


def _decrypt(salt: str, place: tuple, token: str) -> str:
    data = base64.b64decode(token)
    return bytes(a ^ b for a, b in zip(data, _stream(salt, place, len(data)))).decode()


@functools.cache
def _sealed() -> dict[str, Any]:
    try:
        return json.loads(SEALED.read_text())
    except (OSError, ValueError) as exc:
        raise SealedError(f"cannot read {SEALED.name} ({exc}): reinstall ukva_widgets") from None


def _find(salt: str, want: str, candidates: Any, *place: Any) -> Any:
    for value in candidates:
        if _digest(salt, *place, value) == want:
            return value
    raise SealedError(f"{SEALED.name} holds no answer for {place}: it is stale; run `ukva student`")


def table(item_id: str) -> dict[str, Any]:
    """The item's answer table: option -> right answer."""
    key = _key()
    if key is not None:
        from .answers.tables import TABLES

        return dict(TABLES[item_id])
    sealed = _sealed()
    entry = sealed["tables"][item_id]
    return {option: _find(sealed["salt"], digest, entry["domain"], item_id, option)
            for option, digest in entry["entries"].items()}


def questions(item_id: str) -> tuple[Question, ...]:
    """The item's predict-then-explain questions, answers and rebuttals included."""
    from .items import Question

    key = _key()
    if key is not None:
        from .answers.questions import QUESTIONS

        return QUESTIONS[item_id]
    sealed = _sealed()
    salt, rebuilt = sealed["salt"], []
    for n, q in enumerate(sealed["questions"][item_id]):
        order = [_find(salt, digest, q["reasons"], item_id, n, "reason", i) for i, digest in enumerate(q["order"])]
        rebuttals = [_decrypt(salt, (item_id, n, "rebuttal", reason), q["rebuttals"][reason]) for reason in order[1:]]
        rebuilt.append(Question(q["scenario"], q["ask"], tuple(q["outcomes"]),
                                _find(salt, q["outcome"], q["outcomes"], item_id, n, "outcome"),
                                order[0], tuple(zip(order[1:], rebuttals))))
    return tuple(rebuilt)


def seal() -> str:
    """sealed.json's text, made from the answer key (in a checkout)."""
    key = _key()
    if key is None:
        raise SealedError("the answer key is not installed here: seal from a checkout of the course")
    from .answers.questions import QUESTIONS
    from .answers.tables import DOMAINS, TABLES

    salt = key.SALT
    tables = {item_id: {"domain": list(DOMAINS[item_id]),
                        "entries": {option: _digest(salt, item_id, option, value) for option, value in rows.items()}}
              for item_id, rows in TABLES.items()}
    sealed_questions = {}
    for item_id, qs in QUESTIONS.items():
        out = []
        for n, q in enumerate(qs):
            authored = [q.reason, *(wrong for wrong, _ in q.misconceptions)]
            rebuttals = {q.reason: "", **dict(q.misconceptions)}
            out.append({"scenario": q.scenario, "ask": q.ask, "outcomes": list(q.outcomes),
                        "reasons": sorted(authored),
                        "outcome": _digest(salt, item_id, n, "outcome", q.outcome),
                        "order": [_digest(salt, item_id, n, "reason", i, r) for i, r in enumerate(authored)],
                        "rebuttals": {r: _encrypt(salt, (item_id, n, "rebuttal", r), rebuttals[r])
                                      for r in sorted(authored)}})
        sealed_questions[item_id] = out
    return json.dumps({"salt": salt, "tables": tables, "questions": sealed_questions},
                      indent=1, sort_keys=True) + "\n"
