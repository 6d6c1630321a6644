"""The book's static pictures: each is well-formed SVG, shows before the notebook is trusted (a
markdown image copy), says what it shows in a caption, and is displayed, never returned as a value."""

import base64
import xml.etree.ElementTree as ET

import pytest

from ukva_widgets.widgets import figures

PICTURES = [figures.address_space_32bit, figures.one_page_table_per_mm, figures.who_fills_the_tlb,
            figures.switch_keeps_cr3, figures.pcid_tags, figures.lazy_tlb, figures.shootdown]


@pytest.mark.parametrize("picture", PICTURES, ids=lambda f: f.__name__)
def test_every_picture_is_svg_with_a_markdown_copy_and_a_caption(picture):
    bundle = picture().bundle()
    root = ET.fromstring(bundle["image/svg+xml"])
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    markdown = bundle["text/markdown"]
    assert markdown.startswith("![") and "data:image/svg+xml;base64," in markdown
    encoded = markdown.split("base64,", 1)[1].rstrip(")")
    assert base64.b64decode(encoded).decode() == bundle["image/svg+xml"]
    caption = bundle["text/plain"]
    assert caption.startswith("Figure: ") and len(caption) > 40


def test_a_picture_is_displayed_as_display_data_not_returned_as_a_value(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj, raw=False: shown.append((obj, raw)))
    figures.shootdown()._ipython_display_()
    assert shown == [(figures.shootdown().bundle(), True)]


def test_a_cr3_write_flushes_only_non_global_entries_in_the_picture_of_a_switch():
    svg = figures.switch_keeps_cr3().svg()
    assert "non-global" in svg and "TLB flushed" not in svg
