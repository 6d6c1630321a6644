"""The book in Chromium (needs /usr/bin/chromium): how fast a widget redraws after the reader's
click in JupyterLab (in the widget gallery notebook, every widget built as the chapters build it:
tests/browser/book_pages.py GALLERY_CELLS), and how long a chapter takes to open as a Voila app.

- CloneExplorer: click a flag checkbox -> the picture redrawn (first painted frame after it changed);
- SMPStepper: press a step -> the machine picture and the trace redrawn;
- SMPStepper: click a step of the trace -> the machine moved there and redrawn;
  each p95 over at least 30 interactions, goal 150 ms;
- Voila: from navigating to a chapter to every widget drawn, per chapter (our goal: 10 s).

Times are taken inside the page: from the input event's timestamp to the next animation frame
after the widget's DOM changed, so the kernel round trip and the redraw are both counted.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

from harness import Result, p95

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "browser"))

import book_pages as bp  # noqa: E402

try:
    from playwright.sync_api import Error as PlaywrightError
except ImportError:  # run() says what is missing
    PlaywrightError = Exception

INTERACTIONS = 30
WARMUP = 3
REDRAW_GOAL_MS = 150.0
VOILA_GOAL_MS = 10_000.0


def timed(page, root, act, n: int) -> list[float]:
    """Redraw times of `n` reader actions on `root`, after WARMUP untimed ones."""
    times = []
    for i in range(WARMUP + n):
        bp.watch_redraw(root)
        act()
        ms = bp.redraw_ms(page)
        if i >= WARMUP:
            times.append(ms)
    return times


@contextmanager
def widget_in_lab(context, lab, css: str):
    """(page, root): the widget gallery (book_pages.GALLERY_CELLS: every widget as the chapters build
    it) run in JupyterLab, the root `css` in view; the page and its kernel go away afterwards."""
    page = context.new_page()
    try:
        bp.open_in_lab(page, lab, bp.GALLERY)
        bp.run_all_in_lab(page)
        root = page.locator(f".jp-OutputArea-output > {css}").first
        root.scroll_into_view_if_needed()
        yield page, root
    finally:
        page.close(run_before_unload=False)
        bp.shutdown_kernels(lab)


def clone_explorer_clicks(context, lab) -> list[float]:
    with widget_in_lab(context, lab, ".ukva-clone-explorer") as (page, root):
        flag = root.locator(".ukva-flag-CLONE_FS input[type=checkbox]").first
        return timed(page, root, flag.click, INTERACTIONS)


def smp_stepper_steps(context, lab) -> list[float]:
    with widget_in_lab(context, lab, ".ukva-smp-stepper:not(.ukva-cache-aliasing)") as (page, root):
        times: list[float] = []
        enabled = root.locator(".ukva-choice:not([disabled])")
        for i in range(WARMUP + INTERACTIONS):
            if not enabled.count():  # the run ended (every button disabled): start again, not timed
                root.locator(".ukva-reset").first.click()
                enabled.first.wait_for()
            bp.watch_redraw(root)
            enabled.first.click()
            ms = bp.redraw_ms(page)
            page.wait_for_timeout(200)  # the kernel's last updates of this step land before the next
            if i >= WARMUP:
                times.append(ms)
        return times


def smp_trace_jumps(context, lab) -> list[float]:
    """Take two steps, then click the trace's rows 1 and 2 in turn (each click moves the machine)."""
    with widget_in_lab(context, lab, ".ukva-smp-stepper:not(.ukva-cache-aliasing)") as (page, root):
        root.locator(".ukva-reset").first.click()
        for k in (1, 2):
            root.locator(".ukva-choice:not([disabled])").first.click()
            root.locator(f".ukva-trace-step-{k}").first.wait_for()
        turn = [0]

        def click() -> None:
            turn[0] += 1
            root.locator(f".ukva-trace-step-{2 - turn[0] % 2}").first.click()  # 1, 2, 1, ...: each a move
        return timed(page, root, click, INTERACTIONS)


def voila_open_ms(context, voila) -> dict[str, float]:
    """Per chapter: ms from starting navigation to all its widgets drawn, in a fresh page
    (infinity for a chapter that never draws them all, e.g. one whose cell fails)."""
    out = {}
    for notebook in bp.chapters():
        page = context.new_page()
        try:
            bp.open_in_voila(page, voila, notebook)
            out[notebook] = bp.wait_for_widgets(page, bp.expected(ROOT, notebook).widgets)
        except PlaywrightError:
            out[notebook] = float("inf")
        finally:
            page.close(run_before_unload=False)
    return out


def run() -> list[Result]:
    if not bp.CHROMIUM.exists():
        raise RuntimeError(bp.INSTALL_HINT)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp_name, sync_playwright() as playwright:
        tmp = Path(tmp_name)
        book = bp.private_book(tmp)
        bp.write_gallery(book)
        lab, voila = bp.start_servers(book, tmp)
        browser = bp.launch_chromium(playwright)
        try:
            context = bp.offline_context(browser, [])
            clicks = clone_explorer_clicks(context, lab)
            steps = smp_stepper_steps(context, lab)
            jumps = smp_trace_jumps(context, lab)
            opens = voila_open_ms(context, voila)
        finally:
            browser.close()
            voila.stop()
            lab.stop()

    slowest = max(opens, key=opens.get)
    return [
        Result("browser: CloneExplorer flag click -> redrawn, p95", p95(clicks), "ms", REDRAW_GOAL_MS,
               detail=f"JupyterLab, {len(clicks)} clicks, median {statistics.median(clicks):.0f} ms"),
        Result("browser: SMPStepper step -> machine and trace redrawn, p95", p95(steps), "ms", REDRAW_GOAL_MS,
               detail=f"JupyterLab, {len(steps)} steps, median {statistics.median(steps):.0f} ms"),
        Result("browser: SMPStepper trace row click -> machine moved there, p95", p95(jumps), "ms", REDRAW_GOAL_MS,
               detail=f"JupyterLab, {len(jumps)} clicks, median {statistics.median(jumps):.0f} ms"),
        Result("browser: Voila open -> widgets drawn, slowest chapter", opens[slowest], "ms",
               VOILA_GOAL_MS, detail=f"{slowest}; " + ", ".join(
                   f"{nb[:2]} {ms / 1000:.1f}s" if ms < float("inf") else f"{nb[:2]} never drew all its widgets"
                   for nb, ms in opens.items())),
    ]
