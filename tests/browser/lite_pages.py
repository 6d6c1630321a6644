"""The live book (`ukva site`'s lite/: JupyterLite, Python in the browser) as a reader's browser sees it:
the site built once per process, served by a plain static web server on 127.0.0.1, and the Jupyter
Notebook app driven as a reader drives it (Run All, run from a cell down, edit and run a cell).

Shared by tests/browser/test_lite.py, tests/browser/test_site.py and benchmarks/bench_lite.py.
"""

from __future__ import annotations

import functools
import http.server
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import book_pages as bp

if TYPE_CHECKING:
    from playwright.sync_api import Page

# What building the live book needs beyond Python: npm fetches Pyodide, node compiles the wheels.
TOOLS_HINT = "the live book is built with npm and node: apt-get install nodejs npm"
BUILD_TIMEOUT = 1800   # a cold build fetches Pyodide and ~30 wheels, then compiles them; later ones reuse the cache

_built: dict[str, Path] = {}


def missing_tools() -> str | None:
    return None if shutil.which("npm") and shutil.which("node") else TOOLS_HINT


def built_site() -> Path:
    """`ukva site --root ROOT --out DIR` of the book under test, with its live copy; built once per process
    (the live part takes a minute or more; the Pyodide and wheel cache is the user's, or $UKVA_LITE_CACHE)."""
    if "site" not in _built:
        out = Path(tempfile.mkdtemp(prefix="ukva-site-")) / "book"
        done = subprocess.run([sys.executable, "-m", "ukva_widgets.cli", "site", "--root", str(bp.ROOT), "--out",
                               str(out)], capture_output=True, text=True, timeout=BUILD_TIMEOUT)
        assert done.returncode == 0, f"ukva site failed: {done.stderr or done.stdout}"
        _built["site"] = out
    return _built["site"]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    # counted per server: what the pages asked for, and how many bytes went out
    def log_message(self, *args) -> None:
        pass

    def copyfile(self, source, outputfile) -> None:
        data = source.read()
        self.server.bytes_sent += len(data)
        outputfile.write(data)


class StaticServer:
    """A plain static web server on a free 127.0.0.1 port (no caching headers, as `python -m http.server`)."""

    def __init__(self, directory: Path) -> None:
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                     functools.partial(_Quiet, directory=str(directory)))
        self.httpd.bytes_sent = 0
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def bytes_sent(self) -> int:
        return self.httpd.bytes_sent

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def live_url(server: StaticServer, path: str) -> str:
    from ukva_widgets.lite import lite_url
    return f"{server.url}/lite/{lite_url(path)}"


# --- the Jupyter Notebook app of JupyterLite ---------------------------------------------------

PROMPTS_JS = "() => [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(p => p.textContent.trim())"
# Settled: no cell queued or running ([*]) and at least one cell run. (The notebook app's execution
# indicator is no help: after an error stops a Run All it stays "busy" for the cells that never ran.)
SETTLED_JS = """() => {
    const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(p => p.textContent);
    return prompts.some(p => /\\d/.test(p)) && !prompts.some(p => p.includes('*'));
}"""
# Per code cell: the text of its error output, or null.
CELL_ERRORS_JS = """() => [...document.querySelectorAll('.jp-CodeCell')].map(cell => {
    const error = cell.querySelector('.jp-OutputArea-output.jp-mod-error, [data-mime-type="application/vnd.jupyter.stderr"]');
    return error ? error.textContent : null;
})"""


def open_live(page: Page, server: StaticServer, path: str, timeout_ms: float = 120_000) -> None:
    """Open a page of the live book and wait until its cells are shown (the kernel starts on the first run)."""
    page.goto(live_url(server, path), timeout=timeout_ms)
    page.locator(".jp-Notebook .jp-CodeCell").first.wait_for(timeout=timeout_ms)


# A run has begun: some cell is queued or running ([*]) or has run.
STARTED_JS = f"() => ({PROMPTS_JS})().some(p => p.includes('*') || /\\d/.test(p))"


def run_all(page: Page, timeout_ms: float = 300_000) -> None:
    """Clear every output (so no stored prompt looks like a new one), Run All Cells, and wait until the run
    stops: every cell run, or the first error (the cells below it are then not run)."""
    bp.menu(page, "Edit", "Clear Outputs of All Cells")
    page.wait_for_function(f"() => ({PROMPTS_JS})().every(p => !/\\d/.test(p))", timeout=30_000)
    bp.menu(page, "Run", "Run All Cells")
    _wait(page, STARTED_JS, 30_000, "Run All Cells started no cell")
    wait_settled(page, timeout_ms)


def run_from(page: Page, index: int, timeout_ms: float = 300_000) -> None:
    """Select code cell `index` and Run Selected Cell and All Below, as a reader continues after an error."""
    page.locator(".jp-Notebook .jp-CodeCell").nth(index).locator(".jp-InputPrompt").click()
    bp.menu(page, "Run", "Run Selected Cell and All Below")
    page.wait_for_function(f"(i) => ({PROMPTS_JS})()[i].includes('*') || /\\d/.test(({PROMPTS_JS})()[i])",
                           arg=index, timeout=30_000)
    wait_settled(page, timeout_ms)


def run_past_errors(page: Page) -> list[int]:
    """After a Run All: while a cell's error stopped the run, run on from the cell below it. Returns the
    code cells that failed, in order."""
    failed: list[int] = []
    while True:
        errors = cell_errors(page)
        after = failed[-1] + 1 if failed else 0
        stop = next((i for i in range(after, len(errors)) if errors[i]), None)
        if stop is None:
            return failed
        failed.append(stop)
        if stop + 1 == len(errors):
            return failed
        run_from(page, stop + 1)


def wait_settled(page: Page, timeout_ms: float) -> None:
    _wait(page, SETTLED_JS, timeout_ms, "the cells did not finish running")


def _wait(page: Page, condition: str, timeout_ms: float, what: str) -> None:
    """Wait for `condition` (JavaScript); past `timeout_ms`, fail saying `what` and where each cell stood."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(condition, timeout=timeout_ms, polling=250)
    except PlaywrightTimeout:
        status = page.locator(".jp-Notebook-ExecutionIndicator, .jp-KernelStatus").first
        kernel = status.get_attribute("title") if status.count() else None
        raise AssertionError(f"{what} within {timeout_ms / 1000:.0f} s; prompts {prompts(page)}, "
                             f"kernel status {kernel!r}") from None


def prompts(page: Page) -> list[str]:
    return page.evaluate(PROMPTS_JS)


def cell_errors(page: Page) -> list[str | None]:
    """Per code cell, its error output's text (None where it has none)."""
    return page.evaluate(CELL_ERRORS_JS)


def run_cell_with(page: Page, index: int, code: str, timeout_ms: float = 120_000) -> str:
    """Replace code cell `index`'s source with `code`, run it (Shift+Enter) and return its output's text."""
    cell = page.locator(".jp-Notebook .jp-CodeCell").nth(index)
    before = cell.locator(".jp-InputPrompt").inner_text()
    editor = cell.locator(".cm-content")
    editor.click()
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.insert_text(code)
    page.keyboard.press("Shift+Enter")
    page.wait_for_function("([cell, before]) => { const p = cell.querySelector('.jp-InputPrompt').textContent; "
                           "return /\\d/.test(p) && p !== before; }", arg=[cell.element_handle(), before],
                           timeout=timeout_ms)
    wait_settled(page, timeout_ms)
    return cell.locator(".jp-OutputArea").inner_text()


def append_cell(page: Page, code: str, timeout_ms: float = 120_000) -> str:
    """Add a code cell below the last one (B in command mode), run it and return its output's text."""
    cells = page.locator(".jp-Notebook .jp-CodeCell")
    count = cells.count()
    page.locator(".jp-Notebook .jp-Cell").last.locator(".jp-InputPrompt, .jp-InputArea-prompt").first.click()
    page.keyboard.press("Escape")
    page.keyboard.press("b")
    page.wait_for_function(f"() => document.querySelectorAll('.jp-Notebook .jp-CodeCell').length > {count}")
    return run_cell_with(page, count, code, timeout_ms)


NUMPY_CELL = re.compile(r"\bengine\.costs\b|\bCostPlot\b|^\s*(?:import|from)\s+(?:numpy|bqplot)\b", re.M)


def needs_numpy(source: str) -> bool:
    """Whether a cell's code uses the cost simulator or CostPlot (numpy, from Pyodide's distribution)."""
    return bool(NUMPY_CELL.search(source))

