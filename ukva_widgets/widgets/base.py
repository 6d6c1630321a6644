"""What every widget in the kit shares: the text/plain repr, the palette with its second cues,
the error box and small themed HTML helpers (JupyterLab's CSS variables, so both themes read).

CSS classes for browser tests: "ukva-widget" on every widget, "ukva-error" on the error box
(plus "ukva-error-shown" while it shows an error), "ukva-scroll" on boxes that scroll sideways.
"""

from __future__ import annotations

import errno
import html
from collections.abc import Iterable, Sequence

import ipywidgets as W

from ..engine import NotModelled, TaskStateError

# Okabe & Ito's colour-blind-safe palette (https://jfly.uni-koeln.de/color/). Colour is never the
# only cue: each kind also has its name written beside or inside it.
OKABE_ITO = {
    "orange": "#E69F00", "sky": "#56B4E9", "green": "#009E73", "yellow": "#F0E442",
    "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7", "grey": "#999999",
}
KIND_COLOUR = {
    "task": OKABE_ITO["sky"], "mm": OKABE_ITO["blue"], "fs": OKABE_ITO["orange"],
    "files": OKABE_ITO["green"], "sighand": OKABE_ITO["purple"], "signal": OKABE_ITO["vermillion"],
    "io": OKABE_ITO["yellow"], "sysvsem": OKABE_ITO["grey"],
}
OK_COLOUR = OKABE_ITO["green"]
BAD_COLOUR = OKABE_ITO["vermillion"]
# The Task attribute holding each kind of shared object, in the order copy_process() copies them
# (kernel/fork.c at 07c3ef58223e: copy_mm ... copy_signal ... copy_io; notebooks/sources.ipynb §3).
KIND_ATTR = {"mm": "mm", "fs": "fs", "files": "files", "sighand": "sighand", "signal": "signal",
             "io": "io_context", "sysvsem": "sysvsem"}

# Errors a learner can cause by typing or clicking: shown in the widget, never as a traceback.
# (CloneError is an OSError; NotModelled says where the engine simplifies.)
USER_ERRORS = (ValueError, TypeError, OSError, LookupError, NotModelled, TaskStateError)


def esc(value: object) -> str:
    return html.escape(str(value))


def errno_name(number: int) -> str:
    return errno.errorcode.get(number, str(number))


def label_of(obj: object) -> str:
    """An engine object's label ("mm#2"), or "none" where the task holds none (kernel NULL)."""
    return obj.label if obj is not None else "none"


def scroll_box(inner: str) -> str:
    """A box that scrolls sideways when its content is wider than the output area (370 px with a side panel)."""
    return f'<div class="ukva-scroll" style="overflow-x:auto;max-width:100%">{inner}</div>'


def themed_table(header: Sequence[str], rows: Iterable[Sequence[object]], css_class: str = "") -> str:
    """An HTML table coloured with JupyterLab's theme variables (readable in light and dark), in a
    box that scrolls sideways on a narrow output area rather than overflowing it."""
    cell = "padding:2px 8px;border-bottom:1px solid var(--jp-border-color2);text-align:left"
    head = "".join(f'<th style="{cell};font-weight:600">{esc(h)}</th>' for h in header)
    body = "".join("<tr>" + "".join(f'<td style="{cell}">{c}</td>' for c in row) + "</tr>" for row in rows)
    return scroll_box(f'<table class="{css_class}" style="border-collapse:collapse;color:var(--jp-ui-font-color1);'
                      f'font-family:var(--jp-code-font-family);font-size:var(--jp-code-font-size)">'
                      f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def badge(text: str, colour: str, *, dashed: bool = False) -> str:
    """A coloured chip with its meaning written inside (the second cue beside the colour)."""
    border = "dashed" if dashed else "solid"
    return (f'<span style="border:2px {border} {colour};border-radius:4px;padding:0 4px;'
            f'color:var(--jp-ui-font-color1);background:var(--jp-layout-color1)">{esc(text)}</span>')


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
        self.value = (f'<div role="alert" style="border-left:4px solid {BAD_COLOUR};padding:4px 8px;'
                      f'color:var(--jp-ui-font-color1);background:var(--jp-layout-color2);overflow-wrap:anywhere">'
                      f"<b>✗ {esc(title)}:</b> {esc(self.message)}</div>")
        self.layout.display = None
        self.add_class("ukva-error-shown")

    def clear(self) -> None:
        self.message = ""
        self.value = ""
        self.layout.display = "none"
        self.remove_class("ukva-error-shown")


# bqplot's dark rules paint titles and axis labels orange; ours follow JupyterLab's theme font colour.
# The flags box shows a long preset whole in the code font; a long step label wraps in its button. Every part of a widget stays inside its
# box, margins included, and an HTML part may shrink below its content's width (its pictures and
# tables then scroll sideways in their .ukva-scroll box instead of pushing past the output area);
# its text wraps at a reading line height, not at the height of a row of controls.
STYLESHEET = ("<style>.ukva-widget .bqplot{--bq-content-font-color:var(--jp-ui-font-color1);"
              "--bq-mainheading-fill:var(--jp-ui-font-color1);--bq-axislabel-fill:var(--jp-ui-font-color1);"
              "--bq-axis-tick-text-fill:var(--jp-ui-font-color2);}"
              ".ukva-flags-text input{font-family:var(--jp-code-font-family);font-size:11px;}"
              ".ukva-flags-text.ukva-invalid input{border:2px solid #D55E00;}"
              ".ukva-trace-row.ukva-current .widget-button{font-weight:700;}"
              ".ukva-widget .widget-button{max-width:100%;}"
              ".ukva-widget .ukva-choice{white-space:normal;height:auto;min-height:var(--jp-widgets-inline-height);"
              "line-height:1.3;text-align:left;}"
              ".ukva-widget .jupyter-widgets{max-width:calc(100% - 2 * var(--jp-widgets-margin, 2px));}"
              ".ukva-widget .jupyter-widget-html-content,.ukva-widget .widget-html-content{min-width:0;line-height:1.4;}"
              "</style>")


class UkvaWidget(W.VBox):
    """Base of every widget here: a VBox whose text/plain repr is its deterministic text()."""

    def __init__(self, children: Sequence[W.Widget] = (), **kwargs) -> None:
        style = W.HTML(STYLESHEET, layout=W.Layout(height="0px", margin="0px"))
        super().__init__(children=[style, *children], layout=W.Layout(max_width="800px"), **kwargs)
        self.add_class("ukva-widget")

    def text(self) -> str:
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.text()

    def _repr_mimebundle_(self, **kwargs) -> dict:
        bundle = super()._repr_mimebundle_(**kwargs) or {}
        bundle["text/plain"] = self.text()
        return bundle
