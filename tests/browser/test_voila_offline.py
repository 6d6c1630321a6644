"""Voila offline and quiet, in the dark theme: every chapter as a Voila app, with every request to
the internet refused, asks the internet for nothing (no Font Awesome from a CDN), draws its icons
from the installed front end, and leaves no error or warning in the browser console; its picture in
the dark theme goes to artifacts/screenshots/ (test_chapters.py pictures it light)."""

from __future__ import annotations

import book_pages as bp
import pytest

from ukva_widgets.serving import chapter_url_path


@pytest.fixture(scope="module")
def offline(browser):
    """A context of its own, so the requests refused here are only this module's."""
    refused: list[tuple[str, str]] = []
    context = bp.offline_context(browser, refused)
    yield context, refused
    context.close()


def visit(offline, voila, path: str, widgets: int = 0, **query: str) -> tuple[list[str], list[tuple[str, str]], object]:
    """Open `path` (with `query`, e.g. theme="dark") on the Voila server; return its console errors
    and warnings, the requests it had refused, and the page (open)."""
    context, refused = offline
    before = len(refused)
    page = context.new_page()
    noisy: list[str] = []
    page.on("console", lambda m: noisy.append(f"{m.type}: {m.text[:300]}") if m.type in ("error", "warning")
            else None)
    page.on("pageerror", lambda e: noisy.append(f"uncaught: {e}"))
    page.goto(voila.url(path, **query), timeout=120_000)
    if widgets:
        page.locator("#rendered_cells").wait_for(state="visible", timeout=120_000)
        bp.wait_for_widgets(page, widgets)
    page.wait_for_timeout(500)  # late warnings (e.g. from a widget's first draw) arrive too
    return noisy, refused[before:], page


@pytest.mark.parametrize("notebook", bp.chapters())
def test_a_chapter_in_voila_dark_needs_no_internet_logs_no_error_or_warning_and_is_pictured(
        offline, voila, screenshots, notebook):
    noisy, refused, page = visit(offline, voila, chapter_url_path(voila, notebook),
                                 bp.expected(bp.ROOT, notebook).widgets, theme="dark")
    picture = screenshots / f"{notebook.removesuffix('.ipynb')}-voila-dark.png"
    try:
        fonts = page.evaluate("async () => { await document.fonts.ready; return [...document.fonts]"
                              ".filter(f => f.status === 'loaded').map(f => f.family); }")
        undrawn = bp.undrawn_figures(page)
        dark = page.evaluate("() => document.body.dataset.jpThemeLight") == "false"
        bp.voila_screenshot(page, picture)
    finally:
        page.close(run_before_unload=False)
    assert dark, f"{notebook} is not in the dark theme"
    assert picture.stat().st_size > 10_000, f"{picture.name} looks empty"
    assert refused == [], f"{notebook} asked the internet for: {refused}"
    assert noisy == [], f"{notebook} logged in the console:\n" + "\n".join(noisy)
    assert undrawn == []
    if notebook == bp.chapters()[0]:
        assert any("Font Awesome" in f for f in fonts), f"icon font not loaded offline; loaded: {fonts}"


def test_the_voila_index_page_needs_no_internet_and_logs_nothing(offline, voila):
    # the index: / lists the book's two folders, /voila/tree/notebooks the chapters
    for path, entry in (("/", "exercises"), ("/voila/tree/notebooks", bp.chapters()[0])):
        noisy, refused, page = visit(offline, voila, path)
        try:
            page.get_by_text(entry).first.wait_for(timeout=30_000)
        finally:
            page.close(run_before_unload=False)
        assert refused == [] and noisy == [], (path, refused, noisy)
