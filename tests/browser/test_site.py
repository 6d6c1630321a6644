"""`ukva site`: the static book, read in Chromium with every request to the internet refused. Every
chapter renders with each of its widgets shown as its text view, links to the next chapter and the
contents, and the search page finds the chapters that use a word."""

from __future__ import annotations

import http.client
import subprocess
import sys
import time

import book_pages as bp
import nbformat
import pytest

from ukva_widgets.serving import free_port
from ukva_widgets.site import WIDGET_MIME


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site built by `ukva site` from this book, served by a plain static web server."""
    out = tmp_path_factory.mktemp("site") / "book"
    done = subprocess.run([sys.executable, "-m", "ukva_widgets.cli", "site", "--root", str(bp.ROOT), "--out",
                           str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port),
                               "--directory", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/index.html")
            if connection.getresponse().status == 200:
                break
        except OSError:
            assert time.monotonic() < deadline, "the static web server did not start"
            time.sleep(0.2)
    yield f"http://127.0.0.1:{port}"
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture(scope="module")
def reader(browser):
    refused: list[tuple[str, str]] = []
    context = bp.offline_context(browser, refused)
    page = context.new_page()
    noisy: list[str] = []
    page.on("console", lambda m: noisy.append(m.text) if m.type in ("error", "warning") else None)
    yield page, refused, noisy
    context.close()


def text_views(notebook: str) -> list[str]:
    """The text view the stored chapter keeps for each of its widgets, in order."""
    nb = nbformat.read(bp.ROOT / "notebooks" / notebook, as_version=4)
    return [o["data"]["text/plain"] for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
            if WIDGET_MIME in o.get("data", {})]


@pytest.mark.parametrize("notebook", bp.chapters())
def test_each_chapter_renders_offline_with_its_widgets_text_views_and_navigation(site, reader, notebook):
    page, refused, noisy = reader
    before = len(refused)
    page.goto(f"{site}/notebooks/{notebook.removesuffix('.ipynb')}.html")
    page.locator("main h1").first.wait_for(timeout=30_000)
    shown = page.locator(".ukva-widget-text pre").all_text_contents()  # under a widget's picture it is folded
    assert [s.strip() for s in shown] == [v.strip() for v in text_views(notebook)]
    assert all(page.locator(".ukva-widget-text").nth(i).is_visible() for i in range(len(shown)))
    assert page.locator("nav.ukva-nav a.ukva-contents").first.get_attribute("href") == "../index.html"
    chapters = bp.chapters()
    at = chapters.index(notebook)
    if at + 1 < len(chapters):
        following = chapters[at + 1].removesuffix(".ipynb")
        assert page.locator("nav.ukva-nav a.ukva-next").first.get_attribute("href") == f"../notebooks/{following}.html"
    glossary = [p for p in (bp.ROOT / "notebooks").iterdir() if "glossary" in p.stem.lower()]
    if glossary:
        assert page.locator("nav.ukva-nav a.ukva-glossary").count() > 0
    assert refused[before:] == [], f"{notebook} asked the internet for {refused[before:]}"
    assert noisy == []


def test_the_contents_page_lists_every_chapter_and_links_work(site, reader):
    page, refused, _ = reader
    page.goto(f"{site}/index.html")
    hrefs = page.locator("ol a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    for notebook in bp.chapters():
        assert f"notebooks/{notebook.removesuffix('.ipynb')}.html" in hrefs
    page.locator("ol a").first.click()
    page.locator("main h1").first.wait_for(timeout=30_000)
    assert page.url.endswith(f"/notebooks/{bp.chapters()[0].removesuffix('.ipynb')}.html")


def test_search_finds_the_pages_that_use_a_word(site, reader):
    page, refused, _ = reader
    page.goto(f"{site}/index.html")
    page.fill("nav.ukva-nav input[name=q]", "CLONE_VM")
    page.keyboard.press("Enter")
    page.wait_for_url("**/search.html?q=CLONE_VM", timeout=30_000)
    results = page.locator("#results li a").all_inner_texts()
    using = [nb for nb in bp.chapters() if "CLONE_VM" in (bp.ROOT / "notebooks" / nb).read_text()]
    assert using and len([r for r in results]) >= len(using)
    page.goto(f"{site}/search.html?q=zzzznotaword")
    assert page.locator("#results li").count() == 0
    assert "0 page(s)" in page.locator("#summary").inner_text()
