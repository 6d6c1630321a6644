"""Every widget of the kit as a reader sees it in JupyterLab, at 1400 px and at 800 px with the file
panel open (about 365 px left for output), in the light and the dark theme.

One page for the module: a small notebook this module writes into the served book builds each widget
the way the chapters do (chapter 06's unsafe-update machine played from the model checker's trace),
so the tests do not depend on the chapters' stored text. Checked, at both widths and in both themes:
nothing is wider than its output area, no box needs scrolling sideways, no drawn text is clipped by
its picture or shrunk below 11 px; no white slab in the dark theme. And: CostPlot shows its three
plots; the machine marks a TLB entry `ukva-stale` from the step of the trace that makes it stale; the
trace has one `ukva-trace-step` per step and clicking one moves the machine there; a step taken from
the keyboard moves the focus to its new trace row and updates the aria-live headline; the choice
buttons keep their places (disabled, never removed); folds open with real buttons; the focus ring
is a visible 3 px.  Screenshots of each widget before and after its main interaction, at both widths,
light and dark, go to artifacts/screenshots/.
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
def test_cost_plot_shows_its_three_plots_side_by_side_or_stacked(page, width):
    layout(page, width, "light")
    plot = page.locator(f"{ROOTS}.ukva-cost-plot").first
    area = plot.evaluate("(r) => r.closest('.jp-OutputArea-output').getBoundingClientRect().toJSON()")
    figures = plot.locator(".ukva-cost-figure")
    assert figures.count() == 3
    for i in range(3):
        box = figures.nth(i).bounding_box()
        assert box["width"] > 250 and box["height"] > 150, f"plot {i} is {box['width']}x{box['height']}"
        assert area["left"] - 1 <= box["x"] and box["x"] + box["width"] <= area["right"] + 1, f"plot {i} is cut off"
    if width < 1000:  # one column: each plot below the one before
        ys = [figures.nth(i).bounding_box()["y"] for i in range(3)]
        assert ys == sorted(ys) and len(set(ys)) == 3


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
        bp.watch_redraw(root)  # wait for the first redraw (a busy kernel may take a while), then for calm
        INTERACTIONS[kind].act(root)
        bp.redraw_ms(page, timeout_ms=30_000)
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
        stale = root.locator(".ukva-machine .ukva-stale:visible")
        if k < update:
            assert stale.count() == 0, f"an entry is marked stale at step {k}, before the update (step {update})"
        else:
            assert stale.count() == 1, f"no stale entry at step {k}, after the update (step {update})"
            assert "stale: page table says files#2 v1" in stale.first.get_attribute("class") + \
                stale.first.locator("title").text_content()
    assert root.locator(".ukva-machine .ukva-stale.ukva-bad-read:visible").count() == 1  # the read that used it


# Nothing a reader should see is cut off: no box inside a widget needs scrolling sideways, and every
# text drawn in a picture lies inside that picture and the output area, at 11 px or more as drawn
# (a picture scales with its box). [widget classes, what, how].
CLIPPED_JS = """() => {
  const out = [];
  const seen = e => { const b = e.getBoundingClientRect(); return b.width > 0 && b.height > 0; };
  for (const root of document.querySelectorAll('.jp-OutputArea-output > .ukva-widget')) {
    const name = [...root.classList].filter(c => c.startsWith('ukva-') && c !== 'ukva-widget').join(' ');
    const area = root.closest('.jp-OutputArea-output').getBoundingClientRect();
    for (const box of root.querySelectorAll('*')) {
      if (box.closest('svg') || !seen(box)) continue;
      if (box.scrollWidth > box.clientWidth + 1 && getComputedStyle(box).overflowX !== 'visible')
        out.push([name, box.tagName.toLowerCase() + '.' + [...box.classList].slice(0, 2).join('.'),
                  `needs scrolling sideways: ${box.scrollWidth} > ${box.clientWidth}`]);
    }
    for (const svg of root.querySelectorAll('svg[viewBox]')) {
      if (!seen(svg) || svg.closest('.bqplot')) continue;
      const frame = svg.getBoundingClientRect();
      const scale = frame.width / svg.viewBox.baseVal.width;
      for (const text of svg.querySelectorAll('text')) {
        const b = text.getBoundingClientRect();
        if (!b.width) continue;
        const px = parseFloat(getComputedStyle(text).fontSize) * scale;
        if (px < 10.9) out.push([name, `"${text.textContent}"`, `drawn at ${px.toFixed(1)} px`]);
        if (b.left < frame.left - 1 || b.right > frame.right + 1 || b.top < frame.top - 1 || b.bottom > frame.bottom + 1)
          out.push([name, `"${text.textContent}"`, 'outside its picture']);
        if (b.right > area.right + 1 || b.left < area.left - 1)
          out.push([name, `"${text.textContent}"`, 'outside the output area']);
      }
    }
  }
  return out;
}"""

# In the dark theme: any sizeable box or shape painted near-white or light grey (a "slab"). A yellow
# change chip with black words is meant to stand out and is not grey. [widget, element, colour, size].
WHITE_SLABS_JS = """() => {
  const out = [];
  const light = c => {
    const m = c && c.match(/rgba?\\(([\\d.]+), ([\\d.]+), ([\\d.]+)(?:, ([\\d.]+))?/);
    if (!m) return false;
    const [r, g, b] = [m[1], m[2], m[3]].map(Number), a = m[4] === undefined ? 1 : Number(m[4]);
    const lum = (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
    return a > 0.5 && lum > 0.7 && Math.max(r, g, b) - Math.min(r, g, b) < 40;
  };
  for (const root of document.querySelectorAll('.jp-OutputArea-output > .ukva-widget')) {
    const name = [...root.classList].filter(c => c.startsWith('ukva-') && c !== 'ukva-widget').join(' ');
    for (const el of [root, ...root.querySelectorAll('*')]) {
      const b = el.getBoundingClientRect();
      if (Math.min(b.width, b.height) < 12) continue;  // a line or a track is not a slab
      const style = getComputedStyle(el);
      if (['text', 'tspan'].includes(el.tagName.toLowerCase())) continue;  // its fill is the text colour
      const paint = el instanceof SVGElement ? style.fill : style.backgroundColor;
      if (light(paint)) out.push([name, el.tagName.toLowerCase() + '.' + String(el.className.baseVal ?? el.className)
                                  .split(' ').slice(0, 2).join('.'), paint, `${Math.round(b.width)}x${Math.round(b.height)}`]);
    }
  }
  return out;
}"""


@pytest.mark.parametrize("width, theme", LAYOUTS, ids=[f"{w}px-{t}" for w, t in LAYOUTS])
def test_nothing_is_clipped_and_no_drawn_text_is_below_11px(page, width, theme):
    layout(page, width, theme)
    assert page.evaluate(CLIPPED_JS) == []


@pytest.mark.parametrize("width", [1400, 800])
def test_no_white_slabs_in_the_dark_theme(page, width):
    layout(page, width, "dark")
    assert page.evaluate(WHITE_SLABS_JS) == []


def fresh_stepper(page):
    """The gallery's stepper, reset to its start (earlier tests may have moved it)."""
    root = stepper(page)
    root.scroll_into_view_if_needed()
    root.locator(".ukva-reset").first.click()
    root.locator(".ukva-trace-row.ukva-current").first.wait_for(state="detached", timeout=10_000)
    return root


def choice_boxes(root) -> list[tuple]:
    """Each choice button's tooltip and box, relative to the widget (the notebook may scroll)."""
    return root.evaluate(
        "(root) => { const o = root.getBoundingClientRect(); return [...root.querySelectorAll('.ukva-choice')]"
        ".map(b => { const r = b.getBoundingClientRect(); return [b.title.split(': ')[0], Math.round(r.x - o.x), "
        "Math.round(r.y - o.y), Math.round(r.width), Math.round(r.height)]; }); }")


@pytest.mark.parametrize("width", [1400, 800])
def test_a_step_taken_from_the_keyboard_moves_the_focus_to_its_row_and_the_headline_announces_it(page, width):
    layout(page, width, "light")
    root = fresh_stepper(page)
    live = root.locator(".ukva-headline [aria-live='polite']")
    assert live.count() == 1 and live.get_attribute("role") == "status"
    before = live.inner_text()
    choice = root.locator(".ukva-choice:enabled").first
    label = choice.get_attribute("title")
    choice.focus()
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.activeElement && "
                           "document.activeElement.classList.contains('ukva-trace-step-1')", timeout=10_000)
    assert live.inner_text() != before and live.inner_text().startswith(f"step 1: {label}")
    ring = page.evaluate("() => { const s = getComputedStyle(document.activeElement); "
                         "return [s.outlineStyle, parseFloat(s.outlineWidth)]; }")
    assert ring[0] != "none" and ring[1] >= 3, f"the focus ring is {ring}"


@pytest.mark.parametrize("width", [1400, 800])
def test_choice_buttons_keep_their_places_disabled_not_removed(page, width):
    layout(page, width, "light")
    root = fresh_stepper(page)
    before = choice_boxes(root)
    assert root.locator(".ukva-choice:disabled").count() > 0 and root.locator(".ukva-choice:enabled").count() > 0
    for k in (1, 2):
        root.locator(".ukva-choice:enabled").first.click()
        root.locator(f".ukva-trace-row.ukva-current .ukva-trace-step-{k}").wait_for(timeout=10_000)
        assert choice_boxes(root) == before, f"the buttons moved after step {k}"


def test_folds_open_with_real_buttons_from_the_keyboard(page):
    layout(page, 1400, "light")
    assert page.locator(f"{ROOTS} .jupyter-widget-Collapse-header, {ROOTS} .lm-AccordionPanel-title").count() == 0
    headers = page.locator(f"{ROOTS} .ukva-fold-header")
    assert headers.count() >= 2
    assert set(headers.evaluate_all("hs => hs.map(h => h.tagName)")) == {"BUTTON"}
    fold = page.locator(f"{ROOTS}.ukva-cache-aliasing .ukva-machine-fold").first
    fold.scroll_into_view_if_needed()
    picture = fold.locator(".ukva-machine")
    assert picture.is_hidden()
    fold.locator(".ukva-fold-header").focus()
    page.keyboard.press("Enter")
    picture.wait_for(state="visible", timeout=10_000)
    page.keyboard.press("Space")
    picture.wait_for(state="hidden", timeout=10_000)


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_in_voila_too_nothing_is_clipped_at_either_width_and_no_white_slabs_in_dark(page, context, voila, theme,
                                                                                    screenshots):
    app = context.new_page()  # `page` wrote the gallery into the served book
    try:
        bp.open_in_voila(app, voila, NOTEBOOK, theme=theme)
        bp.wait_for_widgets(app, WIDGETS, timeout_ms=120_000)
        for width in (1400, 800):
            app.set_viewport_size({"width": width, "height": 900})
            app.wait_for_timeout(600)
            assert app.evaluate(OVERFLOW_JS) == [], f"{width} px, {theme}"
            assert app.evaluate(CLIPPED_JS) == [], f"{width} px, {theme}"
            if theme == "dark":
                assert app.evaluate(WHITE_SLABS_JS) == [], f"{width} px"
            for i in range(app.locator(ROOTS).count()):
                root = app.locator(ROOTS).nth(i)
                root.scroll_into_view_if_needed()
                name = kind_of(root.evaluate("(r) => [...r.classList]")).removeprefix("ukva-")
                root.screenshot(path=str(screenshots / f"voila-{name}-{width}px-{theme}.png"))
        assert bp.cell_errors(app) == []
    finally:
        app.close(run_before_unload=True)
