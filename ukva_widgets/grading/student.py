"""Making the student notebooks from the solution notebooks (`ukva student`).

A solution cell holds its answer between `### BEGIN SOLUTION` and `### END SOLUTION`.
In the student version a block that only assigns `answer_N_M` variables becomes
`answer_N_M = ...  # YOUR ANSWER HERE` (so `check` says "not answered yet"); any other
block becomes `raise NotImplementedError("YOUR CODE HERE")` at the block's indentation.
In a markdown cell (a rubric, say) the block is removed, and so is, in any cell, a block between
`### BEGIN HIDDEN TESTS` and `### END HIDDEN TESTS` (the judge of an instructor's own item, bank.py).
Outputs are removed here and come back when the student version is executed and stored.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nbformat import NotebookNode

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
HIDDEN = ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
_ANSWER = re.compile(r"answer_\d+_\d+")


class SolutionMarkupError(ValueError):
    pass


def _replacement(block: list[str], indent: str) -> list[str]:
    source = "\n".join(line[len(indent):] if line.startswith(indent) else line for line in block)
    try:
        tree = ast.parse(source)
    except SyntaxError:
        tree = None
    names = []
    if tree is not None and tree.body and all(isinstance(s, ast.Assign) for s in tree.body):
        for stmt in tree.body:
            targets = [t.id for t in stmt.targets if isinstance(t, ast.Name)]
            if len(targets) != len(stmt.targets) or not all(_ANSWER.fullmatch(t) for t in targets):
                names = []
                break
            names += [t for t in targets if t not in names]
    if names:
        return [f"{indent}{name} = ...  # YOUR ANSWER HERE" for name in names]
    return [f'{indent}raise NotImplementedError("YOUR CODE HERE")']


def strip_solutions(source: str, where: str = "cell", markdown: bool = False) -> str:
    """`source` with every solution block replaced by its student stub (removed, in markdown) and
    every hidden-tests block removed."""
    out: list[str] = []
    block: list[str] | None = None
    opened = ""
    indent = ""
    for n, line in enumerate(source.split("\n"), 1):
        marker = line.strip()
        if marker in (BEGIN, HIDDEN[0]):
            if block is not None:
                raise SolutionMarkupError(f"{where}, line {n}: {marker} inside another block ({opened})")
            block, opened, indent = [], marker, line[: len(line) - len(line.lstrip())]
        elif marker in (END, HIDDEN[1]):
            begin = BEGIN if marker == END else HIDDEN[0]
            if block is None or opened != begin:
                raise SolutionMarkupError(f"{where}, line {n}: {marker} without {begin}")
            out += [] if markdown or opened == HIDDEN[0] else _replacement(block, indent)
            block = None
        elif block is not None:
            block.append(line)
        else:
            out.append(line)
    if block is not None:
        close = END if opened == BEGIN else HIDDEN[1]
        raise SolutionMarkupError(f"{where}: {opened} is never closed by {close}")
    return "\n".join(out)


def student_version(solution: NotebookNode) -> NotebookNode:
    """The student notebook (a new nbformat node) made from a solution notebook."""
    import copy

    nb = copy.deepcopy(solution)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            cell.source = strip_solutions(cell.source, f"cell {index}")
            cell.outputs, cell.execution_count = [], None
        elif BEGIN in cell.source or HIDDEN[0] in cell.source:
            cell.source = strip_solutions(cell.source, f"cell {index}", markdown=True).rstrip()
    nb.cells = [c for c in nb.cells if c.cell_type != "markdown" or c.source.strip()]  # a rubric-only cell
    return nb


def student_path(solution_path: Path) -> Path:
    """exercises/solutions/02-tasks-and-clone.ipynb -> exercises/02-tasks-and-clone.ipynb"""
    return solution_path.parent.parent / solution_path.name


def write_student_versions(solutions: list[Path], execute: bool = True) -> list[Path]:
    """Write (and, by default, execute and store) the student version of each solution notebook."""
    import nbformat

    from ..notebook_store import execute as execute_and_store

    written = []
    for path in solutions:
        target = student_path(path)
        nbformat.write(student_version(nbformat.read(path, as_version=4)), target)
        if execute:
            execute_and_store(target)
        written.append(target)
    return written


_STUDENT_LINE = re.compile(r"^STUDENT\s*=.*$", re.M)
_SEED_LINE = re.compile(r"^SEED\s*=.*$", re.M)


def personalise(nb: NotebookNode, student_id: str, seed: int) -> NotebookNode:
    """A student's own copy of a student notebook: STUDENT set to the id, SEED to the seed the
    roster gives the id, outputs cleared (stored outputs show another student's variant)."""
    import copy

    nb = copy.deepcopy(nb)
    cells = [c for c in nb.cells if c.cell_type == "code" and _STUDENT_LINE.search(c.source)]
    if not cells:
        raise SolutionMarkupError("the notebook has no `STUDENT = ...` line to set the student's id in")
    cell = cells[0]
    cell.source = _STUDENT_LINE.sub(lambda _: f"STUDENT = {student_id!r}  # this notebook is yours: keep it",
                                    cell.source, count=1)
    seed_line = f"SEED = {seed}  # your own variant of every exercise (from the course roster): keep it"
    if _SEED_LINE.search(cell.source):
        cell.source = _SEED_LINE.sub(lambda _: seed_line, cell.source, count=1)
    else:
        cell.source = _STUDENT_LINE.sub(lambda m: m.group() + "\n" + seed_line, cell.source, count=1)
    for c in nb.cells:
        if c.cell_type == "code":
            c.outputs, c.execution_count = [], None
    nb.metadata.setdefault("ukva", {})["student"] = student_id
    return nb


def write_roster_versions(solutions: list[Path], roster: Path, out: Path, key: str | None) -> list[Path]:
    """OUT/<student_id>/NN-topic.ipynb for every student on the roster and every solution
    notebook; checks everything first and writes nothing if any notebook is already there."""
    import nbformat

    from .output import write_atomic
    from .roster import RosterError, course_key, read_roster, student_seed

    students = read_roster(roster)
    secret = course_key(key)
    if secret is None:
        raise RosterError("a roster needs a course key: --key K, or set UKVA_COURSE_KEY (keep it: "
                          "`ukva grade` needs the same key to know each student's variant)")
    if not out.parent.is_dir():
        raise RosterError(f"cannot write into {out}: {out.parent} does not exist")
    if out.exists() and not out.is_dir():
        raise RosterError(f"--out {out} is a file; give a folder")
    made = {p.name: student_version(nbformat.read(p, as_version=4)) for p in solutions}
    targets = [(out / sid / name, sid) for sid in students for name in made]
    there = [t for t, _ in targets if t.exists() or t.is_symlink()]
    if there:
        raise RosterError(f"{there[0]} already exists (and {len(there) - 1} more): nothing was written; "
                          "give a new --out, so that no student's work is overwritten")
    written = []
    for sid in students:
        (out / sid).mkdir(parents=True, exist_ok=True)
        for name, nb in made.items():
            target = out / sid / name
            write_atomic(target, nbformat.writes(personalise(nb, sid, student_seed(secret, sid))) + "\n", 0o644)
            written.append(target)
    return written
