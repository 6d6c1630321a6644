"""The instructor's grader: read a submission, run it in a sandboxed kernel, judge here.

Only plain answer data crosses from the submission's kernel to this process (sandbox.py,
collect.py); every verdict is computed here by the same judges `check` uses, on the
problem the learner's seed made and, for code items, on inputs drawn from the grading seed.
"""

from __future__ import annotations

import ast
import errno
import json
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .collect import from_plain
from .items import Item, all_items, get_item
from .roster import chapter_in_name
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
    manual: bool = False  # graded by the instructor by hand (report.py applies the score given)
    answer: Any = None  # the answer as collected (plain data), for the report; None for code items
    seed: int | None = None  # the variant judged


@dataclass
class SubmissionGrade:
    path: str
    points: float
    max_points: float
    error: str | None
    items: list[ItemGrade] = field(default_factory=list)
    seconds: float = 0.0
    student_id: str | None = None   # the roster student the file belongs to (None: no roster, or unclaimed)
    name: str = ""
    chapter: str | None = None      # the chapter graded, and where that came from
    chapter_from: str = ""
    seed: int | None = None         # the variant judged: the roster's seed, or None (the notebook's own)
    isolation: str = ""             # what isolated the submission's kernel (sandbox.Run.isolation)
    flags: list[str] = field(default_factory=list)  # what an instructor should look at
    notebook: dict[str, Any] = field(default_factory=dict)  # what the notebook says: STUDENT, SEED, chapter


class NotGradable(Exception):
    """The file cannot be run at all (not a notebook, corrupt...): the reason is the message."""


def read_submission(path: Path, root: Path | None = None) -> bytes:
    """The bytes of a submission: a regular file at most MAX_NOTEBOOK_BYTES long, reached from
    `root` (the folder the instructor named, default the file's own) without following any
    symbolic link. A student's link would be followed with the instructor's rights (a classmate's
    notebook, the model answers, /proc/kmsg, which never ends), and a FIFO would block the batch."""
    root = root if root is not None else path.parent
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        root, parts = path.parent, (path.name,)
    fds = [os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)]  # the instructor's own choice
    try:
        for part in parts[:-1]:
            fds.append(os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fds[-1]))
        fds.append(os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=fds[-1]))
        if not stat.S_ISREG(os.fstat(fds[-1]).st_mode):
            raise NotGradable("not a regular file (a FIFO, a device or a directory): only regular files are graded")
        with os.fdopen(os.dup(fds[-1]), "rb") as f:
            raw = f.read(MAX_NOTEBOOK_BYTES + 1)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise NotGradable("a symbolic link (or a path through one): only regular files in the "
                              "submissions folder are graded, never what a link points to") from None
        raise NotGradable(f"cannot be read: {exc.strerror}") from None
    finally:
        for fd in fds:
            os.close(fd)
    if len(raw) > MAX_NOTEBOOK_BYTES:
        raise NotGradable(f"the file is larger than {MAX_NOTEBOOK_BYTES >> 20} MiB; not a plausible notebook")
    return raw


def load_notebook(path: Path, root: Path | None = None) -> NotebookNode:
    import nbformat

    raw = read_submission(path, root)
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


def chapter_items(chapter: str) -> list[str]:
    """The ids of a chapter's items ("01" or "1"); empty for an unknown chapter."""
    number = chapter.lstrip("0") or "0"
    return [i.id for i in all_items() if i.id.split(".")[0] == number]


def metadata_chapter(nb: NotebookNode) -> str | None:
    chapter = nb.metadata.get("ukva", {}).get("chapter")
    return chapter.zfill(2) if isinstance(chapter, str) and chapter.isdigit() else None


def items_of(nb: NotebookNode) -> list[str]:
    """Every item of the chapter(s) a notebook is for: its metadata's chapter, else the chapters
    its answer_N_M variables name. The list comes from the registry, never from the notebook, so
    deleting an item from a submission does not delete it from the grade."""
    chapter = metadata_chapter(nb)
    if chapter is not None:
        chapters = {str(int(chapter))}
    else:
        chapters = {a for c in nb.cells if c.cell_type == "code" for a in _ANSWER_VAR.findall(c.source)}
    return [i.id for i in all_items() if i.id.split(".")[0] in chapters]


def stated(nb: NotebookNode) -> dict[str, Any]:
    """What the notebook's own code says about its owner: the literal values last assigned to
    STUDENT and SEED at the top level of a code cell (read, never run)."""
    found: dict[str, Any] = {}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        source = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError):
            continue
        for stmt in tree.body:
            if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Constant):
                for target in stmt.targets:
                    if isinstance(target, ast.Name) and target.id in ("STUDENT", "SEED"):
                        found[target.id] = _plain_value(stmt.value.value)
    return found


def automatic_max(items: list[Item]) -> float:
    """The most a submission can score here: manually graded items are the instructor's to add."""
    return sum(i.max_points for i in items if i.kind != "manual")


def _plain_value(value: Any) -> Any:
    """A literal as the report shows it: a short string, a seed-sized int, else what it was."""
    if isinstance(value, str):
        return value[:200]
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2 ** 64:
        return value
    return f"<{type(value).__name__}>"


def _is_seed(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2 ** 32


def judge_record(item: Item, record: dict[str, Any] | None, inputs: Any, seed: int | None = None) -> ItemGrade:
    """The grade of one item from what the sandbox collected for it (see sandbox.Run), on the
    variant `seed` (the roster's) or, without one, on the seed the notebook showed it with."""
    def zero(why: str) -> ItemGrade:
        return ItemGrade(item.id, 0.0, item.max_points, False, why)

    if record is None:
        return zero("no answer was collected (the notebook did not get that far).")
    if "unread" in record:
        return zero(f"no gradable answer: {record['unread']}.")
    record = record["kernel"]
    if not isinstance(record, dict) or "answer" not in record:
        # The kernel's words are shown only as a quoted detail; they never change points.
        detail = str(record.get("missing", "no answer") if isinstance(record, dict) else record)[:200]
        return zero(f"no gradable answer (the submission's kernel said: {detail!r}).")
    shown, note = record.get("seed"), ""
    if seed is not None:
        if shown is not None and shown != seed:
            note = " (this student's own variant from the roster; the notebook showed another)"
    elif _is_seed(shown):
        seed = shown
    else:
        seed, note = 0, " (the problem was never shown with exercise(); judged on seed 0)"
    try:
        answer = from_plain(record["answer"])
    except RecursionError:
        return zero("the answer is nested too deeply to read.")
    problem = item.problem(seed)
    try:
        verdict = item.verdict(problem, answer, inputs if item.kind == "code" else None)
    except Exception as exc:  # whatever the data, one item's judging never costs the others
        return zero(f"the answer could not be judged ({type(exc).__name__}: {str(exc)[:200]}).")
    feedback = f"{verdict.feedback} [judged on {problem.reproduce()}{note}]"
    return ItemGrade(item.id, verdict.points, item.max_points, verdict.passed, feedback, verdict.manual,
                     None if item.kind == "code" else record["answer"], seed)


def _choose_items(path: Path, nb: NotebookNode | None, item_ids: list[str] | None,
                  chapter: str | None) -> tuple[list[str], str | None, str]:
    """The items to grade, the chapter and where it came from: --chapter (item_ids), else the
    file name, else (for a file whose name says no chapter) the notebook itself."""
    if item_ids:
        return item_ids, chapter or item_ids[0].split(".")[0].zfill(2), "--chapter"
    named = chapter_in_name(path.name)
    if named and chapter_items(named):
        return chapter_items(named), named, "the file name"
    if nb is None:
        return [], None, ""
    ids = items_of(nb)
    chapters = sorted({i.split(".")[0].zfill(2) for i in ids})
    return ids, ",".join(chapters) or None, "the notebook (its file name names no chapter)"


def grade(path: Path, grading_seed: int, limits: Limits = Limits(),  # noqa: B008 (Limits is a frozen dataclass)
          item_ids: list[str] | None = None, chapter: str | None = None,
          owner: tuple[str, int] | None = None, root: Path | None = None) -> SubmissionGrade:
    """Grade one submission; never raises for anything the submission contains. `owner` is
    (student id, variant seed) from the roster: every item is judged on that seed. `root` is the
    folder the instructor named (see read_submission)."""
    seed = owner[1] if owner else None
    try:
        nb = load_notebook(path, root)
    except NotGradable as exc:
        ids, chapter, source = _choose_items(path, None, item_ids, chapter)
        items = [get_item(i) for i in ids]
        return SubmissionGrade(str(path), 0.0, automatic_max(items), str(exc),
                               [ItemGrade(i.id, 0.0, i.max_points, False, "not graded: " + str(exc))
                                for i in items], chapter=chapter, chapter_from=source, seed=seed)
    ids, chapter, source = _choose_items(path, nb, item_ids, chapter)
    items = [get_item(i) for i in ids]
    notebook = {**stated(nb), "chapter": metadata_chapter(nb)}
    if not items:
        return SubmissionGrade(str(path), 0.0, 0.0, "the notebook answers no known exercise "
                               "(no chapter in its file name, no answer_N_M variables; pass --chapter "
                               "to say which)", [], notebook=notebook, seed=seed)
    inputs = {i.id: i.hidden_inputs(grading_seed) if i.kind == "code" else None for i in items}
    # Data items first: a code answer that hangs must not cost the others.
    order = sorted(items, key=lambda i: i.kind == "code")
    run = run_submission(nb, {i.id: inputs[i.id] for i in order}, limits)
    grades = [judge_record(i, run.records.get(i.id), inputs[i.id], seed) for i in items]
    shown = sorted({r["kernel"]["seed"] for r in run.records.values() if isinstance(r.get("kernel"), dict)
                    and _is_seed(r["kernel"].get("seed"))})
    notebook["seeds_shown"] = shown
    flags = []
    if notebook["chapter"] and chapter and notebook["chapter"] != chapter:
        flags.append(f"the notebook's metadata says chapter {notebook['chapter']}, {source} says "
                     f"{chapter}: graded as {chapter}")
    if owner and source.startswith("the notebook"):
        flags.append(f"the file name names no chapter; graded as the notebook's own ({chapter}): "
                     "rename it as handed out (NN-topic.ipynb) or pass --chapter")
    if owner:
        flags += owner_flags(owner, notebook)
    # Manually graded items are the instructor's to add: the automatic total leaves them out.
    return SubmissionGrade(
        str(path), round(sum(g.points for g in grades), 6), automatic_max(items),
        "; ".join(run.problems) or None, grades, round(run.seconds, 3), chapter=chapter,
        chapter_from=source, seed=seed, isolation=getattr(run, "isolation", ""), flags=flags,
        notebook=notebook,
    )


def owner_flags(owner: tuple[str, int], notebook: dict[str, Any]) -> list[str]:
    """What in a notebook disagrees with the roster about whose it is."""
    student_id, seed = owner
    flags = []
    said = notebook.get("STUDENT")
    if not isinstance(said, str) or said.strip().casefold() != student_id.casefold():
        flags.append(f"STUDENT in the notebook is {said!r:.60}, not {student_id!r} (the folder's owner "
                     "on the roster)" if said is not None else "the notebook sets no STUDENT")
    if "SEED" in notebook and notebook["SEED"] != seed:
        flags.append(f"SEED in the notebook ({notebook['SEED']!r:.30}) is not this student's; "
                     "judged on the student's own variant")
    other = [s for s in notebook.get("seeds_shown", []) if s != seed]
    if "SEED" in notebook and notebook["SEED"] != seed:
        pass  # said above
    elif other:
        flags.append(f"the problems were shown with seed {other[0]}, not this student's; "
                     "judged on the student's own variant")
    return flags
