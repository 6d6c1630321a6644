"""The live book (`ukva site`'s lite/: JupyterLite, Python in the browser; needs npm, node, /usr/bin/chromium):

- build time of lite/ with an empty cache (Pyodide from the npm registry, wheels from PyPI, compiled with
  Pyodide in Node) and with a warm one (what every later `ukva site` costs);
- bytes of lite/ on disk, and the bytes a first visit to chapter 04 downloads (counted by the server);
- from opening chapter 04 (navigation start) to its first widget drawn, the reader pressing Run All as
  soon as the notebook shows: on a cold browser (empty HTTP cache) and a warm one (a second visit).
  numpy cannot be fetched here (only Pyodide's distribution has it), so the run continues past the cells
  that need it, as in tests/browser/test_lite.py; goals 20 s cold, 5 s warm.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

from harness import Result

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "browser"))

import book_pages as bp  # noqa: E402
import lite_pages as lp  # noqa: E402

CHAPTER = "04-tlbs.ipynb"
COLD_GOAL_S, WARM_GOAL_S = 20.0, 5.0


def _sources() -> list[Path]:
    from ukva_widgets.site import pages_of
    return [p.source for p in pages_of(ROOT)]


def _build(out: Path, cache: Path) -> float:
    from ukva_widgets import lite

    t0 = time.perf_counter()
    lite.build(_sources(), out / "lite", cache=cache, say=lambda _: None)
    return time.perf_counter() - t0


# Notes, on every frame, in ms since navigation start: when the notebook's cells are shown, and once the
# stored outputs are cleared (`__ukvaArmed`), when the first cell has run (the kernel has started) and when
# the first widget view is drawn.
FIRST_WIDGET_JS = f"""(() => {{
    const look = () => {{
        const now = performance.now();
        if (window.__ukvaShown === undefined && document.querySelector('.jp-Notebook .jp-CodeCell'))
            window.__ukvaShown = now;
        if (window.__ukvaArmed && window.__ukvaFirstRun === undefined && ({lp.PROMPTS_JS})().some(p => /\\d/.test(p)))
            window.__ukvaFirstRun = now;
        if (window.__ukvaArmed && ({bp.DRAWN_WIDGETS_JS})() > 0) window.__ukvaFirstWidget = now;
        else requestAnimationFrame(look);
    }};
    requestAnimationFrame(look);
}})();"""


def _first_widget_s(context, server: lp.StaticServer) -> tuple[float, str]:
    """Seconds from navigating to chapter 04 to its first widget drawn, Run All pressed at once; and where
    the time went (cells shown, first cell run: the kernel has started)."""
    page = context.new_page()
    try:
        page.add_init_script(FIRST_WIDGET_JS)
        lp.open_live(page, server, CHAPTER)
        bp.menu(page, "Edit", "Clear Outputs of All Cells")
        page.evaluate("() => { window.__ukvaArmed = true; }")
        bp.menu(page, "Run", "Run All Cells")
        lp.wait_settled(page, 600_000)
        lp.run_past_errors(page)
        page.wait_for_function("() => window.__ukvaFirstWidget !== undefined", timeout=60_000)
        shown, first_run, widget = (page.evaluate(f"() => window.__ukva{name} / 1000")
                                    for name in ("Shown", "FirstRun", "FirstWidget"))
        return widget, f"cells shown at {shown:.1f} s, first cell run (kernel started) at {first_run:.1f} s"
    finally:
        page.close()


def run() -> list[Result]:
    if not bp.CHROMIUM.exists() or lp.missing_tools():
        print(f"bench_lite skipped: {lp.missing_tools() or bp.INSTALL_HINT}", file=sys.stderr)
        return []
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="ukva-bench-lite-"))
    try:
        cold_build = _build(tmp / "cold", tmp / "cache")
        warm_build = _build(tmp / "site", tmp / "cache")
        site = tmp / "site"
        disk = sum(p.stat().st_size for p in (site / "lite").rglob("*") if p.is_file())
        server = lp.StaticServer(site)
        refused: list = []
        with sync_playwright() as playwright:
            browser = bp.launch_chromium(playwright)
            context = bp.offline_context(browser, refused)
            cold, cold_where = _first_widget_s(context, server)
            first_visit = server.bytes_sent
            warm, warm_where = _first_widget_s(context, server)
            browser.close()
        server.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    refused_note = f"{len(refused)} request(s) to Pyodide's distribution refused (numpy)"
    return [
        Result("lite: build, empty cache (fetch + compile + build)", cold_build, "s", 600.0),
        Result("lite: build, warm cache", warm_build, "s", 300.0),
        Result("lite: site size on disk", disk / 1e6, "MB", 100.0),
        Result("lite: first visit downloads (chapter 04)", first_visit / 1e6, "MB", 60.0),
        Result("lite: chapter 04 to first widget, cold browser", cold, "s", COLD_GOAL_S,
               detail=f"{cold_where}; {refused_note}"),
        Result("lite: chapter 04 to first widget, warm browser", warm, "s", WARM_GOAL_S, detail=warm_where),
    ]
