"""An open question bank: items an instructor adds without editing this package.

In a solution notebook, one code cell defines an item; the judge and the model answer go in a hidden
block, which `ukva student` removes (as nbgrader removes hidden tests):

    from ukva_widgets.grading import new_item

    item = new_item("1.7", "count the processes of forks in a row", points=1)

    @item.make
    def make(rng):
        n = rng.randint(2, 6)
        return {"n": n}, f"A process calls fork() {n} times in a row, each process going on. How many "
                         "processes are there at the end? Answer with an int."

    ### BEGIN HIDDEN TESTS
    @item.judge
    def judge(settings, answer):
        return answer == 2 ** settings["n"]

    @item.answer
    def answer(settings):
        return 2 ** settings["n"]
    ### END HIDDEN TESTS

A judge returns True/False (all or nothing), a number of points, or a list of `Part`s. In the student's
notebook the cell shows the problem (`exercise("1.7", seed=SEED)`) and records the answer, but holds no
judge: `check` says the grader judges it. `ukva grade` and `ukva key` run the item cells of the
solution notebooks in their own process (`load_solutions`), so they judge with the hidden judge and
print the model answer. A manually graded item: `new_item(..., manual=True)` and only `make`.

An installed package can add items too: an entry point in the group `ukva.items` naming a module that
defines them (with `new_item`) when imported; it is loaded wherever ukva_widgets is, the grading
kernels included, so keep its judges off students' machines (or in a solution notebook).
"""

from __future__ import annotations

import ast
import functools
import random
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from .items import ITEMS, Item, Part

ITEM_ID = re.compile(r"[1-9][0-9]?\.[1-9][0-9]?")
ENTRY_POINTS = "ukva.items"
_BUILT_IN: set[str] = set()   # ids the package itself registers: never replaced
_ADDED: set[str] = set()      # ids added here
ANSWERS: dict[str, Callable[[dict[str, Any]], Any]] = {}  # item id -> its model answer (where known)


class BankError(ValueError):
    """An item definition is unusable; the message says which and why."""


def _parts(item_id: str, points: float, judged: Any) -> list[Part]:
    """A judge's result as parts: True/False, a number of points, or parts already."""
    if isinstance(judged, bool):
        return [Part(item_id, points if judged else 0.0, points)]
    if isinstance(judged, (int, float)):
        return [Part(item_id, max(0.0, min(points, float(judged))), points)]
    if isinstance(judged, (list, tuple)) and all(isinstance(p, Part) for p in judged):
        return list(judged)
    raise BankError(f"the judge of {item_id} returned {type(judged).__name__}; return True/False, points, "
                    "or a list of Part")


class NewItem:
    """An item being defined: `make`, `judge` and `answer` are decorators."""

    def __init__(self, item_id: str, title: str, points: float, manual: bool) -> None:
        if not isinstance(item_id, str) or not ITEM_ID.fullmatch(item_id):
            raise BankError(f"an item id is CHAPTER.NUMBER, like \"1.7\", not {item_id!r}")
        from .items import all_items

        all_items()  # the package's own items first, so that none of them is ever replaced
        if item_id in _BUILT_IN:
            raise BankError(f"item {item_id} is one of the book's own; give yours another number")
        if not isinstance(points, (int, float)) or isinstance(points, bool) or points <= 0:
            raise BankError(f"item {item_id}: points must be a positive number, not {points!r}")
        self.item = Item(item_id, title, float(points), _no_problem(item_id), None, manual=manual)

    def _register(self) -> None:
        ITEMS[self.item.id] = self.item
        _ADDED.add(self.item.id)

    def make(self, fn: Callable[[random.Random], tuple[dict[str, Any], str]]) -> Callable:
        self.item = replace(self.item, make=fn)
        self._register()
        return fn

    def judge(self, fn: Callable[[dict[str, Any], Any], Any]) -> Callable:
        item_id, points = self.item.id, self.item.max_points
        self.item = replace(self.item, judge=lambda settings, answer: _parts(item_id, points, fn(settings, answer)))
        self._register()
        return fn

    def answer(self, fn: Callable[[dict[str, Any]], Any]) -> Callable:
        ANSWERS[self.item.id] = fn
        return fn


def _no_problem(item_id: str) -> Callable:
    def make(rng: random.Random) -> tuple[dict[str, Any], str]:
        raise BankError(f"item {item_id} has no problem yet: define it with @item.make")
    return make


def new_item(item_id: str, title: str, points: float = 1.0, manual: bool = False) -> NewItem:
    """Start defining an item of your own (see this module's docstring)."""
    return NewItem(item_id, title, points, manual)


def mark_built_in() -> None:
    """Called once the chapters are registered: their ids are never replaced."""
    _BUILT_IN.update(i for i in ITEMS if i not in _ADDED)


@functools.cache
def load_entry_points() -> tuple[str, ...]:
    """Import every module named in the `ukva.items` entry-point group (once)."""
    from importlib.metadata import entry_points

    loaded = []
    for ep in entry_points(group=ENTRY_POINTS):
        try:
            ep.load()
        except Exception as exc:  # one broken plug-in must say so, not stop the grader with a traceback
            raise BankError(f"the {ENTRY_POINTS} entry point {ep.name} ({ep.value}) failed: "
                            f"{type(exc).__name__}: {exc}") from None
        loaded.append(ep.value)
    return tuple(loaded)


def item_cells(solutions: list[Path]) -> list[tuple[str, str]]:
    """(where, source) of every code cell of the solution notebooks that defines an item."""
    import nbformat

    cells = []
    for path in solutions:
        nb = nbformat.read(path, as_version=4)
        for n, cell in enumerate(nb.cells):
            if cell.cell_type == "code" and "new_item(" in cell.source:
                cells.append((f"{path.name}, cell {n}", cell.source))
    return cells


def load_solutions(solutions: list[Path]) -> str:
    """Define the items of the solution notebooks here (hidden judges included); returns their source,
    which the grading cache keys on. A cell that fails is an error naming it."""
    cells = item_cells(solutions)
    for where, source in cells:
        try:
            code = compile(ast.parse(source, where), where, "exec")
            # The instructor's own notebook, run in the instructor's process (never a student's code).
            exec(code, {"__name__": "ukva_solution_items"})
        except Exception as exc:
            raise BankError(f"{where}: defining an item failed: {type(exc).__name__}: {exc}") from None
    return "\n".join(source for _, source in cells)


def rubrics(solutions: list[Path]) -> dict[str, str]:
    """Item id -> the rubric of a manually graded item, from the solution notebooks' markdown."""
    import nbformat

    found = {}
    for path in solutions:
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "markdown":
                continue
            for m in re.finditer(r"\*\*Rubric for (\d+\.\d+)\*\*(.*?)(?=### END SOLUTION|\Z)", cell.source, re.S):
                found[m.group(1)] = " ".join(m.group(2).split())
    return found
