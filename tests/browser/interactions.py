"""The main interaction of each widget of the kit, done as a reader does it in the browser.

Keyed by the CSS class each widget puts on its root (listed in the widget modules' docstrings).
A widget found in a chapter without an entry here fails the tests, so a new widget cannot go
untested.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only for the hints: without Playwright the tests skip, they must still import
    from playwright.sync_api import Locator


@dataclass(frozen=True)
class Interaction:
    what: str                                  # what the reader does, for messages
    act: Callable[[Locator], None]             # does it on the widget's root


def click_flag(flag: str) -> Callable[[Locator], None]:
    def act(root: Locator) -> None:
        root.locator(f".ukva-flag-{flag} input[type=checkbox]").first.click()
    return act


def press(*css: str) -> Callable[[Locator], None]:
    """Click the first of these buttons that is enabled (a stepper at its end only goes back)."""
    def act(root: Locator) -> None:
        for selector in css:
            button = root.locator(f"{selector}:enabled").first
            if button.count():
                button.click()
                return
        raise AssertionError(f"none of the buttons {css} is enabled")
    return act


def choose_other(css: str) -> Callable[[Locator], None]:
    """Pick the next entry of a dropdown, as a reader does from its list."""
    def act(root: Locator) -> None:
        select = root.locator(f"{css} select").first
        options = select.locator("option").all_inner_texts()
        current = select.evaluate("s => s.selectedIndex")
        select.select_option(index=(current + 1) % len(options))
    return act


def nudge_slider(css: str) -> Callable[[Locator], None]:
    """Focus a slider's handle and press the right arrow key, as a keyboard user does."""
    def act(root: Locator) -> None:
        handle = root.locator(f"{css} .noUi-handle").first
        handle.focus()
        handle.press("ArrowRight")
    return act


def in_turn(*acts: Callable[[Locator], None]) -> Callable[[Locator], None]:
    def act(root: Locator) -> None:
        for one in acts:
            one(root)
    return act


# Most specific first: a CacheAliasing is also an SMPStepper, a DesignLab holds one.
INTERACTIONS: dict[str, Interaction] = {
    "ukva-design-lab": Interaction("picks another design and runs the model checker",
                                   in_turn(choose_other(".ukva-design"), press(".ukva-check"))),
    "ukva-cache-aliasing": Interaction("switches the cache kind",
                                       press(".ukva-cache-mode button:not(.mod-active)")),
    "ukva-smp-stepper": Interaction("presses a step (the first enabled choice)",
                                    press(".ukva-choice", ".ukva-back")),
    "ukva-clone-explorer": Interaction("clicks the CLONE_VM flag checkbox", click_flag("CLONE_VM")),
    "ukva-task-tree": Interaction("presses step (back at the end)", press(".ukva-step", ".ukva-back")),
    "ukva-address-space-map": Interaction("picks another design", choose_other(".ukva-asm-design")),
    "ukva-cost-plot": Interaction("moves the threads slider", nudge_slider(".ukva-threads-slider")),
    "ukva-measure-chart": Interaction("presses Measure this machine", press(".ukva-measure-button")),
}


def kind_of(classes: list[str]) -> str | None:
    """Which widget of the kit a root with these CSS classes is (None: not one we know)."""
    return next((kind for kind in INTERACTIONS if kind in classes), None)


# The CSS classes of every top-level widget of the kit on the page, in page order.
WIDGET_ROOTS_JS = """() => [...document.querySelectorAll('.jp-OutputArea-output > .jupyter-widgets')]
    .map(w => [...w.classList].filter(c => c.startsWith('ukva-')))
    .filter(classes => classes.length)"""
