"""The book as a reader's browser sees it: starting the JupyterLab and Voila servers on a private copy
of the chapters, driving Debian's Chromium with Playwright, and reading what is drawn from the DOM.

Shared by the browser tests (tests/browser/) and the browser benchmark (benchmarks/bench_browser.py),
so both measure the same thing in the same way.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat

from ukva_widgets.serving import Server, chapter_url_path, free_port, lab_server, voila_server

if TYPE_CHECKING:  # only for the hints: without Playwright the browser tests skip, this must import
    from playwright.sync_api import Browser, BrowserContext, Locator, Page, Playwright

# The book under test: this checkout, or another one named by UKVA_BOOK_ROOT.
ROOT = Path(os.environ.get("UKVA_BOOK_ROOT") or Path(__file__).resolve().parents[2]).resolve()
# Debian's Chromium; UKVA_CHROMIUM names another build (e.g. /usr/bin/chromium-browser elsewhere).
CHROMIUM = Path(os.environ.get("UKVA_CHROMIUM") or "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--disable-quic", "--no-first-run",
]
INSTALL_HINT = (f"the browser tests need Debian's Chromium at {CHROMIUM}: apt-get install chromium "
                "(or set UKVA_CHROMIUM to a Chromium binary)")
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
STDERR_MIME = "application/vnd.jupyter.stderr"
# Anything not served by our own servers: a CDN, the news feed, a font host.
NOT_LOCAL = re.compile(r"^(?!(?:https?|wss?)://(?:127\.0\.0\.1|localhost)[:/])[a-z]+://")
VIEWPORT = {"width": 1280, "height": 900}

# JupyterLab settings for the test server (a temporary JUPYTERLAB_SETTINGS_DIR, never the user's):
# no news or update checks, no extension manager (it asks PyPI), every cell kept in the DOM so the
# tests can read all of a chapter, no blank screen after the last cell (it would pad the
# screenshots), and no autosave (the copy served is never written back anyway).
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/extensionmanager-extension/plugin": {"enabled": False},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none", "scrollPastEnd": False},
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/apputils-extension/themes": {"theme": "JupyterLab Light"},
}
THEMES = {"light": "JupyterLab Light", "dark": "JupyterLab Dark"}


# Every widget of the kit, built as the chapters build them (chapter 06's unsafe-update machine played
# from the model checker's trace), in a notebook of its own: the widget tests and the browser benchmark
# use it, so they do not depend on the chapters' stored text.
GALLERY = "widget-views.ipynb"
THREADS = "CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD"
GALLERY_CELLS = [
    f"""from ukva_widgets.engine import Kernel, Machine, explore
from ukva_widgets.widgets import (AddressSpaceMap, CacheAliasing, CloneExplorer, CostPlot, DesignLab,
                                  MeasureChart, SMPStepper, TaskTree)
k = Kernel()
p = k.fork(k.init)
k.execve(p, "/bin/sh")
t = k.clone(p, "{THREADS}")
u = k.clone(p, "CLONE_VM|CLONE_SIGHAND")
unsafe = explore(Machine(k, tasks=[p, t], cpus=2, design="per-mm", smp_safe=False))""",
    'CloneExplorer(flags="CLONE_VM|CLONE_FILES")',
    f"""life = TaskTree(script=["sh = fork init", "execve sh /bin/sh", "t = clone sh {THREADS}",
                        "c = clone sh CLONE_FILES", "exit c 3", "wait sh", "execve t /bin/ls"])
life.position = len(life.calls)
life""",
    """stepper = SMPStepper(Machine(k, tasks=[p, t], cpus=2, design="per-mm", smp_safe=False))
stepper.play(unsafe.trace)
stepper""",
    """lab = DesignLab(design="per-task", fill="hardware", cpus=2, workload="threads")
lab.check()
lab""",
    "CacheAliasing()",
    'AddressSpaceMap(machine=Machine(k, tasks=[p, u], cpus=2, design="per-mm", slots="dynamic"))',
    "CostPlot(threads=16, cpus=4)",
    "MeasureChart()",  # the reference machine until "Measure this machine" is pressed
]


def write_gallery(book: Path) -> Path:
    """Write the widget gallery notebook into `book`/notebooks (a private copy the servers serve)."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in GALLERY_CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = book / "notebooks" / GALLERY
    nbformat.write(nb, path)
    return path


def chapters(root: Path = ROOT) -> list[str]:
    """The chapter files (NN-slug.ipynb) in `root/notebooks`, in reading order."""
    return sorted(p.name for p in (root / "notebooks").glob("[0-9][0-9]-*.ipynb"))


@dataclass(frozen=True)
class Expected:
    """What a chapter should show once run, read from its stored (executed) form."""

    code_cells: int
    widgets: int          # widget views among the outputs


def expected(root: Path, notebook: str) -> Expected:
    nb = nbformat.read(root / "notebooks" / notebook, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    widgets = sum(WIDGET_MIME in o.get("data", {}) for c in code for o in c.get("outputs", []))
    return Expected(len(code), widgets)


def private_book(tmp: Path, root: Path = ROOT) -> Path:
    """A copy of the book (the chapters and the student exercises, as a learner's copy has them) for
    the test servers, so nothing a test does can touch the real ones."""
    shutil.copytree(root / "notebooks", tmp / "notebooks",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    shutil.copytree(root / "exercises", tmp / "exercises",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "solutions"))
    return tmp


def lab_environment(tmp: Path) -> dict[str, str]:
    """The environment of the test JupyterLab: its own settings and workspaces folders."""
    settings = tmp / "lab-settings"
    for plugin, values in LAB_SETTINGS.items():
        path = settings / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    (tmp / "lab-workspaces").mkdir(exist_ok=True)
    return {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(settings),
            "JUPYTERLAB_WORKSPACES_DIR": str(tmp / "lab-workspaces"), "PYTHONHASHSEED": "0"}


def start_servers(book: Path, tmp: Path) -> tuple[Server, Server]:
    """One JupyterLab and one Voila on free ports, each with its own token; logs go to `tmp`."""
    env = lab_environment(tmp)
    # The app handle lets a test switch theme the way the Settings menu does, without menu clicks.
    lab = lab_server(book, free_port(), secrets.token_hex(16),
                     extra=["--LabApp.expose_app_in_browser=True"])
    voila = voila_server(book, free_port(), secrets.token_hex(16),
                         extra=["--VoilaConfiguration.show_tracebacks=True"])
    lab.start(env=env, log=tmp / "jupyterlab.log")
    try:
        voila.start(env=env, log=tmp / "voila.log")
    except BaseException:
        lab.stop()
        raise
    return lab, voila


def launch_chromium(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)


def offline_context(browser: Browser, blocked: list[tuple[str, str]], **options) -> BrowserContext:
    """A browser context where every request to anything but our local servers fails, as offline;
    each refused request is noted in `blocked` as (resource type, URL)."""
    context = browser.new_context(viewport=VIEWPORT, **options)

    def refuse(route) -> None:
        blocked.append((route.request.resource_type, route.request.url))
        route.abort("internetdisconnected")

    context.route(NOT_LOCAL, refuse)
    return context


# --- reading the page --------------------------------------------------------------------------

# The "picture" of a widget: its DOM with the controls a reader operates taken out, so that a
# change can only come from the widget redrawing, not from the checkbox or slider itself.
PICTURE_JS = """
(root) => {
  const copy = root.cloneNode(true);
  copy.querySelectorAll('input, select, .widget-readout, .widget-button, button, .noUi-target')
      .forEach(e => e.remove());
  return copy.innerHTML;
}
"""

# Start watching `root` before an interaction: resolves with the milliseconds from the reader's
# input event to the first frame painted after the picture changed.
WATCH_JS = """
([root, picture]) => {
  const before = picture(root);
  let t0 = null;
  const mark = e => { if (t0 === null) t0 = e.timeStamp; };
  for (const type of ['pointerdown', 'keydown', 'input', 'change'])
    root.addEventListener(type, mark, {capture: true});
  window.__ukvaRedraw = new Promise(resolve => {
    const observer = new MutationObserver(() => {
      if (t0 === null || picture(root) === before) return;
      observer.disconnect();
      requestAnimationFrame(() => resolve(performance.now() - t0));
    });
    observer.observe(root, {subtree: true, childList: true, attributes: true, characterData: true});
  });
}
"""


def picture(locator: Locator) -> str:
    return locator.evaluate(PICTURE_JS)


def watch_redraw(locator: Locator) -> None:
    """Arm a redraw timer on `locator`; `redraw_ms(page)` then waits for the redraw it times."""
    locator.evaluate(f"(root) => ({WATCH_JS})([root, {PICTURE_JS}])")


def redraw_ms(page: Page, timeout_ms: float = 10_000) -> float:
    return page.evaluate(
        "(t) => Promise.race([window.__ukvaRedraw, new Promise((_, no) => setTimeout("
        "() => no(new Error('the widget did not redraw within ' + t + ' ms')), t))])", timeout_ms)


def settled_picture(root: Locator, timeout_ms: float = 60_000) -> str:
    """The widget's picture once it stops changing (and shows no `.ukva-progress` any more):
    one action may redraw in several steps, e.g. 'exploring...' and then the verdict."""
    return root.evaluate(f"""(root, timeout) => new Promise((resolve, reject) => {{
        const picture = {PICTURE_JS};
        const busy = () => [...root.querySelectorAll('.ukva-progress')].some(e => e.offsetParent);
        const start = performance.now();
        let last = picture(root), since = start;
        const tick = () => {{
            const now = performance.now(), seen = picture(root);
            if (seen !== last || busy()) {{ last = seen; since = now; }}
            else if (now - since >= 500) return resolve(seen);
            if (now - start > timeout) return reject(new Error('the widget kept changing'));
            setTimeout(tick, 100);
        }};
        tick();
    }})""", timeout_ms)


# A widget view's output: JupyterLab and Voila put the drawn view straight in the output area.
WIDGET_OUTPUT = ".jp-OutputArea-output:has(> .jupyter-widgets)"
DRAWN_WIDGETS_JS = f"""() => [...document.querySelectorAll('{WIDGET_OUTPUT}')]
    .filter(o => o.getBoundingClientRect().height > 0).length"""


def rendered_widget_count(page: Page) -> int:
    """Widget outputs that hold a drawn, visible widget view."""
    return page.evaluate(DRAWN_WIDGETS_JS)


def undrawn_figures(page: Page) -> list[str]:
    """bqplot figures that are not drawn as an SVG with marks in it, described for a message."""
    return page.evaluate("""() => [...document.querySelectorAll('.bqplot.figure')]
        .map((fig, i) => {
          const svg = fig.querySelector('svg.svg-figure') || fig.querySelector('svg');
          if (!svg) return `figure ${i}: no <svg>`;
          const box = svg.getBoundingClientRect();
          if (box.width < 10 || box.height < 10) return `figure ${i}: svg is ${box.width}x${box.height}`;
          // marks are the shapes that are not the background, the event catcher or an axis
          const marks = [...svg.querySelectorAll('path, rect, circle, line, polygon, ellipse')]
            .filter(e => !e.closest('.axis, .svg-background, .plotarea_background, .plotarea_events,'
                                    + ' .g_legend, defs, clipPath'));
          if (!marks.length) return `figure ${i}: no marks drawn`;
          return null;
        }).filter(Boolean)""")


def cell_errors(page: Page) -> list[str]:
    """The text of every error or stderr output shown (a warning a reader sees counts too), and
    every widget that failed to display."""
    return page.evaluate(f"""() => [
        ...[...document.querySelectorAll(
                '[data-mime-type="{STDERR_MIME}"], .jp-OutputArea-output.jp-mod-error')]
            .map(e => e.textContent.trim().slice(0, 400)),
        ...[...document.querySelectorAll('.jp-OutputArea-output, .jp-Cell-outputWrapper')]
            .filter(e => /Error displaying widget|There was an error when executing cell/.test(e.textContent))
            .map(e => e.textContent.trim().slice(0, 400)),
    ]""")


# --- JupyterLab ------------------------------------------------------------------------------

def open_in_lab(page: Page, lab: Server, notebook: str) -> None:
    """Open a chapter with a fresh workspace and wait for its kernel to be idle."""
    page.goto(lab.url(chapter_url_path(lab, notebook), reset=""))
    page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
    wait_kernel_idle(page, 60_000)


def wait_kernel_idle(page: Page, timeout_ms: float) -> None:
    """Wait for the status bar to say the chapter's kernel is started and idle."""
    page.locator(".jp-StatusBar-TextItem", has_text=re.compile(r"^Python 3.*\| Idle$")).wait_for(
        timeout=timeout_ms)


def kernel_dialogs(page: Page) -> list[str]:
    return page.locator(".jp-Dialog").all_inner_texts()


def run_all_in_lab(page: Page, timeout_ms: float = 120_000) -> None:
    """Edit > Clear Outputs of All Cells, then Run > Run All Cells, as a reader does, and wait
    until every code cell has run (clearing first makes the stored prompts unmistakable from new)."""
    menu(page, "Edit", "Clear Outputs of All Cells")
    page.wait_for_function("""() => [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
        .every(p => !/\\d/.test(p.textContent))""", timeout=timeout_ms)
    menu(page, "Run", "Run All Cells")
    page.wait_for_function("""() => {
        const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
            .map(p => p.textContent.trim());
        return prompts.length > 0 && prompts.every(p => /^\\[\\d+\\]:$/.test(p));
    }""", timeout=timeout_ms, polling=200)
    wait_kernel_idle(page, timeout_ms)


def menu(page: Page, top: str, item: str) -> None:
    """Click a main-menu entry, e.g. menu(page, "Run", "Run All Cells")."""
    page.locator(f'.lm-MenuBar-itemLabel:text-is("{top}")').click()
    page.locator(f'.lm-Menu-itemLabel:text-is("{item}")').click()


def lab_theme(page: Page, theme: str) -> None:
    """Switch JupyterLab's theme (Settings > Theme) and wait until it is applied."""
    name = THEMES[theme]
    page.evaluate("(t) => window.jupyterapp.commands.execute('apputils:change-theme', {theme: t})", name)
    page.wait_for_function("(t) => document.body.dataset.jpThemeName === t", arg=name, timeout=30_000)
    page.wait_for_timeout(500)  # CSS variables of the new theme reach bqplot's SVG on the next frames


def lab_screenshot(page: Page, path: Path) -> None:
    """The whole chapter in one picture, without the side bars, scrolled to its start."""
    page.evaluate("() => { window.jupyterapp.shell.collapseLeft(); "
                  "window.jupyterapp.shell.collapseRight(); }")
    page.wait_for_timeout(300)  # the notebook re-flows to the new width before it is measured
    whole_screenshot(page, path, ".jp-NotebookPanel .jp-WindowedPanel-outer", ".jp-NotebookPanel")


def whole_screenshot(page: Page, path: Path, scroller: str, element: str) -> None:
    """Screenshot `element` with the viewport grown to show all of `scroller`'s content at once
    (both front ends scroll inside an element, so a full-page screenshot would show one screen)."""
    height = page.evaluate("(css) => { const s = document.querySelector(css); s.scrollTop = 0; "
                           "return s.scrollHeight - s.clientHeight + window.innerHeight; }", scroller)
    before = page.viewport_size or VIEWPORT
    page.set_viewport_size({"width": before["width"], "height": min(height + 50, 16_000)})
    page.wait_for_timeout(500)  # bqplot redraws figures on resize
    path.parent.mkdir(parents=True, exist_ok=True)
    page.locator(element).first.screenshot(path=str(path))
    page.set_viewport_size(before)


# --- Voila -----------------------------------------------------------------------------------

def open_in_voila(page: Page, voila: Server, notebook: str, theme: str = "light",
                  timeout_ms: float = 120_000) -> None:
    """Open a chapter as a Voila app and wait until the page shows it (Voila runs it all first)."""
    query = {"theme": theme} if theme != "light" else {}
    page.goto(voila.url(chapter_url_path(voila, notebook), **query), timeout=timeout_ms)
    page.locator("#rendered_cells").wait_for(state="visible", timeout=timeout_ms)


def voila_screenshot(page: Page, path: Path) -> None:
    whole_screenshot(page, path, "#rendered_cells", "#rendered_cells")


def wait_for_widgets(page: Page, count: int, timeout_ms: float = 60_000) -> float:
    """Wait until `count` widget views are drawn; returns performance.now() at that moment."""
    return page.wait_for_function(f"(n) => ({DRAWN_WIDGETS_JS})() >= n ? performance.now() : 0",
                                  arg=count, timeout=timeout_ms, polling="raf").json_value()


def shutdown_kernels(server: Server) -> None:
    """Stop every kernel the server runs, so chapters tested one after another do not pile up."""
    def call(method: str, path: str) -> object:
        request = urllib.request.Request(server.base_url + path, method=method,
                                         headers={"Authorization": f"token {server.token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")

    for kernel in call("GET", "/api/kernels"):
        call("DELETE", f"/api/kernels/{kernel['id']}")
