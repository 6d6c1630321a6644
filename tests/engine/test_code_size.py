"""The engine stays readable in pieces: no class over 400 lines, no function over 80, anywhere in
ukva_widgets/engine (the next engineer reads one at a time)."""

from __future__ import annotations

import ast
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[2] / "ukva_widgets" / "engine"
LIMITS = {ast.ClassDef: 400, ast.FunctionDef: 80, ast.AsyncFunctionDef: 80}


def too_long(source: str) -> list[tuple[str, int, int]]:
    """(name, lines, limit) of every class and function in `source` longer than its limit."""
    out = []
    for node in ast.walk(ast.parse(source)):
        limit = LIMITS.get(type(node))
        if limit is not None and node.end_lineno - node.lineno + 1 > limit:
            out.append((node.name, node.end_lineno - node.lineno + 1, limit))
    return out


def test_no_class_over_400_lines_and_no_function_over_80_in_the_engine():
    files = sorted(ENGINE.glob("*.py"))
    assert len(files) > 10
    found = {path.name: too_long(path.read_text()) for path in files}
    assert not {name: items for name, items in found.items() if items}, found


def test_the_check_sees_a_long_function_and_a_long_class():
    body = "\n".join(f"    x{i} = {i}" for i in range(81))
    assert too_long(f"def f():\n{body}\n") == [("f", 82, 80)]
    methods = "\n".join(f"    def m{i}(self):\n        return {i}\n" for i in range(134))
    assert [name for name, _, _ in too_long(f"class C:\n{methods}")] == ["C"]
