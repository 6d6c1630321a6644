"""DesignLab's "check all interleavings" as a reader uses it, in JupyterLab and in Voila, on a machine
too big to check at once: the button starts the search, its progress line counts states while the
notebook stays usable, "cancel" stops it and the verdict says "cancelled"; past its bound the
verdict offers SPIN (or says why SPIN cannot run here), whose search shows progress and cancels too.

Screenshots of the lab before, while and after a check, at 1400 px and at 800 px with the file
panel open, light and dark, go to artifacts/screenshots/design-lab-check-*.png.
"""

from __future__ import annotations

import re

import book_pages as bp
import nbformat
import pytest
from interactions import press
from test_widget_views import LAYOUTS, OVERFLOW_JS, layout

from ukva_widgets.widgets.design_lab import spin_missing

NOTEBOOK = "design-lab-check.ipynb"
# The lab searches part by part, which settles any machine it can build in a moment; these tests need
# a search that runs for minutes, so the notebook has the lab search each machine whole.  BIG: per-task
# with software refill and PCID, 4 CPUs, 4 processes (millions of states); BOUNDED: a per-MM machine
# with a shared page on a virtual cache, bounded so that it stops at once and offers SPIN, whose
# search of it runs for minutes too.
WHOLE = ("import ukva_widgets.widgets.design_lab as design_lab\n"
         "from ukva_widgets.engine import explore\n"
         "design_lab.explore = lambda machine, **options: explore(machine, parts=False, **options)")
BIG = ('DesignLab(design="per-task", fill="software", pcid=True, workload="processes", tasks=4, cpus=4, '
       'max_states=20_000_000)')
BOUNDED = ('DesignLab(design="per-mm", workload="processes", tasks=4, cpus=4, pcid=True, cache="virtual", '
           'shared_page=True, max_states=2_000)')
CELLS = [f"from ukva_widgets.widgets import DesignLab\n{WHOLE}", f"big = {BIG}\nbig", f"bounded = {BOUNDED}\nbounded"]
ROOTS = ".jp-OutputArea-output > .ukva-design-lab"


@pytest.fixture(scope="module")
def page(context, lab, book):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, book / "notebooks" / NOTEBOOK)
    page = context.new_page()
    bp.open_in_lab(page, lab, NOTEBOOK)
    bp.run_all_in_lab(page)
    bp.wait_for_widgets(page, 2, timeout_ms=60_000)
    yield page
    page.set_viewport_size(bp.VIEWPORT)
    page.close(run_before_unload=False)
    bp.shutdown_kernels(lab)


def progress_text(root) -> str:
    return root.locator(".ukva-progress").inner_text()


def start_check(root) -> str:
    """Press check and wait for the first progress report (it names states and their rate)."""
    press(".ukva-check")(root)
    root.locator(".ukva-cancel").wait_for(state="visible", timeout=30_000)
    root.locator(".ukva-progress", has_text="states/s").wait_for(timeout=30_000)
    return progress_text(root)


def unchecked(root) -> None:
    """Back to "not checked yet" (an earlier test may have left a verdict): one task less and back."""
    handle = root.locator(".ukva-tasks-slider .noUi-handle").first
    handle.focus()
    handle.press("ArrowLeft")
    root.locator(".ukva-workload-note", has_text="3 processes").wait_for(timeout=30_000)
    handle.press("ArrowRight")  # the slider sends its value a moment later: wait until the lab has it
    root.locator(".ukva-workload-note", has_text="4 processes").wait_for(timeout=30_000)
    root.locator(".ukva-verdict", has_text="not checked yet").wait_for(timeout=30_000)


def cancel_check(root) -> None:
    press(".ukva-cancel")(root)
    root.locator(".ukva-verdict", has_text="cancelled").wait_for(timeout=30_000)


def test_check_shows_changing_progress_and_cancel_stops_it_with_cancelled_shown(page):
    layout(page, 1400, "light")
    root = page.locator(ROOTS).first
    root.scroll_into_view_if_needed()
    first = start_check(root)
    assert re.search(r"[\d,]+ states in [\d.]+ s \([\d,]+ states/s\)", first), first
    # The kernel is free while the search runs: the count moves on from one report to the next.
    page.wait_for_function("([root, before]) => root.querySelector('.ukva-progress').innerText !== before",
                           arg=[root.element_handle(), first], timeout=30_000)
    # Nothing that would change the machine can be touched while it runs.
    assert root.locator(".ukva-check").is_disabled() and root.locator(".ukva-design select").is_disabled()
    assert root.locator(".ukva-cpus-slider .noUi-target[disabled]").count() == 1
    cancel_check(root)
    assert root.locator(".ukva-progress").is_hidden() and root.locator(".ukva-cancel").is_hidden()
    assert "not proven" in root.locator(".ukva-verdict").inner_text()
    assert root.locator(".ukva-check").is_enabled() and root.locator(".ukva-design select").is_enabled()
    assert bp.cell_errors(page) == []


def test_past_its_bound_the_verdict_offers_spin_or_says_why_not(page):
    layout(page, 1400, "light")
    root = page.locator(ROOTS).nth(1)
    root.scroll_into_view_if_needed()
    unchecked(root)
    press(".ukva-check")(root)
    root.locator(".ukva-verdict", has_text="not proven").wait_for(timeout=60_000)
    button, missing = root.locator(".ukva-check-spin"), root.locator(".ukva-spin-missing")
    # The offer is sent before the verdict; the browser may draw them a moment apart.
    root.locator(".ukva-check-spin:visible, .ukva-spin-missing:visible").first.wait_for(timeout=10_000)
    assert button.is_visible() != bool(missing.inner_text().strip())
    if not button.is_visible():
        assert "SPIN" in missing.inner_text() and missing.is_visible()
        assert spin_missing() is not None, "SPIN runs here, yet the lab does not offer it"
        return
    # SPIN on this machine runs for minutes too: its progress shows, and cancel stops it.
    button.click()
    root.locator(".ukva-progress", has_text=re.compile("SPIN builds its verifier|with SPIN: .*states/s")).wait_for(
        timeout=30_000)
    cancel_check(root)
    assert "cancelled (SPIN)" in root.locator(".ukva-verdict").inner_text()
    assert "not proven" in root.locator(".ukva-verdict").inner_text()
    assert bp.cell_errors(page) == []


@pytest.mark.parametrize("width, theme", LAYOUTS, ids=[f"{w}px-{t}" for w, t in LAYOUTS])
def test_screenshots_before_while_and_after_a_check(page, screenshots, width, theme):
    layout(page, width, theme, height=2400)
    root = page.locator(ROOTS).first
    root.scroll_into_view_if_needed()
    shot = str(screenshots / f"design-lab-check-{width}px-{theme}-{{}}.png")
    unchecked(root)
    root.screenshot(path=shot.format("before"))
    start_check(root)
    root.screenshot(path=shot.format("while"))
    assert page.evaluate(OVERFLOW_JS) == []
    cancel_check(root)
    root.screenshot(path=shot.format("after"))
    bounded = page.locator(ROOTS).nth(1)
    bounded.scroll_into_view_if_needed()
    unchecked(bounded)
    press(".ukva-check")(bounded)
    bounded.locator(".ukva-verdict", has_text="not proven").wait_for(timeout=60_000)
    bounded.screenshot(path=shot.format("bound"))
    assert page.evaluate(OVERFLOW_JS) == []
    if spin_missing() is None:
        bounded.locator(".ukva-check-spin").click()
        bounded.locator(".ukva-progress", has_text=re.compile("with SPIN: .*states/s")).wait_for(timeout=60_000)
        bounded.screenshot(path=shot.format("spin-while"))
        cancel_check(bounded)
        bounded.screenshot(path=shot.format("spin-after"))


def test_in_voila_too_check_shows_progress_and_cancel_stops_it(page, context, voila):
    app = context.new_page()  # `page` wrote the notebook into the served book
    try:
        bp.open_in_voila(app, voila, NOTEBOOK)
        bp.wait_for_widgets(app, 2, timeout_ms=60_000)
        root = app.locator(ROOTS).first
        root.scroll_into_view_if_needed()
        first = start_check(root)
        app.wait_for_function("([root, before]) => root.querySelector('.ukva-progress').innerText !== before",
                              arg=[root.element_handle(), first], timeout=30_000)
        cancel_check(root)
        assert bp.cell_errors(app) == []
    finally:
        app.close(run_before_unload=False)
