"""`ukva site`: the static book, read in Chromium with every request to the internet refused. Every
chapter renders with each of its widgets shown as its text view, links to the next chapter, the
contents and its live copy, and the search page finds the chapters that use a word."""

from __future__ import annotations

import http.client
import os
import shutil
import subprocess
import sys
import time
from urllib.parse import parse_qs, urlsplit

import book_pages as bp
import lite_pages as lp
import nbformat
import pytest

from ukva_widgets.serving import free_port
from ukva_widgets.site import WIDGET_MIME, build


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """`ukva site` of this book, with its live copy (shared with test_lite.py: built once per session);
    where npm and node are missing, the static pages only (the live-copy test then skips, or fails in CI)."""
    if lp.missing_tools() is None:
        return lp.built_site()
    out = tmp_path_factory.mktemp("site") / "book"
    done = subprocess.run([sys.executable, "-m", "ukva_widgets.cli", "site", "--no-lite", "--root", str(bp.ROOT),
                           "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def site(built):
    """The built site, served by a plain static web server."""
    out = built
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


def test_every_page_has_a_visible_link_to_its_live_copy(built, site, reader):
    if not (built / "lite").is_dir():
        message = f"the site was built without its live copy: {lp.missing_tools()}"
        if os.environ.get("UKVA_REQUIRE_BROWSER") == "1":
            pytest.fail(f"UKVA_REQUIRE_BROWSER=1 but {message}", pytrace=False)
        pytest.skip(message)
    page, refused, _ = reader
    pages = sorted((built / "notebooks").glob("*.html")) + sorted((built / "exercises").glob("*.html"))
    assert len(pages) == len(list((bp.ROOT / "notebooks").glob("*.ipynb"))) + len(list((bp.ROOT / "exercises").glob("*.ipynb")))
    for html in pages:
        page.goto(f"{site}/{html.parent.name}/{html.name}")
        live = page.locator("nav.ukva-nav.top a.ukva-live")
        assert live.is_visible(), html.name
        if html.parent.name == "notebooks" and html.name[:2].isdigit():
            assert "Run this chapter live" in live.inner_text()
        href = urlsplit(live.get_attribute("href"))
        assert href.path == "../lite/notebooks/index.html"
        path, = parse_qs(href.query)["path"]
        assert path == (f"exercises/{html.stem}.ipynb" if html.parent.name == "exercises" else f"{html.stem}.ipynb")
        assert (built / "lite" / "files" / path).is_file()
    assert (built / "lite" / "notebooks" / "index.html").is_file()
    page.goto(f"{site}/index.html")
    assert page.locator("a.ukva-live").first.is_visible()


def test_no_lite_writes_the_pages_without_a_live_copy_or_links_to_one(tmp_path):
    root = tmp_path / "book"
    (root / "notebooks").mkdir(parents=True)
    shutil.copy(bp.ROOT / "notebooks" / bp.chapters()[0], root / "notebooks")
    build(root, tmp_path / "out", say=lambda _: None, lite=False)
    assert not (tmp_path / "out" / "lite").exists()
    chapter = (tmp_path / "out" / "notebooks" / bp.chapters()[0].replace(".ipynb", ".html")).read_text()
    assert 'class="ukva-live' not in chapter and 'class="ukva-live' not in (tmp_path / "out" / "index.html").read_text()
