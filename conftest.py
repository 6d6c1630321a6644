"""Test-run wide settings: how `make test` spreads the suite over workers (pytest-xdist).

`make test` runs `pytest -n 4 --dist loadfile`, with the scheduler below: each group of tests runs on
one worker, in order.  A group is a file (a notebook's cells share one kernel, so a notebook is never
split), except the browser tests, which make two groups: each drives JupyterLab, Voila or a live page
in Chromium and waits on it, and more at once on a small machine starve each other into timeouts.
The files that build the book's site (`ukva site`: test_site, test_lite and test_wheel) share a group
because they write the same download cache of the live book (ukva_widgets/lite).  Four workers on two
cores: most of a test's time is spent waiting (for a kernel, a page, a sandbox), not computing.
"""

from __future__ import annotations

# JupyterLab's pages, and the rest of the web side (Voila, the static and live site, the hub, the wheel).
LAB_PAGES = ("tests/browser/test_chapters.py", "tests/browser/test_widget_views.py",
             "tests/browser/test_design_lab_check.py")
WEB = ("tests/browser/", "tests/test_wheel.py")


def group_of(nodeid: str) -> str:
    """The group of a test by its node id ("tests/browser/test_site.py::test_search..." -> "web")."""
    path = nodeid.split("::", 1)[0]
    if path in LAB_PAGES:
        return "lab pages"
    return "web" if path.startswith(WEB) else path


def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ByGroup(LoadScopeScheduling):
        """pytest-xdist's loadfile, with the groups above as files."""

        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    return ByGroup(config, log)
