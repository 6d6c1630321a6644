"""The main interaction of each widget of the kit, done as a reader does it in the browser.

Keyed by the CSS class each widget puts on its root (listed in the widget modules' docstrings).
A widget found in a chapter without an entry here fails the tests, so a new widget cannot go
untested; a widget that only shows (no control of its own) says so with `act=None`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from playwright.sync_api import Locator


@dataclass(frozen=True)
class Interaction:
    what: str                                  # what the reader does, for messages
    act: Callable[[Locator], None] | None      # does it on the widget's root


def click_flag(flag: str) -> Callable[[Locator], None]:
    def act(root: Locator) -> None:
        root.locator(f".ukva-flag-{flag} input[type=checkbox]").first.click()
    return act


def press(css: str) -> Callable[[Locator], None]:
    def act(root: Locator) -> None:
        root.locator(css).first.click()
    return act


def nudge_slider(root: Locator) -> None:
    """Focus the first slider's handle and press the right arrow key, as with a keyboard."""
    handle = root.locator(".widget-slider .noUi-handle").first
    handle.focus()
    handle.press("ArrowRight")


INTERACTIONS: dict[str, Interaction] = {
    "ukva-clone-explorer": Interaction("ticks the CLONE_VM flag", click_flag("CLONE_VM")),
    "ukva-smp-stepper": Interaction("presses step", press(".ukva-step")),
}


def widget_roots_js() -> str:
    """JS listing the ukva class of every top-level widget of the kit on the page, in order."""
    return """() => [...document.querySelectorAll('.jp-OutputArea-output > .jupyter-widgets')]
        .map(w => [...w.classList].find(c => c.startsWith('ukva-')))
        .filter(Boolean)"""
