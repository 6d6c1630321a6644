"""The instructor's grader: read a submission, run it in a sandboxed kernel, judge here.

Only plain answer data crosses from the submission's kernel to this process (sandbox.py,
collect.py); every verdict is computed here by the same judges `check` uses, on the
problem the learner's seed made and, for code items, on inputs drawn from the grading seed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .collect import from_plain
from .items import Item, all_items, get_item
from .sandbox import Limits, run_submission

if TYPE_CHECKING:
    from nbformat import NotebookNode

MAX_NOTEBOOK_BYTES = 20 << 20


@dataclass
class ItemGrade:
    id: str
    points: float
    max_points: float
    passed: bool
    feedback: str
    manual: bool = False  # graded by the instructor from `feedback` (which quotes the answer)


@dataclass
class SubmissionGrade:
    path: str
    points: float
    max_points: float
    error: str | None
    items: list[ItemGrade] = field(default_factory=list)
    seconds: float = 0.0


class NotGradable(Exception):
    """The file cannot be run at all (not a notebook, corrupt...): the reason is the message."""


def load_notebook(path: Path) -> NotebookNode:
    import nbformat

    if not path.is_file():
        raise NotGradable(f"{path} is not a file")
    if path.stat().st_size > MAX_NOTEBOOK_BYTES:
        raise NotGradable(f"the file is larger than {MAX_NOTEBOOK_BYTES >> 20} MiB; not a plausible notebook")
    raw = path.read_bytes()
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise NotGradable("not a notebook: the file is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise NotGradable(f"not a notebook: corrupt JSON ({exc.msg} at line {exc.lineno}, "
                          f"column {exc.colno})") from None
    if not isinstance(data, dict) or "cells" not in data:
        raise NotGradable("not a notebook: the JSON has no \"cells\" list")
    try:
        nb = nbformat.reads(json.dumps(data), as_version=4)
        nbformat.validate(nb)
    except Exception as exc:
        raise NotGradable(f"not a valid notebook: {str(exc).splitlines()[0][:200]}") from None
    return nb


_ANSWER_VAR = re.compile(r"\banswer_(\d+)_\d+\b")


def items_of(nb: NotebookNode) -> list[str]:
    """Every item of the chapter(s) a notebook is for: its metadata's chapter, else the chapters
    its answer_N_M variables name. The list comes from the registry, never from the notebook, so
    deleting an item from a submission does not delete it from the grade."""
    chapter = nb.metadata.get("ukva", {}).get("chapter")
    if isinstance(chapter, str) and chapter.isdigit():
        chapters = {str(int(chapter))}
    else:
        chapters = {a for c in nb.cells if c.cell_type == "code" for a in _ANSWER_VAR.findall(c.source)}
    return [i.id for i in all_items() if i.id.split(".")[0] in chapters]


def judge_record(item: Item, record: dict[str, Any] | None, inputs: Any) -> ItemGrade:
    """The grade of one item from what the sandbox collected for it (see sandbox.Run)."""
    def zero(why: str) -> ItemGrade:
        return ItemGrade(item.id, 0.0, item.max_points, False, why)

    if record is None:
        return zero("no answer was collected (the notebook did not get that far)")
    if "unread" in record:
        return zero(f"no gradable answer: {record['unread']}")
    record = record["kernel"]
    if not isinstance(record, dict) or "answer" not in record:
        # The kernel's words are shown only as a quoted detail; they never change points.
        detail = str(record.get("missing", "no answer") if isinstance(record, dict) else record)[:200]
        return zero(f"no gradable answer (the submission's kernel said: {detail!r})")
    seed = record.get("seed")
    note = ""
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2 ** 32:
        seed, note = 0, " (the problem was never shown with exercise(); judged on seed 0)"
    try:
        answer = from_plain(record["answer"])
    except RecursionError:
        return zero("the answer is nested too deeply to read")
    problem = item.problem(seed)
    try:
        verdict = item.verdict(problem, answer, inputs if item.kind == "code" else None)
    except Exception as exc:  # whatever the data, one item's judging never costs the others
        return zero(f"the answer could not be judged ({type(exc).__name__}: {str(exc)[:200]})")
    feedback = f"{verdict.feedback} [judged on {problem.reproduce()}{note}]"
    return ItemGrade(item.id, verdict.points, item.max_points, verdict.passed, feedback, verdict.manual)


def grade(path: Path, grading_seed: int, limits: Limits = Limits(),
          item_ids: list[str] | None = None) -> SubmissionGrade:
    """Grade one submission; never raises for anything the submission contains."""
    try:
        nb = load_notebook(path)
    except NotGradable as exc:
        items = [get_item(i) for i in item_ids or []]
        return SubmissionGrade(str(path), 0.0, sum(i.max_points for i in items), str(exc),
                               [ItemGrade(i.id, 0.0, i.max_points, False, "not graded: " + str(exc))
                                for i in items])
    items = [get_item(i) for i in (item_ids or items_of(nb))]
    if not items:
        return SubmissionGrade(str(path), 0.0, 0.0, "the notebook answers no known exercise "
                               "(no answer_N_M variables; pass --chapter to say which)", [])
    inputs = {i.id: i.hidden_inputs(grading_seed) if i.kind == "code" else None for i in items}
    # Data items first: a code answer that hangs must not cost the others.
    order = sorted(items, key=lambda i: i.kind == "code")
    run = run_submission(nb, {i.id: inputs[i.id] for i in order}, limits)
    grades = [judge_record(i, run.records.get(i.id), inputs[i.id]) for i in items]
    # Manually graded items are the instructor's to add: the automatic total leaves them out.
    return SubmissionGrade(
        str(path), round(sum(g.points for g in grades), 6), sum(g.max_points for g in grades if not g.manual),
        "; ".join(run.problems) or None, grades, round(run.seconds, 3),
    )
