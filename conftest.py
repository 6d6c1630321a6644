"""Test-run wide settings: how `make test` spreads the suite over two workers (pytest-xdist).

`make test` runs `pytest -n 2 --dist loadfile`, with the scheduler below: each group of tests runs on
one worker, in order.  A group is a file (a notebook's cells share one kernel, so a notebook is never
split), except the browser tests, which are one group with tests/test_wheel.py: each drives JupyterLab,
Voila or a live page in Chromium and waits on it, and two of them at once on a small machine starve
each other into timeouts.  pytest-xdist hands out the largest group first (by number of tests): one
worker starts on the browser tests, the other on the rest, and whichever is free takes the next file.
The builds of the book's site (test_site, test_lite, test_wheel) may then run at once; they share the
live book's download cache, which ukva_widgets/lite locks while one build fills it.  Without
pytest-xdist, `pytest` runs it all in one process.
"""

from __future__ import annotations

import pytest

BROWSER_GROUP = ("tests/browser/",)


def group_of(nodeid: str) -> str:
    """The group of a test by its node id ("tests/browser/test_site.py::test_search..." -> "browser")."""
    path = nodeid.split("::", 1)[0]
    return "browser" if path.startswith(BROWSER_GROUP) else path


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist: without it installed, nothing to do
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ByGroup(LoadScopeScheduling):
        """pytest-xdist's loadfile, with the browser group above as one file."""

        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    return ByGroup(config, log)
