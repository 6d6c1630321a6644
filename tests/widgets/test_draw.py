"""The drawing primitives every widget draws with: escaped once, geometry rounded, arrows that end where
they are aimed, text never drawn below 11 px, two layouts picked by the stylesheet."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET

import pytest

from ukva_widgets.widgets import draw as d
from ukva_widgets.widgets.base import PICTURE_CSS


def parse(markup: str) -> ET.Element:
    return ET.fromstring(markup)


def test_text_and_attributes_are_escaped_once():
    markup = d.tag("span", d.esc("<b> & 'x'"), title='say "hi" <now>')
    assert parse(markup).text == "<b> & 'x'" and parse(markup).get("title") == 'say "hi" <now>'
    assert "&amp;amp;" not in markup


def test_attribute_names_follow_the_dom_and_empty_ones_are_left_out():
    markup = d.tag("div", cls="a b", aria_live="polite", data_widget="X", hidden=True, title=None, open=False)
    assert markup == '<div class="a b" aria-live="polite" data-widget="X" hidden></div>'


def test_numbers_are_short_and_styles_skip_what_is_unset():
    assert [d.num(12.0), d.num(12.04), d.num(12.46), d.num(-3)] == ["12", "12", "12.5", "-3"]
    assert d.style(stroke_width=1.5, fill=None, stroke_dasharray=False, font_size="12px") == \
        "stroke-width:1.5;font-size:12px"


def test_an_svg_is_never_drawn_wider_than_its_natural_size_and_has_an_accessible_name():
    svg = parse(d.svg(320.4, 100, d.rect(0, 0, 10, 10), label="a box"))
    assert svg.get("viewBox") == "0 0 320.4 100" and "max-width:320.4px" in svg.get("style")
    assert svg.get("role") == "img" and svg.get("aria-label") == "a box"


def test_text_below_the_smallest_size_is_refused():
    assert 'font-size:11px' in d.label(0, 0, "small", size=d.MIN_FONT)
    with pytest.raises(ValueError, match="below the 11px"):
        d.label(0, 0, "tiny", size=9)


@pytest.mark.parametrize("x1, y1, x2, y2", [(0, 0, 100, 0), (0, 0, 0, 50), (10, 90, 60, 10), (50, 50, 0, 0)])
def test_an_arrow_is_a_straight_line_whose_head_ends_exactly_at_its_target(x1, y1, x2, y2):
    g = parse(d.arrow(x1, y1, x2, y2, head=8))
    line, head = g.find("line"), g.find("polygon")
    points = [tuple(map(float, p.split(","))) for p in head.get("points").split()]
    assert points[0] == (x2, y2)  # the tip
    # the shaft stops where the head begins, on the line from start to target
    lx, ly = float(line.get("x2")), float(line.get("y2"))
    assert math.isclose(math.hypot(x2 - lx, y2 - ly), 8, abs_tol=0.2)
    cross = (lx - x1) * (y2 - y1) - (ly - y1) * (x2 - x1)
    assert abs(cross) < 1.0 * math.hypot(x2 - x1, y2 - y1)


def test_no_marker_ids_so_two_pictures_on_a_page_cannot_clash():
    assert "id=" not in d.arrow(0, 0, 10, 10) + d.svg(10, 10, label="x")


def test_fit_cuts_long_words_with_an_ellipsis_and_keeps_short_ones():
    assert d.fit("files#2", 200) == "files#2"
    cut = d.fit("a very long page-table title indeed", 100)
    assert cut.endswith("…") and d.text_width(cut) <= 100 + d.FONT


def test_a_chip_is_a_box_with_its_words_inside():
    g = parse(d.chip_svg(100, 10, "got", fill="#D55E00", anchor="end"))
    box, words = g.find("rect"), g.find("text")
    right = float(box.get("x")) + float(box.get("width"))
    assert right == 100 and words.text == "got" and float(words.get("x")) > float(box.get("x"))


def test_a_table_has_header_cells_and_scrolls_sideways_rather_than_overflow():
    markup = d.table(["a", "b"], [["1", "<b>2</b>"]], cls="t")
    root = parse(markup)
    assert root.get("class") == "ukva-scroll" and [th.text for th in root.iter("th")] == ["a", "b"]
    assert all(th.get("scope") == "col" for th in root.iter("th"))


def test_two_layouts_are_both_drawn_and_the_stylesheet_shows_one_by_the_boxs_width():
    root = parse(d.two_layouts("<svg/>", "<svg/>"))
    assert [c.get("class") for c in root] == ["ukva-wide", "ukva-narrow"] and root.get("class") == "ukva-layouts"
    assert "container-type:inline-size" in PICTURE_CSS
    assert re.search(rf"@container \(min-width:{d.NARROW_BELOW}px\)\{{\.ukva-narrow\{{display:none", PICTURE_CSS)
    assert re.search(r"@container \(max-width:[\d.]+px\)\{\.ukva-wide\{display:none", PICTURE_CSS)
