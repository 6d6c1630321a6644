"""What every widget in the kit shares: the text/plain repr and the HTML snapshot in its mime bundle,
the stylesheet (theme, focus ring, the "changed" cue, the narrow layouts), the error box, the fold
and the one-line headline a screen reader announces.

CSS classes for browser tests: "ukva-widget" on every widget, "ukva-error" on the error box (plus
"ukva-error-shown" while it shows an error), "ukva-scroll" on boxes that scroll sideways,
"ukva-fold" / "ukva-fold-header" on a fold and its button, "ukva-headline" on a headline (its
content is an aria-live="polite" status), "ukva-changed" on whatever the last action changed.
"""

from __future__ import annotations

import errno
from collections.abc import Sequence

import ipywidgets as W
import traitlets

from ..engine import NotModelled, TaskStateError
from . import draw as d
from .palette import ACTION_COLOUR, BAD_COLOUR, CHANGE_FILL

# The Task attribute holding each kind of shared object, in the order copy_process() copies them
# (kernel/fork.c at 07c3ef58223e: copy_mm ... copy_signal ... copy_io; notebooks/sources.ipynb §3).
KIND_ATTR = {"mm": "mm", "fs": "fs", "files": "files", "sighand": "sighand", "signal": "signal",
             "io": "io_context", "sysvsem": "sysvsem"}

# Errors a learner can cause by typing or clicking: shown in the widget, never as a traceback.
# (CloneError is an OSError; NotModelled says where the engine simplifies.)
USER_ERRORS = (ValueError, TypeError, OSError, LookupError, NotModelled, TaskStateError)


def errno_name(number: int) -> str:
    return errno.errorcode.get(number, str(number))


def label_of(obj: object) -> str:
    """An engine object's label ("mm#2"), or "none" where the task holds none (kernel NULL)."""
    return obj.label if obj is not None else "none"


_VERBS = "".join(f".ukva-widget .ukva-verb-{verb}{{border-left:5px solid {colour} !important;}}"
                 for verb, colour in ACTION_COLOUR.items())

# The rules every widget and every snapshot of one needs.  Why each is there:
# - --ukva-change: the "changed" outline, dark gold on the light theme, yellow on the dark one;
# - .ukva-layouts: a picture drawn twice picks its layout by the width of its own box (a container
#   query: the output area's width, not the window's), so nothing is drawn below 11 px;
# - .ukva-changed: what the last action changed pulses once (not for readers who asked for less motion);
# - a visible 3 px focus ring on everything a keyboard reaches.
PICTURE_CSS = (
    ".ukva-widget,.ukva-snapshot{--ukva-change:#A07C00;}"
    "body[data-jp-theme-light='false'] .ukva-widget,body[data-jp-theme-light='false'] .ukva-snapshot"
    "{--ukva-change:#F0E442;}"
    ".ukva-layouts{container-type:inline-size;}"
    f"@container (min-width:{d.NARROW_BELOW}px){{.ukva-narrow{{display:none;}}}}"
    f"@container (max-width:{d.NARROW_BELOW - 0.02}px){{.ukva-wide{{display:none;}}}}"
    ".ukva-changed{animation:ukva-pulse .9s ease-out 1;}"
    "@keyframes ukva-pulse{from{filter:drop-shadow(0 0 6px var(--ukva-change));}to{filter:none;}}"
    "@media (prefers-reduced-motion:reduce){.ukva-changed{animation:none;}}"
    ".ukva-snapshot .ukva-changed{animation:none;}"
)
# bqplot's dark rules paint titles and axis labels orange; ours follow JupyterLab's theme font colour.
# Every part of a widget stays inside its box, margins included, and an HTML part may shrink below its
# content's width (tables scroll sideways in their .ukva-scroll box instead of pushing past the output
# area); its text wraps at a reading line height, not at the height of a row of controls.
STYLESHEET = ("<style>" + PICTURE_CSS + _VERBS +
              ".ukva-widget :is(button,input,select,textarea,summary,.noUi-handle,[tabindex]):focus-visible"
              "{outline:3px solid var(--jp-brand-color1) !important;outline-offset:1px;}"
              # ipywidgets paints the slider's track and handle white whatever the theme
              ".ukva-widget .widget-slider .noUi-target{background:var(--jp-layout-color3);}"
              ".ukva-widget .widget-slider .noUi-handle{background:var(--jp-layout-color1);"
              "border-color:var(--jp-border-color1);}"
              ".ukva-widget .bqplot{--bq-content-font-color:var(--jp-ui-font-color1);"
              "--bq-mainheading-fill:var(--jp-ui-font-color1);--bq-axislabel-fill:var(--jp-ui-font-color1);"
              "--bq-axis-tick-text-fill:var(--jp-ui-font-color2);}"
              ".ukva-flags-text input{font-family:var(--jp-code-font-family);font-size:11px;}"
              ".ukva-flags-text.ukva-invalid input{border:2px solid #D55E00;}"
              ".ukva-trace-row.ukva-current .widget-button{font-weight:700;}"
              ".ukva-widget .widget-button{max-width:100%;}"
              ".ukva-widget .ukva-choice,.ukva-widget .ukva-fold-header{white-space:normal;height:auto;"
              "min-height:var(--jp-widgets-inline-height);line-height:1.3;text-align:left;}"
              ".ukva-widget .ukva-choice:disabled{opacity:.45;}"
              ".ukva-widget .jupyter-widgets{max-width:calc(100% - 2 * var(--jp-widgets-margin, 2px));}"
              ".ukva-widget .jupyter-widget-html-content,.ukva-widget .widget-html-content"
              "{min-width:0;line-height:1.4;}"
              "</style>")


def changed_chip(words: str) -> str:
    """The kit's one chip for "the last step changed this": black words on yellow ("new", "+1")."""
    return d.tag("span", d.esc(words), cls="ukva-change-chip",
                 style=d.style(background=CHANGE_FILL, color="#000", border_radius="3px", padding="0 3px",
                               margin_left="4px", font_size="11px", font_weight=600, white_space="nowrap"))


class ErrorBox(W.HTML):
    """Shows an engine error (what was wrong, what to do) inside the widget; empty and hidden otherwise."""

    def __init__(self) -> None:
        super().__init__(layout=W.Layout(display="none"))
        self.add_class("ukva-error")
        self.message = ""

    def show(self, error: BaseException | str, title: str | None = None) -> None:
        """Show `error` headed by `title` (default: the exception's type name, or "Error")."""
        self.message = str(error)
        title = title or (type(error).__name__ if not isinstance(error, str) else "Error")
        self.value = d.tag("div", d.tag("b", f"✗ {d.esc(title)}:"), " ", d.esc(self.message), role="alert",
                           style=d.style(border_left=f"4px solid {BAD_COLOUR}", padding="4px 8px", color=d.FG,
                                         background=d.BG2, overflow_wrap="anywhere"))
        self.layout.display = None
        self.add_class("ukva-error-shown")

    def clear(self) -> None:
        self.message = ""
        self.value = ""
        self.layout.display = "none"
        self.remove_class("ukva-error-shown")


class Headline(W.HTML):
    """One line that says what just happened, announced by screen readers (a polite live region)."""

    def __init__(self) -> None:
        super().__init__()
        self.add_class("ukva-headline")
        self.words = ""

    def say(self, words: str, colour: str | None = None, mark: str = "") -> None:
        self.words = words
        self.value = self.html(words, colour, mark)

    @staticmethod
    def html(words: str, colour: str | None = None, mark: str = "") -> str:
        """The line as it is drawn: its mark (✗, ⚠), its words, a bar in `colour` on its left."""
        return d.tag("div", d.tag("b", d.esc(mark)) + " " if mark else "", d.esc(words),
                     role="status", aria_live="polite",
                     style=d.style(color=d.FG, border_left=f"4px solid {colour or d.BORDER_FAINT}",
                                   padding="2px 8px", font_weight=600, overflow_wrap="anywhere"))


class Fold(W.VBox):
    """A titled part shown or hidden by a real button (keyboard and screen readers reach it, and its
    words say whether it is open), in place of ipywidgets' Accordion, whose header is a plain div."""

    shown = traitlets.Bool(False)

    def __init__(self, title: str, content: W.Widget, shown: bool = False) -> None:
        self.title = title
        self.header = W.Button(layout=W.Layout(width="100%"))
        self.header.add_class("ukva-fold-header")
        self.header.on_click(lambda _b: setattr(self, "shown", not self.shown))
        self.content = content
        super().__init__([self.header, content], layout=W.Layout(width="100%"))
        self.add_class("ukva-fold")
        self.shown = shown
        self._show({"new": shown})

    @traitlets.observe("shown")
    def _show(self, change: dict) -> None:
        shown = change["new"]
        self.header.description = f"{'▾ hide' if shown else '▸ show'} {self.title}"
        self.header.tooltip = f"{'hide' if shown else 'show'} {self.title}"
        self.content.layout.display = None if shown else "none"


class UkvaWidget(W.VBox):
    """Base of every widget here: a VBox whose text/plain repr is its deterministic text(), and whose
    mime bundle also carries `snapshot()`, a static HTML picture of its state (what a static page
    shows where no kernel runs it), when the widget draws one."""

    def __init__(self, children: Sequence[W.Widget] = (), **kwargs) -> None:
        style = W.HTML(STYLESHEET, layout=W.Layout(height="0px", margin="0px"))
        super().__init__(children=[style, *children], layout=W.Layout(max_width="800px"), **kwargs)
        self.add_class("ukva-widget")

    def text(self) -> str:
        raise NotImplementedError

    def snapshot(self) -> str | None:
        """The widget's pictures as static HTML (no controls); each widget says what it shows.  None
        (the default): the widget has none, and a static page shows its text view."""
        return None

    def __repr__(self) -> str:
        return self.text()

    def _repr_mimebundle_(self, **kwargs) -> dict:
        bundle = super()._repr_mimebundle_(**kwargs) or {}
        bundle["text/plain"] = self.text()
        picture = self.snapshot()
        if picture is not None:
            bundle["text/html"] = snapshot_page(picture, type(self).__name__)
        return bundle


def snapshot_page(inner: str, name: str) -> str:
    """A snapshot as it is stored: its own styles, marked as a picture of `name`."""
    return d.tag("div", f"<style>{PICTURE_CSS}</style>", inner, cls="ukva-snapshot", data_widget=name,
                 style=d.style(max_width="800px", color=d.FG))
