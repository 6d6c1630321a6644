"""One JupyterLab, one Voila and one Chromium for the whole browser test run.

The servers serve a private copy of notebooks/ on free 127.0.0.1 ports, each with a token; the
browser context refuses every request that does not go to them, so each test also proves the book
needs no CDN. Without Chromium the tests skip and say how to install it, unless
UKVA_REQUIRE_BROWSER=1 (set by .ci/run), when they fail instead. UKVA_BOOK_ROOT=DIR tests the
notebooks/ of another checkout.
"""

from __future__ import annotations

import os
from pathlib import Path

import book_pages as bp
import pytest

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


def _missing() -> str | None:
    if not bp.CHROMIUM.exists():
        return bp.INSTALL_HINT
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the browser tests need Playwright for Python: pip install -e '.[test]'"
    return None


@pytest.fixture(scope="session")
def browser():
    missing = _missing()
    if missing:
        if os.environ.get("UKVA_REQUIRE_BROWSER") == "1":
            pytest.fail(f"UKVA_REQUIRE_BROWSER=1 but {missing}", pytrace=False)
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = bp.launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def book(tmp_path_factory):
    """The private copy of the book the servers serve (its notebooks/ folder is theirs too)."""
    return bp.private_book(tmp_path_factory.mktemp("book"))


@pytest.fixture(scope="session")
def servers(browser, book):
    lab, voila = bp.start_servers(book, book)
    yield lab, voila
    voila.stop()
    lab.stop()


@pytest.fixture(scope="session")
def lab(servers):
    return servers[0]


@pytest.fixture(scope="session")
def voila(servers):
    return servers[1]


@pytest.fixture(scope="session")
def blocked_requests() -> list[tuple[str, str]]:
    """(resource type, URL) of every request a page made to anything but our servers: all refused."""
    return []


@pytest.fixture(scope="session")
def context(browser, blocked_requests):
    ctx = bp.offline_context(browser, blocked_requests)
    yield ctx
    ctx.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
