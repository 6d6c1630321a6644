"""Drawing primitives for the widgets' pictures: escaped HTML elements and SVG shapes, themed with
JupyterLab's CSS variables (so both themes read), each a small function a test can call.

Every widget draws with these and nothing else: a value is escaped once, here; a shape's geometry
is given in numbers and rounded here; an arrow is a straight line with its head drawn as a
triangle (no <marker> ids, which would clash between two pictures on one page).
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence

# JupyterLab's theme variables: the text colours and the layout (background) colours.
FG = "var(--jp-ui-font-color1)"
FG_STRONG = "var(--jp-ui-font-color0)"
MUTED = "var(--jp-ui-font-color2)"
FAINT = "var(--jp-ui-font-color3)"
BG0 = "var(--jp-layout-color0)"
BG1 = "var(--jp-layout-color1)"
BG2 = "var(--jp-layout-color2)"
BORDER = "var(--jp-border-color1)"
BORDER_FAINT = "var(--jp-border-color2)"
UI_FONT = "var(--jp-ui-font-family)"
CODE_FONT = "var(--jp-code-font-family)"
# The smallest text any picture draws (at its natural size; pictures never scale below it).
MIN_FONT = 11
FONT = 12


def esc(value: object) -> str:
    """`value` as text safe inside HTML or SVG (quotes included, for attributes)."""
    return html.escape(str(value))


def num(x: float) -> str:
    """A coordinate as short text: 12, 12.5, never 12.000000001."""
    r = round(float(x), 1)
    return str(int(r)) if r == int(r) else str(r)


def style(**props: object) -> str:
    """CSS declarations from keywords (underscores become hyphens); None and False are left out."""
    return ";".join(f"{k.replace('_', '-')}:{num(v) if isinstance(v, float) else v}"
                    for k, v in props.items() if v is not None and v is not False)


_NAMES: dict[str, str] = {}  # keyword -> attribute name, worked out once per keyword


def attrs(**kw: object) -> str:
    """Attributes, escaped: `cls` is written `class`, a trailing underscore is dropped, other
    underscores become hyphens (aria_live -> aria-live); None and False are left out, True is bare."""
    out = []
    for key, value in kw.items():
        if value is None or value is False:
            continue
        name = _NAMES.get(key) or _NAMES.setdefault(key, "class" if key == "cls" else key.rstrip("_").replace("_", "-"))
        if value is True:
            out.append(f" {name}")
        elif isinstance(value, str):
            out.append(f' {name}="{html.escape(value)}"')
        else:  # a number: nothing to escape
            out.append(f' {name}="{num(value) if isinstance(value, float) else value}"')
    return "".join(out)


def tag(name: str, *children: str, **kw: object) -> str:
    """An element: `children` are markup already (use `esc` for text), `kw` its attributes."""
    return f"<{name}{attrs(**kw)}>{''.join(children)}</{name}>"


def text_width(words: str, size: float = FONT, mono: bool = False) -> float:
    """About how wide `words` are drawn: for boxes that must hold them (a generous estimate)."""
    return len(words) * size * (0.62 if mono else 0.6)


def fit(words: str, width: float, size: float = FONT, mono: bool = False) -> str:
    """`words` cut with "…" to about `width` (a title keeps the whole text for the reader)."""
    if text_width(words, size, mono) <= width:
        return words
    keep = max(int(width / (size * (0.62 if mono else 0.6))) - 1, 1)
    return words[:keep] + "…"


# --- SVG -----------------------------------------------------------------------------------------

def svg(width: float, height: float, *children: str, label: str, cls: str | None = None) -> str:
    """An inline SVG drawn at its natural size (1 unit = 1 px) or smaller when the box is narrower,
    never wider, so its text stays the size it was drawn at; `label` is its accessible name."""
    return tag("svg", *children, cls=cls, viewBox=f"0 0 {num(width)} {num(height)}", width="100%",
               style=style(max_width=f"{num(width)}px", display="block", overflow="visible"),
               role="img", aria_label=label)


def rect(x: float, y: float, w: float, h: float, *, fill: str = BG1, stroke: str = BORDER,
         width: float = 1.5, rx: float = 3, dash: str | None = None, opacity: float | None = None,
         cls: str | None = None) -> str:
    return tag("rect", cls=cls, x=x, y=y, width=w, height=h, rx=rx,
               style=style(fill=fill, stroke=stroke, stroke_width=width, stroke_dasharray=dash, opacity=opacity))


def label(x: float, y: float, words: str, *, size: float = FONT, colour: str = FG, weight: int | None = None,
          anchor: str = "start", mono: bool = False, cls: str | None = None, strike: bool = False) -> str:
    """Text whose baseline is at y."""
    if size < MIN_FONT:
        raise ValueError(f"text of {size}px is below the {MIN_FONT}px the pictures keep to")
    return tag("text", esc(words), cls=cls, x=x, y=y, text_anchor=None if anchor == "start" else anchor,
               style=style(fill=colour, font_family=CODE_FONT if mono else UI_FONT, font_size=f"{num(size)}px",
                           font_weight=weight, text_decoration="line-through" if strike else None))


def line(x1: float, y1: float, x2: float, y2: float, *, colour: str = MUTED, width: float = 1.5,
         dash: str | None = None, cls: str | None = None) -> str:
    return tag("line", cls=cls, x1=x1, y1=y1, x2=x2, y2=y2,
               style=style(stroke=colour, stroke_width=width, stroke_dasharray=dash))


def arrow(x1: float, y1: float, x2: float, y2: float, *, colour: str = MUTED, width: float = 1.5,
          dash: str | None = None, cls: str | None = None, head: float = 8) -> str:
    """A straight arrow from (x1, y1) to (x2, y2), its head a filled triangle ending at (x2, y2)."""
    angle = math.atan2(y2 - y1, x2 - x1)
    back_x, back_y = x2 - head * math.cos(angle), y2 - head * math.sin(angle)
    side_x, side_y = head * 0.45 * math.sin(angle), -head * 0.45 * math.cos(angle)
    points = " ".join(f"{num(a)},{num(b)}" for a, b in
                      ((x2, y2), (back_x + side_x, back_y + side_y), (back_x - side_x, back_y - side_y)))
    return tag("g", line(x1, y1, back_x, back_y, colour=colour, width=width, dash=dash),
               tag("polygon", points=points, style=style(fill=colour)), cls=cls)


def group(*children: str, cls: str | None = None, title: str | None = None) -> str:
    """A <g>; `title` is the tooltip a pointer shows and a screen reader reads."""
    return tag("g", *([tag("title", esc(title))] if title else []), *children, cls=cls)


def chip_svg(x: float, y: float, words: str, *, fill: str, colour: str = "#000", size: float = MIN_FONT,
             anchor: str = "start", cls: str | None = None) -> str:
    """A small filled label (a badge such as "+1" or "got") whose box's top-left is (x, y), or
    whose top-right is (x, y) with anchor="end"."""
    w = text_width(words, size) + 8
    left = x - w if anchor == "end" else x
    return group(rect(left, y, w, size + 5, fill=fill, stroke="none", width=0, rx=3),
                 label(left + 4, y + size + 1, words, size=size, colour=colour, weight=600), cls=cls)


# --- HTML ----------------------------------------------------------------------------------------

def chip(words: str, colour: str, *, dashed: bool = False, cls: str | None = None, title: str | None = None) -> str:
    """A coloured chip with its meaning written inside (the second cue beside the colour)."""
    return tag("span", esc(words), cls=cls, title=title,
               style=style(border=f"2px {'dashed' if dashed else 'solid'} {colour}", border_radius="4px",
                           padding="0 4px", color=FG, background=BG1, display="inline-block", max_width="100%",
                           box_sizing="border-box", overflow_wrap="anywhere"))


def scroll_box(inner: str) -> str:
    """A box that scrolls sideways when its content is wider than the output area."""
    return tag("div", inner, cls="ukva-scroll", style=style(overflow_x="auto", max_width="100%"))


def table(header: Sequence[str], rows: Iterable[Sequence[str]], cls: str | None = None) -> str:
    """A table in the theme's colours and code font; `rows` hold markup; it scrolls sideways when narrow."""
    cell = style(padding="2px 8px", border_bottom=f"1px solid {BORDER_FAINT}", text_align="left")
    head = "".join(tag("th", esc(h), style=f"{cell};font-weight:600", scope="col") for h in header)
    body = "".join(tag("tr", *(tag("td", c, style=cell) for c in row)) for row in rows)
    return scroll_box(tag("table", tag("thead", tag("tr", head)), tag("tbody", body), cls=cls,
                          style=style(border_collapse="collapse", color=FG, font_family=CODE_FONT,
                                      font_size="var(--jp-code-font-size)")))


# Below this width of its box a picture shows its narrow layout (JupyterLab at 800 px with the file
# panel open leaves about 365 px of output; at 1400 px, or in Voila, the box is far wider).
NARROW_BELOW = 600


def two_layouts(wide: str, narrow: str) -> str:
    """Both layouts of a picture; the stylesheet (base.STYLESHEET, on .ukva-layouts) shows the wide
    one where the box is at least NARROW_BELOW px wide and the narrow one below that."""
    return tag("div", tag("div", wide, cls="ukva-wide"), tag("div", narrow, cls="ukva-narrow"),
               cls="ukva-layouts")
