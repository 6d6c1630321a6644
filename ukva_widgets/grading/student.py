"""Making the student notebooks from the solution notebooks (`ukva student`).

A solution cell holds its answer between `### BEGIN SOLUTION` and `### END SOLUTION`.
In the student version a block that only assigns `answer_N_M` variables becomes
`answer_N_M = ...  # YOUR ANSWER HERE` (so `check` says "not answered yet"); any other
block becomes `raise NotImplementedError("YOUR CODE HERE")` at the block's indentation.
In a markdown cell (a rubric, say) the block is removed.
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
    """`source` with every solution block replaced by its student stub (removed, in markdown)."""
    out: list[str] = []
    block: list[str] | None = None
    indent = ""
    for n, line in enumerate(source.split("\n"), 1):
        marker = line.strip()
        if marker == BEGIN:
            if block is not None:
                raise SolutionMarkupError(f"{where}, line {n}: {BEGIN} inside another solution block")
            block, indent = [], line[: len(line) - len(line.lstrip())]
        elif marker == END:
            if block is None:
                raise SolutionMarkupError(f"{where}, line {n}: {END} without {BEGIN}")
            out += [] if markdown else _replacement(block, indent)
            block = None
        elif block is not None:
            block.append(line)
        else:
            out.append(line)
    if block is not None:
        raise SolutionMarkupError(f"{where}: {BEGIN} is never closed by {END}")
    return "\n".join(out)


def student_version(solution: NotebookNode) -> NotebookNode:
    """The student notebook (a new nbformat node) made from a solution notebook."""
    import copy

    nb = copy.deepcopy(solution)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            cell.source = strip_solutions(cell.source, f"cell {index}")
            cell.outputs, cell.execution_count = [], None
        elif BEGIN in cell.source:
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
