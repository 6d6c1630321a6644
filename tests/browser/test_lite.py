"""The live book (`ukva site`'s lite/): chapter 04 and an exercise notebook run in Chromium with Python in the
page (Pyodide), served from 127.0.0.1 with every other request refused.

The site is built once per test session (tests/browser/lite_pages.py). numpy, which only Pyodide's own
distribution has, cannot be fetched here: the cells that need it (the cost simulator, CostPlot) must say
so plainly and the rest of the chapter must run after them.
"""

from __future__ import annotations

import json
import os
import re

import book_pages as bp
import lite_pages as lp
import nbformat
import pytest

from ukva_widgets.browser import DISTRIBUTION
from ukva_widgets.grading import check, exercise, seed_from
from ukva_widgets.grading.chapters.ch04_tlbs import FILL
from ukva_widgets.lite import packages

CHAPTER = "04-tlbs.ipynb"
EXERCISES = "exercises/04-tlbs.ipynb"


@pytest.fixture(scope="module")
def site():
    """The built site (with lite/); without npm and node it cannot be built: skip, or fail in CI."""
    missing = lp.missing_tools()
    if missing:
        if os.environ.get("UKVA_REQUIRE_BROWSER") == "1":
            pytest.fail(f"UKVA_REQUIRE_BROWSER=1 but {missing}", pytrace=False)
        pytest.skip(missing)
    return lp.built_site()


@pytest.fixture(scope="module")
def server(browser, site):
    server = lp.StaticServer(site)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def live(browser):
    """One browser context for the module: the exercise page reuses what the chapter page cached."""
    refused: list[tuple[str, str]] = []
    context = bp.offline_context(browser, refused)
    yield context, refused
    context.close()


def code_sources(path: str) -> list[str]:
    nb = nbformat.read(bp.ROOT / ("" if path.startswith("exercises/") else "notebooks") / path, as_version=4)
    return [c.source for c in nb.cells if c.cell_type == "code"]


def test_the_site_carries_the_kernel_and_the_book_and_only_compiled_packages_come_from_pyodide(site):
    site = site / "lite"
    config = json.loads((site / "jupyter-lite.json").read_text())["jupyter-config-data"]
    kernel = config["litePluginSettings"]["@jupyterlite/pyodide-kernel-extension:kernel"]
    assert kernel["pyodideUrl"] == "./static/pyodide/pyodide.mjs"
    lock = json.loads((site / "static/pyodide/pyodide-lock.json").read_text())["packages"]
    preload = kernel["loadPyodideOptions"]["packages"]
    assert set(preload) == {*packages.KERNEL, packages.BOOK}
    needed, queue = set(), [packages.canonical(n) for n in (*preload, *packages.ON_DEMAND)]
    while queue:
        name = queue.pop()
        if name not in needed:
            needed.add(name)
            queue += lock[name]["depends"]
    remote = {name for name in needed if lock[name]["file_name"].startswith("https://")}
    assert remote == {"numpy", "pandas"}
    for name in remote:
        assert lock[name]["file_name"].startswith(DISTRIBUTION.format(version=packages.pyodide_version()))
    for name in needed - remote:
        assert (site / "static/pyodide" / lock[name]["file_name"]).is_file(), name
    for name in ("ipywidgets", "comm", "traitlets", "ipython", packages.BOOK):
        assert name in needed
    for name in ("jupyter-widgets/jupyterlab-manager", "bqplot"):
        assert (site / "extensions" / f"@{name}" if "/" in name else site / "extensions" / name).is_dir()


def test_chapter_04_runs_live_and_its_smp_machine_steps(server, live, screenshots):
    context, refused = live
    page = context.new_page()
    lp.open_live(page, server, CHAPTER)
    lp.run_all(page)
    sources = code_sources(CHAPTER)
    stopped = lp.run_past_errors(page)  # continue after each cell that stops the run, as a reader does
    errors = lp.cell_errors(page)
    for i in stopped:
        assert lp.needs_numpy(sources[i]), f"cell {i} failed: {errors[i][-800:]}"
        assert "numpy, which this page loads from Pyodide's distribution" in errors[i], errors[i][-800:]
        assert "could not be loaded" in errors[i]
    assert stopped == [i for i, s in enumerate(sources) if lp.needs_numpy(s)]
    assert all(p.startswith("[") and any(ch.isdigit() for ch in p) for p in lp.prompts(page))
    # The only requests that left 127.0.0.1 were for Pyodide's compiled packages, and they were refused;
    # a chapter with no cell that needs them asks nothing of the web at all.
    assert bool(refused) == bool(stopped), refused
    assert all(url.startswith(DISTRIBUTION.format(version=packages.pyodide_version())) for _, url in refused), refused
    stepper = page.locator(".jp-OutputArea-output .ukva-smp-stepper").last
    stepper.scroll_into_view_if_needed()
    before = bp.settled_picture(stepper)
    machine = stepper.locator(".ukva-machine").inner_html()
    stepper.locator(".ukva-choice:enabled").first.click()
    assert bp.settled_picture(stepper) != before
    assert stepper.locator(".ukva-machine").inner_html() != machine
    # DesignLab's button checks in the page too, without a thread: the verdict comes with the click.
    lp.append_cell(page, 'from ukva_widgets.widgets import DesignLab\nDesignLab(design="per-task", cpus=2)')
    lab = page.locator(".jp-OutputArea-output .ukva-design-lab").last
    lab.locator(".ukva-check").click()
    lab.locator(".ukva-verdict", has_text="violation").wait_for(timeout=120_000)
    assert page.locator("#ukva-live-note a.ukva-static").get_attribute("href") == "../../notebooks/04-tlbs.html"
    bp.whole_screenshot(page, screenshots / "lite-04-tlbs.png", ".jp-WindowedPanel-outer", ".jp-NotebookPanel")
    page.close()


def test_an_exercise_notebooks_check_gives_the_same_feedback_live_as_in_jupyterlab_and_the_answer_is_kept(
        server, live):
    context, _ = live
    page = context.new_page()
    lp.open_live(page, server, EXERCISES)
    lp.run_all(page)
    assert not any(lp.cell_errors(page))
    sources = code_sources(EXERCISES)
    answer_cell = next(i for i, s in enumerate(sources) if 'check("4.3"' in s)
    problem = exercise("4.3", seed=seed_from("your.name"))
    right = {arch: FILL[arch] for arch in problem.settings["archs"]}
    wrong = {**right, "x86": "software"}
    for answer in (wrong, right):
        shown = lp.run_cell_with(page, answer_cell, f'answer_4_3 = {answer!r}\ncheck("4.3", answer_4_3)')
        expected = check("4.3", answer).text()  # what JupyterLab's kernel shows, as text
        assert " ".join(expected.split()) in " ".join(shown.split())
    assert "[4.3] correct" in shown and "not yet" not in shown
    # The reader's edit is kept in the browser's storage: saved, and there again after a reload.
    checkpoint = page.get_by_text(re.compile("^Last Checkpoint")).first
    before = checkpoint.inner_text()
    page.keyboard.press("Escape")
    page.keyboard.press("ControlOrMeta+s")
    page.wait_for_function("([e, before]) => e.textContent !== before", arg=[checkpoint.element_handle(), before],
                           timeout=30_000)
    page.reload()
    page.locator(".jp-Notebook .jp-CodeCell").first.wait_for(timeout=120_000)
    cell = page.locator(".jp-Notebook .jp-CodeCell").nth(answer_cell)
    cell.scroll_into_view_if_needed()
    from playwright.sync_api import expect

    # drawn when in view; the notebook may draw the cell again meanwhile, so the check retries
    expect(cell.locator(".cm-content")).to_contain_text(f"answer_4_3 = {right!r}", timeout=30_000)
    page.close()
