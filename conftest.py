"""Test-run wide settings: how `make test` spreads the suite over the machine's cores (pytest-xdist).

`make test` runs `pytest -n auto --dist loadgroup`: each group of tests runs on one worker, in order.
A group is a file (a notebook's cells share one kernel, so a notebook is never split), except the
files that build the book's site, which share one group: they write the same download cache of the
live book (ukva_widgets/lite) and must not build it at the same moment.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
ONE_GROUP = {"site": ("tests/test_wheel.py", "tests/browser/test_site.py", "tests/browser/test_lite.py")}


def group_of(path: Path) -> str:
    name = path.resolve().relative_to(ROOT).as_posix()
    return next((group for group, files in ONE_GROUP.items() if name in files), name)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(group_of(item.path)))
