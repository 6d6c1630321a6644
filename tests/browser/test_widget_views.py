"""Every widget of the kit as a reader sees it in JupyterLab, at 1400 px and at 800 px with the file
panel open (about 370 px left for output), in the light and the dark theme.

One page for the module: a small notebook this module writes into the served book builds each widget
the way the chapters do (chapter 06's unsafe-update machine played from the model checker's trace),
so the tests do not depend on the chapters' stored text. Checked: nothing is wider than its output
area unless it sits in a box that scrolls sideways, nothing is clipped; CostPlot shows four plots;
the machine marks a TLB entry `ukva-stale` from the step of the trace that makes it stale; the
trace has one `ukva-trace-step` per step and clicking one moves the machine there. Screenshots of
each widget before and after its main interaction, at both widths, go to artifacts/screenshots/.
"""

from __future__ import annotations

import book_pages as bp
import pytest
from interactions import INTERACTIONS, kind_of

NOTEBOOK, CELLS, THREADS = bp.GALLERY, bp.GALLERY_CELLS, bp.THREADS
WIDGETS = len(CELLS) - 1
LAYOUTS = [(1400, "light"), (1400, "dark"), (800, "light"), (800, "dark")]
ROOTS = ".jp-OutputArea-output > .ukva-widget"

# Elements that stick out of their output area, or of a box that clips or scrolls them, unless one of
# the kit's sideways-scrolling boxes (class ukva-scroll) holds them: an ipywidgets box that scrolls
# because its content overflows counts as overflowing. [widget classes, element, px too wide, where].
OVERFLOW_JS = """() => {
  const out = [];
  for (const root of document.querySelectorAll('.jp-OutputArea-output > .ukva-widget')) {
    const area = root.closest('.jp-OutputArea-output').getBoundingClientRect();
    const name = [...root.classList].filter(c => c.startsWith('ukva-') && c !== 'ukva-widget').join(' ');
    for (const el of [root, ...root.querySelectorAll('*')]) {
      if (el.closest('svg') && el.tagName.toLowerCase() !== 'svg') continue;   // the svg box counts
      // bqplot sizes its WebGL canvas on its own schedule; the figure around it is checked and clips it
      if (el.tagName.toLowerCase() === 'canvas' && el.closest('.bqplot')) continue;
      const box = el.getBoundingClientRect();
      if (box.width === 0 || box.height === 0) continue;
      let limit = area.right, what = 'output area';
      for (let a = el.parentElement; a && a !== root.parentElement; a = a.parentElement) {
        const ox = getComputedStyle(a).overflowX;
        if (a.classList.contains('ukva-scroll')) { limit = Infinity; break; }
        if (ox !== 'visible') {
          limit = Math.min(limit, a.getBoundingClientRect().right); what = `a box (overflow ${ox})`; break;
        }
      }
      if (box.right > limit + 1) {
        const label = el.tagName.toLowerCase() + (el.className && el.className.baseVal === undefined
            ? '.' + String(el.className).trim().split(/\\s+/).slice(0, 3).join('.') : '');
        out.push([name, label, Math.round(box.right - limit), what]);
      }
    }
  }
  return out;
}"""


@pytest.fixture(scope="module")
def page(context, lab, book):
    bp.write_gallery(book)
    page = context.new_page()
    bp.open_in_lab(page, lab, NOTEBOOK)
    bp.run_all_in_lab(page)
    bp.wait_for_widgets(page, WIDGETS, timeout_ms=60_000)
    yield page
    page.set_viewport_size(bp.VIEWPORT)
    page.close(run_before_unload=False)
    bp.shutdown_kernels(lab)


def layout(page, width: int, theme: str, height: int = 900) -> None:
    """The window `width` px wide; at 800 px the file browser open beside the notebook, as a reader has it.
    (Screenshots take a tall window, so a whole widget shows at once.)"""
    page.set_viewport_size({"width": width, "height": height})
    if width < 1000:
        page.evaluate("() => window.jupyterapp.shell.activateById('filebrowser')")
    else:
        page.evaluate("() => window.jupyterapp.shell.collapseLeft()")
    if page.evaluate("() => document.body.dataset.jpThemeLight") != ("true" if theme == "light" else "false"):
        bp.lab_theme(page, theme)
    page.wait_for_timeout(600)  # the notebook re-flows and bqplot redraws to the new width


def roots(page):
    return page.locator(ROOTS)


def output_width(page) -> float:
    return page.evaluate("(css) => document.querySelector(css).closest('.jp-OutputArea-output')"
                         ".getBoundingClientRect().width", ROOTS)


def test_the_notebook_runs_and_draws_every_widget(page):
    assert bp.cell_errors(page) == []
    assert roots(page).count() == WIDGETS


@pytest.mark.parametrize("width, theme", LAYOUTS, ids=[f"{w}px-{t}" for w, t in LAYOUTS])
def test_every_widget_fits_its_output_area(page, width, theme):
    layout(page, width, theme)
    if width < 1000:
        assert output_width(page) < 480, "the file panel should leave a narrow output area"
    assert page.evaluate(OVERFLOW_JS) == []


@pytest.mark.parametrize("width", [1400, 800])
def test_cost_plot_shows_four_plots_side_by_side_or_stacked(page, width):
    layout(page, width, "light")
    plot = page.locator(f"{ROOTS}.ukva-cost-plot").first
    area = plot.evaluate("(r) => r.closest('.jp-OutputArea-output').getBoundingClientRect().toJSON()")
    figures = plot.locator(".ukva-cost-figure")
    assert figures.count() == 4
    for i in range(4):
        box = figures.nth(i).bounding_box()
        assert box["width"] > 250 and box["height"] > 150, f"plot {i} is {box['width']}x{box['height']}"
        assert area["left"] - 1 <= box["x"] and box["x"] + box["width"] <= area["right"] + 1, f"plot {i} is cut off"
    if width < 1000:  # one column: each plot below the one before
        ys = [figures.nth(i).bounding_box()["y"] for i in range(4)]
        assert ys == sorted(ys) and len(set(ys)) == 4


@pytest.mark.parametrize("width", [1400, 800])
def test_screenshots_before_and_after_each_widgets_main_interaction(page, width, screenshots):
    layout(page, width, "light", height=3000)
    for i in range(roots(page).count()):
        root = roots(page).nth(i)
        classes = root.evaluate("(r) => [...r.classList]")
        kind = kind_of(classes)
        root.scroll_into_view_if_needed()
        name = kind.removeprefix("ukva-")
        root.screenshot(path=str(screenshots / f"widget-{name}-{width}px-before.png"))
        before = bp.picture(root)
        INTERACTIONS[kind].act(root)
        assert bp.settled_picture(root) != before, f"{kind} did not redraw after the reader {INTERACTIONS[kind].what}"
        root.screenshot(path=str(screenshots / f"widget-{name}-{width}px-after.png"))
    layout(page, width, "dark", height=3000)
    for i in range(roots(page).count()):
        root = roots(page).nth(i)
        root.scroll_into_view_if_needed()
        name = kind_of(root.evaluate("(r) => [...r.classList]")).removeprefix("ukva-")
        root.screenshot(path=str(screenshots / f"widget-{name}-{width}px-dark.png"))
    assert bp.cell_errors(page) == []


def stepper(page):
    return page.locator(f"{ROOTS}.ukva-smp-stepper:not(.ukva-cache-aliasing)").first


def unsafe_trace() -> tuple[list, int]:
    """Chapter 06's counterexample (the model checker's shortest trace for per-mm with plain updates)
    and the step after which the engine first reports a stale TLB entry (Machine.stale_entries)."""
    from ukva_widgets.engine import Kernel, Machine, explore
    kernel = Kernel()
    p = kernel.fork(kernel.init)
    kernel.execve(p, "/bin/sh")
    t = kernel.clone(p, THREADS)
    machine = Machine(kernel, tasks=[p, t], cpus=2, design="per-mm", smp_safe=False)
    trace = explore(machine.fresh()).trace
    for k, choice in enumerate(trace, 1):
        machine.step(choice.label)
        if machine.stale_entries():
            return trace, k
    raise AssertionError("the unsafe trace never leaves a stale TLB entry")


def run_to_violation(root, trace: list) -> None:
    """Press "run to violation" (the interactions above may have moved the stepper) and wait for its trace."""
    root.scroll_into_view_if_needed()
    root.locator(".ukva-run-to-violation").first.click()
    root.locator(f".ukva-trace-row.ukva-current .ukva-trace-step-{len(trace)}").wait_for(timeout=30_000)


def jump(page, root, k: int) -> None:
    """Click step k of the trace and wait for the redraw: the chart's current row is the last part redrawn."""
    root.locator(f".ukva-trace-step-{k}").first.click()
    root.locator(f".ukva-trace-row.ukva-current .ukva-trace-step-{k}").wait_for(timeout=10_000)


def test_the_trace_has_one_step_button_per_step_and_a_click_moves_the_machine_there(page):
    layout(page, 1400, "light")
    trace, _ = unsafe_trace()
    root = stepper(page)
    run_to_violation(root, trace)
    assert root.locator(".ukva-trace-step").count() == len(trace)
    for k in (2, 1, len(trace)):
        jump(page, root, k)
        label = root.locator(".ukva-step-label").inner_text()
        assert label.startswith(f"step {k}: {trace[k - 1].label}")
        assert "ukva-current" in root.locator(".ukva-trace-row").nth(k - 1).get_attribute("class")


def test_a_tlb_entry_is_marked_stale_from_the_update_step_of_chapter_06s_unsafe_trace(page):
    trace, update = unsafe_trace()
    assert trace[update - 1].action in ("update", "finish")  # the step that rewrites the page table
    assert trace[-1].action == "read" and update < len(trace)  # stale before the read that uses it
    root = stepper(page)
    run_to_violation(root, trace)
    for k in range(1, len(trace) + 1):
        jump(page, root, k)
        stale = root.locator(".ukva-machine .ukva-stale")
        if k < update:
            assert stale.count() == 0, f"an entry is marked stale at step {k}, before the update (step {update})"
        else:
            assert stale.count() == 1, f"no stale entry at step {k}, after the update (step {update})"
            assert "stale: page table says v1" in stale.first.text_content()
    assert root.locator(".ukva-machine .ukva-stale.ukva-bad-read").count() == 1  # the read that used it
