"""Every chapter of the book, in JupyterLab and as a Voila app, in Chromium, as a reader meets it.

For each chapter found in notebooks/ and each front end, the chapter is opened once (module-scoped
fixture), in a browser context that refuses every request to the internet, and then checked: it
opens without a kernel dialog, runs to the end without an error, every widget is drawn (bqplot
figures as SVG), it asked the internet for nothing, screenshots of it as a reader first sees it go
to artifacts/screenshots/ (JupyterLab in the light and the dark theme; Voila in the light one here,
and in the dark one in test_voila_offline.py, which opens each chapter dark anyway), and each widget
of the kit redraws when the reader uses its main control (tests run in file order, so the
screenshots come before the clicks).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import book_pages as bp
import pytest
from interactions import INTERACTIONS, WIDGET_ROOTS_JS, kind_of

FRONT_ENDS = ("jupyterlab", "voila")
CASES = [(front, nb) for nb in bp.chapters() for front in FRONT_ENDS]


@dataclass
class Chapter:
    front: str
    notebook: str
    page: object
    expected: bp.Expected
    opened: bool = False  # the page showed the chapter (cells in Lab, the rendered app in Voila)
    dialogs: list[str] = field(default_factory=list)
    problem: str = ""     # what went wrong while opening and running it, if anything
    refused_from: int = 0  # where this chapter's requests begin in the session's refused ones

    @property
    def name(self) -> str:
        return f"{self.notebook.removesuffix('.ipynb')}-{self.front}"


@pytest.fixture(scope="module", params=CASES, ids=[f"{f}:{nb}" for f, nb in CASES])
def chapter(request, context, lab, voila, blocked_requests):
    front, notebook = request.param
    page = context.new_page()
    opened = Chapter(front, notebook, page, bp.expected(bp.ROOT, notebook), refused_from=len(blocked_requests))
    try:
        if front == "jupyterlab":
            bp.open_in_lab(page, lab, notebook)
            opened.opened, opened.dialogs = True, bp.kernel_dialogs(page)
            bp.run_all_in_lab(page)
        else:
            bp.open_in_voila(page, voila, notebook)
            opened.opened, opened.dialogs = True, bp.kernel_dialogs(page)
        bp.wait_for_widgets(page, opened.expected.widgets, timeout_ms=60_000)
    except Exception as error:  # the tests below then say what the page shows, and this
        opened.problem = f" (while opening: {str(error).splitlines()[0]})"
    yield opened
    page.close(run_before_unload=False)
    if front == "jupyterlab":  # Voila stops a page's kernel itself when the page goes
        bp.shutdown_kernels(lab)


def test_chapter_opens_without_a_kernel_dialog(chapter):
    assert chapter.opened, f"{chapter.name} did not open{chapter.problem}"
    assert chapter.dialogs == [], f"{chapter.name} opened with a dialog: {chapter.dialogs}{chapter.problem}"


def test_chapter_runs_to_the_end_without_an_error(chapter):
    page = chapter.page
    if chapter.front == "jupyterlab":
        prompts = page.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()
        not_run = [i for i, p in enumerate(prompts) if not p.strip().strip("[]:").isdigit()]
        assert len(prompts) == chapter.expected.code_cells and not not_run, \
            f"{chapter.name}: code cells {not_run} of {len(prompts)} did not run{chapter.problem}"
    else:  # Voila runs every cell before it shows the page
        assert page.locator("#rendered_cells").is_visible(), \
            f"{chapter.name}: Voila never showed the chapter{chapter.problem}"
    assert bp.cell_errors(page) == [], f"{chapter.name} shows an error"


def test_every_widget_of_the_chapter_is_drawn(chapter):
    drawn = bp.rendered_widget_count(chapter.page)
    assert drawn == chapter.expected.widgets, (
        f"{chapter.name}: {drawn} widget views drawn, the stored chapter has {chapter.expected.widgets}"
        f"{chapter.problem}")


def test_bqplot_figures_are_drawn_as_svg(chapter):
    assert bp.undrawn_figures(chapter.page) == [], chapter.name


def test_chapter_asks_the_internet_for_nothing(chapter, blocked_requests):
    # the icons, fonts and code all come from the installed front ends
    assert blocked_requests[chapter.refused_from:] == [], f"{chapter.name} asked the internet for these"


def test_chapter_screenshots(chapter, screenshots):
    page = chapter.page
    # Voila picks its theme when it makes the page: test_voila_offline.py opens each chapter dark
    for theme in ("light", "dark") if chapter.front == "jupyterlab" else ("light",):
        path = screenshots / f"{chapter.name}-{theme}.png"
        if chapter.front == "jupyterlab":
            bp.lab_theme(page, theme)
            bp.lab_screenshot(page, path)
        else:
            bp.voila_screenshot(page, path)
        assert page.evaluate("() => document.body.dataset.jpThemeLight") == \
            ("true" if theme == "light" else "false"), f"{path.name} is not in the {theme} theme"
        assert path.stat().st_size > 10_000, f"{path.name} looks empty"


def test_each_widget_redraws_when_the_reader_uses_it(chapter):
    page = chapter.page
    roots = page.evaluate(WIDGET_ROOTS_JS)
    if not roots:
        pytest.skip(f"{chapter.name} shows no widget of the kit")
    unknown = [classes for classes in roots if kind_of(classes) is None]
    assert not unknown, f"no interaction known for {unknown}; add one to tests/browser/interactions.py"
    outputs = page.locator(".jp-OutputArea-output > .jupyter-widgets[class*='ukva-']")
    shown_before = bp.cell_errors(page)  # the test above reports these; here only new ones count
    for i, classes in enumerate(roots):
        kind = kind_of(classes)
        interaction = INTERACTIONS[kind]
        root = outputs.nth(i)
        root.scroll_into_view_if_needed()
        before = bp.picture(root)
        bp.watch_redraw(root)
        interaction.act(root)
        try:
            bp.redraw_ms(page, timeout_ms=20_000)
        except Exception as error:
            pytest.fail(f"{chapter.name}: {kind} (widget {i}) did not redraw after the reader "
                        f"{interaction.what}: {str(error).splitlines()[0]}")
        assert bp.settled_picture(root) != before, \
            f"{chapter.name}: {kind} (widget {i}) looks the same after the reader {interaction.what}"
        new_errors = [e for e in bp.cell_errors(page) if e not in shown_before]
        assert new_errors == [], f"{chapter.name}: {kind} showed an error"
