"""`ukva serve` and `ukva book` as a reader starts them: the printed URL, the token, the index page,
kernels that do not pile up as a reader opens page after page (the shutdown beacon is accepted; a
kernel whose page vanished without one is culled), and the Voila page's theme button."""

from __future__ import annotations

import http.client
import os
import re
import secrets
import subprocess
import sys
import time
import urllib.parse

import book_pages as bp
import pytest

from ukva_widgets.serving import CULL_IDLE_SECONDS, free_port, voila_server


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

    start.processes = started
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


def kernels_under(pid: int) -> int:
    """How many Jupyter kernels run below process `pid` (its children, theirs...), read from /proc."""
    parent: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parent[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:  # it ended meanwhile
                continue

    def below(p: int) -> bool:
        while p in parent:
            p = parent[p]
            if p == pid:
                return True
        return False

    count = 0
    for p in parent:
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                if b"ipykernel" in f.read() and below(p):
                    count += 1
        except OSError:
            continue
    return count


def wait_for_kernels(pid: int, at_most: int, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while (n := kernels_under(pid)) > at_most and time.monotonic() < deadline:
        time.sleep(0.25)
    return n


def test_page_views_leave_no_kernel_behind_when_the_reader_moves_on(ukva, context):
    url = ukva("serve")
    server = ukva.processes[-1].pid
    first = bp.chapters()[0]
    page = context.new_page()
    try:
        for view in range(4):  # four page views in one tab: reloads and chapter to chapter
            page.goto(url, timeout=120_000)
            page.locator("#rendered_cells").wait_for(state="visible", timeout=120_000)
            bp.wait_for_widgets(page, bp.expected(bp.ROOT, first).widgets)
            assert wait_for_kernels(server, at_most=1) == 1, f"kernels piled up after {view + 1} page views"
        # The reader goes back to the index of chapters: the page's shutdown beacon stops its kernel.
        page.goto(url.replace("/voila/render/notebooks/00-start.ipynb", "/voila/tree/notebooks"))
        assert wait_for_kernels(server, at_most=0) == 0, "the shutdown beacon did not stop the last kernel"
    finally:
        page.close(run_before_unload=False)


def test_a_kernel_whose_page_vanished_without_a_beacon_is_culled(tmp_path, context):
    assert CULL_IDLE_SECONDS <= 600  # ukva serve culls within minutes; here, within seconds
    voila = voila_server(bp.private_book(tmp_path / "book"), free_port(), secrets.token_hex(16),
                         cull_idle_seconds=3, cull_interval_seconds=1)
    voila.start(env=bp.lab_environment(tmp_path), log=tmp_path / "voila.log")
    try:
        page = context.new_page()
        bp.open_in_voila(page, voila, bp.chapters()[0])
        bp.wait_for_widgets(page, bp.expected(bp.ROOT, bp.chapters()[0]).widgets)
        assert kernels_under(voila.process.pid) == 1
        page.close(run_before_unload=False)  # as a crashed browser: no beacon
        assert wait_for_kernels(voila.process.pid, at_most=0, timeout=30) == 0
        log = (tmp_path / "voila.log").read_text()
        assert "Culling 'idle' kernel" in log and "403" not in log
    finally:
        voila.stop()


def test_the_voila_page_has_a_button_that_reopens_it_in_the_other_theme(context, voila):
    page = context.new_page()
    try:
        bp.open_in_voila(page, voila, bp.chapters()[0])
        button = page.locator("button.ukva-theme-toggle")
        assert button.inner_text() == "☾ dark theme" and button.is_visible()
        button.focus()
        page.keyboard.press("Enter")
        page.wait_for_function("() => document.body !== null && document.body.dataset.jpThemeLight === 'false'", timeout=120_000)
        assert "theme=dark" in page.url and "token=" in page.url
        page.locator("#rendered_cells").wait_for(state="visible", timeout=120_000)
        assert page.locator("button.ukva-theme-toggle").inner_text() == "☀ light theme"
    finally:
        page.close(run_before_unload=False)
