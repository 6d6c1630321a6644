"""`ukva serve` and `ukva book` as a reader starts them: the printed URL, the token, the index page,
and the book working with the internet cut off (ipywidgets and bqplot from the installed packages)."""

from __future__ import annotations

import http.client
import re
import subprocess
import sys
import urllib.parse

import book_pages as bp
import pytest

from ukva_widgets.serving import free_port


@pytest.fixture
def ukva(tmp_path):
    """Start `ukva ARGS...` on a private copy of the book; yields (url printed, the process)."""
    started = []

    def start(*args: str) -> str:
        book = bp.private_book(tmp_path)
        process = subprocess.Popen(  # JupyterLab settings and workspaces in tmp, not in this $HOME
            [sys.executable, "-m", "ukva_widgets.cli", *args, "--no-browser", "--root", str(book)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=bp.lab_environment(tmp_path))
        started.append(process)
        for line in process.stdout:  # the URL is printed once the server answers
            match = re.search(r"http://\S+", line)
            if match:
                return match.group(0)
        raise AssertionError(f"ukva {' '.join(args)} exited without printing a URL")

    yield start
    for process in started:
        process.terminate()
        process.wait(timeout=20)


def status(url: str) -> int:
    """The HTTP status of GET `url` itself (a redirect to the login page is not followed)."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""))
        return connection.getresponse().status
    finally:
        connection.close()


def test_ukva_serve_prints_a_local_url_with_a_token_and_refuses_requests_without_it(ukva):
    url = ukva("serve")
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/voila/render/notebooks/00-start\.ipynb\?token=[0-9a-f]{32,}",
                        url), url  # the reader lands on the book's front page, not on a file list
    assert status(url) == 200
    assert status(url.split("?")[0]) in (302, 403), "a chapter was served without the token"
    exercises = url.replace("/notebooks/00-start.ipynb", "/exercises/01-unix-process.ipynb")
    assert status(exercises) == 200, "a chapter's link to its exercises would not open under ukva serve"


def test_ukva_serve_index_lists_every_chapter_and_opens_one(ukva, context):
    url = ukva("serve", "--port", str(free_port()))
    page = context.new_page()
    try:
        page.goto(url.replace("/voila/render/notebooks/00-start.ipynb", "/voila/tree/notebooks"))
        for notebook in bp.chapters():
            page.get_by_text(notebook).first.wait_for(timeout=30_000)
        with page.context.expect_page(timeout=30_000) as new_tab:  # Voila opens a chapter in a new tab
            page.get_by_text(bp.chapters()[0]).first.click()
        opened = new_tab.value
        opened.locator("#rendered_cells").wait_for(state="visible", timeout=60_000)
        bp.wait_for_widgets(opened, bp.expected(bp.ROOT, bp.chapters()[0]).widgets)
    finally:
        for p in page.context.pages:
            p.close(run_before_unload=False)


def test_ukva_book_opens_the_first_chapter_in_jupyterlab(ukva, context):
    url = ukva("book")
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/lab/tree/notebooks/00-start\.ipynb\?token=[0-9a-f]{32,}",
                        url), url
    page = context.new_page()
    try:
        page.goto(url)
        page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(timeout=60_000)
        assert page.locator(".lm-TabBar-tab.jp-mod-current").first.inner_text().strip() == "00-start.ipynb"
        bp.wait_kernel_idle(page, 60_000)
        assert bp.kernel_dialogs(page) == []
    finally:
        page.close(run_before_unload=False)


def test_ukva_serve_refuses_a_port_in_use_with_a_clear_message(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "ukva_widgets.cli", "serve", "--no-browser", "--port", str(port),
             "--root", str(bp.private_book(tmp_path))], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert f"port {port} is already in use" in done.stderr


def test_widgets_and_their_icons_draw_with_the_internet_cut_off(context, lab, voila, blocked_requests):
    first = bp.chapters()[0]
    page = context.new_page()
    try:
        bp.open_in_voila(page, voila, first)
        bp.wait_for_widgets(page, bp.expected(bp.ROOT, first).widgets)
        assert bp.undrawn_figures(page) == []
        fonts = page.evaluate("async () => { await document.fonts.ready; return [...document.fonts]"
                              ".filter(f => f.status === 'loaded').map(f => f.family); }")
        assert any("Font Awesome" in f for f in fonts), f"icon font not loaded offline; loaded: {fonts}"
    finally:
        page.close(run_before_unload=False)
    page = context.new_page()
    try:
        bp.open_in_lab(page, lab, first)
        bp.run_all_in_lab(page)
        bp.wait_for_widgets(page, bp.expected(bp.ROOT, first).widgets)
        assert bp.undrawn_figures(page) == []
    finally:
        page.close(run_before_unload=False)
        bp.shutdown_kernels(lab)
    # Voila's page template still links Font Awesome's stylesheet on a CDN; the icons come from
    # the installed front end (checked above), so only that refused stylesheet may appear here.
    refused_code = [u for kind, u in blocked_requests if kind not in ("stylesheet", "font", "image")]
    assert refused_code == [], f"the book asked the internet for code: {refused_code}"


def test_a_chapter_link_in_voila_opens_that_chapter_as_an_app(context, voila):
    first = bp.chapters()[0]
    page = context.new_page()
    try:
        bp.open_in_voila(page, voila, first)
        links = page.locator("#rendered_cells a[href*='.ipynb']")
        if not links.count():
            pytest.skip(f"{first} links to no other chapter")
        target = links.first.get_attribute("href").split("#")[0]
        links.first.click()
        page.wait_for_url(f"**/voila/render/notebooks/{target}**", timeout=60_000)
        page.locator("#rendered_cells").wait_for(state="visible", timeout=60_000)
        bp.wait_for_widgets(page, bp.expected(bp.ROOT, target).widgets)
    finally:
        page.close(run_before_unload=False)
